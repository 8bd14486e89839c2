"""Reason codes: compiled TreeSHAP tables, score points, the batch scorer and the pyfunc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsf.config import ModelConfig
from nsf.data import open_dataset
from nsf.errors import NsfError
from nsf.explain import CellTreeShap, shap_values
from nsf.features import FeatureSelection
from nsf.pipeline import fit_variant
from nsf.scoring import score_file
from nsf.scoring._reasons import ReasonExplainer, score_points, top_reasons
from nsf.tracking._pyfunc import NsfScorer

#: The tables sum the same TreeSHAP values as pred_contrib in another order.
TABLE_TOL = 1e-9
#: Points are written as float32.
POINTS_TOL = 1e-3


@pytest.fixture(scope="module")
def fitted(smoke_prepared):
    return fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(), seed=3)


@pytest.fixture(scope="module")
def rows(smoke_dataset) -> pd.DataFrame:
    return open_dataset(smoke_dataset).table("feed").iloc[:3_000].reset_index(drop=True)


def _hard_matrix(fitted, rows) -> np.ndarray:
    """Encoded rows with missing values, unseen, negative and non-integer category codes."""
    X = fitted.encoder.transform(rows).copy()
    rng = np.random.default_rng(0)
    for j in range(X.shape[1]):
        X[rng.random(X.shape[0]) < 0.1, j] = np.nan
    for j in np.flatnonzero(fitted.encoder.categorical_mask):
        X[:50, j] = 300.0
        X[50:60, j] = -1.0
        X[60:70, j] = X[60:70, j] + 0.5
    return X


def test_cell_tables_equal_lightgbm_treeshap_summed_by_group(fitted, rows):
    cells = CellTreeShap.build(fitted)
    assert cells is not None and cells.n_cells > 0
    X = _hard_matrix(fitted, rows)
    reference = shap_values(fitted, X=X)
    got = cells.group_values(X, num_threads=2)
    assert cells.groups == reference.groups
    np.testing.assert_allclose(got, reference.values, rtol=0, atol=TABLE_TOL)
    assert cells.base_value == pytest.approx(reference.base_value, abs=TABLE_TOL)
    # float64 input decides the same cells
    np.testing.assert_allclose(cells.group_values(X.astype(np.float64)), got, rtol=0,
                               atol=TABLE_TOL)


def test_leaves_computed_cell_by_cell_give_the_same_tables(fitted, rows):
    X = _hard_matrix(fitted, rows)[:500]
    direct = CellTreeShap.build(fitted, pattern_depth=0)
    np.testing.assert_allclose(direct.group_values(X), CellTreeShap.build(fitted).group_values(X),
                               rtol=0, atol=TABLE_TOL)


def test_too_many_cells_fall_back_to_pred_contrib(fitted, rows):
    assert CellTreeShap.build(fitted, max_cells_per_tree=1) is None
    assert CellTreeShap.build(fitted, max_table_entries=10) is None
    X = _hard_matrix(fitted, rows)
    fast = ReasonExplainer(fitted)
    assert fast.cells is not None
    slow = ReasonExplainer(fitted)
    slow.cells = None  # the pred_contrib path
    np.testing.assert_allclose(slow.group_values(X), fast.group_values(X), rtol=0,
                               atol=TABLE_TOL)


@pytest.mark.parametrize("kind", ["lightgbm", "hist_gb", "logistic"])
def test_reason_codes_add_up_to_the_margin_and_the_score(smoke_prepared, rows, kind):
    model = fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(kind=kind), seed=3)
    X = model.encoder.transform(rows.iloc[:400])
    explainer = ReasonExplainer(model)
    values = explainer.group_values(X)
    margin = shap_values(model, X=X).margin
    np.testing.assert_allclose(explainer.base_value + values.sum(axis=1), margin, rtol=0,
                               atol=1e-6)
    p = model.predict_encoded(X)
    points = score_points(values, explainer.base_value, 100.0 * p, explainer.base_score)
    np.testing.assert_allclose(points.sum(axis=1), 100.0 * p - explainer.base_score,
                               rtol=0, atol=1e-9)
    assert (np.sign(points) * np.sign(values) >= 0).all()  # points keep the values' signs
    order, top = top_reasons(points, 3)
    assert (np.diff(top, axis=1) <= 0).all()
    np.testing.assert_array_equal(np.take_along_axis(points, order, axis=1), top)


def test_the_top_reason_of_a_row_differing_only_in_balance_is_balance(smoke_prepared):
    """Logistic model on numeric groups: its baseline is the training rows' mean input, so a
    row at that mean in every feature but balance owes its whole score change to balance."""
    categorical = {s.group for s in smoke_prepared.registry.specs
                   if s.kind == "categorical"}
    model = fit_variant(smoke_prepared, FeatureSelection(drop_groups=tuple(sorted(categorical))),
                        ModelConfig(kind="logistic"), seed=3)
    assert not model.encoder.categorical_mask.any()
    pipeline = model.estimator_
    columns = pipeline.named_steps["columns"]
    scaler = columns.named_transformers_["numeric"].named_steps["standardscaler"]
    assert scaler.mean_.size == len(model.feature_names)  # no column dropped by imputation
    balance = [j for j, s in enumerate(model.features) if s.group == "balance"]
    X = np.tile(scaler.mean_, (2, 1))  # encoded rows at the training mean
    coef = pipeline.named_steps["logistic"].coef_[0]
    # Move balance features one standard deviation each in the direction that raises risk.
    for j in balance:
        X[1, j] += np.sign(coef[j]) * scaler.scale_[j] if coef[j] != 0 else scaler.scale_[j]
    explainer = ReasonExplainer(model)
    values = explainer.group_values(X)
    groups = list(explainer.groups)
    others = [k for k, g in enumerate(groups) if g != "balance"]
    np.testing.assert_allclose(values[:, others], 0.0, atol=1e-9)
    p = model.predict_encoded(X)
    points = score_points(values, explainer.base_value, 100.0 * p, explainer.base_score)
    order, top = top_reasons(points, 2)
    assert groups[order[1, 0]] == "balance"
    assert top[1, 0] == pytest.approx(100.0 * p[1] - explainer.base_score, abs=1e-9)
    assert top[1, 0] > 0 and top[1, 1] == pytest.approx(0.0, abs=1e-9)
    # the baseline row itself: no group moved its score
    np.testing.assert_allclose(points[0], 0.0, atol=1e-9)


def test_score_file_writes_reasons_without_changing_scores(fitted, rows, tmp_path):
    src = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), src, row_group_size=700)
    plain, why = tmp_path / "plain.parquet", tmp_path / "why.parquet"
    score_file(fitted, src, plain, batch_rows=1_000)
    stats = score_file(fitted, src, why, batch_rows=1_000, reasons=3)
    a, b = pq.read_table(plain).to_pandas(), pq.read_table(why).to_pandas()
    pd.testing.assert_frame_equal(a, b[a.columns])
    assert list(b.columns[len(a.columns):]) == ["reason_1", "reason_1_points", "reason_2",
                                                "reason_2_points", "reason_3",
                                                "reason_3_points"]
    # The same reasons as computed directly, batch by batch or not.
    X = fitted.encoder.transform(rows)
    explainer = ReasonExplainer(fitted)
    points = score_points(explainer.group_values(X), explainer.base_value,
                          100.0 * fitted.predict_encoded(X), explainer.base_score)
    order, top = top_reasons(points, 3)
    names = np.asarray(explainer.groups, dtype=object)
    for i in range(3):
        assert b[f"reason_{i + 1}"].astype(str).tolist() == names[order[:, i]].tolist()
        np.testing.assert_allclose(b[f"reason_{i + 1}_points"], top[:, i], rtol=0,
                                   atol=POINTS_TOL)
    assert stats["base_score"] == pytest.approx(explainer.base_score)
    # The pyfunc scorer gives the same reasons.
    out = NsfScorer(fitted).predict(None, rows, params={"reasons": 3})
    assert out["reason_2"].tolist() == b["reason_2"].astype(str).tolist()
    assert out["score"].tolist() == a["score"].tolist()


def test_bad_reason_requests_are_refused_before_anything_is_written(fitted, rows, tmp_path,
                                                                     smoke_prepared):
    src = tmp_path / "rows.parquet"
    rows.iloc[:100].to_parquet(src)
    n_groups = len({s.group for s in fitted.features})
    for k in (-1, n_groups + 1, 2.5):
        with pytest.raises(NsfError, match=f"--reasons must be an integer from 1 to {n_groups}"):
            score_file(fitted, src, tmp_path / "out.parquet", reasons=k)
    logistic = fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(kind="logistic"),
                           seed=3)
    logistic.background_ = None  # as a model saved before its background was kept
    with pytest.raises(NsfError, match=r"cannot explain this model \(the logistic model was "
                       r"saved without its SHAP background"):
        score_file(logistic, src, tmp_path / "out.parquet", reasons=1)
    with pytest.raises(NsfError, match="--reasons must be an integer"):
        NsfScorer(fitted).predict(None, rows.iloc[:5], params={"reasons": n_groups + 1})
    assert not (tmp_path / "out.parquet").exists()
