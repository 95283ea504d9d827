"""Run graphs in a real ComfyUI (no mocks): base directory, pack install, in-process executor,
HTTP server, and API-format graph builders for the tiny test models.

Used by the fixtures in conftest.py; importable on its own (`from harness import ...`) because pytest
puts tests/comfy on sys.path (this folder deliberately has no __init__.py: a package here would be
named `comfy`, which is ComfyUI's own package).

ComfyUI is found at $COMFYUI_DIR, else <repo>/.runtime/ComfyUI (built by `bash tools/comfy_runtime.sh`).
The python that runs the HTTP server and pip is $COMFYUI_PYTHON, else the python running the tests.

ComfyUI can be imported only once per process, with one base directory: `InProcessComfy.start` is
therefore a per-process singleton. Tests that need another base directory or pack folder name use the
HTTP server (`ComfyServer`), which is a separate process.
"""
from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_NODES_FILE = REPO_ROOT / "tests" / "support" / "custom_nodes" / "taocache_test_nodes.py"
# Further test-only node modules installed next to it (taotest_hide_internals.py is not one: only the
# install tests load it, in their own base directory).
EXTRA_TEST_NODES_FILES = tuple(REPO_ROOT / "tests" / "support" / "custom_nodes" / name for name in (
    "taotest_robustness_nodes.py",
    "taotest_newest_nodes.py",  # newest-ComfyUI mechanisms: packed [video, audio] streams, multi-GPU CFG split, ar_state
    "taotest_i2v_nodes.py",  # image-to-video conditioning from a latent (WanImageToVideo, Wan22ImageToVideoLatent)
    "taotest_image_dit_nodes.py",  # tiny image DiTs (Flux, Qwen-Image, ...) built as ComfyUI's loader does
))
CALLS_ENV = "TAOTEST_CALLS_FILE"
SETUP_HINT = "run `bash tools/comfy_runtime.sh` (or set COMFYUI_DIR to a ComfyUI checkout)"



def _load_make_tiny_models():
    import importlib.util
    spec = importlib.util.spec_from_file_location("taotest_make_tiny_models", REPO_ROOT / "tools" / "make_tiny_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_tiny_models = _load_make_tiny_models()  # pure torch + safetensors

WAN21_T2V = make_tiny_models.WAN21_T2V
WAN22_TI2V_5B = make_tiny_models.WAN22_TI2V_5B
HUNYUAN_VIDEO = make_tiny_models.HUNYUAN_VIDEO


class HarnessError(RuntimeError):
    """The harness could not set up ComfyUI (missing runtime, pack install failed, server died...)."""


class PromptValidationError(AssertionError):
    """ComfyUI rejected a prompt. `error` and `node_errors` are ComfyUI's own dicts."""

    def __init__(self, error: Any, node_errors: Any):
        self.error = error
        self.node_errors = node_errors
        lines = ["ComfyUI rejected the prompt: " + _describe_error(error)]
        for node_id, info in (node_errors or {}).items():
            for err in info.get("errors", []):
                lines.append(f"  node {node_id} ({info.get('class_type')}): {_describe_error(err)}")
        super().__init__("\n".join(lines))


def _describe_error(err: Any) -> str:
    if isinstance(err, dict):
        parts = [str(err.get("message", "")), str(err.get("details", ""))]
        return " - ".join(p for p in parts if p)
    return str(err)


# --------------------------------------------------------------------------------------------------
# Locating ComfyUI and building the base directory

def locate_comfyui() -> Path:
    """ComfyUI's folder: $COMFYUI_DIR, else <repo>/.runtime/ComfyUI. Raises HarnessError if absent."""
    env = os.environ.get("COMFYUI_DIR")
    path = Path(env).expanduser().resolve() if env else REPO_ROOT / ".runtime" / "ComfyUI"
    if not (path / "main.py").is_file() or not (path / "execution.py").is_file():
        src = "COMFYUI_DIR" if env else "the project runtime"
        raise HarnessError(f"ComfyUI not found at {path} ({src}): {SETUP_HINT}")
    return path


def comfy_python() -> str:
    """The python that runs ComfyUI's server and pip: $COMFYUI_PYTHON, else this interpreter."""
    return os.environ.get("COMFYUI_PYTHON") or sys.executable


# Never copied into an installed pack (ComfyUI-Manager installs a git clone: no caches, no runtime).
_SKIP_DIRS = {".git", ".runtime", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache",
              ".ruff_cache", "node_modules", ".venv", "venv", "out"}
_SKIP_SUFFIXES = {".pyc", ".pyo", ".safetensors", ".latent", ".ckpt", ".pt", ".pth", ".bin",
                  ".mp4", ".webm", ".gif"}
_TESTS_MAX_FILE_BYTES = 1 << 20  # files under tests/ bigger than this stay behind


def _pack_files(repo_root: Path) -> list[Path]:
    """Files to install, relative to repo_root: git's view (tracked + untracked, not ignored) when
    available, else a walk; minus caches, the runtime and large test files."""
    rels: list[Path] | None = None
    if (repo_root / ".git").exists() and shutil.which("git"):
        try:
            out = subprocess.run(["git", "-C", str(repo_root), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], check=True, capture_output=True).stdout
            rels = [Path(p) for p in out.decode().split("\0") if p]
        except (subprocess.CalledProcessError, OSError):
            rels = None
    if rels is None:
        rels = []
        for dirpath, dirnames, filenames in os.walk(repo_root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for f in filenames:
                rels.append(Path(dirpath, f).relative_to(repo_root))
    keep = []
    for rel in rels:
        src = repo_root / rel
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]) or rel.suffix in _SKIP_SUFFIXES:
            continue
        if not src.is_file():  # deleted but still tracked, or a submodule
            continue
        if rel.parts[0] == "tests" and src.stat().st_size > _TESTS_MAX_FILE_BYTES:
            continue
        keep.append(rel)
    return keep


