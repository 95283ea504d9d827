"""Settings validation and the schedule's step lookup."""
import pytest

from taocache import ConfigError, Schedule, TaoCacheConfig
from taocache.config import parse_ranges


@pytest.mark.parametrize("name,value", [("start_percent", -0.1), ("end_percent", 1.5), ("cos_threshold", 2.0),
                                        ("norm_ratio_threshold", -1.0), ("max_consecutive_skips", 99),
                                        ("error_budget", float("nan"))])
def test_out_of_range_names_input_and_range(name, value):
    with pytest.raises(ConfigError) as error:
        TaoCacheConfig(**{name: value})
    assert name in str(error.value)
    assert "range" in str(error.value) or "between" in str(error.value)


def test_inverted_window_is_refused():
    with pytest.raises(ConfigError, match="start_percent .* must be below end_percent"):
        TaoCacheConfig(start_percent=0.8, end_percent=0.4)


def test_unknown_predictor_is_refused():
    with pytest.raises(ConfigError, match="predictor must be one of fixed_point"):
        TaoCacheConfig(predictor="magic")


def test_position_is_fractional_between_schedule_sigmas():
    s = Schedule([1.0, 0.8, 0.5, 0.2, 0.0], start_sigma=1.0, end_sigma=0.0)
    assert s.position(1.0) == 0 and s.position(0.5) == 2 and s.position(0.0) == 4
    assert s.position(0.6) == pytest.approx(1 + 2 / 3)
    assert s.position(5.0) == 0 and s.position(-1.0) == 4


def test_a_noise_level_a_hair_off_a_steps_is_that_step():
    """The newest ComfyUI's exp_heun_2_x0 (seeds_2 with r=1) computes the next step's level through
    logSNR, landing a few 1e-5 steps off it; that call is the step's, as heun's exact one is. A midpoint
    call (dpm_2's, tenths of a step away) keeps its fractional position."""
    s = Schedule([1.0, 0.8, 0.5, 0.2, 0.0], start_sigma=1.0, end_sigma=0.0)
    for off in (1e-7, 3e-6, -3e-6):
        assert s.position(0.5 + off) == 2.0
    assert s.position(0.8 - 3e-6) == 1.0 and s.position(0.2 + 3e-6) == 3.0
    assert s.position(0.5 - 0.01) == pytest.approx(2 + 0.01 / 0.3)  # a hundredth of sigma: 0.033 steps
    assert s.position((0.8 * 0.5) ** 0.5) == pytest.approx(1 + (0.8 - 0.4 ** 0.5) / 0.3)  # dpm_2's midpoint


def test_window_and_last_step():
    s = Schedule([1.0, 0.8, 0.5, 0.2, 0.1, 0.0], start_sigma=0.5, end_sigma=0.1)
    assert s.window_steps() == [2, 3]
    assert not s.in_window(0.8) and s.in_window(0.5) and not s.in_window(0.1)
    assert s.is_last_step(0.1) and not s.is_last_step(0.2)


def test_a_call_past_the_penultimate_steps_level_is_the_last_steps():
    """dpm_fast and dpm_adaptive end with a call inside the last interval (18.8 of 20 steps), never at
    a step: it must compute, as the last step does. A call at the penultimate level itself does not."""
    s = Schedule([1.0, 0.8, 0.5, 0.2, 0.1, 0.0], start_sigma=1.0, end_sigma=0.0)  # 5 steps, the last at 0.1
    assert s.is_last_step(0.15) and s.is_last_step(0.2 - 1e-3) and s.is_last_step(0.05)
    assert not s.is_last_step(0.2) and not s.is_last_step(0.2 - 1e-6) and not s.is_last_step(0.35)


def test_compute_ranges_cut_the_window_in_two():
    """A hold (high, low) inside the window: the steps there are outside it, with the window's own
    boundary convention (a level at the range's start is in the range, one at its end is not)."""
    s = Schedule([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], start_sigma=1.0, end_sigma=0.0,
                 holds=((0.6, 0.4),))
    assert s.window_steps() == [0, 1, 2, 3, 6, 7, 8]
    assert s.in_window(0.61) and not s.in_window(0.6) and not s.in_window(0.45) and s.in_window(0.4)


@pytest.mark.parametrize("text,message", [("0.4", "could not read '0.4'"), ("a-b", "could not read 'a-b'"),
                                          ("0.5-0.4", "0.5-0.4 is not a range"), ("0.2-1.5", "0.2-1.5 is not a range")])
def test_bad_compute_ranges_name_the_input_and_the_format(text, message):
    with pytest.raises(ConfigError) as error:
        TaoCacheConfig(compute_ranges=parse_ranges(text))
    assert "compute_ranges" in str(error.value) and message in str(error.value)
    assert "'0.4-0.5, 0.8-0.9'" in str(error.value)


def test_compute_ranges_are_read_from_text():
    assert parse_ranges("") == () and parse_ranges("  ") == ()
    assert parse_ranges("0.4-0.5, 0.8 - 0.9") == ((0.4, 0.5), (0.8, 0.9))
    config = TaoCacheConfig(start_percent=0.0, compute_ranges=parse_ranges("0.4-0.5"))
    assert "window 0.00-1.00 except 0.40-0.50" in config.describe()
