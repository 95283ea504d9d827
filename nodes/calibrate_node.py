"""The TaoCache Calibrate node: the sampler runs at full compute while every step's statistics are
recorded into a named profile (models/taocache_profiles/<name>.json); runs accumulate."""
from __future__ import annotations

import logging

from comfy_api.latest import io

from ..taocache import placement as placements
from . import compat, profiles
from .calibration import TRIAL_MAX_CONSECUTIVE, CalibrationSettings, attach_calibration, has_taocache

log = logging.getLogger("TaoCache")


class TaoCacheCalibrateNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="TaoCacheCalibrate",
            display_name="TaoCache Calibrate",
            category="advanced/model/acceleration",
            description=(
                "Put it where the TaoCache node would go and run your usual prompts: the sampler runs at full "
                "compute while each step's statistics (r, c, the predictor's error) are recorded into the named "
                "profile. Several runs accumulate. Then pick the profile on the TaoCache node and ask for a "
                "target_speedup. With trial_speedups it also tries where to skip, on your model."),
            inputs=[
                io.Model.Input("model", tooltip="The model to measure (the same one you will accelerate)."),
                io.String.Input("profile_name", default="my_model",
                                tooltip="File name of the profile in models/taocache_profiles (letters, digits, "
                                        "'_', '-', '.'). Runs under the same name accumulate."),
                io.String.Input("trial_speedups", default="", optional=True,
                                tooltip="Optional, e.g. 1.5,2.0: after the full run, sample the same seed again once "
                                        f"per placement ({', '.join(placements.PLACEMENTS)}) at each of these "
                                        "speedups and keep each trial's measured error in the profile; the TaoCache "
                                        "node then skips where the trials came out best. The greedy placements are "
                                        "tried from the profile's second run on (planned from the other runs). "
                                        "Costs up to "
                                        f"{len(placements.PLACEMENTS)} extra sampling runs per speedup (trials use "
                                        f"max_consecutive_skips {TRIAL_MAX_CONSECUTIVE}). Run it on several prompts: "
                                        "on our small test model the choice from 8 prompts was on average within "
                                        "0.3 dB of the best placement on unseen prompts, from 4 within 1.4 dB. "
                                        "Empty: no trials."),
            ],
            outputs=[io.Model.Output(tooltip="The same model, recording while it samples at full compute.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, profile_name, trial_speedups="") -> io.NodeOutput:
        node_id = cls.hidden.unique_id if cls.hidden is not None else None
        speedups = tuple(placements.parse_speedups(trial_speedups))  # ValueError names the input and range
        types = compat.wrapper_types()
        try:
            path = profiles.path_for_writing(profile_name.strip())
        except ValueError as error:
            message = f"{error}. Nothing will be recorded."
            log.warning(message)
            compat.show_text_on_node(node_id, message)
            return io.NodeOutput(model)
        if types is None or not hasattr(model, "add_wrapper_with_key"):
            message = "TaoCache Calibrate: this ComfyUI or model has no keyed model wrappers; nothing will be recorded."
            log.warning(message)
            compat.show_text_on_node(node_id, message)
            return io.NodeOutput(model)
        remark = ""
        if speedups and has_taocache(model):
            remark = "; no placement trials: a TaoCache node comes before this one (its skips would mix in)"
            log.warning(f"TaoCache Calibrate{remark}")
            speedups = ()
        elif speedups:
            remark = f"; then placement trials at {', '.join(f'{v:g}x' for v in speedups)}"
        patched = model.clone()
        attach_calibration(patched, CalibrationSettings(profile_name.strip(), path, node_id, speedups), types)
        compat.show_text_on_node(node_id, f"TaoCache Calibrate: will record into {path}{remark}")
        return io.NodeOutput(patched)
