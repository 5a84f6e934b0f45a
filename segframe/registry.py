"""Discovers components through pluggy and the ``segframe`` entry-point group.

Every plugin, first-party ones included, arrives through an entry point. Each load
is wrapped: a plugin that fails to import (``sys.exit()`` included), implements no
hook or a misspelled one, or whose hook raises, is recorded as broken with the reason
and shown by ``segframe plugins``; the others keep working. Each component is checked
field by field as it registers: a bad one is broken, two of the same kind and name are
conflicting, and neither stops the rest of its plugin or any other plugin.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from segframe import hookspecs
from segframe.components import (
    CONTRACT_ATTRIBUTE,
    CONTRACT_VERSION,
    FRAME,
    KINDS,
    MATRIX,
    PREDICTION,
    RAW,
    SEGMENTS,
    SEQUENCES,
    Component,
)
from segframe.errors import PluginError
from segframe.version import __version__

ENTRY_POINT_GROUP = "segframe"
#: Comma-separated entry-point names to skip (e.g. to step around a broken plugin).
DISABLE_ENV = "SEGFRAME_DISABLE_PLUGINS"
#: Every data form a component may accept or produce.
FORMS = (RAW, FRAME, MATRIX, SEQUENCES, PREDICTION, SEGMENTS)
#: What the hook specification module names a hook by.
HOOKS = tuple(name for name in vars(hookspecs) if name.startswith("segframe_"))

#: Statuses of a component: only ``available`` ones take part in searches.
AVAILABLE, UNAVAILABLE, BROKEN, CONFLICTING = "available", "unavailable", "broken", "conflicting"
#: Statuses of a plugin.
LOADED = "loaded"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from, and why it is unusable if it is."""

    name: str
    distribution: str
    version: str
    error: str | None = None

    @property
    def status(self) -> str:
        return LOADED if self.error is None else BROKEN

    def describe(self) -> str:
        """``'name' (distribution version)``, for messages."""
        origin = f"{self.distribution} {self.version}".strip()
        return f"{self.name!r} {origin}" if origin.startswith("(") else f"{self.name!r} ({origin})"


@dataclass(frozen=True)
class ComponentInfo:
    """A registered component with its origin and availability.

    ``status`` is ``available``, ``unavailable`` (a module it needs is missing),
    ``broken`` (a field breaks the component contract, or one of its callables raised)
    or ``conflicting`` (another plugin provides a component of the same kind and name);
    ``unavailable`` holds the reason for any status but ``available``.
    """

    component: Component
    plugin: PluginInfo
    unavailable: str | None = None
    status: str = AVAILABLE

    @property
    def available(self) -> bool:
        return self.unavailable is None

    @property
    def label(self) -> str:
        """``model 'knn'``: how messages name the component."""
        return f"{_safe_str(self.component.kind)} {_safe_str(self.component.name)!r}"

    def describe_problem(self) -> str | None:
        """One line naming the component, its plugin, its status and why; None when available."""
        if self.available:
            return None
        return (
            f"{self.label} of plugin {self.plugin.describe()} is {self.status}: {self.unavailable}"
        )


