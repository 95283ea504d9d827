"""Mechanisms of the newest ComfyUI (Comfy-Org/ComfyUI 0.38.1) that the 0.3.75 test runtime lacks,
reproduced with the test-only nodes of tests/support/custom_nodes/taotest_newest_nodes.py (each
docstring there names the function it mirrors), with TaoCache running through them:

- packed multi-stream models (LTX-2 audio-video, comfy/ldm/lightricks/av_model.py; MiniMax H3;
  TripoSplat): the DIFFUSION_MODEL wrapper receives [video, audio] or [video], as
  BaseModel._apply_model hands it over after comfy.utils.unpack_latents;
- the multi-GPU CFG split (comfy/samplers.py _calc_cond_batch_multigpu, core node MultiGPU_WorkUnits):
  cond and uncond on two worker threads at once, inside one CALC_COND_BATCH;
- causal Wan (comfy/ldm/wan/ar_model.py): `ar_state` in transformer_options and no DIFFUSION_MODEL
  wrapper point;
- the KSampler samplers exp_heun_2_x0 and exp_heun_2_x0_sde (comfy/k_diffusion/sampling.py): the
  runtime's sample_seeds_2 with r=1, whose second call of a step lands on the next step's noise level
  through logSNR, a hair off it.
"""
import json

import pytest
import torch

from taocache import CalibrationRecorder, Schedule, TaoCacheConfig
from robustness_helpers import PERMISSIVE, check_result, check_run, graph, one_torch_thread, reports, skipped_steps, taocache

assert one_torch_thread  # fixture, imported to be found here

NEVER = dict(norm_ratio_threshold=0.0)
STEPS = 20
# On the random-weight tiny Wan with a negative prompt unlike the positive one (seed 5, scale 3), this
# cosine gate passes for one branch and fails for the other at some steps (steps 12 and 13 at the time
# of writing): a per-call decision would then skip cond and compute uncond of the same step.
GATED = dict(cos_threshold=-0.3, norm_ratio_threshold=10.0, max_consecutive_skips=2)


def streams(layout, side):
    return ("TaoTestPackedStreams", {"side": side, "layout": layout})


def audio_calls(comfy_inprocess):
    return comfy_inprocess.node_class_mappings["TaoTestPackedStreams"].calls


def run_streams(comfy_inprocess, layout, tao=None, split_batches=False, steps=STEPS):
    """Outer stream wrapper, [TaoCache], inner stream wrapper: the pack sees exactly the list
    interface. Returns (result, the audio output of every model call)."""
    insert = [streams(layout, "outer")] + ([tao] if tao else []) + [streams(layout, "inner")]
    if split_batches:  # one conditioning per call (batch 1), as MiniMax H3 runs
        insert.append(("TaoTestSplitBatches", {}))
    calls = audio_calls(comfy_inprocess)
    calls.clear()
    result = comfy_inprocess.run(graph(steps=steps, cfg=5.0, insert=insert)).raise_for_status()
    return result, list(calls)


@pytest.mark.parametrize("layout", ["video_audio", "video", "video_audio_tuple", "video_audio_rescaled"])
def test_packed_streams_never_skip_is_bit_identical(comfy_inprocess, layout):
    plain, plain_audio = run_streams(comfy_inprocess, layout)
    cached, cached_audio = run_streams(comfy_inprocess, layout, taocache(**NEVER))
    assert torch.equal(cached.latent, plain.latent)
    (report,) = reports(cached)
    check_run(report, cached.calls[0])
    assert report["skipped"] == 0 and report["total"] == STEPS
    assert len(cached_audio) == len(plain_audio) == (0 if layout == "video" else STEPS)
    for a, b in zip(cached_audio, plain_audio):
        assert torch.equal(a["audio"], b["audio"])


@pytest.mark.parametrize("layout,split_batches", [("video_audio", False), ("video", False), ("video_audio", True),
                                                  ("video_audio_tuple", False), ("video_audio_rescaled", True)])
