"""The TaoCache node inside a subgraph, in the real frontend (the four configurations of conftest.py: with
Vue nodes the panel is mounted when the user opens the subgraph). The frontend
flattens a subgraph into the prompt it queues, so the backend runs the inner node under the execution id
"<subgraph node id>:<inner id>" and reports under that id; web/taocache.js finds the node through the
subgraph (findNode) and shows the panel on the inner node, where the user sees it on opening the
subgraph. (findNode's walk through subgraphs had no test before this one.)"""
import pytest

import comfy_browser
from test_ui import READ_PANEL, _graph

CONFIGS = comfy_browser.ui_configs()

# Put the TaoCache node (id 10) into a subgraph of its own; returns the subgraph node's id.
TO_SUBGRAPH = """() => { const g = window.app.graph; const n = g.getNodeById(10);
    window.app.canvas.deselectAll && window.app.canvas.deselectAll();
    g.convertToSubgraph(new Set([n]));
    const holder = g._nodes.find(m => m.subgraph);
    return holder ? holder.id : null; }"""
INNER = "(id) => window.app.graph.getNodeById(id).subgraph._nodes.filter(n => n.comfyClass === 'TaoCache').map(n => n.id)"


@pytest.mark.parametrize("ui_config", CONFIGS, ids=[c.id for c in CONFIGS], indirect=True)
def test_a_taocache_node_inside_a_subgraph_shows_its_report_there(browser, browser_server, object_info, ui_config):
    with comfy_browser.open_page(browser, browser_server.url, vue_nodes=ui_config.vue_nodes) as frontend:
        page = frontend.page
        frontend.load_api_prompt(_graph(object_info), "taocache_subgraph.json")
        page.evaluate("() => window.app.graph._nodes.forEach(n => (n.widgets || []).forEach(w => { "
                      "if (w.name === 'control_after_generate') w.value = 'fixed'; }))")
        holder = page.evaluate(TO_SUBGRAPH)
        assert holder is not None, "no subgraph node after the conversion"
        (inner,) = page.evaluate(INNER, holder)
        queued = frontend.graph_to_prompt()["output"]
        execution_id = f"{holder}:{inner}"
        assert queued[execution_id]["class_type"] == "TaoCache", sorted(queued)  # flattened by the frontend
        page.evaluate("() => { window.__taotest_ui_reports = []; window.comfyAPI.api.api.addEventListener("
                      "'taocache.report', (e) => window.__taotest_ui_reports.push(e.detail)); }")
        # the inner node is not on the canvas the page shows: wait for its report, then read the history
        before = set(browser_server.get("/history"))
        frontend.click_run()
        page.wait_for_function("() => window.__taotest_ui_reports.length > 0", timeout=90000)
        (report,) = page.evaluate("() => window.__taotest_ui_reports")
        assert report["node"] == execution_id and report["skipped"] > 0, report
        for _ in range(300):  # the report comes when sampling ends; the prompt's entry once the graph is done
            new = [v for k, v in browser_server.get("/history").items() if k not in before]
            if new and new[0]["status"].get("completed") is not None:
                break
            page.wait_for_timeout(100)
        assert new and new[0]["status"]["status_str"] == "success", new
        # the panel is on the inner node (its data now; shown once the user opens the subgraph)
        info = page.evaluate(f"""(id) => {{ const n = window.app.graph.getNodeById(id).subgraph.getNodeById({inner});
            return n.taocache ? {{ stale: n.taocache.stale, summary: n.taocache.summary ?? null }} : null; }}""", holder)
        assert info == {"stale": False, "summary": report["summary"]}, info
        page.evaluate("(id) => { const holder = window.app.graph.getNodeById(id); "
                      "window.app.canvas.openSubgraph(holder.subgraph, holder); }", holder)
        page.wait_for_timeout(500)
        panel = page.evaluate(f"(id) => ({READ_PANEL})(window.app.graph.getNodeById(id).subgraph.getNodeById({inner}))",
                              holder)
        assert panel is not None and panel["shown"], f"no panel inside the subgraph ({ui_config.label}): {panel}"
        assert "TaoCache: " + panel["sentence"] == report["summary"]
        assert frontend.errors() == [], "\n".join(frontend.errors())
