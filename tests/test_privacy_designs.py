"""Known answers of the sharing designs' adversaries and frontier (synthetic frames)."""

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from nsf.privacy import (
    Design,
    DesignData,
    Share,
    attribute_inference,
    dominates,
    evaluate_designs,
    pareto,
    reidentification,
)

N = 1500


@pytest.fixture(scope="module")
def people():
    rng = np.random.default_rng(7)
    age = rng.integers(0, 3, N)
    gender = rng.integers(0, 2, N)
    frame = pd.DataFrame({
        "income": rng.lognormal(8, 1, N),
        "spend": rng.lognormal(6, 1, N),
        "age_proxy": age + rng.normal(0, 0.3, N),  # a strong proxy of the age band
    })
    sensitive = pd.DataFrame({"age_band": np.array(["young", "mid", "old"])[age],
                              "gender": np.array(["f", "m"])[gender]})
    return frame, sensitive


def _data(frame, sensitive, population=None):
    return DesignData(columns={"money": frame[["income", "spend"]],
                               "proxy": frame[["age_proxy"]]},
                      sensitive=sensitive,
                      in_population=np.ones(len(frame), bool) if population is None
                      else population,
                      records=np.full(len(frame), 3), history_days=720)


def test_random_pseudonym_only_is_at_chance(people):
    frame, sensitive = people
    rng = np.random.default_rng(1)
    pseudonym = pd.DataFrame({"pseudonym": rng.permutation(N).astype(float)})
    # The adversary given the pseudonym as a feature learns nothing about age or gender.
    for attr in sensitive.columns:
        lift = attribute_inference(pseudonym, sensitive[attr], rng=rng, n_resamples=200)
        assert lift.lower <= 0.0 <= lift.upper
        assert abs(lift.estimate) < 0.06
    # Sharing nothing but the pseudonym singles out and identifies no one.
    [point] = evaluate_designs(
        [Design("pseudonym", "a random pseudonym only", groups=(), identifier="random")],
        _data(frame, sensitive), utility={}, rng=rng, n_resamples=50)
    assert point["singled_out"]["estimate"] == 0.0
    assert point["identified"]["upper"] == 0.0
    assert point["reversal"]["estimate"] == 0.0
    assert all(v["estimate"] == 0.0 for v in point["inference"].values())
    # The same nothing under an unsalted digest identifies everyone (the digest reverses).
    [digest] = evaluate_designs([Design("digest", "digest only", groups=())],
                                _data(frame, sensitive), utility={}, rng=rng, n_resamples=50)
    assert digest["identified"]["estimate"] == 1.0 and digest["reversal"]["estimate"] == 1.0


def test_a_strong_age_proxy_raises_age_inference(people):
    frame, sensitive = people
    designs = [Design("money", "money only", groups=("money",), identifier="hmac"),
               Design("money_proxy", "money and the proxy", groups=("money", "proxy"),
                      identifier="hmac")]
    without, with_proxy = evaluate_designs(designs, _data(frame, sensitive), utility={},
                                           rng=np.random.default_rng(2), n_resamples=100)
    age_without = without["inference"]["age_band"]
    age_with = with_proxy["inference"]["age_band"]
    assert age_without["lower"] <= 0.0 <= age_without["upper"]
    assert age_with["lower"] > age_without["upper"]
    assert age_with["estimate"] > 0.4
    # Gender has no proxy in either design.
    assert with_proxy["inference"]["gender"]["lower"] <= 0.0


def test_coarsening_lowers_uniqueness_monotonically(people):
    frame, _ = people
    rng = np.random.default_rng(3)
    money = frame[["income", "spend"]]
    uniques = []
    for width in (None, 50.0, 500.0, 5000.0, 50000.0):
        shared = money if width is None else np.floor(money / width) * width
        singled, identified = reidentification(shared, identifier="hmac", rng=rng,
                                               n_resamples=100)
        assert singled.lower <= singled.estimate <= singled.upper
        assert identified.estimate == singled.estimate  # a keyed HMAC adds nothing
        uniques.append(singled.estimate)
    assert uniques[0] == 1.0
    assert all(a >= b for a, b in pairwise(uniques))
    assert uniques[-1] < 0.05
    # A design's coarse version of a group singles out fewer people than the raw one.
    raw, coarse = evaluate_designs(
        [Design("raw", "raw", groups=("money",), identifier="hmac"),
         Design("coarse", "coarse", groups=("money",), coarsen=("money",), identifier="hmac")],
        _data(frame, people[1]), utility={}, rng=rng, n_resamples=50)
    assert coarse["singled_out"]["estimate"] < raw["singled_out"]["estimate"]


