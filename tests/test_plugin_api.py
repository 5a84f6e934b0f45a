"""The plugin API, ``segframe.plugin``: the one segframe module a plugin imports.

Every first-party plugin (each folder under ``plugins/``, submodules included), the example
package and the scaffold import from segframe only ``segframe.plugin`` and never another
plugin; the core never imports a plugin; ``__all__`` is complete, sorted and names only
what exists.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import segframe
import segframe.plugin as api
from segframe import components, data, errors, hookspecs, progress, rfm
from segframe.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file())
PLUGIN_FILES = sorted(
    path.relative_to(ROOT / "plugins").as_posix()
    for plugin in PLUGINS
    for path in (ROOT / "plugins" / plugin).rglob("*.py")
)
EXAMPLE = ROOT / "examples" / "segframe-rfm-plus" / "src" / "segframe_rfm_plus" / "__init__.py"


def imported_modules(source: str) -> set[str]:
    """Absolute module names a source imports (``from segframe import x`` as ``segframe.x``)."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "segframe":
                modules |= {f"segframe.{alias.name}" for alias in node.names}
            else:
                modules.add(node.module)
    return modules


def assert_plugin_imports(source: str, own_package: str) -> None:
    modules = imported_modules(source)
    from_segframe = {m for m in modules if m.split(".")[0] == "segframe"}
    assert from_segframe <= {"segframe.plugin"}, "a plugin imports only segframe.plugin"
    others = {m for m in modules if m.startswith("segframe_") and m.split(".")[0] != own_package}
    assert not others, "plugins never import each other"


def test_every_plugin_folder_and_submodule_is_checked() -> None:
    assert len(PLUGINS) >= 8 and {"segframe_tabular", "segframe_sequences"} <= set(PLUGINS)
    assert "segframe_keras/estimators.py" in PLUGIN_FILES


@pytest.mark.parametrize("relative", PLUGIN_FILES)
def test_first_party_plugins_import_only_the_plugin_api(relative: str) -> None:
    source = (ROOT / "plugins" / relative).read_text(encoding="utf-8")
    assert_plugin_imports(source, own_package=relative.split("/")[0])


def test_the_example_and_the_scaffold_import_only_the_plugin_api(tmp_path: Path) -> None:
    assert_plugin_imports(EXAMPLE.read_text(encoding="utf-8"), "segframe_rfm_plus")
    root = scaffold("acme", tmp_path)
    module = (root / "src" / "segframe_acme" / "__init__.py").read_text(encoding="utf-8")
    assert_plugin_imports(module, "segframe_acme")
    assert "from segframe.plugin import" in module


def test_the_core_never_imports_a_plugin() -> None:
    for path in sorted((ROOT / "segframe").glob("*.py")):
        modules = imported_modules(path.read_text(encoding="utf-8"))
        assert not {m for m in modules if m.startswith("segframe_")}, path.name


def test_every_name_in_all_exists() -> None:
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []
    assert len(set(api.__all__)) == len(api.__all__)


def test_all_is_sorted_as_ruff_sorts_it() -> None:
    """Constants, then classes, then functions, each alphabetical (ruff's RUF022)."""

    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert api.__all__ == sorted(api.__all__, key=key)


def test_all_is_complete() -> None:
    """``__all__`` is exactly what the module defines and what it re-exports from the core,
    and holds every name a first-party plugin takes from it."""
    tree = ast.parse(inspect.getsource(api))
    offered = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            offered.add(node.name)
        elif isinstance(node, ast.Assign):
            offered |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("segframe."):
            offered |= {alias.asname or alias.name for alias in node.names}
    assert {name for name in offered if not name.startswith("_")} == set(api.__all__)
    used = set()
    for relative in PLUGIN_FILES:
        tree = ast.parse((ROOT / "plugins" / relative).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "segframe.plugin":
                used |= {alias.name for alias in node.names}
    assert used and used <= set(api.__all__)


def test_names_are_the_core_objects_themselves() -> None:
    """Re-exports, not copies: an ``isinstance`` or ``except`` works across both names."""
    assert api.Component is components.Component is segframe.Component
    assert api.hookimpl is hookspecs.hookimpl is segframe.hookimpl
    assert api.DataError is errors.DataError is segframe.DataError
    assert api.report_epoch is progress.report_epoch
    assert api.event_arrays is data.event_arrays and api.EVENTS == data.EVENTS
    assert api.RFMFeatures is rfm.RFMFeatures and api.rfm_table is rfm.rfm_table


def test_old_import_paths_keep_working() -> None:
    """Third-party code may import from ``segframe``; stored pipelines name the classes
    where they used to live, and unpickling looks them up there."""
    from segframe import Component, hookimpl  # noqa: F401

    tabular = importlib.import_module("segframe_tabular")
    assert tabular.RFMFeatures is api.RFMFeatures
    assert tabular.TabularColumns is api.TabularColumns
    sklearn_plugin = importlib.import_module("segframe_sklearn")
    assert sklearn_plugin.make_imputer is api.make_imputer
    assert sklearn_plugin.make_onehot is api.make_onehot


def test_roc_auc_scores_as_a_search_does() -> None:
    codes = np.array([0, 1, 1, 0, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    assert api.roc_auc(codes, proba) == pytest.approx(roc_auc_score(codes, proba[:, 1]))
    assert np.isnan(api.roc_auc(np.zeros(5, dtype=int), proba))
    three = np.array([0, 1, 2, 0, 1, 2])
    scores = np.eye(3)[three] * 0.7 + 0.1
    assert api.roc_auc(three, scores) == 1.0
    assert np.isnan(api.roc_auc(np.array([0, 1, 0, 1, 0, 1]), scores))
