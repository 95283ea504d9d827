"""What the TaoCache node's defaults do on every sampler KSampler offers: one run per sampler of the
shapes test model (20 steps, one prompt and seed), the call ratio, and the node's own reason when it
skipped nothing. Our tiny test model only; on a user's model the node's summary says the same per run.

    .runtime/venv/bin/python tools/benchmark/sampler_sweep.py [--steps 20] [--prompt "..."] [--seed 101]

About two minutes on 2 cores. Found that the gates never open on the stochastic samplers here
(results/sampler_sweep/).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from tiny_comfy import MODEL_FILE, comfy_size, graph, start_comfy  # noqa: E402  (first: puts tests/comfy on the path)
from methods import Method, taocache  # noqa: E402

sys.path.insert(0, str(HERE.parents[1]))
from taocache.report import SENTENCE_PATTERN  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--prompt", default="a red disc moving left")
    ap.add_argument("--seed", type=int, default=101)
    a = ap.parse_args()
    from tiny_wan import check_learned  # before ComfyUI starts (its path holds other modules of the same names)
    word_positions = check_learned.model_orders_words(str(MODEL_FILE))
    runner = start_comfy(MODEL_FILE, "taocache_sweep_", quiet=True)
    import comfy.samplers
    defaults = Method("TaoCache", "node defaults", a.steps, (taocache(),))
    print(f"TaoCache node defaults, {MODEL_FILE.name}, {a.steps} steps, {a.prompt!r} seed {a.seed}")
    for name in comfy.samplers.KSampler.SAMPLERS:
        result = runner.run(graph(defaults, a.prompt, a.seed, name, comfy_size(4, 28), MODEL_FILE.name,
                                  word_positions=word_positions),
                            log_level=logging.INFO).raise_for_status()
        summary = next(line for line in result.log_lines if SENTENCE_PATTERN.search(line))
        computed, skipped, total, ratio = SENTENCE_PATTERN.search(summary).groups()
        why = summary.partition("nothing skipped: ")[2].split(";")[0] if skipped == "0" else ""
        print(f"{name:32s} {ratio}x  skipped {skipped:>2s} of {total:>2s}  {why}", flush=True)


if __name__ == "__main__":
    main()
