"""Test-only ComfyUI nodes for TaoCache's robustness tests (never shipped with the pack).

The test harness copies this file into <base>/custom_nodes/ next to taocache_test_nodes.py. Nodes:

TaoTestSigmas         SIGMAS typed by hand ("1.0, 0.9, ..., 0"), a ManualSigmas-like node (ComfyUI
                      0.3.75 has none) for SamplerCustomAdvanced.
TaoTestSplitBatches   MODEL -> MODEL. While ComfyUI batches conditionings (CALC_COND_BATCH) the model's
                      memory estimate says a batch never fits, so _calc_cond_batch runs cond and uncond
                      as separate model calls, as on a GPU that is short of memory.
TaoTestFault          MODEL -> MODEL. Inside the diffusion model's real forward, at its `at_call`-th
                      call of a sampling run (1-based, counting real forward calls):
                        raise      raises TaoTestModelError("taotest fault at call N")
                        interrupt  asks ComfyUI to stop (interrupt_current_processing), as the Cancel
                                   button does; ComfyUI stops at its next step callback
                        nan        the model's output (the Wan `head` module's) becomes NaN
TaoTestAliasing       MODEL -> MODEL. A DIFFUSION_MODEL wrapper that hands its caller a copy of the output
                      and then fills the tensor the call returned with NaN (whoever kept a reference to
                      it without copying sees garbage), and raises TaoTestModelError when the call
                      changed its input in place. The wrapper that is added first runs outermost.
TaoTestCompileModel   MODEL -> MODEL. Core torch.compile wrapper (comfy_api.torch_helpers) with a
                      backend that runs the captured graphs eagerly and records, for every graph, the
                      source files of its operations (TaoTestCompileModel.graphs). Fast on CPU: no
                      code generation, but dynamo traces exactly as for inductor.
TaoTestUnwrappable    MODEL -> MODEL. The same model as an object without keyed wrappers
                      (`add_wrapper_with_key` hidden), as a model type from an older ComfyUI or
                      another pack would be.
TaoTestPeerCacheKeys  MODEL -> MODEL with what a peer caching pack's node puts in transformer_options
                      (pack "MagCache": magcache_thresh, retention_ratio, mag_ratios, magcache_K, as
                      Zehong-Ma/ComfyUI-MagCache's MagCache node; "TeaCache": rel_l1_thresh,
                      coefficients, max_skip_steps, as welltop-cn/ComfyUI-TeaCache's; "TeaCacheKJ":
                      rel_l1_thresh, teacache_device, coefficients, as kijai/ComfyUI-KJNodes'
                      WanVideoTeaCacheKJ; "FBCache": no keys, the model function wrapper
                      chengzeyi/Comfy-WaveSpeed's ApplyFBCacheOnModel sets, by its name, passing
                      every call through), nothing else:
                      their caching is not reproduced, only what TaoCache reads to name them.
TaoTestAttentionOverride MODEL -> MODEL with transformer_options["optimized_attention_override"], the
                      hook attention-kernel nodes use (KJNodes' SageAttention patch): here every attention
                      runs on bfloat16 copies of q, k and v, a cheaper kernel's rounding without the kernel.
TaoTestPatcherSubclass MODEL -> MODEL as a ModelPatcher subclass whose clone() keeps the subclass, as
                      ComfyUI-GGUF's GGUFModelPatcher does (its dequantizing ops are not reproduced).
TaoTestDropOptionKeys MODEL -> MODEL. A DIFFUSION_MODEL wrapper (put it upstream of TaoCache: its
                      wrapper then runs outside the pack's) that hands the rest of the chain a copy of
                      transformer_options without the given keys (comma-separated: "sigmas",
                      "uuids,cond_or_uncond"; "context_window.index_list": the context window
                      replaced by an object without index_list), as a ComfyUI or another pack that
                      does not fill them would (welltop-cn/ComfyUI-TeaCache#134/#136 and #82 raised
                      KeyErrors on such keys).
TaoTestOtherPackSampler -> SAMPLER, as another pack's sampler node gives one (RES4LYF's multistage
                      samplers call the model at the step's level and again between it and the
                      next): a KSAMPLER whose function has a name the pack does not know, running
                        three_stage     the runtime's seeds_3 (the level, then two points before
                                        the next level)
                        heun            the runtime's heun (each level twice, the second time by
                                        the next step)
                        one_then_three  euler for the first 6 steps, then seeds_3: the calls per
                                        step change after the warm-up
"""
import logging

import torch

import comfy.model_management
import comfy.patcher_extension

log = logging.getLogger("taotest_robustness")


