"""The SHAP views: their data carry no identifier, and the figures are grey-scale PNGs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from matplotlib.image import imread

from nsf.config import ModelConfig
from nsf.explain import explanation_views, shap_values
from nsf.features import FeatureSelection
from nsf.pipeline import fit_variant
from nsf.report._figures import SHAP_VIEWS, render_shap_views
from nsf.scoring._reasons import ReasonExplainer, score_points


@pytest.fixture(scope="module")
def views(smoke_prepared):
    fitted = fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(), seed=3)
    test = smoke_prepared.frame.iloc[smoke_prepared.test_index]
    attribution = shap_values(fitted, test)
    explainer = ReasonExplainer(fitted)
    score = 100.0 * fitted.predict_encoded(attribution.X)
    points = score_points(attribution.values, attribution.base_value, score,
                          explainer.base_score)
    contested = [g for g in smoke_prepared.registry.contested_groups]
    out = explanation_views(attribution, score, points, explainer.base_score,
                            contested=contested, max_rows=300, rng=np.random.default_rng(0))
    return out, test, score, contested


def test_views_hold_the_strongest_contested_group_and_typical_rows(views):
    out, _, _, contested = views
    assert out["n_rows"] == 300 and len(out["beeswarm"]["values"]) == 300
    reliance = np.abs(np.asarray(out["beeswarm"]["values"])).mean(axis=0)
    assert out["dependence"]["group"] in contested
    assert out["dependence"]["group"] == "balance"  # the mechanical driver of NSF
    assert [w["percentile"] for w in out["waterfalls"]] == [10, 50, 90]
    lo, mid, hi = (w["score"] for w in out["waterfalls"])
    assert lo <= mid <= hi
    for w in out["waterfalls"]:  # the points add up to the row's score
        assert sum(w["points"].values()) == pytest.approx(w["score"] - out["base_score"])
    assert reliance.size == len(out["groups"])


def test_views_carry_no_key_or_identifier(views):
    out, test, _, _ = views
    text = json.dumps(out)
    for column in ("user_id", "observation_date", "email_hash", "phone_hash"):
        assert column not in text
    ids = {str(v) for v in test["user_id"].head(200)}
    assert not any(v in text for v in ids if len(v) > 6)


def test_views_are_grey_scale_pngs(views):
    out = views[0]
    figures = render_shap_views(out)
    assert set(figures) == set(SHAP_VIEWS)
    for name, png in figures.items():
        pixels = imread(io.BytesIO(png), format="png")[..., :3]
        assert pixels.shape[0] > 100, name
        assert np.abs(pixels[..., 0] - pixels[..., 1]).max() < 1e-6, name
        assert np.abs(pixels[..., 1] - pixels[..., 2]).max() < 1e-6, name


def test_views_without_a_contested_group_skip_the_dependence_plot(views):
    out = dict(views[0], dependence=None)
    assert "shap_dependence" not in render_shap_views(out)
