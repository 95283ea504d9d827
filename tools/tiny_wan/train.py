"""Train the tiny Wan2.1 text-to-video model on procedural moving shapes (flow matching, as Wan).

The network is ComfyUI's own comfy.ldm.wan.model.WanModel (unmodified, t2v, patch (1, 2, 2), in/out
16 channels, text_dim 4096, num_heads = dim // 128 as ComfyUI's detection sets it). Data, prompt
embeddings and the latent come from data.py and latent.py.

Training objective (what Wan and ComfyUI's flow models use, see comfy/model_sampling.py):
    x_s = (1 - s) * x0 + s * noise          CONST.noise_scaling
    target v = noise - x0                   CONST.calculate_denoised: x0 = x_s - s * v
    model(x_s, timestep = s * 1000, ctx)    ModelSamplingDiscreteFlow.timestep (multiplier 1000), which
                                            BaseModel._apply_model hands to the WanModel unchanged
The noise level s is drawn from a logit-normal (mean 0, std 1) pushed through the flow shift
s = shift * u / (1 + (shift - 1) * u) with shift SIGMA_SHIFT (3), mixed with a uniform u for
UNIFORM_FRAC of the batch so that no noise level is left untrained. The context is dropped to zeros
(the negative prompt used for CFG) with probability COND_DROP.

The saved weights are an EMA of the trained ones, as a safetensors file with the bare key names
ComfyUI's UNETLoader expects (patch_embedding.weight, blocks.0..., head.modulation), plus a JSON of
the training config, losses and timings beside it.

    python tools/tiny_wan/train.py                       # the committed model (defaults below)
    python tools/tiny_wan/train.py --steps 300 --out /tmp/pilot.safetensors   # a pilot

Reproducible: a fixed seed fixes the init, the data stream, the noise and the noise levels; the
number of steps (not the wall time) ends training. Bit-identical weights also need the same torch
build and thread count (reduction order).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import batches  # noqa: E402
import data  # noqa: E402
import latent  # noqa: E402

DEFAULT_OUT = os.path.join(REPO, "models", "tiny_wan21_t2v_shapes.safetensors")
TEXTURES_OUT = os.path.join(REPO, "models", "tiny_wan21_t2v_textures.safetensors")

DEFAULTS = dict(
    seed=0, steps=3600, batch=32, dim=128, ffn=512, layers=4, frames=data.FRAMES, size=data.SIZE,
    lr=1e-3, min_lr_frac=0.1, warmup=200, weight_decay=0.01, grad_clip=1.0, ema=0.999,
    sigma_shift=1.0, uniform_frac=0.2, infer_frac=0.4, frame_noise_frac=0.25, one_known_frac=0.5, cond_drop=0.1,
    known_prefix_frac=0.0, trail_px=data.TRAIL_PX, direction_tint=data.DIRECTION_TINT, threads=2,
)


# The second model ("textures", data in textures.py, 4x lossy latent in latent_dct.py): what differs
# from DEFAULTS. Sized for about an hour on two CPU cores (512 tokens a video; see latent_dct.py). The
# first textures model was wider (dim 256, ffn 1024, batch 12, 1800 steps: 5.9 M parameters, 21,600
# videos seen) and did not learn the objects or the pan; this one trades width for twice the videos
# seen in the same hour (dim 128, batch 24), as the shapes model was trained; shorter EMA than the
# shapes model's, since the run has fewer steps.
TEXTURES = dict(dataset="textures", frames=8, size=64, batch=24, dim=128, ffn=512, layers=4, steps=2000,
                lr=1e-3, ema=0.995, warmup=150, frame_noise_frac=0.0, one_known_frac=0.0, trail_px=0.0,
                direction_tint=0.1)  # the tint: from the third stage on (README); stages 1-2 ran with 0
DESCRIPTIONS = {"shapes": "tiny Wan2.1 T2V (ComfyUI WanModel) trained on procedural moving shapes",
                "textures": "tiny Wan2.1 T2V (ComfyUI WanModel) trained on procedural textured videos "
                            "(two objects, panning textures at two scales; 4x lossy latent)"}


def describe(cfg: dict) -> str:
    """The model file's one-line description; a textures diagnostic run names what it changed, since
    the default text (two objects, 4x lossy latent) would be wrong for it."""
    text = DESCRIPTIONS[cfg.get("dataset", "shapes")]
    changed = [f"{k}={cfg[k]}" for k in ("latent", "objects", "flat_background", "short_prompt", "ordered_prompt",
                                             "cross_jitter")
               if cfg.get("dataset") == "textures" and k in cfg]
    return text + (f"; diagnostic run: {', '.join(changed)}" if changed else "")


def dataset(cfg: dict):
    """(data module, latent module) of a training config."""
    if cfg.get("dataset", "shapes") == "textures":
        import latent_dct
        import textures
        return textures, (latent if cfg.get("latent") == "lossless" else latent_dct)
    return data, latent


def prompt_count(cfg: dict) -> int:
    """How many prompts the config draws from (textures --named-object-motion: the named-motion set)."""
    source = dataset(cfg)[0]
    return source.prompt_count(True) if cfg.get("named_object_motion") else source.N_PROMPTS


def prompt_table(cfg: dict) -> torch.Tensor:
    """The config's prompt embeddings [prompt_count(cfg), CONTEXT_LEN, 4096]."""
    source = dataset(cfg)[0]
    if source is data:
        return source.prompt_table()
    return source.prompt_table(bool(cfg.get("named_object_motion")), bool(cfg.get("ordered_prompt")),
                               source.short_prompt_form(cfg))


