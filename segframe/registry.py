"""Discovers components through pluggy and the ``segframe`` entry-point group.

Every plugin, first-party ones included, arrives through an entry point. Each load
is wrapped: a plugin that fails to import, or whose hook raises, is recorded with
the reason and shown by ``segframe plugins``; the others keep working.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from segframe import __version__, hookspecs
from segframe.components import CONTRACT_ATTRIBUTE, CONTRACT_VERSION, KINDS, Component
from segframe.errors import PluginError

ENTRY_POINT_GROUP = "segframe"
#: Comma-separated entry-point names to skip (e.g. to step around a broken plugin).
DISABLE_ENV = "SEGFRAME_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from, and why it is unusable if it is."""

    name: str
    distribution: str
    version: str
    error: str | None = None


@dataclass(frozen=True)
class ComponentInfo:
    """A registered component with its origin and availability."""

    component: Component
    plugin: PluginInfo
    unavailable: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable is None


def _missing_modules_reason(component: Component) -> str | None:
    missing = [m for m in component.requires_modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    hint = f"pip install 'segframe[{component.extra}]'" if component.extra else "install it"
    return f"needs {', '.join(missing)} which is not installed; {hint}"


def _describe_exception(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _contract_problem(plugin: Any, info: PluginInfo) -> str | None:
    """Why a plugin's declared contract version rules it out, or None when it fits."""
    declared = getattr(plugin, CONTRACT_ATTRIBUTE, 1)
    if type(declared) is not int:
        return (
            f"{CONTRACT_ATTRIBUTE} must be an integer contract version such as "
            f"{CONTRACT_VERSION}, not {declared!r}; fix the plugin module."
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


class Registry:
    """All plugins and components known to this process."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._components: dict[str, ComponentInfo] = {}

    @classmethod
    def load(cls, *, entry_point_plugins: bool = True, extra: Iterable[Any] = ()) -> Registry:
        """Load entry-point plugins (unless disabled) plus ``extra`` plugin objects."""
        registry = cls()
        if entry_point_plugins:
            disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                if ep.name not in disabled:
                    registry._load_entry_point(ep)
        for plugin in extra:
            name = getattr(plugin, "__name__", type(plugin).__name__)
            registry._register(plugin, PluginInfo(name, "(registered in code)", ""))
        return registry

    def _load_entry_point(self, ep: EntryPoint) -> None:
        dist = ep.dist
        info = PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?")
        if ep.name in self.plugins:
            previous = self.plugins[ep.name]
            raise PluginError(
                f"Two distributions register a segframe plugin named {ep.name!r}: "
                f"{previous.distribution} and {info.distribution}. Uninstall one of them."
            )
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not break start-up
            self.plugins[ep.name] = PluginInfo(
                **{**info.__dict__, "error": _describe_exception(exc)}
            )
            return
        self._register(plugin, info)

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        problem = _contract_problem(plugin, info)
        self.plugins[info.name] = PluginInfo(**{**info.__dict__, "error": problem})
        if problem:
            return
        try:
            self._pm.register(plugin, name=info.name)
            impls = self._pm.hook.segframe_components.get_hookimpls()
            impl = next((i for i in impls if i.plugin_name == info.name), None)
            components = impl.function() if impl else []
            components = list(components or [])
            bad = [c for c in components if not isinstance(c, Component)]
            if bad:
                raise TypeError(f"segframe_components() returned non-Component objects: {bad!r}")
        except Exception as exc:
            self.plugins[info.name] = PluginInfo(
                **{**info.__dict__, "error": _describe_exception(exc)}
            )
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            return
        for component in components:
            self._add(component, info)

    def _add(self, component: Component, info: PluginInfo) -> None:
        existing = self._components.get(component.key)
        if existing is not None:
            raise PluginError(
                f"Two plugins provide the {component.kind} component {component.name!r}: "
                f"{existing.plugin.name!r} (from {existing.plugin.distribution}) and "
                f"{info.name!r} (from {info.distribution}). Uninstall one of them, or skip one "
                f"with {DISABLE_ENV}={info.name}."
            )
        reason = _missing_modules_reason(component)
        self._components[component.key] = ComponentInfo(component, info, reason)

    def infos(
        self, kind: str | None = None, *, available_only: bool = False
    ) -> list[ComponentInfo]:
        """Registered components in a stable order (kind order, then name)."""
        found = [
            i
            for i in self._components.values()
            if (kind is None or i.component.kind == kind) and (i.available or not available_only)
        ]
        return sorted(found, key=lambda i: (KINDS.index(i.component.kind), i.component.name))

    def components(self, kind: str) -> list[Component]:
        """The available components of one kind."""
        return [i.component for i in self.infos(kind, available_only=True)]

    def info(self, kind: str, name: str) -> ComponentInfo:
        """One component's record; a clear error when it is unknown or unavailable."""
        found = self._components.get(f"{kind}:{name}")
        if found is None:
            known = ", ".join(i.component.name for i in self.infos(kind)) or "none"
            raise PluginError(
                f"No {kind} component named {name!r} is installed. Known {kind} components: "
                f"{known}. Run `segframe plugins` to see every component and its plugin."
            )
        if not found.available:
            raise PluginError(f"The {kind} component {name!r} is unavailable: {found.unavailable}.")
        return found

    def get(self, kind: str, name: str) -> Component:
        return self.info(kind, name).component

    def plugin_versions(self, steps: Iterable[Any]) -> dict[str, str]:
        """``{"kind:name": "distribution version"}`` for each step that is a registered
        component (skipped steps and engine-made steps have no plugin)."""
        versions = {}
        for step in steps:
            found = self._components.get(f"{step.kind}:{step.name}")
            if found is not None:
                plugin = found.plugin
                versions[found.component.key] = f"{plugin.distribution} {plugin.version}".strip()
        return versions


@cache
def default_registry() -> Registry:
    """The process-wide registry, loaded lazily and once."""
    return Registry.load()