def _safe_repr(value: Any, limit: int = 80) -> str:
    """``repr`` that survives hostile objects and stays one short line."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_str(value: Any) -> str:
    return value if isinstance(value, str) else _safe_repr(value)


def describe_exception(exc: BaseException) -> str:
    """``Type: message``; ``sys.exit()`` gets words, its bare message would be a number."""
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else _safe_repr(exc.code)
        return f"SystemExit: called sys.exit({code})"
    try:
        message = str(exc)
    except Exception:
        message = "(the exception's message could not be read)"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_describe_exception = describe_exception  # the old private name, for code that imported it


def _did_you_mean(value: Any, choices: Iterable[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: Component fields that must be callable, and what they are called with.
CALLABLE_FIELDS = {
    "factory": "factory(**params)",
    "space": "space(trial, context)",
    "applies": "applies(context)",
    "in_default_search": "in_default_search(context)",
    "starts": "starts(context)",
}


def component_problems(component: Component) -> list[str]:
    """Every way ``component``'s fields break the component contract, each naming the field.

    Checked when a plugin registers, so a typo in a form or a list where a tuple belongs
    shows in ``segframe plugins`` instead of surfacing mid-search as a scikit-learn error.
    """
    c = component
    problems: list[str] = []
    if c.kind not in KINDS:
        problems.append(
            f"kind {_safe_repr(c.kind)} is not one of {', '.join(KINDS)}"
            + _did_you_mean(c.kind, KINDS)
        )
    if not isinstance(c.name, str) or not c.name or not c.name.replace("_", "").isalnum():
        problems.append(
            f"name {_safe_repr(c.name)} must be a non-empty identifier "
            "(letters, digits and underscores)"
        )
    for field in ("accepts", "produces"):
        value = getattr(c, field)
        if value not in FORMS:
            problems.append(
                f"{field} {_safe_repr(value)} is not a data form; use one of "
                f"{', '.join(FORMS)}{_did_you_mean(value, FORMS)}"
            )
    if c.accepts in FORMS and c.produces in FORMS and c.kind in KINDS:
        problems += _form_rule_problems(c)
    for field, call in CALLABLE_FIELDS.items():
        value = getattr(c, field)
        if not callable(value):
            problems.append(
                f"{field} must be a callable, {call}, "
                f"not {type(value).__name__} {_safe_repr(value)}"
            )
    modules = c.requires_modules
    if isinstance(modules, str):
        problems.append(
            f"requires_modules must be a tuple of module names, not the string "
            f"{_safe_repr(modules)}; write ({modules!r},)"
        )
    elif not isinstance(modules, tuple) or not all(isinstance(m, str) and m for m in modules):
        problems.append(
            "requires_modules must be a tuple of module names such as ('keras', 'tensorflow'), "
            f"not {type(modules).__name__} {_safe_repr(modules)}"
        )
    if c.extra is not None and not isinstance(c.extra, str):
        problems.append(
            "extra must be the name of a segframe extra (a string) or None, "
            f"not {_safe_repr(c.extra)}"
        )
    if not isinstance(c.description, str):
        problems.append(f"description must be a string, not {_safe_repr(c.description)}")
    for field in ("optional", "uses_gpu"):
        if not isinstance(getattr(c, field), bool):
            problems.append(f"{field} must be True or False, not {_safe_repr(getattr(c, field))}")
    return problems


def _form_rule_problems(c: Component) -> list[str]:
    """Which forms each kind may take and give: what the engine's chain building relies on."""
    problems = []
    if c.kind == "model" and c.produces != PREDICTION:
        problems.append(f"produces {c.produces!r}: a model produces {PREDICTION!r}")
    if c.kind != "model" and c.produces == PREDICTION:
        problems.append(f"produces {PREDICTION!r}: only models produce class probabilities")
    if c.accepts in (PREDICTION, SEGMENTS):
        problems.append(f"accepts {c.accepts!r}: no step takes a model's or segmenter's output")
    if c.kind == "segmenter" and (c.accepts, c.produces) != (MATRIX, SEGMENTS):
        problems.append(
            f"accepts {c.accepts!r} and produces {c.produces!r}: a segmenter accepts "
            f"{MATRIX!r} and produces {SEGMENTS!r}"
        )
    if c.kind != "segmenter" and c.produces == SEGMENTS:
        problems.append(f"produces {SEGMENTS!r}: only segmenters produce segments")
    if c.kind == "features" and c.accepts != RAW:
        problems.append(
            f"accepts {c.accepts!r}: feature builders accept {RAW!r}, the customer frame"
        )
    if c.kind == "sampler" and c.accepts != c.produces:
        problems.append(
            f"accepts {c.accepts!r} but produces {c.produces!r}: a sampler resamples rows "
            "and keeps their form"
        )
    return problems


