"""Wide tables: the frame steps (impute, ordinal, one-hot) work on whole blocks of columns.

They give exactly what the scikit-learn compositions they replace give (a property test
against those compositions, rebuilt here as the reference), and the Python work they do
does not grow with the number of columns (counted, not timed: speed itself is measured by
``benchmarks/wide.py``).
"""

from __future__ import annotations

import pickle
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segframe_sklearn import make_ordinal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from segframe.plugin import CATEGORICAL, NUMERIC, TabularColumns, make_imputer, make_onehot

LEVELS = ["a", "b", "c", "d", "e"]


def reference_imputer(numeric_strategy: str = "median") -> ColumnTransformer:
    """What ``make_imputer`` was: two SimpleImputers in a ColumnTransformer."""
    return ColumnTransformer(
        [
            (
                "numeric",
                SimpleImputer(strategy=numeric_strategy, keep_empty_features=True),
                NUMERIC,
            ),
            ("categorical", SimpleImputer(strategy="constant", fill_value="missing"), CATEGORICAL),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def reference_ordinal() -> ColumnTransformer:
    """What ``make_ordinal`` was."""
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return ColumnTransformer(
        [("numeric", "passthrough", NUMERIC), ("categorical", encoder, CATEGORICAL)],
        sparse_threshold=0.0,
    )


def reference_onehot(min_frequency: float = 0.01) -> ColumnTransformer:
    """What ``make_onehot`` was."""
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=min_frequency, sparse_output=False
    )
    return ColumnTransformer(
        [("numeric", "passthrough", NUMERIC), ("categorical", encoder, CATEGORICAL)],
        sparse_threshold=0.0,
    )


@st.composite
def frames(draw: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training frame and a later frame with the same columns: floats with gaps (some
    columns empty), integers, text with gaps (some columns empty), and in the later frame
    levels never seen in training."""
    n_fit = draw(st.integers(1, 25))
    n_later = draw(st.integers(1, 10))
    kinds = draw(
        st.lists(
            st.sampled_from(["float", "int", "text", "empty float", "empty text"]),
            min_size=1,
            max_size=7,
        )
    )
    fit, later = {}, {}
    for i, kind in enumerate(kinds):
        for data, rows, unseen in ((fit, n_fit, []), (later, n_later, ["zz", "a2"])):
            if kind == "int":
                data[f"k{i}"] = draw(st.lists(st.integers(-5, 5), min_size=rows, max_size=rows))
            elif kind == "float":
                cell = st.one_of(st.none(), st.floats(-1e3, 1e3), st.sampled_from([0.5, 2.0]))
                values = draw(st.lists(cell, min_size=rows, max_size=rows))
                data[f"k{i}"] = np.array([np.nan if v is None else v for v in values], float)
            elif kind == "empty float":
                data[f"k{i}"] = np.full(rows, np.nan)
            else:
                pool = [None] if kind == "empty text" else [None, *LEVELS[:3], *unseen]
                values = draw(st.lists(st.sampled_from(pool), min_size=rows, max_size=rows))
                data[f"k{i}"] = np.array([np.nan if v is None else v for v in values], object)
    return pd.DataFrame(fit), pd.DataFrame(later, index=np.arange(100, 100 + n_later))


def assert_same_matrix(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # NaN where NaN


def quietly(run: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty text columns are dropped with a warning
        return run()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.sampled_from(["median", "mean"]))
def test_the_imputer_gives_what_the_simple_imputers_gave(
    data: tuple[pd.DataFrame, pd.DataFrame], strategy: str
) -> None:
    fit, later = data
    old, new = reference_imputer(strategy), make_imputer(strategy)
    for frame, how in ((fit, "fit_transform"), (later, "transform")):
        expected = quietly(lambda f=frame, h=how: getattr(old, h)(f))
        got = quietly(lambda f=frame, h=how: getattr(new, h)(f))
        # categorical columns come out as objects, not inferred per column as text
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        assert (got.dtypes.astype(str).isin(["float64", "object"])).all()
    assert list(new.get_feature_names_out()) == list(old.get_feature_names_out())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.sampled_from([0.001, 0.05, 0.2, 0.5, 1, 2, 3]), st.booleans())
def test_the_encoders_give_what_the_sklearn_encoders_gave(
    data: tuple[pd.DataFrame, pd.DataFrame], min_frequency: float, impute_first: bool
) -> None:
    """On imputed frames (as in a pipeline) and on raw ones with gaps in the text, which the
    ordinal encoder codes NaN (or -1 when training saw no gap) and one-hot encodes as a
    level of its own."""
    fit, later = data
    if impute_first:
        imputer = reference_imputer()
        fit = quietly(lambda: imputer.fit_transform(fit))
        later = quietly(lambda: imputer.transform(later))
    pairs = [
        (reference_ordinal(), make_ordinal()),
        (reference_onehot(min_frequency), make_onehot(min_frequency)),
    ]
    for old, new in pairs:
        assert_same_matrix(old.fit_transform(fit), new.fit_transform(fit))
        assert_same_matrix(old.transform(later), new.transform(later))
        assert list(new.get_feature_names_out()) == list(old.get_feature_names_out())
        refitted = clone(new).fit(fit)  # fit, then transform, gives what fit_transform gave
        assert_same_matrix(old.transform(fit), refitted.transform(fit))


def test_a_column_mixing_numbers_and_text_is_refused_as_before() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "mixed": np.array([1, "a", "b"], object)})
    with pytest.raises(TypeError, match="uniformly strings or numbers"):
        reference_ordinal().fit(frame)
    for step in (make_ordinal(), make_onehot()):
        with pytest.raises(TypeError, match="uniformly strings or numbers"):
            step.fit(frame)


def test_columns_of_different_kinds_each_sort_their_own_levels() -> None:
    """One column of numbers held as objects and one of text: each sorts on its own."""
    frame = pd.DataFrame(
        {"n": np.array([3, 1, 2, 1], object), "t": np.array(["b", "a", "c", "a"], object)}
    )
    later = pd.DataFrame({"n": np.array([2, 9, 1], object), "t": np.array(["c", "a", 4], object)})
    for old, new in ((reference_ordinal(), make_ordinal()), (reference_onehot(), make_onehot())):
        assert_same_matrix(old.fit_transform(frame), new.fit_transform(frame))
        assert_same_matrix(old.transform(later), new.transform(later))


def test_missing_columns_and_extra_columns_at_transform() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan], "t": np.array(["a", np.nan], object)})
    for step in (make_imputer(), make_ordinal(), make_onehot()):
        step.fit(frame)
        with pytest.raises(ValueError, match="columns are missing"):
            step.transform(frame[["x"]])
        shuffled = frame.assign(extra=[5, 6])[["extra", "t", "x"]]
        expected = step.transform(frame)
        got = step.transform(shuffled)  # by name, in the fitted order; extras ignored
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected)
        else:
            assert_same_matrix(expected, got)


def test_fitted_steps_pickle_and_clone() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0], "t": np.array(["a", np.nan, "b"], object), "k": [1, 2, 3]}
    )
    imputed = make_imputer("mean").fit_transform(frame)
    for step, data in ((make_imputer("mean"), frame), (make_ordinal(), imputed)):
        fitted = step.fit(data)
        again = pickle.loads(pickle.dumps(fitted))
        expected, got = fitted.transform(data), again.transform(data)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected)
        else:
            assert_same_matrix(expected, got)
    onehot = make_onehot(0.2)
    assert clone(onehot).get_params() == {"min_frequency": 0.2}
    assert clone(make_imputer("mean")).get_params() == {"numeric_strategy": "mean"}


# --- the work does not grow with the number of columns ------------------------------------


def python_calls(run: Callable[[], Any]) -> int:
    """How many Python functions ``run`` calls (built-ins not counted)."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += event == "call"

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return count


def imputed_table(columns: int, rows: int = 40) -> pd.DataFrame:
    """A table as the table-columns step gives it (floats, then one object block of text),
    one column in five categorical, with gaps."""
    raw = pd.DataFrame(
        {
            **{f"n{i}": np.where(np.arange(rows) % 7 == i % 7, np.nan, i) for i in range(columns)},
            **{
                f"c{i}": np.array(LEVELS, object)[(np.arange(rows) + i) % 5]
                for i in range(columns // 4)
            },
        }
    )
    return TabularColumns().fit_transform(raw)


@pytest.mark.parametrize(
    "make",
    [make_imputer, lambda: make_imputer("mean"), make_ordinal, make_onehot],
    ids=["impute-median", "impute-mean", "ordinal", "onehot"],
)
def test_fit_and_transform_do_not_loop_over_columns(make: Callable[[], Any]) -> None:
    """scikit-learn's ColumnTransformer looks each selected column up by name, and its
    encoders check, sort and code each column in Python: thousands of calls per thousand
    columns, ten seconds on a 10,000-column table. The frame steps do whole blocks."""
    narrow, wide = imputed_table(200), imputed_table(2000)
    if make in (make_ordinal, make_onehot):
        narrow, wide = make_imputer().fit_transform(narrow), make_imputer().fit_transform(wide)
    calls = {}
    for name, frame in (("narrow", narrow), ("wide", wide)):
        step = make()
        step.fit(frame)  # warm caches (imports, pandas' first-use paths) before counting
        step = make()
        calls[name] = python_calls(lambda s=step, f=frame: s.fit(f).transform(f))
    # ten times the columns: per-column work would add thousands of calls
    assert calls["wide"] <= calls["narrow"] + 300, calls


def test_table_columns_give_text_as_one_object_block_with_nan_gaps() -> None:
    """Missing text of every kind (None, NA, NaN in pandas' text type) becomes NaN, in
    object columns, as the per-column conversion gave it."""
    raw = pd.DataFrame(
        {
            "plain": pd.Series(["x", None, "y"], dtype=object),
            "na": pd.Series(["x", pd.NA, None], dtype=object),
            "text": pd.Series(["x", None, "z"], dtype="str"),
            "nullable": pd.Series(["x", pd.NA, "z"], dtype="string"),
            "number": [1, 2, 3],
        }
    )
    out = TabularColumns().fit_transform(raw)
    assert list(out.columns) == ["number", "plain", "na", "text", "nullable"]
    assert out["number"].dtype == np.float64
    text = out.drop(columns="number")
    assert (text.dtypes.astype(str) == "object").all()
    gaps = [[False, False, False, False], [True, True, True, True], [False, True, False, False]]
    assert text.isna().to_numpy().tolist() == gaps
    assert all(v is np.nan or isinstance(v, str) for v in text.to_numpy().ravel())
