"""Planning skips from calibrated per-step errors: targets, guards, placement."""
import math

import pytest

from taocache import Schedule
from taocache.planner import expected_error, plan_from_errors

from helpers import linear_schedule  # noqa: F401  (keeps the unit helpers importable alongside)


def errors_low_at(steps, cheap, low=0.001, high=0.1):
    return [low if i in cheap else high for i in range(steps)]


def longest_run(skips):
    longest = current = 0
    for i in range(max(skips, default=0) + 1):
        current = current + 1 if i in skips else 0
        longest = max(longest, current)
    return longest


@pytest.mark.parametrize("steps,target", [(30, 1.2), (30, 1.5), (30, 2.0), (50, 1.7)])
def test_speedup_mode_reaches_the_target_with_every_guard(steps, target):
    errors = [0.01 + 0.001 * ((7 * i) % 11) for i in range(steps)]
    planned = plan_from_errors(errors, range(steps), target_speedup=target, max_consecutive=2)
    assert planned.speedup >= target - 1e-9
    assert min(planned.steps) >= 3 and max(planned.steps) < steps - 2  # warm-up; last two computed
    assert longest_run(planned.steps) <= 2


def test_the_cheapest_steps_are_skipped_first_wherever_the_window_allows():
    steps = 30
    cheap = {4, 6, 8, 10, 12}  # early/mid steps: a late-only rule would never find them
    planned = plan_from_errors(errors_low_at(steps, cheap), range(steps), target_speedup=30 / 25)
    assert set(planned.steps) == cheap


def test_the_window_bounds_the_plan():
    steps = 30
    planned = plan_from_errors(errors_low_at(steps, {4, 6, 8}), range(15, 30), target_speedup=1.2)
    assert planned.steps and min(planned.steps) >= 15


def test_error_mode_takes_the_largest_plan_under_the_bound():
    steps = 30
    errors = [0.01] * steps
    planned = plan_from_errors(errors, range(steps), mode="error", target_error=0.055, max_consecutive=1)
    assert len(planned.steps) == 5 and planned.expected_error <= 0.055
    looser = plan_from_errors(errors, range(steps), mode="error", target_error=0.2, max_consecutive=1)
    assert looser.speedup > planned.speedup and looser.expected_error <= 0.2


def test_runs_cost_more_than_isolated_skips():
    errors = [0.01] * 10
    assert expected_error({4, 5}, errors) == pytest.approx(0.03)  # 1x then 2x the one-step error
    assert expected_error({4, 6}, errors) == pytest.approx(0.02)


def test_isolated_skips_are_placed_before_runs():
    steps = 30
    planned = plan_from_errors([0.01] * steps, range(steps), target_speedup=1.5, max_consecutive=3)
    assert longest_run(planned.steps) == 1  # 10 isolated skips fit in 3..27: no run needed


def test_no_pile_up_of_skips_at_the_end():
    steps = 40
    errors = [0.05] * 30 + [0.001] * 10  # the end looks cheapest
    planned = plan_from_errors(errors, range(steps), target_speedup=2.0, max_consecutive=2)
    tail = [i for i in planned.steps if i >= 30]
    assert len(tail) <= math.ceil(len(planned.steps) * 10 / 40)
    assert planned.speedup >= 2.0 - 1e-9


def test_steps_without_calibration_data_are_never_planned():
    steps = 20
    errors = [math.inf] * steps
    errors[5] = 0.01
    planned = plan_from_errors(errors, range(steps), target_speedup=2.0)
    assert set(planned.steps) == {5}


def test_a_plan_on_a_sampler_that_repeats_levels_counts_calls():
    """heun makes 2 * steps - 1 calls and a planned step skips one of them: 1.5x of 39 calls needs
    13 planned steps, and they may follow each other (no two calls in a row are skipped). seeds_3
    makes 3 * steps - 2 (its last step calls once): 1.3x of 58 needs 14."""
    from taocache.planner import model_calls, plan_without_profile, skips_for
    assert model_calls(20, calls_per_step=2) == 39 and skips_for(20, 1.5, calls_per_step=2) == 13
    assert model_calls(20, calls_per_step=3) == 58 and skips_for(20, 1.3, calls_per_step=3) == 14
    assert model_calls(20) == 20 and skips_for(20, 1.5) == 7
    sigmas = [1 - i / 20 for i in range(21)]
    planned = plan_without_profile(Schedule(sigmas, math.inf, -math.inf), target_speedup=1.5, max_consecutive=1,
                                   calls_per_step=2)
    assert len(planned.steps) == 13 and planned.speedup == pytest.approx(39 / 26) and planned.repeated
    assert max(planned.steps) <= 17 and min(planned.steps) >= 3
