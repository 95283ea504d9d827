"""Compute-or-skip decisions and their guards."""
import torch

from taocache import Schedule, TaoCacheConfig, TaoCacheRun
from taocache.policy import (BUDGET, COS_GATE, CONSECUTIVE, FIRST_AT_LEVEL, LAST_STEP, NEW_SHAPE, NORM_GATE, OUTSIDE,
                             SECOND_AT_LEVEL, SIBLING, SKIP_FIRST_CALL, UNUSABLE, WARMING_UP)

from helpers import drive, geometric_outputs, linear_schedule, make_run


def reasons(run):
    return [row.reason for row in run.report.rows]


def test_no_skip_outside_the_window_and_never_the_last_step():
    run = make_run(steps=20, start_sigma=0.5, max_consecutive_skips=4)
    predicted = drive(run, geometric_outputs(20, 0.8))
    assert predicted, "open gates should skip in the window"
    for step in predicted:
        assert run.schedule.in_window(run.schedule.sigmas[step])
    assert 19 not in predicted
    assert run.report.rows[-1].reason == LAST_STEP
    assert all(row.reason == OUTSIDE for row in run.report.rows if row.sigma > 0.5)


def test_history_too_short_forces_compute():
    run = make_run(steps=20, start_sigma=1.0)  # window open from the first step
    drive(run, geometric_outputs(20, 0.8))
    assert reasons(run)[:3] == [WARMING_UP] * 3


def test_consecutive_skip_cap():
    run = make_run(steps=30, max_consecutive_skips=2)
    drive(run, geometric_outputs(30, 0.9))
    longest = current = 0
    for row in run.report.rows:
        current = current + 1 if row.skipped else 0
        longest = max(longest, current)
    assert longest == 2
    assert CONSECUTIVE in reasons(run)


def test_cos_gate():
    run = make_run(steps=20, cos_threshold=0.99)
    g = torch.Generator().manual_seed(1)
    outputs = [torch.randn(8, generator=g) for _ in range(20)]  # random directions
    assert drive(run, outputs) == {}
    assert COS_GATE in reasons(run)
    assert "thresholds never met" in run.report.summary()


def test_norm_ratio_gate():
    run = make_run(steps=20, norm_ratio_threshold=0.5)
    assert drive(run, geometric_outputs(20, 0.8)) == {}  # r = 0.8 > 0.5
    assert NORM_GATE in reasons(run)


def _two_branch_run(order):
    """cond smooth, uncond random: the gates fail on uncond alone, whichever branch comes first."""
    run = TaoCacheRun(TaoCacheConfig(cos_threshold=0.9, norm_ratio_threshold=10.0),
                      Schedule(linear_schedule(20), 0.8, 0.0))
    run.report.branch_names.update({"c": "cond", "u": "uncond"})
    smooth = geometric_outputs(20, 0.8)
    g = torch.Generator().manual_seed(3)
    outputs = {"c": smooth, "u": [torch.randn(2, 3, 4, generator=g) for _ in range(20)]}
    for step in range(20):
        run.begin_evaluation()
        decision = run.decide(list(order), run.schedule.sigmas[step])
        run.record(decision, list(order), [outputs[key][step] for key in order])
    return run


def test_the_report_names_the_branch_that_failed_the_gate():
    for order in (("c", "u"), ("u", "c")):
        run = _two_branch_run(order)
        gated = [row for row in run.report.rows if row.reason in (COS_GATE, NORM_GATE)]
        assert gated and all(row.held_by == ("uncond",) for row in gated), order
        # the row's statistics are the failing branch's, not the first branch's
        assert all(row.c < 0.9 for row in gated)
        summary = run.report.summary()
        assert f"the gates held back {len(gated)} calls, failing on uncond x{len(gated)}" in summary
        assert "cond x" not in summary.replace("uncond x", "")
        assert f"computed (cos below threshold: uncond)" in " ".join(run.report.step_lines())
        assert all(call["held_by"] == ["uncond"] for call in run.report.to_dict()["calls"] if call["reason"] == COS_GATE)


