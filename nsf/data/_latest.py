"""Every user's latest feed row: the input of scoring the whole population (``nsf
export-latest``).

The feed is read file by file (one simulator chunk of users at a time, so memory follows a
chunk, not the population); each file's users keep their row of their latest observation date,
written in the file's row order as ``part-NNNNN.parquet`` of the output folder, one part per
feed file. The parts are written on the executor and the folder is built beside its target
(``<out>.partial``) and renamed when complete.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nsf.data._dataset import Dataset
from nsf.errors import NsfError
from nsf.execution import Executor


def latest_rows(users: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Positions (ascending) of each user's row of its latest date (the last such row if a
    user has two rows on that date)."""
    order = np.lexsort((np.arange(users.size), dates, users))
    last = np.ones(order.size, dtype=bool)
    last[:-1] = users[order[1:]] != users[order[:-1]]
    return np.sort(order[last])


def _export_part(item: tuple[int, str, str]) -> int:
    index, source, folder = item
    keys = pq.read_table(source, columns=["user_id", "observation_date"])
    users = keys["user_id"].to_numpy()
    dates = keys["observation_date"].cast(pa.int32()).to_numpy()
    keep = latest_rows(users, dates)
    table = pq.read_table(source).take(pa.array(keep))
    target = Path(folder) / f"part-{index:05d}.parquet"
    pq.write_table(table, target, compression="zstd", compression_level=1)
    return table.num_rows


def export_latest(dataset: Dataset, out: str | Path, executor: Executor) -> dict[str, int]:
    """Write every user's latest feed row of ``dataset`` into the folder ``out``.

    Returns
    -------
    dict
        ``rows`` (users written), ``parts`` and ``bytes`` (on disk).

    Raises
    ------
    NsfError
        ``out`` exists and is not empty, or is inside the dataset; a user's rows in two feed
        files (the latest row per user is taken within a file).
    """
    out = Path(out)
    if out.resolve().is_relative_to(dataset.path.resolve()):
        raise NsfError(f"{out}: is inside the dataset folder {dataset.path}; write elsewhere")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise NsfError(f"{out}: exists and is not an empty folder; choose another output")
    dataset.check("feed")
    files = [dataset.path / f for f in dataset.manifest["tables"]["feed"]["files"]]
    ranges = []
    for f in files:
        stats = pq.ParquetFile(f).metadata
        column = stats.schema.to_arrow_schema().get_field_index("user_id")
        groups = [stats.row_group(g).column(column).statistics for g in
                  range(stats.num_row_groups)]
        if groups and all(s is not None and s.has_min_max for s in groups):
            ranges.append((min(s.min for s in groups), max(s.max for s in groups)))
    ranges.sort()
    if len(ranges) != len(files):
        raise NsfError(f"{dataset.path}: the feed files have no user_id statistics")
    if any(a[1] >= b[0] for a, b in itertools.pairwise(ranges)):
        raise NsfError(f"{dataset.path}: users' rows lie in several feed files; the latest row "
                       "per user is taken within one file")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    rows = 0
    try:
        for _, n in executor.map_unordered(
                _export_part, [(i, str(f), str(partial)) for i, f in enumerate(files)]):
            rows += n
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in partial.iterdir())
    if out.exists():
        out.rmdir()
    os.replace(partial, out)
    return {"rows": rows, "parts": len(files), "bytes": size}
