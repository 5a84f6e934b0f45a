"""Check a plugin's components the way a search will use them, in seconds.

In the spirit of scikit-learn's ``check_estimator``: :func:`check_component` builds a
component with parameters drawn from its own search space (and with each of its
starts), fits it on a small simulated shop in the form it accepts, and checks what comes
out against the component contract; :func:`check_plugin` does so for every component of
a plugin, after checking that the plugin loads. Every broken rule is reported with the
component's name, so an author learns about a missing ``predict_proba`` or a misspelled
form here, not as a scikit-learn error deep inside a search.

``segframe plugins check [NAME]`` runs the same checks from the command line.
"""

from __future__ import annotations

import importlib
import math
import pickle
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from segframe.components import (
    FRAME,
    MATRIX,
    PREDICTION,
    RAW,
    SEQUENCES,
    Component,
    SearchContext,
    SequenceBatch,
    Start,
)
from segframe.errors import PluginError
from segframe.registry import (
    CONFLICTING,
    FORMS,
    UNAVAILABLE,
    ComponentInfo,
    Registry,
    component_problems,
    describe_exception,
)

#: Parameter sets drawn at random from a component's space, besides its starts.
DRAWS = 3
#: Seconds a component's checks may take: no further parameter set is tried once the
#: next one would go past it (a Keras model fits for seconds even for one epoch).
SLOW_SECONDS = 5.0
#: Iterative components are checked with at most this many epochs (an ``epochs`` parameter).
CHECK_EPOCHS = 1
#: The feature frame after imputation: what ``frame`` → ``matrix`` steps see in a search.
COMPLETE_FRAME = "complete frame"
#: Customers of the simulated shop the checks fit on, and how many of them are held out.
CUSTOMERS, HELD_OUT = 160, 40

#: What the segmentation search passes a segmenter's factory besides its own parameters.
SEGMENTER_ARGUMENTS = {"segmenter": {"n_clusters": 3, "seed": 0}}


@dataclass(frozen=True)
class Problem:
    """One broken rule: which component (or plugin), which rule, and what is wrong."""

    plugin: str
    component: str  # "model 'knn'"; empty for a problem of the plugin itself
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"{self.component} of plugin" if self.component else "plugin"
        return f"{where} {self.plugin!r} breaks rule '{self.rule}': {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """What a check looked at, what it found wrong and what it skipped."""

    target: str
    checked: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def __add__(self, other: CheckReport) -> CheckReport:
        return CheckReport(
            self.target,
            self.checked + other.checked,
            self.problems + other.problems,
            self.notes + other.notes,
        )

    def lines(self) -> list[str]:
        """The report for people: problems first, then notes."""
        return [*(str(p) for p in self.problems), *(f"note: {n}" for n in self.notes)]


class PluginCheckError(PluginError, AssertionError):
    """A check found broken rules; ``report`` holds them. An ``AssertionError`` as well,
    so that a failing check in a plugin's test suite reads like a failed assertion."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        problems = "\n".join(f"- {p}" for p in report.problems)
        count = len(report.problems)
        super().__init__(f"{report.target}: {count} problem{'s' * (count != 1)}:\n{problems}")


# --- the data the checks fit on ----------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    """One form of the simulated shop: rows to fit on and held-out rows to transform."""

    fit: Any
    held_out: Any


@dataclass(frozen=True)
class CheckData:
    """The simulated shop in every form, with binary and three-class targets."""

    forms: dict[str, _Split]
    y: np.ndarray  # label codes 0/1 of the fitting rows, as the engine passes them
    y3: np.ndarray  # three classes, codes 0..2
    context: SearchContext
    context3: SearchContext


def _rows(value: Any, rows: np.ndarray) -> Any:
    if isinstance(value, pd.DataFrame):
        return value.iloc[rows]
    if isinstance(value, SequenceBatch):
        return SequenceBatch(value.tokens[rows], value.features[rows])
    return value[rows]


