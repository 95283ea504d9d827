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

import data  # noqa: E402
import latent  # noqa: E402

DEFAULT_OUT = os.path.join(REPO, "models", "tiny_wan21_t2v_shapes.safetensors")

DEFAULTS = dict(
    seed=0, steps=4000, batch=32, dim=128, ffn=512, layers=4, frames=data.FRAMES, size=data.SIZE,
    lr=1e-3, min_lr_frac=0.1, warmup=200, weight_decay=0.01, grad_clip=1.0, ema=0.999,
    sigma_shift=3.0, uniform_frac=0.2, cond_drop=0.1, threads=2,
)


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
    return {k: v.detach().to(torch.float32).contiguous().clone() for k, v in sd.items()}


# ----------------------------------------------------------------------------- flow matching
def flow_shift(u: torch.Tensor, shift: float) -> torch.Tensor:
    """ComfyUI's time_snr_shift: the sigma of schedule position u under `shift`."""
    return shift * u / (1 + (shift - 1) * u)


def sample_sigmas(n: int, gen: torch.Generator, shift: float, uniform_frac: float) -> torch.Tensor:
    u_ln = torch.sigmoid(torch.randn(n, generator=gen))
    u_un = torch.rand(n, generator=gen)
    pick_uniform = torch.rand(n, generator=gen) < uniform_frac
    u = torch.where(pick_uniform, u_un, u_ln)
    return flow_shift(u, shift).clamp(1e-3, 1.0)


def make_batch(cfg: dict, gen: torch.Generator, table: torch.Tensor):
    b = cfg["batch"]
    ids = torch.randint(0, data.N_PROMPTS, (b,), generator=gen)
    video, _ = data.render_batch(ids, gen, cfg["frames"], cfg["size"])
    x0 = latent.encode(video)
    ctx = table[ids].clone()
    drop = torch.rand(b, generator=gen) < cfg["cond_drop"]
    ctx[drop] = 0.0
    sigma = sample_sigmas(b, gen, cfg["sigma_shift"], cfg["uniform_frac"])
    noise = torch.randn(x0.shape, generator=gen)
    s = sigma.view(-1, 1, 1, 1, 1)
    xs = (1 - s) * x0 + s * noise
    return xs, sigma, ctx, noise - x0


def lr_at(step: int, cfg: dict) -> float:
    warm = min(1.0, (step + 1) / max(cfg["warmup"], 1))
    frac = step / max(cfg["steps"] - 1, 1)
    floor = cfg["min_lr_frac"]
    return cfg["lr"] * warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


SIGMA_BINS = (0.0, 0.2, 0.5, 0.8, 0.95, 1.01)


