"""Test-only loader of tiny image DiTs (never shipped with the pack).

TaoTestTinyDiTLoader  family, seed -> MODEL. A random-weight network of one of the image DiT families
                      ComfyUI loads (Flux, Flux Fill, Flux.2, Chroma and Chroma Radiance, Qwen-Image,
                      Z-Image, SD3, HunyuanImage 2.1, HiDream, Lumina Image 2.0, AuraFlow, OmniGen2,
                      PixArt Sigma, HunyuanDiT; and the video DiTs Mochi, Cosmos 1.0 and Cosmos
                      Predict2, text and image to video, whose detection fixes the widths too; and
                      two UNets, SD1.5's and SDXL's, which detection would read as other models at tiny
                      widths), built
                      with the runtime's own supported-model class, model_base class and network, at
                      tiny widths.
TaoTestImageLatent    width, height, seed, frame_axis -> LATENT [1, 16, (1,) height, width]: a reference image.
TaoTestTinyControlNet seed -> CONTROL_NET. A random-weight XLabs-style Flux ControlNet at the tiny Flux's
                      widths, built as comfy.controlnet.load_controlnet_flux_xlabs_mistoline builds one
                      after detection (which fixes Flux's widths too); for core ControlNetApplyAdvanced
                      with a pixel image (no VAE). Its forward calls are counted in
                      TaoTestTinyControlNet.calls. It has the newest ComfyUI's per-device lookup,
                      which 0.3.75's ControlBase lacks (comfy/controlnet.py, 0.38.1:
                      get_instance_for_device returns multigpu_clones.get(device, self)), with no
                      device clones registered (so every device gets the ControlNet itself); the
                      devices asked for are in TaoTestTinyControlNet.device_lookups. get_control
                      "another pack": its get_control is this module's, as another pack's would be.

TaoTestForwardOverride MODEL, mode, id_seed, weight -> MODEL. What PuLID-Flux and DreamO do to Flux: an
                      OUTER_SAMPLE wrapper that, for the run, replaces the diffusion model's forward_orig
                      with its own (types.MethodType; here the original plus a seeded "identity" vector on
                      every output token, times `weight`) and, in mode "forward and forward_orig" (DreamO),
                      its forward too, straight to _forward, past the DIFFUSION_MODEL wrapper point; both
                      put back after the run, also on an error.

Why not UNETLoader: ComfyUI's detection (comfy/model_detection.py detect_unet_config) reads only a few
sizes from the weights and fixes the rest at the released checkpoints' values (Flux: 24 heads and rope
axes summing to 128, so a hidden width of 3072; Qwen-Image: 24 heads of 128; Lumina2/Z-Image: the
config only for dims 2304 and 3840). A file of those widths is hundreds of MB per block. So this node
does what comfy.sd.load_diffusion_model_state_dict does after detection: the family's
supported_models class with a unet_config (the keys detection produces, tiny widths), the inference
dtype from model_management, model_config.get_model, the weights loaded (here strictly, from the
network's own keys, where load_model_weights would first convert a checkpoint's) and a ModelPatcher
on ComfyUI's load and offload devices. Everything downstream (model_base, extra_conds, the sampler,
the DIFFUSION_MODEL wrapper point) is the runtime's own.
"""
import math
import types

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import comfy.supported_models

