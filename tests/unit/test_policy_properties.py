"""Property-based tests of the skip policy: for any schedule and any sequence of outputs."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from taocache import Schedule, TaoCacheConfig, TaoCacheRun


@st.composite
def runs(draw):
    steps = draw(st.integers(min_value=1, max_value=60))
    cuts = sorted(draw(st.lists(st.floats(0.001, 0.999), min_size=steps - 1, max_size=steps - 1, unique=True)),
                  reverse=True)
    sigmas = [1.0] + cuts + [0.0]
    start = draw(st.floats(0.0, 1.0))
    end = draw(st.floats(0.0, 1.0).filter(lambda e: e < start)) if start > 0 else 0.0
    config = TaoCacheConfig(
        start_percent=0.0, end_percent=1.0,  # the window is given directly in sigmas below
        cos_threshold=draw(st.floats(-1.0, 1.0)), norm_ratio_threshold=draw(st.floats(0.0, 10.0)),
        max_consecutive_skips=draw(st.integers(0, 4)), predictor=draw(st.sampled_from(["fixed_point", "reuse"])),
        error_budget=draw(st.sampled_from([0.0, 0.01, 1.0])))
    seed = draw(st.integers(0, 2 ** 16))
    smooth = draw(st.booleans())
    return config, Schedule(sigmas, start, end), seed, smooth


@settings(max_examples=150, deadline=None)
@given(runs())
def test_last_step_computed_no_skip_outside_window_or_beyond_cap(case):
    config, schedule, seed, smooth = case
    run = TaoCacheRun(config, schedule)
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(6, generator=g)
    in_a_row = longest = 0
    skipped_steps = []
    for step in range(schedule.steps):
        sigma = schedule.sigmas[step]
        output = direction * (0.8 ** step) if smooth else torch.randn(6, generator=g)
        run.begin_evaluation()
        decision = run.decide(["cond", "uncond"], sigma)
        if decision.skip:
            predicted = run.predict(decision, ["cond", "uncond"])
            assert all(torch.isfinite(p).all() for p in predicted)
            skipped_steps.append(step)
            in_a_row += 1
            longest = max(longest, in_a_row)
        else:
            run.record(decision, ["cond", "uncond"], [output, output * 0.5])
            in_a_row = 0
    report = run.close()
    assert schedule.steps - 1 not in skipped_steps
    assert all(schedule.in_window(schedule.sigmas[s]) for s in skipped_steps)
    assert longest <= config.max_consecutive_skips
    assert report.total == schedule.steps
    assert report.computed + report.skipped == report.total
    assert report.skipped == len(skipped_steps)
    if schedule.steps < config.min_steps:
        assert report.skipped == 0 and "nothing skipped" in report.summary()


@st.composite
def multi_call_runs(draw):
    """A run whose steps take several model calls, as ComfyUI makes them: "split" runs cond and
    uncond as separate calls of one evaluation (short of memory, or an area cond); "heun" calls the
    model twice per step, the second time at the next step's sigma. Some computed outputs are NaN."""
    config, schedule, seed, smooth = draw(runs())
    layout = draw(st.sampled_from(["split", "heun"]))
    nan_calls = draw(st.sets(st.integers(0, 120), max_size=3))
    return config, schedule, seed, smooth, layout, nan_calls


def model_calls(schedule, layout):
    """(starts an evaluation, branch keys, sigma) for every model call of the run, in order."""
    for step in range(schedule.steps):
        sigma = schedule.sigmas[step]
        if layout == "split":
            yield True, ["cond"], sigma
            yield False, ["uncond"], sigma
        else:
            yield True, ["cond", "uncond"], sigma
            if step < schedule.steps - 1:  # Heun's last step is an Euler step: one call
                yield True, ["cond", "uncond"], schedule.sigmas[step + 1]


@settings(max_examples=120, deadline=None)
@given(multi_call_runs())
def test_several_calls_per_step_and_nan_outputs_keep_every_guard(case):
    config, schedule, seed, smooth, layout, nan_calls = case
    run = TaoCacheRun(config, schedule)
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(6, generator=g)
    finite = {"cond": [], "uncond": []}  # per branch: was each computed output finite
    in_a_row = {"cond": 0, "uncond": 0}
    calls = skips = 0
    evaluation_computed = False
    for index, (starts, keys, sigma) in enumerate(model_calls(schedule, layout)):
        calls += 1
        if starts:
            run.begin_evaluation()
            evaluation_computed = False
        decision = run.decide(keys, sigma)
        if decision.skip:
            skips += 1
            assert schedule.in_window(sigma) and not schedule.is_last_step(sigma)
            assert not evaluation_computed, "a call after a computed one in the same evaluation must compute"
            for key, predicted in zip(keys, run.predict(decision, keys)):
                assert torch.isfinite(predicted).all()
                assert all(finite[key][-3:]), "skipped on statistics from a non-finite output"
                in_a_row[key] += 1
                assert in_a_row[key] <= config.max_consecutive_skips
        else:
            evaluation_computed = True
            position = schedule.position(sigma)
            output = direction * (0.8 ** position) if smooth else torch.randn(6, generator=g)
            if index in nan_calls:
                output = output * float("nan")
            outputs = [output, output * 0.5][:len(keys)] if keys[0] == "cond" else [output * 0.5]
            run.record(decision, keys, outputs)
            for key, value in zip(keys, outputs):
                finite[key].append(bool(torch.isfinite(value).all()))
                in_a_row[key] = 0
    report = run.close()
    assert report.total == calls and report.skipped == skips
    assert report.computed + report.skipped == report.total
    assert not report.rows[-1].skipped


@settings(max_examples=120, deadline=None)
@given(multi_call_runs(), st.data())
def test_a_planned_run_skips_only_planned_levels_and_counts_levels_in_a_row(case, data):
    """A plan skips whole steps: every skipped call is at a planned step's noise level, and per branch
    at most max_consecutive_skips distinct levels are skipped in a row (on heun, both calls at a level
    are that one skip: policy.TaoCacheRun._same_planned_step)."""
    config, schedule, seed, smooth, layout, _ = case
    plan = data.draw(st.sets(st.integers(0, max(schedule.steps - 1, 0))))
    run = TaoCacheRun(config, schedule, plan=plan)
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(6, generator=g)
    levels = {"cond": [], "uncond": []}  # per branch: the distinct levels skipped since the last computed call
    for starts, keys, sigma in model_calls(schedule, layout):
        if starts:
            run.begin_evaluation()
        decision = run.decide(keys, sigma)
        position = schedule.position(sigma)
        if decision.skip:
            assert abs(position - round(position)) < 1e-6 and round(position) in plan
            run.predict(decision, keys)
            for key in keys:
                if not levels[key] or levels[key][-1] != position:
                    levels[key].append(position)
                assert len(levels[key]) <= config.max_consecutive_skips
        else:
            output = direction * (0.8 ** position) if smooth else torch.randn(6, generator=g)
            outputs = [output, output * 0.5][:len(keys)] if keys[0] == "cond" else [output * 0.5]
            run.record(decision, keys, outputs)
            for key in keys:
                levels[key] = []