def test_packed_streams_skip_in_the_window_with_real_counts_and_structure(comfy_inprocess, layout, split_batches):
    """Skips only in the window, reported computed calls equal the real forward calls, and the
    structure, shapes and dtypes each caller gets back are the model's (the outer test wrapper
    raises otherwise, which fails the run); the caller's tensors are never changed in place. Also
    a list in and a tuple out (the newest Kandinsky 6), and a caller that replaces the audio in
    the list it got back (MiniMax H3, batch 1 per call): a skip hands back a list of its own."""
    full, full_audio = run_streams(comfy_inprocess, layout, split_batches=split_batches)
    result, audio = run_streams(comfy_inprocess, layout, taocache(**PERMISSIVE), split_batches=split_batches)
    (report,) = check_result(result, min_skipped=4)
    calls_per_step = 2 if split_batches else 1
    assert report["total"] == STEPS * calls_per_step
    if layout == "video":
        return
    assert len(audio) == report["total"]  # the outer wrapper saw every call, skipped ones too
    assert all(a["audio"].dtype == torch.bfloat16 and torch.isfinite(a["audio"].float()).all() for a in audio)
    # the audio of a skipped call is predicted from the audio stream's own history: closer to the full
    # run's audio at that step than the last computed audio is (what plain reuse would return)
    rows = report["calls"]
    better = 0
    skipped_rows = [i for i, row in enumerate(rows) if row["skipped"]]
    for i in skipped_rows:
        last = max(j for j in range(i) if not rows[j]["skipped"] and rows[j]["step"] < rows[i]["step"])
        truth = full_audio[i]["audio"].float()
        predicted_error = (audio[i]["audio"].float() - truth).norm()
        reuse_error = (audio[last]["audio"].float() - truth).norm()
        better += bool(predicted_error < reuse_error)
    assert better >= 0.75 * len(skipped_rows), f"{better} of {len(skipped_rows)} audio predictions beat reuse"


def test_the_summary_names_the_stream_that_held_skips_back(comfy_inprocess):
    """An online run skips a call only when every branch and stream passes the gates. When the audio
    stream of an audio-video model is what fails them (here an audio output whose sign flips at every
    step), the summary, the log and the node say so by name, and the video stream is not blamed; the
    same gates with a smooth audio stream skip."""
    gates = taocache(cos_threshold=-0.7, norm_ratio_threshold=10.0, max_consecutive_skips=2)
    smooth, _ = run_streams(comfy_inprocess, "video_audio", gates)
    (smooth_report,) = check_result(smooth, min_skipped=4)
    assert "held back" not in smooth_report["summary"]

    built = graph(steps=STEPS, cfg=5.0, insert=[streams("video_jittery_audio", "outer"), gates,
                                                streams("video_jittery_audio", "inner")])
    result = comfy_inprocess.run(built).raise_for_status()
    (report,) = check_result(result, min_skipped=0)
    gated = [call for call in report["calls"] if call["reason"] == "cos below threshold"]
    assert report["skipped"] == 0 and len(gated) >= 10
    assert all(sorted(call["held_by"]) == ["cond stream 1", "uncond stream 1"] for call in gated)
    assert all(call["c"] < -0.7 for call in gated)  # the statistics shown are the failing stream's
    held = f"the gates held back {len(gated)} calls, failing on "
    assert held in report["summary"] and "stream 0" not in report["summary"]
    assert any(held in line for line in result.log_lines)
    assert any(held in text for text in result.texts_for(built.inserted[1]))


def test_streams_the_pack_cannot_key_turn_caching_off_with_a_message(comfy_inprocess):
    """[video, audio] whose audio has another batch size than the video: no per-branch split exists."""
    built = graph(steps=STEPS, cfg=5.0, insert=[streams("mismatched_batch", "outer"), taocache(**PERMISSIVE),
                                                streams("mismatched_batch", "inner")])
    result = comfy_inprocess.run(built).raise_for_status()
    (report,) = check_result(result, min_skipped=0)
    assert report["skipped"] == 0 and report["computed"] == result.calls[0] == STEPS
    assert "different batch sizes" in report["summary"] and "cannot key" in report["summary"]
    assert any("caching off for the rest of this run" in line for line in result.log_lines)
    assert any("cannot key" in text for text in result.texts_for(built.inserted[1]))


def calibrate_streams(comfy_inprocess, layout, name, seed, trial_speedups="", split_batches=False):
    """TaoCache Calibrate between the outer and inner stream wrappers: it sees the model's list."""
    calibrate = ("TaoCacheCalibrate", {"profile_name": name, "trial_speedups": trial_speedups})
    insert = [streams(layout, "outer"), calibrate, streams(layout, "inner")]
    if split_batches:  # one conditioning per call (batch 1), as MiniMax H3 runs
        insert.append(("TaoTestSplitBatches", {}))
    built = graph(steps=STEPS, cfg=5.0, seed=seed, insert=insert)
    calls = audio_calls(comfy_inprocess)
    calls.clear()
    result = comfy_inprocess.run(built).raise_for_status()
    return result, list(calls), result.texts_for(built.inserted[1])


