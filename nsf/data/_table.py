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
from nsf.data._description import AttributeGroup, DatasetDescription, SensitiveColumn
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


#: Fewer rows than this in either target class and the study cannot estimate anything.
MIN_CLASS_ROWS = 20


def _label_text(value) -> str:
    return str(value).strip()


def _check_levels(observed: list, wanted, positive, column: str, path) -> None:
    """A binary target has at most two values (``observed``, sorted), one of them ``wanted``
    (the positive label ``positive`` as the column holds it); otherwise one line."""
    if len(observed) > 2:
        raise NsfError(f"{path}: target column {column!r} has {len(observed)} values "
                       f"({observed[:5]}...); a binary target has two")
    if wanted not in observed:
        raise NsfError(f"{path}: dataset.table.positive_label {positive!r} does not occur "
                       f"in target column {column!r} (values {observed})")


def _numeric_target(values: pd.Series, number, positive, column: str, path) -> np.ndarray:
    """A numeric target column as 0/1, ``number`` being the positive label ``positive`` as a
    number."""
    _check_levels(sorted(np.unique(values.to_numpy()).tolist()), number, positive, column, path)
    return (values.to_numpy() == number).astype(np.int8)


def _binary(values: pd.Series, column: str, path: Path, positive) -> np.ndarray:
    """The target as 0/1: ``positive`` (the configured label) is 1, the one other value is 0."""
    if values.isna().any():
        raise NsfError(f"{path}: target column {column!r} has {int(values.isna().sum())} "
                       "missing values")
    if positive is None:
        if pd.api.types.is_bool_dtype(values):
            return values.to_numpy(dtype=np.int8)
        if pd.api.types.is_numeric_dtype(values):
            uniq = set(np.unique(values.to_numpy()).tolist())
            if not uniq <= {0, 1}:
                shown = sorted(uniq)[:5]
                raise NsfError(f"{path}: target column {column!r} is not 0/1 (values {shown}); "
                               "set dataset.table.positive_label to the value meaning the "
                               "outcome happened")
            return values.to_numpy(dtype=np.int8)
        text = values.astype(str).str.strip().str.lower()
        bad = sorted(set(text.unique()) - _TRUE - _FALSE)
        if bad:
            raise NsfError(f"{path}: target column {column!r} is not 0/1 or false/true (values "
                           f"{bad[:5]}); set dataset.table.positive_label to the value meaning "
                           "the outcome happened")
        return text.isin(_TRUE).to_numpy(dtype=np.int8)
    if pd.api.types.is_bool_dtype(values):
        text = values.map({True: "true", False: "false"})
        wanted = _label_text(positive).lower()
    elif pd.api.types.is_numeric_dtype(values) and not isinstance(positive, str | bool):
        return _numeric_target(values, positive, positive, column, path)
    else:
        text = values.astype(str).str.strip()
        wanted = _label_text(positive)
        if pd.api.types.is_numeric_dtype(values):
            # A label written as text ('1') for a numeric column: compare as numbers.
            try:
                number = float(wanted)
            except ValueError:
                number = None
            if number is not None:
                return _numeric_target(values, number, positive, column, path)
    _check_levels(sorted(set(text.unique())), wanted, positive, column, path)
    return (text == wanted).to_numpy(dtype=np.int8)


def feature_columns(cfg: TableConfig, columns) -> dict[str, tuple[str, ...]]:
    """Attribute groups of the table: the declared ones, or one group per feature column (every
    column that is not the id, target, time, population, sensitive or excluded)."""
    if cfg.groups is not None:
        return {g: tuple(cols) for g, cols in cfg.groups.items()}
    keys = {cfg.id_column, cfg.target_column, cfg.time_column, cfg.population_column,
            *cfg.sensitive_columns, *cfg.exclude_columns} - {None}
    return {c: (c,) for c in columns if c not in keys}


