"""The keyed wrappers of the TaoCache Calibrate node: every model call is computed, and what the
fixed-point predictor would have done at each step is recorded into a calibration profile.

  OUTER_SAMPLE     once per sampling run: a fresh recorder; at the end the run's samples are added to
                   the profile file (never a half run: an interrupted run adds nothing).
  CALC_COND_BATCH  marks each evaluation, so a guidance node's extra one is recorded as its own branch.
  DIFFUSION_MODEL  after the forward: one sample per branch and step (r, c, one-step predictor error).
  APPLY_MODEL      the same for a model whose forward has no DIFFUSION_MODEL wrapper point (SD3's
                   MMDiT, Mochi), on the noise estimate behind its denoised output, as TaoCache's own
                   APPLY_MODEL fallback caches it.
With trial speedups the OUTER_SAMPLE wrapper then samples the same inputs again once per placement and
speedup (taocache/placement.py), skipping through TaoCache's own wrappers (attached under this node's
key), and adds each trial's measured error to the profile.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, replace
from typing import Optional

import torch

from ..taocache import CalibrationRecorder, Profile, ProfileError, Schedule, TaoCacheConfig, TaoCacheRun, identity
from ..taocache import placement as placements
from ..taocache.call_pattern import CallPattern
from ..taocache.planner import WARMUP, plan
from ..taocache.repeats import RepeatedEvaluations
from ..taocache.streams import StreamError, batch_size, chunks_by_stream, split_streams, stream_keys
from . import compat, profiles, run_start
from .wrappers import (RUN_KEY, SETTINGS_KEY, WRAPPER_KEY, LiveRun, NodeSettings, apply_model_wrapper, branch_keys,
                       branch_names, calc_cond_batch_wrapper, cond_batch_transformer_options, current_sigma,
                       diffusion_model_wrapper, evaluation_state, noise_conversions, sample_with_run_state,
                       transformer_options_of, why_uncacheable)

log = logging.getLogger("TaoCache")

CALIBRATION_KEY = "taocache_calibration"  # transformer_options entry: CalibrationSettings
CALIBRATION_RUN_KEY = "taocache_calibration_run"


@dataclass(frozen=True)
class CalibrationSettings:
    profile_name: str
    path: str
    node_id: Optional[str] = None
    trial_speedups: tuple = ()  # speedups at which to try every placement after the full run


TRIAL_MAX_CONSECUTIVE = 2  # the trials' max_consecutive_skips (2 reaches 2.0x; 1 cannot, after the guards)


class LiveCalibration:
    def __init__(self, settings: CalibrationSettings, schedule: Schedule):
        self.settings = settings
        self.schedule = schedule
        self.recorder = CalibrationRecorder(q_max=TaoCacheConfig().q_max)
        self.lock = threading.Lock()  # model calls may come from several threads (multi-GPU CFG split)
        self.repeats = RepeatedEvaluations()
        self.message = ""
        self.diffusion_model_seen = False  # the forward reaches the DIFFUSION_MODEL wrapper point
        self.unmeasurable = ""  # why a model output could not be recorded, for the "nothing measurable" message
        self.uncacheable = ""  # why TaoCache stays off on this model (causal Wan): then nothing is recorded


def calibration_calc_cond_batch_wrapper(executor, *args, **kwargs):
    live: Optional[LiveCalibration] = cond_batch_transformer_options(args, kwargs).get(CALIBRATION_RUN_KEY)
    if live is not None:
        live.repeats.begin(*evaluation_state(args, kwargs))
    return executor(*args, **kwargs)


def calibration_diffusion_model_wrapper(executor, *args, **kwargs):
    output = executor(*args, **kwargs)
    options = transformer_options_of(args, kwargs)
    live: Optional[LiveCalibration] = options.get(CALIBRATION_RUN_KEY)
    if live is None:
        return output
    live.diffusion_model_seen = True
    try:  # one tensor, or a packed multi-stream model's list ([video, audio] on LTX-2 audio-video)
        tensors, _ = split_streams(output, "model output")
    except StreamError as error:
        live.unmeasurable = f"cannot key this model's output: {error}"
        return output
    _record_calibration(live, options, tensors)
    return output


def calibration_apply_model_wrapper(executor, *args, **kwargs):
    """Records at APPLY_MODEL when the forward has no DIFFUSION_MODEL wrapper point: the inner wrapper
    runs first, so after the first call `diffusion_model_seen` tells which point records."""
    output = executor(*args, **kwargs)
    options = transformer_options_of(args, kwargs)
    live: Optional[LiveCalibration] = options.get(CALIBRATION_RUN_KEY)
    if live is None or live.diffusion_model_seen or not isinstance(output, torch.Tensor):
        return output
    to_noise, _ = noise_conversions(args[0], args[1])
    _record_calibration(live, options, [to_noise(output)])
    return output


@torch.compiler.disable
def _record_calibration(live: LiveCalibration, options: dict, tensors: list) -> None:
    """One sample per branch and stream. Each stream of a packed multi-stream model keeps its own
    history, as in a cached run, and is a branch of its own in the profile ("cond stream 1"), so a
    plan weighs its predictor error as much as the first stream's."""
    reason = why_uncacheable(options)
    if reason:
        live.uncacheable = reason
        return
    keys = branch_keys(options, batch_size(tensors))
    sigma = current_sigma(options)
    if keys is None or sigma is None:
        return
    keys = live.repeats.keys(keys, sigma)
    names = branch_names(options, keys, len(tensors))
    position = live.schedule.position(sigma)
    with live.lock:
        for key, name, chunk in zip(stream_keys(keys, len(tensors)), names, chunks_by_stream(tensors, len(keys))):
            live.recorder.observe(key, name, sigma, position, chunk)


