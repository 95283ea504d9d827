"""Does the placement verdict depend on how it is taken: settings chosen on the pairs it scores, or
PSNR averaged in dB?

    .runtime/venv/bin/python tools/benchmark/selection_check.py results/placement_30_pairs/results.json

The benchmark's verdict (report.placement_verdict) takes, per speedup, each family's best setting by
its mean over the evaluated pairs: an in-sample choice, among the fixed windows' ten settings. This
prints, per configuration, every cell where calibrated placement is below the better fixed window
either that way or with both sides' settings chosen out of sample (leave one pair out: chosen on the
others, scored on it), and the count of cells at least the better window both ways.

It does so for a second PSNR too. The verdict's PSNR is the mean over pairs of each pair's PSNR (dB,
a log of the error), which weighs a tenfold error change the same on an easy pair as on a hard one;
"pooled psnr" is the PSNR of the mean squared error over pairs, which the pairs with the largest
errors dominate. A method whose skip count varies from prompt to prompt (a gated window) gains on the
mean of dB by sparing any prompt, on the pooled one only by sparing the prompts that err most.
Per metric it also prints calibrated placement's margin over the better fixed window in sample (mean,
median and range over the cells).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from statistics import fmean as mean

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import CALIBRATED, FIXED_WINDOWS, TARGETS  # noqa: E402


def pooled_psnr(psnrs) -> float:
    """PSNR of the mean squared error behind per-pair PSNRs (all against the same peak)."""
    return -10 * math.log10(mean([10 ** (-v / 10) for v in psnrs]))


METRICS = {"psnr": ("psnr", mean), "iou": ("iou", mean), "pooled psnr": ("psnr", pooled_psnr)}


def settings(rows, config, families) -> dict:
    """(family, label) -> {(prompt, seed): row} for one (sampler, steps)."""
    out: dict = {}
    for r in rows:
        if (r["sampler"], r["ref_steps"]) == config and r["family"] in families:
            out.setdefault((r["family"], r["label"]), {})[(r["prompt"], r["seed"])] = r
    return out


def call_ratio(per_pair, pairs) -> float:
    return sum(per_pair[p]["ref_calls"] for p in pairs) / sum(per_pair[p]["calls"] for p in pairs)


def score(per_pair, pairs, metric) -> float:
    field, average = METRICS[metric]
    return average([per_pair[p][field] for p in pairs])


def best(candidates, pairs, target, metric):
    """The setting with the best `metric` over `pairs` among those reaching `target` there."""
    scored = [(score(v, pairs, metric), k) for k, v in candidates.items() if call_ratio(v, pairs) >= target - 1e-6]
    return max(scored)[1] if scored else None


def in_sample(candidates, pairs, target, metric):
    k = best(candidates, pairs, target, metric)
    return None if k is None else score(candidates[k], pairs, metric)


def leave_one_out(candidates, pairs, target, metric):
    """Each pair scored by the setting chosen on the other pairs, the scores averaged as `metric` does."""
    scored = {}
    for held in pairs:
        k = best(candidates, [p for p in pairs if p != held], target, metric)
        if k is None:
            return None
        scored[held] = candidates[k][held]
    return score(scored, pairs, metric)


def main(path: str) -> None:
    rows = json.loads(Path(path).read_text())["rows"]
    pairs = sorted({(r["prompt"], r["seed"]) for r in rows})
    counts = {metric: {"in sample": 0, "leave one out": 0, "cells": 0} for metric in METRICS}
    margins = {metric: [] for metric in METRICS}  # calibrated minus the better fixed window, in sample
    for config in sorted({(r["sampler"], r["ref_steps"]) for r in rows}):
        fixed, ours = settings(rows, config, FIXED_WINDOWS), settings(rows, config, (CALIBRATED,))
        for target in TARGETS:
            for metric in METRICS:
                values = [f(c, pairs, target, metric) for f in (in_sample, leave_one_out) for c in (ours, fixed)]
                if None in values:
                    continue
                ours_in, fixed_in, ours_out, fixed_out = values
                count = counts[metric]
                count["cells"] += 1
                margins[metric].append(ours_in - fixed_in)
                count["in sample"] += ours_in >= fixed_in - 1e-9
                count["leave one out"] += ours_out >= fixed_out - 1e-9
                if ours_in < fixed_in - 1e-9 or ours_out < fixed_out - 1e-9:
                    print(f"{config[0]} {config[1]} steps, {target}x {metric}: calibrated minus better fixed window "
                          f"{ours_in - fixed_in:+.4g} in sample, {ours_out - fixed_out:+.4g} leave one out")
    for metric, count in counts.items():
        if not count["cells"]:
            continue
        m = sorted(margins[metric])
        print(f"{len(pairs)} pairs, {metric}: at least the better fixed window in {count['in sample']} of "
              f"{count['cells']} cells in sample, {count['leave one out']} leave one out; calibrated minus the better "
              f"window in sample: mean {sum(m) / len(m):+.3g}, median {m[len(m) // 2]:+.3g}, {m[0]:+.3g} to {m[-1]:+.3g}")

    def both(ways, key):
        return sum(counts[m][key] for m in ways)
    for name, ways in (("the verdict's PSNR and IoU", ("psnr", "iou")), ("pooled PSNR and IoU", ("pooled psnr", "iou"))):
        print(f"{len(pairs)} pairs, {name}: {both(ways, 'in sample')} of {both(ways, 'cells')} cells in sample, "
              f"{both(ways, 'leave one out')} leave one out")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/placement_30_pairs/results.json")
