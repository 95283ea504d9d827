"""Calibration profiles: recording, saving, reading back by noise level, planning skips."""
import json
import math

import pytest
import torch

from taocache import CalibrationRecorder, Profile, ProfileError, Schedule, TaoCacheConfig, TaoCacheRun, plan_skips

from helpers import geometric_outputs, linear_schedule


def calibrated_profile(steps_list=(20, 50), q=0.85):
    profile = Profile()
    for steps in steps_list:
        schedule = Schedule(linear_schedule(steps), 1.0, 0.0)
        recorder = CalibrationRecorder(q_max=0.95)
        g = torch.Generator().manual_seed(steps)
        for step, y in enumerate(geometric_outputs(steps, q ** (20 / steps))):
            noisy = y + 0.01 * step / steps * torch.randn(y.shape, generator=g)  # later steps: less predictable
            for branch in ("cond", "uncond"):
                recorder.observe(branch, branch, schedule.sigmas[step], float(step), noisy)
        profile.add_run(recorder.close(), {"model_class": "WAN21", "steps": steps})
    return profile


def test_roundtrip_through_json(tmp_path):
    profile = calibrated_profile()
    path = tmp_path / "p.json"
    profile.save(str(path))
    loaded = Profile.load(str(path))
    assert loaded.metadata["runs"] == 2 and loaded.model_class == "WAN21"
    assert loaded.at("r", 0.5) == pytest.approx(profile.at("r", 0.5))


def test_statistics_carry_over_between_step_counts():
    profile = calibrated_profile(steps_list=(50,))
    mean, spread = profile.at("error", 0.37)  # between the 50-step samples
    assert math.isfinite(mean) and spread >= 0
    assert math.isnan(profile.at("error", 1.5)[0])  # never extrapolated


@pytest.mark.parametrize("text,fragment", [
    ("{not json", "not valid JSON"),
    (json.dumps({"format": "other"}), "not a TaoCache profile"),
    (json.dumps({"format": "taocache-profile", "version": 99}), "version 99"),
    (json.dumps({"format": "taocache-profile", "version": 1, "metadata": {}, "runs": []}), "no runs"),
    (json.dumps({"format": "taocache-profile", "version": 1, "metadata": {},
                 "runs": [{"samples": [{"sigma": "__import__('os')", "branch": "cond"}]}]}), "malformed sample"),
])
def test_malformed_files_give_clear_errors(tmp_path, text, fragment):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=fragment):
        Profile.load(str(path))


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "p.json"
    calibrated_profile().save(str(path))
    path.write_text(path.read_text()[:200])
    with pytest.raises(ProfileError, match="truncated"):
        Profile.load(str(path))


@pytest.mark.parametrize("steps,target", [(30, 1.5), (30, 1.3), (50, 1.8), (20, 1.2)])
def test_plan_reaches_the_target_within_one_step(steps, target):
    profile = calibrated_profile()
    schedule = Schedule(linear_schedule(steps), 0.8, 0.0)
    plan = plan_skips(profile, schedule, target, max_consecutive=2)
    achieved = steps / (steps - len(plan))
    assert abs((steps - len(plan)) - steps / target) <= 1, (achieved, target)
    assert steps - 1 not in plan and steps - 2 not in plan
    assert all(schedule.in_window(schedule.sigmas[i]) and i >= 3 for i in plan)


def test_plan_prefers_low_error_steps_and_isolated_skips():
    profile = calibrated_profile()
    schedule = Schedule(linear_schedule(30), 1.0, 0.0)
    plan = sorted(plan_skips(profile, schedule, 1.2, max_consecutive=2))
    assert all(b - a > 1 for a, b in zip(plan, plan[1:])), "few skips: all isolated"
    errors = {i: profile.at("error", schedule.sigmas[i])[0] for i in range(3, 28)}
    worst_chosen = max(errors[i] for i in plan)
    best_left_out = min(e for i, e in errors.items() if i not in plan and i - 1 not in plan and i + 1 not in plan)
    assert worst_chosen <= best_left_out + 1e-12


def test_run_with_a_plan_skips_exactly_the_planned_steps():
    schedule = Schedule(linear_schedule(30), 0.8, 0.0)
    plan = plan_skips(calibrated_profile(), schedule, 1.5, max_consecutive=2)
    run = TaoCacheRun(TaoCacheConfig(cos_threshold=1.0, norm_ratio_threshold=0.0, max_consecutive_skips=2),
                      schedule, plan=plan)  # gates that would never skip: the plan overrides them
    skipped = set()
    for step, y in enumerate(geometric_outputs(30, 0.9)):
        run.begin_evaluation()
        decision = run.decide(["cond"], schedule.sigmas[step])
        if decision.skip:
            run.predict(decision, ["cond"])
            skipped.add(step)
        else:
            run.record(decision, ["cond"], [y])
    assert skipped == plan
