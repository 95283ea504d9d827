"""Robustness in a real ComfyUI: conditioning branches, batches and context windows. TaoCache keeps
one history per branch (conditioning entry, by uuid; per context window) and skips a model call only
when its branches agree."""
from robustness_helpers import PERMISSIVE, branch_keys_per_run, check_result, graph, one_torch_thread, taocache

assert one_torch_thread and branch_keys_per_run  # fixtures, imported to be found here


def batch_sizes(result, run=0):
    return result.call_records[run]["batch_sizes"]


def test_cfg_1_runs_the_cond_branch_alone(comfy_inprocess):
    result = comfy_inprocess.run(graph(steps=16, cfg=1.0, insert=[taocache(**PERMISSIVE)]))
    (report,) = check_result(result)
    assert report["total"] == 16 and set(batch_sizes(result)) == {1}


def test_cfg_above_1_batches_cond_and_uncond_in_one_call(comfy_inprocess):
    result = comfy_inprocess.run(graph(steps=16, cfg=5.0, insert=[taocache(**PERMISSIVE)]))
    (report,) = check_result(result)
    assert report["total"] == 16 and set(batch_sizes(result)) == {2}


def test_cfg_above_1_with_cond_and_uncond_in_separate_calls(comfy_inprocess):
    """Short of memory, ComfyUI runs cond and uncond as two model calls per step (forced here by the
    TaoTestSplitBatches node). Every call is counted; the two calls of a step agree."""
    result = comfy_inprocess.run(graph(steps=16, cfg=5.0, insert=[taocache(**PERMISSIVE), ("TaoTestSplitBatches", {})]))
    (report,) = check_result(result)
    assert report["total"] == 32 and set(batch_sizes(result)) == {1}
    calls = report["calls"]
    for cond, uncond in zip(calls[0::2], calls[1::2]):
        assert cond["step"] == uncond["step"] and cond["skipped"] == uncond["skipped"]


def test_batch_size_above_1(comfy_inprocess):
    built = graph(steps=16, cfg=5.0, insert=[taocache(**PERMISSIVE)])
    built.prompt[built.ids["latent"]]["inputs"]["batch_size"] = 2
    result = comfy_inprocess.run(built)
    check_result(result)
    assert set(batch_sizes(result)) == {4} and result.latent.shape[0] == 2


def second_positive(built, seed=7):
    built.prompt["30"] = {"class_type": "TaoTestConditioning", "inputs": {
        **built.prompt[built.ids["positive"]]["inputs"], "seed": seed}}
    return ["30", 0]


def test_conditioning_combine_gives_three_branches_in_one_call(comfy_inprocess):
    built = graph(steps=16, cfg=5.0, insert=[taocache(**PERMISSIVE)])
    g = built.prompt
    g["31"] = {"class_type": "ConditioningCombine", "inputs": {
        "conditioning_1": [built.ids["positive"], 0], "conditioning_2": second_positive(built)}}
    g[built.ids["sampler"]]["inputs"]["positive"] = ["31", 0]
    result = comfy_inprocess.run(built)
    check_result(result)
    assert set(batch_sizes(result)) == {3}


def test_area_conditioning_runs_as_its_own_call_with_its_own_history(comfy_inprocess, branch_keys_per_run):
    """An area cond (top-left quarter) has a smaller input than the full cond and uncond, so ComfyUI
    runs it as a separate model call on a cropped latent, batched with an uncond for the same area:
    two calls per step, of different shapes. ComfyUI gives that uncond the area cond's uuid, so the
    branch key is (uuid, cond or uncond): four branches, each with its own history."""
    built = graph(steps=16, cfg=5.0, width=128, height=128, insert=[taocache(**PERMISSIVE)])
    g = built.prompt
    g["32"] = {"class_type": "ConditioningSetArea", "inputs": {  # (the Percentage node fails on video in core)
        "conditioning": second_positive(built), "width": 64, "height": 64, "x": 0, "y": 0, "strength": 1.0}}
    g["33"] = {"class_type": "ConditioningCombine", "inputs": {
        "conditioning_1": [built.ids["positive"], 0], "conditioning_2": ["32", 0]}}
    g[built.ids["sampler"]]["inputs"]["positive"] = ["33", 0]
    result = comfy_inprocess.run(built)
    (report,) = check_result(result)
    assert report["total"] == 32 and set(batch_sizes(result)) == {2}
    (histories,) = branch_keys_per_run
    assert len(histories) == 4 and sorted(kind for _, kind in histories) == [0, 0, 1, 1]
    assert sum(histories.values()) == 2 * report["computed"]
    for cond, area in zip(report["calls"][0::2], report["calls"][1::2]):  # one consecutive-skip count per branch
        assert cond["step"] == area["step"] and cond["skipped"] == area["skipped"]


