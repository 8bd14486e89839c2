"""Scoring a large input in partitions on the executor, written as a folder of part files.

A partition is one Parquet file of an input folder, or a range of row groups of one Parquet
file. Each is scored by :func:`nsf.scoring._batch.score_file` on a worker (local processes or
Dask, :mod:`nsf.execution`) into ``part-NNNNN.parquet`` of the output folder, numbered in input
order. A row's score depends on that row only, so the parts hold, in order, exactly the scores
of the serial path.

The output folder is built beside its target (``<output>.partial``) and renamed when every
part is written: an interrupted run leaves no half output; its finished parts are kept there
and reused when the same command is run again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nsf.errors import NsfError
from nsf.execution import Executor, Setup
from nsf.models import FittedModel


@dataclass(frozen=True)
class Partition:
    """One unit of work: a Parquet file, or some of its row groups (None: all)."""

    path: str
    row_groups: tuple[int, ...] | None = None


def plan_partitions(input_path: Path, row_groups_per_part: int = 1) -> list[Partition]:
    """The partitions of a Parquet folder (its ``*.parquet`` files, sorted by name) or of one
    Parquet file (``row_groups_per_part`` row groups each).

    Raises
    ------
    NsfError
        A folder without Parquet files, or an unreadable file.
    """
    if input_path.is_dir():
        files = sorted(p for p in input_path.iterdir()
                       if p.suffix.lower() == ".parquet" and p.is_file())
        if not files:
            raise NsfError(f"{input_path}: a folder to score must hold .parquet files")
        return [Partition(str(f)) for f in files]
    if not input_path.is_file():
        raise NsfError(f"{input_path}: no such file or folder")
    if input_path.suffix.lower() not in (".parquet", ".pq"):
        raise NsfError(f"{input_path}: partitioned scoring reads Parquet (a file or a folder)")
    try:
        n = pq.ParquetFile(input_path).metadata.num_row_groups
    except (OSError, pa.ArrowInvalid) as exc:
        raise NsfError(f"{input_path}: cannot read ({exc})") from None
    step = max(1, int(row_groups_per_part))
    return [Partition(str(input_path), tuple(range(i, min(i + step, n))))
            for i in range(0, max(n, 1), step)]


def _score_part(state: tuple[FittedModel, dict], item: tuple[int, Partition, str]) -> dict:
    from nsf.scoring._batch import score_file

    fitted, options = state
    index, part, folder = item
    target = Path(folder) / f"part-{index:05d}.parquet"
    stats = score_file(fitted, part.path, target, row_groups=part.row_groups, **options)
    return {"index": index, **stats}


def _fitted_state(fitted: FittedModel, options: dict) -> tuple[FittedModel, dict]:
    return fitted, options


def score_partitions(fitted: FittedModel, input_path: str | Path, output_path: str | Path,
                     executor: Executor, *, batch_rows: int = 100_000, reasons: int = 0,
                     row_groups_per_part: int = 1,
                     progress: Callable[[int], None] | None = None) -> dict:
    """Score ``input_path`` (a Parquet folder, or a Parquet file by row groups) partition by
    partition on ``executor`` into the folder ``output_path``.

    Returns
    -------
    dict
        As :func:`nsf.scoring._batch.score_file` (rows, seconds, rows_per_s, missing_values,
        missing_by_column, base_score with reasons) plus ``parts`` and ``reused`` (parts
        found finished in ``<output>.partial`` by an earlier, interrupted run).

    Raises
    ------
    NsfError
        As :func:`score_file`, and an output that exists already and is not a folder of parts.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.resolve() == input_path.resolve():
        raise NsfError(f"{output_path}: is the input; write the scores to another folder")
    if output_path.exists() and (not output_path.is_dir() or any(
            not (f.name.startswith("part-") and f.suffix == ".parquet")
            for f in output_path.iterdir())):
        raise NsfError(f"{output_path}: exists and is not a folder of scored parts "
                       "(partitioned scores are written as a folder of part files); choose "
                       "another output")
    parts = plan_partitions(input_path, row_groups_per_part)
    partial = output_path.with_name(output_path.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    # What an earlier, interrupted run of the same partitions finished (its stats beside it).
    plan = [[p.path, None if p.row_groups is None else list(p.row_groups)] for p in parts]
    plan_file = partial / "partitions.json"
    done: dict[int, dict] = {}
    if plan_file.exists() and json.loads(plan_file.read_text()) == {
            "plan": plan, "batch_rows": batch_rows, "reasons": reasons}:
        for f in partial.glob("part-*.stats.json"):
            stats = json.loads(f.read_text())
            if (partial / f"part-{stats['index']:05d}.parquet").exists():
                done[int(stats["index"])] = stats
    else:
        for f in partial.iterdir():
            f.unlink()
        plan_file.write_text(json.dumps({"plan": plan, "batch_rows": batch_rows,
                                         "reasons": reasons}))
    reused = len(done)
    threads = 1 if executor.parallel else fitted.model_cfg.num_threads
    options = {"batch_rows": batch_rows, "reasons": reasons, "threads": threads}
    todo = [(i, p, str(partial)) for i, p in enumerate(parts) if i not in done]
    t0 = time.perf_counter()
    for _, stats in executor.map_unordered(_score_part, todo,
                                           setup=Setup(_fitted_state, (fitted, options))):
        i = int(stats["index"])
        (partial / f"part-{i:05d}.stats.json").write_text(json.dumps(stats))
        done[i] = stats
        if progress is not None:
            progress(int(stats["rows"]))
    for f in list(partial.glob("*.json")):
        f.unlink()
    if output_path.exists():
        shutil.rmtree(output_path)
    os.replace(partial, output_path)
    seconds = time.perf_counter() - t0
    rows = sum(s["rows"] for s in done.values())
    missing: dict[str, int] = {}
    for s in done.values():
        for column, n in s["missing_by_column"].items():
            missing[column] = missing.get(column, 0) + int(n)
    out = {"rows": float(rows), "seconds": seconds, "rows_per_s": rows / max(seconds, 1e-9),
           "missing_values": float(sum(missing.values())), "missing_by_column": missing,
           "parts": len(parts), "reused": reused}
    if reasons:
        out["base_score"] = next(iter(done.values()))["base_score"]
    return out
