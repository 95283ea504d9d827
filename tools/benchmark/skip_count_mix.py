"""Would a plan gain by skipping more steps on some prompts and fewer on others, at the same average?

    .runtime/venv/bin/python tools/benchmark/skip_count_mix.py results/placement_30_pairs/results.json

A plan skips the same number of steps on every prompt; a gated window does not, and the mean of
per-prompt dB can favour a varying count by itself (selection_check.py). This takes the calibrated
placement rows of a benchmark run three at a time, consecutive in model calls (lo < mid < hi), and
scores a mix of the lo and hi plans over the prompts, in the proportion that gives mid's average
calls, against the mid plan on every prompt. The mix is uninformed (it does not know which prompts
to spare), so this is what a per-prompt count gains without information: its expected mean of dB,
and its pooled PSNR (of the mean squared error), as a difference from mid's.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from statistics import fmean as mean

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import CALIBRATED  # noqa: E402
from selection_check import pooled_psnr, settings  # noqa: E402


def uniform_rows(rows, config, pairs) -> dict:
    """calls -> per-pair rows, for the calibrated rows that make the same calls on every pair."""
    out = {}
    for per_pair in settings(rows, config, (CALIBRATED,)).values():
        calls = {per_pair[p]["calls"] for p in pairs if p in per_pair}
        if len(calls) == 1 and all(p in per_pair for p in pairs):
            out[calls.pop()] = per_pair
    return out


def mix_against_uniform(lo: list, mid: list, hi: list, share_hi: float) -> tuple[float, float]:
    """(mean dB, pooled PSNR) of a share_hi : 1 - share_hi mix of the lo and hi per-pair PSNRs, each
    minus the mid plan's: the expectation over random assignments of prompts."""
    mixed_mean = (1 - share_hi) * mean(lo) + share_hi * mean(hi)
    mse = (1 - share_hi) * mean([10 ** (-v / 10) for v in lo]) + share_hi * mean([10 ** (-v / 10) for v in hi])
    return mixed_mean - mean(mid), -10 * math.log10(mse) - pooled_psnr(mid)


def main(path: str) -> None:
    rows = json.loads(Path(path).read_text())["rows"]
    pairs = sorted({(r["prompt"], r["seed"]) for r in rows})
    gains = {"mean of dB": [], "pooled": []}
    for config in sorted({(r["sampler"], r["ref_steps"]) for r in rows}):
        by_calls = uniform_rows(rows, config, pairs)
        calls = sorted(by_calls)
        for lo, mid, hi in zip(calls, calls[1:], calls[2:]):
            psnr = [[by_calls[c][p]["psnr"] for p in pairs] for c in (lo, mid, hi)]
            d_mean, d_pooled = mix_against_uniform(*psnr, share_hi=(mid - lo) / (hi - lo))
            gains["mean of dB"].append(d_mean)
            gains["pooled"].append(d_pooled)
            print(f"{config[0]} {config[1]} steps, {lo}/{mid}/{hi} calls: mix minus the {mid}-call plan "
                  f"{d_mean:+.2f} dB (mean of dB), {d_pooled:+.2f} dB (pooled)")
    for name, values in gains.items():
        if values:
            print(f"{len(pairs)} pairs, {name}: the mix is ahead in {sum(v > 0 for v in values)} of {len(values)} "
                  f"triples, by {mean(values):+.2f} dB on average")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/placement_30_pairs/results.json")
