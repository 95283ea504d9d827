"""The uninformed per-prompt skip-count mix (tools/benchmark/skip_count_mix.py)."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import skip_count_mix  # noqa: E402
from report import CALIBRATED  # noqa: E402

PAIRS = [("p", 1), ("p", 2)]


def rows_of(label, calls_per_pair, psnrs):
    return [{"sampler": "euler", "ref_steps": 30, "family": CALIBRATED, "label": label, "prompt": p, "seed": s,
             "calls": c, "ref_calls": 30, "psnr": v} for (p, s), c, v in zip(PAIRS, calls_per_pair, psnrs)]


def test_the_mix_is_scored_against_the_middle_plan_both_ways():
    d_mean, d_pooled = skip_count_mix.mix_against_uniform([40, 40], [38, 38], [30, 30], share_hi=0.5)
    assert d_mean == -3.0  # (40 + 30) / 2 - 38
    assert math.isclose(d_pooled, -10 * math.log10((1e-4 + 1e-3) / 2) - 38)  # 32.6 - 38


def test_the_mix_can_lead_by_the_mean_of_db_alone():
    # one prompt far better with fewer skips, the other a little worse with more: the mean of dB
    # gains, the pooled error (dominated by the worse prompt) does not
    d_mean, d_pooled = skip_count_mix.mix_against_uniform([70, 40], [42, 42], [36, 36], share_hi=0.5)
    assert d_mean > 0 > d_pooled


def test_only_plans_with_the_same_calls_on_every_pair_are_used():
    rows = rows_of("target 1.5", [20, 20], [40, 41]) + rows_of("gated", [20, 21], [40, 41])
    assert list(skip_count_mix.uniform_rows(rows, ("euler", 30), PAIRS)) == [20]
