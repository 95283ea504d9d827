"""The harness itself, on core ComfyUI nodes and the test nodes only (no TaoCache node needed)."""
import re

import pytest
import torch

import harness

FAMILIES = sorted(harness.FAMILIES)


@pytest.mark.parametrize("name", sorted(harness.make_tiny_models.MODELS))
def test_tiny_model_detected_by_real_loader(comfy_inprocess, comfy_base, name):
    report = harness.load_model_report(comfy_base.models[name])
    print(name, "->", report["config"], report["model"], report["latent_format"], report["latent_channels"])
    expected = harness.make_tiny_models.expected_detection(name)
    assert (report["config"], report["model"], report["latent_channels"]) == (
        expected["config"], expected["model"], expected["latent_channels"])
    assert report["missing"] == [] and report["unexpected"] == [] and report["wrong_shape"] == []


def test_tiny_models_are_deterministic(tmp_path):
    a = harness.make_tiny_models.write_tiny_models(tmp_path / "a")
    b = harness.make_tiny_models.write_tiny_models(tmp_path / "b")
    for name in a:
        assert open(a[name], "rb").read() == open(b[name], "rb").read(), name


@pytest.mark.parametrize("family", FAMILIES)
def test_ksampler_runs_and_counts_one_call_per_step(comfy_inprocess, family):
    _, _, channels = harness.FAMILIES[family]
    res = comfy_inprocess.run(harness.build_graph(family, steps=4, cfg=1.0)).raise_for_status()
    assert res.latent is not None and tuple(res.latent.shape) == (1, channels, 3, 8, 8)
    assert torch.isfinite(res.latent).all()
    assert res.calls == [4]                      # cfg 1: ComfyUI skips the negative entirely
    assert res.call_records[0]["batch_sizes"] == [1] * 4


@pytest.mark.parametrize("family", FAMILIES)
def test_cfg_batches_cond_and_uncond(comfy_inprocess, family):
    res = comfy_inprocess.run(harness.build_graph(family, steps=3, cfg=4.0)).raise_for_status()
    assert res.calls == [3]                      # one forward per step...
    assert res.call_records[0]["batch_sizes"] == [2] * 3   # ...on the batch [cond, uncond]


def test_easycache_zero_threshold_is_bit_identical(comfy_inprocess):
    plain = comfy_inprocess.run(harness.wan_t2v_graph(steps=10)).raise_for_status()
    ec = ("EasyCache", {"reuse_threshold": 0.0, "start_percent": 0.15, "end_percent": 0.95, "verbose": False})
    built = harness.wan_t2v_graph(steps=10, insert=[ec])
    assert built.inserted == ["10"] and built.prompt["10"]["class_type"] == "EasyCache"
    cached = comfy_inprocess.run(built).raise_for_status()
    assert "EasyCache - skipped 0/10 steps" in cached.log_text
    assert cached.calls == plain.calls == [10]
    assert torch.equal(cached.latent, plain.latent)
    # a repeat of the same seed is bit-identical too (no state leaks between runs)
    again = comfy_inprocess.run(harness.wan_t2v_graph(steps=10)).raise_for_status()
    assert torch.equal(again.latent, plain.latent)


def test_skipped_steps_are_not_counted(comfy_inprocess):
    ec = ("EasyCache", {"reuse_threshold": 0.2, "start_percent": 0.15, "end_percent": 0.95, "verbose": False})
    res = comfy_inprocess.run(harness.wan_t2v_graph(steps=20, cfg=1.0, insert=[ec])).raise_for_status()
    skipped = int(re.search(r"EasyCache - skipped (\d+)/20 steps", res.log_text).group(1))
    assert skipped > 0
    assert res.calls == [20 - skipped]


def test_executor_messages_and_validation(comfy_inprocess):
    built = harness.wan_t2v_graph(steps=2, cfg=1.0)
    res = comfy_inprocess.run(built).raise_for_status()
    executed = {d["node"] for d in res.events("executing")}
    assert set(built.prompt) <= executed
    assert res.events("progress") and res.events("progress")[-1]["node"] == built.ids["sampler"]
    assert res.outputs[built.ids["save"]]["latents"][0]["filename"].endswith(".latent")

    import server
    server.PromptServer.instance.send_progress_text("hello", "7")
    assert ("hello", "7") in comfy_inprocess.server.progress_texts

    bad = harness.wan_t2v_graph(steps=0)
    with pytest.raises(harness.PromptValidationError, match="steps"):
        comfy_inprocess.run(bad)


def test_execution_error_is_reported(comfy_inprocess):
    # 3 channels of conditioning cannot feed Wan's 4096-wide text embedding
    built = harness.wan_t2v_graph(steps=1, cfg=1.0)
    built.prompt["4"]["inputs"]["width"] = 3
    res = comfy_inprocess.run(built)
    assert not res.success
    assert res.error["node_id"] == built.ids["sampler"] and res.error["exception_message"]


def test_install_pack_copies_like_manager(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    (repo / "pkg" / "mod.py").write_text("x = 1\n")
    (repo / "pkg" / "__pycache__").mkdir()
    (repo / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"0")
    (repo / ".git").mkdir()
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".runtime").mkdir()
    (repo / ".runtime" / "big").write_text("x")
    (repo / "tests").mkdir()
    (repo / "tests" / "big.dat").write_bytes(b"0" * (2 << 20))
    (repo / "tests" / "test_a.py").write_text("")
    (repo / "requirements.txt").write_text("# nothing\n\n")
    dest = harness.install_pack(tmp_path / "custom_nodes", "Some-Other-Name", repo_root=repo, python="/nonexistent")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert dest.name == "Some-Other-Name"
    assert files == ["__init__.py", "pkg/mod.py", "requirements.txt", "tests/test_a.py"]
    (repo / "requirements.txt").write_text("# needed\nsafetensors\n")   # already installed: no download
    harness.install_pack(tmp_path / "custom_nodes", "taocache", repo_root=repo)
    (repo / "requirements.txt").write_text("safetensors\n")
    with pytest.raises(harness.HarnessError, match="pip install"):
        harness.install_pack(tmp_path / "custom_nodes", "taocache", repo_root=repo, python="/nonexistent-python")


def test_http_object_info_lists_test_nodes(comfy_server):
    info = comfy_server.get("/object_info")
    assert {"TaoTestCountCalls", "TaoTestConditioning", "EasyCache", "UNETLoader"} <= set(info)
    assert comfy_server.get("/system_stats")["system"]["comfyui_version"]


def test_http_run_succeeds(comfy_server):
    entry = comfy_server.run(harness.hunyuan_video_graph(steps=3))
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert [c["calls"] for c in comfy_server.last_calls] == [3]
    latent = comfy_server.last_latent()
    assert latent is not None and tuple(latent.shape) == (1, 16, 3, 8, 8)
    assert "Prompt executed" in comfy_server.wait_for_log("Prompt executed")
    with pytest.raises(harness.PromptValidationError):
        comfy_server.run(harness.wan_t2v_graph(steps=0))
