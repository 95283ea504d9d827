"""The pack's node list, as ComfyUI's v3 extension API asks for it."""
from comfy_api.latest import ComfyExtension, io

from .calibrate_node import TaoCacheCalibrateNode
from .compare_node import TaoCacheCompareNode
from .installs import mark_loaded
from .profiles import register_folder
from .taocache_node import TaoCacheNode


class TaoCacheExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_folder()
        mark_loaded()
        return [TaoCacheNode, TaoCacheCalibrateNode, TaoCacheCompareNode]
