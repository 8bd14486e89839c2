"""A user's table read like a careful analyst would: missing-value markers, numbers written as
text, integer codes, undecodable bytes, repeated column names, identifier columns; and the
study and report of such a table in its own words."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nsf.config import load_config
from nsf.data import read_user_table
from nsf.errors import NsfError
from nsf.pipeline import prepare
from tests.conftest import file_texts, in_process

ROOT = Path(__file__).resolve().parents[1]

#: Words of the simulated case that a table's report must never print.
SIMULATOR_WORDS = ("NSF", "Apple", "App Store", "Kakao", "KRW", "purchase", "balance band",
                   "simulat", "Alipay", "appstore", "join year", "e-mail provider",
                   "income_band", "40.45", "questions of the case", "world:")


def simulator_words(text: str) -> list[str]:
    """The simulator's words in a report's text (embedded figures left out: base64 bytes)."""
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "", text)
    return [w for w in SIMULATOR_WORDS if w in text]


def recidivism_like(n: int = 800, seed: int = 3) -> pd.DataFrame:
    """A synthetic table shaped like a recidivism table (no real person in it): a hashed
    person id and an e-mail column (identifiers), numbers with '?' markers, an integer-coded
    category, missing numbers in a feature and missing text in a sensitive column, and a
    race column whose own levels include 'Other'."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, n)
    priors = rng.poisson(2, n)
    charge = rng.integers(1, 5, n)
    race = rng.choice(["A", "B", "C", "Other"], n, p=[0.45, 0.3, 0.15, 0.1]).astype(object)
    race[rng.random(n) < 0.06] = ""
    sex = rng.choice(["f", "m"], n, p=[0.25, 0.75])
    amount = np.round(rng.lognormal(7, 1, n)).astype(int).astype(object)
    amount[rng.random(n) < 0.04] = "?"
    juvenile = rng.poisson(0.4, n).astype(float)
    juvenile[rng.random(n) < 0.1] = np.nan
    z = -0.6 + 0.45 * priors - 0.05 * (age - 35) + 0.6 * (charge == 3) + 0.5 * juvenile.clip(0)
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(z)))).astype(int)
    ids = [hashlib.sha256(f"person-{i}-{seed}".encode()).hexdigest() for i in range(n)]
    emails = [f"p{i:05d}.x{seed}@mail{i % 7}.example" for i in range(n)]
    return pd.DataFrame({"person_id": ids, "email": emails, "age": age, "priors_count": priors,
                         "charge_degree": charge, "juv_count": juvenile, "bail_amount": amount,
                         "race": race, "sex": sex, "two_year_recid": y})


def _cfg(path: Path, *extra: str):
    return load_config(None, ["dataset.kind=table", f"dataset.table.path={path}",
                              "dataset.table.target_column=two_year_recid",
                              "dataset.table.id_column=person_id",
                              "dataset.table.identifier_columns=[email]",
                              "dataset.table.sensitive_columns=[race, sex]", *extra])


@pytest.fixture
def recid_csv(tmp_path) -> Path:
    path = tmp_path / "recid.csv"
    recidivism_like().to_csv(path, index=False)
    return path


# --- numbers with '?' --------------------------------------------------------------------------

def test_question_marks_in_a_number_column_are_missing_and_reported(recid_csv):
    cfg = _cfg(recid_csv)
    notes: list[str] = []
    frame, _ = read_user_table(cfg.dataset.table, notes)
    raw = pd.read_csv(recid_csv, dtype=str, keep_default_na=False)
    assert pd.api.types.is_float_dtype(frame["bail_amount"])
    assert frame["bail_amount"].isna().sum() == (raw["bail_amount"] == "?").sum() > 0
    assert any("'?' in bail_amount" in n for n in notes)
    # The description states each column's missing share.
    prepared = prepare(cfg)
    share = prepared.description.missing_share
    assert share["bail_amount"] == pytest.approx((raw["bail_amount"] == "?").mean())
    assert share["juv_count"] > 0.05 and share["age"] == 0.0
    assert "email" not in share and "email" not in prepared.description.group_names


def test_declared_markers_replace_the_common_ones(recid_csv):
    notes: list[str] = []
    frame, _ = read_user_table(_cfg(recid_csv, "dataset.table.na_values=['?']")
                               .dataset.table, notes)
    assert frame["bail_amount"].isna().any()
    assert "declared in dataset.table.na_values" in notes[0]