def _token_batch(raw: pd.DataFrame, matrix: np.ndarray, length: int = 16) -> SequenceBatch:
    """Each customer's last ``length`` event types as tokens (0 padding, types from 2)."""
    from segframe.data import event_arrays

    events = event_arrays(raw)
    tokens = np.zeros((len(raw), length), dtype=np.int32)
    for row in range(len(raw)):
        start, stop = events.offsets[row], events.offsets[row + 1]
        order = np.argsort(events.timestamp[start:stop], kind="stable")
        codes = events.event_codes[start:stop][order][-length:] + 2
        if len(codes):
            tokens[row, -len(codes) :] = codes
    scaled = (matrix - matrix.mean(axis=0)) / np.where(matrix.std(axis=0) > 0, matrix.std(0), 1)
    return SequenceBatch(tokens, scaled.astype(np.float32))


def _context(y: np.ndarray, raw: pd.DataFrame) -> SearchContext:
    from segframe.data import column_kinds

    counts = np.bincount(y)
    kinds = column_kinds(raw)
    return SearchContext(
        n_rows=len(y),
        n_classes=len(counts),
        min_class_count=int(counts.min() * 2 // 3),  # as inside a training fold of 3
        minority_ratio=float(counts.min() / counts.max()),
        has_events=True,
        n_tabular_columns=len(kinds),
        columns=tuple(kinds),
        column_kinds=kinds,
    )


@cache
def check_data() -> CheckData:
    """A small simulated shop (with its event log) in the raw, frame, matrix and
    sequences forms, built with core code only; made once per process."""
    from sklearn.model_selection import train_test_split

    from segframe.data import load_customers
    from segframe.demo import make_demo
    from segframe.pipeline import FeatureConcat
    from segframe.plugin import TabularColumns, make_imputer, make_onehot
    from segframe.rfm import RFMFeatures

    customers, events = make_demo(n_customers=CUSTOMERS, seed=7)
    shop = load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )
    raw = shop.frame
    codes = np.unique(shop.target.to_numpy(), return_inverse=True)[1]
    frame = FeatureConcat([("tabular", TabularColumns()), ("rfm", RFMFeatures())])
    frame = frame.fit_transform(raw)
    imputed = make_imputer().fit_transform(frame)
    matrix = np.asarray(make_onehot().fit_transform(imputed), dtype=float)
    values = {
        RAW: raw,
        FRAME: frame,
        COMPLETE_FRAME: imputed,
        MATRIX: matrix,
        SEQUENCES: _token_batch(raw, matrix),
    }
    fit, held_out = train_test_split(
        np.arange(len(raw)), test_size=HELD_OUT, stratify=codes, random_state=0
    )
    y3 = np.random.default_rng(0).permutation(np.arange(len(raw)) % 3)[fit]
    forms = {
        form: _Split(_rows(value, fit), _rows(value, held_out)) for form, value in values.items()
    }
    return CheckData(forms, codes[fit], y3, _context(codes[fit], raw), _context(y3, raw))


# --- checking one component --------------------------------------------------------------


_RAISED = object()


class _Failed(Exception):
    """A rule broke; the rest of this build's checks cannot run."""


