"""Procedural text-to-video data with detail at several scales, for the second tiny Wan2.1 model
("textures"), and its ground-truth judge. Plain torch; never imports ComfyUI.

A video (64 x 64 px, 8 frames): a grey textured background that slides two pixels per frame in the
named direction (a slow camera pan), with two objects in front of it, a disc and a square of two
named colours, each moving on its own straight path at 1-2 px per frame (they may overlap; the
square is drawn over the disc). The prompt names the colours, the texture and its scale, and the
pan direction, in exactly CONTEXT_LEN (8) words:

    "red and blue over fine stripes panning left"

A second prompt set (train.py --named-object-motion; the committed textures model's) also names where
both objects move, still in CONTEXT_LEN words, and both then move exactly that way:

    "red and blue upward, fine stripes panning left"

Textures (luma only, on a grey level; rendered at 2x and averaged down, so edges are anti-aliased):
  stripes  diagonal stripes (45 or 135 degrees, random per video)
  checks   an axis-aligned checkerboard
  dots     a square grid of round dots
  noise    a band-limited random field (a sum of random plane waves near the scale's period)
Scales: fine (period 4 px: below one model token, which covers 8 x 8 px) and coarse (period 12 px).

The prompt goes through the same word-vector embedding as the shapes model (data.embed_prompt).

Judge (what a generated video shows), on decoded RGB frames [B, 3, T, H, W] in [-1, 1]:
  object colours   both named colours cover at least MIN_OBJECT_PX pixels on average per frame
  pan direction    the summed frame-to-frame shift of the background (phase correlation of luma)
  texture          kind and scale from the background's power spectrum, by nearest centroid of
                   spectral features measured on ground-truth renders (texture_centroids)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import data  # the shapes model's module: palette, word-vector prompt embedding, colour masks

FRAMES = 8
SIZE = 64
SUPERSAMPLE = 2
PAN_SPEED = 2.0                 # px per frame, the background (1.0 for the earlier textures models and the
                                # committed one's first stage; no model has learned either: README)
OBJECT_SPEED = (1.0, 2.0)       # px per frame, each object, uniform
BG_LEVEL = (-0.45, -0.15)       # grey level of the background, uniform per video
CONTRAST = (0.25, 0.35)         # texture amplitude around the grey level, uniform per video
LIGHT_WAVES = 3
LIGHT_PERIOD = (40.0, 64.0)
LIGHT_AMPLITUDE = 0.35          # 0.2 before the pan fine-tune
DIRECTION_TINT = 0.1            # a faint background tint per pan direction (data.TINTS; 0 before the
                                # third training stage): see render()
DISC_RADIUS = 7.0
SQUARE_HALF = 6.0
OBJECT_TRAIL_PX = 0.0           # a faint motion trail behind each object (data.TRAIL_ALPHA, as the shapes
                                # model's); the committed model trained with 8 (--trail-px): see _object_trail

COLOUR_NAMES = data.COLOUR_NAMES
PALETTE = data.PALETTE
TEXTURE_NAMES = ("stripes", "checks", "dots", "noise")
SCALE_NAMES = ("fine", "coarse")
PERIODS = {"fine": 4.0, "coarse": 12.0}
DIRECTION_NAMES = data.DIRECTION_NAMES
DIR_VEC = data.DIR_VEC

PROMPT_TEMPLATE = "{a} and {b} over {scale} {texture} panning {direction}"
COLOUR_PAIRS = tuple((a, b) for a in range(len(COLOUR_NAMES)) for b in range(len(COLOUR_NAMES)) if a != b)
N_PROMPTS = len(COLOUR_PAIRS) * len(TEXTURE_NAMES) * len(SCALE_NAMES) * len(DIRECTION_NAMES)
CONTEXT_LEN = data.CONTEXT_LEN

# The named-motion prompt set (train.py --named-object-motion; the committed model's): the
# prompt also names the way both objects move, one of four words in DIRECTION_NAMES' order, and
# both objects then move exactly that way (at their own speed). Still CONTEXT_LEN words:
#     "red and blue upward, fine stripes panning left"
# Why: with the objects' directions drawn at random and never named, no model of this size kept an
# object on one direction (docs/textures_model.md); the shapes model, whose prompt names its
# shape's direction, moves it in 100% of pairs.
OBJECT_MOTION_NAMES = ("rightward", "leftward", "downward", "upward")
NAMED_MOTION_TEMPLATE = "{a} and {b} {motion}, {scale} {texture} panning {direction}"
N_NAMED_PROMPTS = N_PROMPTS * len(OBJECT_MOTION_NAMES)
assert all(m.startswith(d) for m, d in zip(OBJECT_MOTION_NAMES, DIRECTION_NAMES, strict=True))  # same order


@dataclass(frozen=True)
class PromptParts:
    colour_a: int
    colour_b: int
    texture: int
    scale: int
    direction: int
    object_direction: int | None = None    # named-motion prompts only: where both objects move

    @property
    def text(self) -> str:
        words = dict(a=COLOUR_NAMES[self.colour_a], b=COLOUR_NAMES[self.colour_b], scale=SCALE_NAMES[self.scale],
                     texture=TEXTURE_NAMES[self.texture], direction=DIRECTION_NAMES[self.direction])
        if self.object_direction is None:
            return PROMPT_TEMPLATE.format(**words)
        return NAMED_MOTION_TEMPLATE.format(motion=OBJECT_MOTION_NAMES[self.object_direction], **words)


def prompt_count(named_motion: bool = False) -> int:
    return N_NAMED_PROMPTS if named_motion else N_PROMPTS


def prompt_parts(index: int, named_motion: bool = False) -> PromptParts:
    """Prompt number -> its parts (direction fastest, then scale, texture, colours). With named_motion
    (0..N_NAMED_PROMPTS-1) the objects' direction comes fastest, before all of those."""
    if not 0 <= index < prompt_count(named_motion):
        raise ValueError(f"prompt index {index} out of range 0..{prompt_count(named_motion) - 1}")
    if named_motion:
        index, moving = divmod(index, len(OBJECT_MOTION_NAMES))
        return dataclasses.replace(prompt_parts(index), object_direction=moving)
    index, direction = divmod(index, len(DIRECTION_NAMES))
    index, scale = divmod(index, len(SCALE_NAMES))
    pair, texture = divmod(index, len(TEXTURE_NAMES))
    a, b = COLOUR_PAIRS[pair]
    return PromptParts(a, b, texture, scale, direction)