def test_packed_streams_calibrate_each_stream_and_plan_from_the_profile(comfy_inprocess, comfy_base):
    """TaoCache Calibrate on [video, audio]: every stream of every branch is recorded with its own
    history, as a cached run keeps it ("cond stream 1": cond's audio), and its samples are the
    fixed-point predictor's one-step errors on that stream's outputs (recomputed here from the audio
    the outer wrapper saw); placement trials run; a TaoCache node then plans from the profile and
    reaches its target on the same streams."""
    name = "tiny_packed_streams"
    path = comfy_base.path / "models" / "taocache_profiles" / f"{name}.json"
    path.unlink(missing_ok=True)
    first, first_audio, _ = calibrate_streams(comfy_inprocess, "video_audio", name, seed=31)
    assert first.calls[0] == STEPS
    run = json.loads(path.read_text())["runs"][0]
    by_branch: dict = {}
    for sample in run["samples"]:
        by_branch.setdefault(sample["branch"], []).append(sample)
    assert sorted(by_branch) == ["cond stream 0", "cond stream 1", "uncond stream 0", "uncond stream 1"]
    assert all(len(samples) == STEPS for samples in by_branch.values())

    schedule = Schedule(run["metadata"]["sigmas"], float("inf"), float("-inf"))
    recorder = CalibrationRecorder(q_max=TaoCacheConfig().q_max)
    for call in first_audio[:STEPS]:  # the full run's calls (the trials come after)
        for position, chunk in enumerate(call["audio"].chunk(2, dim=0)):
            recorder.observe(position, "audio", call["sigma"], schedule.position(call["sigma"]), chunk)
    expected = sorted(s["error"] for s in recorder.close() if s["error"] is not None)
    audio = sorted(s["error"] for b in ("cond stream 1", "uncond stream 1") for s in by_branch[b] if s["error"] is not None)
    video = sorted(s["error"] for b in ("cond stream 0", "uncond stream 0") for s in by_branch[b] if s["error"] is not None)
    assert len(expected) == 2 * (STEPS - 3) and audio == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert video != pytest.approx(audio, rel=1e-2), "the video stream has its own samples"

    second, _, texts = calibrate_streams(comfy_inprocess, "video_audio", name, seed=32, trial_speedups="1.5")
    assert any("now holds 2 run(s)" in t and "placement trials added" in t for t in texts), texts
    data = json.loads(path.read_text())
    assert {t["run"] for t in data["trials"]} == {1} and all(0 < t["error"] < 1 for t in data["trials"])

    node = taocache(profile=f"{name}.json", target_speedup=1.5, start_percent=0.0, end_percent=1.0,
                    max_consecutive_skips=2)
    result, _ = run_streams(comfy_inprocess, "video_audio", node)
    (report,) = check_result(result, min_skipped=1)
    assert report["total"] / report["computed"] >= 1.45 and "chosen by trial" in result.log_text


@pytest.mark.parametrize("layout,split_batches", [("video_audio_rescaled", True), ("video_audio_tuple", False)],
                         ids=["minimax_h3", "kandinsky6"])
def test_packed_streams_of_other_forms_calibrate_each_branch_and_stream(comfy_inprocess, comfy_base, layout,
                                                                        split_batches):
    """MiniMax H3 runs cond and uncond as two calls of batch 1 and replaces the audio in the list the
    wrapper returned; Kandinsky 6 returns a tuple: the same four branches, each sampled once per step."""
    name = f"tiny_packed_streams_{layout}"
    path = comfy_base.path / "models" / "taocache_profiles" / f"{name}.json"
    path.unlink(missing_ok=True)
    result, _, texts = calibrate_streams(comfy_inprocess, layout, name, seed=31, split_batches=split_batches)
    assert result.calls[0] == (2 if split_batches else 1) * STEPS and any("now holds 1 run(s)" in t for t in texts), texts
    samples = json.loads(path.read_text())["runs"][0]["samples"]
    counts: dict = {}
    for sample in samples:
        counts[sample["branch"]] = counts.get(sample["branch"], 0) + (sample["error"] is not None)
    assert counts == {name: STEPS - 3 for name in ("cond stream 0", "cond stream 1", "uncond stream 0", "uncond stream 1")}


