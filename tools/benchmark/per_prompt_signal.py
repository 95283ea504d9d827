"""Is there per-prompt information for a run-time placement to use? (Not in CI; a second or two.)

    .runtime/venv/bin/python tools/benchmark/per_prompt_signal.py [PROFILES_FOLDER] [--results results.json]

A plan from a calibration profile puts the skips where the *average* prompt's predictor error is low.
A rule that adapts at run time (for example: the online gates refuse a planned skip and it moves to a
later step, keeping the speedup) can only do better if, at the moment of the decision, something
observable says that this prompt's error at this step is above or below the average. This reads the
profiles' per-run samples (r, c and the step size are from the history *before* the step, so they are
what the run would see) and prints, per configuration:

  spread      of log one-step error within a step across runs and branches (per-prompt variation),
              next to its spread across steps (what a plan already uses);
  gate        how often the node's default gates (cos >= 0.6, norm ratio <= 1.3) would refuse, and
              the geometric mean error of the refused samples relative to their step's mean
              (1.00: refusing carries no information about this prompt's error);
  estimate    the within-step correlation of log error with the log of the predictor's own
              unpredictable-change estimate (predictor.Fit.unpredictable).

For a profile with placement trials (TaoCache Calibrate's trial_speedups) it also prints, per target:

  per-prompt  how much choosing the placement per prompt would gain over the best single placement,
              the runs' own trials as the oracle (the placements tried on at least half the runs, on
              the runs that tried them all);
  early/late  across runs, the correlation of the early/mid spread placement's lead over late spread
              (log error) with the run's means over its first EARLY_STEPS measured steps (what a run
              could see before its first planned skip, and more) of each EARLY_STATS statistic: the
              log one-step error, cos, norm ratio, log step size and the predictor's estimate; and
              with its mean log error over the last half (what no run sees in time: a control). Near
              zero, or changing sign from one target to the next: nothing a run sees early says which
              placement suits it.

With --results (a benchmark's results.json) it also prints the oracle's lead over calibrated placement
per cell (the oracle plans from the true per-step errors of the same prompt and seed: perfect
per-prompt information; a negative lead means the trial-chosen placement did better without it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from taocache.config import TaoCacheConfig  # noqa: E402
from taocache.predictor import unpredictable  # noqa: E402
from taocache.profile import Profile, ProfileError  # noqa: E402

GATES = TaoCacheConfig()
EARLY_STEPS = 4  # measured steps the early feature averages (generous: a run skips from step 3 on)


def samples_by_step(profile: Profile) -> dict[int, list[tuple[float, float, bool]]]:
    """step index -> [(log error, log unpredictable estimate, refused by the default gates)]."""
    by_step: dict[int, list] = {}
    for run in profile.runs:
        for branch in {s["branch"] for s in run["samples"]}:
            ordered = sorted((s for s in run["samples"] if s["branch"] == branch), key=lambda s: -s["sigma"])
            for i, s in enumerate(ordered):
                if s.get("c") is None or not s.get("error") or not s.get("step_change"):
                    continue
                estimate = unpredictable(s["r"], s["c"], s["step_change"])
                refused = s["c"] < GATES.cos_threshold or s["r"] > GATES.norm_ratio_threshold
                by_step.setdefault(i, []).append((math.log(s["error"]), math.log(max(estimate, 1e-12)), refused))
    return by_step


def correlation(a: list[float], b: list[float]) -> float:
    """Pearson's r (numpy, a ComfyUI requirement); nan where either side does not vary."""
    if np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def signal(profile: Profile) -> dict | None:
    """The figures above for one profile; None when it holds no sample with a predictor error."""
    by_step = samples_by_step(profile)
    if not by_step:
        return None
    error_dev, estimate_dev, refused_dev, step_means = [], [], [], []
    for values in by_step.values():
        mean_error = sum(v[0] for v in values) / len(values)
        mean_estimate = sum(v[1] for v in values) / len(values)
        step_means.append(mean_error)
        for log_error, log_estimate, refused in values:
            error_dev.append(log_error - mean_error)
            estimate_dev.append(log_estimate - mean_estimate)
            if refused:
                refused_dev.append(log_error - mean_error)
    grand = sum(step_means) / len(step_means)
    return {
        "samples": len(error_dev),
        "within_step_spread": math.sqrt(sum(d * d for d in error_dev) / len(error_dev)),
        "across_step_spread": math.sqrt(sum((m - grand) ** 2 for m in step_means) / len(step_means)),
        "refused": len(refused_dev),
        "refused_error_ratio": math.exp(sum(refused_dev) / len(refused_dev)) if refused_dev else math.nan,
        "estimate_correlation": correlation(error_dev, estimate_dev),
    }


EARLY_STATS = {  # what a run sees of a step (from the history before it), and the error measured after it
    "error": lambda s: math.log(s["error"]),
    "cos": lambda s: s["c"],
    "norm ratio": lambda s: s["r"],
    "step size": lambda s: math.log(s["step_change"]),
    "estimate": lambda s: math.log(max(unpredictable(s["r"], s["c"], s["step_change"]), 1e-12)),
}


