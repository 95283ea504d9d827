"""Image-to-video paths in a real ComfyUI (real loader, KSampler, executor) on tiny random models:

  Wan2.1 I2V     the in_dim-36 model detected as WAN21_I2V; its conditioning carries
                 concat_latent_image + concat_mask (model_base.WAN21.concat_cond adds 4 mask and 16
                 image channels to the 16 noise channels) and a CLIP-vision output (img_emb).
  Wan2.2 5B I2V  the TI2V-5B model with a start image: the latent holds the start frame and a
                 noise_mask, so the sampler keeps that frame and WAN22.process_timestep (one
                 timestep per latent frame) gives it t = 0 while the others follow the schedule.
  Cosmos Predict2 I2V  the 17-channel network (TaoTestTinyDiTLoader) with the latent of the core
                 CosmosPredict2ImageToVideoLatent node (the tiny Wan2.1 VAE encodes the start image):
                 a noise_mask keeps the start frame, and CosmosPredict2.process_timestep likewise gives
                 each latent frame its own timestep.
  HunyuanVideo I2V "v2 (replace)"  the core HunyuanImageToVideo node (the same tiny VAE): the start
                 frame in the latent, a noise_mask, and guiding_frame_index 0 in the conditioning.
The Wan conditioning comes from the test nodes in tests/support/custom_nodes/taotest_i2v_nodes.py, which
build what WanImageToVideo and Wan22ImageToVideoLatent build, from a latent instead of a VAE encode.
"""
import pytest
import torch

import harness
from robustness_helpers import PERMISSIVE, check_run, one_torch_thread, reports, taocache
from test_taocache_node import NEVER, summary_counts

assert one_torch_thread  # autouse fixture, imported to apply here

GRAPHS = {"wan21_i2v": harness.wan21_i2v_graph, "wan22_5b_i2v": harness.wan22_ti2v_i2v_graph}
FAMILIES = sorted(GRAPHS)


def run(comfy, family, **kwargs):
    return comfy.run(GRAPHS[family](**kwargs)).raise_for_status()


def start_latent(comfy, built):
    """The start latent the graph's TaoTestStartLatent node produces (same node code, same inputs)."""
    node = comfy.node_class_mappings["TaoTestStartLatent"]()
    return node.make(**built.prompt[built.ids["start"]]["inputs"])[0]["samples"]


class LatentVAE:
    """Stands in for the VAE a core node is given: `encode` returns a fixed latent and records the
    image it was asked to encode. Only for comparing a test node's tensors with the core node's."""

    def __init__(self, latent):
        self.latent = latent
        self.encoded = []

    def encode(self, image):
        self.encoded.append(tuple(image.shape))
        return self.latent.clone()


def conditioning_values(conditioning):
    assert len(conditioning) == 1
    return conditioning[0][1]


