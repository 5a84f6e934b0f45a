"""``segframe plugins new NAME``: a ready-to-install third-party plugin package.

The package has a ``pyproject.toml`` registering the plugin under the ``segframe``
entry-point group, a plugin module with one example model component that declares the
contract it targets, and a test that finds the component, checks it with
:func:`segframe.checks.check_plugin` and wins a tiny search with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from segframe.components import CONTRACT_ATTRIBUTE, CONTRACT_VERSION
from segframe.errors import SegframeError

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A segframe plugin: $description."
requires-python = ">=3.11"
dependencies = ["segframe>=0.1", "scikit-learn>=1.5"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This table is what makes segframe find the plugin: group "segframe", any entry name,
# the value is the module holding the segframe_components() hook implementation.
[project.entry-points.segframe]
$entry = "$module"
""")

README = Template("""\
# $dist

A [segframe](https://pypi.org/project/segframe/) plugin: $description.

```bash
pip install -e '.[test]'
segframe plugins                       # lists the '$component' model
segframe search --demo --models $component --trials 5
python -m pytest -q
```
""")

MODULE = Template('''\
"""segframe plugin $dist: $description."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import ExtraTreesClassifier

from segframe.plugin import MATRIX, PREDICTION, Component, SearchContext, hookimpl

#: The segframe plugin contract this plugin is written for.
$contract_attribute = $contract


def make_model(n_estimators: int = 200, min_samples_leaf: int = 1) -> ExtraTreesClassifier:
    """An unfitted model; segframe calls this with the parameters a trial sampled."""
    return ExtraTreesClassifier(
        n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, n_jobs=1, random_state=0
    )


def _space(trial: Any, context: SearchContext) -> dict[str, Any]:
    """Plain parameter names: segframe prefixes them with the component name."""
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, log=True),
        "min_samples_leaf": trial.suggest_int(
            "min_samples_leaf", 1, max(1, context.min_class_count // 10)
        ),
    }


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "model",
            "$component",
            make_model,
            MATRIX,
            PREDICTION,
            space=_space,
            description="$description",
        )
    ]
''')

TEST = Template('''\
"""The plugin is found through its entry point, keeps the component contract and competes
in a tiny search."""

from __future__ import annotations

from pathlib import Path

import segframe
from segframe.checks import check_plugin
from segframe.data import load_customers
from segframe.demo import make_demo
from segframe.registry import Registry


def test_the_plugin_is_discovered_and_keeps_the_component_contract() -> None:
    info = Registry.load().info("model", "$component")
    assert info.plugin.distribution == "$dist"
    # Builds each component with parameters drawn from its space (and its starts), fits it
    # on a small simulated shop and checks what comes out; fails listing every broken
    # rule, each with the component's name. `segframe plugins check $entry` does the same.
    check_plugin("$entry")


def test_the_component_runs_in_a_search(tmp_path: Path) -> None:
    customers, events = make_demo(n_customers=300, seed=1)
    data = load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )
    result = segframe.search(
        data, storage=f"sqlite:///{tmp_path / 'study.db'}", trials=2, models=["$component"]
    )
    assert set(result.best_spec.model_names) == {"$component"}  # one pipeline or an ensemble
    assert 0.0 <= result.holdout_scores["auc"] <= 1.0
''')


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin package uses, all derived from the NAME given."""

    entry: str  # entry-point name, as `segframe plugins` shows it
    dist: str  # distribution name, for pip
    module: str  # import name of the plugin module
    component: str  # name of the example model component

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        base = name.strip().lower().removeprefix("segframe-").removeprefix("segframe_")
        if not NAME.match(base):
            raise SegframeError(
                f"Plugin name {name!r} is not usable: use lower-case letters, digits and single "
                "dashes or underscores, starting with a letter (e.g. 'acme' or 'rfm-plus')."
            )
        snake = base.replace("-", "_")
        return cls(snake, f"segframe-{base}", f"segframe_{snake}", f"{snake}_trees")


def scaffold(name: str, directory: Path | str = ".") -> Path:
    """Write a new plugin package for ``name`` under ``directory``; returns its folder."""
    names = PluginNames.from_name(name)
    root = Path(directory) / names.dist
    if root.exists():
        raise SegframeError(
            f"{str(root)!r} already exists; choose another name or remove that folder first."
        )
    values = {
        **names.__dict__,
        "description": f"extremely randomised trees as the {names.component!r} model",
        "contract_attribute": CONTRACT_ATTRIBUTE,
        "contract": CONTRACT_VERSION,
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{names.module}/__init__.py": MODULE,
        f"tests/test_{names.module}.py": TEST,
    }
    try:
        for relative, template in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.substitute(values), encoding="utf-8")
    except OSError as exc:
        raise SegframeError(f"Cannot write the plugin package to {str(root)!r}: {exc}.") from exc
    return root
