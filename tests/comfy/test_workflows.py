"""The example workflows in workflows/ against the running ComfyUI.

Every shipped workflow is checked against the server's /object_info (node types, widget values, links),
then converted to an API prompt, swapped onto the tiny test models (see workflow_tools.swap_for_tiny
for what is replaced) and run to the end in the real executor, with TaoCache's report read from the
websocket as the web extension gets it. The files are built by tests/browser/build_workflows.py.
"""
import json
import re
from pathlib import Path

import pytest

import workflow_tools as wt

WORKFLOWS = wt.shipped_workflows()
IDS = [p.stem for p in WORKFLOWS]
EXPECTED = {
    "wan2.1_t2v_1.3B_taocache": {"UNETLoader": 1, "TaoCache": 1, "KSampler": 1},
    "wan2.1_i2v_14B_480p_taocache": {"UNETLoader": 1, "TaoCache": 1, "KSampler": 1, "WanImageToVideo": 1,
                                     "CLIPVisionEncode": 1, "LoadImage": 1},
    "wan2.2_t2v_A14B_taocache": {"UNETLoader": 2, "TaoCache": 2, "KSamplerAdvanced": 2},
    "wan2.2_ti2v_5B_taocache": {"UNETLoader": 1, "TaoCache": 1, "KSampler": 1, "Wan22ImageToVideoLatent": 1},
    "wan2.1_t2v_1.3B_taocache_easycache": {"UNETLoader": 1, "TaoCache": 1, "EasyCache": 1, "KSampler": 1},
    "hunyuan_video_t2v_taocache": {"UNETLoader": 1, "TaoCache": 1, "KSampler": 1, "DualCLIPLoader": 1},
    "wan2.1_t2v_1.3B_taocache_calibrate": {"UNETLoader": 1, "TaoCacheCalibrate": 1, "KSampler": 1},
    "wan2.1_t2v_1.3B_taocache_compare": {"UNETLoader": 1, "TaoCache": 2, "KSampler": 2, "TaoCacheCompare": 1},
    "wan2.1_vace_1.3B_taocache": {"UNETLoader": 1, "TaoCache": 1, "KSampler": 1, "WanVaceToVideo": 1,
                                  "LoadVideo": 1, "LoadImage": 1, "TrimVideoLatent": 1},
    "qwen_image_taocache": {"UNETLoader": 1, "TaoCache": 1, "KSampler": 1, "EmptySD3LatentImage": 1, "SaveImage": 1},
}
TAOCACHE_INPUTS = ["start_percent", "end_percent", "cos_threshold", "norm_ratio_threshold", "max_consecutive_skips",
                   "predictor", "error_budget", "verbose"]
FOLDERS = {"UNETLoader": "diffusion_models", "CLIPLoader": "text_encoders", "DualCLIPLoader": "text_encoders",
           "VAELoader": "vae", "CLIPVisionLoader": "clip_vision"}


@pytest.fixture(scope="session")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


def _nodes(workflow, kind):
    return [n for n in workflow["nodes"] if n["type"] == kind]


