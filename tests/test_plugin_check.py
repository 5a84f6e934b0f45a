"""`check_component`, `check_plugin` and `segframe plugins check`: each mistake a plugin
author makes is reported with the component's name and the rule it breaks, and every
first-party plugin passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Perceptron
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from segframe.checks import PluginCheckError, check_component, check_plugin
from segframe.cli import app
from segframe.plugin import (
    FRAME,
    MATRIX,
    PREDICTION,
    RAW,
    Component,
    Start,
    TabularColumns,
    hookimpl,
)
from segframe.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = sorted(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["segframe"]
)


def problems(component: Component) -> list[str]:
    report = check_component(component, raise_on_problems=False)
    return [str(p) for p in report.problems]


def knn_space(trial: Any, context: Any) -> dict[str, Any]:
    return {"n_neighbors": trial.suggest_int("n_neighbors", 1, 15)}


KNN = Component("model", "knn", KNeighborsClassifier, MATRIX, PREDICTION, space=knn_space)


def test_a_component_that_keeps_the_contract_passes() -> None:
    report = check_component(KNN)
    assert report.ok and report.checked == ("model 'knn'",)


# --- models ---------------------------------------------------------------------------------


class SumsToTwo(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0)


class NoClasses(BaseEstimator):
    def fit(self, X, y):
        self.n_ = len(np.unique(y))
        return self

    def predict_proba(self, X):
        return np.full((len(X), self.n_), 1 / self.n_)


class FitReturnsNone(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        super().fit(X, y)


class Unclonable(LogisticRegression):
    def __init__(self, C: float = 1.0):
        super().__init__(C=C * 2)  # __init__ changes its parameter: clone() refuses


def depth_space(trial: Any, context: Any) -> dict[str, Any]:
    return {"depth": trial.suggest_int("depth", 1, 5)}  # the factory calls it max_depth


def inverted_space(trial: Any, context: Any) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 10.0, 1.0)}


def c_space(trial: Any, context: Any) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 0.1, 10.0, log=True)}


def linear_c_space(trial: Any, context: Any) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 0.1, 10.0)}


def typo_start(context: Any) -> list[Start]:
    return [Start(params={"c": 1.0})]


def rejected_start(context: Any) -> list[Start]:
    return [Start(params={"C": -1.0})]


def exploding(context: Any) -> bool:
    raise RuntimeError("no context for me")


def model(factory: Any, **fields: Any) -> Component:
    return Component("model", "mine", factory, MATRIX, PREDICTION, **fields)


@pytest.mark.parametrize(
    ("component", "rule", "message"),
    [
        (model(Perceptron), "methods", r"Perceptron, which has no predict_proba; segframe ranks "
         r"models by class probabilities.*CalibratedClassifierCV"),
        (model(SumsToTwo), "predict_proba", r"rows of predict_proba\(\) do not sum to 1"),
        (model(NoClasses), "classes_", r"no classes_ attribute"),
        (model(FitReturnsNone), "fit", r"fit\(\) returned NoneType, not self"),
        (model(Unclonable), "clone", r"sklearn.base.clone\(\) fails .* fresh clone per fold"),
        (model(LogisticRegression, space=depth_space), "factory",
         r"factory\(\*\*params\) with parameters \{'depth': \d\} drawn from its space raised "
         r"TypeError: .*'depth'"),
        (model(LogisticRegression, space=inverted_space), "space", r"raised ValueError"),
        (model(LogisticRegression, space=c_space, starts=typo_start), "starts",
         r"start 0 sets 'c', which the space never suggests \(it suggests C\); a search would "
         r"silently ignore it"),
        (model(LogisticRegression, space=linear_c_space, starts=rejected_start), "fit",
         r"fit\(\) with start 0 \(\{'C': -1.0\}\) on a numeric matrix raised "
         r"InvalidParameterError"),
        (model(LogisticRegression, applies=exploding), "applies",
         r"applies\(context\) raised RuntimeError: no context for me"),
        (model(LogisticRegression, in_default_search=exploding), "in_default_search",
         r"raised RuntimeError"),
        (model(LogisticRegression, starts=exploding), "starts", r"raised RuntimeError"),
        (model(LogisticRegression, space=c_space, starts=rejected_start), "starts",
         r"start 0: its space rejects it: raised ValueError: `-1.0` is invalid"),
    ],
    ids=["no-predict-proba", "proba-sum", "no-classes", "fit-not-self", "clone", "factory",
         "space", "start-typo", "start-rejected", "applies", "in-default-search", "starts",
         "start-outside-space"],
)  # fmt: skip
def test_model_mistakes_are_reported_with_the_component_and_rule(component, rule, message):
    found = problems(component)
    prefix = f"model 'mine' of plugin '(in code)' breaks rule '{rule}': "
    assert any(p.startswith(prefix) and re.search(message, p) for p in found), found


# --- features, preprocessors, samplers ------------------------------------------------------


class ArrayFeatures(TabularColumns):
    def transform(self, X):
        return super().transform(X).select_dtypes("number").to_numpy()


class ReindexedFeatures(TabularColumns):
    def transform(self, X):
        return super().transform(X).reset_index(drop=True)


class RowDependentColumns(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X)[:, : 3 if len(X) > 50 else 2]


class Holes(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        out = np.asarray(X, dtype=float).copy()
        out[0, 0] = np.nan
        return out


@pytest.mark.parametrize(
    ("component", "rule", "message"),
    [
        (Component("features", "arr", ArrayFeatures, RAW, FRAME), "output",
         r"transform\(\) of fitted rows returned ndarray; it produces 'frame', a DataFrame "
         r"indexed like its input"),
        (Component("features", "arr", ReindexedFeatures, RAW, FRAME), "output",
         r"index is not the customers' index"),
        (Component("preprocessor", "arr", RowDependentColumns, MATRIX, MATRIX), "output",
         r"3 columns for the rows it was fitted on but 2 for other rows"),
        (Component("preprocessor", "arr", Holes, MATRIX, MATRIX), "output",
         r"NaN or infinite values; 'matrix' is complete"),
        (Component("preprocessor", "arr", LogisticRegression, MATRIX, MATRIX), "methods",
         r"LogisticRegression, which has no transform"),
        (Component("sampler", "arr", StandardScaler, MATRIX, MATRIX), "methods",
         r"StandardScaler, which has no fit_resample\(X, y\); .*a transformer is a preprocessor"),
        (Component("features", "arr", TabularColumns, "raw", "fram"), "fields",
         r"produces 'fram' is not a data form; .*\(did you mean 'frame'\?\)"),
    ],
    ids=["ndarray-features", "reindexed", "row-dependent", "nan-matrix", "no-transform",
         "no-fit-resample", "form-typo"],
)  # fmt: skip
def test_step_mistakes_are_reported_with_the_component_and_rule(component, rule, message):
    found = problems(component)
    prefix = f"{component.kind} 'arr' of plugin '(in code)' breaks rule '{rule}': "
    assert any(p.startswith(prefix) and re.search(message, p) for p in found), found


def test_check_component_raises_listing_every_problem() -> None:
    with pytest.raises(PluginCheckError) as caught:
        check_component(model(SumsToTwo, starts=typo_start))
    assert isinstance(caught.value, AssertionError)  # reads as a failed assertion in pytest
    text = str(caught.value)
    assert re.match(r"model 'mine': \d+ problems:\n- model 'mine' of plugin '\(in code\)'", text)
    assert "breaks rule 'predict_proba'" in text and "breaks rule 'starts'" in text


# --- whole plugins ----------------------------------------------------------------------------


class MixedPlugin:
    """One good component and one whose builder returns an ndarray."""

    @hookimpl
    def segframe_components(self) -> list[Component]:
        return [KNN, Component("features", "arr", ArrayFeatures, RAW, FRAME)]


def test_check_plugin_on_a_plugin_object_names_each_broken_component() -> None:
    report = check_plugin(MixedPlugin(), raise_on_problems=False)
    assert report.target == "plugin 'MixedPlugin' (registered in code)"
    assert set(report.checked) == {"model 'knn'", "features 'arr'"}
    assert [(p.component, p.rule) for p in report.problems] == [("features 'arr'", "output")]


CONFLICTING = """
from sklearn.linear_model import LogisticRegression
from segframe.plugin import Component, hookimpl

