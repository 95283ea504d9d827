"""The TaoCache Compare node: a full run and an accelerated run of the same seed, side by side.

It shows on the node (and logs) how far the accelerated result is from the full one, on the latent
and, when given, on the decoded frames, and what the TaoCache runs behind the two latents reported:
the model-call ratio (counted) and the sampling's wall clock (timed, from the first model evaluation
on, so model loading is left out). Every figure comes from this run; none is estimated.

Latent figures: relative error |a - f| / |f| and PSNR 10 log10(peak^2 / mean((a - f)^2)) with peak
the full run's latent range, max(f) - min(f) (latents have no fixed range). Image figures: PSNR and
SSIM (11 x 11 Gaussian window) of ComfyUI's IMAGE values in [0, 1], through kornia.metrics.

Input order is part of saved workflows: never reorder or rename; append new inputs as optional.
"""
from __future__ import annotations

import logging
import math

import torch
from comfy_api.latest import io

from . import compat, run_reports

log = logging.getLogger("TaoCache")

INPUTS = ("full_latent", "accelerated_latent", "full_images", "accelerated_images")
UI_KEY = "taocache_compare"  # the node's UI output: its lines, for web/taocache_compare.js and /history
SSIM_FRAMES_AT_ONCE = 8  # SSIM's intermediates are ~10 copies of the frames: bounded memory for long videos


def _describe_latent(shape) -> str:
    if len(shape) == 5:  # video: [batch, channels, frames, height, width]
        return f"batch {shape[0]}, {shape[1]} channels, {shape[2]} latent frames of {shape[3]}x{shape[4]}"
    if len(shape) == 4:
        return f"batch {shape[0]}, {shape[1]} channels, {shape[2]}x{shape[3]}"
    return f"{len(shape)} dimensions"


def _describe_images(shape) -> str:
    if len(shape) == 4:  # [frames, height, width, channels]
        return f"{shape[0]} frames of {shape[2]}x{shape[1]}, {shape[3]} channels"
    return f"{len(shape)} dimensions"


def _check_pair(name_a, a, name_b, b, describe, hint) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"TaoCache Compare: {name_a} and {name_b} differ in shape: {name_a} {list(a.shape)} "
            f"({describe(a.shape)}), {name_b} {list(b.shape)} ({describe(b.shape)}). {hint}")


