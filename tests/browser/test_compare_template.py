"""The Compare template in the real frontend (the four configurations of conftest.py): it opens as saved,
and the prompt its Run button queues, on the tiny test models (workflow_tools.swap_for_tiny: no text
encoder or VAE exists, so the decoded-frame inputs are left out), runs from the page; afterwards the
TaoCache Compare node shows its figures, the call ratio being the one the accelerated run's TaoCache
node reported, and they stay on it after the run (web/taocache_compare.js)."""
import re

import comfy_browser
import workflow_tools as wt

TEMPLATE = wt.WORKFLOWS_DIR / "wan2.1_t2v_1.3B_taocache_compare.json"
INPUTS = ("full_latent", "accelerated_latent", "full_images", "accelerated_images")
TEXT_BOX = "$$node-text-preview"  # the frontend's progress-text box
# the box web/taocache_compare.js keeps on the node, as the page shows it
READ_BOX = """n => { const w = (n.widgets || []).find(w => w.name === 'taocache_compare_report');
    const el = w && w.element; if (!el) return null; const r = el.getBoundingClientRect();
    return { text: el.textContent, shown: el.checkVisibility() && r.width > 100 && r.height > 40,
             widgets: n.widgets.map(w => w.name) }; }"""


def _node_id(workflow, kind):
    (node,) = [n for n in workflow["nodes"] if n["type"] == kind]
    return node["id"]


def test_compare_template_opens_as_saved(frontend, object_info):
    workflow = wt.load(TEMPLATE)
    frontend.load_workflow(workflow, TEMPLATE.name)
    queued = frontend.graph_to_prompt()["output"]  # what its Run button queues
    ours = wt.to_api(workflow, object_info)
    assert ({k: (v["class_type"], v["inputs"]) for k, v in queued.items()} ==
            {k: (v["class_type"], v["inputs"]) for k, v in ours.items()})
    compare = _node_id(workflow, "TaoCacheCompare")
    assert set(queued[str(compare)]["inputs"]) == set(INPUTS)  # both latents and both decoded videos
    assert frontend.errors() == [], "\n".join(frontend.errors())


def _run(frontend, server, timeout_s=120):
    """Press Run; the prompt's /history entry once it finished."""
    page = frontend.page
    before = set(server.get("/history"))
    frontend.click_run()
    for _ in range(timeout_s * 10):
        new = {k: v for k, v in server.get("/history").items() if k not in before}
        if new and all(v["status"].get("completed") is not None for v in new.values()):
            (entry,) = new.values()
            return entry
        page.wait_for_timeout(100)
    raise AssertionError("the run did not finish")


def test_compare_template_runs_and_keeps_its_figures_on_the_node(browser, browser_server, object_info, ui_config):
    """The template's prompt on the tiny models, opened as an API file in a fresh page (frontend 1.32's
    Vue renderer mounts no DOM widget of a graph opened after another graph with the same node ids)."""
    tiny, _ = wt.swap_for_tiny(wt.to_api(wt.load(TEMPLATE), object_info), steps=12,
                               prefix=f"taotest/compare_{ui_config.id}")
    with comfy_browser.open_page(browser, browser_server.url, vue_nodes=ui_config.vue_nodes) as frontend:
        page = frontend.page
        frontend.load_api_prompt(tiny, "compare_tiny.json")
        # the ids on the canvas (a newer frontend numbers an opened API file afresh); the accelerated
        # run's TaoCache node is the one that may skip
        compare = page.evaluate("() => window.app.graph.findNodesByType('TaoCacheCompare').map(n => n.id)")
        fast_tao = page.evaluate("() => window.app.graph.findNodesByType('TaoCache').filter(n => n.widgets"
                                 ".find(w => w.name === 'max_consecutive_skips').value > 0).map(n => n.id)")
        assert len(compare) == 1 and len(fast_tao) == 1, (compare, fast_tao)
        compare, fast_tao = compare[0], fast_tao[0]
        page.evaluate("""() => { window.__taotest_reports = []; window.comfyAPI.api.api.addEventListener(
            'taocache.report', (e) => window.__taotest_reports.push(e.detail)); }""")
        entry = _run(frontend, browser_server)
        assert entry["status"]["status_str"] == "success", entry["status"]
        try:
            page.wait_for_function(f"([id]) => {{ const v = ({READ_BOX})(window.app.graph.getNodeById(id)); "
                                   f"return v && v.text.includes('wall clock'); }}", arg=[compare], timeout=10000)
        except Exception:
            raise AssertionError(f"no Compare text on the node ({ui_config.label}): "
                                 f"{frontend.node(compare, READ_BOX)}") from None
        # the run is over (a newer frontend has cleared its progress-text box by now): the text stays
        page.wait_for_timeout(500)
        frontend.focus_node(compare, scale=1.0)
        page.wait_for_timeout(300)
        box = frontend.node(compare, READ_BOX)
        assert box["shown"], f"the Compare text is not shown on the page ({ui_config.label}): {box}"
        assert TEXT_BOX not in box["widgets"]  # shown once
        text = box["text"]
        assert text == "\n".join(entry["outputs"][str(compare)]["taocache_compare"])
        assert re.match(r"latent: (identical|relative error [\d.e+-]+, PSNR [\d.]+ dB)", text), text
        (report,) = [r for r in page.evaluate("() => window.__taotest_reports") if r["node"] == str(fast_tao)]
        assert (f"model calls: {report['computed']} of {report['total']} computed "
                f"(call ratio {report['speedup']:.2f}x)") in text
        assert re.search(r"wall clock: [\d.]+x \(full run [\d.]+ s, accelerated [\d.]+ s; sampling only", text), text
        assert frontend.errors() == [], "\n".join(frontend.errors())