def test_packed_streams_the_calibration_cannot_key_say_why_and_write_nothing(comfy_inprocess, comfy_base):
    name = "tiny_unkeyable_streams"
    path = comfy_base.path / "models" / "taocache_profiles" / f"{name}.json"
    path.unlink(missing_ok=True)
    result, _, texts = calibrate_streams(comfy_inprocess, "mismatched_batch", name, seed=31)
    assert result.calls[0] == STEPS and not path.exists()
    assert any("nothing measurable in this run (cannot key this model's output: the streams of the model output "
               "have different batch sizes [2, 1])" in t for t in texts), texts


def two_devices(comfy_inprocess, threads, tao):
    built = graph(steps=STEPS, cfg=5.0, insert=[tao, ("TaoTestTwoDevices", {"threads": threads})])
    built.prompt[built.ids["negative"]]["inputs"].update(seed=5, scale=3.0)
    return comfy_inprocess.run(built).raise_for_status()


def assert_branches_agree(report, label):
    by_step: dict = {}
    for call in report["calls"]:
        by_step.setdefault(call["step"], set()).add(call["skipped"])
    disagree = sorted(step for step, kinds in by_step.items() if len(kinds) > 1)
    assert not disagree, f"{label}: cond and uncond disagreed at steps {disagree}"


def test_two_device_threads_never_skip_is_bit_identical(comfy_inprocess):
    plain = two_devices(comfy_inprocess, 2, ("TaoTestCountCalls", {}))  # any MODEL-in/MODEL-out node in its place
    cached = two_devices(comfy_inprocess, 2, taocache(**NEVER))
    assert torch.equal(cached.latent, plain.latent)
    (report,) = reports(cached)
    assert report["skipped"] == 0 and report["total"] == 2 * STEPS == cached.calls[0]


def test_two_device_threads_agree_and_repeat_the_single_thread_run_exactly(comfy_inprocess):
    """cond and uncond on two threads at once, 50 times: every run skips the same steps and gives the
    same output, bit for bit, as the run with the two parts one after the other; the two calls of a
    step always agree (also where only one branch passes the gate, see GATED); no report row is lost
    or doubled."""
    single = two_devices(comfy_inprocess, 1, taocache(**GATED))
    (reference,) = check_result(single, min_skipped=4)
    assert reference["total"] == 2 * STEPS
    assert_branches_agree(reference, "single thread")
    for repeat in range(50):
        result = two_devices(comfy_inprocess, 2, taocache(**GATED))
        (report,) = check_result(result, min_skipped=4)
        assert report["total"] == 2 * STEPS and report["computed"] == result.calls[0]
        steps = [call["step"] for call in report["calls"]]
        assert sorted(steps) == sorted([float(s) for s in range(STEPS)] * 2), f"repeat {repeat}: rows lost or doubled"
        assert_branches_agree(report, f"repeat {repeat}")
        assert skipped_steps(report) == skipped_steps(reference), f"repeat {repeat}"
        assert torch.equal(result.latent, single.latent), f"repeat {repeat}: output differs from the single-thread run"


def test_calibrate_with_two_device_threads_records_the_single_thread_profile(comfy_inprocess, comfy_base):
    """TaoCache Calibrate under the multi-GPU CFG split: cond and uncond recorded from two threads at
    once (LiveCalibration.lock), then placement trials through TaoCache on two threads. Three such runs
    each write the profile the one-thread run writes: the same samples (branch, noise level, r, c,
    error) and the same trials (speedups and errors)."""
    def profile(threads, name):
        path = comfy_base.path / "models" / "taocache_profiles" / f"{name}.json"
        path.unlink(missing_ok=True)
        result = two_devices(comfy_inprocess, threads, ("TaoCacheCalibrate", {"profile_name": name,
                                                                              "trial_speedups": "1.5"}))
        assert result.calls[0] == 2 * STEPS and len(result.calls) > 1, "a full run, then the trials"
        data = json.loads(path.read_text())
        samples = sorted(json.dumps(sample, sort_keys=True) for sample in data["runs"][0]["samples"])
        return samples, [(t["placement"], t["speedup"], t["error"]) for t in data["trials"]]

    single = profile(1, "taotest_one_thread")
    assert len(single[0]) == 2 * STEPS and single[1]
    for repeat in range(3):
        assert profile(2, f"taotest_two_threads_{repeat}") == single, f"repeat {repeat}"


