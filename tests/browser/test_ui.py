"""What a user sees in the real ComfyUI frontend in headless Chromium, in four configurations (see
conftest.py: the runtime's frontend 1.32.9 and the newest, each with the classic canvas and with Vue
nodes): the web extension loads cleanly, the shipped workflows open as saved and queue the same prompt
the converter builds, and after pressing Run the TaoCache node shows the log's sentence, its per-step
strip in the demo's colours and, under the pointer, a step's details, without touching other nodes or
the saved widget values.

The node after a run of the "default" setting on the trained tiny model is photographed in every
configuration (taocache_node_<frontend>_<canvas|vue>.png); the README's picture (taocache_node.png,
which the TaoCache node's help page shows too) is the one of README_CONFIG. They are written to
out/screenshots/, so a test run leaves the working tree clean; with TAOCACHE_UPDATE_IMAGES=1 they
replace the committed ones in docs/images/ (the README's picture in web/docs/).
"""
import io
import os
import re
import sys
import types
from pathlib import Path

import pytest

import comfy_browser
import tiny_comfy
import workflow_tools as wt
from taocache.report import SENTENCE_PATTERN
from test_wording import LOG_LINE, readme_log_example

sys.path.insert(0, str(wt.REPO_ROOT / "tools"))
import demo  # noqa: E402  (the demo's plot colours, read from web/taocache.js)

CONFIGS = comfy_browser.ui_configs()

IMAGES = (wt.REPO_ROOT / "docs" / "images" if os.environ.get("TAOCACHE_UPDATE_IMAGES") == "1"
          else wt.REPO_ROOT / "out" / "screenshots")
IMAGES.mkdir(parents=True, exist_ok=True)
README_SCREENSHOT = (wt.REPO_ROOT / "web" / "docs" if IMAGES.parent.name == "docs" else IMAGES) / "taocache_node.png"
README_CONFIG = next(c for c in CONFIGS if c.root is not None and not c.vue_nodes)  # newest frontend, canvas
BUILD_CONFIG = CONFIGS[0]  # the runtime's frontend, classic canvas: tests/browser/build_workflows.py builds with it
TAOCACHE_INPUTS = ["start_percent", "end_percent", "cos_threshold", "norm_ratio_threshold", "max_consecutive_skips",
                   "predictor", "error_budget", "verbose"]
PANEL_WIDGET = "taocache_report"
# the demo's quality pass: its prompt, seed, sampler and size (the trained model's own)
PROMPT, SEED, STEPS, SIZE = "a red disc moving right", 42, 30, (112, 112, 13)

# The panel as the user sees it: the DOM the widget put on the page, and the node's state.
READ_PANEL = """n => { const w = (n.widgets || []).find(w => w.name === 'taocache_report');
    const root = w && w.element && w.element.querySelector('.taocache-panel');
    if (!root || root.style.display === 'none') return null;
    const cells = Array.from(root.querySelectorAll('.taocache-cell'));
    const r = root.getBoundingClientRect();
    return { sentence: root.querySelector('.taocache-sentence').textContent,
        runs: root.querySelector('.taocache-runs').textContent,
        foot: root.querySelector('.taocache-foot').textContent,
        note: root.querySelector('.taocache-note').textContent, noteTitle: root.querySelector('.taocache-note').title,
        states: cells.map(c => c.dataset.state), colours: cells.map(c => getComputedStyle(c).backgroundColor),
        shown: root.checkVisibility() && r.width > 100 && r.height > 40, rect: {x: r.x, y: r.y, width: r.width, height: r.height},
        opacity: root.style.opacity, stale: n.taocache.stale,
        widgets: n.widgets.map(w => w.name), size: [n.size[0], n.size[1]] }; }"""
CELL_RECT = """([id, step]) => { const n = window.app.graph.getNodeById(id);
    const w = n.widgets.find(w => w.name === 'taocache_report');
    const r = w.element.querySelector(`.taocache-cell[data-step="${step}"]`).getBoundingClientRect();
    return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }"""


def _hover_cell(frontend, node_id, step, tries=3) -> str:
    """The panel's foot line with the pointer over a step's cell. The node is first brought whole
    into view at scale 1 (after a report the Vue node lays itself out again, and a tall node zoomed
    in can leave its strip at the viewport's edge, where the canvas still moves under the pointer);
    the pointer is placed again from the cell's fresh position, a few times at most."""
    page = frontend.page
    foot = ""
    for _ in range(tries):
        frontend.focus_node(node_id, scale=1.0, screen=(300, 80))
        page.wait_for_timeout(400)
        cell = page.evaluate(CELL_RECT, [node_id, step])
        page.mouse.move(cell["x"] - 40, cell["y"] - 60)
        page.mouse.move(cell["x"], cell["y"], steps=4)
        page.wait_for_timeout(200)
        foot = frontend.node(node_id, READ_PANEL)["foot"]
        if foot.startswith("step "):
            break
    return foot


