"""TaoCache for ComfyUI: late-step caching with a fixed-point predictor for Wan and other DiTs.

Nothing is imported at module level, so a missing ComfyUI internal cannot stop the pack loading
and tools (pytest, linters) can import this folder outside ComfyUI.
"""
WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes.extension import TaoCacheExtension

    return TaoCacheExtension()