def read_user_table(cfg: TableConfig) -> tuple[pd.DataFrame, str]:
    """Read the user's table, check it against the config, and sort it by (time, id).

    Returns
    -------
    frame, digest
        The table with the target as 0/1 ``int8`` (1 = the positive label), the time column as
        ``datetime64``, the population column as ``bool``; the SHA-256 of the file bytes (the
        dataset digest logged with runs).

    Raises
    ------
    NsfError
        One line: file missing or unreadable, declared columns missing, no feature column,
        target not binary, positive label absent, fewer than ``MIN_CLASS_ROWS`` rows of a
        class, unparseable times, a population column that is not boolean, duplicate
        (id, time) rows, or no rows.
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
    groups = feature_columns(cfg, frame.columns)
    features = [c for cols in groups.values() for c in cols]
    declared = [*([cfg.id_column] if cfg.id_column else []), cfg.target_column,
                *([cfg.time_column] if cfg.time_column else []),
                *([cfg.population_column] if cfg.population_column else []),
                *features, *cfg.sensitive_columns, *cfg.exclude_columns]
    missing = [c for c in dict.fromkeys(declared) if c not in frame.columns]
    if missing:
        raise NsfError(f"{path}: missing declared columns {missing} (the file has "
                       f"{len(frame.columns)} columns: {list(frame.columns)[:12]})")
    if not features:
        raise NsfError(f"{path}: no feature column left (every column is the id, target, time, "
                       "population, sensitive or excluded)")
    if cfg.contested_groups is not None:
        unknown = sorted(set(cfg.contested_groups) - set(groups))
        if unknown:
            raise NsfError(f"dataset.table.contested_groups: unknown groups {unknown} (groups: "
                           f"{', '.join(list(groups)[:12])})")
    if frame.empty:
        raise NsfError(f"{path}: the table has no rows")
    y = _binary(frame[cfg.target_column], cfg.target_column, path, cfg.positive_label)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if min(n_pos, n_neg) < MIN_CLASS_ROWS:
        raise NsfError(f"{path}: target column {cfg.target_column!r} has {n_pos} positive and "
                       f"{n_neg} negative rows; each class needs at least {MIN_CLASS_ROWS}")
    frame[cfg.target_column] = y
    if cfg.population_column:
        frame[cfg.population_column] = _binary(
            frame[cfg.population_column], cfg.population_column, path, None).astype(bool)
    keys = [cfg.id_column] if cfg.id_column else []
    if cfg.time_column:
        try:
            frame[cfg.time_column] = pd.to_datetime(frame[cfg.time_column])
        except (ValueError, TypeError) as exc:
            raise NsfError(f"{path}: time column {cfg.time_column!r} is not a date ({exc})") \
                from None
        keys = [cfg.time_column, *keys]
    if cfg.id_column:
        dup = frame.duplicated(keys)
        if dup.any():
            raise NsfError(f"{path}: {int(dup.sum())} duplicate rows for ({', '.join(keys)})")
    if keys:
        frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return frame, _file_digest(path)


def describe_table(cfg: TableConfig, frame: pd.DataFrame) -> DatasetDescription:
    """The dataset description of a table read by :func:`read_user_table`.

    Groups come from the config (or one per feature column), sensitive columns are numeric or
    categorical as found in the file, and numeric feature columns have a coarse version
    (log2 bands).
    """
    groups = feature_columns(cfg, frame.columns)
    contested = set(groups) if cfg.contested_groups is None else set(cfg.contested_groups)
    categorical = _categorical(cfg, frame, groups)
    sensitive = []
    for c in cfg.sensitive_columns:
        numeric = (pd.api.types.is_numeric_dtype(frame[c])
                   and not pd.api.types.is_bool_dtype(frame[c])
                   and frame[c].nunique(dropna=True) > cfg.sensitive_bands)
        sensitive.append(SensitiveColumn(name=c, kind="numeric" if numeric else "categorical",
                                         bands=cfg.sensitive_bands if numeric else None))
    positive = cfg.positive_label if cfg.positive_label is not None else 1
    outcome = cfg.outcome or f"the {cfg.target_column} column equals {positive}"
    population = (f"rows where {cfg.population_column} is true" if cfg.population_column
                  else "every row")
    return DatasetDescription(
        door="table", id_column=cfg.id_column, target_column=cfg.target_column,
        positive_label=positive, time_column=cfg.time_column,
        population_column=cfg.population_column,
        groups=tuple(AttributeGroup(
            name=g, columns=cols, contested=g in contested,
            meaning="declared in dataset.table.groups" if cfg.groups is not None
            else f"the {cols[0]} column",
            coarse=any(c not in categorical for c in cols)) for g, cols in groups.items()),
        sensitive=tuple(sensitive), rare_level_rows=cfg.rare_level_rows, windows=(),
        outcome=outcome, population=population)


def _categorical(cfg: TableConfig, frame: pd.DataFrame,
                 groups: dict[str, tuple[str, ...]]) -> set[str]:
    features = [c for cols in groups.values() for c in cols]
    if cfg.categorical_columns is not None:
        return set(cfg.categorical_columns)
    return {c for c in features if not (pd.api.types.is_numeric_dtype(frame[c])
                                        or pd.api.types.is_bool_dtype(frame[c]))}


def categorical_columns(cfg: TableConfig, frame: pd.DataFrame) -> set[str]:
    """Feature columns integer-coded as categories (declared, or text and boolean columns)."""
    return _categorical(cfg, frame, feature_columns(cfg, frame.columns))


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    for file in files:
        with open(file, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
