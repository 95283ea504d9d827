"""Test-only ComfyUI nodes that reproduce, in the 0.3.75 test runtime, mechanisms of the newest ComfyUI
(Comfy-Org/ComfyUI 0.38.1) that the runtime lacks (never shipped with the pack).

TaoTestPackedStreams  MODEL -> MODEL. DIFFUSION_MODEL wrappers that make a Wan call look like a packed
                      multi-stream model's (LTX-2 audio-video, comfy/ldm/lightricks/av_model.py; MiniMax
                      H3; TripoSplat), whose forward receives the list that BaseModel._apply_model built
                      with comfy.utils.unpack_latents and returns the same structure:
                        side "outer" (put it upstream of TaoCache: its wrapper runs outside the pack's)
                          turns the video tensor x into [video, audio] (layout "video_audio") or
                          [video] (layout "video"; "mismatched_batch": [video, audio] with the audio of
                          the first batch entry only, which no cache can split per branch;
                          "video_audio_tuple": [video, audio] in, (video, audio) out, as the newest
                          Kandinsky6.forward returns; "video_audio_rescaled": as MiniMaxH3's forward
                          (comfy/ldm/minimax/model.py), which replaces the audio element of the list its
                          DIFFUSION_MODEL wrapper returned with a blend of it and the audio input;
                          "video_jittery_audio": as "video_audio", but the inner audio model adds a
                          term that flips sign at every step, so consecutive audio deltas point apart
                          (cosine near -1) and the cos gate fails on the audio stream alone), calls on, checks that what comes back has the
                          structure, shapes, dtypes and devices the model returns and that nothing the
                          caller handed in was changed in place, records the audio output of every call
                          (TaoTestPackedStreams.calls) and returns the video tensor to the sampler;
                        side "inner" (downstream of TaoCache: its wrapper runs inside the pack's, just
                          around the real forward) runs the real Wan forward on the video and a small
                          deterministic "audio model" on the audio, and returns [video, audio], or,
                          for layout "video", only the video tensor, as LTXAV does without audio.
                      The audio stream is bfloat16 (the video float32), so a lost dtype shows.
TaoTestTwoDevices     MODEL -> MODEL. A CALC_COND_BATCH wrapper (downstream of TaoCache: inside the pack's)
                      that runs like comfy/samplers.py _calc_cond_batch_multigpu with two devices: the
                      conditionings are spread one per "device" (cond on the first, uncond on the
                      second), and each part runs through ComfyUI's own _calc_cond_batch with its own
                      model_options copy (create_model_options_clone: dicts and lists copied, the pack's
                      run object shared) carrying `multigpu_thread_device`, and each ControlNet that
                      has the newest get_instance_for_device replaced by the device's own (as
                      _handle_batch does before get_control); threads 2 runs the parts
                      at once on two worker threads (started together at a barrier, in a random
                      order), threads 1 one after the other on the calling thread.
TaoTestCausalState    MODEL -> MODEL. Causal (autoregressive) Wan, comfy/ldm/wan/ar_model.py: `ar_state`
                      in transformer_options, and a forward that bypasses the DIFFUSION_MODEL wrapper
                      point. where "model": ar_state in the model's options (seen from the sampling run's
                      start); where "per_call": added to transformer_options by a CALC_COND_BATCH
                      wrapper inside the pack's, so only the model calls see it.
TaoTestSpatioTemporalGuidance  MODEL -> MODEL. The newest LTXVSpatioTemporalGuidance (comfy_extras/
                      nodes_lt.py): a post-CFG function that, inside its noise range, copies the model
                      options, sets transformer_options["stg_self_attn_blocks"], evaluates the cond
                      again with comfy.samplers.calc_cond_batch(model, [cond], x, sigma, options) on the
                      step's own x, and returns denoised + (cond_denoised - perturbed) * scale. The
                      runtime's models ignore that key, so the same options also carry an
                      optimized_attention_override that does what the newest LTXV blocks do with it
                      (CrossAttention returns v for skipped self-attention): self-attention (as many
                      keys as queries) returns v. No blocks are replaced, so only the repeated
                      evaluation tells this call apart (taocache/repeats.py).
TaoTestSeamSmoothing  MODEL -> MODEL. The newest HiDreamO1PatchSeamSmoothing (comfy_extras/
                      nodes_hidream_o1.py): a DIFFUSION_MODEL wrapper that, inside its noise range,
                      calls the model a second time on x rolled by (1, 1) latent pixels, rolls that
                      prediction back and averages the two. Upstream of TaoCache its wrapper runs
                      outside the pack's, so the pack sees two calls of the same branches in one
                      evaluation, the second on another input.
TaoTestNewestSampler  -> SAMPLER (for SamplerCustomAdvanced). The KSampler samplers the newest
                      comfy/k_diffusion/sampling.py adds that the runtime can build:
                      sample_exp_heun_2_x0 and sample_exp_heun_2_x0_sde are, there, the runtime's
                      sample_seeds_2 with r=1.0 (eta=0, s_noise=0 for the deterministic one): the
                      second call of a step lands on the next step's noise level, computed through
                      logSNR (not bit for bit the schedule's sigma), as heun's does. The functions
                      keep the newest names, which is what the pack reads to call a sampler stochastic.
TaoTestSamplerSEEDS2  -> SAMPLER. The newest SamplerSEEDS2 (comfy_extras/nodes_custom_sampler.py):
                      comfy.samplers.ksampler("seeds_2", {eta, s_noise, r, solver_type}), so the
                      pack sees the sampler seeds_2 with those options. The runtime's
                      sample_seeds_2 has no solver_type (phi_1 or phi_2 changes the update, not
                      where the model is called), so the function here, under the same name, drops
                      it and passes the rest on.
TaoTestNestedLatent   LATENT -> LATENT. The newest ComfyUI's nested latent (LTX-2 audio-video, MiniMax H3):
                      "samples" holds a comfy.nested_tensor.NestedTensor of [video, audio], which
                      core nodes read through `is_nested` and `unbind()` (LTXVAudioVAEDecode takes
                      `unbind()[-1]`). This one holds the given latent and an audio latent made from
                      it (audio_input), so two different video latents give two different audios.
"""
import random
import threading
import time

