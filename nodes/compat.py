"""The few ComfyUI internals the pack touches, imported lazily, each with a fallback.

A renamed or missing internal must disable one feature with a message, never stop the pack from
loading (TeaCache and MagCache stopped loading at all when a core function they imported at
module level was renamed).
"""
from __future__ import annotations

import copy
import logging

log = logging.getLogger("TaoCache")


def wrapper_types():
    """comfy.patcher_extension.WrappersMP, or None when this ComfyUI has no keyed wrappers."""
    try:
        from comfy.patcher_extension import WrappersMP
    except ImportError:
        return None
    needed = ("OUTER_SAMPLE", "CALC_COND_BATCH", "DIFFUSION_MODEL", "APPLY_MODEL")
    return WrappersMP if all(hasattr(WrappersMP, name) for name in needed) else None


def clone_model_options(model_options: dict) -> dict:
    try:
        from comfy.model_patcher import create_model_options_clone
    except ImportError:
        cloned = copy.copy(model_options)
        cloned["transformer_options"] = copy.copy(model_options.get("transformer_options", {}))
        return cloned
    return create_model_options_clone(model_options)


def _prompt_server():
    try:
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


_warned_no_node_text = False


def show_text_on_node(node_id, text: str) -> None:
    """Text under the node in the UI (ComfyUI's progress-text message); no-op without a server."""
    global _warned_no_node_text
    server = _prompt_server()
    if server is None or node_id is None:
        return
    if not hasattr(server, "send_progress_text"):
        if not _warned_no_node_text:
            _warned_no_node_text = True
            log.warning("TaoCache: this ComfyUI cannot show text on nodes; the summary is in the log")
        return
    try:
        server.send_progress_text(text, node_id)
    except Exception as error:  # the UI message is a courtesy; never fail a run over it
        log.debug("TaoCache: could not show text on node %s: %s", node_id, error)


def send_event(event: str, data: dict) -> None:
    """A websocket event for the pack's web extension, to the client that queued the running prompt
    (with its prompt_id); no-op without a server."""
    server = _prompt_server()
    if server is None or not hasattr(server, "send_sync"):
        return
    data = {**data, "prompt_id": getattr(server, "last_prompt_id", None)}
    try:
        server.send_sync(event, data, getattr(server, "client_id", None))
    except Exception as error:
        log.debug("TaoCache: could not send %s: %s", event, error)