def train(cfg: dict, out_path: str, log_every: int = 50, ckpt_every: int = 0, eval_fn=None, eval_every: int = 0):
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    model = build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(params, lr=cfg["lr"], betas=(0.9, 0.99), weight_decay=cfg["weight_decay"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    table = data.prompt_table()
    print(f"params {n_params / 1e6:.2f} M, config {json.dumps(cfg)}", flush=True)

    history = []
    bins = [[0.0, 0] for _ in range(len(SIGMA_BINS) - 1)]
    run_loss, run_n = 0.0, 0
    t0 = time.time()
    for step in range(cfg["steps"]):
        lr = lr_at(step, cfg)
        for grp in opt.param_groups:
            grp["lr"] = lr
        xs, sigma, ctx, target = make_batch(cfg, gen, table)
        pred = model(xs, sigma * 1000.0, ctx)
        per = ((pred.float() - target) ** 2).mean(dim=(1, 2, 3, 4))
        loss = per.mean()
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
        for s_, l_ in zip(sigma.tolist(), per.tolist()):
            for i in range(len(bins)):
                if SIGMA_BINS[i] <= s_ < SIGMA_BINS[i + 1]:
                    bins[i][0] += l_
                    bins[i][1] += 1
        if (step + 1) % log_every == 0 or step + 1 == cfg["steps"]:
            el = time.time() - t0
            rec = {"step": step + 1, "loss": run_loss / run_n, "elapsed_s": round(el, 1), "lr": lr,
                   "loss_by_sigma": {f"{SIGMA_BINS[i]:.2f}-{min(SIGMA_BINS[i + 1], 1.0):.2f}":
                                     (round(a / n, 4) if n else None) for i, (a, n) in enumerate(bins)}}
            history.append(rec)
            print(f"step {step + 1} {el:.0f}s ({el / (step + 1):.3f} s/it) loss {rec['loss']:.4f} lr {lr:.2e} "
                  f"by sigma {rec['loss_by_sigma']}", flush=True)
            run_loss, run_n = 0.0, 0
            bins = [[0.0, 0] for _ in range(len(SIGMA_BINS) - 1)]
        if ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 < cfg["steps"]:
            save(ema, cfg, history, out_path.replace(".safetensors", f"_step{step + 1}.safetensors"), t0, n_params)
        if eval_fn is not None and eval_every and (step + 1) % eval_every == 0:
            print("eval", step + 1, eval_fn(ema), flush=True)
    return save(ema, cfg, history, out_path, t0, n_params)


def save(ema: dict, cfg: dict, history: list, out_path: str, t0: float, n_params: int) -> dict:
    from safetensors.torch import save_file
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    sd = state_dict_for_comfy(ema)
    meta = {
        "model": "tiny Wan2.1 T2V (ComfyUI WanModel) trained on procedural moving shapes",
        "trained_by": "tools/tiny_wan/train.py",
        "config": cfg,
        "params": n_params,
        "steps_done": history[-1]["step"] if history else 0,
        "train_seconds": round(time.time() - t0, 1),
        "final_loss": history[-1]["loss"] if history else None,
        "final_loss_by_sigma": history[-1]["loss_by_sigma"] if history else None,
        "torch": torch.__version__,
        "video": {"frames": cfg["frames"], "size": cfg["size"], "latent": list(latent.latent_shape(1, cfg["frames"], cfg["size"], cfg["size"]))[1:]},
        "sampling": {"model_sampling": "ModelSamplingSD3 shift 8 (Wan's default)", "scheduler": "simple",
                     "cfg": 5.0, "negative": "zeros [1, 8, 4096]"},
    }
    save_file(sd, out_path, metadata={"taocache_tiny_wan": json.dumps(meta)})
    meta["history"] = history
    with open(out_path.replace(".safetensors", ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=0, help="also save EMA checkpoints every N steps")
    ap.add_argument("--bench", type=int, default=0, help="only time N training steps and exit")
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    cfg = {k: getattr(a, k) for k in DEFAULTS}
    if a.bench:
        torch.set_num_threads(cfg["threads"])
        model = build_model(cfg["dim"], cfg["ffn"], cfg["layers"], cfg["seed"])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        gen = torch.Generator().manual_seed(0)
        table = data.prompt_table()
        times = []
        for i in range(a.bench + 2):
            t = time.time()
            xs, sigma, ctx, target = make_batch(cfg, gen, table)
            loss = ((model(xs, sigma * 1000.0, ctx) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.time() - t)
        ts = sorted(times[2:])
        n_params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"bench_s_per_it": round(ts[len(ts) // 2], 4), "min": round(ts[0], 4),
                          "params_M": round(n_params / 1e6, 3), "MB": round(n_params * 4 / 2 ** 20, 2),
                          "tokens": cfg["frames"] * (cfg["size"] // 4) ** 2, **cfg}))
        return
    meta = train(cfg, a.out, a.log_every, a.ckpt_every)
    print(f"saved {a.out}: {meta['steps_done']} steps in {meta['train_seconds']} s, final loss {meta['final_loss']:.4f}")


if __name__ == "__main__":
    main()
