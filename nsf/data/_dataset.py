"""Reading a simulated dataset folder (``manifest.json`` + Parquet parts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nsf.data._description import DatasetDescription, description_from_manifest
from nsf.data._manifest import check_dataset
from nsf.errors import NsfError

#: How a dataset is verified against its manifest when read: row counts and content checksums,
#: or row counts only (faster on large datasets; the choice is recorded with the run).
Verify = Literal["checksums", "rows"]

#: Row keys, in sort order, of the tables that have them.
SORT_KEYS = ("observation_date", "user_id")


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow table to pandas with dates as ``datetime64`` (not Python objects: fast to use)."""
    return table.to_pandas(date_as_object=False)


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by (observation_date, user_id), or by whichever of them is present."""
    keys = [k for k in SORT_KEYS if k in frame.columns]
    if not keys:
        return frame.reset_index(drop=True)
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Dataset:
    """A finished simulated dataset: its folder and validated manifest.

    Every table's row count was checked against the manifest when it was opened; with
    ``verify="checksums"`` each table's content checksum is checked the first time it is read.
    """

    path: Path
    manifest: dict = field(repr=False)
    verify: Verify = "checksums"
    #: Tables whose content checksum has been checked (filled as tables are read).
    _verified: set = field(default_factory=set, repr=False, compare=False)

    @property
    def digest(self) -> str:
        """The content digest recorded in the manifest (world config + seed)."""
        return str(self.manifest["digest"])

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.manifest["tables"])

    @property
    def observation_dates(self) -> tuple[str, ...]:
        return tuple(self.manifest.get("observation_dates", ()))

    @property
    def windows(self) -> tuple[int, ...]:
        """History windows (days) of the feed's windowed aggregates."""
        return tuple(int(w) for w in self.manifest["config"]["feed"]["windows"])

    @property
    def description(self) -> DatasetDescription:
        """The dataset description recorded in the manifest."""
        return description_from_manifest(self.manifest)

    def has(self, name: str) -> bool:
        return name in self.manifest["tables"]

    def check(self, name: str) -> None:
        """Verify a table's content checksum once (with ``verify="checksums"``; row counts were
        checked when the dataset was opened)."""
        if self.verify == "checksums" and name not in self._verified:
            check_dataset(self.path, self.manifest, tables=[name], rows=False)
            self._verified.add(name)

    def table(self, name: str, columns: Sequence[str] | None = None,
              users: np.ndarray | None = None) -> pd.DataFrame:
        """One table as a data frame sorted by (observation_date, user_id).

        ``users``: keep only the rows of these user ids (filtered file by file, so memory
        follows the rows kept, not the table).

        Raises
        ------
        NsfError
            If the table is not in the dataset, a column is missing, or a file is unreadable.
        """
        if name not in self.manifest["tables"]:
            raise NsfError(
                f"{self.path}: dataset has no table {name!r} (has: {', '.join(self.tables)})"
            )
        self.check(name)
        files = [self.path / f for f in self.manifest["tables"][name]["files"]]
        cols = None if columns is None else list(dict.fromkeys(columns))
        try:
            if cols is not None:
                schema = pq.read_schema(files[0])
                missing = [c for c in cols if c not in schema.names]
                if missing:
                    raise NsfError(f"{self.path}: table {name!r} has no columns {missing}")
            keep = None if users is None else pa.array(np.asarray(users, dtype=np.int64))
            parts = []
            for f in files:
                part = pq.read_table(f, columns=cols if cols is None or keep is None
                                     or "user_id" in cols else [*cols, "user_id"])
                if keep is not None:
                    part = part.filter(pc.is_in(part["user_id"].cast(pa.int64()), keep))
                    if cols is not None and "user_id" not in cols:
                        part = part.select(cols)
                parts.append(part)
        except (OSError, pa.ArrowInvalid) as exc:
            raise NsfError(f"{self.path}: cannot read table {name!r} ({exc})") from None
        return sort_rows(arrow_to_frame(pa.concat_tables(parts)))

    def subject_labels(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """Every user id of the ``outcomes`` table (ascending) and whether any of its rows has
        ``label`` = 1, read file by file (two small columns: flat memory per file).

        Raises
        ------
        NsfError
            If the outcomes table lacks the column or a file is unreadable.
        """
        self.check("outcomes")
        files = [self.path / f for f in self.manifest["tables"]["outcomes"]["files"]]
        ids: list[np.ndarray] = []
        positives: list[np.ndarray] = []
        try:
            for f in files:
                part = pq.read_table(f, columns=["user_id", label])
                users = part["user_id"].to_numpy().astype(np.int64)
                uniq, inverse = np.unique(users, return_inverse=True)
                pos = np.bincount(inverse, weights=part[label].to_numpy() == 1,
                                  minlength=uniq.size) > 0
                ids.append(uniq)
                positives.append(pos)
        except (OSError, pa.ArrowInvalid, KeyError) as exc:
            raise NsfError(f"{self.path}: cannot read {label!r} of table 'outcomes' "
                           f"({exc})") from None
        users, positive = np.concatenate(ids), np.concatenate(positives)
        del ids, positives
        if users.size < 2 or bool(np.all(users[1:] > users[:-1])):
            return users, positive  # one file per block of users, in order (the simulator's)
        # A user's rows may lie in several files, or the files are not in user order.
        uniq, inverse = np.unique(users, return_inverse=True)
        if uniq.size != users.size:
            users = uniq
            positive = np.bincount(inverse, weights=positive, minlength=uniq.size) > 0
        else:
            order = np.argsort(users, kind="stable")
            users, positive = users[order], positive[order]
        return users, positive


def open_dataset(path: str | Path, verify: Verify = "checksums", *,
                 signing_key: bytes | None = None) -> Dataset:
    """Open a simulated dataset folder, verifying it against its manifest.

    Parameters
    ----------
    path : the dataset folder.
    verify : ``"checksums"`` (default): every table's row count now, and each table's content
        checksum when it is first read; ``"rows"``: row counts only.
    signing_key : the dataset signing key (``DatasetConfig.signing_secret``): the manifest
        must then carry a valid signature. The manifest's own digest is checked always.

    Raises
    ------
    NsfError
        One line if the folder is missing, has no (valid) manifest, the manifest does not
        match its own digest or signature, misses a table file, or a table does not match its
        manifest (naming the table).
    """
    if verify not in ("checksums", "rows"):
        raise ValueError(f"verify must be 'checksums' or 'rows' (got {verify!r})")
    path = Path(path)
    manifest = check_dataset(path, checksums=False, signing_key=signing_key)
    for table in ("feed", "outcomes"):
        if table not in manifest["tables"]:
            raise NsfError(f"{path}: dataset has no {table!r} table")
    try:
        description_from_manifest(manifest)
    except ValueError as exc:
        raise NsfError(f"{path}: invalid dataset description in manifest.json "
                       f"({str(exc).splitlines()[0]})") from None
    return Dataset(path=path, manifest=manifest, verify=verify)
