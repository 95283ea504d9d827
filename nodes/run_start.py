"""A sampling run's state from the TaoCache node's settings and the run's sigmas: its schedule (the
window as noise levels), its plan when it has one (a profile's, or target_speedup's without one), and
what its summary says about the plan: the plan itself, why a plan holds fewer skips than asked, and
what a sampler with calls between the steps' noise levels reached of it."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Optional

from ..taocache import Schedule, TaoCacheConfig, TaoCacheRun
from ..taocache.config import RANGES
from ..taocache.call_pattern import CallPattern
from ..taocache.policy import COS_GATE, NORM_GATE, SKIP_FIRST_CALL, SKIP_SECOND_CALL
from ..taocache.planner import (WARMUP, Plan, model_calls, per_step, plan_by_trial, plan_without_profile, skips_for,
                                usable_steps)

from . import profiles

if TYPE_CHECKING:
    from .wrappers import NodeSettings

log = logging.getLogger("TaoCache")

# Samplers that call the model more than once per step (all but the last step), how many times, and
# which call a planned step skips (the plan counts calls: taocache/planner.py skips_for). heun: each
# level twice, the correction of the step before, then the step itself, whose output the first call
# just computed at that level (exp_heun_2_x0 is the newest ComfyUI's, seeds_2 at r=1). sa_solver_pece:
# each level twice, the predictor's state, then the corrected one; skipping the second makes the step
# a plain sa_solver step, and on our test model skipping the first scored 4-7 dB above skipping both
# and the second 7-13 dB below (results/sa_solver_pece_plan_20_steps/). dpm_2 and the other midpoint
# samplers: the step's level, then a point between it and the next; the level's call is skipped and
# the midpoint computes (results/midpoint_plan_20_steps/); seeds_3 the same with two such points.
# heunpp2 (three calls per step, at three levels) is not here: a planned step skips every call at its
# level.
REPEATED_LEVEL_SAMPLERS = {"heun": (2, SKIP_SECOND_CALL), "exp_heun_2_x0": (2, SKIP_SECOND_CALL),
                           "exp_heun_2_x0_sde": (2, SKIP_SECOND_CALL), "sa_solver_pece": (2, SKIP_FIRST_CALL),
                           **{name: (2, SKIP_FIRST_CALL) for name in (
                               "dpm_2", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
                               "dpmpp_sde", "dpmpp_sde_gpu", "seeds_2")},
                           "seeds_3": (3, SKIP_FIRST_CALL)}


def sampler_name(sampler) -> str:
    """The KSampler name of a sampler object ("" when it has none: a custom sampler)."""
    function = getattr(sampler, "sampler_function", None)
    return getattr(function, "__name__", "").removeprefix("sample_")


# Samplers whose option `r` places the step's second call (SamplerDPMPP_SDE; the newest ComfyUI's
# SamplerSEEDS2, whose description names seeds_2 at r 1.0 as exp_heun_2_x0): at r 1 that call lands
# on the next step's level, as heun's does, so a planned level skips its second call, as on heun.
SECOND_CALL_AT_R = ("dpmpp_sde", "dpmpp_sde_gpu", "seeds_2")


def level_calls(sampler) -> dict:
    """TaoCacheRun's `calls_per_step` and `skipped_call` for this sampler: by its name
    (REPEATED_LEVEL_SAMPLERS), and by the options a custom-sampler node gave it (KSAMPLER's
    extra_options, passed to the sampler function as keywords): SamplerSASolver's use_pece makes
    sa_solver call each level twice, as sa_solver_pece does, and `r` 1 (SECOND_CALL_AT_R) makes a
    midpoint sampler call the next step's level."""
    name = sampler_name(sampler)
    options = getattr(sampler, "extra_options", None)
    options = options if isinstance(options, dict) else {}
    calls, skipped_call = REPEATED_LEVEL_SAMPLERS.get(name, (1, SKIP_SECOND_CALL))
    if name == "sa_solver" and options.get("use_pece"):
        calls, skipped_call = REPEATED_LEVEL_SAMPLERS["sa_solver_pece"]
    r = options.get("r")
    if name in SECOND_CALL_AT_R and isinstance(r, (int, float)) and abs(float(r) - 1.0) < 1e-6:
        calls, skipped_call = REPEATED_LEVEL_SAMPLERS["heun"]
    return {"calls_per_step": calls, "skipped_call": skipped_call}


# KSampler samplers whose calls follow a pattern of their own: heunpp2 calls three levels per step
# (a planned step skips every call at its level), dpm_fast and dpm_adaptive (their functions, as
# comfy.samplers.ksampler wraps them) choose noise levels of their own.
OWN_PATTERN_SAMPLERS = ("heunpp2", "dpm_fast_function", "dpm_adaptive_function")