@hookimpl
def segframe_components():
    return [Component("model", "logreg", LogisticRegression, "matrix", "prediction")]
"""


@pytest.mark.parametrize(
    ("source", "rule", "message"),
    [
        ("raise ImportError('no luck')", "load", r"ImportError: no luck"),
        ("from segframe.plugin import hookimpl\ndef segframe_components():\n    return []",
         "load", r"not marked as a hook implementation"),
        (CONFLICTING, "conflicting", r"plugins 'clash_plugin' \(clash-dist 1.2.3\) and 'sklearn' "
         r"\(segframe .*\) both provide the model component 'logreg'"),
    ],
    ids=["import-error", "no-hookimpl", "name-clash"],
)  # fmt: skip
def test_check_plugin_reports_what_keeps_a_plugin_from_loading(
    install_plugin, source, rule, message
) -> None:
    install_plugin("clash-dist", "clash_plugin", source)
    with pytest.raises(PluginCheckError) as caught:
        check_plugin("clash_plugin")
    (problem,) = caught.value.report.problems
    assert (problem.plugin, problem.rule) == ("clash_plugin", rule)
    assert re.search(message, problem.message), problem.message
    where = "model 'logreg' of plugin" if problem.component else "plugin"
    assert str(problem).startswith(f"{where} 'clash_plugin' breaks rule '{rule}': ")


def test_check_plugin_lists_each_bad_field_of_a_component_broken_at_registration() -> None:
    class Typos:
        @hookimpl
        def segframe_components(self) -> list[Component]:
            return [Component("model", "typos", Perceptron, "matirx", "predicton")]

    report = check_plugin(Typos(), raise_on_problems=False)
    assert [(p.component, p.rule) for p in report.problems] == [
        ("model 'typos'", "fields"),
        ("model 'typos'", "fields"),
    ]
    assert "did you mean 'prediction'?" in report.problems[1].message


def test_cli_check_exits_1_listing_problems_and_0_when_clean(install_plugin) -> None:
    source = """
