"""Calibration profiles: recording, saving, reading back by noise level, planning skips, and the
identity check (architecture, shift, LoRA) on plain dicts."""
import json
import math
from pathlib import Path

import pytest
import torch

from taocache import CalibrationRecorder, Profile, ProfileError, Schedule, TaoCacheConfig, TaoCacheRun, identity
from taocache.planner import plan as plan_for

from helpers import geometric_outputs, linear_schedule


def calibrated_profile(steps_list=(20, 50), q=0.85):
    profile = Profile()
    for steps in steps_list:
        schedule = Schedule(linear_schedule(steps), 1.0, 0.0)
        recorder = CalibrationRecorder(q_max=0.95)
        g = torch.Generator().manual_seed(steps)
        for step, y in enumerate(geometric_outputs(steps, q ** (20 / steps))):
            noisy = y + 0.01 * step / steps * torch.randn(y.shape, generator=g)  # later steps: less predictable
            for branch in ("cond", "uncond"):
                recorder.observe(branch, branch, schedule.sigmas[step], float(step), noisy)
        profile.add_run(recorder.close(), {"model_class": "WAN21", "steps": steps})
    return profile


def test_roundtrip_through_json(tmp_path):
    profile = calibrated_profile()
    path = tmp_path / "p.json"
    profile.save(str(path))
    loaded = Profile.load(str(path))
    assert loaded.metadata["runs"] == 2 and loaded.model_class == "WAN21"
    assert loaded.at("r", 0.5) == pytest.approx(profile.at("r", 0.5))


def test_statistics_carry_over_between_step_counts():
    profile = calibrated_profile(steps_list=(50,))
    mean, spread = profile.at("error", 0.37)  # between the 50-step samples
    assert math.isfinite(mean) and spread >= 0
    assert math.isnan(profile.at("error", 1.5)[0])  # never extrapolated


@pytest.mark.parametrize("text,fragment", [
    ("{not json", "not valid JSON"),
    (json.dumps({"format": "other"}), "not a TaoCache profile"),
    (json.dumps({"format": "taocache-profile", "version": 99}), "version 99"),
    (json.dumps({"format": "taocache-profile", "version": 1, "metadata": {}, "runs": []}), "no runs"),
    (json.dumps({"format": "taocache-profile", "version": 1, "metadata": {},
                 "runs": [{"samples": [{"sigma": "__import__('os')", "branch": "cond"}]}]}), "malformed sample"),
])
def test_malformed_files_give_clear_errors(tmp_path, text, fragment):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=fragment):
        Profile.load(str(path))


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "p.json"
    calibrated_profile().save(str(path))
    path.write_text(path.read_text()[:200])
    with pytest.raises(ProfileError, match="truncated"):
        Profile.load(str(path))


@pytest.mark.parametrize("steps,target", [(30, 1.5), (30, 1.3), (50, 1.8), (20, 1.2)])
def test_plan_reaches_the_target_within_one_step(steps, target):
    profile = calibrated_profile()
    schedule = Schedule(linear_schedule(steps), 0.8, 0.0)
    plan = plan_for(profile, schedule, target_speedup=target, max_consecutive=2).steps
    achieved = steps / (steps - len(plan))
    assert abs((steps - len(plan)) - steps / target) <= 1, (achieved, target)
    assert steps - 1 not in plan and steps - 2 not in plan
    assert all(schedule.in_window(schedule.sigmas[i]) and i >= 3 for i in plan)


def test_plan_prefers_low_error_steps_and_isolated_skips():
    profile = calibrated_profile()
    schedule = Schedule(linear_schedule(30), 1.0, 0.0)
    plan = sorted(plan_for(profile, schedule, target_speedup=1.2, max_consecutive=2).steps)
    assert all(b - a > 1 for a, b in zip(plan, plan[1:])), "few skips: all isolated"
    errors = {i: profile.at("error", schedule.sigmas[i])[0] for i in range(3, 28)}
    worst_chosen = max(errors[i] for i in plan)
    best_left_out = min(e for i, e in errors.items() if i not in plan and i - 1 not in plan and i + 1 not in plan)
    assert worst_chosen <= best_left_out + 1e-12


