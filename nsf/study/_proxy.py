"""Proxy strength of each contested group for each sensitive attribute (and latent income)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsf.fairness import proxy_strength
from nsf.features import build_features
from nsf.pipeline import PreparedData
from nsf.streams import stream

#: Classes with fewer users than this are pooled into "(other)" before a proxy check (the
#: cross-validation needs every class in every fold).
MIN_CLASS_ROWS = 30


@dataclass(frozen=True)
class ProxyTask:
    group: str
    target: str


def proxy_rows(prepared: PreparedData, n_rows: int, seed: int) -> np.ndarray:
    """Positions of the users the proxy checks use: every user's row on the last observation
    date (all users, Apple-registered or not: everyone's data was sent), a random sample of
    ``n_rows`` of them."""
    dates = prepared.rows["observation_date"]
    if dates.notna().any():
        last = np.flatnonzero((dates == dates.max()).to_numpy())
    else:
        last = np.arange(len(prepared.rows))
    # One row per user even if a table repeats users on its last date.
    users = prepared.rows["user_id"].to_numpy()[last]
    _, first = np.unique(users, return_index=True)
    last = np.sort(last[first])
    if last.size > n_rows:
        last = np.sort(stream(seed, "proxy-rows").choice(last, size=n_rows, replace=False))
    return last


def proxy_target(prepared: PreparedData, target: str, rows: np.ndarray) -> pd.Series | None:
    """The attribute to predict on ``rows`` (None when the data does not have it).

    ``income_band`` is the quartile of the simulator's latent income (``income_z``; only with
    ``prepare(..., latents=True)``): it lets the report say which attributes stand in for
    income, a trait never shared.
    """
    if target == "income_band":
        if "income_z" not in prepared.frame.columns:
            return None
        income = prepared.frame["income_z"].to_numpy(dtype=np.float64)[rows]
        quartile = np.searchsorted(np.quantile(income, [0.25, 0.5, 0.75]), income,
                                   side="right")
        return pd.Series(np.array(["q1", "q2", "q3", "q4"])[quartile], name=target)
    if target not in prepared.sensitive.columns:
        return None
    values = prepared.sensitive[target].iloc[rows].astype(object)
    values = values.where(values.notna(), "unknown").astype(str).reset_index(drop=True)
    counts = values.value_counts()
    rare = counts.index[counts < MIN_CLASS_ROWS]
    if len(rare):
        values = values.where(~values.isin(rare), "(other)")
    return values.rename(target)


def group_features(prepared: PreparedData, group: str, rows: np.ndarray) -> pd.DataFrame:
    """The features of ``group`` alone on ``rows`` (what every proxy check of it reads)."""
    specs = [s for s in prepared.registry.usable if s.group == group]
    # A 0..n-1 index: build_features mis-aligns text columns on any other index.
    return build_features(prepared.frame.iloc[rows].reset_index(drop=True), specs)


def run_proxy(prepared: PreparedData, task: ProxyTask, *, rows: np.ndarray, seed: int,
              estimator: str, cv: int) -> dict:
    """How well ``task.group``'s features alone predict ``task.target`` (cross-validated).

    Returns
    -------
    dict
        ``{"group", "target", "metric", "score", "chance", "lift", "auc", "balanced_accuracy",
        "n_classes", "n_samples", "estimator", "note"}``; ``score`` None with a ``note`` when
        the check cannot run (attribute missing, one class only).
    """
    base = {"group": task.group, "target": task.target}
    y = proxy_target(prepared, task.target, rows)
    if y is None:
        return base | {"score": None, "note": f"{task.target} is not in the data"}
    if y.nunique() < 2:
        return base | {"score": None, "note": f"{task.target} has one class on these rows"}
    result = proxy_strength(group_features(prepared, task.group, rows), y,
                            rng=stream(seed, "proxy", task.group, task.target), cv=cv,
                            estimator=estimator, n_threads=1)
    return base | result.to_dict() | {"note": ""}
