"""Tell a guidance node's extra model call apart from the plain call of the same conditioning.

Guidance nodes evaluate the cond a second time, at the same noise level and on the same sampler
state, with something changed inside the model: ComfyUI's SkipLayerGuidanceDiT (blocks replaced), and
in the newest ComfyUI LTXVSpatioTemporalGuidance (transformer_options "stg_self_attn_blocks"),
LTXVModalityGuidance (audio-video cross-attention off) and LTXVReferenceAudio (the cond without its
reference audio), each from a post-CFG function, with the `x` the step's own evaluation got. That call
carries the same branch key (uuid), so sharing the plain call's history it would be predicted as the
plain output when skipped (cancelling the guidance), and would mix two functions' deltas when computed.

What every such node has in common, whatever it changes: a new evaluation on the same sampler state
at the same noise level, carrying a branch that an earlier evaluation on that state already carried.
Such a branch gets a key of its own, (key, "again", n). So does a branch that comes twice within one
evaluation: a model wrapper outside TaoCache's calling the model again on another input (the newest
HiDreamO1PatchSeamSmoothing: the same branches on a rolled x).

A state is any hashable the caller picks. The ComfyUI side (nodes/wrappers.py) passes a weak
reference to x (a guidance node passes the step's own x object; a sampler's own second call at one
noise level, Heun's correction then the next step, comes with a new x and keeps its key), and with
context windows, where every evaluation gets a fresh slice of x, the slice's content (`state_of`).
It calls `begin` from its CALC_COND_BATCH wrapper (once per evaluation and context window) and
`keys` for every model call.
"""
from __future__ import annotations

import threading
from typing import Hashable, Optional, Sequence

import torch


def state_of(x) -> Optional[tuple]:
    """A content fingerprint of a sampler state (None for anything but a tensor): shape, sum and sum
    of squares; two reductions and one device sync."""
    if not isinstance(x, torch.Tensor):
        return None
    x = x.float()
    total, squares = torch.stack([x.sum(), x.square().sum()]).tolist()
    return tuple(x.shape), total, squares


class RepeatedEvaluations:
    """Per sampling run: which branches the earlier evaluations on each sampler state carried, at the
    current noise level."""

    def __init__(self):
        self.lock = threading.Lock()
        self._sigma: Optional[float] = None  # the current evaluation's noise level
        self._state: Optional[Hashable] = None  # the current evaluation's sampler state (None: unknown)
        self._earlier: dict = {}  # state -> [raw key -> calls that carried it, per earlier evaluation]
        self._current: dict = {}  # raw key -> calls of the current evaluation that carried it so far

    def begin(self, state: Optional[Hashable], sigma: Optional[float]) -> None:
        """A new evaluation (one calc_cond_batch, per context window) on `state` at noise level `sigma`."""
        with self.lock:
            if sigma is None or sigma != self._sigma:
                self._earlier = {}
            elif self._state is not None:
                self._earlier.setdefault(self._state, []).append(self._current)
            self._state = state if sigma is not None else None
            self._current, self._sigma = {}, sigma

    def keys(self, keys: Sequence[Hashable], sigma: Optional[float] = None) -> list:
        """The call's branch keys, each one that came before on this state (in earlier evaluations or
        earlier in this one) numbered (key, "again", n), n the number of times it came before. A call
        at another noise level than the evaluation's starts a new one on an unknown state (for a
        caller that calls the model without calc_cond_batch, so without `begin`)."""
        with self.lock:
            if sigma is not None and sigma != self._sigma:
                self._state, self._earlier, self._current, self._sigma = None, {}, {}, sigma
            earlier = self._earlier.get(self._state, []) if self._state is not None else []
            out = []
            for key in keys:
                n = sum(evaluation.get(key, 0) for evaluation in earlier) + self._current.get(key, 0)
                out.append(key if n == 0 else (key, "again", n))
            for key in keys:
                self._current[key] = self._current.get(key, 0) + 1
            return out


def is_repeat(key) -> bool:
    return isinstance(key, tuple) and len(key) == 3 and key[1] == "again"
