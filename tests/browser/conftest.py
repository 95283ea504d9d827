"""Fixtures for the tests in the real ComfyUI frontend (headless Debian Chromium + Python Playwright).

Run with the runtime's python:  .runtime/venv/bin/python -m pytest tests/browser
Needs `bash tools/comfy_runtime.sh --with-browser` (which also runs tools/frontends.sh); without
chromium, playwright or the second frontend the tests fail (never skip) with that hint.

Every test of the UI runs in four configurations: two frontends, the runtime's own
comfyui-frontend-package (1.32.9, ComfyUI 0.3.75's pin) and the newest (tools/frontends.sh installs it
into .runtime/frontend-<version>/; ComfyUI serves it with --front-end-root), each with the classic
canvas and with Vue nodes (the setting Comfy.VueNodes.Enabled, "Nodes 2.0"). Kept cheap: one browser
for the session, one ComfyUI server per frontend (both configurations of a frontend share it; the
setting goes in through POST /settings before a fresh page boots), one page per configuration, the
fixtures session-scoped so that pytest runs the tests of every module grouped by configuration.

Fixtures:
  browser_ready    the playwright entry point, checked before any server starts (session)
  browser          one headless Chromium for the session
  ui_config        comfy_browser.UIConfig of this test: frontend version and folder, Vue nodes on/off
                   (a test that needs one configuration only: parametrize it indirectly)
  browser_server   harness.ComfyServer serving that frontend, on its own base directory: the tiny models,
                   the trained tiny Wan model with its TinyWanPrompt node, the pack installed as
                   custom_nodes/taocache (its workflows/ and web/ included), the test nodes
  object_info      that server's /object_info
  frontend         comfy_browser.Frontend: a booted page of that frontend in that mode
"""
import contextlib
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "comfy"), str(REPO / "tools" / "benchmark")]

import comfy_browser  # noqa: E402
import harness  # noqa: E402
import tiny_comfy  # noqa: E402  (the trained tiny model and its prompt node, as the demo uses them)

CONFIGS = comfy_browser.ui_configs()


@pytest.fixture(scope="session")
def browser_ready():
    try:
        return comfy_browser.require_browser()
    except comfy_browser.BrowserMissing as e:
        pytest.fail(str(e), pytrace=False)


# Playwright's sync API leaves an asyncio event loop marked as running on this thread while it is
# open, and the in-process ComfyUI tests that run after this folder call asyncio.run, which refuses to
# start under it. So the browser is closed as soon as the last browser test is done (below), not at
# the end of the session.
_CLOSE_EARLY: list = []


@pytest.fixture(scope="session")
def browser(browser_ready):
    stack = contextlib.ExitStack()
    chromium = stack.enter_context(comfy_browser.launch_browser())
    _CLOSE_EARLY.append(stack.close)
    yield chromium
    stack.close()  # a no-op when it was closed early


@pytest.hookimpl(trylast=True)  # after the runner's own teardown of this item
def pytest_runtest_teardown(item, nextitem):
    here = Path(__file__).resolve().parent
    later = item.session.items[item.session.items.index(item) + 1:] if item in item.session.items else []
    if not any(here in Path(str(other.fspath)).resolve().parents for other in later):
        while _CLOSE_EARLY:
            _CLOSE_EARLY.pop()()


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by session-scoped fixtures
def pytest_collection_modifyitems(items):
    """Run this folder's tests grouped by configuration across modules, the runtime's frontend first:
    pytest groups each module's own parametrizations, but an indirect one (test_help_pages' locales)
    sent the run back to a frontend it had left, and every switch starts a server and boots a page.
    Tests with no configuration (their own server) go last. The order within a configuration stays."""
    here = Path(__file__).resolve().parent
    spots = [i for i, item in enumerate(items) if here in Path(str(item.fspath)).resolve().parents]
    order = {config.id: n for n, config in enumerate(CONFIGS)}

    def config_index(item):
        config = getattr(item, "callspec", None) and item.callspec.params.get("ui_config")
        return order.get(getattr(config, "id", None), len(order))

    for spot, item in zip(spots, sorted((items[i] for i in spots), key=config_index)):
        items[spot] = item


class _Servers:
    """One ComfyUI server at a time, for the frontend the current configuration needs (the tests run
    grouped by configuration, a frontend's two configurations next to each other)."""

    def __init__(self, factory):
        self.factory = factory
        self.current = None  # (frontend version, server)

    def get(self, config):
        if self.current and self.current[0] == config.version:
            return self.current[1]
        self.close()
        try:
            comfy_dir = harness.locate_comfyui()
            base = harness.make_base_dir(self.factory.mktemp(f"browser_base_{config.version}"), pack_folder="taocache")
            shutil.copy(tiny_comfy.MODEL_FILE, base.models_dir / tiny_comfy.MODEL_FILE.name)
            tiny_comfy.install_prompt_node(base)
            args = ["--front-end-root", str(config.root)] if config.root else []
            server = harness.ComfyServer(comfy_dir, base, extra_args=args)
            # one torch thread in the server: the test graphs are tiny, and two threads on a shared
            # 2-core machine made a 30-step run of the trained model 11 s instead of 1 s (measured)
            with pytest.MonkeyPatch.context() as env:
                env.setenv("OMP_NUM_THREADS", "1")
                server.start()
        except harness.HarnessError as e:
            pytest.fail(str(e), pytrace=False)
        self.current = (config.version, server)
        return server

    def close(self):
        if self.current:
            self.current[1].stop()
            self.current = None


@pytest.fixture(scope="session")
def _servers(browser_ready, tmp_path_factory):
    servers = _Servers(tmp_path_factory)
    yield servers
    servers.close()


@pytest.fixture(scope="session", params=CONFIGS, ids=[c.id for c in CONFIGS])
def ui_config(request):
    config = request.param
    if config.missing:
        pytest.fail(config.missing, pytrace=False)
    return config


@pytest.fixture(scope="session")
def browser_server(_servers, ui_config):
    return _servers.get(ui_config)


@pytest.fixture(scope="session")
def object_info(browser_server):
    return browser_server.get("/object_info")


@pytest.fixture(scope="session")
def frontend(browser, browser_server, ui_config):
    stack = contextlib.ExitStack()
    page = stack.enter_context(comfy_browser.open_page(browser, browser_server.url, vue_nodes=ui_config.vue_nodes))
    _CLOSE_EARLY.append(stack.close)  # closed before the browser when this folder is done
    with stack:
        assert page.version() == ui_config.version, "the server serves another frontend than configured"
        assert page.vue_nodes() is ui_config.vue_nodes
        yield page
