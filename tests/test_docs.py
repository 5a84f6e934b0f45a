"""The documentation site builds, and its examples run as written.

Every ```python block and every ```bash block of ``segframe`` commands on the home page,
the tutorials and the how-to pages runs here, in order, one page per fresh working
directory: a broken example fails CI. The site itself must build with
``mkdocs build --strict`` (the ``docs`` extra), which also renders the CLI reference
from the command line and the API reference from the docstrings.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segframe import hookspecs
from segframe.cli import app
from segframe.components import Component, SearchContext
from segframe.registry import DISABLE_ENV, default_registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXECUTED = sorted(
    [DOCS / "index.md", *DOCS.glob("tutorials/*.md"), *DOCS.glob("how-to/*.md")],
    key=lambda p: str(p),
)
#: Entry points of the deep-learning plugins, left out while the pages run ...
DEEP_PLUGINS = "keras,sequences"
#: ... except on the pages about them.
DEEP_PAGES = {"tutorials/deep-models.md"}
FENCE = re.compile(r"^```[ \t]*(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def runnable_blocks(text: str) -> list[tuple[str, str]]:
    """``("python", code)`` and ``("segframe", command line)`` pairs, in page order.

    A bash block runs when its first line is a ``segframe`` command; then every line
    must be one. Other bash blocks (``pip install …``) are shown, not run.
    """
    blocks: list[tuple[str, str]] = []
    for language, body in FENCE.findall(text):
        if language == "python":
            blocks.append(("python", body))
        elif language in {"bash", "sh", "shell"}:
            lines = [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]
            if lines and lines[0].startswith("segframe "):
                mixed = [line for line in lines if not line.startswith("segframe ")]
                assert not mixed, f"a segframe block mixes in other commands: {mixed}"
                blocks.extend(("segframe", line) for line in lines)
    return blocks


def test_every_executed_page_has_runnable_blocks() -> None:
    assert len(EXECUTED) >= 8
    empty = [p.name for p in EXECUTED if not runnable_blocks(p.read_text(encoding="utf-8"))]
    assert empty == []


@pytest.fixture
def without_deep_plugins(page: Path, monkeypatch: pytest.MonkeyPatch):
    """The process-wide registry without the TensorFlow plugins, for this test only.

    Most pages are about the scikit-learn/XGBoost pipeline; a TensorFlow candidate
    trains ten times longer than any example needs. ``DEEP_PAGES`` keep them.
    """
    if page.relative_to(DOCS).as_posix() not in DEEP_PAGES:
        monkeypatch.setenv(DISABLE_ENV, DEEP_PLUGINS)
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()


@pytest.mark.usefixtures("without_deep_plugins")
@pytest.mark.parametrize("page", EXECUTED, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    runner = CliRunner()
    for number, (kind, code) in enumerate(runnable_blocks(page.read_text(encoding="utf-8"))):
        where = f"{page.relative_to(ROOT)} block {number + 1}"
        if kind == "python":
            exec(compile(code, where, "exec"), namespace)  # the page's own example code
            continue
        result = runner.invoke(app, shlex.split(code)[1:])
        assert result.exit_code == 0, f"{where}: `{code}` failed:\n{result.output}"


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    guide = (DOCS / "plugins" / "guide.md").read_text(encoding="utf-8")
    hooks = [f for n, f in vars(hookspecs).items() if n.startswith("segframe_") and callable(f)]
    assert hooks
    for hook in hooks:
        signature = f"def {hook.__name__}{inspect.signature(hook)}:".replace("'", "")
        assert signature in guide, f"{signature} is not in docs/plugins/guide.md"


def test_every_component_field_is_documented() -> None:
    guide = (DOCS / "plugins" / "guide.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(Component) if f"`{f.name}`" not in guide]
    assert missing == []


def test_every_search_context_field_is_documented() -> None:
    guide = (DOCS / "plugins" / "guide.md").read_text(encoding="utf-8")
    context = guide.split("`context` is a `SearchContext`", 1)[-1]
    fields = [f.name for f in dataclasses.fields(SearchContext)]
    missing = [name for name in fields if f"| `{name}` |" not in context]
    assert missing == []


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    cli = (tmp_path / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("segframe search", "segframe plugins new", "--trials"):
        assert command in cli
    api = (tmp_path / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "load_customers" in api and "make_demo" in api
    plugin_api = (tmp_path / "reference" / "plugin-api" / "index.html").read_text("utf-8")
    assert "SearchContext" in plugin_api and "segframe_components" in plugin_api
