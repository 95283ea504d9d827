"""Compute-or-skip for each model call of one sampling run, with every guard.

One TaoCacheRun lives for exactly one sampling run. For each model call the caller asks `decide`
with the call's branch keys and noise level, then either `predict`s every branch (skip) or runs the
model and `record`s the outputs (compute). A call is skipped only when every branch in it agrees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Optional, Sequence

import torch

from . import predictor as predictors
from .config import TaoCacheConfig
from .history import BranchHistory
from .report import RunReport
from .schedule import Schedule

# Reasons a call in the window is computed (the report counts them to explain a run with no skips).
WARMING_UP = "history too short"
LAST_STEP = "last step"
COS_GATE = "cos below threshold"
NORM_GATE = "norm ratio above threshold"
CONSECUTIVE = "max consecutive skips reached"
BUDGET = "error budget spent"
UNUSABLE = "statistics not finite or zero"
OUTSIDE = "outside window"
DISABLED = "cache disabled for this run"
SIBLING = "another branch of this evaluation computed"
NOT_PLANNED = "not in the profile's plan"


@dataclass
class Decision:
    skip: bool
    reason: str  # why computed, or "skip"
    sigma: float
    position: float
    fits: dict = field(default_factory=dict)  # branch key -> predictor.Fit (when skipping)


class TaoCacheRun:
    def __init__(self, config: TaoCacheConfig, schedule: Schedule, plan: Optional[set] = None):
        """plan: steps chosen ahead of the run from a calibration profile (they replace the cos and
        norm-ratio gates); None means online decisions."""
        self.config = config
        self.schedule = schedule
        self.plan = plan
        self.histories: dict[Hashable, BranchHistory] = {}
        self.skips_in_a_row: dict[Hashable, int] = {}
        self.error_spent: dict[Hashable, float] = {}
        self.disabled_reason = self._why_disabled()
        self.report = RunReport(config=config, schedule=schedule, disabled_reason=self.disabled_reason)
        self.evaluation_computes = False

    def begin_evaluation(self) -> None:
        """A new evaluation of all branches starts (its branches may come in several calls): once
        one call computes, the evaluation's later calls compute too, so cond and uncond agree."""
        self.evaluation_computes = False

    def _why_disabled(self) -> Optional[str]:
        steps = self.schedule.steps
        if self.config.max_consecutive_skips == 0:
            return "max_consecutive_skips is 0"
        if steps < self.config.min_steps:
            return (f"too few steps: {steps} < {self.config.min_steps} (few-step and distilled setups "
                    f"are left uncached)")
        if not self.schedule.window_steps():
            return (f"the window is empty: no step of this {steps}-step schedule lies between "
                    f"start_percent {self.config.start_percent} and end_percent {self.config.end_percent}")
        return None

    @property
    def active(self) -> bool:
        return self.disabled_reason is None

    def history(self, key: Hashable) -> BranchHistory:
        if key not in self.histories:
            self.histories[key] = BranchHistory()
        return self.histories[key]

    def decide(self, keys: Sequence[Hashable], sigma: float) -> Decision:
        position = self.schedule.position(sigma)
        decision = self._decide(keys, sigma, position)
        if decision.skip and self.evaluation_computes:
            decision = Decision(False, SIBLING, sigma, position, decision.fits)
        if not decision.skip:
            self.evaluation_computes = True
            for key in keys:
                self.skips_in_a_row[key] = 0
                self.error_spent[key] = 0.0
        return decision

    def _decide(self, keys, sigma, position) -> Decision:
        def compute(reason, fits=None):
            return Decision(False, reason, sigma, position, fits or {})

        if not self.active:
            return compute(DISABLED)
        if not self.schedule.in_window(sigma):
            return compute(OUTSIDE)
        if self.schedule.is_last_step(sigma):
            return compute(LAST_STEP)
        cfg = self.config
        if self.plan is not None and (round(position) not in self.plan or abs(position - round(position)) > 1e-6):
            return compute(NOT_PLANNED)
        fits = {}
        for key in keys:
            history = self.history(key)
            if not history.ready:
                return compute(WARMING_UP)
            if self.skips_in_a_row.get(key, 0) >= cfg.max_consecutive_skips:
                return compute(CONSECUTIVE)
            fitted = predictors.fit(history, cfg.predictor, cfg.q_max)
            if fitted is None:
                return compute(UNUSABLE)
            fits[key] = fitted
            if self.plan is not None:
                continue  # planned skip: the guards above still apply, the gates do not
            if fitted.c < cfg.cos_threshold:
                return compute(COS_GATE, fits)
            if fitted.r > cfg.norm_ratio_threshold:
                return compute(NORM_GATE, fits)
            if cfg.error_budget > 0 and self.plan is None:
                steps_ahead = max(position - history.last_position, 0.0)
                if self.error_spent.get(key, 0.0) + fitted.unpredictable * steps_ahead > cfg.error_budget:
                    return compute(BUDGET, fits)
        return Decision(True, "skip", sigma, position, fits)

    def predict(self, decision: Decision, keys: Sequence[Hashable]) -> list[torch.Tensor]:
        """Predicted outputs for a skipped call, one per branch key, in order."""
        outputs = []
        for key in keys:
            history = self.history(key)
            fitted = decision.fits[key]
            outputs.append(predictors.predict(history, fitted, decision.position))
            self.skips_in_a_row[key] = self.skips_in_a_row.get(key, 0) + 1
            self.error_spent[key] = self.error_spent.get(key, 0.0) + fitted.unpredictable * max(
                decision.position - history.last_position, 0.0)
        self.report.add(decision, skipped=True)
        return outputs

    def record(self, decision: Decision, keys: Sequence[Hashable], outputs: Sequence[torch.Tensor]) -> None:
        """Computed outputs, one per branch key: they become history (predictions never do)."""
        for key, output in zip(keys, outputs):
            self.history(key).record(output, decision.position)
        self.report.add(decision, skipped=False)

    def close(self) -> RunReport:
        """Drop every tensor this run holds; the report stays."""
        self.histories.clear()
        self.skips_in_a_row.clear()
        self.error_spent.clear()
        return self.report
