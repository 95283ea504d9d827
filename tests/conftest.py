"""How the whole suite shares two cores (tools/test.sh runs it with pytest-xdist, two workers).

Each module runs whole on one worker, so its module fixtures (such as a child process that samples a
model) are built once; the browser folder runs whole on one worker, so it keeps one Chromium and one
server per frontend (tests/browser/conftest.py) and closes the browser before that worker's
in-process ComfyUI tests. Each worker runs torch on one thread: the test models are tiny, so a second
thread hardly helps a worker, and two workers with two threads each on two cores wait for each other.
"""
import os

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ["OMP_NUM_THREADS"] = "1"             # also for the servers the tests start
    os.environ["TAOCACHE_TEST_MAX_THREADS"] = "1"   # and the children (tests/unit/comfy_child.py)


def pytest_configure(config):
    if WORKER:
        import torch
        torch.set_num_threads(1)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist; without it the suite runs in one process
def pytest_xdist_make_scheduler(config, log):
    """xdist's "loadscope" with the browser folder as one scope and every other module as one
    (xdist's own "loadgroup" would need a mark on each test, and does not group them under pytest 9.2,
    which no longer reads the node id it rewrites). The scopes with the most tests start first."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/browser" if path.startswith("tests/browser/") else path

    return ByModule(config, log)
