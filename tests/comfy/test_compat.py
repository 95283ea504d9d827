"""nodes/compat.py INTERNALS is the one list of what the pack needs from ComfyUI: every name in it
exists in the runtime under test, and the pack's code imports nothing from ComfyUI that is not listed.
(The newest source, Comfy-Org/ComfyUI 0.38.1, was checked by reading it; the README's Compatibility
table says what was checked where.)"""
import ast
import importlib
import sys
from pathlib import Path

import harness

COMFY_MODULES = ("comfy", "comfy_api", "comfy_extras", "server", "folder_paths", "nodes", "execution")


def load_compat():
    sys.path.insert(0, str(harness.REPO_ROOT.parent))
    try:
        return importlib.import_module(f"{harness.REPO_ROOT.name}.nodes.compat")
    finally:
        sys.path.pop(0)


def resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def test_every_listed_internal_exists_in_this_comfyui(comfy_inprocess):
    compat = load_compat()
    missing = []
    for internal in compat.INTERNALS:
        assert internal.used_for and internal.without, internal.name
        for symbol in internal.symbols:
            try:
                resolve(symbol)
            except (ImportError, AttributeError) as error:
                missing.append(f"{symbol} ({internal.name}): {error}")
    assert not missing, "listed internals missing from this ComfyUI:\n" + "\n".join(missing)


def imported_comfy_names(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in COMFY_MODULES:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.split(".")[0] in COMFY_MODULES)
    return names


def test_the_pack_imports_nothing_from_comfyui_that_is_not_listed():
    compat = load_compat()
    listed = {symbol for internal in compat.INTERNALS for symbol in internal.symbols}
    code = [harness.REPO_ROOT / "__init__.py", *sorted((harness.REPO_ROOT / "nodes").glob("*.py"))]
    unlisted = {}
    for path in code:
        for name in imported_comfy_names(path):
            if not any(symbol == name or symbol.startswith(name + ".") for symbol in listed):
                unlisted.setdefault(path.name, []).append(name)
    assert not unlisted, f"ComfyUI names imported but not in nodes/compat.py INTERNALS: {unlisted}"
    taocache_code = sorted((harness.REPO_ROOT / "taocache").glob("*.py"))
    assert all(not imported_comfy_names(path) for path in taocache_code), "taocache/ must never import ComfyUI"


def test_every_test_the_readme_names_exists():
    """The README's Compatibility and Works-with tables point at tests: each file and test function exists."""
    import re

    readme = (harness.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", readme))
    assert len(named) >= 5
    for path, function in named:
        file = harness.REPO_ROOT / path
        assert file.is_file(), f"README names {path}, which does not exist"
        if function:
            assert re.search(rf"^def {function}\(", file.read_text(encoding="utf-8"), re.M), \
                f"README names {path}::{function}, which does not exist"
