"""The user's own table (``dataset.kind: table``): read and validate against its schema mapping."""

from __future__ import annotations

import codecs
import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nsf.config import TableConfig
from nsf.data._dataset import arrow_to_frame
from nsf.data._description import AttributeGroup, DatasetDescription, SensitiveColumn
from nsf.errors import NsfError

#: Cell values read as missing when ``dataset.table.na_values`` is null (after trimming spaces).
COMMON_NA_VALUES = ("", "?", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "-", "#N/A")
#: A whole or decimal number, optionally signed and with an exponent (after trimming spaces).
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INTEGER = r"^[+-]?\d+$"
#: Integer feature columns with at most this many distinct values are named as possible
#: category codes in the reading notes (only a hint: the column is still read as a number).
CATEGORY_HINT_LEVELS = 10
#: Patterns of a person's identifier in a text column: (regex, what it is).
_IDENTIFIER_PATTERNS = (
    (r"^[0-9a-fA-F]{32,128}$", "hex digests, such as hashed identifiers"),
    (r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "e-mail addresses"),
    (r"^(\+\d[\d ().-]{6,18}|\(?\d{2,4}\)?[ .-][\d*]{3,4}[ .-][\d*]{4})$", "phone numbers"),
)
#: A text column is identifier-like when this share of its values match one pattern, or when it
#: has nearly one distinct value per row (this share of its non-missing values, at least
#: ``_IDENTIFIER_MIN_ROWS`` of them).
_IDENTIFIER_SHARE = 0.9
_IDENTIFIER_MIN_ROWS = 50
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
    column that is not the id, target, time, population, sensitive, identifier or excluded)."""
    if cfg.groups is not None:
        return {g: tuple(cols) for g, cols in cfg.groups.items()}
    keys = {cfg.id_column, cfg.target_column, cfg.time_column, cfg.population_column,
            *cfg.sensitive_columns, *cfg.exclude_columns, *cfg.identifier_columns} - {None}
    return {c: (c,) for c in columns if c not in keys}


def _undecodable(path: Path, encoding: str) -> str:
    """One line naming the first physical line of ``path`` that does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as exc:
                return (f"{path}: line {number} is not valid {encoding} (byte "
                        f"0x{line[exc.start]:02x} at position {exc.start + 1}); set "
                        "dataset.table.encoding to the file's encoding (e.g. 'latin-1' or "
                        "'cp1252')")
    return f"{path}: the file is not valid {encoding}; set dataset.table.encoding"


def _read_csv(cfg: TableConfig, path: Path) -> pa.Table:
    """Every column of the CSV as text (types are decided by :func:`_typed`), after checking
    the encoding and that no column name occurs twice."""
    try:
        codecs.lookup(cfg.encoding)
    except LookupError:
        raise NsfError(f"dataset.table.encoding {cfg.encoding!r}: unknown encoding") from None
    try:
        with open(path, encoding=cfg.encoding, newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError:
        raise NsfError(_undecodable(path, cfg.encoding)) from None
    except OSError as exc:
        raise NsfError(f"{path}: cannot read as csv ({exc})") from None
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise NsfError(f"{path}: column names {dup} occur more than once in the header; give "
                       "each column its own name")
    try:
        return pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(encoding=cfg.encoding),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header}, null_values=[],
                strings_can_be_null=False))
    except (OSError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError) or "UTF8" in str(exc) or "utf-8" in str(exc):
            raise NsfError(_undecodable(path, cfg.encoding)) from None
        raise NsfError(f"{path}: cannot read as csv ({str(exc).splitlines()[0]})") from None


def _shown(values, limit: int = 5) -> str:
    """A few distinct values for a message, each cut to 20 characters."""
    uniq = list(dict.fromkeys(str(v) for v in values))
    text = ", ".join(repr(v[:20]) for v in uniq[:limit])
    return text + (f" and {len(uniq) - limit} more" if len(uniq) > limit else "")