def _missing_modules_reason(component: Component) -> str | None:
    missing = []
    for module in component.requires_modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a dotted name whose parent is missing, or ""
            found = False
        if not found:
            missing.append(module)
    if not missing:
        return None
    hint = f"pip install 'segframe[{component.extra}]'" if component.extra else "install it"
    return f"needs {', '.join(missing)} which is not installed; {hint}"


def _contract_problem(plugin: Any, info: PluginInfo) -> str | None:
    """Why a plugin's declared contract version rules it out, or None when it fits."""
    declared = getattr(plugin, CONTRACT_ATTRIBUTE, 1)
    if type(declared) is not int:
        return (
            f"{CONTRACT_ATTRIBUTE} must be an integer contract version such as "
            f"{CONTRACT_VERSION}, not {_safe_repr(declared)}; fix the plugin module."
        )
    if declared == CONTRACT_VERSION:
        return None
    dist = info.distribution
    advice = (
        "upgrade segframe (pip install -U segframe), or install a release of "
        f"{dist} written for contract {CONTRACT_VERSION}"
        if declared > CONTRACT_VERSION
        else f"upgrade the plugin (pip install -U {dist}) to a release written for contract "
        f"{CONTRACT_VERSION}, or install a segframe release that provides contract {declared}"
    )
    return (
        f"written for segframe plugin contract {declared}, but segframe {__version__} "
        f"provides contract {CONTRACT_VERSION}; {advice}."
    )


def _no_hook_problem(plugin: Any) -> str:
    """Why a plugin with no hook implementation has none: an unmarked or misspelled hook."""
    try:
        names = [n for n in dir(plugin) if not n.startswith("_")]
    except Exception:
        names = []
    unmarked = [n for n in names if n in HOOKS]
    if unmarked:
        return (
            f"{unmarked[0]} is not marked as a hook implementation: decorate it with "
            "@hookimpl (from segframe.plugin import hookimpl)."
        )
    near = [n for n in names if difflib.get_close_matches(n, HOOKS, n=1, cutoff=0.8)]
    hint = f"; {near[0]!r} looks like a misspelled {', '.join(HOOKS)}" if near else ""
    return f"implements no segframe hook ({', '.join(HOOKS)}); did you forget @hookimpl?{hint}"


