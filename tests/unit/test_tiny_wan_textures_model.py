"""The second committed tiny model (models/tiny_wan21_t2v_textures.safetensors) loads through
ComfyUI's real loader as WAN21_T2V with every key used, and samples videos that show what their
prompt names: both object colours, the texture kind and its scale, the way the objects move, and the
pan direction.

As test_tiny_wan_model.py: ComfyUI comes from $COMFYUI_DIR or <repo>/.runtime/ComfyUI and is
imported in a child process; without it these tests fail, they are never skipped.
"""
import json
import os

import pytest

from comfy_child import REPO, run_child

MODEL = os.path.join(REPO, "models", "tiny_wan21_t2v_textures.safetensors")
N_PAIRS = 16         # check_learned.default_pairs(16, 3000): every texture, scale and direction four times or more
STEPS = 12
# What the committed model learned (models/tiny_wan21_t2v_textures_check.json, 24 pairs at 25 steps,
# prompted as trained: scale 100%, both object colours 100%, texture kind 58%, objects displaced the
# named way 83%, pan 12%): the texture scale, the object colours and the texture kind above chance
# (chance: 1/2, about 1/15 and 1/4), and its objects' colour regions shifted from the first frame to
# the last by a trained-speed distance (textures.objects_displaced, judged at
# check_learned.model_track_speed: 3-5 px a frame for its 4) and the way the prompt names
# (objects_displaced_heading; the ground truth through the latent: 94% on the same 24 pairs); set
# here below what this 16-pair, 12-step sample gave (scale 16/16, colours 15/16, kind 10/16,
# displaced 13/16, the named way 13/16; at 8 pairs the named way came to 5.5/8, too close to a bar
# of 5/8, so the sample was doubled, about 2 s more).
# It did NOT learn the pan direction (0 of 16 here; README "The second tiny model"): a strict xfail,
# so it fails the suite (XPASS) once a retrained model learns it and the bar must be set.
# Nor do its objects follow straight tracks: textures.objects_moving, which also asks the colour
# centroids to stay within 1.5 px of a straight line, gives 27% on 24 pairs (median residual
# 1.77 px; the ground truth 94%, residual 0.08 px): they move the named way, but not steadily.
# A strict xfail too.
MIN = {"colours": 5 / 8, "direction": 5 / 8, "texture": 3 / 8, "scale": 6 / 8, "objects_moving": 0.5,
       "objects_displaced": 5 / 8, "objects_displaced_heading": 5 / 8}
NOT_LEARNED = {"direction", "objects_moving"}

CHILD = """
    import check_learned, kinds, sample, textures
    kind = kinds.kind_of(MODEL)
    patched = sample.load_model(MODEL)
    base = patched.model
    # prompted as the model was trained (named object motion, word positions), read from its metadata,
    # and its objects' motion judged at the speed it was trained at
    textures.TRACK_SPEED = check_learned.model_track_speed(MODEL)
    pairs = check_learned.default_pairs(N_PAIRS, 3000, textures, check_learned.model_names_motion(MODEL))
    prompts, seeds = [p for p, _ in pairs], [s for _, s in pairs]
    t0 = time.time()
    videos = check_learned.sample_as_trained(patched, MODEL, prompts, seeds, STEPS, sample.CFG, kind.frames,
                                             kind.size, kind.codec)
    sample_s = time.time() - t0
    v = textures.judge(videos, prompts)
    print("RESULT" + json.dumps({
        "kind": kind.name, "model_base": type(base).__name__, "model_config": type(base.model_config).__name__,
        "unet_config": {k: v for k, v in base.model_config.unet_config.items() if isinstance(v, (int, float, str))},
        "warnings": [r for r in records if "unet" in r], "prompts": prompts,
        "verdict": {k: v[k].tolist() for k in ("colours", "direction", "texture", "scale", "objects_moving",
                                                          "objects_displaced", "objects_displaced_heading")},
        "video_shape": list(videos.shape), "sample_s": sample_s}))
"""


@pytest.fixture(scope="module")
def child_result():
    return run_child(CHILD, MODEL, threads=2, N_PAIRS=N_PAIRS, STEPS=STEPS)


