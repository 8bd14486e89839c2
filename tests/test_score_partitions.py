"""Scoring partitions on the executor, and every user's latest feed row (``nsf
export-latest``): the same scores as the serial path, on every backend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsf.config import ExecutionConfig, ModelConfig
from nsf.data import open_dataset
from nsf.data._dataset import arrow_to_frame
from nsf.data._latest import export_latest, latest_rows
from nsf.errors import NsfError
from nsf.execution import Executor
from nsf.features import FeatureSelection
from nsf.pipeline import fit_variant
from nsf.scoring import plan_partitions, score_file, score_partitions

BACKENDS = [(ExecutionConfig(), 1), (ExecutionConfig(), 2),
            (ExecutionConfig(backend="dask", workers=2), 2)]


@pytest.fixture(scope="module")
def fitted(smoke_prepared):
    return fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(), seed=3)


@pytest.fixture(scope="module")
def feed_file(smoke_dataset, tmp_path_factory):
    """The smoke feed as one Parquet file of six row groups (1,000 rows each at most)."""
    feed = open_dataset(smoke_dataset).table("feed")
    path = tmp_path_factory.mktemp("feed") / "feed.parquet"
    pq.write_table(pa.Table.from_pandas(feed, preserve_index=False), path,
                   row_group_size=1_000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 6
    return path


def _folder(path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(path.glob("part-*.parquet"))],
                     ignore_index=True)


@pytest.mark.parametrize(("execution", "workers"), BACKENDS)
def test_partitions_give_the_serial_scores_in_input_order(fitted, feed_file, tmp_path,
                                                          execution, workers):
    score_file(fitted, feed_file, tmp_path / "serial.parquet", batch_rows=1_000)
    serial = pd.read_parquet(tmp_path / "serial.parquet")
    with Executor(execution, workers) as executor:
        stats = score_partitions(fitted, feed_file, tmp_path / "parts", executor,
                                 batch_rows=1_000, row_groups_per_part=2, reasons=2)
    assert stats["parts"] == 3 and stats["rows"] == len(serial) and stats["reused"] == 0
    parts = _folder(tmp_path / "parts")
    assert len(list((tmp_path / "parts").iterdir())) == 3  # parts only, nothing left beside
    pd.testing.assert_frame_equal(parts[serial.columns], serial)
    assert not (tmp_path / "parts.partial").exists()


def test_a_folder_input_is_scored_file_by_file(fitted, feed_file, tmp_path):
    table = pq.read_table(feed_file)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, start in enumerate((0, 2_500, 4_000)):
        stop = (2_500, 4_000, table.num_rows)[i]
        pq.write_table(table.slice(start, stop - start), folder / f"x-{i}.parquet")
    score_file(fitted, feed_file, tmp_path / "serial.parquet", batch_rows=1_000)
    with Executor(ExecutionConfig(), 2) as executor:
        stats = score_partitions(fitted, folder, tmp_path / "out", executor, batch_rows=1_000)
    assert stats["parts"] == 3
    pd.testing.assert_frame_equal(_folder(tmp_path / "out"),
                                  pd.read_parquet(tmp_path / "serial.parquet"))


def test_an_interrupted_run_reuses_its_finished_parts(fitted, feed_file, tmp_path):
    seen = []

    def stop_after_two(rows: int) -> None:
        seen.append(rows)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with Executor(ExecutionConfig(), 1) as executor, pytest.raises(KeyboardInterrupt):
        score_partitions(fitted, feed_file, tmp_path / "out", executor, batch_rows=1_000,
                         progress=stop_after_two)
    assert not (tmp_path / "out").exists()
    assert len(list((tmp_path / "out.partial").glob("part-*.parquet"))) == 2
    with Executor(ExecutionConfig(), 2) as executor:
        stats = score_partitions(fitted, feed_file, tmp_path / "out", executor,
                                 batch_rows=1_000)
    assert stats["reused"] == 2 and stats["rows"] == 6_000
    assert not (tmp_path / "out.partial").exists()
    score_file(fitted, feed_file, tmp_path / "serial.parquet", batch_rows=1_000)
    pd.testing.assert_frame_equal(_folder(tmp_path / "out"),
                                  pd.read_parquet(tmp_path / "serial.parquet"))
    # Other settings do not reuse the parts of an earlier run.
    seen.clear()
    with Executor(ExecutionConfig(), 1) as executor, pytest.raises(KeyboardInterrupt):
        score_partitions(fitted, feed_file, tmp_path / "again", executor, batch_rows=1_000,
                         progress=stop_after_two)
    seen.clear()
    with Executor(ExecutionConfig(), 1) as executor:
        stats = score_partitions(fitted, feed_file, tmp_path / "again", executor,
                                 batch_rows=2_000)
    assert stats["reused"] == 0


def test_partitioned_scoring_refuses_a_foreign_output_folder(fitted, feed_file, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with Executor(ExecutionConfig(), 1) as executor, pytest.raises(
            NsfError, match=r"exists and is not a folder of scored parts"):
        score_partitions(fitted, feed_file, tmp_path / "out", executor)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    with pytest.raises(NsfError, match=r"folder to score must hold \.parquet files"):
        plan_partitions(tmp_path / "out")


def test_latest_rows_known_answer():
    users = np.array([5, 3, 5, 3, 9, 5])
    dates = np.array([1, 1, 3, 2, 1, 2])
    assert latest_rows(users, dates).tolist() == [2, 3, 4]


@pytest.mark.parametrize(("execution", "workers"), BACKENDS[1:])
def test_export_latest_holds_each_users_latest_row(smoke_dataset, tmp_path, execution, workers):
    dataset = open_dataset(smoke_dataset)
    with Executor(execution, workers) as executor:
        stats = export_latest(dataset, tmp_path / "latest", executor)
    got = pd.concat([arrow_to_frame(pq.read_table(p)) for p in
                     sorted((tmp_path / "latest").glob("part-*.parquet"))], ignore_index=True)
    feed = dataset.table("feed")
    expect = feed[feed["observation_date"] == feed["observation_date"].max()]
    assert stats["rows"] == len(got) == feed["user_id"].nunique() == len(expect)
    got = got.sort_values("user_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expect.sort_values("user_id").reset_index(drop=True))
    with Executor(ExecutionConfig(), 1) as executor, pytest.raises(
            NsfError, match="not an empty folder"):
        export_latest(dataset, tmp_path / "latest", executor)
