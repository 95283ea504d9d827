"""Write tiny, randomly initialised diffusion models that ComfyUI's real loader accepts.

Pure torch + safetensors: this file never imports ComfyUI. The weights are random (seeded, so every
run writes byte-identical tensors); they are good for testing wiring, step skipping and invariants,
never for image quality.

    python tools/make_tiny_models.py OUT_DIR [--only NAME ...]

Models (file name -> what ComfyUI 0.3.75 detects it as, via comfy.sd.load_diffusion_model):

  tiny_wan21_t2v.safetensors      Wan2.1 T2V, dim 128, 2 blocks, in/out 16 channels
                                  -> supported_models.WAN21_T2V / model_base.WAN21, latent Wan21
  tiny_wan21_i2v.safetensors      Wan2.1 I2V, dim 128, 2 blocks, in 36 (16 noise + 4 mask + 16 image
                                  latent channels), out 16, with the CLIP-vision projection img_emb
                                  -> supported_models.WAN21_I2V / model_base.WAN21, latent Wan21
  tiny_wan22_ti2v_5b.safetensors  Wan2.2 TI2V-5B shape, dim 128, 2 blocks, in/out 48 channels
                                  -> supported_models.WAN22_T2V / model_base.WAN22, latent Wan22 (48 ch)
  tiny_wan21_vace.safetensors     Wan2.1 VACE, the T2V shape plus one VACE block (after block 0) and
                                  the 96-channel VACE patch embedding (16 inactive + 16 reactive latent
                                  channels + 64 mask channels, what WanVaceToVideo builds)
                                  -> supported_models.WAN21_Vace / model_base.WAN21_Vace, latent Wan21
  tiny_wan21_fun_control.safetensors  Wan2.1 Fun Control, the I2V shape with in 48 channels (16 noise
                                  + 16 control latent + 16 start-image latent, what WanFunControlToVideo
                                  concatenates) -> supported_models.WAN21_FunControl2V / model_base.WAN21
  tiny_wan22_fun_camera.safetensors  Wan2.2 Fun Camera, the T2V shape with in 36 channels (16 noise +
                                  4 mask + 16 start-image latent) and the camera adapter (24 Plücker
                                  channels, what WanCameraEmbedding makes), no image embedding
                                  -> supported_models.WAN22_Camera / model_base.WAN21_Camera
  tiny_wan22_fun_control.safetensors  Wan2.2 Fun Control (A14B shape), the T2V shape with in 52 channels
                                  (16 noise + 16 control latent + 4 mask + 16 start-image latent, what
                                  Wan22FunControlToVideo concatenates) and ref_conv over a 16-channel
                                  reference latent -> supported_models.WAN21_T2V / model_base.WAN21
  tiny_ltxv.safetensors           LTX-Video (0.9.x), inner width 128 (32 heads of 4, ComfyUI's fixed
                                  head count), 1 block, 128 latent channels, text width 4096
                                  -> supported_models.LTXV / model_base.LTXV, latent LTXV (128 ch)
  tiny_hunyuan_video.safetensors  HunyuanVideo (T2V, guidance-distilled), hidden 128 (1 head of 128),
                                  1 double + 1 single block, 16 channels, text width 4096, pooled 768
                                  -> supported_models.HunyuanVideo / model_base.HunyuanVideo
  tiny_hunyuan_video_15.safetensors  HunyuanVideo 1.5 shape, hidden 128, 1 double + 1 single block, in 65
                                  channels (32 noise + 32 image latent + 1 mask), out 32, patch 1x1x1,
                                  text width 3584, no pooled text or guidance embedding, with the SigLIP
                                  projection (1152) and the condition-type embedding (no glyph ByT5 branch)
                                  -> supported_models.HunyuanVideo15 / model_base.HunyuanVideo15, latent
                                  HunyuanVideo15 (32 ch)

How ComfyUI derives each config from the keys (comfy/model_detection.py):
  Wan: 'head.modulation' -> dim; 'head.head.weight' rows // 4 -> out_dim (48 means Wan2.2 5B);
       'blocks.0.ffn.0.weight' -> ffn_dim; number of 'blocks.N' -> layers; 'patch_embedding.weight'
       -> in_dim. num_heads = dim // 128 and text_dim is fixed at 4096 (not detected).
       'img_emb.proj.0.bias' present (and no VACE/camera/S2V/HuMo/animate keys) -> model_type i2v;
       with in_dim 36 that is WAN21_I2V (its blocks then use the image cross-attention: k_img,
       v_img, norm_k_img; img_emb projects 1280-wide CLIP-vision features to dim).
       'vace_patch_embedding.weight' present -> model_type vace (WAN21_Vace), its in-channels ->
       vace_in_dim, the number of 'vace_blocks.N' -> vace_layers; VaceWanModel adds the blocks' outputs
       after every (layers // vace_layers)-th main block. 'control_adapter.conv.weight' present ->
       a camera model (CameraWanModel): with 'img_emb.*' model_type camera (WAN21_Camera, in 32),
       without model_type camera_2.2 (WAN22_Camera, in 36); the adapter's input is fixed at 24
       channels, pixel-unshuffled by 8 into 24 x 64. 'ref_conv.weight' present -> in_dim_ref_conv
       (its in-channels), on any model type.
  LTXV: 'adaln_single.emb.timestep_embedder.linear_1.bias' marks it; the number of
       'transformer_blocks.N' -> layers; 'transformer_blocks.0.attn2.to_k.weight' rows // 32 -> head
       width and its columns -> cross_attention_dim (the caption projection's width, so the inner
       width); in_channels stays 128 (the LTXV latent).
  HunyuanVideo: 'txt_in.individual_token_refiner.blocks.0.norm1.weight' marks it; 'img_in.proj.weight'
       -> hidden size, in_channels, patch size; num_heads = hidden // 128 (the RoPE axes need a head
       dim of 16+56+56 = 128); 'txt_in.input_embedder.weight' -> text width; 'vector_in.*' present
       -> pooled width 768 (without it ComfyUI picks HunyuanImage21); 'guidance_in.*' -> guidance
       embedding; the number of 'double_blocks.N' / 'single_blocks.N' -> depths. HunyuanVideo 1.5:
       'vision_in.proj.0.weight' rows -> vision_in_dim (1152 selects HunyuanVideo15, whose in-channels
       are 32 noise + 32 image latent + 1 mask), 'cond_type_embedding.weight' present -> the
       condition-type embedding; no 'vector_in.*' and no 'guidance_in.*'.
Loading is not strict (missing weights would stay uninitialised), so every weight the module has
is written.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import torch
from safetensors.torch import save_file

WAN21_T2V = "tiny_wan21_t2v.safetensors"
WAN22_TI2V_5B = "tiny_wan22_ti2v_5b.safetensors"
WAN21_I2V = "tiny_wan21_i2v.safetensors"
WAN21_VACE = "tiny_wan21_vace.safetensors"
WAN21_FUN_CONTROL = "tiny_wan21_fun_control.safetensors"
WAN22_FUN_CAMERA = "tiny_wan22_fun_camera.safetensors"
WAN22_FUN_CONTROL = "tiny_wan22_fun_control.safetensors"
LTXV = "tiny_ltxv.safetensors"
HUNYUAN_VIDEO = "tiny_hunyuan_video.safetensors"
HUNYUAN_VIDEO_I2V = "tiny_hunyuan_video_i2v.safetensors"
HUNYUAN_VIDEO_15 = "tiny_hunyuan_video_15.safetensors"

# Conditioning widths the tiny models expect.
WAN_TEXT_DIM = 4096          # fixed by ComfyUI for every Wan model
LTXV_TEXT_DIM = 4096        # T5-XXL, the caption projection's input
LTXV_HEADS = 32             # fixed by ComfyUI's detection (head width = attn2.to_k rows // 32)
HUNYUAN_TEXT_DIM = 4096      # detected from the weights; 4096 like the real llava-llama3 encoder
HUNYUAN15_TEXT_DIM = 3584   # HunyuanVideo 1.5's text encoder (Qwen2.5-VL 7B hidden states)
HUNYUAN15_VISION_DIM = 1152  # fixed by ComfyUI's HunyuanVideo15 config: SigLIP features for vision_in
HUNYUAN_POOLED_DIM = 768     # fixed by ComfyUI (CLIP-L pooled output)
WAN_CLIP_VISION_DIM = 1280   # fixed by ComfyUI: Wan I2V's img_emb takes CLIP-H penultimate states
WAN_VACE_IN_DIM = 96         # WanVaceToVideo: inactive + reactive latents (2 x 16) + 8x8 mask (64)
WAN_CAMERA_IN_DIM = 24       # fixed by ComfyUI's CameraWanModel: WanCameraEmbedding's Plücker channels


class _Init:
    """Seeded tensor factory: weights ~ N(0, std), biases 0, norm scales 1."""

    def __init__(self, seed: int, std: float = 0.02, dtype=torch.float32):
        self.g = torch.Generator().manual_seed(seed)
        self.std = std
        self.dtype = dtype

    def w(self, *shape, std=None):
        s = self.std if std is None else std
        return (torch.randn(*shape, generator=self.g) * s).to(self.dtype)

    def zeros(self, *shape):
        return torch.zeros(*shape, dtype=self.dtype)

    def ones(self, *shape):
        return torch.ones(*shape, dtype=self.dtype)

    def linear(self, sd, name, out_f, in_f, bias=True):
        sd[f"{name}.weight"] = self.w(out_f, in_f)
        if bias:
            sd[f"{name}.bias"] = self.zeros(out_f)


def _mlp_proj(sd, r, name, in_dim, out_dim):
    """comfy.ldm.wan.model.MLPProj under `name`: LayerNorm -> Linear -> GELU -> Linear -> LayerNorm
    (Wan I2V's CLIP-vision img_emb, HunyuanVideo 1.5's SigLIP vision_in)."""
    sd[f"{name}.proj.0.weight"] = r.ones(in_dim)
    sd[f"{name}.proj.0.bias"] = r.zeros(in_dim)
    r.linear(sd, f"{name}.proj.1", in_dim, in_dim)
    r.linear(sd, f"{name}.proj.3", out_dim, in_dim)
    sd[f"{name}.proj.4.weight"] = r.ones(out_dim)
    sd[f"{name}.proj.4.bias"] = r.zeros(out_dim)


def _wan_block(sd, r, b, dim, ffn_dim):
    """One WanAttentionBlock (t2v cross-attention, qk_norm and cross_attn_norm on) under prefix b."""
    for attn in ("self_attn", "cross_attn"):
        for proj in ("q", "k", "v", "o"):
            r.linear(sd, f"{b}.{attn}.{proj}", dim, dim)
        sd[f"{b}.{attn}.norm_q.weight"] = r.ones(dim)
        sd[f"{b}.{attn}.norm_k.weight"] = r.ones(dim)
    sd[f"{b}.norm3.weight"] = r.ones(dim)
    sd[f"{b}.norm3.bias"] = r.zeros(dim)
    r.linear(sd, f"{b}.ffn.0", ffn_dim, dim)
    r.linear(sd, f"{b}.ffn.2", dim, ffn_dim)
    sd[f"{b}.modulation"] = r.w(1, 6, dim, std=dim ** -0.5)


def wan_state_dict(dim=128, ffn_dim=256, num_layers=2, in_dim=16, out_dim=16, text_dim=WAN_TEXT_DIM,
                   freq_dim=256, patch=(1, 2, 2), seed=0, i2v=False, vace_layers=0,
                   camera=False, ref_conv_in_dim=0) -> dict[str, torch.Tensor]:
    """Full state dict of comfy.ldm.wan.model.WanModel (qk_norm and cross_attn_norm on): t2v, or
    with i2v the image cross-attention weights and img_emb too, or with vace_layers that many VACE
    blocks and the VACE patch embedding (VaceWanModel), or with camera the camera adapter
    (CameraWanModel), or with ref_conv_in_dim Wan2.2 Fun's reference-image patch conv (`ref_conv`).
    The i2v, VACE, camera and ref_conv tensors are drawn after all the t2v ones, so a t2v model's
    bytes do not depend on these options."""
    if dim % 128:
        raise ValueError("ComfyUI sets num_heads = dim // 128: dim must be a multiple of 128")
    r = _Init(seed)
    sd: dict[str, torch.Tensor] = {}
    sd["patch_embedding.weight"] = r.w(dim, in_dim, *patch)
    sd["patch_embedding.bias"] = r.zeros(dim)
    r.linear(sd, "text_embedding.0", dim, text_dim)
    r.linear(sd, "text_embedding.2", dim, dim)
    r.linear(sd, "time_embedding.0", dim, freq_dim)
    r.linear(sd, "time_embedding.2", dim, dim)
    r.linear(sd, "time_projection.1", 6 * dim, dim)
    for i in range(num_layers):
        _wan_block(sd, r, f"blocks.{i}", dim, ffn_dim)
    r.linear(sd, "head.head", out_dim * patch[0] * patch[1] * patch[2], dim)
    sd["head.modulation"] = r.w(1, 2, dim, std=dim ** -0.5)
    if i2v:
        for i in range(num_layers):
            b = f"blocks.{i}.cross_attn"
            r.linear(sd, f"{b}.k_img", dim, dim)
            r.linear(sd, f"{b}.v_img", dim, dim)
            sd[f"{b}.norm_k_img.weight"] = r.ones(dim)
        _mlp_proj(sd, r, "img_emb", WAN_CLIP_VISION_DIM, dim)
    if vace_layers:
        # The VACE path's projections are drawn at unit gain (N(0, 1 / fan-in)), larger than the main
        # path's 0.02, so that the control visibly steers the tiny model's output (a released VACE
        # learns them; starting from zero, its after_proj would add nothing).
        fan_in = WAN_VACE_IN_DIM * patch[0] * patch[1] * patch[2]
        sd["vace_patch_embedding.weight"] = r.w(dim, WAN_VACE_IN_DIM, *patch, std=fan_in ** -0.5)
        sd["vace_patch_embedding.bias"] = r.zeros(dim)
        for i in range(vace_layers):
            b = f"vace_blocks.{i}"
            _wan_block(sd, r, b, dim, ffn_dim)
            for proj in ("before_proj", "after_proj") if i == 0 else ("after_proj",):
                sd[f"{b}.{proj}.weight"] = r.w(dim, dim, std=dim ** -0.5)
                sd[f"{b}.{proj}.bias"] = r.zeros(dim)
    if camera:
        # WanCamAdapter: a patch-sized conv over the pixel-unshuffled camera embedding, then one
        # residual block of two 3x3 convs; its output is added to the patch embedding. Unit gain, as
        # for VACE, so the camera motion visibly steers the tiny model.
        unshuffled = WAN_CAMERA_IN_DIM * 64
        fan_in = unshuffled * patch[1] * patch[2]
        sd["control_adapter.conv.weight"] = r.w(dim, unshuffled, patch[1], patch[2], std=fan_in ** -0.5)
        sd["control_adapter.conv.bias"] = r.zeros(dim)
        for conv in ("conv1", "conv2"):
            sd[f"control_adapter.residual_blocks.0.{conv}.weight"] = r.w(dim, dim, 3, 3, std=(dim * 9) ** -0.5)
            sd[f"control_adapter.residual_blocks.0.{conv}.bias"] = r.zeros(dim)
    if ref_conv_in_dim:
        # Wan2.2 Fun's ref_conv: a Conv2d with the patch's spatial size as kernel and stride; its
        # tokens are put in front of the video's. Unit gain, as for VACE, so the reference visibly
        # steers the tiny model.
        fan_in = ref_conv_in_dim * patch[1] * patch[2]
        sd["ref_conv.weight"] = r.w(dim, ref_conv_in_dim, patch[1], patch[2], std=fan_in ** -0.5)
        sd["ref_conv.bias"] = r.zeros(dim)
    return sd


def ltxv_state_dict(head_dim=4, num_layers=1, channels=128, text_dim=LTXV_TEXT_DIM, seed=5) -> dict[str, torch.Tensor]:
    """Full state dict of comfy.ldm.lightricks.model.LTXVModel: inner width LTXV_HEADS * head_dim,
    self- and cross-attention with q/k RMS norms, a GELU feed-forward of 4x width, AdaLN-single
    timestep modulation (6 per block, 2 at the output)."""
    r = _Init(seed)
    dim = LTXV_HEADS * head_dim
    sd: dict[str, torch.Tensor] = {}
    sd["scale_shift_table"] = r.w(2, dim, std=dim ** -0.5)
    r.linear(sd, "patchify_proj", dim, channels)
    r.linear(sd, "adaln_single.emb.timestep_embedder.linear_1", dim, 256)
    r.linear(sd, "adaln_single.emb.timestep_embedder.linear_2", dim, dim)
    r.linear(sd, "adaln_single.linear", 6 * dim, dim)
    r.linear(sd, "caption_projection.linear_1", dim, text_dim)
    r.linear(sd, "caption_projection.linear_2", dim, dim)
    for i in range(num_layers):
        b = f"transformer_blocks.{i}"
        sd[f"{b}.scale_shift_table"] = r.w(6, dim, std=dim ** -0.5)
        for attn in ("attn1", "attn2"):
            sd[f"{b}.{attn}.q_norm.weight"] = r.ones(dim)
            sd[f"{b}.{attn}.k_norm.weight"] = r.ones(dim)
            for proj in ("to_q", "to_k", "to_v", "to_out.0"):
                r.linear(sd, f"{b}.{attn}.{proj}", dim, dim)
        r.linear(sd, f"{b}.ff.net.0.proj", 4 * dim, dim)
        r.linear(sd, f"{b}.ff.net.2", dim, 4 * dim)
    r.linear(sd, "proj_out", channels, dim)
    return sd


def hunyuan_video_state_dict(hidden=128, depth=1, depth_single=1, in_channels=16, out_channels=16,
                             text_dim=HUNYUAN_TEXT_DIM, vec_dim=HUNYUAN_POOLED_DIM, mlp_ratio=4,
                             patch=(1, 2, 2), guidance_embed=True, vision_in_dim=None,
                             seed=0) -> dict[str, torch.Tensor]:
    """Full state dict of comfy.ldm.hunyuan_video.model.HunyuanVideo (T2V, qkv bias, 2 refiner blocks).
    vec_dim None: no pooled-text embedder (vector_in). vision_in_dim: HunyuanVideo 1.5's extras, the
    SigLIP projection (vision_in) and the condition-type embedding (text, glyph, vision); their tensors
    are drawn after all the others, so a 1.0 model's bytes do not depend on this option."""
    if hidden % 128:
        raise ValueError("ComfyUI sets num_heads = hidden // 128: hidden must be a multiple of 128")
    head_dim = 128
    mlp = hidden * mlp_ratio
    r = _Init(seed)
    sd: dict[str, torch.Tensor] = {}

    def embedder(name, in_dim):  # flux MLPEmbedder: in_layer -> SiLU -> out_layer
        r.linear(sd, f"{name}.in_layer", hidden, in_dim)
        r.linear(sd, f"{name}.out_layer", hidden, hidden)

    sd["img_in.proj.weight"] = r.w(hidden, in_channels, *patch)
    sd["img_in.proj.bias"] = r.zeros(hidden)
    embedder("time_in", 256)
    if vec_dim:
        embedder("vector_in", vec_dim)
    if guidance_embed:
        embedder("guidance_in", 256)
    # text token refiner
    r.linear(sd, "txt_in.input_embedder", hidden, text_dim)
    embedder("txt_in.t_embedder", 256)
    embedder("txt_in.c_embedder", text_dim)
    for i in range(2):
        b = f"txt_in.individual_token_refiner.blocks.{i}"
        r.linear(sd, f"{b}.adaLN_modulation.1", 2 * hidden, hidden)
        for norm in ("norm1", "norm2"):
            sd[f"{b}.{norm}.weight"] = r.ones(hidden)
            sd[f"{b}.{norm}.bias"] = r.zeros(hidden)
        r.linear(sd, f"{b}.self_attn.qkv", 3 * hidden, hidden)
        r.linear(sd, f"{b}.self_attn.proj", hidden, hidden)
        r.linear(sd, f"{b}.mlp.0", 4 * hidden, hidden)
        r.linear(sd, f"{b}.mlp.2", hidden, 4 * hidden)
    for i in range(depth):
        b = f"double_blocks.{i}"
        for stream in ("img", "txt"):
            r.linear(sd, f"{b}.{stream}_mod.lin", 6 * hidden, hidden)
            r.linear(sd, f"{b}.{stream}_attn.qkv", 3 * hidden, hidden)
            sd[f"{b}.{stream}_attn.norm.query_norm.scale"] = r.ones(head_dim)
            sd[f"{b}.{stream}_attn.norm.key_norm.scale"] = r.ones(head_dim)
            r.linear(sd, f"{b}.{stream}_attn.proj", hidden, hidden)
            r.linear(sd, f"{b}.{stream}_mlp.0", mlp, hidden)
            r.linear(sd, f"{b}.{stream}_mlp.2", hidden, mlp)
    for i in range(depth_single):
        b = f"single_blocks.{i}"
        r.linear(sd, f"{b}.linear1", 3 * hidden + mlp, hidden)
        r.linear(sd, f"{b}.linear2", hidden, hidden + mlp)
        sd[f"{b}.norm.query_norm.scale"] = r.ones(head_dim)
        sd[f"{b}.norm.key_norm.scale"] = r.ones(head_dim)
        r.linear(sd, f"{b}.modulation.lin", 3 * hidden, hidden)
    r.linear(sd, "final_layer.linear", patch[1] * patch[2] * out_channels, hidden)
    r.linear(sd, "final_layer.adaLN_modulation.1", 2 * hidden, hidden)
    if vision_in_dim:
        _mlp_proj(sd, r, "vision_in", vision_in_dim, hidden)
        sd["cond_type_embedding.weight"] = r.w(3, hidden)
    return sd


