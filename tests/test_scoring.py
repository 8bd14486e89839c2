"""Batch scoring: many batches, several threads, the same scores in the input's order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsf.config import ModelConfig
from nsf.data import open_dataset
from nsf.features import FeatureSelection
from nsf.pipeline import fit_variant
from nsf.scoring import score_file


@pytest.fixture(scope="module")
def fitted(smoke_prepared):
    return fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(), seed=3)


@pytest.fixture(scope="module")
def rows(smoke_dataset) -> pd.DataFrame:
    feed = open_dataset(smoke_dataset).table("feed")
    # Reversed so that the output order cannot come from sorting by user or date.
    return feed.iloc[::-1].iloc[:5_500].reset_index(drop=True)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_many_batches_keep_the_input_order_and_scores(fitted, rows, tmp_path, suffix):
    src = tmp_path / f"rows{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), src,
                       row_group_size=700)
    else:
        rows.to_csv(src, index=False)
    out = tmp_path / "scores.parquet"
    pool = pa.default_memory_pool()
    stats = score_file(fitted, src, out, batch_rows=1_000)  # 6 batches, the last one partial
    assert pa.default_memory_pool().backend_name == pool.backend_name
    assert stats["rows"] == len(rows)
    got = pq.read_table(out).to_pandas()
    assert got["user_id"].tolist() == rows["user_id"].tolist()
    expected = fitted.score(rows)
    np.testing.assert_array_equal(got["score"].to_numpy(), expected)
    # The compiled forest agrees with LightGBM's own prediction.
    X = fitted.encoder.transform(rows)
    p_lightgbm = fitted.calibrator_.transform(fitted.estimator_.booster_.predict(X))
    np.testing.assert_allclose(got["p_nsf"].to_numpy(), p_lightgbm.astype(np.float32), rtol=0,
                               atol=0)


def test_arrow_uses_the_system_allocator_unless_told_otherwise():
    code = "import nsf, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    run = [sys.executable, "-c", code]
    default = subprocess.run(run, capture_output=True, text=True, check=True)
    assert default.stdout.strip() == "system"
    chosen = subprocess.run(run, capture_output=True, text=True, check=True,
                            env={"ARROW_DEFAULT_MEMORY_POOL": "mimalloc", "PATH": ""})
    assert chosen.stdout.strip() == "mimalloc"


# --- bad input: refused or counted, never silently changed ------------------------------------

def _csv_with(rows: pd.DataFrame, path, column: str, value: str, at=(3, 17)):
    frame = rows.head(500).copy()
    frame[column] = frame[column].astype(object)
    for i in at:
        frame.loc[i, column] = value
    frame.to_csv(path, index=False)
    return path


def test_a_wrongly_typed_value_is_refused_not_scored_as_missing(fitted, rows, tmp_path):
    from nsf.errors import NsfError

    src = _csv_with(rows, tmp_path / "rows.csv", "pay_money_balance", "123KRW")
    out = tmp_path / "scores.csv"
    with pytest.raises(NsfError, match=r"column 'pay_money_balance' holds 2 values that are not "
                                       r"numbers .*row 4, '123KRW'"):
        score_file(fitted, src, out)
    assert not out.exists() and not (tmp_path / "scores.csv.tmp").exists()
    bad_date = _csv_with(rows, tmp_path / "dates.csv", "join_date", "last spring", at=(9,))
    with pytest.raises(NsfError, match=r"column 'join_date' holds 1 values that are not dates"):
        score_file(fitted, bad_date, out)
    # Numbers and booleans written as text are still read as such.
    ok = _csv_with(rows, tmp_path / "ok.csv", "pay_money_balance", " 1.5e3 ")
    assert score_file(fitted, ok, out)["rows"] == 500


def test_missing_values_are_counted(fitted, rows, tmp_path):
    frame = rows.head(1000).copy()
    frame.loc[:9, "pay_money_balance"] = np.nan
    frame.loc[:2, "verification_carrier"] = None
    src = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), src, row_group_size=300)
    stats = score_file(fitted, src, tmp_path / "scores.parquet", batch_rows=1000)
    assert stats["missing_by_column"] == {"pay_money_balance": 10, "verification_carrier": 3}
    assert stats["missing_values"] == 13


def test_score_refuses_to_overwrite_its_input(fitted, rows, tmp_path):
    from nsf.errors import NsfError

    src = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows.head(100), preserve_index=False), src)
    before = src.read_bytes()
    with pytest.raises(NsfError, match="is the input file"):
        score_file(fitted, src, src)
    with pytest.raises(NsfError, match="is the input file"):
        score_file(fitted, src, tmp_path / "." / "rows.parquet")
    assert src.read_bytes() == before


def test_a_corrupt_input_is_reported_as_unreadable_input(fitted, rows, tmp_path):
    from nsf.errors import NsfError

    src = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), src)
    data = bytearray(src.read_bytes())
    # Scramble the column data between the header and the footer (still a Parquet file).
    for i in range(len(data) // 4, len(data) // 2):
        data[i] = (data[i] * 7 + 3) % 256
    src.write_bytes(bytes(data))
    out = tmp_path / "scores.parquet"
    with pytest.raises(NsfError, match=r"rows\.parquet: unreadable input") as err:
        score_file(fitted, src, out)
    assert "cannot write" not in str(err.value) and not out.exists()
