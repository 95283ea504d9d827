"""Why the textures model's pan is judged as it is, pair by pair: how much of each frame the palette
colours cover (the judge compares backgrounds only), and the background shift with its match ratio
(textures.shift_search) from the first to the last frame and between the first two frames.

    python tools/tiny_wan/pan_report.py [--model PATH] [--pairs 12] [--cfg 5] [--png OUT]

A match ratio above textures.MAX_MATCH_RATIO (0.3) means no shift matched; inf means fewer than a
quarter of the shifts could be judged (too much of the frame in object colours). Ground truth:
colours cover about 7% of a frame, and first to last shifts 14 px along the named direction.
"tint" is the direction whose background tint (textures.DIRECTION_TINT, data.TINTS) the background's
mean colour cast is nearest to: whether the model follows the direction word at all, moving or not.
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


def tint_direction(videos: torch.Tensor) -> torch.Tensor:
    """Direction index [B] whose tint best matches the background's mean colour cast (RGB minus
    luma, away from the objects)."""
    mask = textures.object_mask(videos)[:, None]                          # [B, 1, T, H, W]
    cast = videos - videos.mean(dim=1, keepdim=True)
    keep = (~mask).float()
    mean = (cast * keep).sum(dim=(2, 3, 4)) / keep.sum(dim=(2, 3, 4)).clamp(min=1)   # [B, 3]
    return (mean @ textures.data.TINTS.T).argmax(dim=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=kinds.KINDS["textures"].model_file)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=sampler.CFG)
    ap.add_argument("--png", default=None, help="also save the first, a middle and the last frame (0, 3, 7 of 8) of the first 4 pairs as a grid")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    kind = kinds.kind_of(a.model)   # (a train.py --latent lossless model decodes with that latent)
    if kind.data is not textures:
        raise SystemExit(f"--model {a.model}: a textures model is needed (this one is {kind.name})")
    pairs = check_learned.default_pairs(a.pairs, 1000, textures)
    prompts, seeds = [p for p, _ in pairs], [s for _, s in pairs]
    frames, size = check_learned.model_video_spec(a.model, (kind.frames, kind.size))   # the model's own clip length
    videos = check_learned.sample_as_trained(sampler.load_model(a.model), a.model, prompts, seeds, a.steps, a.cfg,
                                             frames, size, kind.codec)
    whole, whole_ratio = textures.shift_search(videos)
    first, first_ratio = textures.shift_search(videos[:, :, :2])
    cover = textures.object_mask(videos).float().mean(dim=(1, 2, 3))
    tint = tint_direction(videos)
    print(f"{a.model}, cfg {a.cfg:g}, {a.steps} steps")
    for i, prompt in enumerate(prompts):
        print(f"{prompt:55s} colours cover {cover[i]:.0%}  first->last {whole[i].tolist()} ratio {whole_ratio[i]:.2f}"
              f"  frames 0->1 {first[i].tolist()} ratio {first_ratio[i]:.2f}  tint {textures.DIRECTION_NAMES[tint[i]]}")
    named = torch.tensor([textures.parse_prompt(p).direction for p in prompts])
    judged = whole_ratio.isfinite()
    print(f"judgeable {int(judged.sum())}/{len(prompts)}; first->last matched {int((whole_ratio <= textures.MAX_MATCH_RATIO).sum())}; "
          f"frames 0->1 matched {int((first_ratio <= textures.MAX_MATCH_RATIO).sum())}; "
          f"pan direction correct {int((textures.classify_direction(videos) == named).sum())}; "
          f"tint direction correct {int((tint == named).sum())}")
    if a.png:
        import torchvision.utils
        grid = videos[:4, :, [0, frames // 2 - 1, frames - 1]].permute(0, 2, 1, 3, 4).reshape(-1, 3, size, size)
        torchvision.utils.save_image((grid.clamp(-1, 1) + 1) / 2, a.png, nrow=3)


if __name__ == "__main__":
    main()