def test_population_and_retention_shrink_exposure(people):
    frame, sensitive = people
    population = np.arange(N) % 3 == 0
    everyone, apple, short = evaluate_designs(
        [Design("all", "all"), Design("pop", "population", population_only=True),
         Design("short", "short", retention_days=360)],
        _data(frame, sensitive, population), utility={}, rng=np.random.default_rng(4),
        n_resamples=20)
    assert everyone["people"] == N and apple["people"] == population.sum()
    assert everyone["records"] == 3 * N and apple["records"] == 3 * population.sum()
    # Everyone is identified by the digest; only the population's people are shared.
    assert everyone["at_risk"]["estimate"] == 1.0
    assert apple["at_risk"]["estimate"] == pytest.approx(population.mean())
    assert short["records"] == pytest.approx(1.5 * N)


def test_pareto_and_dominance():
    assert pareto([1.0, 0.5, 0.5, 0.2], [0.0, 0.0, -0.01, -0.05]) == [False, True, False, True]
    assert pareto([0.1, 0.2], [None, 0.0]) == [False, True]
    zero = Share(0.0, 0.0, 0.0).to_dict()

    def point(risk, lift, auc, risk_halfwidth=0.01, auc_halfwidth=0.0):
        return {"at_risk": {"estimate": risk, "lower": risk - risk_halfwidth,
                            "upper": risk + risk_halfwidth},
                "inference": {"a": {"estimate": lift}},
                "auc_diff": None if auc is None else
                {**zero, "estimate": auc, "lower": auc - auc_halfwidth,
                 "upper": auc + auc_halfwidth}}

    case = point(1.0, 0.0, 0.0)
    assert dominates(point(0.1, 0.0, 0.0), case)
    assert not dominates(point(0.1, 0.0, -0.02), case)
    assert dominates(point(0.1, 0.0, None), case) is None
    # A loss of AUC inside the margin is not a loss: -0.0001 [-0.003, +0.003] at margin 0.005.
    assert dominates(point(0.15, 0.0, -0.0001, auc_halfwidth=0.003), case, margin=0.005)
    assert not dominates(point(0.15, 0.0, -0.0001, auc_halfwidth=0.003), case, margin=0.0)
    # An interval that reaches below -margin is not shown to keep the AUC.
    assert not dominates(point(0.15, 0.0, -0.004, auc_halfwidth=0.003), case, margin=0.005)
    # Less risk must hold beyond the intervals, not only in the point estimates.
    assert not dominates(point(0.95, 0.0, 0.0, risk_halfwidth=0.06), case, margin=0.005)
    with pytest.raises(ValueError, match="unique"):
        evaluate_designs([Design("a", "a"), Design("a", "b")],
                         DesignData(columns={}, sensitive=pd.DataFrame(index=range(2)),
                                    in_population=np.ones(2, bool), records=np.ones(2)),
                         utility={}, rng=np.random.default_rng(0))


@pytest.mark.slow
def test_the_smoke_study_reports_and_logs_the_frontier(smoke_study):
    """End to end on the smoke world: the report's designs section (every design with its
    intervals, the design in use and the recommended one, the figure) and one MLflow run per
    design."""
    import json

    from mlflow.tracking import MlflowClient

    folder = smoke_study["folder"]
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    content = model["family_sections"]["designs"]["content"]
    designs = {d["name"]: d for d in content["designs"]}
    assert {d["role"] for d in designs.values()} >= {"case", "recommended"}
    case = designs["in_use"]
    assert case["identifier"] == "sha256" and case["reversal"]["estimate"] == 1.0
    assert designs["in_use_hmac"]["reversal"]["estimate"] == 0.0
    for d in designs.values():
        for key in ("singled_out", "identified", "at_risk"):
            s = d[key]
            assert s["lower"] <= s["estimate"] <= s["upper"], (d["name"], key)
    assert any(d["efficient_auc"] for d in designs.values())
    assert content["recommended_dominates"] in (True, False, None)
    html = (folder / "appendix.html").read_text(encoding="utf-8")
    assert "Sharing designs" in html
    client = MlflowClient(f"sqlite:///{smoke_study['root'] / 'mlflow.db'}")
    runs = [r for exp in client.search_experiments()
            for r in client.search_runs([exp.experiment_id],
                                        "tags.`nsf.family` = 'designs'", max_results=1000)]
    logged = {r.data.tags["nsf.design"]: r for r in runs}
    assert set(logged) == set(designs)
    assert logged["in_use"].data.metrics["design_at_risk"] == pytest.approx(
        case["at_risk"]["estimate"])
