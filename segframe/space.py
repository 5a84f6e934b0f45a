"""The search space over whole pipelines, sampled one Optuna trial at a time.

Component choices are categorical parameters (``model``, ``matrix_features``,
``frame_to_matrix``, ``matrix_sampler``…); each component's own parameters are
suggested only when that component is chosen, under its name (``xgboost.max_depth``),
so the space is conditional and names never collide. The model is chosen first and
the chain is built to fit what it accepts, so SMOTE never sees token sequences.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segframe.components import FRAME, KINDS, MATRIX, RAW, Component, SearchContext, Start
from segframe.errors import PluginError, listing
from segframe.pipeline import NONE, PipelineSpec, StepSpec
from segframe.registry import BROKEN, Registry, describe_exception

FORM_ORDER = (RAW, FRAME, MATRIX)


class NamespacedTrial:
    """A view of an Optuna trial whose ``suggest_*`` names are prefixed by a component."""

    def __init__(self, trial: Any, prefix: str) -> None:
        self._trial = trial
        self._prefix = prefix

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self._trial, attribute)
        if not attribute.startswith("suggest_"):
            return method

        def suggest(name: str, *args: Any, **kwargs: Any) -> Any:
            return method(f"{self._prefix}.{name}", *args, **kwargs)

        return suggest


@dataclass(frozen=True)
class Slot:
    """One position in the preprocessing chain: every component from ``accepts`` to ``produces``."""

    accepts: str
    produces: str
    components: tuple[Component, ...]

    @property
    def parameter(self) -> str:
        return f"{self.accepts}_to_{self.produces}"

    @property
    def choices(self) -> list[str]:
        names = [c.name for c in self.components]
        skippable = self.accepts == self.produces and all(c.optional for c in self.components)
        return [*names, NONE] if skippable else names


def form_rank(form: str) -> int:
    return FORM_ORDER.index(form) if form in FORM_ORDER else len(FORM_ORDER)


#: How messages name the components of each kind, in the plural and the singular.
KIND_WORDS = {
    "features": ("feature builders", "feature builder"),
    "preprocessor": ("preprocessors", "preprocessor"),
    "sampler": ("samplers", "sampler"),
    "model": ("models", "model"),
    "segmenter": ("segmenters", "segmenter"),
}
#: The kinds a supervised search chains; segmenters are for `segframe segment`.
SEARCH_KINDS = ("features", "preprocessor", "sampler", "model")
#: How many names an error about --include/--exclude lists per kind.
NAMES_SHOWN = 12


def _group(component: Component) -> tuple[str, ...]:
    """What ``--include`` restricts: a kind, or for preprocessors one slot (their forms)."""
    if component.kind == "preprocessor":
        return (component.kind, component.accepts, component.produces)
    return (component.kind,)


def _describe_group(group: tuple[str, ...]) -> str:
    if len(group) == 3:
        return f"{group[1]} → {group[2]} preprocessors"
    return KIND_WORDS[group[0]][0]


@dataclass(frozen=True)
class Selection:
    """The components a user kept (``--include``, ``--models``) and left out (``--exclude``).

    ``exclude`` removes components from the space. ``include`` restricts each group it
    names to the components listed; a group is a kind, except that preprocessors group by
    slot (the forms they turn one into another), so ``--include ordinal`` leaves imputing
    and scaling as they are. Groups ``include`` names nothing of stay as they are. An
    included component joins even when it would not join a search unasked; an included
    model, like a model in ``--models``, also brings its plugin's other components in.
    Entries are ``(kind, name)``.
    """

    include: frozenset[tuple[str, str]] = frozenset()
    exclude: frozenset[tuple[str, str]] = frozenset()
    restricted: frozenset[tuple[str, ...]] = frozenset()
    #: the included entries that came from ``--models`` alone, for messages
    from_models: frozenset[tuple[str, str]] = frozenset()
    #: ``((kind, name), group)`` of every entry, included or excluded, for messages
    groups: frozenset[tuple[tuple[str, str], tuple[str, ...]]] = frozenset()

    @classmethod
    def resolve(
        cls,
        registry: Registry,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        *,
        models: Iterable[str] = (),
        kinds: Sequence[str] = KINDS,
        search: str = "a search",
    ) -> Selection:
        """Names (``smote``, or ``sampler:smote`` where two kinds share a name) to a
        selection; unknown names, components of kinds ``search`` does not use, names both
        kept and left out, and included components that cannot be used raise one paragraph.
        """
        kept: dict[tuple[str, str], str] = {("model", m): "--models" for m in models}
        for token in include:
            for c in _lookup(registry, token, "--include", kinds, search):
                kept.setdefault((c.kind, c.name), "--include")
        left_out = [c for t in exclude for c in _lookup(registry, t, "--exclude", kinds, search)]
        dropped = {(c.kind, c.name) for c in left_out}
        both = [key for key in kept if key in dropped]
        if both:
            kind, name = both[0]
            raise PluginError(
                f"The {KIND_WORDS[kind][1]} {name!r} is in both {kept[both[0]]} and --exclude; "
                "name it in one of them."
            )
        used = [registry.get(kind, name) for kind, name in kept]  # raises if unusable
        groups = {((c.kind, c.name), _group(c)) for c in [*used, *left_out]}
        models_only = frozenset(k for k, option in kept.items() if option == "--models")
        restricted = frozenset(_group(c) for c in used)
        return cls(frozenset(kept), frozenset(dropped), restricted, models_only, frozenset(groups))

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def allows(self, component: Component) -> bool:
        key = (component.kind, component.name)
        if key in self.exclude:
            return False
        return _group(component) not in self.restricted or key in self.include

    def names(self, component: Component) -> bool:
        """Whether the user named ``component`` to keep (it joins even if not by default)."""
        return (component.kind, component.name) in self.include

    def included(self, kind: str) -> list[str]:
        return sorted(name for k, name in self.include if k == kind)

    def describe(self, group: tuple[str, ...]) -> str:
        """What the options did to one group, for an error: "--exclude removes ..."."""
        words = _describe_group(group)
        here = {key for key, g in self.groups if g == group}
        if group in self.restricted:
            kept = [key for key in self.include if key in here]
            options = " and ".join(
                option
                for option, given in (("--models", True), ("--include", False))
                if any((key in self.from_models) == given for key in kept)
            )
            names = listing(sorted(n for _, n in kept), NAMES_SHOWN)
            return f"{options} keep{'s' * (' and ' not in options)} only {names} among the {words}"
        gone = sorted(name for kind, name in self.exclude if (kind, name) in here)
        return f"--exclude removes {listing(gone, NAMES_SHOWN)} from the {words}"

    def check(self, kind: str, before: Sequence[Component], after: Sequence[Component]) -> None:
        """Refuse a selection that leaves no feature builder or no model (or, for
        preprocessors, none for a required slot) where the data had some: ``before`` and
        ``after`` are the usable components without and with the selection. Samplers may
        all go: resampling is always optional."""
        if not self or kind == "sampler":
            return
        if kind != "preprocessor":
            if before and not after:
                why = f"which leaves no {KIND_WORDS[kind][1]} that fits this data"
                self._refuse((kind,), before, why)
            return
        for component in before:
            group = _group(component)
            required = component.accepts == component.produces and not component.optional
            if required and not any(_group(c) == group for c in after):
                same = [c for c in before if _group(c) == group]
                why = "but every chain needs one of them: none can skip that step"
                self._refuse(group, same, why)

    def _refuse(self, group: tuple[str, ...], before: Sequence[Component], why: str) -> None:
        fitting = listing(sorted({c.name for c in before}), NAMES_SHOWN)
        raise PluginError(f"{self.describe(group)}, {why}. Keep at least one of: {fitting}.")

    def summary(self) -> str:
        """The options as given, for an error: "--exclude onehot, ordinal"."""
        parts = [
            (option, sorted(name for _, name in keys))
            for option, keys in (
                ("--models", self.from_models),
                ("--include", self.include - self.from_models),
                ("--exclude", self.exclude),
            )
        ]
        return " and ".join(f"{o} {listing(ns, NAMES_SHOWN)}" for o, ns in parts if ns)


def _lookup(
    registry: Registry, token: str, option: str, kinds: Sequence[str], search: str
) -> list[Component]:
    """Each installed component ``token`` names, any status."""
    kind, _, name = token.strip().rpartition(":")
    kind, name = kind.strip(), name.strip()
    if kind and kind not in KINDS:
        raise PluginError(
            f"{option} names {token!r}; write a component's name, or KIND:NAME with KIND one "
            f"of {', '.join(KINDS)}."
        )
    found = [
        i.component
        for i in registry.infos(kind or None)
        if i.component.name == name and i.component.kind in KIND_WORDS
    ]
    if not found:
        _unknown(registry, option, token, name, [kind] if kind else list(KINDS))
    usable = [c for c in found if c.kind in kinds]
    if not usable:
        words = " and ".join(KIND_WORDS[k][0] for k in kinds)
        raise PluginError(
            f"{option} names the {KIND_WORDS[found[0].kind][1]} {name!r}, but {search} "
            f"chooses only {words}. Leave it out."
        )
    return usable


def _unknown(registry: Registry, option: str, token: str, name: str, kinds: list[str]) -> None:
    names = {k: sorted({str(i.component.name) for i in registry.infos(k)}) for k in kinds}
    every = [n for k in kinds for n in names[k]]
    close = difflib.get_close_matches(name, every, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = [k for k in kinds if close and close[0] in names[k]] or kinds
    known = "; ".join(
        f"{KIND_WORDS[k][0]}: {listing(names[k], NAMES_SHOWN) or 'none'}" for k in shown
    )
    raise PluginError(
        f"{option} names {token!r}, which is no installed component{hint}. Known {known}. "
        "Run `segframe plugins` to see every component and its plugin."
    )


def usable_components(
    registry: Registry,
    kind: str,
    context: SearchContext,
    asked: Collection[str] = (),
    selection: Selection | None = None,
) -> list[Component]:
    """Available components of ``kind`` that fit the data and join a search unasked,
    or that come from a plugin in ``asked`` (a plugin whose model the user named) or
    that ``selection`` includes; never one it rules out.

    ``applies`` and ``in_default_search`` are plugin code: one that raises marks its
    component broken in ``registry`` (with the reason) and leaves it out.
    """
    usable = []
    for info in registry.infos(kind, available_only=True):
        component = info.component
        if selection is not None and not selection.allows(component):
            continue
        if not registry.call(component, "applies", context, default=False, then=bool):
            continue
        joins = registry.call(component, "in_default_search", context, default=None, then=bool)
        named = selection is not None and selection.names(component)
        if joins is not None and (joins or info.plugin.name in asked or named):
            usable.append(component)
    return usable


class PipelineSpace:
    """Every compatible chain features → preprocessors → sampler → model for one dataset."""

    def __init__(
        self,
        registry: Registry,
        context: SearchContext,
        models: Sequence[str] | None = None,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        """``models`` (``--models``) and the models in ``include`` are the models to search,
        together; ``include`` and ``exclude`` select components as :class:`Selection` says."""
        self.context = context
        for name in models or ():
            registry.get("model", name)  # an unknown or unusable model: the registry's error
        selection = Selection.resolve(
            registry, include, exclude, models=models or (), kinds=SEARCH_KINDS
        )
        chosen = list(dict.fromkeys([*(models or ()), *selection.included("model")]))
        asked = {registry.info("model", name).plugin.name for name in chosen}
        named = [registry.get("model", name) for name in chosen]  # before any is marked broken
        kinds = ("features", "preprocessor", "sampler", "model")
        usable = {  # every model's callables run, so one that raises is marked broken
            kind: usable_components(registry, kind, context, asked, selection) for kind in kinds
        }
        if chosen:
            usable["model"] = [
                c
                for c in named
                if registry.call(c, "applies", context, then=bool) and registry.available(c)
            ]
        if selection:
            for kind in kinds:
                before = usable_components(registry, kind, context, asked)
                selection.check(kind, before, usable[kind])
        #: each model's known-good starts; a model whose ``starts`` raises is left out
        self._starts = {}
        for model in usable["model"]:
            starts = _starts(registry, model, context)
            if starts is not None:
                self._starts[model.name] = starts
        usable["model"] = [m for m in usable["model"] if m.name in self._starts]
        groups: dict[tuple[str, str], list[Component]] = {}
        for component in usable["preprocessor"]:
            groups.setdefault((component.accepts, component.produces), []).append(component)
        self.slots = sorted(
            (Slot(a, p, tuple(cs)) for (a, p), cs in groups.items()),
            key=lambda s: (form_rank(s.accepts), form_rank(s.produces)),
        )
        self.samplers = {c.name: c for c in usable["sampler"]}
        #: per form a model accepts: feature-builder choices whose output can reach that form
        self.features = {
            form: _feature_options(usable["features"], form, self._reaches)
            for form in {m.accepts for m in usable["model"]}
        }
        self.models = {c.name: c for c in usable["model"] if self.features[c.accepts]}
        if not self.models:
            broken = "".join(
                f" The {i.describe_problem()}."
                for i in registry.infos("model")
                if i.status == BROKEN
            )
            chosen_by = (
                f" With {selection.summary()}, no chain of the remaining components may reach "
                "what a model accepts: keep more of them."
                if selection
                else ""
            )
            raise PluginError(
                "No model can be used for this data: none is available, or no feature builder "
                "produces what they accept. Run `segframe plugins` to see which components are "
                f"installed and why others are unavailable.{chosen_by}{broken}"
            )

    def _reaches(self, start: str, goal: str) -> bool:
        """Whether preprocessing slots can turn form ``start`` into form ``goal``."""
        seen, frontier = {start}, [start]
        while frontier:
            form = frontier.pop()
            for slot in self.slots:
                if slot.accepts == form and slot.produces not in seen:
                    seen.add(slot.produces)
                    frontier.append(slot.produces)
        return goal in seen

    def choices(self) -> dict[str, list[str]]:
        """The structural parameters' choices (model, features, each slot, samplers).

        Optuna keeps one set of choices per parameter for a whole study, so a study can
        only be continued with the same choices; see ``engine``'s check.
        """
        forms = {m.accepts for m in self.models.values()}
        found: dict[str, list[str]] = {"model": list(self.models)}
        found.update({f"{form}_features": list(self.features[form]) for form in forms})
        found.update({slot.parameter: slot.choices for slot in self.slots})
        for form in {c.accepts for c in self.samplers.values()}:
            names = [n for n, c in self.samplers.items() if c.accepts == form]
            found[f"{form}_sampler"] = [*names, NONE]
        return found

    def portfolio(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Parameters of the models' known-good starts, to enqueue as the first trials.

        Each start gets every feature builder its model can use, the preprocessing its
        ``chain`` names (else each slot's first choice, optional slots skipped) and no
        resampling; parameters the start leaves out are sampled as usual. Ordered by
        rank, then model name; at most ``limit``.
        """
        starts: list[tuple[Start, Component]] = []
        for model in self.models.values():
            starts.extend((start, model) for start in self._starts[model.name])
        starts.sort(key=lambda pair: (pair[0].rank, pair[1].name))
        plans = []
        for start, model in starts:
            try:
                plans.append(self._plan(start, model))
            except PluginError:  # a space that raises fails its trials, named, later on
                continue
        unique = [p for i, p in enumerate(plans) if p not in plans[:i]]
        return unique[:limit]

    def _plan(self, start: Start, model: Component) -> dict[str, Any]:
        options = self.features[model.accepts]
        richest = max(options, key=lambda label: (len(options[label]), label))
        fixed = {
            "model": model.name,
            f"{model.accepts}_features": richest,
            **start.chain,
            **{f"{model.name}.{k}": v for k, v in start.params.items()},
        }
        trial = _StartTrial(fixed)
        self.sample(trial)
        return trial.params

    def _step(self, trial: Any, component: Component) -> StepSpec:
        return StepSpec(
            component.kind, component.name, sample_params(component, trial, self.context)
        )

    def sample(self, trial: Any) -> PipelineSpec:
        """Suggest one whole pipeline on ``trial``: the model first, then a chain that fits it.

        Choices whose options depend on the model's input form get one parameter per form
        (``matrix_features``, ``matrix_sampler``), since an Optuna parameter keeps one set
        of choices for the whole study.
        """
        model = self.models[trial.suggest_categorical("model", list(self.models))]
        goal = model.accepts
        options = self.features[goal]
        label = trial.suggest_categorical(f"{goal}_features", list(options))
        features = tuple(self._step(trial, c) for c in options[label])
        form, steps = options[label][0].produces, []
        for slot in self.slots:
            converts = slot.produces != slot.accepts
            if slot.accepts != form or (converts and not self._reaches(slot.produces, goal)):
                continue
            name = trial.suggest_categorical(slot.parameter, slot.choices)
            if name != NONE:
                steps.append(self._step(trial, next(c for c in slot.components if c.name == name)))
                form = slot.produces
        samplers = [n for n, c in self.samplers.items() if c.accepts == form]
        sampler = (
            trial.suggest_categorical(f"{form}_sampler", [*samplers, NONE]) if samplers else NONE
        )
        sampler_step = (
            self._step(trial, self.samplers[sampler])
            if sampler != NONE
            else StepSpec("sampler", NONE)
        )
        return PipelineSpec(features, (*steps, sampler_step, self._step(trial, model)))


