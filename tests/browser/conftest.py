"""Fixtures for the tests in the real ComfyUI frontend (headless Debian Chromium + Python Playwright).

Run with the runtime's python:  .runtime/venv/bin/python -m pytest tests/browser
Needs `bash tools/comfy_runtime.sh --with-browser`; without chromium or playwright the tests fail
(never skip) with that hint.

Fixtures (session-scoped):
  browser_ready    the playwright entry point, checked before any server starts
  browser_server   harness.ComfyServer on its own base directory: the tiny models, the pack installed
                   as custom_nodes/taocache (its workflows/ and web/ included), the test nodes
  object_info      that server's /object_info
  frontend         comfy_browser.Frontend: one booted page of the real frontend on that server
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "comfy"))

import comfy_browser  # noqa: E402
import harness  # noqa: E402


@pytest.fixture(scope="module")
def browser_ready():
    try:
        return comfy_browser.require_browser()
    except comfy_browser.BrowserMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def browser_server(browser_ready, tmp_path_factory):
    try:
        comfy_dir = harness.locate_comfyui()
        base = harness.make_base_dir(tmp_path_factory.mktemp("browser_base"), pack_folder="taocache")
        server = harness.ComfyServer(comfy_dir, base)
        server.start()
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def object_info(browser_server):
    return browser_server.get("/object_info")


@pytest.fixture(scope="module")
def frontend(browser_ready, browser_server):
    with comfy_browser.open_frontend(browser_server.url) as page:
        yield page
