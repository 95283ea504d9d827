"""Controlled video models in a real ComfyUI: Wan2.1 VACE, Wan2.1 and Wan2.2 Fun Control, Wan2.2 S2V
(sound to video, also in two chunks with WanSoundImageToVideoExtend), Wan2.1 HuMo (audio and a
reference image), Wan2.2 Animate (a pose video and a reference image), Wan2.2 Fun Camera, Wan2.1
Phantom, Wan2.1 image to video and first-last-frame to video, Wan2.1 ATI (tracks) and HunyuanVideo
I2V ("v1 (concat)"), tiny models through the real loader, conditioned by the core WanVaceToVideo,
WanImageToVideo, WanFunControlToVideo, Wan22FunControlToVideo, WanSoundImageToVideo,
WanHuMoImageToVideo, WanAnimateToVideo, WanCameraImageToVideo (with WanCameraEmbedding's camera
motion), WanPhantomSubjectToVideo, WanFirstLastFrameToVideo, WanTrackToVideo and HunyuanImageToVideo
nodes (their VAE encodes done by a tiny random Wan2.1 VAE through the real VAELoader; S2V's and HuMo's
audio features from a test node standing in for the wav2vec2 and whisper encoders), sampled by
KSampler; VACE's result trimmed by TrimVideoLatent.

Users asked caching packs for VACE and Fun Control support that respects the control (KJNodes#281,
ComfyUI#7891, TeaCache#133: native caches ignored or dropped the VACE hints; VideoX-Fun#159: Fun
Control needed its own coefficients; DiffSynth-Studio#956 and EasyCache#15: S2V had none). TaoCache wraps the whole diffusion-model call (the
DIFFUSION_MODEL wrapper: VaceWanModel keeps WanModel.forward, and Fun Control is a plain WanModel
whose control latent comes in as concatenated channels; WanModel_S2V, HumoWanModel and CameraWanModel also keep
WanModel.forward and inject the audio or the camera motion inside), so a computed call sees the control and a skipped call predicts the whole
output it shaped. These tests check that: the control reaches the
model, the cache keeps the node-pack invariants (with one VACE control, two chained controls and a
reference image, with Fun Control, with S2V's audio and with a camera motion), a cached run follows its own control, and calibration (its
placement trials re-sample with the same conditioning) records what a run with the profile
reproduces.

Checked against the newest source (Comfy-Org/ComfyUI 0.38.1): WanVaceToVideo and TrimVideoLatent have
the same inputs and code there, and VaceWanModel still overrides only forward_orig, so the
DIFFUSION_MODEL wrapper point of WanModel.forward is where TaoCache sees every VACE call.
"""
import json

import pytest
import torch

import harness
from robustness_helpers import PERMISSIVE, check_run, one_torch_thread, reports, taocache
from taocache import Profile
from taocache import placement as placements
from test_taocache_node import NEVER, summary_counts

assert one_torch_thread  # autouse fixture, imported to apply here

BLACK, WHITE = 0x000000, 0xFFFFFF
# variant -> (graph builder, its options, the same with the other control colour)
VARIANTS = {
    "VACE one control": (harness.wan21_vace_graph, dict(controls=((BLACK, 1.0),)),
                         dict(controls=((WHITE, 1.0),))),
    "VACE two controls": (harness.wan21_vace_graph, dict(controls=((BLACK, 1.0), (WHITE, 0.5))),
                          dict(controls=((WHITE, 1.0), (WHITE, 0.5)))),
    "VACE reference image": (harness.wan21_vace_graph, dict(controls=((BLACK, 1.0),), reference_color=WHITE),
                             dict(controls=((WHITE, 1.0),), reference_color=WHITE)),
    "Fun Control": (harness.wan21_fun_control_graph, dict(control_color=BLACK), dict(control_color=WHITE)),
    # with its reference image (ref_conv tokens in front of the video's) in both runs
    "Wan2.2 Fun Control": (harness.wan22_fun_control_graph, dict(control_color=BLACK), dict(control_color=WHITE)),
    "S2V audio": (harness.wan22_s2v_graph, dict(audio_seed=1), dict(audio_seed=2)),
    "HuMo audio": (harness.wan21_humo_graph, dict(audio_seed=1), dict(audio_seed=2)),
    "Animate pose": (harness.wan22_animate_graph, dict(pose_color=BLACK), dict(pose_color=WHITE)),
    "Fun Camera": (harness.wan22_fun_camera_graph, dict(camera_pose="Pan Left"), dict(camera_pose="Zoom In")),
    "HunyuanVideo I2V v1": (harness.hunyuan_video_i2v_graph, dict(guidance="v1 (concat)", start_color=BLACK),
                            dict(guidance="v1 (concat)", start_color=WHITE)),
    # the core WanImageToVideo node itself (test_i2v.py's graphs mirror it from a latent): the start
    # frame's colour
    "I2V start image": (harness.wan21_i2v_core_graph, dict(start_color=BLACK), dict(start_color=WHITE)),
    # the end frame against none (its colour barely moves the tiny network: 0.4%; its mask channels do)
    "FLF2V end frame": (harness.wan21_first_last_frame_graph, dict(end_color=BLACK), dict(end_color=None)),
    # Wan2.1 ATI: the start frame's square dragged right against left
    "ATI tracks": (harness.wan21_ati_graph, dict(tracks=[harness.straight_track((32, 32), (60, 32))]),
                   dict(tracks=[harness.straight_track((32, 32), (4, 32))])),
}


