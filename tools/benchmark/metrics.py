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


# Fine-structure metrics. Caching errors in late denoising steps tend to lose fine detail (texture, sharp
# edges) while the coarse image stays right, and full-band PSNR/SSIM hardly see that: the detail carries
# little energy. These metrics look at the detail band alone.

_LUMA = (0.299, 0.587, 0.114)
_PEAK_FLOOR = 2.0 / 255.0  # one 8-bit code value on the [-1, 1] scale: below that a band is quantization noise


def _check_same_shape(frames: torch.Tensor, reference: torch.Tensor) -> None:
    if frames.shape != reference.shape:
        raise ValueError(f"frames shape {tuple(frames.shape)} != reference shape {tuple(reference.shape)}")
    if frames.dim() != 5 or frames.shape[1] != 3:
        raise ValueError(f"expected [B, 3, T, H, W] frames, got {tuple(frames.shape)}")


def _as_images(frames: torch.Tensor) -> torch.Tensor:
    """[B, 3, T, H, W] in [-1, 1] (clamped, float32) -> [B*T, 3, H, W]."""
    b, c, t, h, w = frames.shape
    return frames.float().clamp(-1, 1).permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def _highpass_images(images: torch.Tensor, sigma: float) -> torch.Tensor:
    import kornia

    size = 2 * math.ceil(3 * sigma) + 1
    # Replicate padding: zero padding would put a false step at every border; reflect needs H, W > size // 2.
    blurred = kornia.filters.gaussian_blur2d(images, (size, size), (sigma, sigma), border_type="replicate")
    return images - blurred


def highpass(frames: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Frames (clamped to [-1, 1]) minus their per-frame Gaussian blur: the detail band. Same shape as frames."""
    if frames.dim() != 5:
        raise ValueError(f"expected [B, C, T, H, W] frames, got {tuple(frames.shape)}")
    b, c, t, h, w = frames.shape
    band = _highpass_images(_as_images(frames), sigma)
    return band.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def _bands(frames: torch.Tensor, reference: torch.Tensor, sigma: float):
    _check_same_shape(frames, reference)
    a = _highpass_images(_as_images(frames), sigma)
    b = _highpass_images(_as_images(reference), sigma)
    low, high = b.min().item(), b.max().item()
    return a, b, low, max(high - low, _PEAK_FLOOR)


def highpass_psnr(frames: torch.Tensor, reference: torch.Tensor, sigma: float = 1.0) -> float:
    """PSNR in dB of the detail bands, with the reference band's own peak-to-peak as the peak (99.0 if identical).

    Not the fixed 2.0 of psnr(): the blur only removes energy, so the band error is never larger than the
    full error and a fixed peak would score a blurred copy at least as well as psnr() does. Relative to the
    reference band's range, losing all of the detail scores low however little energy the detail has.
    The peak is floored at one 8-bit code value so a flat reference stays finite.
    """
    a, b, _, peak = _bands(frames, reference, sigma)
    mse = torch.mean((a - b) ** 2).item()
    return 99.0 if mse == 0 else 10.0 * math.log10(peak ** 2 / mse)


def highpass_ssim(frames: torch.Tensor, reference: torch.Tensor, sigma: float = 1.0) -> float:
    """Mean SSIM of the detail bands (kornia.metrics.ssim, Gaussian 7x7 window, valid area like ssim()).

    Both bands are shifted by the reference band's minimum and SSIM's data range is the reference band's
    peak-to-peak, so its constants c1, c2 scale with the detail. With the existing ssim() (range fixed at
    [-1, 1]) the constants would swamp a low-amplitude band and score nearly anything close to 1; rescaling
    the bands into [-1, 1] for it instead would clamp whatever of the frames' band falls outside the range.
    """
    import kornia

    a, b, low, peak = _bands(frames, reference, sigma)
    s = kornia.metrics.ssim(a - low, b - low, window_size=7, max_val=peak, eps=0.0, padding="valid")
    return s.mean().item()


def edge_map(frames: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Boolean edges [B*T, 1, H, W]: normalized Sobel magnitude of the luma (in [-1, 1]) above `threshold`.

    A fixed threshold, not a fraction of each frame's maximum: a relative one would find edges in a flat
    frame's noise and would let a frame whose every edge got weaker keep the same edge map. With kornia's
    normalized Sobel a luma step of height h reads h / 2 on the two pixels beside it, so 0.1 marks steps
    over 0.2 (a tenth of the [-1, 1] range, about 25 of 255 levels) and ramps steeper than 0.1 per pixel.
    """
    import kornia

    images = _as_images(frames)
    weights = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    luma = (images * weights).sum(dim=1, keepdim=True)
    return kornia.filters.sobel(luma) > threshold


def edge_f1(frames: torch.Tensor, reference: torch.Tensor, tolerance_px: int = 1, threshold: float = 0.1) -> float:
    """F1 of the frames' edges against the reference's (see edge_map), pooled over all frames.

    An edge pixel counts as matched when the other map has an edge within tolerance_px (Chebyshev
    distance, by max-pool dilation). Precision: matched frame edges / frame edges; recall: matched
    reference edges / reference edges. 1.0 when both maps are empty, 0.0 when exactly one is.
    """
    _check_same_shape(frames, reference)
    pred, ref = edge_map(frames, threshold), edge_map(reference, threshold)
    n_pred, n_ref = pred.sum().item(), ref.sum().item()
    if n_pred == 0 or n_ref == 0:
        return 1.0 if n_pred == n_ref else 0.0
    k = 2 * tolerance_px + 1

    def dilate(mask: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(mask.float(), k, stride=1, padding=tolerance_px) > 0

    precision = (pred & dilate(ref)).sum().item() / n_pred
    recall = (ref & dilate(pred)).sum().item() / n_ref
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
