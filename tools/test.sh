#!/usr/bin/env bash
# Run the whole test suite: unit tests of taocache/ and integration tests in a real ComfyUI.
# Builds the ComfyUI runtime first when it is missing (see tools/comfy_runtime.sh), with what the
# browser tests need (Debian's chromium, Python playwright).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
bash tools/comfy_runtime.sh --with-browser
PY=${COMFYUI_PYTHON:-${TAOCACHE_RUNTIME:-$REPO/.runtime}/venv/bin/python}
if [ -n "${TAOCACHE_README_CHECK:-}" ]; then  # the README test runs this script: collect, don't recurse
    exec "$PY" -m pytest -q --collect-only tests > /dev/null
fi
# two workers (pytest-xdist; how they share the tests: tests/conftest.py); TAOCACHE_TEST_WORKERS=0
# runs the suite in one process, as does a $COMFYUI_PYTHON without pytest-xdist (said here)
if ! "$PY" -c "import xdist" 2> /dev/null; then
    echo "tools/test.sh: $PY has no pytest-xdist: the suite runs in one process (about twice as long)" >&2
    exec "$PY" -m pytest -q tests
fi
exec "$PY" -m pytest -q -n "${TAOCACHE_TEST_WORKERS:-2}" tests