def _feeds(workflow, node):
    """(target node, input name) of every link out of `node`."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    out = []
    for link in workflow["links"]:
        if link[1] == node["id"]:
            target = nodes[link[3]]
            out.append((target, target["inputs"][link[4]]["name"]))
    return out


def test_the_workflows_are_shipped_each_with_a_jpeg_thumbnail():
    from PIL import Image
    assert sorted(IDS) == sorted(EXPECTED)
    assert wt.WORKFLOWS_DIR.name == "workflows"  # the design card's folder; ComfyUI scans it (see below)
    for path in WORKFLOWS:
        thumb = path.with_suffix(".jpg")
        assert thumb.is_file(), f"{thumb.name} missing"
        with Image.open(thumb) as image:
            assert image.format == "JPEG" and image.width >= 320 and image.height >= 180


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_is_valid_for_this_comfyui(path, object_info):
    workflow = wt.load(path)
    assert workflow.get("version") == 0.4 and workflow.get("links") is not None
    problems = wt.check_workflow(workflow, object_info)
    assert problems == [], "\n".join(problems)
    assert wt.absolute_paths(workflow) == []
    counts = {kind: len(_nodes(workflow, kind)) for kind in EXPECTED[path.stem]}
    assert counts == EXPECTED[path.stem]
    # every TaoCache node carries its 8 settings, in input order, and feeds a sampler (maybe through
    # nothing else than the sampler's model input)
    for node in _nodes(workflow, "TaoCache"):
        named = wt.named_widget_values(node, object_info["TaoCache"])
        assert list(named)[:8] == TAOCACHE_INPUTS  # later inputs are appended, never inserted
        assert list(named) == [name for name, role, *_ in wt.widget_layout(object_info["TaoCache"])]
        assert {(t["type"], name) for t, name in _feeds(workflow, node)} <= {("KSampler", "model"),
                                                                              ("KSamplerAdvanced", "model")}
    # videos (images, from an image latent) are saved with core nodes
    if _nodes(workflow, "EmptySD3LatentImage"):
        assert _nodes(workflow, "SaveImage")
    else:
        assert _nodes(workflow, "SaveVideo") and _nodes(workflow, "CreateVideo")


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_note_says_which_files_go_where_and_what_to_try(path, object_info):
    workflow = wt.load(path)
    note = wt.note_text(workflow)
    assert note, "no Note / MarkdownNote node"
    files = wt.model_files(workflow, object_info)
    assert files, "no model files"
    for name, kind in files.items():
        assert name in note, f"the note does not name {name}"
        assert f"{FOLDERS[kind]}/" in note, f"the note does not say {name} goes in models/{FOLDERS[kind]}/"
    if _nodes(workflow, "TaoCacheCalibrate"):  # the calibration workflow explains calibrating instead
        assert "profile" in note and "target_speedup" in note and "taocache_profiles" in note
        return
    assert "max_consecutive_skips" in note and "start_percent" in note
    for node in _nodes(workflow, "TaoCache"):  # the note's "as shipped" matches the node
        start = wt.named_widget_values(node, object_info["TaoCache"])["start_percent"]
        assert f"As shipped (start_percent {start}," in note


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_figure_in_the_note_names_its_source(path):
    """The rule (workflow_tools.unsourced_figures): a line of a note that holds a speed or quality figure
    (a number followed by x, dB or "speedup") also says "tiny test model" and names the run (the demo,
    the benchmark or its results file); a note that gives figures points to measuring on one's own model."""
    note = wt.note_text(wt.load(path))
    assert wt.unsourced_figures(note) == []
    if wt.FIGURE.search(note):
        assert "your own model" in note


def test_the_figure_rule_flags_figures_without_a_source():
    old = "- As shipped (start_percent 0.3, max_consecutive_skips 1): the safe setting, about 1.4x faster sampling."
    assert wt.unsourced_figures(old + "\n- Faster: max_consecutive_skips 2 (about 1.8x).") == [
        old, "- Faster: max_consecutive_skips 2 (about 1.8x)."]
    assert wt.unsourced_figures("default: 1.50x, 50.2 dB on our tiny test model") != []  # no run named
    assert wt.unsourced_figures("aggressive: 38.1 dB (`bash tools/demo.sh`)") != []  # no model named
    assert wt.unsourced_figures("TaoCache: computed 16 / skipped 14 of 30 model calls (call ratio 1.88x)") != []
    assert wt.unsourced_figures("on our tiny test model (`bash tools/demo.sh`): 1.50x, 50.2 dB") == []
    assert wt.unsourced_figures("832x480, 33 frames, 30 steps; a 2x2 space-to-depth") == []