TEXT_WIDTH = {  # the released text encoders' widths: the conditioning a user's graph gives these models
    "flux": 4096,      # T5-XXL (pooled CLIP-L 768)
    "chroma": 4096,    # T5-XXL
    "chroma_radiance": 4096,  # Chroma in pixel space: 3 channels, 16x16 patches, a small per-pixel head
    "qwen_image": 3584,  # Qwen2.5-VL 7B
    "z_image": 2560,   # Qwen3 4B
    "flux_fill": 4096,  # Flux Fill: as Flux, with the masked image and mask as 80 more input channels
    "flux2": 15360,    # Mistral Small 3.1 hidden states of three layers (Flux.2 dev), padded to 512 tokens
    "sd3": 4096,       # T5-XXL beside CLIP-L/G (pooled 2048)
    "hunyuan_image": 3584,  # HunyuanImage 2.1: Qwen2.5-VL 7B (its byT5 glyph encoder left out)
    "hidream": 4096,   # T5-XXL beside Llama 3.1 hidden states (conditioning_llama3) and pooled CLIP-L/G 2048
    # two video DiTs whose detection fixes the released widths too
    "mochi": 4096,     # Genmo Mochi: T5-XXL with its token mask (attention_mask)
    "cosmos_predict2": 1024,  # Cosmos Predict2: old T5-11B's 1024-wide states
    "cosmos_predict2_i2v": 1024,  # its image-to-video network: a 17th input channel, the mask of kept frames
    "cosmos1": 1024,  # Cosmos 1.0 text to video: the same T5 states; an EDM model, noise levels up to 80
    # image DiTs whose detection fixes the released widths as well
    "lumina2": 2304,   # Lumina Image 2.0 (and NetaYume Lumina): Gemma 2 2B hidden states
    "aura_flow": 2048,  # AuraFlow (and Pony V7): Pile-T5-XL hidden states
    "omnigen2": 2048,  # OmniGen2: Qwen2.5-VL 3B hidden states with their token mask
    "pixart_sigma": 4096,  # PixArt Sigma: T5-XXL; an eps-prediction DiT on a discrete schedule
    "hunyuan_dit": 1024,  # HunyuanDiT: a CLIP (BERT-large) 1024 beside mT5-XL 2048; v-prediction
    # not a DiT: the SD1.5 UNet, which has the DIFFUSION_MODEL wrapper point too
    "sd15": 768,       # CLIP-L; eps prediction on a discrete schedule, a 4-channel latent
    "sdxl": 2048,      # CLIP-L and CLIP-G side by side (pooled CLIP-G 1280, with the size embeddings 2816)
}
HUNYUAN_DIT_TEXT_LEN = 16  # both encoders' token counts (the released model pads to 77 and 256)
HIDREAM_LLAMA_LAYERS = 2  # one Llama hidden-state layer per block here (the real model reads 48 from 32 layers)

ROPE_AXES = [8, 12, 12]  # sums to the tiny head width, 32, as [16, 56, 56] sums to 128 in Flux


