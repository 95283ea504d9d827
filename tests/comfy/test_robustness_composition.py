"""Robustness in a real ComfyUI: TaoCache composed with other model patches (core EasyCache, a LoRA,
a LoRA hook with keyframes, fp8 weights, torch.compile), one TaoCache model shared by two samplers,
and two TaoCache nodes in one chain."""
import os
import re
import time

import pytest
import torch

from robustness_helpers import PERMISSIVE, check_result, check_run, graph, one_torch_thread, reports, taocache

assert one_torch_thread  # autouse fixture, imported to apply here

EASYCACHE_SKIPPED = re.compile(r"EasyCache - skipped (\d+)/(\d+) steps")
LAZYCACHE_SKIPPED = re.compile(r"LazyCache - skipped (\d+)/(\d+) steps")
# EasyCache early (its own window), TaoCache late: the stack the method's orthogonality claim is about
EASYCACHE = ("EasyCache", {"reuse_threshold": 0.2, "start_percent": 0.05, "end_percent": 0.3, "verbose": False})


def easycache_skipped(result) -> int:
    match = EASYCACHE_SKIPPED.search(result.log_text)
    assert match, "no EasyCache summary in the log"
    return int(match.group(1))


def test_easycache_before_taocache_each_skips_its_own_steps(comfy_inprocess):
    """EasyCache upstream: its wrapper is the outer one, so TaoCache never sees the calls EasyCache
    reuses, and TaoCache's computed count is still the real forward calls."""
    result = comfy_inprocess.run(graph(steps=20, insert=[EASYCACHE, taocache(**PERMISSIVE)]))
    (report,) = check_result(result)
    easy = easycache_skipped(result)
    assert easy > 0
    assert report["total"] + easy == 20
    assert "also on this model: core EasyCache; each skips calls of its own" in report["summary"]


def test_easycache_after_taocache_composes(comfy_inprocess):
    """EasyCache downstream: its wrapper is inside TaoCache's, so a call TaoCache lets through may be
    answered by EasyCache's cache; TaoCache counts it as computed (documented), and the real calls
    are TaoCache's computed minus EasyCache's reuses."""
    result = comfy_inprocess.run(graph(steps=20, insert=[taocache(**PERMISSIVE), EASYCACHE]))
    result.raise_for_status()
    (report,) = reports(result)
    check_run(report)
    easy = easycache_skipped(result)
    assert easy > 0 and report["skipped"] > 0 and report["total"] == 20
    assert "also on this model: core EasyCache" in report["summary"]
    assert result.calls == [report["computed"] - easy]
    assert torch.isfinite(result.latent).all()


@pytest.mark.parametrize("order", ["LazyCache first", "TaoCache first"])
def test_lazycache_wraps_the_whole_step_whichever_comes_first(comfy_inprocess, order):
    """Core LazyCache (EasyCache's variant for any model) reuses whole steps at PREDICT_NOISE, around
    the guider's model calls, so it is the outer cache in either node order: TaoCache never sees the
    steps it reuses (its total plus LazyCache's reuses is the step count), its computed count is the
    real forward calls, and the summary names core LazyCache. Both caches act (permissive TaoCache
    gates; LazyCache early, TaoCache late, as with EasyCache)."""
    lazy = ("LazyCache", {"reuse_threshold": 0.2, "start_percent": 0.05, "end_percent": 0.3, "verbose": False})
    insert = [lazy, taocache(**PERMISSIVE)] if order == "LazyCache first" else [taocache(**PERMISSIVE), lazy]
    result = comfy_inprocess.run(graph(steps=20, insert=insert))
    (report,) = check_result(result)
    match = LAZYCACHE_SKIPPED.search(result.log_text)
    assert match, "no LazyCache summary in the log"
    reused = int(match.group(1))
    assert reused > 0 and report["skipped"] > 0
    assert report["total"] + reused == 20
    assert "also on this model: core LazyCache" in report["summary"]
    assert torch.isfinite(result.latent).all()


@pytest.fixture(scope="module")
def tiny_lora(comfy_base):
    """A rank-4 LoRA for the tiny Wan model's attention projections (the generic `diffusion_model.*`
    key format), in the base directory's models/loras."""
    from safetensors.torch import save_file

    folder = comfy_base.path / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for block in (0, 1):
        for proj in ("q", "k", "v", "o"):
            key = f"diffusion_model.blocks.{block}.self_attn.{proj}"
            tensors[f"{key}.lora_up.weight"] = torch.randn(128, 4, generator=generator) * 0.5
            tensors[f"{key}.lora_down.weight"] = torch.randn(4, 128, generator=generator) * 0.5
            tensors[f"{key}.alpha"] = torch.tensor(4.0)
    save_file(tensors, str(folder / "taotest_tiny_wan_lora.safetensors"))
    return "taotest_tiny_wan_lora.safetensors"


