"""Compute-or-skip decisions and their guards."""
import torch

from taocache import Schedule, TaoCacheConfig, TaoCacheRun
from taocache.policy import (BUDGET, COS_GATE, CONSECUTIVE, LAST_STEP, NORM_GATE, OUTSIDE, SIBLING, UNUSABLE,
                             WARMING_UP)

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
        f"TaoCache: computed {report.computed} / skipped {report.skipped} of 20 model calls ("
        f"{20 / report.computed:.2f} speedup)")


def test_close_drops_all_tensors():
    run = make_run(steps=20)
    drive(run, geometric_outputs(20, 0.8))
    report = run.close()
    assert run.histories == {} and report.total == 20