class _ComponentCheck:
    """Collects the broken rules of one component."""

    def __init__(self, component: Component, plugin: str, draws: int) -> None:
        self.c, self.plugin, self.draws = component, plugin, draws
        self.label = f"{component.kind} {component.name!r}"
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def problem(self, rule: str, message: str) -> None:
        if (rule, message) not in self._seen:  # the same fault on every draw: say it once
            self._seen.add((rule, message))
            self.problems.append(Problem(self.plugin, self.label, rule, message))

    def fail(self, rule: str, message: str) -> None:
        self.problem(rule, message)
        raise _Failed

    def run(self) -> None:
        fields = component_problems(self.c)
        for message in fields:
            self.problem("fields", message)
        if fields:
            return
        data = check_data()
        if not self._applies(data.context, "a binary target with an event log"):
            return
        self._guarded("in_default_search", data.context)
        started = time.perf_counter()
        for built, (label, params) in enumerate(self._parameter_sets(data.context)):
            took = time.perf_counter() - started
            if built and took * (built + 1) / built > SLOW_SECONDS:  # the next would pass it
                self.notes.append(
                    f"{self.label}: checked with {built} parameter set{'s' * (built > 1)} "
                    f"only, to stay fast ({took / built:.1f} s each)"
                )
                break
            self._build_and_use(label, params, data.forms, data.y, first=built == 0)
        if self.c.kind == "model" and self._applies(data.context3, "a three-class target"):
            for label, params in self._parameter_sets(data.context3, draws=1, starts=False):
                self._build_and_use(f"{label}, three classes", params, data.forms, data.y3)

    def _guarded(self, name: str, *args: Any) -> Any:
        """``component.<name>(*args)``; a problem and :data:`_RAISED` if it raises."""
        try:
            return getattr(self.c, name)(*args)
        except (Exception, SystemExit) as exc:
            self.problem(name, f"{name}(context) raised {describe_exception(exc)}")
            return _RAISED

    def _applies(self, context: SearchContext, what: str) -> bool:
        result = self._guarded("applies", context)
        if result is _RAISED:
            return False
        try:
            applies = bool(result)
        except Exception as exc:
            self.problem("applies", f"applies(context) returned {type(result).__name__}: {exc}")
            return False
        if not applies:
            self.notes.append(f"{self.label}: not checked on {what}; applies(context) is False")
        return applies

    # -- parameters: random draws from the space, then the starts --

    def _parameter_sets(
        self, context: SearchContext, draws: int | None = None, starts: bool = True
    ) -> Iterable[tuple[str, dict[str, Any]]]:
        import optuna

        from segframe.space import sample_params

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(self.draws if draws is None else draws):
            try:
                params = sample_params(self.c, study.ask(), context)
            except PluginError as exc:
                self.problem("space", _unprefixed(str(exc), self.c))
                return
            yield f"parameters {params!r} drawn from its space", _fast(params)
        if not starts or self.c.kind != "model":
            return
        for n, start in enumerate(self._starts(context)):
            params = self._start_params(study, start, n, context)
            if params is not None:
                yield f"start {n} ({dict(start.params)!r})", _fast(params)

    def _starts(self, context: SearchContext) -> list[Start]:
        starts = self._guarded("starts", context)
        if starts is _RAISED:
            return []
        if isinstance(starts, Start) or not isinstance(starts, Iterable):
            self.problem("starts", f"starts(context) must return a list of Start, not {starts!r}")
            return []
        starts = list(starts)
        bad = [s for s in starts if not isinstance(s, Start)]
        if bad:
            self.problem("starts", f"starts(context) returned {bad[0]!r}, not a Start")
            return []
        return starts

    def _start_params(
        self, study: Any, start: Start, n: int, context: SearchContext
    ) -> dict[str, Any] | None:
        from segframe.space import sample_params

        where = f"start {n}"
        for slot, name in dict(start.chain).items():
            a, _, b = str(slot).partition("_to_")
            if a not in FORMS or b not in FORMS:
                self.problem(
                    "starts",
                    f"{where}: chain key {slot!r} is no preprocessing slot; slots are named "
                    f"after forms, e.g. 'frame_to_matrix'",
                )
            elif not isinstance(name, str):
                self.problem("starts", f"{where}: chain[{slot!r}] must be a component name")
        if not isinstance(start.rank, int | float):
            self.problem("starts", f"{where}: rank must be a number, not {start.rank!r}")
        fixed = {f"{self.c.name}.{k}": v for k, v in dict(start.params).items()}
        with warnings.catch_warnings():  # optuna warns of values outside the space: allowed
            warnings.simplefilter("ignore")
            study.enqueue_trial(fixed, skip_if_exists=False)
            trial = study.ask()
            try:
                params = sample_params(self.c, trial, context)
            except PluginError as exc:  # e.g. a value the space's distribution cannot hold
                self.problem(
                    "starts", f"{where}: its space rejects it: {_unprefixed(str(exc), self.c)}"
                )
                return None
        suggested = {name.partition(".")[2] for name in trial.params}
        ignored = sorted(set(dict(start.params)) - suggested)
        if ignored:
            self.problem(
                "starts",
                f"{where} sets {', '.join(map(repr, ignored))}, which the space never "
                f"suggests (it suggests {', '.join(sorted(suggested)) or 'nothing'}); a "
                "search would silently ignore it",
            )
        return params

    # -- building, fitting and what comes out --

    def _build_and_use(
        self,
        label: str,
        params: dict[str, Any],
        forms: dict[str, _Split],
        y: np.ndarray,
        first: bool = False,
    ) -> None:
        from segframe.progress import epoch_reporting

        reports: list[tuple[Any, Any]] = []
        try:
            try:
                built = self.c.factory(**params, **SEGMENTER_ARGUMENTS.get(self.c.kind, {}))
            except (Exception, SystemExit) as exc:
                self.fail("factory", f"factory(**params) with {label} raised {_exc(exc)}")
            self._check_clone(built)
            data = forms[_input_form(self.c)]
            with warnings.catch_warnings(), epoch_reporting(lambda s, e: reports.append((s, e))):
                warnings.simplefilter("ignore")
                fitted = self._use(built, data, y, label)
            self._check_reports(reports)
            if first and fitted is not None:
                self._check_pickle(fitted)
        except _Failed:
            return

    def _check_clone(self, built: Any) -> None:
        from sklearn.base import clone

        try:
            clone(built)
        except Exception as exc:
            self.fail(
                "clone",
                f"sklearn.base.clone() fails on what the factory returns ({_exc(exc)}); "
                "segframe fits a fresh clone per fold: follow scikit-learn's rules "
                "(__init__ stores its parameters unchanged, get_params returns them)",
            )

    def _use(self, built: Any, data: _Split, y: np.ndarray, label: str) -> Any:
        kind = self.c.kind
        if kind == "sampler":
            return self._use_sampler(built, data, y, label)
        if kind == "segmenter":
            return self._use_segmenter(built, data, label)
        needed = ("fit", "predict_proba") if kind == "model" else ("fit", "transform")
        missing = [m for m in needed if not callable(getattr(built, m, None))]
        if missing:
            hint = {
                "predict_proba": "; segframe ranks models by class probabilities: give it "
                "predict_proba, or wrap it (sklearn.calibration.CalibratedClassifierCV)",
                "transform": "; a step that resamples rows (fit_resample) is a sampler",
            }.get(missing[-1], "")
            self.fail(
                "methods",
                f"the factory returned {type(built).__name__}, which has no "
                f"{' or '.join(missing)}{hint}",
            )
        try:
            returned = built.fit(data.fit, y)
        except (Exception, SystemExit) as exc:
            self.fail(
                "fit", f"fit() with {label} on {_form_text(self.c.accepts)} raised {_exc(exc)}"
            )
        if returned is not built:
            self.problem(
                "fit",
                f"fit() returned {type(returned).__name__}, not self (scikit-learn's rule; "
                "segframe chains fit(...).transform(...))",
            )
        if kind == "model":
            self._check_model(built, data, y, label)
        else:
            self._check_transform(built, data, label)
        return built

    def _use_segmenter(self, built: Any, data: _Split, label: str) -> Any:
        """What `segframe segment` relies on: fit(X) sets labels_, predict(X) gives a segment
        id per row, embed(X) the 2-D space silhouette is measured in."""
        missing = [m for m in ("fit", "predict", "embed") if not callable(getattr(built, m, None))]
        if missing:
            self.fail(
                "methods",
                f"the factory returned {type(built).__name__}, which has no "
                f"{' or '.join(missing)}; a segmenter has fit(X), predict(X) and embed(X)",
            )
        try:
            if built.fit(data.fit) is not built:
                self.problem("fit", "fit() did not return self (scikit-learn's rule)")
            labels = np.asarray(getattr(built, "labels_", None))
            predicted = np.asarray(built.predict(data.held_out))
            embedded = np.asarray(built.embed(data.fit), dtype=float)
        except (Exception, SystemExit) as exc:
            self.fail("fit", f"fitting and using it with {label} raised {_exc(exc)}")
        if labels.shape != (len(data.fit),):
            self.problem("output", "fit() must set labels_, a segment id per row it was fitted on")
        if predicted.shape != (len(data.held_out),):
            self.problem("output", f"predict() gave shape {predicted.shape}, not one id per row")
        if embedded.ndim != 2 or len(embedded) != len(data.fit):
            self.problem("output", f"embed() gave shape {embedded.shape}; it is 2-D, a row per row")
        return built

    def _check_transform(self, built: Any, data: _Split, label: str) -> None:
        outputs = []
        for rows, X in (("fitted", data.fit), ("held-out", data.held_out)):
            try:
                out = built.transform(X)
            except (Exception, SystemExit) as exc:
                self.fail(
                    "transform", f"transform() of {rows} rows with {label} raised {_exc(exc)}"
                )
            self._check_form(out, X, rows)
            outputs.append(out)
        widths = [_width(out) for out in outputs]
        if None not in widths and widths[0] != widths[1]:
            self.problem(
                "output",
                f"transform() gives {widths[0]} columns for the rows it was fitted on but "
                f"{widths[1]} for other rows; what a step produces must not depend on the rows",
            )

    def _check_form(self, out: Any, X: Any, rows: str) -> None:
        produces, kind = self.c.produces, self.c.kind
        says = f"transform() of {rows} rows returned"
        if produces == SEQUENCES:
            if not isinstance(out, SequenceBatch):
                self.fail(
                    "output",
                    f"{says} {type(out).__name__}; it produces 'sequences', a SequenceBatch",
                )
            tokens, side = np.asarray(out.tokens), np.asarray(out.features)
            if (
                tokens.ndim != 2
                or not np.issubdtype(tokens.dtype, np.integer)
                or tokens.min(initial=0) < 0
            ):
                self.problem("output", f"{says} tokens that are not a 2-D array of integers >= 0")
            if side.ndim != 2 or len(side) != len(tokens) or not np.isfinite(side).all():
                self.problem(
                    "output",
                    f"{says} side features that are not a complete 2-D array, one row per customer",
                )
            if len(out) != len(X):
                self.problem("output", f"{says} {len(out)} rows for {len(X)} customers")
            return
        if produces == FRAME or kind == "features":
            if not isinstance(out, pd.DataFrame):
                rule = "a DataFrame indexed like its input" if kind == "features" else "a DataFrame"
                self.fail("output", f"{says} {type(out).__name__}; it produces 'frame', {rule}")
            if len(out) != len(X):
                self.fail("output", f"{says} {len(out)} rows for {len(X)} customers")
            if kind == "features" and not out.index.equals(X.index):
                self.problem(
                    "output", f"{says} a DataFrame whose index is not the customers' index"
                )
            if out.columns.duplicated().any():
                self.problem("output", f"{says} duplicate column names")
            if produces == MATRIX:  # a feature builder claiming a matrix
                self._check_matrix(out, X, says)
            return
        if produces == MATRIX:
            self._check_matrix(out, X, says)

    def _check_matrix(self, out: Any, X: Any, says: str) -> None:
        try:
            values = np.asarray(out, dtype=float)
        except (TypeError, ValueError) as exc:
            self.fail(
                "output", f"{says} values that are not all numeric ({exc}); it produces 'matrix'"
            )
        if values.ndim != 2 or len(values) != len(X):
            self.fail(
                "output", f"{says} shape {values.shape}; 'matrix' is 2-D, one row per customer"
            )
        if not np.isfinite(values).all():
            self.problem("output", f"{says} NaN or infinite values; 'matrix' is complete")

    def _check_model(self, built: Any, data: _Split, y: np.ndarray, label: str) -> None:
        classes = getattr(built, "classes_", None)
        expected = np.unique(y)
        if classes is None:
            self.problem(
                "classes_", "the fitted model has no classes_ attribute (scikit-learn's rule)"
            )
        elif not np.array_equal(np.asarray(classes), expected):
            self.problem(
                "classes_", f"classes_ is {classes!r} after fitting on labels {expected.tolist()}"
            )
        try:
            proba = built.predict_proba(data.held_out)
        except (Exception, SystemExit) as exc:
            self.fail("predict_proba", f"predict_proba() with {label} raised {_exc(exc)}")
        try:
            proba = np.asarray(proba, dtype=float)
        except (TypeError, ValueError) as exc:
            self.fail("predict_proba", f"predict_proba() returned non-numbers ({exc})")
        shape = (len(data.held_out), len(expected))
        if proba.shape != shape:
            self.fail(
                "predict_proba",
                f"predict_proba() returned shape {proba.shape}, not {shape} (customers × classes)",
            )
        if not np.isfinite(proba).all() or (proba < 0).any() or (proba > 1).any():
            self.fail("predict_proba", "predict_proba() returned values outside [0, 1] or NaN")
        if not np.allclose(proba.sum(axis=1), 1.0, atol=1e-4):
            worst = float(np.abs(proba.sum(axis=1) - 1).max())
            self.problem(
                "predict_proba",
                f"rows of predict_proba() do not sum to 1 (off by up to {worst:.3g})",
            )

    def _use_sampler(self, built: Any, data: _Split, y: np.ndarray, label: str) -> Any:
        if not callable(getattr(built, "fit_resample", None)):
            self.fail(
                "methods",
                f"the factory returned {type(built).__name__}, which has no fit_resample(X, y); "
                "samplers are imbalanced-learn samplers (a transformer is a preprocessor)",
            )
        try:
            result = built.fit_resample(data.fit, y)
        except (Exception, SystemExit) as exc:
            self.fail("fit_resample", f"fit_resample() with {label} raised {_exc(exc)}")
        if not isinstance(result, tuple) or len(result) != 2:
            self.fail("fit_resample", "fit_resample() must return (X_resampled, y_resampled)")
        X_res, y_res = result
        if len(X_res) != len(y_res):
            self.fail(
                "fit_resample", f"fit_resample() returned {len(X_res)} rows but {len(y_res)} labels"
            )
        self._check_matrix(X_res, X_res, "fit_resample() returned")
        if _width(X_res) != _width(data.fit):
            self.problem("fit_resample", "fit_resample() changed the number of columns")
        if not set(np.unique(np.asarray(y_res)).tolist()) <= set(np.unique(y).tolist()):
            self.problem("fit_resample", "fit_resample() returned labels that were not in y")
        return built

    def _check_reports(self, reports: list[tuple[Any, Any]]) -> None:
        for score, epoch in reports:
            if not isinstance(score, int | float) or isinstance(score, bool):
                self.problem("report_epoch", f"report_epoch() got score {score!r}; pass a float")
            elif not isinstance(epoch, int) or epoch < 0:
                self.problem(
                    "report_epoch", f"report_epoch() got epoch {epoch!r}; pass an int >= 0"
                )
            elif math.isinf(score):
                self.problem("report_epoch", "report_epoch() got an infinite score")

    def _check_pickle(self, fitted: Any) -> None:
        try:
            pickle.loads(pickle.dumps(fitted))
        except Exception as exc:
            self.problem(
                "pickle",
                f"the fitted step cannot be pickled and unpickled ({_exc(exc)}); a winning "
                "pipeline is stored pickled",
            )


