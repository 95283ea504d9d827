"""Settings validation and the schedule's step lookup."""
import pytest

from taocache import ConfigError, Schedule, TaoCacheConfig


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


def test_window_and_last_step():
    s = Schedule([1.0, 0.8, 0.5, 0.2, 0.1, 0.0], start_sigma=0.5, end_sigma=0.1)
    assert s.window_steps() == [2, 3]
    assert not s.in_window(0.8) and s.in_window(0.5) and not s.in_window(0.1)
    assert s.is_last_step(0.1) and not s.is_last_step(0.2)