def test_model_file_fits_and_records_its_training():
    assert os.path.getsize(MODEL) <= 50 * 2 ** 20
    with open(MODEL.replace(".safetensors", ".json")) as f:
        meta = json.load(f)
    assert meta["config"]["dataset"] == "textures" and meta["config"]["seed"] == 0
    assert meta["steps_done"] == meta["config"]["steps"], "the committed weights finished their schedule"
    assert meta["video"] == {"frames": 8, "size": 64, "latent": [16, 8, 16, 16]}


def test_loads_as_wan21_t2v_with_every_key(child_result):
    r = child_result
    assert r["kind"] == "textures"
    assert (r["model_base"], r["model_config"]) == ("WAN21", "WAN21_T2V")
    assert r["unet_config"]["dim"] == 128 and r["unet_config"]["num_layers"] == 4
    assert r["warnings"] == [], r["warnings"]
    assert r["video_shape"] == [N_PAIRS, 3, 8, 64, 64]


@pytest.mark.parametrize("attribute", [
    pytest.param(a, marks=pytest.mark.xfail(strict=True, reason="not learned by the committed textures model (issue 14)"))
    if a in NOT_LEARNED else a for a in sorted(MIN)])
def test_samples_show_what_the_prompt_names(child_result, attribute):
    got = child_result["verdict"][attribute]
    assert sum(got) / len(got) >= MIN[attribute], list(zip(child_result["prompts"], got))


def test_the_learned_check_samples_at_the_models_own_clip_length(tmp_path):
    """check_learned.model_video_spec: a textures model trained on shorter clips (train.py --frames 4)
    is judged at its own length, read from its metadata; a file without metadata gets the default."""
    import sys
    from comfy_child import TOOLS
    sys.path.insert(0, TOOLS)
    import check_learned
    from safetensors.torch import load_file, save_file
    assert check_learned.model_video_spec(MODEL, (5, 32)) == (8, 64)
    bare = tmp_path / "bare.safetensors"
    save_file({k: v for k, v in list(load_file(MODEL).items())[:2]}, str(bare))
    assert check_learned.model_video_spec(str(bare), (5, 32)) == (5, 32)


def test_the_judge_counts_motion_around_the_speed_the_model_was_trained_at():
    """check_learned.model_track_speed: the committed model was trained at 4 px a frame, so its
    objects count as moving at 3-5 px; without a recorded speed the data's 1-2 px gives the judge's
    default (0.5, 3.0), and a range is never below 0.5 px."""
    import sys
    from comfy_child import TOOLS
    sys.path.insert(0, TOOLS)
    import check_learned
    import textures
    assert check_learned.model_track_speed(MODEL) == (3.0, 5.0)
    assert check_learned.track_speed_around(None) == (0.5, 3.0) == textures.TRACK_SPEED
    assert check_learned.track_speed_around((1.0, 1.0)) == (0.5, 2.0)


ORDER_CHILD = """
    import data, pan_probe
    model, cfg = pan_probe.load(MODEL)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 4, 16, 16, generator=g)
    t = torch.full((1, 4), 700.0)
    prompts = ("red and blue over fine stripes panning left", "blue and red over fine stripes panning left",
               "red and green over fine stripes panning left")
    out = {}
    for ordered in (False, True):
        with torch.no_grad():
            y = [model(x, t, data.embed_prompt(p, ordered=ordered)[None]) for p in prompts]
        out[str(ordered)] = [float((y[1] - y[0]).norm() / y[0].norm()), float((y[2] - y[0]).norm() / y[0].norm())]
    print("RESULT" + json.dumps(out))
"""


def test_without_word_positions_the_model_cannot_tell_the_colours_order():
    """WanModel's cross-attention has no position on the text tokens, so with data.embed_prompt's
    plain word vectors "red and blue" and "blue and red" give the same output to float precision
    (which colour is the disc cannot be said), while another colour changes it; with
    embed_prompt(ordered=True) (train.py --ordered-prompt, as the committed model was trained) the
    order reaches the model."""
    res = run_child(ORDER_CHILD, MODEL, threads=2)
    swapped, other = res["False"]
    assert swapped < 1e-5 and other > 0.02, res
    assert res["True"][0] > 1e-3, res   # (this model was trained with them, train.py --ordered-prompt)
