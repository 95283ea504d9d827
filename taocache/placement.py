"""Placements: candidate rules for where in the schedule a plan puts its skips, and the choice
between them by trial (ours, not the paper's).

The planner's ranking (planner.py: calibrated one-step error times sigma distance) is a proxy; on our
test model it sometimes put the skips worse than a fixed window did (docs/method.md, "Calibrated
placement"). So TaoCache Calibrate can also *try* each placement: after its full run it samples the
same prompt and seed again once per placement and target speedup, with that placement's skips, and
keeps each trial's measured error (relative L2 distance of the final latent to the full run's) in the
profile. The TaoCache node then plans with the placement whose trials came out best at the nearest
tried speedup and step count. A placement is a rule, not a list of steps, so it carries over to
another step count:

  whole greedy      the planner over the whole schedule (the node's window still bounds it)
  early/mid greedy  the planner over the first 70 % of the steps
  early/mid spread  evenly spaced skips over the first 70 % of the steps
  early alternate   every other step from the first skippable one on, as far as the count needs
                    (what an open early window with max_consecutive_skips 1 does)
  early pairs       two skips, one computed step, from the first skippable one on (what an open
                    early window with max_consecutive_skips 2 does; single skips where the node
                    allows only one in a row): reaches 1.8-2.0x, which alternate steps cannot
  late spread       evenly spaced skips over the last 70 % (a fixed late window, the paper's placement)

Out of sample: a greedy placement plans from the profile's per-step errors, so its trial on the run
just recorded must not see that run, or the trial measures a plan fitted to its own prompt and seed
(an oracle, not what another prompt will get). trial_source() gives it the profile's other runs only;
the first calibration run therefore tries the rule placements alone, and the greedy ones are tried from
the second run on. Each trial records its run, and choose() compares placements on the runs they were
all tried on (paired), so no placement is favoured by the prompts it happened to be tried on.

The 70 % windows match the benchmark's fixed windows: start_percent 0.3 at Wan's shift holds about
the last 70 % of the steps. A spread placement ignores the profile's error ranking; it obeys the same
guards as the planner (warm-up, the last two steps computed, at most max_consecutive in a row).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

PLACEMENTS = ("whole greedy", "early/mid greedy", "early/mid spread", "early alternate", "early pairs", "late spread")
DEFAULT = "whole greedy"
WINDOW_FRACTION = 0.7
SPEEDUP_RANGE = (1.05, 4.0)  # trial speedups a user may ask for


@dataclass(frozen=True)
class Trial:
    """One trial run: a placement at a target speedup, on a schedule of `steps` steps."""
    placement: str
    target: float
    steps: int
    speedup: float  # the planned (achieved) model-call ratio
    error: float  # relative L2 distance of the final latent to the full run's
    run: Optional[int] = None  # index of the profile's calibration run it was tried on (None: older profiles)

    def to_dict(self) -> dict:
        out = {"placement": self.placement, "target": self.target, "steps": self.steps,
               "speedup": self.speedup, "error": self.error}
        if self.run is not None:
            out["run"] = self.run
        return out


def parse_speedups(text: str) -> list[float]:
    """'1.5, 2' -> [1.5, 2.0]; '' -> []. ValueError naming the input and its range otherwise."""
    values = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        lo, hi = SPEEDUP_RANGE
        if not (lo <= value <= hi):
            raise ValueError(f"trial_speedups: {part!r} is not a speedup from {lo} to {hi} "
                             f"(comma-separated, for example 1.5,2.0; empty for no trials)")
        values.append(value)
    return sorted(set(values))


def window(placement: str, steps: int) -> range:
    """Steps a placement may use (before the planner's own guards)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; one of {', '.join(PLACEMENTS)}")
    if placement.startswith("whole") or placement in ("early alternate", "early pairs"):
        return range(steps)
    span = math.ceil(steps * WINDOW_FRACTION)
    return range(span) if placement.startswith("early") else range(steps - span, steps)


def is_rule(placement: str) -> bool:
    """A placement that ignores the profile's error ranking (spread, alternate, pairs)."""
    return placement.endswith(("spread", "alternate", "pairs"))


def rule_steps(placement: str, allowed, steps: int, wanted: int, max_consecutive: int, warmup: int) -> set[int]:
    if placement.endswith("alternate"):
        return packed_steps(allowed, steps, wanted, 1, warmup)
    if placement.endswith("pairs"):
        return packed_steps(allowed, steps, wanted, min(2, max(max_consecutive, 1)), warmup)
    return spread_steps(allowed, steps, wanted, max_consecutive, warmup)


def packed_steps(allowed, steps: int, wanted: int, run: int, warmup: int) -> set[int]:
    """Runs of `run` skips, each followed by one computed step, from the first usable step on,
    `wanted` skips (fewer when the schedule ends first): front-loaded. run 1: every other step."""
    usable = sorted(i for i in set(allowed) if warmup <= i < steps - 2)
    chosen: list[int] = []
    in_a_row = 0
    for i in usable:
        if len(chosen) >= wanted:
            break
        if chosen and i == chosen[-1] + 1:
            if in_a_row >= run:
                continue
            in_a_row += 1
        else:
            in_a_row = 1
        chosen.append(i)
    return set(chosen)


def spread_steps(allowed, steps: int, wanted: int, max_consecutive: int, warmup: int) -> set[int]:
    """`wanted` skips spaced evenly over the usable `allowed` steps (fewer when the guards cannot
    hold that many: at most max_consecutive in a row)."""
    usable = sorted(i for i in set(allowed) if warmup <= i < steps - 2)
    k = max(max_consecutive, 1)
    for count in range(min(wanted, len(usable)), 0, -1):
        chosen = {usable[min(int((j + 0.5) * len(usable) / count), len(usable) - 1)] for j in range(count)}
        if len(chosen) == count and longest_run(chosen) <= k:
            return chosen
    return set()


def even_steps(usable, wanted: int, max_consecutive: int) -> set[int]:
    """`wanted` skips over the `usable` steps (in order), evenly, at most max_consecutive in a row:
    the computed steps among them split the skips into runs whose lengths differ by at most one.
    Where the run limit cannot hold `wanted`, the most it can hold (spread_steps picks evenly spaced
    positions first and so can fall one short of that with runs of two or more; the trial
    placements keep it as they were measured)."""
    usable = sorted(set(usable))
    k = max(max_consecutive, 1)
    count = min(max(wanted, 0), len(usable))
    while count and math.ceil(count / (len(usable) - count + 1)) > k:
        count -= 1
    runs = len(usable) - count + 1  # runs of skips: before, between and after the computed steps
    chosen, i = [], 0
    for j in range(runs):
        size = count * (j + 1) // runs - count * j // runs
        chosen += usable[i:i + size]
        i += size + 1  # then one computed step
    return set(chosen)


def longest_run(chosen: set[int]) -> int:
    """The longest run of consecutive step indices in `chosen`."""
    longest = current = 0
    previous = None
    for i in sorted(chosen):
        current = current + 1 if previous is not None and i == previous + 1 else 1
        longest, previous = max(longest, current), i
    return longest


def trial_source(profile, placement: str):
    """The profile a placement's trial on the profile's last run plans from, or None when it has
    none yet: a rule placement takes the whole profile (it needs only which steps were measured), a
    greedy one the other runs only (out of sample: see the module docstring)."""
    if is_rule(placement):
        return profile
    others = type(profile)(metadata=profile.metadata, runs=profile.runs[:-1])
    return others if others.runs else None


def geometric_mean(errors) -> float:
    """Mean of errors taken in log space: quality is compared in dB (a log of the error) averaged
    over runs, so one run's large error should not outweigh several runs' small ones."""
    errors = list(errors)
    return math.exp(sum(math.log(max(e, 1e-12)) for e in errors) / len(errors))


def reached(trial: Trial) -> bool:
    """The trial's planned speedup is at least its target (a plan short of it, because the placement
    cannot hold that many skips under the guards, is no candidate at that target: it would be
    compared with placements that skip more)."""
    return trial.speedup >= trial.target - 1e-3


@dataclass(frozen=True)
class Ranking:
    """The qualifying placements at the tried step count and speedup nearest a run's, best first by
    mean (geometric) trial error, with what the comparison rests on."""
    means: tuple  # ((placement, mean error), ...), best first
    runs: dict  # placement -> number of trial errors in its mean
    steps: int
    target: float
    paired: bool

    def why(self, placement: str) -> str:
        others = ", ".join(f"{p} {m:.3g}" for p, m in self.means if p != placement)
        mean = dict(self.means)[placement]
        paired = ", paired" if self.paired else ""
        return (f"placement {placement} chosen by trial (geometric mean error {mean:.3g} over "
                f"{self.runs[placement]} trial run(s){paired} at {self.target:g}x, {self.steps} steps"
                + (f"; {others}" if others else "") + ")")


def rank(trials: list[Trial], steps: int, target: float) -> Optional[Ranking]:
    """The placements from trials: those at the tried step count nearest `steps` and the tried
    speedup nearest `target` that reached the speedup they were tried at, ranked by mean (geometric)
    error; None when no trial qualifies. When the trials record their runs, the means are taken over
    the runs every qualifying placement was tried on (a paired comparison), where there are such runs."""
    if not trials:
        return None
    nearest_steps = min({t.steps for t in trials}, key=lambda s: (abs(s - steps), -s))
    at_steps = [t for t in trials if t.steps == nearest_steps]
    nearest_target = min({t.target for t in at_steps}, key=lambda v: (abs(v - target), -v))
    qualifying = [t for t in at_steps if t.placement in PLACEMENTS and t.target == nearest_target
                  and reached(t) and math.isfinite(t.error)]
    if not qualifying:
        return None
    common = None
    if all(t.run is not None for t in qualifying):
        runs_of: dict[str, set] = {}
        for t in qualifying:
            runs_of.setdefault(t.placement, set()).add(t.run)
        common = set.intersection(*runs_of.values()) or None
    errors: dict[str, list[float]] = {}
    for t in qualifying:
        if common is None or t.run in common:
            errors.setdefault(t.placement, []).append(t.error)
    means = {p: geometric_mean(v) for p, v in errors.items()}
    order = sorted(means, key=lambda p: (means[p], PLACEMENTS.index(p)))
    return Ranking(means=tuple((p, means[p]) for p in order), runs={p: len(v) for p, v in errors.items()},
                   steps=nearest_steps, target=nearest_target, paired=common is not None)


def choose(trials: list[Trial], steps: int, target: float) -> Optional[tuple[str, str]]:
    """(placement, why): the best of rank(trials, steps, target); None when no trial qualifies."""
    ranking = rank(trials, steps, target)
    if ranking is None:
        return None
    best = ranking.means[0][0]
    return best, ranking.why(best)