# Controls the tiny random-weight networks barely respond to, so whether the cached run keeps the
# control's effect is what is checked; variant -> the least effect the other control must have on the
# full run. Animate's pose latents enter through a patch embedding added to the video's: another pose
# colour changed the full run by 0.158 against a cache error of 0.115. ATI's tracks move the start
# frame's features by a Gaussian a few pixels wide, on an 8x8 latent here (the node is made for 60x104):
# the other track changed the full run by 0.016% against a cache error of 0.29%.
WEAK_CONTROLS = {"Animate pose": 0.01, "ATI tracks": 1e-4}


@pytest.fixture(scope="module")
def vace(comfy_inprocess, comfy_base, tiny_wan21_vae):
    """The in-process runtime, with the tiny Wan2.1 VAE in models/vae and the tiny Wan2.2 S2V and Wan2.1
    HuMo models in models/diffusion_models (written with the runtime's own modules)."""
    harness.write_tiny_wan22_s2v(comfy_base)
    harness.write_tiny_wan21_humo(comfy_base)
    harness.write_tiny_wan22_animate(comfy_base)
    return comfy_inprocess


def run(comfy, **kwargs):
    return comfy.run(harness.wan21_vace_graph(**kwargs)).raise_for_status()


def run_variant(comfy, variant, other=False, **kwargs):
    build, options, other_options = VARIANTS[variant]
    return comfy.run(build(**(other_options if other else options), **kwargs)).raise_for_status()


