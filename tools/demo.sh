#!/usr/bin/env bash
# The main job: the shipped tiny Wan2.1 model generated with TaoCache in a real ComfyUI next to the full
# run; prints speedup and quality, writes out/demo/ (see tools/demo.py; --help for the options).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
bash "$REPO/tools/comfy_runtime.sh" > /dev/null
PY=${COMFYUI_PYTHON:-${TAOCACHE_RUNTIME:-$REPO/.runtime}/venv/bin/python}
exec "$PY" "$REPO/tools/demo.py" "$@"
