"""Robustness in a real ComfyUI: faults during sampling (interrupt, an exception in the model, a NaN
output), many runs in a row, and bad input. A fault must leave no state behind; bad input must give a
message naming the input, on the node and in the log, and the run continues uncached (unless
ComfyUI's own validation rejects the graph, naming the input)."""
import gc
import math
import sys

import pytest
import torch

import harness
from robustness_helpers import (PERMISSIVE, branch_keys_per_run, check_result, check_run, graph, one_torch_thread,
                                reports, taocache)

assert one_torch_thread and branch_keys_per_run  # fixtures, imported to be found here

STEPS = 16


def fault(mode, at_call):
    return ("TaoTestFault", {"mode": mode, "at_call": at_call})


@pytest.fixture(scope="module")
def clean_run(comfy_inprocess):
    """The reference: the same TaoCache graph, without any fault."""
    return comfy_inprocess.run(graph(steps=STEPS, insert=[taocache(**PERMISSIVE)])).raise_for_status()


def assert_next_run_is_normal(comfy_inprocess, clean_run):
    again = comfy_inprocess.run(graph(steps=STEPS, insert=[taocache(**PERMISSIVE)]))
    (report,) = check_result(again)
    assert report["calls"] == reports(clean_run)[0]["calls"]
    assert torch.equal(again.latent, clean_run.latent)


def test_interrupted_run_leaves_no_state_and_the_next_run_is_normal(comfy_inprocess, clean_run, branch_keys_per_run):
    import comfy.model_management

    built = graph(steps=STEPS, insert=[taocache(**PERMISSIVE), fault("interrupt", 7)])
    result = comfy_inprocess.run(built)
    assert not result.success
    assert any(event == "execution_interrupted" for event, _ in result.status_messages)
    (report,) = reports(result)  # reported in `finally`, marked as stopped early
    # ComfyUI's ops check the interrupt flag, so the 7th forward stops inside the model: six
    # completed calls are reported, the seventh started and never returned
    assert report["computed"] == 6 and result.calls == [7] and report["total"] < STEPS
    assert any("(run stopped early)" in text for text in result.texts_for(built.inserted[0]))
    assert len(branch_keys_per_run) == 1, "the run's state was closed"
    assert not comfy.model_management.processing_interrupted()
    assert_next_run_is_normal(comfy_inprocess, clean_run)


def test_exception_in_the_model_propagates_unchanged(comfy_inprocess, clean_run, branch_keys_per_run):
    built = graph(steps=STEPS, insert=[taocache(**PERMISSIVE), fault("raise", 8)])
    result = comfy_inprocess.run(built)
    assert not result.success
    error = result.error
    assert error["exception_type"].endswith("TaoTestModelError")
    assert error["exception_message"].strip() == "taotest fault at call 8"  # ComfyUI appends a newline
    assert any("wrappers.py" in line for line in error["traceback"]), "raised through TaoCache's wrapper"
    (report,) = reports(result)
    # the 8th forward raised as it started (before the call counter's hook): 7 completed, 7 reported
    assert report["computed"] == 7 and result.calls == [7]
    assert any("(run stopped early)" in text for text in result.texts_for(built.inserted[0]))
    assert len(branch_keys_per_run) == 1
    assert_next_run_is_normal(comfy_inprocess, clean_run)


def test_nan_output_forces_computing(comfy_inprocess):
    """The model's output turns NaN at its 7th real call (inside the window, after skips began):
    from then on the outputs are NaN, the statistics are unusable, and every call computes."""
    result = comfy_inprocess.run(graph(steps=STEPS, insert=[taocache(**PERMISSIVE), fault("nan", 7)]))
    result.raise_for_status()
    (report,) = reports(result)
    check_run(report, result.calls[0])
    calls = report["calls"]
    nan_at = [i for i, call in enumerate(calls) if not call["skipped"]][6]  # the 7th computed call
    assert any(call["skipped"] for call in calls[:nan_at]), "skips had begun before the NaN"
    after = calls[nan_at + 1:]
    assert after and not any(call["skipped"] for call in after)
    assert {call["reason"] for call in after[:-1]} == {"statistics not finite or zero"}
    assert all(call["r"] is None and call["c"] is None for call in after)


