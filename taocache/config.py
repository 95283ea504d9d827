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


RANGES_FORMAT = "percent ranges inside 0-1 such as '0.4-0.5' or '0.4-0.5, 0.8-0.9', or empty for none"


def parse_ranges(text: str, name: str = "compute_ranges") -> tuple[tuple[float, float], ...]:
    """'0.4-0.5, 0.8-0.9' -> ((0.4, 0.5), (0.8, 0.9)); empty -> (). Each range runs from a lower to a
    higher fraction of the schedule, both from 0 to 1; anything else names the input and the format."""
    if not isinstance(text, str):
        raise ConfigError(f"TaoCache: {name} must be text: {RANGES_FORMAT}; got {text!r}")
    ranges = []
    for part in filter(None, (piece.strip() for piece in text.replace(";", ",").split(","))):
        bounds = part.split("-")
        try:
            if len(bounds) != 2:
                raise ValueError(part)
            low, high = float(bounds[0]), float(bounds[1])
        except ValueError:
            raise ConfigError(f"TaoCache: {name} must be {RANGES_FORMAT}; could not read {part!r}") from None
        ranges.append((low, high))
    return tuple(ranges)


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
    # ranges of the schedule (fractions, like start/end_percent) where every call is computed, even
    # inside the window: with the window 0-1 and (0.4, 0.5), two windows, 0-0.4 and 0.5-1 [ours]
    compute_ranges: tuple = ()

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
        for low, high in self.compute_ranges:
            if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low < high <= 1.0):
                raise ConfigError(f"TaoCache: compute_ranges: {low:g}-{high:g} is not a range inside 0-1 with its "
                                  f"start below its end; it must be {RANGES_FORMAT}")
        if self.predictor not in PREDICTORS:
            raise ConfigError(f"TaoCache: predictor must be one of {', '.join(PREDICTORS)}, got {self.predictor!r}")

    def describe(self) -> str:
        budget = f", error_budget {self.error_budget}" if self.error_budget > 0 else ""
        held = "".join(f" except {low:.2f}-{high:.2f}" for low, high in self.compute_ranges)
        return (f"window {self.start_percent:.2f}-{self.end_percent:.2f}{held}, cos >= {self.cos_threshold}, "
                f"r <= {self.norm_ratio_threshold}, max {self.max_consecutive_skips} consecutive, "
                f"predictor {self.predictor}{budget}")
