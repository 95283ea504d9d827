"""nodes/control.py on its own: a ControlNet behind a DeferredControl runs at once for a call the run
expects to compute, and only when read for one it expects to skip. The real ControlNet, samplers and
model are in tests/comfy/test_image_dits.py; here a recorder with ComfyUI's get_control signature
stands in for it. (Loaded from its file: a package named `nodes` would shadow ComfyUI's own module in
a worker that later runs ComfyUI in process.)"""
import copy
import importlib.util
from pathlib import Path

import torch

_spec = importlib.util.spec_from_file_location(
    "taocache_nodes_control", Path(__file__).resolve().parents[2] / "nodes" / "control.py")
control = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(control)


class Recorder:
    """get_control(x_noisy, t, cond, batched_number, transformer_options), as comfy.controlnet's."""

    def __init__(self, output="tensors"):
        self.calls = []
        self.output = output
        self.strength = 1.0

    def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
        self.calls.append((cond, transformer_options))
        if self.output is None:
            return None
        return {"input": [x_noisy * 2.0], "middle": [], "output": [x_noisy + 1.0]}


Recorder.get_control.__module__ = "comfy.controlnet"  # it stands in for ComfyUI's own (control.deferrable)


class OtherPacks(Recorder):
    """A ControlNet whose get_control is another pack's (as Advanced-ControlNet's, which counts calls)."""

    def get_control(self, *args):
        return super().get_control(*args)


def test_every_entry_that_shared_a_controlnet_shares_one_stand_in_and_the_conds_stay_as_they_were():
    a, b = Recorder(), Recorder()
    conds = [[{"uuid": 1, "control": a}, {"uuid": 2, "control": b}], [{"uuid": 3, "control": a}], None]
    wrapped = control.with_deferred_controls(conds, lambda options, x: False)
    assert conds[0][0]["control"] is a and conds[1][0]["control"] is a, "the caller's dicts are unchanged"
    stand_ins = [wrapped[0][0]["control"], wrapped[0][1]["control"], wrapped[1][0]["control"]]
    assert stand_ins[0] is stand_ins[2] and stand_ins[0] is not stand_ins[1]
    assert all(isinstance(s, control.DeferredControl) for s in stand_ins) and wrapped[2] is None
    assert stand_ins[0].strength == 1.0, "everything else is the ControlNet's own"
    plain = [[{"uuid": 1}], None]
    assert control.with_deferred_controls(plain, lambda options, x: True) is plain


def test_only_controlnets_with_comfyuis_own_get_control_down_the_chain_are_deferred():
    chained, other, chained_to_other = Recorder(), OtherPacks(), Recorder()
    chained.previous_controlnet = Recorder()
    chained_to_other.previous_controlnet = other
    assert control.deferrable(chained) and not control.deferrable(other)
    assert not control.deferrable(chained_to_other)
    wrapped = control.with_deferred_controls([[{"control": chained}, {"control": other},
                                               {"control": chained_to_other}]], lambda options, x: True)
    assert [type(entry["control"]) for entry in wrapped[0]] == [control.DeferredControl, OtherPacks, Recorder]


def test_expected_to_compute_runs_now_expected_to_skip_runs_only_when_read_and_once():
    recorder = Recorder()
    x = torch.ones(2, 3)
    answers = iter([False, True, True])
    deferred = control.DeferredControl(recorder, lambda options, model_input: next(answers))
    options = {"sigmas": torch.tensor([0.5]), "block_index": None}
    now = deferred.get_control(x, None, {"c": 1}, 2, options)
    assert len(recorder.calls) == 1 and torch.equal(now["input"][0], x * 2.0)

    pending = deferred.get_control(x, None, {"c": 1}, 2, options)
    assert isinstance(pending, control.PendingControl) and not recorder.calls[1:]
    assert control.is_pending(pending)
    options["block_index"] = 7  # the model's forward writes into its options before it reads the output
    args, kwargs = control.resolve_control((x, None, None, None, pending), {}, 4)
    assert torch.equal(args[4]["output"][0], x + 1.0) and len(recorder.calls) == 2
    assert recorder.calls[1][1]["block_index"] is None, "the options as they were when get_control was called"
    assert control.resolve_control((x,), {"control": pending}, None)[1]["control"] is args[4]
    assert len(recorder.calls) == 2 and not control.is_pending(pending), "computed once"

    never_read = deferred.get_control(x, None, {"c": 1}, 2, options)
    del never_read
    assert len(recorder.calls) == 2, "a skipped call never runs its ControlNet"


def test_a_controlnet_outside_its_range_reads_as_no_control_and_resolves_to_none():
    pending = control.DeferredControl(Recorder(output=None), lambda options, x: True).get_control(
        torch.ones(1), None, {}, 1, {})
    assert pending.get("input") == [] and "middle" in pending and len(pending["output"]) == 0
    assert control.resolve_control((None,) * 5 + (pending,), {}, 5)[0][5] is None


def test_the_device_copy_the_newest_multi_gpu_split_asks_for_is_deferred_too():
    """comfy/samplers.py _calc_cond_batch_multigpu (0.38.1) calls control.get_instance_for_device(device)
    and then get_control on the copy; 0.3.75's ControlBase has no such method, and neither then has
    the stand-in."""
    class WithDevices(Recorder):
        def __init__(self):
            super().__init__()
            self.clones = {"cuda:1": Recorder()}

        def get_instance_for_device(self, device):
            return self.clones.get(device, self)

    real = WithDevices()
    deferred = control.DeferredControl(real, lambda options, x: True)
    copy = deferred.get_instance_for_device("cuda:1")
    assert isinstance(copy, control.DeferredControl) and copy._control is real.clones["cuda:1"]
    pending = copy.get_control(torch.ones(1), None, {}, 1, {})
    assert isinstance(pending, control.PendingControl) and not real.clones["cuda:1"].calls
    assert not hasattr(control.DeferredControl(Recorder(), lambda options, x: True), "get_instance_for_device")


def test_a_stand_in_can_be_copied():
    """copy.copy and copy.deepcopy build the object before its attributes are set, and ask for Python's
    own methods (__setstate__, __deepcopy__): the stand-in must not forward those to a ControlNet it
    does not have yet."""
    deferred = control.DeferredControl(Recorder(), lambda options, x: False)
    shallow, deep = copy.copy(deferred), copy.deepcopy(deferred)
    assert shallow._control is deferred._control and deep._control is not deferred._control
    assert deep.get_control(torch.ones(1), None, {}, 1, {})["output"][0].item() == 2.0
