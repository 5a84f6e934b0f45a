"""Shared fixtures: small demo data, throw-away study databases, throw-away plugins, and a
small fake registry for tests of the core alone."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import textwrap
from pathlib import Path

import fake_plugin
import pytest

from segframe.data import CustomerData, load_customers
from segframe.demo import make_demo
from segframe.registry import Registry


@pytest.fixture(scope="session")
def small_demo() -> CustomerData:
    customers, events = make_demo(n_customers=400, seed=3)
    return load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )


def make_fake_registry(*extra: object) -> Registry:
    """A registry of the fake plugin's components (plus ``extra`` plugins), and none of the
    installed plugins: what a core test searches with."""
    return Registry.load(entry_point_plugins=False, extra=[fake_plugin, *extra])


@pytest.fixture
def fake_registry() -> Registry:
    """The fake plugin's numeric features, one preprocessor and two fast models, only."""
    return make_fake_registry()


@pytest.fixture
def storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a throw-away plugin distribution on ``sys.path`` with a real entry point.

    ``install_plugin(dist, module, source)`` writes ``module.py`` and a ``dist-info``
    folder whose ``entry_points.txt`` registers it in the ``segframe`` group, exactly as
    ``pip install`` would. Returns the folder, to put on ``PYTHONPATH`` of subprocesses.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    added: list[str] = []

    def install(dist: str, module: str, source: str, entry_name: str | None = None) -> Path:
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[segframe]\n{entry_name or module} = {module}\n")
        importlib.invalidate_caches()
        added.append(module)
        return root

    yield install
    for module in added:
        sys.modules.pop(module, None)


def copy_sqlite(source: Path | str, target: Path | str) -> None:
    """Copy a SQLite study database whole; its WAL file may still hold recent commits."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
