"""Guidance nodes and model wrappers that call the model again, in a real ComfyUI: the core Skip
Layer Guidance nodes (comfy_extras/nodes_slg.py), and the newest LTXVSpatioTemporalGuidance and
HiDreamO1PatchSeamSmoothing (reproduced by test nodes) on the tiny Wan2.1 model, with TaoCache before
or after them.

SkipLayerGuidanceDiT adds a third model call per step inside its range: the cond again, at the same
noise level, with some blocks replaced by the identity (transformer_options "patches_replace").
SkipLayerGuidanceDiTSimple runs the uncond with those blocks replaced inside its range. Both calls
carry the same uuid as the plain ones, so before TaoCache keyed them apart (`replaced_blocks` in
nodes/wrappers.py) a skipped guidance call was predicted from the plain cond's history: it returned
about the plain output and cancelled the guidance, with nothing said (measured on this model, 30
steps, SkipLayerGuidanceDiT from 0.01 to 1.0: the cached run's error against the full guided run
was 97% of what the guidance changes; now it is 15%, the same as without guidance). The newest
ComfyUI's LTXV guidance nodes (LTXVSpatioTemporalGuidance, LTXVModalityGuidance, LTXVReferenceAudio)
evaluate the cond again the same way but change transformer_options keys or the cond's inputs instead
of blocks; taocache/repeats.py tells such a second evaluation of a branch on the same sampler state apart
(reproduced STG, scale 3: error 95% of the guidance's effect without it, 12% with it).

Checked against the newest source (Comfy-Org/ComfyUI 0.38.1): nodes_slg.py calls calc_cond_batch
with the same cond and options patched by model_patcher.set_model_options_patch_replace, which
still writes transformer_options["patches_replace"][name][(block_name, number)], and WanModel
still looks its blocks up there as ("double_block", i).
"""
import json

import pytest
import torch

import harness
from robustness_helpers import (PERMISSIVE, branch_keys_per_run, check_result, check_run, one_torch_thread, reports,
                                taocache)
from taocache.repeats import is_repeat
from test_calibration import calibrate, profile_file
from test_taocache_node import NEVER, summary_counts

assert one_torch_thread and branch_keys_per_run  # fixtures, imported to be found here

# the tiny Wan has two blocks; SkipLayerGuidanceDiT's range covers TaoCache's window (0.3-1.0)
SLG = ("SkipLayerGuidanceDiT", {"double_layers": "1", "single_layers": "", "scale": 3.0,
                                "start_percent": 0.01, "end_percent": 1.0, "rescaling_scale": 0.0})
SLG_SIMPLE = ("SkipLayerGuidanceDiTSimple", {"double_layers": "0", "single_layers": "",
                                             "start_percent": 0.0, "end_percent": 1.0})
SLG_SIMPLE_TO_60 = ("SkipLayerGuidanceDiTSimple", {"double_layers": "0", "single_layers": "",
                                                   "start_percent": 0.0, "end_percent": 0.6})
# the newest LTXVSpatioTemporalGuidance, reproduced (tests/support/custom_nodes/taotest_newest_nodes.py):
# the cond evaluated again with self-attention skipped, no blocks replaced
STG = ("TaoTestSpatioTemporalGuidance", {"scale": 3.0, "start_percent": 0.0, "end_percent": 1.0})
GUIDANCE = {"SkipLayerGuidanceDiT": SLG, "SkipLayerGuidanceDiTSimple": SLG_SIMPLE,
            "LTXVSpatioTemporalGuidance (reproduced)": STG}
# CFG-Zero* is a post-CFG function too; with TeaCache packs the pair failed (KJNodes#263)
CFG_ZERO_STAR = ("CFGZeroStar", {})


def run(comfy, insert=None, steps=30):
    return comfy.run(harness.wan_t2v_graph(steps=steps, cfg=5.0, insert=insert)).raise_for_status()


def chain(guidance, cache, order):
    return [guidance, cache] if order == "before" else [cache, guidance]


