"""The two tiny test models and what belongs to each: data module (prompts, renderer, judge),
latent codec, video size, model file. Plain torch; never imports ComfyUI.

    shapes    models/tiny_wan21_t2v_shapes.safetensors    one flat shape on grey, 28 x 28 px, 4 frames,
              lossless 2x latent (latent.py), judge data.judge
    textures  models/tiny_wan21_t2v_textures.safetensors  two objects over a panning texture at two
              scales, 64 x 64 px, 8 frames, lossy 4x latent (latent_dct.py), judge textures.judge

A model file says which it is in its safetensors metadata (config.dataset, written by train.py);
files without it are shapes models (the first model predates the field).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from types import ModuleType

import data
import latent
import latent_dct
import textures

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class Kind:
    name: str
    model_file: str
    data: ModuleType
    codec: ModuleType
    frames: int
    size: int


KINDS = {
    "shapes": Kind("shapes", os.path.join(REPO, "models", "tiny_wan21_t2v_shapes.safetensors"), data, latent,
                   data.FRAMES, data.SIZE),
    "textures": Kind("textures", os.path.join(REPO, "models", "tiny_wan21_t2v_textures.safetensors"), textures,
                     latent_dct, textures.FRAMES, textures.SIZE),
}


def model_metadata(path: str) -> dict:
    """The training metadata stored in a tiny model's safetensors file ({} when absent)."""
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        return json.loads((f.metadata() or {}).get("taocache_tiny_wan", "{}"))


def kind_of(path: str) -> Kind:
    """The Kind of a model file, from its metadata (shapes when it has none); a textures model trained
    with train.py --latent lossless gets the shapes model's codec."""
    try:
        config = model_metadata(path).get("config", {})
    except (OSError, ValueError):
        config = {}
    name = config.get("dataset", "shapes")
    if name not in KINDS:
        raise ValueError(f"{path}: unknown tiny model dataset {name!r} (known: {', '.join(KINDS)})")
    if config.get("latent") == "lossless":
        return dataclasses.replace(KINDS[name], codec=latent)
    return KINDS[name]
