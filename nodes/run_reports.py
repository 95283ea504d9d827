"""The reports of the TaoCache runs of the running prompt, and which TaoCache nodes feed an input.

wrappers._publish records each sampling run's report here, under its TaoCache node's id; TaoCache
Compare, which ComfyUI runs after the samplers that feed it, reads the reports of the TaoCache nodes
upstream of each latent. Only the running prompt's reports are kept: a sampler whose result ComfyUI
took from its cache made no model calls in this prompt, and an older report need not be the run that
made that cached result.
"""
from __future__ import annotations

import threading
from typing import Optional

_lock = threading.Lock()
_prompt_id: Optional[str] = None
_runs: dict[str, list[dict]] = {}  # TaoCache node id -> the reports of its sampling runs in _prompt_id


def record(prompt_id: Optional[str], node_id, report: dict) -> None:
    """Keep one sampling run's report; a report of a new prompt drops those of the earlier one."""
    global _prompt_id
    with _lock:
        if prompt_id != _prompt_id:
            _prompt_id = prompt_id
            _runs.clear()
        _runs.setdefault(str(node_id), []).append(report)


def runs_of(prompt_id: Optional[str], node_id) -> list[dict]:
    """The reports TaoCache node `node_id` published in prompt `prompt_id`, in run order."""
    with _lock:
        return list(_runs.get(str(node_id), ())) if prompt_id == _prompt_id else []


def _is_link(value) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], (str, int))
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def upstream_of(prompt: dict, node_id, input_name: str, class_type: str) -> set[str]:
    """Ids of the `class_type` nodes that input `input_name` of node `node_id` depends on, through
    any chain of links, in an API-format prompt ({id: {"class_type", "inputs": {name: a value or
    [source id, output slot]}}}): for a LATENT, the samplers that made it and every node on their
    MODEL line."""
    start = (prompt.get(str(node_id)) or {}).get("inputs", {}).get(input_name)
    found: set[str] = set()
    seen: set[str] = set()
    todo = [start]
    while todo:
        value = todo.pop()
        if not _is_link(value) or str(value[0]) in seen:
            continue
        source = str(value[0])
        seen.add(source)
        entry = prompt.get(source) or {}
        if entry.get("class_type") == class_type:
            found.add(source)
        todo.extend((entry.get("inputs") or {}).values())
    return found