def relative_error(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


def is_replaced(key) -> bool:
    return isinstance(key, tuple) and len(key) == 3 and key[1] == "replaced"




@pytest.mark.parametrize("node", sorted(GUIDANCE))
def test_never_skip_thresholds_are_bit_identical_with_skip_layer_guidance(comfy_inprocess, node):
    plain = run(comfy_inprocess, [GUIDANCE[node]], steps=20)
    cached = run(comfy_inprocess, [GUIDANCE[node], taocache(**NEVER)], steps=20)
    assert torch.equal(cached.latent, plain.latent)
    assert plain.calls[0] > 20, "the guidance adds model calls"
    computed, skipped, total = summary_counts(cached.log_text)
    assert (computed, skipped) == (plain.calls[0], 0) and cached.calls == plain.calls
    check_run(reports(cached)[0], cached.calls[0])


@pytest.mark.parametrize("order", ["before", "after"])
def test_the_skip_layer_guidance_call_keeps_its_own_history(comfy_inprocess, branch_keys_per_run, order):
    """Three histories: the plain cond and uncond (batched in one call) and the cond with a block
    replaced (the guidance's own call). Every computed call recorded into its own branches."""
    result = run(comfy_inprocess, chain(SLG, taocache(**PERMISSIVE), order))
    (report,) = check_result(result, min_skipped=3)
    assert report["total"] == result.calls[0] + report["skipped"] == 59  # 30 plain calls, 29 guidance calls
    assert "29 of the 59 calls were another node's extra or altered calls (a conditioning evaluated again" \
        in report["summary"]
    (histories,) = branch_keys_per_run
    replaced = [key for key in histories if is_replaced(key)]
    plain = [key for key in histories if not is_replaced(key)]
    assert len(replaced) == 1 and len(plain) == 2, histories
    key, _, blocks = replaced[0]
    assert key in plain and key[1] == 0 and blocks == ("dit:('double_block', 1)",)
    plain_cond, plain_uncond = sorted(plain, key=lambda k: k[1])
    assert histories[plain_cond] == histories[plain_uncond]
    assert histories[plain_cond] + histories[replaced[0]] == report["computed"]
    # both kinds of call are skipped somewhere in the window, each predicted from its own history
    steps = {}
    for call in report["calls"]:
        steps.setdefault(call["step"], []).append(call["skipped"])
    assert any(flags[0] for flags in steps.values() if len(flags) == 2)
    assert any(flags[1] for flags in steps.values() if len(flags) == 2)


def test_a_guidance_call_that_replaces_no_blocks_is_told_apart_as_an_evaluation_again(comfy_inprocess,
                                                                                       branch_keys_per_run):
    """The newest LTXVSpatioTemporalGuidance, reproduced: the cond evaluated again on the step's own x
    at the same noise level, changed only through transformer_options (no blocks replaced). The
    second evaluation's cond is keyed (cond, "again", 1): three histories, each computed call
    recorded into its own branches."""
    result = run(comfy_inprocess, [STG, taocache(**PERMISSIVE)])
    (report,) = check_result(result, min_skipped=3)
    assert report["total"] == result.calls[0] + report["skipped"] == 60  # 30 plain calls, 30 guidance calls
    assert "30 of the 60 calls were another node's extra or altered calls" in report["summary"]
    (histories,) = branch_keys_per_run
    again = [key for key in histories if is_repeat(key)]
    plain = [key for key in histories if not is_repeat(key)]
    assert len(again) == 1 and len(plain) == 2, histories
    assert again[0][0] in plain and again[0][0][1] == 0 and again[0][2] == 1
    plain_cond = again[0][0]
    assert histories[plain_cond] + histories[again[0]] == report["computed"]


WINDOWS = ("WanContextWindowsManual", {"context_length": 5, "context_overlap": 1, "context_schedule": "standard_static",
                                       "context_stride": 1, "closed_loop": False, "fuse_method": "pyramid"})


def test_an_evaluation_again_is_told_apart_within_context_windows(comfy_inprocess, branch_keys_per_run):
    """With context windows ComfyUI evaluates each window on a fresh slice of x, the reproduced STG's
    evaluation too: there the state is told by content, so each window's cond gets its "again" branch
    and the cached run keeps the guidance (told by the x object, as without windows, it was
    cancelled: error 0.0260 against an effect of 0.0275)."""
    full = run(comfy_inprocess, [WINDOWS])
    guided = run(comfy_inprocess, [WINDOWS, STG])
    cached = run(comfy_inprocess, [WINDOWS, STG, taocache(**PERMISSIVE)])
    (report,) = check_result(cached, min_skipped=8)
    effect = relative_error(guided.latent, full.latent)
    cache_error = relative_error(cached.latent, guided.latent)
    print(f"STG with context windows: cache error {cache_error:.4f}, guidance effect {effect:.4f}")
    assert cache_error < 0.25 * effect
    (histories,) = branch_keys_per_run
    again = [key for key in histories if is_repeat(key)]
    assert sorted(key[0][1] for key in again) == [(0, 1), (1, 2)], histories  # one per window


def test_heun_s_second_call_at_a_noise_level_is_not_taken_for_guidance(comfy_inprocess, branch_keys_per_run):
    """Heun evaluates the next noise level twice (its correction, then the next step), each time on a
    new x: those are the same branches' calls and keep their keys."""
    result = comfy_inprocess.run(harness.wan_t2v_graph(steps=16, cfg=5.0, sampler="heun",
                                                       insert=[taocache(**PERMISSIVE)])).raise_for_status()
    (report,) = check_result(result)
    (histories,) = branch_keys_per_run
    assert len(histories) == 2 and not any(is_repeat(key) for key in histories), histories
    assert "another node's" not in report["summary"]


SEAM = ("TaoTestSeamSmoothing", {"start_percent": 0.3, "end_percent": 1.0})


@pytest.mark.parametrize("order", ["before", "after"])
def test_a_model_wrapper_calling_the_model_again_in_one_step_keeps_its_result(comfy_inprocess, branch_keys_per_run,
                                                                               order):
    """The newest HiDreamO1PatchSeamSmoothing, reproduced: a DIFFUSION_MODEL wrapper that also runs the
    model on a rolled x and averages. Upstream of TaoCache ("before": its wrapper outside the pack's)
    the pack sees the same branches twice in one evaluation; the second call's branches are keyed
    (key, "again", 1), so each input keeps its own history. Downstream, the pack sees one call. Either
    way the cached run stays far closer to the full smoothed run than the smoothing's own effect
    (before the second call was keyed apart: 31% of it, both inputs in one history)."""
    full = run(comfy_inprocess)
    smoothed = run(comfy_inprocess, [SEAM])
    cached = run(comfy_inprocess, chain(SEAM, taocache(**PERMISSIVE), order))
    # downstream, one TaoCache call runs the forward twice in the smoothing's range: only upstream do
    # the pack's computed calls equal the real forward calls
    report = check_run(reports(cached)[0], cached.calls[0] if order == "before" else None)
    assert report["skipped"] >= 8, report["summary"]
    effect = relative_error(smoothed.latent, full.latent)
    cache_error = relative_error(cached.latent, smoothed.latent)
    print(f"seam smoothing {order} TaoCache: {report['skipped']} of {report['total']} calls skipped, "
          f"cache error {cache_error:.4f}, smoothing effect {effect:.4f}")
    assert cache_error < 0.1 * effect
    (histories,) = branch_keys_per_run
    again = [key for key in histories if is_repeat(key)]
    if order == "before":
        assert report["total"] == 51 and len(again) == 2 and len(histories) == 4, histories
        assert "21 of the 51 calls were another node's extra or altered calls" in report["summary"]
    else:
        assert report["total"] == 30 and not again and len(histories) == 2, histories


def test_an_uncond_whose_blocks_are_replaced_for_part_of_the_run_starts_a_fresh_history(
        comfy_inprocess, branch_keys_per_run):
    """SkipLayerGuidanceDiTSimple up to 60%: the uncond is computed with block 0 replaced, then plain.
    The change of function starts the plain uncond's own history (it warms up again) instead of
    extrapolating across the switch."""
    result = run(comfy_inprocess, [SLG_SIMPLE_TO_60, taocache(**PERMISSIVE)])
    (report,) = check_result(result, min_skipped=3)
    (histories,) = branch_keys_per_run
    uncond_keys = [key for key in histories if (key[0][1] if is_replaced(key) else key[1]) == 1]
    assert len(uncond_keys) == 2 and sum(map(is_replaced, uncond_keys)) == 1, histories
    plain_uncond = next(key for key in uncond_keys if not is_replaced(key))
    assert histories[plain_uncond] >= 3, "the plain uncond computes its own warm-up"


@pytest.mark.parametrize("node, with_cfg_zero_star", [(node, False) for node in sorted(GUIDANCE)]
                         + [("SkipLayerGuidanceDiT", True)])
def test_a_cached_run_keeps_the_guidance(comfy_inprocess, node, with_cfg_zero_star):
    """The cached guided run stays far closer to the full guided run than the full unguided run is:
    the guidance still acts where TaoCache skips, also with CFG-Zero* on the same model. (Permissive
    thresholds: on random weights the default cos gate never opens.)"""
    base = [CFG_ZERO_STAR] if with_cfg_zero_star else []
    full = run(comfy_inprocess, base)
    guided = run(comfy_inprocess, base + [GUIDANCE[node]])
    cached = run(comfy_inprocess, base + [GUIDANCE[node], taocache(**PERMISSIVE)])
    _, skipped, total = summary_counts(cached.log_text)
    assert skipped >= 8, cached.log_text[-2000:]
    guidance_effect = relative_error(guided.latent, full.latent)
    cache_error = relative_error(cached.latent, guided.latent)
    print(f"{node}{' with CFGZeroStar' if with_cfg_zero_star else ''}: {skipped} of {total} calls skipped, cache error {cache_error:.4f}, "
          f"guidance effect {guidance_effect:.4f}")
    assert cache_error < 0.25 * guidance_effect


def test_calibration_records_an_evaluation_again_as_its_own_branch(comfy_inprocess, comfy_base):
    """TaoCache Calibrate with the reproduced LTXVSpatioTemporalGuidance: its call is recorded as the
    branch "cond (again 1)", one sample per noise level and branch."""
    name = "tiny_wan_stg"
    profile_file(comfy_base, name).unlink(missing_ok=True)
    result = run(comfy_inprocess, [STG, calibrate(name)], steps=20)
    assert result.calls == [40]
    (samples,) = [r["samples"] for r in json.loads(profile_file(comfy_base, name).read_text())["runs"]]
    branches = [sample["branch"] for sample in samples]
    assert {b: branches.count(b) for b in set(branches)} == {"cond": 20, "uncond": 20, "cond (again 1)": 20}
    for branch in set(branches):
        sigmas = [s["sigma"] for s in samples if s["branch"] == branch]
        assert len(set(sigmas)) == len(sigmas), f"{branch}: two samples at one noise level"


def test_calibration_records_the_guidance_call_as_its_own_branch(comfy_inprocess, comfy_base):
    """TaoCache Calibrate with SkipLayerGuidanceDiT: the guidance call is recorded as the branch
    "cond (blocks replaced)", predicted from its own history, never as a second cond sample at the
    same noise level (which would score the guidance's change as a prediction error)."""
    name = "tiny_wan_slg"
    profile_file(comfy_base, name).unlink(missing_ok=True)
    result = run(comfy_inprocess, [SLG, calibrate(name)], steps=20)
    assert result.calls == [39]
    (samples,) = [r["samples"] for r in json.loads(profile_file(comfy_base, name).read_text())["runs"]]
    by_branch = {}
    for sample in samples:
        by_branch.setdefault(sample["branch"], []).append(sample)
    assert {b: len(s) for b, s in by_branch.items()} == {"cond": 20, "uncond": 20, "cond (blocks replaced)": 19}
    for branch, found in by_branch.items():
        sigmas = [s["sigma"] for s in found]
        assert len(set(sigmas)) == len(sigmas), f"{branch}: two samples at one noise level"
        errors = [s["error"] for s in found if s["error"] is not None]
        assert len(errors) == len(found) - 3 and max(errors) < 1.0, (branch, errors)  # 3 outputs before a fit
