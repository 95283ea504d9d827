"""Calibration profiles: per-step statistics of full runs, keyed by noise level, saved as plain JSON.

A calibration run computes every step and records, per conditioning branch and step, what the
fixed-point predictor would have done there: r, c, its relative error |yhat - y| / |y| for a
one-step skip, and the relative size of one step's change |d| / |y|. Runs accumulate in one file.
Statistics are read back by noise level (each run's curve interpolated linearly in sigma, then mean
and spread across runs and branches), so a profile made at 50 steps serves 30 steps and another
scheduler. Reading a profile only parses JSON: no code in it is ever executed.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

import torch

from . import predictor as predictors
from .history import BranchHistory
from .identity import is_number as _is_number
from .placement import Trial

FORMAT = "taocache-profile"
FORMAT_VERSION = 1
STATS = ("r", "c", "error", "step_change")


class ProfileError(ValueError):
    """A profile file that cannot be used; the message says which file and why."""


@dataclass
class Profile:
    metadata: dict = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)  # {"metadata": {...}, "samples": [{sigma, branch, r, c, ...}]}
    trials: list[Trial] = field(default_factory=list)  # placement trials (placement.py), optional

    @property
    def model_class(self) -> Optional[str]:
        return self.metadata.get("model_class")

    def add_run(self, samples: list[dict], metadata: dict) -> None:
        if not self.metadata:
            self.metadata = {k: v for k, v in metadata.items()}
        self.runs.append({"metadata": metadata, "samples": samples})
        self.metadata["runs"] = len(self.runs)

    def at(self, stat: str, sigma: float) -> tuple[float, float]:
        """Mean and spread (std) of a statistic at a noise level, across runs and branches."""
        values = []
        for run in self.runs:
            by_branch: dict[str, list] = {}
            for s in run["samples"]:
                if s.get(stat) is not None:
                    by_branch.setdefault(s["branch"], []).append((s["sigma"], s[stat]))
            for points in by_branch.values():
                value = _interpolate(sorted(points), sigma)
                if value is not None:
                    values.append(value)
        if not values:
            return math.nan, math.nan
        mean = sum(values) / len(values)
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        return mean, spread

    def to_dict(self) -> dict:
        out = {"format": FORMAT, "version": FORMAT_VERSION, "metadata": self.metadata, "runs": self.runs}
        if self.trials:
            out["trials"] = [t.to_dict() for t in self.trials]
        return out

    def save(self, path: str) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)  # never leaves a half-written profile behind

    @classmethod
    def load(cls, path: str) -> "Profile":
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except OSError as error:
            raise ProfileError(f"profile {name} cannot be read: {error}") from None
        except ValueError as error:
            raise ProfileError(f"profile {name} is not valid JSON (truncated or damaged?): {error}") from None
        return cls.from_dict(raw, name)

    @classmethod
    def from_dict(cls, raw, name: str = "profile") -> "Profile":
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ProfileError(f"profile {name} is not a TaoCache profile (no \"format\": \"{FORMAT}\")")
        if raw.get("version") != FORMAT_VERSION:
            raise ProfileError(f"profile {name} has version {raw.get('version')!r}; this pack reads {FORMAT_VERSION}")
        metadata, runs = raw.get("metadata"), raw.get("runs")
        if not isinstance(metadata, dict) or not isinstance(runs, list) or not runs:
            raise ProfileError(f"profile {name} has no runs")
        for i, run in enumerate(runs):
            samples = run.get("samples") if isinstance(run, dict) else None
            if not isinstance(samples, list):
                raise ProfileError(f"profile {name}: run {i} has no samples")
            for s in samples:
                if not isinstance(s, dict) or not _is_number(s.get("sigma")) or not isinstance(s.get("branch"), str):
                    raise ProfileError(f"profile {name}: run {i} has a malformed sample: {str(s)[:80]}")
                for stat in STATS:
                    if s.get(stat) is not None and not _is_number(s[stat]):
                        raise ProfileError(f"profile {name}: run {i} has a non-numeric {stat}: {s[stat]!r}")
        return cls(metadata=metadata, runs=runs, trials=_trials(raw.get("trials", []), name))


def _trials(raw, name: str) -> list[Trial]:
    if not isinstance(raw, list):
        raise ProfileError(f"profile {name}: \"trials\" is not a list")
    out = []
    for t in raw:
        ok = (isinstance(t, dict) and isinstance(t.get("placement"), str)
              and all(_is_number(t.get(k)) for k in ("target", "steps", "speedup", "error"))
              and (t.get("run") is None or (_is_number(t["run"]) and float(t["run"]).is_integer())))
        if not ok:
            raise ProfileError(f"profile {name} has a malformed trial: {str(t)[:80]}")
        run = None if t.get("run") is None else int(t["run"])
        out.append(Trial(t["placement"], float(t["target"]), int(t["steps"]), float(t["speedup"]), float(t["error"]), run))
    return out


def _interpolate(points: list[tuple[float, float]], sigma: float) -> Optional[float]:
    """Linear in sigma between a run's samples; None outside the sampled range (no extrapolation)."""
    if not points or sigma < points[0][0] - 1e-9 or sigma > points[-1][0] + 1e-9:
        return None
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if s0 <= sigma <= s1:
            return v0 if s1 == s0 else v0 + (v1 - v0) * (sigma - s0) / (s1 - s0)
    return points[-1][1] if abs(sigma - points[-1][0]) < 1e-9 else points[0][1]


class CalibrationRecorder:
    """Observes the computed outputs of one full run and turns them into profile samples."""

    def __init__(self, q_max: float):
        self.q_max = q_max
        self.histories: dict = {}
        self.samples: list[dict] = []

    def observe(self, key, branch: str, sigma: float, position: float, output: torch.Tensor) -> None:
        history = self.histories.setdefault(key, BranchHistory())
        sample = {"sigma": sigma, "branch": branch, "r": None, "c": None, "error": None, "step_change": None}
        fitted = predictors.fit(history, "fixed_point", self.q_max)
        if fitted is not None:
            guess = predictors.predict(history, fitted, position).float()
            norm = float(output.float().norm())
            if norm > 0:
                sample.update(r=fitted.r, c=fitted.c, error=float((guess - output.float()).norm()) / norm,
                              step_change=fitted.relative_step)
        history.record(output, position)
        self.samples.append(sample)

    def close(self) -> list[dict]:
        self.histories.clear()
        return self.samples
