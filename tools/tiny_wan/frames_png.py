"""What a textures model draws, beside what it was trained on: every frame of the first pairs of the
check's prompts, the ground truth (drawn as the model's training data: its clip length, object speed,
trail, tints, flat background) on the left and the sampled video (same prompt and seed) on the right.

    python tools/tiny_wan/frames_png.py --model PATH --out grid.png [--pairs 4] [--cfg 5] [--steps 25]

Why: the judge's numbers (colours, objects displaced) do not show that the sampled objects are
blotches on the latent's blocks rather than a disc and a square; the picture does
(docs/textures_model.md).
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import check_learned  # noqa: E402
import kinds  # noqa: E402
import sample as sampler  # noqa: E402
import textures  # noqa: E402


def ground_truth(pairs: list[tuple[str, int]], cfg: dict, frames: int, size: int) -> torch.Tensor:
    """[B, 3, T, H, W] videos of the pairs as the model's training data draws them."""
    out = []
    for prompt, seed in pairs:
        parts = [textures.parse_prompt(prompt)]
        layout = textures.config_layout(parts, torch.Generator().manual_seed(seed), cfg | {"frames": frames, "size": size})
        out.append(textures.render(parts, layout, size, cfg.get("direction_tint"), cfg.get("trail_px", 0.0),
                                   cfg.get("motion_tint", 0.0))[0])
    return torch.cat(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=kinds.KINDS["textures"].model_file)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=sampler.CFG)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.pairs < 1:
        raise SystemExit(f"--pairs {a.pairs}: need at least 1")
    torch.set_num_threads(a.threads)
    kind = kinds.kind_of(a.model)
    if kind.data is not textures:
        raise SystemExit(f"--model {a.model}: a textures model is needed (this one is {kind.name})")
    cfg = kinds.model_metadata(a.model).get("config", {})   # the train.py config it was trained with
    pairs = check_learned.default_pairs(a.pairs, 1000, textures, bool(cfg.get("named_object_motion")))
    frames, size = check_learned.model_video_spec(a.model, (kind.frames, kind.size))
    truth = ground_truth(pairs, cfg, frames, size)
    sampled = check_learned.sample_as_trained(sampler.load_model(a.model), a.model, [p for p, _ in pairs],
                                              [s for _, s in pairs], a.steps, a.cfg, frames, size, kind.codec)
    rows = torch.cat([truth, sampled], dim=2)                                # [B, 3, 2T, H, W]
    grid = rows.permute(0, 2, 1, 3, 4).reshape(-1, 3, size, size)
    import torchvision.utils
    torchvision.utils.save_image((grid.clamp(-1, 1) + 1) / 2, a.out, nrow=2 * frames, padding=2)
    for prompt, seed in pairs:
        print(f"{prompt} (seed {seed})")
    print(f"wrote {a.out}: each row {frames} ground-truth frames, then {frames} sampled (cfg {a.cfg:g}, {a.steps} steps)")


if __name__ == "__main__":
    main()
