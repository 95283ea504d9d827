"""Did the tiny Wan2.1 model learn its prompts? Sample N prompt/seed pairs through ComfyUI's loader
(sample.py: ModelSamplingSD3 shift 8, simple scheduler, Euler, CFG) and report the fraction whose
decoded video shows the prompt's colour, motion direction (fitted centroid velocity along the named
direction >= 1 px / frame and dominant) and shape (best-IoU shape template), per attribute and all
three together, with breakdowns per shape and direction.

    python tools/tiny_wan/check_learned.py [--model PATH] [--pairs 72] [--steps 25] [--json OUT]

A textures model (kinds.py; models/tiny_wan21_t2v_textures.safetensors) is judged by textures.judge
instead: both object colours present, the pan direction, the texture kind and its scale. Chance
levels there: texture 1/4, scale 1/2, direction 1/4 or less. It also reports `objects_moving`: the
fraction of named objects whose colour centroids follow a straight track at 0.5-3 px a frame
(textures.objects_moving; not part of "all", since the prompt does not name the objects' paths), and
`objects_displaced`: the fraction whose colour region as a whole moved that far from the first frame
to the last (textures.objects_displaced; a still region whose outline flickers can pass the first, not
this one).

Chance levels: colour 1/6, shape 1/3, direction 1/4 (or less: a static blob counts as wrong).
The ground-truth renders score 100% / 100% / 100% with the same judge (--ground-truth).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import data  # noqa: E402
import kinds  # noqa: E402
import latent  # noqa: E402
import sample as sampler  # noqa: E402
import textures  # noqa: E402


def default_pairs(n: int, seed_base: int = 1000, source=data, named_motion: bool = False) -> list[tuple[str, int]]:
    """n prompt/seed pairs cycling through the prompts of a data module, seed seed_base + i. Shapes:
    prompt i % 72. Textures (960 prompts): pair i has texture i % 4, scale (i // 2) % 2, direction
    (i + i // 4) % 4 and colour pair 7 i % 30, so any 8 consecutive pairs cover every texture, scale
    and direction; named_motion (textures.NAMED_MOTION_TEMPLATE): the same pairs, naming the objects'
    direction (i // 2 + i // 8) % 4, so each block of 8 pairs (i = 8k .. 8k + 7) names each twice."""
    if source is data:
        prompts = source.all_prompts()
        return [(prompts[i % len(prompts)], seed_base + i) for i in range(n)]
    out = []
    for i in range(n):
        a, b = textures.COLOUR_PAIRS[(7 * i) % len(textures.COLOUR_PAIRS)]
        parts = textures.PromptParts(a, b, i % 4, (i + i // 4) % 2, (i + i // 4) % 4,
                                     (i // 2 + i // 8) % 4 if named_motion else None)
        out.append((parts.text, seed_base + i))
    return out


def model_config(path: str) -> dict:
    """The train.py config a model file records ({} when it has none or cannot be read)."""
    try:
        return kinds.model_metadata(path).get("config", {})
    except (ValueError, OSError):
        return {}


def sample_as_trained(patched, path: str, prompts: list[str], seeds: list[int], steps: int, cfg: float,
                      frames: int, size: int, codec, batch: int = 12) -> torch.Tensor:
    """Decoded videos of a textures model for (full) prompts, conditioned as it was trained: with its
    word positions (train.py --ordered-prompt) and on its cut prompts (--short-prompt)."""
    config = model_config(path)
    texts = textures.conditioning_texts(prompts, config)
    ordered = bool(config.get("ordered_prompt", False))   # model_orders_words, without a second read
    return torch.cat([sampler.sample_videos(patched, texts[i:i + batch], seeds[i:i + batch], steps, cfg, frames,
                                            size, codec=codec, ordered=ordered)
                      for i in range(0, len(texts), batch)])


def model_orders_words(path: str) -> bool:
    """Was the model trained on prompts with word positions (train.py --ordered-prompt)? Then its
    prompts are embedded with them (sample_as_trained; TinyWanPrompt's word_positions)."""
    return bool(model_config(path).get("ordered_prompt", False))


def model_names_motion(path: str) -> bool:
    """Was the model trained on named-motion prompts (train.py --named-object-motion)?"""
    return bool(model_config(path).get("named_object_motion", False))


def track_speed_around(speed) -> tuple[float, float]:
    """The px-a-frame range the textures judge counts as moving (textures.TRACK_SPEED) for objects
    rendered at `speed` (LO, HI; None: the data's textures.OBJECT_SPEED): widened by 1 px a frame each
    way, at least 0.5. The data's 1-2 gives (0.5, 3.0), the judge's default."""
    lo, hi = textures.OBJECT_SPEED if not speed else (float(speed[0]), float(speed[1]))
    return max(lo - 1.0, 0.5), hi + 1.0


def model_track_speed(path: str) -> tuple[float, float]:
    """track_speed_around the object speed the model was trained at (train.py --object-speed)."""
    return track_speed_around(model_config(path).get("object_speed"))


def model_video_spec(path: str, default: tuple[int, int] = (data.FRAMES, data.SIZE)) -> tuple[int, int]:
    """(frames, size) the model was trained on, from the safetensors metadata (`default` if absent)."""
    try:
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            meta = json.loads((f.metadata() or {}).get("taocache_tiny_wan", "{}"))
        return int(meta["video"]["frames"]), int(meta["video"]["size"])
    except (KeyError, ValueError, OSError):
        return default


def summarize(verdict: dict, prompts: list[str]) -> dict:
    out = {k: round(float(verdict[k].float().mean()), 4) for k in ("colour", "direction", "shape", "all")}
    out["n"] = len(prompts)
    sp = verdict["speed_along"]
    out["mean_speed_along_px_per_frame"] = round(float(torch.nan_to_num(sp, nan=0.0).mean()), 3)
    parts = [data.parse_prompt(p) for p in prompts]
    for key, names in (("shape", data.SHAPE_NAMES), ("direction", data.DIRECTION_NAMES)):
        idx = torch.tensor([getattr(p, key) for p in parts])
        out[f"{key}_by_{key}"] = {n: round(float(verdict[key][idx == i].float().mean()), 3)
                                  for i, n in enumerate(names) if bool((idx == i).any())}
    cidx = torch.tensor([p.colour for p in parts])
    out["colour_by_colour"] = {n: round(float(verdict["colour"][cidx == i].float().mean()), 3)
                               for i, n in enumerate(data.COLOUR_NAMES) if bool((cidx == i).any())}
    return out


def summarize_textures(verdict: dict, prompts: list[str]) -> dict:
    out = {k: round(float(verdict[k].float().mean()), 4) for k in ("colours", "direction", "texture", "scale", "all")}
    out["n"] = len(prompts)
    out["objects_moving"] = round(float(verdict["objects_moving"].mean()), 4)
    out["objects_displaced"] = round(float(verdict["objects_displaced"].mean()), 4)
    for key in ("objects_heading", "objects_displaced_heading"):   # named-motion prompts: the named way
        if key in verdict:
            out[key] = round(float(verdict[key].nanmean()), 4)
    parts = [textures.parse_prompt(p) for p in prompts]
    for key, names in (("texture", textures.TEXTURE_NAMES), ("scale", textures.SCALE_NAMES),
                       ("direction", textures.DIRECTION_NAMES)):
        idx = torch.tensor([getattr(p, key) for p in parts])
        out[f"{key}_by_{key}"] = {n: round(float(verdict[key][idx == i].float().mean()), 3)
                                  for i, n in enumerate(names) if bool((idx == i).any())}
    return out


def one_object_summary(videos: torch.Tensor, prompts: list[str]) -> dict:
    """A one-object textures model (train.py --objects 1): which named colour its disc took
    ("disc_in_first_colour": the first is right; a coin flip means the model cannot tell the colours'
    order, docs/textures_model.md) and, for named-motion prompts, the shapes model's own judge on the
    disc as "a {first colour} disc moving {way}" (data.judge: the colour mask's fitted centroid
    velocity, where the textures judge asks the region as a whole to move)."""
    parts = [textures.parse_prompt(p) for p in prompts]
    px = textures.colour_pixels(videos)
    first = torch.tensor([bool(px[i, p.colour_a] >= px[i, p.colour_b]) for i, p in enumerate(parts)])
    out = {"disc_in_first_colour": round(float(first.float().mean()), 4)}
    if all(p.object_direction is not None for p in parts):
        as_shapes = [data.PROMPT_TEMPLATE.format(colour=data.COLOUR_NAMES[p.colour_a], shape="disc",
                                                 direction=data.DIRECTION_NAMES[p.object_direction]) for p in parts]
        verdict = data.judge(videos, as_shapes)
        out["shapes_judge"] = {k: round(float(verdict[k].float().mean()), 4) for k in ("colour", "direction")} | {
            "mean_speed_along_px_per_frame": round(float(torch.nan_to_num(verdict["speed_along"], nan=0.0).mean()), 3)}
    return out


def judge_summary(kind: kinds.Kind, videos: torch.Tensor, prompts: list[str], objects: int = 2) -> dict:
    """objects (textures): 1 judges the disc only (a model trained with train.py --objects 1)."""
    if kind.data is textures:
        return summarize_textures(textures.judge(videos, prompts, objects), prompts) | {
            "tracks": textures.track_summary(videos, prompts, objects)} | (
            {"objects": 1} | one_object_summary(videos, prompts) if objects == 1 else {})
    return summarize(data.judge(videos, prompts), prompts)


def evaluate(denoise: sampler.Denoiser, pairs: list[tuple[str, int]], steps: int = 25, cfg: float = sampler.CFG,
             frames: int = data.FRAMES, size: int = data.SIZE, model_sampling=None, batch: int = 36) -> dict:
    prompts = [p for p, _ in pairs]
    seeds = [s for _, s in pairs]
    sigmas = sampler.comfy_sigmas(steps, model_sampling=model_sampling)
    videos = []
    for i in range(0, len(pairs), batch):
        lat = sampler.sample(denoise, prompts[i:i + batch], seeds[i:i + batch], steps, cfg, frames, size,
                             sigmas=sigmas, model_sampling=model_sampling)
        videos.append(latent.decode(lat).clamp(-1, 1))
    videos = torch.cat(videos)
    return summarize(data.judge(videos, prompts), prompts) | {"steps": steps, "cfg": cfg}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=sampler.DEFAULT_MODEL)
    ap.add_argument("--pairs", type=int, default=72)
    ap.add_argument("--seed-base", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=sampler.CFG)
    ap.add_argument("--shift", type=float, default=sampler.SHIFT,
                    help=f"ModelSamplingSD3 shift to sample with (default {sampler.SHIFT}, the workflows'; a "
                         "diagnostic: a lower shift gives the low-noise steps, where fine detail settles, more of the budget)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--kind", choices=tuple(kinds.KINDS), default=None,
                    help="which tiny model's data and judge (default: read from the model file)")
    ap.add_argument("--ground-truth", action="store_true", help="judge ground-truth renders instead (sanity check)")
    ap.add_argument("--track-speed", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="textures: the px-a-frame range objects_moving and objects_displaced count (default: "
                         f"the model's training speed +-1, model_track_speed; {textures.TRACK_SPEED} for the data's)")
    ap.add_argument("--only-object-direction", default=None, choices=textures.OBJECT_MOTION_NAMES,
                    help="textures, named-motion prompts: every pair names this direction for the objects "
                         "(for a model trained with train.py --only-object-direction)")
    ap.add_argument("--object-speed", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="textures, --ground-truth: render the objects at this px-a-frame range "
                         f"(default {textures.OBJECT_SPEED}; as train.py --object-speed)")
    ap.add_argument("--frames", type=int, default=None,
                    help="--ground-truth: frames per video (default the kind's; a whole-token speed fits 4 frames)")
    ap.add_argument("--object-scale", type=float, default=None,
                    help="--ground-truth: scale the disc and the square (as train.py --object-scale)")
    ap.add_argument("--size", type=int, default=None,
                    help="--ground-truth: frame size in px (default the kind's; for a model trained with train.py --size)")
    ap.add_argument("--objects", type=int, choices=(1, 2), default=None,
                    help="textures: judge the disc only (1) or both objects (2); default as the model was trained "
                         "(train.py --objects), with --ground-truth 2; --ground-truth renders that many")
    ap.add_argument("--named-object-motion", action="store_true",
                    help="textures: prompts that name the objects' direction (default: as the model was trained)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.kind and a.model == sampler.DEFAULT_MODEL:
        a.model = kinds.KINDS[a.kind].model_file
    textures.TRACK_SPEED = (tuple(a.track_speed) if a.track_speed else track_speed_around(a.object_speed)
                            if a.ground_truth else model_track_speed(a.model))
    kind = kinds.KINDS[a.kind] if a.kind else kinds.kind_of(a.model)
    named = kind.data is textures and (a.named_object_motion or (not a.ground_truth and model_names_motion(a.model)))
    pairs = default_pairs(a.pairs, a.seed_base, kind.data, named)
    if a.only_object_direction:
        pairs = [(textures.name_object_motion(p, textures.OBJECT_MOTION_NAMES.index(a.only_object_direction)), s)
                 for p, s in pairs]
    if a.objects is None:
        a.objects = 2 if a.ground_truth else model_config(a.model).get("objects", 2)
    t0 = time.time()
    if a.ground_truth:
        spec = ({} if a.frames is None else {"frames": a.frames}) | ({} if a.size is None else {"size": a.size}) | (
            {} if a.object_speed is None else {"object_speed": tuple(a.object_speed)}) | (
            {} if a.object_scale is None else {"object_scale": a.object_scale}) | (
            {"objects": a.objects} if kind.data is textures else {})
        vids = torch.cat([kind.data.render_prompt(p, s, **spec)[0] for p, s in pairs])
        res = judge_summary(kind, kind.codec.decode(kind.codec.encode(vids)).clamp(-1, 1), [p for p, _ in pairs],
                            a.objects)
    elif kind.data is textures:
        frames, size = model_video_spec(a.model, (kind.frames, kind.size))   # (a model trained on shorter clips)
        patched = sampler.load_model(a.model, a.shift)
        prompts, seeds = [p for p, _ in pairs], [s for _, s in pairs]
        videos = sample_as_trained(patched, a.model, prompts, seeds, a.steps, a.cfg, frames, size, kind.codec)
        res = judge_summary(kind, videos, prompts, a.objects) | {"steps": a.steps, "cfg": a.cfg, "shift": a.shift,
                                                                 "track_speed": list(textures.TRACK_SPEED)}
        res["model"] = os.path.relpath(a.model)
    else:
        frames, size = model_video_spec(a.model)
        patched = sampler.load_model(a.model, a.shift)
        res = evaluate(sampler.comfy_denoiser(patched), pairs, a.steps, a.cfg, frames, size,
                       model_sampling=patched.get_model_object("model_sampling")) | {"shift": a.shift}
        res["model"] = os.path.relpath(a.model)
    res["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
