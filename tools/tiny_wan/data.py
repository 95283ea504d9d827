"""Procedural text-to-video data for the tiny Wan2.1 model, its prompt embeddings, and the
ground-truth helpers ("did it learn", structure scores). Plain torch; never imports ComfyUI.

A video: one coloured shape on a plain grey background, moving in a straight line at a constant
speed of a few pixels per frame, from a random start position (chosen so the whole path stays
inside the frame; across the motion it runs near the middle line), with a faint motion trail behind
it (TRAIL_PX) and a faint background tint per direction (DIRECTION_TINT); render_layout says why.
Colour, shape and direction are named by the prompt:

    "a red disc moving left"      (PROMPT_TEMPLATE.format(colour=..., shape=..., direction=...))

Vocabulary: 6 colours x 3 shapes x 4 directions = 72 prompts. The three shapes have the same area
(about 80 px), so a shape can only be told by its outline: disc, square, bar (a wide flat rectangle).

Prompt embedding: every word gets a fixed N(0, 1) vector of width 4096 (seeded by the word itself,
so any word works and the table never changes); a prompt is its word vectors in order, zero-padded
or cut to CONTEXT_LEN tokens -> [CONTEXT_LEN, 4096]. That is a real cross-attention context for
ComfyUI's Wan conditioning path (the umt5 encoder cannot be made tiny). The negative / unconditional
prompt is all zeros (null_embedding), as in training's condition dropout.

Ground truth for metrics works on decoded RGB frames [B, 3, T, H, W] in [-1, 1]:
  background_colour   per-frame background colour (median of the border pixels)
  colour_mask         pixels close to a given colour and closer to it than to the background
  foreground_mask     pixels far from the background (prompt-free)
  centroids           per-frame centroid (x, y) of a mask, NaN where the mask is empty
  classify_colour / classify_direction / classify_shape  -> what a generated video shows
  structure_score     per-frame centroid distance and mask IoU between two videos
"""
from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import torch

# ----------------------------------------------------------------------------- video geometry
FRAMES = 4          # video frames = latent frames (the latent has no temporal compression)
SIZE = 28           # frame height = width in pixels; latent is SIZE/2, tokens SIZE/4 per side
# Pixels per frame (uniform per video in this range; not scaled with SIZE). 4 px is exactly one
# model token (2x2 space-to-depth x 2x2 patch), so frame t+1 is frame t shifted by one token.
SPEED = (4.0, 4.0)
BG_LEVEL = (-0.8, -0.4)  # grey background level per video, uniform
CROSS_JITTER = 2.0       # px: how far the path may lie off the frame's middle line across the motion
# A motion trail: a faint copy of the object smeared TRAIL_PX px behind it, fading from TRAIL_ALPHA
# to 0 (like a camera's motion blur). TRAIL_ALPHA < 0.5 keeps the trail out of colour_mask, so the
# object's mask, centroid and shape are those of the body alone. Why it is there: see render_layout.
TRAIL_PX = 8.0
TRAIL_ALPHA = 0.4
TRAIL_SAMPLES = 8

COLOURS = {  # RGB in [-1, 1]
    "red": (1.0, -1.0, -1.0),
    "green": (-1.0, 1.0, -1.0),
    "blue": (-1.0, -1.0, 1.0),
    "yellow": (1.0, 1.0, -1.0),
    "cyan": (-1.0, 1.0, 1.0),
    "magenta": (1.0, -1.0, 1.0),
}
COLOUR_NAMES = tuple(COLOURS)
PALETTE = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])  # [6, 3]

# Shape geometry at SHAPE_REF_SIZE (scaled with the frame size): (kind, half width, half height)
# in px. With the 1-px anti-aliased edge used here a rectangle of half sizes (a, b) has area 4ab
# and a disc of radius r has area pi r^2: all three are about 80 px (a 3-token wide object).
SHAPE_REF_SIZE = 28
SHAPES = {
    "disc": ("disc", 5.0, 5.0),
    "square": ("rect", 4.5, 4.5),
    "bar": ("rect", 6.0, 10.0 / 3.0),
}
SHAPE_NAMES = tuple(SHAPES)

