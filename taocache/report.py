"""What one sampling run did: one row per model call, counts, and the sentence users read."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .config import TaoCacheConfig
    from .policy import Decision
    from .schedule import Schedule


# The one sentence users read about a run: in the log (after "TaoCache: "), on the node (the web panel
# shows it as received), in the demo's output and in the README. The ratio is model calls, not wall clock.
SENTENCE = "computed {computed} / skipped {skipped} of {total} model calls (call ratio {ratio:.2f}x)"
SENTENCE_PATTERN = re.compile(r"computed (\d+) / skipped (\d+) of (\d+) model calls \(call ratio (\d+\.\d\d)x\)")


# Reasons a planned run computes a call in its window (taocache/policy.py uses them): kept here, where
# the summary explains a planned run that skipped nothing, so the two cannot drift apart.
NOT_PLANNED = "not in the plan"
FIRST_AT_LEVEL = "first call at a planned level (its second is skipped)"
SECOND_AT_LEVEL = "second call at a planned level (its first is skipped)"


@dataclass
class CallRow:
    position: float  # step index, fractional for mid-step calls
    sigma: float
    skipped: bool
    reason: str
    in_window: bool
    r: Optional[float] = None
    c: Optional[float] = None
    q: Optional[float] = None
    unpredictable: Optional[float] = None
    held_by: tuple = ()  # names of the branches whose statistics failed the gate (r, c: the first's)

    def line(self, steps: int) -> str:
        stats = ""
        if self.r is not None:
            stats = f" r={self.r:.3f} c={self.c:.3f} q={self.q:.3f} err~{self.unpredictable:.2e}"
        held = f": {', '.join(self.held_by)}" if self.held_by else ""
        what = "skipped" if self.skipped else f"computed ({self.reason}{held})"
        return f"TaoCache step {self.position:.2f}/{steps} sigma {self.sigma:.4f}: {what}{stats}"


@dataclass
class RunReport:
    config: "TaoCacheConfig"
    schedule: "Schedule"
    disabled_reason: Optional[str] = None
    rows: list[CallRow] = field(default_factory=list)
    note: Optional[str] = None  # e.g. the profile plan: "profile X: planned 1.50x"
    peak_history_bytes: int = 0  # the most the branch histories held at once (freed when the run ends)
    # branch key -> the name users read ("uncond", "cond stream 1"), set by whoever makes the keys;
    # a key without one is named by str()
    branch_names: dict = field(default_factory=dict)

    def add(self, decision: "Decision", skipped: bool) -> CallRow:
        held = decision.held_by
        fitted = decision.fits.get(held[0]) if held else next(iter(decision.fits.values()), None)
        row = CallRow(position=decision.position, sigma=decision.sigma, skipped=skipped, reason=decision.reason,
                      in_window=self.schedule.in_window(decision.sigma),
                      held_by=tuple(dict.fromkeys(self.branch_names.get(key, str(key)) for key in held)))
        if fitted is not None:
            row.r, row.c, row.q, row.unpredictable = fitted.r, fitted.c, fitted.q, fitted.unpredictable
        self.rows.append(row)
        return row

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def skipped(self) -> int:
        return sum(row.skipped for row in self.rows)

    @property
    def computed(self) -> int:
        return self.total - self.skipped

    @property
    def speedup(self) -> float:
        return self.total / self.computed if self.computed else 1.0

    def why_nothing_skipped(self) -> str:
        if self.disabled_reason:
            return self.disabled_reason
        if not self.rows:
            return "the model was never called"
        in_window = [row for row in self.rows if row.in_window]
        if not in_window:
            return "no model call fell inside the window"
        reasons = Counter(row.reason for row in in_window)
        planned = {NOT_PLANNED, FIRST_AT_LEVEL, SECOND_AT_LEVEL}
        if planned & set(reasons) and set(reasons) <= planned | {"history too short", "last step"}:
            return "no call was at a planned step's noise level (what was planned, and why, follows)"
        cfg = self.config
        gated = reasons.get("cos below threshold", 0) + reasons.get("norm ratio above threshold", 0)
        if gated:
            return (f"thresholds never met (cos_threshold {cfg.cos_threshold}, norm_ratio_threshold "
                    f"{cfg.norm_ratio_threshold}): " + self._reason_counts(reasons))
        return "no call in the window could be predicted: " + self._reason_counts(reasons)

    @staticmethod
    def _reason_counts(reasons: Counter) -> str:
        return ", ".join(f"{reason} x{count}" for reason, count in reasons.most_common())

    def held_back(self) -> Optional[str]:
        """Which branches failed the gates, when the run has more than one (cond and uncond, the
        streams of an audio-video model): a skip needs every one of them to pass."""
        held = [row for row in self.rows if row.held_by]
        if not held or len(set(self.branch_names.values())) < 2:
            return None
        counts = Counter(name for row in held for name in row.held_by)
        return (f"the gates held back {len(held)} calls, failing on " + self._reason_counts(counts)
                + " (a call is skipped only when every branch passes)")

    def summary(self) -> str:
        text = "TaoCache: " + SENTENCE.format(computed=self.computed, skipped=self.skipped, total=self.total,
                                              ratio=self.speedup)
        if self.skipped == 0:
            text += f"; nothing skipped: {self.why_nothing_skipped()}"
        held = self.held_back()
        if held:
            text += f"; {held}"
        if self.note:
            text += f"; {self.note}"
        return text

    def memory_line(self) -> str:
        """What caching kept in memory beyond an uncached run (history only; a prediction's
        temporaries live for one call)."""
        return (f"TaoCache: history held {self.peak_history_bytes / 2 ** 20:.1f} MiB at most "
                f"(per branch: the last output and two float32 deltas), freed at the end of the run")

    def step_lines(self) -> list[str]:
        return [row.line(self.schedule.steps) for row in self.rows]

    def to_dict(self) -> dict:
        """Plain data for the UI: counts, and one entry per model call."""
        return {
            "computed": self.computed, "skipped": self.skipped, "total": self.total,
            "speedup": round(self.speedup, 4), "steps": self.schedule.steps, "summary": self.summary(),
            "window_sigmas": [self.schedule.start_sigma, self.schedule.end_sigma],
            "compute_sigmas": [list(pair) for pair in self.schedule.holds],  # (high, low): computed inside
            "history_bytes": self.peak_history_bytes,
            "schedule_sigmas": self.schedule.sigmas,
            "calls": [{"step": round(row.position, 3), "sigma": row.sigma, "skipped": row.skipped,
                       "in_window": row.in_window, "reason": row.reason, "r": row.r, "c": row.c,
                       "held_by": list(row.held_by)}
                      for row in self.rows],
        }