def calibration_outer_sample_wrapper(executor, *args, **kwargs):
    guider = executor.class_obj
    original_options = guider.model_options
    settings: CalibrationSettings = original_options["transformer_options"][CALIBRATION_KEY]
    noise, sampler, sigmas = args[0], args[2], (args[3] if len(args) > 3 else kwargs["sigmas"])
    live = LiveCalibration(settings, Schedule([float(s) for s in sigmas], float("inf"), float("-inf")))
    live.uncacheable = why_uncacheable(original_options["transformer_options"]) or ""
    metadata = profiles.run_metadata(guider, noise, sampler, sigmas)
    metadata["sigmas"] = [float(s) for s in sigmas]

    saved = []

    def end(finished: bool) -> None:
        samples = live.recorder.close()
        if finished and live.uncacheable:  # TaoCache would stay off: a profile (and trials) would mean nothing
            message = (f"TaoCache Calibrate: {live.uncacheable}; TaoCache stays off on this model, so there is "
                       f"nothing to calibrate: profile {settings.profile_name} unchanged (the run itself is as "
                       f"without the node)")
            saved.append(False)
        elif finished:
            ok, message = _save_calibration(settings, samples, metadata, live.unmeasurable)
            saved.append(ok)
        else:
            message = f"TaoCache Calibrate: run stopped early; nothing added to profile {settings.profile_name}"
        (log.warning if live.uncacheable else log.info)(message)
        compat.show_text_on_node(settings.node_id, message)
        live.message = message

    # outer_sample processes guider.conds in place (comfy/samplers.py CFGGuider.outer_sample, 0.3.75
    # and 0.38.1); each trial starts from a fresh copy of them as they entered, as CFGGuider.sample
    # copies original_conds once per run
    entry_conds = _copy_conds(getattr(guider, "conds", None)) if settings.trial_speedups else None
    output = sample_with_run_state(executor, args, kwargs, CALIBRATION_RUN_KEY, live, end)
    if settings.trial_speedups and saved == [True]:
        if isinstance(output, torch.Tensor):
            _run_trials(executor, args, kwargs, settings, sigmas, output, live.message, entry_conds)
        else:
            message = live.message + "; no placement trials: this model's sampler output is not one latent tensor"
            log.warning(message)
            compat.show_text_on_node(settings.node_id, message)
    return output