def learns_calls(sampler) -> bool:
    """Whether a planned run learns this sampler's calls per step from its warm-up
    (taocache/call_pattern.py): a sampler the pack does not know to call the model more than once per
    step (from another pack, or a newer ComfyUI), except those with a pattern of their own. For one
    that calls once per step nothing changes."""
    return level_calls(sampler)["calls_per_step"] == 1 and sampler_name(sampler) not in OWN_PATTERN_SAMPLERS


def schedule_for(config: TaoCacheConfig, guider, sigmas) -> tuple[Schedule, Optional[str]]:
    """The run's schedule with the window as noise levels, and what went wrong when this model
    cannot convert percent to noise level (the run then stays uncached, saying so)."""
    values = [float(s) for s in sigmas]
    try:
        model_sampling = guider.model_patcher.get_model_object("model_sampling")
        start_sigma = float(model_sampling.percent_to_sigma(config.start_percent))
        end_sigma = float(model_sampling.percent_to_sigma(config.end_percent))
        holds = tuple((float(model_sampling.percent_to_sigma(low)), float(model_sampling.percent_to_sigma(high)))
                      for low, high in config.compute_ranges)
    except (AttributeError, TypeError, ValueError) as error:
        return Schedule(values, float("inf"), float("-inf")), (
            f"this model's sampling cannot convert start_percent/end_percent to noise levels ({error})")
    return Schedule(values, start_sigma, end_sigma, holds), None


def new_run(settings: NodeSettings, guider, sigmas, sampler=None) -> TaoCacheRun:
    config = settings.config
    schedule, problem = schedule_for(config, guider, sigmas)
    if problem:
        run = TaoCacheRun(config, schedule)
        run.stop(problem)
        return run
    levels = level_calls(sampler)
    run = TaoCacheRun(config, schedule, **levels)
    if (settings.profile is None and not settings.plan_without_profile) or not run.active:
        # a run that cannot skip plans nothing (its summary says why)
        run.report.note = "; ".join(filter(None, [
            settings.profile_warning and settings.profile_warning.removeprefix("TaoCache: "), settings.unused_inputs]))
        return run
    plan, note = planned_for(settings, schedule, levels["calls_per_step"])
    run.plan, run.whole_steps, run.report.note = set(plan.steps), set(plan.whole), note
    if learns_calls(sampler):
        def replan(learned):
            """The plan again for the calls per step the warm-up showed, its note in place of the
            first one (the run's note may have grown since: the stochastic sampler warning...)."""
            plan, again = planned_for(settings, schedule, learned.calls_per_step, learned.describe(WARMUP))
            current = run.report.note or ""
            run.report.note = current.replace(note, again, 1) if note in current else f"{again}; {current}"
            return set(plan.steps), set(plan.whole)
        run.learning = (CallPattern(WARMUP), replan)
    return run


def planned_for(settings: NodeSettings, schedule: Schedule, calls_per_step: int,
                learned: str = "") -> tuple[Plan, str]:
    """The run's plan (a profile's, or target_speedup's without one) for a sampler with this many
    calls per step, and the summary's note on it: what was planned, from what, and why it holds fewer
    skips than asked where it does (`learned`: how the calls per step were found, when they were)."""
    config = settings.config
    if settings.profile is None:
        planned = plan_without_profile(schedule, target_speedup=settings.target_speedup,
                                       max_consecutive=config.max_consecutive_skips, calls_per_step=calls_per_step)
        source, why = "no profile", shortfall(schedule, planned, config.max_consecutive_skips)
    else:
        planned, why = plan_by_trial(settings.profile, schedule, mode=settings.plan_mode,
                                     target_speedup=settings.target_speedup, target_error=settings.target_error,
                                     max_consecutive=config.max_consecutive_skips, calls_per_step=calls_per_step)
        source = f"profile {settings.profile_name}"
    note = f"{source}: {planned.describe()}" + (f"; {learned}" if learned else "") + (f"; {why}" if why else "")
    if settings.profile_warning:
        note += f" ({settings.profile_warning.removeprefix('TaoCache: ')})"
    log.info(f"TaoCache: {note}")
    if settings.unused_inputs:
        note += f"; {settings.unused_inputs}"
    return planned, note