import torch

import comfy.k_diffusion.sampling
import comfy.model_patcher
import comfy.patcher_extension
import comfy.samplers

AUDIO_BINS = 4


class TaoTestStreamError(AssertionError):
    """The cache returned or changed something a packed multi-stream model's caller would not survive."""


class _ModelPatch:
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing/taotest"


def audio_input(x: torch.Tensor) -> torch.Tensor:
    """An audio latent (B, C, T, F) that evolves with the video latent over the sampling run."""
    per_frame = x.float().mean(dim=(3, 4))  # (B, C, T)
    bins = torch.arange(1, AUDIO_BINS + 1, dtype=torch.float32, device=x.device)
    return (per_frame.unsqueeze(-1) * bins).to(torch.bfloat16)


def audio_model(audio: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in for the audio half of an audio-video transformer."""
    a = audio.float()
    return (0.7 * a + 0.1 * torch.sin(3.0 * a)).to(audio.dtype)


def jittery_audio_model(audio: torch.Tensor, options: dict) -> torch.Tensor:
    """audio_model plus a fixed direction, as large as the audio, whose sign flips at every step of
    the schedule (the step: the nearest of transformer_options["sample_sigmas"])."""
    clean = audio_model(audio).float()
    sigma = float(torch.as_tensor(options["sigmas"]).max())
    step = int((torch.as_tensor(options["sample_sigmas"]).float() - sigma).abs().argmin())
    direction = torch.randn(clean.shape[1:], generator=torch.Generator().manual_seed(7)).to(clean.device)
    jitter = (-1) ** step * direction * (clean.pow(2).mean().sqrt() + 0.1)
    return (clean + jitter).to(audio.dtype)


class TaoTestPackedStreams(_ModelPatch):
    calls = []  # one entry per model call seen by an outer wrapper: {"sigma", "audio"}

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "side": (["outer", "inner"],),
                             "layout": (["video_audio", "video", "mismatched_batch", "video_audio_tuple",
                                         "video_audio_rescaled", "video_jittery_audio"],)}}

    def patch(self, model, side, layout):
        m = model.clone()
        wrapper = _outer_streams(layout) if side == "outer" else _inner_streams(layout)
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, f"taotest_streams_{side}", wrapper)
        return (m,)


def _outer_streams(layout):
    def taotest_streams_outer(executor, x, *args, **kwargs):
        streams = [x] if layout == "video" else [x, audio_input(x)]
        if layout == "mismatched_batch":
            streams[1] = streams[1][:1]
        given = list(streams)
        before = [s.clone() for s in streams]
        output = executor(streams, *args, **kwargs)
        if len(streams) != len(given) or any(a is not b for a, b in zip(streams, given)):
            raise TaoTestStreamError("the caller's list of streams was changed")
        for i, (now, then) in enumerate(zip(streams, before)):
            if not torch.equal(now, then):
                raise TaoTestStreamError(f"input stream {i} was modified in place")
        if layout == "video":
            if not isinstance(output, torch.Tensor):
                raise TaoTestStreamError(f"expected the video tensor back, got {type(output).__name__}")
            return output
        container = tuple if layout == "video_audio_tuple" else list
        if not isinstance(output, container) or len(output) != 2:
            raise TaoTestStreamError(f"expected {container.__name__} (video, audio) back, got {type(output).__name__}")
        if layout == "video_audio_rescaled":  # after the wrapper, in the list it returned
            output[1] = (0.5 * output[1].float() + 0.25 * streams[1].float()).to(output[1].dtype)
        video, audio = output
        for name, got, want in (("video", video, x), ("audio", audio, streams[1])):
            if got.shape != want.shape or got.dtype != want.dtype or got.device != want.device:
                raise TaoTestStreamError(f"{name} came back as {tuple(got.shape)} {got.dtype} {got.device}, "
                                         f"expected {tuple(want.shape)} {want.dtype} {want.device}")
        options = kwargs.get("transformer_options") or next((a for a in args if isinstance(a, dict)), {})
        TaoTestPackedStreams.calls.append({"sigma": float(torch.as_tensor(options.get("sigmas")).max()),
                                           "audio": audio.detach().clone()})
        return video

    return taotest_streams_outer


def _inner_streams(layout):
    def taotest_streams_inner(executor, streams, *args, **kwargs):
        if not isinstance(streams, list):
            raise TaoTestStreamError(f"the model received a {type(streams).__name__}, not its list of streams")
        video = executor(streams[0], *args, **kwargs)
        if layout == "video":
            return video
        if layout == "video_audio_tuple":
            return video, audio_model(streams[1])
        if layout == "video_jittery_audio":
            options = kwargs.get("transformer_options") or next((a for a in args if isinstance(a, dict)), {})
            return [video, jittery_audio_model(streams[1], options)]
        return [video, audio_model(streams[1])]

    return taotest_streams_inner


class TaoTestTwoDevices(_ModelPatch):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "threads": ("INT", {"default": 2, "min": 1, "max": 2})}}

    def patch(self, model, threads):
        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "taotest_two_devices",
                               _two_devices(threads))
        return (m,)


def _two_devices(threads):
    def taotest_two_devices(executor, model, conds, x_in, timestep, model_options):
        parts = [(i, [c if j == i else None for j in range(len(conds))]) for i, c in enumerate(conds) if c is not None]
        results = {}
        errors = []
        barrier = threading.Barrier(len(parts)) if threads == 2 else None

        def work(device_index, part):
            try:
                if barrier is not None:
                    barrier.wait(timeout=30)
                    time.sleep(random.random() * 0.002)  # either thread may reach the model first
                options = comfy.model_patcher.create_model_options_clone(model_options)
                device = f"taotest:{device_index}"
                options.setdefault("transformer_options", {})["multigpu_thread_device"] = device
                part = [_device_controls(branch, device) for branch in part]
                with torch.no_grad():  # grad mode is per thread; _handle_batch runs under no_grad too
                    results[device_index] = comfy.samplers._calc_cond_batch(model, part, x_in, timestep, options)
            except BaseException as error:  # re-raised on the calling thread, as MultiGPUThreadPool does
                errors.append(error)

        if threads == 2:
            order = list(parts)
            random.shuffle(order)
            workers = [threading.Thread(target=work, args=part, name=f"taotest-device-{part[0]}") for part in order]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        else:
            for part in parts:
                work(*part)
        if errors:
            raise errors[0]
        return [results[i][i] if i in results else torch.zeros_like(x_in) for i in range(len(conds))]

    return taotest_two_devices


def _device_controls(branch, device):
    """A branch's conditioning with each ControlNet replaced by get_instance_for_device(device), where it
    has one (the newest ComfyUI's ControlBase)."""
    if branch is None:
        return None
    return [{**entry, "control": entry["control"].get_instance_for_device(device)}
            if hasattr(entry.get("control"), "get_instance_for_device") else entry for entry in branch]


class _CausalState:
    """What ar_model.py keeps in transformer_options["ar_state"]: here only a call counter."""

    def __init__(self):
        self.calls = 0


class TaoTestCausalState(_ModelPatch):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "where": (["model", "per_call"],)}}

    def patch(self, model, where):
        m = model.clone()
        diffusion_model = m.get_model_object("diffusion_model")
        m.add_object_patch("diffusion_model.forward", diffusion_model._forward)  # no DIFFUSION_MODEL wrapper point
        if where == "model":
            m.model_options.setdefault("transformer_options", {})["ar_state"] = _CausalState()
        else:
            def taotest_ar_state(executor, model_, conds, x_in, timestep, model_options):
                model_options["transformer_options"]["ar_state"] = _CausalState()
                return executor(model_, conds, x_in, timestep, model_options)
            m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "taotest_ar_state", taotest_ar_state)
        return (m,)


