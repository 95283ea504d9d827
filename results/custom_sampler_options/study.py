"""Which call should a plan skip on a sampler a custom-sampler node built with options?

SamplerSASolver with use_pece, SamplerDPMPP_SDE and the newest SamplerSEEDS2 (its test twin
TaoTestSamplerSEEDS2) build a KSampler sampler whose options change its calls
(nodes/run_start.py level_calls). For each, on the shapes test model (1.8 M parameters, not Wan) at
the benchmark's size, 20 steps, cfg 5, shift 8, simple scheduler, through SamplerCustomAdvanced: the
full run, then plans without a profile (`none, plan to target_speedup`, the node's default window
0.3-1.0, max_consecutive_skips 1) at each target under three rules, forced in-process:

- first:  the plan counts calls and skips the first call at a planned level;
- second: the plan counts calls and skips the second;
- both:   the plan counts steps and skips every call at a planned level (what a sampler the pack
          does not know gets; before this study, sa_solver with use_pece).

Prints PSNR against the full run and mask IoU, averaged over the benchmark's first evaluation pairs,
with each row's measured call ratio. From the repository root:

    .runtime/venv/bin/python results/custom_sampler_options/study.py [--pairs 10] [--targets 1.3,1.5]
"""
import argparse
import logging
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tools" / "benchmark")]

from tiny_comfy import MODEL_FILE, comfy_size, decode, graph, start_comfy  # noqa: E402  (first: puts tests/comfy on the path)
import harness  # noqa: E402
from benchmark.__main__ import evaluation_pairs, structure  # noqa: E402
from methods import Method, taocache  # noqa: E402
from metrics import psnr  # noqa: E402
from tiny_wan import kinds  # noqa: E402

STEPS = 20
SA_SOLVER = {"eta": 1.0, "sde_start_percent": 0.2, "sde_end_percent": 0.8, "s_noise": 1.0, "predictor_order": 3,
             "corrector_order": 4, "simple_order_2": False, "use_pece": True}
SAMPLERS = {  # label: (class_type, inputs)
    "SamplerSASolver use_pece": ("SamplerSASolver", SA_SOLVER),
    "SamplerDPMPP_SDE r 1.0": ("SamplerDPMPP_SDE", {"eta": 1.0, "s_noise": 1.0, "r": 1.0, "noise_device": "cpu"}),
    "SamplerDPMPP_SDE r 1.0 eta 0": ("SamplerDPMPP_SDE", {"eta": 0.0, "s_noise": 1.0, "r": 1.0, "noise_device": "cpu"}),
    "SamplerSEEDS2 r 1.0 eta 0 (exp_heun_2_x0)": ("TaoTestSamplerSEEDS2",
                                                  {"solver_type": "phi_2", "eta": 0.0, "s_noise": 1.0, "r": 1.0}),
}
RULES = ("first", "second", "both")


def custom_graph(method, prompt, seed, sampler):
    """tiny_comfy.graph with SamplerCustomAdvanced (RandomNoise, CFGGuider, BasicScheduler) and the
    sampler node in place of KSampler."""
    g = graph(method, prompt, seed, "euler", comfy_size(4, 28), MODEL_FILE.name)
    old = g.pop("7")["inputs"]
    class_type, inputs = sampler
    g["60"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}}
    g["61"] = {"class_type": "CFGGuider", "inputs": {"model": ["3", 0], "positive": old["positive"],
                                                     "negative": old["negative"], "cfg": old["cfg"]}}
    g["62"] = {"class_type": class_type, "inputs": {**inputs, **({"model": ["3", 0]} if "SASolver" in class_type else {})}}
    g["63"] = {"class_type": "BasicScheduler", "inputs": {"model": ["3", 0], "scheduler": "simple", "steps": STEPS,
                                                          "denoise": 1.0}}
    g["64"] = {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["60", 0], "guider": ["61", 0],
                                                                 "sampler": ["62", 0], "sigmas": ["63", 0],
                                                                 "latent_image": old["latent_image"]}}
    g["8"]["inputs"]["samples"] = ["64", 0]
    return g


def forced(rule):
    """nodes/run_start.level_calls for one rule (the pack's loaded module, patched in place)."""
    def level_calls(sampler):
        if rule == "both":
            return {"repeated": False, "skipped_call": "second"}
        return {"repeated": True, "skipped_call": rule}
    return level_calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--targets", default="1.3,1.5")
    a = parser.parse_args()
    targets = [float(t) for t in a.targets.split(",")]
    comfy = start_comfy(MODEL_FILE, "taocache_custom_sampler_", quiet=True)
    run_start = next(m for name, m in sys.modules.items() if name.endswith("nodes.run_start") and hasattr(m, "level_calls"))
    shipped = run_start.level_calls
    shapes = kinds.KINDS["shapes"]

    def frames_of(method, prompt, seed, sampler):
        result = comfy.run(custom_graph(method, prompt, seed, sampler), log_level=logging.WARNING).raise_for_status()
        (report,) = result.events("taocache.report") or [None]
        ratio = report["total"] / report["computed"] if report else 1.0
        return decode(harness.load_latent(harness.newest_latent(comfy.base.output_dir))), ratio

    print(f"shapes test model, {STEPS} steps, {a.pairs} pairs, plans without a profile, window 0.3-1.0; "
          f"PSNR against the full run / mask IoU (call ratio)", flush=True)
    for label, sampler in SAMPLERS.items():
        rows = {(rule, t): [] for rule in RULES + ("shipped",) for t in targets}
        for prompt, seed in evaluation_pairs("shapes", a.pairs):
            reference, _ = frames_of(Method("full", "", STEPS), prompt, seed, sampler)
            for rule in RULES + ("shipped",):
                run_start.level_calls = shipped if rule == "shipped" else forced(rule)
                try:
                    for t in targets:
                        method = Method("plan", f"{rule} {t}", STEPS, (taocache(profile="none, plan to target_speedup",
                                                                                target=t),))
                        frames, ratio = frames_of(method, prompt, seed, sampler)
                        rows[(rule, t)].append((psnr(frames, reference),
                                                structure(shapes, frames, reference, prompt)["iou"], ratio))
                finally:
                    run_start.level_calls = shipped
        print(f"\n{label}")
        for t in targets:
            cells = []
            for rule in RULES + ("shipped",):
                values = rows[(rule, t)]
                cells.append(f"{rule}: {statistics.mean(v[0] for v in values):.1f} dB / "
                             f"{statistics.mean(v[1] for v in values):.3f} ({statistics.mean(v[2] for v in values):.2f}x)")
            print(f"  target {t}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