def _graph(object_info, **taocache_inputs):
    """The demo's graph on the trained tiny model with a TaoCache node (id 10) at the node's own
    defaults (the "default" setting), but for `taocache_inputs`."""
    required = object_info["TaoCache"]["input"]["required"]
    inputs = {name: spec[1]["default"] for name, spec in required.items() if name != "model"}
    method = types.SimpleNamespace(name="TaoCache", steps=STEPS, insert=(("TaoCache", {**inputs, **taocache_inputs}),))
    # the shapes model, trained without word positions (check_learned.model_orders_words)
    return tiny_comfy.graph(method, PROMPT, SEED, "euler", SIZE, tiny_comfy.MODEL_FILE.name, word_positions=False)


def _run_and_wait(frontend, server, node_id, timeout_ms=90000):
    """Press Run; wait for the prompt's history entry, then for this run's report to reach the node
    (the page records reports in window.__taotest_ui_reports)."""
    page = frontend.page
    before = set(server.get("/history"))
    reports = page.evaluate("() => window.__taotest_ui_reports.length")
    frontend.click_run()
    for _ in range(timeout_ms // 100):
        new = {k: v for k, v in server.get("/history").items() if k not in before}
        if new and all(v["status"].get("completed") is not None for v in new.values()):
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the run did not finish")
    page.wait_for_function(
        "([id, seen]) => { const n = window.app.graph.getNodeById(id); "
        "return window.__taotest_ui_reports.length > seen && n.taocache && !n.taocache.stale; }",
        arg=[node_id, reports], timeout=10000)
    return list(new.values())


def _rgb(colour) -> str:
    return "rgb({}, {}, {})".format(*colour)


def _screenshot(frontend, node_id, path: Path):
    """The node alone, as a small PNG (256 colours)."""
    from PIL import Image
    rect = frontend.node_rect(node_id)
    pad = 10
    png = frontend.page.screenshot(clip={"x": rect["x"] - pad, "y": rect["y"] - pad,
                                         "width": rect["width"] + 2 * pad, "height": rect["height"] + 2 * pad})
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256).save(path, optimize=True)


def test_extension_loads_in_the_real_frontend_without_console_errors(frontend, ui_config):
    names = frontend.page.evaluate("() => window.app.extensions.map(e => e.name)")
    assert "taocache.report" in names
    scripts = frontend.page.evaluate("async () => (await (await fetch('/extensions')).json())")
    assert "/extensions/taocache/taocache.js" in scripts
    assert frontend.errors() == [], "\n".join(frontend.errors())
    assert not [f for f in frontend.failed if frontend.url in f and "taocache" in f.lower()], frontend.failed


@pytest.mark.parametrize("path", wt.shipped_workflows(), ids=[p.stem for p in wt.shipped_workflows()])
def test_shipped_workflow_opens_and_queues_what_the_converter_builds(frontend, object_info, path):
    workflow = wt.load(path)
    frontend.load_workflow(workflow, path.name)
    registered = frontend.page.evaluate("(types) => types.filter(t => !window.LiteGraph.registered_node_types[t])",
                                        sorted({n["type"] for n in workflow["nodes"]}))
    assert registered == [], f"node types the frontend does not know: {registered}"
    result = frontend.graph_to_prompt()
    queued = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in result["output"].items()}
    ours = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in
            wt.to_api(workflow, object_info).items()}
    assert queued == ours
    # re-saving keeps every node's widget values (node ids compared as text: newer frontends use strings)
    saved = {str(n["id"]): n.get("widgets_values") or [] for n in result["workflow"]["nodes"]}
    assert saved == {str(n["id"]): n.get("widgets_values") or [] for n in workflow["nodes"]}
    for node in (n for n in workflow["nodes"] if n["type"] == "TaoCache"):
        widgets = frontend.node(node["id"], f"n => n.widgets.filter(w => w.name !== '{PANEL_WIDGET}')"
                                            ".map(w => [w.name, w.value])")
        assert [name for name, _ in widgets][:8] == TAOCACHE_INPUTS
        assert [value for _, value in widgets] == node["widgets_values"]
    assert frontend.errors() == [], "\n".join(frontend.errors())


