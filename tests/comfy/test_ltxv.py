"""LTX-Video (0.9.x) in a real ComfyUI: the tiny LTXV model through the real loader, with the core
LTXV nodes a user's graph has (ModelSamplingLTXV, LTXVConditioning, EmptyLTXVLatentVideo), sampled by
KSampler.

LTXV differs from Wan where a cache could trip: 128 latent channels with no patchify (one token per
latent pixel), a per-token timestep, a model sampling whose shift depends on the token count, and a
frame rate in the conditioning. TaoCache keys its state by the per-sample sigma
(transformer_options["sigmas"]) and wraps LTXVModel's DIFFUSION_MODEL wrapper point, so none of
these should matter; these tests check that.
"""
import pytest
import torch

import harness
from robustness_helpers import PERMISSIVE, check_run, one_torch_thread, reports, taocache
from test_taocache_node import NEVER, summary_counts

assert one_torch_thread  # autouse fixture, imported to apply here


def run(comfy, **kwargs):
    return comfy.run(harness.ltxv_graph(**kwargs)).raise_for_status()


def test_tiny_ltxv_is_built_as_ltxv_by_the_real_loader(comfy_inprocess, comfy_base):
    import comfy.sd
    model = comfy.sd.load_diffusion_model(comfy_base.models[harness.LTXV]).model
    network = model.diffusion_model
    assert type(network).__name__ == "LTXVModel" and len(network.transformer_blocks) == 1
    assert network.inner_dim == 128 and network.out_channels == 128


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_never_skip_thresholds_are_bit_identical_to_no_node(comfy_inprocess, cfg):
    plain = run(comfy_inprocess, steps=20, cfg=cfg)
    cached = run(comfy_inprocess, steps=20, cfg=cfg, insert=[taocache(**NEVER)])
    assert plain.latent.shape == (1, 128, 3, 4, 4)
    assert torch.equal(cached.latent, plain.latent)
    assert summary_counts(cached.log_text) == (20, 0, 20)
    assert cached.calls == plain.calls == [20]
    check_run(reports(cached)[0], cached.calls[0])


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_permissive_thresholds_skip_in_the_window_only_and_counts_are_real(comfy_inprocess, cfg):
    result = run(comfy_inprocess, steps=30, cfg=cfg, insert=[taocache(**PERMISSIVE)])
    found = reports(result)
    assert len(found) == 1 and len(result.calls) == 1
    report = check_run(found[0], result.calls[0])  # counts = real forward calls, skips only in the window
    assert report["total"] == 30 and report["skipped"] >= 8, report["summary"]
    assert "APPLY_MODEL" not in result.log_text  # LTXVModel goes through the DIFFUSION_MODEL wrapper
    assert torch.isfinite(result.latent).all()
    plain = run(comfy_inprocess, steps=30, cfg=cfg)
    assert not torch.equal(result.latent, plain.latent)


def test_the_window_follows_ltxv_token_dependent_shift(comfy_inprocess):
    """ModelSamplingLTXV shifts the schedule by the latent's token count, so the same start_percent
    opens at another noise level for another video size; the window is read from the model's own
    sampling (percent_to_sigma), so the reported window and the skipped calls follow it."""
    small = run(comfy_inprocess, steps=20, insert=[taocache(**PERMISSIVE)])
    large = run(comfy_inprocess, steps=20, width=256, height=256, insert=[taocache(**PERMISSIVE)])
    (small_report,), (large_report,) = reports(small), reports(large)
    check_run(small_report, small.calls[0])
    check_run(large_report, large.calls[0])
    assert small_report["window_sigmas"][0] != pytest.approx(large_report["window_sigmas"][0], abs=1e-4)
    for report in (small_report, large_report):
        assert report["schedule_sigmas"][0] >= report["window_sigmas"][0]


@pytest.mark.parametrize("options", [NEVER, PERMISSIVE], ids=["never", "permissive"])
def test_a_kept_region_comes_out_unchanged_also_when_skipping(comfy_inprocess, options):
    """With a noise mask keeping the top half (one timestep per token, t = 0 there), the kept half of
    the result is the input latent exactly, with or without skips; never-skip is bit-identical to no
    node over the whole latent."""
    plain = run(comfy_inprocess, steps=24, keep_top_half=True)
    cached = run(comfy_inprocess, steps=24, keep_top_half=True, insert=[taocache(**options)])
    top = (slice(None), slice(None), slice(None), slice(0, 2))  # latent rows of the top 64 px (32 px per row)
    assert plain.latent[top].abs().max() < 1e-6  # the empty latent, through LTXV's latent-format round trip
    assert torch.equal(cached.latent[top], plain.latent[top])
    report = check_run(reports(cached)[0], cached.calls[0])
    if options is NEVER:
        assert torch.equal(cached.latent, plain.latent) and report["skipped"] == 0
    else:
        assert report["skipped"] >= 6 and not torch.equal(cached.latent, plain.latent)


WIDE_LTXV = "taotest_ltxv_wide.safetensors"  # the tiny LTXV's depth, twice its width


def test_a_profile_of_one_ltxv_width_is_refused_on_another_of_the_same_depth(comfy_inprocess, comfy_base):
    """LTXV and LTX-2 detection reads depth and width from the weights (num_layers; attention_head_dim
    and cross_attention_dim, from attn2.to_k): a profile calibrated on one width names both
    architectures on the other and the run goes on online."""
    from safetensors.torch import save_file
    tensors = harness.make_tiny_models.ltxv_state_dict(head_dim=8, seed=6)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(comfy_base.models_dir / WIDE_LTXV))
    name = "taotest_ltxv_narrow"
    (comfy_base.path / "models" / "taocache_profiles" / f"{name}.json").unlink(missing_ok=True)
    run(comfy_inprocess, steps=20, seed=11, insert=[("TaoCacheCalibrate", {"profile_name": name})])
    built = harness.ltxv_graph(steps=20, model=WIDE_LTXV, insert=[taocache(profile=f"{name}.json", target_speedup=1.5)])
    result = comfy_inprocess.run(built).raise_for_status()
    texts = result.texts_for(built.inserted[0])
    assert any("was calibrated on another architecture, LTXV (num_layers 1, attention_head_dim 4, "
               "cross_attention_dim 128); this model is LTXV (num_layers 1, attention_head_dim 8, cross_attention_dim "
               "256) (differs in attention_head_dim, cross_attention_dim); running online" in t for t in texts), texts
    same = comfy_inprocess.run(harness.ltxv_graph(steps=20, insert=[taocache(profile=f"{name}.json", target_speedup=1.5)]))
    assert f"profile {name}.json: speedup mode, target 1.50x" in same.raise_for_status().log_text