def prompt_index(p: PromptParts) -> int:
    """The prompt's number (in the named-motion set when it names the objects' direction)."""
    pair = COLOUR_PAIRS.index((p.colour_a, p.colour_b))
    index = ((pair * len(TEXTURE_NAMES) + p.texture) * len(SCALE_NAMES) + p.scale) * len(DIRECTION_NAMES) + p.direction
    return index if p.object_direction is None else index * len(OBJECT_MOTION_NAMES) + p.object_direction


def all_prompts(named_motion: bool = False) -> list[str]:
    return [prompt_parts(i, named_motion).text for i in range(prompt_count(named_motion))]


def parse_prompt(prompt: str) -> PromptParts:
    """The parts of a prompt: two colours (in order), one texture, one scale, one direction, and at
    most one of OBJECT_MOTION_NAMES (object_direction; None when the prompt names none)."""
    words = prompt.lower().replace(",", " ").split()
    colours = [COLOUR_NAMES.index(w) for w in words if w in COLOUR_NAMES]
    if len(colours) != 2 or colours[0] == colours[1]:
        raise ValueError(f"prompt {prompt!r} must name two different colours of {COLOUR_NAMES}")
    found = {}
    for key, names in (("texture", TEXTURE_NAMES), ("scale", SCALE_NAMES), ("direction", DIRECTION_NAMES)):
        hits = [names.index(w) for w in words if w in names]
        if len(hits) != 1:
            raise ValueError(f"prompt {prompt!r} must name exactly one {key} of {names}")
        found[key] = hits[0]
    moving = [OBJECT_MOTION_NAMES.index(w) for w in words if w in OBJECT_MOTION_NAMES]
    if len(moving) > 1:
        raise ValueError(f"prompt {prompt!r} may name at most one objects' direction of {OBJECT_MOTION_NAMES}")
    return PromptParts(colours[0], colours[1], object_direction=moving[0] if moving else None, **found)


def name_object_motion(prompt: str, object_direction: int) -> str:
    """The named-motion form of a prompt (for a model trained on those): the same colours, texture,
    scale and pan, with the objects' direction object_direction (an index of OBJECT_MOTION_NAMES)."""
    return dataclasses.replace(parse_prompt(prompt), object_direction=object_direction).text


def short_text(p: PromptParts, objects: int = 2, textured: bool = True, panning: bool = True) -> str:
    """The prompt cut to the words that name what a video of such a config shows (train.py
    --short-prompt, a diagnostic): no second colour for a one-object model, no texture and scale over
    a flat background, no pan when the pan cannot be seen. A one-object, flat, unpanned video with
    named motion gets the shapes model's form, "a red disc moving upward": every word binds, and
    there is one colour word, so no word order is needed (docs/textures_model.md). Two objects over
    a textured, unpanned background: "red and blue moving upward over fine stripes"."""
    words = (["a", COLOUR_NAMES[p.colour_a], "disc"] if objects == 1     # (no article for two: the textured
             else [COLOUR_NAMES[p.colour_a], "and", COLOUR_NAMES[p.colour_b]])   # form then fits in 8 words)
    if p.object_direction is not None:
        words += ["moving", OBJECT_MOTION_NAMES[p.object_direction]]
    if textured:
        words += ["over", SCALE_NAMES[p.scale], TEXTURE_NAMES[p.texture]]
    if panning:
        words += ["panning", DIRECTION_NAMES[p.direction]]
    if len(words) > CONTEXT_LEN:     # (the embedding would cut the last words: the pan)
        raise ValueError(f"the short prompt of objects={objects}, textured={textured}, panning={panning} has "
                         f"{len(words)} words, more than the {CONTEXT_LEN} the embedding keeps; it cuts nothing "
                         "there: use the full prompt")
    return " ".join(words)


def short_prompt_form(cfg: dict) -> tuple[int, bool, bool] | None:
    """(objects, textured, panning) of a training config with short_prompt (train.py --short-prompt),
    else None. The pan can be seen on a textured background, or on a flat one through its tint."""
    if not cfg.get("short_prompt"):
        return None
    textured = not cfg.get("flat_background", False)
    pan = PAN_SPEED if cfg.get("pan_px") is None else cfg["pan_px"]
    tint = DIRECTION_TINT if cfg.get("direction_tint") is None else cfg["direction_tint"]
    return int(cfg.get("objects", 2)), textured, bool(pan > 0 and (textured or tint > 0))


def conditioning_texts(prompts: list[str], cfg: dict) -> list[str]:
    """The texts a model of training config cfg is conditioned on for these (full) prompts: the
    prompts themselves, or their short_text under short_prompt. The judge always reads the full ones."""
    form = short_prompt_form(cfg)
    return list(prompts) if form is None else [short_text(parse_prompt(p), *form) for p in prompts]


_TABLE: dict[tuple, torch.Tensor] = {}


def prompt_table(named_motion: bool = False, ordered: bool = False,
                 short: tuple[int, bool, bool] | None = None) -> torch.Tensor:
    """Embeddings of all prompts of the set [N, CONTEXT_LEN, 4096] (cached; about 125 MB, or 500 MB
    for the named-motion set); ordered: data.embed_prompt's word positions (train.py --ordered-prompt);
    short: short_text's (objects, textured, panning), the cut prompts (train.py --short-prompt)."""
    key = (CONTEXT_LEN, named_motion, ordered, short)
    if key not in _TABLE:
        if short is None:
            _TABLE[key] = data.embed_prompts(all_prompts(named_motion), CONTEXT_LEN, ordered)
        else:   # (many prompts share a cut form: each form is embedded once)
            texts = [short_text(prompt_parts(i, named_motion), *short) for i in range(prompt_count(named_motion))]
            forms = sorted(set(texts))
            rows = torch.tensor([forms.index(t) for t in texts])
            _TABLE[key] = data.embed_prompts(forms, CONTEXT_LEN, ordered)[rows]
    return _TABLE[key]


