"""The benchmark report's comparisons (tools/benchmark/report.py) on hand-made aggregate rows."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import report  # noqa: E402


def row(family, ratio, psnr, hp=None, edge=None, label="x"):
    r = dict(sampler="euler", ref_steps=30, family=family, label=label, call_ratio=ratio, psnr=psnr, iou=0.9,
             ssim=0.99, centroid_px=0.1)
    if hp is not None:
        r.update(hp_psnr=hp, hp_ssim=0.9, edge_f1=edge)
    return r


def test_late_vs_early_names_the_winner_per_metric():
    agg = [row("TaoCache", 1.5, 40.0, 30.0, 0.9), row(report.EARLY_MID, 1.5, 42.0, 29.0, 0.95)]
    lines = report.late_vs_early(agg, "euler", 30)
    at_15 = next(line for line in lines if line.startswith("- ≥1.5x"))
    assert "psnr 40.0 vs 42.0: early/mid ahead" in at_15
    assert "hp_psnr 30.0 vs 29.0: late ahead" in at_15
    assert "edge_f1 0.9000 vs 0.9500: early/mid ahead" in at_15
    assert "does not reach it" in next(line for line in lines if line.startswith("- ≥1.6x"))


def test_best_taocache_mode_takes_the_best_of_all_placements():
    agg = [row("TaoCache", 2.0, 30.0, 20.0, 0.5), row(report.WHOLE_ONLINE, 2.0, 35.0, 26.0, 0.8),
           row("fewer steps", 2.0, 33.0, 25.0, 0.9)]
    lines = report.verdict(agg, "euler", 30, report.TAOCACHE_MODES, ("psnr", "hp_psnr", "edge_f1"))
    at_2 = next(line for line in lines if line.startswith("- ≥2.0x"))
    assert "PSNR 35: best" in at_2 and "HP_PSNR 26: best" in at_2
    assert "EDGE_F1 0.8: not best, fewer steps ahead or equal" in at_2


def test_realism_section_compares_nearest_2x_with_the_published_band():
    agg = [row("fewer steps", 2.0, 33.0), row("fewer steps", 1.5, 40.0), row("EasyCache", 1.88, 15.6),
           row("LazyCache", 1.3, 45.0)]
    curves = {"tiny": [(0.5, 1.0), (1.0, 0.9)] * 5}
    text = "\n".join(report.realism_section(agg, curves, "shapes"))
    assert "PSNR 15.1-25.2 dB" in text                          # realism.published_psnr_band()
    assert "| euler 30 | 33.0 dB (2.00x) | 15.6 dB (1.88x) | — | fewer steps > EasyCache |" in text
    assert "| MagCache Wan2.1-1.3B, 50 steps (published) | 0.993 | 0.891 | 0.818 |" in text


def pair_rows(family, label, psnrs):
    return [dict(sampler="euler", ref_steps=30, family=family, label=label, prompt=f"p{i}", seed=i, psnr=v, iou=0.9)
            for i, v in enumerate(psnrs)]


def test_a_miss_gets_its_paired_interval_resolved_or_not():
    late = [14.0, 20.0, 17.0, 16.0]              # mean 16.75
    noisy = [10.0, 24.0, 13.0, 19.0]             # mean 16.5: below, but differences -4, +4, -4, +3
    steady = [13.0, 19.0, 16.0, 15.0]            # mean 15.75: below by 1 dB on every pair
    for ours, word in ((noisy, "not resolved"), (steady, "resolved")):
        mean = sum(ours) / len(ours)
        agg = [row("TaoCache", 1.5, sum(late) / 4, label="late"), row(report.CALIBRATED, 1.5, mean, label="cal")]
        rows = pair_rows("TaoCache", "late", late) + pair_rows(report.CALIBRATED, "cal", ours)
        at_15 = next(line for line in report.placement_verdict(agg, "euler", 30, rows) if line.startswith("- ≥1.5x"))
        assert f"below the better fixed window (paired {mean - 16.75:+.3g} dB" in at_15
        assert f"over 4 pairs: {word})" in at_15
    diff = report.paired_difference(pair_rows("TaoCache", "late", late) + pair_rows(report.CALIBRATED, "cal", steady),
                                    dict(sampler="euler", ref_steps=30, family=report.CALIBRATED, label="cal"),
                                    dict(sampler="euler", ref_steps=30, family="TaoCache", label="late"), "psnr")
    assert diff == (-1.0, 0.0, 4)                # the same difference on every pair: no spread
    # without per-pair rows (older results.json) the verdict stays as it was
    agg = [row("TaoCache", 1.5, 16.75, label="late"), row(report.CALIBRATED, 1.5, 16.5, label="cal")]
    assert "paired" not in " ".join(report.placement_verdict(agg, "euler", 30))


def test_every_configuration_of_the_page_gets_its_paired_intervals():
    """Regression: markdown() once rebound `rows` while listing the first configuration's settings,
    so only the first configuration's misses got intervals."""
    late, ours = [14.0, 20.0, 17.0, 16.0], [10.0, 24.0, 13.0, 19.0]
    agg, rows = [], []
    for sampler in ("euler", "uni_pc"):
        for family, label, values in (("TaoCache", "late", late), (report.CALIBRATED, "cal", ours)):
            agg.append(dict(row(family, 1.5, sum(values) / 4, label=label), sampler=sampler))
            rows += [dict(r, sampler=sampler) for r in pair_rows(family, label, values)]
    agg.append(dict(row("full", 1.0, 99.0, label=""), sampler="euler"))
    page = report.markdown(agg, "# header", rows)
    euler, uni_pc = page.split("### ")[1:]
    for section in (euler, uni_pc):                 # the 1.2-1.5x cells of each: four misses
        assert section.count("over 4 pairs: not resolved") == 4


