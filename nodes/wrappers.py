"""The keyed ComfyUI wrappers that put TaoCache around a model's forward.

  OUTER_SAMPLE     once per sampling run: builds the run's state from the node settings and the
                   run's sigmas, always drops it in `finally`, and reports.
  CALC_COND_BATCH  once per step (and context window): marks a step boundary for the report, and
                   puts each of ComfyUI's own ControlNets behind a DeferredControl, so that a
                   skipped call does not run it (control.py).
  DIFFUSION_MODEL  around the diffusion model's forward: the compute-or-skip decision on the raw
                   noise output (velocity for Wan).
  APPLY_MODEL      fallback for models whose forward does not call DIFFUSION_MODEL wrappers: the
                   same decision on the noise estimate recovered from the denoised output.
The first model call of every run is always computed; it tells which of the last two is active.
The calibration node's wrappers (every call computed, statistics recorded) are in calibration.py.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Optional

import torch

from ..taocache import Profile, TaoCacheConfig, TaoCacheRun
from ..taocache.repeats import RepeatedEvaluations, is_repeat, state_of
from ..taocache.streams import StreamError, batch_size, chunks_by_stream, split_streams, stream_keys
from . import compat, control as controls, installs, other_caches, run_reports, run_start

log = logging.getLogger("TaoCache")

SETTINGS_KEY = "taocache"  # transformer_options entry: the node's settings (immutable)
RUN_KEY = "taocache_run"  # transformer_options entry: the live run, only during sampling
WRAPPER_KEY = "taocache"
REPORT_EVENT = "taocache.report"


@dataclass(frozen=True)
class NodeSettings:
    config: TaoCacheConfig
    node_id: Optional[str] = None
    profile: Optional[Profile] = None  # with a profile, skips are planned ahead to reach target_speedup
    profile_name: Optional[str] = None
    target_speedup: float = 1.0
    plan_mode: str = "speedup"  # with a profile: "speedup" (reach target_speedup) or "error" (stay under target_error)
    target_error: float = 0.005
    profile_warning: Optional[str] = None  # a usable profile's caveat (other shift, LoRA): kept in the summary
    unused_inputs: Optional[str] = None  # "not used in this run: ..." (inputs set but without effect): in the summary
    plan_without_profile: bool = False  # no profile, but plan target_speedup ahead (skips spread over the window)


class LiveRun:
    """One sampling run as seen by the wrappers: the method's state plus where the hook landed.

    Shared by every thread of a run (ComfyUI's multi-GPU CFG split calls the model from one worker
    thread per device, each with its own transformer_options copy holding this same object)."""

    def __init__(self, settings: NodeSettings, run: TaoCacheRun):
        self.settings = settings
        self.run = run
        self.hook: Optional[str] = None  # "diffusion_model" or "apply_model", set by the first call
        self.output_forms: dict = {}  # input Form -> Form of the model output last computed for it
        self.started: Optional[float] = None  # perf_counter at the first evaluation: model loading excluded
        self.repeats = RepeatedEvaluations()  # another node's extra call of a branch gets its own key
        self.guidance_calls = 0  # calls keyed apart as another node's (blocks replaced, or evaluated again)
        self.evaluation_sigma: Optional[float] = None  # the noise level of the current CALC_COND_BATCH
        # skipped calls that came with a ControlNet's output: ComfyUI runs the ControlNet in calc_cond_batch
        # before the model call, where no wrapper of the model reaches; control.py leaves it out where the
        # run expected the skip, so this counts the others (a T2I adapter, UNet models only, computes its
        # output once per hint and hands it out again: nil there)
        self.control_on_skipped = 0
        self.control_left_out = 0  # skipped calls that carried a ControlNet left out, so never run (control.py)

    def claim(self, hook: str) -> bool:
        """True when `hook` is the point that caches this run (the first call's hook claims it)."""
        with self.run.lock:
            if self.hook is None:
                self.hook = hook
            return self.hook == hook

    def claim_first(self, hook: str) -> bool:
        """Claim `hook` for this run; True only for the call that set it."""
        with self.run.lock:
            if self.hook is not None:
                return False
            self.hook = hook
            return True

    def stop(self, reason: str) -> None:
        """Caching off for the rest of this run, said once in the log (the node shows the summary)."""
        if self.run.stop(reason):
            log.warning(f"TaoCache: caching off for the rest of this run, it continues uncached: {reason}")

    def log_row(self, decision) -> None:
        if self.settings.config.verbose and decision.row is not None:
            log.info(decision.row.line(self.run.schedule.steps))


# transformer_options keys that mean the pack must stay off for the run, and why.
UNCACHEABLE_OPTIONS = {
    # causal (autoregressive) Wan, comfy/ldm/wan/ar_model.py: the forward keeps a KV cache across
    # calls and bypasses the DIFFUSION_MODEL wrapper; a skipped call would leave that cache behind.
    "ar_state": "causal (autoregressive) Wan: its forward keeps a KV cache that skipped calls would corrupt",
    # the Kandinsky 6 pack's MagCache (its Kandinsky6MagCache node; the newest ComfyUI's
    # comfy/ldm/kandinsky6/model.py reads it): it counts the forwards it sees to pick its calibrated ratio
    # and to end its run, so calls TaoCache skipped would put it out of step.
    "k6_magcache": "Kandinsky 6 MagCache is on this model: it counts model calls to follow its calibrated "
                   "schedule, which calls TaoCache skipped would put out of step; use one cache or the other",
}


def why_uncacheable(options: dict) -> Optional[str]:
    for key, reason in UNCACHEABLE_OPTIONS.items():
        if options.get(key) is not None:
            return reason
    return None


def transformer_options_of(args, kwargs) -> dict:
    options = kwargs.get("transformer_options")
    if isinstance(options, dict):
        return options
    for arg in reversed(args):
        if isinstance(arg, dict):
            return arg
    return {}


def replaced_blocks(options: dict) -> tuple:
    """The blocks this call's transformer_options replace ("patches_replace"), as sorted names.

    A guidance node can call the model again for the same conditioning at the same noise level with
    some blocks replaced: the core SkipLayerGuidanceDiT adds a call of the cond with layers skipped,
    SkipLayerGuidanceDiTSimple skips them in the uncond call inside its range. That call computes a
    different function, so it must not share the plain call's history: a prediction from the plain
    history would return the plain output and cancel the guidance, and recording it would mix the
    two functions' deltas."""
    replaced = options.get("patches_replace")
    if not isinstance(replaced, dict):
        return ()
    return tuple(sorted(f"{name}:{block!r}" for name, blocks in replaced.items()
                        if isinstance(blocks, dict) for block in blocks))


def branch_keys(options: dict, batch: int) -> Optional[list]:
    """One key per conditioning entry in the call, per context window: its uuid and whether it is a
    cond or an uncond. The uuid alone is not unique: for an area cond, ComfyUI fills the matching
    uncond area with a copy of the cond entry, uuid included, and batches the two in one call.
    A call that replaces blocks (`replaced_blocks`) keys its branches apart from the plain calls."""
    uuids = options.get("uuids")
    kinds = options.get("cond_or_uncond")
    if uuids and kinds and len(uuids) == len(kinds):
        keys = list(zip(uuids, kinds))
    else:
        keys = list(uuids or kinds or ())
    if not keys or batch % len(keys) != 0:
        return None
    repeats: dict = {}
    for i, key in enumerate(keys):  # still a duplicate: number it, never merge two chunks' histories
        repeats[key] = repeats.get(key, -1) + 1
        if repeats[key]:
            keys[i] = (key, repeats[key])
    window = options.get("context_window")
    if window is not None:
        indices = getattr(window, "index_list", None)
        if indices is None:  # windows could not be told apart: they would share one history
            return None
        keys = [(key, tuple(indices)) for key in keys]
    replaced = replaced_blocks(options)
    if replaced:
        keys = [(key, "replaced", replaced) for key in keys]
    return keys


BRANCH_NAMES = {0: "cond", 1: "uncond"}


def branch_names(options: dict, keys: list, streams: int) -> list[str]:
    """The names users read for `stream_keys(keys, streams)`, in that order: "cond", "uncond",
    "cond stream 1" (the audio of an audio-video model), "(blocks replaced)" for a call that replaces
    blocks (Skip Layer Guidance), "(again 1)" for a repeated evaluation of a branch."""
    kinds = options.get("cond_or_uncond")
    labels = kinds if kinds and len(kinds) == len(keys) else list(range(len(keys)))
    suffix = " (blocks replaced)" if replaced_blocks(options) else ""
    names = []
    for stream in range(streams):
        for key, label in zip(keys, labels):
            name = BRANCH_NAMES.get(label, str(label)) + (f" stream {stream}" if streams > 1 else "")
            names.append(name + suffix + (f" (again {key[2]})" if is_repeat(key) else ""))
    return names


def current_sigma(options: dict) -> Optional[float]:
    sigmas = options.get("sigmas")
    if sigmas is None:
        return None
    return float(torch.as_tensor(sigmas).max())


def _cached_call(options: dict, model_input, compute, hook: str, to_noise=None, from_noise=None):
    """Skip (predict every branch and stream) or compute (and record them) one model call.

    `model_input` is the model's first argument: a tensor, or the list of streams of a packed
    multi-stream model (LTX-2 audio-video, MiniMax H3, TripoSplat); a skipped call returns the
    structure the model returned last time. Under torch.compile (core TorchCompileModel compiles
    the whole diffusion model, so the DIFFUSION_MODEL wrapper is traced) the decision and the
    bookkeeping run outside the compiled graph (`_decide_call`, `_record_call`: two graph breaks),
    while `compute`, the model's forward, stays here where it is compiled: behind a recursive
    torch.compiler.disable it would run uncompiled."""
    predicted, pending = _decide_call(options, model_input, hook, from_noise)
    if predicted is not None:
        return predicted
    output = compute()
    if pending is not None:
        _record_call(pending, output, to_noise)
    return output


@torch.compiler.disable
def _decide_call(options: dict, model_input, hook: str, from_noise=None):
    """(predicted output, None) to skip; (None, pending) to compute and record; (None, None) for a
    call outside a TaoCache run, at the hook point that does not cache this run (the first call of
    a run claims the DIFFUSION_MODEL hook), or without a noise level to place it by. Whatever the
    pack cannot key turns caching off for the run, with a message; it never raises."""
    live: Optional[LiveRun] = options.get(RUN_KEY)
    if live is None or not live.claim(hook):
        return None, None
    sigma = current_sigma(options)
    if sigma is None:
        live.stop("the model call carries no noise level (transformer_options has no 'sigmas')")
        if live.evaluation_sigma is None:
            return None, None  # a call outside any evaluation: nothing to place it by
        # still counted, at its evaluation's noise level (calc_cond_batch's timestep)
        return None, (live, live.run.decide([], live.evaluation_sigma), [], None, 0)
    reason = why_uncacheable(options)
    if reason:
        live.stop(reason)
    run = live.run
    try:
        streams, form = split_streams(model_input)
    except StreamError as error:
        live.stop(f"cannot key this model's input: {error}")
        return None, (live, run.decide([], sigma), [], None, 0)
    batch = batch_size(streams)
    window = options.get("context_window")
    if window is not None and getattr(window, "index_list", None) is None:
        live.stop("this ComfyUI's context windows carry no index_list: the windows cannot be told apart")
        return None, (live, run.decide([], sigma), [], form, batch)
    keys = branch_keys(options, batch)
    if keys is None:
        live.stop(f"cannot tell the conditioning entries of a batch of {batch} apart (transformer_options "
                  f"uuids {options.get('uuids')!r}, cond_or_uncond {options.get('cond_or_uncond')!r})")
        return None, (live, run.decide([], sigma), [], form, batch)
    plain_keys, keys = keys, live.repeats.keys(keys, sigma)
    if keys != plain_keys or replaced_blocks(options):
        with run.lock:
            live.guidance_calls += 1
    # a skip needs computed history, and recording it sets the output form
    output_form = live.output_forms.get(form, form)
    keys_per_stream = stream_keys(keys, output_form.count)
    input_shape = tuple(tuple(stream.shape[1:]) for stream in streams)  # per batch entry: batch is the keys
    named = run.report.branch_names
    if any(key not in named for key in keys_per_stream):
        named.update(zip(keys_per_stream, branch_names(options, keys, output_form.count)))
    decision = run.decide(keys_per_stream, sigma, streams[0].device, input_shape)
    if not decision.skip:
        return None, (live, decision, keys, form, batch)
    predictions = run.predict(decision, keys_per_stream)
    per_stream = [torch.cat(predictions[s * len(keys):(s + 1) * len(keys)], dim=0) for s in range(output_form.count)]
    if from_noise:
        per_stream = [from_noise(per_stream[0])]
    live.log_row(decision)
    control = getattr(_this_call, "control", None)
    if control is not None:
        with run.lock:
            if controls.is_pending(control):
                live.control_left_out += 1
            else:  # a ControlNet ran for this call for nothing
                live.control_on_skipped += 1
    return output_form.pack(per_stream), None


@torch.compiler.disable
def _record_call(pending, output, to_noise=None) -> None:
    live, decision, keys, form, batch = pending
    run = live.run
    tensors: list = []
    if keys and run.active:
        try:
            tensors, output_form = split_streams(output, "model output")
        except StreamError as error:
            live.stop(f"cannot key this model's output: {error}")
        else:
            if batch_size(tensors) != batch:
                live.stop(f"the model returned a batch of {batch_size(tensors)} for an input batch of {batch}")
                tensors = []
            else:
                live.output_forms[form] = output_form
    if tensors:
        if to_noise:
            tensors = [to_noise(tensors[0])]
        run.record(decision, stream_keys(keys, len(tensors)), chunks_by_stream(tensors, len(keys)))
    else:  # no history (caching off, or nothing to key), but the call still counts as computed
        run.record(decision, [], [])
    live.log_row(decision)


def diffusion_model_wrapper(executor, *args, **kwargs):
    options = transformer_options_of(args, kwargs)
    return _cached_call(options, args[0], lambda: _compute(executor, args, kwargs, None), "diffusion_model")


def _compute(executor, args, kwargs, control_position):
    """The model call, with a ControlNet output left out for an expected skip computed now (control.py)."""
    args, kwargs = controls.resolve_control(args, kwargs, control_position)
    return executor(*args, **kwargs)


def expected_to_skip(live: LiveRun, options: dict, model_input) -> bool:
    """Whether the caching call about to come with these transformer_options will be skipped, as far
    as the run can tell now (TaoCacheRun.would_skip: nothing changes). Asked by a DeferredControl."""
    if live.hook is None or not live.run.active or why_uncacheable(options):
        return False
    sigma = current_sigma(options)
    try:
        streams, form = split_streams(model_input)
    except StreamError:
        return False
    keys = branch_keys(options, batch_size(streams)) if sigma is not None else None
    if keys is None:
        return False
    return live.run.would_skip(stream_keys(keys, live.output_forms.get(form, form).count), sigma)


def noise_conversions(x: torch.Tensor, sigma: torch.Tensor):
    """(to_noise, from_noise) at an APPLY_MODEL call on x at sigma, which returns a denoised estimate:
    the noise estimate behind a denoised output, and back, for any model sampling type."""
    sigma_b = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)

    def to_noise(denoised):
        return (x - denoised) / sigma_b

    def from_noise(noise):
        return x - sigma_b * noise.to(x.dtype)

    return to_noise, from_noise


