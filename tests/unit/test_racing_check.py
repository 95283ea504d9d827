"""The placement race replayed on a study (tools/benchmark/racing_check.py)."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import racing_check  # noqa: E402
from taocache.placement import Trial  # noqa: E402


def runs_of(errors_by_placement, runs):
    """{placement: [error per run]} -> trials at 1.5x on 30 steps, run i getting the i-th error."""
    return [Trial(p, 1.5, 30, 1.5, errors[i], run) for p, errors in errors_by_placement.items()
            for i, run in enumerate(runs)]


def test_a_placement_clearly_behind_is_retired_after_the_minimum_runs_and_not_tried_again():
    cal = runs_of({"early alternate": [0.010, 0.012, 0.011, 0.010, 0.013, 0.012],
                   "late spread": [0.10, 0.13, 0.11, 0.12, 0.10, 0.14]}, runs=range(6))
    kept, raced, full = racing_check.race(cal, 1.5, min_runs=3)
    assert full == 12 and raced == 9  # both on runs 0-2 (6), then early alternate alone on runs 3-5 (3)
    assert {t.placement for t in kept} == {"early alternate"}


def test_placements_within_the_noise_stay_in_the_race():
    cal = runs_of({"early alternate": [0.010, 0.020, 0.010, 0.020],
                   "early pairs": [0.020, 0.010, 0.020, 0.010]}, runs=range(4))
    kept, raced, full = racing_check.race(cal, 1.5, min_runs=3)
    assert raced == full == 8 and {t.placement for t in kept} == {"early alternate", "early pairs"}


def test_identical_plans_count_once_per_run():
    # two placements that planned the same steps have the same error: Calibrate samples them once
    cal = runs_of({"early alternate": [0.01, 0.02], "early pairs": [0.01, 0.02]}, runs=range(2))
    assert racing_check.race(cal, 1.5, min_runs=3)[1:] == (2, 2)


def test_report_compares_the_choice_with_and_without_the_race_on_the_evaluation_pairs():
    cal = runs_of({"early alternate": [0.010, 0.012, 0.011, 0.010], "late spread": [0.10, 0.13, 0.11, 0.12]},
                  runs=range(4))
    ev = runs_of({"early alternate": [0.01, 0.01], "late spread": [0.02, 0.02]}, runs=(4, 5))
    study = {"euler 30": [{"role": "calibration", "trials": [t.to_dict() for t in cal]},
                          {"role": "evaluation", "trials": [t.to_dict() for t in ev]}]}
    text = racing_check.report(study, min_runs=3)
    assert "trial runs 7 of 8 (12% saved), choice changed at 0 of 1 targets" in text
    assert "+0.00 dB with the race, +0.00 dB without" in text
    assert math.isclose(racing_check.regret(ev, 1.5, "late spread"), -20 * math.log10(2))
