"""Build the example workflows in workflows/ through the real ComfyUI frontend.

    .runtime/venv/bin/python tests/browser/build_workflows.py [--only NAME] [--out DIR]

Each workflow is described below (nodes, widget values by name, links by input name, positions),
created node by node in the frontend, and saved as the frontend serializes it (`app.graphToPrompt()`'s
workflow: the same JSON as Workflow > Export), so the files are exactly the UI format ComfyUI loads.
The same-name .jpg thumbnail (the Templates dialog shows it) is a screenshot of the graph on the
canvas. The server runs on a temporary base directory with the tiny test models; the real model file
names are set as widget values (they are the user's files).

Model file names are those of ComfyUI's own Wan/HunyuanVideo examples (Comfy-Org's repackaged
repositories on Hugging Face). Needs `bash tools/comfy_runtime.sh --with-browser`.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "comfy"))

import comfy_browser  # noqa: E402
import workflow_tools  # noqa: E402

OUT_DIR = workflow_tools.WORKFLOWS_DIR
THUMB_SIZE = (800, 450)
TAOCACHE_COLOURS = {"color": "#232", "bgcolor": "#353"}  # the frontend's "green"

NEGATIVE = ("blurry, low quality, jpeg artifacts, overexposed, static frame, flicker, distorted face, "
            "deformed hands, extra limbs, text, watermark, subtitles")

TAOCACHE_DEFAULTS = {"start_percent": 0.3, "end_percent": 1.0, "cos_threshold": 0.6, "norm_ratio_threshold": 1.3,
                     "max_consecutive_skips": 1, "predictor": "fixed_point", "error_budget": 0.0, "verbose": False}

# "default" and "aggressive" are the names README's Use section and tools/demo.sh give these settings.
# Every figure names its source (tests/comfy/test_workflows.py checks it: workflow_tools.unsourced_figures).
TRY_FIRST = """**TaoCache: what to try first**
- As shipped (start_percent {start}, max_consecutive_skips 1): the **default** setting, the node's defaults \
(end_percent 1.0, cos_threshold 0.6, norm_ratio_threshold 1.3, predictor fixed_point).
- **aggressive**: max_consecutive_skips 2, cos_threshold -1, norm_ratio_threshold 10 (both gates open). It loses \
structure: not recommended.
- What they gave on our tiny test model (`bash tools/demo.sh`: euler, 30 steps, one prompt and seed): default \
20/30 model calls, 1.50x, 50.2 dB PSNR, mask IoU 0.98 against the full run; aggressive 16/30 calls, 1.88x, \
38.1 dB, IoU 0.93. They are not figures for {model}: we could not run it.
- Measure on your own model: the same seed with and without TaoCache (two samplers side by side, or bypass \
the TaoCache node with Ctrl+B and run again), then compare the {outputs}; the node reports its model-call ratio \
after each run. The Compare template (wan2.1_t2v_1.3B_taocache_compare) does both in one run and shows \
quality and speed on its TaoCache Compare node.
- If structure or motion changes: fewer skips, with start_percent 0.5 or cos_threshold 0.8.
- After each run the node shows computed/skipped calls and one cell per step (hover a cell for its sigma, r and c).
- Under 10 steps (lightx2v / CausVid LoRAs, distilled models) it stays off and says so.
- profile none decides online from the sample itself; a profile made with TaoCache Calibrate plans the skips \
ahead to reach target_speedup; profile "none, plan to target_speedup" reaches target_speedup without calibration, \
its skips spread evenly over the window."""


class Node:
    def __init__(self, workflow, node_id, kind, pos, size, title, colours, mode, values, text):
        self.id, self.kind, self.pos, self.size = node_id, kind, pos, size
        self.title, self.colours, self.mode, self.text = title, colours, mode, text
        self.values, self.controls = {}, {}
        for name, value in values.items():
            if isinstance(value, (Node, tuple)):
                source, slot = (value, 0) if isinstance(value, Node) else value
                workflow.links.append([source.id, slot, node_id, name])
            elif name.endswith("__control"):
                self.controls[name[: -len("__control")]] = value
            else:
                self.values[name] = value

    def __getitem__(self, slot):
        return (self, slot)

    def spec(self):
        return {"id": self.id, "type": self.kind, "pos": list(self.pos), "size": self.size, "title": self.title,
                "colours": self.colours, "mode": self.mode, "values": self.values, "controls": self.controls,
                "text": self.text}


class Workflow:
    def __init__(self, name: str, description: str):
        self.name, self.description = name, description
        self.nodes: list[Node] = []
        self.links: list[list] = []

    def add(self, kind, pos, size=None, title=None, colours=None, mode=0, note_text=None, **values) -> Node:
        node = Node(self, len(self.nodes) + 1, kind, pos, size, title, colours, mode, values, note_text)
        self.nodes.append(node)
        return node

    def note(self, pos, size, text):
        return self.add("MarkdownNote", pos, size=size, title="Read me: files and TaoCache settings", note_text=text)

    def spec(self):
        return {"nodes": [n.spec() for n in self.nodes], "links": self.links}


def files_note(title: str, files: list[tuple[str, str]], extra: str = "", start: float = 0.3, model: str = "",
               outputs: str = "videos") -> str:
    lines = [f"## {title}", "", "**Model files** (put each in the ComfyUI/models/ folder shown):"]
    lines += [f"- {folder}/ **{name}**" for folder, name in files]
    if extra:
        lines += ["", extra]
    lines += ["", TRY_FIRST.format(start=start, model=model or title, outputs=outputs)]
    return "\n".join(lines)


# ---- shared pieces ----------------------------------------------------------------------------------

def wan_text(w, clip, x, y, positive, width=420):
    pos = w.add("CLIPTextEncode", (x, y), size=[width, 170], title="Positive prompt", clip=clip, text=positive)
    neg = w.add("CLIPTextEncode", (x, y + 215), size=[width, 130], title="Negative prompt", clip=clip, text=NEGATIVE)
    return pos, neg


def video_out(w, latent, vae, x, y, fps, prefix, tiled=False):
    if tiled:
        decode = w.add("VAEDecodeTiled", (x, y), samples=latent, vae=vae, tile_size=256, overlap=64,
                       temporal_size=64, temporal_overlap=8)
        y += 200
    else:
        decode = w.add("VAEDecode", (x, y), size=[220, 46], samples=latent, vae=vae)
        y += 96
    video = w.add("CreateVideo", (x, y), images=decode, fps=float(fps))
    w.add("SaveVideo", (x, y + 128), size=[320, 420], video=video, filename_prefix=f"video/{prefix}",
          format="auto", codec="auto")
    return decode


WAN21_T2V_FILES = [("diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors"),
                   ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"), ("vae", "wan_2.1_vae.safetensors")]


def wan21_t2v_loaders(w):
    """Wan2.1 T2V 1.3B's loaders, its 832x480, 33-frame latent and ModelSamplingSD3 (shift 8):
    (model, clip, vae, latent)."""
    files = WAN21_T2V_FILES
    unet = w.add("UNETLoader", (0, 0), size=[340, 82], unet_name=files[0][1], weight_dtype="default")
    clip = w.add("CLIPLoader", (0, 130), size=[340, 106], clip_name=files[1][1], type="wan", device="default")
    vae = w.add("VAELoader", (0, 286), size=[340, 58], vae_name=files[2][1])
    latent = w.add("EmptyHunyuanLatentVideo", (0, 400), size=[340, 130], width=832, height=480, length=33,
                   batch_size=1)
    model = w.add("ModelSamplingSD3", (390, 0), size=[300, 58], model=unet, shift=8.0)
    return model, clip, vae, latent


def taocache(w, model, pos, title="TaoCache", **overrides):
    return w.add("TaoCache", pos, size=[300, 226], title=title, colours=TAOCACHE_COLOURS, model=model,
                 **{**TAOCACHE_DEFAULTS, **overrides})


# ---- the workflows ------------------------------------------------------------------------------------

def wan21_t2v(easycache=False) -> Workflow:
    name = "wan2.1_t2v_1.3B_taocache_easycache" if easycache else "wan2.1_t2v_1.3B_taocache"
    w = Workflow(name, "Wan2.1 T2V 1.3B" + (" with core EasyCache and TaoCache stacked" if easycache else ""))
    files = WAN21_T2V_FILES
    extra = ("Files: Comfy-Org/Wan_2.1_ComfyUI_repackaged on Hugging Face (split_files/...). 832x480, 33 frames, "
             "30 steps.")
    if easycache:
        # the settings of the benchmark's "EasyCache early + TaoCache late" row "thr 0.05, K1 gated"
        extra += ("\n\n**Stacking**: EasyCache (core) reuses the model's residual on the early steps "
                  "(start_percent 0.0 to end_percent 0.3, reuse_threshold 0.05); TaoCache predicts the steps from "
                  "0.3 on. Give them back-to-back windows (EasyCache end_percent = TaoCache start_percent); "
                  "overlapping windows work too, but EasyCache, placed first, then decides the shared steps."
                  "\n\n**What the benchmark measured**: on our tiny test model (`bash tools/benchmark.sh`, "
                  "results/benchmark/results.md: these settings, uni_pc, 30 steps, 6 prompt/seed pairs) the pair gave "
                  "1.22x at 35.4 dB PSNR / mask IoU 0.945 against the full run, TaoCache alone 1.49x at 38.8 dB / "
                  "IoU 0.965 and EasyCache alone 1.11x at 27.2 dB / IoU 0.847. EasyCache lost the structure on that "
                  "model and dragged the pair down: this workflow shows how to stack the two, it is not a faster "
                  "setting. Measure on your own model.")
    w.note((-470, 0), [430, 740 if easycache else 560],
           files_note(w.description, files, extra, model="Wan2.1 T2V 1.3B"))
    model, clip, vae, latent = wan21_t2v_loaders(w)
    if easycache:
        model = w.add("EasyCache", (390, 100), size=[300, 130], model=model, reuse_threshold=0.05,
                      start_percent=0.0, end_percent=0.3, verbose=False)
        tc = taocache(w, model, (390, 280))
        text_y = 650
    else:
        tc = taocache(w, model, (390, 110))
        text_y = 400
    prompt = ("A hummingbird hovers at a red flower in a sunlit garden, wings a blur, petals swaying in a light "
              "breeze, macro shot, soft bokeh background." if easycache else
              "A red fox trots through fresh snow in a quiet birch forest at sunrise, low golden light, its breath "
              "visible in the cold air, slow tracking shot, shallow depth of field.")
    pos, neg = wan_text(w, clip, 390 if easycache else 740, text_y if easycache else 0, prompt)
    ks_x = 860 if easycache else 1210
    sampler = w.add("KSampler", (ks_x, 0), size=[300, 262], model=tc, positive=pos, negative=neg,
                    latent_image=latent, seed=42, seed__control="fixed", steps=30, cfg=6.0, sampler_name="uni_pc",
                    scheduler="simple", denoise=1.0)
    video_out(w, sampler, vae, ks_x + 350, 0, 16, "taocache_wan21_t2v" + ("_easycache" if easycache else ""))
    return w


def wan21_i2v() -> Workflow:
    w = Workflow("wan2.1_i2v_14B_480p_taocache", "Wan2.1 I2V 14B 480p")
    files = [("diffusion_models", "wan2.1_i2v_480p_14B_fp16.safetensors"),
             ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"), ("vae", "wan_2.1_vae.safetensors"),
             ("clip_vision", "clip_vision_h.safetensors")]
    extra = ("Files: Comfy-Org/Wan_2.1_ComfyUI_repackaged on Hugging Face. Pick your start image in Load Image "
             "(in ComfyUI/input/). 832x480, 33 frames; the fp8 variants of the 14B model fit in less VRAM.")
    w.note((-470, 0), [430, 600], files_note(w.description, files, extra))
    unet = w.add("UNETLoader", (0, 0), size=[340, 82], unet_name=files[0][1], weight_dtype="default")
    clip = w.add("CLIPLoader", (0, 130), size=[340, 106], clip_name=files[1][1], type="wan", device="default")
    vae = w.add("VAELoader", (0, 286), size=[340, 58], vae_name=files[2][1])
    vision = w.add("CLIPVisionLoader", (0, 394), size=[340, 58], clip_name=files[3][1])
    image = w.add("LoadImage", (0, 502), size=[340, 330], image="example.png")
    model = w.add("ModelSamplingSD3", (390, 0), size=[300, 58], model=unet, shift=8.0)
    tc = taocache(w, model, (390, 110))
    encoded = w.add("CLIPVisionEncode", (390, 600), size=[300, 78], clip_vision=vision, image=image[0], crop="none")
    pos, neg = wan_text(w, clip, 740, 0, "The woman in the picture slowly turns toward the camera and smiles while "
                                         "a light breeze moves her hair; steady camera, soft natural light.")
    i2v = w.add("WanImageToVideo", (740, 420), size=[300, 210], positive=pos, negative=neg, vae=vae,
                clip_vision_output=encoded, start_image=image[0], width=832, height=480, length=33, batch_size=1)
    sampler = w.add("KSampler", (1210, 0), size=[300, 262], model=tc, positive=i2v[0], negative=i2v[1],
                    latent_image=i2v[2], seed=42, seed__control="fixed", steps=30, cfg=5.0, sampler_name="uni_pc",
                    scheduler="simple", denoise=1.0)
    video_out(w, sampler, vae, 1560, 0, 16, "taocache_wan21_i2v")
    return w


def wan22_a14b() -> Workflow:
    w = Workflow("wan2.2_t2v_A14B_taocache", "Wan2.2 T2V A14B (two experts)")
    files = [("diffusion_models", "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors"),
             ("diffusion_models", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"),
             ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"), ("vae", "wan_2.1_vae.safetensors")]
    extra = ("Files: Comfy-Org/Wan_2.2_ComfyUI_Repackaged (diffusion models) and Comfy-Org/Wan_2.1_ComfyUI_repackaged "
             "(text encoder, VAE) on Hugging Face.\n\n**Two experts, one TaoCache each**: the high-noise expert "
             "samples steps 0-10 of 20, the low-noise expert steps 10-20. Both windows are set on the full "
             "schedule's noise levels, so start_percent 0.3 opens the window late in the high-noise expert; most "
             "skips happen in the low-noise expert. Each expert needs at least 10 steps of its own for TaoCache to "
             "act (so at least 20 in all); with the 4-step lightx2v LoRAs it stays off.\n\n**Calibrating**: replace "
             "each expert's TaoCache with a TaoCache Calibrate of its own (two profile names, for example "
             "wan2.2_a14b_high and wan2.2_a14b_low), run a few prompts, then pick each profile on its expert's "
             "TaoCache: each profile holds its own expert's noise levels and plans that expert's steps.")
    w.note((-470, 0), [430, 620], files_note(w.description, files, extra, model="Wan2.2 T2V A14B"))
    high = w.add("UNETLoader", (0, 0), size=[380, 82], title="Load Diffusion Model (high noise)",
                 unet_name=files[0][1], weight_dtype="default")
    low = w.add("UNETLoader", (0, 130), size=[380, 82], title="Load Diffusion Model (low noise)",
                unet_name=files[1][1], weight_dtype="default")
    clip = w.add("CLIPLoader", (0, 260), size=[380, 106], clip_name=files[2][1], type="wan", device="default")
    vae = w.add("VAELoader", (0, 416), size=[380, 58], vae_name=files[3][1])
    latent = w.add("EmptyHunyuanLatentVideo", (0, 524), size=[380, 130], width=832, height=480, length=33,
                   batch_size=1)
    ms_high = w.add("ModelSamplingSD3", (430, 0), size=[300, 58], title="ModelSamplingSD3 (high noise)", model=high,
                    shift=8.0)
    ms_low = w.add("ModelSamplingSD3", (430, 110), size=[300, 58], title="ModelSamplingSD3 (low noise)", model=low,
                   shift=8.0)
    tc_high = taocache(w, ms_high, (430, 220), title="TaoCache (high-noise expert)")
    tc_low = taocache(w, ms_low, (430, 600), title="TaoCache (low-noise expert)")
    pos, neg = wan_text(w, clip, 780, 0, "A paper boat drifts down a rain-filled street gutter at dusk, neon shop "
                                         "signs reflecting in the ripples, close-up that follows the boat, "
                                         "cinematic lighting.")
    common = {"positive": pos, "negative": neg, "noise_seed": 42, "noise_seed__control": "fixed", "steps": 20,
              "cfg": 3.5, "sampler_name": "euler", "scheduler": "simple"}
    first = w.add("KSamplerAdvanced", (1250, 0), size=[320, 334], title="KSampler (Advanced) high noise",
                  model=tc_high, latent_image=latent, add_noise="enable", start_at_step=0, end_at_step=10,
                  return_with_leftover_noise="enable", **common)
    second = w.add("KSamplerAdvanced", (1250, 400), size=[320, 334], title="KSampler (Advanced) low noise",
                   model=tc_low, latent_image=first, add_noise="disable", start_at_step=10, end_at_step=10000,
                   return_with_leftover_noise="disable", **common)
    video_out(w, second, vae, 1620, 0, 16, "taocache_wan22_t2v_a14b")
    return w


def wan22_ti2v_5b() -> Workflow:
    w = Workflow("wan2.2_ti2v_5B_taocache", "Wan2.2 TI2V 5B")
    files = [("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"),
             ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"), ("vae", "wan2.2_vae.safetensors")]
    extra = ("Files: Comfy-Org/Wan_2.2_ComfyUI_Repackaged on Hugging Face (the 5B model has its own VAE, "
             "wan2.2_vae). Text to video as shipped; for image to video, un-bypass Load Image (select it, "
             "Ctrl+B) and pick your picture. 1280x704, 121 frames at 24 fps.")
    w.note((-470, 0), [430, 600], files_note(w.description, files, extra))
    unet = w.add("UNETLoader", (0, 0), size=[340, 82], unet_name=files[0][1], weight_dtype="default")
    clip = w.add("CLIPLoader", (0, 130), size=[340, 106], clip_name=files[1][1], type="wan", device="default")
    vae = w.add("VAELoader", (0, 286), size=[340, 58], vae_name=files[2][1])
    image = w.add("LoadImage", (0, 394), size=[340, 330], mode=4, title="Load Image (optional start image)",
                  image="example.png")
    model = w.add("ModelSamplingSD3", (390, 0), size=[300, 58], model=unet, shift=8.0)
    tc = taocache(w, model, (390, 110))
    latent = w.add("Wan22ImageToVideoLatent", (390, 490), size=[300, 150], vae=vae, start_image=image[0],
                   width=1280, height=704, length=121, batch_size=1)
    pos, neg = wan_text(w, clip, 740, 0, "Waves roll onto a black sand beach under a cloudy sky, sea foam spreading "
                                         "over the sand, aerial drone shot slowly moving forward.")
    sampler = w.add("KSampler", (1210, 0), size=[300, 262], model=tc, positive=pos, negative=neg, latent_image=latent,
                    seed=42, seed__control="fixed", steps=30, cfg=5.0, sampler_name="uni_pc", scheduler="simple",
                    denoise=1.0)
    video_out(w, sampler, vae, 1560, 0, 24, "taocache_wan22_ti2v_5b")
    return w


def hunyuan_video() -> Workflow:
    w = Workflow("hunyuan_video_t2v_taocache", "HunyuanVideo T2V (a non-Wan DiT)")
    files = [("diffusion_models", "hunyuan_video_t2v_720p_bf16.safetensors"),
             ("text_encoders", "clip_l.safetensors"), ("text_encoders", "llava_llama3_fp8_scaled.safetensors"),
             ("vae", "hunyuan_video_vae_bf16.safetensors")]
    extra = ("Files: Comfy-Org/HunyuanVideo_repackaged on Hugging Face. HunyuanVideo is guidance-distilled: cfg "
             "stays 1 and FluxGuidance sets the guidance (6), so each step is one model call. 848x480, 73 frames; "
             "the tiled VAE decode keeps memory down.")
    w.note((-470, 0), [430, 600], files_note(w.description, files, extra, model="HunyuanVideo"))
    unet = w.add("UNETLoader", (0, 0), size=[360, 82], unet_name=files[0][1], weight_dtype="default")
    clip = w.add("DualCLIPLoader", (0, 130), size=[360, 130], clip_name1=files[1][1], clip_name2=files[2][1],
                 type="hunyuan_video", device="default")
    vae = w.add("VAELoader", (0, 310), size=[360, 58], vae_name=files[3][1])
    latent = w.add("EmptyHunyuanLatentVideo", (0, 418), size=[360, 130], width=848, height=480, length=73,
                   batch_size=1)
    model = w.add("ModelSamplingSD3", (410, 0), size=[300, 58], model=unet, shift=7.0)
    tc = taocache(w, model, (410, 110))
    text = w.add("CLIPTextEncode", (760, 0), size=[420, 170], title="Prompt", clip=clip,
                 text="A vintage red tram climbs a steep cobblestone street on a bright afternoon, people walking "
                      "on the sidewalks, handheld camera following the tram.")
    guided = w.add("FluxGuidance", (760, 220), size=[300, 58], conditioning=text, guidance=6.0)
    empty = w.add("ConditioningZeroOut", (760, 330), size=[300, 26], title="Negative (unused at cfg 1)",
                  conditioning=text)
    sampler = w.add("KSampler", (1230, 0), size=[300, 262], model=tc, positive=guided, negative=empty,
                    latent_image=latent, seed=42, seed__control="fixed", steps=30, cfg=1.0, sampler_name="euler",
                    scheduler="simple", denoise=1.0)
    video_out(w, sampler, vae, 1580, 0, 24, "taocache_hunyuan_video", tiled=True)
    return w


def wan21_vace() -> Workflow:
    w = Workflow("wan2.1_vace_1.3B_taocache", "Wan2.1 VACE 1.3B (control video, optional reference image)")
    files = [("diffusion_models", "wan2.1_vace_1.3B_fp16.safetensors"),
             ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"), ("vae", "wan_2.1_vae.safetensors")]
    extra = ("Files: Comfy-Org/Wan_2.1_ComfyUI_repackaged on Hugging Face (wan2.1_vace_14B_fp16 for the 14B "
             "model). Pick your control video (a pose, depth or edge video, in ComfyUI/input/) in Load Video; for "
             "a reference image, un-bypass Load Image (select it, Ctrl+B). 832x480, 33 frames. Trim Video Latent "
             "removes the reference image's extra frame after sampling.\n\n**VACE and TaoCache**: TaoCache "
             "wraps the whole model call, so every computed step runs the VACE blocks with your control and a "
             "skipped step predicts the output they shaped (tests/comfy/test_control_video.py checks it on a tiny VACE "
             "model: the cached run stays with its own control).")
    w.note((-470, 0), [430, 700], files_note(w.description, files, extra, model="Wan2.1 VACE 1.3B"))
    unet = w.add("UNETLoader", (0, 0), size=[340, 82], unet_name=files[0][1], weight_dtype="default")
    clip = w.add("CLIPLoader", (0, 130), size=[340, 106], clip_name=files[1][1], type="wan", device="default")
    vae = w.add("VAELoader", (0, 286), size=[340, 58], vae_name=files[2][1])
    video = w.add("LoadVideo", (0, 394), size=[340, 330], title="Load Video (control video)", file="control.mp4")
    frames = w.add("GetVideoComponents", (0, 774), size=[220, 66], video=video)
    image = w.add("LoadImage", (0, 890), size=[340, 330], mode=4, title="Load Image (optional reference image)",
                  image="example.png")
    model = w.add("ModelSamplingSD3", (390, 0), size=[300, 58], model=unet, shift=8.0)
    tc = taocache(w, model, (390, 110))
    pos, neg = wan_text(w, clip, 740, 0, "A dancer in a flowing red dress spins on a wooden stage under warm "
                                         "spotlights, smooth motion, steady camera.")
    vace = w.add("WanVaceToVideo", (740, 420), size=[300, 254], positive=pos, negative=neg, vae=vae,
                 control_video=frames[0], reference_image=image[0], width=832, height=480, length=33, batch_size=1,
                 strength=1.0)
    sampler = w.add("KSampler", (1210, 0), size=[300, 262], model=tc, positive=vace[0], negative=vace[1],
                    latent_image=vace[2], seed=42, seed__control="fixed", steps=30, cfg=6.0, sampler_name="uni_pc",
                    scheduler="simple", denoise=1.0)
    trimmed = w.add("TrimVideoLatent", (1210, 320), size=[300, 82], samples=sampler, trim_amount=vace[3])
    video_out(w, trimmed, vae, 1560, 0, 16, "taocache_wan21_vace")
    return w


def wan21_calibrate() -> Workflow:
    w = Workflow("wan2.1_t2v_1.3B_taocache_calibrate", "Wan2.1 T2V 1.3B: calibrate a TaoCache profile")
    files = WAN21_T2V_FILES
    lines = [f"## {w.description}", "", "**Model files** (put each in the ComfyUI/models/ folder shown):"]
    lines += [f"- {folder}/ **{name}**" for folder, name in files]
    lines += ["", "**How to calibrate**",
              "- Run this workflow 3-5 times with your usual prompts and different seeds (same model, sampler and "
              "steps you will use). Sampling runs at full compute; each run is added to the profile.",
              "- The Calibrate node says how many runs the profile holds and where it was written "
              "(ComfyUI/models/taocache_profiles/wan2.1_t2v_1.3B.json).",
              "- Then, in the TaoCache workflow, pick **profile** wan2.1_t2v_1.3B.json on the TaoCache node and set "
              "**target_speedup** (try 1.5). The node reports the planned and the achieved speedup.",
              "- A profile made at 50 steps also serves 30 steps and other schedulers (it is read by noise level). "
              "A profile from another model is refused with a message.",
              "- Optional, **trial_speedups** (for example 1.5): after each full run the node samples the same "
              "seed again once per placement (6 placements: up to 6 more sampling runs per speedup) and keeps each "
              "trial's measured error; TaoCache then skips where the trials came out best on your model."]
    w.note((-470, 0), [430, 560], "\n".join(lines))
    model, clip, vae, latent = wan21_t2v_loaders(w)
    calibrate = w.add("TaoCacheCalibrate", (390, 110), size=[300, 106], title="TaoCache Calibrate",
                      colours=TAOCACHE_COLOURS, model=model, profile_name="wan2.1_t2v_1.3B", trial_speedups="")
    pos, neg = wan_text(w, clip, 740, 0, "A red fox trots through fresh snow in a quiet birch forest at sunrise, "
                        "low golden light, slow tracking shot.")
    sampler = w.add("KSampler", (1210, 0), size=[300, 262], model=calibrate, positive=pos, negative=neg,
                    latent_image=latent, seed=1, seed__control="increment", steps=30, cfg=6.0,
                    sampler_name="uni_pc", scheduler="simple", denoise=1.0)
    video_out(w, sampler, vae, 1560, 0, 16, "taocache_calibration")
    return w


def wan21_compare() -> Workflow:
    w = Workflow("wan2.1_t2v_1.3B_taocache_compare", "Wan2.1 T2V 1.3B: measure TaoCache on your own model")
    files = WAN21_T2V_FILES
    extra = ("Files: Comfy-Org/Wan_2.1_ComfyUI_repackaged on Hugging Face (split_files/...). 832x480, 33 frames, "
             "30 steps.\n\n**What this measures**: the two samplers run the same prompt, seed, sampler and steps, "
             "the top one at full compute, the bottom one through TaoCache. **TaoCache Compare** then shows how far "
             "the TaoCache video is from the full one (relative error and PSNR of the latent, PSNR and SSIM of the "
             "decoded frames) and what TaoCache saved: its model-call ratio (counted) and the wall-clock ratio of "
             "the two sampling runs (timed, model loading left out). Every figure it shows is measured in that "
             "run, on your own model and GPU; none is estimated. Both videos are saved, to look at side by side."
             "\n\n**The full run's TaoCache node** has max_consecutive_skips 0: it skips nothing and only times "
             "the run. Keep it: without it Compare gives the call ratio only."
             "\n\n**Measuring again**: the first sampler of the first run also pays for warm-up. ComfyUI reruns "
             "nothing that did not change, so set a new seed on both samplers (the same on both) and run again "
             "for a steadier wall clock. Try other TaoCache settings on the bottom TaoCache node.")
    w.note((-470, 0), [430, 940], files_note(w.description, files, extra, model="Wan2.1 T2V 1.3B"))
    model, clip, vae, latent = wan21_t2v_loaders(w)
    timer = taocache(w, model, (390, 110), title="TaoCache (full run: skips off, times only)",
                     max_consecutive_skips=0)
    tc = taocache(w, model, (390, 490), title="TaoCache (accelerated run)")
    pos, neg = wan_text(w, clip, 740, 0, "A red fox trots through fresh snow in a quiet birch forest at sunrise, low "
                                         "golden light, its breath visible in the cold air, slow tracking shot, "
                                         "shallow depth of field.")
    common = {"positive": pos, "negative": neg, "latent_image": latent, "seed": 42, "seed__control": "fixed",
              "steps": 30, "cfg": 6.0, "sampler_name": "uni_pc", "scheduler": "simple", "denoise": 1.0}
    full = w.add("KSampler", (1210, 0), size=[300, 262], title="KSampler (full run)", model=timer, **common)
    fast = w.add("KSampler", (1210, 490), size=[300, 262], title="KSampler (TaoCache)", model=tc, **common)
    full_frames = video_out(w, full, vae, 1560, 0, 16, "taocache_compare_full")
    fast_frames = video_out(w, fast, vae, 1910, 0, 16, "taocache_compare_taocache")
    w.add("TaoCacheCompare", (1560, 720), size=[670, 260], title="TaoCache Compare", colours=TAOCACHE_COLOURS,
          full_latent=full, accelerated_latent=fast, full_images=full_frames, accelerated_images=fast_frames)
    return w


def qwen_image() -> Workflow:
    w = Workflow("qwen_image_taocache", "Qwen-Image text to image (an image DiT)")
    files = [("diffusion_models", "qwen_image_fp8_e4m3fn.safetensors"),
             ("text_encoders", "qwen_2.5_vl_7b_fp8_scaled.safetensors"), ("vae", "qwen_image_vae.safetensors")]
    extra = ("Files: Comfy-Org/Qwen-Image_ComfyUI on Hugging Face (split_files/...). 1328x1328, 20 steps, cfg 2.5, "
             "ModelSamplingAuraFlow shift 3.1, as ComfyUI's own Qwen-Image template. TaoCache works the same on "
             "Flux, Chroma, Z-Image, SD3 and HiDream: put it between the model and the sampler. For Qwen-Image-Edit "
             "or Flux Kontext, the reference image rides through (tested with the core ReferenceLatent node).")
    w.note((-470, 0), [430, 640], files_note(w.description, files, extra, model="Qwen-Image", outputs="images"))
    unet = w.add("UNETLoader", (0, 0), size=[360, 82], unet_name=files[0][1], weight_dtype="default")
    clip = w.add("CLIPLoader", (0, 130), size=[360, 106], clip_name=files[1][1], type="qwen_image", device="default")
    vae = w.add("VAELoader", (0, 286), size=[360, 58], vae_name=files[2][1])
    latent = w.add("EmptySD3LatentImage", (0, 394), size=[360, 106], width=1328, height=1328, batch_size=1)
    model = w.add("ModelSamplingAuraFlow", (410, 0), size=[300, 58], model=unet, shift=3.1)
    tc = taocache(w, model, (410, 110))
    pos = w.add("CLIPTextEncode", (760, 0), size=[420, 170], title="Positive prompt", clip=clip,
                text="A cozy bookshop on a rainy evening, warm light spilling onto the wet street, a hand-painted "
                     "sign above the door reading \"Open Late\", a cat asleep in the window.")
    neg = w.add("CLIPTextEncode", (760, 215), size=[420, 130], title="Negative prompt", clip=clip,
                text="blurry, low quality, jpeg artifacts, distorted text, watermark")
    sampler = w.add("KSampler", (1230, 0), size=[300, 262], model=tc, positive=pos, negative=neg,
                    latent_image=latent, seed=42, seed__control="fixed", steps=20, cfg=2.5, sampler_name="euler",
                    scheduler="simple", denoise=1.0)
    decode = w.add("VAEDecode", (1580, 0), size=[220, 46], samples=sampler, vae=vae)
    w.add("SaveImage", (1580, 96), size=[420, 460], images=decode, filename_prefix="taocache_qwen_image")
    return w


WORKFLOWS = [wan21_t2v, wan21_i2v, wan22_a14b, wan22_ti2v_5b, lambda: wan21_t2v(easycache=True), hunyuan_video,
             wan21_calibrate, wan21_compare, wan21_vace, qwen_image]


# ---- building through the frontend ------------------------------------------------------------------

BUILD_JS = """async (spec) => {
  const app = window.app;
  app.graph.clear();
  const nodes = {};
  for (const s of spec.nodes) {
    const node = LiteGraph.createNode(s.type);
    if (!node) throw new Error(`unknown node type ${s.type}`);
    node.id = s.id;
    app.graph.add(node);
    if (node.id !== s.id) throw new Error(`node ${s.type} got id ${node.id}, not ${s.id}`);
    node.pos = [s.pos[0], s.pos[1]];
    if (s.title) node.title = s.title;
    if (s.colours) { node.color = s.colours.color; node.bgcolor = s.colours.bgcolor; }
    if (s.text !== null) node.widgets[0].value = s.text;
    for (const [name, value] of Object.entries(s.values)) {
      const widget = node.widgets?.find((w) => w.name === name);
      if (!widget) throw new Error(`${s.type} has no widget ${name}`);
      widget.value = value;
    }
    for (const [name, value] of Object.entries(s.controls)) {
      const i = node.widgets.findIndex((w) => w.name === name);
      const control = node.widgets[i + 1];
      if (!control || control.name !== "control_after_generate") throw new Error(`${s.type}.${name}: no control widget`);
      control.value = value;
    }
    node.mode = s.mode;
    nodes[s.id] = node;
    if (s.size) node.setSize([Math.max(s.size[0], node.size[0]), Math.max(s.size[1], node.computeSize()[1])]);
  }
  for (const [from, slot, to, input] of spec.links) {
    const link = nodes[from].connect(slot, nodes[to], input);
    if (!link) throw new Error(`could not link ${from}:${slot} -> ${to}.${input}`);
  }
  app.graph.setDirtyCanvas(true, true);
  const p = await app.graphToPrompt();
  return JSON.parse(JSON.stringify({workflow: p.workflow, output: p.output}));
}"""


def _strip_nulls(workflow: dict) -> dict:
    for node in workflow.get("nodes", []):
        for key in ("inputs", "outputs"):
            node[key] = [{k: v for k, v in slot.items() if v is not None} for slot in node.get(key) or []]
    return workflow


def _view(workflow: dict, screen=(1500, 800)) -> dict:
    """extra.ds that shows the whole graph on a typical screen when the file is opened."""
    x0 = min(n["pos"][0] for n in workflow["nodes"]) - 20
    y0 = min(n["pos"][1] for n in workflow["nodes"]) - 50
    x1 = max(n["pos"][0] + n["size"][0] for n in workflow["nodes"]) + 20
    y1 = max(n["pos"][1] + n["size"][1] for n in workflow["nodes"]) + 20
    scale = round(min(screen[0] / (x1 - x0), screen[1] / (y1 - y0), 1.0), 3)
    return {"scale": scale, "offset": [round(-x0 + 60 / scale, 1), round(-y0 + 100 / scale, 1)]}


def make_workflow(frontend, wf: Workflow, object_info: dict) -> tuple[dict, list[str]]:
    """Create the workflow in the frontend; (the saved JSON, problems found by the checks)."""
    result = frontend.page.evaluate(BUILD_JS, wf.spec())
    workflow = _strip_nulls(result["workflow"])
    # the id seed keeps the folder's old name (example_workflows/): the ids stay those of earlier releases
    workflow["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"taocache/example_workflows/{wf.name}"))
    workflow.setdefault("extra", {})["ds"] = _view(workflow)
    problems = workflow_tools.check_workflow(workflow, object_info)
    ours = workflow_tools.to_api(workflow, object_info)
    theirs = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in result["output"].items()}
    mine = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in ours.items()}
    if mine != theirs:
        problems.append(f"converter and frontend disagree:\n{json.dumps(mine, sort_keys=True)}\n"
                        f"{json.dumps(theirs, sort_keys=True)}")
    return workflow, problems


def build(frontend, wf: Workflow, out_dir: Path, object_info: dict) -> list[str]:
    workflow, problems = make_workflow(frontend, wf, object_info)
    (out_dir / f"{wf.name}.json").write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
    thumbnail(frontend, out_dir / f"{wf.name}.jpg")
    return problems


def thumbnail(frontend, path: Path):
    from PIL import Image
    vw, vh = frontend.page.viewport_size["width"], frontend.page.viewport_size["height"]
    # the graph alone: clear of the top bar, the side bar and the canvas controls
    margin = 16
    area = (90 + margin, 160 + margin, vw - 180 - 2 * margin, vh - 280 - 2 * margin)
    rect = frontend.fit_graph(area)
    frontend.page.wait_for_timeout(400)
    clip = {"x": rect["x"] - margin, "y": rect["y"] - margin,
            "width": rect["width"] + 2 * margin, "height": rect["height"] + 2 * margin}
    graph = Image.open(io.BytesIO(frontend.page.screenshot(clip=clip))).convert("RGB")
    # letterbox on the canvas background to the thumbnail's aspect ratio
    scale = min(THUMB_SIZE[0] / graph.width, THUMB_SIZE[1] / graph.height)
    graph = graph.resize((round(graph.width * scale), round(graph.height * scale)), Image.LANCZOS)
    image = Image.new("RGB", THUMB_SIZE, graph.getpixel((2, 2)))
    image.paste(graph, ((THUMB_SIZE[0] - graph.width) // 2, (THUMB_SIZE[1] - graph.height) // 2))
    image.save(path, "JPEG", quality=88, optimize=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="build only the workflow of this name")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--url", help="use a running ComfyUI with the pack (else one is started on tiny models)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    workflows = [make() for make in WORKFLOWS]
    if args.only:
        workflows = [w for w in workflows if w.name == args.only]
    import harness
    server = None
    try:
        if args.url:
            url = args.url
        else:
            base = harness.make_base_dir(tempfile.mkdtemp(prefix="taocache_build_"), pack_folder="taocache")
            server = harness.ComfyServer(harness.locate_comfyui(), base).start()
            url = server.url
        object_info = json.loads(urllib.request.urlopen(url + "/object_info").read())
        failed = False
        with comfy_browser.open_frontend(url, viewport=(1800, 1200)) as frontend:
            for wf in workflows:
                problems = build(frontend, wf, args.out, object_info)
                print(f"{wf.name}: {'OK' if not problems else 'PROBLEMS'}")
                for p in problems:
                    print("   ", p)
                failed |= bool(problems)
            errors = frontend.errors()
            if errors:
                print("console errors:", *errors, sep="\n   ")
        return 1 if failed else 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
