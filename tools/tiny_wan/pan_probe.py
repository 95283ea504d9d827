"""Does the textures model carry the named pan from one known frame to the others? A teacher-forced
probe, no sampler: the first frame of a ground-truth video is given nearly clean (sigma 0.05), the
other frames at noise level u, and the model's clean estimate of those frames is scored against the
same video panning the named way and panning the opposite way (same seed, same first frame):

    score = <x0hat - mid, half> / |half|^2,  mid = (named + opposite) / 2,  half = (named - opposite) / 2

over frames 1.., in the latent. +1: the named pan; -1: the opposite pan; 0: neither (a static or
blurred background). At u = 1 the noisy frames hold nothing, so the pan must come from the prompt
(or, for a model trained on one direction, from habit): that is the extrapolation sampling needs.
At u = 0.6 the noisy frames still show the pan, so a model that only denoises already scores high.
With --no-known-frame every frame is at u, as in sampling: how far up the noise levels the model
still keeps (or makes) the pan when no frame is given.

    python tools/tiny_wan/pan_probe.py MODEL [MODEL ...] [--videos 16] [--no-known-frame]

It also prints how much of the known frame's content reaches the other frames at all
(content_carryover), beside what a static copy of that frame would score: a model near the static
copy carries the content but not the motion.

Why it exists: check_learned and pan_report judge sampled videos, where a missing pan can have many
causes; this separates "the model cannot extrapolate the pan" from "sampling does not use it".
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import textures  # noqa: E402

KNOWN_SIGMA = 0.05
UNKNOWN_LEVELS = (0.6, 0.9, 1.0)


def direction_score(x0hat: torch.Tensor, named: torch.Tensor, opposite: torch.Tensor) -> float:
    """Where the estimate of frames 1.. lies between the named-pan video (+1) and the opposite-pan
    video (-1); latents [B, C, T, H, W] with the same first frame."""
    mid, half = ((named + opposite) / 2)[:, :, 1:], ((named - opposite) / 2)[:, :, 1:]
    denom = float((half * half).sum())
    if denom == 0.0:
        raise ValueError("the named and the opposite videos are identical: no pan to score")
    return float(((x0hat[:, :, 1:] - mid) * half).sum()) / denom


def opposite(direction: int) -> int:
    """right<->left, down<->up (textures.DIRECTION_NAMES order)."""
    return direction ^ 1


def config_ids(plain_ids: torch.Tensor, cfg: dict) -> torch.Tensor:
    """Plain prompt numbers (textures.prompt_parts without named motion) -> the numbers of the same
    prompts in the set a model of config cfg was trained on. A named-motion model's set
    (train.py --named-object-motion) names the objects' direction too: its objects then move the
    first way (rightward), so the pan and the content are those of the plain prompt."""
    if cfg.get("named_object_motion"):
        return plain_ids * len(textures.OBJECT_MOTION_NAMES)
    return plain_ids


@torch.no_grad()
def pan_extrapolation(model, cfg: dict, videos: int = 16, levels=UNKNOWN_LEVELS, seed: int = 11,
                      known_frame: bool = True) -> dict:
    """{direction name: {u: score}} for `videos` prompts of each direction (train.py's config `cfg`
    draws the data: size, frames, tint, pan speed). known_frame False: every frame at u."""
    import train  # (imports ComfyUI's WanModel lazily, as train.py does)
    table = train.prompt_table(cfg)
    out = {}
    base = torch.arange(videos) * 37 % textures.N_PROMPTS
    base = base - base % len(textures.DIRECTION_NAMES)
    for d, name in enumerate(textures.DIRECTION_NAMES):
        ids, ids_opp = config_ids(base + d, cfg), config_ids(base + opposite(d), cfg)
        named = train.render_latents(ids, torch.Generator().manual_seed(seed), cfg)
        away = train.render_latents(ids_opp, torch.Generator().manual_seed(seed), cfg)
        out[name] = scores_by_level(model, named, away, table[ids], levels, seed, known_frame)
    return out


def scores_by_level(model, named: torch.Tensor, away: torch.Tensor, context: torch.Tensor, levels, seed: int,
                    known_frame: bool = True) -> dict:
    """{u: direction_score} of the model's clean estimate of `named` [B, C, T, H, W] (frame 0 at
    KNOWN_SIGMA, or at u without a known frame; the others at u; noise seeded by seed + 1)."""
    noise = torch.randn(named.shape, generator=torch.Generator().manual_seed(seed + 1))
    videos, frames = named.shape[0], named.shape[2]
    out = {}
    for u in levels:
        first = KNOWN_SIGMA if known_frame else u
        sigma = torch.tensor([first] + [u] * (frames - 1)).expand(videos, frames)
        s = sigma.reshape(videos, 1, frames, 1, 1)
        xs = (1 - s) * named + s * noise
        x0hat = xs - s * model(xs, sigma * 1000.0, context)
        out[u] = round(direction_score(x0hat, named, away), 3)
    return out


@torch.no_grad()
def content_carryover(model, cfg: dict, videos: int = 32, levels=UNKNOWN_LEVELS, seed: int = 11) -> dict:
    """Does the known frame's content reach the other frames at all, shifted or not? The estimate of
    frames 1.. scored (direction_score) between this video (+1) and the same prompt's video of another
    seed with the same first frame (-1): 0 is neither (the prompt's average). Returns {u: score} and,
    under "static copy", what a copy of the known frame into every frame scores: a model that
    carries the content but not the pan lands near it."""
    import train
    table = train.prompt_table(cfg)
    ids = config_ids(torch.arange(videos) * 37 % textures.N_PROMPTS, cfg)
    this = train.render_latents(ids, torch.Generator().manual_seed(seed), cfg)
    other = train.render_latents(ids, torch.Generator().manual_seed(seed + 88), cfg)
    other = torch.cat([this[:, :, :1], other[:, :, 1:]], dim=2)
    static = round(direction_score(this[:, :, :1].expand_as(this), this, other), 3)
    return {"static copy": static, **scores_by_level(model, this, other, table[ids], levels, seed)}


@torch.no_grad()
def object_extrapolation(model, cfg: dict, videos: int = 16, levels=UNKNOWN_LEVELS, seed: int = 11) -> dict:
    """The same probe for the objects of a named-motion model (train.py --named-object-motion):
    {objects' direction word: {u: score}}, scored between the video whose objects move the named way
    (+1) and the same video with each object's path mirrored about its first position (-1: the same
    first frame, the objects moving the opposite way; the background and its pan unchanged). At u = 1
    only the word (and the known frame) can say where the objects go."""
    import train
    if not cfg.get("named_object_motion"):
        raise ValueError("object_extrapolation: the model was not trained on named-motion prompts")
    codec = train.dataset(cfg)[1]
    table = train.prompt_table(cfg)
    base = config_ids(torch.arange(videos) * 37 % textures.N_PROMPTS, cfg)   # named ids, objects' direction 0
    out = {}
    for d, name in enumerate(textures.OBJECT_MOTION_NAMES):
        ids = base + d
        parts = [textures.prompt_parts(int(i), named_motion=True) for i in ids]
        layout = textures.config_layout(parts, torch.Generator().manual_seed(seed), cfg)   # the data it was trained on
        mirrored = dict(layout, paths=2 * layout["paths"][:, :, :1] - layout["paths"])
        named, away = (codec.encode(textures.render(parts, lay, cfg["size"], cfg["direction_tint"], cfg["trail_px"],
                                                    cfg.get("motion_tint", 0.0))[0]) for lay in (layout, mirrored))
        out[name] = scores_by_level(model, named, away, table[ids], levels, seed)
    return out


def load(path: str):
    """The model at `path` with train.py's architecture from its config (the .json beside it, else
    the committed textures model's)."""
    import train
    from safetensors.torch import load_file
    meta = os.path.splitext(path)[0] + ".json"
    if not os.path.exists(meta):
        meta = os.path.join(HERE, "..", "..", "models", "tiny_wan21_t2v_textures.json")
    with open(meta) as f:
        cfg = json.load(f)["config"]
    model = train.build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
    model.load_state_dict(load_file(path))
    return model.eval(), cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-known-frame", action="store_true", help="every frame at u, as in sampling")
    ap.add_argument("--objects", action="store_true",
                    help="named-motion models: score the objects' named direction instead (object_extrapolation)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    for path in a.models:
        model, cfg = load(path)
        if a.objects:
            scores = object_extrapolation(model, cfg, a.videos)
            print(f"{os.path.basename(path)} objects: " + " | ".join(
                f"{d} " + " ".join(f"u{u}:{v:+.2f}" for u, v in by_u.items()) for d, by_u in scores.items()), flush=True)
            continue
        # the probe's data: the model's own pan speed, no direction tint (the score is about motion)
        scores = pan_extrapolation(model, dict(cfg, direction_tint=0.0), a.videos,
                                   (0.3, 0.5, 0.7, 0.85, 0.95) if a.no_known_frame else UNKNOWN_LEVELS,
                                   known_frame=not a.no_known_frame)
        cells = " | ".join(f"{d} " + " ".join(f"u{u}:{v:+.2f}" for u, v in by_u.items()) for d, by_u in scores.items())
        print(f"{os.path.basename(path)}: {cells}", flush=True)
        if not a.no_known_frame:
            carried = content_carryover(model, dict(cfg, direction_tint=0.0), 2 * a.videos)
            print(f"  content of the known frame in the others: "
                  + " ".join(f"u{u}:{v:+.2f}" for u, v in carried.items() if u != "static copy")
                  + f" (a static copy of it: {carried['static copy']:+.2f})", flush=True)


if __name__ == "__main__":
    main()
