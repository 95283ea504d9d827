"""Does a choice rule pick better placements if it pools neighbouring speedups? (Not in CI; a second.)

    .runtime/venv/bin/python tools/benchmark/selection_rules.py out/placement_study.json [...]

The node takes, per target speedup, the placement whose calibration trials at that target had the
lowest paired geometric-mean error (placement.choose). Each target's trials are a few noisy runs, and
a placement that is good at 1.4x is usually good at 1.3x and 1.5x too, so pooling a target with its
neighbours could pick better with the same trials (less noise, some bias). This script measures it on
a placement study (placement_study.py), which tried every placement on calibration and evaluation
pairs alike: each rule picks from the calibration pairs' trials, and is scored by the evaluation
pairs' paired geometric-mean error of its pick, in dB from the best placement there (the regret,
0 or below).

Rules:
  per target     placement.choose (what the node does)
  neighbours     the target and the tried targets either side of it, where every placement that
                 reached the target reached them too: each placement's mean log error there, less
                 the candidates' average at that target (removes the target's own level), averaged
                 over the targets pooled
  all targets    the same over every tried target (one placement for the whole range, at most bias)

With --curve it also measures how many calibration runs a choice needs: the per-target rule on the
first k pairs of the study (calibration pairs first, then evaluation pairs, in the order they were
run, so a greedy trial on pair k planned from the k - 1 runs before it, as on a user's k-th
calibration run), scored on the study's last pairs (at least 8), the same ones for every k.
"""
from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from taocache import placement  # noqa: E402

RULES = ("per target", "neighbours", "all targets")
MIN_HELD_OUT = 8  # the curve's held-out pairs, at least


def log_means(trials: list, target: float) -> dict[str, float]:
    """Each placement that reached `target`: its mean log error over the runs all of them were tried on."""
    from placement_study import paired_means
    return {p: math.log(m) for p, m in paired_means(trials, target)[1].items()}


def pick(trials: list, target: float, rule: str, targets: list[float]):
    """The placement `rule` picks at `target` from `trials` (None when none reached it)."""
    here = log_means(trials, target)
    if not here:
        return None
    if rule == "per target":
        choice = placement.choose(trials, trials[0].steps, target)
        return choice[0] if choice else None
    i = targets.index(target)
    pooled = targets if rule == "all targets" else targets[max(i - 1, 0):i + 2]
    scores = {p: [] for p in here}
    for other in pooled:
        means = log_means(trials, other) if other != target else here
        if not set(here) <= set(means):
            continue
        centre = statistics.fmean(means[p] for p in here)
        for p in here:
            scores[p].append(means[p] - centre)
    return min(here, key=lambda p: (statistics.fmean(scores[p]), placement.PLACEMENTS.index(p)))


def regrets(entries: list, rules=RULES) -> dict[str, dict[float, float]]:
    """Per rule and target: the evaluation pairs' regret of the rule's pick, in dB."""
    from placement_study import trials_of
    cal, ev = trials_of(entries, "calibration"), trials_of(entries, "evaluation")
    targets = sorted({t.target for t in cal})
    out = {rule: {} for rule in rules}
    for target in targets:
        truth = log_means(ev, target)
        if not truth:
            continue
        best = min(truth.values())
        for rule in rules:
            chosen = pick(cal, target, rule, targets)
            if chosen in truth:
                out[rule][target] = -20 / math.log(10) * (truth[chosen] - best)
    return out


def report(study: dict) -> str:
    lines = []
    everything = {rule: [] for rule in RULES}
    for config, entries in study.items():
        n_ev = sum(1 for e in entries if e["role"] == "evaluation")
        table = regrets(entries)
        targets = sorted({t for r in table.values() for t in r})
        lines.append(f"## {config} ({n_ev} evaluation pairs): regret of each rule's pick, "
                     "dB from the evaluation's best")
        lines.append("rule         | " + " | ".join(f"{t:g}x" for t in targets) + " | mean")
        for rule in RULES:
            values = [table[rule].get(t, math.nan) for t in targets]
            everything[rule] += [v for v in values if math.isfinite(v)]
            lines.append(f"{rule:12s} | " + " | ".join(f"{v:+.2f}" for v in values)
                         + f" | {statistics.fmean(v for v in values if math.isfinite(v)):+.2f}")
    lines.append("## over every configuration and target")
    for rule in RULES:
        values = everything[rule]
        zero = sum(1 for v in values if v > -1e-9)
        lines.append(f"{rule:12s}: mean regret {statistics.fmean(values):+.2f} dB, "
                     f"the evaluation's best in {zero} of {len(values)}")
    return "\n".join(lines)


def relabelled(entries: list, k: int, held_out: int) -> list:
    """The first k entries as calibration, the last `held_out` as evaluation, none in between."""
    chosen = [dict(e, role="calibration") for e in entries[:k]]
    return chosen + [dict(e, role="evaluation") for e in entries[len(entries) - held_out:]]


def curve(study: dict, counts=(2, 4, 8, 12, 16)) -> str:
    """Mean regret of the per-target rule against the number of calibration pairs."""
    lines = []
    for config, entries in study.items():
        usable = [k for k in counts if k <= len(entries) - MIN_HELD_OUT]
        if not usable:
            lines.append(f"## {config}: too few pairs for the curve ({len(entries)})")
            continue
        held_out = len(entries) - max(usable)
        cells = []
        for k in usable:
            values = list(regrets(relabelled(entries, k, held_out), rules=("per target",))["per target"].values())
            zero = sum(1 for v in values if v > -1e-9)
            cells.append(f"{k} pairs {statistics.fmean(values):+.2f} dB ({zero}/{len(values)} best)")
        lines.append(f"## {config}, scored on its last {held_out} pairs: " + "; ".join(cells))
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    study = {}
    for path in (a for a in argv if a != "--curve"):
        study.update(json.loads(Path(path).read_text()))
    print(report(study))
    if "--curve" in argv:
        print(curve(study))


if __name__ == "__main__":
    main(sys.argv[1:])
