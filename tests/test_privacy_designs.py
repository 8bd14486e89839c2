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
    # A known count: only the values 2 and 4 are alone in their class (classes of 2 and 3
    # are not singled out).
    known = pd.DataFrame({"a": [1, 1, 2, 3, 3, 3, 4], "b": ["x"] * 7})
    singled, _ = reidentification(known, identifier="hmac", rng=rng, n_resamples=0)
    assert singled.estimate == pytest.approx(2 / 7)
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
    # Who is shared is sampled too: the interval is not the population share taken as exact.
    assert apple["at_risk"]["lower"] < population.mean() < apple["at_risk"]["upper"]
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
def test_the_smoke_study_reports_and_logs_the_frontier(smoke_study, smoke_report):
    """End to end on the smoke world: the report's designs section (every design with its
    intervals, the design in use and the recommended one, the figure) and one MLflow run per
    design."""
    import json

    from mlflow.tracking import MlflowClient

    folder = smoke_report
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


def test_reversal_is_measured_digests_fall_keys_and_pseudonyms_do_not():
    """The probe attacks identifiers it made: every unsalted digest is recovered, no keyed
    HMAC or random pseudonym is, and only what is recovered has a time to recover."""
    from nsf.privacy import reversal_probe

    probe = reversal_probe(np.random.default_rng(5), n_targets=40, chunks=4, chunk_size=4096)
    assert probe.recovered == {"sha256": 40, "hmac": 0, "random": 0}
    assert probe.hashed == 4 * 4096
    assert probe.share("sha256").estimate == 1.0 and probe.share("hmac").estimate == 0.0
    sph = probe.seconds_per_hash
    assert 0 < sph.lower <= sph.upper
    full = probe.seconds_to_reverse("sha256")
    assert full.lower == pytest.approx(sph.lower * probe.space)
    assert probe.seconds_to_reverse("hmac") is None
    assert probe.seconds_to_reverse("random") is None
    # The designs take the measured share: a pseudonym shared alone identifies no one.
    frame = pd.DataFrame({"x": np.arange(200.0)})
    data = DesignData(columns={"g": frame}, sensitive=pd.DataFrame(index=range(200)),
                      in_population=np.ones(200, bool), records=np.ones(200))
    digest, pseud = evaluate_designs(
        [Design("d", "digest only", groups=()),
         Design("p", "pseudonym only", groups=(), identifier="random")],
        data, utility={}, rng=np.random.default_rng(0), n_resamples=20, probe=probe)
    assert digest["identified"]["estimate"] == 1.0 and digest["seconds_to_reverse"]
    assert pseud["identified"]["upper"] == 0.0 and pseud["seconds_to_reverse"] is None


def test_exposure_at_the_study_and_the_case_scale(people):
    from nsf.privacy import CaseScale

    frame, sensitive = people
    population = np.arange(N) % 4 == 0
    data = DesignData(columns={"money": frame[["income", "spend"]]}, sensitive=sensitive,
                      in_population=population, records=np.full(N, 3), history_days=60,
                      study_people=(10_000, 2_500), study_records=(30_000.0, 7_500.0),
                      case=CaseScale(people=40e6, records=40e6 * 1000, population_share=0.2))
    everyone, pop, short = evaluate_designs(
        [Design("all", "all"), Design("pop", "pop", population_only=True),
         Design("short", "short", retention_days=30)],
        data, utility={}, rng=np.random.default_rng(1), n_resamples=20)
    assert everyone["exposure"] == {"study_people": 10_000, "study_records": 30_000,
                                    "case_people": 40e6, "case_records": 40e9}
    assert pop["exposure"]["study_people"] == 2_500
    assert pop["exposure"]["case_people"] == pytest.approx(8e6)
    assert pop["exposure"]["case_records"] == pytest.approx(8e9)
    # 30 of the study's 60 days; 30 of the case's 1,000 records per person.
    assert short["exposure"]["study_records"] == pytest.approx(15_000)
    assert short["exposure"]["case_records"] == pytest.approx(40e6 * 30)


@pytest.mark.parametrize(("designs", "needle"), [
    ("[in_use, no_such_design]", r"designs: 'no_such_design' is not a sharing design "
     r"\(allowed: in_use, .*retention_<days>d"),
    ("[retention_45d]", r"designs: 'retention_45d': no retention window of '45' days "
     r"\(allowed: .*7, 30, 90, 180\)"),
    ("[in_use, in_use]", r"designs: names repeated: \['in_use'\]"),
])
def test_a_bad_design_is_refused_when_the_config_loads(designs, needle):
    from nsf.config import ConfigError, load_config
    from tests.conftest import SMOKE

    with pytest.raises(ConfigError, match=needle) as err:
        load_config(SMOKE, [f"study.designs={designs}"])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"group 'cards' is not in study.groups "
                                          r"\(allowed: email, balance\)"):
        load_config(SMOKE, ["study.groups=[email,balance]", "study.designs=[coarse_cards]"])
    cfg = load_config(SMOKE, ["study.designs=[in_use, drop_email, retention_30d, recommended]"])
    assert cfg.study.designs == ("in_use", "drop_email", "retention_30d", "recommended")


