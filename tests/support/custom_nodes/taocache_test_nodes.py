"""Test-only ComfyUI custom nodes for TaoCache's integration tests (never shipped with the pack).

The test harness copies this file into <base>/custom_nodes/. It provides:

TaoTestConditioning  CONDITIONING without a text encoder: [[tensor[1, length, width], extras]], seeded
                     N(0, 1) * scale (scale 0 gives zeros). `extras` adds what a model family needs:
                       "none"           {}                         (Wan2.1 / Wan2.2: width 4096)
                       "hunyuan_video"  {"pooled_output": [1, pooled_width] (same seed and scale),
                                         "guidance": guidance}     (HunyuanVideo: width 4096, pooled 768;
                                                                    Flux: the same)
                       "pooled"         {"pooled_output": [1, pooled_width]}  (SD3: pooled 2048; SDXL: 1280)
                       "hidream"        "pooled" and {"conditioning_llama3": [1, 2, length, 4096]}
                                                                   (the tiny HiDream: two Llama layers)
TaoTestCountCalls    MODEL -> MODEL. Counts how often the diffusion model's real forward runs during
                     each sampling run: on a clone of the model it registers a keyed OUTER_SAMPLE wrapper
                     ("taotest_count") that, only while sampling, puts a forward pre-hook on the model's
                     first compute submodule (Wan `patch_embedding`, HunyuanVideo/Flux `img_in`, ...). A
                     cache wrapper that returns before the real forward runs is therefore not counted.
                     After each sampling run it appends one JSON line to $TAOTEST_CALLS_FILE (default
                     <output dir>/taotest_calls.jsonl):
                       {"calls": n, "batch_sizes": [batch of each call], "hooked": "patch_embedding",
                        "label": <label input>, "seconds": wall time of the sampling run,
                        "output_norms": [L2 norm of the diffusion model's output, per call of its forward,
                                         skipped calls included (a forward hook on the whole model)]}
"""
import json
import logging
import os
import time

import torch

import comfy.patcher_extension
import folder_paths

CALLS_ENV = "TAOTEST_CALLS_FILE"
WRAPPER_KEY = "taotest_count"
# First compute submodule of each DiT family's forward, in the order they are tried.
ENTRY_MODULES = ("patch_embedding", "img_in", "x_embedder", "patchify_proj", "init_x_linear")
# Networks whose first submodule runs more than once per forward: Wan2.2 S2V and Wan2.1 HuMo also embed
# their reference latent with patch_embedding; their time embedding runs once.
ENTRY_MODULE_BY_CLASS = {"WanModel_S2V": "time_embedding", "HumoWanModel": "time_embedding"}


