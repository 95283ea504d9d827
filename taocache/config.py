"""The settings of one TaoCache node, validated once, with errors that name the input and its range."""
from __future__ import annotations

import math
from dataclasses import dataclass

PREDICTORS = ("fixed_point", "fixed_point_literal", "reuse")

# Inclusive ranges, shared by the node schema (widget limits) and validation, so the two agree.
RANGES = {
    "start_percent": (0.0, 1.0),
    "end_percent": (0.0, 1.0),
    "cos_threshold": (-1.0, 1.0),
    "norm_ratio_threshold": (0.0, 10.0),
    "max_consecutive_skips": (0, 16),
    "error_budget": (0.0, 10.0),
}
MIN_STEPS = 10  # below this (few-step / distilled setups) the cache stays off: too little to skip safely
Q_MAX = 0.95  # cap on the per-step contraction q used for extrapolation: keeps the fixed point finite


class ConfigError(ValueError):
    """A node input outside its allowed range; the message names the input and the range."""


@dataclass(frozen=True)
class TaoCacheConfig:
    start_percent: float = 0.3
    end_percent: float = 1.0
    cos_threshold: float = 0.6
    norm_ratio_threshold: float = 1.3
    max_consecutive_skips: int = 1
    predictor: str = "fixed_point"
    error_budget: float = 0.0  # 0 = off
    verbose: bool = False
    min_steps: int = MIN_STEPS
    q_max: float = Q_MAX

    def __post_init__(self):
        for name, (lo, hi) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"TaoCache: {name} must be a number between {lo} and {hi}, got {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(f"TaoCache: {name} = {value} is outside the allowed range {lo} to {hi}")
        if int(self.max_consecutive_skips) != self.max_consecutive_skips:
            raise ConfigError(f"TaoCache: max_consecutive_skips must be a whole number, got {self.max_consecutive_skips}")
        if self.start_percent >= self.end_percent:
            raise ConfigError(
                f"TaoCache: the late window is empty or inverted: start_percent ({self.start_percent}) must be "
                f"below end_percent ({self.end_percent}); try start_percent 0.3 and end_percent 1.0")
        if self.predictor not in PREDICTORS:
            raise ConfigError(f"TaoCache: predictor must be one of {', '.join(PREDICTORS)}, got {self.predictor!r}")

    def describe(self) -> str:
        budget = f", error_budget {self.error_budget}" if self.error_budget > 0 else ""
        return (f"window {self.start_percent:.2f}-{self.end_percent:.2f}, cos >= {self.cos_threshold}, "
                f"r <= {self.norm_ratio_threshold}, max {self.max_consecutive_skips} consecutive, "
                f"predictor {self.predictor}{budget}")
