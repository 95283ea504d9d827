"""Quality-vs-speed benchmark: TaoCache against its peers, side by side in one run of a real ComfyUI.

    bash tools/benchmark.sh [--quick]

Every method runs the same prompts and seeds through ComfyUI's real executor (UNETLoader ->
ModelSamplingSD3(8) -> [method's nodes] -> KSampler, cfg 5) on the trained tiny Wan2.1-architecture
shapes model, and is compared with the full-step result of the same prompt and seed on decoded
frames: PSNR, SSIM, and the structure the procedural data makes measurable (object mask IoU and
centroid distance per frame). Speed is the real model-call ratio (forward calls counted by a hook)
and, in a separate pass at a larger latent where the model forward dominates a step, the wall-clock
ratio of the sampling run. LPIPS needs backbone weights that cannot be downloaded here: skipped.
Writes results/benchmark/{results.md, quality_vs_speedup.png, results.json}.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tools"), str(REPO / "tests" / "comfy")]

import metrics  # noqa: E402
import report  # noqa: E402
from methods import CALIBRATED, LATE_START, ORACLE, PLAN_TARGETS, Method, methods_for, planned  # noqa: E402
from tiny_comfy import CFG, MODEL_FILE, SHIFT, comfy_size, decode, graph, paired_wall_ratios, require_model, start_comfy  # noqa: E402
from tiny_wan import data  # noqa: E402
from tiny_wan.check_learned import model_video_spec  # noqa: E402

PAIRS = [  # (prompt, seed): every colour, shape and direction at least once
    ("a red disc moving left", 101), ("a green square moving up", 102), ("a blue bar moving right", 103),
    ("a yellow disc moving down", 104), ("a cyan square moving left", 105), ("a magenta bar moving up", 106),
    ("a red square moving right", 107), ("a blue disc moving down", 108),
]
CALIBRATION_PAIRS = [("a green disc moving right", 201), ("a magenta square moving down", 202),
                     ("a yellow bar moving left", 203), ("a cyan disc moving up", 204)]  # disjoint from PAIRS


def early_window(steps: int) -> tuple[float, float]:
    """An early/mid window [0, e) holding as many skippable steps as the late window [LATE_START, 1),
    plus the three computed steps a window opening at step 0 needs before its first skip."""
    import comfy.model_sampling
    import comfy.samplers

    class FlowSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    sampling = FlowSampling(None)
    sampling.set_parameters(shift=SHIFT, multiplier=1000)
    sigmas = [float(s) for s in comfy.samplers.calculate_sigmas(sampling, "simple", steps)]
    start = float(sampling.percent_to_sigma(LATE_START))
    late = sum(1 for s in sigmas[:-2] if s <= start)
    for i in range(1, 1000):
        end_percent = i / 1000
        end = float(sampling.percent_to_sigma(end_percent))
        if sum(1 for s in sigmas[:-2] if s > end) >= late + 3:
            return (0.0, end_percent)
    return (0.0, 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 pairs, euler 30 steps only (a smoke run)")
    ap.add_argument("--samplers", default="euler,uni_pc")
    ap.add_argument("--steps", default="30,50")
    ap.add_argument("--pairs", type=int, default=6, help="prompt/seed pairs (of 8); 6 cover every colour, shape and direction and keep the run under 30 minutes on 2 cores")
    ap.add_argument("--size", default=None, help="quality pass: width x height x frames of the empty latent "
                    "(default: the video size the model was trained on, from its metadata)")
    ap.add_argument("--timing-size", default="192x192x17", help="wall-clock pass: a latent where the forward dominates")
    ap.add_argument("--timing-repeats", type=int, default=2,
                    help="paired (full, method) timings per method in the wall-clock pass; the median ratio counts")
    ap.add_argument("--model", default=str(MODEL_FILE))
    ap.add_argument("--out", default=str(REPO / "results" / "benchmark"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 keeps wall-clock timings stable on a shared machine)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    if a.quick:
        a.samplers, a.steps, a.pairs = "euler", "30", 2
    samplers = a.samplers.split(",")
    step_counts = [int(s) for s in a.steps.split(",")]
    pairs = PAIRS[:a.pairs]
    size = tuple(int(v) for v in a.size.split("x")) if a.size else comfy_size(*model_video_spec(a.model))
    timing_size = tuple(int(v) for v in a.timing_size.split("x"))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = require_model(a.model)
    comfy = start_comfy(model_path, "taocache_bench_", quiet=True)

    def run(method, prompt, seed, sampler, at_size):
        result = comfy.run(graph(method, prompt, seed, sampler, at_size, model_path.name), log_level=logging.WARNING)
        result.raise_for_status()
        return result

    started = time.time()
    # calibration profiles for the calibrated-placement rows: full runs of prompts and seeds that are
    # not in the evaluation set, per sampler and step count (as a user calibrates with their usual steps)
    profiles = {}
    for sampler in samplers:
        for steps in step_counts:
            name = f"{model_path.stem}_{sampler}_{steps}"
            calibrate = Method("calibrate", "", steps, (("TaoCacheCalibrate", {"profile_name": name}),))
            for prompt, seed in CALIBRATION_PAIRS[:2 if a.quick else None]:
                run(calibrate, prompt, seed, sampler, size)
            profiles[(sampler, steps)] = f"{name}.json"
            (out / "profiles").mkdir(exist_ok=True)  # kept with the results (models/taocache_profiles of the run)
            shutil.copy(comfy.base.path / "models" / "taocache_profiles" / profiles[(sampler, steps)], out / "profiles")
    print(f"calibration done ({time.time() - started:.0f} s)", flush=True)
    rows = []
    for sampler in samplers:
        for steps in step_counts:
            methods = methods_for(steps, early_window(steps), profiles[(sampler, steps)])
            full = methods[0]
            for prompt, seed in pairs:
                # the full run also records the true per-step errors of this prompt and seed: the
                # oracle's profile (calibrating computes every call, so the output is the full run's)
                oracle_name = f"oracle_{sampler}_{steps}_{seed}"
                recorded = Method("full", "", steps, (("TaoCacheCalibrate", {"profile_name": oracle_name}),))
                reference = run(recorded, prompt, seed, sampler, size)
                ref_frames = decode(reference.latent)
                colour = data.parse_prompt(prompt).colour
                for method in methods + planned(ORACLE, steps, f"{oracle_name}.json"):
                    result = reference if method is full else run(method, prompt, seed, sampler, size)
                    frames = decode(result.latent)
                    structure = data.structure_score(frames, ref_frames, colour=colour)
                    rows.append(dict(
                        sampler=sampler, ref_steps=steps, family=method.family, label=method.label,
                        prompt=prompt, seed=seed, calls=result.calls[0], ref_calls=reference.calls[0],
                        psnr=metrics.psnr(frames, ref_frames), ssim=metrics.ssim(frames, ref_frames),
                        iou=float(structure["iou_mean"].mean()),
                        centroid_px=float(structure["centroid_dist_mean"].mean())))
            print(f"{sampler} {steps} steps: {len(methods) + len(PLAN_TARGETS)} methods x {len(pairs)} pairs done "
                  f"({time.time() - started:.0f} s)", flush=True)

    agg = report.aggregate(rows)
    # wall clock at the larger latent: euler, the first step count, the first pair; the ablations and
    # the stack share their code path with the TaoCache rows and are not timed
    timing_steps = step_counts[0]
    methods = methods_for(timing_steps, early_window(timing_steps), profiles.get(("euler", timing_steps)))
    prompt, seed = pairs[0]
    run(methods[0], prompt, seed, "euler", timing_size)  # warm-up at this size

    def sampling_seconds(method):
        result = run(method, prompt, seed, "euler", timing_size)
        return result.calls[0], result.call_records[0]["seconds"]

    # paired: each measurement of a method is taken right after one of the full run, and the ratio
    # of the pair is kept; the median of the pairs counts (wall clock on a shared CPU drifts)
    full_calls, _ = sampling_seconds(methods[0])
    timed_families = ("fewer steps", "EasyCache", "LazyCache", "TaoCache", CALIBRATED)
    # every second setting of each timed family (the wall clock tracks the call ratio; this keeps the
    # pass at a few minutes)
    timed = [m for family in timed_families for m in [m for m in methods[1:] if m.family == family][::2]]
    wall = {method.name: (entry["calls"], entry["median"])
            for method, entry in zip(timed, paired_wall_ratios(sampling_seconds, methods[0], timed, a.timing_repeats))}
    wall[methods[0].name] = (full_calls, 1.0)
    for row in agg:
        name = Method(row["family"], row["label"], 0).name
        if row["sampler"] == "euler" and row["ref_steps"] == timing_steps and name in wall:
            calls, ratio = wall[name]
            row["wall_ratio"] = ratio
            row["timing_call_ratio"] = full_calls / calls
    print(f"timing pass done ({time.time() - started:.0f} s)", flush=True)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, {__import__('os').cpu_count()} cores"
    header = (f"# TaoCache benchmark\n\nCommit {commit}, machine: {machine}, {time.strftime('%Y-%m-%d')}. "
              f"Model {model_path.name}; {len(pairs)} prompt/seed pairs; cfg {CFG}, shift {SHIFT}, simple scheduler; "
              f"quality latent {size}, wall clock at {timing_size} (euler, {timing_steps} steps, sampling time only, "
              f"median of {a.timing_repeats} paired ratios against the full run; fewer-steps, EasyCache, LazyCache and "
              f"TaoCache rows, the ablations share TaoCache's code path and are not timed). "
              f"LPIPS skipped: no backbone weights on this machine. Runtime {time.time() - started:.0f} s.")
    (out / "results.md").write_text(report.markdown(agg, header))
    (out / "results.json").write_text(json.dumps({"header": header, "rows": rows, "aggregate": agg}, indent=1))
    report.plot(agg, out / "quality_vs_speedup.png", f"TaoCache benchmark, commit {commit}")
    print(report.markdown(agg, header))
    print(f"written: {out}/results.md, quality_vs_speedup.png, results.json")


if __name__ == "__main__":
    main()
