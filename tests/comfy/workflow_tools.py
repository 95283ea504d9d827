"""The shipped example workflows (UI format, as the ComfyUI frontend saves them) against a running
ComfyUI: checks against /object_info, a UI-format -> API-format converter, the swap to the tiny test
models, and a websocket runner that collects TaoCache's reports.

UI format, the parts used here: {"nodes": [{"id", "type", "mode", "inputs": [{"name", "type",
"link"}], "outputs": [{"name", "type", "links"}], "widgets_values": [...]}], "links": [[id,
origin_id, origin_slot, target_id, target_slot, type]]}. widgets_values holds the node's widget
inputs by position, in /object_info's input order (required, then optional), with the frontend's
extra values: after an INT input with `control_after_generate` (or, when the flag is absent, named
"seed" or "noise_seed") its "control after generate" mode; after a combo with an upload flag
(`image_upload`, `video_upload`, ...) the upload button's value.

Swapping for the tiny test models (`swap_for_tiny`), on the API prompt:
  UNETLoader                 unet_name -> the tiny model of the same family (HunyuanVideo, Wan2.2 5B,
                             else Wan2.1), weight_dtype "default"; an image DiT's file (Qwen-Image)
                             -> TaoTestTinyDiTLoader of its family (its tiny network loads no file)
  CLIPTextEncode             -> TaoTestConditioning (seeded random [1, 16, 4096], Qwen-Image's width
                             3584; extras "hunyuan_video" adds the pooled output and guidance
                             HunyuanVideo needs)
  WanImageToVideo            its positive/negative outputs -> its positive/negative inputs (the
                             conditioning passes through), its latent -> EmptyHunyuanLatentVideo
  Wan22ImageToVideoLatent    -> EmptyHunyuanLatentVideo (16 channels; KSampler widens them to 48)
  WanVaceToVideo             kept, at 64 x 64 x 9 frames, encoding with the tiny Wan2.1 VAE (its
                             VAELoader's vae_name -> tiny_wan21_vae.safetensors, which
                             harness.write_tiny_wan21_vae writes); its control_video and
                             reference_image come from EmptyImage (9 frames, 1 frame) in place of
                             Load Video / Get Video Components / Load Image
  EmptyHunyuanLatentVideo    64 x 64 x 9 frames ([1, 16, 3, 8, 8])
  EmptySD3LatentImage        64 x 64 ([1, 16, 8, 8])
  VAEDecode, VAEDecodeTiled  -> SaveLatent of their samples; everything downstream of them
                             (CreateVideo, SaveVideo, ...) is dropped
  TaoCacheCompare            kept, without its (optional) decoded-image inputs: it compares the latents
  KSampler                   steps -> `steps` (12 unless told)
  KSamplerAdvanced           kept as shipped (each Wan2.2 expert needs 10 steps of its own for TaoCache
                             to act), or scaled to `advanced_steps` with the split kept
  loaders and encoders left without consumers (CLIPLoader, DualCLIPLoader, VAELoader,
  CLIPVisionLoader, CLIPVisionEncode, LoadImage, LoadVideo, GetVideoComponents) are removed
Everything else (ModelSamplingSD3, TaoCache, EasyCache, FluxGuidance, ConditioningZeroOut,
TrimVideoLatent, ...) runs as shipped. No tiny text encoder or CLIP vision model exists, so the
image inputs of the I2V workflows are not exercised; the tiny VAE encodes VACE's control frames only
(the decode is replaced, as everywhere).
"""
from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO_ROOT / "workflows"
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
PRIMITIVES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# combo values that name the user's own files: not among the options of a test server
USER_FILE_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf",
                      ".png", ".jpg", ".jpeg", ".webp", ".mp4", ".webm")
MODE_ALWAYS, MODE_NEVER, MODE_BYPASS = 0, 2, 4

# tiny stand-ins (file names written by tools/make_tiny_models.py)
TINY_WAN21 = "tiny_wan21_t2v.safetensors"
TINY_WAN22_5B = "tiny_wan22_ti2v_5b.safetensors"
TINY_HUNYUAN = "tiny_hunyuan_video.safetensors"
TINY_WAN21_VACE = "tiny_wan21_vace.safetensors"
TINY_WAN21_VAE = "tiny_wan21_vae.safetensors"  # not from make_tiny_models: harness.write_tiny_wan21_vae
TINY_LATENT = {"width": 64, "height": 64, "length": 9}


