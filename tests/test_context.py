"""The contract sees the data: ``SearchContext`` columns, and ``--include``/``--exclude``.

A plugin's ``applies(context)`` can ask for the customer table's columns and their kinds,
so a feature builder for one kind of table joins only the searches on such tables; and a
user can keep or leave out components by name.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from typer.testing import CliRunner

import segframe
from segframe.cli import app
from segframe.data import CustomerData, load_customers
from segframe.demo import make_demo
from segframe.engine import _context
from segframe.errors import PluginError, SegframeError
from segframe.leaderboard import leaderboard
from segframe.plugin import FRAME, RAW, Component, SearchContext, hookimpl
from segframe.registry import Registry
from segframe.space import PipelineSpace


class PlanFlags(TransformerMixin, BaseEstimator):
    """A feature builder for tables with a ``plan`` column: one flag per plan."""

    def fit(self, X, y=None):
        self.plans_ = sorted(X["plan"].dropna().unique())
        return self

    def transform(self, X):
        return pd.DataFrame(
            {f"plan_{p}": (X["plan"] == p).astype(float) for p in self.plans_}, index=X.index
        )


def _needs_plan(context: SearchContext) -> bool:
    return context.has_columns("plan", kind="categorical")


class PlanPlugin:
    SEGFRAME_CONTRACT = 1

    @hookimpl
    def segframe_components(self):
        return [Component("features", "plan_flags", PlanFlags, RAW, FRAME, applies=_needs_plan)]


class Recorder:
    """A plugin whose feature builder never joins, but records every context it is shown."""

    SEGFRAME_CONTRACT = 1

    def __init__(self) -> None:
        self.seen: list[SearchContext] = []

    def _applies(self, context: SearchContext) -> bool:
        self.seen.append(context)
        return False

    @hookimpl
    def segframe_components(self):
        return [Component("features", "recorder", PlanFlags, RAW, FRAME, applies=self._applies)]


def _with_columns(shop: CustomerData, **columns) -> CustomerData:
    frame = shop.frame.assign(**columns)
    order = [c for c in frame.columns if c != "events"] + ["events"]
    return dataclasses.replace(shop, frame=frame[order])


def _choices(storage: str, study: str) -> dict[str, list]:
    """Every categorical parameter's choices over the study's trials."""
    found: dict[str, list] = {}
    for trial in optuna.load_study(study_name=study, storage=storage).trials:
        for name, dist in trial.distributions.items():
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                found[name] = list(dist.choices)
    return found


def _params(storage: str, study: str) -> list[dict]:
    return [t.params for t in optuna.load_study(study_name=study, storage=storage).trials]


def test_a_column_aware_feature_builder_joins_only_where_its_column_exists(small_demo, storage):
    registry = Registry.load(extra=[PlanPlugin()])
    segframe.search(
        small_demo,
        storage=storage,
        study="plain",
        trials=2,
        models=["logreg"],
        registry=registry,
        ensemble=False,
    )
    assert not any("plan_flags" in c for c in _choices(storage, "plain")["matrix_features"])

    rng = np.random.default_rng(0)
    plans = rng.choice(["basic", "pro"], size=len(small_demo.frame))
    with_plan = _with_columns(small_demo, plan=plans)
    segframe.search(
        with_plan,
        storage=storage,
        study="plans",
        trials=3,
        models=["logreg"],
        registry=registry,
        ensemble=False,
        include=["plan_flags", "tabular"],
    )
    assert "plan_flags" in _choices(storage, "plans")["matrix_features"]
    board = leaderboard("plans", storage)
    assert (board["state"] == "COMPLETE").all(), board["error"].tolist()
    assert board["pipeline"].str.contains("plan_flags").any()


def _mixed_table() -> CustomerData:
    customers, events = make_demo(n_customers=300, seed=5)
    rng = np.random.default_rng(1)
    customers["vip"] = rng.random(len(customers)) < 0.2
    customers["signup"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 300, len(customers)), unit="D"
    )
    return load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )


EXPECTED_KINDS = {
    "age": "numeric",
    "country": "categorical",
    "channel": "categorical",
    "newsletter": "numeric",
    "device": "categorical",
    "vip": "boolean",
    "signup": "datetime",
}


def test_the_context_names_the_columns_and_their_kinds_in_search_and_segment(storage):
    shop = _mixed_table()
    recorder = Recorder()
    registry = Registry.load(extra=[recorder])
    segframe.search(
        shop,
        storage=storage,
        study="s",
        trials=1,
        models=["logreg"],
        registry=registry,
        ensemble=False,
    )
    segframe.segment(
        shop,
        storage=storage,
        study="k",
        trials=1,
        k=(2, 3),
        registry=registry,
        exclude=["autoencoder_embedding"],
    )
    assert len(recorder.seen) >= 2
    for context in recorder.seen:
        assert context.columns == tuple(EXPECTED_KINDS)  # no id, target or events
        assert dict(context.column_kinds) == EXPECTED_KINDS
        assert context.n_tabular_columns == len(EXPECTED_KINDS)
        assert context.has_columns("vip", "signup") and not context.has_columns("plan")
        assert context.has_columns("signup", kind="datetime")
        assert not context.has_columns("signup", kind="numeric")
        assert context.columns_of("categorical") == ("country", "channel", "device")


def test_the_context_pickles_stays_frozen_and_accepts_old_constructions():
    context = SearchContext(
        500, 2, 50, 0.3, True, 2, columns=("a", "b"), column_kinds={"a": "numeric", "b": "boolean"}
    )
    again = pickle.loads(pickle.dumps(context))
    assert again == context and hash(again) == hash(context)
    assert again.column_kinds == {"a": "numeric", "b": "boolean"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.columns = ("c",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        context.column_kinds["a"] = "categorical"  # type: ignore[index]
    old = SearchContext(500, 2, 50, 0.3, True, 5)  # third-party code written before columns
    assert old.columns == () and not old.has_columns("a") and old.n_tabular_columns == 5
    with pytest.raises(ValueError, match="n_tabular_columns"):
        SearchContext(500, 2, 50, 0.3, True, 5, columns=("a",))
    with pytest.raises(ValueError, match="column kinds"):
        SearchContext(500, 2, 50, 0.3, True, 1, columns=("a",), column_kinds={"a": "text"})


def test_include_and_exclude_change_which_components_trials_use(small_demo, storage):
    segframe.search(
        small_demo,
        storage=storage,
        study="s",
        trials=3,
        models=["logreg"],
        include=["ordinal", "tabular"],
        exclude=["scale", "smote"],
        ensemble=False,
    )
    choices = _choices(storage, "s")
    assert choices["frame_to_matrix"] == ["ordinal"]  # --include: only ordinal for its step
    assert choices["frame_to_frame"] == ["impute"]  # steps --include names nothing of stay
    assert choices["matrix_features"] == ["tabular"]
    assert "matrix_to_matrix" not in choices  # scale was that step's only component
    assert "smote" not in choices["matrix_sampler"] and "random_over" in choices["matrix_sampler"]
    for params in _params(storage, "s"):
        assert params["frame_to_matrix"] == "ordinal" and params["matrix_features"] == "tabular"
        assert params.get("matrix_sampler") != "smote"


def test_models_and_included_models_are_searched_together(small_demo):
    registry = Registry.load()
    context = _context(small_demo.frame, small_demo.target, 3, True, "cpu")
    space = PipelineSpace(registry, context, ["logreg"], include=["extra_trees"])
    assert list(space.models) == ["logreg", "extra_trees"]
    space = PipelineSpace(registry, context, include=["model:kmeans"])  # not joining unasked
    assert list(space.models) == ["kmeans"]


@pytest.fixture(scope="module")
def context() -> SearchContext:
    return SearchContext(
        500, 2, 50, 0.3, True, 1, columns=("age",), column_kinds={"age": "numeric"}
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"exclude": ["smot"]},
            r"--exclude names 'smot', which is no installed component "
            r"\(did you mean 'smote'\?\)\. Known samplers: adasyn, .*smote\. Run `segframe",
        ),
        ({"include": ["zzz"]}, r"--include names 'zzz'.*Known feature builders: .*; models: "),
        ({"exclude": ["oops:smote"]}, r"KIND:NAME with KIND one of features, preprocessor"),
        ({"exclude": ["model:smote"]}, r"Known models: "),
        (
            {"exclude": ["impute"]},
            r"--exclude removes impute from the frame → frame "
            r"preprocessors, but every chain needs one of them.*Keep at least one of: impute",
        ),
        (
            {
                "exclude": [
                    "logreg",
                    "xgboost",
                    "lightgbm",
                    "catboost",
                    "extra_trees",
                    "random_forest",
                    "hist_gradient_boosting",
                    "neural_net",
                ]
            },
            r"--exclude removes .* from the models, which leaves no model that fits this data",
        ),
        (
            {"exclude": ["tabular", "rfm", "event_aggregates", "event_sequence"]},
            r"leaves no feature builder that fits this data",
        ),
        ({"include": ["rfm"], "exclude": ["rfm"]}, r"'rfm' is in both --include and --exclude"),
        ({"models": ["logreg"], "exclude": ["logreg"]}, r"in both --models and --exclude"),
        ({"exclude": ["onehot", "ordinal"]}, r"No model can be used.*--exclude onehot, ordinal"),
    ],
    ids=[
        "misspelt",
        "unknown",
        "bad-kind",
        "wrong-kind",
        "required-slot",
        "every-model",
        "every-feature",
        "both",
        "models-and-exclude",
        "no-chain",
    ],
)
def test_unknown_names_and_impossible_selections_are_refused_clearly(context, options, message):
    options = dict(options)
    models = options.pop("models", None)
    with pytest.raises(PluginError, match=message) as caught:
        PipelineSpace(Registry.load(), context, models, **options)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 600


def test_an_included_builder_that_does_not_fit_the_data_is_refused(context):
    no_events = dataclasses.replace(context, has_events=False)
    with pytest.raises(PluginError, match=r"--include keeps only rfm among the feature builders"):
        PipelineSpace(Registry.load(), no_events, include=["rfm"])


def test_a_continued_study_keeps_its_selection(small_demo, storage):
    segframe.search(
        small_demo,
        storage=storage,
        study="s",
        trials=2,
        models=["logreg"],
        exclude=["smote"],
        ensemble=False,
    )
    with pytest.raises(
        SegframeError,
        match=r"matrix_sampler.*--include or --exclude.*same "
        r"--models, --include, --exclude and plugins",
    ):
        segframe.search(small_demo, storage=storage, study="s", trials=3, models=["logreg"])
    assert len(_params(storage, "s")) == 2


@pytest.fixture
def csv_shop(tmp_path: Path) -> Path:
    customers, events = make_demo(n_customers=300, seed=2)
    customers.to_csv(tmp_path / "c.csv", index=False)
    events.to_csv(tmp_path / "e.csv", index=False)
    return tmp_path


def test_cli_search_and_segment_take_include_and_exclude(csv_shop):
    runner = CliRunner()
    storage = f"sqlite:///{csv_shop / 's.db'}"
    data = ["--data", str(csv_shop / "c.csv"), "--events", str(csv_shop / "e.csv")]
    result = runner.invoke(
        app,
        [
            "search",
            *data,
            "--target",
            "will_buy_again",
            "--trials",
            "2",
            "--models",
            "logreg",
            "--include",
            "ordinal",
            "--exclude",
            "smote,scale",
            "--no-ensemble",
            "--storage",
            storage,
            "--study",
            "s",
        ],
    )
    assert result.exit_code == 0, result.output
    assert all(p["frame_to_matrix"] == "ordinal" for p in _params(storage, "s"))
    result = runner.invoke(
        app,
        [
            "segment",
            *data,
            "--trials",
            "2",
            "--k",
            "2-3",
            "--exclude",
            "autoencoder_embedding,scale",
            "--storage",
            storage,
            "--study",
            "k",
        ],
    )
    assert result.exit_code == 0, result.output
    assert all("autoencoder_embedding" not in p.values() for p in _params(storage, "k"))
    assert "scale" not in str(_choices(storage, "k"))


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        ("search", ["--exclude", "smot"], "did you mean 'smote'"),
        ("search", ["--include", ","], "--include names no component"),
        (
            "segment",
            ["--exclude", "smote"],
            "a segmentation chooses only feature builders and preprocessors",
        ),
        ("segment", ["--exclude", "impute"], "every chain needs one of them"),
    ],
)
def test_cli_refuses_bad_selections_in_one_paragraph(csv_shop, command, options, message):
    storage = f"sqlite:///{csv_shop / 's.db'}"
    args = [
        command,
        "--data",
        str(csv_shop / "c.csv"),
        "--events",
        str(csv_shop / "e.csv"),
        "--storage",
        storage,
        "--trials",
        "2",
        *options,
    ]
    if command == "search":
        args += ["--target", "will_buy_again"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (csv_shop / "s.db").exists() or not optuna.get_all_study_summaries(storage)
