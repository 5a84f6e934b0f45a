"""The search space over whole pipelines, sampled one Optuna trial at a time.

Component choices are categorical parameters (``model``, ``matrix_features``,
``frame_to_matrix``, ``matrix_sampler``…); each component's own parameters are
suggested only when that component is chosen, under its name (``xgboost.max_depth``),
so the space is conditional and names never collide. The model is chosen first and
the chain is built to fit what it accepts, so SMOTE never sees token sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segframe.components import FRAME, MATRIX, RAW, Component, SearchContext, Start
from segframe.errors import PluginError
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


def _form_rank(form: str) -> int:
    return FORM_ORDER.index(form) if form in FORM_ORDER else len(FORM_ORDER)


def usable_components(
    registry: Registry, kind: str, context: SearchContext, asked: Collection[str] = ()
) -> list[Component]:
    """Available components of ``kind`` that fit the data and join a search unasked,
    or that come from a plugin in ``asked`` (a plugin whose model the user named).

    ``applies`` and ``in_default_search`` are plugin code: one that raises marks its
    component broken in ``registry`` (with the reason) and leaves it out.
    """
    usable = []
    for info in registry.infos(kind, available_only=True):
        component = info.component
        if not registry.call(component, "applies", context, default=False, then=bool):
            continue
        joins = registry.call(component, "in_default_search", context, default=None, then=bool)
        if joins is not None and (joins or info.plugin.name in asked):
            usable.append(component)
    return usable


class PipelineSpace:
    """Every compatible chain features → preprocessors → sampler → model for one dataset."""

    def __init__(
        self, registry: Registry, context: SearchContext, models: Sequence[str] | None = None
    ) -> None:
        self.context = context
        named = [registry.get("model", name) for name in models or ()]
        asked = {registry.info("model", name).plugin.name for name in models or ()}
        usable = {
            kind: usable_components(registry, kind, context, asked)
            for kind in ("features", "preprocessor", "sampler", "model")
        }
        if models:
            usable["model"] = [
                c
                for c in named
                if registry.call(c, "applies", context, then=bool) and registry.available(c)
            ]
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
            key=lambda s: (_form_rank(s.accepts), _form_rank(s.produces)),
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
            raise PluginError(
                "No model can be used for this data: none is available, or no feature builder "
                "produces what they accept. Run `segframe plugins` to see which components are "
                f"installed and why others are unavailable.{broken}"
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
