"""Reading the tables the audit needs from a dataset folder (the audit's only file access).

Kept in one place so it can be swapped for ``nsf.data.open_dataset`` once that exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pads

from nsf.config._audit import IDENTIFIER_COLUMNS
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


def _columns(folder: Path) -> list[str]:
    return list(pads.dataset(folder, format="parquet").schema.names)


def _read(folder: Path, columns: Sequence[str]) -> pd.DataFrame:
    table = pads.dataset(folder, format="parquet").to_table(columns=list(columns))
    return table.to_pandas()


def read_audit_tables(path: str | Path, quasi_identifiers: Sequence[str]) -> AuditTables:
    """Read ``users`` (identifiers, quasi-identifiers, ``apple_registered``), ``truth_users``
    (plaintexts) and the ``sensitive`` columns named as quasi-identifiers.

    Raises
    ------
    NsfError
        If the folder is not a dataset (no ``manifest.json``) or has no ``users`` table.
    """
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise NsfError(f"{root}: not a dataset (no manifest.json); run `nsf simulate` first")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NsfError(f"{manifest_path}: cannot read ({exc})") from None
    users_dir = root / "users"
    if not users_dir.is_dir():
        raise NsfError(f"{root}: no users table (expected users/part-*.parquet)")
    available = _columns(users_dir)
    wanted = ["user_id", *IDENTIFIER_COLUMNS, "apple_registered", *quasi_identifiers]
    users = _read(users_dir, [c for c in dict.fromkeys(wanted) if c in available])

    truth_users = None
    truth_dir = root / "truth_users"
    if truth_dir.is_dir():
        have = _columns(truth_dir)
        truth_users = _read(truth_dir, [c for c in ("user_id", "phone_plain", "email_plain")
                                        if c in have])
    sensitive = None
    sensitive_dir = root / "sensitive"
    from_sensitive = [c for c in quasi_identifiers if c not in available]
    if from_sensitive and sensitive_dir.is_dir():
        have = _columns(sensitive_dir)
        sensitive = _read(sensitive_dir, ["user_id", *[c for c in from_sensitive if c in have]])
    return AuditTables(str(root), users, truth_users, sensitive, manifest)