class TaoTestSigmas:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("STRING", {"default": "1.0, 0.5, 0.0", "multiline": False})}}

    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "make"
    CATEGORY = "testing/taotest"

    def make(self, sigmas):
        return (torch.tensor([float(v) for v in sigmas.replace(";", ",").split(",") if v.strip()]),)


def _no_room_while_batching(executor, model, *args, **kwargs):
    """_calc_cond_batch batches conditionings only while model.memory_required(...) * 1.5 is below
    the free memory: an infinite requirement makes every conditioning its own call."""
    model.memory_required = lambda *a, **k: float("inf")
    try:
        return executor(model, *args, **kwargs)
    finally:
        del model.memory_required  # the instance attribute: the class's method shows again


class _ModelPatch:
    """MODEL in, MODEL out: the shape of every test node here that patches a model."""
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing/taotest"


class TaoTestSplitBatches(_ModelPatch):

    def patch(self, model):
        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "taotest_split",
                               _no_room_while_batching)
        return (m,)


class TaoTestDropOptionKeys(_ModelPatch):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "keys": ("STRING", {"default": "sigmas"})}}

    def patch(self, model, keys):
        dropped = {k.strip() for k in keys.split(",") if k.strip()}

        def without(options: dict) -> dict:
            kept = {k: v for k, v in options.items() if k not in dropped}
            if "context_window.index_list" in dropped and "context_window" in kept:
                kept["context_window"] = object()  # a context window that does not say which frames it holds
            return kept

        def without_keys(executor, *args, **kwargs):
            if isinstance(kwargs.get("transformer_options"), dict):
                kwargs["transformer_options"] = without(kwargs["transformer_options"])
            else:
                args = list(args)
                index = max(i for i, a in enumerate(args) if isinstance(a, dict))
                args[index] = without(args[index])
            return executor(*args, **kwargs)

        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "taotest_drop_keys", without_keys)
        return (m,)


class K6MagCacheState:
    """Named as the Kandinsky 6 pack's MagCache state, which its Kandinsky6MagCache node puts in
    transformer_options["k6_magcache"]; this one holds nothing and the tiny Wan never reads it."""


class TaoTestPeerCacheKeys(_ModelPatch):
    KEYS = {"MagCache": {"magcache_thresh": 0.24, "retention_ratio": 0.2, "mag_ratios": [1.0] * 4, "magcache_K": 4},
            "TeaCache": {"rel_l1_thresh": 0.2, "coefficients": [1.0, 0.0], "max_skip_steps": 3},
            "TeaCacheKJ": {"rel_l1_thresh": 0.275, "teacache_device": "cpu", "coefficients": [1.0, 0.0]},
            "K6MagCache": {"k6_magcache": K6MagCacheState()}}

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "pack": (list(cls.KEYS) + ["FBCache"],)}}

    def patch(self, model, pack):
        if pack == "FBCache":
            return ApplyFBCacheOnModel().patch(model)
        m = model.clone()
        m.model_options.setdefault("transformer_options", {}).update(self.KEYS[pack])
        return (m,)


class ApplyFBCacheOnModel:
    """Named as Comfy-WaveSpeed's node class, whose patch() sets a model function wrapper defined in
    it; this one passes every call through (no First Block Cache)."""

    def patch(self, model):
        def model_unet_function_wrapper(model_function, kwargs):
            return model_function(kwargs["input"], kwargs["timestep"], **kwargs["c"])

        m = model.clone()
        m.set_model_unet_function_wrapper(model_unet_function_wrapper)
        return (m,)


def _bfloat16_attention(func, q, k, v, *args, **kwargs):
    return func(q.bfloat16(), k.bfloat16(), v.bfloat16(), *args, **kwargs).to(q.dtype)


class TaoTestAttentionOverride(_ModelPatch):
    def patch(self, model):
        m = model.clone()
        m.model_options.setdefault("transformer_options", {})["optimized_attention_override"] = _bfloat16_attention
        return (m,)


class TaoTestPatcherSubclass(_ModelPatch):
    def patch(self, model):
        import comfy.model_patcher

        class SubclassPatcher(comfy.model_patcher.ModelPatcher):
            def clone(self, *args, **kwargs):
                cloned = super().clone(*args, **kwargs)
                cloned.__class__ = SubclassPatcher
                return cloned

        m = model.clone()
        m.__class__ = SubclassPatcher
        return (m,)


class TaoTestModelError(RuntimeError):
    pass