def comfy_dir() -> str:
    path = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    if not os.path.isdir(os.path.join(path, "comfy")):
        raise SystemExit(f"no ComfyUI tree at {path}: set COMFYUI_DIR or run tools/comfy_runtime.sh")
    return path


def import_comfy():
    path = comfy_dir()
    if path not in sys.path:
        sys.path.insert(0, path)
    import comfy.cli_args
    comfy.cli_args.args.cpu = True
    import comfy.ldm.wan.model
    import comfy.ops
    return comfy


# ----------------------------------------------------------------------------- model
def build_model(dim: int, ffn: int, layers: int, seed: int):
    """ComfyUI's WanModel with the config ComfyUI's detection derives from the saved keys,
    initialised here (ComfyUI's disable_weight_init ops leave weights uninitialised)."""
    comfy = import_comfy()
    if dim % 128:
        raise ValueError("ComfyUI sets num_heads = dim // 128: dim must be a multiple of 128")
    model = comfy.ldm.wan.model.WanModel(
        model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=latent.LATENT_CHANNELS, dim=dim,
        ffn_dim=ffn, freq_dim=256, text_dim=data.TEXT_DIM, out_dim=latent.LATENT_CHANNELS,
        num_heads=dim // 128, num_layers=layers, window_size=(-1, -1), qk_norm=True, cross_attn_norm=True,
        eps=1e-6, device="cpu", dtype=torch.float32, operations=comfy.ops.disable_weight_init)
    init_weights(model, seed)
    return model


def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Xavier-uniform linears (zero bias), N(0, 0.02) text/time embeddings, zero output head,
    modulation tables N(0, 1/dim), unit norm scales."""
    g = torch.Generator().manual_seed(seed)

    def xavier(w: torch.Tensor):
        fan_out, fan_in = w.shape[0], w[0].numel()
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * bound)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name:          # RMSNorm / LayerNorm scales
                p.fill_(1.0)
            elif name.endswith("modulation"):
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
            elif name == "head.head.weight":
                p.zero_()
            elif name.startswith(("text_embedding", "time_embedding")):
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif p.ndim >= 2:
                xavier(p)
            else:
                raise RuntimeError(f"no init rule for {name} {tuple(p.shape)}")


def state_dict_for_comfy(model_or_sd) -> dict[str, torch.Tensor]:
    sd = model_or_sd.state_dict() if isinstance(model_or_sd, torch.nn.Module) else model_or_sd
    return {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in sd.items()}


# ----------------------------------------------------------------------------- flow matching
def flow_shift(u: torch.Tensor, shift: float) -> torch.Tensor:
    """ComfyUI's time_snr_shift: the sigma of schedule position u under `shift`."""
    return shift * u / (1 + (shift - 1) * u)


def sample_sigmas(n: int, gen: torch.Generator, shift: float, uniform_frac: float, infer_frac: float = 0.0,
                  infer_shift: float = 8.0) -> torch.Tensor:
    """Noise levels for a batch, a mixture of three draws:
      infer_frac:    u ~ U(0, 1) shifted by infer_shift: the distribution of the sampler's own steps
                     (ModelSamplingSD3 shift 8 + simple scheduler), dense at high sigma where the
                     layout and the motion of a video are decided;
      uniform_frac:  sigma ~ U(0, 1): every level, the late low-sigma steps included;
      the rest:      u ~ logit-normal(0, 1) shifted by `shift`: the mid range."""
    u_ln = flow_shift(torch.sigmoid(torch.randn(n, generator=gen)), shift)
    u_un = torch.rand(n, generator=gen)
    u_inf = flow_shift(torch.rand(n, generator=gen), infer_shift)
    pick = torch.rand(n, generator=gen)
    sigma = torch.where(pick < infer_frac, u_inf, torch.where(pick < infer_frac + uniform_frac, u_un, u_ln))
    return sigma.clamp(1e-3, 1.0)


