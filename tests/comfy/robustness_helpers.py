"""Shared pieces of the robustness tests (tests/comfy/test_robustness_*.py): graph surgery on the
harness's API-format prompts, and the invariants every TaoCache run must keep."""
from __future__ import annotations

import contextlib
import copy
import re
import sys
import types

import pytest
import torch

import harness

SUMMARY = re.compile(r"TaoCache: computed (\d+) / skipped (\d+) of (\d+) model calls")
STOCHASTIC_WARNING = "stochastic sampler"


def taocache(**overrides):
    inputs = {"start_percent": 0.3, "end_percent": 1.0, "cos_threshold": 0.6, "norm_ratio_threshold": 1.3,
              "max_consecutive_skips": 1, "predictor": "fixed_point", "error_budget": 0.0, "verbose": False}
    inputs.update(overrides)
    return ("TaoCache", inputs)


PERMISSIVE = dict(cos_threshold=-1.0, norm_ratio_threshold=10.0, max_consecutive_skips=2)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny models are ~10x faster on one thread than on two contended cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reports(result) -> list[dict]:
    return result.events("taocache.report")


def check_run(report: dict, real_calls: int | None = None) -> dict:
    """The invariants of one sampling run's report: counts add up (and equal the real forward calls
    when given), skips only inside the window, the last call computed."""
    calls = report["calls"]
    assert report["total"] == len(calls) and report["computed"] + report["skipped"] == report["total"]
    if real_calls is not None:
        assert report["computed"] == real_calls, "reported computed calls must equal real forward calls"
    start_sigma, end_sigma = report["window_sigmas"]
    for call in calls:
        if call["skipped"]:
            assert call["in_window"] and end_sigma < call["sigma"] <= start_sigma, call
    assert calls and not calls[-1]["skipped"], "the last call is always computed"
    return report


def check_result(result, runs: int = 1, min_skipped: int = 1) -> list[dict]:
    """A successful prompt with `runs` sampling runs through one TaoCache each: every run's report
    holds, its computed calls equal the real forward calls, and each skipped something."""
    result.raise_for_status()
    found = reports(result)
    assert len(found) == runs, f"expected {runs} report(s), got {len(found)}: {[r['summary'] for r in found]}"
    assert len(result.calls) == runs
    for report, real in zip(found, result.calls):
        check_run(report, real)
        assert report["skipped"] >= min_skipped, report["summary"]
    if result.latent is not None:
        assert torch.isfinite(result.latent).all()
    return found


def skipped_steps(report) -> list[float]:
    return [call["step"] for call in report["calls"] if call["skipped"]]


def graph(**kwargs) -> harness.BuiltGraph:
    """harness.wan_t2v_graph, deep-copied so a test can edit the prompt."""
    built = harness.wan_t2v_graph(**kwargs)
    return harness.BuiltGraph(prompt=copy.deepcopy(built.prompt), inserted=list(built.inserted), ids=dict(built.ids))


def ksampler_advanced(model, positive, negative, latent, *, steps, start, end, add_noise, leftover, seed=42,
                      cfg=5.0, sampler="euler", scheduler="simple"):
    return {"class_type": "KSamplerAdvanced", "inputs": {
        "model": model, "add_noise": "enable" if add_noise else "disable", "noise_seed": seed, "steps": steps,
        "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler, "positive": positive, "negative": negative,
        "latent_image": latent, "start_at_step": start, "end_at_step": end,
        "return_with_leftover_noise": "enable" if leftover else "disable"}}


def split_sampling(built: harness.BuiltGraph, steps: int, split: int, models=None) -> harness.BuiltGraph:
    """Replace the graph's KSampler with two KSamplerAdvanced: 0-split (leftover noise returned) and
    split-end (no noise added). models: the MODEL links of the two samplers (default: the same one)."""
    g = built.prompt
    sampler = g.pop(built.ids["sampler"])["inputs"]
    first, second = models or ([built.ids["count"], 0], [built.ids["count"], 0])
    common = dict(steps=steps, seed=sampler["seed"], cfg=sampler["cfg"], sampler=sampler["sampler_name"],
                  scheduler=sampler["scheduler"])
    g["70"] = ksampler_advanced(first, sampler["positive"], sampler["negative"], sampler["latent_image"],
                                start=0, end=split, add_noise=True, leftover=True, **common)
    g["71"] = ksampler_advanced(second, sampler["positive"], sampler["negative"], ["70", 0],
                                start=split, end=10000, add_noise=False, leftover=False, **common)
    g[built.ids["save"]]["inputs"]["samples"] = ["71", 0]
    return built


@contextlib.contextmanager
def run_method_replaced(name: str, replacement):
    """TaoCacheRun.<name> replaced by replacement(original) in every loaded copy of taocache.policy
    (the pack as ComfyUI imported it; the repository's own when unit tests ran first), and put back."""
    classes = [module.TaoCacheRun for module_name, module in list(sys.modules.items())
               if module_name.endswith("taocache.policy") and hasattr(module, "TaoCacheRun")]
    originals = [(cls, getattr(cls, name)) for cls in classes]
    for cls, original in originals:
        setattr(cls, name, replacement(original))
    try:
        yield
    finally:
        for cls, original in originals:
            setattr(cls, name, original)


@pytest.fixture
def branch_keys_per_run(comfy_inprocess):
    """The branch keys each TaoCache run kept a history for, captured when the run closes."""
    seen = []

    def patched(original):
        def close(self):
            seen.append({key: history.computed for key, history in self.histories.items()})
            return original(self)
        return close

    with run_method_replaced("close", patched):
        yield seen


@pytest.fixture
def expected_skips(comfy_inprocess):
    """Overrides TaoCacheRun.would_skip, what a ControlNet asks before it runs (nodes/control.py), in
    every loaded copy of the pack: set `.answer` to True or False; None leaves the run's own answer."""
    state = types.SimpleNamespace(answer=None)

    def patched(original):
        def would_skip(self, keys, sigma):
            return original(self, keys, sigma) if state.answer is None else state.answer
        return would_skip

    with run_method_replaced("would_skip", patched):
        yield state