def test_a_design_the_data_cannot_form_is_refused_before_any_fit(smoke_cfg, smoke_prepared):
    """An unknown group (or a family left out) is found when the study starts, not after the
    fits: the check needs the data's groups, nothing trained."""
    from nsf.errors import NsfError
    from nsf.study._designs import check_designs

    def cfg(*names, **study):
        return smoke_cfg.model_copy(update={"study": smoke_cfg.study.model_copy(
            update={"designs": names, **study})})

    with pytest.raises(NsfError, match=r"study.designs: 'drop_no_such_group' is not a design "
                                       r"of this study \(allowed: in_use, in_use_hmac, "
                                       r"in_use_random, population_only, drop_"):
        check_designs(cfg("in_use", "drop_no_such_group"), smoke_prepared)
    with pytest.raises(NsfError, match=r"'coarse_email' is not a design"):
        check_designs(cfg("coarse_email", families=("drop_one",)), smoke_prepared)
    check_designs(cfg("in_use", "drop_email", "coarse_email", "retention_30d", "minimal_set",
                      "recommended"), smoke_prepared)


def test_the_report_tables_are_plain_and_fit_the_page(people):
    """No internal keys in the report's design tables, no table wider than the page allows,
    every interval shown, the case's and the recommended design named, the efficient marked."""
    from nsf.report._designs import MAX_COLUMNS, designs_blocks, designs_figures
    from nsf.study._designs import design_label

    frame, sensitive = people
    sensitive = sensitive.assign(**{f"attr_{i}": sensitive["gender"] for i in range(6)})
    names = [("in_use", {}, "case"), ("drop_money", {"family": "drop_one",
                                                     "groups": ("money",)}, ""),
             ("retention_30d", {"family": "retention", "retention_days": 30}, ""),
             ("recommended", {}, "recommended")]
    designs = [Design(n, f"the data of design {i} (without some_group)", role=role,
                      groups={"drop_money": ("proxy",), "recommended": ("money",)}.get(n),
                      identifier="sha256" if n == "in_use" else "hmac",
                      label=design_label(n, **kw)) for i, (n, kw, role) in enumerate(names)]
    utility = {"baseline": {"auc_diff": Share(0.0, 0.0, 0.0), "cost_diff": None}}
    points = evaluate_designs(designs, _data(frame, sensitive), utility=utility,
                              rng=np.random.default_rng(3), n_resamples=30)
    content = {"designs": points, "people_sampled": N, "recommended_dominates": False,
               "auc_margin": 0.005, "seconds": 0.0}
    blocks = designs_blocks(content)
    tables = [b for b in blocks if b["type"] == "table"]
    assert all(len(t["headers"]) <= MAX_COLUMNS for t in tables)
    cells = [c for t in tables for row in t["rows"] for c in row]
    text = " ".join(cells + [h for t in tables for h in t["headers"]]
                    + [b.get("text", "") for b in blocks])
    for key in ("in_use", "drop_money", "retention_30d", "sha256", "efficient_auc", "at_risk",
                "some_group"):
        assert key not in text, key
    firsts = {row[0] for t in tables for row in t["rows"]}
    assert firsts == {"Data in use (the case)", "Without money", "History of 30 days",
                      "Recommended design"}
    # Every figure with an interval, and the Pareto marks spelled out.
    assert all("[" in c for t in tables if t["caption"].startswith("Attribute") for c in
               [c for row in t["rows"] for c in row[1:]])
    assert any(c == "risk and AUC" for c in cells)
    assert "Answer: The recommended design does not dominate" in blocks[-1]["text"]
    assert designs_figures(content)["designs"][:4] == b"\x89PNG"


@pytest.mark.slow  # starts two worker processes
def test_the_inference_fits_give_the_same_figures_on_worker_processes(people):
    """Each fit draws its seed beforehand: two worker processes give the figures of one."""
    from nsf.execution import Executor

    frame, sensitive = people
    designs = [Design("all", "all", identifier="hmac"),
               Design("money", "money only", groups=("money",), identifier="hmac")]
    here = evaluate_designs(designs, _data(frame, sensitive), utility={},
                            rng=np.random.default_rng(9), n_resamples=30, max_rows=600)
    with Executor(workers=2) as executor:
        pooled = evaluate_designs(designs, _data(frame, sensitive), utility={},
                                  rng=np.random.default_rng(9), n_resamples=30, max_rows=600,
                                  executor=executor)
    assert pooled == here
    assert here[0]["inference"]["age_band"]["estimate"] > 0.3  # the proxy is shared
