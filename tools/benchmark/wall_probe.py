"""Wall-clock probe: why does TaoCache's wall-clock ratio fall short of its call ratio?

Runs the benchmark's own graphs (tiny_comfy.graph, the in-process ComfyUI, TaoTestCountCalls' timing)
in a fresh process: the full run and each chosen TaoCache setting interleaved, and for every run prints
the sampling seconds, the real forwards of the model (WanModel.forward_orig, counted here; a skipped
call never reaches it), the time inside them and the time outside them. Not a benchmark; a tool to
find where time goes (README, "On the second model"). With --depths, every pair runs at each of those
Python call depths (extra frames of tiny_comfy.at_call_depth) and the page faults of each run are
printed: CPython's frame-stack chunk thrash (tiny_comfy.TIMING_DEPTHS) shows as a depth band where one
run's forwards are slower and its minor page faults jump.

    python tools/benchmark/wall_probe.py [--model textures] [--settings "K1 open,K2 open"] [--repeats 2]
    python tools/benchmark/wall_probe.py --settings "K1 open" --repeats 1 --depths $(seq -s, 0 6 150)
"""
from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tiny_comfy  # noqa: E402  (puts the test harness and tools/ on sys.path)
from methods import methods_for  # noqa: E402

sys.path.insert(0, str(HERE.parent / "tiny_wan"))
import kinds  # noqa: E402


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="textures", help="shapes, textures or a model file")
    ap.add_argument("--settings", default="K1 open,K2 open", help="TaoCache (late window) setting labels")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--size", default="128x128x29", help="width x height x frames of the empty latent")
    ap.add_argument("--prompt", default="red and blue over fine stripes panning left")
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--depths", default="0", help="comma-separated extra Python call depths to run every pair at")
    a = ap.parse_args(argv)
    model_path = Path(kinds.KINDS[a.model].model_file) if a.model in kinds.KINDS else Path(a.model)  # as the benchmark
    size = tuple(int(v) for v in a.size.split("x"))
    depths = [int(v) for v in a.depths.split(",") if v.strip()]
    import check_learned  # before ComfyUI starts (its path holds other modules of the same names)
    word_positions = check_learned.model_orders_words(str(model_path))
    comfy = tiny_comfy.start_comfy(tiny_comfy.require_model(model_path), "taocache_probe_", quiet=True)
    import comfy.ldm.wan.model as wan  # after start_comfy: ComfyUI is importable now

    forwards = [0, 0.0]
    original = wan.WanModel.forward_orig

    def counted(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = original(self, *args, **kwargs)
        forwards[0] += 1
        forwards[1] += time.perf_counter() - t0
        return out

    wan.WanModel.forward_orig = counted
    methods = methods_for(a.steps, (0.0, 0.73))  # (the early/mid window is for rows this probe does not run)
    full = methods[0]
    labels = [s.strip() for s in a.settings.split(",") if s.strip()]
    chosen = [m for m in methods if m.family == "TaoCache" and m.label in labels]
    if len(chosen) != len(labels):
        known = sorted({m.label for m in methods if m.family == "TaoCache"})
        raise SystemExit(f"--settings: each label must be one of {known}, got {labels}")

    def run(method, depth=0) -> dict:
        forwards[:] = [0, 0.0]
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        result = tiny_comfy.at_call_depth(depth, lambda: comfy.run(
            tiny_comfy.graph(method, a.prompt, a.seed, "euler", size, model_path.name,
                             word_positions=word_positions), log_level=logging.WARNING))
        result.raise_for_status()
        record = result.call_records[0]
        return dict(name=method.name, depth=depth, calls=record["calls"], seconds=record["seconds"],
                    forwards=forwards[0], forward_seconds=forwards[1],
                    page_faults=resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)

    run(full)  # warm-up
    rows = []
    for _ in range(a.repeats):
        for method in chosen:
            for depth in depths:
                reference, row = run(full, depth), run(method, depth)
                row["wall_over_call"] = (reference["seconds"] / row["seconds"]) / (reference["calls"] / row["calls"])
                for r in (reference, row):
                    print(f"{r['name']:30s} depth {r['depth']:3d}  calls {r['calls']:3d}  sampling {r['seconds']:.3f} s  "
                          f"real forwards {r['forwards']:3d} in {r['forward_seconds']:.3f} s "
                          f"({1000 * r['forward_seconds'] / max(1, r['forwards']):.1f} ms each)  outside them "
                          f"{r['seconds'] - r['forward_seconds']:.3f} s  page faults {r['page_faults']}", flush=True)
                print(f"  wall ratio / call ratio {row['wall_over_call']:.2f}", flush=True)
                rows.append(row)
    return rows


if __name__ == "__main__":
    main()
