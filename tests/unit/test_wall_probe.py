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
    proc = subprocess.run([sys.executable, PROBE, "--settings", "K1 open", "--repeats", "1", "--size", "64x64x29",
                           "--depths", "0,20"],
                          capture_output=True, text=True, env=dict(os.environ, COMFYUI_DIR=comfy), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(r"^(full|TaoCache \[K1 open\]) +depth +(\d+) +calls +(\d+) .* real forwards +(\d+) in .*"
                      r"page faults (\d+)$", proc.stdout, re.M)
    # one (full, TaoCache) pair at each of the two call depths
    assert [(name, depth) for name, depth, *_ in rows] == [
        ("full", "0"), ("TaoCache [K1 open]", "0"), ("full", "20"), ("TaoCache [K1 open]", "20")], proc.stdout
    for name, _, calls, forwards, _ in rows:
        if name == "full":
            assert int(calls) == int(forwards) == 30
        else:
            assert int(calls) == int(forwards) < 30
    assert len(re.findall(r"wall ratio / call ratio \d+\.\d\d", proc.stdout)) == 2
