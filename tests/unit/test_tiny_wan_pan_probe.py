"""tools/tiny_wan/pan_probe.py: the teacher-forced pan and object scores, on plain tensors and on
the committed textures model (docs/textures_model.md: it denoises a visible pan but does not
extrapolate the named one from a single known frame; its objects it does move on the named way)."""
import os
import sys

import pytest
import torch

from comfy_child import REPO, TOOLS, run_child

sys.path.insert(0, TOOLS)
import pan_probe  # noqa: E402

MODEL = os.path.join(REPO, "models", "tiny_wan21_t2v_textures.safetensors")


def test_direction_score_places_an_estimate_between_the_two_pans():
    gen = torch.Generator().manual_seed(0)
    first = torch.randn(2, 16, 1, 4, 4, generator=gen)
    named = torch.cat([first, torch.randn(2, 16, 3, 4, 4, generator=gen)], dim=2)
    away = torch.cat([first, torch.randn(2, 16, 3, 4, 4, generator=gen)], dim=2)
    assert pan_probe.direction_score(named, named, away) == pytest.approx(1.0)
    assert pan_probe.direction_score(away, named, away) == pytest.approx(-1.0)
    assert pan_probe.direction_score((named + away) / 2, named, away) == pytest.approx(0.0, abs=1e-6)
    static = first.expand_as(named)          # a copy of the first frame: no more one pan than the other
    assert abs(pan_probe.direction_score(static, named, away)) < 0.5
    with pytest.raises(ValueError, match="identical"):
        pan_probe.direction_score(named, named, named)
    assert [pan_probe.opposite(d) for d in range(4)] == [1, 0, 3, 2]   # right-left, down-up


CHILD = """
    import pan_probe
    model, cfg = pan_probe.load(MODEL)
    cfg = dict(cfg, direction_tint=0.0)
    out = pan_probe.pan_extrapolation(model, cfg, videos=4, levels=(0.6, 1.0))
    out["content"] = pan_probe.content_carryover(model, cfg, videos=8, levels=(1.0,))
    out["objects"] = pan_probe.object_extrapolation(model, cfg, videos=4, levels=(1.0,))
    print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def scores():
    return run_child(CHILD, MODEL, threads=2)


def test_the_committed_model_keeps_a_pan_its_noisy_frames_show(scores):
    for direction, by_level in scores.items():
        if direction in ("content", "objects"):
            continue
        assert by_level["0.6"] > 0.4, (direction, by_level)


@pytest.mark.xfail(strict=True, reason="the committed textures model does not extrapolate the named pan (issue 14)")
def test_the_committed_model_extrapolates_the_named_pan_from_one_frame(scores):
    for direction, by_level in scores.items():
        if direction in ("content", "objects"):
            continue
        assert by_level["1.0"] > 0.25, (direction, by_level)


def test_the_committed_model_carries_the_known_frames_content_on_with_its_objects(scores):
    """At u = 1 the other frames hold nothing of the video, yet the estimate leans towards it further
    than a static copy of the known frame does (measured 0.31 against 0.15; the model before it, 0.33
    against 0.13): the content travels between frames and the objects move on (the model before
    2026-12-05, which did not move them, stayed within 0.15 of the static copy;
    docs/textures_model.md, "What it learns is extrapolation...")."""
    content = scores["content"]
    assert content["1.0"] > content["static copy"] + 0.1, content


def test_the_committed_model_moves_its_objects_the_named_way_from_one_frame(scores):
    """pan_probe.object_extrapolation at u = 1: only the known first frame and the prompt's direction
    word say where the objects go, and the estimate leans towards the named way against the mirrored
    paths in every direction (measured 0.50-0.57, the model before it 0.60-0.65; a static copy scores
    near 0)."""
    for direction, by_level in scores["objects"].items():
        assert by_level["1.0"] > 0.3, (direction, by_level)


def test_object_probe_scores_a_static_copy_near_zero_and_needs_a_named_motion_model():
    """pan_probe.object_extrapolation: a 'model' whose clean estimate is the known first frame copied
    into every frame moves no object either way (the mirrored reference shares that first frame); a
    model trained on plain prompts is refused."""
    import train
    cfg = {**train.DEFAULTS, **train.TEXTURES, "frames": 4, "named_object_motion": True, "trail_px": 8.0,
           "motion_tint": 0.05}

    def static_copy(xs, t, ctx):
        s = (t / 1000.0).view(xs.shape[0], 1, xs.shape[2], 1, 1)
        return (xs - xs[:, :, :1].expand_as(xs)) / s

    scores = pan_probe.object_extrapolation(static_copy, cfg, videos=4, levels=(1.0,))
    assert set(scores) == {"rightward", "leftward", "downward", "upward"}
    assert all(abs(by_u[1.0]) < 0.5 for by_u in scores.values()), scores
    with pytest.raises(ValueError, match="named-motion"):
        pan_probe.object_extrapolation(static_copy, dict(cfg, named_object_motion=False), videos=2)


def test_object_probe_draws_a_flat_background_model_its_own_data():
    """object_extrapolation on a train.py --flat-background model renders its videos without the
    texture (textures.flatten_background), as it was trained: the frames the model sees at u = 0
    vary far less across the frame than the textured ones."""
    import train
    cfg = {**train.DEFAULTS, **train.TEXTURES, "frames": 4, "named_object_motion": True, "trail_px": 8.0,
           "motion_tint": 0.05}
    seen = []

    def capture(xs, t, ctx):
        seen.append(xs[:, :, 1:].clone())
        return torch.zeros_like(xs)

    spread = {}
    for flat in (False, True):
        seen.clear()
        pan_probe.object_extrapolation(capture, dict(cfg, flat_background=flat), videos=4, levels=(0.0,))
        spread[flat] = float(torch.cat(seen).std(dim=(-2, -1)).mean())
    assert spread[True] < 0.75 * spread[False], spread   # (measured 0.34 against 0.65)


def test_pan_probes_of_a_named_motion_model_keep_the_plain_prompts_pan_and_content():
    """pan_probe.config_ids: a named-motion model's set puts the objects' direction first, so the pan
    probes must not index it with plain prompt numbers (they did until 2026-12-04: the 'named' and the
    'opposite' videos then shared one pan and differed in the objects' direction instead)."""
    import dataclasses

    import textures
    plain = torch.arange(16) * 37 % textures.N_PROMPTS
    assert torch.equal(pan_probe.config_ids(plain, {"named_object_motion": False}), plain)
    named = pan_probe.config_ids(plain, {"named_object_motion": True})
    for p, n in zip(plain.tolist(), named.tolist()):
        parts = textures.prompt_parts(n, named_motion=True)
        assert parts.object_direction == 0
        assert dataclasses.replace(parts, object_direction=None) == textures.prompt_parts(p)
