"""nsf.models and nsf.scoring: families, category codes, calibration, the 0-100 score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nsf.config import ModelConfig
from nsf.errors import NsfError
from nsf.features import FeatureSelection, FeatureSpec
from nsf.models import Calibrator, FeatureEncoder
from nsf.pipeline import evaluate_model, fit_variant
from nsf.scoring import probability_to_score

AUC_FLOOR = 0.6  # smoke data: ~430 test rows, ~15 NSF; a model must beat chance clearly


def test_score_is_rounded_percent():
    assert probability_to_score([0.0, 0.004, 0.006, 0.5, 0.994, 1.0]).tolist() == [
        0, 0, 1, 50, 99, 100]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        probability_to_score([0.2, 1.2])
    with pytest.raises(ValueError):
        probability_to_score([np.nan])


def test_encoder_codes_categories_and_unseen_levels():
    spec = FeatureSpec("carrier", "phone", "table", ("carrier",), "categorical", op="text")
    num = FeatureSpec("balance", "balance", "table", ("balance",), "numeric")
    train = pd.DataFrame({"carrier": ["SKT", "KT", "SKT", None], "balance": [1, 2, 3, 4]})
    enc = FeatureEncoder([spec, num]).fit(train)
    assert enc.levels_["carrier"] == ["SKT", "KT"]  # most frequent first
    X = enc.transform(pd.DataFrame({"carrier": ["KT", "LGU+", None], "balance": [5, 6, 7]}))
    assert X.dtype == np.float32
    assert X[0, 0] == 1 and X[1, 0] == 2 and np.isnan(X[2, 0])
    assert X[:, 1].tolist() == [5, 6, 7]


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_calibration_recovers_known_probabilities(method):
    rng = np.random.default_rng(11)
    p_true = rng.uniform(0.01, 0.6, 40_000)
    y = (rng.random(p_true.size) < p_true).astype(int)
    raw = p_true**2 if method != "none" else p_true  # a monotone distortion to undo
    cal = Calibrator(method).fit(raw, y)
    got = cal.transform(raw)
    tolerance = 0.03 if method == "isotonic" else 0.06  # sigmoid cannot undo p^2 exactly
    assert np.mean(np.abs(got - p_true)) < tolerance
    assert got.min() > 0 and got.max() < 1


@pytest.mark.parametrize("kind", ["logistic", "lightgbm", "hist_gb"])
def test_every_family_learns_on_smoke_data(smoke_prepared, kind):
    cfg = ModelConfig(kind=kind, calibration="sigmoid")
    fitted = fit_variant(smoke_prepared, FeatureSelection(), cfg, seed=7)
    ev = evaluate_model(smoke_prepared, fitted)
    assert ev.metrics["test_auc"] > AUC_FLOOR
    assert {"oracle_auc", "oracle_gap_auc", "test_calibration_mae_vs_truth"} <= set(ev.metrics)
    assert ev.score.min() >= 0 and ev.score.max() <= 100
    assert int(ev.bands["n"].sum()) == ev.index.size
    # Same seed, same model: training is reproducible.
    again = fit_variant(smoke_prepared, FeatureSelection(), cfg, seed=7)
    frame = smoke_prepared.frame.iloc[smoke_prepared.test_index]
    np.testing.assert_allclose(fitted.predict_proba(frame), again.predict_proba(frame))


def test_variants_drop_coarsen_and_retain(smoke_prepared):
    cfg = ModelConfig(calibration="sigmoid")
    sel = FeatureSelection(drop_groups=("balance",), coarsen_groups=("join_date", "email"),
                           retention_days=7, sensitive=("age_band",))
    fitted = fit_variant(smoke_prepared, sel, cfg, seed=1)
    groups = {s.group for s in fitted.features}
    assert "balance" not in groups and "sensitive" in groups
    assert all((s.window or 0) <= 7 for s in fitted.features)
    assert fitted.describe()["coarsen_groups"] == ["join_date", "email"]
    all_users = fit_variant(smoke_prepared, FeatureSelection(), cfg, seed=1, population="all",
                            label="nsf_any")
    assert all_users.info["train_rows"] > fitted.info["train_rows"]
    with pytest.raises(NsfError, match="unknown attribute groups"):
        fit_variant(smoke_prepared, FeatureSelection(drop_groups=("nope",)), cfg, seed=1)
    with pytest.raises(NsfError, match="not in the data"):
        fit_variant(smoke_prepared, FeatureSelection(sensitive=("religion",)), cfg, seed=1)


def test_categorical_columns_never_reach_the_model_as_pandas_categories(smoke_prepared):
    fitted = fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(), seed=3)
    X = fitted.encoder.transform(smoke_prepared.frame.head(50))
    assert isinstance(X, np.ndarray) and X.dtype == np.float32
    assert any(s.kind == "categorical" for s in fitted.features)