# name -> (builder, what ComfyUI should detect: supported_models class, model_base class, latent channels)
MODELS: dict[str, tuple[Callable[[], dict], dict]] = {
    WAN21_T2V: (lambda: wan_state_dict(in_dim=16, out_dim=16, seed=0),
                {"config": "WAN21_T2V", "model": "WAN21", "latent_channels": 16}),
    WAN22_TI2V_5B: (lambda: wan_state_dict(in_dim=48, out_dim=48, seed=1),
                    {"config": "WAN22_T2V", "model": "WAN22", "latent_channels": 48}),
    WAN21_I2V: (lambda: wan_state_dict(in_dim=36, out_dim=16, seed=3, i2v=True),
                {"config": "WAN21_I2V", "model": "WAN21", "latent_channels": 16}),
    WAN21_VACE: (lambda: wan_state_dict(in_dim=16, out_dim=16, seed=4, vace_layers=1),
                 {"config": "WAN21_Vace", "model": "WAN21_Vace", "latent_channels": 16}),
    WAN21_FUN_CONTROL: (lambda: wan_state_dict(in_dim=48, out_dim=16, seed=7, i2v=True),
                        {"config": "WAN21_FunControl2V", "model": "WAN21", "latent_channels": 16}),
    WAN22_FUN_CAMERA: (lambda: wan_state_dict(in_dim=36, out_dim=16, seed=9, camera=True),
                       {"config": "WAN22_Camera", "model": "WAN21_Camera", "latent_channels": 16}),
    # Wan2.2 Fun Control (A14B shape): 16 noise + 16 control + 4 mask + 16 start-image channels, and
    # ref_conv over a 16-channel reference latent; no img_emb, so ComfyUI picks the T2V config
    WAN22_FUN_CONTROL: (lambda: wan_state_dict(in_dim=52, out_dim=16, seed=11, ref_conv_in_dim=16),
                        {"config": "WAN21_T2V", "model": "WAN21", "latent_channels": 16}),
    LTXV: (ltxv_state_dict, {"config": "LTXV", "model": "LTXV", "latent_channels": 128}),
    HUNYUAN_VIDEO: (lambda: hunyuan_video_state_dict(seed=2),
                    {"config": "HunyuanVideo", "model": "HunyuanVideo", "latent_channels": 16}),
    # HunyuanVideo I2V, guidance "v1 (concat)": 16 noise + 16 start-image + 1 mask channels
    HUNYUAN_VIDEO_I2V: (lambda: hunyuan_video_state_dict(in_channels=33, seed=10),
                        {"config": "HunyuanVideoI2V", "model": "HunyuanVideoI2V", "latent_channels": 16}),
    HUNYUAN_VIDEO_15: (lambda: hunyuan_video_state_dict(in_channels=65, out_channels=32, patch=(1, 1, 1),
                                                         text_dim=HUNYUAN15_TEXT_DIM, vec_dim=None,
                                                         guidance_embed=False, vision_in_dim=HUNYUAN15_VISION_DIM,
                                                         seed=6),
                       {"config": "HunyuanVideo15", "model": "HunyuanVideo15", "latent_channels": 32}),
}