def _input_form(component: Component) -> str:
    """Which data a component is checked on: what it accepts, except that a step turning
    frames into matrices gets a complete frame, as it does in a search, where the
    ``frame_to_frame`` slot (imputation, never skipped) runs first."""
    if component.accepts == FRAME and component.produces == MATRIX:
        return COMPLETE_FRAME
    return component.accepts


def _fast(params: dict[str, Any]) -> dict[str, Any]:
    """The drawn parameters with ``epochs`` capped, so deep models train one epoch here."""
    epochs = params.get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > CHECK_EPOCHS:
        return {**params, "epochs": CHECK_EPOCHS}
    return params


def _exc(exc: BaseException) -> str:
    return describe_exception(exc)[:500]


def _unprefixed(message: str, component: Component) -> str:
    return message.replace(f"the search space of the {component.kind} {component.name!r} ", "")


def _form_text(form: str) -> str:
    return {
        RAW: "the customer frame (raw)",
        FRAME: "a feature frame",
        MATRIX: "a numeric matrix",
        SEQUENCES: "a SequenceBatch",
        PREDICTION: "class probabilities",
    }.get(form, repr(form))


def _width(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    if isinstance(value, SequenceBatch):
        return None
    return shape[1] if shape is not None and len(shape) == 2 else None


# --- public entry points -----------------------------------------------------------------


def check_component(
    component: Component | ComponentInfo, *, draws: int = DRAWS, raise_on_problems: bool = True
) -> CheckReport:
    """Check one component against the component contract, on a small simulated shop.

    Validates its fields; builds it with ``draws`` parameter sets drawn from its space
    and (models) with each of its starts; fits it on data in the form it ``accepts``,
    and checks that what it gives matches what it ``produces``: a feature builder returns
    a DataFrame indexed like its input (or a SequenceBatch), a preprocessor transforms
    fitted and held-out rows alike, a sampler has ``fit_resample``, a model has
    ``predict_proba`` (rows summing to 1) and ``classes_``, also on three classes, and a
    segmenter (built with ``n_clusters=3``) sets ``labels_`` and has ``predict`` and
    ``embed``. Every step must survive ``sklearn.base.clone`` and pickling. An ``epochs``
    parameter is capped at 1 to keep the check fast.

    Raises :class:`PluginCheckError` listing every broken rule (unless
    ``raise_on_problems`` is false); returns the :class:`CheckReport`.
    """
    if isinstance(component, ComponentInfo):
        info = component
        component, plugin = info.component, info.plugin.name
    else:
        info, plugin = None, "(in code)"
    check = _ComponentCheck(component, plugin, draws)
    if info is not None and info.status == UNAVAILABLE:
        check.notes.append(f"{check.label}: not checked; {info.unavailable}")
    elif info is not None and info.status == CONFLICTING:
        check.problem(CONFLICTING, str(info.unavailable))
    else:  # a component broken at registration: its fields, each reported on its own
        check.run()
    report = CheckReport(check.label, (check.label,), tuple(check.problems), tuple(check.notes))
    if raise_on_problems and report.problems:
        raise PluginCheckError(report)
    return report


def _find_plugin(target: Any) -> tuple[Registry, str]:
    """A registry holding ``target`` and the name it is registered under."""
    registry = Registry.load()
    if isinstance(target, str):
        if target in registry.plugins:
            return registry, target
        try:
            target = importlib.import_module(target)
        except (Exception, SystemExit) as exc:
            known = ", ".join(sorted(registry.plugins)) or "none"
            raise PluginError(
                f"No installed plugin is named {target!r} and no module of that name can be "
                f"imported ({describe_exception(exc)}). Installed plugins: {known}."
            ) from None
    for name in registry.plugins:
        if registry.plugin_object(name) is target:
            return registry, name
    registry = Registry.load(extra=[target])
    return registry, list(registry.plugins)[-1]  # plugins passed in code register last


def check_plugin(plugin: Any, *, draws: int = DRAWS, raise_on_problems: bool = True) -> CheckReport:
    """Check that a plugin loads and that each of its components keeps the contract.

    ``plugin`` is an installed plugin's entry-point name (as ``segframe plugins`` lists
    it), an importable module name, or the plugin module or object itself (checked
    next to the installed plugins, so that a name clash with one of them shows). Each
    component is checked as by :func:`check_component`; components that need a module
    which is not installed are skipped with a note.

    Raises :class:`PluginCheckError` listing every broken rule (unless
    ``raise_on_problems`` is false); returns the :class:`CheckReport`.
    """
    registry, name = _find_plugin(plugin)
    info = registry.plugins[name]
    target = f"plugin {info.describe()}"
    report = CheckReport(target)
    if info.error is not None:
        report += CheckReport(target, problems=(Problem(name, "", "load", info.error),))
    else:
        infos = [i for i in registry.infos() if i.plugin.name == name]
        if not infos:
            report += CheckReport(target, notes=(f"plugin {name!r} provides no components",))
        for component in infos:
            report += check_component(component, draws=draws, raise_on_problems=False)
    if raise_on_problems and report.problems:
        raise PluginCheckError(report)
    return report


__all__ = [
    "CheckReport",
    "PluginCheckError",
    "Problem",
    "check_component",
    "check_plugin",
]
