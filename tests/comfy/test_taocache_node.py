"""The TaoCache node inside a real ComfyUI: real loader, real KSampler, real executor."""
import re

import pytest
import torch

import harness
from taocache.report import SENTENCE_PATTERN
from robustness_helpers import PERMISSIVE, taocache  # the node inputs every integration test starts from

SUMMARY = re.compile("TaoCache: " + SENTENCE_PATTERN.pattern)  # groups: computed, skipped, total, ratio


NEVER = dict(norm_ratio_threshold=0.0)


def summary_counts(text):
    match = SUMMARY.search(text)
    assert match, f"no TaoCache summary in: {text[-2000:]}"
    computed, skipped, total = (int(v) for v in match.groups()[:3])
    return computed, skipped, total


def report_of(result):
    reports = result.events("taocache.report")
    assert len(reports) == 1, f"expected one report event, got {len(reports)}"
    return reports[0]


def test_pack_loads_without_import_error(comfy_inprocess):
    assert "TaoCache" in comfy_inprocess.node_class_mappings
    assert "IMPORT FAILED" not in comfy_inprocess.init_log_text or "taocache" not in comfy_inprocess.init_log_text.split(
        "IMPORT FAILED")[-1].splitlines()[0]


def test_object_info_over_http_lists_the_node_with_its_inputs_in_order(comfy_server):
    info = comfy_server.get("/object_info/TaoCache")["TaoCache"]
    assert info["input_order"]["required"] == [
        "model", "start_percent", "end_percent", "cos_threshold", "norm_ratio_threshold",
        "max_consecutive_skips", "predictor", "error_budget", "verbose"]
    assert info["input_order"]["optional"] == ["profile", "target_speedup", "plan_mode", "target_error",
                                               "compute_ranges"]  # appended later: optional
    assert info["output"] == ["MODEL"]
    profile = info["input"]["optional"]["profile"]
    options = profile[1]["options"] if profile[0] == "COMBO" else profile[0]  # V3 nodes' combo form, or the list
    assert options[:2] == ["none", "none, plan to target_speedup"]  # then the profile files
    for name, spec in {**info["input"]["required"], **info["input"]["optional"]}.items():
        if name != "model":
            assert spec[1].get("tooltip"), f"{name} has no tooltip"


@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_thresholds_that_never_skip_are_bit_identical_to_no_node(comfy_inprocess, cfg):
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, cfg=cfg)).raise_for_status()
    built = harness.wan_t2v_graph(steps=20, cfg=cfg, insert=[taocache(**NEVER)])
    cached = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(cached.latent, plain.latent)
    assert summary_counts(cached.log_text) == (20, 0, 20)
    assert "nothing skipped: thresholds never met" in cached.log_text
    assert any("nothing skipped" in text for text in cached.texts_for(built.inserted[0]))
    hint = ("to skip anyway, lower cos_threshold or raise norm_ratio_threshold, or choose profile 'none, plan to "
            "target_speedup', which skips the steps target_speedup asks for without the gates")
    assert hint in cached.log_text and any(hint in text for text in cached.texts_for(built.inserted[0]))


@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_permissive_thresholds_skip_in_the_window_only_and_counts_are_real(comfy_inprocess, cfg):
    built = harness.wan_t2v_graph(steps=30, cfg=cfg, insert=[taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 30 and skipped >= 8
    assert result.calls == [computed], "reported computed calls must equal real forward calls"
    report = report_of(result)
    start_sigma, end_sigma = report["window_sigmas"]
    for call in report["calls"]:
        if call["skipped"]:
            assert end_sigma < call["sigma"] <= start_sigma
    assert not any(c["skipped"] for c in report["calls"] if not c["in_window"])
    assert any(c["in_window"] for c in report["calls"]) and any(not c["in_window"] for c in report["calls"])
    assert not report["calls"][-1]["skipped"], "the last step is always computed"
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, cfg=cfg)).raise_for_status()
    assert not torch.equal(result.latent, plain.latent)
    assert torch.isfinite(result.latent).all()


def test_summary_is_shown_on_the_node_and_logged(comfy_inprocess):
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    texts = result.texts_for(built.inserted[0])
    assert texts and SUMMARY.search(texts[-1])
    assert summary_counts(texts[-1]) == summary_counts(result.log_text)


