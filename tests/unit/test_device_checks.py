"""tools/device_checks.sh, the prepared GPU script, dry-run on the CPU at tiny sizes (its parts have
their own tests: batches, pan_probe, realsize_timing): it must not rot while no GPU is lent."""
import os
import subprocess

import torch

from comfy_child import REPO


def test_dry_run_on_the_cpu_writes_every_result(tmp_path):
    import sys
    env = dict(os.environ, DEVICE="cpu", TRAIN_STEPS="1", WORKERS="1", TRAIN_ARGS="--batch 2", PROBES="0", FP16_OVER_MIB="0",
               TIMING_ARGS="--small --steps 8", OUT=str(tmp_path), PYTHON=sys.executable,
               COMFYUI_DIR=os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI"))
    proc = subprocess.run(["bash", os.path.join(REPO, "tools", "device_checks.sh")], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = (tmp_path / "summary.txt").read_text()
    assert "train exit 0" in summary and "timing exit 0" in summary, summary
    assert (tmp_path / "textures_gpu.safetensors").exists() and (tmp_path / "realsize_timing.json").exists()
    assert not (tmp_path / "textures_gpu_resume.pt").exists()        # too large to come back: removed
    from safetensors.torch import load_file                           # over FP16_OVER_MIB: back as float16
    weights = load_file(str(tmp_path / "textures_gpu.safetensors"))
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
