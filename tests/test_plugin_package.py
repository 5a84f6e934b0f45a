"""Third-party plugin packages: the contract version they declare, and real installs.

The slow tests build a fresh virtual environment (no system site-packages), pip-install
segframe, the example package ``examples/segframe-rfm-plus`` and a package made by
``segframe plugins new``, and use them as a user would: ``segframe plugins`` lists them
and a search treats their components like first-party ones.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from segframe import CONTRACT_VERSION
from segframe.registry import Registry
from segframe.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "segframe-rfm-plus"
#: Every first-party plugin module, as registered in segframe's own pyproject.toml.
FIRST_PARTY = sorted(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        "segframe"
    ].values()
)

PLUGIN = """
from sklearn.dummy import DummyClassifier
from segframe import Component, hookimpl

SEGFRAME_CONTRACT = {contract}

@hookimpl
def segframe_components():
    return [Component("model", "dummy_{tag}", DummyClassifier, "matrix", "prediction")]
"""


@pytest.mark.parametrize("module", FIRST_PARTY)
def test_first_party_plugins_declare_the_contract(module: str) -> None:
    assert importlib.import_module(module).SEGFRAME_CONTRACT == CONTRACT_VERSION == 1


def test_a_plugin_for_this_contract_loads(install_plugin) -> None:
    install_plugin("current-dist", "current_plugin", PLUGIN.format(contract=1, tag="now"))
    registry = Registry.load()
    assert registry.plugins["current_plugin"].error is None
    assert registry.get("model", "dummy_now").name == "dummy_now"


@pytest.mark.parametrize(
    ("contract", "expected"),
    [
        ("2", r"written for segframe plugin contract 2, .*provides contract 1; upgrade segframe"),
        ("0", r"contract 0, .*provides contract 1; upgrade the plugin \(pip install -U old-dist"),
        ("'1'", r"SEGFRAME_CONTRACT must be an integer contract version such as 1, not '1'"),
    ],
    ids=["newer", "older", "not-an-int"],
)
def test_a_plugin_for_another_contract_is_reported_and_skipped(
    install_plugin, contract: str, expected: str
) -> None:
    install_plugin("old-dist", "old_plugin", PLUGIN.format(contract=contract, tag="old"))
    registry = Registry.load()
    assert re.search(expected, registry.plugins["old_plugin"].error)
    assert "dummy_old" not in {c.name for c in registry.components("model")}
    assert {"logreg", "xgboost"} <= {c.name for c in registry.components("model")}


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    assert out.returncode == 0, f"{args} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory) -> dict[str, Path]:
    """A fresh venv with segframe, the example plugin and a scaffolded one pip-installed."""
    root = tmp_path_factory.mktemp("fresh")
    source = root / "segframe-src"  # a copy, so that building never writes into the checkout
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("segframe", "plugins"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    example = shutil.copytree(EXAMPLE, root / EXAMPLE.name, ignore=skip)
    scaffolded = scaffold("acme", root)
    venv = root / "venv"
    started = time.perf_counter()
    _run(sys.executable, "-m", "venv", venv, cwd=root)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
    _run(*pip, source, f"{example}[test]", f"{scaffolded}[test]", cwd=root)
    print(f"fresh venv with segframe and two plugins: {time.perf_counter() - started:.1f} s")
    work = root / "work"
    work.mkdir()
    return {"bin": venv / "bin", "example": example, "scaffolded": scaffolded, "work": work}


@pytest.mark.slow
def test_installed_plugins_are_listed_by_segframe_plugins(fresh_env) -> None:
    where = _run(fresh_env["bin"] / "python", "-c", "import segframe; print(segframe.__file__)",
                 cwd=fresh_env["work"])  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(fresh_env["bin"].parent)  # not the checkout
    out = _run(fresh_env["bin"] / "segframe", "plugins", "--json", cwd=fresh_env["work"])
    listing = json.loads(out.stdout)
    found = {(c["kind"], c["name"]): c for c in listing["components"]}
    for key, dist in [
        (("features", "rfm_plus"), "segframe-rfm-plus 0.1.0"),
        (("model", "hist_gb"), "segframe-rfm-plus 0.1.0"),
        (("model", "acme_trees"), "segframe-acme 0.1.0"),
        (("model", "logreg"), "segframe 0.1.0"),
    ]:
        assert found[key]["distribution"] == dist
        assert found[key]["status"] == "available"
    assert listing["broken_plugins"] == []


@pytest.mark.slow
def test_example_model_wins_or_loses_a_search_like_first_party_ones(fresh_env) -> None:
    work = fresh_env["work"]
    segframe_cli = fresh_env["bin"] / "segframe"
    _run(segframe_cli, "search", "--demo", "--models", "hist_gb,logreg", "--trials", "4",
         "--study", "rivals", cwd=work)  # fmt: skip
    board = json.loads(
        _run(segframe_cli, "leaderboard", "--study", "rivals", "--json", cwd=work).stdout
    )
    complete = [row for row in board if row["state"] == "COMPLETE"]
    models = {row["pipeline"].rsplit(" > ", 1)[-1] for row in complete}
    assert models == {"hist_gb", "logreg"}, board
    assert all(0.0 <= row["auc"] <= 1.0 for row in complete)
    # The leaderboard is sorted best first, by the same rule for every component.
    assert board[0]["pipeline"].endswith(("hist_gb", "logreg"))


@pytest.mark.slow
def test_plugin_packages_pass_their_own_tests_in_the_fresh_env(fresh_env) -> None:
    out = _run(fresh_env["bin"] / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
               fresh_env["example"] / "tests", fresh_env["scaffolded"] / "tests",
               cwd=fresh_env["work"])  # fmt: skip
    assert "5 passed" in out.stdout
