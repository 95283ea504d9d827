"""Quality-vs-speed benchmark: TaoCache against its peers, side by side in one run of a real ComfyUI.

    bash tools/benchmark.sh [--quick] [--model shapes|textures|PATH]

    # a study: the same calibrated placements against the two fixed windows on 30 evaluation pairs
    # (results/placement_30_pairs/profiles are the profiles of the committed shapes run, 5e4cae7)
    bash tools/benchmark.sh --pairs 30 --profiles-from results/placement_30_pairs/profiles --timing-repeats 0 \
        --families "TaoCache,ablation: early/mid window,TaoCache calibrated placement" --out results/placement_30_pairs

Every method runs the same prompts and seeds through ComfyUI's real executor (UNETLoader ->
ModelSamplingSD3(8) -> [method's nodes] -> KSampler, cfg 5) on one of the trained tiny
Wan2.1-architecture models (tools/tiny_wan/kinds.py: shapes, or textures with fine detail), and is
compared with the full-step result of the same prompt and seed on decoded frames: PSNR, SSIM, the
fine-structure metrics (PSNR and SSIM of the high-pass band, edge-map F1), and the structure the
procedural data makes measurable (object mask IoU and centroid distance per frame). The full runs
also record the model's per-step output norm, for the realism figures (realism.py). Speed is the real model-call ratio (forward calls counted by a hook)
and, in a separate pass at a larger latent where the model forward dominates a step, the wall-clock
ratio of the sampling run. Each sampler and step count (with its calibration) runs in a worker
process of its own, as many side by side as the cores hold (--workers), and the wall-clock pass after
them, alone; the figures are those of one process, bit for bit. LPIPS needs backbone weights that
cannot be downloaded here: skipped.
Writes results/benchmark/ (shapes) or results/benchmark_textures/: results.md, quality_vs_speedup.png,
norm_ratio.png, results.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
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
import realism  # noqa: E402
import report  # noqa: E402
from methods import CALIBRATED, LATE_START, ORACLE, PLAN_TARGETS, Method, calibration, methods_for, planned  # noqa: E402
from tiny_comfy import (CFG, SHIFT, TIMING_DEPTHS, comfy_size, decode, graph, paired_wall_ratios,  # noqa: E402
                        require_model, start_comfy)

sys.path.insert(0, str(REPO / "tools" / "tiny_wan"))
# top-level imports, as the tiny_wan tools import each other (kinds.Kind.data is these very modules)
import data  # noqa: E402
import kinds  # noqa: E402
import textures  # noqa: E402

SHAPES_PAIRS = [  # (prompt, seed): every colour, shape and direction at least once
    ("a red disc moving left", 101), ("a green square moving up", 102), ("a blue bar moving right", 103),
    ("a yellow disc moving down", 104), ("a cyan square moving left", 105), ("a magenta bar moving up", 106),
    ("a red square moving right", 107), ("a blue disc moving down", 108),
]
SHAPES_CALIBRATION = [("a green disc moving right", 201), ("a magenta square moving down", 202),
                      ("a yellow bar moving left", 203), ("a cyan disc moving up", 204),
                      ("a blue square moving left", 205), ("a red bar moving down", 206),
                      ("a yellow square moving right", 207), ("a green bar moving up", 208)]  # disjoint from the pairs
TEXTURES_PAIRS = [  # every texture, both scales and every pan direction; colours vary
    ("red and blue over fine stripes panning left", 101), ("green and yellow over coarse checks panning up", 102),
    ("cyan and magenta over fine dots panning right", 103), ("blue and red over coarse noise panning down", 104),
    ("yellow and cyan over fine checks panning right", 105), ("magenta and green over coarse stripes panning up", 106),
    ("red and yellow over fine noise panning down", 107), ("blue and green over coarse dots panning left", 108),
]
TEXTURES_CALIBRATION = [("green and red over coarse stripes panning right", 201),
                        ("yellow and blue over fine dots panning down", 202),
                        ("magenta and cyan over fine checks panning left", 203),
                        ("cyan and yellow over coarse noise panning up", 204)]
PAIRS = {"shapes": SHAPES_PAIRS, "textures": TEXTURES_PAIRS}
CALIBRATION_PAIRS = {"shapes": SHAPES_CALIBRATION, "textures": TEXTURES_CALIBRATION}
def evaluation_pairs(kind_name: str, n: int) -> list[tuple[str, int]]:
    """The first n evaluation pairs: the listed ones (PAIRS), then, beyond them, the model's prompts in
    a fixed stride with seeds from 301 on (never a calibration pair: those use seeds 201-208), for
    studies that need more pairs than the benchmark's time allows."""
    listed = PAIRS[kind_name][:n]
    source = textures if kind_name == "textures" else data
    prompts = source.all_prompts()
    extra = [(prompts[(7 * i + 3) % len(prompts)], 301 + i) for i in range(max(n - len(listed), 0))]
    return listed + extra


