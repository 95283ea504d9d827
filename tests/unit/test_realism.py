"""Published Wan2.1 reference numbers and the norm-ratio figure (tools/benchmark/realism.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import realism  # noqa: E402


def test_magcache_curve_is_the_cond_half():
    assert len(realism.MAGCACHE_WAN21_1_3B_MAG_RATIOS) == 100
    curve = realism.magcache_curve()
    assert len(curve) == 50
    assert curve[0] == (0.0, 1.0) and curve[-1][0] == 1.0
    assert curve[1] == (pytest.approx(1 / 49), 1.0124)  # index 2, not the uncond 1.02213 at index 3
    assert curve[-1][1] == 0.81838  # the published cond value (uncond is 0.81939)
    tail = [r for _, r in curve[-6:]]
    assert all(b < a for a, b in zip(tail, tail[1:]))
    assert tail[0] - tail[-1] > 0.1  # the late-step fall
    assert all(abs(r - 1.0) < 0.03 for _, r in curve[:25])


def test_output_norm_ratios():
    assert realism.output_norm_ratios([2.0, 4.0, 3.0, 3.0]) == pytest.approx([2.0, 0.75, 1.0])
    assert realism.output_norm_ratios([5.0]) == []
    curve = realism.output_norm_ratio_curve([2.0, 4.0, 3.0])
    assert curve == [(0.5, 2.0), (1.0, 0.75)]
    with pytest.raises(ValueError):
        realism.output_norm_ratios([1.0, 0.0, 2.0])


def test_published_band():
    # §5.4, speedups 1.9x-2.7x: lowest TaylorSeer 15.06 dB (MagCache Tab. 1), highest EasyCache 25.24 dB.
    assert realism.published_psnr_band() == (15.06, 25.24)
    assert realism.published_psnr_band(2.2, 2.7) == (21.54, 25.24)  # MagCache-fast, K=4 0.06, EasyCache
    assert all(len(row) == 4 for row in realism.PUBLISHED_2X_BAND)


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    ours = realism.output_norm_ratio_curve([10.0, 9.9, 9.8, 9.6, 9.0, 7.5])
    path = realism.plot_norm_ratio({"tiny": ours}, tmp_path / "ratio.png")
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