# The model call under way in this thread, as APPLY_MODEL saw it: `control`, the ControlNet output
# calc_cond_batch gave it (None without one; a PendingControl where it was left out). The model's own
# forward takes that output in a position of its own (Flux: the seventh argument), so the
# DIFFUSION_MODEL wrapper reads it from here.
_this_call = threading.local()


def apply_model_wrapper(executor, *args, **kwargs):
    """apply_model(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs), the same in
    ComfyUI 0.3.75 and the newest: notes the call's ControlNet output for the caching call below, and
    caches here when the model's forward has no DIFFUSION_MODEL wrapper point."""
    options = transformer_options_of(args, kwargs)
    live: Optional[LiveRun] = options.get(RUN_KEY)
    if live is None:
        return executor(*args, **kwargs)
    previous = getattr(_this_call, "control", None)
    _this_call.control = args[4] if len(args) > 4 else kwargs.get("control")
    try:
        return _apply_model_call(live, options, executor, args, kwargs)
    finally:
        _this_call.control = previous


def _apply_model_call(live: LiveRun, options: dict, executor, args, kwargs):
    if live.hook == "diffusion_model":
        return executor(*args, **kwargs)  # a ControlNet output left out is computed there if needed
    x = args[0]
    to_noise, from_noise = noise_conversions(x, args[1])
    if live.hook is None:
        # the first call: does the forward reach our DIFFUSION_MODEL wrapper? If not, cache here,
        # starting with this call (always computed: there is no history yet)
        output = _compute(executor, args, kwargs, APPLY_MODEL_CONTROL)
        if live.hook == "diffusion_model":
            return output
        if live.claim_first("apply_model"):
            log.info("TaoCache: this model's forward has no DIFFUSION_MODEL wrapper point; "
                     "caching at APPLY_MODEL instead")
        return _cached_call(options, x, lambda: output, "apply_model", to_noise, from_noise)
    return _cached_call(options, x, lambda: _compute(executor, args, kwargs, APPLY_MODEL_CONTROL), "apply_model",
                        to_noise, from_noise)


