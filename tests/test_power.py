"""Power and precision of a comparison, and the looks of a study that runs until it can tell."""

import math

import pytest
from scipy.stats import norm

from nsf.study._power import comparison_power, table_resolution
from nsf.study._sequential import look_level, planned_looks

Z = norm.ppf(0.975) + norm.ppf(0.8)


def _power(estimate, *, se=0.004, row=8e-6, seed=8e-6, verdict="inconclusive", **kw):
    args = {"estimate": estimate, "standard_error": se, "margin": 0.005, "row_variance": row,
            "seed_variance": seed, "level": 0.95, "seeds": 3, "test_subjects": 10_000,
            "higher_is_better": True, "subject": "removed", "verdict": verdict} | kw
    return comparison_power(**args)


def test_minimum_detectable_loss_is_the_margin_plus_z_z_power_se():
    p = _power(-0.004, verdict="not shown needed")
    assert p["mde"] == pytest.approx(0.005 + Z * 0.004)
    assert p["tolerable"] == pytest.approx(0.005 - Z * 0.004)
    assert p["seeds_to_decide"] is None and p["test_subjects_to_decide"] is None
    # A stricter level (a family's simultaneous one) detects less.
    assert _power(-0.004, level=0.99)["mde"] > p["mde"]


def test_the_projection_decides_the_comparison_it_is_made_for():
    """With the projected seeds (or test subjects) the estimate lies (z + z_power) standard
    errors from the margin: the variance components scaled as the assumption says."""
    estimate, row, seed = -0.012, 4e-6, 2e-5
    p = _power(estimate, row=row, seed=seed)
    distance = abs(-estimate - 0.005)
    k = p["seeds_to_decide"]
    assert k > 3
    assert Z * math.sqrt(row + seed * 3 / k) <= distance + 1e-12
    assert Z * math.sqrt(row + seed * 3 / (k - 1)) > distance  # the smallest such number
    n = p["test_subjects_to_decide"]
    if n is not None:
        assert Z * math.sqrt(row * 10_000 / n + seed) <= distance + 1e-12


def test_out_of_reach_by_seeds_when_the_test_rows_alone_are_too_noisy():
    p = _power(-0.008, row=1e-4, seed=1e-8)
    assert p["seeds_to_decide"] is None  # the rows' variance alone exceeds what would decide
    assert p["test_subjects_to_decide"] > 10_000
    # For 'single' the training draws' part does not fall with more seeds.
    assert _power(-0.012, row=1e-7, seed=1e-4, target="single")["seeds_to_decide"] is None


def test_an_added_subject_and_a_loss_metric_orient_the_loss():
    gain = _power(+0.02, subject="added", verdict="needed")
    assert gain["distance"] == pytest.approx(0.015)
    brier = _power(+0.02, higher_is_better=False, verdict="needed")
    assert brier["distance"] == pytest.approx(0.015)


def test_no_margin_no_readout_and_the_table_resolution():
    assert _power(-0.01, margin=None) is None
    res = table_resolution([_power(-0.01, se=s) for s in (0.001, 0.002, 0.004)] + [None])
    assert res["comparisons"] == 3
    assert res["median_mde"] == pytest.approx(0.005 + Z * 0.002)
    assert res["min_mde"] < res["median_mde"] < res["max_mde"]


def test_planned_looks_and_their_level():
    assert planned_looks(3, 9, 3) == 3
    assert planned_looks(3, 10, 3) == 4
    assert planned_looks(3, 3, 3) == 1
    assert planned_looks(5, 3, 2) == 1
    assert look_level(0.95, 1) == pytest.approx(0.95)
    assert look_level(0.95, 3) == pytest.approx(1 - 0.05 / 3)


def test_both_sizes_together_when_neither_alone_decides():
    row, seed = 4e-5, 4e-5
    p = _power(-0.02, row=row, seed=seed)
    distance = 0.015
    assert p["seeds_to_decide"] is None and p["test_subjects_to_decide"] is None
    f = p["scale_to_decide"]
    assert f > 1 and Z * math.sqrt((row + seed) / f) == pytest.approx(distance)
