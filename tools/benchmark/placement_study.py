"""Placement trials on every pair, calibration and evaluation alike: how well does a choice made on
the calibration pairs carry over to the evaluation pairs? (Not in CI; a few minutes per configuration.)

    bash tools/benchmark.sh  # first, once: builds the runtime (or any earlier run did)
    .runtime/venv/bin/python tools/benchmark/placement_study.py [--samplers euler,uni_pc] [--steps 30,50]

For each sampler and step count, and each of the benchmark's calibration and evaluation pairs, it runs
TaoCache Calibrate with trials at the report's speedups (methods.calibration) into a profile of that pair
alone, and writes out/placement_study.json: per configuration, target speedup and placement, the trial
error (relative L2 of the final latent to the full run's) of every pair. study_summary() prints, per
configuration and target, the placement each rule picks on the calibration pairs and how it ranks on the
evaluation pairs.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tools"), str(REPO / "tests" / "comfy"), str(REPO / "tools" / "tiny_wan")]

OUT = REPO / "out" / "placement_study.json"


def geometric_mean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(max(v, 1e-12)) for v in values) / len(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default="euler,uni_pc")
    ap.add_argument("--steps", default="30,50")
    ap.add_argument("--model", default="shapes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only-new", action="store_true", help="add only the pairs the study lacks")
    ap.add_argument("--summary-only", action="store_true", help="print the summary of out/placement_study.json")
    a = ap.parse_args()
    if a.summary_only:
        print(summary(json.loads(OUT.read_text())))
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
    comfy = start_comfy(model_path, "taocache_study_", quiet=True)
    roles = [("calibration", p) for p in bench.CALIBRATION_PAIRS[kind.name]] + [("evaluation", p) for p in bench.PAIRS[kind.name][:6]]
    study = json.loads(OUT.read_text()) if OUT.exists() else {}
    if a.only_new:  # pairs not in the study yet (say, calibration pairs added to the benchmark since)
        roles = [(r, p) for r, p in roles if not any(e["seed"] == p[1] for e in study.get(f"{a.samplers.split(',')[0]} {a.steps.split(',')[0]}", []))]
    started = time.time()
    for sampler in a.samplers.split(","):
        for steps in [int(s) for s in a.steps.split(",")]:
            config = f"{sampler} {steps}"
            entries = [e for e in study.get(config, []) if a.only_new]
            for role, (prompt, seed) in roles:
                name = f"study_{sampler}_{steps}_{seed}"
                result = comfy.run(graph(calibration(steps, name), prompt, seed, sampler, size, model_path.name),
                                   log_level=logging.WARNING)
                result.raise_for_status()
                saved = json.loads((comfy.base.path / "models" / "taocache_profiles" / f"{name}.json").read_text())
                entries.append({"role": role, "prompt": prompt, "seed": seed, "trials": saved.get("trials", [])})
            study[config] = entries
            OUT.parent.mkdir(exist_ok=True)
            OUT.write_text(json.dumps(study, indent=1))
            print(f"{config}: {len(entries)} pairs ({time.time() - started:.0f} s)", flush=True)
    print(summary(study))


def errors_by(entries, role: str) -> dict:
    """{(target, placement): [error per pair]} over the pairs of a role (trials that reached their target)."""
    out: dict = {}
    for e in entries:
        if e["role"] != role:
            continue
        for t in e["trials"]:
            if t["speedup"] >= t["target"] * 0.98 and math.isfinite(t["error"]):
                out.setdefault((t["target"], t["placement"]), []).append(t["error"])
    return out


def summary(study: dict) -> str:
    lines = []
    for config, entries in study.items():
        cal, ev = errors_by(entries, "calibration"), errors_by(entries, "evaluation")
        targets = sorted({k[0] for k in ev})
        lines.append(f"## {config}")
        for target in targets:
            def means(errs):
                return {p: geometric_mean(v) for (t, p), v in errs.items() if t == target}
            mc, me = means(cal), means(ev)
            if not mc or not me:
                continue
            pick = min(mc, key=mc.get)
            best = min(me, key=me.get)
            ranked = ", ".join(f"{p} {20 * math.log10(me[best] / me[p]):+.2f} dB" for p in sorted(me, key=me.get))
            lines.append(f"{target}x: calibration picks {pick}; evaluation best {best}; pick is "
                         f"{20 * math.log10(me[best] / me[pick]):+.2f} dB from it | eval: {ranked}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