def _requirements_lines(req: Path) -> list[str]:
    if not req.is_file():
        return []
    lines = []
    for line in req.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def install_pack(custom_nodes_dir, folder_name: str = "taocache", repo_root=REPO_ROOT,
                 python: str | None = None) -> Path:
    """Install the pack the way ComfyUI-Manager does: copy the repository into
    custom_nodes_dir/folder_name (no .git, .runtime, caches or large test files), then run
    `python -m pip install -r requirements.txt` when that file has any requirement (a file of blank
    lines and comments is skipped, keeping tests offline and fast). Returns the installed folder."""
    repo_root = Path(repo_root)
    dest = Path(custom_nodes_dir) / folder_name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel in _pack_files(repo_root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / rel, target)
    req = dest / "requirements.txt"
    if _requirements_lines(req):
        cmd = [python or comfy_python(), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(req)]
        try:
            proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
        except OSError as e:
            raise HarnessError(f"pip install of the pack's requirements failed ({' '.join(cmd)}): {e}") from None
        if proc.returncode != 0:
            raise HarnessError(f"pip install of the pack's requirements failed ({' '.join(cmd)}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dest


def install_test_nodes(custom_nodes_dir) -> Path:
    """Copy the test-only node modules (TaoTestConditioning, TaoTestCountCalls; the robustness test
    nodes) into custom_nodes_dir. Returns the path of the first."""
    Path(custom_nodes_dir).mkdir(parents=True, exist_ok=True)
    dest = Path(custom_nodes_dir) / TEST_NODES_FILE.name
    shutil.copy2(TEST_NODES_FILE, dest)
    for extra in EXTRA_TEST_NODES_FILES:
        shutil.copy2(extra, Path(custom_nodes_dir) / extra.name)
    return dest


@dataclasses.dataclass
class ComfyBase:
    """A ComfyUI --base-directory prepared for tests."""
    path: Path
    models: dict[str, str]          # tiny model file name -> path
    pack_dir: Path | None           # the installed pack (None if not installed)
    test_nodes: Path

    @property
    def custom_nodes_dir(self) -> Path:
        return self.path / "custom_nodes"

    @property
    def models_dir(self) -> Path:
        return self.path / "models" / "diffusion_models"

    @property
    def output_dir(self) -> Path:
        return self.path / "output"


def make_base_dir(path, pack_folder: str | None = "taocache", repo_root=REPO_ROOT) -> ComfyBase:
    """Create a base directory: models/diffusion_models/ with the tiny models, custom_nodes/ with the
    pack (installed as `pack_folder`; None to leave it out) and the test nodes, plus input/ output/
    temp/ user/."""
    base = Path(path)
    for sub in ("input", "output", "temp", "user", "custom_nodes"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    models = make_tiny_models.write_tiny_models(base / "models" / "diffusion_models")
    pack_dir = install_pack(base / "custom_nodes", pack_folder, repo_root) if pack_folder else None
    test_nodes = install_test_nodes(base / "custom_nodes")
    return ComfyBase(path=base, models=models, pack_dir=pack_dir, test_nodes=test_nodes)


# --------------------------------------------------------------------------------------------------
# Results shared by both runners

class CallsLog:
    """The JSON-lines file TaoTestCountCalls appends to: {"calls": n, "batch_sizes": [...], ...}."""

    def __init__(self, path):
        self.path = Path(path)

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(mark)
            data = f.read().decode("utf-8")
        return [json.loads(line) for line in data.splitlines() if line.strip()]


def latent_paths_from_outputs(outputs: dict, output_dir) -> list[Path]:
    """The .latent files SaveLatent reported in a prompt's outputs (history/ui format), in node order."""
    paths = []
    for node_out in (outputs or {}).values():
        for item in (node_out or {}).get("latents", []) or []:
            if item.get("type", "output") == "output":
                paths.append(Path(output_dir) / item.get("subfolder", "") / item["filename"])
    return paths


def newest_latent(output_dir, since: float = 0.0) -> Path | None:
    files = [p for p in Path(output_dir).rglob("*.latent") if p.stat().st_mtime >= since]
    return max(files, key=lambda p: p.stat().st_mtime) if files else None


def load_latent(path):
    from safetensors.torch import load_file
    return load_file(str(path))["latent_tensor"]


@dataclasses.dataclass
class RunResult:
    """What one in-process prompt execution produced."""
    prompt_id: str
    success: bool
    outputs: dict                    # history "outputs": {node_id: ui dict}
    meta: dict                       # history "meta"
    status_messages: list            # [(event, data)] as the history's status messages
    logs: list                       # every logging.LogRecord emitted during the run
    messages: list                   # [(event, data, sid)] that reached server.send_sync
    progress_texts: list             # [(text, node_id)] sent with send_progress_text
    call_records: list               # TaoTestCountCalls records, one per sampling run
    latent_path: Path | None
    latent: Any                      # torch.Tensor [B, C, T, H, W] from the newest SaveLatent, or None
    seconds: float

    @property
    def calls(self) -> list[int]:
        """Real forward calls of the diffusion model, one entry per sampling run."""
        return [r["calls"] for r in self.call_records]

    @property
    def log_lines(self) -> list[str]:
        return [r.getMessage() for r in self.logs]

    @property
    def log_text(self) -> str:
        return "\n".join(self.log_lines)

    @property
    def error(self) -> dict | None:
        """The execution_error message (exception_message, node_id, traceback...), if any."""
        for event, data in self.status_messages:
            if event == "execution_error":
                return data
        return None

    def events(self, name) -> list:
        """data of each send_sync message with this event name."""
        return [data for event, data, _ in self.messages if event == name]

    def texts_for(self, node_id) -> list[str]:
        """Progress texts addressed to node_id."""
        return [t for t, n in self.progress_texts if str(n) == str(node_id)]

    def raise_for_status(self) -> "RunResult":
        if not self.success:
            err = self.error or {}
            raise AssertionError(f"prompt failed in node {err.get('node_id')} ({err.get('node_type')}): "
                                 f"{err.get('exception_message')}\n{''.join(err.get('traceback', []))}")
        return self


# --------------------------------------------------------------------------------------------------
# In-process executor

class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


class StubPromptServer:
    """The parts of server.PromptServer that the executor and custom nodes use, recording messages."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.sockets_metadata: dict = {}
        self.messages: list = []         # (event, data, sid)
        self.progress_texts: list = []   # (text, node_id)
        try:
            from aiohttp import web
            self.routes = web.RouteTableDef()  # nodes may register routes at import time
        except ImportError:  # pragma: no cover
            self.routes = None

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data, sid))

    def send_progress_text(self, text, node_id, sid=None):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        self.progress_texts.append((text, str(node_id)))

    def queue_updated(self):
        pass

    def reset_records(self):
        self.messages = []
        self.progress_texts = []


# ComfyUI's top-level modules and packages. The pack's own `nodes/` package (importable as `nodes` when
# the repository root is on sys.path, as pytest's pythonpath setting puts it) must not stand in for them.
_COMFY_TOP_LEVEL = ("nodes", "utils", "server", "execution", "folder_paths", "comfy", "comfy_extras",
                    "comfy_execution", "comfy_api", "comfy_config", "app", "api_server", "middleware",
                    "protocol", "latent_preview", "node_helpers", "hook_breaker_ac10a0", "comfyui_version")


def _evict_shadowing_modules(comfy_dir: str):
    """Drop already-imported modules that carry a ComfyUI top-level name but live outside comfy_dir
    (for example the pack's `nodes` package imported by a unit test), so ComfyUI's own load instead."""
    root = os.path.realpath(comfy_dir)
    for name in list(sys.modules):
        top = name.split(".")[0]
        if top not in _COMFY_TOP_LEVEL:
            continue
        mod = sys.modules[name]
        origin = getattr(mod, "__file__", None) or ""
        if origin and not os.path.realpath(origin).startswith(root + os.sep):
            logging.getLogger(__name__).warning("harness: unloading %s (%s), it shadows ComfyUI's", name, origin)
            del sys.modules[name]


class InProcessComfy:
    """ComfyUI imported into this process, the way main.py starts it, running prompts through the real
    execution.validate_prompt and execution.PromptExecutor. Use `InProcessComfy.start(...)`."""

    _instance: "InProcessComfy | None" = None

    def __init__(self, comfy_dir: Path, base: ComfyBase, cache_type_name: str):
        self.comfy_dir = Path(comfy_dir)
        self.base = base
        self.calls = CallsLog(base.path / "taotest_calls_inprocess.jsonl")
        self.server = StubPromptServer()
        self.import_seconds = 0.0
        self._cache_type_name = cache_type_name

    @classmethod
    def start(cls, comfy_dir, base: ComfyBase, cache_type: str = "NONE") -> "InProcessComfy":
        """Import ComfyUI with base.path as its base directory and load all nodes (custom ones
        included, API nodes not). A second call returns the first instance; it must use the same base."""
        if cls._instance is not None:
            if Path(cls._instance.base.path) != Path(base.path):
                raise HarnessError("ComfyUI is already imported in this process with base directory "
                                   f"{cls._instance.base.path}; use ComfyServer for another base directory")
            return cls._instance
        inst = cls(comfy_dir, base, cache_type)
        inst._boot()
        cls._instance = inst
        return inst

    def _boot(self):
        t0 = time.perf_counter()
        comfy_dir = str(self.comfy_dir)
        if comfy_dir not in sys.path:
            sys.path.insert(0, comfy_dir)
        if "folder_paths" in sys.modules:
            fp = sys.modules["folder_paths"]
            if os.path.abspath(fp.base_path) != os.path.abspath(self.base.path):
                raise HarnessError(f"folder_paths was imported before the harness (base {fp.base_path})")
        _evict_shadowing_modules(comfy_dir)
        os.environ[CALLS_ENV] = str(self.calls.path)

        import comfy.options  # noqa: F401  (args parsing stays off: parse_args([]) gives defaults)
        import comfy.cli_args
        args = comfy.cli_args.args
        args.cpu = True                               # as `--cpu`; read when model_management imports
        args.base_directory = str(self.base.path)     # read when folder_paths imports
        args.disable_api_nodes = True
        # main.py imports ComfyUI's `utils` package early; otherwise comfy/utils.py can shadow it and
        # server.py fails to import, which drops many nodes.
        import utils.extra_config  # noqa: F401
        import folder_paths
        if os.path.abspath(folder_paths.base_path) != os.path.abspath(self.base.path):
            raise HarnessError(f"ComfyUI's folder_paths uses {folder_paths.base_path}, not {self.base.path}")
        import comfy.model_management  # noqa: F401
        import comfy.utils
        import execution
        import hook_breaker_ac10a0
        import nodes
        import server

        if getattr(server.PromptServer, "instance", None) is None:
            server.PromptServer.instance = self.server
        comfy.utils.set_progress_bar_global_hook(self._progress_hook)

        root = logging.getLogger()
        old_level = root.level
        root.setLevel(min(old_level or logging.INFO, logging.INFO))
        self.init_logs = _ListHandler()
        root.addHandler(self.init_logs)
        try:
            hook_breaker_ac10a0.save_functions()
            try:
                asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
            finally:
                hook_breaker_ac10a0.restore_functions()
        finally:
            root.removeHandler(self.init_logs)
            root.setLevel(old_level)

        self._execution = execution
        self._nodes = nodes
        self.cache_type = getattr(execution.CacheType, self._cache_type_name)
        self.executor = execution.PromptExecutor(self.server, cache_type=self.cache_type,
                                                 cache_args={"lru": 0, "ram": 0})
        self.import_seconds = time.perf_counter() - t0

    def _progress_hook(self, value, total, preview_image, prompt_id=None, node_id=None):
        # what main.py's hijack_progress does, minus previews
        import comfy.model_management
        from comfy_execution.progress import get_progress_state
        from comfy_execution.utils import get_executing_context
        ctx = get_executing_context()
        if prompt_id is None and ctx is not None:
            prompt_id = ctx.prompt_id
        if node_id is None and ctx is not None:
            node_id = ctx.node_id
        comfy.model_management.throw_exception_if_processing_interrupted()
        prompt_id = prompt_id or self.server.last_prompt_id
        node_id = node_id or self.server.last_node_id
        get_progress_state().update_progress(node_id, value, total, preview_image)
        self.server.send_sync("progress", {"value": value, "max": total, "prompt_id": prompt_id, "node": node_id},
                              self.server.client_id)

    # -- public API --------------------------------------------------------------------------------
    @property
    def node_class_mappings(self) -> dict:
        return self._nodes.NODE_CLASS_MAPPINGS

    @property
    def init_log_text(self) -> str:
        """Everything logged while ComfyUI loaded its nodes (custom node import failures included)."""
        return "\n".join(r.getMessage() for r in self.init_logs.records)

    def validate(self, prompt: dict) -> list:
        """Run execution.validate_prompt; return the output node ids to execute, or raise
        PromptValidationError."""
        prompt = _as_prompt(prompt)
        valid = asyncio.run(self._execution.validate_prompt(str(uuid.uuid4()), copy.deepcopy(prompt), None))
        if not valid[0]:
            raise PromptValidationError(valid[1], valid[3])
        return valid[2]

    def run(self, prompt, *, client_id: str | None = "taotest", extra_data: dict | None = None,
            log_level: int = logging.DEBUG) -> RunResult:
        """Validate and execute an API-format prompt (dict, or a BuiltGraph). Raises
        PromptValidationError if ComfyUI rejects it; an execution failure gives success=False (see
        RunResult.error / raise_for_status). client_id set (default) makes the executor send its
        per-node messages to the stub server, where RunResult.messages records them."""
        prompt = copy.deepcopy(_as_prompt(prompt))
        prompt_id = str(uuid.uuid4())
        valid = asyncio.run(self._execution.validate_prompt(prompt_id, prompt, None))
        if not valid[0]:
            raise PromptValidationError(valid[1], valid[3])
        extra = dict(extra_data or {})
        if client_id is not None:
            extra.setdefault("client_id", client_id)

        handler = _ListHandler()
        root = logging.getLogger()
        old_level = root.level
        root.setLevel(min(old_level or log_level, log_level))
        root.addHandler(handler)
        self.server.reset_records()
        self.server.last_prompt_id = prompt_id
        calls_mark = self.calls.mark()
        t_start = time.time()
        t0 = time.perf_counter()
        try:
            self.executor.execute(prompt, prompt_id, extra, valid[2])
        finally:
            seconds = time.perf_counter() - t0
            root.removeHandler(handler)
            root.setLevel(old_level)
        history = getattr(self.executor, "history_result", None) or {}
        outputs = history.get("outputs", {})
        paths = [p for p in latent_paths_from_outputs(outputs, self.base.output_dir) if p.exists()]
        latent_path = paths[-1] if paths else newest_latent(self.base.output_dir, since=t_start - 1)
        return RunResult(
            prompt_id=prompt_id,
            success=bool(self.executor.success),
            outputs=outputs,
            meta=history.get("meta", {}),
            status_messages=list(self.executor.status_messages),
            logs=handler.records,
            messages=list(self.server.messages),
            progress_texts=list(self.server.progress_texts),
            call_records=self.calls.since(calls_mark),
            latent_path=latent_path,
            latent=load_latent(latent_path) if latent_path is not None else None,
            seconds=seconds,
        )


def load_model_report(path) -> dict:
    """Load a diffusion model file through ComfyUI's UNETLoader path (comfy.sd.load_diffusion_model)
    in this process (ComfyUI must be imported, e.g. by InProcessComfy) and describe it: detected
    config / model classes, latent format and channels, and missing / unexpected / mis-shaped keys
    compared with the instantiated module."""
    import comfy.sd
    from safetensors.torch import load_file
    patcher = comfy.sd.load_diffusion_model(str(path))
    if patcher is None:
        raise HarnessError(f"ComfyUI could not detect the model {path}")
    model = patcher.model
    module_sd = model.diffusion_model.state_dict()
    file_sd = load_file(str(path))
    return {
        "config": type(model.model_config).__name__,
        "model": type(model).__name__,
        "diffusion_model": type(model.diffusion_model).__name__,
        "latent_format": type(model.latent_format).__name__,
        "latent_channels": model.latent_format.latent_channels,
        "missing": sorted(set(module_sd) - set(file_sd)),
        "unexpected": sorted(set(file_sd) - set(module_sd)),
        "wrong_shape": sorted(k for k in set(module_sd) & set(file_sd) if module_sd[k].shape != file_sd[k].shape),
        "dtype": str(patcher.model_dtype()),
    }


# --------------------------------------------------------------------------------------------------
# HTTP server

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyHTTPError(AssertionError):
    def __init__(self, status: int, path: str, body: str):
        self.status, self.path, self.body = status, path, body
        super().__init__(f"HTTP {status} from {path}: {body[:2000]}")


class ComfyServer:
    """`python main.py --cpu ... --cache-none --disable-api-nodes` in a subprocess on a free port."""

    def __init__(self, comfy_dir, base: ComfyBase, python: str | None = None, port: int | None = None,
                 log_path=None, extra_args: Iterable[str] = ()):
        self.comfy_dir = Path(comfy_dir)
        self.base = base
        self.python = python or comfy_python()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else Path(base.path) / f"server_{self.port}.log"
        self.calls = CallsLog(Path(base.path) / f"taotest_calls_server_{self.port}.jsonl")
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.startup_seconds = 0.0
        self.last_calls: list[dict] = []     # TaoTestCountCalls records of the latest run()
        self.last_latent_path: Path | None = None

    def command(self) -> list[str]:
        return [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                "--disable-auto-launch", "--base-directory", str(self.base.path), "--cache-none",
                "--disable-api-nodes",
                # keep ComfyUI's database out of the ComfyUI tree (default: <ComfyUI>/user/comfyui.db)
                "--database-url", "sqlite:///:memory:", *self.extra_args]

    def start(self, timeout: float = 120.0) -> "ComfyServer":
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{CALLS_ENV: str(self.calls.path)})
        self._log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        # started directly (no shell), so proc.pid is python's own pid
        self.proc = subprocess.Popen(self.command(), cwd=self.comfy_dir, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._log.close()
                raise HarnessError(f"ComfyUI server exited with {self.proc.returncode} during start-up; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            try:
                self.get("/system_stats", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError, ComfyHTTPError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise HarnessError(f"ComfyUI server not up after {timeout}s; log {self.log_path}:\n"
                                       f"{self.log_tail()}")
                time.sleep(0.2)
        self.startup_seconds = time.perf_counter() - t0
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def wait_for_log(self, text: str, start: int = 0, timeout: float = 10.0) -> str:
        """The log from `start` on once it holds `text`: the server may report a prompt done (in
        /history) a moment before its own log line about it reaches the file."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_text()[start:]
            if text in log or time.monotonic() > deadline:
                return log
            time.sleep(0.05)

    def _request(self, method: str, path: str, payload=None, timeout: float = 30.0, raw: bool = False):
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise ComfyHTTPError(e.code, path, e.read().decode("utf-8", "replace")) from None
        if raw:
            return body
        return json.loads(body) if body else None

    def get(self, path: str, timeout: float = 30.0, raw: bool = False):
        """GET path; parsed JSON (raw=True: bytes). Raises ComfyHTTPError on an HTTP error status."""
        return self._request("GET", path, timeout=timeout, raw=raw)

    def post(self, path: str, json=None, timeout: float = 30.0, raw: bool = False):  # noqa: A002
        """POST a JSON body; parsed JSON response. Raises ComfyHTTPError on an HTTP error status."""
        return self._request("POST", path, payload=json, timeout=timeout, raw=raw)

    def queue(self, prompt, client_id: str | None = None) -> str:
        """POST /prompt; return the prompt id. A rejected prompt raises PromptValidationError."""
        try:
            resp = self.post("/prompt", {"prompt": _as_prompt(prompt), "client_id": client_id or str(uuid.uuid4())})
        except ComfyHTTPError as e:
            if e.status == 400:
                try:
                    body = json.loads(e.body)
                except ValueError:
                    raise e from None
                raise PromptValidationError(body.get("error"), body.get("node_errors")) from None
            raise
        return resp["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 120.0, poll: float = 0.05) -> dict:
        """Poll /history/<id> until the prompt finished; return its history entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.get(f"/history/{prompt_id}")
            if prompt_id in (h or {}):
                return h[prompt_id]
            if self.proc is not None and self.proc.poll() is not None:
                raise HarnessError(f"ComfyUI server died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(poll)
        raise HarnessError(f"prompt {prompt_id} not finished after {timeout}s; log tail:\n{self.log_tail()}")

    def run(self, prompt, timeout: float = 120.0) -> dict:
        """Queue a prompt and wait for it: the /history entry ({"status": {"status_str", "completed",
        "messages"}, "outputs": ..., "prompt": ...}). Also sets last_calls and last_latent_path."""
        mark = self.calls.mark()
        entry = self.wait(self.queue(prompt), timeout=timeout)
        self.last_calls = self.calls.since(mark)
        paths = latent_paths_from_outputs(entry.get("outputs", {}), self.base.output_dir)
        self.last_latent_path = paths[-1] if paths else None
        return entry

    def last_latent(self):
        return load_latent(self.last_latent_path) if self.last_latent_path else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------------------------------
# Graph builders (API-format prompts)

@dataclasses.dataclass
class BuiltGraph:
    """An API-format prompt plus the ids of its nodes.
    inserted: ids of the `insert` nodes, in chain order; ids: role -> node id
    (loader, sampling, count, positive, negative, latent, sampler, save)."""
    prompt: dict
    inserted: list[str]
    ids: dict[str, str]

    def __iter__(self):  # `prompt, inserted = wan_t2v_graph(...)`
        return iter((self.prompt, self.inserted))


def _as_prompt(prompt) -> dict:
    return prompt.prompt if isinstance(prompt, BuiltGraph) else prompt


def _chain_on_model_line(g: dict, source: str, insert, count_label: str) -> list[str]:
    """The `insert` nodes ([(class_type, inputs without "model"), ...], ids "10", "11", ...) chained
    on the MODEL line from node `source`, then TaoTestCountCalls (id "3"); returns the inserted ids."""
    prev = source
    inserted = []
    for i, item in enumerate(insert or []):
        class_type, inputs = item[0], dict(item[1] if len(item) > 1 and item[1] is not None else {})
        nid = str(10 + i)
        inputs["model"] = [prev, 0]
        g[nid] = {"class_type": class_type, "inputs": inputs}
        inserted.append(nid)
        prev = nid
    g["3"] = {"class_type": "TaoTestCountCalls", "inputs": {"model": [prev, 0], "label": count_label}}
    return inserted


def _video_graph(*, model: str, shift: float, steps: int, cfg: float, sampler: str, scheduler: str,
                 seed: int, insert, extras: str, width: int, height: int, length: int, text_len: int,
                 text_width: int, denoise: float, filename_prefix: str, count_label: str) -> BuiltGraph:
    ids = {"loader": "1", "sampling": "2", "count": "3", "positive": "4", "negative": "5", "latent": "6",
           "sampler": "7", "save": "8"}
    g: dict[str, dict] = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": model, "weight_dtype": "default"}},
        "2": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": shift}},
    }
    inserted = _chain_on_model_line(g, "2", insert, count_label)
    cond = {"length": text_len, "width": text_width, "extras": extras}
    g["4"] = {"class_type": "TaoTestConditioning", "inputs": {**cond, "seed": 1, "scale": 1.0}}
    g["5"] = {"class_type": "TaoTestConditioning", "inputs": {**cond, "seed": 0, "scale": 0.0}}
    g["6"] = {"class_type": "EmptyHunyuanLatentVideo",
              "inputs": {"width": width, "height": height, "length": length, "batch_size": 1}}
    g["7"] = {"class_type": "KSampler", "inputs": {
        "model": ["3", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
        "scheduler": scheduler, "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0],
        "denoise": denoise}}
    g["8"] = {"class_type": "SaveLatent", "inputs": {"samples": ["7", 0], "filename_prefix": filename_prefix}}
    return BuiltGraph(prompt=g, inserted=inserted, ids=ids)


def wan_t2v_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_T2V,
                  insert=None, shift=8.0, width=64, height=64, length=9, text_len=16, denoise=1.0,
                  filename_prefix="latents/wan21", count_label="") -> BuiltGraph:
    """Wan2.1 T2V: UNETLoader -> ModelSamplingSD3(8) -> [insert...] -> TaoTestCountCalls -> KSampler
    (positive TaoTestConditioning seed 1 scale 1, negative zeros, [1,16,4096]) with
    EmptyHunyuanLatentVideo 64x64x9 ([1,16,3,8,8]) -> SaveLatent.
    insert: [(class_type, inputs without "model"), ...] chained on the MODEL line; ids "10", "11"..."""
    return _video_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                        seed=seed, insert=insert, extras="none", width=width, height=height, length=length,
                        text_len=text_len, text_width=make_tiny_models.WAN_TEXT_DIM, denoise=denoise,
                        filename_prefix=filename_prefix, count_label=count_label)


def wan22_ti2v_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN22_TI2V_5B,
                     insert=None, shift=8.0, width=64, height=64, length=9, text_len=16, denoise=1.0,
                     filename_prefix="latents/wan22", count_label="") -> BuiltGraph:
    """Wan2.2 TI2V-5B shaped model, text-to-video: like wan_t2v_graph. The latent comes from
    EmptyHunyuanLatentVideo (16 zero channels, which KSampler widens to the model's 48 via
    comfy.sample.fix_empty_latent_channels): Wan22ImageToVideoLatent would need a Wan2.2 VAE. The
    sampled latent is [1,48,3,8,8]."""
    return _video_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                        seed=seed, insert=insert, extras="none", width=width, height=height, length=length,
                        text_len=text_len, text_width=make_tiny_models.WAN_TEXT_DIM, denoise=denoise,
                        filename_prefix=filename_prefix, count_label=count_label)


def hunyuan_video_graph(steps=20, cfg=1.0, sampler="euler", scheduler="simple", seed=42, model=HUNYUAN_VIDEO,
                        insert=None, shift=7.0, width=64, height=64, length=9, text_len=16, denoise=1.0,
                        filename_prefix="latents/hunyuan_video", count_label="") -> BuiltGraph:
    """HunyuanVideo T2V: UNETLoader -> ModelSamplingSD3(7, its default shift) -> [insert...] ->
    TaoTestCountCalls -> KSampler with TaoTestConditioning extras "hunyuan_video" (text [1,16,4096],
    pooled_output [1,768], guidance 6: HunyuanVideo is guidance-distilled, so cfg defaults to 1) and
    EmptyHunyuanLatentVideo 64x64x9 ([1,16,3,8,8]) -> SaveLatent."""
    return _video_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                        seed=seed, insert=insert, extras="hunyuan_video", width=width, height=height,
                        length=length, text_len=text_len, text_width=make_tiny_models.HUNYUAN_TEXT_DIM,
                        denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)


HUNYUAN_VIDEO_15 = make_tiny_models.HUNYUAN_VIDEO_15


def hunyuan_video_15_graph(steps=20, cfg=6.0, sampler="euler", scheduler="simple", seed=42, model=HUNYUAN_VIDEO_15,
                           insert=None, shift=7.0, width=128, height=128, length=9, text_len=16, denoise=1.0,
                           filename_prefix="latents/hunyuan_video_15", count_label="") -> BuiltGraph:
    """HunyuanVideo 1.5 T2V: UNETLoader -> ModelSamplingSD3(7) -> [insert...] -> TaoTestCountCalls ->
    KSampler with TaoTestConditioning (text width 3584, the Qwen2.5-VL encoder's, and no pooled
    output; no token mask: model_base.HunyuanVideo15 drops an all-ones mask, and this runtime's
    HunyuanVideo cannot batch cond and uncond with a partial one) and
    EmptyHunyuanVideo15Latent 128x128x9 ([1,32,3,8,8]: 16x spatial) -> SaveLatent. The model's
    concat_cond adds the empty image latent and mask channels (65 in)."""
    built = _video_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                         seed=seed, insert=insert, extras="hunyuan_video_15", width=width, height=height,
                         length=length, text_len=text_len, text_width=make_tiny_models.HUNYUAN15_TEXT_DIM, denoise=denoise,
                         filename_prefix=filename_prefix, count_label=count_label)
    built.prompt[built.ids["latent"]]["class_type"] = "EmptyHunyuanVideo15Latent"
    return built


# Image DiTs: TaoTestTinyDiTLoader builds them (ComfyUI's detection fixes their widths at the released
# sizes, so no tiny file would load through UNETLoader; the node's docstring says what it mirrors).
# family -> (TaoTestConditioning extras, text width, cfg a user's graph runs it at)
IMAGE_DITS = {
    "flux": ("hunyuan_video", 4096, 1.0),   # guidance-distilled: pooled CLIP-L 768, FluxGuidance
    "flux_fill": ("hunyuan_video", 4096, 1.0),  # 96 input channels: no masked image given, so zeros and mask 1
    "flux2": ("hunyuan_video_15", 15360, 1.0),  # no pooled text (pooled_output None); guidance 3.5 by default
    "chroma": ("hunyuan_video_15", 4096, 4.0),  # T5 only: pooled_output None, as HunyuanVideo 1.5's encoder gives
    "chroma_radiance": ("hunyuan_video_15", 4096, 4.0),  # pixel space: EmptyChromaRadianceLatentImage
    "qwen_image": ("none", 3584, 4.0),
    "z_image": ("none", 2560, 1.0),          # Z-Image Turbo runs at cfg 1
    "sd3": ("pooled", 4096, 4.5),            # pooled CLIP-L/G 2048
    "hunyuan_image": ("none", 3584, 1.0),    # guidance-distilled (guidance 6 by default), no pooled text
    "hidream": ("hidream", 4096, 5.0),       # pooled 2048 and Llama hidden states
    # video DiTs built the same way (a short clip, still an 8x8 latent grid)
    "mochi": ("ltxv", 4096, 4.5),            # T5 with its token mask, as LTXV's; no DIFFUSION_MODEL point
    "cosmos_predict2": ("none", 1024, 4.0),
    # image DiTs added later (the order above keeps the earlier families' test ids)
    "lumina2": ("none", 2304, 4.0),
    "aura_flow": ("none", 2048, 3.5),        # a 4-channel SDXL latent: EmptyLatentImage
    "omnigen2": ("token_mask", 2048, 5.0),   # its forward needs num_tokens, which comes with the token mask
    "pixart_sigma": ("none", 4096, 4.5),     # eps prediction, a 4-channel SDXL latent: EmptyLatentImage
    "hunyuan_dit": ("hunyuan_dit", 1024, 6.0),  # v-prediction, a 4-channel SDXL latent
    "cosmos1": ("none", 1024, 7.0),          # Cosmos 1.0 text to video: EDM, noise levels up to 80
    "sd15": ("none", 768, 7.0),              # not a DiT: the SD1.5 UNet (eps, 4-channel latent)
    "sdxl": ("pooled", 2048, 7.0),           # not a DiT: the SDXL UNet (pooled CLIP-G 1280, size embeddings)
}
VIDEO_DIT_LATENTS = {"mochi": "EmptyMochiLatentVideo", "cosmos_predict2": "EmptyCosmosLatentVideo",
                     "cosmos1": "EmptyCosmosLatentVideo"}
# families that need a larger image than 64x64: PixArt's position embedding divides by its base size,
# round(latent side / 64) * 64 // 2, which is 0 below a 48x48 latent
IMAGE_DIT_SIZES = {"pixart_sigma": 384}


def image_dit_graph(family: str, steps=20, cfg=None, sampler="euler", scheduler="simple", seed=42, insert=None,
                    width=None, height=None, batch_size=1, text_len=16, denoise=1.0, model_seed=0,
                    reference=False, control_end_percent=None, control_get_control="comfy", control_negative=True,
                    filename_prefix=None, count_label="") -> BuiltGraph:
    """An image DiT (IMAGE_DITS) text to image: TaoTestTinyDiTLoader -> [insert...] -> TaoTestCountCalls
    -> KSampler (positive TaoTestConditioning seed 1, negative zeros, the family's text width and
    extras; cfg the family's unless given) with EmptySD3LatentImage 64x64 ([1,16,8,8]; the size of
    IMAGE_DIT_SIZES where a family needs more, an SDXL latent where it has 4 channels) -> SaveLatent.
    A video DiT of IMAGE_DITS (VIDEO_DIT_LATENTS) samples 13 frames of 64x64 from its own empty latent.
    reference: the core ReferenceLatent node adds a seeded latent as reference_latents to both
    conditionings, as Flux Kontext and Qwen-Image-Edit graphs do (ids "reference", "reference_negative").
    control_end_percent (Flux): core ControlNetApplyAdvanced puts TaoTestTinyControlNet on both
    conditionings from the start to this fraction of the schedule, a grey EmptyImage of the image's
    size as the hint (id "control"); control_get_control "another pack" gives it a get_control of a
    custom node's own; control_negative False leaves the negative without it (as core ControlNetApply
    does).
    ids as wan_t2v_graph's, "sampling" being the loader."""
    extras, text_width, default_cfg = IMAGE_DITS[family]
    width = width or IMAGE_DIT_SIZES.get(family, 64)
    height = height or IMAGE_DIT_SIZES.get(family, 64)
    ids = {"loader": "1", "sampling": "1", "count": "3", "positive": "4", "negative": "5", "latent": "6",
           "sampler": "7", "save": "8"}
    g: dict[str, dict] = {"1": {"class_type": "TaoTestTinyDiTLoader", "inputs": {"family": family, "seed": model_seed}}}
    inserted = _chain_on_model_line(g, "1", insert, count_label)
    cond = {"length": text_len, "width": text_width, "extras": extras, "guidance": 3.5,
            "pooled_width": {"sd3": 2048, "hidream": 2048, "sdxl": 1280}.get(family, 768)}
    g["4"] = {"class_type": "TaoTestConditioning", "inputs": {**cond, "seed": 1, "scale": 1.0}}
    g["5"] = {"class_type": "TaoTestConditioning", "inputs": {**cond, "seed": 0, "scale": 0.0}}
    positive, negative = ["4", 0], ["5", 0]
    if reference:
        g["30"] = {"class_type": "TaoTestImageLatent", "inputs": {"width": width // 8, "height": height // 8, "seed": 5,
                                                                  "frame_axis": family == "qwen_image"}}
        g["31"] = {"class_type": "ReferenceLatent", "inputs": {"conditioning": positive, "latent": ["30", 0]}}
        g["32"] = {"class_type": "ReferenceLatent", "inputs": {"conditioning": negative, "latent": ["30", 0]}}
        positive, negative = ["31", 0], ["32", 0]
        ids.update(reference="31", reference_negative="32")
    if control_end_percent is not None:
        g["40"] = {"class_type": "TaoTestTinyControlNet", "inputs": {"seed": 3, "get_control": control_get_control}}
        g["41"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                         "color": 0x808080}}
        g["42"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": positive, "negative": negative, "control_net": ["40", 0], "image": ["41", 0],
            "strength": 1.0, "start_percent": 0.0, "end_percent": control_end_percent}}
        positive, negative = ["42", 0], (["42", 1] if control_negative else negative)
        ids.update(control="42")
    g["6"] = {"class_type": "EmptySD3LatentImage",
              "inputs": {"width": width, "height": height, "batch_size": batch_size}}
    if family in ("aura_flow", "pixart_sigma", "hunyuan_dit", "sd15", "sdxl"):  # a 4-channel latent
        g["6"]["class_type"] = "EmptyLatentImage"
    if family == "chroma_radiance":  # the image itself, [B, 3, H, W]
        g["6"]["class_type"] = "EmptyChromaRadianceLatentImage"
    if family == "hunyuan_image":  # 64 channels at 32x: EmptyHunyuanImageLatent, four times the size for 8x8
        g["6"] = {"class_type": "EmptyHunyuanImageLatent", "inputs": {"width": 4 * width, "height": 4 * height,
                                                                      "batch_size": batch_size}}
    if family in VIDEO_DIT_LATENTS:  # 13 frames: 3 latent frames for Mochi (6x), 2 for Cosmos (8x)
        g["6"] = {"class_type": VIDEO_DIT_LATENTS[family], "inputs": {"width": width, "height": height, "length": 13,
                                                                       "batch_size": batch_size}}
    if family == "flux2":  # 128 channels at 16x: EmptyFlux2LatentImage, twice the size for the same 8x8 grid
        g["6"] = {"class_type": "EmptyFlux2LatentImage", "inputs": {"width": 2 * width, "height": 2 * height,
                                                                    "batch_size": batch_size}}
    g["7"] = {"class_type": "KSampler", "inputs": {
        "model": ["3", 0], "seed": seed, "steps": steps, "cfg": default_cfg if cfg is None else cfg,
        "sampler_name": sampler, "scheduler": scheduler, "positive": positive, "negative": negative,
        "latent_image": ["6", 0], "denoise": denoise}}
    g["8"] = {"class_type": "SaveLatent", "inputs": {"samples": ["7", 0],
                                                    "filename_prefix": filename_prefix or f"latents/{family}"}}
    return BuiltGraph(prompt=g, inserted=inserted, ids=ids)


# family -> (graph builder, model file, latent channels)
FAMILIES = {
    "wan21": (wan_t2v_graph, WAN21_T2V, 16),
    "wan22": (wan22_ti2v_graph, WAN22_TI2V_5B, 48),
    "hunyuan_video": (hunyuan_video_graph, HUNYUAN_VIDEO, 16),
    "hunyuan_video_15": (hunyuan_video_15_graph, HUNYUAN_VIDEO_15, 32),
}


def build_graph(family: str, **kwargs) -> BuiltGraph:
    """FAMILIES[family]'s builder with kwargs (e.g. build_graph("wan22", steps=4, insert=[...]))."""
    return FAMILIES[family][0](**kwargs)


# Image-to-video graphs: the start image is a seeded latent (TaoTestStartLatent) and the conditioning
# comes from the test nodes in taotest_i2v_nodes.py that mirror WanImageToVideo and
# Wan22ImageToVideoLatent (no tiny VAE or CLIP-vision model exists).
WAN21_I2V = make_tiny_models.WAN21_I2V


def _start_latent_graph(latent_format: str, vae_scale: int, start_frames: int, start_seed: int,
                        **video) -> BuiltGraph:
    """_video_graph (Wan text width) with its empty latent replaced by TaoTestStartLatent, id "30":
    `start_frames` latent frames of the video's size / vae_scale. The caller wires node "32"."""
    built = _video_graph(extras="none", text_width=make_tiny_models.WAN_TEXT_DIM, **video)
    g, ids = built.prompt, built.ids
    del g[ids.pop("latent")]
    ids.update(start="30", i2v="32")
    g["30"] = {"class_type": "TaoTestStartLatent", "inputs": {
        "latent_format": latent_format, "frames": start_frames, "width": video["width"] // vae_scale,
        "height": video["height"] // vae_scale, "seed": start_seed}}
    return built


def wan21_i2v_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_I2V,
                    insert=None, shift=8.0, width=64, height=64, length=9, start_frames=1, start_seed=7,
                    clip_vision=True, clip_tokens=16, text_len=16, denoise=1.0,
                    filename_prefix="latents/wan21_i2v", count_label="") -> BuiltGraph:
    """Wan2.1 I2V: like wan_t2v_graph on the tiny in_dim-36 model, with TaoTestStartLatent (wan21,
    `start_frames` latent frames, seed `start_seed`) and, when clip_vision, TaoTestClipVisionOutput
    (`clip_tokens` tokens of width 1280) feeding TaoTestWanImageToVideo, whose positive, negative and
    latent ([1,16,3,8,8] at 64x64x9) feed the KSampler. Extra ids: "start", "clip_vision" (when
    used), "i2v"."""
    built = _start_latent_graph(
        "wan21", 8, start_frames, start_seed, model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler,
        scheduler=scheduler, seed=seed, insert=insert, width=width, height=height, length=length,
        text_len=text_len, denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    g["32"] = {"class_type": "TaoTestWanImageToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "start_latent": ["30", 0],
        "width": width, "height": height, "length": length, "batch_size": 1}}
    if clip_vision:
        ids["clip_vision"] = "31"
        g["31"] = {"class_type": "TaoTestClipVisionOutput", "inputs": {"seed": start_seed, "tokens": clip_tokens}}
        g["32"]["inputs"]["clip_vision_output"] = ["31", 0]
    g[ids["sampler"]]["inputs"].update(positive=["32", 0], negative=["32", 1], latent_image=["32", 2])
    return built


def wan22_ti2v_i2v_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN22_TI2V_5B,
                         insert=None, shift=8.0, width=128, height=128, length=9, start_frames=1, start_seed=7,
                         text_len=16, denoise=1.0, filename_prefix="latents/wan22_i2v",
                         count_label="") -> BuiltGraph:
    """Wan2.2 TI2V-5B with a start image: like wan22_ti2v_graph, the latent from TaoTestStartLatent
    (wan22, `start_frames` latent frames, seed `start_seed`) through TaoTestWan22ImageToVideoLatent
    (latent with the start frames written in and a noise_mask; 128x128x9 -> [1,48,3,8,8], the 5B
    VAE being 16x spatially). Extra ids: "start", "i2v"."""
    built = _start_latent_graph(
        "wan22", 16, start_frames, start_seed, model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler,
        scheduler=scheduler, seed=seed, insert=insert, width=width, height=height, length=length,
        text_len=text_len, denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    built.prompt["32"] = {"class_type": "TaoTestWan22ImageToVideoLatent", "inputs": {
        "start_latent": ["30", 0], "width": width, "height": height, "length": length, "batch_size": 1}}
    built.prompt[built.ids["sampler"]]["inputs"]["latent_image"] = ["32", 0]
    return built


# Wan2.1 VACE: the real WanVaceToVideo node, with a tiny Wan2.1 VAE (random weights) for its encodes.
WAN21_VACE = make_tiny_models.WAN21_VACE
TINY_WAN21_VAE = "tiny_wan21_vae.safetensors"


@functools.lru_cache(maxsize=1)
def _image_dit_nodes():
    """The test node module taotest_image_dit_nodes.py (it imports ComfyUI), loaded once."""
    import importlib.util

    source = REPO_ROOT / "tests" / "support" / "custom_nodes" / "taotest_image_dit_nodes.py"
    spec = importlib.util.spec_from_file_location("taotest_image_dit_nodes_for_harness", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_random_module(module, path: Path, seed: int = 0) -> Path:
    """Save a runtime module's state dict with seeded random weights (taotest_image_dit_nodes.py
    random_weights: norm scales ("gamma"), layer-mixing weights ("weights") and one-dimensional weights
    1, biases 0, every other tensor N(0, 1 / fan-in)). Needs ComfyUI importable (the test node file
    imports it)."""
    import safetensors.torch

    state = _image_dit_nodes().random_weights(module, seed, ones=("gamma", "weights"))
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(state, str(path), metadata={"taotest": "random tiny weights, seeded"})
    return path


def write_tiny_wan21_vae(comfy_base: ComfyBase, dim: int = 8, seed: int = 0) -> Path:
    """Write <base>/models/vae/tiny_wan21_vae.safetensors: the runtime's own Wan2.1 VAE module
    (comfy.ldm.wan.vae.WanVAE, the config comfy.sd.VAE builds for a Wan2.1 VAE state dict, which takes
    its width from decoder.head.0.gamma) at width `dim`, with write_random_module's weights. Needs
    ComfyUI imported (the in-process runtime). Encodes 9 frames of 64x64 in a fraction of a second;
    its latents mean nothing, which a test of wiring does not need."""
    import comfy.ldm.wan.vae

    module = comfy.ldm.wan.vae.WanVAE(dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                      temperal_downsample=[False, True, True], dropout=0.0)
    return write_random_module(module, comfy_base.path / "models" / "vae" / TINY_WAN21_VAE, seed)


def _encoding_graph(**video) -> BuiltGraph:
    """_video_graph (Wan text width, no conditioning extras) without its empty latent and with a
    VAELoader "40" of write_tiny_wan21_vae's file: for graphs whose core conditioning node encodes
    images with the VAE and makes the latent. The caller wires the latent. Extra id: "vae"."""
    built = _video_graph(extras="none", text_width=make_tiny_models.WAN_TEXT_DIM, **video)
    del built.prompt[built.ids.pop("latent")]
    built.ids["vae"] = "40"
    built.prompt["40"] = {"class_type": "VAELoader", "inputs": {"vae_name": TINY_WAN21_VAE}}
    return built


def cosmos_predict2_i2v_graph(steps=20, cfg=None, seed=42, insert=None, start_color=0x3060C0,
                              filename_prefix="latents/cosmos_predict2_i2v") -> BuiltGraph:
    """Cosmos Predict2 image to video: image_dit_graph's Cosmos Predict2 graph on the 17-channel I2V
    network, its latent from the core CosmosPredict2ImageToVideoLatent node (VAELoader "40" with
    write_tiny_wan21_vae's file; the start image a coloured EmptyImage "41"): 64x64x13 -> [1,16,4,8,8],
    the start frame written in, a noise_mask that keeps it, and CosmosPredict2.process_timestep gives
    each latent frame its own timestep (t = 0 for the kept one). Extra ids: "vae", "start", "i2v"."""
    built = image_dit_graph("cosmos_predict2", steps=steps, cfg=cfg, seed=seed, insert=insert,
                            filename_prefix=filename_prefix)
    g = built.prompt
    g[built.ids["loader"]]["inputs"]["family"] = "cosmos_predict2_i2v"
    g["40"] = {"class_type": "VAELoader", "inputs": {"vae_name": TINY_WAN21_VAE}}
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": start_color}}
    g[built.ids["latent"]] = {"class_type": "CosmosPredict2ImageToVideoLatent", "inputs": {
        "vae": ["40", 0], "width": 64, "height": 64, "length": 13, "batch_size": 1, "start_image": ["41", 0]}}
    built.ids.update(vae="40", start="41", i2v=built.ids["latent"])
    return built


HUNYUAN_VIDEO_I2V = make_tiny_models.HUNYUAN_VIDEO_I2V


def hunyuan_video_i2v_graph(steps=20, cfg=1.0, seed=42, insert=None, start_color=0x3060C0, guidance="v2 (replace)",
                            filename_prefix="latents/hunyuan_video_i2v") -> BuiltGraph:
    """HunyuanVideo image to video: hunyuan_video_graph with its positive conditioning and latent from
    the core HunyuanImageToVideo node (VAELoader "40" with write_tiny_wan21_vae's file, whose latent
    has HunyuanVideo's shape; the start image a coloured EmptyImage "41"). guidance "v2 (replace)", on
    the T2V network: the start frame written into the latent, a noise_mask that keeps it, and
    guiding_frame_index 0, which gives that frame's tokens the modulation of t = 0. "v1 (concat)", on
    the tiny 33-channel I2V network (HunyuanVideoI2V): the start frame as concatenated image and mask
    channels. 64x64x9 -> [1,16,3,8,8]. Extra ids: "vae", "start", "i2v"."""
    model = HUNYUAN_VIDEO_I2V if guidance == "v1 (concat)" else HUNYUAN_VIDEO
    built = hunyuan_video_graph(steps=steps, cfg=cfg, seed=seed, insert=insert, model=model,
                                filename_prefix=filename_prefix)
    g = built.prompt
    g["40"] = {"class_type": "VAELoader", "inputs": {"vae_name": TINY_WAN21_VAE}}
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": start_color}}
    g["42"] = {"class_type": "HunyuanImageToVideo", "inputs": {
        "positive": [built.ids["positive"], 0], "vae": ["40", 0], "width": 64, "height": 64, "length": 9,
        "batch_size": 1, "guidance_type": guidance, "start_image": ["41", 0]}}
    g[built.ids["sampler"]]["inputs"].update(positive=["42", 0], latent_image=["42", 1])
    built.ids.update(vae="40", start="41", i2v="42")
    return built


def wan21_vace_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_VACE,
                     insert=None, shift=8.0, width=64, height=64, length=9, controls=((0x000000, 1.0),),
                     reference_color=None, text_len=16, denoise=1.0, filename_prefix="latents/wan21_vace",
                     count_label="") -> BuiltGraph:
    """Wan2.1 VACE: like wan_t2v_graph on the tiny VACE model, the conditioning and latent from core
    WanVaceToVideo nodes (VAELoader with write_tiny_wan21_vae's file): one node per (color, strength)
    in `controls`, chained as a user chains them (each appends its control to the conditioning), each
    with an EmptyImage video of `length` frames in that color; with reference_color the first also
    gets a reference image (one more latent frame, cut off after sampling by TrimVideoLatent with
    the node's trim_latent). Extra ids: "vae", "vace" (the last WanVaceToVideo), "trim"."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    positive, negative = [ids["positive"], 0], [ids["negative"], 0]
    for i, (color, strength) in enumerate(controls):
        video, vace = str(41 + 3 * i), str(42 + 3 * i)
        g[video] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": length,
                                                           "color": color}}
        g[vace] = {"class_type": "WanVaceToVideo", "inputs": {
            "positive": positive, "negative": negative, "vae": ["40", 0], "width": width, "height": height,
            "length": length, "batch_size": 1, "strength": strength, "control_video": [video, 0]}}
        if i == 0 and reference_color is not None:
            g["43"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                              "color": reference_color}}
            g[vace]["inputs"]["reference_image"] = ["43", 0]
        positive, negative, ids["vace"] = [vace, 0], [vace, 1], vace
    g[ids["sampler"]]["inputs"].update(positive=positive, negative=negative, latent_image=[ids["vace"], 2])
    ids["trim"] = "60"
    g["60"] = {"class_type": "TrimVideoLatent", "inputs": {"samples": [ids["sampler"], 0],
                                                           "trim_amount": [ids["vace"], 3]}}
    g[ids["save"]]["inputs"]["samples"] = ["60", 0]
    return built


LTXV = make_tiny_models.LTXV


def ltxv_graph(steps=20, cfg=3.0, sampler="euler", scheduler="simple", seed=42, model=LTXV, insert=None,
               width=128, height=128, length=17, text_len=16, denoise=1.0, keep_top_half=False,
               filename_prefix="latents/ltxv", count_label="") -> BuiltGraph:
    """LTX-Video: UNETLoader -> ModelSamplingLTXV (its default shifts, scaled by the latent's token
    count) -> [insert...] -> TaoTestCountCalls -> KSampler, with TaoTestConditioning (T5 width 4096,
    with the token attention mask LTXV's T5 encode gives) through LTXVConditioning (frame rate 25)
    and EmptyLTXVLatentVideo 128x128x17 ([1,128,3,4,4]: 8x temporal, 32x spatial) -> SaveLatent.
    keep_top_half: a noise mask (SolidMask 1 with a SolidMask 0 pasted over the top half by
    MaskComposite, through SetLatentNoiseMask) keeps the top half of the latent, as LTXVImgToVideo's
    mask keeps the start frame: LTXV then gets one timestep per token (model_base.LTXV.process_timestep).
    Extra ids: "ltxv_conditioning", and "noise_mask" with keep_top_half."""
    built = _video_graph(model=model, shift=1.0, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                         seed=seed, insert=insert, extras="ltxv", width=width, height=height, length=length,
                         text_len=text_len, text_width=make_tiny_models.LTXV_TEXT_DIM, denoise=denoise,
                         filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    g[ids["latent"]] = {"class_type": "EmptyLTXVLatentVideo",
                        "inputs": {"width": width, "height": height, "length": length, "batch_size": 1}}
    g[ids["sampling"]] = {"class_type": "ModelSamplingLTXV", "inputs": {
        "model": [ids["loader"], 0], "max_shift": 2.05, "base_shift": 0.95, "latent": [ids["latent"], 0]}}
    ids["ltxv_conditioning"] = "33"
    g["33"] = {"class_type": "LTXVConditioning", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "frame_rate": 25.0}}
    g[ids["sampler"]]["inputs"].update(positive=["33", 0], negative=["33", 1])
    if keep_top_half:
        ids["noise_mask"] = "36"
        g["34"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": width, "height": height}}
        g["35"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": width, "height": height // 2}}
        g["37"] = {"class_type": "MaskComposite", "inputs": {"destination": ["34", 0], "source": ["35", 0],
                                                             "x": 0, "y": 0, "operation": "multiply"}}
        g["36"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": [ids["latent"], 0], "mask": ["37", 0]}}
        g[ids["sampler"]]["inputs"]["latent_image"] = ["36", 0]
    return built


WAN21_FUN_CONTROL = make_tiny_models.WAN21_FUN_CONTROL


def wan21_fun_control_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_FUN_CONTROL,
                            insert=None, shift=8.0, width=64, height=64, length=9, control_color=0x000000,
                            clip_vision=True, text_len=16, denoise=1.0, filename_prefix="latents/wan21_fun_control",
                            count_label="") -> BuiltGraph:
    """Wan2.1 Fun Control: like wan_t2v_graph on the tiny in-48 model, its conditioning and latent from
    the core WanFunControlToVideo node (VAELoader with write_tiny_wan21_vae's file) with an EmptyImage
    control video of `length` frames in `control_color` and, when clip_vision, TaoTestClipVisionOutput.
    Extra ids: "vae", "control" (the WanFunControlToVideo node)."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids["control"] = "42"
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": length,
                                                      "color": control_color}}
    g["42"] = {"class_type": "WanFunControlToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1, "control_video": ["41", 0]}}
    if clip_vision:
        g["43"] = {"class_type": "TaoTestClipVisionOutput", "inputs": {"seed": 7, "tokens": 16}}
        g["42"]["inputs"]["clip_vision_output"] = ["43", 0]
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 2])
    return built


WAN22_FUN_CONTROL = make_tiny_models.WAN22_FUN_CONTROL


def wan22_fun_control_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN22_FUN_CONTROL,
                            insert=None, shift=8.0, width=64, height=64, length=9, control_color=0x000000,
                            ref_color=0xC06030, text_len=16, denoise=1.0,
                            filename_prefix="latents/wan22_fun_control", count_label="") -> BuiltGraph:
    """Wan2.2 Fun Control: like wan_t2v_graph on the tiny in-52 model with ref_conv, its conditioning and
    latent from the core Wan22FunControlToVideo node (VAELoader with write_tiny_wan21_vae's file): an
    EmptyImage control video of `length` frames in `control_color` and an EmptyImage reference image in
    `ref_color` (None: no reference; the node then adds no reference_latents). Extra ids: "vae",
    "control" (the Wan22FunControlToVideo node). Built as wan21_fun_control_graph's graph without CLIP
    vision, the node swapped: the two nodes share their first inputs."""
    built = wan21_fun_control_graph(steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler, seed=seed, model=model,
                                    insert=insert, shift=shift, width=width, height=height, length=length,
                                    control_color=control_color, clip_vision=False, text_len=text_len,
                                    denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g = built.prompt
    g["42"]["class_type"] = "Wan22FunControlToVideo"
    if ref_color is not None:
        g["43"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                          "color": ref_color}}
        g["42"]["inputs"]["ref_image"] = ["43", 0]
    return built


