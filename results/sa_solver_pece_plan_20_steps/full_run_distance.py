"""How far apart are the full runs of two samplers, on the benchmark's evaluation pairs?

PSNR of each sampler's final frames against the first sampler's, per pair and averaged, on the shapes
test model at the benchmark's size (20 steps, cfg 5, shift 8, simple scheduler). Written to test
why skipping sa_solver_pece's second call at a level costs so much: that turns the step into a plain
sa_solver step. From the repository root:

    .runtime/venv/bin/python results/sa_solver_pece_plan_20_steps/full_run_distance.py sa_solver_pece sa_solver
"""
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tools" / "benchmark")]

from tiny_comfy import MODEL_FILE, comfy_size, decode, graph, start_comfy  # noqa: E402  (first: puts tests/comfy on the path)
import harness  # noqa: E402
from benchmark.__main__ import evaluation_pairs  # noqa: E402
from methods import Method  # noqa: E402
from metrics import psnr  # noqa: E402

STEPS = 20
PAIRS = 10


def main(samplers: list[str]) -> None:
    comfy = start_comfy(MODEL_FILE, "taocache_distance_", quiet=True)
    full = Method("full", "", STEPS)
    size = comfy_size(4, 28)  # the shapes kind's 4 frames of 28 x 28 px, as the benchmark
    rows = []
    for prompt, seed in evaluation_pairs("shapes", PAIRS):
        frames = {}
        for sampler in samplers:
            comfy.run(graph(full, prompt, seed, sampler, size, MODEL_FILE.name),
                      log_level=logging.WARNING).raise_for_status()
            frames[sampler] = decode(harness.load_latent(harness.newest_latent(comfy.base.output_dir)))
        row = {sampler: psnr(frames[sampler], frames[samplers[0]]) for sampler in samplers[1:]}
        rows.append(row)
        print(f"{prompt!r} seed {seed}: " + ", ".join(f"{s} {v:.1f} dB" for s, v in row.items()), flush=True)
    print(f"mean over {len(rows)} pairs, against {samplers[0]}: "
          + ", ".join(f"{s} {sum(r[s] for r in rows) / len(rows):.2f} dB" for s in samplers[1:]))


if __name__ == "__main__":
    main(sys.argv[1:] or ["sa_solver_pece", "sa_solver"])
