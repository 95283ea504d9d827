"""Compute-or-skip for each model call of one sampling run, with every guard.

One TaoCacheRun lives for exactly one sampling run. For each model call the caller asks `decide`
with the call's branch keys and noise level, then either `predict`s every branch (skip) or runs the
model and `record`s the outputs (compute). A call is skipped only when every branch in it agrees.

An evaluation (one CALC_COND_BATCH: every conditioning at one noise level) may come as several
model calls: split for memory, or concurrently on worker threads (ComfyUI's multi-GPU CFG split,
`_calc_cond_batch_multigpu`). The first call to arrive decides for the whole evaluation, over its
own branches and the branches that came with them in the previous evaluation, and every later call
of the evaluation follows: cond and uncond always agree, whichever thread is first. All state
changes happen under one lock, so concurrent calls lose and double nothing.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Optional, Sequence

import torch

from . import predictor as predictors
from .call_pattern import SKIP_FIRST_CALL, SKIP_SECOND_CALL, CallPattern, Learned
from .config import TaoCacheConfig
from .history import BranchHistory
from .report import FIRST_AT_LEVEL, NOT_PLANNED, SECOND_AT_LEVEL, CallRow, RunReport
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
NEW_BRANCH = "branch new to this evaluation"
OTHER_DEVICE = "history on another device"
NEW_SHAPE = "input shape changed"
# Reasons that hold for every branch at a noise level: a follower of such a decision shows the same.
RUN_WIDE = (DISABLED, OUTSIDE, LAST_STEP, NOT_PLANNED)


@dataclass
class Decision:
    skip: bool
    reason: str  # why computed, or "skip"
    sigma: float
    position: float
    fits: dict = field(default_factory=dict)  # branch key -> predictor.Fit (when skipping)
    row: Optional["CallRow"] = None  # this call's report row, once predicted or recorded
    # computed by a gate (cos, norm ratio, error budget): every branch whose statistics failed one,
    # in the evaluation's order, so the report can say which branch or stream held the skip back
    held_by: tuple = ()

    def for_keys(self, keys: Sequence[Hashable]) -> "Decision":
        """The decision for the call carrying `keys`: their fits, and those of the branches that held
        it back (a sibling's, when the call that failed on it carries only cond)."""
        return Decision(self.skip, self.reason, self.sigma, self.position,
                        {k: self.fits[k] for k in [*keys, *self.held_by] if k in self.fits}, held_by=self.held_by)


@dataclass
class _Evaluation:
    """The calls of one evaluation so far: the decision they share and the branches they carried."""
    sigma: Optional[float] = None
    decision: Optional[Decision] = None
    keys: set = field(default_factory=set)


class TaoCacheRun:
    def __init__(self, config: TaoCacheConfig, schedule: Schedule, plan: Optional[set] = None,
                 calls_per_step: int = 1, skipped_call: str = SKIP_SECOND_CALL, whole_steps: Iterable[int] = ()):
        """plan: steps chosen ahead of the run, from a calibration profile or spread over the window
        (they replace the cos and norm-ratio gates); None means online decisions. calls_per_step:
        above 1, the sampler calls the model more than once per step (heun: each level twice, the
        correction of the step before, then the step itself; dpm_2: the level, then a midpoint;
        seeds_3: the level, then two points before the next), and a planned step skips only one of
        its calls (planner.skips_for), at its level the second or the first (skipped_call), except
        the planned steps in whole_steps, which skip every call of the step: at its level, and the
        points between it and the next level (planner.with_whole_steps)."""
        if skipped_call not in (SKIP_SECOND_CALL, SKIP_FIRST_CALL):
            raise ValueError(f"skipped_call must be {SKIP_SECOND_CALL!r} or {SKIP_FIRST_CALL!r}, not {skipped_call!r}")
        self.config = config
        self.schedule = schedule
        self.plan = plan
        self.whole_steps = set(whole_steps)
        self.calls_per_step = calls_per_step
        self.repeated = calls_per_step > 1
        self.skipped_call = skipped_call
        self.histories: dict[Hashable, BranchHistory] = {}
        self.skips_in_a_row: dict[Hashable, int] = {}
        # branch -> the position of its last skipped call, in a planned run: another call at the same
        # noise level is the same planned step, not one more skip in a row, on a sampler not known to
        # repeat levels (heunpp2), and computes on one that skips the first of a level's two calls
        self.last_skipped: dict[Hashable, float] = {}
        self.error_spent: dict[Hashable, float] = {}
        # branch -> the shape of its last computed call's input (per batch entry, every stream): a
        # history made on another shape cannot predict this one (a skip would return the old shape)
        self.input_shapes: dict[Hashable, tuple] = {}
        self.disabled_reason = self._why_disabled()
        self.report = RunReport(config=config, schedule=schedule, disabled_reason=self.disabled_reason)
        self.lock = threading.RLock()
        self._evaluation = _Evaluation()
        self._siblings: dict[Hashable, frozenset] = {}  # branch -> the branches of its last evaluation
        # a planned run on a sampler the pack does not know: its calls per step, learned from the
        # warm-up (call_pattern.py), and what plans again for them (set by the caller)
        self.learning: Optional[tuple[CallPattern, Callable[[Learned], tuple[set, set]]]] = None

    def begin_evaluation(self) -> None:
        """A new evaluation of all branches starts (its branches may come in several calls, also
        concurrently): its first call decides for all of them."""
        with self.lock:
            self._next_evaluation()

    def _next_evaluation(self) -> None:
        ended = frozenset(self._evaluation.keys)
        for key in ended:
            self._siblings[key] = ended
        self._evaluation = _Evaluation()

    def stop(self, reason: str) -> bool:
        """Turn caching off for the rest of this run (every later call computes). True the first
        time; the report says from where and why."""
        with self.lock:
            if self.disabled_reason is not None:
                return False
            self.disabled_reason = reason
            self.report.disabled_reason = reason
            if self.report.skipped:  # else the summary's "nothing skipped: <reason>" says it
                stopped = f"caching off after {self.report.total} calls: {reason}"
                self.report.note = "; ".join(filter(None, [self.report.note, stopped]))
            return True

    def _why_disabled(self) -> Optional[str]:
        steps = self.schedule.steps
        if self.config.max_consecutive_skips == 0:
            return "max_consecutive_skips is 0"
        if steps < self.config.min_steps:
            return (f"too few steps: {steps} < {self.config.min_steps} in this sampling run (few-step and "
                    f"distilled setups are left uncached; a schedule split over several samplers, as Wan2.2 "
                    f"A14B's two experts, counts each part on its own)")
        if not self.schedule.window_steps():
            held = (f" outside compute_ranges {', '.join(f'{a:g}-{b:g}' for a, b in self.config.compute_ranges)}"
                    if self.config.compute_ranges else "")
            return (f"the window is empty: no step of this {steps}-step schedule lies between "
                    f"start_percent {self.config.start_percent} and end_percent {self.config.end_percent}{held}")
        return None

    @property
    def active(self) -> bool:
        return self.disabled_reason is None

    def history(self, key: Hashable) -> BranchHistory:
        if key not in self.histories:
            self.histories[key] = BranchHistory()
        return self.histories[key]

    def decide(self, keys: Sequence[Hashable], sigma: float, device=None, input_shape: Optional[tuple] = None) -> Decision:
        """Skip or compute for one model call carrying `keys` at `sigma` (on `device`, where its
        branches' histories must live to be predicted; `input_shape`, the call's input per batch
        entry, must be the one they were computed on). The evaluation's first call decides for
        the evaluation; a call at another noise level, or one that repeats a branch, starts a new
        evaluation (for callers that never call begin_evaluation)."""
        with self.lock:
            evaluation = self._evaluation
            if (evaluation.sigma is not None and evaluation.sigma != sigma) or evaluation.keys.intersection(keys):
                self._next_evaluation()
                evaluation = self._evaluation
            evaluation.sigma = sigma
            position = self.schedule.position(sigma)
            if self.learning is not None:
                self._learn_calls(keys, position)
            shared = evaluation.decision
            if shared is None:
                shared = evaluation.decision = self._decide(self._with_siblings(keys), sigma, position, keys, device,
                                                            input_shape)
                decision = shared.for_keys(keys)
            elif not shared.skip:
                decision = Decision(False, shared.reason if shared.reason in RUN_WIDE else SIBLING, sigma, position)
            elif not all(key in shared.fits for key in keys):
                decision = Decision(False, NEW_BRANCH, sigma, position)
            elif self._on_other_device(keys, device):
                decision = Decision(False, OTHER_DEVICE, sigma, position)
            elif self._other_shape(keys, input_shape):
                decision = Decision(False, NEW_SHAPE, sigma, position)
            else:
                decision = shared.for_keys(keys)
            if decision.skip and not keys:  # a call with nothing to predict computes
                decision = Decision(False, self.disabled_reason and DISABLED or UNUSABLE, sigma, position)
            evaluation.keys.update(keys)
            if not decision.skip:
                for key in keys:
                    self.skips_in_a_row[key] = 0
                    self.last_skipped.pop(key, None)
                    self.error_spent[key] = 0.0
                    if input_shape is not None:
                        self.input_shapes[key] = input_shape
            return decision

    def would_skip(self, keys: Sequence[Hashable], sigma: float) -> bool:
        """What decide() would say now for a call carrying `keys` at `sigma`, without changing the
        run: lets a caller leave out work that only a computed call needs (a ControlNet's output).
        The call that follows may still compute (its final keys can differ, a sampler's call pattern
        can re-plan the run), so the caller must be right either way. False while the run learns its
        sampler's calls."""
        with self.lock:
            if not keys or self.learning is not None:
                return False
            evaluation = self._evaluation
            continues = evaluation.sigma == sigma and not evaluation.keys.intersection(keys)
            if continues and evaluation.decision is not None:
                shared = evaluation.decision
                return shared.skip and all(key in shared.fits for key in keys)
            position = self.schedule.position(sigma)
            return self._decide(self._with_siblings(keys), sigma, position, keys).skip

    def _learn_calls(self, keys: Sequence[Hashable], position: float) -> None:
        """Before the first call past the warm-up: a sampler found to call the model more than once
        per step gets a plan made for its calls (call_pattern.py)."""
        pattern, replan = self.learning
        learned = pattern.observe(keys, position)
        if not pattern.finished:
            return
        self.learning = None
        if learned is not None and self.plan is not None:
            self.calls_per_step, self.repeated, self.skipped_call = learned.calls_per_step, True, learned.skipped_call
            self.plan, self.whole_steps = replan(learned)

    def _with_siblings(self, keys: Sequence[Hashable]) -> list:
        """The call's keys, then the other branches that came with them last time (in a fixed
        order, so the decision does not depend on which thread arrived first)."""
        others: set = set()
        for key in keys:
            others.update(self._siblings.get(key, ()))
        others.difference_update(keys)
        return list(keys) + sorted(others, key=repr)

    def _on_other_device(self, keys: Iterable[Hashable], device) -> bool:
        if device is None:
            return False
        for key in keys:
            last = self.histories[key].last if key in self.histories else None
            if last is not None and last.device != device:
                return True
        return False

    def _other_shape(self, keys: Iterable[Hashable], input_shape: Optional[tuple]) -> bool:
        return input_shape is not None and any(
            self.input_shapes.get(key, input_shape) != input_shape for key in keys)

    def _decide(self, keys, sigma, position, own_keys=(), device=None, input_shape=None) -> Decision:
        def compute(reason, fits=None, held_by=()):
            return Decision(False, reason, sigma, position, fits or {}, held_by=held_by)

        if not self.active:
            return compute(DISABLED)
        if not self.schedule.in_window(sigma):
            return compute(OUTSIDE)
        if self.schedule.is_last_step(sigma):
            return compute(LAST_STEP)
        cfg = self.config
        whole = self._in_whole_step(position)
        if self.plan is not None and not whole and (round(position) not in self.plan
                                                    or abs(position - round(position)) > 1e-6):
            return compute(NOT_PLANNED)
        if self._on_other_device(own_keys, device):
            return compute(OTHER_DEVICE)
        if self._other_shape(own_keys, input_shape):
            return compute(NEW_SHAPE)
        fits = {}
        for i, key in enumerate(keys):
            history = self.histories.get(key)
            if history is None or not history.ready:
                return compute(WARMING_UP)
            if self.plan is not None and self.repeated and not whole:
                # at this level already: computed there, or skipped its first call there
                again = history.last_position == position or self.last_skipped.get(key) == position
                if self.skipped_call == SKIP_SECOND_CALL and not again:
                    return compute(FIRST_AT_LEVEL)
                if self.skipped_call == SKIP_FIRST_CALL and again:
                    return compute(SECOND_AT_LEVEL)
            in_a_row = self.skips_in_a_row.get(key, 0)
            if in_a_row >= cfg.max_consecutive_skips and not self._same_planned_step(key, position):
                return compute(CONSECUTIVE)
            fitted = predictors.fit(history, cfg.predictor, cfg.q_max)
            if fitted is None:
                return compute(UNUSABLE)
            fits[key] = fitted
            if self.plan is not None:
                continue  # planned skip: the guards above still apply, the gates do not
            failed = self._gate(key, fitted, history, position)
            if failed:
                held = [key] + self._also_held_by(keys[i + 1:], position, fits)
                return compute(failed, fits, tuple(held))
        return Decision(True, "skip", sigma, position, fits)

    def _gate(self, key: Hashable, fitted, history: BranchHistory, position: float) -> Optional[str]:
        """The online gate a branch's statistics fail, or None: cos, norm ratio, error budget."""
        cfg = self.config
        if fitted.c < cfg.cos_threshold:
            return COS_GATE
        if fitted.r > cfg.norm_ratio_threshold:
            return NORM_GATE
        if cfg.error_budget > 0:
            steps_ahead = max(position - history.last_position, 0.0)
            if self.error_spent.get(key, 0.0) + fitted.unpredictable * steps_ahead > cfg.error_budget:
                return BUDGET
        return None

    def _also_held_by(self, keys: Sequence[Hashable], position: float, fits: dict) -> list:
        """Of the branches after the one that failed a gate, those whose statistics fail a gate too
        (their fits join `fits`): the decision does not change, only what the report can say about
        it. A packed audio-video model skips only when every stream passes, so a user needs to know
        whether the video or the audio held the skips back. [ours]"""
        held = []
        for key in keys:
            history = self.histories.get(key)
            if history is None or not history.ready:
                continue
            fitted = predictors.fit(history, self.config.predictor, self.config.q_max)
            if fitted is not None and self._gate(key, fitted, history, position):
                fits[key] = fitted
                held.append(key)
        return held

    @staticmethod
    def _step_of(position: float) -> int:
        """The step a call belongs to: its level's, or for a call between two levels (a midpoint
        sampler's), the step before it."""
        nearest = round(position)
        return nearest if abs(position - nearest) <= 1e-6 else int(position // 1)

    def _in_whole_step(self, position: float) -> bool:
        return self.plan is not None and bool(self.whole_steps) and self._step_of(position) in self.whole_steps

    def _same_planned_step(self, key: Hashable, position: float) -> bool:
        """In a planned run, a call at the noise level of the branch's last skipped call: a plan
        skips whole steps, so on a sampler that calls a level more than once and is not known to
        (`calls_per_step` 1: heunpp2) every call there is that one planned skip. On heun and
        sa_solver_pece (`calls_per_step` 2) one of a planned level's two calls computes, so this never
        applies, except at a step of whole_steps, whose calls (at its level and between it and the
        next) are one skip. Online runs count every call. [ours]"""
        if self.plan is None or key not in self.last_skipped:
            return False
        last = self.last_skipped[key]
        return last == position or (self._in_whole_step(position) and self._step_of(last) == self._step_of(position))

    def predict(self, decision: Decision, keys: Sequence[Hashable]) -> list[torch.Tensor]:
        """Predicted outputs for a skipped call, one per branch key, in order (each on the device
        and in the dtype of that branch's history)."""
        with self.lock:
            outputs = []
            for key in keys:
                history = self.history(key)
                fitted = decision.fits[key]
                outputs.append(predictors.predict(history, fitted, decision.position))
                if not self._same_planned_step(key, decision.position):
                    self.skips_in_a_row[key] = self.skips_in_a_row.get(key, 0) + 1
                if self.plan is not None:
                    self.last_skipped[key] = decision.position
                self.error_spent[key] = self.error_spent.get(key, 0.0) + fitted.unpredictable * max(
                    decision.position - history.last_position, 0.0)
            decision.row = self.report.add(decision, skipped=True)
            return outputs

    def record(self, decision: Decision, keys: Sequence[Hashable], outputs: Sequence[torch.Tensor]) -> None:
        """Computed outputs, one per branch key: they become history (predictions never do).
        The call's report row is then `decision.row`."""
        with self.lock:
            for key, output in zip(keys, outputs):
                self.history(key).record(output, decision.position)
            held = sum(history.nbytes for history in self.histories.values())
            self.report.peak_history_bytes = max(self.report.peak_history_bytes, held)
            decision.row = self.report.add(decision, skipped=False)

    def close(self) -> RunReport:
        """Drop every tensor this run holds; the report stays, its rows in schedule order (calls
        of one step may have come from several threads in any order)."""
        with self.lock:
            self.histories.clear()
            self.skips_in_a_row.clear()
            self.last_skipped.clear()
            self.error_spent.clear()
            self.input_shapes.clear()
            self._siblings.clear()
            self.learning = None  # its re-plan refers back to this run
            self.report.rows.sort(key=lambda row: row.position)
            return self.report