def wan21_i2v_core_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_I2V,
                         insert=None, shift=8.0, width=64, height=64, length=9, start_color=0x3060C0, text_len=16,
                         denoise=1.0, filename_prefix="latents/wan21_i2v_core", count_label="") -> BuiltGraph:
    """Wan2.1 image to video with the core WanImageToVideo node itself (VAELoader with
    write_tiny_wan21_vae's file; an EmptyImage start frame in `start_color`; a TaoTestClipVisionOutput),
    on the tiny in_dim-36 I2V model: the node encodes the start frame and grey padding frames with the
    VAE (wan21_i2v_graph's TaoTestWanImageToVideo mirrors it from a latent). Extra ids: "vae", "i2v"."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids["i2v"] = "42"
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                      "color": start_color}}
    g["43"] = {"class_type": "TaoTestClipVisionOutput", "inputs": {"seed": 7, "tokens": 16}}
    g["42"] = {"class_type": "WanImageToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1, "start_image": ["41", 0],
        "clip_vision_output": ["43", 0]}}
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 2])
    return built


def straight_track(start, end, points=121):
    """One WanTrackToVideo track as the node's JSON takes it: `points` {x, y} positions (pixels) on a
    straight line from `start` to `end` (the node pads or cuts every track to 121 points, sampled at
    24 fps)."""
    (x0, y0), (x1, y1) = start, end
    return [{"x": x0 + (x1 - x0) * i / (points - 1), "y": y0 + (y1 - y0) * i / (points - 1)} for i in range(points)]


def wan21_ati_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_I2V, insert=None,
                    shift=8.0, width=64, height=64, length=9, start_color=0x3060C0, tracks=None, text_len=16,
                    denoise=1.0, filename_prefix="latents/wan21_ati", count_label="") -> BuiltGraph:
    """Wan2.1 ATI (any trajectory instruction): like wan_t2v_graph on the tiny in_dim-36 I2V model, its
    conditioning and latent from the core WanTrackToVideo node (VAELoader with write_tiny_wan21_vae's
    file; an EmptyImage start frame in `start_color`; a TaoTestClipVisionOutput). `tracks`: a list of
    tracks (straight_track), written as the node's JSON; None or [] gives the plain image-to-video
    conditioning, as the node does. Extra ids: "vae", "tracks" (the WanTrackToVideo node). Built as
    wan21_i2v_core_graph's graph, the node swapped (WanTrackToVideo takes WanImageToVideo's inputs, and
    the tracks)."""
    built = wan21_i2v_core_graph(steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler, seed=seed, model=model,
                                 insert=insert, shift=shift, width=width, height=height, length=length,
                                 start_color=start_color, text_len=text_len, denoise=denoise,
                                 filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids["tracks"] = ids.pop("i2v")
    # the start frame: a white square on `start_color` (the node moves the start frame's features along
    # each track, so a flat frame would give every track the same features)
    g["44"] = dict(g["41"])
    g["45"] = {"class_type": "EmptyImage", "inputs": {"width": width // 4, "height": height // 4, "batch_size": 1,
                                                      "color": 0xFFFFFF}}
    g["41"] = {"class_type": "ImageCompositeMasked", "inputs": {
        "destination": ["44", 0], "source": ["45", 0], "x": width * 3 // 8, "y": height * 3 // 8,
        "resize_source": False}}
    g["42"]["class_type"] = "WanTrackToVideo"
    g["42"]["inputs"].update(tracks=json.dumps(tracks or []), temperature=220.0, topk=2)
    return built


def wan21_first_last_frame_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_I2V,
                                 insert=None, shift=8.0, width=64, height=64, length=9, start_color=0x3060C0,
                                 end_color=0x000000, text_len=16, denoise=1.0,
                                 filename_prefix="latents/wan21_flf2v", count_label="") -> BuiltGraph:
    """Wan2.1 first-last-frame to video (FLF2V): like wan_t2v_graph on the tiny in_dim-36 I2V model, its
    conditioning and latent from the core WanFirstLastFrameToVideo node (VAELoader with
    write_tiny_wan21_vae's file; EmptyImage start and end frames in `start_color` and `end_color`, None
    for no such frame; a TaoTestClipVisionOutput for each frame's CLIP-vision input). WanFunInpaintToVideo
    (Wan Fun InP) calls the same node's code. Extra ids: "vae", "flf2v"."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids["flf2v"] = "42"
    g["42"] = {"class_type": "WanFirstLastFrameToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1}}
    for image, clip, color, which in (("41", "43", start_color, "start"), ("44", "45", end_color, "end")):
        if color is None:  # no such frame
            continue
        g[image] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                          "color": color}}
        g[clip] = {"class_type": "TaoTestClipVisionOutput", "inputs": {"seed": int(image), "tokens": 16}}
        g["42"]["inputs"].update({f"{which}_image": [image, 0], f"clip_vision_{which}_image": [clip, 0]})
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 2])
    return built


