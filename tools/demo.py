"""The main job: a TaoCache-accelerated generation of the shipped tiny model in a real ComfyUI, next to the full run.

    bash tools/demo.sh            (builds the runtime if needed, then runs this with its python)

Runs the Wan2.1 text-to-video graph (UNETLoader -> ModelSamplingSD3(8) -> [TaoCache] -> KSampler,
euler/simple, cfg 5) through ComfyUI's real executor, in this process, on the trained tiny
Wan2.1-architecture model models/tiny_wan21_t2v_shapes.safetensors (moving coloured shapes), first
without TaoCache, then with TaoCache "default" (the node's defaults: window from start_percent 0.3,
cos_threshold 0.6, norm_ratio_threshold 1.3, max_consecutive_skips 1) and "aggressive" (both gates open:
cos_threshold -1, norm_ratio_threshold 10; max_consecutive_skips 2), which loses structure and is not
recommended: it shows how far skipping goes. Each TaoCache run prints the sentence its log line and its
node show (taocache/report.py).

Quality pass, at the size the model was trained on: real model calls and the call ratio against the
full run, PSNR and SSIM of the decoded frames against the full run's, and the structure the shapes
make measurable (mask IoU of the prompt's colour and centroid distance per frame, tools/tiny_wan/data.py).
Timing pass, at a larger latent where the model forward dominates a step (at the trained size a step
is mostly ComfyUI's per-step overhead): wall clock of the sampling run, paired with a full run before
each measurement, median of the ratios. Every number is measured in this run.

Writes out/demo/: full_vs_taocache.webp (decoded videos full | default | aggressive), skips.png (per-step
decisions of each TaoCache setting, with sigma, in the node's cell colours), demo.json (every number).
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools" / "benchmark"), str(REPO / "tools")]

import metrics  # noqa: E402  (tools/benchmark: PSNR, SSIM on decoded frames)
from methods import LATE_START, Method, taocache  # noqa: E402
from tiny_comfy import (CFG, MODEL_FILE, SHIFT, TIMING_DEPTHS, comfy_size, decode, graph, paired_wall_ratios,  # noqa: E402
                        require_model, start_comfy)
from tiny_wan import check_learned, data, sample  # noqa: E402

SAMPLER = "euler"
# (label, max_consecutive_skips, cos_threshold, norm_ratio_threshold), window [0.3, 1.0]: the node's defaults, gates open
SETTINGS = (("default", 1, 0.6, 1.3), ("aggressive", 2, -1.0, 10.0))
NOT_RECOMMENDED = "aggressive"
WEB_JS = REPO / "web" / "taocache.js"


def cell_colours(path: Path = WEB_JS) -> dict[str, tuple[int, int, int]]:
    """The node's cell colours, read from the web extension's CELL_COLOURS line: one colour scheme for
    the node and the plot."""
    line = next((text for text in path.read_text(encoding="utf-8").splitlines()
                 if text.startswith("export const CELL_COLOURS")), "")
    found = dict(re.findall(r'(\w+): "#([0-9a-fA-F]{6})"', line))
    if set(found) != {"computed", "skipped", "outside"}:
        raise SystemExit(f"{path}: no CELL_COLOURS line with computed, skipped and outside colours")
    return {state: tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4)) for state, hexa in found.items()}


def report_line(method_title: str, summary: str) -> str:
    """What the demo prints for one TaoCache run: its setting, then the summary without the log's tag."""
    return f"{method_title}: {summary.removeprefix('TaoCache: ')}"


def parse_size(text: str) -> tuple[int, int, int]:
    width, height, length = (int(v) for v in text.lower().split("x"))
    return width, height, length


def model_description(path: Path) -> str:
    try:
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("taocache_tiny_wan", "{}"))
    except (OSError, ValueError):
        meta = {}
    if not meta:
        return "no training metadata in the file: untrained weights? quality figures then mean little"
    video = meta.get("video", {})
    return (f"trained {meta.get('steps_done', '?')} steps on {video.get('size', '?')}x{video.get('size', '?')} px, "
            f"{video.get('frames', '?')}-frame videos of moving shapes")


