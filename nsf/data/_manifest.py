"""Reading a simulated dataset's folder: its manifest, checked against its own digest (and
signature), its summary and its tables' row counts and content checksums.

This is the reading side of the dataset format the simulator writes (``data_gen.dataset``);
``nsf`` reads a dataset only through it and the description its manifest carries. A format
other than :data:`FORMAT` is refused with the hint to rebuild the dataset.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from nsf.data._checksum import combine, digest, file_hash_sum
from nsf.errors import NsfError

__all__ = ["FORMAT", "check_dataset", "read_manifest", "read_summary"]

#: The dataset format this version reads (``data_gen.dataset.FORMAT`` writes it).
FORMAT = "nsf-dataset/5"


def _canonical(payload: dict) -> bytes:
    """The bytes a seal covers: the JSON of everything but the seal, keys sorted, no spaces."""
    body = {k: v for k, v in payload.items() if k != "integrity"}
    # Through JSON once first: what is sealed before writing equals what is read back (tuples
    # become lists, non-string keys strings, and then sort the same way).
    body = json.loads(json.dumps(body))
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _seal(manifest: dict, signing_key: bytes | None) -> dict:
    """The ``integrity`` entry of a manifest (or a chunk record): the SHA-256 of everything
    else in it, and its HMAC-SHA256 under ``signing_key`` (None without a key).

    The plain digest catches edits and corruption; anyone can recompute it after an edit. The
    keyed signature can only be recomputed by whoever holds the key, so a reader given the
    key catches that too.
    """
    blob = _canonical(manifest)
    return {"sha256": hashlib.sha256(blob).hexdigest(),
            "hmac_sha256": (None if signing_key is None
                            else hmac.new(signing_key, blob, hashlib.sha256).hexdigest())}


def check_seal(payload: dict, where: Path, signing_key: bytes | None) -> None:
    """Check ``payload["integrity"]`` against the payload (and the key, if given).

    Raises
    ------
    NsfError
        One line naming ``where``: no seal, a digest that does not match (an edit), no
        signature while a key is set, or a signature that does not match the key.
    """
    seal = payload.get("integrity")
    if not isinstance(seal, dict) or not isinstance(seal.get("sha256"), str):
        raise NsfError(f"{where}: corrupt manifest (missing 'integrity'); rebuild it with "
                         "`nsf simulate --force`")
    expected = _seal(payload, signing_key)
    if not hmac.compare_digest(seal["sha256"], expected["sha256"]):
        raise NsfError(f"{where}: does not match its own digest; it was changed after the "
                         "dataset was written; rebuild it with `nsf simulate --force`")
    if signing_key is None:
        return
    signature = seal.get("hmac_sha256")
    if not isinstance(signature, str):
        raise NsfError(f"{where}: not signed, but a dataset signing key is set "
                         "(dataset.signing_key); rebuild it with the key: "
                         "`nsf simulate --force`")
    if not hmac.compare_digest(signature, expected["hmac_sha256"]):
        raise NsfError(f"{where}: its signature does not match the dataset signing key "
                         "(changed after it was signed, or signed with another key)")


def read_manifest(path: Path, signing_key: bytes | None = None) -> dict:
    """The manifest of a finished dataset, checked against its own digest (and signature when
    ``signing_key`` is given); :class:`NsfError` if the folder is not one or the manifest
    does not vouch for itself."""
    path = Path(path)
    mpath = path / "manifest.json"
    if not path.is_dir():
        raise NsfError(f"{path}: no such dataset folder")
    if not mpath.is_file():
        raise NsfError(f"{path}: not a finished dataset (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NsfError(f"{mpath}: corrupt manifest ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith(
            "nsf-dataset/"):
        raise NsfError(f"{mpath}: not an nsf dataset manifest (expected format {FORMAT!r})")
    if manifest["format"] != FORMAT:
        raise NsfError(f"{path}: written in the older format {manifest['format']!r} (now "
                         f"{FORMAT!r}); rebuild it with `nsf simulate --force`")
    check_seal(manifest, mpath, signing_key)
    for key in ("rows", "checksums", "tables", "digest", "seed", "config", "summary_sha256"):
        if key not in manifest:
            raise NsfError(f"{mpath}: corrupt manifest (missing {key!r})")
    for table, info in manifest["tables"].items():
        for f in info["files"]:
            if not (path / f).is_file():
                raise NsfError(f"{path}: corrupt dataset (table {table!r} misses {f})")
    return manifest


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_summary(path: Path, manifest: dict | None = None) -> dict:
    """The dataset's ``summary.json`` (targets against achieved rates), checked against the
    SHA-256 its manifest records.

    Raises
    ------
    NsfError
        One line when the summary is missing, unreadable or changed after the build.
    """
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    spath = path / "summary.json"
    try:
        digest = _file_sha256(spath)
    except OSError as exc:
        raise NsfError(f"{spath}: unreadable ({exc.__class__.__name__})") from None
    if digest != manifest["summary_sha256"]:
        raise NsfError(f"{spath}: does not match the checksum in its manifest; "
                         f"{_rebuild_hint()}")
    return json.loads(spath.read_text(encoding="utf-8"))


def table_checksum(path: Path, manifest: dict, table: str, *,
                   batch_rows: int = 1 << 20) -> tuple[int, int]:
    """``(sum of row hashes mod 2^64, rows)`` of a table, recomputed from its files in batches
    of ``batch_rows`` (any batching gives the same result)."""
    return combine([file_hash_sum(Path(path) / f, batch_rows=batch_rows)
                              for f in manifest["tables"][table]["files"]])


def table_rows(path: Path, manifest: dict, table: str) -> int:
    """Rows of a table as its Parquet footers state them (cheap: no data is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(Path(path) / f).metadata.num_rows
               for f in manifest["tables"][table]["files"])


