"""`segframe plugins new NAME`: the package it writes, checked without installing it.

Installing a scaffolded package into a fresh virtual environment is tested in
tests/test_plugin_package.py.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import segframe
from segframe.errors import SegframeError
from segframe.registry import Registry
from segframe.scaffold import scaffold


def test_scaffold_writes_an_installable_package_layout(tmp_path: Path) -> None:
    root = scaffold("rfm-extra", tmp_path)
    assert root == tmp_path / "segframe-rfm-extra"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "segframe-rfm-extra"
    assert project["project"]["entry-points"]["segframe"] == {"rfm_extra": "segframe_rfm_extra"}
    module = (root / "src" / "segframe_rfm_extra" / "__init__.py").read_text()
    assert "SEGFRAME_CONTRACT = 1" in module
    assert (root / "tests" / "test_segframe_rfm_extra.py").exists()
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "100", str(root)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_scaffolded_component_is_discovered_and_searched(tmp_path, install_plugin, small_demo):
    root = scaffold("acme", tmp_path)
    source = (root / "src" / "segframe_acme" / "__init__.py").read_text()
    install_plugin("segframe-acme", "segframe_acme", source, entry_name="acme")
    registry = Registry.load()
    assert registry.info("model", "acme_trees").plugin.distribution == "segframe-acme"
    result = segframe.search(
        small_demo,
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        trials=2,
        models=["acme_trees"],
        registry=registry,
    )
    # a single pipeline or an ensemble: every model in the winner is acme_trees
    assert {s.name for s in result.best_spec.all_steps() if s.kind == "model"} == {"acme_trees"}
    assert 0.5 < result.holdout_scores["auc"] <= 1.0


@pytest.mark.parametrize("name", ["", "Bad Name", "1abc", "a--b", "acme!"])
def test_unusable_names_are_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(SegframeError, match="lower-case letters, digits"):
        scaffold(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    scaffold("acme", tmp_path)
    marker = tmp_path / "segframe-acme" / "pyproject.toml"
    marker.write_text("mine")
    with pytest.raises(SegframeError, match="already exists"):
        scaffold("segframe-acme", tmp_path)
    assert marker.read_text() == "mine"


def test_cli_plugins_new_and_the_listing_stay_one_command(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "segframe", *args], capture_output=True, text=True, cwd=tmp_path
        )

    made = cli("plugins", "new", "acme")
    assert made.returncode == 0, made.stderr
    assert "pip install -e './segframe-acme[test]'" in made.stdout
    assert (tmp_path / "segframe-acme" / "pyproject.toml").exists()
    again = cli("plugins", "new", "acme")
    assert again.returncode == 2 and "already exists" in again.stderr
    listing = cli("plugins", "--json")
    assert listing.returncode == 0 and '"components"' in listing.stdout