def test_verbose_logs_one_line_per_model_call(comfy_inprocess):
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(verbose=True, **PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    rows = [line for line in result.log_lines if line.startswith("TaoCache step")]
    assert len(rows) == 20
    assert any(re.search(r"skipped r=\d+\.\d+ c=-?\d+\.\d+ q=\d+\.\d+", row) for row in rows)


def test_same_graph_twice_with_a_new_seed_caches_both_times(comfy_inprocess):
    first = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=1, insert=[taocache(**PERMISSIVE)]))
    second = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=2, insert=[taocache(**PERMISSIVE)]))
    a, b = summary_counts(first.raise_for_status().log_text), summary_counts(second.raise_for_status().log_text)
    assert a[1] > 0 and b[1] > 0
    assert a == b  # same schedule and gates off: the same pattern, from fresh state each run
    assert not torch.equal(first.latent, second.latent)


def test_removing_the_node_leaves_the_loaded_model_unpatched(comfy_inprocess):
    """The node patches a clone: after a cached run, the same graph without the node (the frontend
    drops a bypassed node the same way) reuses the loader's cached MODEL and runs it as it was,
    bit for bit the plain run, with every call computed and nothing from TaoCache in the log."""
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=5)).raise_for_status()
    cached = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=5, insert=[taocache(**PERMISSIVE)]))
    assert summary_counts(cached.raise_for_status().log_text)[1] > 0
    again = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=5)).raise_for_status()
    assert torch.equal(again.latent, plain.latent) and again.calls == [20]
    assert not any("TaoCache" in line for line in again.log_lines)
    assert not again.events("taocache.report")


@pytest.mark.parametrize("predictor", ["fixed_point_literal", "reuse"])
def test_ablation_predictors_run_and_skip(comfy_inprocess, predictor):
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(predictor=predictor, **PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    computed, skipped, _ = summary_counts(result.log_text)
    assert skipped > 0 and result.calls == [computed]


@pytest.mark.parametrize("family", ["wan22", "hunyuan_video", "hunyuan_video_15"])
@pytest.mark.parametrize("cfg", [1.0, 4.0])
def test_other_models_skip_and_count_correctly(comfy_inprocess, family, cfg):
    built = harness.build_graph(family, steps=24, cfg=cfg, insert=[taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 24 and skipped > 0
    assert result.calls == [computed]
    assert "APPLY_MODEL" not in result.log_text  # both call the DIFFUSION_MODEL wrapper
    assert torch.isfinite(result.latent).all()


@pytest.mark.parametrize("family", ["wan22", "hunyuan_video", "hunyuan_video_15"])
def test_other_models_never_skip_thresholds_are_bit_identical_to_no_node(comfy_inprocess, family):
    plain = comfy_inprocess.run(harness.build_graph(family, steps=20, cfg=4.0)).raise_for_status()
    cached = comfy_inprocess.run(harness.build_graph(family, steps=20, cfg=4.0, insert=[taocache(**NEVER)]))
    assert torch.equal(cached.raise_for_status().latent, plain.latent)
    assert summary_counts(cached.log_text) == (20, 0, 20) and cached.calls == plain.calls == [20]


@pytest.mark.parametrize("cfg", [1.0, 5.0])
def test_the_run_reports_the_memory_its_history_held(comfy_inprocess, cfg):
    """One branch at cfg 1, two at cfg 5; each holds the last output (float32 on this CPU) and two
    float32 deltas, each of the latent's size: recomputed here from the saved latent."""
    result = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, cfg=cfg, insert=[taocache(**PERMISSIVE)]))
    result.raise_for_status()
    report = result.events("taocache.report")[0]
    branches = 1 if cfg == 1.0 else 2
    assert report["history_bytes"] == branches * result.latent.numel() * (4 + 4 + 4)
    mib = report["history_bytes"] / 2 ** 20
    assert f"TaoCache: history held {mib:.1f} MiB at most" in result.log_text


def test_too_few_steps_says_why_and_runs_uncached(comfy_inprocess):
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=6)).raise_for_status()
    built = harness.wan_t2v_graph(steps=6, insert=[taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, plain.latent)
    assert "too few steps: 6 < 10" in result.log_text
    assert any("too few steps" in t for t in result.texts_for(built.inserted[0]))


def test_inverted_window_is_reported_on_the_node_and_runs_uncached(comfy_inprocess):
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=20)).raise_for_status()
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(start_percent=0.8, end_percent=0.4)])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, plain.latent)
    texts = result.texts_for(built.inserted[0])
    assert any("start_percent (0.8) must be below end_percent (0.4)" in t and "uncached" in t for t in texts)


