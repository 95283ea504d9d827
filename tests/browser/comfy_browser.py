"""The real ComfyUI frontend in headless Debian Chromium, driven by Python Playwright.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` package in ComfyUI's python; both
come with `bash tools/comfy_runtime.sh --with-browser` (never `playwright install`: it downloads a
browser). `require_browser()` fails with that hint when either is missing.

The browser gets a fresh profile, loopback only (every other request is aborted: the frontend asks
api.comfy.org for release notes and node registry data), and before the page loads the tutorial is
marked done through /settings, else a full-screen Templates dialog blocks clicks.

Two frontends (`ui_configs()`): the runtime's own comfyui-frontend-package and the newest, which
tools/frontends.sh installs into .runtime/frontend-<version>/ for ComfyUI's --front-end-root (read in
server.py's PromptServer.__init__, newest source and 0.3.75 alike: the folder is served as it is, with
no version check). Each with the classic canvas and with Vue nodes (setting Comfy.VueNodes.Enabled).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("TAOCACHE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SETUP_HINT = "run `bash tools/comfy_runtime.sh --with-browser` (installs Debian chromium and Python playwright)"
# settings for a clean, deterministic page: no tutorial dialog, no minimap over the canvas
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}
# console noise of the 1.32 frontend itself on a machine without internet (see the runtime notes)
KNOWN_NOISE = ("Failed to load resource", "api.comfy.org", "Content Security Policy",
               "Cannot read properties of undefined (reading 'id')")
# console errors of a newer frontend on the old backend, each as the parts that must all be in it: the
# newest frontend asks for a jobs endpoint (/api/jobs) that ComfyUI 0.3.75 does not have
BACKEND_MISMATCH = (("[Jobs API]", "404"), ("JobsApiError: Failed to fetch jobs: 404",))
VUE_SETTING = "Comfy.VueNodes.Enabled"
NEW_FRONTEND = os.environ.get("TAOCACHE_NEW_FRONTEND", "1.58.1")  # the version tools/frontends.sh installs
RUNTIME = Path(os.environ.get("TAOCACHE_RUNTIME") or Path(__file__).resolve().parents[2] / ".runtime")


@dataclasses.dataclass(frozen=True)
class UIConfig:
    """One configuration of the UI tests: a frontend (root None: the runtime's own) and a renderer."""
    version: str
    root: Path | None
    vue_nodes: bool
    missing: str = ""  # why this configuration cannot run (the tests then fail with it)

    @property
    def id(self) -> str:
        return f"{self.version}-{'vue' if self.vue_nodes else 'canvas'}"

    @property
    def label(self) -> str:
        return f"frontend {self.version}, {'Vue nodes' if self.vue_nodes else 'classic canvas'}"


def runtime_frontend_version(python: str | None = None) -> str:
    """The comfyui-frontend-package version installed with the python that runs ComfyUI."""
    code = "import importlib.metadata as m; print(m.version('comfyui-frontend-package'))"
    done = subprocess.run([python or os.environ.get("COMFYUI_PYTHON") or sys.executable, "-c", code],
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


@functools.lru_cache(maxsize=None)
def ui_configs() -> tuple[UIConfig, ...]:
    """The four configurations, grouped by frontend: the runtime's own, then the newest."""
    root = RUNTIME / f"frontend-{NEW_FRONTEND}" / "comfyui_frontend_package" / "static"
    missing = "" if (root.parent.parent / ".ready").exists() and (root / "index.html").exists() else (
        f"frontend {NEW_FRONTEND} not installed in {root.parent.parent}: run `bash tools/frontends.sh`")
    own = runtime_frontend_version()
    return tuple([UIConfig(own, None, vue) for vue in (False, True)] + [
        UIConfig(NEW_FRONTEND, root, vue, missing) for vue in (False, True)])


class BrowserMissing(RuntimeError):
    pass


def require_browser():
    """The sync_playwright entry point; raises BrowserMissing (with the setup hint) if playwright or
    chromium is not installed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise BrowserMissing(f"Python playwright is not installed ({e}): {SETUP_HINT}") from None
    if not Path(CHROMIUM).exists():
        raise BrowserMissing(f"Chromium not found at {CHROMIUM}: {SETUP_HINT}")
    return sync_playwright


def post_settings(server_url: str, settings: dict | None = None):
    req = urllib.request.Request(f"{server_url}/settings", method="POST",
                                 data=json.dumps(settings or SETTINGS).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


class Frontend:
    """One page of the ComfyUI frontend. `console` holds every console message and page error."""

    def __init__(self, page, server_url: str):
        self.page = page
        self.url = server_url
        self.console: list[str] = []
        self.failed: list[str] = []  # requests that failed or got an HTTP error status
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.failure} {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"HTTP {r.status} {r.url}"))

    def errors(self, ignore=KNOWN_NOISE, mismatch=BACKEND_MISMATCH) -> list[str]:
        """Console errors and page errors, minus the frontend's own known noise and the named
        messages of a newer frontend on the old backend."""
        return [c for c in self.console if c.startswith(("error", "pageerror")) and not any(k in c for k in ignore)
                and not any(all(part in c for part in parts) for parts in mismatch)]

    def version(self) -> str:
        return self.page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ || ''")

    def vue_nodes(self) -> bool:
        return self.page.evaluate(f"() => Boolean(window.app.extensionManager.setting.get('{VUE_SETTING}'))")

    def boot(self, timeout_ms: int = 60000) -> float:
        t0 = time.perf_counter()
        self.page.goto(self.url + "/", wait_until="domcontentloaded")
        # the app object appears once the frontend has booted and read /object_info
        self.page.wait_for_function("() => window.app && window.app.graph && window.app.canvas && "
                                    "window.app.extensions && window.app.extensions.length > 0", timeout=timeout_ms)
        self.page.wait_for_timeout(800)
        for _ in range(3):  # a dialog still covering the canvas
            if self.page.locator(".p-dialog-mask").count() == 0:
                break
            self.page.keyboard.press("Escape")
            self.page.wait_for_timeout(300)
        return time.perf_counter() - t0

    def load_workflow(self, workflow: dict, name: str = "workflow.json"):
        """What opening a saved workflow file does."""
        self.page.evaluate("async ([w, name]) => { await window.app.loadGraphData(w, true, true, name); }",
                           [workflow, name])
        self.page.wait_for_timeout(300)

    def load_api_prompt(self, prompt: dict, name: str = "prompt.json"):
        """What opening an API-format file does."""
        self.page.evaluate("async ([p, name]) => { await window.app.loadApiJson(p, name); }", [prompt, name])
        self.page.wait_for_timeout(300)

    def graph_to_prompt(self) -> dict:
        """The frontend's own {workflow, output} for the graph on the canvas (what Run queues)."""
        return self.page.evaluate("async () => { const p = await window.app.graphToPrompt(); "
                                  "return JSON.parse(JSON.stringify({workflow: p.workflow, output: p.output})); }")

    def click_run(self):
        button = self.page.locator("[data-testid='queue-button']")
        if button.count() == 0:
            button = self.page.get_by_role("button", name="Run")
        button.first.click()

    def node(self, node_id, expression: str = "n => n"):
        """Evaluate `expression` (a JS function of the node) on graph node `node_id`; JSON result."""
        return self.page.evaluate(
            f"([id]) => {{ const n = window.app.graph.getNodeById(id); if (!n) return null; "
            f"const v = ({expression})(n); return v === undefined ? null : JSON.parse(JSON.stringify(v)); }}",
            [node_id])

    def focus_node(self, node_id, scale: float = 2.0, screen=(300, 110)):
        """Zoom the canvas so the node sits at `screen` (its title's top-left corner) at `scale`;
        returns the node's screen rectangle {x, y, width, height} (title included)."""
        return self.page.evaluate(
            """([id, scale, sx, sy]) => {
                const n = window.app.graph.getNodeById(id);
                const c = window.app.canvas;
                const title = window.LiteGraph.NODE_TITLE_HEIGHT;
                c.ds.scale = scale;
                c.ds.offset = [sx / scale - n.pos[0], sy / scale - (n.pos[1] - title)];
                c.setDirty(true, true);
                c.draw(true, true);
                return {x: sx, y: sy, width: n.size[0] * scale, height: (n.size[1] + title) * scale};
            }""", [node_id, scale, screen[0], screen[1]])

    def node_rect(self, node_id):
        """The node's screen rectangle {x, y, width, height}, title included: the Vue node's element
        where the Vue renderer draws it, else from the canvas transform."""
        return self.page.evaluate(
            """([id]) => {
                const el = document.querySelector(`[data-node-id="${id}"]`);
                if (el) { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; }
                const n = window.app.graph.getNodeById(id);
                const c = window.app.canvas, ds = c.ds, box = c.canvas.getBoundingClientRect();
                const title = window.LiteGraph.NODE_TITLE_HEIGHT;
                return {x: box.left + (n.pos[0] + ds.offset[0]) * ds.scale,
                        y: box.top + (n.pos[1] - title + ds.offset[1]) * ds.scale,
                        width: n.size[0] * ds.scale, height: (n.size[1] + title) * ds.scale};
            }""", [node_id])

    def fit_graph(self, area):
        """Zoom and pan so every node lies inside `area` = (x, y, width, height) in screen pixels;
        returns the graph's screen rectangle."""
        return self.page.evaluate(
            """([ax, ay, aw, ah]) => {
                const c = window.app.canvas;
                const title = window.LiteGraph.NODE_TITLE_HEIGHT;
                let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
                for (const n of window.app.graph._nodes) {
                    x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - title);
                    x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]);
                }
                const scale = Math.min(aw / (x1 - x0), ah / (y1 - y0), 1.5);
                const gw = (x1 - x0) * scale, gh = (y1 - y0) * scale;
                const sx = ax + (aw - gw) / 2, sy = ay + (ah - gh) / 2;
                c.ds.scale = scale;
                c.ds.offset = [sx / scale - x0, sy / scale - y0];
                c.setDirty(true, true);
                c.draw(true, true);
                return {x: sx, y: sy, width: gw, height: gh, scale, bounds: [x0, y0, x1, y1]};
            }""", list(area))


@contextlib.contextmanager
def launch_browser():
    """One headless Chromium (yields playwright's Browser); pages get fresh contexts from open_page."""
    sync_playwright = require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_page(browser, server_url: str, viewport=(1400, 1100), settings: dict | None = None,
              vue_nodes: bool | None = None):
    """A booted frontend page on `server_url` in a fresh browser context (a new profile: no storage
    of earlier pages); yields a Frontend. vue_nodes: the renderer setting, stored before the boot."""
    settings = dict(settings or SETTINGS)
    if vue_nodes is not None:
        settings[VUE_SETTING] = vue_nodes
    post_settings(server_url, settings)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        allowed = (server_url + "/", "data:", "blob:")
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(allowed)
                      or route.request.url == server_url else route.abort())
        frontend = Frontend(context.new_page(), server_url)
        frontend.boot()
        yield frontend
    finally:
        context.close()


@contextlib.contextmanager
def open_frontend(server_url: str, viewport=(1400, 1100), settings: dict | None = None):
    """A booted frontend page on `server_url` in a browser of its own (yields a Frontend)."""
    with launch_browser() as browser, open_page(browser, server_url, viewport, settings) as frontend:
        yield frontend
