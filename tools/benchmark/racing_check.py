"""Could calibration try fewer placements? A race, simulated on a placement study. (Not in CI; a second.)

    .runtime/venv/bin/python tools/benchmark/racing_check.py out/study30_euler.json [...] [--min-runs 3] [--first N]

TaoCache Calibrate with trial_speedups samples the seed again once per placement (and speedup) after
every full run: up to six extra sampling runs per speedup per calibration run, which on a 14B model are
hours. A race would stop trying a placement once the runs so far show it worse than the leader: from
the `--min-runs`-th run all active placements share on, a placement whose paired log-error difference
to the current leader (the lowest paired mean) has a one-sided 95% Student's t lower bound above zero
is retired, and later runs do not try it. The node's rule then chooses among the placements still
active (placement.choose on their trials).

A placement study (placement_study.py) tried every placement on every calibration and evaluation pair,
so the race can be replayed on its calibration pairs in the order they ran, per configuration and
target. Printed per configuration: the trial runs the race would have made (distinct plans per run, as
Calibrate samples each distinct plan once) against all of them, how many targets' choices changed, and
the evaluation pairs' regret (dB from their best placement) of the choice with and without the race.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from taocache import placement  # noqa: E402

# one-sided 95% Student's t quantiles by degrees of freedom (n - 1 paired runs)
T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833, 10: 1.812}


def qualifying(trials: list, target: float) -> list:
    return [t for t in trials if t.target == target and placement.reached(t) and math.isfinite(t.error)]


def behind_the_leader(trials: list, active: set, min_runs: int) -> set:
    """The active placements shown worse than the leader (paired over the runs both were tried on)."""
    logs: dict[str, dict[int, float]] = {}
    for t in trials:
        if t.placement in active:
            logs.setdefault(t.placement, {})[t.run] = math.log(t.error)
    shared = set.intersection(*(set(v) for v in logs.values())) if logs else set()
    if len(shared) < min_runs:
        return set()
    leader = min(logs, key=lambda p: (statistics.fmean(logs[p][r] for r in shared), placement.PLACEMENTS.index(p)))
    retired = set()
    for p in logs:
        if p == leader:
            continue
        runs = sorted(set(logs[p]) & set(logs[leader]))
        diffs = [logs[p][r] - logs[leader][r] for r in runs]
        n = len(diffs)
        if n < max(min_runs, 2):
            continue
        sd = statistics.stdev(diffs)
        bound = statistics.fmean(diffs) - T95.get(n - 1, 1.645) * sd / math.sqrt(n)
        if bound > 0:
            retired.add(p)
    return retired


def race(trials: list, target: float, min_runs: int) -> tuple[list, int, int]:
    """(the trials a race keeps, trial runs it made, trial runs without it) at one target."""
    at = qualifying(trials, target)
    runs = sorted({t.run for t in at})
    active = {t.placement for t in at}
    kept, raced, full = [], 0, 0
    for run in runs:
        here = [t for t in at if t.run == run]
        full += len({t.error for t in here})
        tried = [t for t in here if t.placement in active]
        raced += len({t.error for t in tried})
        kept += tried
        active -= behind_the_leader(kept, active, min_runs)
    return [t for t in kept if t.placement in active], raced, full


def regret(evaluation: list, target: float, chosen) -> float:
    from placement_study import paired_means
    means = paired_means(evaluation, target)[1]
    if chosen not in means:
        return math.nan
    return 20 * math.log10(min(means.values()) / means[chosen])


def report(study: dict, min_runs: int, first: int = 0) -> str:
    """first: replay only the first `first` calibration runs (0: all), as a user calibrating on fewer."""
    from placement_study import trials_of
    lines, totals = [], {"raced": 0, "full": 0, "changed": 0, "targets": 0, "with": [], "without": []}
    for config, entries in study.items():
        cal, ev = trials_of(entries, "calibration"), trials_of(entries, "evaluation")
        if first:
            cal = [t for t in cal if t.run < first]
        steps = cal[0].steps
        raced = full = changed = 0
        with_race, without = [], []
        for target in sorted({t.target for t in cal}):
            kept, r, f = race(cal, target, min_runs)
            raced, full = raced + r, full + f
            plain = placement.choose(cal, steps, target)
            picked = placement.choose(kept, steps, target) if kept else None
            if not plain or not picked:
                continue
            changed += plain[0] != picked[0]
            with_race.append(regret(ev, target, picked[0]))
            without.append(regret(ev, target, plain[0]))
        lines.append(f"{config}: trial runs {raced} of {full} ({100 * (1 - raced / full):.0f}% saved), choice "
                     f"changed at {changed} of {len(with_race)} targets, evaluation regret "
                     f"{statistics.fmean(with_race):+.2f} dB with the race, {statistics.fmean(without):+.2f} dB without")
        totals["raced"] += raced
        totals["full"] += full
        totals["changed"] += changed
        totals["targets"] += len(with_race)
        totals["with"] += with_race
        totals["without"] += without
    lines.append(f"all: trial runs {totals['raced']} of {totals['full']} "
                 f"({100 * (1 - totals['raced'] / totals['full']):.0f}% saved), choice changed at {totals['changed']} of "
                 f"{totals['targets']} targets, regret {statistics.fmean(totals['with']):+.2f} dB with the race, "
                 f"{statistics.fmean(totals['without']):+.2f} dB without (min runs {min_runs}"
                 + (f", first {first} calibration runs)" if first else ")"))
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("studies", nargs="+", type=Path)
    ap.add_argument("--min-runs", type=int, default=3, help="paired runs before a placement can be retired")
    ap.add_argument("--first", type=int, default=0, help="replay only the first N calibration runs (0: all)")
    a = ap.parse_args(argv)
    study = {}
    for path in a.studies:
        study.update(json.loads(path.read_text()))
    print(report(study, a.min_runs, a.first))


if __name__ == "__main__":
    main()
