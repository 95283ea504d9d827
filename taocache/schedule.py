"""Where a model call sits in the run's noise schedule: step position, late window, last step.

Calls are located by their noise level (sigma), never by the model's timestep input (which can be
per-token, as on Wan2.2 5B). The step position is fractional for calls between two schedule
sigmas (second-order samplers), so rates of change stay per step.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field


@dataclass
class Schedule:
    sigmas: list[float]  # the run's schedule, descending, ending usually in 0
    start_sigma: float  # window opens at or below this noise level (from start_percent)
    end_sigma: float  # and closes at or below this one (from end_percent)
    _ascending: list[float] = field(init=False, repr=False)

    def __post_init__(self):
        self.sigmas = [float(s) for s in self.sigmas]
        self._ascending = self.sigmas[::-1]

    @property
    def steps(self) -> int:
        return max(len(self.sigmas) - 1, 0)

    def position(self, sigma: float) -> float:
        """Fractional step index of a noise level: i at sigmas[i], linear in between."""
        s = self.sigmas
        if not s:
            return 0.0
        if sigma >= s[0]:
            return 0.0
        if sigma <= s[-1]:
            return float(len(s) - 1)
        # s[lo] >= sigma > s[hi], found by bisecting the ascending copy
        j = bisect_left(self._ascending, sigma)
        lo = len(s) - 1 - j
        hi = lo + 1
        if s[lo] == s[hi]:
            return float(lo)
        return lo + (s[lo] - sigma) / (s[lo] - s[hi])

    def in_window(self, sigma: float) -> bool:
        return self.end_sigma < sigma <= self.start_sigma

    def is_last_step(self, sigma: float) -> bool:
        """The final step of the run (and anything past it) is always computed."""
        return self.steps == 0 or self.position(sigma) >= self.steps - 1 - 1e-6

    def window_steps(self) -> list[int]:
        """Steps of this schedule that may be skipped: inside the window, not the last one."""
        return [i for i in range(self.steps - 1) if self.in_window(self.sigmas[i])]
