"""A trained tiny Wan2.1 model (shapes or textures, tools/tiny_wan/kinds.py) in a real ComfyUI: the pieces the benchmark and the demo share.

A ComfyUI base directory with the model and the TinyWanPrompt node, the text-to-video graph
(UNETLoader -> ModelSamplingSD3(8) -> [a method's nodes] -> TaoTestCountCalls -> KSampler, cfg 5),
decoding of the resulting LATENT to RGB frames, and paired wall-clock ratios.
"""
from __future__ import annotations

import logging
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _path in (str(REPO / "tools"), str(REPO / "tests" / "comfy")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import harness  # noqa: E402  (the real-ComfyUI harness the integration tests use)
from tiny_wan import latent  # noqa: E402

MODEL_FILE = REPO / "models" / "tiny_wan21_t2v_shapes.safetensors"
MISSING_MODEL_HINT = (f"The trained tiny model is {MODEL_FILE.relative_to(REPO)}, committed with the repository: "
                      f"restore it from git, or train it again with `.runtime/venv/bin/python tools/tiny_wan/train.py` "
                      f"(its defaults write that file; this runs for a while on a CPU), or pass --model PATH.")
SHIFT = 8.0
CFG = 5.0


def require_model(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"model not found: {path}\n{MISSING_MODEL_HINT}")
    return path


def install_prompt_node(base) -> None:
    folder = base.custom_nodes_dir / "tiny_wan_nodes"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "tools" / "tiny_wan" / "data.py", folder / "data.py")
    shutil.copy(REPO / "tools" / "tiny_wan" / "comfy_prompt_node.py", folder / "__init__.py")


def start_comfy(model_path: Path, prefix: str, quiet: bool = False) -> "harness.InProcessComfy":
    """An in-process ComfyUI over a fresh base directory holding the model (under its own file name),
    the TaoCache pack, the test nodes and the TinyWanPrompt node. ComfyUI's INFO chatter stays off
    the console; quiet: its warnings and the sampler's progress bars too (errors still show)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()  # what the first logging.warning() of an import would do, so it can be quieted
    console_level = logging.ERROR if quiet else logging.WARNING
    for handler in root.handlers:
        handler.setLevel(console_level)
    base = harness.make_base_dir(Path(tempfile.mkdtemp(prefix=prefix)))
    shutil.copy(model_path, base.models_dir / Path(model_path).name)
    install_prompt_node(base)
    runner = harness.InProcessComfy.start(harness.locate_comfyui(), base)
    for handler in root.handlers:
        handler.setLevel(console_level)
    if quiet:
        import comfy.utils
        comfy.utils.set_progress_bar_enabled(False)
    return runner


def graph(method, prompt: str, seed: int, sampler: str, size: tuple[int, int, int], model_name: str,
          cfg: float = CFG, *, word_positions: bool) -> dict:
    """API-format prompt for one run. method: anything with .insert ((class_type, inputs), ...),
    .name and .steps (methods.Method). size: EmptyHunyuanLatentVideo width, height, length.
    word_positions: the prompt embedded with them, as a model trained with train.py --ordered-prompt
    was (check_learned.model_orders_words; the textures model). No default: placement_study.py,
    fixed_window_errors.py and wall_probe.py once left it out and prompted the textures model
    otherwise than it was trained."""
    width, height, length = size
    g = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": model_name, "weight_dtype": "default"}},
        "2": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": SHIFT}},
        "4": {"class_type": "TinyWanPrompt", "inputs": {"text": prompt, "word_positions": word_positions}},
        "5": {"class_type": "TinyWanPrompt", "inputs": {"text": ""}},
        "6": {"class_type": "EmptyHunyuanLatentVideo",
              "inputs": {"width": width, "height": height, "length": length, "batch_size": 1}},
    }
    previous = "2"
    for i, (class_type, inputs) in enumerate(method.insert):
        g[str(10 + i)] = {"class_type": class_type, "inputs": {**inputs, "model": [previous, 0]}}
        previous = str(10 + i)
    g["3"] = {"class_type": "TaoTestCountCalls", "inputs": {"model": [previous, 0], "label": method.name}}
    g["7"] = {"class_type": "KSampler", "inputs": {
        "model": ["3", 0], "seed": seed, "steps": method.steps, "cfg": cfg, "sampler_name": sampler,
        "scheduler": "simple", "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0], "denoise": 1.0}}
    g["8"] = {"class_type": "SaveLatent", "inputs": {"samples": ["7", 0], "filename_prefix": "latents/bench"}}
    return g


def comfy_size(frames: int, size: int, codec=latent) -> tuple[int, int, int]:
    """EmptyHunyuanLatentVideo (width, height, length) whose latent decodes to `frames` frames of
    size x size px: ComfyUI's latent is 1/8 of width and height and (length - 1) / 4 + 1 frames; the
    tiny model's latent is 1/codec.SPATIAL of the frame size (1/2 shapes, 1/4 textures), frame for frame."""
    pixels_per_latent = 8 // codec.SPATIAL
    return size * pixels_per_latent, size * pixels_per_latent, (frames - 1) * 4 + 1


