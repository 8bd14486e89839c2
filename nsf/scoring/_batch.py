"""Batch scoring of a Parquet or CSV file of shared rows, in bounded memory."""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nsf.errors import NsfError
from nsf.models import FittedModel, probability_to_score
from nsf.scoring._reasons import (
    ReasonExplainer,
    check_reasons,
    reason_columns,
    score_points,
    top_reasons,
)

#: Row keys copied from the input to the output when present.
KEY_COLUMNS = ("user_id", "observation_date")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise NsfError(f"{path}: expected a .parquet or .csv file")


def _batches(path: Path, columns: list[str], batch_rows: int,
             row_groups: Sequence[int] | None = None) -> Iterator[pa.RecordBatch]:
    """The input's batches; a failure to read them is reported as unreadable input."""
    try:
        yield from _read_batches(path, columns, batch_rows, row_groups)
    except (OSError, pa.ArrowInvalid) as exc:
        raise NsfError(f"{path}: unreadable input ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: What a number written as text may look like (what the feature code accepts besides
#: true/false): anything else in a numeric column is refused, not turned into a missing value.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$|^(true|false)$"


def numeric_columns(fitted: FittedModel) -> dict[str, str]:
    """Raw columns the model reads as numbers (``value``) or dates (``days``): column -> op."""
    return {s.sources[0]: s.op for s in fitted.features if s.op in ("value", "days")}


def check_batch(batch: pa.RecordBatch, numeric: dict[str, str], path: Path,
                first_row: int) -> dict[str, int]:
    """Refuse values of the wrong type; count the missing values per column.

    A numeric or date column that arrives as text (a CSV cell such as ``123KRW``) would
    otherwise become a missing value without a word and change the score.

    Returns
    -------
    dict
        Column -> missing values (null, or NaN in a float column) in this batch.

    Raises
    ------
    NsfError
        One line naming the column, how many values are unusable, and the first of them.
    """
    missing = {}
    for name in batch.schema.names:
        col = batch.column(name)
        kind = numeric.get(name)
        if kind is not None and (pa.types.is_string(col.type)
                                 or pa.types.is_large_string(col.type)):
            text = pc.utf8_lower(pc.utf8_trim_whitespace(col))
            if kind == "value":
                ok = pc.match_substring_regex(text, _NUMBER)
            else:
                # As the feature code parses them (nsf.features), so what fails there fails here.
                parsed = pd.to_datetime(pd.Series(col.to_pandas(), dtype=object),
                                        errors="coerce")
                ok = pa.array(parsed.notna().to_numpy())
            bad = pc.and_(pc.invert(pc.fill_null(ok, True)), pc.is_valid(text))
            n_bad = pc.sum(bad).as_py() or 0
            if n_bad:
                i = pc.index(bad, True).as_py()
                expected = "numbers" if kind == "value" else "dates"
                raise NsfError(
                    f"{path}: column {name!r} holds {n_bad:,} values that are not {expected} "
                    f"in rows {first_row + 1:,}-{first_row + batch.num_rows:,} (first: row "
                    f"{first_row + i + 1:,}, {col[i].as_py()!r}); correct them, or leave the "
                    "cells empty to score them as missing")
        n = col.null_count
        if pa.types.is_floating(col.type):
            n += pc.sum(pc.fill_null(pc.is_nan(col), False)).as_py() or 0
        missing[name] = n
    return missing


def _read_batches(path: Path, columns: list[str], batch_rows: int,
                  row_groups: Sequence[int] | None = None) -> Iterator[pa.RecordBatch]:
    if _format(path) == "parquet":
        pf = pq.ParquetFile(path)
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise NsfError(f"{path}: missing columns {missing} the model needs")
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns,
                                   row_groups=None if row_groups is None else list(row_groups))
        return
    if row_groups is not None:
        raise NsfError(f"{path}: row groups are read from Parquet only")
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 26),
                            convert_options=pacsv.ConvertOptions(include_columns=columns))
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        pending.append(batch)
        size += batch.num_rows
        if size >= batch_rows:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()
            pending, size = [], 0
    if pending:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