def _held(report, compute_sigmas):
    """The calls whose noise level lies in the one compute range (high, low) of compute_sigmas."""
    (high, low), = compute_sigmas
    return [c for c in report["calls"] if low < c["sigma"] <= high]


@pytest.mark.parametrize("profile", ["none", "none, plan to target_speedup"])
def test_compute_ranges_make_two_windows_online_and_planned(comfy_inprocess, profile):
    """compute_ranges '0.4-0.6' with the window 0-1 (the ask of ComfyUI#9765 for core EasyCache: two
    active ranges): online decisions and a plan skip in both windows and never in the range, whose
    calls the report marks outside the window; the counts are the real forward calls."""
    built = harness.wan_t2v_graph(steps=30, insert=[taocache(**PERMISSIVE, start_percent=0.0, end_percent=1.0,
                                                             compute_ranges="0.4-0.6", profile=profile)])
    result = comfy_inprocess.run(built).raise_for_status()
    computed, skipped, total = summary_counts(result.log_text)
    report = report_of(result)
    assert total == 30 and skipped >= 6 and result.calls == [computed]
    held = _held(report, report["compute_sigmas"])
    assert len(held) >= 3 and not any(c["skipped"] or c["in_window"] for c in held)
    skipped_sigmas = [c["sigma"] for c in report["calls"] if c["skipped"]]
    (high, low), = report["compute_sigmas"]
    assert any(s > high for s in skipped_sigmas) and any(s <= low for s in skipped_sigmas)  # both windows
    if profile != "none":
        assert summary_counts(result.log_text) == (20, 10, 30)  # the plan still reaches 1.5x
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, insert=[taocache(**PERMISSIVE, start_percent=0.0,
                                                                                  profile=profile)]))
    opened = report_of(plain.raise_for_status())
    assert any(c["skipped"] for c in _held(opened, report["compute_sigmas"])), "without the range, it skips there"


def test_unreadable_compute_ranges_are_reported_on_the_node_and_run_uncached(comfy_inprocess):
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=20)).raise_for_status()
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(**PERMISSIVE, compute_ranges="0.6-0.4")])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, plain.latent)
    texts = result.texts_for(built.inserted[0])
    assert any("compute_ranges: 0.6-0.4 is not a range inside 0-1" in t and "uncached" in t for t in texts), texts
    assert "compute_ranges: 0.6-0.4" in result.log_text


def test_out_of_range_widget_is_rejected_by_validation_naming_the_input(comfy_inprocess):
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(cos_threshold=3.0)])
    with pytest.raises(harness.PromptValidationError) as error:
        comfy_inprocess.run(built)
    assert "cos_threshold" in str(error.value.node_errors)


def test_http_run_skips_and_logs(comfy_server):
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(**PERMISSIVE)])
    entry = comfy_server.run(built)
    assert entry["status"]["status_str"] == "success"
    computed, skipped, total = summary_counts(comfy_server.log_text())
    assert skipped > 0 and [r["calls"] for r in comfy_server.last_calls] == [computed]


def test_models_without_the_diffusion_model_wrapper_point_use_the_apply_model_fallback(comfy_inprocess):
    bypass = ("TaoTestBypassDiffusionWrapper", {})
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, insert=[bypass])).raise_for_status()
    never = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, insert=[bypass, taocache(**NEVER)]))
    assert torch.equal(never.raise_for_status().latent, plain.latent)
    built = harness.wan_t2v_graph(steps=30, insert=[bypass, taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    assert "caching at APPLY_MODEL instead" in result.log_text
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 30 and skipped >= 8 and result.calls == [computed]
    assert torch.isfinite(result.latent).all()
    # the noise estimate is recovered exactly: the fallback predicts like the DIFFUSION_MODEL path
    direct = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, insert=[taocache(**PERMISSIVE)])).raise_for_status()
    assert summary_counts(direct.log_text) == (computed, skipped, total)
    assert torch.allclose(result.latent, direct.latent, atol=1e-3, rtol=1e-3)


NO_PROFILE_PLAN = "none, plan to target_speedup"


