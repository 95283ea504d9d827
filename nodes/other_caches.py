"""Other caching packs on the same model, told by what they put in transformer_options.

Two caches on one model both skip model calls, and TaoCache's counts are then only its own; users of
the peer packs found such pairs by their results (welltop-cn/ComfyUI-TeaCache#160: two caches on one
model). TaoCache does not refuse the pair (core EasyCache before TaoCache is tested and has a
template), it says so in the run's summary. The keys are the ones each pack sets when its node
patches a model (read in their sources: core comfy_extras/nodes_easycache.py sets "easycache" for
both EasyCache and LazyCache; welltop-cn/ComfyUI-TeaCache nodes.py "rel_l1_thresh" and
"coefficients"; kijai/ComfyUI-KJNodes' WanVideoTeaCacheKJ (nodes/model_optimization_nodes.py) the same
two and "teacache_device", which tells it apart; Zehong-Ma/ComfyUI-MagCache nodes.py
"magcache_thresh" and "mag_ratios"). chengzeyi/Comfy-WaveSpeed's First Block Cache
(fbcache_nodes.py ApplyFBCacheOnModel) puts nothing there: it is told by the model function wrapper
its node sets, a closure of ApplyFBCacheOnModel.patch; it skips the blocks after the first inside a
call, not calls. None of these finds its step by counting the calls it sees (each matches the call's
sigma or timestep against the run's schedule, or detects a new run by it; read in their sources), so
the calls TaoCache skips do not put them out of step. A cache that does count calls keeps TaoCache off
instead (the Kandinsky 6 pack's MagCache: wrappers.UNCACHEABLE_OPTIONS).
"""
from __future__ import annotations

# (name shown, transformer_options keys any one of which marks it, keys that mark another pack instead)
KNOWN = (
    ("TeaCache (KJNodes WanVideoTeaCacheKJ)", ("teacache_device",), ()),
    ("TeaCache (ComfyUI-TeaCache)", ("rel_l1_thresh", "coefficients"), ("teacache_device",)),
    ("MagCache (ComfyUI-MagCache)", ("magcache_thresh", "mag_ratios"), ()),
)

# (name shown, start of the __qualname__ of the model_function_wrapper its node sets)
FIRST_BLOCK_CACHE = "First Block Cache (Comfy-WaveSpeed)"
FUNCTION_WRAPPERS = (
    (FIRST_BLOCK_CACHE, "ApplyFBCacheOnModel."),
)


def other_caches(transformer_options: dict, model_options: dict | None = None) -> list[str]:
    """The other caches attached to the model whose transformer_options (and model_options, which
    hold the model function wrapper) these are, by name."""
    found = []
    holder = transformer_options.get("easycache")
    if holder is not None:
        found.append("core LazyCache" if type(holder).__name__.startswith("Lazy") else "core EasyCache")
    for name, keys, not_keys in KNOWN:
        if any(key in transformer_options for key in keys) and not any(key in transformer_options for key in not_keys):
            found.append(name)
    wrapper_name = str(getattr((model_options or {}).get("model_function_wrapper"), "__qualname__", ""))
    for name, prefix in FUNCTION_WRAPPERS:
        if wrapper_name.startswith(prefix):
            found.append(name)
    return found


def note(transformer_options: dict, model_options: dict | None = None) -> str | None:
    """The summary's sentence about them, or None when TaoCache is the only cache."""
    found = other_caches(transformer_options, model_options)
    if not found:
        return None
    inside = " (First Block Cache: the blocks after the first, inside a call)" if FIRST_BLOCK_CACHE in found else ""
    return (f"also on this model: {', '.join(found)}; each skips calls of its own{inside} and TaoCache counts only "
            f"its own (core EasyCache before TaoCache is tested: give them back-to-back windows; other pairs are not "
            f"measured)")