class _StartTrial:
    """Answers one sampling pass with a start's choices and records what to enqueue.

    The pipeline's structure (model, features, every slot, the sampler) is always
    recorded; a component's own parameter only when the start gives it.
    """

    def __init__(self, fixed: dict[str, Any]) -> None:
        self.fixed, self.params = fixed, {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        own = "." in name
        default = NONE if NONE in choices else choices[0]
        value = self.fixed.get(name, default)
        if value not in choices:
            value = default
        if not own or name in self.fixed:
            self.params[name] = value
        return value

    def _number(self, name: str, low: Any, *args: Any, **kwargs: Any) -> Any:
        if name in self.fixed:
            self.params[name] = self.fixed[name]
            return self.fixed[name]
        return low

    suggest_int = suggest_float = _number


def sample_params(component: Component, trial: Any, context: SearchContext) -> dict[str, Any]:
    """``component.space`` on ``trial`` under the component's name; an error names the component.

    Plugin code: whatever it raises becomes a :class:`PluginError` that says which
    component's space failed, so the failed trial points at the plugin to fix.
    """
    where = f"the search space of the {component.kind} {component.name!r}"
    try:
        params = component.space(NamespacedTrial(trial, component.name), context)
    except (Exception, SystemExit) as exc:
        raise PluginError(f"{where} raised {describe_exception(exc)}") from exc
    if not isinstance(params, Mapping):
        raise PluginError(
            f"{where} returned {type(params).__name__}, not a dict of the factory's parameters."
        )
    return dict(params)


_RAISED = object()


def _starts(registry: Registry, model: Component, context: SearchContext) -> list[Start] | None:
    """``model.starts(context)`` as a list, or None (and the model marked broken) when the
    call raises or returns something else than :class:`Start` records."""
    starts = registry.call(model, "starts", context, default=_RAISED)
    if starts is _RAISED:
        return None
    if isinstance(starts, Start) or not isinstance(starts, Iterable):
        starts = [starts]
    starts = list(starts)
    bad = [s for s in starts if not isinstance(s, Start)]
    if bad:
        registry.mark_broken(
            model, f"starts() returned {type(bad[0]).__name__} objects, not Start records"
        )
        return None
    return starts


def _feature_options(
    builders: list[Component], goal: str, reaches: Callable[[str, str], bool]
) -> dict[str, list[Component]]:
    """Each builder whose output can reach ``goal`` alone, plus those of one form together."""
    usable = [b for b in builders if reaches(b.produces, goal)]
    options = {b.name: [b] for b in usable}
    by_form: dict[str, list[Component]] = {}
    for builder in usable:
        by_form.setdefault(builder.produces, []).append(builder)
    for group in by_form.values():
        if len(group) > 1:
            options["+".join(b.name for b in group)] = group
    return options