@pytest.mark.parametrize("ui_config", [BUILD_CONFIG], ids=[BUILD_CONFIG.id], indirect=True)
def test_shipped_workflows_are_what_build_workflows_makes(frontend, object_info):
    """workflows/ is generated by tests/browser/build_workflows.py with the runtime's frontend on the
    classic canvas: the files and the script agree (checked there only; other frontends save other
    layout details, and the tests above open the files in them)."""
    import build_workflows
    for make in build_workflows.WORKFLOWS:
        spec = make()
        workflow, problems = build_workflows.make_workflow(frontend, spec, object_info)
        assert problems == [], "\n".join(problems)
        assert workflow == wt.load(wt.WORKFLOWS_DIR / f"{spec.name}.json"), (
            f"{spec.name}.json differs from what tests/browser/build_workflows.py makes: rebuild it")


def test_run_shows_the_logs_sentence_and_step_strip_on_the_taocache_node(frontend, browser_server, object_info,
                                                                         ui_config):
    page = frontend.page
    tao = 10
    defaults = object_info["TaoCache"]["input"]["required"]
    frontend.load_api_prompt(_graph(object_info), "taocache_tiny.json")  # the node's defaults
    # the same seed for every run (an opened API file randomizes after each run): a stable screenshot
    page.evaluate("() => window.app.graph._nodes.forEach(n => (n.widgets || []).forEach(w => { "
                  "if (w.name === 'control_after_generate') w.value = 'fixed'; }))")
    assert page.evaluate("() => window.app.graph.findNodesByType('TaoCache').length") == 1
    widgets = dict(frontend.node(tao, "n => n.widgets.map(w => [w.name, w.value])"))
    assert list(widgets)[:8] == TAOCACHE_INPUTS
    assert {name: widgets[name] for name in TAOCACHE_INPUTS} == {name: defaults[name][1]["default"]
                                                                   for name in TAOCACHE_INPUTS}
    assert frontend.node(tao, READ_PANEL) is None  # nothing before the first run
    # this test's own record of the reports (the page is shared with the other browser tests)
    page.evaluate("""() => { window.__taotest_ui_reports = [];
        if (!window.__taotest_ui_listening) { window.__taotest_ui_listening = true;
            window.comfyAPI.api.api.addEventListener('taocache.report', (e) => window.__taotest_ui_reports.push(e.detail)); } }""")

    # run 1, the node's defaults (the "default" setting): steps are skipped
    log_mark = len(browser_server.log_text())
    (entry,) = _run_and_wait(frontend, browser_server, tao)
    assert entry["status"]["status_str"] == "success"
    panel = frontend.node(tao, READ_PANEL)
    assert panel is not None and panel["shown"], f"the panel is not on the page ({ui_config.label}): {panel}"
    (report,) = page.evaluate("() => window.__taotest_ui_reports")
    assert report["node"] == str(tao) and 0 < report["skipped"] and report["total"] == STEPS
    # one sentence: the node shows the log line's sentence, in the README example's format
    sentence = panel["sentence"]
    assert SENTENCE_PATTERN.fullmatch(sentence), sentence
    assert "TaoCache: " + sentence == report["summary"]
    log_lines = re.findall(r"TaoCache: computed .*", browser_server.log_text()[log_mark:])
    assert log_lines[-1].strip() == "TaoCache: " + sentence
    assert LOG_LINE.fullmatch(readme_log_example())
    assert sentence == (f"computed {report['computed']} / skipped {report['skipped']} of {STEPS} model calls "
                        f"(call ratio {report['speedup']:.2f}x)")
    assert panel["stale"] is False and panel["opacity"] == "1" and panel["runs"] == "" and panel["note"] == ""
    assert "$$node-text-preview" not in panel["widgets"]  # the panel replaces the plain summary box
    # one colour scheme: the cells are in the demo's plot colours
    assert len(panel["states"]) == STEPS and panel["states"].count("skipped") == report["skipped"]
    assert panel["states"].count("outside") > 0 and panel["states"][-1] == "computed"
    colours = demo.cell_colours()
    assert panel["colours"] == [_rgb(colours[state]) for state in panel["states"]]

    # the picture of the node in this configuration (and the README's, in its configuration), zoomed
    # so that it reads well; the panel lies inside the node
    frontend.focus_node(tao, scale=1.75, screen=(300, 80))
    page.mouse.move(5, 5)
    page.wait_for_timeout(400)
    node = frontend.node_rect(tao)
    box = frontend.node(tao, READ_PANEL)["rect"]
    assert node["x"] <= box["x"] and box["x"] + box["width"] <= node["x"] + node["width"] + 1
    assert node["y"] <= box["y"] and box["y"] + box["height"] <= node["y"] + node["height"] + 1
    shot = IMAGES / f"taocache_node_{ui_config.version}_{'vue' if ui_config.vue_nodes else 'canvas'}.png"
    _screenshot(frontend, tao, shot)
    assert 5_000 < shot.stat().st_size < 150_000
    if ui_config == README_CONFIG:
        _screenshot(frontend, tao, README_SCREENSHOT)

    # the pointer over a skipped cell shows that step's sigma, r and c
    index = panel["states"].index("skipped")
    hover = _hover_cell(frontend, tao, index)
    assert hover.startswith(f"step {index + 1}/{STEPS} · skipped · σ "), hover
    assert re.search(r"σ \d\.\d{4} · r \d+\.\d{3} · c -?\d\.\d{3}$", hover), hover
    page.mouse.move(5, 5)
    page.wait_for_timeout(200)
    assert frontend.node(tao, READ_PANEL)["foot"] == "computedskippedoutside window"  # the legend again

    # the panel is never saved and never queued: the node keeps exactly its inputs
    result = frontend.graph_to_prompt()
    node_saved = next(n for n in result["workflow"]["nodes"] if str(n["id"]) == str(tao))
    layout = wt.widget_layout(object_info["TaoCache"])
    assert len(node_saved["widgets_values"]) == len(layout)
    assert set(result["output"][str(tao)]["inputs"]) == {"model"} | {name for name, *_ in layout}
    # no other node got a panel or a changed widget list
    others = page.evaluate("""([id]) => window.app.graph._nodes.filter(n => String(n.id) !== String(id))
        .filter(n => n.taocache || (n.widgets || []).some(w => w.name === 'taocache_report')).map(n => n.type)""",
                           [tao])
    assert others == []

    # run 2, a gate that never opens: the earlier panel is kept (dimmed) until this report; nothing
    # is skipped and the panel says why
    page.evaluate("""([id]) => { window.__taotest_stale = 'unset'; const api = window.comfyAPI.api.api;
        const probe = () => { api.removeEventListener('execution_start', probe);
            const n = window.app.graph.getNodeById(id); window.__taotest_stale = n.taocache ? n.taocache.stale : null; };
        api.addEventListener('execution_start', probe); }""", [tao])
    page.evaluate("([id]) => { window.app.graph.getNodeById(id).widgets"
                  ".find(w => w.name === 'cos_threshold').value = 1.0; }", [tao])
    (entry,) = _run_and_wait(frontend, browser_server, tao)
    assert entry["status"]["status_str"] == "success"
    assert page.evaluate("() => window.__taotest_stale") is True
    second = frontend.node(tao, READ_PANEL)
    assert second["shown"] and second["stale"] is False and second["opacity"] == "1"
    assert second["sentence"] == f"computed {STEPS} / skipped 0 of {STEPS} model calls (call ratio 1.00x)"
    assert second["note"].startswith("nothing skipped: thresholds never met (cos_threshold 1.0")
    # a note longer than the panel's lines is whole under the pointer: why, which branches, what to try
    assert second["noteTitle"] == second["note"] and "failing on" in second["note"] and "to skip anyway" in second["note"]
    assert len(second["states"]) == STEPS and "skipped" not in second["states"]
    reports = page.evaluate("() => window.__taotest_ui_reports")
    assert len(reports) == 2
    # a step the gate held back names, under the pointer, the branches that failed it: the text the
    # panel's hover shows (describeCell over stepCells, the extension's own functions, run in the page;
    # the pointer itself is exercised over a skipped cell above)
    gated = next(call for call in reports[1]["calls"] if call["held_by"])
    hover = page.evaluate("""async ([report, step]) => {
        const ui = await import('/extensions/taocache/taocache.js');
        return ui.describeCell(ui.stepCells(report)[step], report.steps); }""", [reports[1], int(gated["step"])])
    assert hover.startswith(f"step {int(gated['step']) + 1}/{STEPS} · computed · σ "), hover
    assert hover.endswith(" · gate failed on " + ", ".join(gated["held_by"])), hover

    # a prompt queued by another client (same node id, other settings) leaves this page's panel alone
    entry = browser_server.run(_graph(object_info))
    assert entry["status"]["status_str"] == "success"
    page.wait_for_timeout(300)
    after = frontend.node(tao, READ_PANEL)
    assert (after["sentence"], after["stale"]) == (second["sentence"], False)
    assert len(page.evaluate("() => window.__taotest_ui_reports")) == 2  # sent to its own client only
    assert frontend.errors() == [], "\n".join(frontend.errors())