# ----------------------------------------------------------------------------- rendering
def _uniform(gen, shape, lo, hi):
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def sample_layout(parts: list[PromptParts], gen: torch.Generator, frames: int = FRAMES, size: int = SIZE,
                  pan_speed: float | None = None, object_speed: tuple[float, float] | None = None,
                  object_scale: float = 1.0, objects: int = 2, cross_jitter: float | None = None) -> dict:
    """Random per-video layout: grey level, contrast, texture phase/orientation/noise waves, the
    background offset per frame [B, T, 2] (pan_speed px a frame, default PAN_SPEED) and the two
    object paths [B, 2, T, 2] (x, y), each at a speed uniform in object_speed (default OBJECT_SPEED).
    objects 1 (a diagnostic, train.py --objects): render draws the disc only; both paths are still
    drawn, so the random stream and the disc's path are those of the two-object data. cross_jitter
    (px; named-motion prompts only, a diagnostic, train.py --cross-jitter): across the named motion
    each path stays within this of the frame's middle line, as the shapes data's (data.CROSS_JITTER),
    so a video's layout shows its direction in every frame; default: anywhere that fits."""
    lo_speed, hi_speed = OBJECT_SPEED if object_speed is None else object_speed
    if objects not in (1, 2):
        raise ValueError(f"objects {objects}: must be 1 (the disc only) or 2 (the disc and the square)")
    if not 0.1 <= object_scale <= 2.0:
        raise ValueError(f"object_scale {object_scale}: must be in [0.1, 2.0] (1: a disc of radius {DISC_RADIUS} px)")
    half = torch.tensor([DISC_RADIUS, SQUARE_HALF]) * object_scale
    room = size - 2 * (float(half[0]) + 2)
    if not 0 <= lo_speed <= hi_speed or (hi_speed * (frames - 1) > room):
        raise ValueError(f"object_speed {object_speed}: need 0 <= LO <= HI and a path that fits the frame "
                         f"(HI at most {room / max(frames - 1, 1):.1f} px a frame)")
    n = len(parts)
    direction = torch.tensor([p.direction for p in parts])
    pan = DIR_VEC[direction] * (PAN_SPEED if pan_speed is None else pan_speed)   # [B, 2] px / frame
    t = torch.arange(frames, dtype=torch.float32)
    offset = pan[:, None, :] * t[None, :, None]                             # [B, T, 2]
    phase = torch.rand(n, 2, generator=gen) * 2 * math.pi
    diagonal = torch.where(torch.rand(n, generator=gen) < 0.5, 1.0, -1.0)  # 45 or 135 degrees
    wave_angle = torch.rand(n, 12, generator=gen) * 2 * math.pi             # noise: 12 plane waves
    wave_freq = _uniform(gen, (n, 12), 0.8, 1.25)
    wave_phase = torch.rand(n, 12, generator=gen) * 2 * math.pi
    light_angle = torch.rand(n, LIGHT_WAVES, generator=gen) * 2 * math.pi   # the slow light field
    light_period = _uniform(gen, (n, LIGHT_WAVES), *LIGHT_PERIOD)
    light_phase = torch.rand(n, LIGHT_WAVES, generator=gen) * 2 * math.pi
    paths = []
    named = torch.tensor([p.object_direction is not None for p in parts])
    named_vec = DIR_VEC[torch.tensor([p.object_direction or 0 for p in parts])]   # [B, 2] (dx, dy)
    named_angle = torch.atan2(named_vec[:, 1], named_vec[:, 0])
    for k in range(2):
        angle = torch.rand(n, generator=gen) * 2 * math.pi                 # (drawn either way: same stream)
        angle = torch.where(named, named_angle, angle)
        speed = _uniform(gen, n, lo_speed, hi_speed)
        vel = torch.stack([angle.cos(), angle.sin()], dim=-1) * speed[:, None]   # [B, 2]
        travel = vel * (frames - 1)
        lo = half[k] + 1.0
        hi = size - 1 - half[k] - 1.0
        start_lo = lo - travel.clamp(max=0)
        start_hi = hi - travel.clamp(min=0)
        if cross_jitter is not None:
            if not bool(named.all()):
                raise ValueError("cross_jitter needs named-motion prompts (the axis across the motion)")
            start_lo, start_hi = data.near_middle_line(start_lo, start_hi, named_vec, cross_jitter)
        start = start_lo + torch.rand(n, 2, generator=gen) * (start_hi - start_lo)
        paths.append(start[:, None, :] + t[None, :, None] * vel[:, None, :])
    return {"bg": _uniform(gen, n, *BG_LEVEL), "contrast": _uniform(gen, n, *CONTRAST), "offset": offset,
            "phase": phase, "diagonal": diagonal, "wave_angle": wave_angle, "wave_freq": wave_freq,
            "wave_phase": wave_phase, "light_angle": light_angle, "light_period": light_period,
            "light_phase": light_phase, "paths": torch.stack(paths, dim=1), "direction": direction,
            "object_half": half, "objects": objects}


def _texture(kind: int, scale: int, x: torch.Tensor, y: torch.Tensor, layout: dict, i: int) -> torch.Tensor:
    """Texture value in [-1, 1] at pixel coordinates x, y (any broadcastable shape) for video i."""
    period = PERIODS[SCALE_NAMES[scale]]
    w = 2 * math.pi / period
    px, py = layout["phase"][i]
    if TEXTURE_NAMES[kind] == "stripes":
        u = (x + layout["diagonal"][i] * y) / math.sqrt(2)
        return torch.tanh(3.0 * torch.cos(w * u + px))
    if TEXTURE_NAMES[kind] == "checks":
        return torch.tanh(4.0 * torch.cos(w * x + px) * torch.cos(w * y + py))
    if TEXTURE_NAMES[kind] == "dots":
        gx = torch.remainder(x + px / w, period) - period / 2
        gy = torch.remainder(y + py / w, period) - period / 2
        r = period / 4
        return (2 * (r + 0.5 - torch.sqrt(gx ** 2 + gy ** 2)).clamp(0, 1) - 1)
    field = torch.zeros(torch.broadcast_shapes(x.shape, y.shape))
    for a, f, ph in zip(layout["wave_angle"][i], layout["wave_freq"][i], layout["wave_phase"][i]):
        field = field + torch.cos(w * f * (x * torch.cos(a) + y * torch.sin(a)) + ph)
    return torch.tanh(field / math.sqrt(6.0))


def _light(x: torch.Tensor, y: torch.Tensor, layout: dict, i: int) -> torch.Tensor:
    """A slow light field (LIGHT_WAVES plane waves of period LIGHT_PERIOD px, LIGHT_AMPLITUDE in all)
    that pans with the texture. Why: a periodic texture alone does not show every pan (diagonal
    stripes moving right look the same as moving down, the aperture problem); the light field
    does, for the model and for the judge's background_shift."""
    out = torch.zeros(torch.broadcast_shapes(x.shape, y.shape))
    for a, period, ph in zip(layout["light_angle"][i], layout["light_period"][i], layout["light_phase"][i]):
        out = out + torch.cos(2 * math.pi / period * (x * torch.cos(a) + y * torch.sin(a)) + ph)
    return out * (layout.get("light_amplitude", LIGHT_AMPLITUDE) / LIGHT_WAVES)