def _scored(fitted: FittedModel, batches: Iterator[pa.RecordBatch], batch_rows: int,
            workers: int, reasons: tuple[ReasonExplainer, int] | None = None,
            ) -> Iterator[tuple[pa.RecordBatch, np.ndarray, tuple | None]]:
    """``(batch, calibrated P(NSF), reasons)`` in input order.

    ``reasons``: an explainer and K; each batch then also gets the positions (in the
    explainer's groups) and points of its rows' top K reasons, else None.

    This thread reads the batches; ``workers`` threads each encode and predict a whole batch
    on one core (Parquet reading, Arrow compute, numpy and the compiled forest release the
    GIL), so every core stays busy without a hand-off between stages. At most ``workers + 1``
    batches are in flight, and the encoded matrices reuse one buffer per worker.
    """
    buffers: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
    for _ in range(workers):
        buffers.put(np.empty((batch_rows, len(fitted.feature_names)), np.float32))

    def explained(X: np.ndarray, p: np.ndarray):
        if reasons is None:
            return None
        explainer, k = reasons
        points = score_points(explainer.group_values(X, num_threads=1), explainer.base_value,
                              100.0 * p, explainer.base_score)
        return top_reasons(points, k)

    def work(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray, tuple | None]:
        table = pa.Table.from_batches([batch])
        if batch.num_rows > batch_rows:  # CSV blocks may exceed the batch size
            X = fitted.encoder.transform(table)
            p = fitted.predict_encoded(X, num_threads=1)
            return batch, p, explained(X, p)
        buffer = buffers.get()
        try:
            X = fitted.encoder.transform(table, out=buffer)
            p = fitted.predict_encoded(X, num_threads=1)
            return batch, p, explained(X, p)
        finally:
            buffers.put(buffer)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future] = deque()
        for batch in batches:
            pending.append(pool.submit(work, batch))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@contextmanager
