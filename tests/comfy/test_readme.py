"""The README's promises: every picture it references exists and opens, and every command in a code
block marked `<!-- runnable -->` runs as written on this machine."""
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


def test_every_picture_the_readme_references_exists_and_opens():
    from PIL import Image

    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README) + re.findall(r'<img[^>]+src="([^"]+)"', README)
    for picture in pictures:
        path = REPO / picture
        assert path.is_file(), f"README references {picture}, which does not exist"
        with Image.open(path) as image:
            image.verify()
