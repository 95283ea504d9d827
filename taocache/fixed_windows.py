"""The fixed online windows as calibration candidates, and the rule that a planned placement replaces
the better of them only on paired evidence (ours, not the paper's).

Calibrated placement was meant to score at least the better of two fixed online windows: the paper's
late window (start_percent 0.3) and an early/mid window holding as many skippable steps. On our test
model it led them by several dB at most speedups, but where a plan and a window were about equal the
sign of the difference moved with the prompts evaluated (docs/method.md, "Placement by trial"): a plan
chosen on 8 calibration prompts could land a fraction of a dB below the window on others. So the
windows themselves are candidates now. TaoCache Calibrate's trials run each window at each setting
below, online (its cos and norm-ratio gates decide, as on a node without a profile), and keep their
measured error and speedup in the profile. At a target speedup the node takes:

  - the best window: the lowest geometric-mean error among the windows whose speedup reached the
    target on every calibration run (a gated window's speedup moves with the prompt);
  - the best planned placement (placement.choose);
  - the plan only when its paired log errors against that window have a one-sided 95% upper bound
    below zero (Student's t over the runs both were tried on). Otherwise the window runs, online,
    exactly as a TaoCache node with its inputs would.

One calibration run is no evidence (no spread), so a one-run profile always keeps the window. The
windows are candidates only when the node's own window is open (0 to 1): a narrowed window bounds the
plan, and these windows would not respect it.

The window settings are the benchmark's (tools/benchmark/methods.py takes them from here).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Optional

from . import placement as placements
from .config import TaoCacheConfig

# (label, max_consecutive_skips, cos_threshold, norm_ratio_threshold), slowest to fastest
SETTINGS = (
    ("K1 gated", 1, 0.6, 1.3),
    ("K1 open", 1, -1.0, 10.0),
    ("K2 gated", 2, 0.6, 1.3),
    ("K2 open", 2, -1.0, 10.0),
    ("K3 open", 3, -1.0, 10.0),
)
LATE_START = 0.3  # the paper's late window, the node's default start_percent
LATE_START_NARROW = 0.55  # a later window for about 1.25x (the default window skips a third of the calls)
EARLY_EXTRA_STEPS = 3  # the computed steps a window opening at step 0 needs before its first skip
PREFIX = "window: "
CONFIDENCE_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771,
                  1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706,
                  1.703, 1.701, 1.699, 1.697)  # Student's t, one-sided 95%, 1 to 30 degrees of freedom


@dataclass(frozen=True)
class Window:
    """One fixed online window at one setting. end_percent None: the early/mid window's end, which
    depends on the schedule (early_mid_end)."""
    name: str
    start_percent: float
    end_percent: Optional[float]
    max_consecutive_skips: int
    cos_threshold: float
    norm_ratio_threshold: float

    def config(self, base: TaoCacheConfig, end_percent: float) -> TaoCacheConfig:
        """The node configuration that runs this window (the base's predictor and budget kept)."""
        return replace(base, start_percent=self.start_percent, end_percent=end_percent,
                       max_consecutive_skips=self.max_consecutive_skips, cos_threshold=self.cos_threshold,
                       norm_ratio_threshold=self.norm_ratio_threshold)


def _windows() -> tuple[Window, ...]:
    out = [Window(f"{PREFIX}late K1 gated, start {LATE_START_NARROW}", LATE_START_NARROW, 1.0, 1, 0.6, 1.3)]
    for label, k, cos, nr in SETTINGS:
        out.append(Window(f"{PREFIX}late {label}", LATE_START, 1.0, k, cos, nr))
        out.append(Window(f"{PREFIX}early/mid {label}", 0.0, None, k, cos, nr))
    return tuple(out)


WINDOWS = _windows()
BY_NAME = {w.name: w for w in WINDOWS}


def is_window(name: str) -> bool:
    return name in BY_NAME


def early_mid_end(sigmas, percent_to_sigma: Callable[[float], float]) -> float:
    """end_percent of an early/mid window [0, e) holding as many skippable steps as the late window
    [LATE_START, 1), plus the EARLY_EXTRA_STEPS computed steps it needs first (sigmas: the run's
    schedule; percent_to_sigma: the model sampling's). 1.0 when no end short of it holds that many."""
    usable = [float(s) for s in sigmas][:-2]  # the last step is always computed, the final sigma is no step
    start = float(percent_to_sigma(LATE_START))
    late = sum(1 for s in usable if s <= start)
    for i in range(1, 1000):
        end_percent = i / 1000
        end = float(percent_to_sigma(end_percent))
        if sum(1 for s in usable if s > end) >= late + EARLY_EXTRA_STEPS:
            return end_percent
    return 1.0


def end_percent(window: Window, sigmas, percent_to_sigma) -> float:
    return window.end_percent if window.end_percent is not None else early_mid_end(sigmas, percent_to_sigma)


@dataclass(frozen=True)
class Choice:
    name: str  # a placement (placement.PLACEMENTS) or a window (WINDOWS)
    why: str

    @property
    def is_window(self) -> bool:
        return is_window(self.name)


def t95(degrees: int) -> float:
    """One-sided 95% quantile of Student's t (the table's last value past 30 degrees: a little wide)."""
    return CONFIDENCE_T95[min(max(degrees, 1), len(CONFIDENCE_T95)) - 1]


def _nearest(values, wanted):
    return min(values, key=lambda v: (abs(v - wanted), -v))


def best_window(trials, steps: int, target: float) -> Optional[tuple[str, float, float, int]]:
    """(name, geometric-mean error, mean speedup, runs) of the window with the lowest error among those
    that reached `target` on every run they were tried on, at `steps` (compared on the runs every such
    window was tried on); None when none did. Every run, not on average: a gated window's speedup
    moves with the prompt (1.25-1.50x over our test prompts for one setting), and one that fell short
    on a calibration prompt may fall short on the user's, where a plan always reaches its target."""
    at = [t for t in trials if is_window(t.placement) and t.steps == steps and math.isfinite(t.error)]
    by_name: dict[str, dict] = {}
    for t in at:
        by_name.setdefault(t.placement, {})[t.run] = t
    reaching = {n: runs for n, runs in by_name.items() if min(t.speedup for t in runs.values()) >= target - 1e-3}
    if not reaching:
        return None
    common = set.intersection(*(set(r) for r in reaching.values()))
    means = {n: placements.geometric_mean(runs[i].error for i in (common or runs)) for n, runs in reaching.items()}
    best = min(means, key=lambda n: (means[n], WINDOWS.index(BY_NAME[n])))
    runs = reaching[best]
    # mean speedup as the benchmark counts it: all calls of the full runs over all calls made
    speedup = len(runs) / sum(1 / max(t.speedup, 1e-9) for t in runs.values())
    return best, means[best], speedup, len(common or runs)


def choose(trials, steps: int, target: float, windows: bool = True) -> Optional[Choice]:
    """The placement or window a node at `steps` steps and `target` speedup runs (module docstring);
    windows False: planned placements only (placement.choose). None when no trial qualifies."""
    planned = placements.choose(trials, steps, target)
    if not windows or not trials:
        return Choice(*planned) if planned else None
    nearest_steps = _nearest({t.steps for t in trials}, steps)
    window = best_window(trials, nearest_steps, target)
    if window is None:
        return Choice(*planned) if planned else None
    name, error, speedup, runs = window
    kept = (f"fixed window {name.removeprefix(PREFIX)} kept by trial ({speedup:.2f}x, geometric mean error "
            f"{error:.3g} over {runs} run(s) at {nearest_steps} steps)")
    if planned is None:
        return Choice(name, kept + "; no planned placement reached the speedup")
    plan_name = planned[0]
    plan_target = _nearest({t.target for t in trials if t.steps == nearest_steps and t.placement == plan_name}, target)
    plan_errors = {t.run: t.error for t in trials if t.placement == plan_name and t.steps == nearest_steps
                   and t.target == plan_target and placements.reached(t) and math.isfinite(t.error)}
    window_errors = {t.run: t.error for t in trials if t.placement == name and t.steps == nearest_steps}
    paired = sorted(set(plan_errors) & set(window_errors) - {None})
    differences = [math.log(max(plan_errors[r], 1e-12) / max(window_errors[r], 1e-12)) for r in paired]
    db = 20 / math.log(10)
    if len(differences) < 2:
        return Choice(name, kept + f"; {plan_name} was tried on {len(differences)} of the same run(s): too few "
                                   f"to show it better")
    n = len(differences)
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    upper = mean + t95(n - 1) * sd / math.sqrt(n)
    compared = (f"{plan_name} against it over {n} paired runs: {-mean * db:+.2f} dB, at least "
                f"{-upper * db:+.2f} dB with 95% confidence")
    if upper < 0:
        return Choice(plan_name, planned[1] + f"; better than fixed window {name.removeprefix(PREFIX)}: {compared}")
    return Choice(name, kept + f"; {compared}, not shown better")