WAN22_S2V = "tiny_wan22_s2v.safetensors"


def write_tiny_wan22_s2v(comfy_base: ComfyBase, seed: int = 8) -> Path:
    """Write <base>/models/diffusion_models/tiny_wan22_s2v.safetensors: the runtime's own Wan2.2 S2V
    network (comfy.ldm.wan.model.WanModel_S2V) at Wan width 128, 2 blocks, with the audio settings
    ComfyUI's detection assumes for every S2V checkpoint (wav2vec2-large features, 4 audio tokens,
    AdaIN, audio injected at its fixed block list, frame-pack motion), write_random_module's weights.
    Built from the runtime's module because its many sub-networks would be long to spell out by hand;
    needs ComfyUI imported (the in-process runtime)."""
    import comfy.ldm.wan.model
    import comfy.ops

    module = comfy.ldm.wan.model.WanModel_S2V(dim=128, ffn_dim=256, num_layers=2, num_heads=1, in_dim=16, out_dim=16,
                                              operations=comfy.ops.disable_weight_init)
    return write_random_module(module, comfy_base.models_dir / WAN22_S2V, seed)


def wan22_s2v_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN22_S2V, insert=None,
                    shift=8.0, width=64, height=64, length=9, audio_seed=1, reference_color=0x808080, text_len=16,
                    denoise=1.0, filename_prefix="latents/wan22_s2v", count_label="") -> BuiltGraph:
    """Wan2.2 S2V: like wan_t2v_graph on write_tiny_wan22_s2v's model, the conditioning and latent from
    the core WanSoundImageToVideo node (VAELoader with write_tiny_wan21_vae's file) with an EmptyImage
    reference image and TaoTestAudioEncoderOutput (seed `audio_seed`, 1 s) as the audio. Extra ids:
    "vae", "s2v" (the WanSoundImageToVideo node)."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    return _audio_and_reference(built, "WanSoundImageToVideo", "s2v", "wav2vec2-large", width=width, height=height,
                                length=length, audio_seed=audio_seed, reference_color=reference_color)


def _audio_and_reference(built: BuiltGraph, node: str, role: str, encoder: str, *, width, height, length, audio_seed,
                         reference_color) -> BuiltGraph:
    """The conditioning and latent from an audio-driven Wan node (`node`, id "42", ids[role]) with an
    EmptyImage reference image (41) and TaoTestAudioEncoderOutput (43: `encoder`'s features, 1 s)."""
    g, ids = built.prompt, built.ids
    ids[role] = "42"
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                      "color": reference_color}}
    g["43"] = {"class_type": "TaoTestAudioEncoderOutput", "inputs": {"seed": audio_seed, "seconds": 1.0,
                                                                     "encoder": encoder}}
    g["42"] = {"class_type": node, "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1, "ref_image": ["41", 0], "audio_encoder_output": ["43", 0]}}
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 2])
    return built


