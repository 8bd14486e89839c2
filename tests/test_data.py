"""nsf.data: opening simulated datasets and the user's own table."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from nsf.config import ConfigError, TableConfig, load_config
from nsf.data import open_dataset, read_user_table
from nsf.errors import NsfError


def test_open_dataset_reads_sorted_tables(smoke_dataset):
    ds = open_dataset(smoke_dataset)
    assert ds.digest == ds.manifest["digest"] and len(ds.digest) == 64
    feed = ds.table("feed", ["user_id", "observation_date", "pay_money_balance"])
    assert list(feed.columns) == ["user_id", "observation_date", "pay_money_balance"]
    keys = feed[["observation_date", "user_id"]]
    assert keys.equals(keys.sort_values(["observation_date", "user_id"]).reset_index(drop=True))
    assert pd.api.types.is_datetime64_any_dtype(feed["observation_date"])
    assert len(feed) == ds.manifest["rows"]["feed"]


def test_dataset_errors_are_one_line(smoke_dataset, tmp_path):
    with pytest.raises(NsfError, match="no such dataset folder"):
        open_dataset(tmp_path / "nothing")
    copy = tmp_path / "copy"
    shutil.copytree(smoke_dataset, copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(NsfError, match=r"no manifest\.json"):
        open_dataset(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(NsfError, match="corrupt manifest"):
        open_dataset(copy)
    manifest = json.loads((smoke_dataset / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest))
    ds = open_dataset(copy)
    with pytest.raises(NsfError, match="no table 'events'"):
        ds.table("events")
    with pytest.raises(NsfError, match="has no columns"):
        ds.table("feed", ["user_id", "no_such_column"])


def _table(tmp_path, n=400, seed=3, suffix=".csv"):
    rng = np.random.default_rng(seed)
    balance = rng.lognormal(10, 1, n)
    y = rng.random(n) < 1 / (1 + np.exp((np.log(balance) - 9.5) * 2))
    frame = pd.DataFrame({
        "customer": np.arange(n) % 200,
        "month": np.where(np.arange(n) < 200, "2023-01-31", "2023-02-28"),
        "defaulted": y.astype(int),
        "balance": balance.round(),
        "card_count": rng.integers(0, 4, n),
        "mail_domain": rng.choice(["naver.com", "gmail.com", "daum.net"], n),
        "gender": rng.choice(["female", "male"], n),
    })
    path = tmp_path / f"own{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path, frame


def _table_cfg(path, **kw):
    base = dict(path=path, id_column="customer", target_column="defaulted",
                time_column="month", groups={"balance": ["balance"], "cards": ["card_count"],
                                             "email": ["mail_domain"]},
                sensitive_columns=["gender"])
    base.update(kw)
    return TableConfig(**base)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_user_table_reads_and_validates(tmp_path, suffix):
    path, frame = _table(tmp_path, suffix=suffix)
    table, digest = read_user_table(_table_cfg(path))
    assert len(table) == len(frame) and len(digest) == 64
    assert table["defaulted"].dtype == np.int8
    assert pd.api.types.is_datetime64_any_dtype(table["month"])


def test_user_table_errors(tmp_path):
    path, frame = _table(tmp_path)
    with pytest.raises(NsfError, match=r"missing declared columns \['nope'\]"):
        read_user_table(_table_cfg(path, groups={"x": ["nope"], "b": ["balance"]}))
    frame.assign(defaulted=frame["defaulted"] * 2).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(NsfError, match="is not 0/1"):
        read_user_table(_table_cfg(tmp_path / "bad.csv"))
    with pytest.raises(NsfError, match="no such file"):
        read_user_table(_table_cfg(tmp_path / "absent.csv"))
    pd.concat([frame, frame.head(3)]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(NsfError, match="3 duplicate rows"):
        read_user_table(_table_cfg(tmp_path / "dup.csv"))


@pytest.mark.parametrize(("override", "needle"), [
    ("dataset.kind=table", "needs dataset.table"),
    ("dataset.table={path: x.csv, id_column: a, target_column: b, groups: {g: []}}",
     "empty attribute groups"),
    ("dataset.table={path: x.csv, id_column: a, target_column: b, groups: {g: [b]}}",
     "cannot be a feature"),
    ("split.kind=bogus", "split.kind"),
    ("model.kind=svm", "model.kind"),
    ("features.drop_groups=[balance]", None),
])
def test_dataset_config_validation(override, needle):
    items = [override]
    if override.startswith("dataset.table"):
        items.insert(0, "dataset.kind=table")
    if needle is None:
        assert load_config(None, items).features.drop_groups == ("balance",)
        return
    with pytest.raises(ConfigError, match=needle):
        load_config(None, items)
