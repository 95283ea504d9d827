"""Where train.py's batches come from: one seeded stream (the default, how the committed models were
trained), or, with the config's `per_step_data`, a generator seeded per step, which lets worker
processes draw batches ahead in parallel and gives the same batches whatever their number.

Why: drawing a textures batch (rendering 24 videos of 8 frames at 2x supersampling, then the DCT
latent) takes about 0.3 s on one core, which is most of a step on a GPU: on a machine with many
cores, `--data-workers` keeps the GPU fed. Each batch depends only on (seed, step), so a resumed
run draws what the uninterrupted one drew without saving any generator state.
"""
from __future__ import annotations

import collections
import multiprocessing

import torch


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one step's batch in per-step mode (distinct from the init's and the
    single stream's seeds)."""
    return torch.Generator().manual_seed((seed + 1) * 1_000_003 + step)


def draw(cfg: dict, step: int):
    """The batch of `step` in per-step mode (in any process)."""
    import train
    torch.set_num_threads(1)
    return train.make_batch(cfg, step_generator(cfg["seed"], step), train.prompt_table(cfg))


class BatchStream:
    """get(step) -> (xs, sigma, ctx, target[, weight]): the weight only with the config's object_weight. Steps must be asked in order from `first_step`."""

    def __init__(self, cfg: dict, gen: torch.Generator, table: torch.Tensor, workers: int = 0,
                 first_step: int = 0, last_step: int | None = None):
        if workers and not cfg.get("per_step_data"):
            raise ValueError("data workers need per_step_data (a batch seeded by its step): "
                             "add --per-step-data, or drop --data-workers")
        self.cfg, self.gen, self.table = cfg, gen, table
        self.next_step = first_step
        self.last_step = cfg["steps"] if last_step is None else last_step
        self.pool = None
        if workers:
            # spawn, not fork: the parent may hold a CUDA context, which a forked child must not touch
            self.pool = multiprocessing.get_context("spawn").Pool(workers)
            self.ahead = collections.deque()
            self.depth = 2 * workers
            self._submit_until(first_step + self.depth)

    def _submit_until(self, end: int):
        start = self.next_step + len(self.ahead)
        for step in range(start, min(end, self.last_step)):
            self.ahead.append(self.pool.apply_async(draw, (self.cfg, step)))

    def get(self, step: int):
        if step != self.next_step:
            raise ValueError(f"batch for step {step} asked, step {self.next_step} expected")
        self.next_step += 1
        if self.pool is not None:
            batch = self.ahead.popleft().get()
            self._submit_until(self.next_step + self.depth)
            return batch
        import train
        if self.cfg.get("per_step_data"):
            return train.make_batch(self.cfg, step_generator(self.cfg["seed"], step), self.table)
        return train.make_batch(self.cfg, self.gen, self.table)

    def close(self):
        """Stop the workers once the batches drawn ahead are done (at most 2 x workers, a second or
        so). Not Pool.terminate(): terminating with results still pending can trip CPython's own
        check in multiprocessing.pool ("Cannot have cache with result_handler not alive"), which
        failed a CI run in tests/unit/test_train_batches.py."""
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None
            self.ahead.clear()