def mix_frame_levels(sigma: torch.Tensor, gen: torch.Generator, frac: float, one_known_frac: float = 0.0,
                     known_prefix_frac: float = 0.0) -> torch.Tensor:
    """For a fraction `frac` of the videos, give each frame its own noise level (the WanModel takes
    a timestep per latent frame, as Wan2.2's image-to-video conditioning uses it): every frame is
    independently "known" (sigma ~ U(0, 0.8)) or "unknown" (sigma in [0.85, 1], dense near 1), with
    at least one of each. Predicting the unknown frames from a known one needs the motion named by
    the prompt, a far stronger training signal for direction than equal levels give, where the
    frames' positions are decided at sigma ~ 0.97-1 and pooling evidence across frames gains little.
    With probability one_known_frac a mixed video has exactly one known frame: then the others can
    only be extrapolated, which needs the direction (with several known frames the model can
    interpolate between them without it).
    With probability known_prefix_frac (taking precedence) the known frames are the first k, k from 2
    to T-1: the rest is a continuation, which for motion the prompt does not name (the textures
    objects' directions) needs the velocity the known frames show, not a guess from one frame.
    The sampler never uses this: it always feeds one level per video."""
    b, t = sigma.shape
    pick = torch.rand(b, generator=gen) < frac
    known = torch.rand(b, t, generator=gen) < 0.5
    if one_known_frac > 0:                                # (no extra draws otherwise: same data stream)
        one = torch.rand(b, generator=gen) < one_known_frac
        only = torch.nn.functional.one_hot(torch.randint(0, t, (b,), generator=gen), t).bool()
        known = torch.where(one[:, None], only, known)
    if known_prefix_frac > 0 and t >= 3:                 # (likewise)
        prefix = torch.rand(b, generator=gen) < known_prefix_frac
        k = torch.randint(2, t, (b,), generator=gen)
        known = torch.where(prefix[:, None], torch.arange(t)[None, :] < k[:, None], known)
    known[:, 0] |= ~known.any(dim=1)                     # at least one known frame
    all_known = known.all(dim=1)
    last = torch.randint(0, t, (b,), generator=gen)
    known[all_known, last[all_known]] = False             # and at least one unknown frame
    lo = torch.rand(b, t, generator=gen) * 0.8
    hi = 1.0 - 0.15 * torch.rand(b, t, generator=gen) ** 2
    per_frame = torch.where(known, lo, hi).clamp(1e-3, 1.0)
    return torch.where(pick[:, None], per_frame, sigma)


def render_latents(ids: torch.Tensor, gen: torch.Generator, cfg: dict, with_alpha: bool = False):
    """Videos for prompt numbers `ids`, drawn with the config's data options, as model latents
    (with_alpha, textures only: also the objects' coverage [B, 2, T, H, W] in frame pixels)."""
    source, codec = dataset(cfg)
    if source is data:
        video, _ = data.render_batch(ids, gen, cfg["frames"], cfg["size"], cfg["trail_px"], cfg["direction_tint"])
        return codec.encode(video)
    video, layout = source.render_config(ids, gen, cfg)
    return (codec.encode(video), layout["alpha"]) if with_alpha else codec.encode(video)