APPLY_MODEL_CONTROL = 4  # apply_model(x, t, c_concat, c_crossattn, control, ...)


def cond_batch_transformer_options(args, kwargs) -> dict:
    """The transformer_options of a calc_cond_batch(model, conds, x_in, timestep, model_options) call."""
    model_options = args[-1] if args and isinstance(args[-1], dict) else kwargs.get("model_options", {})
    return model_options.get("transformer_options", {})


def calc_cond_batch_wrapper(executor, *args, **kwargs):
    """One evaluation of every conditioning (per context window); its chunks may be separate
    model calls when memory is short, and they should agree on computing."""
    options = cond_batch_transformer_options(args, kwargs)
    live: Optional[LiveRun] = options.get(RUN_KEY)
    if live is not None:
        if live.started is None:
            _synchronize()
            live.started = time.perf_counter()
        state, live.evaluation_sigma = evaluation_state(args, kwargs)
        live.repeats.begin(state, live.evaluation_sigma)
        reason = why_uncacheable(options)
        if reason:
            live.stop(reason)
        live.run.begin_evaluation()
        if live.run.active:
            args, kwargs = _defer_controls(live, args, kwargs)
    return executor(*args, **kwargs)


def _defer_controls(live: LiveRun, args, kwargs) -> tuple:
    """calc_cond_batch(model, conds, x_in, timestep, model_options)'s arguments with every ControlNet in
    conds behind a DeferredControl that asks this run whether its call will be skipped (control.py)."""
    would_skip = lambda options, model_input: expected_to_skip(live, options, model_input)
    if len(args) > 1:
        return (args[0], controls.with_deferred_controls(args[1], would_skip), *args[2:]), kwargs
    if "conds" in kwargs:
        return args, {**kwargs, "conds": controls.with_deferred_controls(kwargs["conds"], would_skip)}
    return args, kwargs


