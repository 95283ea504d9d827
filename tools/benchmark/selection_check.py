"""Does the placement verdict favour the fixed windows by choosing their setting on the pairs it scores?

    .runtime/venv/bin/python tools/benchmark/selection_check.py results/placement_30_pairs/results.json

The benchmark's verdict (report.placement_verdict) takes, per speedup, each family's best setting by
its mean over the evaluated pairs: an in-sample choice, among the fixed windows' ten settings. This
prints, per configuration, every cell where calibrated placement is below the better fixed window
either that way or with both sides' settings chosen out of sample (leave one pair out: chosen on the
others, scored on it), and the count of cells at least the better window both ways.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import CALIBRATED, FIXED_WINDOWS, TARGETS  # noqa: E402


def settings(rows, config, families) -> dict:
    """(family, label) -> {(prompt, seed): row} for one (sampler, steps)."""
    out: dict = {}
    for r in rows:
        if (r["sampler"], r["ref_steps"]) == config and r["family"] in families:
            out.setdefault((r["family"], r["label"]), {})[(r["prompt"], r["seed"])] = r
    return out


def call_ratio(per_pair, pairs) -> float:
    return sum(per_pair[p]["ref_calls"] for p in pairs) / sum(per_pair[p]["calls"] for p in pairs)


def best(candidates, pairs, target, metric):
    """The setting with the best mean `metric` over `pairs` among those reaching `target` there."""
    scored = [(sum(v[p][metric] for p in pairs) / len(pairs), k) for k, v in candidates.items()
              if call_ratio(v, pairs) >= target - 1e-6]
    return max(scored)[1] if scored else None


def in_sample(candidates, pairs, target, metric):
    k = best(candidates, pairs, target, metric)
    return None if k is None else sum(candidates[k][p][metric] for p in pairs) / len(pairs)


def leave_one_out(candidates, pairs, target, metric):
    scores = []
    for held in pairs:
        k = best(candidates, [p for p in pairs if p != held], target, metric)
        if k is None:
            return None
        scores.append(candidates[k][held][metric])
    return sum(scores) / len(scores)


def main(path: str) -> None:
    rows = json.loads(Path(path).read_text())["rows"]
    pairs = sorted({(r["prompt"], r["seed"]) for r in rows})
    counts = {"in sample": 0, "leave one out": 0, "cells": 0}
    for config in sorted({(r["sampler"], r["ref_steps"]) for r in rows}):
        fixed, ours = settings(rows, config, FIXED_WINDOWS), settings(rows, config, (CALIBRATED,))
        for target in TARGETS:
            for metric in ("psnr", "iou"):
                values = [f(c, pairs, target, metric) for f in (in_sample, leave_one_out) for c in (ours, fixed)]
                if None in values:
                    continue
                ours_in, fixed_in, ours_out, fixed_out = values
                counts["cells"] += 1
                counts["in sample"] += ours_in >= fixed_in - 1e-9
                counts["leave one out"] += ours_out >= fixed_out - 1e-9
                if ours_in < fixed_in - 1e-9 or ours_out < fixed_out - 1e-9:
                    print(f"{config[0]} {config[1]} steps, {target}x {metric}: calibrated minus better fixed window "
                          f"{ours_in - fixed_in:+.4g} in sample, {ours_out - fixed_out:+.4g} leave one out")
    print(f"{len(pairs)} pairs: at least the better fixed window in {counts['in sample']} of {counts['cells']} cells "
          f"in sample, {counts['leave one out']} leave one out")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/placement_30_pairs/results.json")