@pytest.mark.parametrize("stray", ["123KRW", "n.a."])
def test_a_few_non_numbers_are_named_then_read_as_missing_or_refused(tmp_path, stray):
    frame = recidivism_like()
    amount = frame["bail_amount"].replace("?", "250").astype(object)
    amount.iloc[[3, 10]] = stray
    frame["bail_amount"] = amount
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    notes: list[str] = []
    table, _ = read_user_table(_cfg(path).dataset.table, notes)
    assert pd.api.types.is_float_dtype(table["bail_amount"])
    assert table["bail_amount"].isna().sum() == 2
    (note,) = [n for n in notes if "bail_amount" in n]
    assert f"2 of {len(frame)} values are not numbers ('{stray}')" in note
    with pytest.raises(NsfError, match=rf"column 'bail_amount': 2 of .* \('{re.escape(stray)}'"):
        read_user_table(_cfg(path, "dataset.table.non_numbers=refuse").dataset.table)


def test_a_text_category_with_some_numbers_stays_a_category(tmp_path):
    frame = recidivism_like()
    frame["sex"] = np.where(np.arange(len(frame)) % 3 == 0, "1", frame["sex"])
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    table, _ = read_user_table(_cfg(path).dataset.table)
    assert not pd.api.types.is_numeric_dtype(table["sex"])


# --- integer-coded categories -------------------------------------------------------------------

def test_integer_codes_are_named_as_possible_categories(recid_csv):
    notes: list[str] = []
    read_user_table(_cfg(recid_csv).dataset.table, notes)
    (hint,) = [n for n in notes if "'charge_degree'" in n]
    assert "whole numbers with 4 distinct values (1, 2, 3, 4)" in hint
    assert "dataset.table.categorical_columns" in hint
    notes = []
    read_user_table(_cfg(recid_csv, "dataset.table.categorical_columns=[charge_degree]")
                    .dataset.table, notes)
    assert not any("'charge_degree'" in n for n in notes)


# --- missing values of a sensitive column -------------------------------------------------------

def test_missing_sensitive_values_are_their_own_group_and_pools_are_named(recid_csv):
    prepared = prepare(_cfg(recid_csv, "dataset.table.rare_level_rows=60"))
    race = prepared.sensitive["race"]
    assert "(missing)" in set(race) and "" not in set(race)
    # The data's own 'Other' stays apart from the study's pool of rare levels.
    assert "Other" in set(race) or "(pooled rare levels)" in set(race)
    assert "(other)" not in set(race)
    assert prepared.description.missing_share["race"] > 0.03


# --- bytes, names and identifiers ----------------------------------------------------------------

def test_undecodable_bytes_name_file_line_and_encoding(tmp_path, recid_csv):
    data = recid_csv.read_bytes().splitlines(keepends=True)
    data[5] = data[5].replace(b",A,", b",Andr\xe9,")  # latin-1 bytes in a UTF-8 file
    if b"\xe9" not in data[5]:
        data[5] = data[5].replace(b",m,", b",\xe9,")
    path = tmp_path / "latin.csv"
    path.write_bytes(b"".join(data))
    with pytest.raises(NsfError, match=r"latin\.csv: line 6 is not valid utf-8 .*"
                                       r"dataset\.table\.encoding"):
        read_user_table(_cfg(path).dataset.table)
    frame, _ = read_user_table(_cfg(path, "dataset.table.encoding=latin-1").dataset.table)
    assert frame["race"].astype(str).str.contains("é").any() \
        or frame["sex"].astype(str).str.contains("é").any()


def test_repeated_column_names_are_refused(tmp_path, recid_csv):
    text = recid_csv.read_text().splitlines()
    text[0] = text[0].replace("priors_count", "age")
    path = tmp_path / "dup.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(NsfError, match=r"column names \['age'\] occur more than once"):
        read_user_table(_cfg(path).dataset.table)