WAN21_HUMO = "tiny_wan21_humo.safetensors"


def write_tiny_wan21_humo(comfy_base: ComfyBase, seed: int = 9) -> Path:
    """Write <base>/models/diffusion_models/tiny_wan21_humo.safetensors: the runtime's own Wan2.1 HuMo
    network (comfy.ldm.wan.model.HumoWanModel) at Wan width 128, 2 blocks, 16 input channels (the 1.7B
    layout: the reference image comes in as a latent, not as concatenated channels), with
    write_random_module's weights. Its audio projection is fixed by ComfyUI at whisper-large's
    5 x 1280 features per frame to 16 tokens of 1536 (39 M parameters, 160 MB), so the file is written
    at test time. The real UNETLoader detects it as WAN21_HuMo (audio_proj keys). Needs ComfyUI
    imported (the in-process runtime)."""
    import comfy.ldm.wan.model
    import comfy.ops

    module = comfy.ldm.wan.model.HumoWanModel(dim=128, ffn_dim=256, num_layers=2, num_heads=1, in_dim=16, out_dim=16,
                                              operations=comfy.ops.disable_weight_init)
    return write_random_module(module, comfy_base.models_dir / WAN21_HUMO, seed)


def wan21_humo_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_HUMO, insert=None,
                     shift=8.0, width=64, height=64, length=9, audio_seed=1, reference_color=0x808080, text_len=16,
                     denoise=1.0, filename_prefix="latents/wan21_humo", count_label="") -> BuiltGraph:
    """Wan2.1 HuMo: like wan22_s2v_graph on write_tiny_wan21_humo's model, the conditioning and latent
    from the core WanHuMoImageToVideo node with an EmptyImage reference image and whisper-large
    features from TaoTestAudioEncoderOutput (seed `audio_seed`, 1 s). Extra ids: "vae", "humo"."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    return _audio_and_reference(built, "WanHuMoImageToVideo", "humo", "whisper-large", width=width, height=height,
                                length=length, audio_seed=audio_seed, reference_color=reference_color)


WAN22_ANIMATE = "tiny_wan22_animate.safetensors"


def write_tiny_wan22_animate(comfy_base: ComfyBase, seed: int = 10) -> Path:
    """Write <base>/models/diffusion_models/tiny_wan22_animate.safetensors: the runtime's own Wan2.2
    Animate network (comfy.ldm.wan.model_animate.AnimateWanModel) at Wan width 128, 5 blocks (one
    face-adapter block: there is one per 5, and ComfyUI's detection looks for the first), 36 input
    channels (noise, mask, reference), with write_random_module's weights. Its motion encoder and
    face encoder are fixed by ComfyUI at 35 M parameters (157 MB in all), so the file is written at
    test time; the real UNETLoader detects it as WAN22_Animate. Needs ComfyUI imported."""
    import comfy.ldm.wan.model_animate
    import comfy.ops

    module = comfy.ldm.wan.model_animate.AnimateWanModel(dim=128, ffn_dim=256, num_layers=5, num_heads=1, in_dim=36,
                                                         out_dim=16, operations=comfy.ops.disable_weight_init)
    return write_random_module(module, comfy_base.models_dir / WAN22_ANIMATE, seed)


def wan22_animate_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN22_ANIMATE,
                        insert=None, shift=8.0, width=64, height=64, length=9, pose_color=0x000000,
                        reference_color=0x808080, text_len=16, denoise=1.0, filename_prefix="latents/wan22_animate",
                        count_label="") -> BuiltGraph:
    """Wan2.2 Animate: like wan22_s2v_graph on write_tiny_wan22_animate's model, the conditioning and
    latent from the core WanAnimateToVideo node with an EmptyImage reference image and a pose video of
    `length` EmptyImage frames in `pose_color` (no face video: its motion encoder takes 1.25 s per
    512x512 face frame on this CPU), and TrimVideoLatent removing the reference frame the node
    prepends (its trim_latent output) after sampling. Extra ids: "vae", "animate", "trim"."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids.update(animate="42", trim="60")
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                      "color": reference_color}}
    g["43"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": length,
                                                      "color": pose_color}}
    g["42"] = {"class_type": "WanAnimateToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1, "reference_image": ["41", 0], "pose_video": ["43", 0],
        "continue_motion_max_frames": 5, "video_frame_offset": 0}}
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 2])
    g["60"] = {"class_type": "TrimVideoLatent", "inputs": {"samples": [ids["sampler"], 0], "trim_amount": ["42", 3]}}
    g[ids["save"]]["inputs"]["samples"] = ["60", 0]
    return built


