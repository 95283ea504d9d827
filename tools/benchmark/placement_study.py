"""Placement trials on every pair, calibration and evaluation alike: how well does a choice made on
the calibration pairs carry over to the evaluation pairs? (Not in CI; a few minutes per configuration.)

    bash tools/benchmark.sh  # first, once: builds the runtime (or any earlier run did)
    .runtime/venv/bin/python tools/benchmark/placement_study.py [--samplers euler,uni_pc] [--steps 30,50]
        [--eval-pairs 6] [--out out/placement_study.json]

For each sampler and step count it runs TaoCache Calibrate with trials at the report's speedups
(methods.calibration) on the benchmark's calibration pairs, then its evaluation pairs, all into one
profile, as a user calibrating on more and more prompts would; so every greedy trial plans from the
runs before it (out of sample, taocache/placement.py). It writes out/placement_study.json (--out): per
configuration, each pair's role and trials, and beside it a folder with each configuration's profile
(for per_prompt_signal.py). summary() prints, per configuration and target, the
placement chosen on the calibration pairs (placement.choose, paired) and how it ranks on the
evaluation pairs.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE), str(REPO / "tools"), str(REPO / "tests" / "comfy"), str(REPO / "tools" / "tiny_wan")]

from taocache import placement  # noqa: E402

OUT = REPO / "out" / "placement_study.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default="euler,uni_pc")
    ap.add_argument("--steps", default="30,50")
    ap.add_argument("--model", default="shapes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-pairs", type=int, default=6,
                    help="evaluation pairs after the calibration pairs (bench.evaluation_pairs: 8 listed, more drawn)")
    ap.add_argument("--out", type=Path, default=OUT, help="the study's JSON (read first, so configurations add up)")
    ap.add_argument("--summary-only", action="store_true", help="print the summary of out/placement_study.json")
    a = ap.parse_args()
    if a.summary_only:
        print(summary(json.loads(a.out.read_text())))
        return
    import importlib.util

    import torch
    torch.set_num_threads(a.threads)
    spec = importlib.util.spec_from_file_location("bench_main", HERE / "__main__.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    import kinds
    from methods import calibration
    from tiny_comfy import comfy_size, graph, start_comfy
    model_path = bench.require_model(bench.resolve_model(a.model))
    kind = kinds.kind_of(str(model_path))
    size = comfy_size(kind.frames, kind.size, kind.codec)
    # before ComfyUI starts: its path holds another module named sample (check_learned imports ours)
    roles = ([("calibration", p) for p in bench.pairs_for_model(bench.CALIBRATION_PAIRS[kind.name], model_path)]
             + [("evaluation", p)
                for p in bench.pairs_for_model(bench.evaluation_pairs(kind.name, a.eval_pairs), model_path)])
    import check_learned  # (imported by pairs_for_model above, before ComfyUI's modules)
    word_positions = check_learned.model_orders_words(str(model_path))
    comfy = start_comfy(model_path, "taocache_study_", quiet=True)
    study = json.loads(a.out.read_text()) if a.out.exists() else {}
    started = time.time()
    for sampler in a.samplers.split(","):
        for steps in [int(s) for s in a.steps.split(",")]:
            config = f"{sampler} {steps}"
            name = f"study_{sampler}_{steps}"
            for prompt, seed in (p for _, p in roles):
                result = comfy.run(graph(calibration(steps, name), prompt, seed, sampler, size, model_path.name,
                                         word_positions=word_positions),
                                   log_level=logging.WARNING)
                result.raise_for_status()
            profile_path = comfy.base.path / "models" / "taocache_profiles" / f"{name}.json"
            saved = json.loads(profile_path.read_text())
            kept = a.out.with_name(a.out.stem + "_profiles")  # per_prompt_signal.py reads them
            kept.mkdir(parents=True, exist_ok=True)
            shutil.copy(profile_path, kept / profile_path.name)
            study[config] = [{"role": role, "prompt": prompt, "seed": seed,
                              "trials": [t for t in saved["trials"] if t["run"] == run]}
                             for run, (role, (prompt, seed)) in enumerate(roles)]
            a.out.parent.mkdir(exist_ok=True)
            a.out.write_text(json.dumps(study, indent=1))
            print(f"{config}: {len(roles)} pairs ({time.time() - started:.0f} s)", flush=True)
    print(summary(study))


def trials_of(entries, role: str) -> list:
    return [placement.Trial(t["placement"], t["target"], t["steps"], t["speedup"], t["error"], t["run"])
            for e in entries if e["role"] == role for t in e["trials"]]


def paired_means(trials: list, target: float) -> tuple[set, dict[str, float]]:
    """The runs on which every placement that reached `target` was tried, and each such placement's
    geometric-mean error over them (as placement.choose compares them); empty when there are none."""
    at = [t for t in trials if t.target == target and placement.reached(t) and math.isfinite(t.error)]
    names = {t.placement for t in at}
    runs = set.intersection(*({t.run for t in at if t.placement == p} for p in names)) if names else set()
    if not runs:
        return set(), {}
    return runs, {p: placement.geometric_mean(t.error for t in at if t.placement == p and t.run in runs)
                  for p in names}


def summary(study: dict) -> str:
    """Per configuration and target: the placement placement.choose takes on the calibration pairs'
    trials, and the evaluation pairs' paired geometric-mean errors of every placement, in dB from the
    best there."""
    lines = []
    for config, entries in study.items():
        cal, ev = trials_of(entries, "calibration"), trials_of(entries, "evaluation")
        steps = cal[0].steps
        lines.append(f"## {config}")
        for target in sorted({t.target for t in ev}):
            pick = placement.choose(cal, steps, target)
            runs, means = paired_means(ev, target)
            if not pick or not means:
                continue
            order = sorted(means, key=lambda p: (means[p], placement.PLACEMENTS.index(p)))  # ties: a fixed order
            best = order[0]
            ranked = ", ".join(f"{p} {20 * math.log10(means[best] / means[p]):+.2f} dB" for p in order)
            gap = f"{20 * math.log10(means[best] / means[pick[0]]):+.2f} dB" if pick[0] in means else "not tried"
            lines.append(f"{target}x: calibration picks {pick[0]} ({gap} from the evaluation's best) | "
                         f"evaluation, {len(runs)} pairs: {ranked}\n    calibration: {pick[1]}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