def test_outputs_changed_in_place_after_a_call_leave_the_history_intact(comfy_inprocess, clean_run):
    """Another wrapper (or a sampler) may change a tensor the model returned, in place, after the call.
    TaoTestAliasing, added before TaoCache and so its outer wrapper, hands its caller a copy and fills
    what TaoCache returned (computed or predicted) with NaN. TaoCache keeps its own copies, so the run
    is the clean run bit for bit. The same wrapper raises when a call, skipped ones included, changed
    its input in place, as core EasyCache did on MiniMax H3 (ComfyUI #15390)."""
    result = comfy_inprocess.run(graph(steps=STEPS, insert=[("TaoTestAliasing", {}), taocache(**PERMISSIVE)]))
    (report,) = check_result(result)
    assert report["calls"] == reports(clean_run)[0]["calls"]
    assert torch.equal(result.latent, clean_run.latent)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def live_pack_objects() -> list:
    names = {"TaoCacheRun", "LiveRun", "BranchHistory", "Delta"}
    return [obj for obj in gc.get_objects()
            if type(obj).__name__ in names and "taocache" in (type(obj).__module__ or "")]


def test_200_runs_keep_process_memory_flat(comfy_inprocess):
    """200 prompts in a row (tiny graph, 10 steps, skipping): resident memory after the first 20 and
    after all 200 differ by less than 5 MiB (ComfyUI itself adds about 0.1 MiB per 20 runs here; a
    run's history left behind would add about 0.1 MiB per run), and no TaoCache state survives."""
    def run(i):
        result = comfy_inprocess.run(graph(steps=10, seed=i, insert=[taocache(**PERMISSIVE)]), log_level=20)
        assert result.success and reports(result)[0]["skipped"] > 0

    for i in range(20):
        run(i)
    gc.collect()
    before = rss_mib()
    for i in range(20, 200):
        run(i)
    gc.collect()
    growth = rss_mib() - before
    assert growth < 5.0, f"resident memory grew {growth:.1f} MiB over 180 runs"
    assert live_pack_objects() == []


# ---- bad input ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_runs(comfy_inprocess):
    """Results of the graph without TaoCache, by step count."""
    cache = {}

    def get(steps):
        if steps not in cache:
            cache[steps] = comfy_inprocess.run(graph(steps=steps)).raise_for_status()
        return cache[steps]

    return get


def assert_uncached_with_message(result, plain, node_id, *fragments):
    result.raise_for_status()
    assert torch.equal(result.latent, plain.latent), "the run must continue uncached"
    texts = result.texts_for(node_id)
    for fragment in fragments:
        assert any(fragment in text for text in texts), f"{fragment!r} not shown on the node: {texts}"
        assert fragment in result.log_text, f"{fragment!r} not in the log"


@pytest.mark.parametrize("inputs, fragments", [
    (dict(start_percent=0.8, end_percent=0.4), ["start_percent (0.8) must be below end_percent (0.4)", "uncached"]),
    (dict(start_percent=0.5, end_percent=0.5), ["start_percent (0.5) must be below end_percent (0.5)"]),
    (dict(cos_threshold=math.nan), ["cos_threshold must be a number between -1.0 and 1.0, got nan", "uncached"]),
    (dict(start_percent=math.nan), ["start_percent must be a number between 0.0 and 1.0, got nan"]),
], ids=["inverted_window", "empty_window", "nan_threshold", "nan_start_percent"])
def test_invalid_settings_name_the_input_and_run_uncached(comfy_inprocess, plain_runs, inputs, fragments):
    built = graph(steps=STEPS, insert=[taocache(**inputs)])
    result = comfy_inprocess.run(built)
    assert_uncached_with_message(result, plain_runs(STEPS), built.inserted[0], *fragments)
    assert reports(result) == [], "no TaoCache run when the node passed the model through"


