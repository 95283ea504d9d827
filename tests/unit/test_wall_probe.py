"""tools/benchmark/wall_probe.py runs the benchmark's graphs in a real in-process ComfyUI and counts
the model's real forwards: a TaoCache-skipped call never reaches WanModel.forward_orig, so the
forwards it counts equal the calls TaoTestCountCalls reports (fewer than the steps for TaoCache)."""
import os
import re
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROBE = os.path.join(REPO, "tools", "benchmark", "wall_probe.py")


def test_probe_counts_only_the_computed_forwards():
    comfy = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    proc = subprocess.run([sys.executable, PROBE, "--settings", "K1 open", "--repeats", "1", "--size", "64x64x29"],
                          capture_output=True, text=True, env=dict(os.environ, COMFYUI_DIR=comfy), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(r"^(full|TaoCache \[K1 open\]) +calls +(\d+) .* real forwards +(\d+) in", proc.stdout, re.M)
    assert [name for name, _, _ in rows] == ["full", "TaoCache [K1 open]"], proc.stdout
    (_, full_calls, full_forwards), (_, tao_calls, tao_forwards) = rows
    assert int(full_calls) == int(full_forwards) == 30
    assert int(tao_calls) == int(tao_forwards) < 30
    assert re.search(r"wall ratio / call ratio \d+\.\d\d", proc.stdout)
