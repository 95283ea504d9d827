"""Run a snippet that imports ComfyUI in a child process, for the tiny-model tests: ComfyUI can be
imported only once per process and the integration tests boot their own instance.

The child gets TOOLS (tools/tiny_wan, on sys.path), the given constants, `records` (every log
message, to find loader warnings) and prints one line "RESULT<json>", which run_child returns."""
import json
import os
import subprocess
import sys
import textwrap

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(REPO, "tools", "tiny_wan")

PRELUDE = textwrap.dedent("""
    import json, logging, sys, time
    import torch
    torch.set_num_threads(THREADS)
    sys.path.insert(0, TOOLS)
    records = []
    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())
    logging.getLogger().addHandler(Keep())
""")


def run_child(body: str, model: str, threads: int = 1, timeout: int = 600, **constants) -> dict:
    """Run PRELUDE + body with MODEL, THREADS, TOOLS and `constants` defined; return its RESULT json.
    Fails (never skips) without a ComfyUI tree or the model file."""
    comfy = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    assert os.path.isdir(os.path.join(comfy, "comfy")), \
        f"no ComfyUI at {comfy}: run `bash tools/comfy_runtime.sh` (or set COMFYUI_DIR)"
    assert os.path.isfile(model), f"{model} is missing: train it with tools/tiny_wan/train.py"
    # a parallel run of the suite caps each child at one thread (tests/conftest.py)
    threads = min(threads, int(os.environ.get("TAOCACHE_TEST_MAX_THREADS", threads)))
    values = {"TOOLS": TOOLS, "MODEL": model, "THREADS": threads, **constants}
    code = "".join(f"{k} = {v!r}\n" for k, v in values.items()) + PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, COMFYUI_DIR=comfy), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])
