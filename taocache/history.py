"""Per-branch record of computed model outputs: the last output and the last two deltas between
computed outputs, each with the number of steps it spans. Predicted outputs are never recorded."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class Delta:
    value: torch.Tensor  # y_later - y_earlier between two computed outputs
    span: float  # steps between them (fractional for mid-step calls)


class BranchHistory:
    """What one conditioning branch (positive / negative prompt, per context window) has computed."""

    def __init__(self):
        self.last: Optional[torch.Tensor] = None
        self.last_position: Optional[float] = None
        self.delta: Optional[Delta] = None  # most recent
        self.previous_delta: Optional[Delta] = None
        self.computed = 0

    @property
    def ready(self) -> bool:
        """Two deltas, i.e. three computed outputs, are needed before anything can be predicted."""
        return self.previous_delta is not None

    @property
    def nbytes(self) -> int:
        """Memory the history holds: the last output (model dtype) and up to two float32 deltas."""
        tensors = [self.last] + [d.value for d in (self.delta, self.previous_delta) if d is not None]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def record(self, output: torch.Tensor, position: float) -> None:
        output = output.detach().clone()  # our own copy: the caller may change its tensor in place
        if self.last is not None and (self.last.shape != output.shape or self.last.device != output.device):
            self.clear()  # a different latent (new resolution, batch) cannot continue this history
        if self.last is not None:
            span = position - self.last_position
            if span > 1e-6:
                self.previous_delta = self.delta
                self.delta = Delta(output.float() - self.last.float(), span)
            # span <= 0: a second call at the same noise level (e.g. a sampler re-evaluating);
            # keep the deltas, take the newer output as the base
        self.last = output
        self.last_position = position
        self.computed += 1

    def clear(self) -> None:
        self.last = self.last_position = self.delta = self.previous_delta = None
