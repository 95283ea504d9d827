"""The fixed-point predictor on plain tensors."""
import math

import pytest
import torch

from taocache.history import BranchHistory
from taocache.predictor import fit, geometric_sum, per_step_ratio, predict

from helpers import geometric_outputs, drive, make_run


def history_of(outputs, positions):
    history = BranchHistory()
    for y, u in zip(outputs, positions):
        history.record(y, u)
    return history


@pytest.mark.parametrize("q", [0.3, 0.7, 0.9])
def test_exact_on_geometric_sequence_one_step_apart(q):
    ys = geometric_outputs(10, q)
    history = history_of(ys[:3], [0, 1, 2])
    fitted = fit(history, "fixed_point", q_max=0.95)
    assert fitted.r == pytest.approx(q, rel=1e-5)
    assert fitted.c == pytest.approx(1.0, abs=1e-6)
    for ahead in (1, 2, 3):
        assert torch.allclose(predict(history, fitted, 2 + ahead), ys[2 + ahead], atol=1e-5)


@pytest.mark.parametrize("positions", [(0, 1, 3), (0, 2, 3), (0, 3, 6), (1, 4, 5)])
def test_exact_when_computed_outputs_are_several_steps_apart(positions):
    q = 0.8
    ys = geometric_outputs(12, q)
    history = history_of([ys[p] for p in positions], positions)
    fitted = fit(history, "fixed_point", q_max=0.95)
    assert fitted.r == pytest.approx(q, rel=1e-4)
    last = positions[-1]
    for ahead in (1, 2, 4):
        assert torch.allclose(predict(history, fitted, last + ahead), ys[last + ahead], atol=1e-4)


def test_literal_predictor_overshoots_after_a_gap_and_fixed_point_does_not():
    q = 0.8
    ys = geometric_outputs(12, q)
    positions = (0, 1, 3)  # the last delta spans two steps
    history = history_of([ys[p] for p in positions], positions)
    literal_error = (predict(history, fit(history, "fixed_point_literal", 0.95), 4) - ys[4]).norm()
    exact_error = (predict(history, fit(history, "fixed_point", 0.95), 4) - ys[4]).norm()
    assert exact_error < 1e-4 < literal_error


def test_reuse_is_the_q_zero_case():
    ys = geometric_outputs(6, 0.8)
    history = history_of(ys[:3], [0, 1, 2])
    fitted = fit(history, "reuse", q_max=0.95)
    assert fitted.q == 0.0
    assert fitted.r == pytest.approx(0.8, rel=1e-5)  # the statistics are still measured
    assert torch.equal(predict(history, fitted, 4), ys[2])


def test_prediction_never_passes_the_fixed_point():
    ys = geometric_outputs(6, 0.9)
    history = history_of(ys[:3], [0, 1, 2])
    fitted = fit(history, "fixed_point", q_max=0.95)
    fixed_point = ys[2] + fitted.step_delta * fitted.q / (1 - fitted.q)
    far = predict(history, fitted, 500)
    assert torch.allclose(far, fixed_point, atol=1e-4)


def test_q_is_capped_so_the_fixed_point_stays_finite():
    ys = [torch.full((4,), float(k) ** 2) for k in range(4)]  # growing deltas: r > 1
    history = history_of(ys[:3], [0, 1, 2])
    fitted = fit(history, "fixed_point", q_max=0.95)
    assert fitted.r > 1.0 and fitted.q == 0.95


@pytest.mark.parametrize("r,span_before,span_last", [(0.5, 1, 2), (0.8, 2, 1), (1.3, 1, 3), (0.95, 2.5, 0.5)])
def test_per_step_ratio_inverts_the_span_ratio(r, span_before, span_last):
    ratio = r ** span_before * geometric_sum(r, span_last) / geometric_sum(r, span_before)
    assert per_step_ratio(ratio, span_before, span_last) == pytest.approx(r, rel=1e-6)


def test_geometric_sum_at_q_one_is_the_count():
    assert geometric_sum(1.0, 3) == 3
    assert geometric_sum(0.5, 3) == pytest.approx(1.75)


def test_whole_run_is_exact_on_a_geometric_sequence_with_skips():
    run = make_run(steps=20, max_consecutive_skips=3)
    predicted = drive(run, geometric_outputs(20, 0.85))
    assert len(predicted) >= 6
    for step, (guess, true) in predicted.items():
        assert torch.allclose(guess, true, atol=1e-4), step


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_history_gives_no_fit(bad):
    ys = geometric_outputs(3, 0.8)
    ys[1] = ys[1].clone()
    ys[1][0, 0, 0] = bad
    history = history_of(ys, [0, 1, 2])
    assert fit(history, "fixed_point", 0.95) is None


def test_zero_delta_gives_no_fit():
    y = torch.ones(4)
    history = history_of([y, y.clone(), y.clone()], [0, 1, 2])
    assert fit(history, "fixed_point", 0.95) is None


def test_history_needs_three_computed_outputs():
    ys = geometric_outputs(3, 0.8)
    history = history_of(ys[:2], [0, 1])
    assert not history.ready and fit(history, "fixed_point", 0.95) is None
    history.record(ys[2], 2)
    assert history.ready


def test_unpredictable_part_is_zero_for_a_straight_sequence():
    ys = geometric_outputs(3, 0.8)
    fitted = fit(history_of(ys, [0, 1, 2]), "fixed_point", 0.95)
    assert fitted.unpredictable == pytest.approx(0.0, abs=1e-3)
    assert math.isfinite(fitted.relative_step)