def test_evaluation_pairs_beyond_the_listed_ones_never_repeat_a_calibration_pair():
    import importlib.util
    path = os.path.join(os.path.dirname(report.__file__), "__main__.py")
    spec = importlib.util.spec_from_file_location("bench_main_pairs", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for kind in ("shapes", "textures"):
        pairs = bench.evaluation_pairs(kind, 30)
        assert len(pairs) == len(set(pairs)) == 30
        assert pairs[:8] == bench.PAIRS[kind]                     # the benchmark's own pairs first
        assert not set(pairs) & set(bench.CALIBRATION_PAIRS[kind])
        assert not {seed for _, seed in pairs} & {seed for _, seed in bench.CALIBRATION_PAIRS[kind]}
        assert bench.evaluation_pairs(kind, 6) == bench.PAIRS[kind][:6]


def test_a_named_motion_model_gets_each_pair_with_the_objects_direction_named(tmp_path):
    """__main__.pairs_for_model: a textures model trained with --named-object-motion (its metadata says
    so) is given named-motion prompts, every direction in each block of four pairs, the same seeds;
    the committed models get the pairs unchanged."""
    import importlib.util
    import json
    import torch
    from safetensors.torch import save_file
    path = os.path.join(os.path.dirname(report.__file__), "__main__.py")
    spec = importlib.util.spec_from_file_location("bench_main_named", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    import textures
    named_model = tmp_path / "named.safetensors"
    save_file({"x": torch.zeros(1)}, str(named_model), metadata={"taocache_tiny_wan": json.dumps(
        {"config": {"dataset": "textures", "named_object_motion": True}})})
    pairs = bench.TEXTURES_PAIRS
    named = bench.pairs_for_model(pairs, named_model)
    assert [s for _, s in named] == [s for _, s in pairs]
    parts = [textures.parse_prompt(p) for p, _ in named]
    assert all(dataclass_eq(q, textures.parse_prompt(p)) for q, (p, _) in zip(parts, pairs))
    assert {q.object_direction for q in parts[:4]} == {q.object_direction for q in parts[4:]} == {0, 1, 2, 3}
    plain_model = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(1)}, str(plain_model), metadata={"taocache_tiny_wan": json.dumps(
        {"config": {"dataset": "textures"}})})
    assert bench.pairs_for_model(pairs, plain_model) == pairs


def dataclass_eq(named, plain) -> bool:
    """The same prompt apart from the objects' direction."""
    return (named.colour_a, named.colour_b, named.texture, named.scale, named.direction) == (
        plain.colour_a, plain.colour_b, plain.texture, plain.scale, plain.direction)


