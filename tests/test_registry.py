"""Plugin discovery through real entry points, and what broken plugins get."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from segframe.errors import PluginError
from segframe.registry import Registry

FIRST_PARTY = {
    "features": {"tabular", "rfm", "event_aggregates"},
    "preprocessor": {"impute", "onehot", "ordinal", "scale"},
    "sampler": {"smote", "borderline_smote", "adasyn", "random_over", "random_under"},
    "model": {
        "xgboost",
        "lightgbm",
        "kmeans",
        "logreg",
        "random_forest",
        "extra_trees",
        "hist_gradient_boosting",
    },
}

MODEL_PLUGIN = """
from sklearn.dummy import DummyClassifier
from segframe import Component, hookimpl

@hookimpl
def segframe_components():
    return [Component("model", "{name}", DummyClassifier, "matrix", "prediction")]
"""


def test_first_party_plugins_arrive_through_entry_points():
    registry = Registry.load()
    for kind, names in FIRST_PARTY.items():
        found = {i.component.name: i for i in registry.infos(kind)}
        assert names <= set(found), f"{kind}: missing {names - set(found)}"
        for name in names:
            assert found[name].plugin.distribution == "segframe"
            assert found[name].available


def test_third_party_plugin_is_discovered_by_its_entry_point(install_plugin):
    install_plugin("acme-segments", "acme_plugin", MODEL_PLUGIN.format(name="acme"))
    info = Registry.load().info("model", "acme")
    assert info.plugin.name == "acme_plugin"
    assert (info.plugin.distribution, info.plugin.version) == ("acme-segments", "1.2.3")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("raise RuntimeError('plugin exploded at import')", "plugin exploded at import"),
        ("import not_a_real_module_xyz", "not_a_real_module_xyz"),
        (
            "from segframe import hookimpl\n@hookimpl\ndef segframe_components():\n"
            "    raise ValueError('hook failed')",
            "hook failed",
        ),
        (
            "from segframe import hookimpl\n@hookimpl\ndef segframe_components():\n"
            "    return ['not a component']",
            "non-Component",
        ),
    ],
    ids=["raises-at-import", "missing-dependency", "hook-raises", "returns-junk"],
)
def test_broken_plugin_is_recorded_and_the_rest_keep_working(install_plugin, source, reason):
    install_plugin("broken-dist", "broken_plugin", source)
    registry = Registry.load()
    assert reason in registry.plugins["broken_plugin"].error
    assert {c.name for c in registry.components("model")} >= FIRST_PARTY["model"]


def test_two_plugins_with_the_same_component_is_an_error_naming_both(install_plugin):
    install_plugin("dist-one", "plugin_one", MODEL_PLUGIN.format(name="twin"))
    install_plugin("dist-two", "plugin_two", MODEL_PLUGIN.format(name="twin"))
    with pytest.raises(PluginError, match=r"plugin_one.*plugin_two") as caught:
        Registry.load()
    assert "twin" in str(caught.value)


def test_component_with_missing_module_is_unavailable_with_install_hint():
    from segframe import Component, hookimpl

    class NeedsTensorFlow:
        @hookimpl
        def segframe_components(self):
            return [
                Component(
                    "model",
                    "deep",
                    object,
                    "matrix",
                    "prediction",
                    requires_modules=("surely_not_installed_tf",),
                    extra="keras",
                )
            ]

    registry = Registry.load(entry_point_plugins=False, extra=[NeedsTensorFlow()])
    info = registry.infos("model")[0]
    assert not info.available
    assert "surely_not_installed_tf" in info.unavailable
    assert "segframe[keras]" in info.unavailable
    with pytest.raises(PluginError, match="unavailable"):
        registry.get("model", "deep")
    with pytest.raises(PluginError, match="Known model components: deep"):
        registry.get("model", "nope")


def test_disable_env_skips_a_plugin(install_plugin, monkeypatch):
    install_plugin("broken-dist", "broken_plugin", "raise RuntimeError('boom')")
    monkeypatch.setenv("SEGFRAME_DISABLE_PLUGINS", "broken_plugin")
    assert "broken_plugin" not in Registry.load().plugins


def test_cli_plugins_json_lists_components_and_broken_plugins(install_plugin):
    site = install_plugin("broken-dist", "broken_plugin", "raise RuntimeError('boom at import')")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-m", "segframe", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    listing = json.loads(out.stdout)
    names = {(c["kind"], c["name"]): c for c in listing["components"]}
    for kind, expected in FIRST_PARTY.items():
        for name in expected:
            assert names[(kind, name)]["status"] == "available"
            assert names[(kind, name)]["plugin"]
    broken = {b["plugin"]: b for b in listing["broken_plugins"]}
    assert "boom at import" in broken["broken_plugin"]["reason"]