def relative_error(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_tiny_vace_model_is_detected_as_vace_by_the_real_loader(comfy_inprocess, comfy_base):
    import comfy.sd
    report = harness.load_model_report(comfy_base.models[harness.WAN21_VACE])
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN21_Vace", "WAN21_Vace", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []
    network = comfy.sd.load_diffusion_model(comfy_base.models[harness.WAN21_VACE]).model.diffusion_model
    assert type(network).__name__ == "VaceWanModel" and len(network.vace_blocks) == 1
    assert network.vace_patch_embedding.weight.shape[1] == 96  # 2 x 16 latent channels + 64 mask channels


def test_the_vace_control_video_reaches_the_model(vace):
    """Another control colour or strength changes the result, and a reference image adds a latent
    frame that TrimVideoLatent removes (a test of the wiring the cache tests below rely on)."""
    black = run(vace, steps=10, cfg=1.0, controls=((BLACK, 1.0),))
    white = run(vace, steps=10, cfg=1.0, controls=((WHITE, 1.0),))
    weaker = run(vace, steps=10, cfg=1.0, controls=((BLACK, 0.2),))
    assert black.latent.shape == white.latent.shape == (1, 16, 3, 8, 8)
    assert relative_error(white.latent, black.latent) > 0.01
    assert relative_error(weaker.latent, black.latent) > 0.01
    with_reference = run(vace, steps=10, cfg=1.0, controls=((BLACK, 1.0),), reference_color=WHITE)
    assert with_reference.latent.shape == (1, 16, 3, 8, 8)
    assert not torch.equal(with_reference.latent, black.latent)


def test_tiny_fun_control_model_is_detected_by_the_real_loader(comfy_inprocess, comfy_base):
    import comfy.sd
    report = harness.load_model_report(comfy_base.models[harness.WAN21_FUN_CONTROL])
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN21_FunControl2V", "WAN21", 16)
    network = comfy.sd.load_diffusion_model(comfy_base.models[harness.WAN21_FUN_CONTROL]).model.diffusion_model
    assert network.patch_embedding.weight.shape[1] == 48  # 16 noise + 16 control + 16 start-image channels


@pytest.mark.parametrize("variant", ["Fun Control", "Wan2.2 Fun Control", "S2V audio", "HuMo audio", "Animate pose",
                                     "Fun Camera", "FLF2V end frame", "HunyuanVideo I2V v1", "I2V start image"])
def test_the_fun_control_video_the_s2v_audio_and_the_camera_reach_the_model(vace, variant):
    one = run_variant(vace, variant, steps=10, cfg=1.0)
    other = run_variant(vace, variant, other=True, steps=10, cfg=1.0)
    assert one.latent.shape == other.latent.shape == (1, 16, 3, 8, 8)
    assert relative_error(other.latent, one.latent) > 0.01


def test_tiny_wan22_fun_control_model_is_detected_by_the_real_loader(comfy_inprocess, comfy_base):
    """No img_emb and in 52 channels: ComfyUI picks the T2V config, and ref_conv's weight sets
    in_dim_ref_conv (the same in 0.3.75 and in the newest source, 0.38.1)."""
    import comfy.sd
    report = harness.load_model_report(comfy_base.models[harness.WAN22_FUN_CONTROL])
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN21_T2V", "WAN21", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []
    network = comfy.sd.load_diffusion_model(comfy_base.models[harness.WAN22_FUN_CONTROL]).model.diffusion_model
    assert network.patch_embedding.weight.shape[1] == 52  # 16 noise + 16 control + 4 mask + 16 start image
    assert network.ref_conv is not None and network.ref_conv.weight.shape[1] == 16


def test_the_wan22_fun_control_reference_image_keeps_its_effect_in_a_cached_run(vace):
    """Wan2.2 Fun Control's reference image enters as ref_conv tokens put in front of the video's inside
    the model's forward and cut off its output (Wan22FunControlToVideo's reference_latents), so TaoCache
    sees the video latent only. Never-skip with the reference is the uncached run bit for bit. The tiny
    random-weight network barely responds to the reference (leaving it out changes the full run by
    about 0.3%, below the cache's own error), so what is checked is that it keeps its effect: leaving it
    out changes the cached run about as much as the full run."""
    def fun(ref_color, steps, *insert):
        return vace.run(harness.wan22_fun_control_graph(steps=steps, ref_color=ref_color,
                                                        insert=list(insert))).raise_for_status()

    plain = fun(WHITE, 20)
    never = fun(WHITE, 20, taocache(**NEVER))
    assert torch.equal(never.latent, plain.latent) and never.calls == plain.calls == [20]
    full, full_without = fun(WHITE, 30), fun(None, 30)
    cached, cached_without = fun(WHITE, 30, taocache(**PERMISSIVE)), fun(None, 30, taocache(**PERMISSIVE))
    report = check_run(reports(cached)[0], cached.calls[0])
    assert report["total"] == 30 and report["skipped"] >= 8, report["summary"]
    reference_effect = relative_error(full_without.latent, full.latent)
    cached_effect = relative_error(cached_without.latent, cached.latent)
    print(f"the reference changes the full run by {reference_effect:.5f}, the cached run by {cached_effect:.5f}; "
          f"cache error {relative_error(cached.latent, full.latent):.5f}")
    assert reference_effect > 1e-4 and 0.5 < cached_effect / reference_effect < 1.5


def test_tiny_animate_model_is_detected_by_the_real_loader(vace, comfy_base):
    report = harness.load_model_report(comfy_base.models_dir / harness.WAN22_ANIMATE)
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN22_Animate", "WAN22_Animate", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []


def test_tiny_humo_model_is_detected_by_the_real_loader(vace, comfy_base):
    report = harness.load_model_report(comfy_base.models_dir / harness.WAN21_HUMO)
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN21_HuMo", "WAN21_HuMo", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []


def test_tiny_s2v_model_is_detected_by_the_real_loader(vace, comfy_base):
    report = harness.load_model_report(comfy_base.models_dir / harness.WAN22_S2V)
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN22_S2V", "WAN22_S2V", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []


def test_tiny_fun_camera_model_is_detected_by_the_real_loader(comfy_inprocess, comfy_base):
    import comfy.sd
    report = harness.load_model_report(comfy_base.models[harness.WAN22_FUN_CAMERA])
    assert (report["config"], report["model"], report["latent_channels"]) == ("WAN22_Camera", "WAN21_Camera", 16)
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []
    network = comfy.sd.load_diffusion_model(comfy_base.models[harness.WAN22_FUN_CAMERA]).model.diffusion_model
    assert type(network).__name__ == "CameraWanModel" and network.img_emb is None


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_never_skip_thresholds_are_bit_identical_to_no_node(vace, variant, cfg):
    plain = run_variant(vace, variant, steps=20, cfg=cfg)
    cached = run_variant(vace, variant, steps=20, cfg=cfg, insert=[taocache(**NEVER)])
    assert torch.equal(cached.latent, plain.latent)
    assert summary_counts(cached.log_text) == (20, 0, 20)
    assert cached.calls == plain.calls == [20]
    check_run(reports(cached)[0], cached.calls[0])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_permissive_thresholds_skip_in_the_window_only_and_counts_are_real(vace, variant, cfg):
    result = run_variant(vace, variant, steps=30, cfg=cfg, insert=[taocache(**PERMISSIVE)])
    found = reports(result)
    assert len(found) == 1 and len(result.calls) == 1
    report = check_run(found[0], result.calls[0])  # counts = real forward calls, skips only in the window
    assert report["total"] == 30 and report["skipped"] >= 8, report["summary"]
    assert "APPLY_MODEL" not in result.log_text  # both go through the DIFFUSION_MODEL wrapper
    assert result.latent.shape == (1, 16, 3, 8, 8) and torch.isfinite(result.latent).all()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_cached_run_follows_its_own_control(vace, variant):
    """The cached run with the black control stays far closer to the full black run than the full
    run with the white control (in the first VACE control's place) is: the control still steers the result where TaoCache skips. For
    a control the tiny network barely responds to (WEAK_CONTROLS), the other control changes the
    cached run about as much as the full run. (The permissive thresholds: on random weights the
    default cos gate never opens.)"""
    full = run_variant(vace, variant, steps=30)
    full_other = run_variant(vace, variant, other=True, steps=30)
    cached = run_variant(vace, variant, steps=30, insert=[taocache(**PERMISSIVE)])
    computed, skipped, _ = summary_counts(cached.log_text)
    assert skipped >= 3, cached.log_text[-2000:]
    control_effect = relative_error(full_other.latent, full.latent)
    cache_error = relative_error(cached.latent, full.latent)
    print(f"{variant}: {skipped} of 30 skipped, cache error {cache_error:.4f}, control effect {control_effect:.4f}")
    if variant in WEAK_CONTROLS:
        # the control keeps its effect: the cached runs with either control differ about as the full runs do
        cached_other = run_variant(vace, variant, other=True, steps=30, insert=[taocache(**PERMISSIVE)])
        cached_effect = relative_error(cached_other.latent, cached.latent)
        print(f"{variant}: the other control changes the cached run by {cached_effect:.4f}")
        assert control_effect > WEAK_CONTROLS[variant] and 0.5 < cached_effect / control_effect < 1.5
    else:
        assert cache_error < 0.25 * control_effect


def s2v_two_chunks(steps=20, first_seed=42, insert=None) -> harness.BuiltGraph:
    """A Wan2.2 S2V clip made in two chunks, as long S2V videos are: wan22_s2v_graph's KSampler makes the
    first chunk (seed `first_seed`), the core WanSoundImageToVideoExtend node conditions the second on it
    (its latent as the motion frames, the same audio and reference image) and a second KSampler (seed 7)
    on the same model line samples it; the second chunk is saved."""
    built = harness.wan22_s2v_graph(steps=steps, seed=first_seed, insert=insert)
    g, ids = built.prompt, built.ids
    g["90"] = {"class_type": "WanSoundImageToVideoExtend", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "length": 9,
        "video_latent": [ids["sampler"], 0], "audio_encoder_output": ["43", 0], "ref_image": ["41", 0]}}
    g["91"] = {"class_type": "KSampler", "inputs": dict(g[ids["sampler"]]["inputs"], positive=["90", 0],
                                                        negative=["90", 1], latent_image=["90", 2], seed=7)}
    g[ids["save"]]["inputs"]["samples"] = ["91", 0]
    return built