def unet_config(family: str) -> tuple[type, dict]:
    """(supported_models class, unet_config) of the tiny network of `family`."""
    if family == "sdxl":  # the keys model_detection's SDXL config has, at 64 channels on two levels (SDXL's
        # unet_extra_config sets 64-wide heads; its 2816 ADM inputs are fixed by encode_adm)
        return comfy.supported_models.SDXL, {
            "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
            "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4,
            "model_channels": 64, "num_res_blocks": [1, 1], "transformer_depth": [1, 1], "channel_mult": [1, 2],
            "transformer_depth_middle": 1, "use_linear_in_transformer": True, "context_dim": TEXT_WIDTH["sdxl"],
            "num_head_channels": 64, "transformer_depth_output": [1, 1, 1, 1], "use_temporal_attention": False,
            "use_temporal_resblock": False}
    if family == "sd15":  # the keys model_detection's SD15 config has, at 32 channels on two levels
        return comfy.supported_models.SD15, {
            "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
            "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 32,
            "num_res_blocks": [1, 1], "transformer_depth": [1, 1], "channel_mult": [1, 2],
            "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": TEXT_WIDTH["sd15"],
            "num_heads": 2, "num_head_channels": -1, "transformer_depth_output": [1, 1, 1, 1],
            "use_temporal_attention": False, "use_temporal_resblock": False}
    if family in ("flux", "flux_fill"):  # keys as detect_unet_config sets them for Flux dev and Flux Fill
        fill = family == "flux_fill"
        return comfy.supported_models.FluxInpaint if fill else comfy.supported_models.Flux, {
            "image_model": "flux", "in_channels": 96 if fill else 16, "out_channels": 16, "vec_in_dim": 768,
            "context_in_dim": TEXT_WIDTH["flux"], "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2,
            "depth": 1, "depth_single_blocks": 1, "axes_dim": ROPE_AXES, "theta": 10000, "patch_size": 2,
            "qkv_bias": True, "guidance_embed": True}
    if family == "flux2":  # detect_unet_config's Flux.2 branch: 128 latent channels (16x), patch 1, 4 rope axes
        return comfy.supported_models.Flux2, {
            "image_model": "flux2", "in_channels": 128, "out_channels": 128, "vec_in_dim": None,
            "context_in_dim": TEXT_WIDTH["flux2"], "hidden_size": 64, "mlp_ratio": 3.0, "num_heads": 2, "depth": 1,
            "depth_single_blocks": 1, "axes_dim": [8, 8, 8, 8], "theta": 2000, "patch_size": 1, "qkv_bias": False,
            "guidance_embed": True, "global_modulation": True, "mlp_silu_act": True, "ops_bias": False,
            "default_ref_method": "index", "ref_index_scale": 10.0}
    if family == "chroma":
        return comfy.supported_models.Chroma, {
            "image_model": "chroma", "in_channels": 64, "out_channels": 64, "context_in_dim": TEXT_WIDTH["chroma"],
            "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
            "axes_dim": ROPE_AXES, "theta": 10000, "patch_size": 2, "qkv_bias": True, "in_dim": 64,
            "out_dim": 64, "hidden_dim": 64, "n_layers": 1}
    if family == "chroma_radiance":  # detect_unet_config's Chroma Radiance branch, the head at width 16
        _, config = unet_config("chroma")
        return comfy.supported_models.ChromaRadiance, dict(
            config, image_model="chroma_radiance", in_channels=3, out_channels=3, patch_size=16, nerf_hidden_size=16,
            nerf_mlp_ratio=4, nerf_depth=1, nerf_max_freqs=8, nerf_tile_size=512, nerf_final_head_type="conv",
            nerf_embedder_dtype=torch.float32)
    if family == "qwen_image":
        return comfy.supported_models.QwenImage, {
            "image_model": "qwen_image", "in_channels": 64, "num_layers": 1, "attention_head_dim": 32,
            "num_attention_heads": 2, "joint_attention_dim": TEXT_WIDTH["qwen_image"], "axes_dims_rope": ROPE_AXES}
    if family == "z_image":  # detect_unet_config's Z-Image branch (dim 3840), at dim 256 (its adaLN takes
        # min(dim, 256) features from a 256-wide time embedding, so no narrower)
        return comfy.supported_models.ZImage, {
            "image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 256,
            "cap_feat_dim": TEXT_WIDTH["z_image"],
            "n_layers": 1, "n_refiner_layers": 1, "qk_norm": True, "n_heads": 8, "n_kv_heads": 8,
            "axes_dims": ROPE_AXES, "axes_lens": [1536, 512, 512], "rope_theta": 256.0,
            "ffn_dim_multiplier": 8.0 / 3.0, "multiple_of": 16, "z_image_modulation": True, "time_scale": 1000.0}
    if family == "sd3":  # detect_unet_config's mmdit branch: hidden width 64 * depth, one head per 64
        return comfy.supported_models.SD3, {
            "in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 2, "input_size": None,
            "adm_in_channels": 2048,
            "context_embedder_config": {"target": "torch.nn.Linear",
                                        "params": {"in_features": TEXT_WIDTH["sd3"], "out_features": 128}},
            "num_patches": 64 * 64, "pos_embed_max_size": 64, "qk_norm": "rms", "pos_embed_scaling_factor": None,
            "x_block_self_attn_layers": []}
    if family == "hunyuan_image":  # detect_unet_config's HunyuanVideo branch for a 2-D patch (HunyuanImage 2.1):
        # 64 latent channels at 32x, patch 1x1, two rope axes, no pooled text, guidance-distilled, no byT5
        return comfy.supported_models.HunyuanImage21, {
            "image_model": "hunyuan_video", "in_channels": 64, "out_channels": 64, "patch_size": [1, 1],
            "vec_in_dim": None, "axes_dim": [16, 16], "meanflow": False, "context_in_dim": TEXT_WIDTH["hunyuan_image"],
            "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "theta": 256,
            "qkv_bias": True, "byt5": False, "guidance_embed": True, "use_cond_type_embedding": False,
            "vision_in_dim": None}
    if family == "hidream":  # detect_unet_config's HiDream I1 branch (all fixed there), one block of each kind
        return comfy.supported_models.HiDream, {
            "image_model": "hidream", "attention_head_dim": 32, "axes_dims_rope": [16, 8, 8],
            "caption_channels": [TEXT_WIDTH["hidream"], 4096], "max_resolution": [128, 128], "in_channels": 16,
            "llama_layers": list(range(HIDREAM_LLAMA_LAYERS)), "num_attention_heads": 2, "num_routed_experts": 4,
            "num_activated_experts": 2, "num_layers": 1, "num_single_layers": 1, "out_channels": 16,
            "patch_size": 2, "text_emb_dim": 2048}
    if family == "mochi":  # detect_unet_config's Mochi branch (all fixed there: 48 blocks of width
        # 3072); its block asserts an MLP of 12288, so mlp_ratio_x is 192 at width 64
        return comfy.supported_models.GenmoMochi, {
            "image_model": "mochi_preview", "depth": 2, "patch_size": 2, "num_heads": 2, "hidden_size_x": 64,
            "hidden_size_y": 32, "mlp_ratio_x": 192.0, "mlp_ratio_y": 4.0, "learn_sigma": False, "in_channels": 12,
            "qk_norm": True, "qkv_bias": False, "out_bias": True, "attn_drop": 0.0, "patch_embed_bias": True,
            "posenc_preserve_area": True, "timestep_mlp_bias": True, "attend_to_padding": False,
            "timestep_scale": 1000.0, "use_t5": True, "t5_feat_dim": TEXT_WIDTH["mochi"], "t5_token_length": 256,
            "rope_theta": 10000.0}
    if family == "cosmos_predict2":  # detect_unet_config's Cosmos Predict2 text-to-video branch (it knows
        # only the 2B and 14B widths), at width 64 with two heads
        return comfy.supported_models.CosmosT2IPredict2, {
            "image_model": "cosmos_predict2", "max_img_h": 240, "max_img_w": 240, "max_frames": 128,
            "in_channels": 16, "out_channels": 16, "patch_spatial": 2, "patch_temporal": 1, "model_channels": 64,
            "concat_padding_mask": True, "crossattn_emb_channels": TEXT_WIDTH["cosmos_predict2"],
            "pos_emb_cls": "rope3d", "pos_emb_learnable": True, "pos_emb_interpolation": "crop", "min_fps": 1,
            "max_fps": 30, "use_adaln_lora": True, "adaln_lora_dim": 16, "num_blocks": 1, "num_heads": 2,
            "extra_per_block_abs_pos_emb": False, "rope_h_extrapolation_ratio": 4.0,
            "rope_w_extrapolation_ratio": 4.0, "rope_t_extrapolation_ratio": 1.0, "extra_h_extrapolation_ratio": 1.0,
            "extra_w_extrapolation_ratio": 1.0, "extra_t_extrapolation_ratio": 1.0,
            "rope_enable_fps_modulation": False}
    if family == "cosmos_predict2_i2v":  # the same branch for in_channels 17 (the 2B I2V rope ratios)
        _, config = unet_config("cosmos_predict2")
        return comfy.supported_models.CosmosI2VPredict2, dict(
            config, in_channels=17, rope_h_extrapolation_ratio=3.0, rope_w_extrapolation_ratio=3.0)
    if family == "lumina2":  # detect_unet_config's Lumina 2 branch for dim 2304 (24 heads, 8 key/value
        # heads), at dim 128 with 4 heads and 2 key/value heads
        return comfy.supported_models.Lumina2, {
            "image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 128,
            "cap_feat_dim": TEXT_WIDTH["lumina2"], "n_layers": 1, "n_refiner_layers": 1, "qk_norm": True,
            "n_heads": 4, "n_kv_heads": 2, "axes_dims": ROPE_AXES, "axes_lens": [300, 512, 512],
            "rope_theta": 10000.0, "ffn_dim_multiplier": 4.0}
    if family == "aura_flow":  # detect_unet_config's AuraFlow branch: it reads max_seq, cond_seq_dim and
        # the layer counts; width, heads and the conditioning width keep MMDiT's defaults (3072, 12), set
        # here at 64 and 2. A 4-channel SDXL latent.
        return comfy.supported_models.AuraFlow, {
            "max_seq": 1024, "cond_seq_dim": TEXT_WIDTH["aura_flow"], "n_double_layers": 1, "n_layers": 2,
            "dim": 64, "n_heads": 2, "global_conddim": 64}
    if family == "omnigen2":  # detect_unet_config's OmniGen2 branch (all fixed there: width 2520, 21
        # heads, 7 key/value heads, 32 layers), at width 96 with 3 heads and 1 key/value head
        return comfy.supported_models.Omnigen2, {
            "image_model": "omnigen2", "axes_dim_rope": ROPE_AXES, "axes_lens": [1024, 1664, 1664],
            "ffn_dim_multiplier": None, "hidden_size": 96, "in_channels": 16, "multiple_of": 256, "norm_eps": 1e-5,
            "num_attention_heads": 3, "num_kv_heads": 1, "num_layers": 1, "num_refiner_layers": 1,
            "out_channels": None, "patch_size": 2, "text_feat_dim": TEXT_WIDTH["omnigen2"], "timestep_scale": 1000.0}
    if family == "pixart_sigma":  # detect_unet_config's PixArt branch (width 1152 and 16 heads fixed there)
        # for a checkpoint without the size embedders, at width 64 with 2 heads; a 4-channel SDXL latent
        return comfy.supported_models.PixArtSigma, {
            "num_heads": 2, "patch_size": 2, "hidden_size": 64, "in_channels": 4, "depth": 1,
            "model_max_length": 300, "image_model": "pixart_sigma", "micro_condition": False}
    if family == "hunyuan_dit":  # detect_unet_config's HunyuanDiT branch (v1.2: no size or style
        # condition) at width 64 with 2 heads and 4 blocks (two of them taking the long skips); the text
        # lengths shortened to HUNYUAN_DIT_TEXT_LEN (the mT5 MLP and the pooler keep its 2048 width)
        return comfy.supported_models.HunyuanDiT, {
            "image_model": "hydit", "depth": 4, "hidden_size": 64, "num_heads": 2,
            "text_len": HUNYUAN_DIT_TEXT_LEN, "text_len_t5": HUNYUAN_DIT_TEXT_LEN}
    if family == "cosmos1":  # detect_unet_config's Cosmos (1.0) branch for the 7B, at width 64 with 2 heads
        # and one block
        return comfy.supported_models.CosmosT2V, {
            "image_model": "cosmos", "max_img_h": 240, "max_img_w": 240, "max_frames": 128, "in_channels": 16,
            "out_channels": 16, "patch_spatial": 2, "patch_temporal": 1, "model_channels": 64,
            "block_config": "FA-CA-MLP", "concat_padding_mask": True, "pos_emb_cls": "rope3d",
            "pos_emb_learnable": False, "pos_emb_interpolation": "crop", "block_x_format": "THWBD",
            "affline_emb_norm": True, "use_adaln_lora": True, "adaln_lora_dim": 16, "num_blocks": 1, "num_heads": 2,
            "extra_per_block_abs_pos_emb": True, "rope_h_extrapolation_ratio": 1.0, "rope_w_extrapolation_ratio": 1.0,
            "rope_t_extrapolation_ratio": 2.0, "extra_per_block_abs_pos_emb_type": "learnable"}
    raise ValueError(f"TaoTestTinyDiTLoader: unknown family {family!r}")