DIRECTIONS = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "down": (0.0, 1.0), "up": (0.0, -1.0)}  # (dx, dy), y down
DIRECTION_NAMES = tuple(DIRECTIONS)
DIR_VEC = torch.tensor([DIRECTIONS[d] for d in DIRECTION_NAMES])  # [4, 2]

PROMPT_TEMPLATE = "a {colour} {shape} moving {direction}"
N_PROMPTS = len(COLOUR_NAMES) * len(SHAPE_NAMES) * len(DIRECTION_NAMES)


@dataclass(frozen=True)
class PromptParts:
    colour: int
    shape: int
    direction: int

    @property
    def text(self) -> str:
        return PROMPT_TEMPLATE.format(colour=COLOUR_NAMES[self.colour], shape=SHAPE_NAMES[self.shape],
                                      direction=DIRECTION_NAMES[self.direction])


def prompt_parts(index: int) -> PromptParts:
    """Prompt number 0..N_PROMPTS-1 -> (colour, shape, direction) indices."""
    if not 0 <= index < N_PROMPTS:
        raise ValueError(f"prompt index {index} out of range")
    per_colour = len(SHAPE_NAMES) * len(DIRECTION_NAMES)
    return PromptParts(index // per_colour, (index // len(DIRECTION_NAMES)) % len(SHAPE_NAMES),
                       index % len(DIRECTION_NAMES))


def all_prompts() -> list[str]:
    return [prompt_parts(i).text for i in range(N_PROMPTS)]


def parse_prompt(prompt: str) -> PromptParts:
    """Find the colour, shape and direction words in a prompt (any order, other words ignored)."""
    words = prompt.lower().replace(",", " ").split()
    found = {}
    for key, names in (("colour", COLOUR_NAMES), ("shape", SHAPE_NAMES), ("direction", DIRECTION_NAMES)):
        hits = [names.index(w) for w in words if w in names]
        if len(hits) != 1:
            raise ValueError(f"prompt {prompt!r} must name exactly one {key} of {names}")
        found[key] = hits[0]
    return PromptParts(**found)


# ----------------------------------------------------------------------------- prompt embedding
TEXT_DIM = 4096
CONTEXT_LEN = 8
TEXT_SEED = 4242


def word_vector(word: str) -> torch.Tensor:
    """Fixed N(0, 1) vector [4096] for a word (seeded by the word's CRC32, so it never changes).
    Each word's vector is drawn once per process and copied out: a prompt table embeds thousands of
    prompts from a few dozen words (measured: the two textures tables took 3.6 s with every word drawn
    afresh, 2.0 s with this, the same tensors bit for bit)."""
    return _drawn_word_vector(word.lower()).clone()


@functools.lru_cache(maxsize=None)
def _drawn_word_vector(word: str) -> torch.Tensor:
    seed = (TEXT_SEED * 1_000_003 + zlib.crc32(word.encode("utf-8"))) % (2 ** 63)
    return torch.randn(TEXT_DIM, generator=torch.Generator().manual_seed(seed))


SENTENCE_MIX = 1.0  # weight of the sentence vector in every token (0: bare word vectors)
POSITION_MIX = 1.0  # weight of a word's position vector, embed_prompt(ordered=True)


def embed_prompt(prompt: str, length: int = CONTEXT_LEN, ordered: bool = False) -> torch.Tensor:
    """Prompt -> [length, 4096] float32, built only from the fixed word vectors:
      token i < n_words:  (word vector of word i + SENTENCE_MIX * sentence vector) / norm
      token i >= n_words: the sentence vector (padding)
    where the sentence vector is the sum of the prompt's word vectors / sqrt(n_words). Like a real
    text encoder's outputs every token carries some of the whole prompt. This matters for a model
    with one attention head (dim 128): a first version padded with zeros, and the cross-attention
    put about 85% of its weight on the identical zero-padding tokens (an attention sink), so
    little of the prompt reached the video tokens and only colour was learned. Words past `length`
    are cut. The empty prompt (and the negative, null_embedding) is all zeros.

    ordered (train.py --ordered-prompt; the committed textures model uses it, the shapes model
    does not): word i's token also gets POSITION_MIX times a fixed vector for position i. Why:
    WanModel's cross-attention has no position on the text tokens, so without it the model's output
    is the same for any order of the words, and "red and blue" cannot say which colour the disc
    has (docs/textures_model.md, "The prompt has no word order"); a real text encoder's outputs do
    carry the order."""
    words = prompt.lower().replace(",", " ").split()[:length]
    out = torch.zeros(length, TEXT_DIM)
    if not words:
        return out
    vecs = torch.stack([word_vector(w) for w in words])
    sentence = vecs.sum(dim=0) / math.sqrt(len(words))
    out[:len(words)] = (vecs + SENTENCE_MIX * sentence) / math.sqrt(1.0 + SENTENCE_MIX ** 2)
    if ordered:
        position = torch.stack([word_vector(f"<position {i}>") for i in range(len(words))])   # (no word has a space)
        out[:len(words)] = (out[:len(words)] + POSITION_MIX * position) / math.sqrt(1.0 + POSITION_MIX ** 2)
    out[len(words):] = sentence
    return out


