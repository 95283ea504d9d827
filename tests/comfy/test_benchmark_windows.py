"""The benchmark's early/mid window lies on the schedule the sampler really runs: KSampler's
`calculate_sigmas` (comfy.samplers, the same in 0.3.75 and 0.38.1) drops the penultimate sigma of a
one-step-longer schedule for uni_pc, and the TaoCache node places a window on the run's own sigmas."""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def benchmark_main():
    """tools/benchmark/__main__.py as a module (it puts its folders on sys.path; put back after)."""
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("bench_main_windows", REPO / "tools" / "benchmark" / "__main__.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


def test_the_early_mid_window_is_placed_on_each_samplers_own_schedule(comfy_inprocess):
    import comfy.samplers
    bench = benchmark_main()
    assert {"uni_pc", "uni_pc_bh2"} <= comfy.samplers.KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS
    assert bench.early_window(30, "euler") == (0.0, 0.733)
    assert bench.early_window(50, "euler") == (0.0, 0.721)
    # on uni_pc's schedule the same rule (as many skippable steps as the late window, plus three) ends earlier
    assert bench.early_window(30, "uni_pc") == (0.0, 0.677)
    assert bench.early_window(50, "uni_pc") == (0.0, 0.686)


def test_the_benchmark_header_names_the_cpu_the_torch_build_and_its_kernels(comfy_inprocess):
    """uni_pc rows moved between two runtimes of the same pinned packages (docs/method.md): the header
    says which machine and kernels made a result."""
    import torch
    text = benchmark_main().machine_description(torch)
    assert f"torch {torch.__version__}" in text
    assert f"{torch.backends.cpu.get_cpu_capability()} kernels" in text
    assert "cores" in text and not text.startswith(",")