from sklearn.linear_model import Perceptron
from segframe.plugin import Component, hookimpl

@hookimpl
def segframe_components():
    return [Component("model", "perceptron", Perceptron, "matrix", "prediction",
                      description="[bold]literal[/bold]")]
"""
    site = install_plugin("percept-dist", "percept_plugin", source)
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-m", "segframe", "plugins", "check", "percept_plugin"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "✗ plugin 'percept_plugin' (percept-dist 1.2.3): 1 component checked, 1 problem" in (
        out.stdout
    )
    assert re.search(r"model 'perceptron' of plugin 'percept_plugin' breaks rule 'methods'",
                     out.stdout)  # fmt: skip
    clean = CliRunner().invoke(app, ["plugins", "check", "logreg"])  # a component name
    assert clean.exit_code == 0, clean.output
    assert "✓ model 'logreg': 1 component checked, no problems" in clean.output
    unknown = CliRunner().invoke(app, ["plugins", "check", "no_such_thing_xyz"])
    assert unknown.exit_code == 2 and "No installed plugin is named 'no_such_thing_xyz'" in (
        unknown.output
    )


def test_the_scaffolded_plugin_passes_its_generated_check(tmp_path, install_plugin) -> None:
    root = scaffold("acme", tmp_path)
    source = (root / "src" / "segframe_acme" / "__init__.py").read_text()
    install_plugin("segframe-acme", "segframe_acme", source, entry_name="acme")
    generated = (root / "tests" / "test_segframe_acme.py").read_text()
    assert 'check_plugin("acme")' in generated
    namespace: dict[str, Any] = {}
    exec(compile(generated, "test_segframe_acme.py", "exec"), namespace)
    namespace["test_the_plugin_is_discovered_and_keeps_the_component_contract"]()


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_every_first_party_plugin_passes_segframe_plugins_check(plugin: str) -> None:
    # about 40 s for all of them, most of it the four Keras components (one epoch each)
    result = CliRunner().invoke(app, ["plugins", "check", plugin])
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"✓ plugin '{plugin}' \(segframe .*\): \d+ components? checked", result.output
    )


def test_check_data_is_realistic_raw_customers_with_events() -> None:
    from segframe.checks import check_data

    data = check_data()
    raw = data.forms[RAW].fit
    assert isinstance(raw, pd.DataFrame) and "events" in raw.columns
    assert data.context.has_events and data.context.n_classes == 2
    assert data.context3.n_classes == 3
    assert np.isfinite(data.forms[MATRIX].fit).all()
    assert DummyClassifier().fit(data.forms[MATRIX].fit, data.y).classes_.tolist() == [0, 1]