def embed_prompts(prompts: list[str], length: int = CONTEXT_LEN, ordered: bool = False) -> torch.Tensor:
    return torch.stack([embed_prompt(p, length, ordered) for p in prompts])  # [B, L, 4096]


def null_embedding(batch: int = 1, length: int = CONTEXT_LEN) -> torch.Tensor:
    """The unconditional / negative context: all zeros [B, L, 4096]."""
    return torch.zeros(batch, length, TEXT_DIM)


_TABLE_CACHE: dict[int, torch.Tensor] = {}


def prompt_table(length: int = CONTEXT_LEN) -> torch.Tensor:
    """Embeddings of all N_PROMPTS prompts, [N_PROMPTS, length, 4096] (cached)."""
    if length not in _TABLE_CACHE:
        _TABLE_CACHE[length] = embed_prompts(all_prompts(), length)
    return _TABLE_CACHE[length]


# ----------------------------------------------------------------------------- rendering
def _shape_geometry(size: int) -> torch.Tensor:
    """[n_shapes, 3]: (is_disc, half width, half height) in pixels at this frame size."""
    k = size / SHAPE_REF_SIZE
    return torch.tensor([[1.0 if kind == "disc" else 0.0, a * k, b * k] for kind, a, b in SHAPES.values()])


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def near_middle_line(start_lo: torch.Tensor, start_hi: torch.Tensor, dvec: torch.Tensor,
                     jitter: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Narrow the range of start positions [B, 2] so that, across the motion dvec [B, 2] (axis-aligned),
    a path lies within `jitter` px of the middle of the range that fits (also textures.sample_layout
    cross_jitter)."""
    across = dvec.abs().flip(-1)                             # [B, 2] 1 on the axis across the motion
    mid = (start_lo + start_hi) / 2
    return (torch.where(across > 0, torch.maximum(start_lo, mid - jitter), start_lo),
            torch.where(across > 0, torch.minimum(start_hi, mid + jitter), start_hi))


def sample_layout(colour: torch.Tensor, shape: torch.Tensor, direction: torch.Tensor, gen: torch.Generator,
                  frames: int = FRAMES, size: int = SIZE) -> dict[str, torch.Tensor]:
    """Random per-video layout: background level, speed, and the centre path [B, T, 2] (x, y)."""
    n = colour.shape[0]
    geom = _shape_geometry(size)[shape]                      # [B, 3]
    half = geom[:, 1:3]                                      # [B, 2] half extent along x, y
    bg = _uniform(gen, n, *BG_LEVEL)
    speed = _uniform(gen, n, *SPEED)
    dvec = DIR_VEC[direction]                                # [B, 2]
    travel = speed[:, None] * (frames - 1) * dvec            # [B, 2] signed displacement first -> last
    lo = half + 0.5                                          # keep the soft edge inside the frame
    hi = (size - 1) - half - 0.5
    start_lo = lo - travel.clamp(max=0)                      # moving in -dir: start further in
    start_hi = hi - travel.clamp(min=0)
    if bool((start_hi < start_lo - 1e-6).any()):
        raise ValueError("path does not fit in the frame: lower SPEED or FRAMES")
    # Across the motion the path stays within CROSS_JITTER px of the frame's middle line, so the
    # direction shows in every frame's layout (a moving-right object starts at the left), not only
    # in the frame-to-frame motion that a 4-layer model learns slowly.
    start_lo, start_hi = near_middle_line(start_lo, start_hi, dvec, CROSS_JITTER)
    u = torch.rand(n, 2, generator=gen)
    start = start_lo + u * (start_hi - start_lo).clamp(min=0)
    t = torch.arange(frames, dtype=torch.float32)
    centres = start[:, None, :] + t[None, :, None] * speed[:, None, None] * dvec[:, None, :]
    return {"bg": bg, "speed": speed, "centres": centres, "dvec": dvec, "direction": direction}


def _shape_alpha(centres: torch.Tensor, geom: torch.Tensor, size: int) -> torch.Tensor:
    """Anti-aliased coverage [B, T, H, W] of each video's shape at centres [B, T, 2]."""
    coords = torch.arange(size, dtype=torch.float32)
    dx = coords[None, None, None, :] - centres[:, :, 0, None, None]   # [B, T, 1, W]
    dy = coords[None, None, :, None] - centres[:, :, 1, None, None]   # [B, T, H, 1]
    a = geom[:, 1, None, None, None]
    b = geom[:, 2, None, None, None]
    disc = (a + 0.5 - torch.sqrt(dx ** 2 + dy ** 2)).clamp(0, 1)
    rect = (a + 0.5 - dx.abs()).clamp(0, 1) * (b + 0.5 - dy.abs()).clamp(0, 1)
    is_disc = geom[:, 0, None, None, None] > 0.5
    return torch.where(is_disc, disc, rect)


# A faint background tint per direction (RGB offsets, scaled by DIRECTION_TINT): a cue every token
# shows, so the network keeps the direction word instead of learning to ignore it before it has
# learned the frame-to-frame shift that the word asks for (without it, the trained text embedding
# mapped the four direction words to the same output). It moves nothing: the judge and the
# structure scores measure the object, whose colour mask the tint does not change.
TINTS = torch.tensor([[1.0, 0.0, -1.0], [-1.0, 0.0, 1.0], [0.0, 1.0, -1.0], [0.0, -1.0, 1.0]])
DIRECTION_TINT = 0.1


def trail_coverage(alpha_at, centres: torch.Tensor, back: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Coverage of a motion trail: TRAIL_SAMPLES ghosts of a body (alpha_at(centres) -> coverage)
    moved up to `length` px along the unit vector `back`, fading from TRAIL_ALPHA; the strongest
    ghost wins at each pixel. Shared by both tiny models' data (render_layout, textures._object_trail).
    TRAIL_ALPHA < 0.5 keeps a trail out of colour_mask."""
    out = None
    for k in range(1, TRAIL_SAMPLES + 1):
        frac = k / TRAIL_SAMPLES
        ghost = alpha_at(centres - back * length * frac) * (TRAIL_ALPHA * (1 - frac + 1 / TRAIL_SAMPLES))
        out = ghost if out is None else torch.maximum(out, ghost)
    return out


def render_layout(colour: torch.Tensor, shape: torch.Tensor, layout: dict[str, torch.Tensor],
                  size: int = SIZE, trail_px: float | None = None,
                  tint: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the videos: returns (frames [B, 3, T, H, W] in [-1, 1], alpha [B, T, H, W]).

    With a trail (trail_px > 0, default TRAIL_PX) every frame shows which way the object moves, as a
    local feature of the frame (the faint side is behind), the way a shape is one. Wan's transformer
    knows positions only through RoPE, i.e. relative to other tokens: it cannot tell the left of
    the frame from the right, and it learns a text-dependent frame-to-frame shift slowly. With the
    trail, "moving right" becomes "a body with a faint tail on its left", and frame t+1's tail lies
    where frame t's body was, so a shift is "copy in place, then complete the shape ahead"."""
    trail_px = TRAIL_PX if trail_px is None else trail_px
    tint = DIRECTION_TINT if tint is None else tint
    centres = layout["centres"]                              # [B, T, 2]
    geom = _shape_geometry(size)[shape]                      # [B, 3]
    alpha = _shape_alpha(centres, geom, size)                # [B, T, H, W]
    if trail_px > 0:
        # The trail grows from nothing in frame 0 and never reaches behind the first position, so it
        # stays inside the frame wherever the path does.
        frames = centres.shape[1]
        travelled = layout["speed"][:, None] * torch.arange(frames, dtype=torch.float32)[None, :]
        length = travelled.clamp(max=trail_px)[:, :, None]   # [B, T, 1]
        back = layout["dvec"][:, None, :]                    # [B, 1, 2]
        alpha = torch.maximum(alpha, trail_coverage(lambda c: _shape_alpha(c, geom, size), centres, back, length))
    col = PALETTE[colour][:, :, None, None, None]            # [B, 3, 1, 1, 1]
    bg = layout["bg"][:, None, None, None, None]
    if tint > 0:
        bg = bg + tint * TINTS[layout["direction"]][:, :, None, None, None]
    al = alpha[:, None]
    return bg * (1 - al) + col * al, alpha


def render_batch(prompt_ids: torch.Tensor, gen: torch.Generator, frames: int = FRAMES, size: int = SIZE,
                 trail_px: float | None = None, tint: float | None = None):
    """Training batch: prompt numbers [B] -> (frames [B, 3, T, H, W], layout dict)."""
    parts = [prompt_parts(int(i)) for i in prompt_ids]
    colour = torch.tensor([p.colour for p in parts])
    shape = torch.tensor([p.shape for p in parts])
    direction = torch.tensor([p.direction for p in parts])
    layout = sample_layout(colour, shape, direction, gen, frames, size)
    video, alpha = render_layout(colour, shape, layout, size, trail_px, tint)
    layout["alpha"] = alpha
    return video, layout


def render_prompt(prompt: str, seed: int, frames: int = FRAMES, size: int = SIZE):
    """One ground-truth video for a prompt and seed: (frames [1, 3, T, H, W], layout dict)."""
    p = parse_prompt(prompt)
    gen = torch.Generator().manual_seed(seed)
    colour, shape, direction = (torch.tensor([v]) for v in (p.colour, p.shape, p.direction))
    layout = sample_layout(colour, shape, direction, gen, frames, size)
    video, alpha = render_layout(colour, shape, layout, size)
    layout["alpha"] = alpha
    return video, layout


# ----------------------------------------------------------------------------- ground truth / metrics
COLOUR_TOL = 1.2   # RGB distance (in [-1, 1] units) within which a pixel "has" a colour; palette
                   # colours are >= 2 apart, so a pixel can be near one palette colour only
FG_TOL = 0.9       # RGB distance from the background beyond which a pixel is foreground


def background_colour(frames: torch.Tensor) -> torch.Tensor:
    """Per-frame background colour [B, 3, T]: median of the 1-px border (the object never touches it
    in the data; a generated object might, the median is robust to that)."""
    top, bottom = frames[..., 0, :], frames[..., -1, :]
    left, right = frames[..., 1:-1, 0], frames[..., 1:-1, -1]
    border = torch.cat([top, bottom, left, right], dim=-1)   # [B, 3, T, n]
    return border.median(dim=-1).values


def colour_mask(frames: torch.Tensor, colour) -> torch.Tensor:
    """Pixels close to `colour` (name, palette index or RGB triple) and closer to it than to the
    background: [B, T, H, W] bool. For the data this is the object at alpha >= about 0.5."""
    return colour_masks(frames, [colour])[0]


def colour_masks(frames: torch.Tensor, colours) -> torch.Tensor:
    """colour_mask of each of `colours`: [len(colours), B, T, H, W] bool, the same masks bit for bit,
    with the distance to the background computed once (the judge asks for all six palette colours,
    and these norms were most of its time)."""
    bg = background_colour(frames)[..., None, None]
    d_bg = (frames - bg).norm(dim=1)
    masks = []
    for colour in colours:
        if isinstance(colour, str):
            colour = COLOURS[colour]
        elif isinstance(colour, int):
            colour = PALETTE[colour].tolist()
        col = torch.as_tensor(colour, dtype=frames.dtype).view(1, 3, 1, 1, 1)
        d_col = (frames - col).norm(dim=1)
        masks.append((d_col < COLOUR_TOL) & (d_col < d_bg))
    return torch.stack(masks)


def foreground_mask(frames: torch.Tensor) -> torch.Tensor:
    """Pixels far from the per-frame background colour: [B, T, H, W] bool (no prompt needed)."""
    bg = background_colour(frames)[..., None, None]
    return (frames - bg).norm(dim=1) > FG_TOL


def centroids(mask: torch.Tensor) -> torch.Tensor:
    """[B, T, H, W] mask -> [B, T, 2] centroid (x, y) in pixels; NaN where the mask is empty."""
    m = mask.float()
    h, w = m.shape[-2:]
    area = m.sum(dim=(-2, -1))
    xs = torch.arange(w, dtype=torch.float32)
    ys = torch.arange(h, dtype=torch.float32)
    cx = (m.sum(dim=-2) * xs).sum(dim=-1) / area
    cy = (m.sum(dim=-1) * ys).sum(dim=-1) / area
    out = torch.stack([cx, cy], dim=-1)
    out[area == 0] = float("nan")
    return out


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame IoU of two [B, T, H, W] masks -> [B, T] (1 where both are empty)."""
    inter = (a & b).sum(dim=(-2, -1)).float()
    union = (a | b).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def structure_score(frames_a: torch.Tensor, frames_b: torch.Tensor, colour=None) -> dict[str, torch.Tensor]:
    """Compare the object in two videos frame by frame (e.g. a cached run against the full run).

    colour: the prompt colour (name / index / RGB) to use colour masks, or None for foreground masks.
    Returns per-frame [B, T] tensors: 'centroid_dist' (px; NaN if the object is missing in either),
    'iou' (mask IoU), and per-video [B] means 'centroid_dist_mean' (missing frames count as the frame
    diagonal) and 'iou_mean'.
    """
    if colour is None:
        ma, mb = foreground_mask(frames_a), foreground_mask(frames_b)
    else:
        ma, mb = colour_mask(frames_a, colour), colour_mask(frames_b, colour)
    ca, cb = centroids(ma), centroids(mb)
    dist = (ca - cb).norm(dim=-1)
    h, w = frames_a.shape[-2:]
    penal = torch.nan_to_num(dist, nan=math.hypot(h, w))
    iou = mask_iou(ma, mb)
    return {"centroid_dist": dist, "iou": iou, "centroid_dist_mean": penal.mean(dim=-1), "iou_mean": iou.mean(dim=-1)}


def classify_colour(frames: torch.Tensor) -> torch.Tensor:
    """Palette index [B] of the colour with the most pixels near it (over the whole video)."""
    counts = colour_masks(frames, range(len(COLOUR_NAMES))).sum(dim=(2, 3, 4)).T   # [B, n_colours]
    return counts.argmax(dim=1)


def motion_fit(cents: torch.Tensor) -> torch.Tensor:
    """Least-squares velocity (px / frame) [B, 2] of per-frame centroids [B, T, 2], ignoring NaN frames."""
    b, t, _ = cents.shape
    tt = torch.arange(t, dtype=torch.float32).view(1, t, 1).expand(b, t, 2)
    ok = torch.isfinite(cents)
    n = ok.sum(dim=1).clamp(min=1)
    tm = torch.where(ok, tt, 0).sum(dim=1) / n
    cm = torch.where(ok, cents, 0).sum(dim=1) / n
    dt = torch.where(ok, tt - tm[:, None], 0)
    dc = torch.where(ok, cents - cm[:, None], 0)
    vel = (dt * dc).sum(dim=1) / (dt ** 2).sum(dim=1).clamp(min=1e-6)
    vel[ok.sum(dim=1) < 2] = float("nan")
    return vel


MIN_SPEED = 1.0  # px / frame along the named direction for a video to count as moving that way


def classify_direction(cents: torch.Tensor, min_speed: float = MIN_SPEED) -> torch.Tensor:
    """Direction index [B] from centroid tracks [B, T, 2]: the dominant axis of the fitted velocity
    and its sign; -1 when the object is missing or moves slower than min_speed px / frame."""
    vel = motion_fit(cents)
    scores = vel @ DIR_VEC.T                                   # [B, 4] velocity along each direction
    best = scores.argmax(dim=1)
    best_speed = scores.gather(1, best[:, None])[:, 0]
    # dominant axis: the speed along the winning direction must beat the orthogonal component
    other = (vel - best_speed[:, None] * DIR_VEC[best]).norm(dim=1)
    ok = torch.isfinite(best_speed) & (best_speed >= min_speed) & (best_speed > other)
    return torch.where(ok, best, torch.full_like(best, -1))


def shape_templates(cents: torch.Tensor, size: int) -> torch.Tensor:
    """Ideal masks [B, T, n_shapes, H, W] of every shape at the given centroids (alpha >= 0.5)."""
    b, t, _ = cents.shape
    geom = _shape_geometry(size)
    coords = torch.arange(size, dtype=torch.float32)
    c = torch.nan_to_num(cents, nan=-1000.0)
    dx = coords.view(1, 1, 1, 1, size) - c[:, :, 0].view(b, t, 1, 1, 1)
    dy = coords.view(1, 1, 1, size, 1) - c[:, :, 1].view(b, t, 1, 1, 1)
    a = geom[:, 1].view(1, 1, -1, 1, 1)
    bb = geom[:, 2].view(1, 1, -1, 1, 1)
    disc = (a + 0.5 - torch.sqrt(dx ** 2 + dy ** 2)).clamp(0, 1)
    rect = (a + 0.5 - dx.abs()).clamp(0, 1) * (bb + 0.5 - dy.abs()).clamp(0, 1)
    alpha = torch.where(geom[:, 0].view(1, 1, -1, 1, 1) > 0.5, disc, rect)
    return alpha >= 0.5


def classify_shape(mask: torch.Tensor) -> torch.Tensor:
    """Shape index [B] from object masks [B, T, H, W]: per frame, the shape template (placed at the
    mask's centroid) with the highest IoU; then a majority vote over frames (-1 if no object)."""
    b, t, h, w = mask.shape
    cents = centroids(mask)
    tmpl = shape_templates(cents, w)                          # [B, T, S, H, W]
    m = mask[:, :, None]
    inter = (tmpl & m).sum(dim=(-2, -1)).float()
    union = (tmpl | m).sum(dim=(-2, -1)).float().clamp(min=1)
    iou = inter / union                                       # [B, T, S]
    per_frame = iou.argmax(dim=-1)                            # [B, T]
    present = torch.isfinite(cents[..., 0])
    votes = torch.stack([((per_frame == s) & present).sum(dim=1) for s in range(len(SHAPE_NAMES))], dim=1)
    out = votes.argmax(dim=1)
    return torch.where(present.any(dim=1), out, torch.full_like(out, -1))


def judge(frames: torch.Tensor, prompts: list[str]) -> dict[str, torch.Tensor]:
    """Does each decoded video [B, 3, T, H, W] show its prompt? Bool [B] tensors 'colour', 'direction',
    'shape', 'all', plus the measured 'velocity' [B, 2] and 'speed_along' [B] (px / frame along the
    prompt's direction). Direction and shape are measured on the mask of the prompt's colour when it
    has pixels in every frame, else on the foreground mask, so they are judged apart from colour."""
    parts = [parse_prompt(p) for p in prompts]
    colour_ok = classify_colour(frames) == torch.tensor([p.colour for p in parts])
    masks = []
    for i, p in enumerate(parts):
        cm = colour_mask(frames[i:i + 1], p.colour)
        if bool((cm.sum(dim=(-2, -1)) > 0).all()):
            masks.append(cm)
        else:
            masks.append(foreground_mask(frames[i:i + 1]))
    mask = torch.cat(masks)
    cents = centroids(mask)
    direction = torch.tensor([p.direction for p in parts])
    dir_ok = classify_direction(cents) == direction
    shape_ok = classify_shape(mask) == torch.tensor([p.shape for p in parts])
    vel = motion_fit(cents)
    along = (vel * DIR_VEC[direction]).sum(dim=1)
    return {"colour": colour_ok, "direction": dir_ok, "shape": shape_ok,
            "all": colour_ok & dir_ok & shape_ok, "velocity": vel, "speed_along": along}
