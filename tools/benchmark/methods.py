"""The methods the benchmark compares, each a sampler step count plus nodes on the MODEL line.

Families (one curve each): full steps; fewer steps at the same compute; core EasyCache and
LazyCache at several thresholds; TaoCache (online, the paper's late window) at several settings and
online over the whole schedule; the ablations of method.md (reuse instead of the fixed-point
predictor, the literal predictor, the same skips in early/mid steps); TaoCache with calibrated
placement (a profile from other prompts and seeds, with its placement trials, plans where to skip);
the oracle (the planner, over the whole schedule, fed the true per-step errors of the very prompt and
seed, measured on its own full run; no trials); TaoCache's target speedup without calibration (profile
"none, plan to target_speedup": skips spread evenly over the late or the early/mid window); EasyCache for
early/mid steps stacked with TaoCache for the late ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FEWER_RATIOS = (1.2, 1.35, 1.5, 1.7, 2.0)
CACHE_THRESHOLDS = (0.02, 0.05, 0.1, 0.2)
# TaoCache settings, slowest to fastest: (label, max_consecutive_skips, cos_threshold, norm_ratio_threshold)
TAOCACHE_SETTINGS = (
    ("K1 gated", 1, 0.6, 1.3),
    ("K1 open", 1, -1.0, 10.0),
    ("K2 gated", 2, 0.6, 1.3),
    ("K2 open", 2, -1.0, 10.0),
    ("K3 open", 3, -1.0, 10.0),
)
LATE_START = 0.3
LATE_START_NARROW = 0.55


@dataclass(frozen=True)
class Method:
    family: str
    label: str
    steps: int
    insert: tuple = field(default=())  # ((class_type, inputs), ...) chained on the MODEL line

    @property
    def name(self) -> str:
        return f"{self.family} [{self.label}]" if self.label else self.family


# target speedups of the planned rows (calibrated and oracle): the speedups the report compares at, since
# a plan, unlike a fixed window's discrete settings, can be asked for any speedup; the calibration's
# placement trials run at the same ones
PLAN_TARGETS = (1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0)
PLAN_K = 2  # max_consecutive_skips of the planned rows
CALIBRATED = "TaoCache calibrated placement"
ORACLE = "oracle"
WHOLE_ONLINE = "TaoCache whole schedule (online)"
EARLY_MID = "ablation: early/mid window"
UNCALIBRATED_LATE = "TaoCache target speedup without calibration (late window)"
UNCALIBRATED_EARLY = "TaoCache target speedup without calibration (early/mid window)"
NO_PROFILE_PLAN = "none, plan to target_speedup"  # the node's profile choice (nodes/profiles.UNCALIBRATED)
ABLATION_SETTINGS = ("K1 gated", "K2 gated", "K2 open")  # reuse and literal: three settings each


def taocache(start=LATE_START, end=1.0, k=1, cos=0.6, nr=1.3, predictor="fixed_point", profile="none", target=1.5):
    return ("TaoCache", {"start_percent": start, "end_percent": end, "cos_threshold": cos,
                         "norm_ratio_threshold": nr, "max_consecutive_skips": k, "predictor": predictor,
                         "error_budget": 0.0, "verbose": False, "profile": profile, "target_speedup": target,
                         "plan_mode": "speedup", "target_error": 0.005})


def calibration(steps: int, profile_name: str) -> Method:
    """A TaoCache Calibrate run that also tries every placement at every plan target."""
    trials = ",".join(f"{t:g}" for t in PLAN_TARGETS)
    return Method("calibrate", "", steps, (("TaoCacheCalibrate", {"profile_name": profile_name,
                                                                 "trial_speedups": trials}),))


def planned(family: str, steps: int, profile: str) -> list[Method]:
    """Rows whose skips a profile plans over the whole schedule (window 0-1), one per target speedup."""
    return [Method(family, f"target {target}", steps, (taocache(start=0.0, k=PLAN_K, profile=profile, target=target),))
            for target in PLAN_TARGETS]


def planned_without_profile(family: str, steps: int, window: tuple[float, float]) -> list[Method]:
    """Rows planned with no profile (skips spread evenly over `window`), one per target speedup."""
    return [Method(family, f"target {target}", steps,
                   (taocache(start=window[0], end=window[1], k=PLAN_K, profile=NO_PROFILE_PLAN, target=target),))
            for target in PLAN_TARGETS]


def core_cache(kind, threshold, start=0.15, end=0.95):
    return (kind, {"reuse_threshold": threshold, "start_percent": start, "end_percent": end, "verbose": False})


def methods_for(steps: int, early_window: tuple[float, float], profile: str | None = None) -> list[Method]:
    """Every method at `steps` sampler steps except the oracle (its profile is per prompt and seed:
    `planned(ORACLE, ...)`). early_window: (start, end) percent of an early/mid window holding as many
    steps as the late window [LATE_START, 1). profile: a calibration profile file (from other prompts
    and seeds) for the calibrated-placement rows."""
    out = [Method("full", "", steps)]
    for ratio in FEWER_RATIOS:
        out.append(Method("fewer steps", f"{round(steps / ratio)} steps", round(steps / ratio)))
    for kind in ("EasyCache", "LazyCache"):
        for threshold in CACHE_THRESHOLDS:
            out.append(Method(kind, f"thr {threshold}", steps, (core_cache(kind, threshold),)))
    # a later window for the low speedups (about 1.25x): the default window skips a third of the calls
    out.append(Method("TaoCache", f"K1 gated, start {LATE_START_NARROW}", steps,
                      (taocache(start=LATE_START_NARROW, k=1),)))
    for label, k, cos, nr in TAOCACHE_SETTINGS:
        out.append(Method("TaoCache", label, steps, (taocache(k=k, cos=cos, nr=nr),)))
        out.append(Method(EARLY_MID, label, steps,
                          (taocache(start=early_window[0], end=early_window[1], k=k, cos=cos, nr=nr),)))
        if label in ABLATION_SETTINGS:
            out.append(Method("ablation: reuse", label, steps, (taocache(k=k, cos=cos, nr=nr, predictor="reuse"),)))
            out.append(Method("ablation: literal", label, steps,
                              (taocache(k=k, cos=cos, nr=nr, predictor="fixed_point_literal"),)))
        if label in ("K1 gated", "K2 open"):
            out.append(Method(WHOLE_ONLINE, label, steps, (taocache(start=0.0, k=k, cos=cos, nr=nr),)))
    if profile:
        out += planned(CALIBRATED, steps, profile)
    out += planned_without_profile(UNCALIBRATED_LATE, steps, (LATE_START, 1.0))
    out += planned_without_profile(UNCALIBRATED_EARLY, steps, early_window)
    for threshold, (label, k, cos, nr) in ((0.05, TAOCACHE_SETTINGS[0]), (0.1, TAOCACHE_SETTINGS[3])):
        out.append(Method("EasyCache early + TaoCache late", f"thr {threshold}, {label}", steps,
                          (core_cache("EasyCache", threshold, start=0.0, end=LATE_START),
                           taocache(k=k, cos=cos, nr=nr))))
    return out