@pytest.mark.parametrize("start_frames", [1, 2])  # latent frames: 1 or 5 pixel frames of the start image
def test_test_nodes_build_what_the_core_nodes_build(comfy_inprocess, start_frames):
    """TaoTestWanImageToVideo and TaoTestWan22ImageToVideoLatent against the runtime's own
    WanImageToVideo and Wan22ImageToVideoLatent, given a VAE whose encode returns the same latent."""
    nodes = comfy_inprocess.node_class_mappings
    width = height = 64
    length, frames, pixel_frames = 9, 3, (start_frames - 1) * 4 + 1
    start_image = torch.rand(pixel_frames, height, width, 3)
    text = [[torch.ones(1, 4, 8), {}]]
    clip_vision = nodes["TaoTestClipVisionOutput"]().make(seed=3)[0]

    start = nodes["TaoTestStartLatent"]().make("wan21", start_frames, width // 8, height // 8, seed=5)[0]
    positive, negative, latent = nodes["TaoTestWanImageToVideo"]().execute(
        text, text, start, width, height, length, 1, clip_vision_output=clip_vision)
    ours = conditioning_values(positive)
    vae = LatentVAE(ours["concat_latent_image"])  # the encoded video: the start, then the padding frames
    core = nodes["WanImageToVideo"].execute(text, text, vae, width, height, length, 1, start_image=start_image,
                                            clip_vision_output=clip_vision).args
    assert vae.encoded == [(length, height, width, 3)]
    assert torch.equal(latent["samples"], core[2]["samples"]) and latent["samples"].shape == (1, 16, frames, 8, 8)
    for mine, theirs in ((positive, core[0]), (negative, core[1])):
        mine, theirs = conditioning_values(mine), conditioning_values(theirs)
        assert set(mine) == set(theirs) == {"concat_latent_image", "concat_mask", "clip_vision_output"}
        assert torch.equal(mine["concat_mask"], theirs["concat_mask"])
        assert torch.equal(mine["concat_latent_image"], theirs["concat_latent_image"])
        assert mine["clip_vision_output"] is theirs["clip_vision_output"]
    assert torch.equal(ours["concat_latent_image"][:, :, :start_frames], start["samples"])
    assert ours["concat_mask"][0, 0, :, 0, 0].tolist() == [0.0] * start_frames + [1.0] * (frames - start_frames)

    width = height = 128  # the 5B VAE is 16x spatially
    start = nodes["TaoTestStartLatent"]().make("wan22", start_frames, width // 16, height // 16, seed=6)[0]
    ours = nodes["TaoTestWan22ImageToVideoLatent"]().execute(start, width, height, length, 2)[0]
    vae = LatentVAE(start["samples"])
    core = nodes["Wan22ImageToVideoLatent"].execute(vae, width, height, length, 2, start_image=start_image).args[0]
    assert vae.encoded == [(pixel_frames, height, width, 3)]
    assert set(ours) == set(core) == {"samples", "noise_mask"}
    assert torch.equal(ours["samples"], core["samples"]) and ours["samples"].shape == (2, 48, frames, 8, 8)
    assert torch.equal(ours["noise_mask"], core["noise_mask"]) and ours["noise_mask"].shape == (2, 1, frames, 8, 8)
    assert torch.equal(ours["samples"][:1, :, :start_frames], start["samples"])


def test_tiny_wan21_i2v_is_detected_as_i2v_by_the_real_loader(comfy_inprocess, comfy_base):
    import comfy.sd
    report = harness.load_model_report(comfy_base.models[harness.WAN21_I2V])
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN21_I2V", "WAN21", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []
    model = comfy.sd.load_diffusion_model(comfy_base.models[harness.WAN21_I2V]).model
    assert model.image_to_video and model.diffusion_model.model_type == "i2v"
    assert model.diffusion_model.patch_embedding.weight.shape[1] == 36
    assert model.diffusion_model.img_emb is not None


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_never_skip_thresholds_are_bit_identical_to_no_node(comfy_inprocess, family, cfg):
    plain = run(comfy_inprocess, family, steps=20, cfg=cfg)
    built = GRAPHS[family](steps=20, cfg=cfg, insert=[taocache(**NEVER)])
    cached = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(cached.latent, plain.latent)
    assert summary_counts(cached.log_text) == (20, 0, 20)
    assert cached.calls == plain.calls == [20]
    check_run(reports(cached)[0], cached.calls[0])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_permissive_thresholds_skip_in_the_window_only_and_counts_are_real(comfy_inprocess, family, cfg):
    built = GRAPHS[family](steps=30, cfg=cfg, insert=[taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    found = reports(result)
    assert len(found) == 1 and len(result.calls) == 1
    report = check_run(found[0], result.calls[0])  # counts = real forward calls, skips only in the window
    assert report["total"] == 30 and report["skipped"] >= 8, report["summary"]
    assert summary_counts(result.log_text) == (result.calls[0], report["skipped"], 30)
    assert any(not c["in_window"] for c in report["calls"]), "the window must leave some calls outside"
    assert "APPLY_MODEL" not in result.log_text  # both go through the DIFFUSION_MODEL wrapper
    plain = run(comfy_inprocess, family, steps=30, cfg=cfg)
    assert torch.isfinite(result.latent).all()
    assert not torch.equal(result.latent, plain.latent)


def test_the_image_conditioning_reaches_the_wan21_i2v_model(comfy_inprocess):
    """The start latent and the CLIP-vision output both change the result (a test of the wiring: if
    concat_cond or img_emb were not used, they would not)."""
    base = run(comfy_inprocess, "wan21_i2v", steps=10, cfg=1.0)
    other_start = run(comfy_inprocess, "wan21_i2v", steps=10, cfg=1.0, start_seed=8)
    no_clip = run(comfy_inprocess, "wan21_i2v", steps=10, cfg=1.0, clip_vision=False)
    assert not torch.equal(base.latent, other_start.latent)
    assert not torch.equal(base.latent, no_clip.latent)


@pytest.fixture
def wan22_timesteps(comfy_inprocess, monkeypatch):
    """The per-frame timesteps model_base.WAN22.process_timestep hands the diffusion model, one
    tensor per model call (skipped calls included: TaoCache decides inside the diffusion model)."""
    import comfy.model_base
    seen = []
    original = comfy.model_base.WAN22.process_timestep

    def recording(self, timestep, x, denoise_mask=None, **kwargs):
        t = original(self, timestep, x, denoise_mask=denoise_mask, **kwargs)
        seen.append(t.detach().clone())
        return t

    monkeypatch.setattr(comfy.model_base.WAN22, "process_timestep", recording)
    return seen


@pytest.mark.parametrize("settings", [NEVER, PERMISSIVE], ids=["never", "permissive"])
@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_wan22_5b_keeps_the_start_frame_exactly(comfy_inprocess, wan22_timesteps, settings, cfg):
    """The start frame comes out as ComfyUI alone gives it, bit for bit, also when TaoCache skips,
    and it runs at t = 0 on every call. ComfyUI itself does not return the start latent's
    exact bits: the Wan22 process_in/process_out round trip and the last Euler step move it by float
    rounding (measured: at most 4.8e-7 on values up to 5, with or without TaoCache), hence the
    tolerance on that one comparison."""
    plain_built = harness.wan22_ti2v_i2v_graph(steps=30, cfg=cfg)
    plain = comfy_inprocess.run(plain_built).raise_for_status()
    wan22_timesteps.clear()
    built = harness.wan22_ti2v_i2v_graph(steps=30, cfg=cfg, insert=[taocache(**settings)])
    cached = comfy_inprocess.run(built).raise_for_status()
    start = start_latent(comfy_inprocess, plain_built)[:, :, :1]
    assert torch.equal(cached.latent[:, :, :1], plain.latent[:, :, :1])
    torch.testing.assert_close(plain.latent[:, :, :1], start, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(plain.latent[:, :, 1:], start.expand_as(plain.latent[:, :, 1:]), atol=1e-2)

    report = check_run(reports(cached)[0], cached.calls[0])
    assert len(wan22_timesteps) == report["total"] == 30
    for t in wan22_timesteps:  # one timestep per latent frame: [batch, 3]
        assert t.shape == (2 if cfg > 1 else 1, 3)
        assert torch.all(t[:, 0] == 0) and torch.all(t[:, 1:] > 0)
    if settings is PERMISSIVE:
        assert report["skipped"] >= 8, report["summary"]
        assert not torch.equal(cached.latent[:, :, 1:], plain.latent[:, :, 1:])  # the skips changed the rest
    else:
        assert report["skipped"] == 0 and torch.equal(cached.latent, plain.latent)


def test_http_i2v_runs_skip_and_count(comfy_server):
    for family in FAMILIES:
        log_start = len(comfy_server.log_text())
        entry = comfy_server.run(GRAPHS[family](steps=20, insert=[taocache(**PERMISSIVE)]))
        assert entry["status"]["status_str"] == "success", entry["status"]
        computed, skipped, total = summary_counts(comfy_server.log_text()[log_start:])
        assert total == 20 and skipped > 0
        assert [r["calls"] for r in comfy_server.last_calls] == [computed]


KEPT_START_GRAPHS = {"cosmos_predict2": harness.cosmos_predict2_i2v_graph,
                     "hunyuan_video_v2": harness.hunyuan_video_i2v_graph}


@pytest.mark.parametrize("settings", [NEVER, PERMISSIVE], ids=["never", "permissive"])
@pytest.mark.parametrize("family", sorted(KEPT_START_GRAPHS))
def test_a_start_frame_written_into_the_latent_comes_out_exactly(comfy_inprocess, tiny_wan21_vae, family, settings):
    """Image to video through the core node that writes the start frame into the latent and keeps it
    with a noise_mask (the tiny Wan2.1 VAE encodes the start image): Cosmos Predict2
    (CosmosPredict2ImageToVideoLatent; CosmosPredict2.process_timestep runs that frame at t = 0) and
    HunyuanVideo I2V "v2 (replace)" (HunyuanImageToVideo; guiding_frame_index gives its tokens the
    modulation of t = 0; TeaCache users hit a bug on this path, welltop-cn/ComfyUI-TeaCache's changelog
    of 2025-03-26). The start frame comes out as ComfyUI alone gives it, bit for bit, also when
    TaoCache skips; never-skip is the uncached run bit for bit."""
    graph = KEPT_START_GRAPHS[family]
    plain = comfy_inprocess.run(graph(steps=30)).raise_for_status()
    other_start = comfy_inprocess.run(graph(steps=30, start_color=0xC03020))
    assert not torch.equal(other_start.raise_for_status().latent[:, :, :1], plain.latent[:, :, :1])
    cached = comfy_inprocess.run(graph(steps=30, insert=[taocache(**settings)]))
    report = check_run(reports(cached.raise_for_status())[0], cached.calls[0])
    assert plain.latent.shape == {"cosmos_predict2": (1, 16, 4, 8, 8), "hunyuan_video_v2": (1, 16, 3, 8, 8)}[family]
    assert torch.equal(cached.latent[:, :, :1], plain.latent[:, :, :1])
    if settings is PERMISSIVE:
        assert report["skipped"] >= 8, report["summary"]
        assert not torch.equal(cached.latent[:, :, 1:], plain.latent[:, :, 1:])  # the skips changed the rest
    else:
        assert report["skipped"] == 0 and torch.equal(cached.latent, plain.latent)
