"""Where a model call sits in the run's noise schedule: step position, late window, last step.

Calls are located by their noise level (sigma), never by the model's timestep input (which can be
per-token, as on Wan2.2 5B). The step position is fractional for calls between two schedule
sigmas (second-order samplers), so rates of change stay per step.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field


# How close (in steps) a call's noise level must come to a step's to count as that step's: samplers
# that compute the next level through logSNR (the newest ComfyUI's exp_heun_2_x0, seeds_2 with r=1)
# land there a few 1e-5 steps off, not bit for bit; a midpoint call sits tenths of a step away.
LEVEL_TOLERANCE = 1e-3


@dataclass
class Schedule:
    sigmas: list[float]  # the run's schedule, descending, ending usually in 0
    start_sigma: float  # window opens at or below this noise level (from start_percent)
    end_sigma: float  # and closes at or below this one (from end_percent)
    # (high, low) noise levels between which every call is computed, inside the window too (from
    # compute_ranges): the window less these is where skips may happen
    holds: tuple = ()
    _ascending: list[float] = field(init=False, repr=False)

    def __post_init__(self):
        self.sigmas = [float(s) for s in self.sigmas]
        self._ascending = self.sigmas[::-1]

    @property
    def steps(self) -> int:
        return max(len(self.sigmas) - 1, 0)

    def position(self, sigma: float) -> float:
        """Fractional step index of a noise level: i at sigmas[i], linear in between; within
        LEVEL_TOLERANCE of a step, that step exactly (so a plan, the step count in a row and the
        history's step spans treat a call there as the step's)."""
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
        fraction = (s[lo] - sigma) / (s[lo] - s[hi])
        if fraction < LEVEL_TOLERANCE:
            return float(lo)
        if fraction > 1 - LEVEL_TOLERANCE:
            return float(hi)
        return lo + fraction

    def in_window(self, sigma: float) -> bool:
        return self.end_sigma < sigma <= self.start_sigma and not any(low < sigma <= high for high, low in self.holds)

    def is_last_step(self, sigma: float) -> bool:
        """The final step of the run is always computed, and so is any call past the penultimate
        step's level: dpm_fast and dpm_adaptive choose noise levels of their own, and their final
        call lands inside the last interval (at 8.5 of 10 steps, 18.8 of 20), never at a step."""
        return self.steps == 0 or self.position(sigma) > self.steps - 2 + LEVEL_TOLERANCE

    def window_steps(self) -> list[int]:
        """Steps of this schedule that may be skipped: inside the window, not the last one."""
        return [i for i in range(self.steps - 1) if self.in_window(self.sigmas[i])]
