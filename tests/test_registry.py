"""Plugin discovery through real entry points, and what broken plugins get."""

from __future__ import annotations

import json
import os
import re
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
        "catboost",
    },
    "segmenter": {"kmeans"},
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


def test_two_plugins_with_the_same_component_are_both_conflicting_and_the_rest_work(
    install_plugin,
):
    install_plugin("dist-one", "plugin_one", MODEL_PLUGIN.format(name="twin"))
    install_plugin("dist-two", "plugin_two", MODEL_PLUGIN.format(name="twin"))
    registry = Registry.load()
    twins = [i for i in registry.infos("model") if i.component.name == "twin"]
    assert [(i.plugin.name, i.status) for i in twins] == [
        ("plugin_one", "conflicting"),
        ("plugin_two", "conflicting"),
    ]
    assert all(
        re.search(r"plugin_one.*dist-one.*plugin_two.*dist-two", i.unavailable) for i in twins
    )
    with pytest.raises(
        PluginError, match=r"'twin' cannot be used: plugins 'plugin_one'.*'plugin_two'"
    ):
        registry.get("model", "twin")
    assert {c.name for c in registry.components("model")} >= FIRST_PARTY["model"]
    assert registry.plugins["plugin_one"].error is None  # the plugin loads; the name clashes


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


# --- mistakes a plugin author makes, each reported with the plugin, component and rule ---

OTHER_MODEL = """
from sklearn.dummy import DummyClassifier
from segframe.plugin import Component, hookimpl
"""


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            OTHER_MODEL + "@hookimpl\ndef segframe_componets():\n    return []",
            r"unknown hook 'segframe_componets' \(did you mean 'segframe_components'\?\)",
        ),
        (
            OTHER_MODEL + "def segframe_components():\n    return []",
            r"segframe_components is not marked as a hook implementation: decorate it with "
            r"@hookimpl",
        ),
        (
            OTHER_MODEL + "def components():\n    return []",
            r"implements no segframe hook \(segframe_components\); did you forget @hookimpl\?",
        ),
        (
            OTHER_MODEL + "@hookimpl\ndef segframe_components():\n    pass",
            r"segframe_components\(\) returned None; .*did you forget `return`",
        ),
        (
            OTHER_MODEL + "@hookimpl\ndef segframe_components(registry):\n    return []",
            r"registry",  # pluggy: an argument the hook specification does not have
        ),
        ("import sys\nsys.exit(3)", r"^SystemExit: called sys.exit\(3\)$"),
        ("raise SystemExit", r"^SystemExit: called sys.exit\(\)$"),
    ],
    ids=["misspelled-hook", "no-hookimpl", "no-hook", "returns-none", "bad-argument",
         "sys-exit", "bare-system-exit"],
)  # fmt: skip
def test_plugin_mistakes_make_a_broken_plugin_with_the_reason(install_plugin, source, reason):
    install_plugin("mistaken-dist", "mistaken_plugin", source)
    registry = Registry.load()
    info = registry.plugins["mistaken_plugin"]
    assert info.status == "broken"
    assert re.search(reason, info.error), info.error
    assert {c.name for c in registry.components("model")} >= FIRST_PARTY["model"]
    assert any(line.startswith("plugin 'mistaken_plugin' (mistaken-dist 1.2.3) is broken: ")
               for line in registry.problems())  # fmt: skip


