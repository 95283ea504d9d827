"""Test-only ComfyUI nodes: image-to-video conditioning built from a LATENT instead of a VAE-encoded
image (no tiny Wan VAE or CLIP-vision model exists). Never shipped with the pack; the test harness
copies this file into <base>/custom_nodes/.

TaoTestStartLatent             a seeded LATENT [1, C, frames, height, width] as a Wan VAE's encode
                               returns it (raw VAE space: `process_out` of N(0, 1) noise, so the
                               sampler's `process_in` turns it back into unit-scale noise)
TaoTestClipVisionOutput        a seeded CLIP_VISION_OUTPUT: penultimate_hidden_states [1, tokens, 1280]
                               (CLIPVisionEncode gives 257 tokens for CLIP-H at 224 px; the Wan model
                               takes any number, and fewer keep the tiny model's img_emb cheap)
TaoTestWanImageToVideo         WanImageToVideo with start_latent in place of vae + start_image
TaoTestWan22ImageToVideoLatent Wan22ImageToVideoLatent with start_latent in place of vae + start_image

The two image-to-video nodes reproduce the core nodes' tensors step by step (sizes, mask values,
the latent-format arithmetic); only the VAE encode is replaced by the given latent.
"""
import torch

import comfy.clip_vision
import comfy.latent_formats
import comfy.model_management
import comfy.utils
import node_helpers

LATENT_FORMATS = {"wan21": comfy.latent_formats.Wan21, "wan22": comfy.latent_formats.Wan22}
CLIP_VISION_TOKENS, CLIP_VISION_WIDTH = 257, 1280
MAX_SIZE = 16384


def _latent_frames(length):
    """Latent frames of a `length`-frame Wan video (the VAE keeps frame 0, then packs 4 per latent)."""
    return ((length - 1) // 4) + 1


def _fit_start(start_latent, frames, height, width):
    """The start latent cut to `frames` latent frames and brought to height x width, as the core
    nodes cut the start image to `length` frames and upscale it (bilinear, center crop) before
    encoding. Its first batch entry only: a core start image's batch is its frames."""
    samples = start_latent["samples"][:1, :, :frames]
    if tuple(samples.shape[-2:]) != (height, width):
        samples = comfy.utils.common_upscale(samples, width, height, "bilinear", "center")
    return samples.to(comfy.model_management.intermediate_device())


class TaoTestStartLatent:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "latent_format": (list(LATENT_FORMATS), {"default": "wan21"}),
            "frames": ("INT", {"default": 1, "min": 1, "max": 1024}),
            "width": ("INT", {"default": 8, "min": 1, "max": MAX_SIZE, "tooltip": "latent width"}),
            "height": ("INT", {"default": 8, "min": 1, "max": MAX_SIZE, "tooltip": "latent height"}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1}),
        }}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"
    CATEGORY = "testing/taotest"
    DESCRIPTION = "Seeded latent in raw VAE space (as a Wan VAE encode returns it), for start frames."

    def make(self, latent_format, frames, width, height, seed):
        fmt = LATENT_FORMATS[latent_format]()
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(1, fmt.latent_channels, frames, height, width, generator=g)
        return ({"samples": fmt.process_out(noise)},)


class TaoTestClipVisionOutput:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1}),
            "tokens": ("INT", {"default": CLIP_VISION_TOKENS, "min": 1, "max": 4096}),
        }}

    RETURN_TYPES = ("CLIP_VISION_OUTPUT",)
    FUNCTION = "make"
    CATEGORY = "testing/taotest"
    DESCRIPTION = "Seeded CLIP-vision output (penultimate_hidden_states [1, tokens, 1280]); no CLIP model needed."

    def make(self, seed, tokens=CLIP_VISION_TOKENS):
        g = torch.Generator().manual_seed(seed)
        output = comfy.clip_vision.Output()
        output["penultimate_hidden_states"] = torch.randn(1, tokens, CLIP_VISION_WIDTH, generator=g)
        return (output,)


