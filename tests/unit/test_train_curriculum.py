"""tools/tiny_wan/train_textures_curriculum.sh: each recipe's stages run in order (the default,
motion-dct, made the committed textures model), each records the one before's sha256, a finished
stage is skipped on a rerun, and a stage stopped by MAX_MINUTES continues from its checkpoint. Runs
the real script on a one-layer model for a few steps."""
import hashlib
import json
import os
import subprocess
import sys

from helpers import SLOW

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "tools", "tiny_wan", "train_textures_curriculum.sh")
SMALL = "--dim 128 --ffn 256 --layers 1 --batch 2 --log-every 1"


def curriculum(out_dir, **env):
    comfy = os.environ.get("COMFYUI_DIR") or os.path.join(REPO, ".runtime", "ComfyUI")
    full_env = dict(os.environ, COMFYUI_DIR=comfy, COMFYUI_PYTHON=sys.executable, OUT_DIR=str(out_dir),
                    STEPS4="2", STEPS8="2", THREADS="1", EXTRA_ARGS=SMALL)
    full_env.update({k: str(v) for k, v in env.items()})
    return subprocess.run(["bash", SCRIPT], capture_output=True, text=True, env=full_env, timeout=300)


def meta(path):
    with open(path) as f:
        return json.load(f)


def test_two_stages_in_order_and_a_rerun_skips_them(tmp_path):
    run = curriculum(tmp_path, RECIPE="dct")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    f4, f8 = meta(tmp_path / "f4.json"), meta(tmp_path / "f8.json")
    assert (f4["video"]["frames"], f4["steps_done"], "init" in f4["config"]) == (4, 2, False)
    assert (f8["video"]["frames"], f8["steps_done"]) == (8, 2)
    with open(tmp_path / "f4.safetensors", "rb") as f:
        assert f8["config"]["init"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    weights = (tmp_path / "f8.safetensors").read_bytes()
    again = curriculum(tmp_path, RECIPE="dct")
    assert again.returncode == 0 and again.stdout.count("stage skipped") == 2, again.stdout[-2000:]
    assert (tmp_path / "f8.safetensors").read_bytes() == weights


@SLOW
def test_a_stopped_stage_continues_from_its_checkpoint(tmp_path):
    stopped = curriculum(tmp_path, RECIPE="dct", STEPS4=3, MAX_MINUTES=0.000001)   # stops after the first step
    assert stopped.returncode == 3 and "stopped early" in stopped.stdout, stopped.stdout[-2000:]
    assert not (tmp_path / "f8.json").exists()
    resumed = curriculum(tmp_path, RECIPE="dct", STEPS4=3)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout and "f4_resume.pt at step 1" in resumed.stdout
    assert meta(tmp_path / "f4.json")["steps_done"] == 3 and meta(tmp_path / "f8.json")["steps_done"] == 2


@SLOW
def test_the_motion_recipe_runs_its_three_stages_on_the_lossless_latent(tmp_path):
    run = curriculum(tmp_path, RECIPE="motion", STEPS32=2)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    stages = [meta(tmp_path / f"{name}.json") for name in ("s32", "f4", "f8")]
    assert [(m["video"]["size"], m["video"]["frames"], m["steps_done"]) for m in stages] == [(32, 4, 2), (64, 4, 2), (64, 8, 2)]
    for m in stages:
        c = m["config"]
        assert (c["latent"], c["ordered_prompt"], c["named_object_motion"], c["object_weight"], c["object_speed"]) \
            == ("lossless", True, True, 4.0, [4.0, 4.0])
    assert "init" not in stages[0]["config"]
    for before, m in (("s32", stages[1]), ("f4", stages[2])):
        with open(tmp_path / f"{before}.safetensors", "rb") as f:
            assert m["config"]["init"]["sha256"] == hashlib.sha256(f.read()).hexdigest()


@SLOW
def test_the_default_motion_dct_recipe_moves_from_the_lossless_32_px_stage_to_the_dct_latent(tmp_path):
    steps = {"STEPS32": 1, "STEPSX4A": 1, "STEPSX4B": 1, "STEPSX4C": 1, "STEPSX8": 2, "STEPSX8B": 1}
    run = curriculum(tmp_path, **steps)   # no RECIPE: the committed model's
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    names = ("s32", "x4a", "x4b", "x4c", "x8", "x8b")
    stages = [meta(tmp_path / f"{name}.json") for name in names]
    assert [(m["config"]["latent"], m["video"]["size"], m["video"]["frames"], m["steps_done"]) for m in stages] == [
        ("lossless", 32, 4, 1), ("dct", 64, 4, 1), ("dct", 64, 4, 1), ("dct", 64, 4, 1), ("dct", 64, 8, 2),
        ("dct", 64, 8, 1)]
    assert [m["config"]["lr"] for m in stages[1:]] == [0.0005, 0.0005, 0.001, 0.0005, 0.0005]
    for m in stages:
        c = m["config"]
        assert (c["ordered_prompt"], c["named_object_motion"], c["object_weight"]) == (True, True, 4.0)
    for before, m in zip(names, stages[1:]):
        with open(tmp_path / f"{before}.safetensors", "rb") as f:
            assert m["config"]["init"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    # the summary before "done": each stage's steps and seconds from its JSON, and their sum
    for name, m in zip(names, stages):
        assert f"curriculum: {tmp_path / name}.safetensors: {m['steps_done']} steps in " in run.stdout
    total = sum(m["train_seconds"] for m in stages)
    assert f"curriculum: {total:.0f} s of training in all stages (0 h " in run.stdout, run.stdout[-2000:]


@SLOW
def test_a_dct_stage_given_no_steps_is_left_out_and_the_next_starts_from_the_one_before(tmp_path):
    steps = {"STEPS32": 1, "STEPSX4A": 1, "STEPSX4B": 0, "STEPSX4C": 1, "STEPSX8": 1, "STEPSX8B": 0}
    run = curriculum(tmp_path, **steps)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "x4b left out" in run.stdout and "x8b left out" in run.stdout
    assert not (tmp_path / "x4b.json").exists() and not (tmp_path / "x8b.json").exists()
    with open(tmp_path / "x4a.safetensors", "rb") as f:
        assert meta(tmp_path / "x4c.json")["config"]["init"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert run.stdout.strip().endswith("curriculum: done, " + str(tmp_path / "x8.safetensors"))


def test_an_unknown_recipe_is_refused_by_name(tmp_path):
    run = curriculum(tmp_path, RECIPE="fast")
    assert run.returncode == 2 and "RECIPE=fast: must be dct, motion or motion-dct" in run.stderr


@SLOW
def test_stop32_stops_the_32_px_stage_inside_its_schedule_and_the_next_starts_there(tmp_path):
    """STOP32: the 32 px stage keeps STEPS32's learning-rate schedule, stops after STOP32 steps and
    counts as finished there (a rerun skips it); the DCT stages start from its weights."""
    steps = {"STEPS32": 4, "STOP32": 2, "STEPSX4A": 1, "STEPSX4B": 0, "STEPSX4C": 0, "STEPSX8": 1, "STEPSX8B": 0}
    run = curriculum(tmp_path, **steps)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    s32 = meta(tmp_path / "s32.json")
    assert (s32["steps_done"], s32["config"]["steps"]) == (2, 4)
    assert [h["step"] for h in s32["history"]] == [1, 2]
    assert "stopped at step 2 of 4 (--stop-at-step)" in run.stdout
    with open(tmp_path / "s32.safetensors", "rb") as f:
        assert meta(tmp_path / "x4a.json")["config"]["init"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    again = curriculum(tmp_path, **steps)
    assert again.returncode == 0 and "s32.safetensors finished, stage skipped" in again.stdout, again.stdout[-2000:]
