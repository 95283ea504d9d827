"""Install the pack as a user does and check what the Comfy Registry and ComfyUI-Manager require.

- Manager-style install: the repository copied into custom_nodes/ under the normalised project name
  (`taocache`, what ComfyUI-Manager and the Registry use) and under a GitHub-zip folder name
  (`TaoCache-for-ComfyUI-main`), `pip install -r requirements.txt` with ComfyUI's python, then a real
  ComfyUI HTTP server (--cache-none): the node is in /object_info, nothing failed to import, no torch
  package changed, the templates are listed, and a short graph with TaoCache runs and skips.
- Registry archive install (the path that works before the pack is published): `comfy node pack`
  (comfy-cli) on a copy of the working tree, the zip unpacked into custom_nodes/taocache as
  ComfyUI-Manager and comfy-cli unpack what the Registry serves, then the same checks; the archive holds
  the node, its web extension and every template, and nothing that must not ship.
- node_list.json (ComfyUI-Manager's missing-node detection for a v3 pack) lists exactly the node ids
  the pack registers in that server.
- pyproject.toml has what the Registry requires; .comfyignore keeps the published archive to the node.
- A ComfyUI without an internal the pack uses: the pack still loads and its node still works.
- `comfy node validate` (comfy-cli) passes with no warnings.

comfy-cli lives in .runtime/comfycli (`bash tools/comfy_runtime.sh` installs it). The tests that need it
skip only when TAOCACHE_WITH_COMFYCLI=0 (a runtime built without it on purpose); otherwise a missing
comfy-cli fails them.

Each server gets its own tmp base directory (not the session's comfy_base).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

import harness
import workflow_tools

REPO = harness.REPO_ROOT
PYPROJECT = REPO / "pyproject.toml"
NODE_LIST = REPO / "node_list.json"
HIDE_INTERNALS = REPO / "tests" / "support" / "custom_nodes" / "taotest_hide_internals.py"
COMFY_CLI = Path(os.environ.get("TAOCACHE_COMFY_CLI") or REPO / ".runtime" / "comfycli" / "bin" / "comfy")

SUMMARY = re.compile(r"TaoCache: computed (\d+) / skipped (\d+) of (\d+) model calls")
# Gates off, up to 2 skips in a row: a 10-step run skips for sure, in a few seconds on CPU.
TAOCACHE_SKIPPING = ("TaoCache", {"start_percent": 0.3, "end_percent": 1.0, "cos_threshold": -1.0,
                                  "norm_ratio_threshold": 10.0, "max_consecutive_skips": 2,
                                  "predictor": "fixed_point", "error_budget": 0.0, "verbose": False})
STEPS = 10  # the fewest steps TaoCache acts on
# Never to be installed or changed by the pack's requirements (ComfyUI-Manager's own pip blacklist and
# the CUDA builds a user picked).
TORCH_LIKE = re.compile(r"^(torch|torchvision|torchaudio|torchsde|xformers|triton|nvidia-)", re.IGNORECASE)
# Never in the published archive: the runtime, git, outputs, tests and developer tools, the tiny model
# and its profiles (the node reads profiles from ComfyUI's models/taocache_profiles, not from its folder).
NEVER_SHIPPED_TOP = {".git", ".runtime", ".ci", "tests", "tools", "out", "models", "node.zip"}
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".latent", ".npy", ".npz", ".zip")


# --------------------------------------------------------------------------------------------------
# helpers

def git_view() -> list[str]:
    """The repository's files as git sees them (tracked, plus untracked ones not ignored: files not
    committed yet count as git's), existing on disk. What `comfy node pack` starts from."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return [f for f in files if (REPO / f).is_file()]


def comfy_cli() -> Path:
    """comfy-cli's `comfy`. Missing: a skip only when TAOCACHE_WITH_COMFYCLI=0 (the runtime was built
    without it on purpose), else a failure."""
    if COMFY_CLI.is_file():
        return COMFY_CLI
    missing = f"comfy-cli is not installed at {COMFY_CLI}"
    if os.environ.get("TAOCACHE_WITH_COMFYCLI") == "0":
        pytest.skip(f"{missing}: TAOCACHE_WITH_COMFYCLI=0 (runtime built without comfy-cli)")
    pytest.fail(f"{missing}: run `bash tools/comfy_runtime.sh` (it installs comfy-cli into .runtime/comfycli, "
                "about 35 s), or set TAOCACHE_WITH_COMFYCLI=0 to skip the tests that need it", pytrace=False)


