"""Profile identity in a real ComfyUI: a profile records the architecture (class, dim, layers, in and
out channels, patch size), the shift and the weight patches of the model it was calibrated on. On a
model of another architecture of the same class (a "1.3B-shaped" and a "14B-shaped" tiny Wan2.1 T2V,
both WAN21 for the real UNETLoader) it is refused naming both and the run continues online; another
ModelSamplingSD3 shift or an added LoRA uses it, with a warning on the node and in the log."""
import json
import logging

import pytest
import torch
from safetensors.torch import save_file

import harness
from robustness_helpers import one_torch_thread
from test_robustness_composition import tiny_lora
from test_taocache_node import PERMISSIVE, SUMMARY, summary_counts, taocache

assert one_torch_thread and tiny_lora  # fixtures, imported to apply here

# Two tiny Wan2.1 T2V shapes: a narrow shallow one (as 1.3B is to 14B) and a wider deeper one. The LoRA
# of tiny_lora (rank 4 on blocks 0 and 1, width 128) fits the small one.
SMALL = "taotest_wan21_1_3b_shaped.safetensors"
LARGE = "taotest_wan21_14b_shaped.safetensors"
SHAPES = {SMALL: dict(dim=128, ffn_dim=256, num_layers=2, seed=21), LARGE: dict(dim=256, ffn_dim=512, num_layers=3, seed=22)}
SMALL_ARCH = "WAN21 (model_type t2v, dim 128, num_layers 2, in_dim 16, out_dim 16, patch_size 1x2x2)"
LARGE_ARCH = "WAN21 (model_type t2v, dim 256, num_layers 3, in_dim 16, out_dim 16, patch_size 1x2x2)"
PROFILE = "taotest_small_shape"
PLANNED = "profile taotest_small_shape.json: speedup mode, target 1.50x, whole greedy: skips steps"


def profile_path(base, name=PROFILE):
    return base.path / "models" / "taocache_profiles" / f"{name}.json"


@pytest.fixture(scope="module")
def wans(comfy_base):
    """The two shapes in the session base directory's models/diffusion_models (random seeded weights)."""
    for name, shape in SHAPES.items():
        tensors = harness.make_tiny_models.wan_state_dict(in_dim=16, out_dim=16, **shape)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(comfy_base.models_dir / name))
    return SMALL, LARGE


@pytest.fixture(scope="module")
def small_profile(wans, comfy_inprocess, comfy_base):
    """Two calibration runs (30 steps, two seeds) of the small shape at shift 8, no LoRA."""
    profile_path(comfy_base).unlink(missing_ok=True)
    for seed in (11, 12):
        comfy_inprocess.run(harness.wan_t2v_graph(steps=30, seed=seed, model=SMALL, insert=[
            ("TaoCacheCalibrate", {"profile_name": PROFILE})])).raise_for_status()
    return f"{PROFILE}.json"


def with_profile(profile, **graph):
    node = taocache(profile=profile, target_speedup=1.5, **PERMISSIVE)
    return harness.wan_t2v_graph(steps=30, seed=3, insert=[node], **graph)