def test_s2v_extend_each_chunk_keeps_its_own_history_and_the_first_still_steers_the_second(vace):
    """Two S2V chunks through one TaoCache model: never-skip is the two-chunk result bit for bit; each
    chunk reports its own counts, equal to its real forward calls (the second starts from noise with a
    history of its own, never predicting from the first's last steps); and the first chunk's motion frames
    keep their effect on the second: another first chunk changes the cached second chunk about as much as
    the full one (0.5% on the tiny random-weight network, whose cache error here is larger, so the ratio is
    what is checked)."""
    plain = vace.run(s2v_two_chunks()).raise_for_status()
    never = vace.run(s2v_two_chunks(insert=[taocache(**NEVER)])).raise_for_status()
    assert torch.equal(never.latent, plain.latent) and never.calls == plain.calls == [20, 20]
    full, full_other = (vace.run(s2v_two_chunks(steps=30, first_seed=seed)).raise_for_status() for seed in (42, 43))
    cached, cached_other = (vace.run(s2v_two_chunks(steps=30, first_seed=seed, insert=[taocache(**PERMISSIVE)]))
                            .raise_for_status() for seed in (42, 43))
    first, second = cached.events("taocache.report")
    assert cached.calls == [first["computed"], second["computed"]]
    assert first["total"] == second["total"] == 30 and first["skipped"] >= 8 and second["skipped"] >= 8
    effect = relative_error(full_other.latent, full.latent)
    cached_effect = relative_error(cached_other.latent, cached.latent)
    print(f"another first chunk changes the second by {effect:.4f} (full), {cached_effect:.4f} (cached); "
          f"cache error {relative_error(cached.latent, full.latent):.4f}")
    assert effect > 1e-3 and 0.5 < cached_effect / effect < 1.5