def test_every_failing_branch_is_named_and_the_decision_is_unchanged():
    run = make_run(steps=20, cos_threshold=0.99)
    run.report.branch_names.update({"a": "cond stream 0", "b": "cond stream 1"})
    g = torch.Generator().manual_seed(1)
    outputs = [torch.randn(8, generator=g) for _ in range(20)]
    assert drive(run, outputs, keys=("a", "b")) == {}
    gated = [row for row in run.report.rows if row.reason == COS_GATE]
    assert gated and all(row.held_by == ("cond stream 0", "cond stream 1") for row in gated)
    assert "failing on cond stream 0 x" in run.report.summary()


def test_a_single_branch_run_adds_nothing_about_branches():
    run = make_run(steps=20, cos_threshold=0.99)
    g = torch.Generator().manual_seed(1)
    drive(run, [torch.randn(8, generator=g) for _ in range(20)])
    assert "held back" not in run.report.summary()


def test_nan_output_forces_compute():
    run = make_run(steps=20)
    outputs = geometric_outputs(20, 0.8)
    for k in range(6, 20):
        outputs[k] = outputs[k].clone()
        outputs[k][0, 0, 0] = float("nan")
    predicted = drive(run, outputs)
    assert all(step < 7 for step in predicted)
    assert UNUSABLE in reasons(run)


def test_every_branch_must_agree():
    run = TaoCacheRun(TaoCacheConfig(cos_threshold=0.9, norm_ratio_threshold=10.0),
                      Schedule(linear_schedule(20), 0.8, 0.0))
    smooth = geometric_outputs(20, 0.8)
    g = torch.Generator().manual_seed(3)
    noisy = [torch.randn(2, 3, 4, generator=g) for _ in range(20)]
    for step in range(20):
        run.begin_evaluation()
        decision = run.decide(["cond", "uncond"], run.schedule.sigmas[step])
        assert not decision.skip
        run.record(decision, ["cond", "uncond"], [smooth[step], noisy[step]])


def test_split_calls_of_one_evaluation_agree_on_computing():
    run = make_run(steps=20)
    outputs = geometric_outputs(20, 0.8)
    for step in range(6):
        run.begin_evaluation()
        for key in ("cond", "uncond"):
            decision = run.decide([key], run.schedule.sigmas[step])
            run.record(decision, [key], [outputs[step]])
    run.begin_evaluation()
    first = run.decide(["cond"], run.schedule.sigmas[6])
    assert first.skip
    run.predict(first, ["cond"])
    # a fresh evaluation where the first call computes: the second follows
    run.begin_evaluation()
    run.skips_in_a_row["cond"] = run.config.max_consecutive_skips
    computed = run.decide(["cond"], run.schedule.sigmas[7])
    assert not computed.skip
    run.record(computed, ["cond"], [outputs[7]])
    assert run.decide(["uncond"], run.schedule.sigmas[7]).reason == SIBLING


def test_error_budget_limits_skips():
    outputs = [torch.tensor([float(k), (k % 3) * 0.5, 1.0]) for k in range(30)]  # turning deltas
    free = make_run(steps=30, max_consecutive_skips=3)
    budgeted = make_run(steps=30, max_consecutive_skips=3, error_budget=0.001)
    assert len(drive(budgeted, outputs)) < len(drive(free, outputs))
    assert BUDGET in reasons(budgeted)


def test_too_few_steps_disables_the_run():
    run = make_run(steps=8)
    assert not run.active
    assert drive(run, geometric_outputs(8, 0.8)) == {}
    assert "too few steps: 8 < 10" in run.report.summary()


def test_empty_window_disables_the_run():
    run = make_run(steps=20, start_sigma=0.01, end_sigma=0.0)
    assert not run.active
    assert "window is empty" in run.report.summary()


def test_counts_add_up_and_summary_sentence():
    run = make_run(steps=20, max_consecutive_skips=2)
    predicted = drive(run, geometric_outputs(20, 0.8))
    report = run.report
    assert report.total == 20 and report.skipped == len(predicted)
    assert report.computed + report.skipped == report.total
    assert report.summary().startswith(
        f"TaoCache: computed {report.computed} / skipped {report.skipped} of 20 model calls (call ratio "
        f"{20 / report.computed:.2f}x)")


