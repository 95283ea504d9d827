"""Skips chosen before a run from a calibration profile: where to skip, to reach a speedup or an error.

A profile holds, per noise level, the fixed-point predictor's relative error for skipping that one
step (measured on full runs). What a wrong model output costs the result depends on how far the
sampler carries it: an Euler step moves the latent by the output times the step's sigma distance, so
step i's cost is its one-step error times (sigma_i - sigma_i+1) [ours]. With Wan's shift 8 the early
steps are short in sigma and the last ones long, so the same output error weighs far more late. The
planner skips the cheapest steps anywhere the window allows (the whole schedule when the window is
open from 0 to 1), until either

  mode "speedup"  steps / computed steps reaches target_speedup, or
  mode "error"    the next skip would take the summed expected cost above target_error (the
                  largest speedup whose expected error stays under the bound).

Guards (ours; the first experiments showed why each is needed):
  - the first `warmup` steps are computed: the predictor needs three computed outputs;
  - the last two steps are computed (skipping the penultimate step cost about 1.5 dB);
  - at most max_consecutive skips in a row, and isolated skips are placed before any run of two;
  - no pile-up at the end: the last quarter of the steps never holds more than its proportional
    share of the skips (schedules that piled skips there lost quality at 2.0x).
Expected error: a skip that is the j-th of a run costs j times its step cost (the prediction reaches
j steps past the last computed output); the plan's expected error is the sum, an estimate of the
result's relative displacement, used for ranking and bounding, not a measured error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

from . import placement as placements
from .schedule import Schedule

MODES = ("speedup", "error")
WARMUP = 3
TAIL_FRACTION = 0.25


@dataclass(frozen=True)
class Plan:
    mode: str
    steps: frozenset  # step indices to skip
    expected_error: float  # summed estimated relative error of the planned skips
    total_steps: int
    target: float  # the target speedup or the error bound
    placement: Optional[str] = None  # speedup mode: the placement rule (placement.py)
    calibrated: bool = True  # False: planned without a profile (no expected error to give)
    calls_per_step: int = 1  # a sampler that calls the model more than once per step (heun): a planned step skips one call
    whole: frozenset = frozenset()  # planned steps where every call of the step is skipped (with_whole_steps)

    @property
    def repeated(self) -> bool:
        return self.calls_per_step > 1

    @property
    def skipped_calls(self) -> int:
        return len(self.steps) + (self.calls_per_step - 1) * len(self.whole)

    @property
    def speedup(self) -> float:
        """The planned model-call ratio."""
        calls = model_calls(self.total_steps, self.calls_per_step)
        return calls / max(calls - self.skipped_calls, 1)

    def describe(self) -> str:
        goal = (f"target {self.target:.2f}x" if self.mode == "speedup" else f"error bound {self.target:g}")
        listed = ",".join(str(i) for i in sorted(self.steps)) or "none"
        if self.whole:
            listed += f", every call at steps {','.join(str(i) for i in sorted(self.whole))}"
        where = f", {self.placement}" if self.placement else ""
        error = f"expected error {self.expected_error:.3g}" if self.calibrated else "no calibrated error to expect"
        return f"{self.mode} mode, {goal}{where}: skips steps {listed} (planned {self.speedup:.2f}x, {error})"


def model_calls(steps: int, calls_per_step: int = 1) -> int:
    """A run's model calls: one per step, or on a sampler that calls the model twice per step (heun:
    each level twice, the correction of the step before, then the step itself; dpm_2: the level, then
    a midpoint) two per step but one (heun's first level, dpm_2's last step); seeds_3 (the level,
    then two points before the next) three per step, the last step one."""
    return calls_per_step * steps - (calls_per_step - 1)


def skips_for(steps: int, target_speedup: float, calls_per_step: int = 1) -> int:
    """How many planned steps reach target_speedup (model calls / computed calls). Each skips one
    call: the step itself, or on a sampler that calls the model twice per step, one of the two (on
    heun the second call at its level, whose output was just computed by the first; skipping both
    scored 19-20 dB lower on our test model, results/heun_plan_20_steps/one_call_per_level/; which
    one: nodes/run_start.py REPEATED_LEVEL_SAMPLERS)."""
    calls = model_calls(steps, calls_per_step)
    return calls - math.floor(calls / target_speedup + 1e-9)


def with_whole_steps(planned: Plan, max_consecutive: int, costs: Optional[list[float]] = None,
                     window: Optional[set] = None) -> Plan:
    """A speedup plan on a sampler with several calls per step that one call per planned step
    leaves short of its target: some planned steps skip every call of the step instead [ours].

    One skipped call per planned step never skips two calls in a row, so it holds at most one call
    of every two (1.62x at 20 steps with heun, the window open). A step skipped whole puts its
    calls next to a neighbour's skipped call: two skips in a row, as on a single-call sampler at
    max_consecutive_skips 2. So with max_consecutive_skips 2 or more, as many planned steps as the
    target still needs skip whole, no two of them adjacent: the cheapest by the profile's step
    costs, or spread evenly without a profile. Each adds its step cost to the expected error once
    more (its second extrapolation). A step skipped whole has the next step in the window too
    (`window`: the schedule's window steps), as a midpoint sampler's calls between the two must be.
    A plan one call short keeps one call per step: on our test model a step skipped whole for that
    one call cost 12 dB (heun, late window: 46.3 dB at 1.50x against 58.3 at 1.44x;
    results/whole_steps_20_steps/)."""
    if (planned.mode != "speedup" or not planned.repeated or max_consecutive < 2
            or planned.speedup >= planned.target - 1e-3):
        return planned
    missing = skips_for(planned.total_steps, planned.target, planned.calls_per_step) - len(planned.steps)
    if missing <= 1:
        return planned
    count = math.ceil(missing / (planned.calls_per_step - 1))
    candidates = sorted(i for i in planned.steps if window is None or i + 1 in window)
    if costs is None:
        whole = placements.even_steps(candidates, count, 1)
    else:
        whole = set()
        for _, i in sorted((costs[i], i) for i in candidates):
            if len(whole) >= count:
                break
            if i - 1 not in whole and i + 1 not in whole:
                whole.add(i)
    extra = sum(costs[i] for i in whole) if costs is not None else 0.0
    return replace(planned, whole=frozenset(whole), expected_error=planned.expected_error + extra)


def level_limit(max_consecutive: int, steps: int, calls_per_step: int) -> int:
    """Planned steps allowed in a row: max_consecutive, or any number where each skips only one of
    its step's calls (then no two calls in a row are ever skipped)."""
    return steps if calls_per_step > 1 else max_consecutive


def per_step(calls_per_step: int) -> str:
    """'twice' or 'three times', for the messages about samplers with several calls per step."""
    return {2: "twice", 3: "three times"}.get(calls_per_step, f"{calls_per_step} times")


def step_costs(profile, schedule) -> list[float]:
    """Each step's expected cost of a skip: the calibrated one-step error at its noise level times
    the sigma distance the sampler carries it (inf where the profile has no data)."""
    costs = []
    sigmas = schedule.sigmas
    for i in range(schedule.steps):
        error, _ = profile.at("error", sigmas[i])
        span = abs(sigmas[i] - sigmas[i + 1]) if i + 1 < len(sigmas) else 0.0
        costs.append(error * span if math.isfinite(error) else math.inf)
    return costs


def plan(profile, schedule, *, mode: str = "speedup", target_speedup: float = 1.5,
         target_error: float = 0.005, max_consecutive: int = 1, warmup: int = WARMUP,
         placement: str = placements.DEFAULT, calls_per_step: int = 1) -> Plan:
    """A plan inside the schedule's window and the placement's steps (placement.py; speedup mode:
    error mode always plans greedily over the window)."""
    if mode not in MODES:
        raise ValueError(f"TaoCache: plan mode must be one of {', '.join(MODES)}, got {mode!r}")
    costs = step_costs(profile, schedule)
    user_limit = max_consecutive
    max_consecutive = level_limit(max_consecutive, schedule.steps, calls_per_step)
    allowed = schedule.window_steps()
    if mode == "speedup":
        allowed = sorted(set(allowed) & set(placements.window(placement, schedule.steps)))
    if mode == "speedup" and placements.is_rule(placement):
        steps = schedule.steps
        wanted = skips_for(steps, target_speedup, calls_per_step)
        finite = [i for i in allowed if math.isfinite(costs[i])]
        chosen = placements.rule_steps(placement, finite, steps, wanted, max_consecutive, warmup)
        planned = Plan(mode=mode, steps=frozenset(chosen), expected_error=expected_error(chosen, costs),
                       total_steps=steps, target=target_speedup, placement=placement, calls_per_step=calls_per_step)
        return with_whole_steps(planned, user_limit, costs, set(schedule.window_steps()))
    result = plan_from_errors(costs, allowed, mode=mode, target_speedup=target_speedup, target_error=target_error,
                              max_consecutive=max_consecutive, warmup=warmup, calls_per_step=calls_per_step)
    if mode != "speedup":
        return result
    return with_whole_steps(replace(result, placement=placement), user_limit, costs, set(schedule.window_steps()))


UNCALIBRATED_PLACEMENT = "spread over the window, no calibration"


def plan_without_profile(schedule, *, target_speedup: float = 1.5, max_consecutive: int = 1,
                         warmup: int = WARMUP, calls_per_step: int = 1) -> Plan:
    """A plan with no profile: target_speedup's count of skips spaced evenly over the node's window
    (placement.even_steps), under the same guards as a calibrated plan (warm-up, the last two steps
    computed, at most max_consecutive in a row). It fixes the speedup ahead of the run, as no online
    gate can; where the window cannot hold that many skips it plans as many as it can, and the plan's
    speedup says so. [ours]"""
    steps = schedule.steps
    wanted = skips_for(steps, target_speedup, calls_per_step)
    chosen = placements.even_steps(usable_steps(schedule, warmup), wanted,
                                   level_limit(max_consecutive, steps, calls_per_step))
    planned = Plan(mode="speedup", steps=frozenset(chosen), expected_error=math.nan, total_steps=steps,
                   target=target_speedup, placement=UNCALIBRATED_PLACEMENT, calibrated=False,
                   calls_per_step=calls_per_step)
    return with_whole_steps(planned, max_consecutive, window=set(schedule.window_steps()))


def usable_steps(schedule, warmup: int = WARMUP) -> list[int]:
    """The steps a plan may skip: inside the window, after the warm-up, not the last two."""
    return [i for i in schedule.window_steps() if warmup <= i < schedule.steps - 2]


def plan_by_trial(profile, schedule, *, mode: str = "speedup", target_speedup: float = 1.5,
                  target_error: float = 0.005, max_consecutive: int = 1,
                  calls_per_step: int = 1) -> tuple[Plan, Optional[str]]:
    """(plan, why): in speedup mode with placement trials in the profile, the best placement by trial
    (placement.rank) whose plan reaches the target inside the schedule's window. The trials plan
    over the whole schedule, while a window the user narrowed (start_percent above 0) can leave a
    placement too few steps: early/mid greedy inside 0.3-1.0 planned 1.36x of a 1.5x target on the
    tiny Qwen-Image, where early alternate reached it. A placement can also fall short in its own
    steps (the early/mid ones hold the first 70 %: early/mid greedy at 1.8x when the trials ran at
    1.5x only), which opening the window does not mend; `why` names which held each one back. When
    none reaches it, the best by trial, and `why` says so. Without trials (or in error mode) the
    default placement, and why is None."""
    def planned_with(placement, on=schedule):
        return plan(profile, on, mode=mode, target_speedup=target_speedup, target_error=target_error,
                    max_consecutive=max_consecutive, placement=placement, calls_per_step=calls_per_step)

    ranking = placements.rank(profile.trials, schedule.steps, target_speedup) if mode == "speedup" else None
    if ranking is None:
        return planned_with(placements.DEFAULT), None
    opened = Schedule(schedule.sigmas, math.inf, -math.inf)
    narrowed = schedule.window_steps() != opened.window_steps()
    in_window, own_steps = [], []  # placements short of the target, by what held them back
    if calls_per_step == 1:
        limit = f"max_consecutive_skips {max_consecutive}"
    elif max_consecutive < 2:
        limit = (f"one call per step: this sampler calls the model {per_step(calls_per_step)} per step "
                 f"(max_consecutive_skips 2 lets a planned step skip every call of its step)")
    else:
        limit = (f"one call per step and every call at no two adjacent steps (this sampler calls the model "
                 f"{per_step(calls_per_step)} per step)")
    for placement, _ in ranking.means:
        planned = planned_with(placement)
        if planned.speedup >= target_speedup - 1e-3:
            return planned, ranking.why(placement) + _shortfall(in_window, own_steps, target_speedup, limit,
                                                                bool(schedule.holds))
        fits_opened = narrowed and planned_with(placement, opened).speedup >= target_speedup - 1e-3
        (in_window if fits_opened else own_steps).append(f"{placement} (planned {planned.speedup:.2f}x)")
    best = ranking.means[0][0]
    return planned_with(best), (ranking.why(best) + _shortfall(in_window, own_steps, target_speedup, limit,
                                                               bool(schedule.holds))
                                + "; none reaches it, so the best by trial plans what fits")


def _shortfall(in_window: list[str], own_steps: list[str], target_speedup: float, limit: str,
               holds: bool = False) -> str:
    """Why the better placements by trial were passed over: the window the user narrowed (opening it
    would let them reach the target), or their own steps at this max_consecutive_skips (the early/mid
    placements hold the first 70 % only; opening the window does not help them)."""
    why = ""
    if in_window:
        why += (f"; {', '.join(in_window)} did not reach {target_speedup:.2f}x inside the node's window "
                f"(start_percent 0 opens it{', and an empty compute_ranges' if holds else ''})")
    if own_steps:
        why += (f"; {', '.join(own_steps)} cannot reach {target_speedup:.2f}x in "
                f"{'its' if len(own_steps) == 1 else 'their'} own steps at {limit}")
    return why


def plan_from_errors(errors: list[float], allowed, *, mode: str = "speedup", target_speedup: float = 1.5,
                     target_error: float = 0.005, max_consecutive: int = 1, warmup: int = WARMUP,
                     calls_per_step: int = 1) -> Plan:
    """The planner on plain numbers: errors[i] is step i's cost of a one-step skip, `allowed` the
    steps the window lets it skip."""
    steps = len(errors)
    wanted = skips_for(steps, target_speedup, calls_per_step) if mode == "speedup" else steps
    candidates = sorted((errors[i], i) for i in set(allowed)
                        if warmup <= i < steps - 2 and math.isfinite(errors[i]))
    tail_start = steps - math.ceil(steps * TAIL_FRACTION)
    # Isolated skips first; where they cannot reach the target (they block their neighbours), the
    # same greedy again allowing runs from the start. The first plan that reaches it wins.
    best = None
    for first_limit in range(1, max(max_consecutive, 1) + 1):
        chosen, spent = _greedy(candidates, errors, range(first_limit, max(max_consecutive, 1) + 1),
                                wanted, tail_start, mode, target_error)
        if best is None or len(chosen) > len(best[0]):
            best = (chosen, spent)
        if len(chosen) >= wanted:
            break
    chosen, spent = best
    return Plan(mode=mode, steps=frozenset(chosen), expected_error=spent, total_steps=steps,
                target=target_speedup if mode == "speedup" else target_error, calls_per_step=calls_per_step)


def _greedy(candidates, errors, limits, wanted, tail_start, mode, target_error):
    steps = len(errors)
    chosen: set[int] = set()
    spent = 0.0
    for limit in limits:
        added = True
        while added and len(chosen) < wanted:  # a step refused for the tail share may fit later
            added = False
            for _, i in candidates:
                if len(chosen) >= wanted:
                    break
                if i in chosen:
                    continue
                trial = chosen | {i}
                if placements.longest_run(trial) > limit or not _tail_share_ok(trial, tail_start, steps, wanted, mode):
                    continue
                cost = expected_error(trial, errors)
                if mode == "error" and cost > target_error:
                    continue
                chosen, spent, added = trial, cost, True
    return chosen, spent


def expected_error(skips: set, errors: list[float]) -> float:
    total, run = 0.0, 0
    for i in range(len(errors)):
        run = run + 1 if i in skips else 0
        if run:
            total += run * errors[i]
    return total


def _tail_share_ok(skips: set, tail_start: int, steps: int, wanted: int, mode: str) -> bool:
    """The tail may hold at most its proportional share of the skips: of the planned total in
    speedup mode, of the skips so far in error mode (whose total is not known ahead)."""
    total = wanted if mode == "speedup" else len(skips)
    in_tail = sum(1 for i in skips if i >= tail_start)
    return in_tail <= max(math.ceil(total * (steps - tail_start) / steps), 1)
