"""The nodes' help pages (web/docs/<node id>.md, what the frontend's node help shows, and
web/docs/<node id>/<locale>.md, what it shows first in that locale) say what the nodes are: one page
per node the pack registers, an inputs list naming the node's inputs in the order the server gives
them with the server's defaults, a translation with the same sections, plain markdown (text reaches
the page as text, never as HTML), and the example log line that the README shows and the demo prints.

That the pages are served where the frontend asks: tests/comfy/test_install.py; that the frontend
shows them: tests/browser/test_ui.py."""
import json
import re
from pathlib import Path

import pytest

from taocache.report import SENTENCE_PATTERN
from test_wording import LOG_LINE, readme_log_example

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "web" / "docs"
NODES = sorted(json.loads((REPO / "node_list.json").read_text(encoding="utf-8")))
LOCALES = {"zh": "输入", "ja": "入力"}  # translated pages: locale -> the heading of their inputs list
PAGES = [(node, None) for node in NODES] + [(node, p.stem) for node in NODES
                                             for p in sorted((DOCS / node).glob("*.md"))]


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


def page(node: str, locale: str | None = None) -> str:
    path = DOCS / (f"{node}.md" if locale is None else f"{node}/{locale}.md")
    return path.read_text(encoding="utf-8")


def page_id(item) -> str:
    return item[0] if item[1] is None else f"{item[0]}/{item[1]}"


def inputs_table(text: str, heading: str = "Inputs") -> list[tuple[str, str]]:
    """(input, default) per item of the list under '## Inputs': "- `name`[ (optional)][, default X]: what"
    (a list, not a table: the help panel is a narrow sidebar); in Chinese "（可选）", "，默认 X：", in
    Japanese "（任意）", "、デフォルト X："."""
    section = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, f"no '## {heading}' section"
    items = [line for line in section.group(1).splitlines() if line.startswith("- `")]
    out = []
    for item in items:
        m = re.match(r"- `(\w+)`(?: \(optional\)|（可选）|（任意）)?(?:(?:, default |，默认 |、デフォルト )([^:：]*))?[:：]\s*\S", item)
        assert m, f"not an input item: {item!r}"
        out.append((m.group(1), m.group(2) or ""))
    return out


def shown(default) -> str:
    """A schema default as the table writes it."""
    if default is None:
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


def images_named(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)


def test_one_help_page_per_node_and_nothing_else():
    """Besides the pages, only the images they show. The frontend resolves an image against
    /extensions/<pack>/docs/ whichever locale's page names it (createMarkdownRenderer in 1.32.9 and
    1.58.1), so every page names its images relative to web/docs/."""
    assert sorted(p.stem for p in DOCS.glob("*.md")) == NODES
    folders = [p for p in DOCS.iterdir() if p.is_dir()]
    shown = {name for node, locale in PAGES for name in images_named(page(node, locale))}
    assert all((DOCS / name).is_file() and "/" not in name for name in shown), shown
    assert sorted(p.name for p in DOCS.iterdir() if not p.is_dir() and p.suffix != ".md") == sorted(shown)
    assert all(p.name in NODES for p in folders), folders
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{locale}.md" for locale in LOCALES), folder


@pytest.mark.parametrize("locale", sorted(LOCALES))
@pytest.mark.parametrize("node", NODES)
def test_a_translation_has_the_pages_sections(node, locale):
    english, translated = page(node), page(node, locale)
    assert translated.splitlines()[0] == english.splitlines()[0]
    assert len(re.findall(r"^## ", translated, re.M)) == len(re.findall(r"^## ", english, re.M))


@pytest.mark.parametrize("node,locale", PAGES, ids=[page_id(p) for p in PAGES])
def test_the_inputs_table_is_the_nodes_inputs_in_order_with_their_defaults(node, locale, object_info):
    info = object_info[node]
    order = info["input_order"]
    expected = []
    for kind in ("required", "optional"):
        for name in order.get(kind, []):
            spec = info["input"][kind][name]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            expected.append((name, shown(options.get("default"))))
    table = inputs_table(page(node, locale), LOCALES.get(locale, "Inputs"))
    assert [name for name, _ in table] == [name for name, _ in expected], f"{node}: inputs out of step with the node"
    for (name, written), (_, default) in zip(table, expected):
        if isinstance(default, str) and re.fullmatch(r"-?\d+(\.\d+)?", default or "x"):
            assert written and float(written) == float(default), f"{node}.{name}: page says {written!r}, node {default!r}"
        else:
            assert written == default, f"{node}.{name}: page says {written!r}, node {default!r}"


@pytest.mark.parametrize("node,locale", PAGES, ids=[page_id(p) for p in PAGES])
def test_the_page_is_plain_markdown_titled_with_the_nodes_display_name(node, locale, object_info):
    text = page(node, locale)
    assert text.splitlines()[0] == f"# {object_info[node]['display_name']}"
    prose = re.sub(r"`[^`]*`", "", text)  # inline code is shown as written
    assert not re.search(r"<[A-Za-z/!]", prose), f"{node}: HTML in the help page"


@pytest.mark.parametrize("locale", [None, *sorted(LOCALES)])
def test_the_example_log_line_is_the_readmes(locale):
    """The sentence the TaoCache page quotes is the README's example (which test_readme checks against
    the demo) and has the form the node writes."""
    quoted = re.findall(r"`(TaoCache: [^`]*)`", page("TaoCache", locale))
    assert quoted == [readme_log_example()]
    assert LOG_LINE.fullmatch(quoted[0]) and SENTENCE_PATTERN.search(quoted[0])


def test_the_templates_the_pages_name_are_shipped():
    shipped = {p.stem for p in (REPO / "workflows").glob("*.json")}
    for node, locale in PAGES:
        for name in re.findall(r"\*\*(\w[\w.]*_taocache\w*)\*\*", page(node, locale)):
            assert name in shipped, f"{node}: names template {name}, which is not in workflows/"
