"""A default `nsf study` on a plain CSV: no id, a text target, text and numeric sensitive
columns by their own names (the README's "Your own table")."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "own_table.yaml"


def _nsf(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nsf", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={"PYTHONPATH": str(ROOT),
                                                       "PATH": "/usr/bin:/bin"})


def _workspace(tmp_path) -> Path:
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "credit.csv", tmp_path / "examples" / "credit.csv")
    return tmp_path


def _check_plain_csv_study(work: Path, tmp_path: Path):
    """The README's own table through a default study: the report and study.json."""
    import mlflow

    report = next((work / "reports" / "own_table").iterdir())
    model = json.loads((report / "report.json").read_text())
    assert model["missing"] == []
    assert model["settings"]["outcome"] == "the applicant's credit turned out bad"
    text = (report / "report.md").read_text() + (report / "appendix.md").read_text()
    assert "scoring the risk that the applicant's credit turned out bad" in text
    assert "Not applicable: needs history windows" in text
    assert "incomplete" not in text
    client = mlflow.MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    run_id = report.name
    local = Path(client.download_artifacts(run_id, "study.json", str(tmp_path)))
    study = json.loads(local.read_text())
    assert study["settings"]["crossfit_folds"] == 5
    assert study["dataset"]["split"].startswith("cross-fitted: 5 stratified folds")
    assert study["dataset"]["test_rows"] == 1000
    assert {f["family"] for f in study["skipped_families"]} == {
        "drop_all", "keep_one", "population", "retention", "volume", "decisions",
        "freshness", "drop_uncontested"}
    assert len(study["contested_groups"]) == 7
    assert {v["family"] for v in study["variants"]} == {"drop_one", "coarsen", "sensitive"}
    assert set(study["fairness"]["attributes"]) == {"age_in_years", "sex", "age_in_years+sex"}
    assert {p["target"] for p in study["proxies"]} == {"age_in_years", "sex"}
    assert all(p.get("lift") is not None for p in study["proxies"])
    local = Path(client.download_artifacts(run_id, "dataset_description.json", str(tmp_path)))
    description = json.loads(local.read_text())
    assert description["door"] == "table" and description["positive_label"] == "bad"
    assert description["sensitive"] == [
        {"name": "age_in_years", "kind": "numeric", "bands": 4},
        {"name": "sex", "kind": "categorical", "bands": None}]


def test_default_study_on_a_plain_csv_with_fewer_seeds_and_resamples(table_study, tmp_path):
    """The session's table study (conftest ``table_study``: two seeds, fewer resamples, three
    of the seven contested groups, one sharing design of each kind)."""
    _check_plain_csv_study(table_study["root"], tmp_path)


@pytest.mark.slow
def test_default_study_on_a_plain_csv(tmp_path):
    """The same with every default (three seeds, every resample)."""
    work = _workspace(tmp_path)
    res = _nsf("study", str(CONFIG), "-q", cwd=work)
    assert res.returncode == 0, res.stderr
    _check_plain_csv_study(work, tmp_path)


def test_bad_table_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """The first as a user runs it (a fresh process, a bare environment), the others through
    the same entry point in this process (the same words and exit code, without the
    seconds of a new interpreter loading the libraries)."""
    work = _workspace(tmp_path)
    monkeypatch.chdir(work)
    before = sorted(p.name for p in work.iterdir())
    for i, (items, needle) in enumerate((
            (["dataset.table.positive_label=Bad"],
             "positive_label 'Bad' does not occur in target column 'risk'"),
            (["dataset.table.id_column=risk"], "id_column 'risk' is the target column"),
            (["dataset.table.groups={money: [credit_amount], who: [sex]}"],
             "sensitive columns cannot be features: ['sex']"),
            (["study.families=[retention]"],
             "every family is inapplicable (retention: needs history windows"))):
        args = ["study", str(CONFIG), "-q", *[a for item in items for a in ("--set", item)]]
        res = _nsf(*args, cwd=work) if i == 0 else in_process(capsys, *args)
        code, err = res.returncode, res.stderr
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nsf: error: ") and needle in lines[0]
        assert sorted(p.name for p in work.iterdir()) == before
