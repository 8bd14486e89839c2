"""Reading the tables the audit needs from a dataset folder (the audit's only file access).

The folder is verified against its manifest first (row counts of every table; content
checksums of the tables read unless ``verify="rows"``), and only the files the manifest lists
are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pads

from nsf.config import IDENTIFIER_COLUMNS
from nsf.data import check_dataset
from nsf.errors import NsfError

__all__ = ["AuditTables", "read_audit_tables"]


@dataclass(frozen=True)
class AuditTables:
    """What the audit reads: the shared users table, and the auditor-only truth where present."""

    source: str
    users: pd.DataFrame
    truth_users: pd.DataFrame | None
    sensitive: pd.DataFrame | None
    manifest: dict[str, Any]


def _files(root: Path, manifest: dict, table: str) -> list[str]:
    return [str(root / f) for f in manifest["tables"][table]["files"]]


def _columns(files: list[str]) -> list[str]:
    return list(pads.dataset(files, format="parquet").schema.names)


def _read(files: list[str], columns: Sequence[str]) -> pd.DataFrame:
    table = pads.dataset(files, format="parquet").to_table(columns=list(columns))
    return table.to_pandas()


def read_audit_tables(path: str | Path, quasi_identifiers: Sequence[str], *,
                      verify: str = "checksums",
                      signing_key: bytes | None = None) -> AuditTables:
    """Read ``users`` (identifiers, quasi-identifiers, ``apple_registered``), ``truth_users``
    (plaintexts) and the ``sensitive`` columns named as quasi-identifiers.

    Raises
    ------
    NsfError
        If the folder is not a dataset (no valid ``manifest.json``), has no ``users`` table, or
        a table does not match its manifest (one line naming the table).
    """
    root = Path(path)
    if not (root / "manifest.json").is_file():
        raise NsfError(f"{root}: not a dataset (no manifest.json); run `nsf simulate` first")
    manifest = check_dataset(root, checksums=False, signing_key=signing_key)
    if "users" not in manifest["tables"]:
        raise NsfError(f"{root}: no users table (expected users/part-*.parquet)")
    if verify == "checksums":
        check_dataset(root, manifest, tables=[t for t in ("users", "truth_users", "sensitive")
                                              if t in manifest["tables"]])
    users_files = _files(root, manifest, "users")
    available = _columns(users_files)
    wanted = ["user_id", *IDENTIFIER_COLUMNS, "apple_registered", *quasi_identifiers]
    users = _read(users_files, [c for c in dict.fromkeys(wanted) if c in available])

    truth_users = None
    if "truth_users" in manifest["tables"]:
        files = _files(root, manifest, "truth_users")
        have = _columns(files)
        truth_users = _read(files, [c for c in ("user_id", "phone_plain", "email_plain")
                                    if c in have])
    sensitive = None
    from_sensitive = [c for c in quasi_identifiers if c not in available]
    if from_sensitive and "sensitive" in manifest["tables"]:
        files = _files(root, manifest, "sensitive")
        have = _columns(files)
        sensitive = _read(files, ["user_id", *[c for c in from_sensitive if c in have]])
    return AuditTables(str(root), users, truth_users, sensitive, manifest)
