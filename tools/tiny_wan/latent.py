"""A fixed, exactly invertible "VAE" between RGB frames and a 16-channel Wan2.1 latent.

Plain torch; never imports ComfyUI (except in the two ComfyUI-latent helpers at the bottom).

    encode(frames [B, 3, T, H, W] in [-1, 1])  ->  latent [B, 16, T, H/2, W/2]
    decode(latent [B, 16, T, h, w])            ->  frames [B, 3, T, 2h, 2w]

How: 2x2 space-to-depth turns each 2x2 RGB block into 12 values; four constant-zero padding channels
make 16; the 16 values are centred and scaled by fixed constants (so the training data has roughly
unit latent std) and then mixed by a fixed orthogonal 16x16 matrix (seeded QR), so no latent channel
is "the red channel" and every channel carries image content, as in a real VAE latent.
decode() applies the transpose and drops the 4 padding directions: decode(encode(x)) == x up to
float32 rounding (about 1e-6), and decode ignores whatever a model puts in the padding directions.
The training data has exactly zero there, so the model learns to denoise them towards 0.
There is no temporal compression: latent frame t is video frame t.

This latent is what the diffusion model itself sees ("model space"). ComfyUI's KSampler hands the
model process_latent_in(LATENT) and returns process_latent_out(result) (Wan21 latent format: per-channel
mean/std). To decode a LATENT that came out of a ComfyUI graph use decode(comfy_latent_to_model(x)),
and to feed one in use model_latent_to_comfy(encode(frames)).
"""
from __future__ import annotations

import torch

LATENT_CHANNELS = 16
SPATIAL = 2                 # space-to-depth factor: latent h, w = H / 2, W / 2
RGB_CHANNELS = 3 * SPATIAL * SPATIAL   # 12 used directions; the other 4 are padding
# Fixed affine normalisation of the stacked 2x2 RGB values before mixing. Chosen once from the
# training data of data.py (mean pixel value about -0.53, pixel std about 0.37), so that the latent
# of the training data has a std of about 1 over all 16 channels (the 4 padding ones are 0).
PIXEL_OFFSET = -0.53
PIXEL_SCALE = 3.1
MIX_SEED = 20250821


def _mixing_matrix() -> torch.Tensor:
    g = torch.Generator().manual_seed(MIX_SEED)
    a = torch.randn(LATENT_CHANNELS, LATENT_CHANNELS, generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # unique QR: positive diagonal of r
    return q.to(torch.float32)


MIX = _mixing_matrix()  # [16 latent, 16 stacked] orthogonal


def space_to_depth(frames: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C*4, T, H/2, W/2]; channel index = c*4 + dy*2 + dx."""
    b, c, t, h, w = frames.shape
    if h % SPATIAL or w % SPATIAL:
        raise ValueError(f"frame size {h}x{w} must be a multiple of {SPATIAL}")
    x = frames.reshape(b, c, t, h // SPATIAL, SPATIAL, w // SPATIAL, SPATIAL)
    x = x.permute(0, 1, 4, 6, 2, 3, 5)  # b c dy dx t h w
    return x.reshape(b, c * SPATIAL * SPATIAL, t, h // SPATIAL, w // SPATIAL)


def depth_to_space(x: torch.Tensor) -> torch.Tensor:
    """Inverse of space_to_depth."""
    b, cc, t, h, w = x.shape
    c = cc // (SPATIAL * SPATIAL)
    x = x.reshape(b, c, SPATIAL, SPATIAL, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)  # b c t h dy w dx
    return x.reshape(b, c, t, h * SPATIAL, w * SPATIAL)


def encode(frames: torch.Tensor) -> torch.Tensor:
    """RGB video [B, 3, T, H, W] in [-1, 1] -> latent [B, 16, T, H/2, W/2] (model space)."""
    if frames.ndim != 5 or frames.shape[1] != 3:
        raise ValueError(f"expected [B, 3, T, H, W], got {tuple(frames.shape)}")
    s = (space_to_depth(frames.float()) - PIXEL_OFFSET) * PIXEL_SCALE
    pad = torch.zeros(s.shape[0], LATENT_CHANNELS - RGB_CHANNELS, *s.shape[2:], dtype=s.dtype, device=s.device)
    s = torch.cat([s, pad], dim=1)
    return torch.einsum("kc,bcthw->bkthw", MIX.to(s.device), s)


def decode(latent: torch.Tensor) -> torch.Tensor:
    """Latent [B, 16, T, h, w] (model space) -> RGB video [B, 3, T, 2h, 2w] (not clamped)."""
    if latent.ndim != 5 or latent.shape[1] != LATENT_CHANNELS:
        raise ValueError(f"expected [B, 16, T, h, w], got {tuple(latent.shape)}")
    s = torch.einsum("kc,bkthw->bcthw", MIX.to(latent.device), latent.float())
    s = s[:, :RGB_CHANNELS] / PIXEL_SCALE + PIXEL_OFFSET
    return depth_to_space(s)


def padding_energy(latent: torch.Tensor) -> torch.Tensor:
    """Per-sample mean square of the 4 padding directions (0 for an encoded video)."""
    s = torch.einsum("kc,bkthw->bcthw", MIX.to(latent.device), latent.float())
    return s[:, RGB_CHANNELS:].pow(2).mean(dim=(1, 2, 3, 4))


def latent_shape(batch: int, frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
    """Latent shape for a video of `frames` frames of height x width pixels."""
    return (batch, LATENT_CHANNELS, frames, height // SPATIAL, width // SPATIAL)


# ----------------------------------------------------------------------------- ComfyUI LATENTs
def comfy_latent_to_model(latent: torch.Tensor) -> torch.Tensor:
    """A ComfyUI Wan LATENT (what KSampler returns) -> model space (what decode() takes)."""
    import comfy.latent_formats  # needs the ComfyUI tree on sys.path
    return comfy.latent_formats.Wan21().process_in(latent.float())


def model_latent_to_comfy(latent: torch.Tensor) -> torch.Tensor:
    """Model space (what encode() gives) -> a ComfyUI Wan LATENT."""
    import comfy.latent_formats
    return comfy.latent_formats.Wan21().process_out(latent.float())