def _make_fault_wrapper(mode, at_call):
    def taotest_fault_outer_sample(executor, *args, **kwargs):
        diffusion_model = executor.class_obj.model_patcher.model.diffusion_model
        calls = [0]

        def pre_hook(_module, _inputs):
            calls[0] += 1
            if calls[0] != at_call:
                return
            if mode == "raise":
                raise TaoTestModelError(f"taotest fault at call {at_call}")
            if mode == "interrupt":
                log.info("taotest: interrupting at call %s", at_call)
                comfy.model_management.interrupt_current_processing(True)

        def nan_hook(_module, _inputs, output):
            if calls[0] == at_call:
                return output * float("nan")
            return output

        handles = [diffusion_model.patch_embedding.register_forward_pre_hook(pre_hook)]
        if mode == "nan":
            handles.append(diffusion_model.head.register_forward_hook(nan_hook))
        try:
            return executor(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()

    return taotest_fault_outer_sample


class TaoTestFault(_ModelPatch):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "mode": (["raise", "interrupt", "nan"],),
                             "at_call": ("INT", {"default": 5, "min": 1, "max": 10000})}}

    def patch(self, model, mode, at_call):
        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, "taotest_fault",
                               _make_fault_wrapper(mode, at_call))
        return (m,)


def _aliasing_wrapper(executor, x, *args, **kwargs):
    before = x.clone()
    output = executor(x, *args, **kwargs)
    if not torch.equal(x, before):
        raise TaoTestModelError("a model call changed its input in place")
    kept = output.clone()
    output.fill_(float("nan"))
    return kept


class TaoTestAliasing(_ModelPatch):

    def patch(self, model):
        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "taotest_aliasing", _aliasing_wrapper)
        return (m,)


class TaoTestCompileModel(_ModelPatch):
    graphs = []  # one entry per captured graph: the set of source files its operations come from

    @classmethod
    def backend(cls, gm, example_inputs):
        files = set()
        for node in gm.graph.nodes:
            trace = node.meta.get("stack_trace") or ""
            for line in trace.splitlines():
                line = line.strip()
                if line.startswith("File "):
                    files.add(line.split('"')[1].replace("\\", "/"))
        cls.graphs.append(files)
        return gm.forward

    def patch(self, model):
        from comfy_api.torch_helpers import set_torch_compile_wrapper

        m = model.clone()
        set_torch_compile_wrapper(model=m, backend=TaoTestCompileModel.backend)
        return (m,)


class TaoTestUnwrappable(_ModelPatch):

    def patch(self, model):
        m = model.clone()

        def hidden(self):
            raise AttributeError("add_wrapper_with_key")

        m.__class__ = type("TaoTestModelWithoutWrappers", (type(m),), {"add_wrapper_with_key": property(hidden)})
        return (m,)


def sample_taotest_three_stage(model, x, sigmas, extra_args=None, callback=None, disable=None):
    import comfy.k_diffusion.sampling
    return comfy.k_diffusion.sampling.sample_seeds_3(model, x, sigmas, extra_args=extra_args, callback=callback,
                                                     disable=disable)


def sample_taotest_heun(model, x, sigmas, extra_args=None, callback=None, disable=None):
    import comfy.k_diffusion.sampling
    return comfy.k_diffusion.sampling.sample_heun(model, x, sigmas, extra_args=extra_args, callback=callback,
                                                  disable=disable)


def sample_taotest_one_then_three(model, x, sigmas, extra_args=None, callback=None, disable=None):
    import comfy.k_diffusion.sampling as sampling
    x = sampling.sample_euler(model, x, sigmas[:7], extra_args=extra_args, callback=callback, disable=disable)
    return sampling.sample_seeds_3(model, x, sigmas[6:], extra_args=extra_args, callback=callback, disable=disable)


class TaoTestOtherPackSampler:
    FUNCTIONS = dict(three_stage=sample_taotest_three_stage, heun=sample_taotest_heun,
                     one_then_three=sample_taotest_one_then_three)
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    CATEGORY = "testing/taotest"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"calls": (list(cls.FUNCTIONS),)}}

    def get_sampler(self, calls):
        import comfy.samplers
        return (comfy.samplers.KSAMPLER(self.FUNCTIONS[calls]),)


# dict(...), not a {...} literal: ComfyUI-Manager's scanner would list literal mappings as the pack's nodes.
NODE_CLASS_MAPPINGS = dict(TaoTestDropOptionKeys=TaoTestDropOptionKeys, TaoTestPeerCacheKeys=TaoTestPeerCacheKeys,
                           TaoTestAttentionOverride=TaoTestAttentionOverride,
                           TaoTestPatcherSubclass=TaoTestPatcherSubclass,
                           TaoTestSigmas=TaoTestSigmas,
                           TaoTestSplitBatches=TaoTestSplitBatches,
                           TaoTestFault=TaoTestFault, TaoTestAliasing=TaoTestAliasing, TaoTestCompileModel=TaoTestCompileModel,
                           TaoTestUnwrappable=TaoTestUnwrappable, TaoTestOtherPackSampler=TaoTestOtherPackSampler)