def _rebuild_hint() -> str:
    return "the files were changed after the dataset was written; rebuild it with " \
           "`nsf simulate --force`"


def check_dataset(path: Path, manifest: dict | None = None, *, tables=None,
                  checksums: bool = True, rows: bool = True,
                  batch_rows: int = 1 << 20, signing_key: bytes | None = None) -> dict:
    """Verify a dataset against its manifest: every table's row count (from the Parquet
    footers) when ``rows``, and the content checksum of ``tables`` (default: all) when
    ``checksums``. The manifest itself is checked when it is read here (``manifest`` None),
    with its signature when ``signing_key`` is given.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    NsfError
        One line naming the first table that does not match, or the unreadable file.
    """
    import pyarrow as pa

    path = Path(path)
    manifest = read_manifest(path, signing_key) if manifest is None else manifest
    names = list(manifest["tables"]) if tables is None else list(tables)
    for table in manifest["tables"]:
        if table not in manifest["rows"] or table not in manifest["checksums"]:
            raise NsfError(f"{path}: corrupt manifest (table {table!r} has no row count or "
                             "checksum)")
        if not rows:
            continue
        try:
            counted = table_rows(path, manifest, table)
        except (OSError, pa.ArrowInvalid) as exc:
            raise NsfError(f"{path}: table {table!r} is unreadable "
                             f"({str(exc).splitlines()[0]})") from None
        if counted != manifest["rows"][table]:
            raise NsfError(f"{path}: table {table!r} has {counted:,} rows but its manifest says "
                             f"{manifest['rows'][table]:,}; {_rebuild_hint()}")
    read_summary(path, manifest)
    if checksums:
        for table in names:
            try:
                total = table_checksum(path, manifest, table, batch_rows=batch_rows)
            except (OSError, pa.ArrowInvalid) as exc:
                raise NsfError(f"{path}: table {table!r} is unreadable "
                                 f"({str(exc).splitlines()[0]})") from None
            if digest(table, total) != manifest["checksums"][table]:
                raise NsfError(f"{path}: table {table!r} does not match the content checksum "
                                 f"in its manifest; {_rebuild_hint()}")
    return manifest