@pytest.mark.parametrize("where", ["model", "per_call"])
def test_causal_wan_with_ar_state_stays_uncached_with_a_message(comfy_inprocess, where):
    causal = ("TaoTestCausalState", {"where": where})
    plain = comfy_inprocess.run(graph(steps=STEPS, cfg=5.0, insert=[causal])).raise_for_status()
    built = graph(steps=STEPS, cfg=5.0, insert=[causal, taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, plain.latent)
    (report,) = check_result(result, min_skipped=0)
    assert report["skipped"] == 0 and report["computed"] == result.calls[0] == STEPS
    assert "causal (autoregressive) Wan" in report["summary"]
    assert any("causal (autoregressive) Wan" in text for text in result.texts_for(built.inserted[1]))
    assert any("causal (autoregressive) Wan" in line for line in result.log_lines)


@pytest.mark.parametrize("where", ["model", "per_call"])
def test_calibrate_on_causal_wan_records_nothing_runs_no_trials_and_says_why(comfy_inprocess, comfy_base, where):
    """TaoCache stays off on a causal Wan, so a profile of it would never be used, and placement trials
    through TaoCache would each compute every call (before: six extra sampling runs at 1.00x, stored
    as trials). TaoCache Calibrate says so on the node and in the log and leaves the profile alone;
    the sampling is the plain run, bit for bit."""
    causal = ("TaoTestCausalState", {"where": where})
    plain = comfy_inprocess.run(graph(steps=STEPS, cfg=5.0, insert=[causal])).raise_for_status()
    name = f"taotest_causal_{where}"
    path = comfy_base.path / "models" / "taocache_profiles" / f"{name}.json"
    path.unlink(missing_ok=True)
    built = graph(steps=STEPS, cfg=5.0, insert=[causal, ("TaoCacheCalibrate", {"profile_name": name,
                                                                               "trial_speedups": "1.5"})])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, plain.latent) and result.calls == [STEPS], "no trial runs"
    assert not path.exists()
    said = "causal (autoregressive) Wan"
    assert any(said in text and "nothing to calibrate" in text for text in result.texts_for(built.inserted[1]))
    assert any(said in line and f"profile {name} unchanged" in line for line in result.log_lines)


def newest_sampler_graph(sampler_name, node):
    """SamplerCustomAdvanced over BasicScheduler (simple, STEPS) with TaoTestNewestSampler's sampler."""
    from test_robustness_samplers import custom_sampler_graph
    built = custom_sampler_graph(lambda model: {"class_type": "BasicScheduler", "inputs": {
        "model": model, "scheduler": "simple", "steps": STEPS, "denoise": 1.0}}, steps=STEPS, insert=[node])
    built.prompt["62"] = {"class_type": "TaoTestNewestSampler", "inputs": {"sampler_name": sampler_name}}
    return built


@pytest.mark.parametrize("sampler_name", ["exp_heun_2_x0", "exp_heun_2_x0_sde"])
def test_exp_heun_samplers_count_real_calls_and_a_plan_skips_both_calls_at_a_step(comfy_inprocess, sampler_name):
    """exp_heun_2_x0 calls the model at each step's level and again at the next step's, a few 1e-5
    steps off it (logSNR round trip). Those two calls are at one level: a plan skips the second, as on
    heun, and reaches its ratio (before, the second call counted as between two steps, and a 1.43x
    plan made 1.26x, the summary blaming midpoint calls). Online runs count every call; the SDE one is
    named stochastic."""
    online = comfy_inprocess.run(newest_sampler_graph(sampler_name, taocache(**PERMISSIVE)))
    (report,) = check_result(online)
    assert report["total"] == 2 * STEPS - 1
    assert all(call["step"] == round(call["step"]) for call in report["calls"][1:]), "every call at a step's level"
    assert (f"stochastic sampler {sampler_name}" in report["summary"]) == sampler_name.endswith("_sde")

    planned = comfy_inprocess.run(newest_sampler_graph(sampler_name, taocache(profile="none, plan to target_speedup")))
    (report,) = check_result(planned)
    assert "skips steps 6,7,8,9,10,11,12,13,14,15,16,17 (planned 1.44x" in report["summary"], report["summary"]
    assert (report["computed"], report["skipped"], report["total"]) == (27, 12, 39)  # 1.44x, as on heun
    assert [call["step"] for call in report["calls"] if call["skipped"]] == list(range(6, 18))
    assert "of the planned" not in report["summary"]