WAN22_FUN_CAMERA = make_tiny_models.WAN22_FUN_CAMERA


def wan22_fun_camera_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN22_FUN_CAMERA,
                           insert=None, shift=8.0, width=64, height=64, length=9, camera_pose="Static",
                           start_color=0x808080, text_len=16, denoise=1.0, filename_prefix="latents/wan22_fun_camera",
                           count_label="") -> BuiltGraph:
    """Wan2.2 Fun Camera: like wan_t2v_graph on the tiny Fun Camera model, the conditioning and
    latent from the core WanCameraImageToVideo node (VAELoader with write_tiny_wan21_vae's file) with an
    EmptyImage start image and the camera motion of a core WanCameraEmbedding node (`camera_pose`).
    Extra ids: "vae", "camera" (the WanCameraImageToVideo node), "trajectory" (WanCameraEmbedding)."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids["camera"], ids["trajectory"] = "42", "43"
    g["41"] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                      "color": start_color}}
    g["43"] = {"class_type": "WanCameraEmbedding", "inputs": {"camera_pose": camera_pose, "width": width,
                                                              "height": height, "length": length}}
    g["42"] = {"class_type": "WanCameraImageToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1, "start_image": ["41", 0],
        "camera_conditions": ["43", 0]}}
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 2])
    return built


def wan21_phantom_graph(steps=20, cfg=5.0, sampler="euler", scheduler="simple", seed=42, model=WAN21_T2V, insert=None,
                        shift=8.0, width=64, height=64, length=9, subject_colors=(0xFF0000,), text_len=16, denoise=1.0,
                        filename_prefix="latents/wan21_phantom", count_label="") -> BuiltGraph:
    """Wan2.1 Phantom (subject to video; the T2V architecture): like wan_t2v_graph on the tiny T2V model,
    the conditioning and latent from the core WanPhantomSubjectToVideo node (VAELoader with
    write_tiny_wan21_vae's file) with one EmptyImage subject image per colour in `subject_colors`,
    each encoded into latent frames the model sees concatenated in time after the video's; KSampler
    takes its positive and negative_text outputs. Extra ids: "vae", "phantom"."""
    built = _encoding_graph(model=model, shift=shift, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                            seed=seed, insert=insert, width=width, height=height, length=length, text_len=text_len,
                            denoise=denoise, filename_prefix=filename_prefix, count_label=count_label)
    g, ids = built.prompt, built.ids
    ids["phantom"] = "42"
    images = ["41", 0]
    for i, color in enumerate(subject_colors):
        node = str(43 + i)
        g[node] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1,
                                                          "color": color}}
        if i == 0:
            images = [node, 0]
        else:
            g[f"5{i}"] = {"class_type": "ImageBatch", "inputs": {"image1": images, "image2": [node, 0]}}
            images = [f"5{i}", 0]
    g["42"] = {"class_type": "WanPhantomSubjectToVideo", "inputs": {
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0], "vae": ["40", 0], "width": width,
        "height": height, "length": length, "batch_size": 1, "images": images}}
    g[ids["sampler"]]["inputs"].update(positive=["42", 0], negative=["42", 1], latent_image=["42", 3])
    return built