def evaluation_state(args, kwargs) -> tuple:
    """calc_cond_batch(model, conds, x_in, timestep, model_options): the sampler state x_in and its
    noise level, which tell a guidance node's second evaluation of the step (taocache/repeats.py).
    The state is the x_in object (a weak reference): a guidance node passes the step's own x, Heun's
    next call a new one. A context window gets a fresh slice of x for every evaluation, so there the
    state is its content (repeats.state_of)."""
    x_in = args[2] if len(args) > 2 else kwargs.get("x_in")
    timestep = args[3] if len(args) > 3 else kwargs.get("timestep")
    try:
        sigma = float(torch.as_tensor(timestep).max())
    except (TypeError, ValueError, RuntimeError):
        return None, None
    if cond_batch_transformer_options(args, kwargs).get("context_window") is not None:
        return state_of(x_in), sigma
    try:
        return weakref.ref(x_in), sigma
    except TypeError:
        return None, sigma


def outer_sample_wrapper(executor, *args, **kwargs):
    """One sampling run: fresh state from the node's settings, dropped in `finally` (also on an
    error or an interrupt), then the report. Every run starts fresh, the second KSamplerAdvanced of
    a split schedule (or Wan2.2 A14B's low-noise expert) too: its window is the same noise-level
    range as the full schedule's, but its first three calls compute, to build the history the
    predictor needs."""
    guider = executor.class_obj
    original_options = guider.model_options
    settings: NodeSettings = original_options["transformer_options"][SETTINGS_KEY]
    sampler = args[2] if len(args) > 2 else kwargs.get("sampler")
    sigmas = args[3] if len(args) > 3 else kwargs["sigmas"]
    live = LiveRun(settings, run_start.new_run(settings, guider, sigmas, sampler))
    setup_notes = "; ".join(filter(None, [
        other_caches.note(original_options["transformer_options"], original_options), installs.duplicate_note()]))
    if setup_notes:
        log.info(f"TaoCache: {setup_notes}")
        live.run.report.note = "; ".join(filter(None, [live.run.report.note, setup_notes]))
    uncacheable = why_uncacheable(original_options["transformer_options"])
    if uncacheable:
        live.run.stop(uncacheable)
    if live.run.active:
        log.info(f"TaoCache: on for {live.run.schedule.steps} steps ({settings.config.describe()})")
        stochastic = _stochastic_sampler(sampler)
        if stochastic:
            log.warning(f"TaoCache: {stochastic} is a stochastic sampler (it adds fresh noise every step): "
                        f"predictions of skipped steps are less reliable; a deterministic sampler (euler, "
                        f"dpmpp_2m, uni_pc) or max_consecutive_skips 1 is safer")
            live.run.report.note = "; ".join(filter(None, [
                live.run.report.note, f"stochastic sampler {stochastic}: predictions less reliable"]))
    else:
        log.warning(f"TaoCache: off for this run, it runs uncached: {live.run.disabled_reason}")

    def end(finished: bool) -> None:
        report = live.run.close()
        reached = run_start.plan_reached(live.run, report) if finished and not live.guidance_calls else None
        if reached:
            report.note = "; ".join(filter(None, [report.note, reached]))
        if finished:
            report.note = "; ".join(filter(None, [report.note, run_start.gates_never_opened(live.run, report)]))
        if live.control_left_out:
            report.note = "; ".join(filter(None, [report.note, (
                f"{live.control_left_out} of the {report.skipped} skipped calls carried a ControlNet, which was not "
                f"run for them")]))
        if live.control_on_skipped:  # the call ratio is model calls: say what still ran
            report.note = "; ".join(filter(None, [report.note, (
                f"a ControlNet ran for {live.control_on_skipped} of the {report.skipped} skipped calls too (another "
                f"pack's ControlNet, which may count the calls it sees, is not left out, nor one whose call could "
                f"not be told beforehand to be skipped): the wall-clock gain is below the call ratio (TaoCache "
                f"Compare measures it)")]))
        if live.guidance_calls:  # say why there are more calls than steps
            report.note = "; ".join(filter(None, [report.note, (
                f"{live.guidance_calls} of the {report.total} calls were another node's extra or altered calls (a "
                f"conditioning evaluated again in the same step, or with blocks replaced), each branch with its own "
                f"history")]))
        seconds = None
        if finished and live.started is not None:
            _synchronize()
            seconds = time.perf_counter() - live.started
        _publish(settings, report, finished, seconds)

    return sample_with_run_state(executor, args, kwargs, RUN_KEY, live, end)


