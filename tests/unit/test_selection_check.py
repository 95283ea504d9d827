"""The in-sample against leave-one-out choice of settings (tools/benchmark/selection_check.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import selection_check  # noqa: E402

PAIRS = [("p", 1), ("p", 2), ("p", 3)]


def setting(family, label, psnrs, calls=20):
    return [{"sampler": "euler", "ref_steps": 30, "family": family, "label": label, "prompt": p, "seed": s,
             "psnr": v, "iou": 0.9, "ref_calls": 30, "calls": calls} for (p, s), v in zip(PAIRS, psnrs)]


def test_a_setting_lucky_on_one_pair_wins_in_sample_but_not_out_of_it():
    rows = (setting("TaoCache", "steady", [40, 40, 40]) + setting("TaoCache", "lucky", [30, 30, 70])
            + setting("TaoCache", "too slow", [99, 99, 99], calls=29))
    candidates = selection_check.settings(rows, ("euler", 30), ("TaoCache",))
    assert selection_check.in_sample(candidates, PAIRS, 1.5, "psnr") == 130 / 3  # "lucky", chosen on all three
    # left out pair 3, "steady" is chosen and scores 40 there; left out 1 or 2, "lucky" scores 30
    assert selection_check.leave_one_out(candidates, PAIRS, 1.5, "psnr") == (30 + 30 + 40) / 3
    assert selection_check.best(candidates, PAIRS, 2.0, "psnr") is None  # nothing reaches 2.0x


def test_pooled_psnr_is_the_psnr_of_the_mean_squared_error():
    # 10 dB and 30 dB: squared errors 0.1 and 0.001 of the peak; their mean 0.0505 is 12.97 dB
    assert abs(selection_check.pooled_psnr([10, 30]) - 12.967) < 1e-3
    assert selection_check.pooled_psnr([40, 40, 40]) == 40


def test_the_mean_of_db_and_the_pooled_psnr_can_rank_two_settings_oppositely():
    # "spares one": much better on an easy pair, worse on the hard one; "even": the same everywhere
    rows = setting("TaoCache", "spares one", [25, 60, 60]) + setting("TaoCache", "even", [30, 45, 45])
    candidates = selection_check.settings(rows, ("euler", 30), ("TaoCache",))
    assert selection_check.best(candidates, PAIRS, 1.5, "psnr") == ("TaoCache", "spares one")
    assert selection_check.best(candidates, PAIRS, 1.5, "pooled psnr") == ("TaoCache", "even")
    # leave one out pools the held-out scores: pair 1 held out, the other two pick "spares one" (25 there);
    # pair 2 or 3 held out, the hard pair 1 among the others makes the pooled choice "even" (45 there)
    assert selection_check.leave_one_out(candidates, PAIRS, 1.5, "pooled psnr") == selection_check.pooled_psnr(
        [25, 45, 45])


def test_main_counts_cells_and_margins_both_ways(tmp_path, capsys):
    import json

    from report import CALIBRATED, FIXED_WINDOWS, TARGETS

    # at 2.0x (so at every target): the plan even at 40 dB, a fixed window 30/50/50 (mean 43.3 dB,
    # pooled 34.7 dB): behind by the mean of dB in every cell, ahead pooled
    rows = setting(CALIBRATED, "target 2.0", [40, 40, 40], calls=15) + setting(FIXED_WINDOWS[0], "w", [30, 50, 50], calls=15)
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"rows": rows}))
    selection_check.main(str(path))
    out = capsys.readouterr().out
    n = len(TARGETS)
    assert f"3 pairs, psnr: at least the better fixed window in 0 of {n} cells in sample, 0 leave one out; " \
           f"calibrated minus the better window in sample: mean -3.33" in out
    assert f"3 pairs, pooled psnr: at least the better fixed window in {n} of {n} cells in sample" in out
    assert f"3 pairs, the verdict's PSNR and IoU: {n} of {2 * n} cells in sample" in out  # IoU ties: 0.9 both
