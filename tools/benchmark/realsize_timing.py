"""Wall clock of TaoCache at real model size: ComfyUI's WanModel in the Wan2.1 T2V 1.3B configuration
(random weights: timing only, the outputs mean nothing) at 480p and 81 frames, sampled with and
without TaoCache in a plain flow-matching Euler loop with CFG (cond and uncond in one batch, as
ComfyUI batches them). Reports the wall-clock ratio beside the model-call ratio, and the pack's own
per-call bookkeeping (decide, predict, record) in milliseconds, at that size.

    python tools/benchmark/realsize_timing.py --device cuda            # one GPU, about 4 minutes on an H200
    python tools/benchmark/realsize_timing.py --small --device cpu     # a smoke run of the same code, seconds

Why a plain loop and not ComfyUI's sampler: it needs only ComfyUI's model code (comfy.ldm.wan), so
it runs on a machine with torch and a ComfyUI source tree (COMFYUI_DIR) and no other ComfyUI
requirement; the per-call work of the pack (taocache.TaoCacheRun) is the same object the node
drives. Two TaoCache runs: the node's defaults, online (what it skips on random weights is whatever
its gates allow), and the node's target speedup 1.5x without calibration (profile "none, plan to
target_speedup": skips spread evenly over the default window; a fixed call ratio, so the wall ratio has
something to be compared with). Every figure is measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from taocache import Schedule, TaoCacheConfig, TaoCacheRun  # noqa: E402
from taocache.planner import plan_without_profile  # noqa: E402

# Wan2.1 T2V 1.3B (the unet_config ComfyUI detects from its weights); latent of 480x832, 81 frames
WAN21_1_3B = dict(dim=1536, ffn_dim=8960, num_layers=30, text_dim=4096, in_dim=16, out_dim=16)
LATENT_480P_81F = (16, 21, 60, 104)
SMALL = dict(dim=128, ffn_dim=256, num_layers=2, text_dim=4096, in_dim=16, out_dim=16)
LATENT_SMALL = (16, 3, 8, 8)
TEXT_LEN = 512
BRANCHES = ("cond", "uncond")


def import_wan(device: str):
    """ComfyUI's WanModel class and ops, from COMFYUI_DIR (or the repo's .runtime/ComfyUI)."""
    path = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    if not os.path.isdir(os.path.join(path, "comfy")):
        raise SystemExit(f"no ComfyUI tree at {path}: set COMFYUI_DIR or run tools/comfy_runtime.sh")
    if path not in sys.path:
        sys.path.insert(0, path)
    import comfy.cli_args
    comfy.cli_args.args.cpu = device == "cpu"
    import comfy.ldm.wan.model
    import comfy.ops
    return comfy.ldm.wan.model.WanModel, comfy.ops.disable_weight_init


@torch.no_grad()
def build(arch: dict, device: str, dtype: torch.dtype, seed: int = 0):
    """WanModel with random weights (normal, std 0.02; norms at 1): ComfyUI's disable_weight_init
    ops leave weights uninitialised, and NaNs would make every call 'statistics not finite'."""
    wan, ops = import_wan(device)
    model = wan(model_type="t2v", patch_size=(1, 2, 2), text_len=TEXT_LEN, freq_dim=256,
                num_heads=arch["dim"] // 128, window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6,
                device=device, dtype=dtype, operations=ops, **arch)
    gen = torch.Generator(device=device).manual_seed(seed)
    for name, p in model.named_parameters():
        if p.dim() == 1 and ("norm" in name or name.endswith("modulation")):
            p.fill_(1.0 if "norm" in name else 0.0)
        elif p.dim() == 1:
            p.zero_()
        else:
            p.normal_(0.0, 0.02, generator=gen)
    return model.eval()


def flow_sigmas(steps: int, shift: float) -> list[float]:
    """The simple scheduler's sigmas for a flow model: ComfyUI's time_snr_shift(shift, t) at t from
    1 down to 0 in `steps` equal steps (ModelSamplingDiscreteFlow with a linear timestep grid)."""
    return [shift * t / (1 + (shift - 1) * t) if t > 0 else 0.0 for t in (1 - i / steps for i in range(steps + 1))]


def percent_to_sigma(percent: float, shift: float) -> float:
    """Mirrors ComfyUI's ModelSamplingDiscreteFlow.percent_to_sigma: 1 at 0, 0 at 1, else the
    shifted noise level of 1 - percent."""
    if percent <= 0.0:
        return 1.0
    if percent >= 1.0:
        return 0.0
    t = 1.0 - percent
    return shift * t / (1 + (shift - 1) * t)


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def sample(model, x: torch.Tensor, context: torch.Tensor, sigmas: list[float], cfg_scale: float, device: str,
           run: TaoCacheRun | None = None, instrument: bool = False) -> dict:
    """Euler over `sigmas` with CFG; with `run`, every model call goes through TaoCache's
    decide -> predict (skip) or model + record (compute). instrument: also time the bookkeeping
    (synchronising around it, so that run's wall clock is not the one to report)."""
    calls, bookkeeping = 0, 0.0
    sync(device)
    t0 = time.perf_counter()
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        timestep = torch.full((x.shape[0] * 2,), sigma * 1000.0, device=device, dtype=x.dtype)
        xin = torch.cat([x, x])
        decision = None
        if run is not None:
            if instrument:
                sync(device)
                b0 = time.perf_counter()
            run.begin_evaluation()
            decision = run.decide(BRANCHES, sigma, device=x.device)
            if decision.skip:
                v_cond, v_uncond = run.predict(decision, BRANCHES)
            if instrument:
                sync(device)
                bookkeeping += time.perf_counter() - b0
        if decision is None or not decision.skip:
            out = model(xin, timestep, context)
            calls += 1
            v_cond, v_uncond = out.chunk(2)
            if run is not None:
                if instrument:
                    sync(device)
                    b0 = time.perf_counter()
                run.record(decision, BRANCHES, [v_cond, v_uncond])
                if instrument:
                    sync(device)
                    bookkeeping += time.perf_counter() - b0
        v = v_uncond + cfg_scale * (v_cond - v_uncond)
        x = x + (sigmas[i + 1] - sigma) * v
    sync(device)
    return {"seconds": time.perf_counter() - t0, "model_calls": calls, "evaluations": len(sigmas) - 1,
            "bookkeeping_s": bookkeeping, "latent": x}


PLANNED = "taocache planned, target 1.5x without calibration"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default=None,
                    help="default bf16 on a GPU, fp32 on the CPU")
    ap.add_argument("--small", action="store_true", help="a 2-layer dim-128 model on a tiny latent (smoke run)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--shift", type=float, default=5.0, help="Wan2.1 T2V's default")
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    if a.steps < 4:
        raise SystemExit(f"--steps must be at least 4, got {a.steps}")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[
        a.dtype or ("fp32" if a.device == "cpu" else "bf16")]
    arch, shape = (SMALL, LATENT_SMALL) if a.small else (WAN21_1_3B, LATENT_480P_81F)
    t_build = time.perf_counter()
    model = build(arch, a.device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator(device=a.device).manual_seed(1)
    x = torch.randn((1, *shape), generator=gen, device=a.device, dtype=dtype)
    context = torch.randn((2, TEXT_LEN, arch["text_dim"]), generator=gen, device=a.device, dtype=dtype)
    sigmas = flow_sigmas(a.steps, a.shift)
    config = TaoCacheConfig()
    schedule = Schedule(sigmas, percent_to_sigma(config.start_percent, a.shift), percent_to_sigma(config.end_percent, a.shift))
    plan = set(plan_without_profile(schedule, target_speedup=1.5, max_consecutive=config.max_consecutive_skips).steps)
    build_s = time.perf_counter() - t_build

    sample(model, x, context, sigmas[:6], a.cfg, a.device)          # warm-up: kernels, allocator (5 calls)
    full = sample(model, x, context, sigmas, a.cfg, a.device)
    rows = {"full": full}
    for name, plan_of in (("taocache defaults (online)", None), (PLANNED, plan)):
        run = TaoCacheRun(config, schedule, plan_of)
        rows[name] = sample(model, x, context, sigmas, a.cfg, a.device, run)
        report = run.close()
        rows[name]["skipped"] = report.skipped
        timed = TaoCacheRun(config, schedule, plan_of)                   # the same run, its bookkeeping timed
        rows[name]["bookkeeping_s"] = sample(model, x, context, sigmas, a.cfg, a.device, timed, instrument=True)["bookkeeping_s"]
        timed.close()
    again = sample(model, x, context, sigmas, a.cfg, a.device)       # the full run again, last: drift
    full["seconds"] = (full["seconds"] + again["seconds"]) / 2
    drift = again["seconds"] / (full["seconds"] * 2 - again["seconds"])

    ref = full["latent"].float()
    out = {"device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu",
           "torch": torch.__version__, "dtype": str(dtype).replace("torch.", ""),
           "model": "WanModel " + ("small (smoke)" if a.small else "Wan2.1 T2V 1.3B configuration, random weights"),
           "params_M": round(n_params / 1e6, 1), "latent": list(shape), "tokens": shape[1] * shape[2] * shape[3] // 4,
           "steps": a.steps, "shift": a.shift, "cfg": a.cfg, "build_s": round(build_s, 1),
           "window_steps": len(schedule.window_steps()), "full_run_drift": round(drift, 3), "rows": []}
    for name, r in rows.items():
        row = {"run": name, "seconds": round(r["seconds"], 3), "model_calls": r["model_calls"],
               "call_ratio": round(full["model_calls"] / r["model_calls"], 3),
               "wall_ratio": round(full["seconds"] / r["seconds"], 3),
               "seconds_per_call": round(r["seconds"] / r["model_calls"], 4)}
        if name != "full":
            row["wall_over_call_ratio"] = round(row["wall_ratio"] / row["call_ratio"], 3)
            row["bookkeeping_ms_per_evaluation"] = round(1000 * r["bookkeeping_s"] / r["evaluations"], 3)
            row["bookkeeping_share_of_call"] = round(r["bookkeeping_s"] / r["evaluations"] / (full["seconds"] / full["model_calls"]), 5)
            row["relative_latent_change"] = round(float((r["latent"].float() - ref).norm() / ref.norm()), 4)
        out["rows"].append(row)
    print(f"{out['model']}, {out['params_M']} M parameters, latent {shape} ({out['tokens']} tokens), "
          f"{a.steps} steps, cfg {a.cfg} (cond+uncond batched), {out['dtype']} on {out['device']}")
    print("| run | model calls | call ratio | seconds | wall ratio | wall/call ratio | bookkeeping ms per step |")
    print("|---|---|---|---|---|---|---|")
    for row in out["rows"]:
        print(f"| {row['run']} | {row['model_calls']} | {row['call_ratio']:.2f}x | {row['seconds']:.2f} | "
              f"{row['wall_ratio']:.2f}x | {row.get('wall_over_call_ratio', 1.0):.3f} | "
              f"{row.get('bookkeeping_ms_per_evaluation', 0.0):.2f} |")
    print(f"full run: the mean of one run first and one last (the last took {drift:.3f} of the first's time); "
          "bookkeeping timed in a separate run of the same plan, synchronised around each call")
    print("(random weights: the latent change against the full run measures nothing about quality)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