def expected_detection(name: str) -> dict:
    """What ComfyUI's loader should report for the model file `name` (see MODELS)."""
    return dict(MODELS[name][1])


def write_tiny_models(models_dir, only=None) -> dict[str, str]:
    """Write the tiny models into `models_dir` (created if needed); return {file name: path}.

    `only`: an iterable of file names to restrict to. Files are rewritten every call (cheap: a few MB).
    """
    os.makedirs(models_dir, exist_ok=True)
    out = {}
    for name, (build, _) in MODELS.items():
        if only is not None and name not in only:
            continue
        sd = {k: v.contiguous() for k, v in build().items()}
        path = os.path.join(models_dir, name)
        tmp = path + ".tmp"
        save_file(sd, tmp, metadata={"taotest": "random tiny weights, seeded"})
        os.replace(tmp, path)
        out[name] = path
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", help="folder to write into, e.g. BASE/models/diffusion_models")
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS), help="write only these files")
    a = ap.parse_args(argv)
    for name, path in write_tiny_models(a.out_dir, only=a.only).items():
        sd = MODELS[name][0]()
        n = sum(v.numel() for v in sd.values())
        print(f"{path}: {len(sd)} tensors, {n} parameters, {os.path.getsize(path) / 1e6:.1f} MB; "
              f"ComfyUI should detect {MODELS[name][1]['config']}")


if __name__ == "__main__":
    main()
