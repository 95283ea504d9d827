"""The nodes' help pages (web/docs/<node id>.md) as a user opens them: select the node on the canvas and
press the selection toolbox's Info button. Frontend 1.32.9 shows the page in the node library sidebar,
the newest in the right-hand panel's Info tab; both render the markdown, with headings and the inputs
list, instead of the node's one-line description; with the interface in Chinese (Comfy.Locale zh) the
translation web/docs/<node id>/zh.md, in Japanese (ja) web/docs/<node id>/ja.md. English in every
configuration (conftest.py), the translations with the classic canvas; each on a fresh page. That the server serves the pages where the frontend asks:
tests/comfy/test_install.py.

Also the newest frontend's Parameters tab of the same right-hand panel: it lists the node's inputs, and
not the pack's result panels, which are no inputs."""
import json
import re

import pytest

import comfy_browser
import workflow_tools as wt

NODES = sorted(json.loads((wt.REPO_ROOT / "node_list.json").read_text(encoding="utf-8")))

ADD_AND_SELECT = """([type]) => {
    for (const old of [...window.app.graph._nodes]) window.app.graph.remove(old);  // one node at a time
    const n = window.LiteGraph.createNode(type);
    n.pos = [700, 300];  // clear of a sidebar the help opened for the node before
    window.app.graph.add(n);
    window.app.canvas.deselectAll && window.app.canvas.deselectAll();
    window.app.canvas.selectNode(n);
    window.app.canvas.setDirty(true, true);
    return n.id; }"""

# The rendered page: the element around the heading the page opens with, its headings, and the items
# of the list under the inputs heading with their names as code.
READ_HELP = """([title, inputsHeading]) => {
    const h1 = Array.from(document.querySelectorAll('h1')).find(h => h.textContent.trim() === title);
    if (!h1) return null;
    const root = h1.parentElement;
    const r = root.getBoundingClientRect();
    const h2 = Array.from(root.querySelectorAll('h2')).find(h => h.textContent.trim() === inputsHeading);
    const list = h2 && h2.nextElementSibling;
    return { headings: Array.from(root.querySelectorAll('h1, h2')).map(h => h.tagName + ' ' + h.textContent.trim()),
             items: list ? Array.from(list.querySelectorAll(':scope > li > code:first-child')).map(c => c.textContent) : [],
             list: list ? list.tagName : null,
             images: Array.from(root.querySelectorAll('img')).map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0})),
             text: root.textContent, shown: h1.checkVisibility() && r.width > 150 }; }"""
INPUTS_HEADING = {"en": "Inputs", "zh": "输入", "ja": "入力"}  # as tests/comfy/test_node_docs.py LOCALES


def _source_headings(node, locale):
    docs = wt.REPO_ROOT / "web" / "docs"
    text = (docs / (f"{node}/{locale}.md" if (docs / node / f"{locale}.md").is_file() else f"{node}.md")
            ).read_text(encoding="utf-8")
    return [("H1 " if h.startswith("# ") else "H2 ") + h.lstrip("# ").strip()
            for h in re.findall(r"^#{1,2} .*$", text, re.M)]


# English in every configuration; the translations with the classic canvas only: which page the frontend
# fetches and how it renders it does not depend on the node renderer (the Info button does, and English
# presses it with Vue nodes too), and each page costs about 9 s
PAGES = [(config, locale) for config in comfy_browser.ui_configs() for locale in ("en", "zh", "ja")
         if locale == "en" or not config.vue_nodes]


@pytest.mark.parametrize("ui_config, locale", PAGES, ids=[f"{c.id}-{locale}" for c, locale in PAGES],
                         indirect=["ui_config"])
def test_info_button_shows_each_nodes_help_page_rendered(browser, browser_server, object_info, ui_config, locale):
    settings = {**comfy_browser.SETTINGS, "Comfy.Locale": locale}
    try:
        _check_help_pages(browser, browser_server, object_info, ui_config, locale, settings)
    finally:  # POST /settings merges: later pages of this server must boot in English
        comfy_browser.post_settings(browser_server.url, {"Comfy.Locale": "en"})