def test_run_with_a_plan_skips_exactly_the_planned_steps():
    schedule = Schedule(linear_schedule(30), 0.8, 0.0)
    plan = set(plan_for(calibrated_profile(), schedule, target_speedup=1.5, max_consecutive=2).steps)
    run = TaoCacheRun(TaoCacheConfig(cos_threshold=1.0, norm_ratio_threshold=0.0, max_consecutive_skips=2),
                      schedule, plan=plan)  # gates that would never skip: the plan overrides them
    skipped = set()
    for step, y in enumerate(geometric_outputs(30, 0.9)):
        run.begin_evaluation()
        decision = run.decide(["cond"], schedule.sigmas[step])
        if decision.skip:
            run.predict(decision, ["cond"])
            skipped.add(step)
        else:
            run.record(decision, ["cond"], [y])
    assert skipped == plan


# Profile identity (taocache/identity.py): the comparison on plain dicts, as a profile's metadata and a
# model's identity hold them. Configs as ComfyUI's model_detection derives them for Wan2.1 T2V.
WAN_1_3B = {"model_type": "t2v", "dim": 1536, "num_layers": 30, "in_dim": 16, "out_dim": 16, "patch_size": (1, 2, 2),
            "ffn_dim": 8960, "num_heads": 12, "image_model": "wan2.1"}
WAN_14B = dict(WAN_1_3B, dim=5120, num_layers=40, ffn_dim=13824, num_heads=40)
SHIPPED_PROFILES = sorted((Path(__file__).resolve().parents[2] / "models" / "taocache_profiles").glob("*.json"))


def wan(config=WAN_1_3B, shift=8.0, patches=0, model_class="WAN21"):
    return identity.model_identity(model_class, config, shift, patches)


def through_json(meta):
    return json.loads(json.dumps(meta))


def test_identity_records_the_architecture_shift_and_patches_as_json():
    meta = through_json(wan())
    assert meta["model_config"] == {"model_type": "t2v", "dim": 1536, "num_layers": 30, "in_dim": 16, "out_dim": 16,
                                    "patch_size": [1, 2, 2]}
    assert meta["shift"] == 8.0 and meta["weight_patches"] == 0 and meta["identity"] == identity.IDENTITY_VERSION
    fit = identity.compare(meta, wan())  # tuple patch size of the live model == list from the file
    assert fit.usable and not fit.warnings and not fit.notes


def test_another_architecture_of_the_same_class_is_refused_naming_both():
    fit = identity.compare(through_json(wan(WAN_1_3B)), wan(WAN_14B))
    assert not fit.usable
    assert "WAN21 (model_type t2v, dim 1536, num_layers 30, in_dim 16, out_dim 16, patch_size 1x2x2)" in fit.refusal
    assert "this model is WAN21 (model_type t2v, dim 5120, num_layers 40" in fit.refusal
    assert "differs in dim, num_layers" in fit.refusal


@pytest.mark.parametrize("change", [{"in_dim": 36}, {"out_dim": 48}, {"patch_size": (1, 4, 4)}, {"model_type": "i2v"}])
def test_channels_patch_size_and_model_type_are_part_of_the_architecture(change):
    fit = identity.compare(through_json(wan()), wan(dict(WAN_1_3B, **change)))
    assert not fit.usable and f"differs in {next(iter(change))}" in fit.refusal


def test_an_image_input_vace_is_another_architecture_than_plain_vace():
    """The newest ComfyUI's model_detection sets vace_image_input on a VACE checkpoint with an image
    embedding (ID-V2V); nothing else recorded tells it from plain VACE of the same size."""
    plain_vace = dict(WAN_14B, model_type="vace", vace_layers=8, vace_in_dim=96)
    fit = identity.compare(through_json(wan(plain_vace, model_class="WAN21_Vace")),
                           wan(dict(plain_vace, vace_image_input=True), model_class="WAN21_Vace"))
    assert not fit.usable and "differs in vace_image_input" in fit.refusal
    assert identity.compare(through_json(wan(plain_vace, model_class="WAN21_Vace")),
                            wan(plain_vace, model_class="WAN21_Vace")).usable


def test_another_model_class_is_refused_naming_both():
    fit = identity.compare(through_json(wan()), wan(model_class="WAN22"))
    assert fit.refusal == "was calibrated on model class WAN21, this model is WAN22"


def test_non_architecture_config_keys_do_not_matter():
    assert identity.compare(through_json(wan()), wan(dict(WAN_1_3B, eps=1e-5, window_size=(4, 4)))).usable


