"""Quality of a run against the full-step result of the same prompt and seed, on decoded frames."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(frames: torch.Tensor, reference: torch.Tensor, peak_to_peak: float = 2.0) -> float:
    """PSNR in dB of frames in [-1, 1] (clamped) against the reference."""
    mse = torch.mean((frames.clamp(-1, 1) - reference.clamp(-1, 1)) ** 2).item()
    return 99.0 if mse == 0 else 10.0 * math.log10(peak_to_peak ** 2 / mse)


def _gaussian_window(size=7, sigma=1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(frames: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean SSIM over frames and channels (Gaussian 7x7 window), for [B, 3, T, H, W] in [-1, 1]."""
    a = ((frames.clamp(-1, 1) + 1) / 2).permute(0, 2, 1, 3, 4).reshape(-1, 1, *frames.shape[-2:])
    b = ((reference.clamp(-1, 1) + 1) / 2).permute(0, 2, 1, 3, 4).reshape(-1, 1, *frames.shape[-2:])
    w = _gaussian_window()
    mu_a, mu_b = F.conv2d(a, w), F.conv2d(b, w)
    var_a = F.conv2d(a * a, w) - mu_a ** 2
    var_b = F.conv2d(b * b, w) - mu_b ** 2
    cov = F.conv2d(a * b, w) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean().item()