def fmt(value, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def psnr_text(value) -> str:
    return "identical" if value == 99.0 else fmt(value, ".1f", " dB")  # metrics.psnr: 99 where the MSE is 0


def draw_skips(reports: list[tuple[str, dict]], path: Path, title: str) -> None:
    """Per-step strip of each TaoCache run (computed outside the window / computed in it / skipped)
    under the sigma of each step, with Pillow only."""
    from PIL import Image, ImageDraw, ImageFont
    colours = cell_colours()
    font = ImageFont.load_default(size=13)
    steps = max(r["steps"] for _, r in reports)
    labels = [f"{name}: {report['computed']}/{report['total']} computed" for name, report in reports]
    cell, right, top = 22, 20, 40
    left = 20 + max(int(font.getlength(text)) for text in labels + ["sigma (shaded:"])
    sigma_h, row_h, gap = 110, 26, 10
    width = left + steps * cell + right
    height = top + sigma_h + 30 + len(reports) * (row_h + gap) + 70
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 10), title, fill="black", font=font)

    def x_of(step: float) -> float:
        return left + step * cell

    # sigma per step (the schedule the sampler used), with the window shaded
    sigmas = reports[0][1]["schedule_sigmas"]
    y0, y1 = top + sigma_h, top
    peak = max(sigmas) or 1.0
    lo, hi = sorted(reports[0][1]["window_sigmas"])
    for i in range(steps):
        if lo <= sigmas[i] <= hi:
            draw.rectangle([x_of(i), y1, x_of(i + 1), y0], fill=(235, 242, 250))
    draw.line([(left, y1), (left, y0), (x_of(steps), y0)], fill="black")
    for v in (0.0, 0.5, 1.0):
        y = y0 - v / peak * sigma_h
        draw.line([(left - 4, y), (left, y)], fill="black")
        draw.text((left - 8, y), f"{v:.1f}", fill="black", font=font, anchor="rm")
    draw.text((10, (y0 + y1) / 2), "sigma (shaded:\nTaoCache window)", fill="black", font=font, anchor="lm")
    points = [(x_of(i + 0.5), y0 - sigmas[i] / peak * sigma_h) for i in range(steps)]
    draw.line(points, fill="black", width=2)
    for x, y in points:
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill="black")

    y = y0 + 30
    for label, (_, report) in zip(labels, reports):
        draw.text((10, y + row_h / 2), label, fill="black", font=font, anchor="lm")
        for call in report["calls"]:
            state = "skipped" if call["skipped"] else ("computed" if call["in_window"] else "outside")
            i = int(call["step"])
            draw.rectangle([x_of(i) + 1, y, x_of(i + 1) - 1, y + row_h], fill=colours[state])
        y += row_h + gap
    for i in range(0, steps, 5):
        draw.text((x_of(i + 0.5), y), str(i), fill="black", font=font, anchor="mt")
    draw.text((x_of(steps / 2), y + 18), "sampler step", fill="black", font=font, anchor="mt")
    x = left
    for state, label in (("outside", "computed, outside the window"), ("computed", "computed in the window"),
                         ("skipped", "skipped: output predicted")):
        draw.rectangle([x, y + 40, x + 14, y + 54], fill=colours[state])
        draw.text((x + 20, y + 47), label, fill="black", font=font, anchor="lm")
        x += 30 + int(draw.textlength(label, font=font))
    img = img.crop((0, 0, max(width, x), height)) if x > width else img
    img.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(MODEL_FILE), help="the tiny Wan2.1 safetensors (default: the shipped one)")
    ap.add_argument("--prompt", default="a red disc moving right",
                    help="'a <colour> <shape> moving <direction>' (colours red green blue yellow cyan magenta, "
                         "shapes disc square bar, directions left right up down)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cfg", type=float, default=CFG)
    ap.add_argument("--size", default=None,
                    help="quality pass, width x height x length (default: the size the model was trained on, "
                         "from its metadata: 112x112x13 for 28x28 px, 4 frames)")
    ap.add_argument("--timing-size", default="192x192x17",
                    help="wall-clock pass: a latent where the model forward dominates a step")
    ap.add_argument("--repeats", type=int, default=1,
                    help="timing pass: rounds; in each, the full run and each method are timed in pairs at three "
                         "Python call depths and the fastest of each counts (tiny_comfy.TIMING_DEPTHS says why)")
    ap.add_argument("--scale", type=int, default=8, help="upscaling of the decoded frames in the WEBP")
    ap.add_argument("--out", default=str(REPO / "out" / "demo"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 keeps wall-clock timings stable on a shared machine)")
    a = ap.parse_args()
    model_path = require_model(a.model)
    frames_trained, size_trained = check_learned.model_video_spec(str(model_path))
    size = parse_size(a.size) if a.size else comfy_size(frames_trained, size_trained)
    timing_size = parse_size(a.timing_size)
    print(f"TaoCache demo: {model_path.name} (tiny Wan2.1 T2V; {model_description(model_path)}) in a real ComfyUI "
          f"executor on this CPU: {a.prompt!r} seed {a.seed}, {a.steps} steps, full run vs TaoCache default and "
          f"aggressive; quality at {'x'.join(map(str, size))}, wall clock at {a.timing_size}. Every number is measured "
          f"in this run.", flush=True)
    import torch
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        colour = data.parse_prompt(a.prompt).colour
    except ValueError as e:  # any text works as a prompt; the structure then uses foreground masks
        print(f"note: {e}; structure from foreground masks, no prompt check")
        colour = None

    comfy = start_comfy(model_path, "taocache_demo_", quiet=True)
    full = Method("full", "", a.steps)
    methods = [full] + [Method("TaoCache", label, a.steps, (taocache(start=LATE_START, end=1.0, k=k, cos=cos, nr=nr),))
                        for label, k, cos, nr in SETTINGS]  # the benchmark's TaoCache rows "K1 gated", "K2 open"

    def title(method: Method) -> str:
        return f"TaoCache {method.label}" if method.label else method.family

    word_positions = check_learned.model_orders_words(str(model_path))

    def run(method: Method, at_size):
        result = comfy.run(graph(method, a.prompt, a.seed, SAMPLER, at_size, model_path.name, a.cfg,
                                 word_positions=word_positions),
                           log_level=logging.WARNING)
        return result.raise_for_status()

    # ---- quality pass at the trained size
    results = {m.label: run(m, size) for m in methods}
    ref = results[""]
    ref_frames = decode(ref.latent)
    videos, quality = [], []
    for m in methods:
        result = results[m.label]
        frames = decode(result.latent)
        videos.append(frames.clamp(-1, 1))
        reports = result.events("taocache.report")
        report = reports[0] if reports else None
        row = dict(method=title(m), nodes=[list(n) for n in m.insert], model_calls=result.calls[0],
                   call_ratio=ref.calls[0] / result.calls[0], summary=report["summary"] if report else None,
                   report=report)
        if m is not full:
            structure = data.structure_score(frames, ref_frames, colour=colour)
            row.update(psnr_db=metrics.psnr(frames, ref_frames), ssim=metrics.ssim(frames, ref_frames),
                       mask_iou=float(structure["iou_mean"].mean()),
                       centroid_px=float(structure["centroid_dist_mean"].mean()))
        if colour is not None:
            verdict = data.judge(frames.clamp(-1, 1), [a.prompt])
            row["shows_prompt"] = {k: bool(verdict[k][0]) for k in ("colour", "shape", "direction", "all")}
        quality.append(row)

    frame_px = tuple(ref_frames.shape[-2:])
    print(f"\nquality: {SAMPLER}/simple, shift {SHIFT:g}, cfg {a.cfg:g}, {'x'.join(map(str, size))} -> latent "
          f"{list(ref.latent.shape)}, decoded {frame_px[1]}x{frame_px[0]} px x {ref_frames.shape[2]} frames; "
          f"against the full run")
    print(f"{'method':<20}{'model calls':>12}{'call ratio':>12}{'PSNR':>10}{'SSIM':>8}{'mask IoU':>10}"
          f"{'centroid':>10}  shows the prompt")
    for row in quality:
        shows = row.get("shows_prompt")
        shows_text = "-" if shows is None else ("yes" if shows["all"] else
                                                 "no: " + ", ".join(k for k in ("colour", "shape", "direction")
                                                                     if not shows[k]) + " wrong")
        print(f"{row['method']:<20}{row['model_calls']:>12}{row['call_ratio']:>11.2f}x"
              f"{psnr_text(row.get('psnr_db')):>10}{fmt(row.get('ssim'), '.3f'):>8}"
              f"{fmt(row.get('mask_iou'), '.2f'):>10}{fmt(row.get('centroid_px'), '.2f', ' px'):>10}  {shows_text}")
    for row in quality[1:]:
        print(report_line(row["method"], row["summary"]))
    risky = next(row for row in quality if row["method"] == f"TaoCache {NOT_RECOMMENDED}")
    safe = next(row for row in quality if row["method"] == "TaoCache default")
    print(f"TaoCache {NOT_RECOMMENDED} (both gates open, up to 2 skips in a row) loses structure: mask IoU "
          f"{fmt(risky.get('mask_iou'), '.2f')} against {fmt(safe.get('mask_iou'), '.2f')} for default, PSNR "
          f"{psnr_text(risky.get('psnr_db'))} against {psnr_text(safe.get('psnr_db'))}. Not recommended: it shows "
          f"how far skipping goes.")

    # ---- timing pass at a larger latent
    warm = run(full, timing_size)  # warm-up at this size
    print(f"\ntiming: {a.timing_size} (latent {list(warm.latent.shape)}), sampling run only, "
          f"{a.repeats} round(s) of (full run, method) pairs at call depths {'/'.join(map(str, TIMING_DEPTHS))}, "
          f"fastest of each, median of the rounds' ratios", flush=True)

    def time_run(method):
        result = run(method, timing_size)
        return result.calls[0], result.call_records[0]["seconds"]

    timed = paired_wall_ratios(time_run, full, methods[1:], a.repeats)
    full_seconds = [p[0] for entry in timed for p in entry["pairs"]]
    timing = [dict(method="full", model_calls=warm.calls[0], call_ratio=1.0,
                   seconds_median=statistics.median(full_seconds), wall_ratio=1.0)]
    for m, entry in zip(methods[1:], timed):
        timing.append(dict(method=title(m), model_calls=entry["calls"], call_ratio=warm.calls[0] / entry["calls"],
                           seconds_median=statistics.median(p[1] for p in entry["pairs"]),
                           wall_ratio=entry["median"], wall_ratios=entry["ratios"], pairs_seconds=entry["pairs"]))
    print(f"{'method':<20}{'model calls':>12}{'call ratio':>12}{'seconds':>10}{'wall ratio':>12}")
    for row in timing:
        print(f"{row['method']:<20}{row['model_calls']:>12}{row['call_ratio']:>11.2f}x"
              f"{row['seconds_median']:>10.2f}{row['wall_ratio']:>11.2f}x")

    # ---- files
    webp = out / "full_vs_taocache.webp"
    captions = [f"{row['method'].removeprefix('TaoCache ')}, {row['model_calls']} calls" for row in quality]
    sample.save_video(torch.cat(videos), str(webp), scale=a.scale, captions=captions, frame_ms=400)
    skips = out / "skips.png"
    draw_skips([(row["method"], row["report"]) for row in quality if row["report"]], skips,
               f"{a.prompt!r} seed {a.seed}, {a.steps} steps {SAMPLER}/simple, shift {SHIFT:g}: "
               f"what each TaoCache setting did per step")
    summary_json = out / "demo.json"
    summary_json.write_text(json.dumps(dict(
        model=str(model_path), model_description=model_description(model_path), prompt=a.prompt, seed=a.seed,
        steps=a.steps, cfg=a.cfg, shift=SHIFT, sampler=SAMPLER, scheduler="simple", threads=a.threads,
        quality=dict(size=list(size), latent=list(ref.latent.shape), decoded_px=list(frame_px), methods=quality),
        timing=dict(size=list(timing_size), latent=list(warm.latent.shape), repeats=a.repeats, methods=timing),
        files=[str(webp), str(skips)]), indent=1))
    print(f"\nwritten: {webp}\n         {skips}\n         {summary_json}")


if __name__ == "__main__":
    main()
