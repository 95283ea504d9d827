"""tools/benchmark/tiny_comfy.paired_wall_ratios: each method is timed right after the reference at
every call depth of the round, and the fastest of each makes the pair (tiny_comfy.TIMING_DEPTHS: a
run whose hot call path straddles one of CPython's 16 KiB frame-stack chunks is slower at that depth
only). Plain Python, no ComfyUI: the timed 'runs' are fakes that read how deep they were called."""
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "benchmark"))

import tiny_comfy  # noqa: E402


def stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_at_call_depth_adds_exactly_that_many_frames():
    base = tiny_comfy.at_call_depth(0, stack_depth)
    assert tiny_comfy.at_call_depth(43, stack_depth) == base + 43
    assert tiny_comfy.at_call_depth(86, stack_depth) == base + 86


def test_the_fastest_depth_of_each_side_makes_the_pair():
    calls = {"full": 30, "cached": 20}
    # the reference is slow at the middle depth, the method at the first: a thrash band each
    slow = {("full", 43): 2.0, ("cached", 0): 2.0}
    log = []
    first = []  # the stack depth of the first call, made at call depth 0

    def time_run(method):
        first[:] = first or [stack_depth()]
        depth = stack_depth() - first[0]
        log.append((method, depth))
        return calls[method], slow.get((method, depth), 1.0) * calls[method] / 30

    (entry,) = tiny_comfy.paired_wall_ratios(time_run, "full", ["cached"], repeats=2, depths=(0, 43, 86))
    # paired: reference then method at each depth, in order, every round
    assert log == [("full", 0), ("cached", 0), ("full", 43), ("cached", 43), ("full", 86), ("cached", 86)] * 2
    assert entry["calls"] == 20
    assert entry["pairs"] == [(1.0, 20 / 30)] * 2
    assert abs(entry["median"] - 1.5) < 1e-9  # the call ratio; a single depth would have given 0.75 or 3.0
    assert [d for d, _, _ in entry["by_depth"][0]] == [0, 43, 86]
    # one depth only: the old single pair, thrash included
    (single,) = tiny_comfy.paired_wall_ratios(time_run, "full", ["cached"], repeats=1, depths=(0,))
    assert abs(single["median"] - 0.75) < 1e-9
