"""Test-only ComfyUI custom node module: makes ComfyUI internals look absent to custom node packs, as a
ComfyUI that renamed or dropped them would (never shipped with the pack; tests/comfy/test_install.py
copies it into a test base directory's custom_nodes/).

It registers no nodes. At load time it hides:

  comfy.model_patcher.create_model_options_clone
      from `from comfy.model_patcher import create_model_options_clone` only: sys.modules gets a proxy
      of comfy.model_patcher without that name (ImportError, as on a ComfyUI without it), while ComfyUI's
      own code, which reaches the function as the attribute `comfy.model_patcher.<name>` of the real
      module, keeps working. Deleting the function outright would break KSampler itself.
  server.PromptServer.send_progress_text
      replaced by a property that raises AttributeError (hasattr() is False), as on a ComfyUI without
      text-on-node messages; core ComfyUI does not use it while running the test graphs.

Each time a hidden name is asked for it logs "taotest_hide_internals: <name> asked for, hidden", so a
test can tell that a pack really took the fallback path.
"""
import logging
import sys
import types

import comfy.model_patcher
import server

log = logging.getLogger("taotest_hide_internals")

HIDDEN_MODEL_PATCHER_NAMES = ("create_model_options_clone",)


class _ModuleWithout(types.ModuleType):
    """A stand-in module that forwards everything to `real` except the `hidden` names."""

    def __init__(self, real: types.ModuleType, hidden: tuple):
        super().__init__(real.__name__, real.__doc__)
        object.__setattr__(self, "_taotest_real", real)
        object.__setattr__(self, "_taotest_hidden", frozenset(hidden))

    def __getattribute__(self, name):
        if name in object.__getattribute__(self, "_taotest_hidden"):
            module = object.__getattribute__(self, "__name__")
            log.warning("taotest_hide_internals: %s.%s asked for, hidden", module, name)
            raise AttributeError(name)
        if name.startswith("_taotest_") or name in ("__class__", "__dict__"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_taotest_real"), name)

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_taotest_real"), name, value)


def _hide_from_imports(module: types.ModuleType, names: tuple):
    sys.modules[module.__name__] = _ModuleWithout(module, names)


def _hidden_method(name):
    def getter(self):
        log.warning("taotest_hide_internals: server.PromptServer.%s asked for, hidden", name)
        raise AttributeError(name)
    return property(getter)


_hide_from_imports(comfy.model_patcher, HIDDEN_MODEL_PATCHER_NAMES)
server.PromptServer.send_progress_text = _hidden_method("send_progress_text")
log.warning("taotest_hide_internals: hiding comfy.model_patcher.%s and server.PromptServer.send_progress_text",
            ", ".join(HIDDEN_MODEL_PATCHER_NAMES))

NODE_CLASS_MAPPINGS = {}  # a node module must define it (or comfy_entrypoint) to load; it registers none