def test_the_header_counts_code_and_model_changes_but_not_prose():
    """__main__.result_affecting_changes: an edited README or docs page does not mark a run as made
    from uncommitted code; an edited module or model does, by name (renames by their new path)."""
    import importlib.util
    path = os.path.join(os.path.dirname(report.__file__), "__main__.py")
    spec = importlib.util.spec_from_file_location("bench_main_dirty", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.result_affecting_changes(" M README.md\n M docs/method.md\nM  CHANGELOG.md\n") == []
    porcelain = " M README.md\n M taocache/planner.py\nR  a.safetensors -> models/b.safetensors\n"
    assert bench.result_affecting_changes(porcelain) == ["taocache/planner.py", "models/b.safetensors"]
    assert bench.result_affecting_changes("") == []


def test_benchmark_workers_each_run_one_configuration_with_the_parents_options():
    """run_in_workers gives each (sampler, steps) a process of its own: its command line carries the
    parent's options, that one configuration, no wall-clock pass (the parent times alone afterwards)."""
    import argparse
    import importlib.util
    path = os.path.join(os.path.dirname(report.__file__), "__main__.py")
    spec = importlib.util.spec_from_file_location("bench_main_workers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    a = argparse.Namespace(model="shapes", pairs=6, size=None, families="TaoCache,fewer steps", threads=None,
                           profiles_from="results/placement_30_pairs/profiles")
    args = bench.worker_args(a, "uni_pc", 50, bench.Path("/tmp/part"))
    assert args[1].endswith("benchmark") and "--part" in args
    flat = " ".join(args)
    for expected in ("--samplers uni_pc", "--steps 50", "--timing-repeats 0", "--workers 1", "--out /tmp/part",
                     "--model shapes", "--pairs 6", "--families TaoCache,fewer steps",
                     "--profiles-from results/placement_30_pairs/profiles"):
        assert expected in flat, expected
    assert "--size" not in args and "--threads" not in args
    # as many configurations side by side as the cores hold at the threads each takes, at least one
    cores = bench.usable_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert bench.default_workers(4, 1) == min(4, cores)
    assert bench.default_workers(4, 2) == max(1, min(4, cores // 2))
    assert bench.default_workers(1, 1) == 1


def test_benchmark_workers_stop_the_others_and_leave_no_scratch_when_one_fails(tmp_path, monkeypatch):
    """A worker that fails stops the ones still running and run_in_workers removes its scratch folder
    (it used to stay in /tmp), then says which configuration failed."""
    import importlib.util
    import subprocess
    import sys
    import tempfile
    import pytest
    path = os.path.join(os.path.dirname(report.__file__), "__main__.py")
    spec = importlib.util.spec_from_file_location("bench_main_fail", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    started = []

    def fake_worker_args(a, sampler, steps, folder):
        code = "import sys; sys.exit(3)" if steps == 30 else "import time; time.sleep(60)"
        return [sys.executable, "-c", code]

    real_popen = subprocess.Popen

    def popen(args, **kwargs):
        process = real_popen(args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(bench, "worker_args", fake_worker_args)
    monkeypatch.setattr(bench.subprocess, "Popen", popen)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(SystemExit, match="euler 30 steps failed"):
        bench.run_in_workers(None, [("euler", 30), ("uni_pc", 50)], 2, tmp_path / "out")
    assert len(started) == 2 and all(p.poll() is not None for p in started)  # the sleeper was stopped
    assert not list(tmp_path.glob("taocache_bench_parts_*"))


def test_report_only_takes_the_model_kind_from_the_saved_header():
    """--report-only on a textures run titled its plot and realism section "shapes model" (the --model
    default) until the kind came from the run's own header."""
    import importlib.util
    path = os.path.join(os.path.dirname(report.__file__), "__main__.py")
    spec = importlib.util.spec_from_file_location("bench_main_kind", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    header = ("# TaoCache benchmark\n\nCommit 60efc4e, machine: x86_64, 2026-12-07. Model "
              "tiny_wan21_t2v_textures.safetensors (textures, sha256 74a8a8ad8206); 4 prompt/seed pairs")
    assert bench.saved_kind(header) == "textures"
    assert bench.saved_kind(header.replace("(textures,", "(shapes,")) == "shapes"
    assert bench.saved_kind("# TaoCache benchmark\n\nCommit abc, no model named") is None