def decode(comfy_latent, codec=latent):
    """A LATENT from KSampler -> RGB frames [B, 3, T, H, W] (not clamped), through the model's codec."""
    return codec.decode(latent.comfy_latent_to_model(comfy_latent))


# Python call depths (extra frames of at_call_depth) at which every timed run is repeated; the fastest
# counts. CPython 3.11 keeps frames on a data stack of 16 KiB chunks and unmaps a chunk as soon as the
# last frame in it returns, so a hot call path (the model's forward calls its blocks, they call torch)
# that straddles a chunk boundary maps, faults in and unmaps a chunk at each crossing: about 70 us
# each with two torch threads, 5 ms of a 25 ms forward of the textures model. Which run straddles a
# boundary depends on how deep the sampling loop sits, not on the method (the wrapper frames of a
# cache node shift it: the full run is the slow one at some depths, the cached run at others;
# `python tools/benchmark/wall_probe.py --depths 0,6,...,150`). One chunk holds about 130 frames of
# at_call_depth, so three depths a third of that apart put at least one run of each method clear of
# a boundary. On a real model a forward costs seconds and the crossings stay the same few
# milliseconds, so this matters only at test-model size.
TIMING_DEPTHS = (0, 43, 86)


def at_call_depth(extra_frames: int, fn: Callable):
    """fn(), called extra_frames Python frames deeper than this call."""
    if extra_frames <= 0:
        return fn()
    return at_call_depth(extra_frames - 1, fn)


def paired_wall_ratios(time_run: Callable, reference, methods: list, repeats: int,
                       depths: tuple[int, ...] = TIMING_DEPTHS) -> list[dict]:
    """Wall-clock ratios reference/method, paired: each timing of a method is taken right after one
    of the reference at the same call depth, methods interleaved, `repeats` rounds (wall clock on a
    shared CPU drifts, so a ratio of neighbours is steadier than a ratio of separate means). In a
    round both are timed at every depth in `depths` (TIMING_DEPTHS: why) and the fastest of each
    makes the round's pair. time_run(method) -> (calls, seconds). Returns one dict(calls, ratios,
    median, pairs=[(reference s, method s), ...], by_depth=[[(depth, reference s, method s), ...]
    per round]) per method."""
    out = [dict(calls=None, ratios=[], pairs=[], by_depth=[]) for _ in methods]
    for _ in range(repeats):
        for m, entry in zip(methods, out):
            timings = []
            for depth in depths:
                _, reference_seconds = at_call_depth(depth, lambda: time_run(reference))
                calls, seconds = at_call_depth(depth, lambda: time_run(m))
                entry["calls"] = calls
                timings.append((depth, reference_seconds, seconds))
            pair = (min(t[1] for t in timings), min(t[2] for t in timings))
            entry["by_depth"].append(timings)
            entry["pairs"].append(pair)
            entry["ratios"].append(pair[0] / pair[1])
    for entry in out:
        entry["median"] = statistics.median(entry["ratios"])
    return out