def test_the_report_keeps_the_most_the_histories_held():
    """Per branch the last output in its own dtype and two float32 deltas: for two float16 branches
    of 24 elements, 2 x 24 x (2 + 4 + 4) bytes once three outputs are in."""
    run = make_run(steps=20)
    outputs = [y.half() for y in geometric_outputs(20, 0.8)]
    drive(run, outputs, keys=("cond", "uncond"))
    assert run.report.peak_history_bytes == 2 * 24 * (2 + 4 + 4)
    assert sum(h.nbytes for h in run.histories.values()) == run.report.peak_history_bytes
    report = run.close()
    assert report.to_dict()["history_bytes"] == 480 and "history held 0.0 MiB at most" in report.memory_line()


def test_close_drops_all_tensors():
    run = make_run(steps=20)
    drive(run, geometric_outputs(20, 0.8))
    report = run.close()
    assert run.histories == {} and report.total == 20


def warm(run, keys, outputs, steps):
    for step in range(steps):
        run.begin_evaluation()
        for key in keys:
            decision = run.decide([key], run.schedule.sigmas[step])
            run.record(decision, [key], [outputs[key][step]])


def test_the_first_call_of_an_evaluation_decides_for_the_branches_that_came_with_it():
    """cond passes the gate, uncond does not: the evaluation computes both, whichever comes first."""
    run = make_run(steps=20, start_sigma=1.0, cos_threshold=0.5)
    outputs = {"cond": geometric_outputs(20, 0.8, seed=1),
               "uncond": [torch.tensor([float(k % 2), 1.0 - k % 2, 0.5]) for k in range(20)]}  # zig-zag: c = -1
    warm(run, ["cond", "uncond"], outputs, 5)
    for first, second in (("cond", "uncond"), ("uncond", "cond")):
        run.begin_evaluation()
        a = run.decide([first], run.schedule.sigmas[5])
        b = run.decide([second], run.schedule.sigmas[5])
        assert not a.skip and not b.skip
    alone = make_run(steps=20, start_sigma=1.0, cos_threshold=0.5)  # cond on its own would have skipped
    warm(alone, ["cond"], outputs, 5)
    alone.begin_evaluation()
    assert alone.decide(["cond"], alone.schedule.sigmas[5]).skip


def test_a_skip_decided_by_the_first_call_is_followed_by_the_second():
    run = make_run(steps=20, start_sigma=1.0)
    outputs = {key: geometric_outputs(20, 0.8, seed=i) for i, key in enumerate(("cond", "uncond"))}
    warm(run, ["cond", "uncond"], outputs, 5)
    run.begin_evaluation()
    a = run.decide(["uncond"], run.schedule.sigmas[5])
    b = run.decide(["cond"], run.schedule.sigmas[5])
    assert a.skip and b.skip and set(a.fits) == {"uncond"} and set(b.fits) == {"cond"}
    run.predict(a, ["uncond"]), run.predict(b, ["cond"])
    assert [row.skipped for row in run.report.rows[-2:]] == [True, True]


def test_a_call_at_a_new_noise_level_starts_a_new_evaluation_without_begin_evaluation():
    run = make_run(steps=20, start_sigma=1.0)
    outputs = geometric_outputs(20, 0.8)
    decisions = [run.decide(["cond"], run.schedule.sigmas[step]) for step in range(1)]
    run.record(decisions[0], ["cond"], [outputs[0]])
    for step in range(1, 6):  # no begin_evaluation: each call is its own evaluation
        decision = run.decide(["cond"], run.schedule.sigmas[step])
        if not decision.skip:
            run.record(decision, ["cond"], [outputs[step]])
        else:
            run.predict(decision, ["cond"])
    assert any(row.skipped for row in run.report.rows)


