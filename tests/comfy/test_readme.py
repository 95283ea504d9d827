"""The README's promises: every picture it references exists and opens, and every command in a code
block marked `<!-- runnable -->` runs as written on this machine."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from taocache.report import SENTENCE_PATTERN

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def runnable_commands() -> list[str]:
    commands = []
    for block in re.findall(r"<!-- runnable -->\s*```[a-z]*\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_readme_has_runnable_commands():
    assert runnable_commands()[:2] == ["bash tools/demo.sh", "bash tools/test.sh"]


@pytest.mark.parametrize("command", runnable_commands())
def test_readme_command_runs_as_written(command):
    env = dict(os.environ)
    # tools/test.sh inside the test suite would run this suite again: in this mode it does everything
    # up to pytest, then only collects the tests.
    env["TAOCACHE_README_CHECK"] = "1"
    done = subprocess.run(command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"`{command}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if command == "bash tools/demo.sh":
        assert re.search(r"TaoCache \w+: " + SENTENCE_PATTERN.pattern, done.stdout)  # each setting's sentence
        check_named_settings_figures(json.loads((REPO / "out" / "demo" / "demo.json").read_text()))


def check_named_settings_figures(demo: dict) -> None:
    """The defaults act on a trained model, and the figures the README gives for the two named settings
    ("default", "aggressive") are what the demo just measured: the model calls exactly, PSNR within
    0.5 dB and mask IoU within 0.01 (they were measured on another machine's CPU)."""
    measured = {m["method"]: m for m in demo["quality"]["methods"]}
    default = measured["TaoCache default"]
    assert default["model_calls"] <= 22, "the node's defaults skip at least 8 of 30 calls on the trained tiny model"
    for name in ("default", "aggressive"):
        m = measured[f"TaoCache {name}"]
        block = re.search(rf"- \*\*{name}\*\*:(.*?)(?:\n- \*\*|\n\n)", README, flags=re.S).group(1)
        quoted = re.search(r"(\d+) of 30 (?:model )?calls, ([\d.]+)x, ([\d.]+) dB(?: PSNR)?,? (?:and )?(?:mask )?IoU "
                           r"(\d\.\d+)", " ".join(block.split()))
        assert quoted, f"README's {name} figures not found in: {block}"
        calls, ratio, psnr, iou = int(quoted[1]), float(quoted[2]), float(quoted[3]), float(quoted[4])
        assert calls == m["model_calls"] and abs(ratio - 30 / calls) < 0.005, (name, quoted.group(0), m)
        assert abs(psnr - m["psnr_db"]) <= 0.5 and abs(iou - m["mask_iou"]) <= 0.01, (name, quoted.group(0), m)


def test_every_picture_the_readme_references_exists_and_opens():
    from PIL import Image

    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README) + re.findall(r'<img[^>]+src="([^"]+)"', README)
    for picture in pictures:
        path = REPO / picture
        assert path.is_file(), f"README references {picture}, which does not exist"
        with Image.open(path) as image:
            image.verify()


def test_the_reach_table_of_the_target_speedup_without_calibration_is_what_the_planner_plans(comfy_inprocess):
    """README, "A target speedup without calibration": the largest ratio a plan holds per step count,
    window and run limit, on the schedule ComfyUI's simple scheduler gives at shift 8."""
    import comfy.model_sampling
    import comfy.samplers

    from taocache import Schedule
    from taocache.planner import plan_without_profile

    class FlowSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    sampling = FlowSampling(None)  # as tools/benchmark/__main__.py early_window builds it
    sampling.set_parameters(shift=8.0, multiplier=1000)
    section = README.split("### A target speedup without calibration", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (default|open)[^|]* \| ([\d.]+)x \| ([\d.]+)x \| ([\d.]+)x \|$", section, re.M)
    assert len(rows) == 6
    for steps, window, *reach in rows:
        sigmas = [float(s) for s in comfy.samplers.simple_scheduler(sampling, int(steps))]
        start = float(sampling.percent_to_sigma(0.3 if window == "default" else 0.0))
        schedule = Schedule(sigmas, start, float(sampling.percent_to_sigma(1.0)))
        planned = [plan_without_profile(schedule, target_speedup=4.0, max_consecutive=k).speedup for k in (1, 2, 3)]
        assert [f"{p:.2f}" for p in planned] == reach, (steps, window)