def with_lora(built, lora_name, strength=1.0):
    """LoraLoaderModelOnly between the loader and ModelSamplingSD3."""
    g = built.prompt
    g["40"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": [built.ids["loader"], 0], "lora_name": lora_name, "strength_model": strength}}
    g[built.ids["sampling"]]["inputs"]["model"] = ["40", 0]
    return built


def warnings_with(result, fragment):
    return [r for r in result.logs if fragment in r.getMessage() and r.levelno == logging.WARNING]


def test_calibration_records_architecture_shift_and_weight_patches(small_profile, comfy_base):
    meta = json.loads(profile_path(comfy_base).read_text())["metadata"]
    assert meta["model_class"] == "WAN21" and meta["runs"] == 2
    assert meta["model_config"] == {"model_type": "t2v", "dim": 128, "num_layers": 2, "in_dim": 16, "out_dim": 16,
                                    "patch_size": [1, 2, 2]}
    assert meta["shift"] == 8.0 and meta["weight_patches"] == 0 and meta["identity"] == 3


def test_same_model_uses_the_profile_without_a_warning(small_profile, comfy_inprocess):
    built = with_profile(small_profile, model=SMALL)
    result = comfy_inprocess.run(built).raise_for_status()
    assert PLANNED in result.log_text
    assert not any("using it" in t or "running online" in t for t in result.texts_for(built.inserted[0]))


def test_1_3b_shaped_profile_on_the_14b_shape_is_refused_naming_both_and_runs_online(small_profile, comfy_inprocess):
    built = with_profile(small_profile, model=LARGE)
    result = comfy_inprocess.run(built).raise_for_status()
    texts = result.texts_for(built.inserted[0])
    expected = (f"TaoCache: profile {small_profile} was calibrated on another architecture, {SMALL_ARCH}; "
                f"this model is {LARGE_ARCH} (differs in dim, num_layers); running online")
    assert any(t.startswith(expected) for t in texts), texts
    assert warnings_with(result, expected)
    assert PLANNED not in result.log_text, "the refused profile planned nothing"
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 30 and skipped > 0 and result.calls == [computed], "online mode still skips"
    online = comfy_inprocess.run(with_profile("none", model=LARGE)).raise_for_status()
    assert summary_counts(online.log_text) == (computed, skipped, total)
    assert torch.equal(online.latent, result.latent), "the refused run is exactly the online run"


def test_calibrate_refuses_to_append_a_run_of_another_architecture(small_profile, comfy_inprocess, comfy_base):
    before = profile_path(comfy_base).read_bytes()
    built = harness.wan_t2v_graph(steps=30, seed=13, model=LARGE, insert=[("TaoCacheCalibrate", {"profile_name": PROFILE})])
    result = comfy_inprocess.run(built).raise_for_status()
    expected = (f"TaoCache Calibrate: profile {PROFILE} was calibrated on another architecture, {SMALL_ARCH}; "
                f"this model is {LARGE_ARCH} (differs in dim, num_layers); not mixing them")
    assert any(t.startswith(expected) for t in result.texts_for(built.inserted[0]))
    assert expected in result.log_text
    assert profile_path(comfy_base).read_bytes() == before, "profile unchanged"


def test_another_shift_uses_the_profile_with_a_warning(small_profile, comfy_inprocess):
    built = with_profile(small_profile, model=SMALL, shift=5.0)
    result = comfy_inprocess.run(built).raise_for_status()
    fragment = "calibrated at shift 8, this model samples at shift 5"
    assert any(fragment in t and t.endswith("using it") for t in result.texts_for(built.inserted[0]))
    assert fragment in result.texts_for(built.inserted[0])[-1], "the end-of-run summary keeps the warning"
    assert warnings_with(result, fragment)
    assert PLANNED in result.log_text
    computed, _, total = summary_counts(result.log_text)
    assert total == 30 and abs(computed - 30 / 1.5) <= 1 and result.calls == [computed]


def test_a_lora_added_uses_the_profile_with_a_warning(small_profile, tiny_lora, comfy_inprocess):
    built = with_lora(with_profile(small_profile, model=SMALL), tiny_lora)
    result = comfy_inprocess.run(built).raise_for_status()
    assert "lora key not loaded" not in result.log_text
    fragment = "calibrated without a LoRA or other weight patch, this model has 8 patched weights"
    assert any(fragment in t and t.endswith("using it") for t in result.texts_for(built.inserted[0]))
    assert warnings_with(result, fragment)
    assert PLANNED in result.log_text
    computed, _, _ = summary_counts(result.log_text)
    assert result.calls == [computed]


def test_calibrating_another_shift_into_the_profile_adds_the_run_and_says_so(small_profile, comfy_inprocess,
                                                                          comfy_base):
    copy = profile_path(comfy_base, "taotest_small_shape_copy")
    copy.write_bytes(profile_path(comfy_base).read_bytes())
    built = harness.wan_t2v_graph(steps=30, seed=14, model=SMALL, shift=5.0, insert=[
        ("TaoCacheCalibrate", {"profile_name": "taotest_small_shape_copy"})])
    result = comfy_inprocess.run(built).raise_for_status()
    assert any("now holds 3 run(s)" in t and "note: the profile was calibrated at shift 8, this model samples at "
               "shift 5" in t for t in result.texts_for(built.inserted[0]))
    assert json.loads(copy.read_text())["runs"][2]["metadata"]["shift"] == 5.0


def test_a_profile_from_before_the_identity_record_still_loads_with_a_note(small_profile, comfy_inprocess,
                                                                       comfy_base):
    """Format version 1 as profiles were written before: no "identity", no "weight_patches", the
    model_config keys of then (no patch_size). Used on its architecture, with a note; refused on the
    other (dim and num_layers were recorded)."""
    data = json.loads(profile_path(comfy_base).read_text())
    for meta in [data["metadata"]] + [run["metadata"] for run in data["runs"]]:
        for key in ("identity", "weight_patches"):
            meta.pop(key)
        meta["model_config"].pop("patch_size")
    profile_path(comfy_base, "taotest_legacy").write_text(json.dumps(data))
    built = with_profile("taotest_legacy.json", model=SMALL)
    result = comfy_inprocess.run(built).raise_for_status()
    note = ("TaoCache: profile taotest_legacy.json: made before profiles recorded their full identity: checked "
            "model class, dim, num_layers, in_dim, out_dim, model_type, shift; not its patch size or whether a "
            "LoRA was applied")
    assert any(t.startswith(note) for t in result.texts_for(built.inserted[0]))
    assert "profile taotest_legacy.json: speedup mode" in result.log_text
    built = with_profile("taotest_legacy.json", model=LARGE)
    refused = comfy_inprocess.run(built).raise_for_status()
    assert any("was calibrated on another architecture, WAN21 (model_type t2v, dim 128, num_layers 2, in_dim 16, "
               "out_dim 16)" in t and "running online" in t for t in refused.texts_for(built.inserted[0]))
    assert SUMMARY.search(refused.log_text)