class Registry:
    """All plugins and components known to this process."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        #: ``kind:name`` → every component registered under it (more than one: conflicting)
        self._components: dict[str, list[ComponentInfo]] = {}

    @classmethod
    def load(cls, *, entry_point_plugins: bool = True, extra: Iterable[Any] = ()) -> Registry:
        """Load entry-point plugins (unless disabled) plus ``extra`` plugin objects."""
        registry = cls()
        if entry_point_plugins:
            disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
            found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in disabled]
            for name in sorted({ep.name for ep in found}):
                same = [ep for ep in found if ep.name == name]
                if len(same) == 1:
                    registry._load_entry_point(same[0])
                else:
                    registry._refuse_duplicates(same)
        for plugin in extra:
            name = getattr(plugin, "__name__", None)
            name = name if isinstance(name, str) else type(plugin).__name__
            unique, n = name, 2
            while unique in registry.plugins:  # two objects of one class, say
                unique, n = f"{name}-{n}", n + 1
            registry._register(plugin, PluginInfo(unique, "(registered in code)", ""))
        return registry

    @staticmethod
    def _origin(ep: EntryPoint) -> PluginInfo:
        dist = ep.dist
        return PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?")

    def _refuse_duplicates(self, same: list[EntryPoint]) -> None:
        """Two distributions under one entry-point name: neither is loaded, both are shown."""
        infos = [self._origin(ep) for ep in same]
        dists = " and ".join(f"{i.distribution} {i.version}" for i in infos)
        reason = (
            f"{len(infos)} distributions register a segframe plugin named {same[0].name!r} "
            f"({dists}); neither is loaded. Uninstall one of them."
        )
        for info in infos:
            key = f"{info.name} ({info.distribution})"
            self.plugins[key] = replace(info, name=key, error=reason)

    def _load_entry_point(self, ep: EntryPoint) -> None:
        info = self._origin(ep)
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:  # a broken plugin must not break start-up
            self.plugins[ep.name] = replace(info, error=describe_exception(exc))
            return
        self._register(plugin, info)

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        try:
            components = self._components_of(plugin, info)
        except _Broken as broken:
            self.plugins[info.name] = replace(info, error=str(broken))
            components = None
        except (Exception, SystemExit) as exc:
            self.plugins[info.name] = replace(info, error=describe_exception(exc))
            components = None
        if components is None:
            if self._pm.get_plugin(info.name) is plugin:  # not one registered under another name
                self._pm.unregister(name=info.name)
            return
        self.plugins[info.name] = info
        for component in components:
            self._add(component, info)

    def _components_of(self, plugin: Any, info: PluginInfo) -> list[Component]:
        """Register ``plugin`` with pluggy and call its hook; :class:`_Broken` says why not."""
        problem = _contract_problem(plugin, info)
        if problem:
            raise _Broken(problem)
        try:
            self._pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:  # e.g. a hook argument the spec lacks
            raise _Broken(str(exc)) from None
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError:
            unknown = [c.name for c in self._pm.get_hookcallers(plugin) or () if not c.has_spec()]
            hint = "".join(_did_you_mean(name, HOOKS) for name in unknown[:1])
            raise _Broken(
                f"implements unknown hook {', '.join(map(repr, unknown))}{hint}; the segframe "
                f"hooks are {', '.join(HOOKS)}."
            ) from None
        if not self._pm.get_hookcallers(plugin):
            raise _Broken(_no_hook_problem(plugin))
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        call = self._pm.subset_hook_caller("segframe_components", remove_plugins=others)
        try:
            results = call()
        except (Exception, SystemExit) as exc:
            raise _Broken(f"segframe_components() raised {describe_exception(exc)}") from None
        if not results:  # pluggy drops None results: the hook returned nothing
            raise _Broken(
                "segframe_components() returned None; return a list of Component objects "
                "(did you forget `return`?)."
            )
        returned = results[0]
        if isinstance(returned, Component) or not isinstance(returned, Iterable):
            raise _Broken(
                f"segframe_components() must return a list of Component objects, not "
                f"{type(returned).__name__} {_safe_repr(returned)}."
            )
        components = list(returned)
        bad = [c for c in components if not isinstance(c, Component)]
        if bad:
            raise _Broken(
                f"segframe_components() returned non-Component objects: {_safe_repr(bad)}."
            )
        return components

    def _add(self, component: Component, info: PluginInfo) -> None:
        problems = component_problems(component)
        if problems:
            entry = ComponentInfo(component, info, "; ".join(problems), BROKEN)
        else:
            reason = _missing_modules_reason(component)
            entry = ComponentInfo(component, info, reason, UNAVAILABLE if reason else AVAILABLE)
        same = self._components.setdefault(_key(component), [])
        same.append(entry)
        if len(same) > 1:
            self._components[_key(component)] = _conflicting(same)

    def infos(
        self, kind: str | None = None, *, available_only: bool = False
    ) -> list[ComponentInfo]:
        """Registered components in a stable order (kind order, then name, then plugin)."""
        found = [
            i
            for same in self._components.values()
            for i in same
            if (kind is None or i.component.kind == kind) and (i.available or not available_only)
        ]
        return sorted(found, key=_order)

    def components(self, kind: str) -> list[Component]:
        """The available components of one kind."""
        return [i.component for i in self.infos(kind, available_only=True)]

    def info(self, kind: str, name: str) -> ComponentInfo:
        """One component's record; a clear error when it is unknown or cannot be used."""
        found = self._components.get(f"{kind}:{name}")
        if not found:
            known = ", ".join(sorted({str(i.component.name) for i in self.infos(kind)})) or "none"
            raise PluginError(
                f"No {kind} component named {name!r} is installed. Known {kind} components: "
                f"{known}. Run `segframe plugins` to see every component and its plugin."
            )
        if found[0].status == CONFLICTING:
            raise PluginError(
                f"The {kind} component {name!r} cannot be used: {found[0].unavailable}"
            )
        if not found[0].available:
            raise PluginError(
                f"The {kind} component {name!r} (plugin {found[0].plugin.describe()}) is "
                f"{found[0].status}: {found[0].unavailable}."
            )
        return found[0]

    def get(self, kind: str, name: str) -> Component:
        return self.info(kind, name).component

    def call(
        self,
        component: Component,
        field: str,
        *args: Any,
        default: Any = False,
        then: Callable[[Any], Any] | None = None,
    ) -> Any:
        """``component.<field>(*args)`` (passed through ``then``, e.g. ``bool``), guarded: if it
        raises, the component is marked broken with the reason (so that it drops out of this
        process's searches) and ``default`` is returned, instead of a traceback ending the
        search."""
        try:
            value = getattr(component, field)(*args)
            return value if then is None else then(value)
        except (Exception, SystemExit) as exc:
            self.mark_broken(component, f"{field}() raised {describe_exception(exc)}")
            return default

    def available(self, component: Component) -> bool:
        """Whether ``component`` is registered and usable (not marked broken since)."""
        same = self._components.get(_key(component), [])
        return any(i.component is component and i.available for i in same)

    def mark_broken(self, component: Component, reason: str) -> None:
        """Record that ``component`` misbehaved at run time; it is no longer available."""
        same = self._components.get(_key(component), [])
        for n, entry in enumerate(same):
            if entry.component is component and entry.status == AVAILABLE:
                same[n] = replace(entry, unavailable=reason, status=BROKEN)

    def problems(self) -> list[str]:
        """One line per broken plugin and per component that cannot be used, and why."""
        lines = [
            f"plugin {p.describe()} is broken: {p.error}" for p in self.plugins.values() if p.error
        ]
        return lines + [i.describe_problem() for i in self.infos() if not i.available]

    def plugin_object(self, name: str) -> Any:
        """The module or object registered as plugin ``name`` (None for a broken plugin)."""
        return self._pm.get_plugin(name)

    def plugin_versions(self, steps: Iterable[Any]) -> dict[str, str]:
        """``{"kind:name": "distribution version"}`` for each step that is a registered
        component (skipped steps and engine-made steps have no plugin)."""
        versions = {}
        for step in steps:
            found = self._components.get(f"{step.kind}:{step.name}")
            if found and len(found) == 1:
                plugin = found[0].plugin
                versions[found[0].component.key] = f"{plugin.distribution} {plugin.version}".strip()
        return versions


