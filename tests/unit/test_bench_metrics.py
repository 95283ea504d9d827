"""Fine-structure metrics of the benchmark (tools/benchmark/metrics.py) on synthetic frames."""
import math
import os
import sys

import kornia
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import metrics  # noqa: E402


def textured_scene(seed=0, t=8, h=64, w=64, texture=0.12) -> torch.Tensor:
    """[1, 3, T, H, W]: a strong smooth wave, a few flat patches, and a weak 2x2-pixel texture on top."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, h).view(1, 1, 1, h, 1)
    x = torch.linspace(0, 1, w).view(1, 1, 1, 1, w)
    phase = torch.arange(t).view(1, 1, t, 1, 1) / t
    colour = torch.tensor([1.0, 0.7, -0.5]).view(1, 3, 1, 1, 1)
    f = 0.6 * colour * torch.sin(2 * math.pi * (x + 0.5 * y + 0.1 * phase))
    for _ in range(4):
        y0, x0 = torch.randint(6, h - 22, (2,), generator=g).tolist()
        hh, ww = torch.randint(8, 16, (2,), generator=g).tolist()
        f[..., y0:y0 + hh, x0:x0 + ww] += torch.rand(3, 1, 1, 1, generator=g) * 0.8 - 0.4
    tex = torch.rand(1, 1, t, h // 2, w // 2, generator=g) * 2 - 1
    return (f + texture * tex.repeat_interleave(2, -1).repeat_interleave(2, -2)).clamp(-1, 1)


def patches_scene(t=4, h=64, w=64) -> torch.Tensor:
    """Flat background with sharp patches well inside the frame, so rolling by a pixel or two moves edges only."""
    f = torch.full((1, 3, t, h, w), -0.5)
    f[..., 10:30, 12:40] = 0.6
    f[..., 36:54, 20:50] = torch.tensor([0.9, -0.2, 0.3]).view(1, 3, 1, 1, 1)
    return f


def blurred(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    b, c, t, h, w = frames.shape
    images = frames.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
    k = 2 * math.ceil(3 * sigma) + 1
    out = kornia.filters.gaussian_blur2d(images, (k, k), (sigma, sigma), border_type="replicate")
    return out.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def noisy(frames: torch.Tensor, std: float, seed=1) -> torch.Tensor:
    return frames + std * torch.randn(frames.shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def scene():
    return textured_scene()


def test_highpass_removes_smooth_content_and_keeps_detail():
    b, t, h, w = 2, 3, 32, 32
    y = torch.linspace(-0.8, 0.8, h).view(1, 1, 1, h, 1)
    ramp = y.expand(b, 3, t, h, w)
    assert metrics.highpass(torch.full((b, 3, t, h, w), 0.3)).abs().max() < 1e-6
    assert metrics.highpass(ramp)[..., 4:-4, :].abs().max() < 1e-5  # linear is kept by a symmetric blur
    checker = 0.5 * (-1.0) ** (torch.arange(h).view(h, 1) + torch.arange(w).view(1, w))
    band = metrics.highpass(checker.expand(b, 3, t, h, w).clone())
    assert band.shape == (b, 3, t, h, w)
    assert band.abs().mean() > 0.4  # the finest pattern survives almost whole


def test_identical_frames_score_perfectly(scene):
    assert metrics.highpass_psnr(scene, scene.clone()) == 99.0
    assert metrics.highpass_ssim(scene, scene.clone()) == pytest.approx(1.0, abs=1e-5)
    assert metrics.edge_f1(scene, scene.clone()) == 1.0


def test_blur_hurts_the_detail_metrics_much_more_than_full_band(scene):
    soft = blurred(scene, 1.0)
    full_psnr, full_ssim = metrics.psnr(soft, scene), metrics.ssim(soft, scene)
    assert full_psnr > 30.0
    # With highpass the identity, the band peak would be the frames' whole range (about 1.7) and
    # highpass_psnr would sit within 1.5 dB of psnr; highpass_ssim would track ssim.
    assert full_psnr - metrics.highpass_psnr(soft, scene) > 7.0
    assert full_ssim - metrics.highpass_ssim(soft, scene) > 0.2
    assert metrics.edge_f1(soft, scene) < 0.5
    assert metrics.edge_f1(blurred(scene, 2.0), scene) < metrics.edge_f1(soft, scene)


def test_one_pixel_shift_is_within_tolerance_one():
    ref = patches_scene()
    shifted = torch.roll(ref, 1, dims=-1)
    assert metrics.edge_f1(shifted, ref, tolerance_px=1) == 1.0
    assert metrics.edge_f1(shifted, ref, tolerance_px=0) < 0.9  # vertical edges miss, horizontal ones still overlap
    assert metrics.edge_f1(torch.roll(ref, 3, dims=-1), ref, tolerance_px=1) < 0.8


def test_more_noise_lowers_every_metric(scene):
    weak, strong = noisy(scene, 0.03), noisy(scene, 0.1)
    for metric in (metrics.highpass_psnr, metrics.highpass_ssim, metrics.edge_f1):
        perfect = metric(scene, scene)
        assert metric(strong, scene) < metric(weak, scene) < perfect, metric.__name__


def test_edge_f1_empty_maps():
    flat = torch.zeros(1, 3, 2, 16, 16)
    assert metrics.edge_f1(flat, flat.clone()) == 1.0
    sharp = flat.clone()
    sharp[..., :, 8:] = 1.0
    assert metrics.edge_f1(flat, sharp) == 0.0
    assert metrics.edge_f1(sharp, flat) == 0.0


def test_flat_reference_keeps_highpass_scores_finite():
    flat = torch.zeros(1, 3, 2, 16, 16)
    value = metrics.highpass_psnr(noisy(flat, 0.05), flat)
    assert math.isfinite(value) and value < 99.0


@pytest.mark.parametrize("metric", [metrics.highpass_psnr, metrics.highpass_ssim, metrics.edge_f1])
def test_mismatched_shapes_name_both(metric):
    a, b = torch.zeros(1, 3, 8, 64, 64), torch.zeros(1, 3, 8, 64, 32)
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 64, 64\).*\(1, 3, 8, 64, 32\)"):
        metric(a, b)