def test_without_a_profile_target_speedup_plans_its_skips_evenly_over_the_window(comfy_inprocess):
    """profile 'none, plan to target_speedup': the speedup is fixed before the run (no calibration,
    no gates): exactly target_speedup's count of skips, all inside the window, evenly spaced; the
    node says so, and names the inputs set that the plan does not use (a gate; plan_mode error, which
    needs a profile's calibrated errors)."""
    built = harness.wan_t2v_graph(steps=30, insert=[taocache(profile=NO_PROFILE_PLAN, target_speedup=1.5,
                                                             cos_threshold=0.9, plan_mode="error")])
    result = comfy_inprocess.run(built).raise_for_status()
    assert summary_counts(result.log_text) == (20, 10, 30)
    assert result.calls == [20], "reported computed calls must equal real forward calls"
    match = re.search(r"no profile: speedup mode, target 1\.50x, spread over the window, no calibration: skips steps "
                      r"([\d,]+) \(planned 1\.50x, no calibrated error to expect\)", result.log_text)
    assert match, result.log_text[-1500:]
    planned = [int(v) for v in match.group(1).split(",")]
    report = report_of(result)
    skipped_sigmas = [c["sigma"] for c in report["calls"] if c["skipped"]]
    start_sigma, end_sigma = report["window_sigmas"]
    assert len(skipped_sigmas) == 10 and all(end_sigma < s <= start_sigma for s in skipped_sigmas)
    gaps = [b - a for a, b in zip(planned, planned[1:])]
    assert min(gaps) >= 2 and max(gaps) - min(gaps) <= 1  # max_consecutive_skips 1, evenly spaced
    assert ("not used in this run: cos_threshold 0.9, plan_mode error (without a profile the plan spreads "
            "target_speedup's skips over the window)") in result.log_text
    assert any("no profile: speedup mode" in text for text in result.texts_for(built.inserted[0]))
    online = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, insert=[taocache()])).raise_for_status()
    assert summary_counts(online.log_text)[1] == 0, "the tiny random model never opens the default gates online"


@pytest.mark.parametrize("narrowed,fix", [(dict(start_percent=0.6), "lower start_percent"),
                                          # start_percent already 0: only the range holds the steps
                                          (dict(start_percent=0.0, compute_ranges="0.1-0.8"), "shorten compute_ranges")])
def test_without_a_profile_a_window_too_narrow_for_the_target_plans_fewer_and_says_why(comfy_inprocess, narrowed, fix):
    """Too few skippable steps: the plan holds what fits and the node says what would make room (a
    wider window only where the window leaves steps out, a shorter compute range where the range
    does; more skips in a row)."""
    built = harness.wan_t2v_graph(steps=30, insert=[taocache(profile=NO_PROFILE_PLAN, target_speedup=2.0, **narrowed)])
    result = comfy_inprocess.run(built).raise_for_status()
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 30 and 0 < skipped < 15 and result.calls == [computed]
    assert re.search(rf"2\.00x needs 15 skips; {skipped} fit in the window's \d+ skippable steps \(the first 3 and the "
                     rf"last 2 steps are computed\) at max_consecutive_skips 1: {fix} or raise "
                     rf"max_consecutive_skips", result.log_text), result.log_text[-1500:]
    if "compute_ranges" in narrowed:
        return
    opened = harness.wan_t2v_graph(steps=10, insert=[taocache(profile=NO_PROFILE_PLAN, target_speedup=1.5,
                                                              start_percent=0.0)])
    result = comfy_inprocess.run(opened).raise_for_status()
    assert summary_counts(result.log_text) == (7, 3, 10)  # steps 3, 5, 7 of 3-7
    assert ("1.50x needs 4 skips; 3 fit in the window's 5 skippable steps (the first 3 and the last 2 steps are "
            "computed) at max_consecutive_skips 1: raise max_consecutive_skips") in result.log_text


