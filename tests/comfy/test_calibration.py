"""TaoCache Calibrate and profiles in a real ComfyUI: record, accumulate, plan to a target speedup,
and the messages for a corrupt profile or one from another model class."""
import json
import re

import pytest
import torch

import harness
from taocache import Profile
from taocache import placement as placements
from test_taocache_node import PERMISSIVE, SUMMARY, summary_counts, taocache


def calibrate(name):
    return ("TaoCacheCalibrate", {"profile_name": name})


def profile_file(base, name):
    return base.path / "models" / "taocache_profiles" / f"{name}.json"


@pytest.fixture(scope="module")
def wan_profile(comfy_inprocess, comfy_base):
    """Two calibration runs (two seeds, 50 steps) of the tiny Wan2.1 model into one profile."""
    name = "tiny_wan_test"
    profile_file(comfy_base, name).unlink(missing_ok=True)
    results = [comfy_inprocess.run(harness.wan_t2v_graph(steps=50, seed=seed, insert=[calibrate(name)]))
               for seed in (11, 12)]
    for result in results:
        result.raise_for_status()
    return name, results


def test_calibration_accumulates_runs_into_one_file(wan_profile, comfy_base):
    name, results = wan_profile
    data = json.loads(profile_file(comfy_base, name).read_text())
    assert data["format"] == "taocache-profile" and len(data["runs"]) == 2
    meta = data["metadata"]
    assert meta["model_class"] == "WAN21" and meta["steps"] == 50 and meta["sampler"] == "euler"
    assert meta["latent_shape"] == [1, 16, 3, 8, 8] and meta["runs"] == 2 and meta["pack_version"]
    assert results[0].calls == [50], "calibration computes every step"
    texts = results[1].texts_for("10")  # the calibrate node is the first inserted node
    assert any("now holds 2 run(s)" in t for t in texts)


def test_profile_with_target_speedup_reaches_it_within_one_step(wan_profile, comfy_inprocess):
    name, _ = wan_profile
    node = taocache(profile=f"{name}.json", target_speedup=1.5, max_consecutive_skips=2)
    result = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, seed=3, insert=[node])).raise_for_status()
    computed, skipped, total = summary_counts(result.log_text)
    assert total == 30 and abs(computed - 30 / 1.5) <= 1
    assert result.calls == [computed]
    assert re.search(r"profile tiny_wan_test\.json: speedup mode, target 1\.50x, whole greedy: skips steps [\d,]+ "
                     r"\(planned 1\.5\dx, expected error [\d.e-]+\)", result.log_text)


def test_profile_plans_over_the_whole_open_window_and_in_error_mode(wan_profile, comfy_inprocess):
    """With the window open (0 to 1) the plan may use early steps; error mode stays under its bound
    and a looser bound gives a larger speedup. The node text says which mode ran and what it planned."""
    name, _ = wan_profile
    speeds = []
    for bound in (0.0005, 0.02):
        node = taocache(profile=f"{name}.json", start_percent=0.0, end_percent=1.0, plan_mode="error",
                        target_error=bound, max_consecutive_skips=2)
        built = harness.wan_t2v_graph(steps=30, seed=3, insert=[node])
        result = comfy_inprocess.run(built).raise_for_status()
        computed, skipped, total = summary_counts(result.log_text)
        assert result.calls == [computed]
        match = re.search(r"error mode, error bound ([\d.]+): skips steps ([\d,]+|none) \(planned ([\d.]+)x, "
                          r"expected error ([\d.e-]+)\)", result.log_text)
        assert match, result.log_text[-1500:]
        assert float(match.group(4)) <= bound
        planned = [] if match.group(2) == "none" else [int(v) for v in match.group(2).split(",")]
        assert skipped == len(planned)
        assert any("error mode" in text for text in result.texts_for(built.inserted[0]))
        speeds.append((total / computed, planned))
    assert speeds[1][0] > speeds[0][0]
    assert min(speeds[1][1]) < 9, "an open window lets the plan skip before the late window (step 9 of 30)"