def _benchmark_row(section: str, family: str, setting: str) -> dict:
    """One row of the "All settings" table of results/benchmark/results.md."""
    text = (wt.REPO_ROOT / "results" / "benchmark" / "results.md").read_text(encoding="utf-8")
    block = text.split(f"### {section}\n", 1)[1].split("\n### ", 1)[0]
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == [family, setting]:
            return {"ratio": cells[2], "psnr": float(cells[4]), "iou": cells[6]}
    raise AssertionError(f"no row {family} / {setting} under {section}")


def test_easycache_note_reports_the_benchmark_row_of_its_own_settings(object_info):
    """The stacking template ships the settings of the benchmark's "EasyCache early + TaoCache late"
    row "thr 0.05, K1 gated" (tools/benchmark/methods.py) and its note quotes that row, TaoCache alone
    and EasyCache alone at the template's sampler and steps (uni_pc, 30)."""
    import importlib.util
    import sys
    spec = importlib.util.spec_from_file_location("benchmark_methods", wt.REPO_ROOT / "tools" / "benchmark" / "methods.py")
    methods = sys.modules["benchmark_methods"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(methods)

    workflow = wt.load(wt.WORKFLOWS_DIR / "wan2.1_t2v_1.3B_taocache_easycache.json")
    (easycache,) = _nodes(workflow, "EasyCache")
    (taocache,) = _nodes(workflow, "TaoCache")
    (sampler,) = _nodes(workflow, "KSampler")
    kind, ec_bench = methods.core_cache("EasyCache", 0.05, start=0.0, end=methods.LATE_START)
    _, tc_bench = methods.taocache(k=1, cos=0.6, nr=1.3)
    ec = wt.named_widget_values(easycache, object_info["EasyCache"])
    tc = wt.named_widget_values(taocache, object_info["TaoCache"])
    assert ec == ec_bench
    assert {k: v for k, v in tc.items() if k in tc_bench} == {k: v for k, v in tc_bench.items() if k in tc}
    ks = wt.named_widget_values(sampler, object_info["KSampler"])
    assert (ks["sampler_name"], ks["steps"]) == ("uni_pc", 30)
    note = " ".join(wt.note_text(workflow).split())
    for family, setting in (("EasyCache early + TaoCache late", "thr 0.05, K1 gated"), ("TaoCache", "K1 gated"),
                            ("EasyCache", "thr 0.05")):
        row = _benchmark_row("uni_pc, 30 steps", family, setting)
        assert f"{row['ratio']} at {row['psnr']:.1f} dB" in note and f"IoU {row['iou']}" in note, (family, row)


def test_wan22_a14b_has_one_taocache_per_expert_on_split_samplers():
    workflow = wt.load(wt.WORKFLOWS_DIR / "wan2.2_t2v_A14B_taocache.json")
    samplers = {}
    for node in _nodes(workflow, "TaoCache"):
        (target, name), = _feeds(workflow, node)
        assert target["type"] == "KSamplerAdvanced" and name == "model"
        values = target["widgets_values"]  # add_noise, seed, control, steps, cfg, sampler, scheduler, start, end, leftover
        samplers[node["id"]] = (values[0], values[3], values[7], values[8], values[9])
    high, low = sorted(samplers.values(), key=lambda v: v[2])
    assert high == ("enable", 20, 0, 10, "enable")
    assert low == ("disable", 20, 10, 10000, "disable")
    unets = sorted(n["widgets_values"][0] for n in _nodes(workflow, "UNETLoader"))
    assert unets == ["wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
                     "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"]


def test_easycache_sits_before_taocache_with_back_to_back_windows(object_info):
    workflow = wt.load(wt.WORKFLOWS_DIR / "wan2.1_t2v_1.3B_taocache_easycache.json")
    (easycache,) = _nodes(workflow, "EasyCache")
    (taocache,) = _nodes(workflow, "TaoCache")
    assert [(t["id"], name) for t, name in _feeds(workflow, easycache)] == [(taocache["id"], "model")]
    ec = wt.named_widget_values(easycache, object_info["EasyCache"])
    tc = wt.named_widget_values(taocache, object_info["TaoCache"])
    assert ec["end_percent"] == tc["start_percent"]


def test_converter_maps_widget_values_like_the_frontend(object_info):
    """Seed widgets carry a control value, LoadImage an upload value; links win; bypassed nodes
    pass their input through and frontend-only nodes vanish."""
    workflow = {
        "nodes": [
            {"id": 1, "type": "KSampler", "mode": 0, "widgets_values": [7, "fixed", 20, 5.0, "euler", "simple", 1.0],
             "inputs": [{"name": "model", "type": "MODEL", "link": 1}], "outputs": []},
            {"id": 2, "type": "UNETLoader", "mode": 0, "widgets_values": ["a.safetensors", "default"],
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": [2]}]},
            {"id": 3, "type": "ModelSamplingSD3", "mode": 4, "widgets_values": [8.0],
             "inputs": [{"name": "model", "type": "MODEL", "link": 2}],
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}]},
            {"id": 4, "type": "LoadImage", "mode": 0, "widgets_values": ["x.png", "image"], "outputs": []},
            {"id": 5, "type": "Note", "mode": 0, "widgets_values": ["hello"]},
        ],
        "links": [[1, 3, 0, 1, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"]],
    }
    api = wt.to_api(workflow, object_info)
    assert api == {
        "1": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 20, "cfg": 5.0, "sampler_name": "euler",
                                                    "scheduler": "simple", "denoise": 1.0, "model": ["2", 0]}},
        "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "a.safetensors", "weight_dtype": "default"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
    }
    bad = json.loads(json.dumps(workflow))
    bad["nodes"][0]["widgets_values"] = [7, 20, 5.0, "euler", "simple", 1.0]  # control value missing
    bad["nodes"][1]["widgets_values"] = ["a.safetensors", "fp7"]
    problems = "\n".join(wt.check_workflow(bad, object_info))
    assert "6 widget values, the node has 7" in problems and "'fp7' is not one of" in problems