def random_weights(module: torch.nn.Module, seed: int, ones=("scale", "gamma")) -> dict:
    """Seeded weights for every tensor of a runtime module (ComfyUI's layers skip their own
    initialisation): one-dimensional weights and the tensors whose names end in `ones` (norm scales)
    1, biases 0, every other tensor N(0, 1 / fan-in). harness.write_random_module uses it too."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if key.endswith(tuple(ones)) or (key.endswith("weight") and value.ndim == 1):
            state[key] = torch.ones(value.shape)
        elif key.endswith("bias"):
            state[key] = torch.zeros(value.shape)
        else:
            fan_in = value[0].numel() if value.ndim > 1 else 1
            state[key] = torch.randn(value.shape, generator=generator) / math.sqrt(fan_in)
    return state


class TaoTestTinyDiTLoader:
    FAMILIES = list(TEXT_WIDTH)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"family": (cls.FAMILIES,),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load"
    CATEGORY = "testing/taotest"
    DESCRIPTION = "A tiny random-weight image DiT of a ComfyUI family, built as ComfyUI's loader builds it."

    def load(self, family, seed):
        config_class, config = unet_config(family)
        model_config = config_class(dict(config))
        load_device = comfy.model_management.get_torch_device()
        offload_device = comfy.model_management.unet_offload_device()
        unet_dtype = comfy.model_management.unet_dtype(
            model_params=0, supported_dtypes=list(model_config.supported_inference_dtypes), weight_dtype=torch.float32)
        model_config.set_inference_dtype(unet_dtype, comfy.model_management.unet_manual_cast(
            unet_dtype, load_device, model_config.supported_inference_dtypes))
        model = model_config.get_model({}, "").to(offload_device)
        # strict: every tensor of the network gets a seeded value (ComfyUI's layers skip their own init)
        model.diffusion_model.load_state_dict(random_weights(model.diffusion_model, seed), strict=True)
        return (comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device),)


class TaoTestImageLatent:
    """A seeded image latent in raw VAE space: [1, 16, height, width] as a Flux or SD3 VAE encode
    returns it, or with frame_axis [1, 16, 1, height, width] as Qwen-Image's (Wan2.1) VAE does. A
    reference image for ReferenceLatent without a VAE."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"width": ("INT", {"default": 8, "min": 1, "max": 1024, "tooltip": "latent width"}),
                             "height": ("INT", {"default": 8, "min": 1, "max": 1024, "tooltip": "latent height"}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1}),
                             "frame_axis": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"
    CATEGORY = "testing/taotest"

    def make(self, width, height, seed, frame_axis):
        generator = torch.Generator().manual_seed(seed)
        shape = (1, 16, 1, height, width) if frame_axis else (1, 16, height, width)
        return ({"samples": torch.randn(shape, generator=generator)},)


