"""Content checksums of a dataset's tables, recomputed from its files to check them against
its manifest (the simulator computes the same sums as it writes: ``data_gen._checksum``).

The checksums do not depend on row order, file layout or chunking.

Each row is hashed (a splitmix64 fold over its column values) and the row hashes are summed
modulo 2^64; the sum and the row count of chunks simply add up, so workers checksum their own
chunks and the total is the same for any chunking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
MASK64 = (1 << 64) - 1


def _splitmix(z: np.ndarray) -> np.ndarray:
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _strings_u64(values: np.ndarray) -> np.ndarray:
    """Hash strings by folding their UTF-8 bytes, 8 at a time, with splitmix64.

    Length-prefixed: the fold starts from the string's own byte length and stops after its
    last 8-byte lane, so a value's hash depends on that value only, never on the longest
    string beside it in the chunk (which sets the array's width).
    """
    if values.dtype.kind == "S":
        raw = values
    else:
        try:
            raw = np.asarray(values, dtype="S")  # ASCII, the fast path
        except UnicodeEncodeError:
            raw = np.asarray([str(x).encode("utf-8") for x in values], dtype="S")
    width = raw.dtype.itemsize
    # numpy's bytes dtype pads with NUL and drops trailing NULs: the length of the value.
    lengths = np.char.str_len(raw).astype(np.uint64)
    n_lanes = (lengths + np.uint64(7)) // np.uint64(8)
    pad = -width % 8
    b = np.frombuffer(raw.tobytes(), np.uint8).reshape(-1, width)
    if pad:
        b = np.concatenate([b, np.zeros((b.shape[0], pad), np.uint8)], axis=1)
    lanes = b.view(np.uint64)
    h = lengths.copy()
    for j in range(lanes.shape[1]):
        h = np.where(n_lanes > j, _splitmix(h ^ lanes[:, j]), h)
    return h


def as_u64(values: np.ndarray) -> np.ndarray:
    """A column's values as the 64-bit words its row hashes fold (strings hashed first)."""
    v = np.asarray(values)
    if v.dtype == object or v.dtype.kind in "US":
        return _strings_u64(v)
    if v.dtype.kind == "f":
        v = v.astype(np.float64)
        v = np.where(np.isnan(v), np.nan, v)  # one NaN bit pattern
        return v.view(np.uint64)
    if v.dtype.kind == "M":
        return v.astype("datetime64[D]").astype(np.int64).view(np.uint64)
    return v.astype(np.int64).view(np.uint64)


def column_salt(name: str) -> np.uint64:
    """The odd multiplier of a column in row hashes."""
    return np.uint64(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") | 1)


def rows_hash_sum(columns: Mapping[str, np.ndarray],
                  words: Mapping[str, np.ndarray] | None = None) -> tuple[int, int]:
    """``(sum of row hashes mod 2^64, row count)`` for equally long columns.

    A row's hash mixes each value through splitmix64 with a per-column odd multiplier, then
    the combination once more (cheap enough for the event log's hundreds of millions of rows).
    ``words`` may hold :func:`as_u64` of some columns, already computed.
    """
    n = 0
    acc: np.ndarray | None = None
    words = words or {}
    for name, values in sorted(columns.items()):
        v = words[name] if name in words else as_u64(values)
        term = _splitmix(v) * column_salt(name)
        if acc is None:
            n = v.size
            acc = term
        else:
            acc += term
    if acc is None or not n:
        return 0, 0
    return int(_splitmix(acc).sum(dtype=np.uint64)), int(n)


def combine(parts: list[tuple[int, int]]) -> tuple[int, int]:
    """Add chunk partials."""
    return sum(p[0] for p in parts) & MASK64, sum(p[1] for p in parts)


def _batch_columns(batch) -> dict[str, np.ndarray]:
    """A Parquet record batch's columns as the arrays the simulator hashed (dates as days)."""
    cols = {}
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        arr = col.to_numpy(zero_copy_only=False)
        if arr.dtype.kind == "M":
            arr = arr.astype("datetime64[D]")
        elif arr.dtype == object and len(arr) and not isinstance(arr[0], str):
            arr = np.asarray(arr, dtype="datetime64[D]")
        cols[name] = arr
    return cols


def file_hash_sum(path, *, batch_rows: int = 1 << 20) -> tuple[int, int]:
    """``(sum of row hashes mod 2^64, rows)`` of one Parquet file, read in batches of
    ``batch_rows`` (any batching gives the same result)."""
    import pyarrow.parquet as pq

    return combine([rows_hash_sum(_batch_columns(batch)) for batch in
                    pq.ParquetFile(path).iter_batches(batch_size=batch_rows)])


def digest(table: str, total: tuple[int, int]) -> str:
    """The table's checksum string as written in the manifest."""
    return hashlib.sha256(f"{table}:{total[1]}:{total[0]:016x}".encode()).hexdigest()