@pytest.mark.parametrize("sampler, computed_call, first", [("heun", -1, 6), ("sa_solver_pece", 1, 6), ("dpm_2", 1, 7)])
def test_a_plan_on_a_sampler_that_calls_each_level_twice_skips_one_call_at_each_planned_level(
        comfy_inprocess, sampler, computed_call, first):
    """heun calls the model twice per step, the second time at the next step's noise level, so a
    level is called twice (the correction of the step before, then the step itself); sa_solver_pece
    calls each step's level twice (the predictor's state, then the corrected one). A planned step
    skips one of the two: heun's second, predicted from the output just computed at that level
    (skipping both scored 19-20 dB lower on our test model), sa_solver_pece's first, so the evaluation
    the next step builds on stays exact (skipping its second makes the step a plain sa_solver step:
    7-13 dB lower from 1.4x on, results/sa_solver_pece_plan_20_steps/). dpm_2 calls the step's level,
    then a midpoint before the next level: the level's call is skipped, the midpoint computes
    (results/midpoint_plan_20_steps/). The plan counts calls: 1.5x of
    39 calls needs 13, the default window holds 12 levels (steps 6-17, in a row: no two calls in a
    row are skipped), 1.44x, and says so (dpm_2's schedule drops the penultimate sigma, as
    KSampler.calculate_sigmas does for it, so its window starts a step later: 11 levels, 1.39x).
    computed_call: where the step's computed call is, from the skipped one (at the same level, or
    dpm_2's midpoint, less than a step away)."""
    built = harness.wan_t2v_graph(steps=20, sampler=sampler, insert=[taocache(profile=NO_PROFILE_PLAN)])
    result = comfy_inprocess.run(built).raise_for_status()
    planned = list(range(first, 18))
    listed = ",".join(map(str, planned))
    assert f"skips steps {listed} (planned {39 / (39 - len(planned)):.2f}x" in result.log_text, result.log_text[-1500:]
    assert (f"1.50x needs 13 skipped calls; {len(planned)} fit: this sampler calls the model twice per step"
            in result.log_text)
    assert summary_counts(result.log_text) == (39 - len(planned), len(planned), 39)
    assert result.calls == [39 - len(planned)]
    (report,) = result.events("taocache.report")
    calls = report["calls"]
    skipped = [i for i, call in enumerate(calls) if call["skipped"]]
    assert [calls[i]["step"] for i in skipped] == planned
    assert all(abs(calls[i + computed_call]["step"] - calls[i]["step"]) < 1 and not calls[i + computed_call]["skipped"]
               for i in skipped), "each skip has the step's other call computed, on the sampler's side"
    assert "of the planned" not in result.log_text


@pytest.mark.parametrize("sampler, calls_per_step", [
    ("heun", 2), ("sa_solver_pece", 2), ("dpm_2", 2), ("dpm_2_ancestral", 2), ("dpmpp_2s_ancestral", 2),
    ("dpmpp_sde", 2), ("seeds_2", 2), ("seeds_3", 3)])
def test_past_one_call_per_step_a_plan_at_max_consecutive_skips_2_skips_every_call_of_some_steps(
        comfy_inprocess, sampler, calls_per_step):
    """One call per planned step caps these samplers (heun at 20 steps: 1.62x with the window open). At
    max_consecutive_skips 2 the plan also skips every call of some planned steps (at the level, and
    between it and the next), no two of them adjacent, and reaches the target in real calls; each
    other planned step still skips one call. On our test model this scored 7-18 dB above running
    fewer steps at the same call ratio (results/whole_steps_20_steps/)."""
    built = harness.wan_t2v_graph(steps=20, sampler=sampler, insert=[taocache(
        profile=NO_PROFILE_PLAN, target_speedup=2.0, start_percent=0.0, max_consecutive_skips=2)])
    result = comfy_inprocess.run(built).raise_for_status()
    match = re.search(r"skips steps ([\d,]+), every call at steps ([\d,]+) \(planned ([\d.]+)x", result.log_text)
    assert match, result.log_text[-1500:]
    steps = {int(i) for i in match.group(1).split(",")}
    whole = {int(i) for i in match.group(2).split(",")}
    assert whole <= steps and all(i + 1 not in whole for i in whole)
    computed, skipped, total = summary_counts(result.log_text)
    assert skipped == len(steps) + (calls_per_step - 1) * len(whole) and result.calls == [computed]
    assert total / computed >= 2.0 - 1e-3 and float(match.group(3)) == pytest.approx(total / computed, abs=0.005)
    (report,) = result.events("taocache.report")
    for call in report["calls"]:
        step = round(call["step"]) if abs(call["step"] - round(call["step"])) < 1e-3 else int(call["step"])
        if step in whole:
            assert call["skipped"], call
    assert "of the planned" not in result.log_text


