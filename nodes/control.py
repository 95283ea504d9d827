"""A ControlNet's output computed only for the model calls that are computed.

ComfyUI runs a ControlNet in calc_cond_batch, just before the model call it feeds (`c['control'] =
control.get_control(...)`, comfy/samplers.py `_calc_cond_batch` in 0.3.75 and in the newest, 0.38.1),
where no wrapper of the model reaches. So a call TaoCache skips would still pay for its ControlNet. The
CALC_COND_BATCH wrapper hands calc_cond_batch the conditioning with each ControlNet that has ComfyUI's
own get_control (`deferrable`) behind a `DeferredControl`: when its get_control is called, the call's
transformer_options already carry its branches and noise level, so it asks the run whether that call
will be skipped (`TaoCacheRun.would_skip`, which changes nothing). If not, the ControlNet runs there, as
without TaoCache. If so, the model call gets a `PendingControl` in its place, which runs the ControlNet
only if the call is computed after all: the caching wrappers resolve it before they compute
(`resolve_control`), so the model never sees it. Either way a computed call gets the ControlNet output
it would have had, with the inputs of the moment get_control was called. [ours]
"""
from __future__ import annotations

from typing import Optional

import torch


class PendingControl:
    """The ControlNet output of one model call, computed on first use (at most once)."""

    def __init__(self, compute):
        self._compute = compute
        self._resolved = False
        self._value = None
        self._empty = None

    @property
    def resolved(self) -> bool:
        return self._resolved

    @torch.compiler.disable
    def resolve(self):
        """The output get_control would have returned: a dict of tensors, or None."""
        if not self._resolved:
            self._value = self._compute()
            self._resolved, self._compute = True, None
        return self._value

    def _mapping(self) -> dict:
        """Read directly (only a wrapper between ours and the model could let a PendingControl through):
        the output, or for a ControlNet that returned None (outside its timestep range) lists that a
        model's "is there a control for this block" checks find empty."""
        value = self.resolve()
        if value is None:
            if self._empty is None:
                self._empty = {"input": [], "middle": [], "output": []}
            return self._empty
        return value

    # read as the dict a model expects (control.get("input"), "middle" in control, control["output"])
    def get(self, key, default=None):
        return self._mapping().get(key, default)

    def __getitem__(self, key):
        return self._mapping()[key]

    def __contains__(self, key) -> bool:
        return key in self._mapping()

    def __iter__(self):
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def keys(self):
        return self._mapping().keys()

    def items(self):
        return self._mapping().items()

    def values(self):
        return self._mapping().values()


class DeferredControl:
    """A ControlNet (comfy.controlnet.ControlBase) whose get_control first asks
    `would_skip(transformer_options, x_noisy)` whether the call it feeds will be skipped. Everything
    else is the ControlNet's own."""

    def __init__(self, control, would_skip):
        object.__setattr__(self, "_control", control)
        object.__setattr__(self, "_would_skip", would_skip)

    def get_control(self, x_noisy, t, cond, batched_number, transformer_options, *args, **kwargs):
        control = self._control
        if not self._would_skip(transformer_options, x_noisy):
            return control.get_control(x_noisy, t, cond, batched_number, transformer_options, *args, **kwargs)
        # the two dicts as they are now: calc_cond_batch adds the output to `cond`, and the model's
        # forward writes into transformer_options (block_index) before it would read the output
        cond = dict(cond)
        if isinstance(transformer_options, dict):
            transformer_options = dict(transformer_options)
        return PendingControl(lambda: control.get_control(x_noisy, t, cond, batched_number, transformer_options,
                                                          *args, **kwargs))

    def __getattr__(self, name):
        if name in ("_control", "_would_skip") or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)  # not set yet (copy.copy makes the object first), or Python's own
        value = getattr(self._control, name)
        if name == "get_instance_for_device":
            # the newest ComfyUI's multi-GPU split (comfy/samplers.py _calc_cond_batch_multigpu, 0.38.1)
            # asks for the device's own copy of the ControlNet, then calls get_control on the device's
            # thread: that copy behind a DeferredControl too (0.3.75's ControlBase has no such method)
            return lambda device: DeferredControl(value(device), self._would_skip)
        return value

    def __setattr__(self, name, value):
        setattr(self._control, name, value)


def deferrable(control) -> bool:
    """Whether this ControlNet, and every one chained before it (previous_controlnet), has ComfyUI's own
    get_control (comfy.controlnet: ControlNet, ControlLora, T2IAdapter), which computes a call's
    output from that call's inputs alone, so leaving out the calls that are skipped changes nothing
    for the others. Another pack's may count the calls it sees: Advanced-ControlNet's timestep
    keyframes with guarantee_usage move on by at most one keyframe per get_control call. Those run as
    before, for every call."""
    for _ in range(64):  # a chain longer than this is not one anybody built by hand
        if control is None:
            return True
        if getattr(getattr(control, "get_control", None), "__module__", None) != "comfy.controlnet":
            return False
        control = getattr(control, "previous_controlnet", None)
    return False


def with_deferred_controls(conds, would_skip):
    """calc_cond_batch's conds (a list per branch of conditioning dicts, or None) with each deferrable
    'control' behind a DeferredControl: one per ControlNet, so entries that shared one still share one
    (calc_cond_batch batches entries together only when their control is the same object). The dicts
    are copies; `conds` itself is left as it was. Returns `conds` unchanged when no entry has a
    ControlNet."""
    if not isinstance(conds, (list, tuple)) or not any(
            isinstance(entry, dict) and entry.get("control") is not None
            for branch in conds if isinstance(branch, (list, tuple)) for entry in branch):
        return conds
    deferred: dict = {}

    def wrapped(entry):
        control = entry.get("control") if isinstance(entry, dict) else None
        if control is None or isinstance(control, DeferredControl) or not deferrable(control):
            return entry
        if id(control) not in deferred:
            deferred[id(control)] = DeferredControl(control, would_skip)
        return {**entry, "control": deferred[id(control)]}

    return [[wrapped(entry) for entry in branch] if isinstance(branch, (list, tuple)) else branch
            for branch in conds]


def resolve_control(args: tuple, kwargs: dict, position: Optional[int]) -> tuple:
    """(args, kwargs) of a model call with a PendingControl (at args[position], or kwargs["control"])
    replaced by the ControlNet output it stands for, computed now: the call is being computed."""
    if "control" in kwargs and isinstance(kwargs["control"], PendingControl):
        kwargs = {**kwargs, "control": kwargs["control"].resolve()}
    if position is not None and len(args) > position and isinstance(args[position], PendingControl):
        args = (*args[:position], args[position].resolve(), *args[position + 1:])
    return args, kwargs


def is_pending(control) -> bool:
    """A ControlNet output not computed (yet): the call it feeds was expected to be skipped."""
    return isinstance(control, PendingControl) and not control.resolved