def _typed(cfg: TableConfig, name: str, column: pa.ChunkedArray, markers: pa.Array,
           notes: list[str], path: Path, found: dict, infer: bool) -> pa.ChunkedArray:
    """A text column with missing-value markers made null, read as numbers when its values
    are numbers (all, or at least ``cfg.numeric_share`` with the rest made missing and noted),
    as booleans when they are all true/false, else as text. ``infer`` False (a typed file):
    a text column is read as numbers only when it held markers or stray non-numbers (the
    writer chose text for a column of numbers, e.g. codes with leading zeros)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    trimmed = pc.utf8_trim_whitespace(column)
    is_marker = pc.fill_null(pc.is_in(trimmed, value_set=markers), False)
    n_markers = pc.sum(is_marker).as_py() or 0
    if n_markers:
        counts = pc.value_counts(pc.filter(trimmed, is_marker))
        for value, count in zip(counts.field("values").to_pylist(),
                                counts.field("counts").to_pylist(), strict=True):
            found.setdefault(value, []).append(f"{name} ({count})")
        column = pc.if_else(is_marker, pa.scalar(None, pa.string()), column)
        trimmed = pc.if_else(is_marker, pa.scalar(None, pa.string()), trimmed)
    present = pc.drop_null(trimmed)
    if len(present) == 0:
        return column
    is_number = pc.match_substring_regex(present, _NUMBER)
    n_numbers = pc.sum(is_number).as_py() or 0
    share = n_numbers / len(present)
    if share == 1.0 and (infer or n_markers):
        if pc.all(pc.match_substring_regex(present, _INTEGER)).as_py():
            try:
                return pc.cast(trimmed, pa.int64())
            except pa.ArrowInvalid:  # beyond int64: read as a float
                pass
        return pc.cast(trimmed, pa.float64())
    if n_numbers and share >= cfg.numeric_share:
        others = pc.filter(present, pc.invert(is_number)).to_pylist()
        what = (f"column {name!r}: {len(others)} of {len(present)} values are not numbers "
                f"({_shown(others)})")
        if cfg.non_numbers == "refuse":
            raise NsfError(f"{path}: {what}; fix them, declare them in dataset.table.na_values, "
                           "or set dataset.table.non_numbers: missing")
        notes.append(f"{what}: read as numbers, those cells as missing "
                     "(dataset.table.non_numbers: refuse stops instead)")
        numbers = pc.if_else(pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False),
                             trimmed, pa.scalar(None, pa.string()))
        return pc.cast(numbers, pa.float64())
    if share == 1.0:
        return column
    lower = pc.utf8_lower(present)
    booleans = pa.array(["true", "false"])
    if infer and n_markers == 0 and pc.all(pc.is_in(lower, value_set=booleans)).as_py():
        return pc.equal(pc.utf8_lower(trimmed), "true")
    return column


def _read(cfg: TableConfig, path: Path, fmt: str, notes: list[str]) -> pd.DataFrame:
    """The file as a data frame: markers of missing values made missing, numbers read from
    text (see :func:`_typed`), with what was found appended to ``notes``."""
    if fmt == "csv":
        table = _read_csv(cfg, path)
    else:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise NsfError(f"{path}: cannot read as {fmt} ({str(exc).splitlines()[0]})") \
                from None
        dup = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
        if dup:
            raise NsfError(f"{path}: column names {dup} occur more than once; give each column "
                           "its own name")
    markers = pa.array(list(COMMON_NA_VALUES if cfg.na_values is None else cfg.na_values),
                       pa.string())
    found: dict[str, list[str]] = {}
    columns = [_typed(cfg, name, table.column(name), markers, notes, path, found,
                      infer=fmt == "csv")
               for name in table.column_names]
    if found:
        how = "declared in dataset.table.na_values" if cfg.na_values is not None else \
            "common markers; declare your own in dataset.table.na_values"
        notes.insert(0, "missing-value markers read as missing (" + how + "): " + "; ".join(
            f"{value!r} in {', '.join(cols)}" for value, cols in found.items()))
    return arrow_to_frame(pa.table(columns, names=table.column_names))


def _identifier_like(values: pd.Series) -> str | None:
    """Why a text column looks like a person's identifier, or None."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    present = values.dropna().astype(str).str.strip()
    if present.empty:
        return None
    for pattern, what in _IDENTIFIER_PATTERNS:
        if present.str.fullmatch(pattern).mean() >= _IDENTIFIER_SHARE:
            return what
    if (len(present) >= _IDENTIFIER_MIN_ROWS
            and present.nunique() >= _IDENTIFIER_SHARE * len(present)):
        return f"{present.nunique()} distinct values in {len(present)} rows"
    return None