class TaoTestConditioning:
    EXTRAS = ["none", "hunyuan_video", "ltxv", "hunyuan_video_15", "pooled", "hidream", "token_mask",
              "hunyuan_dit"]

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "length": ("INT", {"default": 16, "min": 1, "max": 1024}),
                "width": ("INT", {"default": 4096, "min": 1, "max": 16384}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1}),
                "scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01}),
                "extras": (cls.EXTRAS, {"default": "none"}),
            },
            "optional": {
                "guidance": ("FLOAT", {"default": 6.0, "min": 0.0, "max": 100.0, "step": 0.1}),
                "pooled_width": ("INT", {"default": 768, "min": 1, "max": 16384}),
            },
        }

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "testing/taotest"
    DESCRIPTION = "Seeded random (scale 0: zero) conditioning for tests; no text encoder needed."

    def make(self, length, width, seed, scale, extras, guidance=6.0, pooled_width=768):
        g = torch.Generator().manual_seed(seed)
        cond = torch.randn(1, length, width, generator=g) * scale
        extra = {}
        if extras in ("hunyuan_video", "pooled", "hidream"):
            extra["pooled_output"] = torch.randn(1, pooled_width, generator=g) * scale
        if extras == "hunyuan_video":
            extra["guidance"] = float(guidance)
        if extras == "ltxv":  # LTXV's T5 encode returns an integer token mask (padding 0); its model needs one
            mask = torch.ones(1, length, dtype=torch.long)
            mask[:, max(1, length * 3 // 4):] = 0
            extra["attention_mask"] = mask
        if extras == "hunyuan_dit":  # HunyuanDiT's second encoder: mT5-XL states (2048) and both token masks
            extra["attention_mask"] = torch.ones(1, length, dtype=torch.long)
            extra["conditioning_mt5xl"] = torch.randn(1, length, 2048, generator=g) * scale
            extra["attention_mask_mt5xl"] = torch.ones(1, length, dtype=torch.long)
        if extras == "token_mask":  # a token mask without padding, as ComfyUI's Qwen2.5-VL encode for
            # OmniGen2 gives it (unpadded prompts): the model reads the token count from it
            extra["attention_mask"] = torch.ones(1, length, dtype=torch.long)
        if extras == "hidream":  # Llama 3.1 hidden states of 2 layers, [1, layers, length, 4096]
            extra["conditioning_llama3"] = torch.randn(1, 2, length, 4096, generator=g) * scale
        if extras == "hunyuan_video_15":  # its text encoder has no pooled output, but the key is there
            extra["pooled_output"] = None
        return ([[cond, extra]],)


def find_entry_module(diffusion_model):
    """(name, module) of the first compute submodule that only the real forward calls, once per call."""
    for name in (ENTRY_MODULE_BY_CLASS.get(type(diffusion_model).__name__),) + ENTRY_MODULES:
        if name is None:
            continue
        mod = getattr(diffusion_model, name, None)
        if isinstance(mod, torch.nn.Module):
            return name, mod
    for name, mod in diffusion_model.named_modules():  # fallback: first module with own weights
        if name and any(True for _ in mod.parameters(recurse=False)):
            return name, mod
    raise RuntimeError(f"TaoTestCountCalls: no submodule to hook on {type(diffusion_model).__name__}")


def calls_file():
    return os.environ.get(CALLS_ENV) or os.path.join(folder_paths.get_output_directory(), "taotest_calls.jsonl")


def make_count_wrapper(label):
    def taotest_count_outer_sample(executor, *args, **kwargs):
        guider = executor.class_obj  # comfy.samplers.CFGGuider
        diffusion_model = guider.model_patcher.model.diffusion_model
        name, module = find_entry_module(diffusion_model)
        batch_sizes = []

        def pre_hook(_module, inputs):
            x = inputs[0] if inputs else None
            batch_sizes.append(int(x.shape[0]) if torch.is_tensor(x) else -1)

        output_norms = []

        def output_hook(_module, _inputs, output):
            # the L2 norm of the whole model output of the call (all batched branches together),
            # for the per-step output-norm ratio curve of the benchmark's realism figures
            if torch.is_tensor(output):
                output_norms.append(float(output.detach().float().norm()))

        handle = module.register_forward_pre_hook(pre_hook)
        out_handle = diffusion_model.register_forward_hook(output_hook)
        started = time.perf_counter()
        try:
            return executor(*args, **kwargs)
        finally:
            handle.remove()
            out_handle.remove()
            record = {"calls": len(batch_sizes), "batch_sizes": batch_sizes, "hooked": name, "label": label,
                      "seconds": time.perf_counter() - started, "output_norms": output_norms}
            path = calls_file()
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            logging.info("TaoTestCountCalls: %s forward calls (%s)", len(batch_sizes), name)

    return taotest_count_outer_sample


class TaoTestCountCalls:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"model": ("MODEL",)},
            "optional": {"label": ("STRING", {"default": ""})},
        }

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing/taotest"
    DESCRIPTION = "Counts real diffusion-model forward calls per sampling run into a JSON-lines file."

    def patch(self, model, label=""):
        m = model.clone()
        m.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, WRAPPER_KEY)
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, WRAPPER_KEY, make_count_wrapper(label))
        return (m,)


class TaoTestBypassDiffusionWrapper:
    """MODEL -> MODEL whose diffusion model's forward skips the DIFFUSION_MODEL wrapper point (it calls
    `_forward` directly), like a model family that never added that wrapper point. Lets tests check
    the APPLY_MODEL fallback on the real Wan architecture."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing/taotest"

    def patch(self, model):
        model = model.clone()
        diffusion_model = model.get_model_object("diffusion_model")
        model.add_object_patch("diffusion_model.forward", diffusion_model._forward)
        return (model,)


# dict(...), not a {...} literal: ComfyUI-Manager's scanner reads literal mappings in every file of a
# repository and would list these test nodes as the pack's own.
NODE_CLASS_MAPPINGS = dict(TaoTestConditioning=TaoTestConditioning, TaoTestCountCalls=TaoTestCountCalls,
                           TaoTestBypassDiffusionWrapper=TaoTestBypassDiffusionWrapper)
NODE_DISPLAY_NAME_MAPPINGS = dict(TaoTestConditioning="TaoTest: synthetic conditioning",
                                  TaoTestCountCalls="TaoTest: count forward calls")