class TaoTestTinyControlNet:
    calls: list = []  # one entry per forward of any ControlNet this node made (cleared by the tests)
    device_lookups: list = []  # the device of every get_instance_for_device call (cleared by the tests)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1})},
                "optional": {"get_control": (["comfy", "another pack"], {"default": "comfy"})}}

    RETURN_TYPES = ("CONTROL_NET",)
    FUNCTION = "load"
    CATEGORY = "testing/taotest"

    def load(self, seed, get_control="comfy"):
        import comfy.controlnet
        import comfy.ldm.flux.controlnet
        import comfy.ops

        config_class, config = unet_config("flux")
        config = {k: v for k, v in config.items() if k != "image_model"}
        dtype = torch.float32
        operations = comfy.ops.pick_operations(dtype, None, disable_fast_fp8=True)
        control_model = comfy.ldm.flux.controlnet.ControlNetFlux(
            mistoline=False, operations=operations, device=comfy.model_management.unet_offload_device(), dtype=dtype,
            **config)
        control_model.load_state_dict(random_weights(control_model, seed), strict=True)
        control_model.register_forward_hook(lambda module, args, output: TaoTestTinyControlNet.calls.append(1))
        newest = _newest_controlnet_class()
        cls = newest if get_control == "comfy" else type("AnotherPacksControlNet", (newest,), {
            "get_control": _another_packs_get_control})
        control = cls(control_model, load_device=comfy.model_management.get_torch_device(), manual_cast_dtype=None,
                      extra_conds=["y", "guidance"])
        return (control,)