def test_stop_turns_caching_off_for_the_rest_of_the_run_and_says_why():
    run = make_run(steps=20, start_sigma=1.0, max_consecutive_skips=2)
    drive(run, geometric_outputs(10, 0.8))
    assert run.report.skipped > 0
    assert run.stop("the model input cannot be keyed")
    assert not run.stop("a second reason")  # said once
    run.begin_evaluation()
    assert run.decide(["cond"], run.schedule.sigmas[12]).reason == "cache disabled for this run"
    assert "caching off after 10 calls: the model input cannot be keyed" in run.report.summary()


def test_a_branch_whose_history_lives_on_another_device_is_computed():
    run = make_run(steps=20, start_sigma=1.0)
    outputs = geometric_outputs(20, 0.8)
    warm(run, ["cond"], {"cond": outputs}, 5)
    run.begin_evaluation()
    assert run.decide(["cond"], run.schedule.sigmas[5], torch.device("meta")).reason == "history on another device"
    run.begin_evaluation()
    assert run.decide(["cond"], run.schedule.sigmas[6], torch.device("cpu")).skip


def test_concurrent_calls_of_one_evaluation_agree_and_every_row_is_kept():
    import threading

    run = make_run(steps=40, start_sigma=1.0, max_consecutive_skips=2)
    outputs = {key: geometric_outputs(40, 0.9, seed=i) for i, key in enumerate(("cond", "uncond"))}
    for step in range(40):
        run.begin_evaluation()
        barrier, decisions = threading.Barrier(2), {}

        def call(key):
            barrier.wait()
            decision = decisions[key] = run.decide([key], run.schedule.sigmas[step])
            if decision.skip:
                run.predict(decision, [key])
            else:
                run.record(decision, [key], [outputs[key][step]])

        workers = [threading.Thread(target=call, args=(key,)) for key in ("uncond", "cond")]
        [w.start() for w in workers], [w.join() for w in workers]
        assert decisions["cond"].skip == decisions["uncond"].skip, f"step {step}"
    report = run.close()
    assert report.total == 80 and report.skipped > 10
    assert [row.position for row in report.rows] == sorted(row.position for row in report.rows)


def test_a_branch_whose_input_changes_shape_computes_and_starts_a_new_history():
    """A history made on one input shape cannot predict another (a skip would hand the sampler the
    old shape: ali-vilab/TeaCache#37 and #84 crashed on such a change): the call computes, its output
    starts the branch's history again (history.record clears on a new output shape), and skipping
    resumes once that history has its three outputs."""
    run = make_run(steps=30, start_sigma=1.0, max_consecutive_skips=1)
    small, large = geometric_outputs(30, 0.85, shape=(2, 4)), geometric_outputs(30, 0.85, shape=(2, 6))
    decisions = []
    for step in range(30):
        shape = ((2, 4),) if step < 12 else ((2, 6),)
        outputs = small if step < 12 else large
        run.begin_evaluation()
        decision = run.decide(["cond"], run.schedule.sigmas[step], input_shape=shape)
        if decision.skip:
            (predicted,) = run.predict(decision, ["cond"])
            assert predicted.shape == outputs[step].shape
        else:
            run.record(decision, ["cond"], [outputs[step]])
        decisions.append(decision)
    assert any(d.skip for d in decisions[:12])
    assert decisions[12].reason == NEW_SHAPE and not any(d.skip for d in decisions[12:15])
    assert [d.reason for d in decisions[13:15]] == [WARMING_UP] * 2
    assert any(d.skip for d in decisions[15:])


def test_a_plan_that_skips_nothing_says_so():
    """target_speedup 1.0 (or a plan nothing fits): the summary names the plan, not the predictor."""
    run = TaoCacheRun(make_run(steps=20).config, make_run(steps=20).schedule, plan=set())
    drive(run, geometric_outputs(20, 0.8))
    assert run.report.skipped == 0
    assert "nothing skipped: no call was at a planned step's noise level" in run.report.summary()


