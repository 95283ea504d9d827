"""Fixtures for tests that run graphs in a real ComfyUI.

Run with the runtime's python:  .runtime/venv/bin/python -m pytest tests/comfy
ComfyUI comes from $COMFYUI_DIR or <repo>/.runtime/ComfyUI; if it is missing the tests fail (they are
never skipped): run `bash tools/comfy_runtime.sh`.

Fixtures (all session-scoped):
  comfyui_dir      Path of the ComfyUI tree
  comfy_base       harness.ComfyBase: a tmp --base-directory with the tiny models, the pack installed
                   as custom_nodes/taocache (ComfyUI-Manager style) and the test nodes
  comfy_inprocess  harness.InProcessComfy: ComfyUI imported into the pytest process;
                   .run(prompt) -> harness.RunResult
  comfy_server     harness.ComfyServer: main.py on a free port over the same base directory;
                   .get(path), .post(path, json), .run(prompt) -> /history entry, .log_path
"""
import pytest

import harness


@pytest.fixture(scope="session")
def comfyui_dir():
    try:
        return harness.locate_comfyui()
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def comfy_base(comfyui_dir, tmp_path_factory):
    try:
        return harness.make_base_dir(tmp_path_factory.mktemp("comfy_base"), pack_folder="taocache")
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def comfy_inprocess(comfyui_dir, comfy_base):
    try:
        return harness.InProcessComfy.start(comfyui_dir, comfy_base)
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def comfy_server(comfyui_dir, comfy_base):
    server = harness.ComfyServer(comfyui_dir, comfy_base)
    try:
        server.start()
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_wan21_vae(comfy_inprocess, comfy_base):
    """The tiny Wan2.1 VAE (harness.write_tiny_wan21_vae) in the base's models/vae, for the graphs whose
    core nodes encode images (WanVaceToVideo, WanFunControlToVideo). Written with the runtime's own
    module, so ComfyUI is imported in-process; the server reads the same base directory."""
    return harness.write_tiny_wan21_vae(comfy_base)