def _newest_controlnet_class():
    """comfy.controlnet.ControlNet with the newest ComfyUI's get_instance_for_device (and a copy that
    keeps the class: ControlNetApplyAdvanced applies a copy)."""
    import comfy.controlnet

    class NewestControlNet(comfy.controlnet.ControlNet):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.multigpu_clones = {}

        def get_instance_for_device(self, device):
            TaoTestTinyControlNet.device_lookups.append(device)
            return self.multigpu_clones.get(device, self)

        def copy(self):
            c = super().copy()
            c.__class__ = type(self)
            c.multigpu_clones = {}
            return c

    return NewestControlNet


def _another_packs_get_control(self, *args, **kwargs):
    """A get_control of this module's, not comfy.controlnet's (as Advanced-ControlNet's is its own)."""
    return super(type(self), self).get_control(*args, **kwargs)


def _identity_forward_orig(original, identity):
    """A forward_orig that adds the identity to every output token, as PuLID's adds its ID features."""
    def forward_orig(self, *args, **kwargs):
        output = original(*args, **kwargs)
        return output + identity.to(output)
    return forward_orig


def _forward_past_the_wrapper_point(self, *args, **kwargs):
    """DreamO's forward: the model's own work, without the DIFFUSION_MODEL wrapper executor."""
    return self._forward(*args, **kwargs)