def test_context_windows_keep_state_per_window(comfy_inprocess, branch_keys_per_run):
    """WanContextWindowsManual over 3 latent frames in windows of 2 (overlap 1): two windows per
    step, each with its own cond and uncond history."""
    windows = ("WanContextWindowsManual", {"context_length": 5, "context_overlap": 1,
                                           "context_schedule": "standard_static", "context_stride": 1,
                                           "closed_loop": False, "fuse_method": "pyramid"})
    result = comfy_inprocess.run(graph(steps=16, cfg=5.0, insert=[windows, taocache(**PERMISSIVE)]))
    (report,) = check_result(result)
    assert report["total"] == 32 and "Using context windows" in result.log_text
    (histories,) = branch_keys_per_run
    window_indices = {key[1] for key in histories}
    assert window_indices == {(0, 1), (1, 2)}, histories
    assert len(histories) == 4  # cond and uncond in each window
    # each window's branches computed once per computed call of that window
    assert sum(histories.values()) == 2 * report["computed"]
    # the memory it reports is what four histories of a window's latent hold: [1, 16, 2, 8, 8] each, the
    # last output and two deltas, float32 on this CPU (4 + 4 + 4 bytes an element)
    window_elements = 16 * 2 * 8 * 8
    assert report["history_bytes"] == len(histories) * window_elements * 12, report["history_bytes"]


def check_warm_up_of_a_new_branch(calls, first_call) -> None:
    """A branch that joins at the `first_call`-th computed call (0-based): the three calls from its
    step on compute (its warm-up: the last two for a history too short), and calls skip both before
    it and after the warm-up."""
    switch = [call["step"] for call in calls if not call["skipped"]][first_call]
    before = [call for call in calls if call["step"] < switch]
    warm_up = [call for call in calls if call["step"] >= switch][:3]
    after = [call for call in calls if call["step"] > warm_up[-1]["step"]]
    assert any(call["skipped"] for call in before) and any(call["skipped"] for call in after)
    assert not any(call["skipped"] for call in warm_up), warm_up
    assert [call["reason"] for call in warm_up[1:]] == ["history too short"] * 2


def test_prompt_switched_by_timestep_range_starts_the_new_prompt_s_own_history(comfy_inprocess, branch_keys_per_run):
    """Two positive prompts, one for each half of the schedule (ConditioningSetTimestepRange 0-0.5 and
    0.5-1, combined; ComfyUI runs both at the step on the boundary): from the switch on, the second
    prompt's branch is new, so its first three calls compute (warm-up) before it is skipped again,
    while the uncond branch keeps one history throughout."""
    built = graph(steps=30, cfg=5.0, insert=[taocache(**dict(PERMISSIVE, start_percent=0.1))])
    g = built.prompt
    g["32"] = {"class_type": "ConditioningSetTimestepRange", "inputs": {
        "conditioning": [built.ids["positive"], 0], "start": 0.0, "end": 0.5}}
    g["33"] = {"class_type": "ConditioningSetTimestepRange", "inputs": {
        "conditioning": second_positive(built), "start": 0.5, "end": 1.0}}
    g["34"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["32", 0], "conditioning_2": ["33", 0]}}
    g[built.ids["sampler"]]["inputs"]["positive"] = ["34", 0]
    result = comfy_inprocess.run(built)
    (report,) = check_result(result, min_skipped=8)
    (histories,) = branch_keys_per_run
    assert sorted(kind for _, kind in histories) == [0, 0, 1], histories
    assert batch_sizes(result).count(3) == 1, batch_sizes(result)  # both prompts at the boundary step
    check_warm_up_of_a_new_branch(report["calls"], batch_sizes(result).index(3))
    uncond = next(key for key in histories if key[1] == 1)
    assert histories[uncond] == report["computed"]


def test_negative_prompt_that_starts_partway_gets_its_own_warm_up(comfy_inprocess, branch_keys_per_run):
    """A negative prompt limited to the last 70% of the schedule (ConditioningSetTimestepRange 0.3-1;
    kijai/ComfyUI-KJNodes#262: an uncond that appears partway): before it, ComfyUI runs the cond branch
    alone; when the uncond joins, its branch is new, so the first three calls from then on compute
    (warm-up) while the cond branch keeps one history throughout."""
    built = graph(steps=30, cfg=5.0, insert=[taocache(**dict(PERMISSIVE, start_percent=0.1))])
    g = built.prompt
    g["32"] = {"class_type": "ConditioningSetTimestepRange", "inputs": {
        "conditioning": [built.ids["negative"], 0], "start": 0.3, "end": 1.0}}
    g[built.ids["sampler"]]["inputs"]["negative"] = ["32", 0]
    result = comfy_inprocess.run(built)
    (report,) = check_result(result, min_skipped=8)
    (histories,) = branch_keys_per_run
    assert sorted(kind for _, kind in histories) == [0, 1], histories
    sizes = batch_sizes(result)
    joins = sizes.index(2)
    assert set(sizes[:joins]) == {1} and set(sizes[joins:]) == {2}, sizes
    check_warm_up_of_a_new_branch(report["calls"], joins)
    cond = next(key for key in histories if key[1] == 0)
    uncond = next(key for key in histories if key[1] == 1)
    assert histories[cond] == report["computed"]
    assert histories[uncond] == report["computed"] - joins
