"""Which copies of the pack this ComfyUI process loaded.

Two folders holding the pack (a ComfyUI-Manager install beside a git clone or an unpacked GitHub zip
under another folder name; welltop-cn/ComfyUI-TeaCache#61) both load. ComfyUI keeps the node classes
of the copy it loads last, in the order the file system lists the folders, and says nothing
(`load_custom_node` in nodes.py, the same in 0.3.75 and 0.38.1); its frontend throws on the second
registration of an extension name (web/taocache.js registers once and warns instead). So the copy
that loads after another says so in the log, and every TaoCache run's summary names both folders: with two
versions installed, the user may be running the one they did not update.

A copy counts as loaded when ComfyUI asked it for its node list (`mark_loaded`), not when its modules
were merely imported (tests import the repository's modules beside an installed copy).
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

log = logging.getLogger("TaoCache")

PACK_DIR = str(Path(__file__).resolve().parents[1])
MARKER = "__taocache_loaded_from__"  # set on this module when ComfyUI loads this copy

_others: list[str] = []  # folders of the copies loaded before this one


def _loaded_from(module) -> str | None:
    namespace = getattr(module, "__dict__", None)  # not getattr(module, MARKER): a module's __getattr__ may import
    value = namespace.get(MARKER) if isinstance(namespace, dict) else None
    return value if isinstance(value, str) else None


def loaded_copies() -> list[str]:
    """The pack folders ComfyUI has loaded in this process so far, in no particular order."""
    return sorted({folder for module in list(sys.modules.values()) if (folder := _loaded_from(module))})


def mark_loaded() -> None:
    """Called when ComfyUI loads this copy's nodes: note the copies loaded before it and say so."""
    _others[:] = [folder for folder in loaded_copies() if folder != PACK_DIR]
    globals()[MARKER] = PACK_DIR
    note = duplicate_note()
    if note:
        log.warning(f"TaoCache: {note}")


def version_of(folder: str) -> str:
    """The `version` a copy's pyproject.toml gives (what the Registry and the Manager show), or "version
    unknown". A regular expression, not tomllib: the pack also runs on Python 3.10."""
    try:
        text = (Path(folder) / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "version unknown"
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return f"version {found.group(1)}" if found else "version unknown"


def duplicate_note() -> str:
    """'' with one copy; else the sentence the log and each run's summary carry."""
    if not _others:
        return ""
    ignored = ", ".join(f"{folder} ({version_of(folder)})" for folder in _others)
    return (f"TaoCache is installed twice: ComfyUI runs the nodes of {PACK_DIR} ({version_of(PACK_DIR)}, the copy "
            f"it loaded last) and ignores {ignored}; remove one folder and restart ComfyUI")