def heun_calls(run, outputs):
    """heun's calls: step i at sigma_i, then its correction at sigma_i+1 (none after the last step),
    each its own evaluation; the true output of a call at level j is outputs[j]. Returns
    [(position, skipped)] per call."""
    calls = []
    for i in range(run.schedule.steps):
        for j in (i, i + 1) if i + 1 < run.schedule.steps else (i,):
            run.begin_evaluation()
            decision = run.decide(["cond"], run.schedule.sigmas[j])
            if decision.skip:
                run.predict(decision, ["cond"])
            else:
                run.record(decision, ["cond"], [outputs[j]])
            calls.append((j, decision.skip))
    return calls


def test_a_planned_step_on_a_sampler_known_to_repeat_levels_skips_only_its_second_call():
    """calls_per_step 2 (heun, exp_heun_2_x0: nodes/run_start.py): a planned level's first call (the
    correction of the step before) computes and its second (the step itself) is skipped, predicted
    from the output just computed at that level; planned levels may follow each other, as no two
    calls in a row are skipped."""
    base = make_run(steps=20, start_sigma=1.0, max_consecutive_skips=1)
    outputs = geometric_outputs(20, 0.8)
    run = TaoCacheRun(base.config, base.schedule, plan={7, 8, 9, 12}, calls_per_step=2)
    calls = heun_calls(run, outputs)
    assert [j for j, skipped in calls if skipped] == [7, 8, 9, 12]
    assert all(calls[n - 1] == (j, False) for n, (j, skipped) in enumerate(calls) if skipped)
    first = [row for row in run.report.rows if row.reason == FIRST_AT_LEVEL]
    assert sorted(round(row.position) for row in first) == [7, 8, 9, 12]


def test_a_planned_step_on_a_sampler_that_skips_a_levels_first_call_computes_its_second():
    """skipped_call "first" (sa_solver_pece: the predictor's state, then the corrected one): a planned
    level's first call is skipped, predicted from the history, and its second computes, so the
    sampler's own final evaluation stays exact; planned levels may follow each other. The calls come
    in the same order as heun's (each level twice, one evaluation each)."""
    base = make_run(steps=20, start_sigma=1.0, max_consecutive_skips=1)
    outputs = geometric_outputs(20, 0.8)
    run = TaoCacheRun(base.config, base.schedule, plan={7, 8, 9, 12}, calls_per_step=2, skipped_call=SKIP_FIRST_CALL)
    calls = heun_calls(run, outputs)
    assert [j for j, skipped in calls if skipped] == [7, 8, 9, 12]
    assert all(calls[n + 1] == (j, False) for n, (j, skipped) in enumerate(calls) if skipped)
    second = [row for row in run.report.rows if row.reason == SECOND_AT_LEVEL]
    assert sorted(round(row.position) for row in second) == [7, 8, 9, 12]
    # a planned level whose first call computed (here still warming up) computes its second too
    run = TaoCacheRun(base.config, base.schedule, plan={1}, calls_per_step=2, skipped_call=SKIP_FIRST_CALL)
    assert not any(skipped for _, skipped in heun_calls(run, outputs))
    try:
        TaoCacheRun(base.config, base.schedule, calls_per_step=2, skipped_call="both")
    except ValueError as error:
        assert "skipped_call must be 'second' or 'first', not 'both'" in str(error)
    else:
        raise AssertionError("an unknown skipped_call was accepted")


