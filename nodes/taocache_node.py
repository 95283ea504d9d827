"""The TaoCache node: MODEL in, MODEL out, with the wrappers attached to a clone.

Input order is part of saved workflows (widget values are stored by position): never reorder or
rename; only append new inputs at the end, as optional inputs so older API-format prompts stay valid.
"""
from __future__ import annotations

import logging

from comfy_api.latest import io

from ..taocache import PREDICTORS, ConfigError, TaoCacheConfig
from ..taocache.config import MIN_STEPS, RANGES, parse_ranges
from ..taocache.planner import MODES as PLAN_MODES
from . import compat, profiles
from .wrappers import NodeSettings, attach

log = logging.getLogger("TaoCache")
DEFAULTS = TaoCacheConfig()


PLAN_DEFAULTS = {"target_speedup": 1.5, "plan_mode": "speedup", "target_error": 0.005}


def inputs_without_effect(planned: bool, values: dict, calibrated: bool = True) -> str | None:
    """A note naming the inputs set away from their defaults that this run does not use, so that
    nothing is ignored silently: with a profile the plan decides which steps to skip (the gates and
    error_budget do not; the window, max_consecutive_skips and the predictor still apply), and only
    the plan mode's own target counts; without one the plan inputs do nothing. A plan without a
    profile (calibrated False) has no calibrated errors: it plans to target_speedup only."""
    def changed(names, defaults):
        return [f"{n} {values[n]:g}" if isinstance(values[n], float) else f"{n} {values[n]}"
                for n in names if n in values and values[n] != defaults[n]]

    if planned:
        gates = changed(("cos_threshold", "norm_ratio_threshold", "error_budget"),
                        {n: getattr(DEFAULTS, n) for n in ("cos_threshold", "norm_ratio_threshold", "error_budget")})
        if calibrated:
            other_target = "target_error" if values.get("plan_mode") == "speedup" else "target_speedup"
            unused = gates + changed((other_target,), PLAN_DEFAULTS)
            why = "the profile's plan decides which steps to skip"
        else:
            unused = gates + changed(("plan_mode", "target_error"), PLAN_DEFAULTS)
            why = "without a profile the plan spreads target_speedup's skips over the window"
    else:
        unused = changed(tuple(PLAN_DEFAULTS), PLAN_DEFAULTS)
        why = "they plan from a calibration profile, and this run has none"
    if not unused:
        return None
    return f"not used in this run: {', '.join(unused)} ({why})"


def _float(name, step, tooltip):
    lo, hi = RANGES[name]
    return io.Float.Input(name, default=getattr(DEFAULTS, name), min=lo, max=hi, step=step, tooltip=tooltip)


class TaoCacheNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        lo, hi = RANGES["max_consecutive_skips"]
        return io.Schema(
            node_id="TaoCache",
            display_name="TaoCache",
            category="advanced/model/acceleration",
            description=(
                "Skips model calls in the late denoising steps and predicts their noise output from the "
                "last computed ones (TaoCache, fixed-point view). Put it between the model loader (after "
                "any LoRA) and the sampler. After each run it shows how many calls it computed and skipped."),
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to accelerate (Wan2.1, Wan2.2, or another DiT)."),
                _float("start_percent", 0.01,
                       "Where the window opens, as a fraction of the schedule (converted to a noise level by the "
                       "model). 0.3 is the paper's late window (the default). On our small test model an early/mid "
                       "window (0 to about 0.73) kept more of the full run; with a calibration profile, 0 lets the "
                       "calibration choose where to skip over the whole schedule. Measure on your model (TaoCache "
                       "Compare)."),
                _float("end_percent", 0.01,
                       "Where the late window closes. 1.0 keeps it open to the end (the last step is always "
                       "computed). Must be above start_percent."),
                _float("cos_threshold", 0.01,
                       "Skip only when consecutive noise deltas point the same way: their cosine must be at least "
                       "this. Higher is safer and skips less. Safe: 0.5-0.9; -1 turns the gate off."),
                _float("norm_ratio_threshold", 0.01,
                       "Skip only when the outputs settle: the per-step norm ratio of consecutive deltas must be at "
                       "most this. Lower is safer. Safe: 1.0-1.5; 10 turns the gate off."),
                io.Int.Input("max_consecutive_skips", default=DEFAULTS.max_consecutive_skips, min=lo, max=hi,
                             tooltip="At most this many skipped steps in a row before a real model call. 1 is "
                                     "safe (about 1.4x), 2 is fast (about 1.8x). 0 turns skipping off. In a "
                                     "plan on a sampler with several model calls per step (heun, dpm_2), 2 also "
                                     "lets some planned steps skip all their calls."),
                io.Combo.Input("predictor", options=list(PREDICTORS), default=DEFAULTS.predictor,
                               tooltip="fixed_point: extrapolate per-step rates of change toward the fixed point "
                                       "(default). fixed_point_literal: the raw delta between the last two computed "
                                       "outputs (ablation; overshoots after a skip). reuse: repeat the last output, "
                                       "as residual caches do (ablation)."),
                _float("error_budget", 0.01,
                       "Optional cap on the estimated unpredictable change (relative to the output) summed over a "
                       "run of skips. 0 turns it off. Try 0.05-0.2."),
                io.Boolean.Input("verbose", default=False,
                                 tooltip="Log one line per model call: sigma, computed or skipped, r, c, q."),
                io.Combo.Input("profile", options=profiles.profile_names(), default=profiles.NONE, optional=True,
                               tooltip="A calibration profile from TaoCache Calibrate (models/taocache_profiles). "
                                       "none: decide online from the sample itself. 'none, plan to target_speedup': "
                                       "no calibration, target_speedup's skips spread evenly over the window, so the "
                                       "speedup is known before the run. With a profile, the steps to "
                                       "skip are chosen before the run to reach target_speedup; where the profile holds "
                                       "placement trials (TaoCache Calibrate's trial_speedups), with the placement "
                                       "that measured best at the nearest tried speedup."),
                io.Float.Input("target_speedup", default=1.5, min=1.0, max=4.0, step=0.05, optional=True,
                               tooltip="With a profile: the model-call ratio to reach (steps / computed steps), "
                                       "skipping the steps with the lowest calibrated error first. With profile "
                                       "'none, plan to target_speedup': the same ratio, skips spread evenly over the "
                                       "window. Ignored with profile none. Try 1.3-1.8."),
                io.Combo.Input("plan_mode", options=list(PLAN_MODES), default="speedup", optional=True,
                               tooltip="With a profile: speedup plans the skips to reach target_speedup; error plans "
                                       "the largest speedup whose expected (calibrated) error stays under "
                                       "target_error. The plan may use any step inside start_percent-end_percent: "
                                       "open the window (0 to 1) to let the calibration choose where to skip."),
                io.Float.Input("target_error", default=0.005, min=0.0001, max=1.0, step=0.0005, optional=True,
                               tooltip="With a profile and plan_mode error: the bound on the summed expected error "
                                       "of the planned skips (each skip's calibrated one-step error times the sigma "
                                       "distance of its step, times its place in a run of skips): an estimate of the "
                                       "result's relative change. Try 0.002-0.02."),
                io.String.Input("compute_ranges", default="", optional=True, placeholder="e.g. 0.4-0.5",
                                tooltip="Parts of the window where every step is computed, as fractions of the "
                                        "schedule like start_percent: '0.4-0.5' with start_percent 0 and end_percent "
                                        "1 skips in two windows, 0-0.4 and 0.5-1; several ranges are separated by "
                                        "commas. Online decisions and plans both keep out of them. Empty (the "
                                        "default): none."),
            ],
            outputs=[io.Model.Output(tooltip="The same model, with TaoCache attached for the samplers that use it.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, profile=profiles.NONE) -> bool | str:
        """Naming `profile` here makes ComfyUI skip its "value not in list" check for it (execution.py
        validate_inputs, 0.3.75 and 0.38.1): a workflow shared with a profile the recipient lacks
        then runs, online, and the node says the profile was not found, instead of the whole prompt
        failing validation."""
        if not isinstance(profile, str):
            return (f"profile must be a profile file name from models/{profiles.FOLDER}, {profiles.NONE} or "
                    f"{profiles.UNCALIBRATED}, got {profile!r}")
        return True

    @classmethod
    def execute(cls, model, start_percent, end_percent, cos_threshold, norm_ratio_threshold,
                max_consecutive_skips, predictor, error_budget, verbose, profile=profiles.NONE,
                target_speedup=1.5, plan_mode="speedup", target_error=0.005, compute_ranges="") -> io.NodeOutput:
        node_id = cls.hidden.unique_id if cls.hidden is not None else None

        def uncached(message):
            log.warning(message)
            compat.show_text_on_node(node_id, message)
            return io.NodeOutput(model)

        try:
            config = TaoCacheConfig(
                start_percent=start_percent, end_percent=end_percent, cos_threshold=cos_threshold,
                norm_ratio_threshold=norm_ratio_threshold, max_consecutive_skips=max_consecutive_skips,
                predictor=predictor, error_budget=error_budget, verbose=verbose, min_steps=MIN_STEPS,
                compute_ranges=parse_ranges(compute_ranges))
        except ConfigError as error:
            return uncached(f"{error}. The model passes through uncached.")
        types = compat.wrapper_types()
        if types is None or not hasattr(model, "add_wrapper_with_key"):
            return uncached("TaoCache: this ComfyUI or model type has no keyed model wrappers "
                            "(ComfyUI 0.3.52 or newer is needed); the model passes through uncached.")
        loaded, problem = None, None
        without_profile = profile == profiles.UNCALIBRATED
        if profile and profile not in (profiles.NONE, profiles.UNCALIBRATED):
            loaded, problem = profiles.load_for_model(profile, model)
            if problem:
                log.warning(problem)
                compat.show_text_on_node(node_id, problem)
        if plan_mode not in PLAN_MODES:
            return uncached(f"TaoCache: plan_mode must be one of {', '.join(PLAN_MODES)}, got {plan_mode!r}. "
                            f"The model passes through uncached.")
        unused = inputs_without_effect(loaded is not None or without_profile, dict(
            cos_threshold=cos_threshold, norm_ratio_threshold=norm_ratio_threshold, error_budget=error_budget,
            target_speedup=float(target_speedup), plan_mode=plan_mode, target_error=float(target_error)),
            calibrated=not without_profile)
        if unused:
            log.info(f"TaoCache: {unused}")
        settings = NodeSettings(config=config, node_id=node_id, profile=loaded,
                                profile_name=profile if loaded else None, target_speedup=float(target_speedup),
                                plan_mode=plan_mode, target_error=float(target_error),
                                profile_warning=problem if loaded else None, unused_inputs=unused,
                                plan_without_profile=without_profile)
        patched = model.clone()
        if attach(patched, settings, types):
            log.warning("TaoCache: this model already had a TaoCache node upstream; this node replaces it.")
        return io.NodeOutput(patched)