def test_phantom_subject_frames_ride_through_the_cache(vace):
    """Wan2.1 Phantom (WanPhantomSubjectToVideo): the subject images' latent frames are concatenated in
    time inside the model's forward and cut off its output, so TaoCache sees the video latent only.
    Never-skip is the uncached run bit for bit; skips and counts hold. (The subjects do reach the
    model, but on the tiny random-weight T2V model they change the result by about 0.1%, too little
    to test that a cached run follows them.)"""
    def phantom(colors, steps, *insert):
        return vace.run(harness.wan21_phantom_graph(steps=steps, subject_colors=colors,
                                                    insert=list(insert))).raise_for_status()

    plain = phantom((BLACK, 0xFF0000), 20)
    assert not torch.equal(phantom((WHITE, 0x0000FF), 20).latent, plain.latent), "the subjects reach the model"
    never = phantom((BLACK, 0xFF0000), 20, taocache(**NEVER))
    assert torch.equal(never.latent, plain.latent) and never.calls == plain.calls == [20]
    cached = phantom((BLACK, 0xFF0000), 30, taocache(**PERMISSIVE))
    report = check_run(reports(cached)[0], cached.calls[0])
    assert report["total"] == 30 and report["skipped"] >= 8, report["summary"]
    assert cached.latent.shape == (1, 16, 3, 8, 8) and torch.isfinite(cached.latent).all()


def test_calibration_trials_resample_with_the_control_and_a_run_reproduces_them(vace, comfy_base):
    """TaoCache Calibrate on the VACE model: its profile records the VACE class, its placement trials
    sample the same conditioning again (a run of the chosen placement with the profile reproduces the
    recorded error to 1e-3), and the profile is refused on the plain Wan2.1 T2V model, naming both."""
    name, steps, seeds = "tiny_wan_vace", 20, (30, 31)
    profile_path = comfy_base.path / "models" / "taocache_profiles" / f"{name}.json"
    profile_path.unlink(missing_ok=True)
    node = ("TaoCacheCalibrate", {"profile_name": name, "trial_speedups": "1.5"})
    fulls = [run(vace, steps=steps, seed=seed, insert=[node]) for seed in seeds]
    data = json.loads(profile_path.read_text())
    assert data["metadata"]["model_class"] == "WAN21_Vace" and data["metadata"]["runs"] == 2
    assert data["metadata"]["model_config"]["model_type"] == "vace"
    trials = [t for t in data["trials"] if t["run"] == 1]
    assert sorted(t["placement"] for t in trials) == sorted(placements.PLACEMENTS)
    assert all(0 < t["error"] < 1 for t in trials), trials

    best, _ = placements.choose(Profile.from_dict(data).trials, steps, 1.5)
    planned = taocache(profile=f"{name}.json", target_speedup=1.5, start_percent=0.0, end_percent=1.0,
                       max_consecutive_skips=2)
    again = run(vace, steps=steps, seed=seeds[1], insert=[planned])
    assert f"{best}: skips steps" in again.log_text, again.log_text[-2000:]
    recorded = next(t["error"] for t in trials if t["placement"] == best)
    assert relative_error(again.latent, fulls[1].latent) == pytest.approx(recorded, rel=1e-3, abs=1e-7)

    built = harness.wan_t2v_graph(steps=steps, insert=[taocache(profile=f"{name}.json", **PERMISSIVE)])
    plain_model = vace.run(built).raise_for_status()
    texts = plain_model.texts_for(built.inserted[0])
    assert any("calibrated on model class WAN21_Vace, this model is WAN21" in t for t in texts), texts