def test_a_planned_step_skips_both_of_heuns_calls_at_its_noise_level():
    """A sampler not known to repeat levels (calls_per_step 1): a plan skips whole steps, so on heun a
    planned step's level is called twice (the correction of the step before, then the step itself),
    and both calls are that one skip, also at max_consecutive_skips 1; the calls at other levels
    compute. Online, every call counts towards max_consecutive_skips as before."""
    for k, plan, skipped_levels in ((1, {7, 9, 12}, [7, 7, 9, 9, 12, 12]), (2, {7, 9, 10}, [7, 7, 9, 9, 10, 10])):
        base = make_run(steps=20, start_sigma=1.0, max_consecutive_skips=k)
        calls = heun_calls(TaoCacheRun(base.config, base.schedule, plan=plan), geometric_outputs(20, 0.8))
        assert sorted(j for j, skipped in calls if skipped) == skipped_levels
    # the same two calls at one level after a skip there: planned, both skip; online, the second computes
    for plan, second_skips in (({6}, True), (None, False)):
        base = make_run(steps=20, start_sigma=1.0, max_consecutive_skips=1)
        run, outputs = TaoCacheRun(base.config, base.schedule, plan=plan), geometric_outputs(20, 0.8)
        warm(run, ["cond"], {"cond": outputs}, 6)
        for _ in range(2):
            run.begin_evaluation()
            decision = run.decide(["cond"], run.schedule.sigmas[6])
            if decision.skip:
                run.predict(decision, ["cond"])
            else:
                run.record(decision, ["cond"], [outputs[6]])
        assert [row.skipped for row in run.report.rows[-2:]] == [True, second_skips]
        assert (run.report.rows[-1].reason == CONSECUTIVE) is not second_skips


def midpoint_calls(run, outputs):
    """dpm_2's calls: step i at sigma_i, then a midpoint between sigma_i and sigma_i+1 (none after
    the last step), each its own evaluation. Returns [(position, skipped)] per call."""
    calls = []
    sigmas = run.schedule.sigmas
    for i in range(run.schedule.steps):
        points = [(sigmas[i], outputs[i])]
        if i + 1 < run.schedule.steps:
            points.append(((sigmas[i] + sigmas[i + 1]) / 2, (outputs[i] + outputs[i + 1]) / 2))
        for sigma, output in points:
            run.begin_evaluation()
            decision = run.decide(["cond"], sigma)
            if decision.skip:
                run.predict(decision, ["cond"])
            else:
                run.record(decision, ["cond"], [output])
            calls.append((decision.position, decision.skip))
    return calls


def test_a_whole_step_skips_every_call_of_its_step_and_counts_as_one_skip_in_a_row():
    """planner.with_whole_steps: at max_consecutive_skips 2 a planned step of whole_steps skips every
    call of its step. heun (the second call at a level skipped): both calls at a whole step's level
    (the step before's correction, then the step); dpm_2 (the level's call skipped): the level and
    its midpoint. With the neighbours' one skipped call, never more than two steps' skips in a row,
    and the other planned steps skip one call as before."""
    base = make_run(steps=20, start_sigma=1.0, max_consecutive_skips=2)
    outputs = geometric_outputs(20, 0.8)
    plan, whole = {7, 8, 9, 10, 11, 12}, {8, 11}
    run = TaoCacheRun(base.config, base.schedule, plan=plan, calls_per_step=2, whole_steps=whole)
    assert [j for j, skipped in heun_calls(run, outputs) if skipped] == [7, 8, 8, 9, 10, 11, 11, 12]
    run = TaoCacheRun(base.config, base.schedule, plan=plan, calls_per_step=2, skipped_call=SKIP_FIRST_CALL,
                      whole_steps=whole)
    skipped = [position for position, skipped in midpoint_calls(run, outputs) if skipped]
    assert [round(p, 1) for p in skipped] == [7, 8, 8.5, 9, 10, 11, 11.5, 12]
    assert run.report.skipped == 8


def test_a_call_held_back_by_a_sibling_shows_the_siblings_statistics():
    """Split calls (one branch per call, as MiniMax H3 runs): the cond call decides for the
    evaluation over cond and its sibling uncond; when uncond fails the gate, the cond call's row
    names uncond and carries its r and c."""
    run = TaoCacheRun(TaoCacheConfig(cos_threshold=0.9, norm_ratio_threshold=10.0),
                      Schedule(linear_schedule(20), 0.8, 0.0))
    run.report.branch_names.update({"c": "cond", "u": "uncond"})
    smooth = geometric_outputs(20, 0.8)
    g = torch.Generator().manual_seed(3)
    noisy = [torch.randn(2, 3, 4, generator=g) for _ in range(20)]
    for step in range(20):
        run.begin_evaluation()
        for key, outputs in (("c", smooth), ("u", noisy)):
            decision = run.decide([key], run.schedule.sigmas[step])
            run.record(decision, [key], [outputs[step]])
    gated = [row for row in run.report.rows if row.reason == COS_GATE]
    assert gated and all(row.held_by == ("uncond",) and row.c is not None and row.c < 0.9 for row in gated)