def test_a_plan_on_seeds_3_counts_its_three_calls_per_step(comfy_inprocess):
    """seeds_3 calls the model three times per step: at the step's level, then at two points before
    the next level. A planned step skips the level's call and the two after it compute; the plan
    counts calls (58 at 20 steps), so 1.5x needs 20 and the default window's 12 levels give 1.26x,
    which the summary says (before, it counted steps and reached 1.12x of a planned 1.43x)."""
    built = harness.wan_t2v_graph(steps=20, sampler="seeds_3", insert=[taocache(profile=NO_PROFILE_PLAN)])
    result = comfy_inprocess.run(built).raise_for_status()
    planned = list(range(6, 18))
    assert f"skips steps {','.join(map(str, planned))} (planned {58 / 46:.2f}x" in result.log_text, result.log_text[-1500:]
    assert ("1.50x needs 20 skipped calls; 12 fit: this sampler calls the model three times per step and a planned "
            "step skips one of them") in result.log_text
    assert summary_counts(result.log_text) == (46, 12, 58) and result.calls == [46]
    (report,) = result.events("taocache.report")
    calls = report["calls"]
    skipped = [i for i, call in enumerate(calls) if call["skipped"]]
    assert [calls[i]["step"] for i in skipped] == planned
    assert all(not calls[i + n]["skipped"] and 0 < calls[i + n]["step"] - calls[i]["step"] < 1
               for i in skipped for n in (1, 2)), "the step's two later calls compute"
    assert "of the planned" not in result.log_text


def other_pack_sampler_run(comfy_inprocess, calls, twin=None, **tao):
    """A planned run (no profile, target 1.5, or `tao`'s inputs) on TaoTestOtherPackSampler: a sampler
    from another pack, under a name the pack does not know; or, with `twin`, on that KSampler sampler
    (KSamplerSelect)."""
    from test_robustness_samplers import custom_sampler_graph
    built = custom_sampler_graph(lambda model: {"class_type": "BasicScheduler", "inputs": {
        "model": model, "scheduler": "simple", "steps": 20, "denoise": 1.0}}, steps=20,
        insert=[taocache(**{"profile": NO_PROFILE_PLAN, **tao})])
    built.prompt["62"] = ({"class_type": "KSamplerSelect", "inputs": {"sampler_name": twin}} if twin else
                          {"class_type": "TaoTestOtherPackSampler", "inputs": {"calls": calls}})
    return comfy_inprocess.run(built).raise_for_status()


@pytest.mark.parametrize("calls, total, computed_call, skipped_call, times", [
    ("three_stage", 58, 1, "first", "three times"), ("heun", 39, -1, "second", "twice")])
def test_a_plan_on_a_sampler_the_pack_does_not_know_learns_its_calls_per_step(comfy_inprocess, calls, total,
                                                                            computed_call, skipped_call, times):
    """A sampler from another pack (seeds_3's or heun's calls under a name the pack does not know, as
    RES4LYF's multistage samplers would be): the plan is made for one call per step, and the warm-up
    (the first 3 steps, always computed) shows how many calls a step makes; before the first planned
    step the plan is made again for them, skipping the call their ComfyUI twin skips (the level's
    first call where the others follow it, the second where the next step calls the level again),
    and the summary says so: the result is the known sampler's planned run, bit for bit. Before, the
    plan fell short (1.12x of 1.43x on the seeds_3 calls) and said only that."""
    result = other_pack_sampler_run(comfy_inprocess, calls)
    twin = other_pack_sampler_run(comfy_inprocess, calls, twin="seeds_3" if calls == "three_stage" else calls)
    assert torch.equal(result.latent, twin.latent), "the learned plan skips what the known sampler's plan skips"
    planned = list(range(6, 18))
    assert summary_counts(result.log_text) == (total - 12, 12, total) and result.calls == [total - 12]
    assert f"skips steps {','.join(map(str, planned))} (planned {total / (total - 12):.2f}x" in result.log_text
    assert (f"this sampler called the model {times} per step in its first 3 steps "
            f"({9 if calls == 'three_stage' else 5} calls), so the plan counts calls and skips the {skipped_call} "
            f"call at a planned step") in result.log_text, result.log_text[-2000:]
    (report,) = result.events("taocache.report")
    rows = report["calls"]
    skipped = [i for i, call in enumerate(rows) if call["skipped"]]
    assert [rows[i]["step"] for i in skipped] == planned
    assert all(not rows[i + computed_call]["skipped"] and abs(rows[i + computed_call]["step"] - rows[i]["step"]) < 1
               for i in skipped)
    assert "of the planned" not in result.log_text
    assert report["summary"].count("skips steps") == 1, "the plan made again replaces the first one in the summary"