@pytest.mark.parametrize(("column", "values", "why"), [
    ("person_hash", lambda n: [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)],
     "hex digests"),
    ("contact", lambda n: [f"user{i}@example.org" for i in range(n)], "e-mail addresses"),
    ("phone", lambda n: [f"010-{i % 9000 + 1000:04d}-{i * 7 % 10000:04d}" for i in range(n)],
     "phone numbers"),
    ("name", lambda n: [f"Name{i}x Surname{i * 3}" for i in range(n)], "distinct values"),
])
def test_identifier_like_feature_columns_are_refused(tmp_path, column, values, why):
    frame = recidivism_like()
    frame[column] = values(len(frame))
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(NsfError, match=rf"column '{column}' looks like a person's identifier "
                                       rf"\(.*{why}"):
        read_user_table(_cfg(path).dataset.table)
    # Declared, it is left out: never a feature.
    prepared = prepare(_cfg(path, f"dataset.table.identifier_columns=[email, {column}]"))
    assert column not in prepared.description.group_names


def test_bad_table_on_the_command_line_is_one_line_and_writes_nothing(tmp_path, recid_csv,
                                                                     monkeypatch, capsys):
    text = recid_csv.read_text().splitlines()
    text[0] = text[0].replace("priors_count", "age")
    (tmp_path / "dup.csv").write_text("\n".join(text) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text("name: dup\ndataset:\n  kind: table\n  table:\n    path: dup.csv\n"
                      "    target_column: two_year_recid\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    res = in_process(capsys, "study", str(config), "-q", "--set",
                     f"tracking.uri=sqlite:///{work / 'mlflow.db'}")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    # The relative path was read from the config's folder, not the working directory.
    assert len(lines) == 1 and str(tmp_path / "dup.csv") in lines[0]
    assert "occur more than once" in lines[0]
    assert list(work.iterdir()) == []


def test_config_paths_are_relative_to_the_config_file(tmp_path, recid_csv):
    config = tmp_path / "sub" / "c.yaml"
    config.parent.mkdir()
    config.write_text("dataset:\n  kind: table\n  table:\n    path: ../recid.csv\n"
                      "    target_column: two_year_recid\n")
    cfg = load_config(config)
    assert cfg.dataset.table.path == recid_csv
    cfg = load_config(config, ["dataset.table.path=x.csv"])  # --set: the working directory
    assert str(cfg.dataset.table.path) == "x.csv"


# --- thresholds and families ----------------------------------------------------------------------

def test_the_fairness_threshold_fits_the_table(recid_csv):
    from nsf.study._run import fairness_threshold, minimal_set_runs

    cfg = _cfg(recid_csv)
    prepared = prepare(cfg)
    rate = prepared.rows["label"].mean()
    threshold, source = fairness_threshold(cfg, prepared)
    assert threshold == round(100 * rate) and "base rate" in source
    assert fairness_threshold(_cfg(recid_csv, "study.threshold=50"), prepared)[0] == 50
    assert minimal_set_runs(cfg.study)
    assert not minimal_set_runs(_cfg(recid_csv, "study.families=[drop_one]").study)
    assert minimal_set_runs(_cfg(recid_csv, "study.families=[drop_one]",
                                 "study.minimal_set.enabled=true").study)


# --- the study and its report --------------------------------------------------------------------



@pytest.mark.slow
def test_a_recidivism_like_table_gives_a_report_in_its_own_words(tmp_path):
    """Study and train on a table with '?' numbers, integer codes, missing values in features
    and a sensitive column, and two identifier columns: warnings printed, missing values stated,
    no simulator word, fairness at the table's threshold with the range figure, the family list
    honoured, and no identifier in any artifact or report."""
    frame = recidivism_like(n=900)
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "recid.csv", index=False)
    config = tmp_path / "recid.yaml"
    config.write_text(
        "name: recid\ndataset:\n  kind: table\n  table:\n    path: data/recid.csv\n"
        "    target_column: two_year_recid\n    id_column: person_id\n"
        "    identifier_columns: [email]\n    sensitive_columns: [race, sex]\n"
        "    outcome: the defendant reoffended within two years\n"
        "    positive_name: reoffended\n    decision: rated high risk\n"
        "    subjects: defendants\n", encoding="utf-8")
    sets = [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", "study.seeds=2",
            "study.families=[drop_one]", "study.n_bootstrap=100",
            "study.fairness_n_bootstrap=50", "study.shap_rows=100",
            "study.permutation_rows=200", "study.permutation_repeats=1",
            "study.proxy_estimator=logistic_regression", "study.log_models=true"]
    args = [a for s in sets for a in ("--set", s)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "nsf", "study", str(config), "-q", *args],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    # Warnings printed before the study starts.
    assert "data: missing values in juv_count" in res.stderr
    assert "'?' in bail_amount" in res.stderr
    assert "column 'charge_degree': whole numbers with 4 distinct values" in res.stderr
    res = subprocess.run([sys.executable, "-m", "nsf", "train", str(config), "-q",
                          "--set", sets[0]], cwd=tmp_path, capture_output=True, text=True,
                         timeout=900, env=env)
    assert res.returncode == 0, res.stderr[-3000:]

    (folder,) = (tmp_path / "reports" / "recid").iterdir()
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert model["missing"] == []
    for name in ("report.md", "report.html", "appendix.md", "appendix.html"):
        found = simulator_words((folder / name).read_text(encoding="utf-8"))
        assert not found, (name, found)
    md = (folder / "appendix.md").read_text(encoding="utf-8")
    # Missing values stated, and how they are treated.
    shares = {r["column"]: r["share"] for r in model["data"]["missing_share"]}
    assert shares["juv_count"] > 0.05 and shares["race"] > 0.03
    assert "juv_count | feature |" in md and "'(missing)'" in md
    assert "LightGBM: a missing number" in md
    # Fairness at the table's own threshold, with the range figure.
    rate = frame["two_year_recid"].mean()
    assert model["fairness"]["threshold"] == round(100 * rate)
    assert f"operating threshold {round(100 * rate)}" in md and "base rate" in md
    assert (folder / "figures" / "fairness_thresholds.png").is_file()
    assert len(model["fairness"]["curves"]["race"]) == 19
    groups = {g["group"] for g in model["fairness"]["attributes"]["race"]["groups"]}
    assert "(missing)" in groups and "" not in groups and "(other)" not in groups
    assert "reoffended rows" in md and "rated high risk" in md
    assert model["power"]["detectable_difference"] > 0
    # The family list is honoured exactly.
    assert model["minimal_set"] is None
    assert {r["family"] for r in model["attributes"]["drop_one"]} == {"drop_one"}

    # No identifier of the table in any artifact, param, tag, metric or report.
    from mlflow.tracking import MlflowClient

    secrets = set(frame["person_id"]) | set(frame["email"])
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=5000):
            text = json.dumps([run.data.params, run.data.tags, run.data.metrics])
            assert not [s for s in secrets if s in text], run.info.run_id
    files = [p for p in (tmp_path / "mlartifacts").rglob("*") if p.is_file()]
    assert {"input_example.json", "python_model.pkl", "study.json"} <= {p.name for p in files}
    reports = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    hex_token = re.compile(r"[0-9a-f]{64}")
    mail_token = re.compile(r"p\d{5}\.x3@mail\d\.example")
    for path in files + reports:
        if path.suffix == ".png":
            continue
        for text in file_texts(path):
            leaked = (set(hex_token.findall(text)) | set(mail_token.findall(text))) & secrets
            assert not leaked, (str(path.relative_to(tmp_path)), sorted(leaked)[:2])


def test_the_terminal_table_shows_the_interval_that_decided_the_verdict():
    """A verdict read from the simultaneous interval is printed beside that interval (and says
    so), not beside the narrower per-comparison one."""
    from rich.console import Console
    from test_report import hand_study_dict

    from nsf.cli._study import _summary
    from nsf.study import StudyResult

    study = hand_study_dict()
    for v in study["variants"]:
        m = v["comparisons"]["baseline"]["metrics"]["auc"]
        m.update({"simultaneous_lower": m["lower"] - 0.0311, "simultaneous_upper":
                  m["upper"] + 0.0311, "family_size": 3, "decided_by": "simultaneous",
                  "per_comparison_verdict": m["verdict"]})
    result = StudyResult.model_validate(study)
    console = Console(width=200, record=True)
    console.print(_summary(result))
    text = console.export_text()
    first = study["variants"][0]["comparisons"]["baseline"]["metrics"]["auc"]
    assert f"[{first['simultaneous_lower']:+.4f}, {first['simultaneous_upper']:+.4f}]" in text
    assert f"[{first['lower']:+.4f}, {first['upper']:+.4f}]" not in text
    assert "simultaneous (3)" in text and "decided by" in text
