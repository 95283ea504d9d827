#!/usr/bin/env bash
# The main job: TaoCache in a real ComfyUI next to the full run (see tools/demo.py).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
bash "$REPO/tools/comfy_runtime.sh" > /dev/null
PY=${COMFYUI_PYTHON:-${TAOCACHE_RUNTIME:-$REPO/.runtime}/venv/bin/python}
exec "$PY" "$REPO/tools/demo.py" "$@"