def test_a_model_without_the_diffusion_model_wrapper_point_calibrates_at_apply_model(comfy_inprocess, comfy_base):
    """Wan with its forward bypassing the DIFFUSION_MODEL wrapper point (as SD3's MMDiT and Mochi do)
    calibrates through the APPLY_MODEL fallback, on the noise estimate behind the denoised output: the
    same samples as through DIFFUSION_MODEL, up to float rounding (the estimate is recovered from
    x - sigma * noise)."""
    bypass = ("TaoTestBypassDiffusionWrapper", {})
    for name, insert in (("taotest_direct", [calibrate("taotest_direct")]),
                         ("taotest_bypass", [bypass, calibrate("taotest_bypass")])):
        profile_file(comfy_base, name).unlink(missing_ok=True)
        result = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, seed=11, insert=insert)).raise_for_status()
        assert result.calls == [30]
    direct, bypassed = (json.loads(profile_file(comfy_base, name).read_text())["runs"][0]["samples"]
                        for name in ("taotest_direct", "taotest_bypass"))
    assert [(s["sigma"], s["branch"]) for s in bypassed] == [(s["sigma"], s["branch"]) for s in direct]
    measured = [(a, b) for a, b in zip(direct, bypassed) if a["error"] is not None]
    assert len(measured) >= 50 and all(b["error"] is not None for _, b in measured)
    for a, b in measured:
        for key in ("r", "c", "error"):
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5), (key, a, b)


