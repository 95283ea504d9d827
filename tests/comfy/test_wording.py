"""One sentence and one colour scheme for what a run did, wherever a user reads it.

The sentence is written once (taocache/report.py SENTENCE): the log line is "TaoCache: <sentence>", the
node's panel shows the sentence it receives in the report event (web/taocache.js; the browser tests
read it off the rendered node in every frontend configuration and compare it with the log), the demo
prints it after the setting's name, and the README's example log line is one. The cell colours are
written once too (web/taocache.js CELL_COLOURS): the demo's plot reads them from there, and the
README's paragraph about the node names them.
"""
import colorsys
import re
import sys
from pathlib import Path

import pytest

from taocache import Schedule, TaoCacheConfig, TaoCacheRun
from taocache.report import SENTENCE, SENTENCE_PATTERN

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
WEB_JS = REPO / "web" / "taocache.js"
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))

import demo  # noqa: E402  (tools/demo.py)

LOG_LINE = re.compile("TaoCache: " + SENTENCE_PATTERN.pattern)


def readme_log_example() -> str:
    """The example log line in the README's fenced blocks (the first line starting "TaoCache: ")."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("TaoCache: ")]
    assert lines, "the README shows no example log line in a fenced block"
    return lines[0]


def sentence_of(computed: int, skipped: int) -> str:
    total = computed + skipped
    return SENTENCE.format(computed=computed, skipped=skipped, total=total, ratio=total / computed)


def run_report(steps: int, **config):
    """The report of a TaoCacheRun driven through `steps` model calls whose outputs converge
    geometrically (every change 0.8 times the previous one: what the predictor predicts well)."""
    import torch
    sigmas = [1.0 - i / steps for i in range(steps + 1)]
    run = TaoCacheRun(TaoCacheConfig(**config), Schedule(sigmas, 0.8, 0.0))
    g = torch.Generator().manual_seed(0)
    fixed_point, direction = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    for step in range(steps):
        run.begin_evaluation()
        decision = run.decide(["cond"], sigmas[step])
        if decision.skip:
            run.predict(decision, ["cond"])
        else:
            run.record(decision, ["cond"], [fixed_point - 0.8 ** step * direction])
    return run.report


def test_readme_example_is_the_sentence_with_numbers_that_add_up():
    line = readme_log_example()
    match = LOG_LINE.fullmatch(line)
    assert match, f"README example {line!r} is not 'TaoCache: ' + {SENTENCE!r}"
    computed, skipped, total = (int(v) for v in match.groups()[:3])
    assert computed + skipped == total
    assert line == "TaoCache: " + sentence_of(computed, skipped)  # the ratio too


@pytest.mark.parametrize("config", [dict(cos_threshold=-1.0, norm_ratio_threshold=10.0, max_consecutive_skips=2),
                                    dict(cos_threshold=1.0)], ids=["skips", "nothing-skipped"])
def test_log_line_is_the_sentence_and_then_the_rest(config):
    report = run_report(20, **config)
    summary = report.summary()
    assert summary.startswith("TaoCache: " + sentence_of(report.computed, report.skipped))
    sentence, _, rest = summary.removeprefix("TaoCache: ").partition("; ")
    assert SENTENCE_PATTERN.fullmatch(sentence)
    # what the node's panel shows under the strip: the rest, after "; " (nothing when steps were skipped)
    assert (rest == "") == (report.skipped > 0)
    if report.skipped == 0:
        assert rest.startswith("nothing skipped: thresholds never met")
    assert report.to_dict()["summary"] == summary  # the report event carries the same text


def test_demo_prints_the_same_sentence():
    report = run_report(20, cos_threshold=-1.0, norm_ratio_threshold=10.0, max_consecutive_skips=2)
    line = demo.report_line("TaoCache default", report.summary())
    assert line == "TaoCache default: " + sentence_of(report.computed, report.skipped)
    assert [name for name, *_ in demo.SETTINGS] == ["default", "aggressive"]
    assert demo.SETTINGS[0][1:] == (1, 0.6, 1.3)  # the node's defaults: max_consecutive_skips, cos, norm ratio


def test_web_panel_takes_the_sentence_from_the_summary():
    """The panel has no sentence of its own: it splits the received summary after the log's tag (the
    browser tests check the rendered text against the log line)."""
    source = WEB_JS.read_text(encoding="utf-8")
    code = re.sub(r"^\s*//.*$|\s//\s.*$", "", source, flags=re.M)  # without the comments
    assert 'const SUMMARY_PREFIX = "TaoCache: ";' in code
    assert "splitSummary(report.summary)" in code
    assert not re.search(r"skipped \$\{|model calls|speedup", code), "the panel builds a sentence of its own"
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source  # backend text goes in as text


def colour_name(rgb) -> str:
    hue, lightness, saturation = colorsys.rgb_to_hls(*(v / 255 for v in rgb))
    if saturation < 0.15:
        return "grey"
    degrees = hue * 360
    return next(name for name, top in (("red", 15), ("orange", 45), ("yellow", 70), ("green", 170),
                                       ("cyan", 200), ("blue", 260), ("purple", 330), ("red", 361)) if degrees < top)


def test_one_colour_scheme_in_the_node_the_demo_plot_and_the_readme(tmp_path):
    colours = demo.cell_colours()
    names = {state: colour_name(rgb) for state, rgb in colours.items()}
    assert len(set(names.values())) == 3, names
    # the README's paragraph about the node names each cell's colour
    readme = README.read_text(encoding="utf-8")
    for state in ("computed", "skipped", "outside"):
        assert f"{names[state]} {state}" in readme, f"README does not say '{names[state]} {state}'"
    # the demo's plot draws each state in that colour: one step of each, read back off the picture
    calls = [dict(step=0, skipped=False, in_window=False), dict(step=1, skipped=False, in_window=True),
             dict(step=2, skipped=True, in_window=True)]
    report = dict(steps=3, computed=2, total=3, calls=calls, schedule_sigmas=[1.0, 0.6, 0.3],
                  window_sigmas=[0.7, 0.0])
    path = tmp_path / "skips.png"
    demo.draw_skips([("TaoCache default", report)], path, "test")
    from PIL import Image
    image = Image.open(path).convert("RGB")
    pixels = {rgb for _, rgb in image.getcolors(maxcolors=1 << 20)}
    for state, rgb in colours.items():
        assert rgb in pixels, f"the plot has no {state} cell in {rgb}"
