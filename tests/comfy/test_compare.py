"""TaoCache Compare in a real ComfyUI: two real sampling runs of the same seed on the tiny Wan2.1 model
(real loader, real KSampler, real executor), their latents saved with SaveLatent and the figures on
the node recomputed here from the saved tensors with plain torch, not through the node's code."""
import math
import re

import pytest
import torch

import harness
from robustness_helpers import PERMISSIVE, taocache

COMPARE = "40"
FULL_TAO, FAST_TAO = "10", "11"
FULL_SAVE, FAST_SAVE = "30", "31"


def two_runs(fast=None, full=None, steps=12):
    """UNETLoader -> ModelSamplingSD3 -> [TaoCache `full` (id 10)] -> KSampler 20 and
    -> [TaoCache `fast` (id 11)] -> KSampler 21, the same seed, sampler and steps; each result saved
    (30, 31) and both fed to TaoCache Compare (40). `fast`/`full`: TaoCache inputs, None for none."""
    g = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": harness.WAN21_T2V, "weight_dtype": "default"}},
        "2": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 8.0}},
        "4": {"class_type": "TaoTestConditioning", "inputs": {"length": 16, "width": 4096, "seed": 1, "scale": 1.0,
                                                              "extras": "none"}},
        "5": {"class_type": "TaoTestConditioning", "inputs": {"length": 16, "width": 4096, "seed": 0, "scale": 0.0,
                                                              "extras": "none"}},
        "6": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 64, "height": 64, "length": 9,
                                                                  "batch_size": 1}},
        COMPARE: {"class_type": "TaoCacheCompare", "inputs": {"full_latent": ["20", 0],
                                                              "accelerated_latent": ["21", 0]}},
    }
    for tao, sampler, save, inputs in ((FULL_TAO, "20", FULL_SAVE, full), (FAST_TAO, "21", FAST_SAVE, fast)):
        model = ["2", 0]
        if inputs is not None:
            g[tao] = {"class_type": "TaoCache", "inputs": {**taocache(**inputs)[1], "model": ["2", 0]}}
            model = [tao, 0]
        g[sampler] = {"class_type": "KSampler", "inputs": {
            "model": model, "seed": 42, "steps": steps, "cfg": 5.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0], "denoise": 1.0}}
        g[save] = {"class_type": "SaveLatent", "inputs": {"samples": [sampler, 0], "filename_prefix": f"compare/{save}"}}
    return g


def compare_text(result) -> str:
    texts = result.texts_for(COMPARE)
    assert texts, "TaoCache Compare showed nothing on the node"
    return texts[-1]


def saved(result, comfy_inprocess, node_id):
    (path,) = harness.latent_paths_from_outputs({node_id: result.outputs[node_id]}, comfy_inprocess.base.output_dir)
    return harness.load_latent(path)


def report_of(result, node_id) -> dict:
    (report,) = [r for r in result.events("taocache.report") if r["node"] == node_id]
    return report


def test_different_latents_give_the_independently_recomputed_psnr_and_the_reports_speed(comfy_inprocess):
    result = comfy_inprocess.run(two_runs(fast=PERMISSIVE, full=dict(max_consecutive_skips=0))).raise_for_status()
    text = compare_text(result)
    full, fast = saved(result, comfy_inprocess, FULL_SAVE), saved(result, comfy_inprocess, FAST_SAVE)
    assert not torch.equal(full, fast)

    # the latent figures, recomputed from the saved latents with the documented formulas
    match = re.search(r"latent: relative error ([\d.e+-]+), PSNR (-?[\d.]+) dB \(peak: the full latent's range "
                      r"([\d.e+-]+)\)", text)
    assert match, text
    full64, fast64 = full.double(), fast.double()
    mse = torch.mean((fast64 - full64) ** 2)
    peak = full64.max() - full64.min()
    psnr = float(10 * torch.log10(peak ** 2 / mse))
    relative = float(torch.sqrt(torch.sum((fast64 - full64) ** 2) / torch.sum(full64 ** 2)))
    assert math.isfinite(psnr) and float(match.group(2)) == pytest.approx(psnr, abs=0.006)
    assert float(match.group(1)) == pytest.approx(relative, rel=2e-3)
    assert float(match.group(3)) == pytest.approx(float(peak), rel=1e-3)

    # the speed: TaoCache 11's own report (counted calls), the wall clock of both timed runs
    fast_report, full_report = report_of(result, FAST_TAO), report_of(result, FULL_TAO)
    assert fast_report["skipped"] > 0 and full_report["skipped"] == 0
    assert (f"model calls: {fast_report['computed']} of {fast_report['total']} computed "
            f"(call ratio {fast_report['speedup']:.2f}x), counted by TaoCache node {FAST_TAO}") in text
    full_s, fast_s = full_report["seconds"], fast_report["seconds"]
    assert 0 < full_s < result.seconds and 0 < fast_s < result.seconds
    assert (f"wall clock: {full_s / fast_s:.2f}x (full run {full_s:.2f} s, accelerated {fast_s:.2f} s; "
            f"sampling only, timed by TaoCache nodes {FULL_TAO}, {FAST_TAO})") in text
    assert "TaoCache Compare: latent: relative error" in result.log_text  # in the log too