def test_corrupt_profile_is_reported_and_the_run_goes_on_online(comfy_inprocess, comfy_base):
    path = profile_file(comfy_base, "corrupt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": "taocache-profile", "version": 1, "runs": [{"samp')
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(profile="corrupt.json", **PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    texts = result.texts_for(built.inserted[0])
    assert any("profile corrupt.json is not valid JSON" in t and "running online" in t for t in texts)
    computed, skipped, _ = summary_counts(result.log_text)
    assert skipped > 0, "online mode still caches"


def test_profile_of_another_model_class_is_refused_naming_both(wan_profile, comfy_inprocess, comfy_base):
    name, _ = wan_profile
    other = profile_file(comfy_base, "from_wan21")
    other.write_text(profile_file(comfy_base, name).read_text())
    built = harness.wan22_ti2v_graph(steps=20, insert=[taocache(profile="from_wan21.json", **PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    texts = result.texts_for(built.inserted[0])
    assert any("calibrated on model class WAN21, this model is WAN22" in t for t in texts)
    assert SUMMARY.search(result.log_text)


def test_placement_trials_are_measured_out_of_sample_kept_and_followed(comfy_inprocess, comfy_base):
    """Calibrate with trial_speedups samples the seed again per placement and the profile keeps each
    trial's error and run. The first run tries the rule placements only; from the second run on the
    greedy ones too, planned from the other runs alone (a greedy trial on the same run it planned
    from would measure an oracle). The TaoCache node then plans with the best placement on the runs
    every placement was tried on, and running a plan reproduces its recorded error (recomputed here
    from the two latents)."""
    name = "tiny_wan_trials"
    profile_file(comfy_base, name).unlink(missing_ok=True)
    steps = 30
    node = ("TaoCacheCalibrate", {"profile_name": name, "trial_speedups": "1.5"})
    first = comfy_inprocess.run(harness.wan_t2v_graph(steps=steps, seed=20, insert=[node])).raise_for_status()
    data = json.loads(profile_file(comfy_base, name).read_text())
    rules = sorted(p for p in placements.PLACEMENTS if placements.is_rule(p))
    assert sorted(t["placement"] for t in data["trials"]) == rules and {t["run"] for t in data["trials"]} == {0}
    assert any("tried from the profile's second run on" in t for t in first.texts_for("10")), first.texts_for("10")
    run0 = dict(data, runs=data["runs"][:1], metadata=dict(data["metadata"], runs=1))
    del run0["trials"]

    seed = 21
    full = comfy_inprocess.run(harness.wan_t2v_graph(steps=steps, seed=seed, insert=[node])).raise_for_status()
    data = json.loads(profile_file(comfy_base, name).read_text())
    trials = [t for t in data["trials"] if t["run"] == 1]
    assert sorted(t["placement"] for t in trials) == sorted(placements.PLACEMENTS)
    assert all(t["steps"] == steps and t["target"] == 1.5 and t["speedup"] >= 1.47 for t in trials)
    assert all(0 < t["error"] < 1 for t in trials), trials
    distinct = len({t["error"] for t in trials})
    assert full.calls == [steps] + [round(steps / 1.5)] * distinct, "the full run, then each distinct plan once"
    assert any("placement trials added" in t for t in full.texts_for("10"))

    def error_of(result):
        a, b = result.latent.float(), full.latent.float()
        return float((a - b).norm() / b.norm())

    # out of sample: the whole-greedy trial on run 1 is the plan a profile of run 0 alone makes (the
    # node's default placement when a profile has no trials)
    profile_file(comfy_base, name + "_run0").write_text(json.dumps(run0))
    greedy = taocache(profile=f"{name}_run0.json", target_speedup=1.5, start_percent=0.0, end_percent=1.0,
                      max_consecutive_skips=2)
    alone = comfy_inprocess.run(harness.wan_t2v_graph(steps=steps, seed=seed, insert=[greedy])).raise_for_status()
    recorded = next(t["error"] for t in trials if t["placement"] == "whole greedy")
    assert error_of(alone) == pytest.approx(recorded, rel=1e-3, abs=1e-7)

    best, _ = placements.choose(Profile.from_dict(data).trials, steps, 1.5)
    node = taocache(profile=f"{name}.json", target_speedup=1.5, start_percent=0.0, end_percent=1.0,
                    max_consecutive_skips=2)
    fast = comfy_inprocess.run(harness.wan_t2v_graph(steps=steps, seed=seed, insert=[node])).raise_for_status()
    assert f"placement {best} chosen by trial" in fast.log_text and "paired" in fast.log_text, fast.log_text[-1500:]
    if placements.is_rule(best):  # a rule's plan is the trial's; a greedy one now plans from both runs
        recorded = next(t["error"] for t in trials if t["placement"] == best)
        assert error_of(fast) == pytest.approx(recorded, rel=1e-3, abs=1e-7)


def test_bad_trial_speedups_are_refused_naming_the_input(comfy_inprocess):
    node = ("TaoCacheCalibrate", {"profile_name": "never_written", "trial_speedups": "1.5, fast"})
    result = comfy_inprocess.run(harness.wan_t2v_graph(steps=12, seed=1, insert=[node]))
    assert result.error is not None
    assert "trial_speedups" in str(result.error) and "1.05 to 4.0" in str(result.error)


def test_wan22_a14b_each_expert_calibrates_its_own_profile_and_plans_with_it(comfy_inprocess, comfy_base):
    """Wan2.2 A14B's two experts (here two loads of the tiny Wan model) on two KSamplerAdvanced (0-12
    and 12-24 of 24 steps), each with its own TaoCache Calibrate: each profile holds only its expert's
    noise levels. Then each expert's TaoCache plans from its own profile to 1.5x over its own 12 steps
    and says so on its node."""
    from robustness_helpers import split_sampling

    def two_experts(seed, high_node, low_node):
        built = harness.wan_t2v_graph(steps=24, seed=seed, insert=[high_node])
        g = built.prompt
        g["20"] = {"class_type": "UNETLoader", "inputs": dict(g[built.ids["loader"]]["inputs"])}
        g["21"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["20", 0], "shift": 8.0}}
        g["22"] = {"class_type": low_node[0], "inputs": {**low_node[1], "model": ["21", 0]}}
        split_sampling(built, 24, 12, models=([built.ids["count"], 0], ["22", 0]))
        return built

    names = {"high": "a14b_high", "low": "a14b_low"}
    for name in names.values():
        profile_file(comfy_base, name).unlink(missing_ok=True)
    for seed in (40, 41):
        comfy_inprocess.run(two_experts(seed, calibrate(names["high"]), calibrate(names["low"]))).raise_for_status()
    sigmas = {}
    for expert, name in names.items():
        data = json.loads(profile_file(comfy_base, name).read_text())
        assert data["metadata"]["runs"] == 2
        sigmas[expert] = {sample["sigma"] for run in data["runs"] for sample in run["samples"]}
    assert min(sigmas["high"]) > max(sigmas["low"]), "each profile holds its own expert's noise levels only"

    planned = {expert: taocache(profile=f"{name}.json", target_speedup=1.5, start_percent=0.0, end_percent=1.0,
                                max_consecutive_skips=2) for expert, name in names.items()}
    built = two_experts(42, planned["high"], planned["low"])
    result = comfy_inprocess.run(built).raise_for_status()
    reports = result.events("taocache.report")
    assert [r["node"] for r in reports] == [built.inserted[0], "22"]
    for expert, report in zip(("high", "low"), reports):
        assert report["total"] == 12 and abs(report["computed"] - 12 / 1.5) <= 1, report["summary"]
        assert f"profile {names[expert]}.json: speedup mode, target 1.50x" in report["summary"]
        skipped = [call["sigma"] for call in report["calls"] if call["skipped"]]
        assert skipped and all(min(sigmas[expert]) - 1e-6 <= s <= max(sigmas[expert]) + 1e-6 for s in skipped)


@pytest.mark.parametrize("sampler", ["heun", "sa_solver_pece"])
def test_a_profile_calibrated_on_a_sampler_that_calls_each_level_twice_plans_in_calls(comfy_inprocess, comfy_base,
                                                                                        sampler):
    """heun and sa_solver_pece call the model twice per step. Their trials and the node's calibrated
    plans skip one call at a planned step's level (heun the second, sa_solver_pece the first) and
    count calls, so a trial's speedup is its ratio of calls and a 1.5x plan makes 1.5x in calls (13 of
    39). One call per step caps 20 steps at 1.62x; at max_consecutive_skips 2 (the trials' too) some
    planned steps skip both their calls, no two adjacent, so a 1.8x plan reaches 1.8x (18 of 39); a
    plan one call short (the placements held to the first 70 % of the steps, at 1.5x) stays at one
    call per step. At max_consecutive_skips 1 a 1.8x plan stops at one call per step and the note
    says what would make room."""
    name = f"tiny_wan_{sampler}_trials"
    profile_file(comfy_base, name).unlink(missing_ok=True)
    node = ("TaoCacheCalibrate", {"profile_name": name, "trial_speedups": "1.5"})
    for seed in (20, 21):
        full = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=seed, sampler=sampler, insert=[node]))
        assert full.raise_for_status().calls[0] == 39  # 20 steps, no correction after the last
    data = json.loads(profile_file(comfy_base, name).read_text())
    assert data["metadata"]["sampler"] == sampler and len(data["trials"]) == 4 + 6
    reached = {t["placement"] for t in data["trials"] if t["speedup"] >= 1.5 - 1e-3}
    assert "whole greedy" in reached, data["trials"]
    # one call short (the early/mid placements' 12 steps hold 12 of 13): one call per step, 1.44x
    assert all(t["placement"] in reached or round(39 / t["speedup"]) == 27 for t in data["trials"]), data["trials"]
    for trial in data["trials"]:
        assert round(39 / trial["speedup"]) == pytest.approx(39 / trial["speedup"], abs=0.01), trial  # calls

    notes = {}
    for target, k, skipped_calls in ((1.5, 2, 13), (1.8, 2, 18), (1.8, 1, None)):
        planned = taocache(profile=f"{name}.json", target_speedup=target, start_percent=0.0, end_percent=1.0,
                           max_consecutive_skips=k)
        result = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, seed=22, sampler=sampler, insert=[planned]))
        match = re.search(r"skips steps ([\d,]+)(?:, every call at steps ([\d,]+))? \(planned",
                          result.raise_for_status().log_text)
        steps = {int(i) for i in match.group(1).split(",")}
        whole = {int(i) for i in match.group(2).split(",")} if match.group(2) else set()
        if skipped_calls is None:  # the best placement by trial, as far as one call per step takes it
            assert not whole and len(steps) <= 15
            skipped_calls = len(steps)
        assert len(steps) + len(whole) == skipped_calls and whole <= steps
        assert all(i + 1 not in whole for i in whole)
        assert summary_counts(result.log_text) == (39 - skipped_calls, skipped_calls, 39)
        assert result.calls == [39 - skipped_calls] and "of the planned" not in result.log_text
        (report,) = result.events("taocache.report")
        calls, other = report["calls"], -1 if sampler == "heun" else 1  # the level's other call
        for i, call in enumerate(calls):
            if call["skipped"] and round(call["step"]) not in whole:
                assert calls[i + other]["step"] == call["step"] and not calls[i + other]["skipped"], calls
        at_whole = [c for c in calls if round(c["step"]) in whole]
        assert len(at_whole) == 2 * len(whole) and all(c["skipped"] for c in at_whole)
        notes[(target, k)] = result.log_text
    assert "cannot reach" not in notes[(1.5, 2)]
    assert re.search(r"cannot reach 1\.80x in (its|their) own steps at one call per step: this sampler calls the "
                     r"model twice per step \(max_consecutive_skips 2 lets a planned step skip every call of its "
                     r"step\); none reaches it", notes[(1.8, 1)]), notes[(1.8, 1)][-1500:]
    assert "opens it" not in notes[(1.8, 1)]


def test_calibration_trials_on_a_sampler_the_pack_does_not_know_learn_its_calls(comfy_inprocess, comfy_base):
    """Another pack's sampler (seeds_3's calls under a name the pack does not know): the first
    placement trial learns its calls per step from the warm-up (taocache/call_pattern.py) and the
    trials plan for them, so the profile holds the trials seeds_3 itself gets, speedups and errors."""
    from test_robustness_samplers import custom_sampler_graph
    trials = {}
    for label, sampler in (("other", {"class_type": "TaoTestOtherPackSampler", "inputs": {"calls": "three_stage"}}),
                           ("seeds_3", {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "seeds_3"}})):
        name = f"tiny_wan_{label}_pack_trials"
        profile_file(comfy_base, name).unlink(missing_ok=True)
        for seed in (20, 21):
            built = custom_sampler_graph(lambda model: {"class_type": "BasicScheduler", "inputs": {
                "model": model, "scheduler": "simple", "steps": 20, "denoise": 1.0}}, steps=20,
                insert=[("TaoCacheCalibrate", {"profile_name": name, "trial_speedups": "1.2"})])
            built.prompt["60"]["inputs"]["noise_seed"] = seed
            built.prompt["62"] = sampler
            assert comfy_inprocess.run(built).raise_for_status().calls[0] == 58
        trials[label] = json.loads(profile_file(comfy_base, name).read_text())["trials"]
    assert len(trials["other"]) == len(trials["seeds_3"]) == 4 + 6
    for mine, known in zip(trials["other"], trials["seeds_3"]):
        assert (mine["placement"], mine["speedup"]) == (known["placement"], known["speedup"])
        assert mine["error"] == pytest.approx(known["error"], rel=1e-6)
    # 10 of 58 calls skipped (1.21x in calls; planning for one call per step would skip 4 levels: 1.07x), but by
    # early alternate, whose alternating early steps hold fewer levels
    assert {round(58 / t["speedup"]) for t in trials["other"] if t["placement"] != "early alternate"} == {48}


def test_a_workflow_naming_a_profile_this_machine_lacks_runs_online_and_says_so(comfy_inprocess):
    """A workflow shared with its profile name, opened where that file does not exist: ComfyUI's own
    check ("Value not in list") would reject the whole prompt; TaoCache.validate_inputs takes the
    profile check over, so the prompt runs, online, exactly as with profile none, and the node says
    the profile was not found."""
    built = harness.wan_t2v_graph(steps=20, insert=[taocache(profile="shared_by_a_friend.json", **PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    expected = "TaoCache: profile shared_by_a_friend.json was not found in models/taocache_profiles; running online"
    assert expected in result.texts_for(built.inserted[0]) and expected in result.log_text
    online = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, insert=[taocache(profile="none", **PERMISSIVE)]))
    assert torch.equal(result.latent, online.raise_for_status().latent)
    with pytest.raises(harness.PromptValidationError, match="profile must be a profile file name"):
        comfy_inprocess.run(harness.wan_t2v_graph(steps=20, insert=[taocache(profile=3, **PERMISSIVE)]))


def test_inputs_that_do_not_apply_to_the_run_are_named_in_its_summary(wan_profile, comfy_inprocess):
    """Nothing set on the node is ignored silently: with a profile the plan decides the skips, so gates
    set away from their defaults are named; without one, so are the plan inputs. Defaults say nothing."""
    name, _ = wan_profile
    planned = harness.wan_t2v_graph(steps=30, insert=[taocache(profile=f"{name}.json", target_speedup=1.5,
                                                               cos_threshold=0.9, error_budget=0.1)])
    result = comfy_inprocess.run(planned).raise_for_status()
    expected = ("not used in this run: cos_threshold 0.9, error_budget 0.1 (the profile's plan decides which steps "
                "to skip)")
    summary = [t for t in result.texts_for(planned.inserted[0]) if t.startswith("TaoCache: computed")]
    assert summary and expected in summary[-1], summary
    online = harness.wan_t2v_graph(steps=30, insert=[taocache(target_speedup=2.0, plan_mode="error")])
    result = comfy_inprocess.run(online).raise_for_status()
    expected = ("not used in this run: target_speedup 2, plan_mode error (they plan from a calibration profile, "
                "and this run has none)")
    assert any(expected in t for t in result.texts_for(online.inserted[0])) and expected in result.log_text
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=30, insert=[taocache()])).raise_for_status()
    assert "not used in this run" not in plain.log_text
