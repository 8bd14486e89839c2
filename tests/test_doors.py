"""The same data through both doors: a simulated dataset exported as one flat table and read
back as the user's own table gives the same study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nsf.config import load_config
from nsf.data import open_dataset
from nsf.pipeline import prepare
from nsf.study import resolve_study, run_study

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
QUICK = ["study.families=[drop_one]", "study.minimal_set.enabled=false",
         "study.proxy_targets=[]", "study.fairness_attributes=[]", "study.intersections=[]",
         "study.workers=1"]


def _nsf(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nsf", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(ROOT),
                                                       "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def exported(tmp_path_factory, smoke_dataset):
    out = tmp_path_factory.mktemp("export") / "smoke_table.parquet"
    res = _nsf("export-table", str(SMOKE), str(out), "--set", f"dataset.path={smoke_dataset}",
               cwd=out.parent)
    assert res.returncode == 0, res.stderr
    return out, out.with_suffix(".yaml")


def test_export_writes_a_table_and_its_config(exported, smoke_prepared):
    table, config = exported
    frame = pd.read_parquet(table)
    assert len(frame) == len(smoke_prepared.rows)
    # No identifier, hash or masked value leaves the simulator's folder.
    leaked = [c for c in frame.columns if c.endswith("_hash") or c.startswith("masked_")
              or c == "user_id"]
    assert leaked == []
    assert frame["subject"].nunique() == smoke_prepared.rows["user_id"].nunique()
    assert frame["subject"].max() == frame["subject"].nunique() - 1
    cfg = yaml.safe_load(config.read_text())
    assert cfg["dataset"]["table"]["path"] == str(table.resolve())
    assert cfg["study"]["crossfit_below"] == 0
    prepared = prepare(load_config(config))
    description = prepared.description
    assert description.door == "table"
    assert description.outcome == smoke_prepared.description.outcome
    assert description.contested_groups == smoke_prepared.description.contested_groups
    assert description.sensitive_names == smoke_prepared.description.sensitive_names
    assert prepared.split_note == smoke_prepared.split_note
    assert prepared.test_index.tolist() == smoke_prepared.test_index.tolist()


def test_bad_export_writes_nothing(tmp_path, smoke_dataset):
    res = _nsf("export-table", str(SMOKE), str(tmp_path / "t.txt"), "--set",
               f"dataset.path={smoke_dataset}", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"nsf: error: export-table OUT {tmp_path / 't.txt'}: the suffix must be .csv or .parquet"]
    assert list(tmp_path.iterdir()) == []


def _both(exported, smoke_dataset, extra):
    native_cfg = load_config(SMOKE, [*QUICK, *extra])
    native = run_study(native_cfg, prepare(native_cfg, open_dataset(smoke_dataset)), workers=1)
    table_cfg = load_config(exported[1], [*QUICK, *extra])
    table = run_study(table_cfg, prepare(table_cfg), workers=1)
    return json.loads(native.to_json()), json.loads(table.to_json())


@pytest.fixture(scope="module")
def every_group(exported, smoke_dataset):
    """The drop-one study of every contested group through both doors (two seeds)."""
    return _both(exported, smoke_dataset, ["study.seeds=2", "study.n_bootstrap=300"])


def _verdicts(result) -> dict[str, str]:
    return {v["name"]: v["verdict"] for v in result["variants"] if v["family"] == "drop_one"}


def _estimates(result) -> dict[str, float]:
    return {v["name"]: v["comparisons"]["baseline"]["metrics"]["auc"]["estimate"]
            for v in result["variants"] if v["family"] == "drop_one"}


def test_native_and_table_doors_agree_on_every_group(every_group):
    native, table = every_group
    assert len(_verdicts(native)) == 12
    assert {"drop_balance", "drop_email", "drop_cards", "drop_topups"} <= set(_verdicts(native))
    assert _verdicts(table) == _verdicts(native)
    assert max(abs(x) for x in _estimates(native).values()) > 1e-3  # the variants differ
    # The same features in the same order, the same rows and seeds: the same models.
    assert _estimates(table) == pytest.approx(_estimates(native), abs=1e-9)
    assert len(native["contested_groups"]) == 12 and len(table["contested_groups"]) == 12


def test_narrowing_the_groups_never_changes_what_is_contested_through_either_door(
        exported, smoke_dataset):
    """The study resolved on four of the groups (no fits: the fits are those of the study of
    every group above): the same four drops and all twelve contested groups, at both doors."""
    narrow = [*QUICK, "study.groups=[balance, email, cards, topups]"]
    native_cfg = load_config(SMOKE, narrow)
    native = resolve_study(native_cfg, prepare(native_cfg, open_dataset(smoke_dataset)))
    table_cfg = load_config(exported[1], narrow)
    table = resolve_study(table_cfg, prepare(table_cfg))
    for resolved in (native, table):
        assert {v.name for v in resolved.variants if v.family == "drop_one"} == {
            "drop_balance", "drop_email", "drop_cards", "drop_topups"}
        assert sorted(resolved.covered) == ["balance", "cards", "email", "topups"]
        assert len(resolved.contested) == 12
    assert table.contested == native.contested