def pairs_for_model(pairs: list[tuple[str, int]], model_path) -> list[tuple[str, int]]:
    """The pairs as the model's prompts: a textures model trained on named-motion prompts
    (train.py --named-object-motion) gets each prompt with the objects' direction named, pair i
    (i // 2 + 2 i) % 4, so each block of four pairs (i = 4k .. 4k + 3) names every direction; other
    models, unchanged."""
    import check_learned
    if not check_learned.model_names_motion(str(model_path)):
        return pairs
    return [(textures.name_object_motion(p, (i // 2 + 2 * i) % 4), s) for i, (p, s) in enumerate(pairs)]


OUT_DIRS = {"shapes": REPO / "results" / "benchmark", "textures": REPO / "results" / "benchmark_textures"}


def structure(kind: "kinds.Kind", frames, ref_frames, prompt: str) -> dict:
    """Mask IoU and centroid distance of the prompt's objects against the reference (both objects'
    colour masks together for textures)."""
    if kind.data is textures:
        ma, mb = textures.object_masks(frames, prompt), textures.object_masks(ref_frames, prompt)
        iou = data.mask_iou(ma, mb)
        dist = (data.centroids(ma) - data.centroids(mb)).norm(dim=-1)
        dist = dist.nan_to_num(nan=float(sum(s ** 2 for s in frames.shape[-2:]) ** 0.5))
        return {"iou": float(iou.mean()), "centroid_px": float(dist.mean())}
    s = data.structure_score(frames, ref_frames, colour=data.parse_prompt(prompt).colour)
    return {"iou": float(s["iou_mean"].mean()), "centroid_px": float(s["centroid_dist_mean"].mean())}


def resolve_model(name: str) -> Path:
    """--model: a kind's name (shapes, textures) or a path to a tiny model file."""
    return Path(kinds.KINDS[name].model_file) if name in kinds.KINDS else Path(name)


def early_window(steps: int, sampler: str = "euler") -> tuple[float, float]:
    """An early/mid window [0, e) holding as many skippable steps as the late window [LATE_START, 1),
    plus the three computed steps a window opening at step 0 needs before its first skip, on the
    schedule KSampler gives `sampler` (comfy.samplers.KSampler.calculate_sigmas: uni_pc drops the
    penultimate sigma of a one-step-longer schedule, so its steps sit elsewhere than euler's; the
    TaoCache node places a window on the run's own sigmas)."""
    import types

    import comfy.model_sampling
    import comfy.samplers

    class FlowSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    sampling = FlowSampling(None)
    sampling.set_parameters(shift=SHIFT, multiplier=1000)
    ksampler = types.SimpleNamespace(  # what KSampler.calculate_sigmas reads of its instance
        sampler=sampler, scheduler="simple",
        DISCARD_PENULTIMATE_SIGMA_SAMPLERS=comfy.samplers.KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS,
        model=types.SimpleNamespace(get_model_object=lambda name: sampling))
    sigmas = [float(s) for s in comfy.samplers.KSampler.calculate_sigmas(ksampler, steps)]
    start = float(sampling.percent_to_sigma(LATE_START))
    late = sum(1 for s in sigmas[:-2] if s <= start)
    for i in range(1, 1000):
        end_percent = i / 1000
        end = float(sampling.percent_to_sigma(end_percent))
        if sum(1 for s in sigmas[:-2] if s > end) >= late + 3:
            return (0.0, end_percent)
    return (0.0, 1.0)


def saved_kind(header: str) -> str | None:
    """The model kind a saved run names in its header ("Model <file> (<kind>, sha256 ..."), so that
    --report-only titles a textures run's plot and realism section as textures without --model."""
    import re
    found = re.search(r"Model \S+ \((\w+), sha256 ", header)
    return found.group(1) if found else None


def write_reports(out: Path, agg: list, header: str, curves: dict, kind_name: str, commit: str,
                  rows: list | None = None) -> str:
    realism.plot_norm_ratio(curves, out / "norm_ratio.png")
    text = report.markdown(agg, header, rows) + "\n" + "\n".join(report.realism_section(agg, curves, kind_name))
    (out / "results.md").write_text(text)
    report.plot(agg, out / "quality_vs_speedup.png", f"TaoCache benchmark, {kind_name} model, commit {commit}")
    return text


def machine_description(torch) -> str:
    """CPU model, cores, torch build and the CPU kernels it dispatched to. Why: uni_pc rows moved by up
    to 0.4 dB between two runtimes built from the same pinned packages, while euler rows stayed bit
    for bit, and the same code reproduced the newer figures on the newer runtime (docs/method.md); the
    machine and kernels are what differed, so the header names them."""
    name = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    try:
        kernels = f", {torch.backends.cpu.get_cpu_capability()} kernels"
    except AttributeError:  # torch builds before 2.1
        kernels = ""
    return f"{platform.machine()}, {name}, {os.cpu_count()} cores, torch {torch.__version__}{kernels}"


def rerender(out: Path, model: str) -> None:
    saved = json.loads((out / "results.json").read_text())
    commit = saved["header"].split("Commit ", 1)[1].split(",", 1)[0]
    write_reports(out, saved["aggregate"], saved["header"], saved["norm_ratio_curves"],
                  saved_kind(saved["header"]) or kinds.kind_of(str(resolve_model(model))).name, commit,
                  saved.get("rows"))
    print(f"rewritten from {out}/results.json: results.md, quality_vs_speedup.png, norm_ratio.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 pairs, euler 30 steps only (a smoke run)")
    ap.add_argument("--samplers", default=None, help="default euler,uni_pc")
    ap.add_argument("--steps", default=None, help="sampler step counts (default 30,50 for shapes; 30 for textures)")
    ap.add_argument("--pairs", type=int, default=None, help="prompt/seed pairs (8 listed, more drawn from the "
                    "prompts with seeds from 301). Default 6 for shapes (every colour, "
                    "shape and direction) and 30 and 50 steps for shapes; 4 pairs (every texture, both scales, every "
                    "direction) and 30 steps for textures, whose forward costs about 5 times the shapes model's: "
                    "each stays under 30 minutes on 2 cores")
    ap.add_argument("--size", default=None, help="quality pass: width x height x frames of the empty latent "
                    "(default: the video size the model was trained on, from its metadata)")
    ap.add_argument("--timing-size", default=None, help="wall-clock pass: a latent where the forward dominates "
                    "(default 192x192x17 for shapes; the quality latent for textures, where it already does)")
    ap.add_argument("--timing-repeats", type=int, default=None,
                    help="rounds of the wall-clock pass: in each, every timed method and the full run are timed "
                         "in pairs at three Python call depths and the fastest of each makes the round's ratio "
                         "(tiny_comfy.TIMING_DEPTHS says why); the median over rounds counts (default 1; 0 leaves the "
                         "pass out)")
    ap.add_argument("--families", default=None, help="comma-separated method families to run (default: all; "
                    "the oracle rows only when 'oracle' is named)")
    ap.add_argument("--model", default="shapes", help="shapes, textures (the committed tiny models) or a model file")
    ap.add_argument("--out", default=None, help="default results/benchmark (shapes) or results/benchmark_textures")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default 1 for shapes, which keeps wall-clock timings stable on a shared "
                         "machine; 2 for textures, whose larger forward needs both cores to finish in 30 minutes)")
    ap.add_argument("--profiles-from", default=None,
                    help="use the calibration profiles in this folder (a run's <out>/profiles) instead of calibrating: "
                         "the same calibrated placements, evaluated on other or more pairs")
    ap.add_argument("--workers", type=int, default=None,
                    help="configurations (sampler and step count) run side by side, each in a process of its own "
                         "with its calibration (default: as many as the cores hold at --threads each, so 2 for "
                         "shapes on 2 cores and 1 for textures); the wall-clock pass runs after them, alone")
    ap.add_argument("--part", action="store_true", help=argparse.SUPPRESS)  # a worker's run (run_in_workers)
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite results.md and the plots from the --out folder's results.json (no runs)")
    a = ap.parse_args()
    if a.report_only:
        rerender(Path(a.out) if a.out else OUT_DIRS[kinds.kind_of(str(resolve_model(a.model))).name], a.model)
        return
    model_path = require_model(resolve_model(a.model))
    kind = kinds.kind_of(str(model_path))
    import torch
    torch.set_num_threads(a.threads or (2 if kind.name == "textures" else 1))
    if a.pairs is None:
        a.pairs = 4 if kind.name == "textures" else 6
    textured = kind.name == "textures"
    if a.steps is None:
        a.steps = "30" if textured else "30,50"
    if a.samplers is None:
        a.samplers = "euler,uni_pc"
    if a.timing_repeats is None:
        a.timing_repeats = 1
    families = set(a.families.split(",")) if a.families else None
    if a.quick:
        a.samplers, a.steps, a.pairs = "euler", "30", 2
    samplers = a.samplers.split(",")
    step_counts = [int(s) for s in a.steps.split(",")]
    pairs = pairs_for_model(evaluation_pairs(kind.name, a.pairs), model_path)
    size = tuple(int(v) for v in a.size.split("x")) if a.size else comfy_size(kind.frames, kind.size, kind.codec)
    timing_size = tuple(int(v) for v in a.timing_size.split("x")) if a.timing_size else size if textured else (192, 192, 17)

    def methods_at(steps, profile, sampler):
        """methods_for, keeping the chosen families (the full run always)."""
        return [m for m in methods_for(steps, early_window(steps, sampler), profile)
                if families is None or m.family in families or m.family == "full"]
    out = Path(a.out) if a.out else OUT_DIRS[kind.name]
    out.mkdir(parents=True, exist_ok=True)
    configs = [(sampler, steps) for sampler in samplers for steps in step_counts]
    workers = min(a.workers, len(configs)) if a.workers else default_workers(len(configs), torch.get_num_threads())
    started = time.time()
    if workers > 1 and not a.part:
        # each configuration (its calibration and its evaluation) in a process of its own, `workers` at a
        # time; then the wall-clock pass here, alone on the machine
        rows, norm_curves = run_in_workers(a, configs, workers, out)
        comfy = start_comfy(model_path, "taocache_bench_", quiet=True)
        profiles = install_profiles(Path(a.profiles_from) if a.profiles_from else out / "profiles", comfy, model_path,
                                    configs, none=families is not None and CALIBRATED not in families)
    else:
        comfy = start_comfy(model_path, "taocache_bench_", quiet=True)
    import check_learned  # (lazily, as in pairs_for_model)
    word_positions = check_learned.model_orders_words(str(model_path))

    def run(method, prompt, seed, sampler, at_size):
        result = comfy.run(graph(method, prompt, seed, sampler, at_size, model_path.name, word_positions=word_positions),
                           log_level=logging.WARNING)
        result.raise_for_status()
        return result

    if workers <= 1 or a.part:
        profiles = calibrate(a, comfy, run, configs, families, model_path, kind, size, out, started)
        rows, norm_curves = evaluate(run, configs, profiles, methods_at, families, pairs, kind, size, started)
        if a.part:  # a worker's share: the parent merges it (run_in_workers)
            (out / PART_FILE).write_text(json.dumps({"rows": rows, "norm_curves": [
                [sampler, steps, curves] for (sampler, steps), curves in norm_curves.items()]}))
            return

    agg = report.aggregate(rows)
    timing_steps = step_counts[0]
    if a.timing_repeats > 0:
        timing_pass(a, agg, run, methods_at, profiles, pairs, timing_steps, timing_size)
        print(f"timing pass done ({time.time() - started:.0f} s)", flush=True)
    write_run(a, out, kind, model_path, pairs, size, timing_size, timing_steps, rows, agg, norm_curves, started,
              workers)


PART_FILE = "part.json"


def default_workers(configs: int, threads: int) -> int:
    """Configurations run side by side: as many as the cores hold at `threads` torch threads each (the
    shapes model's one thread per run left the second of two cores idle: 46.5 minutes on one core
    against 30 asked of the benchmark), never more than there are configurations."""
    return max(1, min(configs, usable_cores() // max(threads, 1)))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container may narrow), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_args(a, sampler: str, steps: int, out: Path) -> list[str]:
    """The command line of the worker for one configuration: the parent's options, that configuration,
    no wall-clock pass (the parent times alone afterwards), its own output folder."""
    args = [sys.executable, str(HERE), "--samplers", sampler, "--steps", str(steps), "--timing-repeats", "0",
            "--workers", "1", "--part", "--out", str(out), "--model", a.model, "--pairs", str(a.pairs)]
    for option in ("size", "families", "threads", "profiles_from"):
        value = getattr(a, option)
        if value is not None:
            args += ["--" + option.replace("_", "-"), str(value)]
    return args


def run_in_workers(a, configs: list, workers: int, out: Path) -> tuple[list, dict]:
    """Run each (sampler, steps) configuration in a worker process, `workers` at a time, the costliest
    (most steps) first; collect their rows and curves in the order a single process makes them, and
    their calibration profiles into out/profiles. Every run is the same graph on the same inputs as in
    one process, so the figures are too (a worker has a ComfyUI of its own)."""
    import tempfile
    scratch = Path(tempfile.mkdtemp(prefix="taocache_bench_parts_"))
    folders = {config: scratch / f"{config[0]}_{config[1]}" for config in configs}
    queue = sorted(configs, key=lambda config: -config[1])
    running: dict = {}
    print(f"{len(configs)} configurations in {workers} worker processes", flush=True)
    try:
        while queue or running:
            while queue and len(running) < workers:
                config = queue.pop(0)
                running[config] = subprocess.Popen(worker_args(a, *config, folders[config]))
            time.sleep(1)
            for config, process in list(running.items()):
                if process.poll() is not None:
                    del running[config]
                    if process.returncode != 0:
                        raise SystemExit(f"benchmark worker for {config[0]} {config[1]} steps failed "
                                         f"(exit {process.returncode}); its output is above")
        rows, norm_curves = [], {}
        for config in configs:
            part = json.loads((folders[config] / PART_FILE).read_text())
            rows += part["rows"]
            norm_curves.update({(sampler, steps): curves for sampler, steps, curves in part["norm_curves"]})
            for profile in sorted((folders[config] / "profiles").glob("*.json")):
                (out / "profiles").mkdir(exist_ok=True)
                shutil.copy(profile, out / "profiles")
    finally:
        # a failed worker or Ctrl-C stops the others and leaves no scratch folder behind
        for process in running.values():
            process.kill()
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    return rows, norm_curves


def install_profiles(folder: Path, comfy, model_path: Path, configs: list, none: bool = False) -> dict:
    """The workers' calibration profiles (or --profiles-from's), put where this process's ComfyUI reads
    them, by configuration: what calibrate() returns."""
    if none:
        return {config: None for config in configs}
    target = comfy.base.path / "models" / "taocache_profiles"
    target.mkdir(parents=True, exist_ok=True)
    profiles = {}
    for sampler, steps in configs:
        name = f"{model_path.stem}_{sampler}_{steps}.json"
        shutil.copy(folder / name, target)
        profiles[(sampler, steps)] = name
    return profiles


def calibrate(a, comfy, run, configs, families, model_path, kind, size, out, started) -> dict:
    """Calibration profiles for the calibrated-placement rows: full runs of prompts and seeds that are
    not in the evaluation set, per sampler and step count (as a user calibrates with their usual steps)."""
    profiles = {}
    for sampler, steps in configs:
        name = f"{model_path.stem}_{sampler}_{steps}"
        if families is not None and CALIBRATED not in families:
            profiles[(sampler, steps)] = None  # no calibrated rows asked for: nothing to calibrate
            continue
        if a.profiles_from:
            profiles.update(install_profiles(Path(a.profiles_from), comfy, model_path, [(sampler, steps)]))
            continue
        calibrate_method = calibration(steps, name)
        for prompt, seed in pairs_for_model(CALIBRATION_PAIRS[kind.name], model_path)[:2 if a.quick else None]:
            run(calibrate_method, prompt, seed, sampler, size)
        profiles[(sampler, steps)] = f"{name}.json"
        (out / "profiles").mkdir(exist_ok=True)  # kept with the results (models/taocache_profiles of the run)
        shutil.copy(comfy.base.path / "models" / "taocache_profiles" / profiles[(sampler, steps)], out / "profiles")
    print(f"calibration done ({time.time() - started:.0f} s)", flush=True)
    return profiles


def evaluate(run, configs, profiles, methods_at, families, pairs, kind, size, started) -> tuple[list, dict]:
    """Every method on every pair of each configuration, against the full run of the same prompt and
    seed: the per-pair rows, and the full runs' output-norm ratio curves by configuration."""
    rows = []
    norm_curves = {}  # (sampler, steps) -> per-pair output-norm ratio curves of the full runs
    for sampler, steps in configs:
        methods = methods_at(steps, profiles[(sampler, steps)], sampler)
        full = methods[0]
        for prompt, seed in pairs:
            # the full run also records the true per-step errors of this prompt and seed: the
            # oracle's profile (calibrating computes every call, so the output is the full run's)
            oracle_name = f"oracle_{sampler}_{steps}_{seed}"
            recorded = Method("full", "", steps, (("TaoCacheCalibrate", {"profile_name": oracle_name}),))
            reference = run(recorded, prompt, seed, sampler, size)
            ref_frames = decode(reference.latent, kind.codec)
            norm_curves.setdefault((sampler, steps), []).append(
                realism.output_norm_ratio_curve(reference.call_records[0]["output_norms"]))
            oracle = planned(ORACLE, steps, f"{oracle_name}.json") if families is None or ORACLE in families else []
            for method in methods + oracle:
                result = reference if method is full else run(method, prompt, seed, sampler, size)
                frames = decode(result.latent, kind.codec)
                rows.append(dict(
                    sampler=sampler, ref_steps=steps, family=method.family, label=method.label,
                    prompt=prompt, seed=seed, calls=result.calls[0], ref_calls=reference.calls[0],
                    psnr=metrics.psnr(frames, ref_frames), ssim=metrics.ssim(frames, ref_frames),
                    hp_psnr=metrics.highpass_psnr(frames, ref_frames), hp_ssim=metrics.highpass_ssim(frames, ref_frames),
                    edge_f1=metrics.edge_f1(frames, ref_frames), **structure(kind, frames, ref_frames, prompt)))
        print(f"{sampler} {steps} steps: {len(methods) + len(oracle)} methods x {len(pairs)} pairs done "
              f"({time.time() - started:.0f} s)", flush=True)
    return rows, norm_curves


def timing_pass(a, agg, run, methods_at, profiles, pairs, timing_steps, timing_size):
    """Wall clock at the larger latent: euler, the first step count, the first pair (sets wall_ratio
    and timing_call_ratio on the timed rows of agg); the ablations and the stack share their code
    path with the TaoCache rows and are not timed."""
    methods = methods_at(timing_steps, profiles.get(("euler", timing_steps)), "euler")
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


PROSE_ONLY = (".md", ".txt", ".png")


def result_affecting_changes(porcelain: str) -> list[str]:
    """Tracked paths changed since the commit (from `git status --porcelain`) that could change a
    result: prose and images (README, docs, CHANGELOG, plots) are left out, so editing the docs
    while a benchmark runs does not mark its header as made from other code."""
    paths = [line[3:].split(" -> ")[-1].strip('"') for line in porcelain.splitlines() if len(line) > 3]
    return [p for p in paths if not p.endswith(PROSE_ONLY)]


def write_run(a, out, kind, model_path, pairs, size, timing_size, timing_steps, rows, agg, norm_curves, started,
              workers: int = 1):
    """results.json, results.md and the plots of a finished run."""
    import torch
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    changed = result_affecting_changes(subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
        text=True).stdout)
    if changed:   # the model file or code may not be the commit's
        commit += f" (with uncommitted changes to {', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})"
    model_sha = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
    machine = machine_description(torch)
    header = (f"# TaoCache benchmark\n\nCommit {commit}, machine: {machine}, {time.strftime('%Y-%m-%d')}. "
              f"Model {model_path.name} ({kind.name}, sha256 {model_sha}); {len(pairs)} prompt/seed pairs; {torch.get_num_threads()} torch threads"
              f"{f' in each of {workers} worker processes' if workers > 1 else ''}; cfg {CFG}, shift {SHIFT}, simple scheduler; "
              + (f"quality latent {size}, wall clock at {timing_size} (euler, {timing_steps} steps, sampling time only, "
                 f"paired with the full run at Python call depths {'/'.join(map(str, TIMING_DEPTHS))} "
                 f"(the fastest of each counts, against CPython's frame-stack chunk thrash), median of {a.timing_repeats} "
                 f"such ratio(s); fewer-steps, EasyCache, LazyCache and "
                 f"TaoCache rows, the ablations share TaoCache's code path and are not timed). "
                 if a.timing_repeats > 0 else f"quality latent {size}, no wall-clock pass. ")
              + (f"Calibration profiles from {a.profiles_from} (no calibration in this run). " if a.profiles_from else "")
              + (f"Families: {a.families}. " if a.families else "")
              + f"LPIPS skipped: no backbone weights on this machine. Runtime {time.time() - started:.0f} s.")
    curves = {f"{kind.name} model, {s} {n} steps (mean of {len(c)} full runs)": realism.mean_curve(c)
              for (s, n), c in sorted(norm_curves.items())}
    (out / "results.json").write_text(json.dumps({"header": header, "rows": rows, "aggregate": agg,
                                                  "norm_ratio_curves": curves}, indent=1))
    text = write_reports(out, agg, header, curves, kind.name, commit, rows)
    print(text)
    print(f"written: {out}/results.md, quality_vs_speedup.png, norm_ratio.png, results.json")


if __name__ == "__main__":
    main()