def test_a_plan_on_a_sampler_whose_calls_change_after_the_warm_up_says_what_it_reached(comfy_inprocess):
    """A sampler that calls the model once per step in its warm-up and three times per step later
    (euler, then seeds_3's calls, under a name the pack does not know): the plan stays one call per
    step, its later calls between the levels compute, and the summary says the planned ratio was not
    reached and why, instead of leaving the user to wonder."""
    result = other_pack_sampler_run(comfy_inprocess, "one_then_three")
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 6 + 3 * 14 - 2 and skipped > 0 and result.calls == [computed]
    assert "called the model" not in result.log_text
    assert re.search(rf"reached {total / computed:.2f}x of the planned 1\.43x: this sampler made {total} calls for "
                     rf"20 steps, and a plan skips whole steps", result.log_text), result.log_text[-1500:]


@pytest.mark.parametrize("sampler", ["dpm_fast", "dpm_adaptive"])
def test_a_plan_on_a_sampler_with_noise_levels_of_its_own_says_why_nothing_was_skipped(comfy_inprocess, sampler):
    """dpm_fast and dpm_adaptive ignore the schedule's steps and call the model at noise levels they
    choose, so no call is at a planned step's level and a plan skips nothing. The summary says so and
    points to profile none, whose gates skip at any noise level (checked here too)."""
    built = harness.wan_t2v_graph(steps=20, sampler=sampler, insert=[taocache(profile=NO_PROFILE_PLAN)])
    result = comfy_inprocess.run(built).raise_for_status()
    computed, skipped, total = summary_counts(result.log_text)
    assert skipped == 0 and result.calls == [total]
    assert "nothing skipped: no call was at a planned step's noise level" in result.log_text
    assert "to skip anyway" not in result.log_text  # that hint is for gates that never opened
    assert re.search(rf"reached 1\.00x of the planned 1\.43x: this sampler chose noise levels of its own \(\d+ of its "
                     rf"{total} calls fell between the schedule's steps\).*use profile none", result.log_text), \
        result.log_text[-1500:]
    online = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, sampler=sampler, insert=[taocache(**PERMISSIVE)]))
    computed, skipped, total = summary_counts(online.raise_for_status().log_text)
    assert skipped > 0 and online.calls == [computed]


def test_a_run_that_cannot_skip_plans_nothing_and_says_only_why(comfy_inprocess):
    """max_consecutive_skips 0 (the Compare template's timing node) or too few steps: no plan is
    announced that the run will not follow."""
    for node, steps, why in ((taocache(profile=NO_PROFILE_PLAN, max_consecutive_skips=0), 30, "max_consecutive_skips is 0"),
                             (taocache(profile=NO_PROFILE_PLAN), 8, "too few steps")):
        result = comfy_inprocess.run(harness.wan_t2v_graph(steps=steps, insert=[node])).raise_for_status()
        assert summary_counts(result.log_text) == (steps, 0, steps) and why in result.log_text
        assert "skips steps" not in result.log_text


@pytest.mark.parametrize("calls, twin", [("three_stage", "seeds_3"), ("heun", "heun")])
def test_a_learned_plan_past_one_call_per_step_is_the_known_samplers_bit_for_bit(comfy_inprocess, calls, twin):
    """At max_consecutive_skips 2 and target 2.0 the plan made again for the learned calls per step
    also skips every call of some steps, as the known sampler's plan does: the same run, bit for bit."""
    tao = dict(target_speedup=2.0, start_percent=0.0, max_consecutive_skips=2)
    learned, known = other_pack_sampler_run(comfy_inprocess, calls, **tao), other_pack_sampler_run(
        comfy_inprocess, None, twin=twin, **tao)
    assert summary_counts(learned.log_text) == summary_counts(known.log_text)
    assert summary_counts(known.log_text)[2] / summary_counts(known.log_text)[0] >= 2.0 - 1e-3
    assert torch.equal(learned.latent, known.latent)
