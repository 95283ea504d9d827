"""tools/tiny_wan/same_weights.py: two weight files count as the same when their tensors are, bit for
bit, whatever their safetensors metadata (train.py stores timings there, so reproduced weights never
have the same file hash)."""
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "tiny_wan"))

import same_weights  # noqa: E402

TOOL = same_weights.__file__


def tensors():
    g = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(4, 3, generator=g), "b.bias": torch.randn(3, generator=g)}


def test_equal_tensors_have_no_differences():
    assert same_weights.differences(tensors(), tensors()) == []


def test_each_kind_of_difference_is_named():
    other = tensors()
    other["a.weight"][1, 2] += 1e-6
    other["b.bias"] = other["b.bias"].half()
    other["c.extra"] = torch.zeros(1)
    diff = same_weights.differences(tensors(), other)
    assert diff[0] == "only in the second: c.extra"
    assert diff[1].startswith("a.weight: values differ (largest gap 9.5")
    assert diff[2] == "b.bias: (3,) torch.float32 against (3,) torch.float16"
    del other["c.extra"]
    assert same_weights.differences(other, tensors())[0].startswith("a.weight")


def test_the_command_ignores_metadata_and_fails_on_a_changed_value(tmp_path):
    first, second, third = (tmp_path / f"{n}.safetensors" for n in ("first", "second", "third"))
    save_file(tensors(), str(first), metadata={"train_seconds": "488.2"})
    save_file(tensors(), str(second), metadata={"train_seconds": "501.0"})
    changed = tensors()
    changed["b.bias"][0] = 0.0
    save_file(changed, str(third))
    assert first.read_bytes() != second.read_bytes()
    same = subprocess.run([sys.executable, TOOL, str(first), str(second)], capture_output=True, text=True)
    assert same.returncode == 0 and "the same 2 tensors, bit for bit" in same.stdout, same.stdout + same.stderr
    differ = subprocess.run([sys.executable, TOOL, str(first), str(third)], capture_output=True, text=True)
    assert differ.returncode == 1 and "b.bias: values differ" in differ.stdout, differ.stdout + differ.stderr


def test_a_file_that_is_not_safetensors_is_named(tmp_path):
    good, bad = tmp_path / "good.safetensors", tmp_path / "checkpoint.pt"
    save_file(tensors(), str(good))
    bad.write_bytes(b"not a safetensors file at all")
    run = subprocess.run([sys.executable, TOOL, str(good), str(bad)], capture_output=True, text=True)
    assert run.returncode == 2 and f"{bad}: not a readable safetensors file" in run.stderr, run.stderr
    missing = subprocess.run([sys.executable, TOOL, str(tmp_path / "none.safetensors"), str(good)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "none.safetensors: not a readable safetensors file" in missing.stderr