def _skip_self_attention(func, q, k, v, heads, *args, **kwargs):
    """optimized_attention_override: self-attention (as many keys as queries) returns v, in the
    layout the attention function returns (B, tokens, heads * dim_head)."""
    if kwargs.get("skip_reshape") or q.shape[-2] != k.shape[-2]:
        return func(q, k, v, heads, *args, **kwargs)
    return v


class TaoTestSpatioTemporalGuidance(_ModelPatch):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0}),
                             "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0}),
                             "end_percent": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0})}}

    def patch(self, model, scale, start_percent, end_percent):
        sampling = model.get_model_object("model_sampling")
        sigma_start = float(sampling.percent_to_sigma(start_percent))
        sigma_end = float(sampling.percent_to_sigma(end_percent))

        def post_cfg_function(args):
            sigma = args["sigma"][0].item()
            if scale == 0 or sigma > sigma_start or sigma < sigma_end:
                return args["denoised"]
            model_options = args["model_options"].copy()
            transformer_options = model_options.get("transformer_options", {}).copy()
            transformer_options["stg_self_attn_blocks"] = frozenset({0, 1})
            transformer_options["optimized_attention_override"] = _skip_self_attention
            model_options["transformer_options"] = transformer_options
            (perturbed,) = comfy.samplers.calc_cond_batch(args["model"], [args["cond"]], args["input"], args["sigma"],
                                                          model_options)
            return args["denoised"] + (args["cond_denoised"] - perturbed) * scale

        m = model.clone()
        m.set_model_sampler_post_cfg_function(post_cfg_function)
        return (m,)