def _check_help_pages(browser, browser_server, object_info, ui_config, locale, settings):
    with comfy_browser.open_page(browser, browser_server.url, settings=settings,
                                 vue_nodes=ui_config.vue_nodes) as frontend:
        page = frontend.page
        for node in NODES:
            title = object_info[node]["display_name"]
            page.evaluate(ADD_AND_SELECT, [node])
            button = page.locator("[data-testid='info-button']")
            button.first.wait_for(state="visible", timeout=10000)
            button.first.click()
            heading = INPUTS_HEADING[locale]
            page.wait_for_function(f"() => ({READ_HELP})({json.dumps([title, heading])}) !== null", timeout=15000)
            shown = page.evaluate(READ_HELP, [title, heading])
            assert shown["shown"], f"{node}: the help page is not visible"
            assert shown["headings"] == _source_headings(node, locale), f"{node}: {shown['headings']}"
            inputs = [*object_info[node]["input_order"].get("required", []),
                      *object_info[node]["input_order"].get("optional", [])]
            assert shown["list"] == "UL" and shown["items"] == inputs, f"{node}: {shown['items']}"
            assert "##" not in shown["text"] and "](" not in shown["text"], f"{node}: markdown shown unrendered"
            if node == "TaoCache":  # the node after a run, as the README shows it
                page.wait_for_function(f"() => ({READ_HELP})({json.dumps([title, heading])}).images.every(i => i.loaded)",
                                       timeout=10000)
                (image,) = page.evaluate(READ_HELP, [title, heading])["images"]
                assert image["src"].endswith("/docs/taocache_node.png") and image["loaded"], image
        ours = [f for f in frontend.failed if "/docs/" in f and not re.search(r"/docs/\w+/\w+\.md", f)]
        assert not ours, ours  # only the <locale>.md the frontend tries first may be missing
        assert frontend.errors() == [], "\n".join(frontend.errors())


NEWEST = [c for c in comfy_browser.ui_configs() if c.root is not None]
PANEL_TEXT = "() => Array.from(document.querySelectorAll('[data-testid=properties-panel]')).map(e => e.innerText)"


@pytest.mark.parametrize("ui_config", NEWEST, ids=[c.id for c in NEWEST], indirect=True)
def test_the_newest_frontends_parameters_panel_lists_the_inputs_and_not_our_result_panels(browser, browser_server,
                                                                                          object_info, ui_config):
    """The newest frontend's right-hand panel (Parameters tab) lists a node's widgets as its inputs; the
    result panels (web/taocache.js, web/taocache_compare.js) are no inputs, so they ask to be left out
    (hideInPanel) instead of showing there as an empty row named taocache_report."""
    with comfy_browser.open_page(browser, browser_server.url, vue_nodes=ui_config.vue_nodes) as frontend:
        page = frontend.page
        for node in ("TaoCache", "TaoCacheCompare"):
            page.evaluate(ADD_AND_SELECT, [node])
            widgets = page.evaluate("() => window.app.graph._nodes[0].widgets.map(w => w.name)")
            ours = [w for w in widgets if w.startswith("taocache_")]
            assert ours, f"{node}: no result panel widget: {widgets}"
            page.locator("[data-testid='info-button']").first.click()
            page.get_by_role("tab", name="Parameters").first.click()
            page.wait_for_function(f"() => ({PANEL_TEXT})().some(t => t.includes('Parameters'))", timeout=10000)
            (text,) = page.evaluate(PANEL_TEXT)
            inputs = [n for n in object_info[node]["input_order"].get("required", [])
                      + object_info[node]["input_order"].get("optional", []) if n in widgets]
            assert all(name in text for name in inputs), text
            assert not any(name in text for name in ours), text
        assert frontend.errors() == [], "\n".join(frontend.errors())
