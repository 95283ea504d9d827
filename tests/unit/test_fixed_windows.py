"""The fixed online windows as calibration candidates (taocache/fixed_windows.py): the early/mid
window's extent, the best window at a speedup, and the rule that a planned placement replaces it only
on paired evidence."""
import math

import pytest

from taocache import TaoCacheConfig
from taocache import fixed_windows as fw
from taocache.placement import Trial

from helpers import linear_schedule

EARLY_K1 = "window: early/mid K1 gated"
LATE_K1 = "window: late K1 gated"
EARLY_K2 = "window: early/mid K2 gated"


def test_the_windows_are_the_benchmarks_settings_on_both_windows_plus_the_narrow_late_one():
    names = [w.name for w in fw.WINDOWS]
    assert len(names) == 2 * len(fw.SETTINGS) + 1 == len(set(names))
    assert all(fw.is_window(n) and n.startswith(fw.PREFIX) for n in names)
    assert not fw.is_window("whole greedy")
    late = fw.BY_NAME[LATE_K1]
    config = late.config(TaoCacheConfig(predictor="reuse"), 1.0)
    assert (config.start_percent, config.end_percent, config.max_consecutive_skips) == (0.3, 1.0, 1)
    assert (config.cos_threshold, config.norm_ratio_threshold, config.predictor) == (0.6, 1.3, "reuse")


@pytest.mark.parametrize("steps", [20, 30, 50])
def test_the_early_mid_window_holds_the_late_windows_skippable_steps_plus_three(steps):
    sigmas = linear_schedule(steps)

    def to_sigma(percent):  # a linear model sampling: percent 0 is sigma 1
        return 1.0 - percent

    end = fw.early_mid_end(sigmas, to_sigma)
    usable = sigmas[:-2]
    late = sum(1 for s in usable if s <= to_sigma(fw.LATE_START))
    assert sum(1 for s in usable if s > to_sigma(end)) == late + fw.EARLY_EXTRA_STEPS
    assert fw.end_percent(fw.BY_NAME[EARLY_K1], sigmas, to_sigma) == end
    assert fw.end_percent(fw.BY_NAME[LATE_K1], sigmas, to_sigma) == 1.0


def test_t95_is_students_one_sided_quantile():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 7, 12, 30):
        assert fw.t95(df) == pytest.approx(stats.t.ppf(0.95, df), abs=2e-3)
    assert fw.t95(100) >= stats.t.ppf(0.95, 100)  # past the table: a little wide, never narrow


def window_trials(name, errors, speedups, steps=30):
    return [Trial(name, 0.0, steps, s, e, run) for run, (e, s) in enumerate(zip(errors, speedups))]


def test_the_best_window_reaches_the_target_on_every_run_and_has_the_lowest_error():
    trials = (window_trials(EARLY_K1, [0.01] * 4, [1.25, 1.5, 1.5, 1.5])  # gated: 1.43x on average
              + window_trials(LATE_K1, [0.02] * 4, [1.5] * 4)
              + window_trials(EARLY_K2, [0.03] * 4, [1.8] * 4))
    name, error, speedup, runs = fw.best_window(trials, 30, 1.2)
    assert (name, runs) == (EARLY_K1, 4) and error == pytest.approx(0.01)
    assert speedup == pytest.approx(4 / (1 / 1.25 + 3 / 1.5))  # all calls over all calls, as the benchmark counts
    assert fw.best_window(trials, 30, 1.4)[0] == LATE_K1  # the early K1 window fell short of 1.4x on one run
    assert fw.best_window(trials, 30, 1.7)[0] == EARLY_K2
    assert fw.best_window(trials, 30, 2.0) is None


def plan_trials(name, errors, target=1.4, speedup=1.43, steps=30, first_run=0):
    return [Trial(name, target, steps, speedup, e, first_run + i) for i, e in enumerate(errors)]


def test_a_plan_replaces_the_window_only_when_the_paired_runs_show_it_better():
    window = window_trials(EARLY_K1, [0.010, 0.020, 0.015, 0.012, 0.030, 0.011], [1.5] * 6)
    # every run 2 dB better: shown better
    better = plan_trials("whole greedy", [e * 10 ** (-2 / 20) for e in [0.010, 0.020, 0.015, 0.012, 0.030, 0.011]])
    choice = fw.choose(window + better, 30, 1.4)
    assert choice.name == "whole greedy" and not choice.is_window
    assert "better than fixed window early/mid K1 gated" in choice.why and "+2.00 dB" in choice.why
    # better on average (by about 1.4 dB) but not on every run: not shown, the window stays
    mixed = plan_trials("whole greedy", [0.005, 0.010, 0.020, 0.015, 0.020, 0.011])
    choice = fw.choose(window + mixed, 30, 1.4)
    assert choice.name == EARLY_K1 and choice.is_window
    assert "kept by trial" in choice.why and "not shown better" in choice.why and "over 6 paired runs" in choice.why


def test_one_calibration_run_is_no_evidence_and_older_profiles_choose_as_before():
    window = window_trials(EARLY_K1, [0.02], [1.5])
    plan = plan_trials("early alternate", [0.001])
    choice = fw.choose(window + plan, 30, 1.4)
    assert choice.name == EARLY_K1 and "too few" in choice.why
    assert fw.choose(plan, 30, 1.4).name == "early alternate"  # no window trials (profiles before them)
    assert fw.choose(window + plan, 30, 1.4, windows=False).name == "early alternate"  # a narrowed node window
    assert fw.choose(window, 30, 1.4).name == EARLY_K1 and "no planned placement" in fw.choose(window, 30, 1.4).why
    assert fw.choose(window + plan, 30, 1.6).name == "early alternate"  # no window reaches 1.6x
    assert fw.choose([], 30, 1.4) is None


def test_the_comparison_is_paired_on_the_runs_both_were_tried_on():
    # the plan, a greedy one, is tried from run 1 on; run 0 (an easy prompt) holds only the window
    window = window_trials(EARLY_K1, [0.0001, 0.02, 0.02, 0.02], [1.5] * 4)
    plan = plan_trials("whole greedy", [0.010, 0.0101, 0.0099], first_run=1)
    choice = fw.choose(window + plan, 30, 1.4)
    assert choice.name == "whole greedy", choice.why  # 6 dB better on each of runs 1-3
    assert "over 3 paired runs" in choice.why
    assert math.isfinite(fw.best_window(window, 30, 1.4)[1])
