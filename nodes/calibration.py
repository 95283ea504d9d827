"""The keyed wrappers of the TaoCache Calibrate node: every model call is computed, and what the
fixed-point predictor would have done at each step is recorded into a calibration profile.

  OUTER_SAMPLE     once per sampling run: a fresh recorder; at the end the run's samples are added to
                   the profile file (never a half run: an interrupted run adds nothing).
  DIFFUSION_MODEL  after the forward: one sample per branch and step (r, c, one-step predictor error).
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Optional

import torch

from ..taocache import CalibrationRecorder, Profile, ProfileError, Schedule, TaoCacheConfig, identity
from . import compat, profiles
from .wrappers import WRAPPER_KEY, branch_keys, current_sigma, sample_with_run_state, transformer_options_of

log = logging.getLogger("TaoCache")

CALIBRATION_KEY = "taocache_calibration"  # transformer_options entry: CalibrationSettings
CALIBRATION_RUN_KEY = "taocache_calibration_run"
BRANCH_NAMES = {0: "cond", 1: "uncond"}


@dataclass(frozen=True)
class CalibrationSettings:
    profile_name: str
    path: str
    node_id: Optional[str] = None


class LiveCalibration:
    def __init__(self, settings: CalibrationSettings, schedule: Schedule):
        self.settings = settings
        self.schedule = schedule
        self.recorder = CalibrationRecorder(q_max=TaoCacheConfig().q_max)
        self.lock = threading.Lock()  # model calls may come from several threads (multi-GPU CFG split)


def calibration_diffusion_model_wrapper(executor, *args, **kwargs):
    output = executor(*args, **kwargs)
    options = transformer_options_of(args, kwargs)
    live: Optional[LiveCalibration] = options.get(CALIBRATION_RUN_KEY)
    if live is None or not isinstance(output, torch.Tensor):
        return output
    _record_calibration(live, options, output)
    return output


@torch.compiler.disable
def _record_calibration(live: LiveCalibration, options: dict, output: torch.Tensor) -> None:
    keys = branch_keys(options, output.shape[0])
    sigma = current_sigma(options)
    if keys is None or sigma is None:
        return
    labels = options.get("cond_or_uncond") or list(range(len(keys)))
    position = live.schedule.position(sigma)
    with live.lock:
        for key, label, chunk in zip(keys, labels, output.chunk(len(keys), dim=0)):
            live.recorder.observe(key, BRANCH_NAMES.get(label, str(label)), sigma, position, chunk)


def calibration_outer_sample_wrapper(executor, *args, **kwargs):
    guider = executor.class_obj
    original_options = guider.model_options
    settings: CalibrationSettings = original_options["transformer_options"][CALIBRATION_KEY]
    noise, sampler, sigmas = args[0], args[2], (args[3] if len(args) > 3 else kwargs["sigmas"])
    live = LiveCalibration(settings, Schedule([float(s) for s in sigmas], float("inf"), float("-inf")))
    metadata = profiles.run_metadata(guider, noise, sampler, sigmas)
    metadata["sigmas"] = [float(s) for s in sigmas]

    def end(finished: bool) -> None:
        samples = live.recorder.close()
        if finished:
            message = _save_calibration(settings, samples, metadata)
        else:
            message = f"TaoCache Calibrate: run stopped early; nothing added to profile {settings.profile_name}"
        log.info(message)
        compat.show_text_on_node(settings.node_id, message)

    return sample_with_run_state(executor, args, kwargs, CALIBRATION_RUN_KEY, live, end)


def _save_calibration(settings: CalibrationSettings, samples: list, metadata: dict) -> str:
    if not any(s["error"] is not None for s in samples):
        return (f"TaoCache Calibrate: nothing measurable in this run (fewer than 3 model calls per branch, or a "
                f"model without a DIFFUSION_MODEL wrapper point); profile {settings.profile_name} unchanged")
    profile = Profile()
    remarks = []
    if os.path.exists(settings.path):
        try:
            profile = Profile.load(settings.path)
        except ProfileError as error:
            return f"TaoCache Calibrate: {error}; not overwriting it: choose another profile_name"
        fit = identity.compare(profile.metadata, metadata)
        if not fit.usable:
            return (f"TaoCache Calibrate: profile {settings.profile_name} {fit.refusal}; not mixing them: "
                    f"choose another profile_name")
        remarks = fit.warnings + fit.notes  # another shift or LoRA: the run is added, and we say so
    profile.add_run(samples, metadata)
    profile.save(settings.path)
    return (f"TaoCache Calibrate: profile {settings.profile_name} now holds {len(profile.runs)} run(s); "
            f"written to {settings.path}" + "".join(f"; note: the profile was {remark}" for remark in remarks))


def attach_calibration(model, settings: CalibrationSettings, types) -> None:
    model.model_options.setdefault("transformer_options", {})[CALIBRATION_KEY] = settings
    model.add_wrapper_with_key(types.OUTER_SAMPLE, WRAPPER_KEY + "_calibrate", calibration_outer_sample_wrapper)
    model.add_wrapper_with_key(types.DIFFUSION_MODEL, WRAPPER_KEY + "_calibrate", calibration_diffusion_model_wrapper)