class TaoTestSeamSmoothing(_ModelPatch):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "start_percent": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0}),
                             "end_percent": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0})}}

    def patch(self, model, start_percent, end_percent):
        sampling = model.get_model_object("model_sampling")
        start_t = float(sampling.timestep(torch.tensor(sampling.percent_to_sigma(start_percent))))
        end_t = float(sampling.timestep(torch.tensor(sampling.percent_to_sigma(end_percent))))

        def smoothing_wrapper(executor, *args, **kwargs):
            x, t = args[0], float(args[1][0])
            pred = executor(*args, **kwargs)
            if not end_t < t <= start_t:
                return pred
            rolled = executor(torch.roll(x, shifts=(1, 1), dims=(-2, -1)), *args[1:], **kwargs)
            return (pred + torch.roll(rolled, shifts=(-1, -1), dims=(-2, -1))) / 2

        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "taotest_seam_smoothing",
                               smoothing_wrapper)
        return (m,)


# dict(...), not a {...} literal: ComfyUI-Manager's scanner would list literal mappings as the pack's nodes.
def sample_exp_heun_2_x0(model, x, sigmas, extra_args=None, callback=None, disable=None):
    return comfy.k_diffusion.sampling.sample_seeds_2(model, x, sigmas, extra_args=extra_args, callback=callback,
                                                     disable=disable, eta=0.0, s_noise=0.0, r=1.0)


