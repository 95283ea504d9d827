"""The fixed online windows measured the way placement trials are: on the benchmark's calibration
pairs, each window setting's relative L2 latent error to the full run (geometric mean over the pairs)
and the spread of its model-call ratio, and the steps each skipped on the first pair. (Not in CI;
about a minute per configuration.)

    .runtime/venv/bin/python tools/benchmark/fixed_window_errors.py uni_pc 30 [--family early|late] [--pairs evaluation]

Compare with the placement trials' errors at the same speedup (placement_study.py, or the node text of
a calibrated run): would a candidate that reproduces an online window have been chosen on the
calibration pairs? (Issue 13: at uni_pc 30 steps the gated K1 early/mid window beat every placement on
the evaluation pairs at 1.4x.)
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE), str(REPO / "tools"), str(REPO / "tests" / "comfy"), str(REPO / "tools" / "tiny_wan")]

from taocache.placement import geometric_mean  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sampler")
    ap.add_argument("steps", type=int)
    ap.add_argument("--family", choices=("early", "late"), default="early")
    ap.add_argument("--pairs", choices=("calibration", "evaluation"), default="calibration",
                    help="the benchmark's calibration pairs, or the 6 it evaluates on")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("bench_main", HERE / "__main__.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    import kinds
    import methods
    from tiny_comfy import comfy_size, graph, start_comfy
    model_path = bench.require_model(bench.resolve_model("shapes"))
    kind = kinds.kind_of(str(model_path))
    size = comfy_size(kind.frames, kind.size, kind.codec)
    import check_learned  # before ComfyUI starts (its path holds other modules of the same names)
    word_positions = check_learned.model_orders_words(str(model_path))
    comfy = start_comfy(model_path, "taocache_windows_", quiet=True)
    family = methods.EARLY_MID if a.family == "early" else "TaoCache"
    chosen = [m for m in methods.methods_for(a.steps, bench.early_window(a.steps, a.sampler)) if m.family in ("full", family)]
    errors: dict[str, list] = {m.name: [] for m in chosen if m.family != "full"}
    speedups: dict[str, list] = {name: [] for name in errors}
    first_skips: dict[str, list] = {}
    pairs = bench.CALIBRATION_PAIRS["shapes"] if a.pairs == "calibration" else bench.PAIRS["shapes"][:6]
    for prompt, seed in pairs:
        reference = None
        for m in chosen:  # the full run comes first
            result = comfy.run(graph(m, prompt, seed, a.sampler, size, model_path.name, word_positions=word_positions), log_level=logging.WARNING)
            result.raise_for_status()
            output = result.latent.float()
            if m.family == "full":
                reference = output
                continue
            report = result.events("taocache.report")[-1]
            speedups[m.name].append(report["speedup"])
            first_skips.setdefault(m.name, sorted({round(c["step"]) for c in report["calls"] if c["skipped"]}))
            errors[m.name].append(float((output - reference).norm() / reference.norm()))
    print(f"{a.sampler} {a.steps} steps, {len(pairs)} {a.pairs} pairs (skips: on {pairs[0][0]!r}, seed {pairs[0][1]}):")
    for name, values in errors.items():
        print(f"  {name:40s} {min(speedups[name]):.2f}-{max(speedups[name]):.2f}x  "
              f"geometric mean error {geometric_mean(values):.4g}  skips {first_skips[name]}")


if __name__ == "__main__":
    main()
