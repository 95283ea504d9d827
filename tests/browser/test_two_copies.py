"""The pack installed twice (custom_nodes/taocache beside an unpacked GitHub zip), as the frontend sees it:
ComfyUI serves both copies' web files, and the frontend's registerExtension throws on a name it has
registered already. web/taocache.js registers each extension once and warns for the other copy, so the
page has no error and the TaoCache node still shows its panel, with the summary's note that names both
folders (nodes/installs.py; the server side: tests/comfy/test_install.py). The newest frontend, classic
canvas: the registration does not depend on the renderer, and the runtime's frontend (1.32.9) has the
same app.extensions and throws the same way (read in its bundle; this test failed there too without
registerOnce, 2026-12-07)."""
import shutil

import pytest

import comfy_browser
import harness
import tiny_comfy
from test_ui import READ_PANEL, _graph, _run_and_wait

FOLDERS = ("taocache", "TaoCache-for-ComfyUI-main")
EXTENSIONS = ("taocache.report", "taocache.compare")
CANVAS_CONFIGS = [c for c in comfy_browser.ui_configs() if not c.vue_nodes and c.root is not None]  # the newest


@pytest.fixture(params=CANVAS_CONFIGS, ids=[c.id for c in CANVAS_CONFIGS])
def two_copies_server(request, browser_ready, tmp_path_factory):
    config = request.param
    if config.missing:
        pytest.fail(config.missing, pytrace=False)
    base = harness.make_base_dir(tmp_path_factory.mktemp("two_copies"), pack_folder=FOLDERS[0])
    harness.install_pack(base.custom_nodes_dir, folder_name=FOLDERS[1])
    shutil.copy(tiny_comfy.MODEL_FILE, base.models_dir / tiny_comfy.MODEL_FILE.name)
    tiny_comfy.install_prompt_node(base)
    args = ["--front-end-root", str(config.root)] if config.root else []
    server = harness.ComfyServer(harness.locate_comfyui(), base, extra_args=args)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OMP_NUM_THREADS", "1")  # as conftest.py's servers
            server.start()
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    yield config, server
    server.stop()


def test_two_copies_load_each_extension_once_and_the_panel_names_both_folders(browser, two_copies_server):
    config, server = two_copies_server
    served = server.get("/extensions")
    assert all(f"/extensions/{folder}/taocache.js" in served for folder in FOLDERS), served
    object_info = server.get("/object_info")
    with comfy_browser.open_page(browser, server.url, vue_nodes=False) as frontend:
        page = frontend.page
        assert frontend.version() == config.version
        registered = page.evaluate("() => window.app.extensions.map(e => e.name)")
        assert [name for name in registered if name.startswith("taocache.")].count("taocache.report") == 1
        assert sorted(name for name in registered if name.startswith("taocache.")) == sorted(EXTENSIONS)
        assert not frontend.errors(), f"console errors ({config.label}):\n" + "\n".join(frontend.errors())
        warned = [line for line in frontend.console if line.startswith("warning") and "installed twice" in line]
        assert sorted(next(n for n in EXTENSIONS if f" {n} " in line) for line in warned) == sorted(EXTENSIONS), warned

        tao = 10
        frontend.load_api_prompt(_graph(object_info), "taocache_tiny.json")
        page.evaluate("() => { window.__taotest_ui_reports = []; window.comfyAPI.api.api.addEventListener("
                      "'taocache.report', (e) => window.__taotest_ui_reports.push(e.detail)); }")
        (entry,) = _run_and_wait(frontend, server, tao)
        assert entry["status"]["status_str"] == "success"
        panel = frontend.node(tao, READ_PANEL)
        assert panel is not None and panel["shown"], panel
        note = panel["note"] + " " + panel["noteTitle"]
        assert "TaoCache is installed twice" in note and all(folder in note for folder in FOLDERS), note
        assert not frontend.errors(), "\n".join(frontend.errors())
