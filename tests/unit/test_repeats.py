"""taocache/repeats.py: a branch evaluated again on the same sampler state and noise level gets a key
of its own; a new state (another x object, another noise level) starts over."""
import gc
import threading

import torch

from taocache.repeats import RepeatedEvaluations, is_repeat

COND, UNCOND = ("u1", 0), ("u2", 1)


def test_a_branch_evaluated_again_on_the_same_state_is_numbered():
    repeats, x = RepeatedEvaluations(), torch.zeros(2)
    repeats.begin(x, 0.9)
    assert repeats.keys([COND, UNCOND]) == [COND, UNCOND]
    repeats.begin(x, 0.9)  # a post-CFG guidance evaluates the cond again
    assert repeats.keys([COND]) == [(COND, "again", 1)]
    repeats.begin(x, 0.9)
    assert repeats.keys([COND, UNCOND]) == [(COND, "again", 2), (UNCOND, "again", 1)]
    assert is_repeat((COND, "again", 1)) and not is_repeat(COND)


def test_branches_split_over_evaluations_of_one_state_keep_their_keys():
    """SkipLayerGuidanceDiTSimple: the cond alone, then the uncond alone, on the same x."""
    repeats, x = RepeatedEvaluations(), torch.zeros(2)
    repeats.begin(x, 0.9)
    assert repeats.keys([COND]) == [COND]
    repeats.begin(x, 0.9)
    assert repeats.keys([UNCOND]) == [UNCOND]


def test_several_calls_of_one_evaluation_are_not_repeats():
    """Short of memory, ComfyUI splits one evaluation into several model calls."""
    repeats, x = RepeatedEvaluations(), torch.zeros(2)
    repeats.begin(x, 0.9)
    assert repeats.keys([COND]) == [COND]
    assert repeats.keys([UNCOND]) == [UNCOND]


def test_a_branch_that_comes_twice_within_one_evaluation_is_numbered():
    """A model wrapper outside TaoCache's calls the model again on another input (HiDreamO1PatchSeamSmoothing)."""
    repeats, x = RepeatedEvaluations(), torch.zeros(2)
    repeats.begin(x, 0.9)
    assert repeats.keys([COND, UNCOND]) == [COND, UNCOND]
    assert repeats.keys([COND, UNCOND]) == [(COND, "again", 1), (UNCOND, "again", 1)]
    repeats.begin(x, 0.9)  # and a guidance evaluation after it counts both
    assert repeats.keys([COND]) == [(COND, "again", 2)]


def test_a_new_state_or_noise_level_starts_over():
    repeats = RepeatedEvaluations()
    x, x_next = torch.zeros(2), torch.zeros(2)
    repeats.begin(x, 0.9)
    repeats.keys([COND])
    repeats.begin(x_next, 0.9)  # Heun: the same noise level on a new x
    assert repeats.keys([COND]) == [COND]
    repeats.begin(x_next, 0.8)  # the same x object at another noise level
    assert repeats.keys([COND]) == [COND]
    repeats.begin(x_next, None)  # no noise level: nothing is compared
    assert repeats.keys([COND]) == [COND]
    repeats.begin(x_next, None)
    assert repeats.keys([COND]) == [COND]


def test_only_a_weak_reference_is_held_and_a_freed_state_never_matches():
    repeats = RepeatedEvaluations()
    x = torch.zeros(2)
    repeats.begin(x, 0.9)
    repeats.keys([COND])
    del x
    gc.collect()
    y = torch.zeros(2)  # may reuse the freed memory: still another state
    repeats.begin(y, 0.9)
    assert repeats.keys([COND]) == [COND]


def test_a_state_without_weak_references_is_never_a_repeat():
    repeats, x = RepeatedEvaluations(), [1, 2]  # a list cannot be weakly referenced
    repeats.begin(x, 0.9)
    repeats.keys([COND])
    repeats.begin(x, 0.9)
    assert repeats.keys([COND]) == [COND]


def test_calls_from_worker_threads_of_one_evaluation_share_it():
    """Multi-GPU CFG split: cond and uncond of one evaluation come from two threads at once."""
    repeats, x = RepeatedEvaluations(), torch.zeros(2)
    repeats.begin(x, 0.9)
    out = {}
    threads = [threading.Thread(target=lambda k=k: out.__setitem__(k, repeats.keys([k]))) for k in (COND, UNCOND)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {COND: [COND], UNCOND: [UNCOND]}
    repeats.begin(x, 0.9)
    assert repeats.keys([UNCOND, COND]) == [(UNCOND, "again", 1), (COND, "again", 1)]


def test_without_begin_a_new_noise_level_starts_a_new_evaluation():
    """A caller that runs the model without calc_cond_batch never calls begin: the noise level
    separates its evaluations, and a branch repeated at one level is still numbered."""
    repeats = RepeatedEvaluations()
    assert repeats.keys([COND], 0.9) == [COND]
    assert repeats.keys([COND], 0.8) == [COND]
    assert repeats.keys([COND], 0.8) == [(COND, "again", 1)]
    assert repeats.keys([COND], 0.7) == [COND]


def test_calls_at_the_evaluation_s_own_noise_level_keep_its_state():
    repeats, x = RepeatedEvaluations(), torch.zeros(2)
    repeats.begin(x, 0.9)
    assert repeats.keys([COND], 0.9) == [COND]
    repeats.begin(x, 0.9)
    assert repeats.keys([COND], 0.9) == [(COND, "again", 1)]