class _Broken(Exception):
    """Why a plugin cannot be registered, worded for ``segframe plugins``."""


def _key(component: Component) -> str:
    return f"{_safe_str(component.kind)}:{_safe_str(component.name)}"


def _order(info: ComponentInfo) -> tuple[int, str, str]:
    kind = info.component.kind
    rank = KINDS.index(kind) if kind in KINDS else len(KINDS)
    return rank, _safe_str(info.component.name), info.plugin.name


def _conflicting(same: list[ComponentInfo]) -> list[ComponentInfo]:
    """Every component under one kind and name, marked conflicting with a reason naming all
    of their plugins: which one a search should use is not segframe's to guess."""
    first = same[0]
    kind, name = _safe_str(first.component.kind), _safe_str(first.component.name)
    plugins = [i.plugin for i in same]
    if len({p.name for p in plugins}) == 1:
        reason = (
            f"plugin {first.plugin.describe()} returns {len(same)} {kind} components named "
            f"{name!r}; give each its own name."
        )
    else:
        names = " and ".join(p.describe() for p in plugins)
        reason = (
            f"plugins {names} both provide the {kind} component {name!r}; uninstall one of "
            f"them, or skip one with {DISABLE_ENV}={plugins[-1].name}."
        )
    return [replace(i, unavailable=reason, status=CONFLICTING) for i in same]


@cache
def default_registry() -> Registry:
    """The process-wide registry, loaded lazily and once."""
    return Registry.load()
