"""How many times per step a sampler the pack does not know calls the model, learned from its first steps.

A plan counts model calls and skips one call at each planned step (planner.skips_for), so it must
know the sampler's calls per step before its first planned step. The samplers ComfyUI ships are known
by name (nodes/run_start.py REPEATED_LEVEL_SAMPLERS). Another pack's sampler (RES4LYF's multistage
samplers call the model at the step's level and again before the next one) is learned here from the
warm-up steps, which always compute: the calls of one branch at positions (schedule.position: the
step index, fractional between two steps' levels) below `warmup`, counted when the first call at or
past it arrives. [ours]

    calls seen below step 3          calls per step   a planned step skips   like
    0, 1, 2                          1                the call               euler
    0, 1, 1, 2, 2                    2                the second at a level  heun: the level's second call
                                                                             is the step itself, its first the
                                                                             correction of the step before
    0, 0, 1, 1, 2, 2                 2                the first              sa_solver_pece: both in the step
    0, .5, 1, 1.5, 2, 2.5            2                the first              dpm_2: then the midpoint computes
    0, .3, .7, 1, ... 2.7            3                the first              seeds_3

Which call each pattern skips is what measured best on its ComfyUI twin (results/heun_plan_20_steps/,
results/sa_solver_pece_plan_20_steps/, results/midpoint_plan_20_steps/, results/seeds_3_plan_20_steps/).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Optional

from .planner import per_step

# Which of a step's calls a planned step skips on a sampler that calls the model more than once per
# step: the second at a level, where the first call's output at that very level predicts it (heun), or
# the first, keeping the sampler's own later evaluations (sa_solver_pece, where a skipped second call
# makes the step a plain sa_solver step; dpm_2 and the other midpoint samplers, whose midpoint calls
# are never planned).
SKIP_SECOND_CALL = "second"
SKIP_FIRST_CALL = "first"


@dataclass(frozen=True)
class Learned:
    calls_per_step: int
    skipped_call: str
    seen: int  # calls of the branch before the first step past the warm-up

    def describe(self, steps: int) -> str:
        return (f"this sampler called the model {per_step(self.calls_per_step)} per step in its first {steps} steps ({self.seen} calls), so "
                f"the plan counts calls and skips the {self.skipped_call} call at a planned step")


class CallPattern:
    """The positions of one branch's calls (the first branch seen) until the warm-up ends."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.branch: Optional[Hashable] = None
        self.positions: list[float] = []
        self.finished = False

    def observe(self, keys, position: float) -> Optional[Learned]:
        """Record one call; at the first call of the branch at or past the warm-up, `finished`,
        and what was learned (None before, and for a sampler with one call per step)."""
        if self.branch is None and keys:
            self.branch = keys[0]
        if self.finished or self.branch not in keys:
            return None
        if position < self.warmup:
            self.positions.append(position)
            return None
        self.finished = True
        return learn(self.positions, self.warmup)


def learn(positions: list[float], warmup: int) -> Optional[Learned]:
    """calls per step and the call to skip from the calls seen in the first `warmup` steps."""
    calls = math.ceil(len(positions) / warmup) if positions else 1
    if calls <= 1:
        return None
    levels: dict[int, int] = {}
    for position in positions:
        if position == round(position):
            levels[round(position)] = levels.get(round(position), 0) + 1
    if levels.get(0, 0) < 2 and any(count > 1 for count in levels.values()):
        skipped = SKIP_SECOND_CALL  # a level called again by the next step, as heun's
    else:
        skipped = SKIP_FIRST_CALL  # both calls in the step itself, or calls between the levels
    return Learned(calls, skipped, len(positions))