def _object_alpha(path: torch.Tensor, kind: str, x: torch.Tensor, y: torch.Tensor,
                  half: float | None = None) -> torch.Tensor:
    """Coverage [T, H, W] of a disc (radius half, default DISC_RADIUS) or square (half side, default
    SQUARE_HALF) following path [T, 2] (x, y), on the 2x grid."""
    dx = x[None] - path[:, 0, None, None]
    dy = y[None] - path[:, 1, None, None]
    edge = 0.5
    if kind == "disc":
        r = DISC_RADIUS if half is None else half
        return (r + edge - torch.sqrt(dx ** 2 + dy ** 2)).clamp(0, 1)
    h = SQUARE_HALF if half is None else half
    return (h + edge - dx.abs()).clamp(0, 1) * (h + edge - dy.abs()).clamp(0, 1)


def _object_trail(path: torch.Tensor, kind: str, x: torch.Tensor, y: torch.Tensor, trail_px: float,
                  half: float | None = None) -> torch.Tensor:
    """Coverage [T, H, W] of a faint trail behind an object on path [T, 2]: ghosts of it up to
    trail_px back along its motion, fading from data.TRAIL_ALPHA, growing from nothing in frame 0
    (so it never reaches behind the first position). As in the shapes data (data.render_layout): each
    frame then shows which way its object moves, and frame t+1's tail lies where frame t's body was.
    TRAIL_ALPHA < 0.5 keeps the trail out of colour_mask, so the judge sees the body only."""
    t = path.shape[0]
    vel = (path[-1] - path[0]) / max(t - 1, 1)                               # [2] px / frame
    speed = vel.norm()
    back = vel / speed.clamp(min=1e-6)
    length = (speed * torch.arange(t, dtype=torch.float32)).clamp(max=trail_px)[:, None]   # [T, 1]
    return data.trail_coverage(lambda c: _object_alpha(c, kind, x, y, half), path, back, length)


