"""Sample the tiny Wan2.1 model the way ComfyUI's KSampler does, in plain torch.

Loads the safetensors through ComfyUI's real loader (comfy.sd.load_diffusion_model, the UNETLoader
path; it must be detected as WAN21_T2V), patches it with ModelSamplingSD3(shift=8) as a Wan workflow
does, takes the sigmas from ComfyUI's own `simple` scheduler for that model sampling, and runs Euler
with CFG (positive = the prompt embedding of data.py, negative = zeros), calling the model through
BaseModel.apply_model, so the denoiser, the timestep it receives and the CFG combination are
ComfyUI's. This mirrors KSampler(sampler "euler", scheduler "simple", denoise 1) on an empty latent:
  noise     torch.randn(latent shape) from a generator seeded with the seed (comfy.sample.prepare_noise)
  start     model_sampling.noise_scaling(sigma_0, noise, process_latent_in(zeros))   (= noise: sigma_0 = 1)
  step      d = (x - denoised) / sigma;  x += d * (sigma_next - sigma)   (k_diffusion sample_euler)
  CFG       denoised = uncond + cfg * (cond - uncond)                     (samplers.cfg_function)
The result is returned in model space (decode it with latent.decode); KSampler would return
process_latent_out(result), see latent.comfy_latent_to_model.

    python tools/tiny_wan/sample.py "a red disc moving left" --seed 3 --steps 25 --gif /tmp/x.gif
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import data  # noqa: E402
import latent  # noqa: E402

DEFAULT_MODEL = os.path.join(REPO, "models", "tiny_wan21_t2v_shapes.safetensors")
SHIFT = 8.0
CFG = 5.0

# denoise(x [B, 16, T, h, w], sigma [B], context [B, L, 4096]) -> denoised x0 estimate
Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def import_comfy():
    path = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    if not os.path.isdir(os.path.join(path, "comfy")):
        raise RuntimeError(f"no ComfyUI tree at {path}: set COMFYUI_DIR or run tools/comfy_runtime.sh")
    if path not in sys.path:
        sys.path.insert(0, path)
    import comfy.cli_args
    comfy.cli_args.args.cpu = True
    import comfy.model_management  # noqa: F401
    import comfy.model_sampling  # noqa: F401
    import comfy.samplers  # noqa: F401
    import comfy.sd  # noqa: F401
    return comfy


# ----------------------------------------------------------------------------- ComfyUI objects
def shifted_model_sampling(shift: float = SHIFT, model_config=None):
    """The model_sampling object ComfyUI's ModelSamplingSD3 node installs (flow, CONST, shift)."""
    comfy = import_comfy()

    class ModelSamplingAdvanced(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    ms = ModelSamplingAdvanced(model_config)
    ms.set_parameters(shift=shift, multiplier=1000)
    return ms


def comfy_sigmas(steps: int, shift: float = SHIFT, scheduler: str = "simple", model_sampling=None) -> torch.Tensor:
    """ComfyUI's sigma schedule (steps + 1 values, last 0) for a flow model with this shift."""
    comfy = import_comfy()
    ms = model_sampling if model_sampling is not None else shifted_model_sampling(shift)
    return comfy.samplers.calculate_sigmas(ms, scheduler, steps).float()


def load_model(path: str = DEFAULT_MODEL, shift: float = SHIFT):
    """Load through ComfyUI's UNETLoader path and apply ModelSamplingSD3(shift); returns the patched
    ModelPatcher, loaded (object patches applied) and ready for apply_model."""
    comfy = import_comfy()
    import comfy.model_base
    import comfy.supported_models
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3
    patcher = comfy.sd.load_diffusion_model(path)
    if patcher is None:
        raise RuntimeError(f"ComfyUI could not detect a model in {path}")
    base = patcher.model
    if type(base) is not comfy.model_base.WAN21 or type(base.model_config) is not comfy.supported_models.WAN21_T2V:
        raise RuntimeError(f"{path} loaded as {type(base).__name__}/{type(base.model_config).__name__}, not WAN21_T2V")
    (patched,) = ModelSamplingSD3().patch(patcher, shift=shift)
    comfy.model_management.load_models_gpu([patched])
    return patched


def comfy_denoiser(patched) -> Denoiser:
    """denoise() through ComfyUI's BaseModel.apply_model (model_sampling input/output, timestep)."""
    base = patched.model

    def denoise(x, sigma, context):
        return base.apply_model(x, sigma, c_crossattn=context).float()

    return denoise


def raw_denoiser(wan_model) -> Denoiser:
    """denoise() for a bare WanModel (used during training): x0 = x - sigma * v(x, sigma * 1000)."""
    def denoise(x, sigma, context):
        v = wan_model(x, sigma * 1000.0, context).float()
        return x - sigma.view(-1, 1, 1, 1, 1) * v

    return denoise


# ----------------------------------------------------------------------------- sampling
def seeded_noise(seeds: list[int], shape: tuple[int, ...]) -> torch.Tensor:
    """One noise tensor per seed, as ComfyUI's prepare_noise makes it for a batch-1 latent."""
    return torch.cat([torch.randn((1, *shape[1:]), generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def start_latent(noise: torch.Tensor, sigma0: float, model_sampling=None) -> torch.Tensor:
    """KSampler's start on an empty latent: noise_scaling(sigma_0, noise, process_latent_in(zeros))."""
    import comfy.latent_formats
    ms = model_sampling if model_sampling is not None else shifted_model_sampling()
    empty = comfy.latent_formats.Wan21().process_in(torch.zeros_like(noise))
    return ms.noise_scaling(torch.full((noise.shape[0],), float(sigma0)), noise, empty)


@torch.no_grad()
def euler_cfg(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: torch.Tensor,
              uncond: torch.Tensor, cfg: float = CFG, callback=None) -> torch.Tensor:
    """Euler on the flow ODE with CFG; cond / uncond are [B, L, 4096]. callback(i, sigma, x,
    denoised_cfg, denoised_cond, denoised_uncond) is called at every step (for trajectory studies)."""
    b = x.shape[0]
    ctx = torch.cat([cond, uncond])
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        den = denoise(torch.cat([x, x]), torch.full((2 * b,), s), ctx)
        d_cond, d_uncond = den[:b], den[b:]
        den_cfg = d_uncond + (d_cond - d_uncond) * cfg
        if callback is not None:
            callback(i, s, x, den_cfg, d_cond, d_uncond)
        x = x + (x - den_cfg) / s * (s_next - s)
    return x


def sample(denoise: Denoiser, prompts: list[str], seeds: list[int], steps: int = 25, cfg: float = CFG,
           frames: int = data.FRAMES, size: int = data.SIZE, sigmas: torch.Tensor | None = None,
           model_sampling=None, callback=None, codec=latent, ordered: bool = False) -> torch.Tensor:
    """Sample one video latent per (prompt, seed); returns model-space latents [B, 16, T, h, w].
    codec: the model's latent module (latent.py for shapes, latent_dct.py for textures: kinds.py);
    ordered: data.embed_prompt's word positions (a model trained with train.py --ordered-prompt)."""
    if len(prompts) != len(seeds):
        raise ValueError("one seed per prompt")
    if sigmas is None:
        sigmas = comfy_sigmas(steps, model_sampling=model_sampling)
    shape = codec.latent_shape(len(prompts), frames, size, size)
    x = start_latent(seeded_noise(seeds, shape), float(sigmas[0]), model_sampling)
    cond = data.embed_prompts(prompts, ordered=ordered)
    uncond = data.null_embedding(len(prompts))
    return euler_cfg(denoise, x, sigmas, cond, uncond, cfg, callback)


def sample_videos(patched, prompts: list[str], seeds: list[int], steps: int = 25, cfg: float = CFG,
                  frames: int = data.FRAMES, size: int = data.SIZE, codec=latent, ordered: bool = False) -> torch.Tensor:
    """Loaded model -> decoded RGB videos [B, 3, T, H, W] in [-1, 1] (clamped)."""
    ms = patched.get_model_object("model_sampling")
    lat = sample(comfy_denoiser(patched), prompts, seeds, steps, cfg, frames, size, model_sampling=ms, codec=codec,
                 ordered=ordered)
    return codec.decode(lat).clamp(-1, 1)


def video_frames(videos: torch.Tensor, scale: int = 4, captions: list[str] | None = None) -> list:
    """Videos [B, 3, T, H, W] in [-1, 1] -> one Pillow image per frame: the B videos side by side, each
    in a 1 px white frame, upscaled by `scale` (nearest), with an optional caption above each."""
    from PIL import Image, ImageDraw, ImageFont
    v = ((videos.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    b, _, t, h, w = v.shape
    band = 0
    if captions:
        font = ImageFont.load_default(size=max(10, 2 * scale))
        band = int(font.getbbox("Ag")[3]) + 2 * scale
    frames = []
    for i in range(t):
        row = torch.cat([torch.nn.functional.pad(v[j, :, i], (1, 1, 1, 1), value=255) for j in range(b)], dim=-1)
        img = Image.fromarray(row.permute(1, 2, 0).numpy()).resize((row.shape[-1] * scale, row.shape[-2] * scale), Image.NEAREST)
        if captions:
            canvas = Image.new("RGB", (img.width, img.height + band), "white")
            canvas.paste(img, (0, band))
            draw = ImageDraw.Draw(canvas)
            for j, caption in enumerate(captions):
                draw.text(((j + 0.5) * (w + 2) * scale, band / 2), caption, fill="black", font=font, anchor="mm")
            img = canvas
        frames.append(img)
    return frames


def save_video(videos: torch.Tensor, path: str, scale: int = 4, captions: list[str] | None = None,
               frame_ms: int = 300) -> None:
    """Write videos [B, 3, T, H, W] side by side (video_frames) as an animated GIF or, for a .webp
    path, a lossless animated WEBP (needs Pillow)."""
    frames = video_frames(videos, scale, captions)
    extra = {"lossless": True} if str(path).lower().endswith(".webp") else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, **extra)


def save_gif(videos: torch.Tensor, path: str, scale: int = 4) -> None:
    """Write videos [B, 3, T, H, W] side by side as an animated GIF (needs Pillow)."""
    save_video(videos, path, scale)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Sample the tiny Wan2.1 model through ComfyUI's loader.")
    ap.add_argument("prompts", nargs="+")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first prompt; the others get seed+1, ...")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=CFG)
    ap.add_argument("--gif", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    patched = load_model(a.model)
    seeds = [a.seed + i for i in range(len(a.prompts))]
    videos = sample_videos(patched, a.prompts, seeds, a.steps, a.cfg)
    verdict = data.judge(videos, a.prompts)
    for i, p in enumerate(a.prompts):
        print(f"{p!r} seed {seeds[i]}: colour {bool(verdict['colour'][i])} direction {bool(verdict['direction'][i])} "
              f"shape {bool(verdict['shape'][i])} speed along {float(verdict['speed_along'][i]):.2f} px/frame")
    if a.gif:
        save_gif(videos, a.gif)
        print("wrote", a.gif)


if __name__ == "__main__":
    main()