def shortfall(schedule: Schedule, planned, max_consecutive: int) -> Optional[str]:
    """Why a plan without a profile holds fewer skips than its target asks for, and what would
    make room: a wider window where it leaves skippable steps out, more skips in a row."""
    if planned.speedup >= planned.target - 1e-3:
        return None
    usable = usable_steps(schedule)
    unheld = usable_steps(replace(schedule, holds=()))  # the window without compute_ranges
    whole = usable_steps(Schedule(schedule.sigmas, float("inf"), float("-inf")))
    fixes = []
    if unheld and whole and unheld[0] > whole[0]:
        fixes.append("lower start_percent")
    if unheld and whole and unheld[-1] < whole[-1]:
        fixes.append("raise end_percent")
    if len(unheld) > len(usable):
        fixes.append("shorten compute_ranges")
    if max_consecutive < RANGES["max_consecutive_skips"][1] and not planned.repeated:
        fixes.append("raise max_consecutive_skips")
    wanted = skips_for(planned.total_steps, planned.target, planned.calls_per_step)
    if planned.repeated:
        if max_consecutive < 2:
            fixes.append("raise max_consecutive_skips to 2 (then a planned step may skip every call of its step)")
            how = (f"a planned step skips {'one of the two' if planned.calls_per_step == 2 else 'one of them'}, "
                   f"at each of the window's {len(usable)} skippable steps")
        elif planned.whole:
            how = (f"a planned step skips one of them at each of the window's {len(usable)} skippable steps, and "
                   f"every call at {len(planned.whole)} of them, no two adjacent with the next step in the window")
        else:
            how = (f"a planned step skips one of them at each of the window's {len(usable)} skippable steps; one "
                   f"call short, no step is skipped whole (on our test model skipping one for that call cost 12 dB: heun, late window)")
        return (f"{planned.target:.2f}x needs {wanted} skipped calls; {planned.skipped_calls} fit: this sampler calls "
                f"the model {per_step(planned.calls_per_step)} per step and {how} (the first {WARMUP} and the "
                f"last 2 steps are computed)" + (f": {' or '.join(fixes)}" if fixes else ""))
    return (f"{planned.target:.2f}x needs {wanted} skips; {len(planned.steps)} fit in the window's {len(usable)} "
            f"skippable steps (the first {WARMUP} and the last 2 steps are computed) at max_consecutive_skips "
            f"{max_consecutive}" + (f": {' or '.join(fixes)}" if fixes else ""))


def plan_reached(run: TaoCacheRun, report) -> Optional[str]:
    """A planned run that came out below its planned call ratio, and why: its sampler called the
    model between two steps' noise levels more often than its plan counted (another pack's sampler
    whose calls per step changed after the warm-up they were learned from), or it calls the model at
    noise levels of its own instead of the schedule's (dpm_fast, dpm_adaptive). A plan skips whole
    steps, so those calls compute. (heun, dpm_2 or seeds_3 call the model a known number of times
    per step, another pack's sampler as many as its warm-up showed, and their plans count calls:
    planner.model_calls, and TaoCacheRun.skipped_call names which call at a planned level is
    skipped.)"""
    steps = run.schedule.steps
    if not run.plan or not steps:
        return None
    calls = model_calls(steps, run.calls_per_step)
    planned = calls / max(calls - len(run.plan) - (run.calls_per_step - 1) * len(run.whole_steps), 1)
    if report.speedup >= planned - 0.01:
        return None
    reached = f"reached {report.speedup:.2f}x of the planned {planned:.2f}x: "
    if report.total > calls:
        return reached + (f"this sampler made {report.total} calls for {steps} steps, and a plan skips whole "
                          f"steps, not the calls between two steps' noise levels (a sampler that calls the model "
                          f"only at the steps' levels, such as euler, dpmpp_2m, uni_pc or heun, or a known number of times "
                          f"between them, such as dpm_2 or seeds_3, reaches the plan)")
    between = sum(abs(row.position - round(row.position)) > 1e-3 for row in report.rows)
    if between:
        return reached + (f"this sampler chose noise levels of its own ({between} of its {report.total} calls "
                          f"fell between the schedule's steps), and a plan skips only the calls at a planned "
                          f"step's level; with this sampler use profile none, whose gates decide at any noise level")
    return None


def gates_never_opened(run: TaoCacheRun, report) -> Optional[str]:
    """What to try when an online run skipped nothing because the cos and norm-ratio gates refused
    every call they were asked about (the summary has already said "thresholds never met"). On our
    test model the node's gates never opened on 19 of the 22 stochastic samplers
    (results/sampler_sweep/), and there a plan scored well above running fewer steps
    (results/stochastic_samplers_20_steps/) and, on sa_solver_pece, above every online setting that
    skipped (results/sa_solver_pece_plan_20_steps/)."""
    if report.skipped or run.plan is not None or run.disabled_reason is not None:
        return None
    if not any(row.reason in (COS_GATE, NORM_GATE) for row in report.rows):
        return None
    return (f"to skip anyway, lower cos_threshold or raise norm_ratio_threshold, or choose profile "
            f"'{profiles.UNCALIBRATED}', which skips the steps target_speedup asks for without the gates")
