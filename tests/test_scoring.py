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
