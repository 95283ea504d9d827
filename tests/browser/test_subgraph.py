"""The TaoCache node inside a subgraph, in the real frontend (the four configurations of conftest.py: with
Vue nodes the panel is mounted when the user opens the subgraph). The frontend
flattens a subgraph into the prompt it queues, so the backend runs the inner node under the execution id
"<subgraph node id>:<inner id>" and reports under that id; web/taocache.js finds the node through the
subgraph (findNode) and shows the panel on the inner node, where the user sees it on opening the
subgraph. (findNode's walk through subgraphs had no test before this one.)"""
import pytest

import comfy_browser
import workflow_tools as wt
from test_compare_template import READ_BOX, TEMPLATE, _run
from test_ui import READ_PANEL, _graph

CONFIGS = comfy_browser.ui_configs()

# Put a node (by id) into a subgraph of its own; returns the subgraph node's id.
TO_SUBGRAPH = """(id) => { const g = window.app.graph; const n = g.getNodeById(id);
    window.app.canvas.deselectAll && window.app.canvas.deselectAll();
    g.convertToSubgraph(new Set([n]));
    const holder = g._nodes.find(m => m.subgraph);
    return holder ? holder.id : null; }"""
INNER = ("([id, type]) => window.app.graph.getNodeById(id).subgraph._nodes.filter(n => n.comfyClass === type)"
         ".map(n => n.id)")
NEWEST = [c for c in comfy_browser.ui_configs() if c.root is not None]
# What double-clicking the subgraph node does: the canvas shows the subgraph.
OPEN = "(id) => { const holder = window.app.graph.getNodeById(id); window.app.canvas.openSubgraph(holder.subgraph, holder); }"


@pytest.mark.parametrize("ui_config", CONFIGS, ids=[c.id for c in CONFIGS], indirect=True)
def test_a_taocache_node_inside_a_subgraph_shows_its_report_there(browser, browser_server, object_info, ui_config):
    with comfy_browser.open_page(browser, browser_server.url, vue_nodes=ui_config.vue_nodes) as frontend:
        page = frontend.page
        frontend.load_api_prompt(_graph(object_info), "taocache_subgraph.json")
        page.evaluate("() => window.app.graph._nodes.forEach(n => (n.widgets || []).forEach(w => { "
                      "if (w.name === 'control_after_generate') w.value = 'fixed'; }))")
        holder = page.evaluate(TO_SUBGRAPH, 10)
        assert holder is not None, "no subgraph node after the conversion"
        (inner,) = page.evaluate(INNER, [holder, "TaoCache"])
        queued = frontend.graph_to_prompt()["output"]
        execution_id = f"{holder}:{inner}"
        assert queued[execution_id]["class_type"] == "TaoCache", sorted(queued)  # flattened by the frontend
        page.evaluate("() => { window.__taotest_ui_reports = []; window.comfyAPI.api.api.addEventListener("
                      "'taocache.report', (e) => window.__taotest_ui_reports.push(e.detail)); }")
        entry = _run(frontend, browser_server)
        assert entry["status"]["status_str"] == "success", entry["status"]
        page.wait_for_function("() => window.__taotest_ui_reports.length > 0", timeout=10000)
        (report,) = page.evaluate("() => window.__taotest_ui_reports")
        assert report["node"] == execution_id and report["skipped"] > 0, report
        # the panel is on the inner node (its data now; shown once the user opens the subgraph)
        info = page.evaluate(f"""(id) => {{ const n = window.app.graph.getNodeById(id).subgraph.getNodeById({inner});
            return n.taocache ? {{ stale: n.taocache.stale, summary: n.taocache.summary ?? null }} : null; }}""", holder)
        assert info == {"stale": False, "summary": report["summary"]}, info
        page.evaluate(OPEN, holder)
        try:  # drawn on the next frames; a busy machine (the suite's other worker) may take longer
            page.wait_for_function(f"(id) => {{ const p = ({READ_PANEL})(window.app.graph.getNodeById(id).subgraph"
                                   f".getNodeById({inner})); return p && p.shown; }}", arg=holder, timeout=10000)
        except Exception:
            pass  # the assertion below says what the node shows
        panel = page.evaluate(f"(id) => ({READ_PANEL})(window.app.graph.getNodeById(id).subgraph.getNodeById({inner}))",
                              holder)
        assert panel is not None and panel["shown"], f"no panel inside the subgraph ({ui_config.label}): {panel}"
        assert "TaoCache: " + panel["sentence"] == report["summary"]
        assert frontend.errors() == [], "\n".join(frontend.errors())


@pytest.mark.parametrize("ui_config", NEWEST, ids=[c.id for c in NEWEST], indirect=True)
def test_a_compare_node_inside_a_subgraph_keeps_its_figures_there(browser, browser_server, object_info, ui_config):
    """The Compare template's prompt on the tiny models (as test_compare_template.py runs it) with the
    TaoCache Compare node moved into a subgraph: its UI output reaches the inner node (the frontend
    routes "executed" by execution id), and web/taocache_compare.js shows the figures there. The newest
    frontend, both renderers: subgraphs are a feature of the frontends users run now."""
    tiny, _ = wt.swap_for_tiny(wt.to_api(wt.load(TEMPLATE), object_info), steps=12,
                               prefix=f"taotest/compare_subgraph_{ui_config.id}")
    with comfy_browser.open_page(browser, browser_server.url, vue_nodes=ui_config.vue_nodes) as frontend:
        page = frontend.page
        frontend.load_api_prompt(tiny, "compare_subgraph.json")
        (compare,) = page.evaluate("() => window.app.graph.findNodesByType('TaoCacheCompare').map(n => n.id)")
        holder = page.evaluate(TO_SUBGRAPH, compare)
        assert holder is not None, "no subgraph node after the conversion"
        (inner,) = page.evaluate(INNER, [holder, "TaoCacheCompare"])
        entry = _run(frontend, browser_server)
        assert entry["status"]["status_str"] == "success", entry["status"]
        lines = entry["outputs"][f"{holder}:{inner}"]["taocache_compare"]
        page.evaluate(OPEN, holder)
        read = f"(id) => ({READ_BOX})(window.app.graph.getNodeById(id).subgraph.getNodeById({inner}))"
        page.wait_for_function(f"(id) => {{ const v = ({read})(id); return v && v.shown; }}", arg=holder, timeout=10000)
        box = page.evaluate(read, holder)
        assert box["text"] == "\n".join(lines) and "wall clock" in box["text"], box
        assert frontend.errors() == [], "\n".join(frontend.errors())
