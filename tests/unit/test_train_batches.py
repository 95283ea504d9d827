"""tools/tiny_wan/batches.py: per-step batches are the same whichever process draws them, so a
training run with data workers (a GPU machine's cores) and a resumed one reach the weights of a plain
run; the single stream stays what the committed models were trained on."""
import os
import subprocess
import sys

import pytest
import torch

from comfy_child import REPO, TOOLS
from helpers import SLOW

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


@SLOW
def test_workers_and_a_resume_reach_the_plain_runs_weights(tmp_path):
    plain = run_train(tmp_path / "plain.safetensors")
    pooled = run_train(tmp_path / "pooled.safetensors", "--data-workers", "2")
    run_train(tmp_path / "split.safetensors", "--data-workers", "2", "--max-minutes", "0.000001")
    resumed = run_train(tmp_path / "split.safetensors", "--data-workers", "2", "--resume")
    for other in (pooled, resumed):
        assert all(torch.allclose(plain[k], other[k], atol=1e-6) for k in plain)


def test_object_weight_covers_the_objects_blocks_and_their_neighbours_only():
    """train.object_loss_weight: 1 + w on latent pixels at or next to an object, 1 elsewhere; a
    batch gets it as a fifth item only with object_weight, so the plain batches stay 4 items."""
    alpha = torch.zeros(1, 2, 2, 64, 64)
    alpha[0, 0, 0, 20:24, 40:44] = 1.0            # one 4x4 block: latent pixel (5, 10), frame 0
    alpha[0, 1, 1, 0:2, 0:2] = 0.5                # a corner, frame 1 (the other object)
    w = train.object_loss_weight(alpha, 4.0, 4)
    assert w.shape == (1, 1, 2, 16, 16)
    on = torch.zeros(2, 16, 16, dtype=torch.bool)
    on[0, 4:7, 9:12] = True
    on[1, 0:2, 0:2] = True
    assert torch.equal(w[0, 0] > 1, on)
    assert set(w.unique().tolist()) == {1.0, 5.0}
    cfg = dict(CFG, object_weight=4.0)
    table = train.dataset(cfg)[0].prompt_table()
    batch = train.make_batch(cfg, torch.Generator().manual_seed(2), table)
    plain = train.make_batch(CFG, torch.Generator().manual_seed(2), table)
    assert len(batch) == 5 and len(plain) == 4
    assert all(torch.equal(x, y) for x, y in zip(batch[:4], plain))   # the weight draws nothing from the stream
    covered = (batch[4] > 1).float().mean().item()
    assert 0.05 < covered < 0.5, covered
    err = torch.ones_like(batch[3])
    assert torch.allclose(train.batch_loss(err, torch.zeros_like(err), batch[4]), batch[4].mean(dim=(1, 2, 3, 4)))


@pytest.mark.parametrize("dataset, weight, message", [("textures", "-1", "must be in"), ("textures", "101", "must be in"),
                                                     ("shapes", "2", "only the textures")])
def test_object_weight_outside_its_range_or_on_the_shapes_data_is_refused(dataset, weight, message):
    with pytest.raises(SystemExit, match=message):
        train.main(["--dataset", dataset, "--object-weight", weight, "--steps", "1"])


def test_object_loss_share_matches_the_area_when_the_error_is_uniform():
    """train.object_loss_share (in --diagnose): with an error that is the same on every latent pixel
    the objects' region holds exactly its area of the loss; with a plain error it is a fraction."""
    cfg = dict(CFG)
    huge = train.object_loss_share(lambda x, t, c: torch.full_like(x, 1e4), cfg, n=6, sigmas=(0.5,))["0.5"]
    assert 0.05 < huge["area"] < 0.5
    assert huge["loss_share"] == pytest.approx(huge["area"], abs=0.002)
    zero = train.object_loss_share(lambda x, t, c: torch.zeros_like(x), cfg, n=6, sigmas=(0.5,))["0.5"]
    assert zero["area"] == huge["area"] and 0 < zero["loss_share"] < 1


def test_known_prefix_frames_are_a_leading_run_of_two_or_more_and_off_by_default():
    """train.mix_frame_levels(known_prefix_frac=1): every mixed video's known frames (sigma < 0.8)
    are its first k, 2 <= k <= T-1, so the rest is a continuation of the motion they show; at the
    default 0 the draws are the committed models' (no extra random numbers)."""
    b, t = 256, 8
    sigma = torch.full((b, t), 0.5)
    levels = train.mix_frame_levels(sigma, torch.Generator().manual_seed(0), 1.0, 0.5, known_prefix_frac=1.0)
    known = levels < 0.8
    k = known.sum(dim=1)
    assert bool(((k >= 2) & (k <= t - 1)).all()), k
    assert bool((known == (torch.arange(t)[None, :] < k[:, None])).all())  # a prefix, nothing after it
    assert len(set(k.tolist())) == t - 2  # every length from 2 to T-1 drawn
    plain = train.mix_frame_levels(sigma, torch.Generator().manual_seed(0), 1.0, 0.5)
    off = train.mix_frame_levels(sigma, torch.Generator().manual_seed(0), 1.0, 0.5, known_prefix_frac=0.0)
    assert torch.equal(plain, off)
    assert not bool(((plain < 0.8) == (torch.arange(t)[None, :] < (plain < 0.8).sum(dim=1)[:, None])).all())


def test_named_object_motion_draws_named_prompts_and_is_refused_off_textures():
    """train.py --named-object-motion: batches come from the named-motion prompt set (their contexts
    are its embeddings); the flag is recorded only when given, so the committed configs still resume."""
    cfg = dict(CFG, named_object_motion=True)
    assert train.prompt_count(cfg) == 4 * train.prompt_count(CFG)
    table = train.prompt_table(cfg)
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(0, train.prompt_count(cfg), (cfg["batch"],), generator=torch.Generator().manual_seed(2))
    _, _, ctx, _ = train.make_batch(cfg, gen, table)
    dropped = ctx.abs().sum(dim=(1, 2)) == 0            # (cond_drop zeroes a few contexts)
    assert torch.equal(ctx[~dropped], table[ids][~dropped])
    assert "named_object_motion" not in CFG
    with pytest.raises(SystemExit, match="only the textures"):
        train.main(["--dataset", "shapes", "--named-object-motion", "--steps", "1"])
    with pytest.raises(SystemExit, match="pick one"):
        train.main(["--dataset", "textures", "--named-object-motion", "--only-direction", "left", "--steps", "1"])


@pytest.mark.parametrize("flags, message", [(["--motion-tint", "0.05"], "needs --named-object-motion"),
                                            (["--named-object-motion", "--motion-tint", "0.1"], "differ from"),
                                            (["--named-object-motion", "--motion-tint", "0.5"], "must be in")])
def test_motion_tint_needs_named_motion_and_a_tint_of_its_own(flags, message):
    with pytest.raises(SystemExit, match=message):
        train.main(["--dataset", "textures", *flags, "--steps", "1"])