def comfy_cli_env(home: Path) -> dict:
    """HOME: comfy-cli writes its config under ~/.config; DO_NOT_TRACK: no telemetry; RUFF_NO_CACHE (for
    validate): no .ruff_cache in the repository."""
    return dict(os.environ, HOME=str(home), DO_NOT_TRACK="1", RUFF_NO_CACHE="true", NO_COLOR="1", COLUMNS="200")


def torch_packages(python: str) -> list[str]:
    """`pip freeze | grep -i torch` with ComfyUI's python."""
    out = subprocess.run([python, "-m", "pip", "freeze", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if "torch" in line.lower())


def import_problems(log: str, folder: str) -> list[str]:
    """Server log lines that say custom_nodes/<folder> failed to load (or a pyproject.toml did not parse:
    the pack is the only custom node here with one)."""
    here = re.compile(r"custom_nodes[/\\]" + re.escape(folder) + r"(?=$|[/\\\s:])")
    bad = []
    for line in log.splitlines():
        failed = ("IMPORT FAILED" in line or "Cannot import" in line or "Error while calling comfy_entrypoint" in line
                  or line.startswith("Skip "))
        if (failed and here.search(line)) or "Unable to parse pyproject.toml" in line:
            bad.append(line)
    return bad


def non_sqlalchemy_tracebacks(log: str) -> list[str]:
    """The traceback blocks of a server log, less those with frames in SQLAlchemy only: ComfyUI's
    database connection (sqlite :memory:, from the harness) garbage-collected in the prompt worker
    thread logs "Exception during reset or similar" from SQLAlchemy's pool, depending on when the
    collector runs, with no frame of ComfyUI or of any custom node."""
    blocks = re.split(r"(?m)^(?=Traceback \(most recent call last\):)", log)[1:]
    return [block for block in blocks
            if not all("/site-packages/sqlalchemy/" in f for f in re.findall(r'File "([^"]+)"', block))]


def pack_node_ids(object_info: dict, folder: str) -> set[str]:
    """The node ids the pack installed as custom_nodes/<folder> registered, from /object_info."""
    return {node_id for node_id, info in object_info.items()
            if info.get("python_module") == f"custom_nodes.{folder}"}


def summary(log: str) -> tuple[int, int, int]:
    found = SUMMARY.findall(log)
    assert found, f"no TaoCache summary in the server log:\n{log[-3000:]}"
    return tuple(int(v) for v in found[-1])


def short_graph() -> harness.BuiltGraph:
    return harness.wan_t2v_graph(steps=STEPS, width=32, height=32, length=5, insert=[TAOCACHE_SKIPPING])


def new_base(tmp_path_factory, name: str) -> harness.ComfyBase:
    """A base directory with the tiny models and the test nodes, and no pack yet."""
    return harness.make_base_dir(tmp_path_factory.mktemp(name), pack_folder=None)


def start(comfyui_dir, base) -> harness.ComfyServer:
    server = harness.ComfyServer(comfyui_dir, base)
    try:
        server.start()
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    return server


@dataclasses.dataclass
class Install:
    folder: str
    pack_dir: Path
    pip: subprocess.CompletedProcess
    torch_before: list[str]
    torch_after: list[str]
    object_info: dict
    extensions: list[str]  # GET /extensions: the web extension files the frontend loads
    templates: dict        # GET /api/workflow_templates: {pack folder: template names} (Browse Templates)
    served: dict           # template name -> GET /api/workflow_templates/<folder>/<name>.json
    help_pages: dict       # node id -> (status, content type, body) of GET /extensions/<folder>/docs/<id>.md
    translations: dict     # "<id>/<locale>.md" -> the same, for web/docs/<id>/<locale>.md
    run: dict | None     # /history entry of a short graph with TaoCache (when run_graph)
    calls: list[int]     # real forward calls of that run (TaoTestCountCalls)
    log: str


# --------------------------------------------------------------------------------------------------
# ComfyUI-Manager style install

def unpack_archive(archive: Path, custom_nodes_dir: Path, folder: str) -> Path:
    """What ComfyUI-Manager (UnifiedManager._cnr_install) and comfy-cli (`comfy node registry-install`,
    custom_nodes/command.py registry_install) do with the zip the Registry serves: extract it into
    custom_nodes/<node id>. The Manager also writes the extracted names to .tracking, which its
    cnr_utils.read_cnr_info needs to take the folder for a Registry install."""
    dest = custom_nodes_dir / folder
    dest.mkdir(parents=True)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        z.extractall(dest)
    (dest / ".tracking").write_text("\n".join(names), encoding="utf-8")
    return dest


def help_page_url(node_info: dict, locale_page: str | None = None) -> str:
    """Where the frontend asks for a custom node's help page (NodeHelpService.fetchCustomNodeHelp and
    extractCustomNodeName in comfyui-frontend-package 1.32.9 and 1.58.1): the pack's name from the
    node's python_module ("custom_nodes.<folder>", any "@version" cut off), then
    /extensions/<pack>/docs/<node id>/<locale>.md first (locale_page: "<locale>.md") and
    /extensions/<pack>/docs/<node id>.md when that is missing."""
    parts = node_info["python_module"].split(".")
    assert len(parts) >= 2 and parts[0] == "custom_nodes", node_info["python_module"]
    page = f"{node_info['name']}/{locale_page}" if locale_page else f"{node_info['name']}.md"
    return f"/extensions/{parts[1].split('@')[0]}/docs/{page}"


def translated_help_pages() -> list[str]:
    return sorted(p.relative_to(REPO / "web" / "docs").as_posix() for p in (REPO / "web" / "docs").glob("*/*.md"))


def fetch(url: str):
    """(status, content type, body text) of a GET."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), ""


def manager_style_install(folder: str, comfyui_dir, tmp_path_factory, run_graph: bool,
                          archive: Path | None = None) -> Install:
    """The pack copied from the repository (or unpacked from `archive`) into a fresh base directory,
    `pip install -r requirements.txt`, then a server started on it (what the restart after an install
    does)."""
    python = harness.comfy_python()
    base = new_base(tmp_path_factory, "install")
    torch_before = torch_packages(python)
    if archive is None:
        pack_dir = harness.install_pack(base.custom_nodes_dir, folder_name=folder)
    else:
        pack_dir = unpack_archive(archive, base.custom_nodes_dir, folder)
    # what the Manager runs, even for a requirements file without requirements (the harness skips that)
    pip = subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", "-r",
                          str(pack_dir / "requirements.txt")], cwd=pack_dir, capture_output=True, text=True)
    torch_after = torch_packages(python)
    server = start(comfyui_dir, base)
    run, calls = None, []
    try:
        object_info = server.get("/object_info")
        extensions = server.get("/extensions")
        templates = server.get("/api/workflow_templates")
        served = {name: server.get(f"/api/workflow_templates/{folder}/{name}.json")
                  for name in templates.get(folder, [])}
        help_pages = {node: fetch(server.url + help_page_url(object_info[node]))
                      for node in json.loads(NODE_LIST.read_text(encoding="utf-8")) if node in object_info}
        translations = {rel: fetch(server.url + help_page_url(object_info[rel.split("/")[0]], rel.split("/")[1]))
                        for rel in translated_help_pages() if rel.split("/")[0] in object_info}
        if run_graph:
            run = server.run(short_graph())
            calls = [r["calls"] for r in server.last_calls]
    finally:
        server.stop()
    return Install(folder=folder, pack_dir=pack_dir, pip=pip, torch_before=torch_before, torch_after=torch_after,
                   object_info=object_info, extensions=extensions, templates=templates, served=served,
                   help_pages=help_pages, translations=translations, run=run,
                   calls=calls, log=server.log_text())


@pytest.fixture(scope="module")
def registry_install(comfyui_dir, tmp_path_factory) -> Install:
    """Installed as ComfyUI-Manager and `comfy node install` do: the normalised project name. No graph
    here (a server start is about 7 s, a short graph 3-4 s): the hidden-internals test runs one in
    this folder name."""
    return manager_style_install("taocache", comfyui_dir, tmp_path_factory, run_graph=False)


@pytest.fixture(scope="module")
def zip_install(comfyui_dir, tmp_path_factory) -> Install:
    """Unpacked from a GitHub zip: a folder name that is not a Python identifier."""
    return manager_style_install("TaoCache-for-ComfyUI-main", comfyui_dir, tmp_path_factory, run_graph=True)


@dataclasses.dataclass
class Archive:
    path: Path
    sizes: dict[str, int]  # archive member -> uncompressed bytes
    pack_output: str


@pytest.fixture(scope="module")
def registry_archive(tmp_path_factory) -> Archive:
    """`comfy node pack` (what `comfy node publish` uploads: git-tracked files minus .comfyignore, plus
    [tool.comfy] includes) run on a copy of the working tree in a scratch git repository: the CLI always
    writes node.zip into its current folder, and the repository must not get one."""
    cli = comfy_cli()
    work = tmp_path_factory.mktemp("node_pack")
    src = work / "taocache"
    for rel in git_view():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=src, check=True, capture_output=True)
    proc = subprocess.run([str(cli), "node", "pack"], cwd=src, env=comfy_cli_env(work / "home"),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 or not (src / "node.zip").is_file():
        pytest.fail(f"`comfy node pack` failed (exit {proc.returncode}):\n{out}", pytrace=False)
    path = shutil.move(src / "node.zip", work / "node.zip")
    with zipfile.ZipFile(path) as z:
        sizes = {info.filename: info.file_size for info in z.infolist()}
    return Archive(path=Path(path), sizes=sizes, pack_output=out)


@pytest.fixture(scope="module")
def archive_install(registry_archive, comfyui_dir, tmp_path_factory) -> Install:
    """The Registry archive unpacked into custom_nodes/taocache (the Registry's node id), with a graph."""
    return manager_style_install("taocache", comfyui_dir, tmp_path_factory, run_graph=True,
                                 archive=registry_archive.path)


@pytest.fixture(params=["registry_install", "zip_install", "archive_install"],
                ids=["registry-folder", "github-zip-folder", "registry-archive"])
def install(request) -> Install:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["zip_install", "archive_install"], ids=["github-zip-folder", "registry-archive"])
def graph_install(request) -> Install:
    """The installs that run a short graph."""
    return request.getfixturevalue(request.param)


def test_requirements_install_with_comfyuis_pip_and_no_torch_package_changes(install):
    pip = install.pip
    assert pip.returncode == 0, f"pip install -r requirements.txt failed:\n{pip.stdout}\n{pip.stderr}"
    assert install.torch_before, "no torch in ComfyUI's environment?"
    assert install.torch_after == install.torch_before


def test_the_node_loads_with_no_import_failure(install):
    assert not import_problems(install.log, install.folder), "\n".join(import_problems(install.log, install.folder))
    assert f"custom_nodes/{install.folder}" in install.log.replace(os.sep, "/"), "the pack was not in the import list"
    info = install.object_info.get("TaoCache")
    assert info, f"TaoCache not in /object_info; log tail:\n{install.log[-3000:]}"
    assert info["python_module"] == f"custom_nodes.{install.folder}"
    assert info["output"] == ["MODEL"] and "model" in info["input"]["required"]


def test_the_web_extension_is_served_once(install):
    """Twice (under the project name and under the folder name) and the frontend's second
    registerExtension of the same name throws."""
    for js in sorted(p.relative_to(REPO / "web").as_posix() for p in (REPO / "web").rglob("*.js")):
        served = [url for url in install.extensions if url.endswith("/" + js)]
        assert len(served) == 1, f"web/{js} served as {served}"
        assert served[0] == f"/extensions/{install.folder}/{js}"


def test_every_node_has_its_help_page_served_where_the_frontend_asks(install):
    """The node library's help (and the newest frontend's Info panel) shows web/docs/<node id>.md, fetched
    from the URL the frontend builds from the node's python_module; served as shipped, and not as
    text/html (the newest frontend takes an HTML answer for a missing page)."""
    nodes = json.loads(NODE_LIST.read_text(encoding="utf-8"))
    assert sorted(install.help_pages) == sorted(nodes), install.help_pages.keys()
    for node, (status, content_type, body) in install.help_pages.items():
        assert status == 200, f"{node}: GET {help_page_url(install.object_info[node])} gave {status}"
        assert "text/html" not in content_type, f"{node}: served as {content_type}"
        assert body == (REPO / "web" / "docs" / f"{node}.md").read_text(encoding="utf-8")
    assert sorted(install.translations) == translated_help_pages()
    for rel, (status, content_type, body) in install.translations.items():
        assert status == 200 and "text/html" not in content_type, f"docs/{rel}: {status} {content_type}"
        assert body == (REPO / "web" / "docs" / rel).read_text(encoding="utf-8")


def test_a_graph_with_the_node_runs_and_skips(graph_install):
    assert graph_install.run["status"]["status_str"] == "success", graph_install.run["status"]
    computed, skipped, total = summary(graph_install.log)
    assert total == STEPS and skipped > 0
    assert graph_install.calls == [computed], "reported computed calls must be the real forward calls"


def test_browse_templates_lists_and_serves_every_shipped_template(install):
    """GET /api/workflow_templates ({pack folder: template names}, what Browse Templates shows) lists
    every JSON of the templates folder under the installed folder's name, and each is served as shipped."""
    shipped = {p.stem: p for p in workflow_tools.shipped_workflows()}
    assert shipped, f"no templates in {workflow_tools.WORKFLOWS_DIR}"
    assert sorted(install.templates.get(install.folder, [])) == sorted(shipped), install.templates
    for name, path in shipped.items():
        assert install.served[name] == workflow_tools.load(path), f"{name}.json served differs from {path}"


def test_node_list_json_lists_exactly_the_nodes_the_pack_registers(install):
    listed = json.loads(NODE_LIST.read_text(encoding="utf-8"))
    assert isinstance(listed, dict), "node_list.json is an object: {node id: description}"
    registered = pack_node_ids(install.object_info, install.folder)
    assert registered, "the pack registered no node"
    assert set(listed) == registered, (f"node_list.json {sorted(listed)} != registered {sorted(registered)}: "
                                       "add or remove ids in node_list.json")
    for node_id, description in listed.items():
        assert isinstance(description, str) and description.strip(), f"{node_id} needs a description"


# --------------------------------------------------------------------------------------------------
# Static checks: pyproject.toml, requirements.txt, .comfyignore

def test_pyproject_has_what_the_registry_requires():
    with open(PYPROJECT, "rb") as f:
        data = tomllib.load(f)
    project, comfy = data["project"], data["tool"]["comfy"]

    name = project["name"]
    assert len(name) < 100 and re.fullmatch(r"[A-Za-z](?:[A-Za-z0-9]|[-_.](?![-_.]))*", name), name
    assert "comfyui" not in name.lower(), "the Registry asks not to put ComfyUI in the name"
    # ComfyUI-Manager installs into the normalised name; the harness and README use it
    assert re.sub(r"[-_.]+", "-", name).lower() == "taocache"
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"]), project["version"]
    assert project["description"].strip()
    assert project["license"] == {"file": "LICENSE"}
    assert "GNU GENERAL PUBLIC LICENSE" in (REPO / "LICENSE").read_text(encoding="utf-8")[:500]
    urls = project["urls"]
    for key in ("Repository", "Documentation", "Issues"):
        assert urls.get(key, "").startswith("https://"), f"[project.urls] {key}"
    assert not [d for d in project.get("dependencies", []) if TORCH_LIKE.match(d)]

    assert comfy["PublisherId"].strip() and comfy["DisplayName"].strip()
    assert isinstance(comfy.get("Icon"), str)
    init = (REPO / "__init__.py").read_text(encoding="utf-8")
    assert re.search(r'^WEB_DIRECTORY = "(\./)?web"$', init, re.MULTILINE)
    assert "web" not in comfy, ("WEB_DIRECTORY serves web/; [tool.comfy] web would serve it a second time "
                                "when the folder is not named after the project")
    # comfy-cli's version-spec pattern (a malformed spec is dropped with a warning)
    spec = comfy["requires-comfyui"]
    for part in spec.split(","):
        assert re.fullmatch(r"(==|>=|<=|!=|~=|>|<|<>|=)?\s*\d+\.\d+\.\d+(-[A-Za-z0-9]+)?", part.strip()), spec
    assert data["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_requirements_never_pull_a_torch_build_and_there_is_no_install_script():
    lines = harness._requirements_lines(REPO / "requirements.txt")
    assert not [line for line in lines if TORCH_LIKE.match(line)], lines
    assert not (REPO / "install.py").exists(), "the Manager runs install.py; the Registry forbids runtime installs"


def comfyignored(paths: list[str], workdir: Path) -> set[str]:
    """The paths .comfyignore leaves out, matched by git itself (gitignore rules, as comfy-cli's
    pathspec "gitwildmatch"): .comfyignore becomes the .gitignore of an empty scratch repository."""
    scratch = workdir / "comfyignore_check"
    if not scratch.exists():
        scratch.mkdir()
        subprocess.run(["git", "init", "-q", str(scratch)], check=True, capture_output=True)
    shutil.copy2(REPO / ".comfyignore", scratch / ".gitignore")
    proc = subprocess.run(["git", "-C", str(scratch), "check-ignore", "--no-index", "--stdin"],
                          input="\n".join(paths) + "\n", capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 1: nothing ignored
    return set(proc.stdout.splitlines())


def test_comfyignore_keeps_the_published_archive_to_the_node(tmp_path):
    """`comfy node publish` zips git's files minus .comfyignore. Files not committed yet count as git's.
    Needs no comfy-cli; the archive comfy-cli makes is checked below."""
    files = git_view()
    ignored = comfyignored(files, tmp_path)
    kept = [f for f in files if f not in ignored]
    for needed in ("__init__.py", "pyproject.toml", "requirements.txt", "LICENSE", "README.md", "CHANGELOG.md",
                   "node_list.json", "nodes/extension.py", "taocache/__init__.py"):
        assert needed in kept, needed
    assert not [f for f in kept if f.split("/")[0] in {"tests", "tools", ".ci", ".runtime", "out"}]
    assert not [f for f in kept if (REPO / f).stat().st_size > 1 << 20], "a file over 1 MB would be published"
    samples = [".runtime/venv/bin/python", "out/demo/demo.json", "nodes/__pycache__/compat.cpython-311.pyc",
               "tests/comfy/harness.py", "tests/support/custom_nodes/taocache_test_nodes.py", "x/model.safetensors"]
    assert comfyignored(samples, tmp_path) == set(samples)


# --------------------------------------------------------------------------------------------------
# The Registry archive (`comfy node pack`)

def test_the_registry_archive_holds_the_node_and_its_templates_and_nothing_that_must_not_ship(registry_archive):
    names = set(registry_archive.sizes)
    repo_files = git_view()
    # the node: all of its code and its web extension, and what ComfyUI, the Manager and the Registry read
    code = [f for f in repo_files if f.split("/")[0] in {"nodes", "taocache", "web"}]
    assert [f for f in code if f.startswith("web/") and f.endswith(".js")], "no web extension in the repository?"
    needed = [*code, "__init__.py", "pyproject.toml", "requirements.txt", "node_list.json", "LICENSE", "README.md"]
    missing = [f for f in needed if f not in names]
    assert not missing, f"missing from the archive: {missing}\n{registry_archive.pack_output}"
    # every template, with its thumbnail, in the folder ComfyUI scans
    folder = workflow_tools.WORKFLOWS_DIR.name
    templates = workflow_tools.shipped_workflows()
    assert templates, f"no templates in {workflow_tools.WORKFLOWS_DIR}"
    for template in templates:
        assert f"{folder}/{template.name}" in names, f"{folder}/{template.name} is not in the archive"
        thumb = template.with_suffix(".jpg")
        if thumb.is_file():
            assert f"{folder}/{thumb.name}" in names, f"{folder}/{thumb.name} is not in the archive"
    # nothing that must not ship
    shipped_wrongly = sorted(n for n in names if n.split("/")[0] in NEVER_SHIPPED_TOP
                             or n.lower().endswith(WEIGHT_SUFFIXES) or "__pycache__" in n)
    assert not shipped_wrongly, f"must not be in the archive: {shipped_wrongly}"
    big = sorted(n for n, size in registry_archive.sizes.items() if size > 1 << 20)
    assert not big, f"members over 1 MB in the archive: {big}"


# --------------------------------------------------------------------------------------------------
# A ComfyUI without an internal the pack uses

# What the newest ComfyUI's custom-node policy measures of a pack (comfy/governance.py in 0.38.1, not in
# 0.3.75): pack_digest hashes these files, refuses a pack holding symlinks or Python bytecode (__pycache__,
# .pyc, .pyo), and under a policy Python writes no bytecode (set_custom_node_policy sets
# PYTHONDONTWRITEBYTECODE). An organization allows a pack by that digest, so the pack must never change
# its own measured files.
GOVERNED_SUFFIXES = {".py", ".pyw", ".pyd", ".so", ".dll", ".dylib", ".js", ".mjs"}
VERSIONED_LIBRARY = re.compile(r"\.so(?:\.[0-9]+)+\Z")


def governed_files(pack_dir: Path) -> dict[str, str]:
    """The files governance.pack_digest measures (relative path -> sha256 here, blake3 there), after its
    refusals: a symlink or bytecode anywhere in the pack fails the test."""
    import hashlib
    found = {}
    for path in sorted(pack_dir.rglob("*")):
        rel = path.relative_to(pack_dir)
        assert not path.is_symlink(), f"a symlink in the pack: {rel} (the policy refuses the pack)"
        assert "__pycache__" not in rel.parts and path.suffix.lower() not in (".pyc", ".pyo"), (
            f"bytecode in the pack: {rel} (the policy refuses the pack)")
        if path.is_file() and (path.suffix.lower() in GOVERNED_SUFFIXES or VERSIONED_LIBRARY.search("".join(rel.suffixes))):
            found[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_under_an_organization_policy_the_pack_keeps_the_digest_it_was_allowed_by(registry_archive, comfyui_dir,
                                                                                tmp_path_factory, monkeypatch):
    """The Registry archive unpacked has nothing the newest ComfyUI's custom-node policy refuses (symlinks,
    bytecode), and a server run as under a policy (no bytecode written) through a TaoCache graph and a
    TaoCache Calibrate graph leaves every file of the pack as it was: the digest an administrator
    allowed it by still matches (governance.pack_digest, mirrored by governed_files)."""
    base = new_base(tmp_path_factory, "policy")
    pack_dir = unpack_archive(registry_archive.path, base.custom_nodes_dir, "taocache")
    every_file = sorted(p.relative_to(pack_dir).as_posix() for p in pack_dir.rglob("*"))
    measured = governed_files(pack_dir)
    assert "__init__.py" in measured and "web/taocache.js" in measured, sorted(measured)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    server = start(comfyui_dir, base)
    try:
        runs = [server.run(short_graph()), server.run(harness.wan_t2v_graph(
            steps=STEPS, width=32, height=32, length=5, insert=[("TaoCacheCalibrate", {"profile_name": "policy"})]))]
    finally:
        server.stop()
    assert all(run["status"]["status_str"] == "success" for run in runs), [run["status"] for run in runs]
    assert (base.path / "models" / "taocache_profiles" / "policy.json").is_file()  # written outside the pack
    assert sorted(p.relative_to(pack_dir).as_posix() for p in pack_dir.rglob("*")) == every_file
    assert governed_files(pack_dir) == measured


def test_two_installed_copies_say_so_and_the_run_names_the_copy_in_use(comfyui_dir, tmp_path_factory):
    """The pack in two folders (a Manager install beside an older GitHub zip; welltop-cn/ComfyUI-TeaCache#61).
    ComfyUI loads both and keeps the nodes of the one it loads last, in file-system order (the same in
    0.38.1's load_custom_node): the copy that loads second says so in the log, and each run's summary
    names the copy in use and the ignored one, with their versions."""
    base = new_base(tmp_path_factory, "two_copies")
    folders = ("taocache", "TaoCache-for-ComfyUI-main")
    for folder in folders:
        harness.install_pack(base.custom_nodes_dir, folder_name=folder)
    version = re.search(r'^version = "([^"]+)"', PYPROJECT.read_text(encoding="utf-8"), re.M).group(1)
    older = base.custom_nodes_dir / folders[1] / "pyproject.toml"  # an older zip, never updated
    older.write_text(older.read_text(encoding="utf-8").replace(f'version = "{version}"', 'version = "0.0.9"', 1),
                     encoding="utf-8")
    versions = {folders[0]: version, folders[1]: "0.0.9"}
    server = start(comfyui_dir, base)
    try:
        module = server.get("/object_info/TaoCache")["TaoCache"]["python_module"]
        extensions = server.get("/extensions")
        entry = server.run(short_graph())
        calls = [r["calls"] for r in server.last_calls]
    finally:
        server.stop()
    log = server.log_text()
    used = module.removeprefix("custom_nodes.")
    assert used in folders, module
    ignored = next(folder for folder in folders if folder != used)
    for folder in folders:
        assert not import_problems(log, folder), "\n".join(import_problems(log, folder))
        assert f"/extensions/{folder}/taocache.js" in extensions  # both served: web/taocache.js registers once
    path = {folder: str((base.custom_nodes_dir / folder).resolve()) for folder in folders}
    expected = (f"TaoCache is installed twice: ComfyUI runs the nodes of {path[used]} (version {versions[used]}, the "
                f"copy it loaded last) and ignores {path[ignored]} (version {versions[ignored]}); remove one folder and "
                f"restart ComfyUI")
    startup, run_log = log.split("got prompt", 1)
    assert startup.count(expected) == 1, startup[-3000:]  # said once, by the copy loaded second
    assert entry["status"]["status_str"] == "success", entry["status"]
    computed, skipped, total = summary(run_log)
    assert total == STEPS and skipped > 0 and calls == [computed]
    assert expected in next(line for line in run_log.splitlines() if SUMMARY.search(line))


def test_pack_loads_and_works_when_comfyui_lacks_internals_it_uses(comfyui_dir, tmp_path_factory):
    """tests/support/custom_nodes/taotest_hide_internals.py hides comfy.model_patcher's
    create_model_options_clone (nodes/compat.py copies the options itself then) and
    PromptServer.send_progress_text (no text on the node; the summary is still logged)."""
    base = new_base(tmp_path_factory, "hidden_internals")
    harness.install_pack(base.custom_nodes_dir, folder_name="taocache")
    shutil.copy2(HIDE_INTERNALS, base.custom_nodes_dir / HIDE_INTERNALS.name)
    server = start(comfyui_dir, base)
    try:
        assert "TaoCache" in server.get("/object_info/TaoCache")
        entry = server.run(short_graph())
        calls = [r["calls"] for r in server.last_calls]
    finally:
        server.stop()
    log = server.log_text()
    assert "taotest_hide_internals: hiding" in log, "the hiding module did not load"
    assert not import_problems(log, "taocache"), "\n".join(import_problems(log, "taocache"))
    assert entry["status"]["status_str"] == "success", entry["status"]
    # the pack really asked for the hidden names and took its fallbacks
    assert "comfy.model_patcher.create_model_options_clone asked for, hidden" in log
    assert "server.PromptServer.send_progress_text asked for, hidden" in log
    assert "cannot show text on nodes" in log
    computed, skipped, total = summary(log)
    assert total == STEPS and skipped > 0 and calls == [computed]
    assert not non_sqlalchemy_tracebacks(log.split("got prompt", 1)[-1]), log[-3000:]


# --------------------------------------------------------------------------------------------------
# comfy node validate (comfy-cli)

def test_comfy_node_validate_passes_with_no_warnings(tmp_path):
    proc = subprocess.run([str(comfy_cli()), "node", "validate"], cwd=REPO, env=comfy_cli_env(tmp_path),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "All validation checks passed" in out, out
    assert "warning" not in out.lower(), out
    assert "error" not in out.lower(), out