def test_a_window_that_compute_ranges_empty_says_so():
    config = TaoCacheConfig(start_percent=0.0, compute_ranges=((0.0, 1.0),))
    run = TaoCacheRun(config, Schedule(linear_schedule(20), 1.0, 0.0, holds=((1.0, 0.0),)))
    assert not run.active
    assert run.disabled_reason.endswith("outside compute_ranges 0-1")


def _state(run):
    """What a call can change in a run: the report's rows, the histories, the per-branch counters."""
    return (len(run.report.rows), {key: history.computed for key, history in run.histories.items()},
            dict(run.skips_in_a_row), dict(run.error_spent), dict(run.last_skipped), run._evaluation.decision)


def test_would_skip_tells_what_decide_will_say_and_changes_nothing():
    """TaoCacheRun.would_skip, which a ControlNet asks before it runs (nodes/control.py), on every call
    of runs that skip by the gates, hold a gate back on one branch, split an evaluation into one call
    per branch, and follow a plan: the same answer as the decide() that follows, and no change to the
    run. Asked with the keys of a call that came before in the same evaluation (a repeat), it answers
    for a new evaluation, as decide() would start one."""
    gated = make_run(steps=30, start_sigma=1.0, max_consecutive_skips=2)
    planned = TaoCacheRun(TaoCacheConfig(start_percent=0.0), Schedule(linear_schedule(30), 1.0, 0.0),
                          plan={5, 7, 9, 12, 13, 20})
    held = make_run(steps=30, start_sigma=1.0, cos_threshold=0.5)
    outputs = {"cond": geometric_outputs(30, 0.85, seed=1), "uncond": geometric_outputs(30, 0.8, seed=2)}
    zigzag = [torch.tensor([float(k % 2), 1.0 - k % 2, 0.5]) for k in range(30)]  # c = -1 on every delta
    answers = []
    for run, calls, branch_outputs in ((gated, [["cond", "uncond"]], outputs),
                                       (make_run(steps=30, start_sigma=1.0, max_consecutive_skips=2),
                                        [["cond"], ["uncond"]], outputs),
                                       (planned, [["cond", "uncond"]], outputs),
                                       (held, [["uncond"], ["cond"]], {**outputs, "uncond": zigzag})):
        for step in range(30):
            sigma = run.schedule.sigmas[step]
            run.begin_evaluation()
            for keys in calls:
                before = _state(run)
                expected = run.would_skip(keys, sigma)
                assert _state(run) == before, "would_skip changed the run"
                decision = run.decide(keys, sigma)
                assert expected == decision.skip, (step, keys, decision.reason)
                answers.append(expected)
                if decision.skip:
                    run.predict(decision, keys)
                else:
                    run.record(decision, keys, [branch_outputs[key][step] for key in keys])
    assert True in answers and False in answers
    # the plan's 12 and 13 are two in a row, one more than max_consecutive_skips 1 allows
    assert not held.report.skipped and gated.report.skipped and planned.report.skipped == 5
    assert not gated.would_skip([], gated.schedule.sigmas[10])

    # a repeat: cond again in an evaluation that already had it starts a new evaluation in decide(),
    # where max_consecutive_skips 1 makes it compute, though the evaluation's shared decision was a skip
    repeat = make_run(steps=30, start_sigma=1.0, max_consecutive_skips=1)
    warm(repeat, ["cond"], outputs, 10)
    repeat.begin_evaluation()
    first = repeat.decide(["cond"], repeat.schedule.sigmas[10])
    assert first.skip
    repeat.predict(first, ["cond"])
    expected = repeat.would_skip(["cond"], repeat.schedule.sigmas[10])
    again = repeat.decide(["cond"], repeat.schedule.sigmas[10])
    assert expected == again.skip and not again.skip