def test_keyboard_interrupt_at_import_is_not_swallowed(install_plugin):
    install_plugin("impatient-dist", "impatient_plugin", "raise KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt):
        Registry.load()


def test_sys_exit_at_import_leaves_every_command_working(install_plugin):
    site = install_plugin("exiting-dist", "exiting_plugin", "import sys\nsys.exit(3)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-m", "segframe", "plugins", "--json"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    plugins = {p["plugin"]: p for p in json.loads(out.stdout)["plugins"]}
    assert plugins["exiting_plugin"]["status"] == "broken"
    assert plugins["exiting_plugin"]["reason"] == "SystemExit: called sys.exit(3)"
    assert plugins["sklearn"]["status"] == "loaded" and plugins["sklearn"]["components"] >= 8


BAD_FIELDS = [
    ({"accepts": "matirx"}, r"accepts 'matirx' is not a data form; .* \(did you mean 'matrix'\?\)"),
    ({"produces": "matrix"}, r"produces 'matrix': a model produces 'prediction'"),
    ({"factory": None}, r"factory must be a callable, factory\(\*\*params\), not NoneType"),
    ({"space": {"C": 1}}, r"space must be a callable, space\(trial, context\), not dict"),
    ({"applies": True}, r"applies must be a callable, applies\(context\), not bool"),
    ({"in_default_search": False}, r"in_default_search must be a callable"),
    ({"starts": ()}, r"starts must be a callable, starts\(context\), not tuple"),
    ({"requires_modules": "keras"}, r"requires_modules must be a tuple of module names, not the "
     r"string 'keras'; write \('keras',\)"),
    ({"requires_modules": ["keras"]}, r"requires_modules must be a tuple of module names such as "
     r"\('keras', 'tensorflow'\), not list \['keras'\]"),
    ({"requires_modules": (None,)}, r"requires_modules must be a tuple of module names"),
    ({"extra": ["keras"]}, r"extra must be the name of a segframe extra \(a string\) or None"),
    ({"description": None}, r"description must be a string, not None"),
]  # fmt: skip


GOOD = {"kind": "model", "name": "good", "accepts": "matrix", "produces": "prediction"}


def _plugin_with(fields: dict):
    from sklearn.dummy import DummyClassifier

    from segframe.plugin import Component, hookimpl

    class Mixed:
        __name__ = "mixed_plugin"

        @hookimpl
        def segframe_components(self):
            return [
                Component(**GOOD, factory=DummyClassifier),
                Component(**{**GOOD, "name": "bad", "factory": DummyClassifier, **fields}),
            ]

    return Mixed()


@pytest.mark.parametrize(("fields", "reason"), BAD_FIELDS, ids=lambda v: str(v)[:30])
def test_a_component_breaking_a_field_rule_is_broken_and_its_siblings_work(fields, reason):
    registry = Registry.load(entry_point_plugins=False, extra=[_plugin_with(fields)])
    bad = registry.infos("model")[0]
    assert (bad.component.name, bad.status) == ("bad", "broken")
    assert re.search(reason, bad.unavailable), bad.unavailable
    assert registry.plugins["mixed_plugin"].error is None
    assert [c.name for c in registry.components("model")] == ["good"]
    problem = bad.describe_problem()
    assert problem.startswith("model 'bad' of plugin 'mixed_plugin' (registered in code) is ")
    with pytest.raises(PluginError, match=r"The model component 'bad' \(plugin 'mixed_plugin'"):
        registry.get("model", "bad")


def test_a_component_with_a_kind_outside_the_contract_breaks_only_its_plugin():
    from segframe.plugin import Component, hookimpl

    class Typo:
        @hookimpl
        def segframe_components(self):
            return [Component("modle", "x", object, "matrix", "prediction")]

    registry = Registry.load(entry_point_plugins=False, extra=[Typo()])
    assert "kind must be one of" in registry.plugins["Typo"].error
    assert "'x'" in registry.plugins["Typo"].error


def test_two_distributions_with_one_entry_point_name_are_both_broken(install_plugin):
    install_plugin("dist-one", "twin_one", MODEL_PLUGIN.format(name="one"), entry_name="twin")
    install_plugin("dist-two", "twin_two", MODEL_PLUGIN.format(name="two"), entry_name="twin")
    registry = Registry.load()
    broken = {n: p for n, p in registry.plugins.items() if n.startswith("twin")}
    assert sorted(broken) == ["twin (dist-one)", "twin (dist-two)"]
    for plugin in broken.values():
        assert re.search(
            r"register a segframe plugin named 'twin' \(dist-one .* and dist-two", plugin.error
        )
    assert {c.name for c in registry.components("model")} >= FIRST_PARTY["model"]


CALLABLES_RAISE = """
from sklearn.dummy import DummyClassifier
from segframe.plugin import Component, Start, hookimpl

def boom(context):
    raise RuntimeError("{field} exploded")

@hookimpl
def segframe_components():
    return [
        Component("model", "fragile", DummyClassifier, "matrix", "prediction", {field}=boom),
        Component("model", "sturdy", DummyClassifier, "matrix", "prediction"),
    ]
"""


@pytest.mark.parametrize("field", ["applies", "in_default_search", "starts"])
def test_a_component_whose_callable_raises_drops_out_of_the_search_with_the_reason(
    install_plugin, field
):
    from segframe.components import SearchContext
    from segframe.space import PipelineSpace

    install_plugin("fragile-dist", "fragile_plugin", CALLABLES_RAISE.format(field=field))
    registry = Registry.load()
    context = SearchContext(500, 2, 50, 0.3, True, 5)
    space = PipelineSpace(registry, context, models=["fragile", "sturdy"])
    assert list(space.models) == ["sturdy"]
    assert space.portfolio() is not None
    (fragile,) = [i for i in registry.infos("model") if i.component.name == "fragile"]
    assert fragile.status == "broken"
    assert fragile.unavailable == f"{field}() raised RuntimeError: {field} exploded"
    assert any("model 'fragile' of plugin 'fragile_plugin'" in p for p in registry.problems())


def test_a_space_that_raises_fails_its_trial_naming_the_component():
    import optuna

    from segframe.components import SearchContext
    from segframe.errors import PluginError as Error
    from segframe.plugin import Component, hookimpl
    from segframe.space import PipelineSpace

    def bad_space(trial, context):
        return {"C": trial.suggest_float("C", 1.0, 0.0)}

    class BadSpace:
        @hookimpl
        def segframe_components(self):
            from sklearn.dummy import DummyClassifier

            return [Component("model", "odd", DummyClassifier, "matrix", "prediction",
                              space=bad_space)]  # fmt: skip

    registry = Registry.load(extra=[BadSpace()])
    space = PipelineSpace(registry, SearchContext(500, 2, 50, 0.3, True, 5), models=["odd"])
    trial = optuna.create_study().ask()
    with pytest.raises(Error, match=r"the search space of the model 'odd' raised ValueError"):
        space.sample(trial)


def test_cli_listing_prints_plugin_text_literally_and_never_cuts_names(install_plugin):
    source = """
from sklearn.dummy import DummyClassifier
from segframe.plugin import Component, hookimpl

@hookimpl
def segframe_components():
    return [
        Component("model", "a_rather_long_component_name_xyz", DummyClassifier, "matrix",
                  "prediction", description="[bold]not bold[/bold]"),
        Component("model", "needs_postgres", DummyClassifier, "matrix", "prediction",
                  requires_modules=("surely_not_installed_pg",), extra="postgres"),
        Component("model", "typo", DummyClassifier, "matirx", "prediction"),
    ]
"""
    site = install_plugin("fancy-dist", "fancy_plugin", source)
    install_plugin("crash-dist", "crash_plugin", "raise RuntimeError('[red]boom[/red]')")
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "segframe", "plugins"], capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = out.stdout
    tables = text.split("Why plugins are broken:")[0]
    assert max(len(line) for line in tables.splitlines()) <= 80
    for name in ("a_rather_long_component_name_xyz", "hist_gradient_boosting", "needs_postgres"):
        assert name in text
    assert (
        "model 'needs_postgres' of plugin 'fancy_plugin': needs surely_not_installed_pg which is "
        "not installed; pip install 'segframe[postgres]'"
    ) in text
    assert "plugin 'crash_plugin' (crash-dist 1.2.3): RuntimeError: [red]boom[/red]" in text
    assert re.search(r"fancy_plugin +fancy-dist 1\.2\.3 +3 +loaded", text)
    assert re.search(r"crash_plugin +crash-dist 1\.2\.3 +0 +broken \(1\)", text)
    assert re.search(r"typo +fancy_plugin +broken \(\d\)", text)
    assert "accepts 'matirx' is not a data form" in text
    wide = subprocess.run([sys.executable, "-m", "segframe", "plugins"], capture_output=True,
                          text=True, env={**env, "COLUMNS": "160"})  # fmt: skip
    assert "[bold]not bold[/bold]" in wide.stdout
