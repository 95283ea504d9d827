"""tools/benchmark/realsize_timing.py, as a smoke run of the same code on the CPU (its real-size run
needs a GPU: README, Benchmark). ComfyUI's WanModel is imported in a child process, as the other
tiny-model tests do."""
import json
import os
import subprocess
import sys

from comfy_child import REPO

SCRIPT = os.path.join(REPO, "tools", "benchmark", "realsize_timing.py")


def test_smoke_run_reports_calls_ratios_and_bookkeeping(tmp_path):
    comfy = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    out = tmp_path / "timing.json"
    proc = subprocess.run([sys.executable, SCRIPT, "--small", "--device", "cpu", "--steps", "12", "--json", str(out)],
                          capture_output=True, text=True, env=dict(os.environ, COMFYUI_DIR=comfy), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = {r["run"]: r for r in result["rows"]}
    assert rows["full"]["model_calls"] == 12 and rows["full"]["call_ratio"] == 1.0
    planned = rows["taocache planned, target 1.5x without calibration"]
    # the default window (start_percent 0.3) of 12 steps at shift 5 holds steps 4-10; 1.5x asks for 4
    # skips, but one in a row fits only 3 there (5, 7, 9), with history enough before them
    assert planned["model_calls"] == 9 and planned["call_ratio"] == round(12 / 9, 3)
    assert planned["bookkeeping_ms_per_evaluation"] > 0
    assert 0 < planned["wall_over_call_ratio"] < 5
    assert "| run | model calls | call ratio |" in proc.stdout
