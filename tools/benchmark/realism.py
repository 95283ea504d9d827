"""Published Wan2.1 numbers to set our tiny test models against (see taocache_paper.md §5.2 and §5.4)."""
from __future__ import annotations

from pathlib import Path

# MagCache's shipped mag_ratios for Wan2.1 T2V-1.3B: 50 steps, cond/uncond interleaved, the first two
# entries 1.0 padding. Source:
# https://github.com/Zehong-Ma/MagCache/blob/main/MagCache4Wan2.1/magcache_generate.py
MAGCACHE_WAN21_1_3B_MAG_RATIOS = [
    1.0, 1.0, 1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762,
    0.99634, 0.99685, 0.99567, 0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563,
    0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549, 0.99541, 0.99539, 0.9954, 0.99536,
    0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481, 0.99479, 0.99415, 0.99413,
    0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304,
    0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063,
    0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643,
    0.98504, 0.98503, 0.9836, 0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718,
    0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089,
    0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868, 0.81838, 0.81939,
]


def magcache_curve() -> list[tuple[float, float]]:
    """(progress in [0, 1], ratio) for MagCache's cond entries (even indices); progress = step / (steps - 1).

    MagCache's ratio is of block residual magnitudes (r_t = blocks(x_t) - x_t, token space, before the
    head), averaged over tokens; ours is the norm of the whole model output per step. The overlay is an
    analogue of the late-step shape, not the same quantity. The first point (progress 0) is MagCache's
    1.0 padding, not a measurement.
    """
    cond = MAGCACHE_WAN21_1_3B_MAG_RATIOS[0::2]
    return [(i / (len(cond) - 1), ratio) for i, ratio in enumerate(cond)]


def output_norm_ratios(norms: list[float]) -> list[float]:
    """n_t / n_{t-1} for t = 1 .. len(norms) - 1 (the first step has no predecessor and is omitted)."""
    if any(n == 0 for n in norms[:-1]):
        raise ValueError("a zero output norm has no ratio to the next step")
    return [cur / prev for prev, cur in zip(norms, norms[1:])]


def output_norm_ratio_curve(norms: list[float]) -> list[tuple[float, float]]:
    """output_norm_ratios placed on magcache_curve's progress axis: the ratio of step t at t / (steps - 1)."""
    steps = len(norms)
    return [(t / (steps - 1), r) for t, r in enumerate(output_norm_ratios(norms), start=1)]


# Published Wan2.1-1.3B T2V numbers near 2x (480p, 81 frames, 50 steps, A800, PSNR against the full-step
# output), from the rows of taocache_paper.md §5.4 that give a PSNR. Prompt sets and kernels differ between
# sources, so this is a band to land in, not a ranking. The MagCache Tab. 2 rows come from a partly garbled
# extraction (the K=2, delta=0.03 row placed by elimination), see §5.4's notes.
_MAGCACHE = "MagCache Tab. 1, https://arxiv.org/abs/2506.09045"
_MAGCACHE_T2 = "MagCache Tab. 2 (100 VBench prompts), https://arxiv.org/abs/2506.09045"
_MAGCACHE_T3 = "MagCache Tab. 3 (calibrated on 944 prompts), https://arxiv.org/abs/2506.09045"
_EASYCACHE = "EasyCache README (VBench prompts), https://github.com/H-EmbodVis/EasyCache"
PUBLISHED_2X_BAND = [
    # (method, speedup, PSNR dB, source)
    ("TeaCache-slow", 1.59, 23.35, _MAGCACHE),
    ("TeaCache-fast", 2.14, 18.14, _MAGCACHE),
    ("TaylorSeer (N=2, O=1)", 2.07, 15.06, _MAGCACHE),
    ("MagCache-slow", 2.14, 23.42, _MAGCACHE),
    ("MagCache-fast", 2.68, 21.54, _MAGCACHE),
    ("MagCache K=2, delta=0.06", 2.0, 24.57, _MAGCACHE_T2),
    ("MagCache K=2, delta=0.12", 2.1, 24.32, _MAGCACHE_T2),
    ("MagCache K=2, delta=0.03", 1.9, 24.68, _MAGCACHE_T2),
    ("MagCache K=4, delta=0.03", 2.0, 22.51, _MAGCACHE_T2),
    ("MagCache K=4, delta=0.06", 2.4, 22.34, _MAGCACHE_T2),
    ("MagCache-slow", 2.14, 23.52, _MAGCACHE_T3),
    ("PAB", 1.72, 18.84, _EASYCACHE),
    ("TeaCache", 2.00, 22.57, _EASYCACHE),
    ("EasyCache", 2.54, 25.24, _EASYCACHE),
]


def published_psnr_band(low: float = 1.9, high: float = 2.7) -> tuple[float, float]:
    """(min, max) PSNR over the PUBLISHED_2X_BAND rows with low <= speedup <= high."""
    values = [psnr for _, speedup, psnr, _ in PUBLISHED_2X_BAND if low <= speedup <= high]
    return min(values), max(values)


def plot_norm_ratio(curves: dict[str, list[tuple[float, float]]], path) -> Path:
    """Overlay our per-step output-norm ratio curves on MagCache's Wan2.1-1.3B cond curve; writes a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=120)
    FigureCanvasAgg(fig)  # Agg without pyplot: no global backend switch in the caller's process
    ax = fig.add_subplot()
    for name, curve in curves.items():
        ax.plot([p for p, _ in curve], [r for _, r in curve], marker=".", label=f"{name}: output n_t / n_(t-1)")
    mx, my = zip(*magcache_curve()[1:])  # without the step-0 padding, like output_norm_ratio_curve
    ax.plot(mx, my, color="black", linestyle="--", label="Wan2.1 T2V-1.3B, MagCache residual ratio (cond)")
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.set_xlabel("sampling progress (step / (steps - 1))")
    ax.set_ylabel("ratio to previous step")
    ax.set_title("Per-step norm ratio: our model output vs MagCache's block residual\n"
                 "(an analogue: different quantities, compare the shape)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def mean_curve(curves: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Pointwise mean of curves over the same steps (the full runs of several prompt/seed pairs)."""
    if not curves or any(len(c) != len(curves[0]) for c in curves):
        raise ValueError("mean_curve needs one or more curves of the same length")
    return [(curves[0][i][0], sum(c[i][1] for c in curves) / len(curves)) for i in range(len(curves[0]))]


def ratio_summary(curve: list[tuple[float, float]], tail_steps: int = 5) -> dict:
    """A curve in three numbers: its minimum, the mean over the first 80% of steps, and the mean over
    the last `tail_steps` (MagCache's Wan2.1-1.3B curve: about 0.996, then 0.90 over the last 5)."""
    values = [r for _, r in curve]
    head = [r for p, r in curve if p <= 0.8]
    return {"min": min(values), "head_mean": sum(head) / len(head), "tail_mean": sum(values[-tail_steps:]) / tail_steps}
