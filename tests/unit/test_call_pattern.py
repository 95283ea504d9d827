"""taocache/call_pattern.py: a sampler's calls per step, and the call a plan skips, from the positions
of one branch's calls in the warm-up."""
from taocache.call_pattern import SKIP_FIRST_CALL, SKIP_SECOND_CALL, CallPattern, learn


def test_each_pattern_gives_its_calls_per_step_and_the_call_to_skip():
    assert learn([0.0, 1.0, 2.0], 3) is None  # euler: one call per step, nothing to change
    heun = learn([0.0, 1.0, 1.0, 2.0, 2.0], 3)
    assert (heun.calls_per_step, heun.skipped_call, heun.seen) == (2, SKIP_SECOND_CALL, 5)
    pece = learn([0.0, 0.0, 1.0, 1.0, 2.0, 2.0], 3)
    assert (pece.calls_per_step, pece.skipped_call) == (2, SKIP_FIRST_CALL)
    midpoint = learn([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], 3)
    assert (midpoint.calls_per_step, midpoint.skipped_call) == (2, SKIP_FIRST_CALL)
    seeds_3 = learn([s + f for s in (0.0, 1.0, 2.0) for f in (0.0, 0.3, 0.7)], 3)
    assert (seeds_3.calls_per_step, seeds_3.skipped_call) == (3, SKIP_FIRST_CALL)
    assert "three times per step in its first 3 steps (9 calls)" in seeds_3.describe(3)


def test_one_branch_is_followed_and_the_answer_comes_at_the_first_call_past_the_warm_up():
    """Only the first branch seen counts (an uncond in its own call, another context window's key
    would double the count); the answer comes once, at that branch's first call at or past step 3."""
    pattern = CallPattern(3)
    for position in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        assert pattern.observe(["cond"], position) is None
        assert pattern.observe(["uncond"], position) is None
    assert not pattern.finished
    assert pattern.observe(["uncond"], 3.0) is None and not pattern.finished
    learned = pattern.observe(["cond"], 3.0)
    assert pattern.finished and (learned.calls_per_step, learned.skipped_call) == (2, SKIP_FIRST_CALL)
    assert pattern.observe(["cond"], 3.5) is None
