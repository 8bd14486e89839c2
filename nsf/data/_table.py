"""The user's own table (``dataset.kind: table``): read and validate against its schema mapping."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nsf.config import TableConfig
from nsf.data._dataset import arrow_to_frame
from nsf.errors import NsfError

_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


def _format(cfg: TableConfig) -> str:
    if cfg.format != "auto":
        return cfg.format
    suffix = cfg.path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq") or cfg.path.is_dir():
        return "parquet"
    raise NsfError(
        f"dataset.table.path {cfg.path}: cannot tell the format from the suffix "
        f"{suffix!r}; set dataset.table.format to 'csv' or 'parquet'"
    )


def _binary(values: pd.Series, column: str, path: Path) -> np.ndarray:
    if values.isna().any():
        raise NsfError(f"{path}: target column {column!r} has {int(values.isna().sum())} "
                       "missing values")
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.int8)
    if pd.api.types.is_numeric_dtype(values):
        uniq = set(np.unique(values.to_numpy()).tolist())
        if not uniq <= {0, 1}:
            shown = sorted(uniq)[:5]
            raise NsfError(f"{path}: target column {column!r} is not binary (values {shown}); "
                           "expected 0/1 or false/true")
        return values.to_numpy(dtype=np.int8)
    text = values.astype(str).str.strip().str.lower()
    bad = sorted(set(text.unique()) - _TRUE - _FALSE)
    if bad:
        raise NsfError(f"{path}: target column {column!r} is not binary (values {bad[:5]}); "
                       "expected 0/1 or false/true")
    return text.isin(_TRUE).to_numpy(dtype=np.int8)


def read_user_table(cfg: TableConfig) -> tuple[pd.DataFrame, str]:
    """Read the user's table, check it against the config, and sort it by (time, id).

    Returns
    -------
    frame, digest
        The table with the target as 0/1 ``int8`` and the time column as ``datetime64``; the
        SHA-256 of the file bytes (the dataset digest logged with runs).

    Raises
    ------
    NsfError
        One line: file missing or unreadable, declared columns missing, target not binary,
        unparseable times, duplicate (id, time) rows, or no rows.
    """
    path = cfg.path
    if not path.exists():
        raise NsfError(f"dataset.table.path {path}: no such file")
    fmt = _format(cfg)
    try:
        table = pacsv.read_csv(path) if fmt == "csv" else pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise NsfError(f"{path}: cannot read as {fmt} ({str(exc).splitlines()[0]})") from None
    frame = arrow_to_frame(table)
    features = [c for cols in cfg.groups.values() for c in cols]
    declared = [cfg.id_column, cfg.target_column, *([cfg.time_column] if cfg.time_column else []),
                *features, *cfg.sensitive_columns]
    missing = [c for c in dict.fromkeys(declared) if c not in frame.columns]
    if missing:
        raise NsfError(f"{path}: missing declared columns {missing} (the file has "
                       f"{len(frame.columns)} columns: {list(frame.columns)[:12]})")
    if frame.empty:
        raise NsfError(f"{path}: the table has no rows")
    frame[cfg.target_column] = _binary(frame[cfg.target_column], cfg.target_column, path)
    keys = [cfg.id_column]
    if cfg.time_column:
        try:
            frame[cfg.time_column] = pd.to_datetime(frame[cfg.time_column])
        except (ValueError, TypeError) as exc:
            raise NsfError(f"{path}: time column {cfg.time_column!r} is not a date ({exc})") \
                from None
        keys = [cfg.time_column, cfg.id_column]
    dup = frame.duplicated(keys)
    if dup.any():
        raise NsfError(f"{path}: {int(dup.sum())} duplicate rows for ({', '.join(keys)})")
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return frame, _file_digest(path)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    for file in files:
        with open(file, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