def run_features(run: dict) -> tuple[dict, float]:
    """({stat: mean over the run's first EARLY_STEPS measured steps}, mean log error over the last
    half of its measured steps), both branches; a step is measured when it has every statistic."""
    by_step: dict[float, list[dict]] = {}
    for s in run["samples"]:
        if s.get("error") and s.get("c") is not None and s.get("step_change"):
            by_step.setdefault(s["sigma"], []).append(s)
    ordered = [v for _, v in sorted(by_step.items(), key=lambda kv: -kv[0])]
    early = [s for v in ordered[:EARLY_STEPS] for s in v]
    late = [s for v in ordered[len(ordered) // 2:] for s in v]
    return ({name: sum(f(s) for s in early) / len(early) for name, f in EARLY_STATS.items()},
            sum(math.log(s["error"]) for s in late) / len(late))


def placement_signal(profile: Profile) -> list[dict]:
    """Per trial target (at the profile's most tried step count): the per-prompt oracle's gain in dB
    and the early/late correlations described in the module docstring; [] without trials."""
    if not profile.trials:
        return []
    steps = Counter(t.steps for t in profile.trials).most_common(1)[0][0]
    out = []
    for target in sorted({t.target for t in profile.trials if t.steps == steps}):
        by_run: dict[int, dict[str, float]] = {}
        for t in profile.trials:
            if (t.steps == steps and t.target == target and t.run is not None and t.error > 0
                    and t.speedup >= target - 1e-3):
                by_run.setdefault(t.run, {})[t.placement] = math.log(t.error)
        tried = Counter(p for placements in by_run.values() for p in placements)
        names = {p for p, n in tried.items() if 2 * n >= len(by_run)}  # greedy ones skip the first run
        runs = [r for r in by_run if r < len(profile.runs) and names <= set(by_run[r])]
        if len(names) < 2 or len(runs) < 3:
            continue
        single = min(sum(by_run[r][p] for r in runs) / len(runs) for p in names)
        per_prompt = sum(min(by_run[r][p] for p in names) for r in runs) / len(runs)
        row = {"target": target, "runs": len(runs), "placements": len(names),
               "per_prompt_gain_db": 20 / math.log(10) * (single - per_prompt)}
        contrast = [r for r in runs if {"early/mid spread", "late spread"} <= set(by_run[r])]
        if len(contrast) >= 3:
            lead = [by_run[r]["late spread"] - by_run[r]["early/mid spread"] for r in contrast]
            features = [run_features(profile.runs[r]) for r in contrast]
            row["early_correlations"] = {name: correlation([f[0][name] for f in features], lead)
                                         for name in EARLY_STATS}
            row["late_correlation"] = correlation([f[1] for f in features], lead)
        out.append(row)
    return out


def oracle_leads(results_path: Path) -> list[str]:
    from report import CALIBRATED, ORACLE, TARGETS, best_at
    agg = json.loads(results_path.read_text())["aggregate"]
    lines = []
    for sampler, steps in sorted({(r["sampler"], r["ref_steps"]) for r in agg if r["family"] == ORACLE}):
        leads = [(t, best_at(agg, sampler, steps, ORACLE, t, "psnr"), best_at(agg, sampler, steps, CALIBRATED, t, "psnr"))
                 for t in TARGETS]
        cells = [f"{t:.1f}x {o - c:+.1f}" for t, o, c in leads if o is not None and c is not None]
        ahead = sum(1 for t, o, c in leads if o is not None and c is not None and o > c)
        lines.append(f"{sampler} {steps}: oracle ahead in {ahead} of {len(cells)} (dB: {', '.join(cells)})")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiles", nargs="?", default="results/placement_30_pairs/profiles")
    ap.add_argument("--results", help="a benchmark results.json: also print the oracle's lead per cell")
    a = ap.parse_args()
    paths = sorted(Path(a.profiles).glob("*.json"))
    if not paths:
        sys.exit(f"no profiles (*.json) in {a.profiles}")
    for path in paths:
        try:
            s = signal(Profile.load(str(path)))
        except ProfileError as error:
            print(f"{path.stem}: skipped: {error}")
            continue
        if s is None:
            print(f"{path.stem}: skipped: no step with a predictor error (too few steps per run?)")
            continue
        print(f"{path.stem}: {s['samples']} samples; log-error spread within a step {s['within_step_spread']:.2f} "
              f"(across steps {s['across_step_spread']:.2f}); default gates refuse {s['refused']} "
              f"({s['refused'] / s['samples']:.0%}), their error x{s['refused_error_ratio']:.2f} of the step's mean; "
              f"correlation with the unpredictable estimate {s['estimate_correlation']:+.2f}")
        for row in placement_signal(Profile.load(str(path))):
            early = ", ".join(f"{name} {r:+.2f}" for name, r in row.get("early_correlations", {}).items())
            corr = (f"; early/mid spread's lead over late spread, r with the early {early}; with the late error "
                    f"{row['late_correlation']:+.2f}" if early else "")
            print(f"  {row['target']:g}x, {row['runs']} runs: a per-prompt choice of {row['placements']} placements "
                  f"would gain {row['per_prompt_gain_db']:.2f} dB{corr}")
    if a.results:
        print("\n".join(oracle_leads(Path(a.results))))


if __name__ == "__main__":
    main()
