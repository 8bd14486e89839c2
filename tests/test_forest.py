"""The compiled forest predicts exactly what LightGBM predicts."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from nsf.models._forest import BLOCK_ROWS, CompiledForest


def _data(seed: int = 0, n: int = 6000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 3] = rng.integers(0, 40, n)  # a categorical column of integer codes
    X[:, 4] = np.where(rng.random(n) < 0.3, 0.0, X[:, 4])  # many exact zeros
    y = (X[:, 0] + (X[:, 3] % 3 == 0) + 0.5 * (X[:, 4] == 0) + rng.normal(size=n) > 0.5)
    return X, y.astype(int)


def _with_missing(X: np.ndarray, seed: int = 1) -> np.ndarray:
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < 0.05] = np.nan
    return X


def _edge_rows(X: np.ndarray) -> np.ndarray:
    """Codes LightGBM never saw, negative and non-integer codes, zeros and all-NaN rows."""
    X = X.astype(np.float32)
    X[:50, 3] = -1
    X[50:60, 3] = 100
    X[60:70, 3] = 2.7
    X[70:80, 3] = -0.5
    X[80:90, 4] = 0.0
    X[90:100] = np.nan
    return X


PARAMS = {
    "nan_missing": {},
    "zero_as_missing": {"zero_as_missing": True},
    "no_missing": {"use_missing": False},
    "sigmoid_0.7": {"sigmoid": 0.7, "num_leaves": 31},
}


@pytest.mark.parametrize("extra", PARAMS.values(), ids=PARAMS.keys())
@pytest.mark.parametrize("missing", [True, False], ids=["nan_rows", "no_nan"])
def test_raw_scores_equal_lightgbm_bit_for_bit(extra, missing):
    X, y = _data()
    train = _with_missing(X) if missing else X
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, **extra},
                        lgb.Dataset(train, y, categorical_feature=[3]), num_boost_round=40)
    forest = CompiledForest(booster)
    assert forest.n_trees == 40
    rows = _edge_rows(_with_missing(X, seed=2) if missing else X)
    if not missing:  # one NaN row among NaN-free blocks: that block takes the general path
        rows[BLOCK_ROWS * 3 + 5, 2] = np.nan
    for matrix in (rows, rows.astype(np.float64)):
        expected = booster.predict(matrix, raw_score=True)
        for threads in (1, 2):
            np.testing.assert_array_equal(forest.raw_score(matrix, num_threads=threads),
                                          expected)
        np.testing.assert_allclose(forest.predict(matrix, num_threads=2),
                                   booster.predict(matrix), rtol=0, atol=1e-15)


def test_float32_thresholds_decide_like_the_double_comparison():
    # Values straddling a threshold that is not a float32: rounding it to nearest would send
    # the float32 just above it the wrong way.
    X = np.repeat(np.linspace(0.0, 1.0, 2001)[:, None], 2, axis=1)
    y = (X[:, 0] > 0.3).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1,
                         "min_data_in_leaf": 1}, lgb.Dataset(X, y), num_boost_round=3)
    forest = CompiledForest(booster)
    t = float(forest.thr[forest.meta >> 24 == 0].max())
    probe = np.float32(t)
    near = np.array([np.nextafter(probe, -np.inf), probe, np.nextafter(probe, np.inf)],
                    np.float32)
    rows = np.repeat(near[:, None], 2, axis=1)
    np.testing.assert_array_equal(forest.raw_score(rows), booster.predict(rows, raw_score=True))


def test_bad_input_is_refused():
    X, y = _data(n=500)
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y),
                        num_boost_round=2)
    forest = CompiledForest(booster)
    with pytest.raises(ValueError, match="6 feature columns"):
        forest.raw_score(np.zeros((3, 5), np.float32))
    multi = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                      lgb.Dataset(X, np.arange(500) % 3), num_boost_round=2)
    with pytest.raises(ValueError, match="binary objective"):
        CompiledForest(multi)