def _system_memory_pool() -> Iterator[None]:
    """Arrow allocates from the C library's allocator while the scorer runs.

    Arrow's default pool (mimalloc) hands freed pages back to the operating system between
    batches, and zeroing them again on the next batch's page faults took about a fifth of the
    scorer's CPU time (``perf``: ``clear_page_erms``); the C allocator reuses them.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def score_file(fitted: FittedModel, input_path: str | Path, output_path: str | Path, *,
               batch_rows: int = 100_000, reasons: int = 0,
               progress: Callable[[int], None] | None = None,
               row_groups: Sequence[int] | None = None,
               threads: int | None = None) -> dict[str, Any]:
    """Score every row of ``input_path`` into ``output_path`` (Parquet or CSV by suffix).

    The output holds the input's ``user_id`` / ``observation_date`` (when present), ``score``
    (0-100) and ``p_nsf``, in input order. Written to a temporary file and renamed at the end.

    With ``reasons=K`` (1 to the number of attribute groups) each row also gets its K reason
    codes: ``reason_1`` ... ``reason_K`` (attribute group) and ``reason_1_points`` ...
    (signed points of the 0-100 score the group accounts for; see
    :mod:`nsf.scoring._reasons`), the groups that raised the score most first.

    ``row_groups``: score only these row groups of a Parquet input (a partition of
    :mod:`nsf.scoring._partitions`); ``threads``: batches scored at once (default: the
    model's ``num_threads``).

    Returns
    -------
    dict
        ``rows``, ``seconds``, ``rows_per_s``, ``missing_values`` (cells of the model's input
        columns that are empty, scored as missing) and ``missing_by_column``; with reasons
        also ``base_score`` (the score the points are counted from).

    Raises
    ------
    NsfError
        Unreadable input, missing columns, a value of the wrong type in a numeric or date
        column, the output being the input, an unwritable output, ``reasons`` out of range,
        or a model that cannot be explained.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    explainer = None
    if reasons != 0:
        check_reasons(reasons, len(dict.fromkeys(s.group for s in fitted.features)))
    if not input_path.is_file():
        raise NsfError(f"{input_path}: no such file")
    if output_path.resolve() == input_path.resolve() or (
            output_path.exists() and output_path.samefile(input_path)):
        raise NsfError(f"{output_path}: is the input file; write the scores to another file")
    out_fmt = _format(output_path)
    try:
        in_fmt = _format(input_path)
        if in_fmt == "parquet":
            names = pq.read_schema(input_path).names
        else:
            with open(input_path, encoding="utf-8") as fh:
                names = fh.readline().strip().split(",")
    except (OSError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise NsfError(f"{input_path}: cannot read ({exc})") from None
    missing = [c for c in fitted.input_columns if c not in names]
    if missing:
        raise NsfError(f"{input_path}: missing columns {missing} the model needs")
    if reasons != 0:
        explainer = ReasonExplainer(fitted)
        group_names = pa.array(explainer.groups, pa.string())
    keys = [k for k in KEY_COLUMNS if k in names]
    columns = list(dict.fromkeys([*keys, *fitted.input_columns]))
    numeric = numeric_columns(fitted)
    missing_count = dict.fromkeys(fitted.input_columns, 0)
    tmp = output_path.with_name(output_path.name + ".tmp")
    writer = None
    rows = 0
    t0 = time.perf_counter()

    def checked(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Row numbers in messages count from the file's first row, whatever the row groups.
        first = 0 if not row_groups else sum(
            pq.ParquetFile(input_path).metadata.row_group(g).num_rows
            for g in range(min(row_groups)))
        for batch in batches:
            for name, n in check_batch(batch, numeric, input_path, first).items():
                if name in missing_count:
                    missing_count[name] += n
            first += batch.num_rows
            yield batch

    with _system_memory_pool():
        try:
            batches = checked(_batches(input_path, columns, batch_rows, row_groups))
            for batch, p, top in _scored(fitted, batches, batch_rows,
                                         threads or fitted.model_cfg.num_threads,
                                         None if explainer is None else (explainer, reasons)):
                out_columns = {
                    **{k: batch.column(k) for k in keys},
                    "score": pa.array(probability_to_score(p)),
                    "p_nsf": pa.array(p.astype(np.float32)),
                }
                if top is not None:
                    out_columns.update(_reason_arrays(top, group_names, out_fmt))
                out = pa.table(out_columns)
                if writer is None:
                    writer = (pq.ParquetWriter(tmp, out.schema) if out_fmt == "parquet"
                              else pacsv.CSVWriter(tmp, out.schema))
                writer.write_table(out)
                rows += batch.num_rows
                if progress is not None:
                    progress(batch.num_rows)
            if writer is None:  # an empty input still gives a (header-only) output
                empty = pd.DataFrame({"score": pd.Series(dtype=np.int16),
                                      "p_nsf": pd.Series(dtype=np.float32),
                                      **{name: pd.Series(dtype=np.float32 if name.endswith(
                                          "_points") else object)
                                         for name in reason_columns(reasons)}})
                schema = pa.Schema.from_pandas(empty, preserve_index=False)
                writer = (pq.ParquetWriter(tmp, schema) if out_fmt == "parquet"
                          else pacsv.CSVWriter(tmp, schema))
            writer.close()
            writer = None
            tmp.replace(output_path)
        except OSError as exc:  # reading errors were turned into NsfError by _batches
            raise NsfError(f"{output_path}: cannot write ({_first_line(exc)})") from None
        finally:
            if writer is not None:
                writer.close()
            if tmp.exists():
                tmp.unlink()
    seconds = time.perf_counter() - t0
    stats: dict[str, Any] = {
             "rows": float(rows), "seconds": seconds, "rows_per_s": rows / max(seconds, 1e-9),
             "missing_values": float(sum(missing_count.values())),
             "missing_by_column": {k: v for k, v in missing_count.items() if v}}
    if explainer is not None:
        stats["base_score"] = explainer.base_score
    return stats


def _reason_arrays(top: tuple[np.ndarray, np.ndarray], group_names: pa.Array,
                   out_fmt: str) -> dict[str, pa.Array]:
    """The reason columns of a batch: group names (dictionary-coded in Parquet) and points."""
    order, points = top
    columns: dict[str, pa.Array] = {}
    for i in range(order.shape[1]):
        codes = pa.array(order[:, i].astype(np.int32))
        names = pa.DictionaryArray.from_arrays(codes, group_names)
        columns[f"reason_{i + 1}"] = names if out_fmt == "parquet" else names.cast(pa.string())
        columns[f"reason_{i + 1}_points"] = pa.array(points[:, i].astype(np.float32))
    return columns