def test_lora_applied_before_taocache(comfy_inprocess, tiny_lora):
    def with_lora(strength):
        built = graph(steps=16, insert=[taocache(**PERMISSIVE)])
        g = built.prompt
        g["40"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": [built.ids["loader"], 0], "lora_name": tiny_lora, "strength_model": strength}}
        g[built.ids["sampling"]]["inputs"]["model"] = ["40", 0]
        return comfy_inprocess.run(built)

    lora, no_lora = with_lora(1.0), with_lora(0.0)
    (report,) = check_result(lora)
    check_result(no_lora)
    assert "lora key not loaded" not in lora.log_text
    assert not torch.allclose(lora.latent, no_lora.latent, atol=1e-3), "the LoRA changed nothing"


@pytest.mark.parametrize("weight_dtype", ["fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"])
def test_fp8_weights(comfy_inprocess, weight_dtype):
    """fp8 weights (UNETLoader's weight_dtype; on this CPU computed by manual cast to float32): the
    never-skip run is the uncached run bit for bit, the permissive one skips with real counts."""
    def run(*insert):
        built = graph(steps=30, insert=list(insert))
        built.prompt[built.ids["loader"]]["inputs"]["weight_dtype"] = weight_dtype
        return comfy_inprocess.run(built).raise_for_status()

    plain, never, cached = run(), run(taocache(norm_ratio_threshold=0.0)), run(taocache(**PERMISSIVE))
    assert "model weight dtype torch.float8" in plain.log_text
    assert torch.equal(never.latent, plain.latent)
    (report,) = check_result(cached, min_skipped=8)
    assert report["total"] == 30


def test_lora_hook_with_a_keyframe_switching_it_off_mid_run(comfy_inprocess, tiny_lora):
    """A LoRA as a conditioning hook on the positive prompt (CreateHookLora, ConditioningSetProperties)
    whose keyframe sets its strength from 1 to 0 at 50%: ComfyUI runs the hooked cond and the uncond
    as separate calls, and the model's function changes at the switch. TaoCache has no sign of the
    switch in the call, so it extrapolates across it once; the cached run still follows the switch
    (on the tiny model: error 0.044 against the full run, 0.025 without a switch, while the switch
    itself changes the result by 0.81)."""
    def run(switch, *insert):
        built = graph(steps=30, cfg=5.0, insert=list(insert))
        g = built.prompt
        g["80"] = {"class_type": "CreateHookLora", "inputs": {"lora_name": tiny_lora, "strength_model": 1.0,
                                                              "strength_clip": 0.0}}
        g["81"] = {"class_type": "CreateHookKeyframe", "inputs": {"strength_mult": 1.0, "start_percent": 0.0}}
        g["82"] = {"class_type": "CreateHookKeyframe", "inputs": {"strength_mult": 0.0 if switch else 1.0,
                                                                  "start_percent": 0.5, "prev_hook_kf": ["81", 0]}}
        g["83"] = {"class_type": "SetHookKeyframes", "inputs": {"hooks": ["80", 0], "hook_kf": ["82", 0]}}
        g["84"] = {"class_type": "ConditioningSetProperties", "inputs": {
            "cond_NEW": [built.ids["positive"], 0], "strength": 1.0, "set_cond_area": "default", "hooks": ["83", 0]}}
        g[built.ids["sampler"]]["inputs"]["positive"] = ["84", 0]
        return comfy_inprocess.run(built)

    full, kept = run(True), run(False)
    cached = run(True, taocache(**PERMISSIVE))
    (report,) = check_result(cached, min_skipped=8)
    assert report["total"] == 60  # the hooked cond and the uncond in separate calls
    switch_effect = float((full.latent - kept.latent).norm() / kept.latent.norm())
    cache_error = float((cached.latent - full.latent).norm() / full.latent.norm())
    print(f"hook keyframe: cache error {cache_error:.4f}, the switch's effect {switch_effect:.4f}")
    assert cache_error < 0.1 * switch_effect


def test_one_taocache_model_used_by_two_samplers_reports_each_run(comfy_inprocess):
    built = graph(steps=16, insert=[taocache(**PERMISSIVE)])
    g = built.prompt
    g["50"] = {"class_type": "KSampler", "inputs": {**g[built.ids["sampler"]]["inputs"], "seed": 43, "steps": 20}}
    g["51"] = {"class_type": "SaveLatent", "inputs": {"samples": ["50", 0], "filename_prefix": "latents/second"}}
    result = comfy_inprocess.run(built)
    first, second = check_result(result, runs=2)
    assert sorted([first["steps"], second["steps"]]) == [16, 20]
    node = built.inserted[0]
    assert first["node"] == second["node"] == node
    texts = result.texts_for(node)
    assert first["summary"] in texts and second["summary"] in texts


def test_second_taocache_in_a_chain_replaces_the_first(comfy_inprocess):
    built = graph(steps=20, insert=[taocache(**PERMISSIVE), taocache(**dict(PERMISSIVE, max_consecutive_skips=1))])
    result = comfy_inprocess.run(built)
    (report,) = check_result(result)
    assert "this model already had a TaoCache node upstream; this node replaces it" in result.log_text
    assert report["node"] == built.inserted[1]
    skipped = [call["skipped"] for call in report["calls"]]
    assert not any(a and b for a, b in zip(skipped, skipped[1:])), "the second node's max_consecutive_skips 1 rules"


def pack_files(graph_files):
    return {f for f in graph_files if "/custom_nodes/taocache/" in f}


def test_torch_compile_before_and_after_taocache_keeps_the_model_compiled_and_the_decisions_outside(
        comfy_inprocess):
    """Core's torch.compile wrapper (what TorchCompileModel installs) with a recording backend: dynamo
    traces exactly as for inductor. The model's own code must be in the compiled graphs (the
    decision and the bookkeeping are graph breaks around the forward, not a disabled region that
    would run the model uncompiled) and no TaoCache code may be; the skips and the result are
    those of the uncompiled run. Compile first, then TaoCache after it (the second order reuses the
    compiled code: tracing the tiny model once costs about 15 s on CPU)."""
    import torch._dynamo

    node = comfy_inprocess.node_class_mappings["TaoTestCompileModel"]
    eager = comfy_inprocess.run(graph(steps=12, insert=[taocache(**PERMISSIVE)]))
    eager_skips = [c["skipped"] for c in reports(eager)[0]["calls"]]
    torch._dynamo.reset()
    node.graphs.clear()
    try:
        for insert in ([("TaoTestCompileModel", {}), taocache(**PERMISSIVE)],
                       [taocache(**PERMISSIVE), ("TaoTestCompileModel", {})]):
            result = comfy_inprocess.run(graph(steps=12, insert=insert))
            (report,) = check_result(result)
            assert [c["skipped"] for c in report["calls"]] == eager_skips
            assert torch.allclose(result.latent, eager.latent, atol=1e-4)
            graphs = list(node.graphs)
            assert any(any(f.endswith("ldm/wan/model.py") for f in files) for files in graphs), "model not compiled"
            assert not any(pack_files(files) for files in graphs), "TaoCache code inside a compiled graph"
            # another prompt and seed, same shapes: the compiled code is reused (ComfyUI#14795: EasyCache
            # with compile was "very very slow" from recompiling); each run's new TaoCache state is
            # outside the graphs, so nothing guards on it
            again = comfy_inprocess.run(graph(steps=12, seed=7, insert=insert))
            check_result(again)
            assert len(node.graphs) == len(graphs), f"{len(node.graphs) - len(graphs)} graphs recompiled for a new run"
    finally:
        torch._dynamo.reset()


@pytest.mark.skipif(not os.environ.get("TAOCACHE_SLOW_TESTS"), reason="inductor on CPU compiles C++: 1-2 minutes; "
                    "set TAOCACHE_SLOW_TESTS=1")
@pytest.mark.parametrize("order", ["compile_then_taocache", "taocache_then_compile"])
def test_core_torch_compile_model_node_with_inductor(comfy_inprocess, order):
    """The core TorchCompileModel node itself (inductor, the CPU backend it offers), before and after
    TaoCache: skips, counts and the result match the uncompiled TaoCache run."""
    import torch._dynamo

    insert = [("TorchCompileModel", {"backend": "inductor"}), taocache(**PERMISSIVE)]
    if order == "taocache_then_compile":
        insert.reverse()
    eager = comfy_inprocess.run(graph(steps=12, insert=[taocache(**PERMISSIVE)]))
    torch._dynamo.reset()
    started = time.perf_counter()
    try:
        result = comfy_inprocess.run(graph(steps=12, insert=insert))
        again = comfy_inprocess.run(graph(steps=12, seed=7, insert=insert))
    finally:
        torch._dynamo.reset()
    print(f"inductor ({order}): {time.perf_counter() - started:.1f} s for two runs")
    (report,) = check_result(result)
    check_result(again)
    assert [c["skipped"] for c in report["calls"]] == [c["skipped"] for c in reports(eager)[0]["calls"]]
    assert torch.allclose(result.latent, eager.latent, atol=1e-3)


@pytest.mark.parametrize("pack, name", [("MagCache", "MagCache (ComfyUI-MagCache)"),
                                        ("TeaCache", "TeaCache (ComfyUI-TeaCache)"),
                                        ("TeaCacheKJ", "TeaCache (KJNodes WanVideoTeaCacheKJ)"),
                                        ("FBCache", "First Block Cache (Comfy-WaveSpeed)")])
def test_another_caching_pack_on_the_same_model_is_named_in_the_summary(comfy_inprocess, pack, name):
    """TaoTestPeerCacheKeys sets what the peer pack's node puts in transformer_options, or for
    WaveSpeed's First Block Cache the model function wrapper it sets (read in its source; nothing of
    its caching is reproduced): the run goes on and its summary names the other
    cache, so a user sees why the result differs from what TaoCache's counts alone suggest."""
    result = comfy_inprocess.run(graph(steps=20, insert=[("TaoTestPeerCacheKeys", {"pack": pack}),
                                                         taocache(**PERMISSIVE)]))
    (report,) = check_result(result)
    assert f"also on this model: {name}" in report["summary"] and name in result.log_text
    assert report["summary"].count("TeaCache (") <= 1  # KJNodes' TeaCache is not also named as the other one
    assert ("inside a call" in report["summary"]) == (pack == "FBCache")  # it skips blocks, not calls
    plain = comfy_inprocess.run(graph(steps=20, insert=[taocache(**PERMISSIVE)])).raise_for_status()
    assert "also on this model" not in plain.log_text


def test_a_cache_that_counts_model_calls_keeps_taocache_off_and_says_why(comfy_inprocess, comfy_base):
    """The Kandinsky 6 pack's MagCache (transformer_options["k6_magcache"], read by the newest ComfyUI's
    Kandinsky 6 model) counts the forwards it sees to pick its calibrated ratios, so TaoCache's skips
    would put it out of step: TaoCache stays off for the run (the run is the one without it, bit for bit)
    and says why on the node and in the log; TaoCache Calibrate records nothing."""
    keys = ("TaoTestPeerCacheKeys", {"pack": "K6MagCache"})
    alone = comfy_inprocess.run(graph(steps=20, insert=[keys])).raise_for_status()
    built = graph(steps=20, insert=[keys, taocache(**PERMISSIVE)])
    result = comfy_inprocess.run(built).raise_for_status()
    assert torch.equal(result.latent, alone.latent)
    (report,) = check_result(result, min_skipped=0)
    assert report["skipped"] == 0 and report["computed"] == result.calls[0] == 20
    said = "Kandinsky 6 MagCache is on this model"
    assert said in report["summary"] and any(said in line for line in result.log_lines)
    assert any(said in text for text in result.texts_for(built.inserted[1]))
    profile = comfy_base.path / "models" / "taocache_profiles" / "taotest_k6.json"
    profile.unlink(missing_ok=True)
    calibrate = graph(steps=20, insert=[keys, ("TaoCacheCalibrate", {"profile_name": "taotest_k6", "trial_speedups": ""})])
    calibrated = comfy_inprocess.run(calibrate).raise_for_status()
    assert any(said in text and "nothing to calibrate" in text for text in calibrated.texts_for(calibrate.inserted[1]))
    assert torch.equal(calibrated.latent, alone.latent) and not profile.exists()


@pytest.mark.parametrize("node", ["TaoTestAttentionOverride", "TaoTestPatcherSubclass"])
def test_attention_kernel_overrides_and_patcher_subclasses_compose(comfy_inprocess, node):
    """An attention-kernel override (the optimized_attention_override hook SageAttention nodes use,
    here bfloat16 attention) and a ModelPatcher subclass (as ComfyUI-GGUF loads models) before
    TaoCache: never-skip is the run with that node alone, bit for bit; skips and counts as usual; the
    override still acts in the computed calls."""
    patched = (node, {})
    alone = comfy_inprocess.run(graph(steps=20, insert=[patched])).raise_for_status()
    never = comfy_inprocess.run(graph(steps=20, insert=[patched, taocache(norm_ratio_threshold=0.0)]))
    assert torch.equal(never.raise_for_status().latent, alone.latent)
    (report,) = check_result(comfy_inprocess.run(graph(steps=20, insert=[patched, taocache(**PERMISSIVE)])))
    assert report["skipped"] > 0
    if node == "TaoTestAttentionOverride":
        plain = comfy_inprocess.run(graph(steps=20)).raise_for_status()
        assert not torch.equal(alone.latent, plain.latent), "the override changes the model's attention"


def _widget_default(spec):
    """A widget input's default as ComfyUI's INPUT_TYPES gives it; KeyError for a linked type."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if isinstance(kind, (list, tuple)):  # a combo given as its list of choices
        return kind[0] if kind else None
    if kind in ("INT", "FLOAT"):
        return options.get("default", options.get("min", 0))
    if kind in ("BOOLEAN", "STRING"):
        return options.get("default", False if kind == "BOOLEAN" else "")
    if kind == "COMBO":
        return options.get("default", (options.get("options") or [None])[0])
    raise KeyError(kind)


def core_model_patches(mappings) -> dict:
    """Every core node of this runtime that takes one MODEL (plus widgets only) and returns a MODEL,
    with its default widget values. The other caches, the file loaders (whose effect depends on the
    file, and whose list depends on what another test wrote) and TorchCompileModel (inductor by
    default: 22 s of C++ compilation on 2 cores) are left to their own tests above."""
    found = {}
    for name, cls in sorted(mappings.items()):
        if name.startswith(("TaoTest", "TaoCache")) or name in ("EasyCache", "LazyCache", "LoraLoaderModelOnly",
                                                                 "HypernetworkLoader", "TorchCompileModel"):
            continue
        try:
            required, returns = cls.INPUT_TYPES().get("required", {}), tuple(cls.RETURN_TYPES)
            if returns != ("MODEL",) or [spec[0] for spec in required.values()].count("MODEL") != 1:
                continue
            found[name] = {key: _widget_default(spec) for key, spec in required.items() if spec[0] != "MODEL"}
        except (KeyError, AttributeError, TypeError, IndexError):
            continue
    return found


def test_every_core_model_patch_before_and_after_taocache_keeps_the_counts_and_the_result(comfy_inprocess):
    """Each core MODEL -> MODEL node (40 in 0.3.75: guidance tweaks, model sampling, attention patches,
    context windows, block swap...; torch.compile has its own tests), at its default settings, upstream and downstream of
    TaoCache: the run works, TaoCache's counts are the real forward calls and hold its invariants, and
    the cached result is as close to the same patched graph's full run as without any patch (the
    largest error here, a patch that changes the noise schedule, is 1.4x the plain one). Nodes that
    fail on Wan without TaoCache (FreeU's UNet blocks) are left out, and must be the ones named here."""
    def error(result, full):
        f, a = full.latent.float(), result.latent.float()
        return float((a - f).norm() / f.norm())

    plain_full = comfy_inprocess.run(graph(steps=16)).raise_for_status()
    plain = error(comfy_inprocess.run(graph(steps=16, insert=[taocache(**PERMISSIVE)])).raise_for_status(), plain_full)
    patches = core_model_patches(comfy_inprocess.node_class_mappings)
    assert len(patches) >= 40 and {"CFGZeroStar", "SkipLayerGuidanceDiT", "ModelSamplingSD3"} <= set(patches)
    failing_alone = []
    for name, inputs in patches.items():
        full = comfy_inprocess.run(graph(steps=16, insert=[(name, inputs)]))
        if full.error:
            failing_alone.append(name)
            continue
        for chain in ([(name, inputs), taocache(**PERMISSIVE)], [taocache(**PERMISSIVE), (name, inputs)]):
            result = comfy_inprocess.run(graph(steps=16, insert=chain)).raise_for_status()
            (report,) = reports(result)
            check_run(report, result.calls[0])
            assert report["skipped"] > 0, (name, report["summary"])
            assert error(result, full) < 2 * plain, (name, chain[0][0], error(result, full), plain)
    assert set(failing_alone) <= {"FreeU", "FreeU_V2", "RenormCFG"}, failing_alone