def _grid(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (y, x) [size*SUPERSAMPLE]^2 of the 2x render grid, in px of the frame."""
    coords = (torch.arange(size * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE - 0.5
    return torch.meshgrid(coords, coords, indexing="ij")


def render(parts: list[PromptParts], layout: dict, size: int = SIZE, tint: float | None = None,
           trail_px: float | None = None, motion_tint: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the videos: (frames [B, 3, T, H, W] in [-1, 1], object alpha [B, 2, T, H, W]).

    tint (default DIRECTION_TINT): the background gets the first model's faint RGB offset per
    direction (data.TINTS, each summing to 0, so luma and every luma-based judge are unchanged).
    Why: a model trained without it learned to map the four direction words to the same text
    embedding (a 1% change for left -> right, 48% at initialisation; README "The second tiny
    model"), as the first model did before its tint; a cue every token shows keeps the word alive.
    trail_px (default OBJECT_TRAIL_PX): a faint trail behind each object (_object_trail); the
    returned alpha is the objects' bodies only. motion_tint (named-motion prompts only; 0: off): a
    second background tint, data.TINTS of the objects' named direction times motion_tint, for the same
    reason: a cue every token shows, so the objects' direction word is not collapsed before the model
    can use it. With motion_tint below tint and different from it, each (pan, objects) pair of
    directions gives its own RGB offset (the TINTS are two independent vectors and their negatives)."""
    tint = DIRECTION_TINT if tint is None else tint
    trail_px = OBJECT_TRAIL_PX if trail_px is None else trail_px
    s = SUPERSAMPLE
    y, x = _grid(size)
    out, alphas = [], []
    for i, p in enumerate(parts):
        off = layout["offset"][i]                                           # [T, 2]
        bx = x[None] - off[:, 0, None, None]                                # content slides with the pan
        by = y[None] - off[:, 1, None, None]
        tex = _texture(p.texture, p.scale, bx, by, layout, i)               # [T, H2, W2]
        grey = (layout["bg"][i] + layout["contrast"][i] * tex + _light(bx, by, layout, i)).clamp(-1, 1)
        video = grey[None].expand(3, *grey.shape).clone()                   # [3, T, H2, W2]
        offset = tint * data.TINTS[p.direction] if tint > 0 else torch.zeros(3)
        if motion_tint > 0 and p.object_direction is not None:
            offset = offset + motion_tint * data.TINTS[p.object_direction]
        if tint > 0 or (motion_tint > 0 and p.object_direction is not None):
            video = (video + offset[:, None, None, None]).clamp(-1, 1)
        al = []
        for k, (kind, colour) in enumerate((("disc", p.colour_a), ("square", p.colour_b))):
            if k >= layout.get("objects", 2):
                al.append(torch.zeros_like(al[0]))
                continue
            half = float(layout["object_half"][k]) if "object_half" in layout else None
            a = _object_alpha(layout["paths"][i, k], kind, x, y, half)
            drawn = (torch.maximum(a, _object_trail(layout["paths"][i, k], kind, x, y, trail_px, half))
                     if trail_px > 0 else a)
            video = video * (1 - drawn[None]) + PALETTE[colour][:, None, None, None] * drawn[None]
            al.append(a)
        out.append(video)
        alphas.append(torch.stack(al))
    frames = torch.stack(out)                                               # [B, 3, T, H2, W2]
    b, c, t = frames.shape[:3]
    frames = F.avg_pool2d(frames.reshape(b * c * t, 1, size * s, size * s), s).reshape(b, c, t, size, size)
    alpha = torch.stack(alphas)
    alpha = F.avg_pool2d(alpha.reshape(-1, 1, size * s, size * s), s).reshape(b, 2, t, size, size)
    return frames, alpha


def flatten_background(layout: dict) -> dict:
    """The flat-background diagnostic (train.py --flat-background), in place: no texture and no light
    field, only the grey level, the tints and the objects."""
    layout["contrast"] = torch.zeros_like(layout["contrast"])
    layout["light_amplitude"] = 0.0
    return layout


def config_layout(parts: list[PromptParts], gen: torch.Generator, cfg: dict) -> dict:
    """The layout of videos as a training config (train.py's; its frames, size and data options) draws
    them: sample_layout, then flatten_background for a flat-background model."""
    layout = sample_layout(parts, gen, cfg["frames"], cfg["size"], cfg.get("pan_px"), cfg.get("object_speed"),
                           cfg.get("object_scale", 1.0), cfg.get("objects", 2), cfg.get("cross_jitter"))
    if cfg.get("flat_background"):
        flatten_background(layout)
    return layout


def render_batch(prompt_ids: torch.Tensor, gen: torch.Generator, frames: int = FRAMES, size: int = SIZE,
                 tint: float | None = None, pan_speed: float | None = None, trail_px: float | None = None,
                 object_speed: tuple[float, float] | None = None, flat_background: bool = False,
                 named_motion: bool = False, motion_tint: float = 0.0, object_scale: float = 1.0,
                 objects: int = 2):
    """Training batch: prompt numbers [B] -> (frames [B, 3, T, H, W], layout). flat_background (a
    diagnostic): no texture and no light field, only the grey level, the tint and the two objects;
    the same random draws, so the objects' paths are those of the textured batch. named_motion: the
    numbers are of the named-motion set (prompt_parts); motion_tint: see render; objects: see
    sample_layout."""
    return render_config(prompt_ids, gen, {
        "frames": frames, "size": size, "direction_tint": tint, "pan_px": pan_speed, "trail_px": trail_px,
        "object_speed": object_speed, "flat_background": flat_background, "named_object_motion": named_motion,
        "motion_tint": motion_tint, "object_scale": object_scale, "objects": objects})


def render_config(prompt_ids: torch.Tensor, gen: torch.Generator, cfg: dict):
    """Training batch of a train.py config (its frames, size and data options): prompt numbers [B] ->
    (frames [B, 3, T, H, W], layout with the objects' coverage "alpha")."""
    parts = [prompt_parts(int(i), bool(cfg.get("named_object_motion"))) for i in prompt_ids]
    layout = config_layout(parts, gen, cfg)
    video, alpha = render(parts, layout, cfg["size"], cfg.get("direction_tint"), cfg.get("trail_px"),
                          cfg.get("motion_tint", 0.0))
    layout["alpha"] = alpha
    return video, layout


def render_prompt(prompt: str, seed: int, frames: int = FRAMES, size: int = SIZE,
                  object_speed: tuple[float, float] | None = None, object_scale: float = 1.0, objects: int = 2):
    """One ground-truth video for a prompt and seed: (frames [1, 3, T, H, W], layout)."""
    parts = [parse_prompt(prompt)]
    layout = sample_layout(parts, torch.Generator().manual_seed(seed), frames, size, object_speed=object_speed,
                           object_scale=object_scale, objects=objects)
    video, alpha = render(parts, layout, size)
    layout["alpha"] = alpha
    return video, layout


def pan_aliasing(speed: float, videos: int = 16, seed: int = 1) -> dict[tuple[str, str], tuple[float, float, float]]:
    """What a pan of `speed` px a frame (to the right) does to each texture alone, without objects,
    light field or tint: {(texture, scale): (mse_named, mse_opposite, mse_static)}, the mean squared
    luma difference between frame 1 and frame 0 moved the named way (0 by construction), the
    opposite way, and not at all. The textures are periodic (4 and 12 px), so some pans alias: at
    2 px a fine checkerboard or dot grid looks the same panned either way (mse_opposite near 0), and
    at 4 or 8 px it does not seem to move at all (mse_static near 0); then only the light field shows
    the pan (_light)."""
    y, x = _grid()
    out = {}
    for kind, kind_name in enumerate(TEXTURE_NAMES):
        for scale, scale_name in enumerate(SCALE_NAMES):
            parts = [PromptParts(0, 1, kind, scale, 0) for _ in range(videos)]
            layout = sample_layout(parts, torch.Generator().manual_seed(seed), frames=2, pan_speed=speed)

            def frame(i: int, dx: float) -> torch.Tensor:
                tex = _texture(kind, scale, x - dx, y, layout, i)
                return F.avg_pool2d(tex[None, None], SUPERSAMPLE)[0, 0] * layout["contrast"][i]

            errs = torch.tensor([[float((frame(i, speed) - frame(i, d)).pow(2).mean()) for d in (speed, -speed, 0.0)]
                                 for i in range(videos)])
            out[(kind_name, scale_name)] = tuple(round(float(v), 4) for v in errs.mean(dim=0))
    return out


# ----------------------------------------------------------------------------- judge
MIN_OBJECT_PX = 40       # mean pixels per frame of a named colour for "the object is there" (a full
                         # disc is about 150 px, a full square about 170 px)
MIN_PAN_PX = 3.0         # summed background shift along the named direction over the video


def luma(frames: torch.Tensor) -> torch.Tensor:
    return frames.mean(dim=1)                                               # [B, T, H, W]


def palette_masks(frames: torch.Tensor) -> torch.Tensor:
    """data.colour_mask of every palette colour: [n_colours, B, T, H, W] bool. The judge computes
    them once and hands them to each of its parts (the `masks` argument below)."""
    return data.colour_masks(frames, range(len(COLOUR_NAMES)))


def object_mask(frames: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Pixels near any palette colour (the objects): [B, T, H, W] bool. The grey background is at
    least 1.4 away from every palette colour. `masks`: palette_masks(frames), when already computed."""
    return (palette_masks(frames) if masks is None else masks).any(dim=0)


def colour_pixels(frames: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pixels per frame near each palette colour: [B, n_colours]."""
    masks = palette_masks(frames) if masks is None else masks
    return masks.float().sum(dim=(-2, -1)).mean(dim=-1).T


SHIFT_SEARCH_PX = 20     # largest background shift searched, per axis, first to last frame
MIN_COMPARED_PX = 256    # a shift is judged on at least this many background pixels (without it, a shift
                         # whose overlap the objects' masks covered matched "perfectly", with error 0)
SHIFT_BLUR = 4.0         # px: the blur that leaves only the light field (textures are periodic: see _light)


def background_shift(frames: torch.Tensor) -> torch.Tensor:
    """Shift (x, y) in px [B, 2] of the background from the first to the last frame: the integer
    shift that best matches the blurred luma of the two frames, away from the objects (their masks
    grown by the blur's reach are left out of the comparison)."""
    return shift_search(frames)[0]


def shift_search(frames: torch.Tensor, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(background_shift [B, 2], match ratio [B]): the ratio is the best shift's mean squared
    difference over the median one's across the shifts that could be judged (MIN_COMPARED_PX), near
    0 where one shift matches and near 1 where none does (backgrounds that do not follow each other
    from frame to frame); inf when fewer than a quarter of the shifts could be judged (the objects'
    colours cover most of the frame)."""
    import kornia  # a ComfyUI requirement; only the judge needs it
    y = luma(frames)                                                       # [B, T, H, W]
    mask = object_mask(frames, masks)
    mean = torch.where(mask, 0.0, y).sum(dim=(-2, -1), keepdim=True) / (~mask).sum(dim=(-2, -1), keepdim=True).clamp(min=1)
    y = torch.where(mask, mean, y)
    k = int(2 * round(3 * SHIFT_BLUR) + 1)
    first, last = (kornia.filters.gaussian_blur2d(y[:, [i]], (k, k), (SHIFT_BLUR, SHIFT_BLUR)) for i in (0, -1))
    grow = int(round(2 * SHIFT_BLUR))
    bad0 = F.max_pool2d(mask[:, :1].float(), 2 * grow + 1, 1, grow) > 0
    bad1 = F.max_pool2d(mask[:, -1:].float(), 2 * grow + 1, 1, grow) > 0
    r = SHIFT_SEARCH_PX
    h, w = y.shape[-2:]
    errors, shifts = [], []
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            # last frame at (x, y) should equal the first at (x - dx, y - dy)
            a = last[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
            b = first[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
            ok = ~(bad1[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
                   | bad0[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)])
            count = ok.sum(dim=(1, 2, 3))
            err = (((a - b) ** 2) * ok).sum(dim=(1, 2, 3)) / count.clamp(min=1)
            errors.append(torch.where(count >= MIN_COMPARED_PX, err, torch.inf))  # too few pixels compare nothing
            shifts.append((float(dx), float(dy)))
    errors = torch.stack(errors, dim=1)                                    # [B, shifts]
    best, index = errors.min(dim=1)                                        # the first of equal minima
    valid = errors.isfinite()
    median = torch.nanmedian(torch.where(valid, errors, torch.nan), dim=1).values
    ratio = best / median.clamp(min=1e-12)
    ratio = torch.where(valid.float().mean(dim=1) >= 0.25, ratio, torch.inf)  # too few shifts could be judged
    return torch.tensor(shifts)[index], ratio


MAX_MATCH_RATIO = 0.3    # a pan is seen only where one shift matches at least 3 times better than the median one
                         # (ground truth: at most 0.05; independent blotchy backgrounds: 0.55-0.76)


def classify_direction(frames: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Pan direction index [B] from the background shift; -1 when it moved less than MIN_PAN_PX, or
    when no shift matched (match ratio above MAX_MATCH_RATIO: the frames' backgrounds do not follow
    each other; before this rule such videos got the best of many poor matches, often on the edge of
    the search, and so a direction at about chance)."""
    shift, ratio = shift_search(frames, masks)
    scores = shift @ DIR_VEC.T
    best = scores.argmax(dim=1)
    ok = (scores.gather(1, best[:, None])[:, 0] >= MIN_PAN_PX) & (ratio <= MAX_MATCH_RATIO)
    return torch.where(ok, best, torch.full_like(best, -1))


def spectral_features(frames: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Features [B, 8] of the background's power spectrum (objects replaced by the frame mean,
    averaged over frames), as fractions of its AC energy: radial bands around the fine and the
    coarse period, split into the axes, the two diagonals, and the rest. Stripes put their energy on
    one diagonal, checks on both, dots on the axes, noise all round."""
    y = luma(frames)
    mask = object_mask(frames, masks)
    mean = torch.where(mask, 0.0, y).sum(dim=(-2, -1), keepdim=True) / (~mask).sum(dim=(-2, -1), keepdim=True).clamp(min=1)
    y = torch.where(mask, mean, y) - mean
    power = torch.fft.fft2(y).abs().pow(2).mean(dim=1)                    # [B, H, W]
    h, w = power.shape[-2:]
    fy = torch.fft.fftfreq(h)[:, None].expand(h, w)
    fx = torch.fft.fftfreq(w)[None, :].expand(h, w)
    radius = torch.sqrt(fx ** 2 + fy ** 2)
    angle = torch.atan2(fy, fx)
    total = power.sum(dim=(-2, -1)).clamp(min=1e-8)
    near = math.cos(math.pi / 8)                                           # within 22.5 degrees
    axis = torch.cos(2 * angle).abs() > near                               # near 0 or 90 degrees
    diag1 = torch.sin(2 * angle) > near                                    # near 45 degrees (and 225)
    diag2 = torch.sin(2 * angle) < -near                                   # near 135 degrees
    feats = []
    for period in (PERIODS["fine"], PERIODS["coarse"]):
        f0 = 1.0 / period
        band = (radius > f0 / 1.6) & (radius < f0 * 1.6)                    # holds checks' peaks at sqrt(2) f0
        e = lambda m: (power * (band & m)).sum(dim=(-2, -1)) / total       # noqa: E731
        d1, d2 = e(diag1), e(diag2)
        feats += [e(axis), torch.maximum(d1, d2), torch.minimum(d1, d2), e(torch.ones_like(band))]
    return torch.stack(feats, dim=1)


_CENTROIDS: dict[tuple, torch.Tensor] = {}


def texture_centroids(n_per_class: int = 12, seed: int = 777) -> torch.Tensor:
    """Mean spectral features [n_textures, n_scales, 8] of ground-truth renders (cached)."""
    key = (n_per_class, seed)
    if key not in _CENTROIDS:
        gen = torch.Generator().manual_seed(seed)
        out = torch.zeros(len(TEXTURE_NAMES), len(SCALE_NAMES), 8)
        for kind in range(len(TEXTURE_NAMES)):
            for scale in range(len(SCALE_NAMES)):
                parts = [PromptParts(*(torch.randperm(len(COLOUR_NAMES), generator=gen)[:2].tolist()), kind, scale,
                                     int(torch.randint(0, 4, (1,), generator=gen))) for _ in range(n_per_class)]
                video, _ = render(parts, sample_layout(parts, gen))
                out[kind, scale] = spectral_features(video).mean(dim=0)
        _CENTROIDS[key] = out
    return _CENTROIDS[key]


def classify_texture(frames: torch.Tensor, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(texture index [B], scale index [B]) by the nearest ground-truth centroid of spectral features."""
    feats = spectral_features(frames, masks)                               # [B, 8]
    cents = texture_centroids().flatten(0, 1)                              # [K*S, 8]
    best = torch.cdist(feats, cents).argmin(dim=1)
    return best // len(SCALE_NAMES), best % len(SCALE_NAMES)


TRACK_MIN_PX = 20          # an object is tracked in a frame where its colour covers at least this many pixels
TRACK_SPEED = (0.5, 3.0)   # px per frame of a fitted straight track that counts as moving (the data: 1-2)
TRACK_MAX_RESIDUAL = 1.5   # px, RMS distance of the centroids from their straight track (ground truth:
                           # median 0.6, 90th percentile 1.2, from overlaps and the frame's edges)


def _object_masks(frames: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """The two named colours' masks [2B, T, H, W], object a then b for each video."""
    parts = [parse_prompt(p) for p in prompts]
    return torch.stack([data.colour_masks(frames[i:i + 1], (p.colour_a, p.colour_b))[:, 0]
                        for i, p in enumerate(parts)]).flatten(0, 1)


def _object_centroids(frames: torch.Tensor, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The two named objects' colour centroids [2B, T, 2] (x, y) and whether each object covers fewer
    than TRACK_MIN_PX pixels in some frame [2B] (untracked)."""
    flat = _object_masks(frames, prompts)                                        # [2B, T, H, W]
    return data.centroids(flat), (flat.sum(dim=(-2, -1)) < TRACK_MIN_PX).any(dim=-1)


def _fit_tracks(cents: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """(speed px per frame, RMS residual px) [2B, 2] of straight-line fits to centroids [2B, T, 2];
    NaN where `missing`."""
    t = cents.shape[1]
    vel = data.motion_fit(cents)                                                  # [2B, 2]
    tt = torch.arange(t, dtype=torch.float32).view(1, t, 1)
    line = cents.mean(dim=1, keepdim=True) + (tt - tt.mean()) * vel[:, None]     # the fitted track
    residual = (cents - line).pow(2).sum(dim=-1).mean(dim=-1).sqrt()
    out = torch.stack([vel.norm(dim=-1), residual], dim=-1)                      # [2B, 2]
    out[missing] = float("nan")
    return out


def object_tracks(frames: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """Straight-line fits (data.motion_fit) of the two named objects' colour centroids over the frames:
    [B, 2, 2] holding (speed px per frame, RMS residual px) per object, NaN where the object covers
    fewer than TRACK_MIN_PX pixels in some frame. The data moves each object on a straight path at 1-2 px
    a frame, so a model that learned motion gives speeds there and small residuals; a still or
    flickering object does not."""
    return _fit_tracks(*_object_centroids(frames, prompts)).view(frames.shape[0], 2, 2)


def track_summary(frames: torch.Tensor, prompts: list[str], objects: int = 2) -> dict:
    """Why objects_moving passes or fails, over the tracked objects: the median fitted speed (px a
    frame), the median RMS residual from the straight track (px), and the median cosine between the
    velocities fitted to the first and to the second half of the frames (near 1: one direction
    throughout, as in the data; near 0 or below: the object wanders); and the median length (px) and IoU
    gain of the shift that best carries each colour region from the first frame to the last
    (object_region_shifts: 0 and 0 for a region that stays put, however its centroid moves). objects 1:
    the disc only (a one-object model, sample_layout)."""
    cents, missing = _object_centroids(frames, prompts)
    tracks = _fit_tracks(cents, missing)                                          # [2B, 2]
    half = cents.shape[1] // 2
    cos = torch.nn.functional.cosine_similarity(data.motion_fit(cents[:, :half]),
                                                data.motion_fit(cents[:, half:]), dim=-1)
    ok = tracks[:, 0].isfinite() & cos.isfinite() & (torch.arange(len(cos)) % 2 < objects)
    if not bool(ok.any()):
        return {"tracked": 0}
    out = {"tracked": int(ok.sum()), "speed_px_median": round(float(tracks[ok, 0].median()), 2),
           "residual_px_median": round(float(tracks[ok, 1].median()), 2),
           "halves_direction_cos_median": round(float(cos[ok].median()), 2)}
    named = _named_cosine(cents, prompts)
    named_ok = ok & named.isfinite()
    if bool(named_ok.any()):   # prompts that name the objects' direction: how well the fitted one follows it
        out["named_direction_cos_median"] = round(float(named[named_ok].median()), 2)
    shifts = object_region_shifts(frames, prompts).flatten(0, 1)                 # [2B, 3]
    out["region_shift_px_median"] = round(float(shifts[ok, :2].norm(dim=-1).median()), 2)
    out["region_iou_gain_median"] = round(float(shifts[ok, 2].median()), 2)
    return out


def _named_cosine(cents: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """Cosine [2B] between each object's fitted velocity and the direction its prompt names (NaN where
    the prompt names none)."""
    named = [parse_prompt(p).object_direction for p in prompts]
    want = torch.stack([DIR_VEC[d] if d is not None else torch.full((2,), float("nan")) for d in named])
    want = want.repeat_interleave(2, dim=0)                                        # both objects
    return torch.nn.functional.cosine_similarity(data.motion_fit(cents), want, dim=-1)


def objects_heading(frames: torch.Tensor, prompts: list[str], objects: int = 2) -> torch.Tensor:
    """Fraction [B] of the two named objects (objects 1: the disc only) that move on a straight track at
    a data-like speed (as objects_moving) within 45 degrees of the direction the prompt names: 0, 0.5
    or 1; NaN for a prompt that names no direction for them."""
    cents, missing = _object_centroids(frames, prompts)
    speed, residual = _fit_tracks(cents, missing).unbind(-1)
    named = _named_cosine(cents, prompts)
    ok = ((speed >= TRACK_SPEED[0]) & (speed <= TRACK_SPEED[1]) & (residual <= TRACK_MAX_RESIDUAL)
          & (named >= math.cos(math.pi / 4)))
    out = ok.float().view(-1, 2)[:, :objects].mean(dim=1)
    out[torch.tensor([parse_prompt(p).object_direction is None for p in prompts])] = float("nan")
    return out


def objects_moving(frames: torch.Tensor, prompts: list[str], objects: int = 2) -> torch.Tensor:
    """Fraction [B] of the two named objects (objects 1: the disc only) that move on a straight track at
    a data-like speed (TRACK_SPEED, TRACK_MAX_RESIDUAL): 0, 0.5 or 1."""
    tr = object_tracks(frames, prompts)
    speed, residual = tr[..., 0], tr[..., 1]
    ok = (speed >= TRACK_SPEED[0]) & (speed <= TRACK_SPEED[1]) & (residual <= TRACK_MAX_RESIDUAL)  # NaN: False
    return ok[:, :objects].float().mean(dim=1)


REGION_MIN_IOU_GAIN = 0.1   # a region counts as shifted when the best-aligning shift beats no shift by this
                            # much IoU (ground truth: median gain 0.44 at 4 frames, 0.71 at 8; the sampled
                            # 4-frame models: 0.00, docs/textures_model.md "Do the objects move at all?")


def best_region_shift(first: torch.Tensor, last: torch.Tensor, max_shift: int) -> torch.Tensor:
    """For masks first, last [N, H, W]: the integer shift (dx, dy) of `first` (zero-padded, not wrapped)
    that overlaps `last` best, its IoU and the IoU of no shift, [N, 4]. Ties go to the shortest shift,
    so a region that stays put gives (0, 0). The overlaps of every shift are one grouped correlation."""
    n, h, w = first.shape
    s = max_shift
    a = first.float()[None]                                                       # [1, N, H, W]
    b = last.float()[None]
    kernel = a.transpose(0, 1)                                                    # [N, 1, H, W]
    inter = F.conv2d(F.pad(b, (s,) * 4), kernel, groups=n)[0]                     # [N, 2s+1, 2s+1]: [dy+s, dx+s]
    kept = F.conv2d(F.pad(torch.ones_like(b), (s,) * 4), kernel, groups=n)[0]     # first's pixels still inside
    iou = inter / (kept + b.sum(dim=(-2, -1))[0, :, None, None] - inter).clamp(min=1)
    d = torch.arange(-s, s + 1, dtype=torch.float32)
    dist = torch.hypot(d[:, None], d[None, :])                                    # [2s+1, 2s+1]
    best = (iou - 1e-4 * dist).flatten(1).argmax(dim=1)                           # the tie-break towards short shifts
    dy, dx = d[best // (2 * s + 1)], d[best % (2 * s + 1)]
    return torch.stack([dx, dy, iou.flatten(1).gather(1, best[:, None])[:, 0], iou[:, s, s]], dim=-1)


def object_region_shifts(frames: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """How each named object's colour region as a whole moved from the first frame to the last:
    [B, 2, 3] holding (dx, dy, IoU gain of that shift over no shift), NaN where the object covers fewer
    than TRACK_MIN_PX pixels in some frame. Unlike the centroid track (object_tracks), a region that
    stays where it is while its outline flickers or grows on one side gives no shift: at 4 frames a
    straight line fits such centroids easily."""
    masks = _object_masks(frames, prompts)                                        # [2B, T, H, W]
    t = masks.shape[1]
    out = best_region_shift(masks[:, 0], masks[:, -1], math.ceil(TRACK_SPEED[1] * (t - 1)))
    out = torch.stack([out[:, 0], out[:, 1], out[:, 2] - out[:, 3]], dim=-1)
    out[(masks.flatten(2).sum(dim=-1) < TRACK_MIN_PX).any(dim=-1)] = float("nan")
    return out.view(frames.shape[0], 2, 3)


def objects_displaced(frames: torch.Tensor, prompts: list[str], named: bool = False,
                      objects: int = 2) -> torch.Tensor:
    """Fraction [B] of the two named objects (objects 1: the disc only) whose colour region moved as a
    whole from the first frame to the last (object_region_shifts) by a data-like distance (TRACK_SPEED px a frame) with an IoU gain
    of at least REGION_MIN_IOU_GAIN: 0, 0.5 or 1. named: also within 45 degrees of the direction the
    prompt names (NaN for a prompt that names none)."""
    shifts = object_region_shifts(frames, prompts)                                # [B, 2, 3]
    t = frames.shape[2]
    length = shifts[..., :2].norm(dim=-1)
    ok = ((length >= TRACK_SPEED[0] * (t - 1)) & (length <= TRACK_SPEED[1] * (t - 1))
          & (shifts[..., 2] >= REGION_MIN_IOU_GAIN))
    if named:
        dirs = [parse_prompt(p).object_direction for p in prompts]
        want = torch.stack([DIR_VEC[d] if d is not None else torch.full((2,), float("nan")) for d in dirs])
        cos = (shifts[..., :2] * want[:, None]).sum(dim=-1) / length.clamp(min=1e-6)
        ok = ok & (cos >= math.cos(math.pi / 4))
    out = ok[:, :objects].float().mean(dim=1)
    if named:
        out[torch.tensor([d is None for d in dirs])] = float("nan")
    return out


def judge(frames: torch.Tensor, prompts: list[str], objects: int = 2) -> dict[str, torch.Tensor]:
    """Does each decoded video show its prompt? Bool [B] tensors 'colours' (both named colours present
    and the two largest colour areas; objects 1, a one-object model: the disc's colour present and the
    largest), 'direction' (pan), 'texture' (kind), 'scale', and 'all'; and
    'objects_moving' (float [B], objects_moving: motion the prompt does not name, so not in 'all') and
    'objects_displaced' (objects_displaced, the stricter test of it); for named-motion prompts also
    'objects_heading' and 'objects_displaced_heading' (the same two, the named way)."""
    parts = [parse_prompt(p) for p in prompts]
    masks = palette_masks(frames)
    px = colour_pixels(frames, masks)
    top = px.topk(objects, dim=1).indices
    colours = torch.tensor([
        bool(all(px[i, c] >= MIN_OBJECT_PX for c in named) and set(top[i].tolist()) == set(named))
        for i, named in enumerate((p.colour_a, p.colour_b)[:objects] for p in parts)])
    direction = classify_direction(frames, masks) == torch.tensor([p.direction for p in parts])
    kind, scale = classify_texture(frames, masks)
    texture = kind == torch.tensor([p.texture for p in parts])
    scale_ok = scale == torch.tensor([p.scale for p in parts])
    out = {"colours": colours, "direction": direction, "texture": texture, "scale": scale_ok,
           "all": colours & direction & texture & scale_ok,
           "objects_moving": objects_moving(frames, prompts, objects),
           "objects_displaced": objects_displaced(frames, prompts, objects=objects)}
    if any(p.object_direction is not None for p in parts):   # named-motion prompts
        out["objects_heading"] = objects_heading(frames, prompts, objects)
        out["objects_displaced_heading"] = objects_displaced(frames, prompts, named=True, objects=objects)
    return out


def object_masks(frames: torch.Tensor, prompt: str) -> torch.Tensor:
    """Masks [B, T, H, W] of the two named objects together (for structure scores against a reference)."""
    p = parse_prompt(prompt)
    return data.colour_masks(frames, (p.colour_a, p.colour_b)).any(dim=0)