def test_another_shift_is_used_with_a_warning_naming_both():
    fit = identity.compare(through_json(wan(shift=8.0)), wan(shift=5.0))
    assert fit.usable and len(fit.warnings) == 1
    assert "calibrated at shift 8, this model samples at shift 5" in fit.warnings[0]
    assert identity.compare(through_json(wan(shift=8.0)), wan(shift=8.0 + 1e-12)).warnings == []


@pytest.mark.parametrize("calibrated,current,fragment", [
    (0, 8, "calibrated without a LoRA or other weight patch, this model has 8 patched weights"),
    (8, 0, "calibrated with 8 patched weights (a LoRA?), this model has none"),
    (8, 12, "calibrated with 8 patched weights, this model has 12 (another LoRA?)"),
])
def test_a_lora_added_removed_or_changed_is_used_with_a_warning(calibrated, current, fragment):
    fit = identity.compare(through_json(wan(patches=calibrated)), wan(patches=current))
    assert fit.usable and len(fit.warnings) == 1 and fragment in fit.warnings[0]


def test_shift_and_lora_warnings_together():
    fit = identity.compare(through_json(wan(shift=8.0, patches=0)), wan(shift=3.0, patches=8))
    assert fit.usable and len(fit.warnings) == 2


def test_a_profile_whose_identity_is_damaged_is_refused_not_raised():
    meta = dict(through_json(wan()), model_config="dim 1536", weight_patches="many", shift="8")
    fit = identity.compare(meta, wan())
    assert not fit.usable and "differs in model_type, dim" in fit.refusal


def legacy(meta):
    """A profile's metadata as profiles made before the identity record hold it."""
    old = {k: v for k, v in meta.items() if k not in ("identity", "weight_patches")}
    old["model_config"] = {k: v for k, v in meta["model_config"].items() if k in identity.LEGACY_KEYS}
    return old


def test_a_legacy_profile_checks_what_it_recorded_with_a_note():
    fit = identity.compare(legacy(through_json(wan())), wan(patches=8))
    assert fit.usable and not fit.warnings, "LoRA state unknown: no warning"
    (note,) = fit.notes
    assert "made before profiles recorded their full identity" in note
    assert "checked model class, dim, num_layers, in_dim, out_dim, model_type, shift" in note
    assert "patch size" in note and "LoRA" in note
    assert identity.compare(legacy(through_json(wan())), wan(dict(WAN_1_3B, patch_size=(1, 4, 4)))).usable
    refused = identity.compare(legacy(through_json(wan())), wan(WAN_14B))
    assert not refused.usable and "differs in dim, num_layers" in refused.refusal
    assert identity.compare(legacy(through_json(wan(shift=8.0))), wan(shift=5.0)).warnings


@pytest.mark.parametrize("path", SHIPPED_PROFILES, ids=lambda p: p.name)
def test_shipped_profiles_keep_loading_on_their_model_and_are_refused_on_another(path):
    """The repository's profiles (format version 1, from before the identity record) on the shipped
    tiny model's identity (dim 128, 4 layers: models/tiny_wan21_t2v_shapes.json) and on a 2-layer one."""
    profile = Profile.load(str(path))
    assert "identity" not in profile.metadata
    shapes = {"model_type": "t2v", "dim": 128, "num_layers": 4, "in_dim": 16, "out_dim": 16, "patch_size": (1, 2, 2)}
    fit = identity.compare(profile.metadata, wan(shapes, shift=8.0))
    assert fit.usable and not fit.warnings and len(fit.notes) == 1
    fit = identity.compare(profile.metadata, wan(dict(shapes, num_layers=2), shift=8.0))
    assert not fit.usable and "num_layers 4" in fit.refusal and "num_layers 2" in fit.refusal


# Image DiTs: configs as ComfyUI's model_detection derives them (Lumina2 and Z-Image share model_base
# Lumina2 and tell their depth by n_layers; Flux dev and schnell share every width).
Z_IMAGE = {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 3840, "cap_feat_dim": 2560,
           "n_layers": 30, "qk_norm": True, "n_heads": 30, "n_kv_heads": 30}
FLUX_DEV = {"image_model": "flux", "in_channels": 16, "out_channels": 16, "hidden_size": 3072, "depth": 19,
            "depth_single_blocks": 38, "patch_size": 2, "guidance_embed": True, "num_heads": 24}


