"""The main job: a TaoCache-accelerated generation in a real ComfyUI, next to the full run.

    bash tools/demo.sh            (builds the runtime if needed, then runs this with its python)

Runs one Wan2.1 text-to-video graph (UNETLoader -> ModelSamplingSD3 -> [TaoCache] -> KSampler) through
ComfyUI's real executor, in this process, on a tiny Wan2.1-architecture model: first without
TaoCache, then with the node's "balanced" and "fast" settings, and prints what each did: real
model calls, call ratio and wall-clock ratio against the full run, and how far its latent is from
the full run's. Every number is measured in this run.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "comfy"))

import harness  # noqa: E402  (the same real-ComfyUI harness the integration tests use)

SETTINGS = {
    "balanced": dict(start_percent=0.3, end_percent=1.0, cos_threshold=0.6, norm_ratio_threshold=1.3,
                     max_consecutive_skips=1),
    "fast": dict(start_percent=0.3, end_percent=1.0, cos_threshold=-1.0, norm_ratio_threshold=10.0,
                 max_consecutive_skips=2),
}


def taocache_node(settings: dict):
    return ("TaoCache", {**settings, "predictor": "fixed_point", "error_budget": 0.0, "verbose": False})


def psnr(a, b) -> float:
    """PSNR of latent a against reference b, with b's peak-to-peak range as the signal range."""
    import torch
    mse = torch.mean((a.float() - b.float()) ** 2).item()
    peak = (b.max() - b.min()).item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(peak * peak / mse)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--size", default="208x120x17", help="width x height x frames (latent is /8, /8, (n-1)/4+1)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per method; the fastest counts")
    ap.add_argument("--out", default=str(REPO / "out" / "demo"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 keeps wall-clock timings stable on a shared machine)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    width, height, length = (int(v) for v in a.size.split("x"))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    base = harness.make_base_dir(Path(tempfile.mkdtemp(prefix="taocache_demo_")))
    comfy = harness.InProcessComfy.start(harness.locate_comfyui(), base)
    for handler in logging.getLogger().handlers:  # keep ComfyUI's INFO chatter off the console
        handler.setLevel(logging.WARNING)
    model = harness.WAN21_T2V
    print(f"ComfyUI at {comfy.comfy_dir}; model {model} (tiny Wan2.1 architecture, random weights: "
          f"the timing and skip counts are real, quality figures need the trained model)")

    def graph(insert=None):
        return harness.wan_t2v_graph(steps=a.steps, cfg=a.cfg, seed=a.seed, model=model, insert=insert,
                                     width=width, height=height, length=length)

    methods = [("full", None)] + [(f"TaoCache {name}", [taocache_node(s)]) for name, s in SETTINGS.items()]
    comfy.run(graph(), log_level=logging.WARNING).raise_for_status()  # warm-up at the measured size
    best = {}
    for _ in range(a.repeats):  # interleaved, fastest kept: wall clock on a shared CPU drifts
        for name, insert in methods:
            result = comfy.run(graph(insert), log_level=logging.INFO).raise_for_status()
            if name not in best or result.call_records[0]["seconds"] < best[name].call_records[0]["seconds"]:
                best[name] = result
    rows = []
    for name, _ in methods:
        result = best[name]
        summary = next((line for line in result.log_lines if line.startswith("TaoCache: computed")), None)
        rows.append((name, result, summary))
    full = best["full"]

    print(f"\nWan2.1 T2V tiny, {a.steps} steps euler/simple, shift 8, cfg {a.cfg}, latent "
          f"{list(full.latent.shape)}")
    print(f"{'method':<20}{'model calls':>12}{'call ratio':>12}{'wall s':>9}{'wall ratio':>12}{'PSNR vs full':>14}")
    report = []
    for name, result, summary in rows:
        calls = result.calls[0]
        call_ratio = full.calls[0] / calls
        seconds = result.call_records[0]["seconds"]  # the sampling run itself
        wall_ratio = full.call_records[0]["seconds"] / seconds
        quality = psnr(result.latent, full.latent)
        print(f"{name:<20}{calls:>12}{call_ratio:>11.2f}x{seconds:>9.2f}{wall_ratio:>11.2f}x"
              f"{('inf' if quality == float('inf') else f'{quality:.1f} dB'):>14}")
        report.append(dict(method=name, model_calls=calls, call_ratio=call_ratio, seconds=seconds,
                           wall_ratio=wall_ratio, latent_psnr_db=quality, summary=summary))
    for name, _, summary in rows[1:]:
        print(f"{name}: {summary}")
    (out / "demo.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {out / 'demo.json'}")


if __name__ == "__main__":
    main()