def sample_with_run_state(executor, args, kwargs, key: str, live, end) -> object:
    """Run the sampling (an OUTER_SAMPLE executor) with `live` under `key` in a private copy of the
    guider's transformer_options; in `finally` (also on an error or an interrupt) put the guider's own
    options back and call end(finished). Shared by the TaoCache and the calibration wrappers."""
    guider = executor.class_obj
    original_options = guider.model_options
    guider.model_options = compat.clone_model_options(original_options)
    guider.model_options["transformer_options"][key] = live
    finished = False
    try:
        output = executor(*args, **kwargs)
        finished = True
        return output
    finally:
        guider.model_options = original_options
        end(finished)


def _synchronize() -> None:
    """Wait for the GPU's queued work, so that a wall-clock reading covers it (CUDA; else nothing)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


# Samplers that add fresh noise at every step (ancestral, SDE and a few others): the outputs of
# consecutive steps are less smooth, so extrapolating them is less reliable.
STOCHASTIC_SAMPLERS = ("ddpm", "lcm", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece")


def _stochastic_sampler(sampler) -> Optional[str]:
    """The sampler's name when it is stochastic, else None (also for samplers it cannot name). A
    custom-sampler node's eta 0 or s_noise 0 (KSAMPLER's extra_options: SamplerEulerAncestral,
    SamplerDPMPP_SDE, SamplerER_SDE's ODE, the newest SamplerSEEDS2 as exp_heun_2_x0...) adds no
    noise, so that sampler is deterministic."""
    name = run_start.sampler_name(sampler)
    if not ("ancestral" in name or "sde" in name or name in STOCHASTIC_SAMPLERS):
        return None
    options = getattr(sampler, "extra_options", None)
    options = options if isinstance(options, dict) else {}
    if any(isinstance(options.get(key), (int, float)) and options[key] == 0 for key in ("eta", "s_noise")):
        return None
    return name


def _publish(settings: NodeSettings, report, finished: bool, seconds: Optional[float] = None) -> None:
    """The run's summary to the log and the node, its report to the web extension and, with
    `seconds` (the sampling's wall clock from the first model evaluation on), to TaoCache Compare."""
    summary = report.summary()
    if not finished:
        summary += " (run stopped early)"
    if report.skipped == 0 and finished:
        log.warning(summary)
    else:
        log.info(summary)
    if report.peak_history_bytes:
        log.info(report.memory_line())
    compat.show_text_on_node(settings.node_id, summary)
    if settings.node_id is not None:
        compat.send_event(REPORT_EVENT, {"node": str(settings.node_id), **report.to_dict(), "seconds": seconds})
        run_reports.record(compat.current_prompt_id(), settings.node_id, {
            "computed": report.computed, "skipped": report.skipped, "total": report.total, "seconds": seconds})


def attach(model, settings: NodeSettings, types) -> bool:
    """Put the wrappers on `model` (a clone). Returns True when an earlier TaoCache was replaced."""
    replaced = SETTINGS_KEY in model.model_options.get("transformer_options", {})
    for kind in ("OUTER_SAMPLE", "CALC_COND_BATCH", "DIFFUSION_MODEL", "APPLY_MODEL"):
        wrapper_type = getattr(types, kind)
        if replaced and hasattr(model, "remove_wrappers_with_key"):
            model.remove_wrappers_with_key(wrapper_type, WRAPPER_KEY)
    model.model_options.setdefault("transformer_options", {})[SETTINGS_KEY] = settings
    model.add_wrapper_with_key(types.OUTER_SAMPLE, WRAPPER_KEY, outer_sample_wrapper)
    model.add_wrapper_with_key(types.CALC_COND_BATCH, WRAPPER_KEY, calc_cond_batch_wrapper)
    model.add_wrapper_with_key(types.DIFFUSION_MODEL, WRAPPER_KEY, diffusion_model_wrapper)
    model.add_wrapper_with_key(types.APPLY_MODEL, WRAPPER_KEY, apply_model_wrapper)
    return replaced
