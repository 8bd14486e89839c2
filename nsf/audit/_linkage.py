"""Linkage: the same unsalted hash of the same identifier joins two tables.

Alipay had to match Kakao Pay's records to Apple IDs, which only works if the pseudonyms are
linkable. The audit simulates the recipient's side: Apple-registered users' phone numbers and
e-mails, hashed independently by the recipient. Without the discloser's secret the only function
the recipient can compute is unsalted SHA-256 (the case's scheme); against keyed HMAC-SHA-256 the
same join finds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsf.audit._hashing import hash_identifiers

__all__ = ["LinkageResult", "link_tables", "simulate_recipient_table"]


@dataclass(frozen=True)
class LinkageResult:
    """How many rows of a second table join the shared table.

    Attributes
    ----------
    n_rows
        Rows of the second (recipient's) table.
    n_linked
        Its rows that join at least one shared row on any identifier.
    linked_by
        Identifier column -> rows linked through it.
    n_correct
        Linked rows whose links include the right person (``None`` without ground truth).
    n_shared
        Rows of the shared table; ``n_shared_linked`` of them are reached by some link.
    """

    n_rows: int
    n_linked: int
    linked_by: dict[str, int]
    n_correct: int | None
    n_shared: int
    n_shared_linked: int

    @property
    def link_fraction(self) -> float:
        return self.n_linked / self.n_rows if self.n_rows else 0.0

    def summary(self) -> dict[str, float | int]:
        """Flat figures (the stable metric keys)."""
        out: dict[str, float | int] = {
            "link_rows": self.n_rows,
            "link_linked": self.n_linked,
            "link_fraction": self.link_fraction,
            "users_linked_fraction": self.n_shared_linked / self.n_shared if self.n_shared else 0.0,
        }
        for column, n in self.linked_by.items():
            name = f"link_fraction_{column.removesuffix('_hash')}"
            out[name] = n / self.n_rows if self.n_rows else 0.0
        if self.n_correct is not None:
            out["link_precision"] = self.n_correct / self.n_linked if self.n_linked else 0.0
        return out


def simulate_recipient_table(
    truth_users: pd.DataFrame,
    registered: pd.Series,
    *,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Series]:
    """The recipient's own table of its customers, keyed by the hashed identifiers.

    Parameters
    ----------
    truth_users
        ``user_id``, ``phone_plain`` and ``email_plain`` (canonical plaintexts).
    registered
        Boolean per ``user_id`` (index): who is the recipient's customer (e.g. Apple-registered).
    rng
        Shuffles the rows, so row order and the recipient's record ids carry nothing.

    Returns
    -------
    (table, truth)
        ``table`` has ``recipient_id``, ``phone_hash`` and ``email_hash`` (unsalted SHA-256, the
        only scheme the recipient can compute without the discloser's secret); ``truth`` maps
        ``recipient_id`` to the discloser's ``user_id`` for scoring links.
    """
    chosen = truth_users[truth_users["user_id"].map(registered).fillna(False).astype(bool)]
    chosen = chosen.iloc[rng.permutation(len(chosen))]
    recipient_id = np.arange(len(chosen), dtype=np.int64)  # in shuffled order: carries nothing
    table = pd.DataFrame(
        {
            "recipient_id": recipient_id,
            "phone_hash": _hash_or_null(chosen["phone_plain"]),
            "email_hash": _hash_or_null(chosen["email_plain"]),
        }
    )
    truth = pd.Series(chosen["user_id"].to_numpy(), index=recipient_id, name="user_id")
    return table, truth


def _hash_or_null(plain: pd.Series) -> list[str | None]:
    values = plain.tolist()
    present = [v for v in values if isinstance(v, str)]
    digests = iter(hash_identifiers(present, "sha256"))
    return [next(digests) if isinstance(v, str) else None for v in values]


def link_tables(
    shared: pd.DataFrame,
    recipient: pd.DataFrame,
    *,
    on: Sequence[str],
    shared_id: str = "user_id",
    recipient_id: str = "recipient_id",
    truth: pd.Series | None = None,
) -> LinkageResult:
    """Join the recipient's table to the shared one on each hashed identifier (exact match).

    Parameters
    ----------
    shared
        The disclosed table: ``shared_id`` and the columns in ``on``.
    recipient
        The second table: ``recipient_id`` and the columns in ``on``.
    on
        Identifier columns; a row is linked if any of them matches (nulls never match).
    truth
        Optional ``recipient_id -> shared_id`` ground truth, for the share of correct links.

    Returns
    -------
    LinkageResult
    """
    pairs = []
    linked_by: dict[str, int] = {}
    for column in on:
        left = shared[[shared_id, column]].dropna()
        right = recipient[[recipient_id, column]].dropna()
        joined = right.merge(left, on=column, how="inner")[[recipient_id, shared_id]]
        linked_by[column] = int(joined[recipient_id].nunique())
        pairs.append(joined)
    links = pd.concat(pairs, ignore_index=True).drop_duplicates()
    n_correct = None
    if truth is not None:
        expected = links[recipient_id].map(truth)
        n_correct = int(links.loc[links[shared_id] == expected, recipient_id].nunique())
    return LinkageResult(
        n_rows=len(recipient),
        n_linked=int(links[recipient_id].nunique()),
        linked_by=linked_by,
        n_correct=n_correct,
        n_shared=len(shared),
        n_shared_linked=int(links[shared_id].nunique()),
    )
