"""tools/tiny_wan/batches.py: per-step batches are the same whichever process draws them, so a
training run with data workers (a GPU machine's cores) and a resumed one reach the weights of a plain
run; the single stream stays what the committed models were trained on."""
import os
import subprocess
import sys

import pytest
import torch

from comfy_child import REPO, TOOLS

sys.path.insert(0, TOOLS)
import batches  # noqa: E402
import train  # noqa: E402

CFG = {**train.DEFAULTS, **train.TEXTURES, "batch": 2}


def test_a_per_step_batch_is_the_same_in_a_worker_and_differs_between_steps():
    cfg = dict(CFG, per_step_data=True)
    table = train.dataset(cfg)[0].prompt_table()
    here = batches.BatchStream(cfg, None, table, workers=0, first_step=3, last_step=5)
    pooled = batches.BatchStream(cfg, None, table, workers=2, first_step=3, last_step=5)
    try:
        for step in (3, 4):
            a, b = here.get(step), pooled.get(step)
            assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(a, b)), step
        assert not torch.allclose(batches.draw(cfg, 3)[0], batches.draw(cfg, 4)[0])
        with pytest.raises(ValueError, match="step 6 asked, step 5 expected"):
            here.get(6)
    finally:
        pooled.close()


def test_the_single_stream_is_unchanged_and_workers_need_per_step_data():
    table = train.dataset(CFG)[0].prompt_table()
    stream = batches.BatchStream(CFG, torch.Generator().manual_seed(1), table)
    gen = torch.Generator().manual_seed(1)
    for step in range(2):
        assert all(torch.equal(x, y) for x, y in zip(stream.get(step), train.make_batch(CFG, gen, table)))
    with pytest.raises(ValueError, match="per_step_data"):
        batches.BatchStream(CFG, None, table, workers=2)


SMALL = ["--dataset", "textures", "--dim", "128", "--ffn", "256", "--layers", "1", "--batch", "2",
         "--steps", "4", "--log-every", "1", "--threads", "1", "--per-step-data"]


def run_train(out, *extra):
    comfy = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "train.py"), *SMALL, "--out", str(out), *extra],
                          capture_output=True, text=True, env=dict(os.environ, COMFYUI_DIR=comfy), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from safetensors.torch import load_file
    return load_file(str(out))


def test_workers_and_a_resume_reach_the_plain_runs_weights(tmp_path):
    plain = run_train(tmp_path / "plain.safetensors")
    pooled = run_train(tmp_path / "pooled.safetensors", "--data-workers", "2")
    run_train(tmp_path / "split.safetensors", "--data-workers", "2", "--max-minutes", "0.000001")
    resumed = run_train(tmp_path / "split.safetensors", "--data-workers", "2", "--resume")
    for other in (pooled, resumed):
        assert all(torch.allclose(plain[k], other[k], atol=1e-6) for k in plain)
