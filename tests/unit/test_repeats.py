"""taocache/repeats.py: a branch evaluated again on the same sampler state and noise level gets a key
of its own; another state (other content, another noise level) does not."""
import threading

import torch

from taocache.repeats import RepeatedEvaluations, is_repeat, state_of

COND, UNCOND = ("u1", 0), ("u2", 1)
A, B = ("state", "a"), ("state", "b")


def test_a_branch_evaluated_again_on_the_same_state_is_numbered():
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    assert repeats.keys([COND, UNCOND]) == [COND, UNCOND]
    repeats.begin(A, 0.9)  # a post-CFG guidance evaluates the cond again
    assert repeats.keys([COND]) == [(COND, "again", 1)]
    repeats.begin(A, 0.9)
    assert repeats.keys([COND, UNCOND]) == [(COND, "again", 2), (UNCOND, "again", 1)]
    assert is_repeat((COND, "again", 1)) and not is_repeat(COND)


def test_branches_split_over_evaluations_of_one_state_keep_their_keys():
    """SkipLayerGuidanceDiTSimple: the cond alone, then the uncond alone, on the same x."""
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    assert repeats.keys([COND]) == [COND]
    repeats.begin(A, 0.9)
    assert repeats.keys([UNCOND]) == [UNCOND]


def test_several_calls_of_one_evaluation_are_not_repeats():
    """Short of memory, ComfyUI splits one evaluation into several model calls."""
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    assert repeats.keys([COND]) == [COND]
    assert repeats.keys([UNCOND]) == [UNCOND]


def test_a_branch_that_comes_twice_within_one_evaluation_is_numbered():
    """A model wrapper outside TaoCache's calls the model again on another input (HiDreamO1PatchSeamSmoothing)."""
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    assert repeats.keys([COND, UNCOND]) == [COND, UNCOND]
    assert repeats.keys([COND, UNCOND]) == [(COND, "again", 1), (UNCOND, "again", 1)]
    repeats.begin(A, 0.9)  # and a guidance evaluation after it counts both
    assert repeats.keys([COND]) == [(COND, "again", 2)]


def test_evaluations_of_context_windows_interleave_each_on_its_own_state():
    """Context windows: each window is evaluated on its own slice, the guidance's evaluation too."""
    repeats = RepeatedEvaluations()
    w1, w2 = (COND, (0, 1)), (COND, (1, 2))
    repeats.begin(A, 0.9)
    assert repeats.keys([w1]) == [w1]
    repeats.begin(B, 0.9)
    assert repeats.keys([w2]) == [w2]
    repeats.begin(A, 0.9)
    assert repeats.keys([w1]) == [(w1, "again", 1)]
    repeats.begin(B, 0.9)
    assert repeats.keys([w2]) == [(w2, "again", 1)]


def test_another_state_or_noise_level_is_not_a_repeat():
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    repeats.keys([COND])
    repeats.begin(B, 0.9)  # Heun: the same noise level on another x
    assert repeats.keys([COND]) == [COND]
    repeats.begin(B, 0.8)  # the same state at another noise level
    assert repeats.keys([COND]) == [COND]
    repeats.begin(A, 0.8)
    repeats.begin(A, 0.7)  # an earlier noise level's evaluations are forgotten
    assert repeats.keys([COND]) == [COND]


def test_an_unknown_state_is_never_a_repeat():
    repeats = RepeatedEvaluations()
    repeats.begin(None, 0.9)
    repeats.keys([COND])
    repeats.begin(None, 0.9)
    assert repeats.keys([COND]) == [COND]
    repeats.begin(A, None)  # no noise level: nothing is compared
    repeats.keys([COND])
    repeats.begin(A, None)
    assert repeats.keys([COND]) == [COND]


def test_state_of_tells_content_not_objects():
    x = torch.randn(1, 4, 3, 8, 8)
    assert state_of(x) == state_of(x.clone())  # a fresh slice or copy of the same state
    assert state_of(x) != state_of(x + 1e-3)  # Heun's next x
    assert state_of(x) != state_of(x.reshape(1, 4, 3, 64))
    assert state_of([x]) is None


def test_without_begin_a_new_noise_level_starts_a_new_evaluation():
    """A caller that runs the model without calc_cond_batch never calls begin: the noise level
    separates its evaluations, and a branch repeated at one level is still numbered."""
    repeats = RepeatedEvaluations()
    assert repeats.keys([COND], 0.9) == [COND]
    assert repeats.keys([COND], 0.8) == [COND]
    assert repeats.keys([COND], 0.8) == [(COND, "again", 1)]
    assert repeats.keys([COND], 0.7) == [COND]


def test_calls_at_the_evaluation_s_own_noise_level_keep_its_state():
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    assert repeats.keys([COND], 0.9) == [COND]
    repeats.begin(A, 0.9)
    assert repeats.keys([COND], 0.9) == [(COND, "again", 1)]


def test_calls_from_worker_threads_of_one_evaluation_share_it():
    """Multi-GPU CFG split: cond and uncond of one evaluation come from two threads at once."""
    repeats = RepeatedEvaluations()
    repeats.begin(A, 0.9)
    out = {}
    threads = [threading.Thread(target=lambda k=k: out.__setitem__(k, repeats.keys([k]))) for k in (COND, UNCOND)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {COND: [COND], UNCOND: [UNCOND]}
    repeats.begin(A, 0.9)
    assert repeats.keys([UNCOND, COND]) == [(UNCOND, "again", 1), (COND, "again", 1)]