class TaoTestForwardOverride:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "mode": (["forward_orig", "forward and forward_orig"],),
                             "id_seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1}),
                             "weight": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing/taotest"

    def patch(self, model, mode, id_seed, weight):
        def outer_sample(executor, *args, **kwargs):
            diffusion_model = executor.class_obj.model_patcher.model.diffusion_model
            originals = {"forward_orig": diffusion_model.forward_orig}
            width = diffusion_model.out_channels  # patch_size ** 2 latent channels: one output token
            identity = weight * 0.1 * torch.randn(width, generator=torch.Generator().manual_seed(id_seed))
            diffusion_model.forward_orig = types.MethodType(
                _identity_forward_orig(diffusion_model.forward_orig, identity), diffusion_model)
            if mode == "forward and forward_orig":
                originals["forward"] = diffusion_model.forward
                diffusion_model.forward = types.MethodType(_forward_past_the_wrapper_point, diffusion_model)
            try:
                return executor(*args, **kwargs)
            finally:
                for name in originals:  # the class's own methods again
                    del diffusion_model.__dict__[name]

        m = model.clone()
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, "taotest_forward_override", outer_sample)
        return (m,)


NODE_CLASS_MAPPINGS = {"TaoTestTinyDiTLoader": TaoTestTinyDiTLoader, "TaoTestImageLatent": TaoTestImageLatent,
                       "TaoTestTinyControlNet": TaoTestTinyControlNet, "TaoTestForwardOverride": TaoTestForwardOverride}
