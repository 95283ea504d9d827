"""The per-prompt signal check (tools/benchmark/per_prompt_signal.py) on hand-made profiles."""
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import per_prompt_signal  # noqa: E402
from taocache.predictor import unpredictable  # noqa: E402
from taocache.profile import Profile  # noqa: E402

SIGMAS = [1.0, 0.8, 0.6, 0.4, 0.2]


def profile(error_of) -> Profile:
    """Runs whose step i has c and step size set per run; error_of(run, step, estimate) gives the error."""
    p = Profile()
    for run in range(4):
        samples = []
        for i, sigma in enumerate(SIGMAS):
            c = 0.9 if run % 2 else 0.5  # runs 0 and 2 fail the default cos gate (0.6)
            r, step = 1.0, 0.01 * (1 + 0.1 * run) * (1 + i)
            samples.append({"sigma": sigma, "branch": "cond", "r": r, "c": c, "step_change": step,
                            "error": error_of(run, i, unpredictable(r, c, step))})
        p.add_run(samples, {"model_class": "WAN21"})
    return p


def test_an_error_that_follows_the_estimate_correlates_and_the_gate_sees_it():
    s = per_prompt_signal.signal(profile(lambda run, i, estimate: 3.0 * estimate))
    assert s["samples"] == 20
    assert s["estimate_correlation"] == pytest.approx(1.0)
    assert s["refused"] == 10
    assert s["refused_error_ratio"] > 1.3  # the refused runs (c 0.5) have about twice the estimate
    assert s["within_step_spread"] > 0 and s["across_step_spread"] > 0


def test_an_error_that_ignores_the_prompt_has_no_within_step_spread():
    s = per_prompt_signal.signal(profile(lambda run, i, estimate: 0.01 * (1 + i)))
    assert s["within_step_spread"] == pytest.approx(0.0, abs=1e-12)
    assert s["refused_error_ratio"] == pytest.approx(1.0)
    assert math.isnan(s["estimate_correlation"])  # nothing to correlate
    assert s["across_step_spread"] > 0.3


def test_a_profile_without_errors_gives_none():
    p = Profile()
    p.add_run([{"sigma": 1.0, "branch": "cond", "r": None, "c": None, "error": None, "step_change": None}], {})
    assert per_prompt_signal.signal(p) is None


def test_placement_signal_measures_the_per_prompt_gain_and_its_early_correlate():
    # four runs; on runs with a larger early error the late placement wins, on the others the early
    # one: a per-prompt choice gains, and the early error correlates negatively with early's lead
    from taocache.placement import Trial
    early_error = [0.01, 0.04, 0.02, 0.08]
    p = profile(lambda run, i, estimate: early_error[run] if i < 2 else 0.05)
    for run, e in enumerate(early_error):
        lead = 2.0 if e < 0.03 else 0.5  # late spread's error over early/mid spread's
        p.trials += [Trial("early/mid spread", 1.5, 5, 1.67, 0.01, run), Trial("late spread", 1.5, 5, 1.67, 0.01 * lead, run)]
    (row,) = per_prompt_signal.placement_signal(p)
    assert row["runs"] == 4 and row["placements"] == 2
    # single best (early/mid spread, 0.01 everywhere) against the per-run minimum (0.005 on two runs)
    assert math.isclose(row["per_prompt_gain_db"], 20 * math.log10(2) / 2)
    assert row["early_correlations"]["error"] < -0.8
    assert set(row["early_correlations"]) == set(per_prompt_signal.EARLY_STATS)
    # the hand-made runs' cos is 0.5 on runs 0 and 2 (where early/mid spread leads) and 0.9 on 1 and 3
    assert math.isclose(row["early_correlations"]["cos"], -1.0)
    assert math.isnan(row["late_correlation"])  # the late error does not vary


def test_a_profile_without_trials_has_no_placement_signal():
    assert per_prompt_signal.placement_signal(profile(lambda run, i, estimate: 0.01)) == []
