"""Synthetic output sequences for the unit tests, and the mark of the tests CI leaves out."""
import os

import pytest
import torch

from taocache import Schedule, TaoCacheConfig, TaoCacheRun

# Tests of the training scripts that made the committed test models: each stage is a fresh training
# process (about 5 s of start, torch and its optimizer's imports, before the first step), so a chain of
# stages takes 15-40 s. One chain and the bit-exact resume stay in the suite (test_train_curriculum's
# first test, test_train_resume.py); the other chains run with TAOCACHE_SLOW_TESTS=1.
SLOW = pytest.mark.skipif(not os.environ.get("TAOCACHE_SLOW_TESTS"),
                          reason="a chain of training processes (15-40 s): set TAOCACHE_SLOW_TESTS=1")

OPEN_GATES = dict(cos_threshold=-1.0, norm_ratio_threshold=10.0)


def linear_schedule(steps: int) -> list[float]:
    return [1.0 - i / steps for i in range(steps + 1)]


def geometric_outputs(steps: int, q: float, shape=(2, 3, 4), seed=0) -> list[torch.Tensor]:
    """y_k = y* - q^k * v: every delta is the previous one times q, in a fixed direction."""
    g = torch.Generator().manual_seed(seed)
    fixed_point = torch.randn(shape, generator=g)
    direction = torch.randn(shape, generator=g)
    return [fixed_point - (q ** k) * direction for k in range(steps)]


def make_run(steps=20, start_sigma=0.8, end_sigma=0.0, **overrides) -> TaoCacheRun:
    settings = {**OPEN_GATES, **overrides}
    return TaoCacheRun(TaoCacheConfig(**settings), Schedule(linear_schedule(steps), start_sigma, end_sigma))


def drive(run: TaoCacheRun, outputs, keys=("cond",)):
    """Sample through `run` with known true outputs; returns {step: (predicted, true)} for skips."""
    predicted = {}
    for step, true in enumerate(outputs):
        sigma = run.schedule.sigmas[step]
        run.begin_evaluation()
        decision = run.decide(list(keys), sigma)
        if decision.skip:
            predicted[step] = (run.predict(decision, list(keys))[0], true)
        else:
            run.record(decision, list(keys), [true] * len(keys))
    return predicted
