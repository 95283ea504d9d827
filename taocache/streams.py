"""A model input or output made of one or more latent streams, taken apart and put back the same way.

Most DiTs take and return one tensor. Models with several latents (LTX-2 audio-video: `[video,
audio]`; MiniMax H3: `[video, audio]`; TripoSplat and LTXV without audio: `[video]`) pass a list of
tensors and may return a list, or only the video tensor. The cache keeps one history per stream, so
it needs the streams as separate tensors and must hand back exactly the structure the caller gets
from the model. Nothing here modifies the caller's list or tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


class StreamError(ValueError):
    """A value the cache cannot take apart into batched streams; the message says why."""


@dataclass(frozen=True)
class Form:
    """How streams were packed: a bare tensor, or a list/tuple of `count` tensors."""
    container: str  # "tensor", "list" or "tuple"
    count: int

    def pack(self, tensors: Sequence[torch.Tensor]):
        if len(tensors) != self.count:
            raise StreamError(f"{len(tensors)} streams for a form of {self.count}")
        if self.container == "tensor":
            return tensors[0]
        return list(tensors) if self.container == "list" else tuple(tensors)


TENSOR = Form("tensor", 1)


def split_streams(value, what: str = "model input") -> tuple[list[torch.Tensor], Form]:
    """The tensors of `value` (a tensor, or a flat list/tuple of tensors sharing the batch size on
    dim 0) and its form. Raises StreamError for anything else (nested lists, non-tensors, empty
    lists, streams with different batch sizes, zero-dimensional tensors), naming `value` as `what`."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            raise StreamError(f"the {what} is a 0-dimensional tensor (no batch dimension)")
        return [value], TENSOR
    if not isinstance(value, (list, tuple)):
        raise StreamError(f"the {what} is a {type(value).__name__}, not a tensor or a list of tensors")
    if not value:
        raise StreamError(f"the {what} is an empty list")
    for i, item in enumerate(value):
        if not isinstance(item, torch.Tensor):
            raise StreamError(f"stream {i} of the {what} is a {type(item).__name__}, not a tensor")
        if item.ndim == 0:
            raise StreamError(f"stream {i} of the {what} has no batch dimension")
    batches = [int(item.shape[0]) for item in value]
    if len(set(batches)) != 1:
        raise StreamError(f"the streams of the {what} have different batch sizes {batches}")
    return list(value), Form("list" if isinstance(value, list) else "tuple", len(value))


def stream_keys(keys: list, streams: int) -> list:
    """One history key per branch and stream, stream by stream (the order `chunks_by_stream` gives);
    a single stream keeps the plain branch keys."""
    if streams == 1:
        return keys
    return [(key, "stream", s) for s in range(streams) for key in keys]


def chunks_by_stream(tensors: Sequence[torch.Tensor], branches: int) -> list[torch.Tensor]:
    """Each stream's batch cut into its branches, stream by stream (the order of `stream_keys`)."""
    return [chunk for tensor in tensors for chunk in tensor.chunk(branches, dim=0)]


def batch_size(tensors: Sequence[torch.Tensor]) -> int:
    return int(tensors[0].shape[0])