def sample_exp_heun_2_x0_sde(model, x, sigmas, extra_args=None, callback=None, disable=None):
    return comfy.k_diffusion.sampling.sample_seeds_2(model, x, sigmas, extra_args=extra_args, callback=callback,
                                                     disable=disable, eta=1.0, s_noise=1.0, r=1.0)


class TaoTestNewestSampler:
    FUNCTIONS = {"exp_heun_2_x0": sample_exp_heun_2_x0, "exp_heun_2_x0_sde": sample_exp_heun_2_x0_sde}
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    CATEGORY = "testing/taotest"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sampler_name": (list(cls.FUNCTIONS),)}}

    def get_sampler(self, sampler_name):
        return (comfy.samplers.KSAMPLER(self.FUNCTIONS[sampler_name]),)


def sample_seeds_2(model, x, sigmas, extra_args=None, callback=None, disable=None, solver_type="phi_1", **options):
    return comfy.k_diffusion.sampling.sample_seeds_2(model, x, sigmas, extra_args=extra_args, callback=callback,
                                                     disable=disable, **options)


class TaoTestSamplerSEEDS2:
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    CATEGORY = "testing/taotest"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"solver_type": (["phi_1", "phi_2"],),
                             "eta": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01}),
                             "s_noise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01}),
                             "r": ("FLOAT", {"default": 0.5, "min": 0.01, "max": 1.0, "step": 0.01})}}

    def get_sampler(self, solver_type, eta, s_noise, r):
        options = {"eta": eta, "s_noise": s_noise, "r": r, "solver_type": solver_type}
        return (comfy.samplers.KSAMPLER(sample_seeds_2, options),)


class NestedLatentSamples:
    """What core nodes use of comfy.nested_tensor.NestedTensor: is_nested, and unbind() to the streams."""
    is_nested = True

    def __init__(self, tensors):
        self.tensors = tuple(tensors)

    def unbind(self):
        return self.tensors


class TaoTestNestedLatent:
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "nest"
    CATEGORY = "testing/taotest"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",)}}

    def nest(self, samples):
        video = samples["samples"]
        return ({"samples": NestedLatentSamples((video, audio_input(video).float()))},)


NODE_CLASS_MAPPINGS = dict(TaoTestNestedLatent=TaoTestNestedLatent, TaoTestPackedStreams=TaoTestPackedStreams, TaoTestTwoDevices=TaoTestTwoDevices,
                           TaoTestCausalState=TaoTestCausalState,
                           TaoTestSpatioTemporalGuidance=TaoTestSpatioTemporalGuidance,
                           TaoTestSeamSmoothing=TaoTestSeamSmoothing, TaoTestNewestSampler=TaoTestNewestSampler,
                           TaoTestSamplerSEEDS2=TaoTestSamplerSEEDS2)