@pytest.mark.parametrize("inputs, steps, fragments", [
    (dict(start_percent=0.99), STEPS, ["the window is empty", "start_percent 0.99 and end_percent 1.0"]),
    (dict(norm_ratio_threshold=0.0), STEPS, ["thresholds never met (cos_threshold 0.6, norm_ratio_threshold 0.0)"]),
    (dict(cos_threshold=1.0), STEPS, ["thresholds never met (cos_threshold 1.0"]),
    (dict(max_consecutive_skips=0), STEPS, ["max_consecutive_skips is 0"]),
    (PERMISSIVE, 9, ["too few steps: 9 < 10"]),
    (PERMISSIVE, 1, ["too few steps: 1 < 10"]),
], ids=["window_without_steps", "norm_ratio_never_met", "cos_never_met", "max_skips_0", "9_steps", "1_step"])
def test_settings_that_cannot_skip_say_why_and_run_uncached(comfy_inprocess, plain_runs, inputs, steps, fragments):
    built = graph(steps=steps, insert=[taocache(**inputs)])
    result = comfy_inprocess.run(built)
    assert_uncached_with_message(result, plain_runs(steps), built.inserted[0], "nothing skipped", *fragments)
    (report,) = reports(result)
    assert report["skipped"] == 0 and result.calls == [report["computed"]] == [steps]


@pytest.mark.parametrize("name, value", [("start_percent", 1.5), ("norm_ratio_threshold", -1.0),
                                         ("max_consecutive_skips", 17), ("error_budget", math.inf)])
def test_out_of_schema_range_is_rejected_by_comfyui_naming_the_input(comfy_inprocess, name, value):
    with pytest.raises(harness.PromptValidationError) as error:
        comfy_inprocess.run(graph(steps=STEPS, insert=[taocache(**{name: value})]))
    assert name in str(error.value.node_errors)


def test_model_type_without_keyed_wrappers_passes_through_uncached(comfy_inprocess, plain_runs):
    # ... -> TaoTestCountCalls -> TaoTestUnwrappable -> TaoCache -> KSampler (the count node wraps first)
    built = graph(steps=STEPS)
    g = built.prompt
    g["10"] = {"class_type": "TaoTestUnwrappable", "inputs": {"model": [built.ids["count"], 0]}}
    g["11"] = {"class_type": "TaoCache", "inputs": {**taocache(**PERMISSIVE)[1], "model": ["10", 0]}}
    g[built.ids["sampler"]]["inputs"]["model"] = ["11", 0]
    result = comfy_inprocess.run(built)
    assert_uncached_with_message(result, plain_runs(STEPS), "11",
                                 "has no keyed model wrappers", "passes through uncached")
    assert reports(result) == []


WINDOWS = ("WanContextWindowsManual", {"context_length": 5, "context_overlap": 1, "context_schedule": "standard_static",
                                      "context_stride": 1, "closed_loop": False, "fuse_method": "pyramid"})


@pytest.mark.parametrize("keys, fragment", [
    ("sigmas", "the model call carries no noise level (transformer_options has no 'sigmas')"),
    ("uuids,cond_or_uncond", "cannot tell the conditioning entries of a batch of 2 apart"),
    ("context_window.index_list", "this ComfyUI's context windows carry no index_list: the windows cannot be told apart"),
])
def test_model_calls_without_the_keys_the_pack_reads_run_uncached_and_say_which(comfy_inprocess, keys, fragment):
    """A ComfyUI or another pack that does not fill transformer_options' 'sigmas', or 'uuids' and
    'cond_or_uncond' (the peers raised KeyError there: welltop-cn/ComfyUI-TeaCache#134/#136, #82):
    the run computes every call, gives the result without TaoCache bit for bit, and its summary on the
    node and in the log names what was missing."""
    drop = ("TaoTestDropOptionKeys", {"keys": keys})
    windows = [WINDOWS] if keys.startswith("context_window") else []
    plain = comfy_inprocess.run(graph(steps=STEPS, insert=windows + [drop])).raise_for_status()
    built = graph(steps=STEPS, insert=windows + [drop, taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, plain.latent)
    (report,) = reports(result)
    check_run(report, result.calls[0])
    assert report["skipped"] == 0 and fragment in report["summary"], report["summary"]
    assert any(fragment in t for t in result.texts_for(built.inserted[-1])) and fragment in result.log_text