def test_browse_templates_lists_every_workflow_with_its_thumbnail(comfy_server):
    """Workflow > Browse Templates: the frontend asks /api/workflow_templates for {pack folder: template
    names}, then fetches /api/workflow_templates/<pack>/<name>.json and the same-name .jpg. ComfyUI
    0.3.75 globs custom_nodes/*/<folder>/*.json over its folder names (example_workflows, example,
    examples, workflow, workflows) and mounts each folder found as static files; the newest source
    (app/custom_node_manager.py, collect_workflow_templates and get_workflow_template_file) scans the
    same EXAMPLE_WORKFLOW_FOLDER_NAMES but serves .json files only through its route, and a second
    alias folder of one pack would add templates under suffixed names: so the pack has one such folder."""
    on_disk = sorted(p.stem for p in wt.WORKFLOWS_DIR.glob("*.json"))
    assert on_disk == sorted(EXPECTED)
    aliases = ("example_workflows", "example", "examples", "workflow", "workflows")
    assert [name for name in aliases if (wt.REPO_ROOT / name).is_dir()] == ["workflows"]
    listing = comfy_server.get("/api/workflow_templates")
    assert sorted(listing.get("taocache", [])) == on_disk
    for name in on_disk:
        served = comfy_server.get(f"/api/workflow_templates/taocache/{name}.json")
        assert served == wt.load(wt.WORKFLOWS_DIR / f"{name}.json")
        thumb = comfy_server.get(f"/api/workflow_templates/taocache/{name}.jpg", raw=True)
        assert thumb == (wt.WORKFLOWS_DIR / f"{name}.jpg").read_bytes()


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_runs_to_the_end_on_the_tiny_models(path, comfy_server, object_info, tiny_wan21_vae):
    workflow = wt.load(path)
    prompt, swapped = wt.swap_for_tiny(wt.to_api(workflow, object_info), steps=12, prefix=f"taotest/{path.stem}")
    log_mark = len(comfy_server.log_text())
    result = wt.run_collecting_events(comfy_server.url, prompt, timeout=120)
    error = result["error"] or {}
    assert result["status"] == "success", (f"{path.name} failed in node {error.get('node_id')} "
                                           f"({error.get('node_type')}): {error.get('exception_message')}\n"
                                           f"swapped: {swapped}\n{''.join(error.get('traceback', []))}")
    saved = [item for out in result["history"].get("outputs", {}).values() for item in out.get("latents", [])]
    assert saved, "no latent saved"

    # one report per TaoCache node (per expert on Wan2.2 A14B), addressed to the node's id
    reports = result["events"]["taocache.report"]
    taocache_ids = sorted(str(n["id"]) for n in _nodes(workflow, "TaoCache"))
    assert sorted(r["node"] for r in reports) == taocache_ids
    for report in reports:
        assert report["summary"].startswith(f"TaoCache: computed {report['computed']} / skipped "
                                            f"{report['skipped']} of {report['total']} model calls")
        assert report["computed"] + report["skipped"] == report["total"] == len(report["calls"]) > 0
        # KSampler runs the 12 steps; each Wan2.2 expert 10 of its 20
        assert report["steps"] == (10 if _nodes(workflow, "KSamplerAdvanced") else 12)
        assert len(report["schedule_sigmas"]) == report["steps"] + 1
    log = comfy_server.log_text()[log_mark:]
    assert log.count("TaoCache: computed") >= len(taocache_ids)
    if _nodes(workflow, "TaoCacheCalibrate"):
        assert re.search(r"TaoCache Calibrate: profile \S+ now holds \d+ run\(s\)", log)
    if _nodes(workflow, "EasyCache"):
        assert "EasyCache - skipped" in log
    if _nodes(workflow, "WanVaceToVideo"):  # kept: the tiny VAE encodes the control frames for real
        assert [e["inputs"]["vae"] for e in prompt.values() if e["class_type"] == "WanVaceToVideo"]
        assert any(e["class_type"] == "TrimVideoLatent" for e in prompt.values())
    for node in _nodes(workflow, "TaoCacheCompare"):  # both runs timed: the call ratio and the wall clock
        lines = result["history"]["outputs"][str(node["id"])]["taocache_compare"]
        assert lines[0].startswith("latent: ") and any(" (call ratio " in line for line in lines), lines
        assert any(re.match(r"wall clock: \d+\.\d\dx \(full run", line) for line in lines), lines
        assert "TaoCache Compare: latent: " in log