def test_equal_latents_are_identical_and_a_full_run_without_taocache_is_not_timed(comfy_inprocess):
    """TaoCache with max_consecutive_skips 0 computes every call: the same seed gives the same latent,
    bit for bit. The full run has no TaoCache node, so only the call ratio can be given."""
    result = comfy_inprocess.run(two_runs(fast=dict(max_consecutive_skips=0))).raise_for_status()
    assert torch.equal(saved(result, comfy_inprocess, FULL_SAVE), saved(result, comfy_inprocess, FAST_SAVE))
    text = compare_text(result)
    assert text.startswith("latent: identical (relative error 0, PSNR infinite)")
    assert "model calls: 12 of 12 computed (call ratio 1.00x)" in text
    assert ("wall clock: not measured: the full run has no TaoCache node; to time it, put a TaoCache node with "
            "max_consecutive_skips 0 on the full run's model") in text


def test_a_full_run_that_skips_is_not_timed_and_a_shared_taocache_is_not_counted(comfy_inprocess):
    result = comfy_inprocess.run(two_runs(fast=PERMISSIVE, full=PERMISSIVE)).raise_for_status()
    skipped = report_of(result, FULL_TAO)["skipped"]
    assert skipped > 0
    assert (f"wall clock: not measured: TaoCache node {FULL_TAO} on the full run skipped {skipped} calls, so it "
            f"is no full run: set its max_consecutive_skips to 0") in compare_text(result)

    shared = two_runs(fast=PERMISSIVE)
    shared["20"]["inputs"]["model"] = [FAST_TAO, 0]  # both samplers on one TaoCache model
    text = compare_text(comfy_inprocess.run(shared).raise_for_status())
    assert f"speed: TaoCache node {FAST_TAO} feeds both runs" in text
    assert "model calls" not in text and "wall clock" not in text


def images_graph(full_image, fast_image, full_latent=(9, 1), fast_latent=(9, 1)):
    """TaoCache Compare on two empty latents (length, batch) and two EmptyImage inputs (width, height,
    frames, colour), None for no image."""
    g = {COMPARE: {"class_type": "TaoCacheCompare", "inputs": {"full_latent": ["50", 0],
                                                               "accelerated_latent": ["51", 0]}}}
    for nid, (length, batch) in (("50", full_latent), ("51", fast_latent)):
        g[nid] = {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 64, "height": 64, "length": length,
                                                                      "batch_size": batch}}
    for nid, name, image in (("52", "full_images", full_image), ("53", "accelerated_images", fast_image)):
        if image is not None:
            width, height, frames, colour = image
            g[nid] = {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": frames,
                                                             "color": colour}}
            g[COMPARE]["inputs"][name] = [nid, 0]
    return g


