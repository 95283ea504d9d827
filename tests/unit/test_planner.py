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


def test_past_one_call_per_step_a_plan_skips_every_call_of_some_steps_at_max_consecutive_skips_2():
    """heun at 20 steps, the window open: one call at each of the 15 skippable steps is 1.62x of 39
    calls. At max_consecutive_skips 1 that is the plan; at 2, steps skipped whole (no two adjacent)
    take it to the target: 2.0x needs 20 skipped calls, 15 + 5 whole. seeds_3 (three calls per step)
    gains two calls per whole step."""
    from taocache.planner import plan_without_profile
    sigmas = [1 - i / 20 for i in range(21)]
    opened = Schedule(sigmas, math.inf, -math.inf)
    capped = plan_without_profile(opened, target_speedup=2.0, max_consecutive=1, calls_per_step=2)
    assert len(capped.steps) == 15 and not capped.whole and capped.speedup == pytest.approx(39 / 24)
    planned = plan_without_profile(opened, target_speedup=2.0, max_consecutive=2, calls_per_step=2)
    assert planned.steps == capped.steps and len(planned.whole) == 5 and planned.whole <= planned.steps
    assert planned.skipped_calls == 20 and planned.speedup == pytest.approx(39 / 19)
    assert all(i + 1 not in planned.whole for i in planned.whole), "no two whole steps adjacent"
    assert "every call at steps " + ",".join(str(i) for i in sorted(planned.whole)) in planned.describe()
    seeds_3 = plan_without_profile(opened, target_speedup=1.6, max_consecutive=2, calls_per_step=3)
    assert seeds_3.skipped_calls == len(seeds_3.steps) + 2 * len(seeds_3.whole) and seeds_3.speedup >= 1.6
    # a target one call per step reaches has no whole steps; nor has a single-call sampler's plan
    assert not plan_without_profile(opened, target_speedup=1.5, max_consecutive=2, calls_per_step=2).whole
    assert not plan_without_profile(opened, target_speedup=2.0, max_consecutive=2).whole


def test_whole_steps_from_a_profile_are_the_cheapest_planned_steps_no_two_adjacent():
    from taocache.planner import Plan, with_whole_steps
    costs = [1.0] * 20
    costs[9], costs[10], costs[14] = 0.1, 0.05, 0.2
    planned = Plan(mode="speedup", steps=frozenset(range(3, 18)), expected_error=1.0, total_steps=20, target=1.75,
                   calls_per_step=2)
    whole = with_whole_steps(planned, 2, costs)
    assert whole.whole == {10, 14} and whole.speedup >= 1.75  # 9 is next to 10, the cheapest
    assert whole.expected_error == pytest.approx(1.0 + 0.05 + 0.2)
    assert with_whole_steps(planned, 1, costs) is planned and with_whole_steps(replace_mode(planned), 2, costs).whole == set()


def replace_mode(planned):
    from dataclasses import replace
    return replace(planned, mode="error")


def test_a_step_skipped_whole_has_the_next_step_in_the_window_too():
    """A midpoint sampler calls the model between a step's level and the next: a step skipped whole
    needs those calls in the window as well, so its next step must be in the window."""
    from taocache.planner import plan_without_profile
    sigmas = [1 - i / 20 for i in range(21)]
    window = Schedule(sigmas, math.inf, sigmas[14] - 1e-9)  # steps 0-14
    planned = plan_without_profile(window, target_speedup=1.6, max_consecutive=2, calls_per_step=2)
    assert max(planned.steps) == 14 and planned.whole and all(i + 1 in window.window_steps() for i in planned.whole)


def test_a_plan_one_call_short_keeps_one_call_per_step():
    """12 skippable steps hold 12 of the 13 calls 1.5x needs: a step skipped whole for one call cost
    12 dB on our test model (heun, late window), so the plan stays at 1.44x."""
    from taocache.planner import plan_without_profile
    sigmas = [1 - i / 20 for i in range(21)]
    window = Schedule(sigmas, math.inf, sigmas[14] - 1e-9)  # steps 0-14: 3-14 skippable
    planned = plan_without_profile(window, target_speedup=1.5, max_consecutive=2, calls_per_step=2)
    assert len(planned.steps) == 12 and not planned.whole and planned.speedup == pytest.approx(39 / 27)


def test_plans_keep_out_of_compute_ranges_and_still_reach_the_target():
    """compute_ranges (Schedule.holds): a plan without a profile spreads its skips over both windows
    and none in the held range; whole steps (two calls per step) need their next step outside it too."""
    from taocache.planner import plan_without_profile

    steps = 30
    sigmas = [1 - i / steps for i in range(steps + 1)]
    held = Schedule(sigmas, math.inf, -math.inf, holds=((0.6, 0.4),))
    held_steps = {i for i in range(steps) if 0.4 < sigmas[i] <= 0.6}
    assert len(held_steps) == 6 and set(held.window_steps()).isdisjoint(held_steps)
    planned = plan_without_profile(held, target_speedup=1.5, max_consecutive=1)
    assert planned.speedup >= 1.5 - 1e-9 and not held_steps & set(planned.steps)
    assert min(planned.steps) < min(held_steps) and max(planned.steps) > max(held_steps)  # both windows
    two_calls = plan_without_profile(held, target_speedup=1.8, max_consecutive=2, calls_per_step=2)
    assert two_calls.whole and not held_steps & set(two_calls.steps)
    assert all(step + 1 not in held_steps for step in two_calls.whole)