FIRST_TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "wan2.1_t2v_1.3B_taocache_fb84b21.json"


def test_a_workflow_saved_with_the_first_shipped_node_still_loads_and_runs(comfy_server, object_info):
    """Saved workflows store a node's widget values by position (welltop-cn/ComfyUI-TeaCache#109,
    #141 and #135 broke users' workflows by changing inputs). The first shipped template (commit
    fb84b21, ten TaoCache widget values, before plan_mode and target_error were appended) is kept
    frozen here: its values still land on the same inputs, the missing trailing ones take their
    defaults, and it runs to the end."""
    workflow = wt.load(FIRST_TEMPLATE)
    (node,) = _nodes(workflow, "TaoCache")
    assert len(node["widgets_values"]) == 10
    named = wt.named_widget_values(node, object_info["TaoCache"])
    assert list(named.items())[:10] == [
        ("start_percent", 0.3), ("end_percent", 1), ("cos_threshold", 0.6), ("norm_ratio_threshold", 1.3),
        ("max_consecutive_skips", 1), ("predictor", "fixed_point"), ("error_budget", 0), ("verbose", False),
        ("profile", "none"), ("target_speedup", 1.5)]
    prompt, swapped = wt.swap_for_tiny(wt.to_api(workflow, object_info), steps=12, prefix="taotest/first_template")
    result = wt.run_collecting_events(comfy_server.url, prompt, timeout=120)
    assert result["status"] == "success", result["error"]
    (report,) = result["events"]["taocache.report"]
    assert report["total"] == 12 and report["computed"] + report["skipped"] == 12