def _copy_conds(conds):
    """conds as CFGGuider.sample copies them: each list new, each cond dict copied (None stays None)."""
    if not isinstance(conds, dict):
        return None
    return {k: [c.copy() if hasattr(c, "copy") else c for c in v] for k, v in conds.items()}


def _run_trials(executor, args, kwargs, settings: CalibrationSettings, sigmas, reference, saved_message: str,
                entry_conds=None):
    """Sample the same inputs once per placement and trial speedup with the planned skips; keep each
    trial's error (relative L2 distance of the final latent to `reference`, the full run's) in the
    profile. Plans that come out identical are run once. Trials finished before an interrupt or an
    error are kept."""
    profile = Profile.load(settings.path)
    run_index = len(profile.runs) - 1  # the run just recorded (_save_calibration appends it)
    values = [float(s) for s in sigmas]
    schedule = Schedule(values, float("inf"), float("-inf"))
    config = TaoCacheConfig(start_percent=0.0, end_percent=1.0, max_consecutive_skips=TRIAL_MAX_CONSECUTIVE)
    sampler = args[2] if len(args) > 2 else kwargs.get("sampler")
    levels = run_start.level_calls(sampler)
    learns = run_start.learns_calls(sampler)  # another pack's sampler: the first trial learns its calls per step
    wanted = [(t, p) for t in settings.trial_speedups for p in placements.PLACEMENTS]
    trials, measured = [], {}
    reference = reference.float()
    if any(placements.trial_source(profile, p) is None for p in placements.PLACEMENTS):
        saved_message += ("; the greedy placements are tried from the profile's second run on (planned from the "
                          "other runs, never from the run they are tried on)")
    try:
        for number, (target, placement) in enumerate(wanted, 1):
            source = placements.trial_source(profile, placement)
            if source is None:
                continue
            def planned_for(calls_per_step):
                return plan(source, schedule, mode="speedup", target_speedup=target,
                            max_consecutive=TRIAL_MAX_CONSECUTIVE, placement=placement, calls_per_step=calls_per_step)

            planned = planned_for(levels["calls_per_step"])
            if not planned.steps:
                continue
            def relearned(learned):
                again = planned_for(learned.calls_per_step)
                return set(again.steps), set(again.whole)

            if (planned.steps, planned.whole) not in measured:
                compat.show_text_on_node(settings.node_id, f"TaoCache Calibrate: trial {number} of {len(wanted)}: "
                                                           f"{placement} at {target:g}x")
                if entry_conds is not None:
                    executor.class_obj.conds = _copy_conds(entry_conds)
                run = TaoCacheRun(config, schedule, plan=set(planned.steps), whole_steps=planned.whole, **levels)
                if learns:
                    run.learning = (CallPattern(WARMUP), relearned)
                live = LiveRun(NodeSettings(config=config), run)
                output = sample_with_run_state(executor, args, kwargs, RUN_KEY, live, lambda finished: None)
                report = live.run.report
                error = float((output.float() - reference).norm() / reference.norm().clamp_min(1e-12))
                if learns:  # the later trials plan for the calls this one found
                    learns, levels = False, {"calls_per_step": run.calls_per_step, "skipped_call": run.skipped_call}
                    planned = replace(planned, steps=frozenset(run.plan), whole=frozenset(run.whole_steps))
                measured[(planned.steps, planned.whole)] = (report.total / max(report.computed, 1), error)
            speedup, error = measured[(planned.steps, planned.whole)]
            trials.append(placements.Trial(placement, target, schedule.steps, round(speedup, 4), error, run_index))
            log.info(f"TaoCache Calibrate: trial {placement} at {target:g}x: {speedup:.2f}x, error {error:.4g}")
    finally:
        message = _save_trials(settings, trials, saved_message)
        log.info(message)
        compat.show_text_on_node(settings.node_id, message)