def shipped_workflows() -> list[Path]:
    return sorted(WORKFLOWS_DIR.glob("*.json"))


def load(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# /object_info

def _spec(entry) -> tuple[str, dict, list | None]:
    """(type, options, combo values or None) of one /object_info input entry."""
    kind = entry[0]
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if isinstance(kind, list):
        return "COMBO", options, list(kind)
    if kind == "COMBO":
        return "COMBO", options, list(options.get("options", []))
    return str(kind), options, None


def input_specs(node_def: dict) -> list[tuple[str, str, dict, list | None]]:
    """[(name, type, options, combo values)] of a node's inputs, required then optional, in the
    order /object_info gives (input_order when present)."""
    inputs = node_def.get("input", {})
    order = node_def.get("input_order") or {}
    specs = []
    for section in ("required", "optional"):
        entries = inputs.get(section) or {}
        for name in order.get(section) or list(entries):
            if name in entries:
                specs.append((name, *_spec(entries[name])))
    return specs


def is_widget(kind: str, options: dict) -> bool:
    return kind in PRIMITIVES and not options.get("forceInput")


def widget_layout(node_def: dict) -> list[tuple[str, str, str, dict, list | None]]:
    """What widgets_values holds, in order: [(slot name, role, type, options, combo values)] with
    role "value" (the input's own value), "control" (control after generate) or "upload"."""
    layout = []
    for name, kind, options, values in input_specs(node_def):
        if not is_widget(kind, options):
            continue
        layout.append((name, "value", kind, options, values))
        control = options.get("control_after_generate")
        # the frontend's rule: an INT's flag, else its name; a combo's flag
        int_control = kind == "INT" and (control if control is not None else name in ("seed", "noise_seed"))
        if int_control or (kind == "COMBO" and control):
            layout.append((name, "control", "COMBO", {}, list(CONTROL_VALUES)))
        if kind == "COMBO" and any(options.get(flag) for flag in UPLOAD_FLAGS):
            layout.append((name, "upload", "STRING", {}, None))
    return layout


def named_widget_values(node: dict, node_def: dict) -> dict[str, Any]:
    """{input name: value} from a UI node's widgets_values (control and upload values dropped)."""
    values = node.get("widgets_values") or []
    if isinstance(values, dict):  # some frontends save a dict by name
        return {name: values[name] for name, role, *_ in widget_layout(node_def) if role == "value" and name in values}
    out = {}
    for (name, role, *_), value in zip(widget_layout(node_def), values):
        if role == "value":
            out[name] = value
    return out


def is_user_file(value) -> bool:
    return isinstance(value, str) and value.lower().endswith(USER_FILE_SUFFIXES)


def _types_match(out_type: str, in_type: str) -> bool:
    if out_type == "*" or in_type == "*":
        return True
    outs, ins = set(str(out_type).split(",")), set(str(in_type).split(","))
    return bool(outs & ins)


# --------------------------------------------------------------------------------------------------
# Checking a UI workflow

def check_value(kind: str, options: dict, values: list | None, value, *, allow_user_files=True) -> str | None:
    """Why `value` does not fit a widget of this type, or None."""
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{value!r} is not an integer"
    elif kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{value!r} is not a number"
    elif kind == "STRING":
        if not isinstance(value, str):
            return f"{value!r} is not a string"
        return None
    elif kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    elif kind == "COMBO":
        if values is not None and value in values:
            return None
        if allow_user_files and is_user_file(value):
            return None
        return f"{value!r} is not one of {values}"
    if kind in ("INT", "FLOAT"):
        lo, hi = options.get("min"), options.get("max")
        if lo is not None and value < lo:
            return f"{value!r} is below the minimum {lo}"
        if hi is not None and value > hi:
            return f"{value!r} is above the maximum {hi}"
    return None


def check_workflow(workflow: dict, object_info: dict) -> list[str]:
    """Everything in a UI-format workflow that the running ComfyUI would not accept: unknown node
    types, widget values of the wrong count, type or range, combo values that are not options
    (model and image file names excepted: they are the user's files), links joining different
    types or pointing at the wrong slots, required inputs left unconnected."""
    problems: list[str] = []
    nodes = {node["id"]: node for node in workflow.get("nodes", [])}
    if len(nodes) != len(workflow.get("nodes", [])):
        problems.append("duplicate node ids")
    for node in nodes.values():
        where = f"node {node['id']} ({node.get('type')})"
        kind = node.get("type")
        if kind in FRONTEND_ONLY:
            continue
        node_def = object_info.get(kind)
        if node_def is None:
            problems.append(f"{where}: no such node type in this ComfyUI")
            continue
        layout = widget_layout(node_def)
        values = node.get("widgets_values")
        if values is None:
            values = []
        if isinstance(values, dict):
            problems.append(f"{where}: widgets_values is a dict, the frontend saves a list")
            continue
        if len(values) != len(layout):
            problems.append(f"{where}: {len(values)} widget values, the node has {len(layout)} "
                            f"({[name + ('' if role == 'value' else ':' + role) for name, role, *_ in layout]})")
            continue
        for (name, role, vkind, options, choices), value in zip(layout, values):
            if role == "upload":
                continue
            why = check_value(vkind, options, choices, value)
            if why:
                problems.append(f"{where}: {name}{'' if role == 'value' else ' (' + role + ')'}: {why}")
        # inputs: every linked slot is a real input; required sockets are connected
        specs = {name: (kind_, options) for name, kind_, options, _ in input_specs(node_def)}
        required = set(node_def.get("input", {}).get("required") or {})
        linked = set()
        for slot in node.get("inputs") or []:
            if slot.get("name") not in specs:
                problems.append(f"{where}: input slot {slot.get('name')!r} is not an input of {kind}")
            elif slot.get("link") is not None:
                linked.add(slot["name"])
        active = node.get("mode", MODE_ALWAYS) == MODE_ALWAYS
        for name, (kind_, options) in specs.items():
            if active and name in required and not is_widget(kind_, options) and name not in linked:
                problems.append(f"{where}: required input {name!r} is not connected")
        outputs = node_def.get("output") or []
        for index, slot in enumerate(node.get("outputs") or []):
            if index >= len(outputs):
                problems.append(f"{where}: output slot {index} ({slot.get('name')}) does not exist")
            elif not _types_match(outputs[index], slot.get("type", "*")):
                problems.append(f"{where}: output {index} is {outputs[index]}, the file says {slot.get('type')}")

    link_ids = set()
    for link in workflow.get("links", []):
        link_id, origin_id, origin_slot, target_id, target_slot, link_type = link[:6]
        where = f"link {link_id}"
        link_ids.add(link_id)
        origin, target = nodes.get(origin_id), nodes.get(target_id)
        if origin is None or target is None:
            problems.append(f"{where}: joins missing node {origin_id if origin is None else target_id}")
            continue
        outs = origin.get("outputs") or []
        ins = target.get("inputs") or []
        if origin_slot >= len(outs) or link_id not in (outs[origin_slot].get("links") or []):
            problems.append(f"{where}: node {origin_id} output {origin_slot} does not list it")
            continue
        if target_slot >= len(ins) or ins[target_slot].get("link") != link_id:
            problems.append(f"{where}: node {target_id} input {target_slot} does not point back at it")
            continue
        out_type = outs[origin_slot].get("type")
        in_name = ins[target_slot].get("name")
        in_type = ins[target_slot].get("type")
        if origin.get("type") not in FRONTEND_ONLY:
            out_type = (object_info[origin["type"]].get("output") or [None] * (origin_slot + 1))[origin_slot]
        if target.get("type") not in FRONTEND_ONLY:
            specs = {name: kind for name, kind, _, _ in input_specs(object_info[target["type"]])}
            in_type = specs.get(in_name, in_type)
        if not _types_match(out_type, in_type) or not _types_match(out_type, link_type):
            problems.append(f"{where}: {origin.get('type')} output {origin_slot} ({out_type}) -> "
                            f"{target.get('type')}.{in_name} ({in_type}), link type {link_type}")
    for node in nodes.values():
        for slot in node.get("inputs") or []:
            if slot.get("link") is not None and slot["link"] not in link_ids:
                problems.append(f"node {node['id']}: input {slot.get('name')} points at missing link {slot['link']}")
    return problems


# --------------------------------------------------------------------------------------------------
# UI format -> API format

def to_api(workflow: dict, object_info: dict) -> dict:
    """The API-format prompt the frontend would queue for this UI workflow: frontend-only nodes and
    muted nodes dropped, bypassed nodes passed through by type, Reroutes followed, widget values
    by input name (links win over widget values)."""
    nodes = {node["id"]: node for node in workflow.get("nodes", [])}
    links = {link[0]: link for link in workflow.get("links", [])}

    def source(link_id):
        """(node id, slot) that really feeds this link, or None when nothing does."""
        seen = set()
        while link_id is not None and link_id not in seen:
            seen.add(link_id)
            link = links.get(link_id)
            if link is None:
                return None
            origin = nodes.get(link[1])
            if origin is None:
                return None
            mode = origin.get("mode", MODE_ALWAYS)
            if origin.get("type") == "Reroute":
                link_id = (origin.get("inputs") or [{}])[0].get("link")
                continue
            if mode == MODE_NEVER:
                return None
            if mode == MODE_BYPASS:
                out_type = (origin.get("outputs") or [])[link[2]].get("type")
                match = next((slot for slot in origin.get("inputs") or []
                              if slot.get("link") is not None and _types_match(slot.get("type", "*"), out_type)), None)
                link_id = match.get("link") if match else None
                if link_id is None:
                    return None
                continue
            return str(origin["id"]), link[2]
        return None

    prompt = {}
    for node in workflow.get("nodes", []):
        kind = node.get("type")
        if kind in FRONTEND_ONLY or node.get("mode", MODE_ALWAYS) in (MODE_NEVER, MODE_BYPASS):
            continue
        node_def = object_info[kind]
        inputs = dict(named_widget_values(node, node_def))
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            src = source(slot["link"])
            if src is None:
                inputs.pop(slot["name"], None)
            else:
                inputs[slot["name"]] = [src[0], src[1]]
        entry = {"class_type": kind, "inputs": inputs}
        if node.get("title"):
            entry["_meta"] = {"title": node["title"]}
        prompt[str(node["id"])] = entry
    return prompt


# --------------------------------------------------------------------------------------------------
# Swapping the real model files for the tiny test models

# image DiT files -> (TaoTestTinyDiTLoader family, TaoTestConditioning extras, text width): the
# families whose tiny networks only the test loader can build (tests/comfy/harness.py IMAGE_DITS)
IMAGE_DIT_FILES = {"qwen_image": ("qwen_image", "none", 3584)}


def tiny_image_dit_for(unet_name: str):
    name = unet_name.lower()
    return next((spec for key, spec in IMAGE_DIT_FILES.items() if key in name), None)


def tiny_model_for(unet_name: str) -> str:
    name = unet_name.lower()
    if "hunyuan" in name:
        return TINY_HUNYUAN
    if "wan2.2" in name and "5b" in name:
        return TINY_WAN22_5B
    if "vace" in name:
        return TINY_WAN21_VACE
    return TINY_WAN21


def _consumers(prompt: dict, node_id: str) -> list[tuple[str, str, int]]:
    return [(nid, name, value[1]) for nid, entry in prompt.items() for name, value in entry["inputs"].items()
            if isinstance(value, list) and len(value) == 2 and value[0] == node_id]


def _downstream(prompt: dict, start: set[str]) -> set[str]:
    found, frontier = set(), list(start)
    while frontier:
        nid = frontier.pop()
        for consumer, _, _ in _consumers(prompt, nid):
            if consumer not in found:
                found.add(consumer)
                frontier.append(consumer)
    return found


def swap_for_tiny(api: dict, *, steps: int = 12, advanced_steps: int | None = None,
                  prefix: str = "taotest/workflow") -> tuple[dict, list[str]]:
    """The API prompt with the tiny test models and test conditioning in place of the real model
    files, text encoders and VAE (see the module docstring). Returns (prompt, what was swapped)."""
    prompt = copy.deepcopy(api)
    notes: list[str] = []
    next_id = max([int(k) for k in prompt if k.isdigit()] + [0]) + 1

    def new_id():
        nonlocal next_id
        next_id += 1
        return str(next_id - 1)

    family_extras, text_width = "none", 4096
    for nid, entry in prompt.items():
        if entry["class_type"] == "UNETLoader":
            image_dit = tiny_image_dit_for(entry["inputs"]["unet_name"])
            if image_dit:
                family_extras, text_width = image_dit[1], image_dit[2]
                notes.append(f"{nid} UNETLoader {entry['inputs']['unet_name']} -> TaoTestTinyDiTLoader {image_dit[0]}")
                prompt[nid] = {"class_type": "TaoTestTinyDiTLoader", "inputs": {"family": image_dit[0], "seed": 0}}
                continue
            tiny = tiny_model_for(entry["inputs"]["unet_name"])
            notes.append(f"{nid} UNETLoader {entry['inputs']['unet_name']} -> {tiny}")
            entry["inputs"].update(unet_name=tiny, weight_dtype="default")
            if tiny == TINY_HUNYUAN:
                family_extras = "hunyuan_video"

    def empty_latent(batch=1):
        return {"class_type": "EmptyHunyuanLatentVideo", "inputs": {**TINY_LATENT, "batch_size": batch}}

    for nid in list(prompt):
        entry = prompt[nid]
        kind, inputs = entry["class_type"], entry["inputs"]
        if kind == "CLIPTextEncode":
            prompt[nid] = {"class_type": "TaoTestConditioning", "inputs": {
                "length": 16, "width": text_width, "seed": int(nid), "scale": 1.0, "extras": family_extras}}
            notes.append(f"{nid} CLIPTextEncode -> TaoTestConditioning")
        elif kind == "WanImageToVideo":
            latent = new_id()
            prompt[latent] = empty_latent(inputs.get("batch_size", 1))
            for consumer, name, slot in _consumers(prompt, nid):
                prompt[consumer]["inputs"][name] = ([latent, 0] if slot == 2 else
                                                    list(inputs["positive" if slot == 0 else "negative"]))
            del prompt[nid]
            notes.append(f"{nid} WanImageToVideo -> conditioning passed through, {latent} EmptyHunyuanLatentVideo")
        elif kind == "Wan22ImageToVideoLatent":
            prompt[nid] = empty_latent(inputs.get("batch_size", 1))
            notes.append(f"{nid} Wan22ImageToVideoLatent -> EmptyHunyuanLatentVideo")
        elif kind == "EmptyHunyuanLatentVideo":
            inputs.update(TINY_LATENT)
        elif kind == "EmptySD3LatentImage":
            inputs.update(width=TINY_LATENT["width"], height=TINY_LATENT["height"])
        elif kind == "WanVaceToVideo":
            inputs.update(TINY_LATENT)
            for name, frames in (("control_video", TINY_LATENT["length"]), ("reference_image", 1)):
                if name in inputs:
                    image = new_id()
                    prompt[image] = {"class_type": "EmptyImage", "inputs": {
                        "width": TINY_LATENT["width"], "height": TINY_LATENT["height"], "batch_size": frames,
                        "color": 0x808080}}
                    inputs[name] = [image, 0]
                    notes.append(f"{nid} WanVaceToVideo: {name} -> {image} EmptyImage ({frames} frames)")
            vae = prompt[inputs["vae"][0]]
            if vae["class_type"] == "VAELoader":
                vae["inputs"]["vae_name"] = TINY_WAN21_VAE
                notes.append(f"{inputs['vae'][0]} VAELoader -> {TINY_WAN21_VAE} (WanVaceToVideo encodes with it)")
    decoders = {nid for nid, e in prompt.items() if e["class_type"] in ("VAEDecode", "VAEDecodeTiled")}
    for nid, entry in prompt.items():
        if entry["class_type"] == "TaoCacheCompare":
            for name in [n for n, v in entry["inputs"].items() if isinstance(v, list) and v[0] in decoders]:
                del entry["inputs"][name]
                notes.append(f"{nid} TaoCacheCompare: {name} (decoded frames) disconnected")
    for nid in _downstream(prompt, decoders) - decoders:
        notes.append(f"{nid} {prompt[nid]['class_type']} dropped (after the VAE)")
        del prompt[nid]
    for nid in sorted(decoders):
        prompt[nid] = {"class_type": "SaveLatent",
                       "inputs": {"samples": prompt[nid]["inputs"]["samples"], "filename_prefix": f"{prefix}_{nid}"}}
        notes.append(f"{nid} VAE decode -> SaveLatent")
    for nid, entry in prompt.items():
        inputs = entry["inputs"]
        if entry["class_type"] == "KSampler":
            inputs["steps"] = steps
        elif entry["class_type"] == "KSamplerAdvanced" and advanced_steps is not None:
            old = inputs["steps"]
            inputs["steps"] = advanced_steps
            for key in ("start_at_step", "end_at_step"):
                if inputs[key] < old:
                    inputs[key] = round(inputs[key] * advanced_steps / old)
    # drop what nothing consumes any more (loaders of text encoders, VAE, CLIP vision, images)
    while True:
        unused = [nid for nid, e in prompt.items()
                  if e["class_type"] in ("CLIPLoader", "DualCLIPLoader", "VAELoader", "CLIPVisionLoader",
                                         "CLIPVisionEncode", "LoadImage", "LoadVideo", "GetVideoComponents")
                  and not _consumers(prompt, nid)]
        if not unused:
            break
        for nid in unused:
            notes.append(f"{nid} {prompt[nid]['class_type']} removed")
            del prompt[nid]
    for nid, entry in prompt.items():
        for name, value in entry["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                raise AssertionError(f"swap_for_tiny left node {nid}.{name} linked to removed node {value[0]}")
    return prompt, notes


# --------------------------------------------------------------------------------------------------
# Running a prompt over HTTP while listening on the websocket

def run_collecting_events(server_url: str, prompt: dict, events=("taocache.report",), timeout: float = 120.0) -> dict:
    """Queue `prompt` on a running ComfyUI with a websocket open, wait until it finished, and
    return {"prompt_id", "status" ("success" | "error"), "error" (execution_error data or None),
    "events": {name: [data, ...]} for the event names asked for, "history": the /history entry}."""
    import aiohttp

    async def go():
        client_id = uuid.uuid4().hex
        ws_url = server_url.replace("http://", "ws://") + f"/ws?clientId={client_id}"
        collected = {name: [] for name in events}
        result = {"status": None, "error": None}
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url, heartbeat=30) as ws:
                async with session.post(f"{server_url}/prompt", json={"prompt": prompt, "client_id": client_id}) as r:
                    body = await r.json()
                    if r.status != 200:
                        raise AssertionError(f"ComfyUI rejected the prompt: {json.dumps(body)[:3000]}")
                prompt_id = body["prompt_id"]
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                        continue
                    data = json.loads(msg.data)
                    kind, payload = data.get("type"), data.get("data") or {}
                    if kind in collected:
                        collected[kind].append(payload)
                    if payload.get("prompt_id") not in (None, prompt_id):
                        continue
                    if kind == "execution_success":
                        result["status"] = "success"
                        break
                    if kind in ("execution_error", "execution_interrupted"):
                        result["status"], result["error"] = "error", payload
                        break
            # the history entry is written just after the executor's last message: wait for it
            history = {}
            for _ in range(400):
                async with session.get(f"{server_url}/history/{prompt_id}") as r:
                    history = (await r.json()).get(prompt_id, {})
                if history.get("status", {}).get("completed") is not None:
                    break
                await asyncio.sleep(0.025)
        return {"prompt_id": prompt_id, **result, "events": collected, "history": history}

    return asyncio.run(asyncio.wait_for(go(), timeout))


# --------------------------------------------------------------------------------------------------
# Text checks

_ABSOLUTE = re.compile(r"(^|[\s\"'(])(/(home|root|tmp|usr|opt|mnt|work|Users|var)/|[A-Za-z]:\\\\?|~/)")


def absolute_paths(workflow: dict) -> list[str]:
    """Strings in the workflow that look like absolute or home-relative file paths."""
    found = []

    def walk(value):
        if isinstance(value, str):
            if _ABSOLUTE.search(value):
                found.append(value[:120])
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(workflow)
    return found


def note_text(workflow: dict) -> str:
    return "\n".join(str(v) for node in workflow.get("nodes", []) if node.get("type") in ("Note", "MarkdownNote")
                     for v in node.get("widgets_values") or [])


# A speed or quality figure: a number directly followed by "x" / "×" (a ratio, not "832x480"), "dB" or
# "speedup" (the node's own wording).
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:x|×|dB|speedup)(?![\w.]*\d)(?!\w)")
FIGURE_MODEL = "tiny test model"
FIGURE_RUNS = ("bash tools/demo.sh", "tools/benchmark.sh", "results/benchmark/results.md")


def unsourced_figures(text: str) -> list[str]:
    """Lines of a note that state a figure without naming where it comes from. The rule: every line
    (a Markdown bullet or paragraph line) holding a FIGURE also says it was measured on our
    "tiny test model" and names the run that measured it (the demo or the benchmark command, or the
    benchmark's results file)."""
    bad = []
    for line in text.splitlines():
        if FIGURE.search(line) and not (FIGURE_MODEL in line and any(run in line for run in FIGURE_RUNS)):
            bad.append(line.strip())
    return bad


def model_files(workflow: dict, object_info: dict) -> dict[str, str]:
    """{file name: node type} of the model files a workflow loads (combo values that are files)."""
    files = {}
    for node in workflow.get("nodes", []):
        node_def = object_info.get(node.get("type"))
        if node_def is None or node.get("type") in ("LoadImage", "LoadVideo"):  # the user's media, not models
            continue
        for value in named_widget_values(node, node_def).values():
            if is_user_file(value):
                files[value] = node["type"]
    return files
