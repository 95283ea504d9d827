#!/usr/bin/env bash
# The second ComfyUI frontend the browser tests run against (tests/browser): the newest
# comfyui-frontend-package on PyPI, next to the runtime's own (1.32.9, from ComfyUI 0.3.75's requirements).
#
#   bash tools/frontends.sh        (tools/comfy_runtime.sh --with-browser calls it)
#
# Installed with pip (no dependencies: the package is static files) into its own folder,
# .runtime/frontend-<version>/, never into the runtime's venv; the tests start ComfyUI with
# `--front-end-root .runtime/frontend-<version>/comfyui_frontend_package/static`.
# Idempotent: a folder with its ready-marker (.ready) is kept; a half-finished one is redone.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RT=${TAOCACHE_RUNTIME:-$REPO/.runtime}
PY=${COMFYUI_PYTHON:-$RT/venv/bin/python}
VERSION=${TAOCACHE_NEW_FRONTEND:-1.58.1}
DEST="$RT/frontend-$VERSION"
if [ -f "$DEST/.ready" ]; then
    echo "frontend $VERSION already installed in $DEST"
    exit 0
fi
echo "installing comfyui-frontend-package==$VERSION into $DEST (static files for --front-end-root)"
rm -rf "$DEST"
"$PY" -m pip install -q --disable-pip-version-check --no-deps --target "$DEST" "comfyui-frontend-package==$VERSION"
STATIC="$DEST/comfyui_frontend_package/static"
[ -f "$STATIC/index.html" ] || { echo "no index.html in $STATIC: not a frontend package?" >&2; exit 1; }
touch "$DEST/.ready"
echo "frontend $VERSION ready: $STATIC"