class TaoTestWanImageToVideo:
    """Mirrors WanImageToVideo.execute (comfy_extras/nodes_wan.py), the same in ComfyUI 0.3.75 and
    0.38.1 apart from 0.38.1's optional ref_pad_image (fills the padding frames with an image instead
    of grey; not mirrored): an all-zero 16-channel latent [batch, 16, T, h/8, w/8]; on the
    conditioning `concat_latent_image` (the encoded video: start frames, then grey padding) and
    `concat_mask` [1, 1, T, h/8, w/8], 0 on the latent frames of the start, 1 elsewhere; the
    clip_vision_output passed on when given.

    The one stand-in: the padding frames' latent. Core encodes grey (0.5) frames with the VAE; without
    one, the Wan2.1 mean latent (`Wan21().process_out` of zeros) stands in, the value core's
    WanFunControlToVideo uses for its own empty concat latent."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "positive": ("CONDITIONING",),
                "negative": ("CONDITIONING",),
                "start_latent": ("LATENT", {"tooltip": "the start image as a Wan2.1 VAE would encode it"}),
                "width": ("INT", {"default": 832, "min": 16, "max": MAX_SIZE, "step": 16}),
                "height": ("INT", {"default": 480, "min": 16, "max": MAX_SIZE, "step": 16}),
                "length": ("INT", {"default": 81, "min": 1, "max": MAX_SIZE, "step": 4}),
                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            },
            "optional": {"clip_vision_output": ("CLIP_VISION_OUTPUT",)},
        }

    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "LATENT")
    RETURN_NAMES = ("positive", "negative", "latent")
    FUNCTION = "execute"
    CATEGORY = "testing/taotest"

    def execute(self, positive, negative, start_latent, width, height, length, batch_size, clip_vision_output=None):
        device = comfy.model_management.intermediate_device()
        frames, h, w = _latent_frames(length), height // 8, width // 8
        latent = torch.zeros([batch_size, 16, frames, h, w], device=device)
        start = _fit_start(start_latent, frames, h, w)
        padding = torch.zeros([1, 16, frames, h, w], device=device)
        concat_latent_image = comfy.latent_formats.Wan21().process_out(padding)
        concat_latent_image[:, :, :start.shape[2]] = start
        mask = torch.ones((1, 1, frames, h, w), device=device, dtype=concat_latent_image.dtype)
        mask[:, :, :start.shape[2]] = 0.0
        values = {"concat_latent_image": concat_latent_image, "concat_mask": mask}
        positive = node_helpers.conditioning_set_values(positive, values)
        negative = node_helpers.conditioning_set_values(negative, values)
        if clip_vision_output is not None:
            positive = node_helpers.conditioning_set_values(positive, {"clip_vision_output": clip_vision_output})
            negative = node_helpers.conditioning_set_values(negative, {"clip_vision_output": clip_vision_output})
        return (positive, negative, {"samples": latent})


class TaoTestWan22ImageToVideoLatent:
    """Mirrors Wan22ImageToVideoLatent.execute (comfy_extras/nodes_wan.py), identical in ComfyUI
    0.3.75 and 0.38.1: a 48-channel latent [1, 48, T, h/16, w/16] with the encoded start written
    into its first latent frames; a noise_mask [1, 1, T, h/16, w/16], 0 on those frames and 1
    elsewhere; the frames to generate (mask 1) set to `Wan22().process_out` of zeros
    (`process_out(latent) * mask + latent * (1 - mask)`), so they are zero after the sampler's
    process_in; both repeated to
    batch_size. The sampler then keeps the start frames (KSamplerX0Inpaint) and WAN22 runs them at
    timestep 0 (model_base.WAN22.process_timestep: one timestep per latent frame)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "start_latent": ("LATENT", {"tooltip": "the start image as a Wan2.2 VAE would encode it"}),
            "width": ("INT", {"default": 1280, "min": 32, "max": MAX_SIZE, "step": 32}),
            "height": ("INT", {"default": 704, "min": 32, "max": MAX_SIZE, "step": 32}),
            "length": ("INT", {"default": 49, "min": 1, "max": MAX_SIZE, "step": 4}),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
        }}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    CATEGORY = "testing/taotest"

    def execute(self, start_latent, width, height, length, batch_size):
        device = comfy.model_management.intermediate_device()
        frames, h, w = _latent_frames(length), height // 16, width // 16
        latent = torch.zeros([1, 48, frames, h, w], device=device)
        mask = torch.ones([latent.shape[0], 1, frames, h, w], device=device)
        start = _fit_start(start_latent, frames, h, w)
        latent[:, :, :start.shape[2]] = start
        mask[:, :, :start.shape[2]] *= 0.0
        latent = comfy.latent_formats.Wan22().process_out(latent) * mask + latent * (1.0 - mask)
        return ({"samples": latent.repeat((batch_size,) + (1,) * (latent.ndim - 1)),
                 "noise_mask": mask.repeat((batch_size,) + (1,) * (mask.ndim - 1))},)


# dict(...), not a {...} literal: ComfyUI-Manager's scanner reads literal mappings in every file of a
# repository and would list these test nodes as the pack's own.
class TaoTestAudioEncoderOutput:
    """What AudioEncoderEncode returns for a wav2vec2-large encoder (Wan2.2 S2V's): the hidden states of
    all 25 layers, each [1, frames, 1024] at 50 frames a second, and the clip's length in 16 kHz
    samples; with encoder "whisper-large" (Wan2.1 HuMo's) 33 layers of [1, frames, 1280]. Seeded
    random: no audio encoder needed."""
    LAYERS, WIDTH, FRAME_RATE, SAMPLE_RATE = 25, 1024, 50, 16000
    ENCODERS = {"wav2vec2-large": (25, 1024), "whisper-large": (33, 1280)}

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1}),
            "seconds": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 60.0, "step": 0.1}),
        }, "optional": {"encoder": (list(cls.ENCODERS), {"default": "wav2vec2-large"})}}

    RETURN_TYPES = ("AUDIO_ENCODER_OUTPUT",)
    FUNCTION = "make"
    CATEGORY = "testing/taotest"
    DESCRIPTION = "Seeded wav2vec2-style audio encoder output (25 layers of [1, frames, 1024]); no encoder needed."

    def make(self, seed, seconds=1.0, encoder="wav2vec2-large"):
        g = torch.Generator().manual_seed(seed)
        frames = max(1, round(seconds * self.FRAME_RATE))
        count, width = self.ENCODERS[encoder]
        layers = [torch.randn(1, frames, width, generator=g) for _ in range(count)]
        return ({"encoded_audio_all_layers": layers, "audio_samples": round(seconds * self.SAMPLE_RATE)},)


NODE_CLASS_MAPPINGS = dict(TaoTestStartLatent=TaoTestStartLatent, TaoTestClipVisionOutput=TaoTestClipVisionOutput,
                           TaoTestWanImageToVideo=TaoTestWanImageToVideo,
                           TaoTestWan22ImageToVideoLatent=TaoTestWan22ImageToVideoLatent,
                           TaoTestAudioEncoderOutput=TaoTestAudioEncoderOutput)