def test_the_depth_of_a_lumina2_or_z_image_is_part_of_the_architecture():
    fit = identity.compare(through_json(wan(Z_IMAGE, model_class="Lumina2")),
                           wan(dict(Z_IMAGE, n_layers=20), model_class="Lumina2"))
    assert not fit.usable and "differs in n_layers" in fit.refusal and "n_layers 30" in fit.refusal


def test_a_flux_dev_profile_is_refused_on_flux_schnell():
    fit = identity.compare(through_json(wan(FLUX_DEV, model_class="Flux")),
                           wan(dict(FLUX_DEV, guidance_embed=False), model_class="Flux"))
    assert not fit.usable and "differs in guidance_embed" in fit.refusal


# LTX-Video and LTX-2 as ComfyUI's model_detection derives them from the weights: depth, and width as
# attn2.to_k's rows // 32 and columns (the same in 0.3.75 and 0.38.1).
LTXAV = {"image_model": "ltxav", "num_layers": 48, "attention_head_dim": 128, "cross_attention_dim": 4096,
         "use_keyframes_abs_pos_embedding": False}


def test_an_ltx_profile_is_refused_on_an_ltx_model_of_another_width_and_the_same_depth():
    fit = identity.compare(through_json(wan(LTXAV, model_class="LTXAV")),
                           wan(dict(LTXAV, attention_head_dim=64, cross_attention_dim=2048), model_class="LTXAV"))
    assert not fit.usable and "differs in attention_head_dim, cross_attention_dim" in fit.refusal


# Other families whose size only keys of version 3 tell apart, as the newest detection (0.38.1,
# comfy/model_detection.py and comfy/ldm/kandinsky6/detection.py) derives them from the weights.
SIZES = {
    "CosmosPredict2": ({"image_model": "cosmos_predict2", "model_channels": 2048, "num_blocks": 28},
                       {"model_channels": 5120, "num_blocks": 36}),
    "Kandinsky5": ({"image_model": "kandinsky5", "model_dim": 1792, "num_visual_blocks": 32, "num_text_blocks": 2},
                   {"model_dim": 4096, "num_visual_blocks": 60, "num_text_blocks": 4}),
    "Krea2": ({"image_model": "krea2", "features": 2048, "layers": 24}, {"features": 3072, "layers": 36}),
    "CogVideoX": ({"image_model": "cogvideox", "num_layers": 30, "num_attention_heads": 30},
                  {"num_attention_heads": 48}),
}


@pytest.mark.parametrize("model_class", sorted(SIZES))
def test_two_sizes_of_a_family_are_told_apart_by_the_keys_its_detection_reads(model_class):
    small, larger = SIZES[model_class]
    fit = identity.compare(through_json(wan(small, model_class=model_class)),
                           wan(dict(small, **larger), model_class=model_class))
    assert not fit.usable and f"differs in {', '.join(larger)}" in fit.refusal
    assert identity.compare(through_json(wan(small, model_class=model_class)), wan(small, model_class=model_class)).usable


def test_a_version_2_profile_did_not_record_the_ltx_width_and_loads_with_a_note():
    old = through_json(wan(LTXAV, model_class="LTXAV"))
    old["identity"] = 2
    for key in ("attention_head_dim", "cross_attention_dim"):
        del old["model_config"][key]
    fit = identity.compare(old, wan(LTXAV, model_class="LTXAV"))
    assert fit.usable and fit.notes == ["made before profiles recorded attention_head_dim, cross_attention_dim: "
                                        "not checked (recalibrate to record it)"]


def test_keys_recorded_since_a_later_identity_version_are_not_checked_on_an_older_profile():
    """A version-1 profile did not record n_layers or guidance_embed: it keeps loading, with a note."""
    old = through_json(wan(FLUX_DEV, model_class="Flux"))
    old["identity"] = 1
    del old["model_config"]["guidance_embed"]
    fit = identity.compare(old, wan(FLUX_DEV, model_class="Flux"))
    assert fit.usable and not fit.warnings
    assert fit.notes == ["made before profiles recorded guidance_embed: not checked (recalibrate to record it)"]
    assert not identity.compare(old, wan(dict(FLUX_DEV, hidden_size=1024), model_class="Flux")).usable
