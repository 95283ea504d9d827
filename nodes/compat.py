"""The ComfyUI internals the pack touches, imported lazily, each with a fallback.

A renamed or missing internal must disable one feature with a message, never stop the pack from
loading (TeaCache and MagCache stopped loading at all when a core function they imported at
module level was renamed). INTERNALS below is the one list of what the pack needs from ComfyUI and
what happens without each; tests/comfy/test_compat.py checks that every entry exists in the test
runtime and that the pack's code uses nothing that is not listed.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

log = logging.getLogger("TaoCache")


@dataclass(frozen=True)
class Internal:
    name: str  # as the pack imports or reaches it
    used_for: str
    without: str  # what the pack does when this ComfyUI lacks it
    symbols: tuple = ()  # importable dotted names behind it (checked by tests/comfy/test_compat.py)


# Checked in the test runtime (ComfyUI 0.3.75) and in the newest source (Comfy-Org/ComfyUI 0.38.1).
INTERNALS = (
    Internal("comfy_api.latest.ComfyExtension, comfy_api.latest.io (ComfyNode, Schema, Hidden.unique_id)",
             "the node definitions (v3 schema API, ComfyUI 0.3.52 and newer)",
             "the pack does not load; ComfyUI lists it as IMPORT FAILED",
             symbols=("comfy_api.latest.ComfyExtension", "comfy_api.latest.io.ComfyNode", "comfy_api.latest.io.Schema", "comfy_api.latest.io.Hidden.unique_id",)),
    Internal("comfy.patcher_extension.WrappersMP (OUTER_SAMPLE, CALC_COND_BATCH, DIFFUSION_MODEL, APPLY_MODEL)",
             "the keyed wrappers around sampling and the model call",
             "the nodes pass the model through uncached, with a message on the node",
             symbols=("comfy.patcher_extension.WrappersMP.OUTER_SAMPLE", "comfy.patcher_extension.WrappersMP.CALC_COND_BATCH", "comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL", "comfy.patcher_extension.WrappersMP.APPLY_MODEL",)),
    Internal("ModelPatcher.clone, add_wrapper_with_key, remove_wrappers_with_key, model_options",
             "attaching the wrappers to a copy of the MODEL",
             "without add_wrapper_with_key: uncached with a message; without remove_wrappers_with_key a second "
             "TaoCache node is added to the first instead of replacing it",
             symbols=("comfy.model_patcher.ModelPatcher.clone", "comfy.model_patcher.ModelPatcher.add_wrapper_with_key", "comfy.model_patcher.ModelPatcher.remove_wrappers_with_key", "comfy.model_patcher.ModelPatcher.get_model_object",)),
    Internal("comfy.model_patcher.create_model_options_clone",
             "a private copy of the guider's model options for one sampling run",
             "a shallow copy of model_options and its transformer_options",
             symbols=("comfy.model_patcher.create_model_options_clone",)),
    Internal("ModelPatcher.get_model_object('model_sampling').percent_to_sigma",
             "start_percent / end_percent to noise levels",
             "the run stays uncached, with a message",
             symbols=("comfy.model_sampling.ModelSamplingDiscreteFlow.percent_to_sigma", "comfy.model_sampling.ModelSamplingDiscrete.percent_to_sigma",)),
    Internal("OUTER_SAMPLE executor.class_obj (CFGGuider: model_options, model_patcher), sampler args[2], sigmas args[3]",
             "one state per sampling run, built from its schedule",
             "none: the wrapper cannot run (unchanged from 0.3.52 to 0.38.1)",
             symbols=("comfy.samplers.CFGGuider.outer_sample", "comfy.patcher_extension.WrapperExecutor.new_class_executor",)),
    Internal("the sampler's sampler_function.__name__ and extra_options (KSAMPLER; the keyword options a "
             "custom-sampler node gives it: use_pece, r, eta, s_noise)",
             "which of a step's calls a plan skips (nodes/run_start.py level_calls) and whether the sampler adds noise",
             "a sampler without them is taken as another pack's: a planned run learns its calls per step from "
             "the warm-up (taocache/call_pattern.py), and no stochastic warning is shown (both read with "
             "getattr, unchanged from 0.3.75 to 0.38.1)",
             symbols=("comfy.samplers.KSAMPLER", "comfy.samplers.ksampler",)),
    Internal("transformer_options 'sigmas', 'uuids', 'cond_or_uncond'",
             "the noise level of a model call and one history per conditioning branch",
             "caching off for the run, with a message on the node and in the log"),
    Internal("transformer_options 'context_window' (.index_list)",
             "one history per context window",
             "caching off for the run, with a message (windows would share a history)"),
    Internal("transformer_options 'ar_state'",
             "recognising causal (autoregressive) Wan, which must stay uncached",
             "nothing to recognise: ComfyUI without causal Wan never sets it"),
    Internal("DIFFUSION_MODEL args[0]: a tensor, or a list of streams (LTX-2 audio-video, MiniMax H3, TripoSplat)",
             "the model input and output to predict, one history per stream",
             "anything else turns caching off for the run, with a message"),
    Internal("server.PromptServer.instance.send_progress_text",
             "the run's summary on the node",
             "the summary goes to the log only, with a one-time warning",
             symbols=("server.PromptServer.send_progress_text",)),
    Internal("server.PromptServer.instance.send_sync, last_prompt_id, client_id",
             "the report event the web extension draws the result strip from",
             "no strip; the text on the node and the log still say what happened",
             symbols=("server.PromptServer.send_sync",)),
    Internal("server.PromptServer.instance.last_prompt_id",
             "which prompt a run's report belongs to: TaoCache Compare reads only the running prompt's reports",
             "without a server (prompt id None) Compare reads the latest reports, whatever prompt made them"),
    Internal("comfy_api.latest.io.Hidden.prompt (the queued API prompt)",
             "TaoCache Compare: which TaoCache nodes feed each latent, found by walking the prompt's links",
             "no speed figures on the Compare node, with a message; the quality figures stay",
             symbols=("comfy_api.latest.io.Hidden.prompt",)),
    Internal("kornia.metrics.psnr, kornia.metrics.ssim (in ComfyUI's requirements; 'non essential' in the newest)",
             "TaoCache Compare: PSNR and SSIM of the decoded images",
             "the Compare node shows the latent figures only and says that kornia is missing",
             symbols=("kornia.metrics.psnr", "kornia.metrics.ssim")),
    Internal("folder_paths: folder_names_and_paths, models_dir, get_filename_list, get_folder_paths, get_full_path",
             "calibration profiles in models/taocache_profiles",
             "none: folder_paths is part of every ComfyUI",
             symbols=("folder_paths.folder_names_and_paths", "folder_paths.models_dir", "folder_paths.get_filename_list", "folder_paths.get_folder_paths", "folder_paths.get_full_path",)),
)


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


def current_prompt_id():
    """The id of the prompt ComfyUI is running (None without a server)."""
    return getattr(_prompt_server(), "last_prompt_id", None)


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