def object_loss_weight(alpha: torch.Tensor, weight: float, spatial: int) -> torch.Tensor:
    """Per-latent-pixel loss weight [B, 1, T, h, w]: 1 + weight where either object covers any of the
    latent pixel's `spatial` x `spatial` block, or a neighbouring block (so the pixels it moves into
    and out of count too). The committed textures model trained with weight 4 from its 32 px stage
    on (docs/textures_model.md); on the DCT-latent models before it, which drew colour blotches,
    not moving objects, this region (about a quarter of the latent) already held 40-48% of the plain
    loss, and a fine-tune with weight 4 alone did not move them."""
    b, k, t, h, w = alpha.shape
    cover = alpha.amax(dim=1).reshape(b * t, 1, h, w)
    cover = torch.nn.functional.max_pool2d(cover, spatial)
    cover = torch.nn.functional.max_pool2d(cover, 3, stride=1, padding=1)
    cover = (cover > 0.05).float().reshape(b, t, 1, h // spatial, w // spatial).transpose(1, 2)
    return 1.0 + weight * cover


def make_batch(cfg: dict, gen: torch.Generator, table: torch.Tensor):
    b = cfg["batch"]
    ids = torch.randint(0, prompt_count(cfg), (b,), generator=gen)
    if cfg.get("only_direction"):             # diagnostic: every video moves this way, whatever the prompt says
        ids = ids - ids % len(data.DIRECTION_NAMES) + data.DIRECTION_NAMES.index(cfg["only_direction"])
    if cfg.get("only_object_direction"):      # diagnostic: the objects of every video move this way (named so)
        moving = dataset(cfg)[0].OBJECT_MOTION_NAMES
        ids = ids - ids % len(moving) + moving.index(cfg["only_object_direction"])
    weight = None
    if cfg.get("object_weight"):
        x0, alpha = render_latents(ids, gen, cfg, with_alpha=True)
        weight = object_loss_weight(alpha, cfg["object_weight"], dataset(cfg)[1].SPATIAL)
    else:
        x0 = render_latents(ids, gen, cfg)
    ctx = table[ids].clone()
    drop = torch.rand(b, generator=gen) < cfg["cond_drop"]
    ctx[drop] = 0.0
    t = cfg["frames"]
    sigma = sample_sigmas(b, gen, cfg["sigma_shift"], cfg["uniform_frac"], cfg["infer_frac"])
    sigma = sigma[:, None].expand(b, t).clone()                         # [B, T]: one level per video
    if cfg["frame_noise_frac"] > 0:
        sigma = mix_frame_levels(sigma, gen, cfg["frame_noise_frac"], cfg["one_known_frac"],
                                 cfg.get("known_prefix_frac", 0.0))
    noise = torch.randn(x0.shape, generator=gen)
    s = sigma.view(b, 1, t, 1, 1)
    xs = (1 - s) * x0 + s * noise
    if weight is not None:           # (a fifth item only then, so the committed runs' batches are unchanged)
        return xs, sigma, ctx, noise - x0, weight
    return xs, sigma, ctx, noise - x0


def batch_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-video mean squared error [B], weighted per latent pixel when the batch has a weight."""
    err = (pred.float() - target) ** 2
    return (err if weight is None else err * weight).mean(dim=(1, 2, 3, 4))


def lr_at(step: int, cfg: dict) -> float:
    warm = min(1.0, (step + 1) / max(cfg["warmup"], 1))
    frac = step / max(cfg["steps"] - 1, 1)
    floor = cfg["min_lr_frac"]
    return cfg["lr"] * warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


SIGMA_BINS = (0.0, 0.2, 0.5, 0.8, 0.95, 1.01)


def checkpoint_path(out_path: str) -> str:
    return out_path.replace(".safetensors", "_resume.pt")


def train(cfg: dict, out_path: str, log_every: int = 50, ckpt_every: int = 0, eval_fn=None, eval_every: int = 0,
          init: str | None = None, resume: bool = False, max_minutes: float = 0.0, device: str = "cpu",
          data_workers: int = 0, stop_at_step: int = 0):
    """Train to cfg["steps"]. ckpt_every: also write a resumable checkpoint (weights, EMA, optimiser,
    data generator, history) every N steps to checkpoint_path(out_path); resume: continue from it (the
    same config, so the run reaches the same step count; the weights match an uninterrupted run up to
    the thread-order rounding of torch). max_minutes > 0: stop after that long, write the checkpoint
    and the EMA weights so far, and say how to continue. device: where the model trains ("cuda" on a
    GPU machine; the data is drawn on the CPU either way, from the same seeded stream). data_workers:
    processes drawing batches ahead (needs cfg["per_step_data"]; batches.py). stop_at_step > 0: stop
    after that step of cfg["steps"]'s learning-rate schedule (resumable, as max_minutes), so a shorter
    stage can keep a longer stage's schedule and weights (the curriculum's STOP32)."""
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    model = build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
    if init:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(init))
    model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(params, lr=cfg["lr"], betas=(0.9, 0.99), weight_decay=cfg["weight_decay"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    table = prompt_table(cfg)
    print(f"params {n_params / 1e6:.2f} M, config {json.dumps(cfg)}", flush=True)

    history = []
    first_step, done_seconds = 0, 0.0
    if resume:
        state = torch.load(checkpoint_path(out_path), weights_only=False, map_location=device)
        if state["cfg"] != cfg:
            raise SystemExit(f"checkpoint {checkpoint_path(out_path)} was written with another config:\n"
                             f"  checkpoint {json.dumps(state['cfg'])}\n  this run   {json.dumps(cfg)}")
        model.load_state_dict(state["model"])
        ema = state["ema"]
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        history, first_step, done_seconds = state["history"], state["step"], state["seconds"]
        print(f"resumed from {checkpoint_path(out_path)} at step {first_step}", flush=True)

    def write_checkpoint(step_done: int):
        torch.save({"cfg": cfg, "model": model.state_dict(), "ema": ema, "opt": opt.state_dict(),
                    "gen": gen.get_state(), "history": history, "step": step_done,
                    "seconds": done_seconds + time.time() - t0}, checkpoint_path(out_path))

    bins = [[0.0, 0] for _ in range(len(SIGMA_BINS) - 1)]
    run_loss, run_n = 0.0, 0
    t0 = time.time()
    step_done = first_step
    stream = batches.BatchStream(cfg, gen, table, data_workers, first_step)
    for step in range(first_step, cfg["steps"]):
        lr = lr_at(step, cfg)
        for grp in opt.param_groups:
            grp["lr"] = lr
        xs, sigma, ctx, target, *weight = (t.to(device) for t in stream.get(step))
        pred = model(xs, sigma * 1000.0, ctx)
        per = batch_loss(pred, target, *weight)
        loss = per.mean()
        uniform = (sigma == sigma[:, :1]).all(dim=1)              # per-video losses by level: uniform-level videos only
        sigma, per_log = sigma[uniform, 0], per.detach()[uniform]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
        opt.step()
        decay = min(cfg["ema"], (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in model.state_dict().items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        run_loss += loss.item()
        run_n += 1
        for s_, l_ in zip(sigma.tolist(), per_log.tolist()):
            for i in range(len(bins)):
                if SIGMA_BINS[i] <= s_ < SIGMA_BINS[i + 1]:
                    bins[i][0] += l_
                    bins[i][1] += 1
        if (step + 1) % log_every == 0 or step + 1 == cfg["steps"]:
            el = done_seconds + time.time() - t0
            rec = {"step": step + 1, "loss": run_loss / run_n, "elapsed_s": round(el, 1), "lr": lr,
                   "loss_by_sigma": {f"{SIGMA_BINS[i]:.2f}-{min(SIGMA_BINS[i + 1], 1.0):.2f}":
                                     (round(a / n, 4) if n else None) for i, (a, n) in enumerate(bins)}}
            history.append(rec)
            print(f"step {step + 1} {el:.0f}s ({(time.time() - t0) / (step + 1 - first_step):.3f} s/it) loss {rec['loss']:.4f} lr {lr:.2e} "
                  f"by sigma {rec['loss_by_sigma']}", flush=True)
            run_loss, run_n = 0.0, 0
            bins = [[0.0, 0] for _ in range(len(SIGMA_BINS) - 1)]
        if ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 < cfg["steps"]:
            save(ema, cfg, history, out_path.replace(".safetensors", f"_step{step + 1}.safetensors"), t0 - done_seconds, n_params, step + 1)
        if eval_fn is not None and eval_every and (step + 1) % eval_every == 0:
            print("eval", step + 1, eval_fn(ema), flush=True)
        step_done = step + 1
        if ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 < cfg["steps"]:
            write_checkpoint(step + 1)
        if stop_at_step and step + 1 >= stop_at_step and step + 1 < cfg["steps"]:
            write_checkpoint(step + 1)
            print(f"stopped at step {step + 1} of {cfg['steps']} (--stop-at-step): continue with --resume "
                  f"and no --stop-at-step (checkpoint {checkpoint_path(out_path)})", flush=True)
            break
        if max_minutes and time.time() - t0 > max_minutes * 60 and step + 1 < cfg["steps"]:
            write_checkpoint(step + 1)
            print(f"stopped at step {step + 1} of {cfg['steps']} after {max_minutes} min: continue with the same "
                  f"command plus --resume (checkpoint {checkpoint_path(out_path)})", flush=True)
            break
    stream.close()
    return save(ema, cfg, history, out_path, t0 - done_seconds, n_params, step_done)


def save(ema: dict, cfg: dict, history: list, out_path: str, t0: float, n_params: int,
         steps_done: int | None = None) -> dict:
    from safetensors.torch import save_file
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    sd = state_dict_for_comfy(ema)
    meta = {
        "model": describe(cfg),
        "trained_by": "tools/tiny_wan/train.py",
        "config": cfg,
        "params": n_params,
        "steps_done": steps_done if steps_done is not None else (history[-1]["step"] if history else 0),
        "train_seconds": round(time.time() - t0, 1),
        "final_loss": history[-1]["loss"] if history else None,
        "final_loss_by_sigma": history[-1]["loss_by_sigma"] if history else None,
        "torch": torch.__version__,
        "video": {"frames": cfg["frames"], "size": cfg["size"], "latent": list(dataset(cfg)[1].latent_shape(1, cfg["frames"], cfg["size"], cfg["size"]))[1:]},
        "sampling": {"model_sampling": "ModelSamplingSD3 shift 8 (Wan's default)", "scheduler": "simple",
                     "cfg": 5.0, "negative": "zeros [1, 8, 4096]"},
    }
    save_file(sd, out_path, metadata={"taocache_tiny_wan": json.dumps(meta)})
    meta["history"] = history
    with open(out_path.replace(".safetensors", ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def make_eval_fn(cfg: dict, n_pairs: int, steps: int):
    import check_learned
    import sample as sampler
    model = build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
    model.eval()
    pairs = check_learned.default_pairs(n_pairs, seed_base=5000)

    probe = make_probe(cfg)

    def eval_fn(ema_sd):
        model.load_state_dict(ema_sd)
        t = time.time()
        gaps = prompt_sensitivity(model, probe)
        text = text_path_sensitivity(model)
        res = check_learned.evaluate(sampler.raw_denoiser(model), pairs, steps, frames=cfg["frames"], size=cfg["size"])
        keep = ("colour", "direction", "shape", "all", "mean_speed_along_px_per_frame", "shape_by_shape")
        return {k: res[k] for k in keep} | {"loss_gap": gaps, "text_change": text, "eval_s": round(time.time() - t, 1)}

    return eval_fn


def make_probe(cfg: dict, n: int = 72, sigmas=(0.5, 0.8, 0.95, 0.99)):
    """A fixed validation batch for prompt_sensitivity (one video per prompt)."""
    gen = torch.Generator().manual_seed(99)
    ids = torch.arange(n) % data.N_PROMPTS
    x0 = render_latents(ids, gen, cfg)
    noise = torch.randn(x0.shape, generator=gen)
    return {"ids": ids, "x0": x0, "noise": noise, "sigmas": sigmas}


@torch.no_grad()
def prompt_sensitivity(model, probe) -> dict:
    """How much the v-loss rises when one prompt word is swapped for another of its kind (colour,
    shape, direction), per noise level: > 0 means the model uses that word."""
    parts = [data.prompt_parts(int(i)) for i in probe["ids"]]
    table = data.prompt_table()

    def ctx_for(change):
        ids = []
        for p in parts:
            c, s, d = p.colour, p.shape, p.direction
            if change == "colour":
                c = (c + 1) % len(data.COLOUR_NAMES)
            elif change == "shape":
                s = (s + 1) % len(data.SHAPE_NAMES)
            elif change == "direction":
                d = d ^ 1                                   # the opposite direction
            ids.append((c * len(data.SHAPE_NAMES) + s) * len(data.DIRECTION_NAMES) + d)
        return table[torch.tensor(ids)]

    out = {}
    x0, noise = probe["x0"], probe["noise"]
    b, t_len = x0.shape[0], x0.shape[2]
    levels = [(str(sig), torch.full((b, t_len), float(sig))) for sig in probe["sigmas"]]
    # frame 0 nearly clean, the others noisy: the later frames follow from frame 0 and the direction
    levels.append(("first_frame_0.2_rest_1", torch.tensor([0.2] + [1.0] * (t_len - 1)).expand(b, t_len)))
    for name, sig in levels:
        s = sig.reshape(b, 1, t_len, 1, 1)
        xs = (1 - s) * x0 + s * noise
        t = sig * 1000.0
        base = ((model(xs, t, ctx_for(None)) - (noise - x0)) ** 2).mean().item()
        out[name] = {k: round(((model(xs, t, ctx_for(k)) - (noise - x0)) ** 2).mean().item() - base, 4)
                     for k in ("colour", "shape", "direction")}
    return out


@torch.no_grad()
def object_loss_share(model, cfg: dict, n: int = 48, sigmas=(0.3, 0.7, 0.9, 0.97)) -> dict:
    """Textures: per noise level, the fraction of latent pixels at or next to an object (the region
    object_loss_weight weighs) and that region's share of the model's plain v-loss. A share near the
    area means the objects get no more of the training signal than their size."""
    gen = torch.Generator().manual_seed(98)
    ids = torch.randint(0, prompt_count(cfg), (n,), generator=gen)
    x0, alpha = render_latents(ids, gen, cfg, with_alpha=True)
    region = object_loss_weight(alpha, 1.0, dataset(cfg)[1].SPATIAL) > 1
    noise = torch.randn(x0.shape, generator=gen)
    ctx = prompt_table(cfg)[ids]
    out = {}
    for sig in sigmas:
        xs = (1 - sig) * x0 + sig * noise
        err = ((model(xs, torch.full((n, x0.shape[2]), sig * 1000.0), ctx) - (noise - x0)) ** 2).sum(dim=1, keepdim=True)
        out[str(sig)] = {"area": round(region.float().mean().item(), 3),
                         "loss_share": round((err * region).sum().item() / err.sum().item(), 3)}
    return out


TEXT_SWAPS = {
    "shapes": ("a red disc moving right", {"colour": ("red", "blue"), "shape": ("disc", "bar"),
                                           "direction": ("right", "left")}),
    "textures": ("red and blue over fine stripes panning left",
                 {"colour": ("red", "green"), "texture": ("stripes", "dots"), "scale": ("fine", "coarse"),
                  "direction": ("left", "right")}),
    "textures_named": ("red and blue upward, fine stripes panning left",          # --named-object-motion
                       {"colour": ("red", "green"), "texture": ("stripes", "dots"), "scale": ("fine", "coarse"),
                        "direction": ("left", "right"), "object_direction": ("upward", "downward")}),
}


@torch.no_grad()
def text_path_sensitivity(model, dataset_name: str = "shapes") -> dict:
    """Relative change of the model's text embedding (its own MLP on the context) when one word of
    the dataset's example prompt is swapped for another of its kind. Near 0 means the network has
    learned to map those words to the same vector: it cannot follow them, whatever the blocks after
    it learn."""
    base, swaps = TEXT_SWAPS[dataset_name]
    ref = model.text_embedding(data.embed_prompt(base)[None])
    out = {}
    for kind, (a, b) in swaps.items():
        other = model.text_embedding(data.embed_prompt(base.replace(a, b))[None])
        out[kind] = round(float((other - ref).norm() / ref.norm()), 4)
    return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    ap.add_argument("--dataset", choices=("shapes", "textures"), default="shapes",
                    help="textures: the second model (its defaults are TEXTURES; flags given explicitly still win)")
    ap.add_argument("--out", default=None, help=f"default {DEFAULT_OUT} (shapes) or {TEXTURES_OUT} (textures)")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop (resumable) after this many minutes")
    ap.add_argument("--stop-at-step", type=int, default=0,
                    help="stop (resumable) after this step, keeping --steps' learning-rate schedule")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine (not yet run on one)")
    ap.add_argument("--per-step-data", action="store_true",
                    help="seed each step's batch by its step (recorded in the config; needed by --data-workers)")
    ap.add_argument("--data-workers", type=int, default=0,
                    help="processes drawing batches ahead (with --per-step-data; the batches do not depend on it)")
    ap.add_argument("--init", default=None, help="start from these weights (a fine-tune; the JSON records their file name and sha256)")
    ap.add_argument("--object-speed", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="textures: each object's speed, px per frame, uniform in [LO, HI] (default textures.OBJECT_SPEED)")
    ap.add_argument("--flat-background", action="store_true",
                    help="textures, diagnostic: no texture and no light field behind the objects (the prompt still names them)")
    ap.add_argument("--object-weight", type=float, default=0.0,
                    help="textures: weigh the loss on latent pixels at or next to an object by 1 + this (0: off)")
    ap.add_argument("--named-object-motion", action="store_true",
                    help="textures: the prompt also names where both objects move (textures.OBJECT_MOTION_NAMES), "
                         "and they move that way")
    ap.add_argument("--motion-tint", type=float, default=0.0,
                    help="textures, with --named-object-motion: a faint background tint per objects' direction "
                         "(textures.render motion_tint; 0: off)")
    ap.add_argument("--only-object-direction", default=None, choices=("rightward", "leftward", "downward", "upward"),
                    help="textures, diagnostic, with --named-object-motion: every video's objects move this way")
    ap.add_argument("--latent", choices=("dct", "lossless"), default=None,
                    help="textures, diagnostic: the latent codec (default dct: latent_dct.py, 4x lossy; lossless: "
                         "the shapes model's 2x latent.py, four times the tokens)")
    ap.add_argument("--object-scale", type=float, default=None,
                    help="textures, diagnostic: scale the disc and the square (radius 7 and half side 6 px at 1)")
    ap.add_argument("--objects", type=int, default=None,
                    help="textures, diagnostic: 1 draws the disc only (in the first named colour; the prompt is "
                         "unchanged, so its second colour word names nothing); default 2")
    ap.add_argument("--ordered-prompt", action="store_true",
                    help="textures, diagnostic: give each prompt word a position vector (data.embed_prompt "
                         "ordered), so the model can tell 'red and blue' from 'blue and red'")
    ap.add_argument("--cross-jitter", type=float, default=None, metavar="PX",
                    help="textures, diagnostic, with --named-object-motion: across the named motion each path "
                         "stays within PX of the frame's middle line, as the shapes data's (2 px)")
    ap.add_argument("--short-prompt", action="store_true",
                    help="textures, diagnostic: condition on only the words that name what the video shows "
                         "(textures.short_text; with --objects 1 --flat-background --direction-tint 0 and named "
                         "motion, the shapes model's form 'a red disc moving upward'); the judge reads the full prompt")
    ap.add_argument("--pan-px", type=float, default=None,
                    help="textures: the background pan in px a frame (default textures.PAN_SPEED)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=0, help="also save EMA checkpoints every N steps")
    ap.add_argument("--bench", type=int, default=0, help="only time N training steps and exit")
    ap.add_argument("--only-direction", choices=data.DIRECTION_NAMES, default=None,
                    help="diagnostic: render every video moving this way (the prompt's direction word is ignored)")
    ap.add_argument("--diagnose", metavar="MODEL", default=None,
                    help="print how much MODEL's text embedding (and, shapes: its v-loss) reacts to each kind of prompt word; textures: also pan_probe.py's score for carrying the named pan from one known frame; then exit")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="every N steps sample --eval-pairs prompt/seed pairs with the EMA weights and report "
                         "the learned fractions (check_learned.py's judge; in-process, no ComfyUI loader)")
    ap.add_argument("--eval-pairs", type=int, default=36)
    ap.add_argument("--eval-steps", type=int, default=20)
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    cfg = {k: getattr(a, k) for k in DEFAULTS}
    if a.dataset == "textures":
        given = {arg.split("=")[0].lstrip("-").replace("-", "_") for arg in (argv if argv is not None else sys.argv[1:])
                 if arg.startswith("--")}
        cfg |= {k: v for k, v in TEXTURES.items() if k not in given - {"dataset"}}
    a.out = a.out or (TEXTURES_OUT if a.dataset == "textures" else DEFAULT_OUT)
    if a.only_direction:
        cfg["only_direction"] = a.only_direction
    if a.object_scale is not None and not 0.1 <= a.object_scale <= 2.0:
        raise SystemExit(f"--object-scale {a.object_scale}: must be in [0.1, 2.0]")
    if a.objects is not None and a.objects not in (1, 2):
        raise SystemExit(f"--objects {a.objects}: must be 1 (the disc only) or 2 (the disc and the square)")
    textures_only = (("pan_px", a.pan_px, "has a pan"),
                     ("object_speed", None if a.object_speed is None else list(a.object_speed), "has two objects"),
                     ("latent", a.latent, "has a choice of latent (shapes: lossless)"),
                     ("object_scale", a.object_scale, "has a disc and a square"),
                     ("flat_background", True if a.flat_background else None, "has a textured background"),
                     ("objects", a.objects, "has a choice of objects (shapes: one)"),
                     ("ordered_prompt", True if a.ordered_prompt else None, "has two words of one kind to order"),
                     ("short_prompt", True if a.short_prompt else None, "has prompt words that name nothing"),
                     ("cross_jitter", a.cross_jitter, "has objects placed at random across their motion"))
    for key, value, why in textures_only:   # (each recorded only when given, so earlier configs still resume)
        if value is None:
            continue
        if a.dataset != "textures":
            raise SystemExit(f"--{key.replace('_', '-')}: only the textures dataset {why}")
        cfg[key] = value
    if a.object_weight:  # (recorded only when given, so earlier configs still resume)
        if a.dataset != "textures":
            raise SystemExit("--object-weight: only the textures dataset has objects to weight")
        if not 0 < a.object_weight <= 100:
            raise SystemExit(f"--object-weight {a.object_weight}: must be in (0, 100] (0, the default, is off)")
        cfg["object_weight"] = a.object_weight
    if a.short_prompt and a.dataset == "textures":
        import textures
        try:   # (a form that cuts nothing does not fit the context: refused here, not at the first batch)
            textures.short_text(textures.prompt_parts(0, a.named_object_motion), *textures.short_prompt_form(cfg))
        except ValueError as e:
            raise SystemExit(f"--short-prompt: {e}")
    if a.cross_jitter is not None and (not a.named_object_motion or not 0 <= a.cross_jitter <= 16):
        raise SystemExit(f"--cross-jitter {a.cross_jitter}: needs --named-object-motion (the axis across the "
                         "motion) and a value in [0, 16] px")
    if a.named_object_motion:  # (recorded only when given, so earlier configs still resume)
        if a.dataset != "textures":
            raise SystemExit("--named-object-motion: only the textures dataset has two objects")
        if a.only_direction:
            raise SystemExit("--named-object-motion and --only-direction: pick one (their prompt numbers differ)")
        cfg["named_object_motion"] = True
    if a.only_object_direction:
        if not a.named_object_motion:
            raise SystemExit("--only-object-direction needs --named-object-motion")
        cfg["only_object_direction"] = a.only_object_direction
    if a.motion_tint:  # (recorded only when given, so earlier configs still resume)
        if not a.named_object_motion:
            raise SystemExit("--motion-tint needs --named-object-motion (it tints by the objects' named direction)")
        if not 0 < a.motion_tint <= 0.3 or a.motion_tint == cfg["direction_tint"]:
            raise SystemExit(f"--motion-tint {a.motion_tint}: must be in (0, 0.3] and differ from --direction-tint "
                             f"{cfg['direction_tint']}, so each pair of directions tints differently")
        cfg["motion_tint"] = a.motion_tint
    if a.per_step_data:  # (recorded only when given, so earlier configs still resume)
        cfg["per_step_data"] = True
    if a.data_workers and not a.per_step_data:
        raise SystemExit("--data-workers needs --per-step-data (a batch seeded by its step)")
    if a.init:  # recorded, so a fine-tuned model names the weights it started from
        import hashlib
        with open(a.init, "rb") as f:
            cfg["init"] = {"file": os.path.basename(a.init), "sha256": hashlib.sha256(f.read()).hexdigest()}
    if a.diagnose:
        from safetensors.torch import load_file
        torch.set_num_threads(cfg["threads"])
        model = build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
        swaps = a.dataset + ("_named" if cfg.get("named_object_motion") else "")
        print(json.dumps({"text_change_at_init": text_path_sensitivity(model, swaps)}))
        model.load_state_dict(load_file(a.diagnose))
        model.eval()
        out = {"model": a.diagnose, "text_change": text_path_sensitivity(model, swaps)}
        if a.dataset == "shapes":  # (the loss-gap probe swaps the shapes model's words)
            out["loss_gap"] = prompt_sensitivity(model, make_probe(cfg))
        else:                      # does it carry the named pan from one known frame (pan_probe.py)
            import pan_probe
            out["pan_extrapolation"] = pan_probe.pan_extrapolation(model, dict(cfg, direction_tint=0.0))
            out["object_loss_share"] = object_loss_share(model, cfg)
        print(json.dumps(out))
        return
    if a.bench:
        torch.set_num_threads(cfg["threads"])
        model = build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        gen = torch.Generator().manual_seed(0)
        table = prompt_table(cfg)
        times = []
        for i in range(a.bench + 2):
            t = time.time()
            xs, sigma, ctx, target, *weight = make_batch(cfg, gen, table)
            loss = batch_loss(model(xs, sigma * 1000.0, ctx), target, *weight).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.time() - t)
        ts = sorted(times[2:])
        n_params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"bench_s_per_it": round(ts[len(ts) // 2], 4), "min": round(ts[0], 4),
                          "params_M": round(n_params / 1e6, 3), "MB": round(n_params * 4 / 2 ** 20, 2),
                          "tokens": cfg["frames"] * (cfg["size"] // (2 * dataset(cfg)[1].SPATIAL)) ** 2, **cfg}))
        return
    eval_fn = None
    if a.eval_every:
        eval_fn = make_eval_fn(cfg, a.eval_pairs, a.eval_steps)
    meta = train(cfg, a.out, a.log_every, a.ckpt_every, eval_fn, a.eval_every, a.init, a.resume, a.max_minutes,
                 a.device, a.data_workers, a.stop_at_step)
    print(f"saved {a.out}: {meta['steps_done']} steps in {meta['train_seconds']} s, final loss {meta['final_loss']:.4f}")


if __name__ == "__main__":
    main()
