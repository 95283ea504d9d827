"""Where calibration profiles live (models/taocache_profiles, registered with folder_paths), and
loading one for a model with every check a user needs explained."""
from __future__ import annotations

import os
import re
from typing import Optional

from ..taocache import Profile, ProfileError, __version__

FOLDER = "taocache_profiles"
NONE = "none"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def register_folder() -> None:
    import folder_paths

    if FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[FOLDER] = ([os.path.join(folder_paths.models_dir, FOLDER)], {".json"})


def profile_names() -> list[str]:
    import folder_paths

    register_folder()
    return [NONE] + folder_paths.get_filename_list(FOLDER)


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


def load_for_model(name: str, model) -> tuple[Optional[Profile], Optional[str]]:
    """(profile, None) when usable; (None, message) when not: missing, malformed, other model class."""
    import folder_paths

    register_folder()
    path = folder_paths.get_full_path(FOLDER, name)
    if path is None:
        return None, f"TaoCache: profile {name} was not found in models/{FOLDER}; running online"
    try:
        profile = Profile.load(path)
    except ProfileError as error:
        return None, f"TaoCache: {error}; running online"
    ours = model_class(model)
    if profile.model_class != ours:
        return None, (f"TaoCache: profile {name} was calibrated on model class {profile.model_class}, this model is "
                      f"{ours}; running online (calibrate this model with TaoCache Calibrate)")
    return profile, None


def run_metadata(guider, noise, sampler, sigmas) -> dict:
    """What a calibration run records about itself (shown in the file, checked when loading)."""
    patcher = guider.model_patcher
    sampling = patcher.get_model_object("model_sampling")
    sampler_function = getattr(sampler, "sampler_function", None)
    config = getattr(getattr(patcher.model, "model_config", None), "unet_config", {}) or {}
    return {
        "model_class": model_class(patcher),
        "model_config": {k: config[k] for k in ("dim", "num_layers", "in_dim", "out_dim", "model_type",
                                                 "hidden_size", "depth") if k in config},
        "sampler": getattr(sampler_function, "__name__", type(sampler).__name__).removeprefix("sample_"),
        "steps": len(sigmas) - 1,
        "sigma_max": float(sigmas[0]), "sigma_min": float(sigmas[-1]),
        "shift": float(getattr(sampling, "shift", float("nan"))),
        "latent_shape": list(noise.shape),
        "pack_version": __version__,
    }