def _category_hints(cfg: TableConfig, frame: pd.DataFrame, features: list[str],
                    notes: list[str]) -> None:
    declared = set(cfg.categorical_columns or ())
    for c in features:
        values = frame[c]
        if c in declared or not pd.api.types.is_integer_dtype(values) \
                or pd.api.types.is_bool_dtype(values):
            continue
        levels = np.unique(values.to_numpy())
        if 3 <= levels.size <= CATEGORY_HINT_LEVELS:
            notes.append(f"column {c!r}: whole numbers with {levels.size} distinct values "
                         f"({', '.join(str(v) for v in levels[:6])}"
                         f"{', ...' if levels.size > 6 else ''}), read as a number; if they "
                         "code categories, list it in dataset.table.categorical_columns")


def read_user_table(cfg: TableConfig, notes: list[str] | None = None) -> tuple[pd.DataFrame, str]:
    """Read the user's table, check it against the config, and sort it by (time, id).

    Returns
    -------
    frame, digest
        The table with the target as 0/1 ``int8`` (1 = the positive label), the time column as
        ``datetime64``, the population column as ``bool``; the SHA-256 of the file bytes (the
        dataset digest logged with runs). Cells equal to a missing-value marker
        (``dataset.table.na_values``) are missing; text columns whose values are numbers are
        numbers. ``notes`` (if given) receives one line for each thing the reading found and
        did (markers found, non-numbers read as missing, integer columns that may be codes).

    Raises
    ------
    NsfError
        One line: file missing or unreadable, declared columns missing, no feature column,
        target not binary, positive label absent, fewer than ``MIN_CLASS_ROWS`` rows of a
        class, unparseable times, a population column that is not boolean, duplicate
        (id, time) rows, no rows, bytes that do not decode, a column name used twice, a
        feature column that looks like a person's identifier, or non-numbers in a numeric
        column with ``non_numbers: refuse``.
    """
    path = cfg.path
    if not path.exists():
        raise NsfError(f"dataset.table.path {path}: no such file")
    fmt = _format(cfg)
    notes = [] if notes is None else notes
    frame = _read(cfg, path, fmt, notes)
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
    for c in features:
        why = _identifier_like(frame[c])
        if why is not None:
            raise NsfError(f"{path}: column {c!r} looks like a person's identifier ({why}); an "
                           "identifier is never a feature: list it in "
                           "dataset.table.identifier_columns (it is then left out and never "
                           "logged)")
    _category_hints(cfg, frame, features, notes)
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


def describe_table(cfg: TableConfig, frame: pd.DataFrame,
                   notes=()) -> DatasetDescription:
    """The dataset description of a table read by :func:`read_user_table`.

    Groups come from the config (or one per feature column), sensitive columns are numeric or
    categorical as found in the file, and numeric feature columns have a coarse version
    (log2 bands). ``notes``: what reading the table found (:func:`read_user_table`).
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
        outcome=outcome, population=population,
        positive_name=cfg.positive_name or "positive",
        decision=cfg.decision or "flagged as high risk", subjects=cfg.subjects or "rows",
        missing_share={c: float(frame[c].isna().mean())
                       for c in [*(c for cols in groups.values() for c in cols),
                                 *cfg.sensitive_columns]},
        reading_notes=tuple(notes))


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


def reading_summary(description: DatasetDescription) -> list[str]:
    """The lines printed before a study of a table starts: columns with missing values and
    what reading the table found (markers, numbers read from text, possible category codes)."""
    lines = []
    missing = {c: s for c, s in description.missing_share.items() if s > 0}
    if missing:
        lines.append("data: missing values in " + ", ".join(
            f"{c} {s:.1%}" for c, s in sorted(missing.items(), key=lambda kv: -kv[1])))
    elif description.door == "table":
        lines.append("data: no missing values in the feature and sensitive columns")
    lines += [f"data: {note}" for note in description.reading_notes]
    return lines


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    for file in files:
        with open(file, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()
