#!/usr/bin/env bash
# The quality-vs-speed benchmark (not in CI; about 20-30 minutes on 2 cores). See tools/benchmark/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
bash "$REPO/tools/comfy_runtime.sh" > /dev/null
PY=${COMFYUI_PYTHON:-${TAOCACHE_RUNTIME:-$REPO/.runtime}/venv/bin/python}
"$PY" -c "import matplotlib" 2> /dev/null || "$PY" -m pip install -q matplotlib
exec "$PY" "$REPO/tools/benchmark" "$@"
