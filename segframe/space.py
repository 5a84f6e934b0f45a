"""The search space over whole pipelines, sampled one Optuna trial at a time.

Component choices are categorical parameters (``features``, ``frame_to_matrix``,
``sampler``, ``model``…); each component's own parameters are suggested only when
that component is chosen, under its name (``xgboost.max_depth``), so the space is
conditional and names never collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from segframe.components import FRAME, MATRIX, RAW, Component, SearchContext
from segframe.errors import PluginError
from segframe.pipeline import NONE, PipelineSpec, StepSpec
from segframe.registry import Registry

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


class PipelineSpace:
    """Every compatible chain features → preprocessors → sampler → model for one dataset."""

    def __init__(
        self, registry: Registry, context: SearchContext, models: Sequence[str] | None = None
    ) -> None:
        self.context = context
        usable = {
            kind: [c for c in registry.components(kind) if c.applies(context)]
            for kind in ("features", "preprocessor", "sampler", "model")
        }
        if models:
            chosen = [registry.get("model", name) for name in models]
            usable["model"] = [c for c in chosen if c.applies(context)]
        builders = usable["features"]
        if not builders:
            raise PluginError("No feature builder fits this data; is the customer table empty?")
        self.features = {c.name: [c] for c in builders}
        if len(builders) > 1:
            self.features["+".join(c.name for c in builders)] = builders
        groups: dict[tuple[str, str], list[Component]] = {}
        for component in usable["preprocessor"]:
            groups.setdefault((component.accepts, component.produces), []).append(component)
        self.slots = sorted(
            (Slot(a, p, tuple(cs)) for (a, p), cs in groups.items()),
            key=lambda s: (_form_rank(s.accepts), _form_rank(s.produces)),
        )
        self.samplers = {c.name: c for c in usable["sampler"]}
        self.models = {c.name: c for c in usable["model"]}
        if not self.models:
            raise PluginError(
                "No model is available for this search. Run `segframe plugins` to see which "
                "models are installed and why others are unavailable."
            )

    def _step(self, trial: Any, component: Component) -> StepSpec:
        params = dict(component.space(NamespacedTrial(trial, component.name), self.context))
        return StepSpec(component.kind, component.name, params)

    def sample(self, trial: Any) -> PipelineSpec:
        """Suggest one whole pipeline on ``trial``."""
        label = trial.suggest_categorical("features", list(self.features))
        features = tuple(self._step(trial, c) for c in self.features[label])
        form, steps = self.features[label][0].produces, []
        for slot in self.slots:
            if slot.accepts != form:
                continue
            name = trial.suggest_categorical(slot.parameter, slot.choices)
            if name == NONE:
                continue
            steps.append(self._step(trial, next(c for c in slot.components if c.name == name)))
            form = slot.produces
        samplers = [n for n, c in self.samplers.items() if c.accepts == form]
        models = [n for n, c in self.models.items() if c.accepts == form]
        if not models:
            raise PluginError(
                f"No preprocessing chain turns features into what the models accept ({form!r} "
                "reached). Install a preprocessor plugin that produces it."
            )
        sampler = trial.suggest_categorical("sampler", [*samplers, NONE])
        model = trial.suggest_categorical("model", models)
        sampler_step = (
            self._step(trial, self.samplers[sampler])
            if sampler != NONE
            else StepSpec("sampler", NONE)
        )
        return PipelineSpec(features, (*steps, sampler_step, self._step(trial, self.models[model])))