def test_image_psnr_is_the_recomputed_one_and_equal_images_are_identical(comfy_inprocess):
    grey, lighter = 0x404040, 0x4A4A4A  # every value 10/255 apart
    text = compare_text(comfy_inprocess.run(images_graph((32, 24, 5, grey), (32, 24, 5, lighter))).raise_for_status())
    match = re.search(r"images \(5 frames\): PSNR ([\d.]+) dB, SSIM ([\d.]+)", text)
    assert match, text
    assert float(match.group(1)) == pytest.approx(10 * math.log10(1 / (10 / 255) ** 2), abs=0.006)
    assert 0 < float(match.group(2)) < 1
    assert "speed: accelerated_latent does not come through a TaoCache node: no call counts" in text

    text = compare_text(comfy_inprocess.run(images_graph((32, 24, 5, grey), (32, 24, 5, grey))).raise_for_status())
    assert "images (5 frames): identical (PSNR infinite, SSIM 1)" in text


@pytest.mark.parametrize("graph, named", [
    (images_graph(None, None, fast_latent=(13, 1)),
     ["[1, 16, 3, 8, 8]", "[1, 16, 4, 8, 8]", "3 latent frames", "4 latent frames"]),
    (images_graph(None, None, fast_latent=(9, 2)), ["[1, 16, 3, 8, 8]", "[2, 16, 3, 8, 8]", "batch 2"]),
    (images_graph((32, 24, 5, 0), (32, 16, 5, 0)), ["[5, 24, 32, 3]", "[5, 16, 32, 3]", "5 frames of 32x16"]),
    (images_graph((32, 24, 5, 0), None),
     ["connect both full_images and accelerated_images, or neither (only full_images is connected)"]),
], ids=["frames", "batch", "image size", "one image"])
def test_mismatched_inputs_fail_with_a_message_naming_both(comfy_inprocess, graph, named):
    result = comfy_inprocess.run(graph)
    assert not result.success
    error = result.error
    assert error["node_id"] == COMPARE and error["exception_type"].endswith("ValueError")
    message = error["exception_message"]
    assert message.startswith("TaoCache Compare: "), message
    for part in named:
        assert part in message, (part, message)


def nested(g, sampler):
    """The sampler's latent as the newest ComfyUI's audio-video latent: [video, audio] (a test node)."""
    node = f"5{sampler}"
    g[node] = {"class_type": "TaoTestNestedLatent", "inputs": {"samples": [sampler, 0]}}
    return [node, 0]


def test_nested_audio_video_latents_are_compared_stream_by_stream(comfy_inprocess):
    """LTX-2 audio-video and MiniMax H3 latents are nested ([video, audio]): one line per stream, the
    video's figures recomputed from the saved latent."""
    g = two_runs(fast=PERMISSIVE)
    g[COMPARE]["inputs"].update(full_latent=nested(g, "20"), accelerated_latent=nested(g, "21"))
    result = comfy_inprocess.run(g).raise_for_status()
    text = compare_text(result)
    full, fast = saved(result, comfy_inprocess, FULL_SAVE), saved(result, comfy_inprocess, FAST_SAVE)
    diff = (fast - full).float()
    relative = float(diff.norm() / full.float().norm())
    peak = float(full.max() - full.min())
    psnr = 10 * math.log10(peak * peak / float((diff * diff).mean()))
    video = re.search(r"latent stream 0 \(batch 1, 16 channels, 3 latent frames of 8x8\): relative error ([\d.e+-]+), "
                      r"PSNR ([\d.]+) dB", text)
    assert video, text
    assert float(video.group(1)) == pytest.approx(relative, rel=2e-3) and float(video.group(2)) == pytest.approx(psnr, abs=0.01)
    audio = re.search(r"latent stream 1 \(batch 1, 16 channels, 3x4\): relative error ([\d.e+-]+), PSNR ([\d.]+) dB", text)
    assert audio and math.isfinite(float(audio.group(2))), text
    assert "model calls:" in text


def test_a_nested_latent_against_a_plain_one_fails_naming_both(comfy_inprocess):
    g = two_runs()
    g[COMPARE]["inputs"].update(full_latent=nested(g, "20"))
    result = comfy_inprocess.run(g)
    assert not result.success
    assert ("TaoCache Compare: full_latent has 2 stream(s), accelerated_latent 1"
            in result.error["exception_message"]), result.error
