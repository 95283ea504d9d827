"""Predict a skipped model output from the last computed ones (the fixed-point view).

Consecutive deltas of the outputs are taken to shrink by a per-step ratio r and turn by an angle
with cosine c. The part of the next delta along the last one is q = r * c times it, so after the
last computed output y_m and its per-step delta d_m, j skipped steps are predicted as

    yhat = y_m + (q + q^2 + ... + q^j) * d_m,    which never passes y* = y_m + d_m * q / (1 - q).

Three predictors, the first being the default and the others ablations:
  fixed_point          deltas spanning several steps are converted to per-step deltas assuming
                       they are geometric, so predictions after a skip do not overshoot;
  fixed_point_literal  the raw delta between the last two computed outputs, as if one step apart;
  reuse                q = 0: the last computed output itself (what residual caches do).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .history import BranchHistory

R_SEARCH_MAX = 16.0  # per-step norm ratios above this are reported as this (the gate fails anyway)


@dataclass
class Fit:
    """Statistics of one branch's last two deltas, and what the predictor extrapolates from."""
    r: float  # per-step norm ratio of consecutive deltas
    c: float  # cosine between consecutive deltas
    q: float  # contraction used for extrapolation: r * c clipped to [0, q_max]
    step_delta: torch.Tensor  # the delta of one step at the last computed output
    relative_step: float  # |step_delta| / |last output|: scale of one step's change

    @property
    def unpredictable(self) -> float:
        return unpredictable(self.r, self.c, self.relative_step)


def unpredictable(r: float, c: float, relative_step: float) -> float:
    """Estimated size of the part of the next delta the predictor cannot see, relative to |y|: the
    next step's change (r times this one) times the sine of the turn between consecutive deltas."""
    return r * math.sqrt(max(0.0, 1.0 - c * c)) * relative_step


def geometric_sum(q: float, n: float) -> float:
    """1 + q + ... + q^(n-1), for real n >= 0."""
    if abs(1.0 - q) < 1e-9:
        return n
    return (1.0 - q ** n) / (1.0 - q)


def per_step_ratio(norm_ratio: float, span_before: float, span_last: float) -> float:
    """The r that makes two span deltas with this norm ratio consecutive pieces of one geometric
    series of per-step deltas: ratio = r^span_before * S(r, span_last) / S(r, span_before)."""
    if abs(span_before - span_last) < 1e-9:
        return norm_ratio ** (1.0 / span_last)

    def ratio_at(r: float) -> float:
        return r ** span_before * geometric_sum(r, span_last) / geometric_sum(r, span_before)

    lo, hi = 0.0, R_SEARCH_MAX
    if ratio_at(hi) <= norm_ratio:
        return hi
    for _ in range(60):  # the ratio grows with r: bisect
        mid = 0.5 * (lo + hi)
        if ratio_at(mid) < norm_ratio:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def fit(history: BranchHistory, predictor: str, q_max: float) -> Optional[Fit]:
    """r, c and q from the last two deltas; None when the statistics are unusable (history too
    short, a zero or non-finite norm): the caller must then compute."""
    if not history.ready:
        return None
    d_last, d_before = history.delta, history.previous_delta
    n_last = float(d_last.value.norm())
    n_before = float(d_before.value.norm())
    n_y = float(history.last.float().norm())
    if not all(math.isfinite(v) and v > 0.0 for v in (n_last, n_before, n_y)):
        return None
    c = float((d_last.value * d_before.value).sum()) / (n_last * n_before)
    if not math.isfinite(c):
        return None
    c = max(-1.0, min(1.0, c))
    if predictor == "fixed_point_literal":
        r = n_last / n_before
        step_delta = d_last.value
    else:
        r = per_step_ratio(n_last / n_before, d_before.span, d_last.span)
        # d_last spans several steps: its last step is the series' last term
        step_delta = d_last.value * (r ** (d_last.span - 1.0) / geometric_sum(r, d_last.span))
    q = 0.0 if predictor == "reuse" else min(max(r * c, 0.0), q_max)
    return Fit(r=r, c=c, q=q, step_delta=step_delta, relative_step=float(step_delta.norm()) / n_y)


def predict(history: BranchHistory, fitted: Fit, position: float) -> torch.Tensor:
    """The output at `position` (steps, fractional allowed) after the last computed one."""
    steps_ahead = max(position - history.last_position, 0.0)
    coefficient = fitted.q * geometric_sum(fitted.q, steps_ahead)  # q + q^2 + ... + q^j
    if coefficient == 0.0:
        return history.last.clone()
    return (history.last.float() + coefficient * fitted.step_delta).to(history.last.dtype)
