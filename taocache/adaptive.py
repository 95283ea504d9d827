"""A plan that adapts to the run: planned skips swap places with unplanned steps as the run goes (ours).

A plan (planner.py) puts the skips where the *average* calibration run's predictor error was lowest.
Within one step, the error varies between prompts, and the predictor's own estimate of the change it
cannot see (predictor.Fit.unpredictable, from the history before the step) follows it
(tools/benchmark/per_prompt_signal.py). So at each step the run may trade:

  - a planned step whose cost this run looks higher than the cheapest step still unplanned ahead
    (its calibrated cost) is computed, and that later step is skipped instead;
  - an unplanned step whose cost this run looks lower than the dearest planned step ahead is
    skipped, and that later step is computed instead.

A step's cost this run is its calibrated cost (planner.step_costs) times this run's estimate over the
calibration runs' mean estimate at the same noise level. The number of skips never changes, so the
speedup is the plan's; every trade keeps the plan's guards (at most max_consecutive in a row, the
tail's share). Later steps are judged by their calibrated cost: the run cannot see them yet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from . import placement as placements
from .planner import TAIL_FRACTION, WARMUP, step_costs, tail_share_ok


@dataclass
class Swaps:
    costs: list[float]  # calibrated cost of skipping each step (planner.step_costs)
    typical: list[float]  # the calibration runs' mean unpredictable estimate at each step
    allowed: frozenset  # steps a skip may move to
    max_consecutive: int
    wanted: int  # the plan's number of skips (for the tail's share)
    moves: int = 0

    def review(self, plan: set, step: int, estimate: float) -> Optional[int]:
        """Trade at `step` given this run's estimate there: returns the later step that changed
        places with it (and updates `plan`), or None."""
        typical = self.typical[step] if step < len(self.typical) else math.nan
        if not (math.isfinite(estimate) and math.isfinite(typical) and typical > 0 and math.isfinite(self.costs[step])):
            return None
        here = self.costs[step] * estimate / typical
        ahead = [j for j in self.allowed if j > step and math.isfinite(self.costs[j])]
        if step in plan:
            options = sorted((self.costs[j], j) for j in ahead if j not in plan and self.costs[j] < here)
            trades = ((plan - {step}) | {j} for _, j in options)
        else:
            options = sorted(((self.costs[j], j) for j in ahead if j in plan and self.costs[j] > here), reverse=True)
            trades = ((plan - {j}) | {step} for _, j in options)
        for (_, j), trial in zip(options, trades):
            if self._keeps_guards(trial):
                plan.clear()
                plan.update(trial)
                self.moves += 1
                return j
        return None

    def _keeps_guards(self, trial: set) -> bool:
        steps = len(self.costs)
        tail_start = steps - math.ceil(steps * TAIL_FRACTION)
        return (placements.longest_run(trial) <= max(self.max_consecutive, 1)
                and tail_share_ok(trial, tail_start, steps, self.wanted, "speedup"))


def swaps_for(profile, schedule, planned, max_consecutive: int, warmup: int = WARMUP) -> Swaps:
    """Swaps for a plan made from `profile` on `schedule` (planner.plan): the skips may move over the
    steps its placement allowed."""
    steps = schedule.steps
    allowed = set(schedule.window_steps())
    if planned.placement:
        allowed &= set(placements.window(planned.placement, steps))
    typical = [profile.at("unpredictable", schedule.sigmas[i])[0] for i in range(steps)]
    return Swaps(costs=step_costs(profile, schedule), typical=typical,
                 allowed=frozenset(i for i in allowed if warmup <= i < steps - 2),
                 max_consecutive=max_consecutive, wanted=len(planned.steps))