def _save_trials(settings: CalibrationSettings, trials: list, saved_message: str) -> str:
    if not trials:
        return saved_message + "; no placement trial could run (no plan skipped anything)"
    try:
        profile = Profile.load(settings.path)
    except ProfileError as error:
        return saved_message + f"; trials not saved: {error}"
    profile.trials.extend(trials)
    profile.save(settings.path)
    best = []
    for target in sorted({t.target for t in trials}):
        choice = placements.choose(trials, trials[0].steps, target)
        if choice:
            best.append(f"{target:g}x {choice[0]}")
    return (saved_message + f"; {len(trials)} placement trials added (best in this run: "
            + (", ".join(best) or "none reached its speedup") + ")")


def _save_calibration(settings: CalibrationSettings, samples: list, metadata: dict, unmeasurable: str = ""):
    """(saved, message). `unmeasurable`: why some model output could not be recorded, if one could not."""
    if not any(s["error"] is not None for s in samples):
        why = unmeasurable or "fewer than 3 model calls per branch"
        return False, (f"TaoCache Calibrate: nothing measurable in this run ({why}); profile "
                       f"{settings.profile_name} unchanged")
    profile = Profile()
    remarks = []
    if os.path.exists(settings.path):
        try:
            profile = Profile.load(settings.path)
        except ProfileError as error:
            return False, f"TaoCache Calibrate: {error}; not overwriting it: choose another profile_name"
        fit = identity.compare(profile.metadata, metadata)
        if not fit.usable:
            return False, (f"TaoCache Calibrate: profile {settings.profile_name} {fit.refusal}; not mixing them: "
                    f"choose another profile_name")
        remarks = fit.warnings + fit.notes  # another shift or LoRA: the run is added, and we say so
    profile.add_run(samples, metadata)
    profile.save(settings.path)
    return True, (f"TaoCache Calibrate: profile {settings.profile_name} now holds {len(profile.runs)} run(s); "
            f"written to {settings.path}" + "".join(f"; note: the profile was {remark}" for remark in remarks))


def attach_calibration(model, settings: CalibrationSettings, types) -> None:
    model.model_options.setdefault("transformer_options", {})[CALIBRATION_KEY] = settings
    model.add_wrapper_with_key(types.OUTER_SAMPLE, WRAPPER_KEY + "_calibrate", calibration_outer_sample_wrapper)
    model.add_wrapper_with_key(types.CALC_COND_BATCH, WRAPPER_KEY + "_calibrate", calibration_calc_cond_batch_wrapper)
    model.add_wrapper_with_key(types.DIFFUSION_MODEL, WRAPPER_KEY + "_calibrate", calibration_diffusion_model_wrapper)
    model.add_wrapper_with_key(types.APPLY_MODEL, WRAPPER_KEY + "_calibrate", calibration_apply_model_wrapper)
    if settings.trial_speedups:  # the trials skip through TaoCache's own wrappers (idle outside a trial)
        model.add_wrapper_with_key(types.CALC_COND_BATCH, WRAPPER_KEY + "_calibrate", calc_cond_batch_wrapper)
        model.add_wrapper_with_key(types.DIFFUSION_MODEL, WRAPPER_KEY + "_calibrate", diffusion_model_wrapper)
        model.add_wrapper_with_key(types.APPLY_MODEL, WRAPPER_KEY + "_calibrate", apply_model_wrapper)


def has_taocache(model) -> bool:
    """True when a TaoCache node already patched this model (its wrappers would act in the trials too)."""
    return SETTINGS_KEY in model.model_options.get("transformer_options", {})
