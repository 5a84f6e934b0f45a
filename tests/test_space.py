"""The conditional search space over whole pipelines."""

from __future__ import annotations

import optuna
import pytest

from segframe.components import SearchContext
from segframe.errors import PluginError
from segframe.registry import Registry
from segframe.space import PipelineSpace


def context(**changes) -> SearchContext:
    base = dict(
        n_rows=500,
        n_classes=2,
        min_class_count=40,
        minority_ratio=0.2,
        has_events=True,
        n_tabular_columns=5,
    )
    return SearchContext(**{**base, **changes})


def sampled(space: PipelineSpace, n: int = 60):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(n):
        trial = study.ask()
        spec = space.sample(trial)
        study.tell(trial, 0.0)
        yield spec, study.trials[-1].params


def test_parameters_exist_only_for_the_chosen_components():
    space = PipelineSpace(Registry.load(), context())
    models, samplers = set(), set()
    for spec, params in sampled(space):
        chosen = {step.name for step in spec.all_steps()}
        prefixes = {name.split(".")[0] for name in params if "." in name}
        assert prefixes <= chosen, f"parameters of unchosen components: {prefixes - chosen}"
        assert params["model"] == spec.model.name
        models.add(spec.model.name)
        samplers.add(spec.sampler.name)
    assert {"xgboost", "lightgbm", "logreg", "extra_trees"} <= models
    assert "kmeans" not in models  # only when named
    assert "none" in samplers and "smote" in samplers


def test_chains_fit_together():
    space = PipelineSpace(Registry.load(), context())
    for spec, _ in sampled(space, 40):
        names = [step.name for step in spec.steps]
        assert names[0] == "impute"  # required: every model and sampler needs complete data
        assert names[1] in {"onehot", "ordinal"}  # the only way from frame to matrix


def test_event_features_need_an_event_log_and_tabular_needs_columns():
    no_events = PipelineSpace(Registry.load(), context(has_events=False))
    assert set(no_events.features["matrix"]) == {"tabular"}
    no_columns = PipelineSpace(Registry.load(), context(n_tabular_columns=0))
    assert "tabular" not in {c.name for cs in no_columns.features["matrix"].values() for c in cs}


def test_neighbour_samplers_drop_out_when_a_class_is_tiny():
    space = PipelineSpace(Registry.load(), context(min_class_count=2))
    assert not {"smote", "borderline_smote", "adasyn"} & set(space.samplers)
    assert "random_over" in space.samplers


def test_model_filter_and_unknown_model():
    space = PipelineSpace(Registry.load(), context(), models=["logreg"])
    assert set(space.models) == {"logreg"}
    with pytest.raises(PluginError, match=r"No model component named 'lgbm'.*xgboost"):
        PipelineSpace(Registry.load(), context(), models=["lgbm"])
