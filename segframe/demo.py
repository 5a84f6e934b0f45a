"""Built-in simulator of an e-commerce shop, used by ``segframe search --demo``.

The demo has to exercise the whole framework the way real data would, so it is not
i.i.d. noise: every customer has a latent engagement and spending level, signs up
at some point of a one-year observation window, browses through a view -> search ->
cart -> purchase funnel, and may lapse part-way through. The binary target
``will_buy_again`` (did the customer buy again *after* the window) is driven by
recency, frequency and monetary value of the simulated events, by the event mix
(abandoned carts) and by a few tabular attributes, plus noise. A decent model
reaches a ROC-AUC of roughly 0.8: learnable, but far from trivially separable,
and imbalanced (about 15 % positives) like real retention targets.

Everything is vectorised with numpy, so 100k customers take a few seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "EVENT_TYPES",
    "POSITIVE_RATE",
    "WINDOW_END",
    "WINDOW_START",
    "make_demo",
]

WINDOW_START = pd.Timestamp("2025-01-01")
"""First instant of the observation window covered by ``events``."""
WINDOW_END = pd.Timestamp("2026-01-01")
"""End (exclusive) of the window; ``will_buy_again`` is about the period after it."""
POSITIVE_RATE = 0.15
"""Share of customers with ``will_buy_again == 1``."""

EVENT_TYPES: tuple[str, ...] = ("view", "search", "cart", "purchase")
CATEGORIES: tuple[str, ...] = (
    "books",
    "electronics",
    "fashion",
    "home",
    "beauty",
    "sports",
    "toys",
    "grocery",
)
_COUNTRIES = ("DE", "FR", "UK", "US", "ES", "NL")
_COUNTRY_P = (0.32, 0.20, 0.17, 0.14, 0.10, 0.07)
_CHANNELS = ("organic", "ads", "referral", "email")
_CHANNEL_P = (0.40, 0.30, 0.15, 0.15)
_CHANNEL_EFFECT = (0.0, -0.35, 0.35, 0.2)  # on the log-odds of buying again
_DEVICES = ("mobile", "desktop", "tablet")
_DEVICE_P = (0.55, 0.35, 0.10)
_CATEGORY_P = (0.14, 0.16, 0.20, 0.13, 0.10, 0.09, 0.08, 0.10)
_CATEGORY_PRICE = (2.9, 4.6, 3.8, 4.0, 3.2, 3.9, 3.3, 2.8)  # log-scale base price
_MAX_EVENTS = 200
_SECONDS = int((WINDOW_END - WINDOW_START).total_seconds())
_DAY = 86_400.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def make_demo(n_customers: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(customers, events)`` for a simulated shop.

    ``customers`` has one row per customer: ``customer_id``, ``age`` (float, ~5 % NaN),
    ``country``, ``channel``, ``newsletter`` (0/1), ``device`` and the target
    ``will_buy_again`` (0/1, :data:`POSITIVE_RATE` positive). ``events`` has one row per
    event, in no particular order: ``customer_id``, ``timestamp`` (inside
    [:data:`WINDOW_START`, :data:`WINDOW_END`)), ``event`` (one of :data:`EVENT_TYPES`),
    ``amount`` (purchase value, NaN for other events) and ``item`` (a product category).
    The result is fully determined by ``n_customers`` and ``seed``.
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1, got {n_customers}")
    rng = np.random.default_rng(seed)
    n = int(n_customers)

    # --- static attributes and latent traits -------------------------------------------
    engagement = rng.normal(size=n)  # how much a customer browses
    value = 0.4 * engagement + np.sqrt(1 - 0.4**2) * rng.normal(size=n)  # spending level
    age = np.clip(rng.normal(38.0 + 3.0 * value, 12.0), 18.0, 80.0).round()
    age[rng.random(n) < 0.05] = np.nan
    country = rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P)
    channel = rng.choice(len(_CHANNELS), size=n, p=_CHANNEL_P)
    device = rng.choice(len(_DEVICES), size=n, p=_DEVICE_P)
    newsletter = (rng.random(n) < _sigmoid(-0.6 + 0.6 * engagement)).astype(np.int64)

    # --- activity span: signup (tenure) and possible lapse ------------------------------
    year = float(_SECONDS)
    signup = rng.uniform(-0.6, 0.95, size=n) * year  # < 0: customer from before the window
    start = np.clip(signup, 0.0, None)
    lapse_p = _sigmoid(-0.7 - 0.8 * engagement + 0.3 * (channel == 1))
    lapsed = rng.random(n) < lapse_p
    end = np.where(lapsed, start + rng.random(n) * (year - start), year)
    span = np.maximum(end - start, _DAY)
    end = np.minimum(start + span, year)

    # --- event counts: gamma-Poisson (heavy tail), proportional to the active span ------
    rate = 19.0 * np.exp(0.75 * engagement) * rng.gamma(1.2, 1 / 1.2, size=n)
    counts = np.minimum(rng.poisson(rate * span / year), _MAX_EVENTS)
    cust = np.repeat(np.arange(n), counts)
    m = cust.size

    # --- the funnel: per-customer shares of view / search / cart / purchase ------------
    intent = 0.7 * value + 0.4 * engagement + 0.6 * rng.normal(size=n)
    p_search = 0.30 * np.ones(n)
    p_cart = 0.12 * np.exp(0.25 * intent)
    p_purchase = p_cart * _sigmoid(-0.4 + 0.9 * intent)
    p_view = np.clip(1.0 - p_search - p_cart - p_purchase, 0.05, None)
    shares = np.stack([p_view, p_search, p_cart, p_purchase], axis=1)
    cum = np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(m)
    event = (u[:, None] > cum[cust, :-1]).sum(axis=1)
    is_purchase = event == 3

    # --- timestamps: uniform over each customer's active span ---------------------------
    t = start[cust] + rng.random(m) * (end - start)[cust]
    seconds = np.minimum(t, year - 1).astype(np.int64)

    # --- items: a favourite category most of the time ----------------------------------
    favourite = rng.choice(len(CATEGORIES), size=n, p=_CATEGORY_P)
    item = np.where(
        rng.random(m) < 0.55,
        favourite[cust],
        rng.choice(len(CATEGORIES), size=m, p=_CATEGORY_P),
    )

    # --- purchase amounts: log-normal around a customer- and category-specific mean ----
    log_mu = np.asarray(_CATEGORY_PRICE)[item] + 0.35 * value[cust] + 0.15 * (device[cust] == 1)
    amount = np.full(m, np.nan)
    amount[is_purchase] = np.round(np.exp(rng.normal(log_mu[is_purchase], 0.55)), 2).clip(0.5, None)

    # --- label: RFM + event mix + tabular effects + hidden state + noise ---------------
    n_purchase = np.bincount(cust, weights=is_purchase, minlength=n)
    n_cart = np.bincount(cust, weights=event == 2, minlength=n)
    monetary = np.bincount(cust[is_purchase], weights=amount[is_purchase], minlength=n)
    last = np.full(n, -year)
    np.maximum.at(last, cust, seconds.astype(float))
    recency_days = (year - last) / _DAY  # 730 days for customers without any event
    abandoned = np.clip(n_cart - n_purchase, 0, None) / (n_cart + 1.0)
    tenure_days = (year - start) / _DAY
    logit = (
        -1.0 * _zscore(np.log1p(recency_days))
        + 0.55 * _zscore(np.log1p(n_purchase))
        + 0.35 * _zscore(np.log1p(monetary))
        - 0.45 * _zscore(abandoned)
        + 0.15 * _zscore(np.log1p(tenure_days))
        + 0.45 * newsletter
        + np.asarray(_CHANNEL_EFFECT)[channel]
        - 0.6 * lapsed  # mostly visible through recency
        + 0.3 * engagement  # mostly visible through frequency
        + rng.logistic(scale=1.3, size=n)
    )
    # Calibrate the intercept exactly: the top POSITIVE_RATE share of the latent
    # score buys again, so the positive rate does not depend on seed or size.
    k = round(POSITIVE_RATE * n)
    label = np.zeros(n, dtype=np.int64)
    if k > 0:
        label[np.argpartition(-logit, k - 1)[:k]] = 1

    # --- assemble frames ----------------------------------------------------------------
    width = max(5, len(str(n)))
    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), width))
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "age": age,
            "country": pd.array(np.asarray(_COUNTRIES)[country], dtype="str"),
            "channel": pd.array(np.asarray(_CHANNELS)[channel], dtype="str"),
            "newsletter": newsletter,
            "device": pd.array(np.asarray(_DEVICES)[device], dtype="str"),
            "will_buy_again": label,
        }
    )

    order = rng.permutation(m)  # real logs arrive unsorted
    timestamp = np.datetime64(WINDOW_START.to_datetime64(), "s") + seconds[order]
    events = pd.DataFrame(
        {
            "customer_id": pd.array(ids[cust[order]], dtype="str"),
            "timestamp": pd.to_datetime(timestamp.astype("datetime64[ns]")),
            "event": pd.array(np.asarray(EVENT_TYPES)[event[order]], dtype="str"),
            "amount": amount[order],
            "item": pd.array(np.asarray(CATEGORIES)[item[order]], dtype="str"),
        }
    )
    return customers, events
