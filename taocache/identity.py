"""Profile identity: what a calibration profile was measured on, and whether it fits a model.

A profile records the architecture (the model class and the loader's config: width, depth, in and
out channels, patch size), the sampling shift and how many weights were patched (a LoRA patches
some). Another architecture is another network, whose statistics say nothing about this one: the
profile is refused. Another shift puts the steps at other noise levels, and a LoRA changes the
weights a little; the statistics are read by noise level and still serve to plan: the profile is
used, with a warning.

Profiles made before these fields existed (format version 1 without "identity") always recorded the
model class, the shift and part of the config (LEGACY_KEYS); those are checked, and a note says what
could not be (patch size, weight patches).

Plain python on plain dicts: the metadata of a profile, and the same fields taken from a model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

IDENTITY_VERSION = 3
# Loader config keys (ComfyUI's model_config.unet_config) that make up an architecture. Wan: dim,
# num_layers, in_dim, out_dim, patch_size, model_type; HunyuanVideo-like DiTs, Flux, Chroma, SD3:
# hidden_size, depth, depth_single_blocks, in_channels, out_channels, patch_size; Qwen-Image:
# num_layers, in_channels. vace_image_input: the newest ComfyUI's model_detection (Comfy-Org/ComfyUI)
# marks a VACE checkpoint that also has an image embedding (ID-V2V) with it; everything else recorded
# here is the same as plain VACE's. From identity version 3, the depth and width keys that the newest
# detection (0.38.1) reads from the weights of families the keys above miss: LTX-Video and LTX-2
# (LTXV, LTXAV): attention_head_dim (attn2.to_k rows // 32) and cross_attention_dim (its columns);
# Cosmos and Cosmos Predict2 / Anima: model_channels, num_blocks; Kandinsky 5 and 6: model_dim,
# num_visual_blocks, num_text_blocks; Krea 2: features, layers; CogVideoX, Lens, Qwen-Image 2.1 and
# MiniMax H3, whose width is their head count: num_attention_heads. A key absent from both sides
# compares equal, so adding one that older models lack refuses no older profile.
SINCE_3 = ("attention_head_dim", "cross_attention_dim", "model_channels", "num_blocks", "model_dim",
           "num_visual_blocks", "num_text_blocks", "features", "layers", "num_attention_heads")
ARCHITECTURE_KEYS = ("model_type", "dim", "hidden_size", "num_layers", "depth", "depth_single_blocks",
                     "in_dim", "out_dim", "in_channels", "out_channels", "patch_size", "vace_image_input",
                     "n_layers", "guidance_embed") + SINCE_3
# Keys recorded from an identity version on: a profile of an older version did not record them, so
# they are not compared (a note says so). n_layers: the depth of Lumina2 and Z-Image (their width is
# "dim"); guidance_embed: Flux dev (guidance-distilled) against Flux schnell, which share every width.
KEYS_SINCE = {"n_layers": 2, "guidance_embed": 2, **{key: 3 for key in SINCE_3}}
# What profiles made before the identity check recorded under "model_config".
LEGACY_KEYS = ("dim", "num_layers", "in_dim", "out_dim", "model_type", "hidden_size", "depth")


@dataclass
class Fit:
    """How a profile fits a model: refused (why), or usable with warnings and notes."""
    refusal: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.refusal is None


def architecture_config(unet_config: dict) -> dict:
    """The architecture keys of a loader config, as JSON values (tuples become lists)."""
    out = {}
    for key in ARCHITECTURE_KEYS:
        value = _json_value((unet_config or {}).get(key))
        if value is not None:
            out[key] = value
    return out


def model_identity(model_class: str, unet_config: dict, shift: float, weight_patches: int) -> dict:
    """The identity fields a calibration run records (and a model is compared by)."""
    return {"model_class": model_class, "model_config": architecture_config(unet_config), "shift": float(shift),
            "weight_patches": int(weight_patches), "identity": IDENTITY_VERSION}


def describe(identity: dict) -> str:
    """'WAN21 (model_type t2v, dim 128, num_layers 2, ..., patch_size 1x2x2)'."""
    config = _config_of(identity)
    parts = [f"{key} {_show(config[key])}" for key in ARCHITECTURE_KEYS if key in config]
    name = str(identity.get("model_class"))
    return f"{name} ({', '.join(parts)})" if parts else name


def compare(profile: dict, model: dict) -> Fit:
    """Whether a profile (its metadata) fits a model (model_identity of it)."""
    fit = Fit()
    if profile.get("model_class") != model.get("model_class"):
        fit.refusal = (f"was calibrated on model class {profile.get('model_class')}, this model is "
                       f"{model.get('model_class')}")
        return fit
    recorded = profile.get("identity") is not None
    profile_config, model_config = _config_of(profile), _config_of(model)
    version = profile.get("identity") if is_number(profile.get("identity")) else 1
    unrecorded = [k for k, since in KEYS_SINCE.items() if version < since and k in model_config]
    keys = ([k for k in ARCHITECTURE_KEYS if k not in unrecorded] if recorded
            else [k for k in LEGACY_KEYS if k in profile_config])
    differing = [k for k in keys if _json_value(profile_config.get(k)) != _json_value(model_config.get(k))]
    if differing:
        fit.refusal = (f"was calibrated on another architecture, {describe(profile)}; this model is "
                       f"{describe(model)} (differs in {', '.join(differing)})")
        return fit
    shift_warning = _shift_warning(profile.get("shift"), model.get("shift"))
    if shift_warning:
        fit.warnings.append(shift_warning)
    if recorded:
        patches_warning = _patches_warning(profile.get("weight_patches"), model.get("weight_patches"))
        if patches_warning:
            fit.warnings.append(patches_warning)
        if unrecorded:
            fit.notes.append(f"made before profiles recorded {', '.join(unrecorded)}: not checked "
                             f"(recalibrate to record it)")
    else:
        checked = ", ".join(["model class"] + keys + (["shift"] if is_number(profile.get("shift")) else []))
        fit.notes.append(f"made before profiles recorded their full identity: checked {checked}; not its "
                         f"patch size or whether a LoRA was applied (recalibrate to record them)")
    return fit


def _shift_warning(calibrated, current) -> Optional[str]:
    if not (is_number(calibrated) and is_number(current)):
        return None  # not recorded, or a model sampling without a shift
    if math.isclose(calibrated, current, rel_tol=1e-6, abs_tol=1e-9):
        return None
    return (f"calibrated at shift {calibrated:g}, this model samples at shift {current:g}: the steps fall at other "
            f"noise levels than calibrated, so the plan is less exact (calibrate at this shift for the best plan)")


def _patches_warning(calibrated, current) -> Optional[str]:
    if not (isinstance(calibrated, int) and isinstance(current, int)) or calibrated == current:
        return None
    if calibrated == 0:
        return (f"calibrated without a LoRA or other weight patch, this model has {current} patched weights: "
                f"its statistics may differ (calibrate with the LoRA applied for the best plan)")
    if current == 0:
        return (f"calibrated with {calibrated} patched weights (a LoRA?), this model has none: its statistics "
                f"may differ (calibrate without the LoRA for the best plan)")
    return (f"calibrated with {calibrated} patched weights, this model has {current} (another LoRA?): its "
            f"statistics may differ (calibrate with these patches for the best plan)")


def _config_of(identity: dict) -> dict:
    config = identity.get("model_config")
    return config if isinstance(config, dict) else {}


def _json_value(value):
    if isinstance(value, (tuple, list)):
        items = [_json_value(v) for v in value]
        return None if any(v is None for v in items) else items
    if isinstance(value, (bool, int, float, str)):
        return value
    return None


def _show(value) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, list) else str(value)


def is_number(value) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