def _streams(latent: dict, name: str) -> list[torch.Tensor]:
    """The latent's tensors: one, or each stream of a nested latent (the newest ComfyUI's LTX-2
    audio-video and MiniMax H3 latents: comfy.nested_tensor.NestedTensor, `is_nested`, `unbind()`)."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if getattr(samples, "is_nested", False) and callable(getattr(samples, "unbind", None)):
        streams = list(samples.unbind())
        if streams and all(isinstance(stream, torch.Tensor) for stream in streams):
            return streams
        raise ValueError(f"TaoCache Compare: {name} is a nested latent whose streams are not all tensors")
    if not isinstance(samples, torch.Tensor):
        raise ValueError(f"TaoCache Compare: {name} holds no latent samples")
    return [samples]


def latent_line(full: torch.Tensor, accelerated: torch.Tensor, label: str = "latent") -> str:
    f = full.float()
    a = accelerated.to(f.device).float()
    if not (torch.isfinite(f).all() and torch.isfinite(a).all()):
        return f"{label}: not finite (NaN or inf in a run): no figures"
    if torch.equal(f, a):
        return f"{label}: identical (relative error 0, PSNR infinite)"
    diff = a - f
    norm = float(torch.linalg.vector_norm(f))
    relative = f"{float(torch.linalg.vector_norm(diff)) / norm:.3e}" if norm > 0 else "n/a (the full latent is 0)"
    peak = float(f.max() - f.min())
    mse = float(torch.mean(diff * diff))
    if peak > 0:
        psnr = f"PSNR {10 * math.log10(peak * peak / mse):.2f} dB (peak: the full latent's range {peak:.4g})"
    else:
        psnr = "PSNR n/a (the full latent is constant)"
    return f"{label}: relative error {relative}, {psnr}"


def image_line(full: torch.Tensor, accelerated: torch.Tensor) -> str:
    frames = f"images ({full.shape[0]} frames)"
    f = full.float().movedim(-1, 1)  # [frames, channels, height, width], as kornia takes them
    a = accelerated.to(full.device).float().movedim(-1, 1)
    if torch.equal(f, a):
        return f"{frames}: identical (PSNR infinite, SSIM 1)"
    try:
        from kornia.metrics import psnr, ssim
    except ImportError:
        return (f"{frames}: no figures: kornia (in ComfyUI's requirements) is not installed in ComfyUI's "
                f"python; the latent figures above stand")
    value = float(psnr(a, f, max_val=1.0))
    total = 0.0
    for start in range(0, f.shape[0], SSIM_FRAMES_AT_ONCE):
        chunk = slice(start, start + SSIM_FRAMES_AT_ONCE)
        total += float(ssim(a[chunk], f[chunk], window_size=11, max_val=1.0).mean()) * f[chunk].shape[0]
    return f"{frames}: PSNR {value:.2f} dB, SSIM {total / f.shape[0]:.4f}"


def _ids(nodes) -> str:
    nodes = sorted(nodes, key=lambda n: (len(n), n))
    return ("node " if len(nodes) == 1 else "nodes ") + ", ".join(nodes)


def _runs(prompt_id, nodes) -> list[dict]:
    return [run for node in sorted(nodes) for run in run_reports.runs_of(prompt_id, node)]


def speed_lines(prompt, node_id, prompt_id) -> list[str]:
    """What the TaoCache runs behind the two latents reported: call ratio and wall clock."""
    if not isinstance(prompt, dict) or node_id is None:
        return ["speed: this ComfyUI gave the node no prompt graph, so the TaoCache runs cannot be found"]
    full_nodes = run_reports.upstream_of(prompt, node_id, "full_latent", "TaoCache")
    fast_nodes = run_reports.upstream_of(prompt, node_id, "accelerated_latent", "TaoCache")
    lines = []
    shared = full_nodes & fast_nodes
    if shared:
        lines.append(f"speed: TaoCache {_ids(shared)} feeds both runs, so its calls and time cannot be split "
                     f"between them: give each sampler its own TaoCache node")
        full_nodes, fast_nodes = full_nodes - shared, fast_nodes - shared
    if not fast_nodes:
        return lines + ["speed: accelerated_latent does not come through a TaoCache node: no call counts"]
    fast = _runs(prompt_id, fast_nodes)
    if not fast:
        return lines + [f"speed: TaoCache {_ids(fast_nodes)} made no model calls in this prompt (ComfyUI reused "
                        f"a cached result): change the seed on both samplers and run again to measure"]
    computed, total = sum(r["computed"] for r in fast), sum(r["total"] for r in fast)
    ratio = total / computed if computed else 1.0
    runs = f", {len(fast)} sampling runs" if len(fast) > 1 else ""
    lines.append(f"model calls: {computed} of {total} computed (call ratio {ratio:.2f}x), counted by TaoCache "
                 f"{_ids(fast_nodes)}{runs}")
    full = _runs(prompt_id, full_nodes)
    how = "put a TaoCache node with max_consecutive_skips 0 on the full run's model (it skips nothing, it times)"
    if not full:
        why = ("the full run has no TaoCache node" if not full_nodes else
               f"TaoCache {_ids(full_nodes)} on the full run made no model calls in this prompt")
        return lines + [f"wall clock: not measured: {why}; to time it, {how}"]
    skipped = sum(r["skipped"] for r in full)
    if skipped:
        return lines + [f"wall clock: not measured: TaoCache {_ids(full_nodes)} on the full run skipped {skipped} "
                        f"calls, so it is no full run: set its max_consecutive_skips to 0"]
    full_total = sum(r["total"] for r in full)
    if full_total != total:
        lines.append(f"note: the runs made {full_total} and {total} model calls: compare the same sampler, "
                     f"steps and cfg")
    if any(r["seconds"] is None for r in full + fast):
        return lines + ["wall clock: not measured: a run was stopped or never called its model"]
    full_s, fast_s = sum(r["seconds"] for r in full), sum(r["seconds"] for r in fast)
    return lines + [f"wall clock: {full_s / fast_s:.2f}x (full run {full_s:.2f} s, accelerated {fast_s:.2f} s; "
                    f"sampling only, timed by TaoCache {_ids(full_nodes | fast_nodes)})"]


class TaoCacheCompareNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="TaoCacheCompare",
            display_name="TaoCache Compare",
            category="advanced/model/acceleration",
            description=(
                "Compares an accelerated run with the full run of the same seed, measured in this run: the "
                "latent's relative error and PSNR, PSNR and SSIM of the decoded frames when connected, and, "
                "when the accelerated run came through TaoCache, its model-call ratio and (if the full run "
                "has a TaoCache node with max_consecutive_skips 0, which only times) the wall-clock speedup."),
            inputs=[
                io.Latent.Input("full_latent", tooltip="The sampler's result at full compute (the reference)."),
                io.Latent.Input("accelerated_latent",
                                tooltip="The result of the same seed, sampler and steps through TaoCache."),
                io.Image.Input("full_images", optional=True,
                               tooltip="The full run's decoded frames (VAE Decode), for PSNR and SSIM on images."),
                io.Image.Input("accelerated_images", optional=True,
                               tooltip="The accelerated run's decoded frames, decoded the same way."),
            ],
            outputs=[io.String.Output(display_name="report", tooltip="The text the node shows.")],
            hidden=[io.Hidden.unique_id, io.Hidden.prompt],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, full_latent, accelerated_latent, full_images=None, accelerated_images=None) -> io.NodeOutput:
        node_id = cls.hidden.unique_id if cls.hidden is not None else None
        prompt = cls.hidden.prompt if cls.hidden is not None else None
        full, fast = _streams(full_latent, "full_latent"), _streams(accelerated_latent, "accelerated_latent")
        if len(full) != len(fast):
            raise ValueError(f"TaoCache Compare: full_latent has {len(full)} stream(s), accelerated_latent "
                             f"{len(fast)}: compare two runs of the same model and latent (audio with audio)")
        for i, (f, a) in enumerate(zip(full, fast)):
            where = f" stream {i}" if len(full) > 1 else ""
            _check_pair(f"full_latent{where}", f, f"accelerated_latent{where}", a, _describe_latent,
                        "Compare two runs of the same width, height, length (frames) and batch size.")
        if (full_images is None) != (accelerated_images is None):
            given = "full_images" if full_images is not None else "accelerated_images"
            raise ValueError(f"TaoCache Compare: connect both full_images and accelerated_images, or neither "
                             f"(only {given} is connected)")
        if full_images is not None:
            _check_pair("full_images", full_images, "accelerated_images", accelerated_images, _describe_images,
                        "Decode both latents with the same VAE and settings.")
        if len(full) == 1:
            lines = [latent_line(full[0], fast[0])]
        else:  # e.g. LTX-2: video, then audio
            lines = [latent_line(f, a, f"latent stream {i} ({_describe_latent(f.shape)})")
                     for i, (f, a) in enumerate(zip(full, fast))]
        if full_images is not None:
            lines.append(image_line(full_images, accelerated_images))
        lines += speed_lines(prompt, node_id, compat.current_prompt_id())
        lines.append("(measured in this run, on this model and machine)")
        text = "\n".join(lines)
        log.info("TaoCache Compare: " + "; ".join(lines))
        compat.show_text_on_node(node_id, text)
        # the UI output is what web/taocache_compare.js keeps on the node (newer frontends clear the
        # progress text when the run ends)
        return io.NodeOutput(text, ui={UI_KEY: lines})
