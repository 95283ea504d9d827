"""Where calibration profiles live (models/taocache_profiles, registered with folder_paths), and
loading one for a model with every check a user needs explained."""
from __future__ import annotations

import os
import re
from typing import Optional

from ..taocache import Profile, ProfileError, __version__, identity

FOLDER = "taocache_profiles"
NONE = "none"
# Not a file (profile files end in .json): no profile, but skips planned ahead to reach target_speedup,
# spread evenly over the node's window (planner.plan_without_profile).
UNCALIBRATED = "none, plan to target_speedup"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def register_folder() -> None:
    import folder_paths

    if FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[FOLDER] = ([os.path.join(folder_paths.models_dir, FOLDER)], {".json"})


def profile_names() -> list[str]:
    import folder_paths

    register_folder()
    return [NONE, UNCALIBRATED] + folder_paths.get_filename_list(FOLDER)


def path_for_writing(name: str) -> str:
    """The file a calibration named `name` writes; the name must be a plain file name."""
    import folder_paths

    register_folder()
    stem = name[:-5] if name.endswith(".json") else name
    if not SAFE_NAME.match(stem):
        raise ValueError(f"TaoCache Calibrate: profile_name {name!r} must be 1-100 letters, digits, '_', '-' "
                         f"or '.', starting with a letter or digit (no folders)")
    return os.path.join(folder_paths.get_folder_paths(FOLDER)[0], stem + ".json")


def model_class(model) -> str:
    return type(getattr(model, "model", model)).__name__


def weight_patches(patcher) -> int:
    """How many weights a LoRA or another weight patch changes: ModelPatcher.patches (weight key ->
    patches, filled by add_patches) plus the keys of hook patches (hook LoRAs)."""
    count = len(getattr(patcher, "patches", None) or {})
    for keys in (getattr(patcher, "hook_patches", None) or {}).values():
        count += len(keys or {})
    return count


def model_identity(patcher) -> dict:
    """identity.model_identity of a ModelPatcher: class, loader config, sampling shift, patched weights."""
    model = getattr(patcher, "model", patcher)
    config = getattr(getattr(model, "model_config", None), "unet_config", None) or {}
    try:
        sampling = patcher.get_model_object("model_sampling")
    except AttributeError:
        sampling = getattr(model, "model_sampling", None)
    shift = getattr(sampling, "shift", None)
    shift = float(shift) if isinstance(shift, (int, float)) else float("nan")  # nan: a sampling without shift
    return identity.model_identity(model_class(patcher), config, shift, weight_patches(patcher))


def load_for_model(name: str, model) -> tuple[Optional[Profile], Optional[str]]:
    """(profile, None) when usable as is; (profile, message) when usable with a warning or a note
    (another shift, a LoRA added or removed, a profile from before the identity record); (None,
    message) when not: missing, malformed, another model class or architecture."""
    import folder_paths

    register_folder()
    path = folder_paths.get_full_path(FOLDER, name)
    if path is None:
        return None, f"TaoCache: profile {name} was not found in models/{FOLDER}; running online"
    try:
        profile = Profile.load(path)
    except ProfileError as error:
        return None, f"TaoCache: {error}; running online"
    fit = identity.compare(profile.metadata, model_identity(model))
    if not fit.usable:
        return None, (f"TaoCache: profile {name} {fit.refusal}; running online (calibrate this model with "
                      f"TaoCache Calibrate)")
    if fit.warnings or fit.notes:
        return profile, f"TaoCache: profile {name}: {'; '.join(fit.warnings + fit.notes)}; using it"
    return profile, None


def run_metadata(guider, noise, sampler, sigmas) -> dict:
    """What a calibration run records about itself (shown in the file; its identity is checked when
    loading and when appending a run)."""
    patcher = guider.model_patcher
    sampler_function = getattr(sampler, "sampler_function", None)
    return {
        **model_identity(patcher),
        "sampler": getattr(sampler_function, "__name__", type(sampler).__name__).removeprefix("sample_"),
        "steps": len(sigmas) - 1,
        "sigma_max": float(sigmas[0]), "sigma_min": float(sigmas[-1]),
        "latent_shape": list(noise.shape),
        "pack_version": __version__,
    }
