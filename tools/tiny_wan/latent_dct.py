"""A fixed, lossy "VAE" with 4x spatial compression, for the textures model: RGB frames <-> a
16-channel Wan2.1 latent. Plain torch; never imports ComfyUI (the LATENT helpers are latent.py's).

    encode(frames [B, 3, T, H, W] in [-1, 1])  ->  latent [B, 16, T, H/4, W/4]
    decode(latent [B, 16, T, h, w])            ->  frames [B, 3, T, 4h, 4w]

Why lossy: a 64 x 64 frame through latent.py's lossless 2x space-to-depth is a 32 x 32 latent,
2048 tokens over 8 frames, too many to train on two CPU cores; a real Wan VAE compresses 8x in space
and 4x in time. Here each 4 x 4 pixel block (48 RGB values) becomes 16 numbers, the way JPEG keeps
what the eye needs:
  - luma Y = mean of R, G, B: its 4 x 4 orthonormal DCT, minus the three highest-frequency
    coefficients (u, v) = (2, 3), (3, 2), (3, 3): 13 values. Horizontal, vertical and most diagonal
    detail down to a 2-px period survives; a fine checkerboard loses a little.
  - chroma: the block means of R - Y and B - Y (colour at 4 px resolution, as 4:2:0-style video does).
  - one padding channel, always 0 in the data (as latent.py's four).
Each value is scaled by a fixed constant (SCALES, measured once on textures.py's data so that each
latent channel has a std of about 1), then mixed by latent.py's fixed orthogonal 16 x 16 matrix, so no
channel is "the luma DC". decode() inverts all of it; encode(decode(z)) == z on the 15 used
directions, and decode(encode(x)) is x projected onto what the latent keeps.
"""
from __future__ import annotations

import math

import torch

import latent as _lossless

LATENT_CHANNELS = 16
SPATIAL = 4
DROPPED = ((2, 3), (3, 2), (3, 3))
KEPT = tuple((u, v) for u in range(4) for v in range(4) if (u, v) not in DROPPED)   # 13 luma coefficients
MIX = _lossless.MIX


def _dct_matrix(n: int = 4) -> torch.Tensor:
    """Orthonormal DCT-II matrix [n frequencies, n samples]."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.to(torch.float32)


DCT = _dct_matrix()
# Per-direction (13 luma in KEPT order, Cr, Cb, padding) offset and scale. Measured once on 64 videos
# of textures.py's data: luma DC mean -1.29, std 0.77; luma AC std 0.06-0.33; chroma 0.22. The DC and
# chroma are scaled to a std of about 1; every luma AC term by 3, which leaves the lowest AC terms
# near 1 and the finest at 0.2-0.6. Why not 1 / std for the AC terms too (the first textures model did
# that, capped at 10): the fine-texture terms then held most of the training loss, and that model
# learned the backgrounds but not the objects' colours or the pan. With the fine terms small, as in a
# real VAE latent, fine detail is also what the sampler settles last, at low noise.
OFFSETS = torch.tensor([-1.29] + [0.0] * 15)
AC_SCALE = 3.0
SCALES = torch.tensor([1.3] + [AC_SCALE] * 12 + [4.5, 4.6, 1.0])


def _blocks(frames: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C, T, h, w, 4, 4] (rows, columns of each 4 x 4 block)."""
    b, c, t, h, w = frames.shape
    if h % SPATIAL or w % SPATIAL:
        raise ValueError(f"frame size {h}x{w} must be a multiple of {SPATIAL}")
    x = frames.reshape(b, c, t, h // SPATIAL, SPATIAL, w // SPATIAL, SPATIAL)
    return x.permute(0, 1, 2, 3, 5, 4, 6)


def encode(frames: torch.Tensor) -> torch.Tensor:
    """RGB video [B, 3, T, H, W] in [-1, 1] -> latent [B, 16, T, H/4, W/4] (model space)."""
    if frames.ndim != 5 or frames.shape[1] != 3:
        raise ValueError(f"expected [B, 3, T, H, W], got {tuple(frames.shape)}")
    blocks = _blocks(frames.float())                                     # [B, 3, T, h, w, 4, 4]
    y = blocks.mean(dim=1)                                               # [B, T, h, w, 4, 4]
    coef = torch.einsum("ui,bthwij,vj->bthwuv", DCT.to(y.device), y, DCT.to(y.device))
    luma = torch.stack([coef[..., u, v] for u, v in KEPT], dim=1)        # [B, 13, T, h, w]
    mean = blocks.mean(dim=(-2, -1))                                     # [B, 3, T, h, w]
    ymean = mean.mean(dim=1, keepdim=True)
    chroma = torch.cat([mean[:, 0:1] - ymean, mean[:, 2:3] - ymean], dim=1)
    pad = torch.zeros_like(chroma[:, :1])
    s = torch.cat([luma, chroma, pad], dim=1)
    s = (s - OFFSETS.to(s.device).view(1, -1, 1, 1, 1)) * SCALES.to(s.device).view(1, -1, 1, 1, 1)
    return torch.einsum("kc,bcthw->bkthw", MIX.to(s.device), s)


def decode(latent: torch.Tensor) -> torch.Tensor:
    """Latent [B, 16, T, h, w] (model space) -> RGB video [B, 3, T, 4h, 4w] (not clamped)."""
    if latent.ndim != 5 or latent.shape[1] != LATENT_CHANNELS:
        raise ValueError(f"expected [B, 16, T, h, w], got {tuple(latent.shape)}")
    s = torch.einsum("kc,bkthw->bcthw", MIX.to(latent.device), latent.float())
    s = s / SCALES.to(s.device).view(1, -1, 1, 1, 1) + OFFSETS.to(s.device).view(1, -1, 1, 1, 1)
    b, _, t, h, w = s.shape
    coef = torch.zeros(b, t, h, w, SPATIAL, SPATIAL, device=s.device)
    for i, (u, v) in enumerate(KEPT):
        coef[..., u, v] = s[:, i]
    y = torch.einsum("ui,bthwuv,vj->bthwij", DCT.to(s.device), coef, DCT.to(s.device))   # [B, T, h, w, 4, 4]
    cr, cb = s[:, 13], s[:, 14]                                          # [B, T, h, w]
    # R = Y + cr, B = Y + cb, and G from the luma mean: (R + G + B) / 3 = Y  ->  G = Y - cr - cb
    rgb = torch.stack([y + cr[..., None, None], y - (cr + cb)[..., None, None], y + cb[..., None, None]], dim=1)
    rgb = rgb.permute(0, 1, 2, 3, 5, 4, 6)                               # [B, 3, T, h, 4, w, 4]
    return rgb.reshape(b, 3, t, h * SPATIAL, w * SPATIAL)


def latent_shape(batch: int, frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
    return (batch, LATENT_CHANNELS, frames, height // SPATIAL, width // SPATIAL)


comfy_latent_to_model = _lossless.comfy_latent_to_model
model_latent_to_comfy = _lossless.model_latent_to_comfy
