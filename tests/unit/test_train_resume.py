"""tools/tiny_wan/train.py can stop on --max-minutes and continue with --resume to the same weights as
an uninterrupted run (same config, same threads), and refuses a checkpoint of another config.
Runs train.py in child processes (ComfyUI's WanModel is imported there), on a one-layer textures
model for a few steps."""
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRAIN = os.path.join(REPO, "tools", "tiny_wan", "train.py")
SMALL = ["--dataset", "textures", "--dim", "128", "--ffn", "256", "--layers", "1", "--batch", "2",
         "--steps", "4", "--log-every", "1", "--threads", "1"]


def train(out, *extra):
    comfy = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    proc = subprocess.run([sys.executable, TRAIN, *SMALL, "--out", str(out), *extra], capture_output=True, text=True,
                          env=dict(os.environ, COMFYUI_DIR=comfy), timeout=300)
    return proc


def weights(path):
    from safetensors.torch import load_file
    return load_file(str(path))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    full = train(d / "full.safetensors")
    assert full.returncode == 0, full.stderr[-3000:]
    # --max-minutes 1e-6 stops after the first step and writes the resumable checkpoint
    stopped = train(d / "split.safetensors", "--max-minutes", "0.000001")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    resumed = train(d / "split.safetensors", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return d, full, stopped, resumed


def test_stop_says_how_to_continue(runs):
    _, _, stopped, resumed = runs
    assert "stopped at step 1 of 4" in stopped.stdout and "--resume" in stopped.stdout
    assert "resumed from" in resumed.stdout and "at step 1" in resumed.stdout


def test_resumed_weights_equal_the_uninterrupted_run(runs):
    d, _, _, _ = runs
    a, b = weights(d / "full.safetensors"), weights(d / "split.safetensors")
    assert a.keys() == b.keys()
    assert all(bool((a[k] == b[k]).all()) for k in a), "resuming changed the weights"


def test_a_checkpoint_of_another_config_is_refused(runs):
    d, _, _, _ = runs
    other = subprocess.run([sys.executable, TRAIN, *SMALL[:-6], "--steps", "5", "--log-every", "1", "--threads", "1",
                            "--out", str(d / "split.safetensors"), "--resume"], capture_output=True, text=True,
                           timeout=300)
    assert other.returncode != 0 and "written with another config" in other.stderr + other.stdout
