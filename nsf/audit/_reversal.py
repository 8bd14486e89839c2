"""Reversal: recover phone numbers from unsalted SHA-256 digests by enumerating the number space.

A Korean mobile number is ``010`` + 8 digits, so its unsalted SHA-256 is a lookup in a space of
10^8 candidates. Worker processes hash contiguous ranges of suffixes with the lane-vectorised
kernel (:mod:`nsf.audit._sha256_lanes`), keep the candidates whose digest word 7 is in the target
bitmap, and the parent confirms each candidate with :mod:`hashlib` against the full digests, so a
reported recovery is always exact.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nsf.audit._sha256_lanes import PHONE_SPACE, DigestWordFilter, phone_digest_word7
from nsf.config import ExecutionConfig
from nsf.errors import NsfError
from nsf.execution import Executor, Setup

__all__ = ["ReversalResult", "check_hex_digests", "phone_in_space", "recover_phones"]

_HEX64 = r"[0-9a-fA-F]{64}"

#: Suffixes per worker task: the progress bar's step (about 100 steps over the full space).
_TASK_SIZE = 1 << 20


def check_hex_digests(values: pd.Series, *, source: str, column: str) -> pd.Series:
    """Validate a column of SHA-256 hex digests and return it lower-cased (nulls kept).

    Parameters
    ----------
    values
        The column as read.
    source, column
        Named in the error message (file or table, and column).

    Raises
    ------
    NsfError
        If a non-null value is not 64 hexadecimal characters.
    """
    present = values.dropna()
    if present.empty:
        return values
    text = present.astype(str)
    bad = ~text.str.fullmatch(_HEX64)
    if bad.any():
        first = text[bad].iloc[0]
        shown = first if len(first) <= 20 else first[:17] + "..."
        raise NsfError(
            f"{source}: column {column!r} has {int(bad.sum())} value(s) that are not SHA-256 hex "
            f"digests (first: {shown!r}, {len(first)} chars); allowed: exactly 64 characters "
            "0-9a-f"
        )
    out = values.copy()
    out.loc[present.index] = text.str.lower()
    return out


@dataclass(frozen=True)
class ReversalResult:
    """What an enumeration of the phone space recovered.

    Attributes
    ----------
    recovered
        Target digest -> recovered plaintext phone number.
    n_targets
        Distinct target digests attacked.
    space_start, space_size
        The enumerated suffixes ``[space_start, space_start + space_size)``.
    seconds
        Wall time of the enumeration (process start-up included).
    n_candidates
        Lanes that passed the 32-bit filter and were checked with a full hash.
    workers
        Processes used.
    """

    recovered: dict[str, str] = field(repr=False)
    n_targets: int
    space_start: int
    space_size: int
    seconds: float
    n_candidates: int
    workers: int

    @property
    def n_recovered(self) -> int:
        return len(self.recovered)

    @property
    def recovered_fraction(self) -> float:
        """Share of distinct target digests whose phone number was recovered."""
        return self.n_recovered / self.n_targets if self.n_targets else 0.0

    @property
    def hashes_per_s(self) -> float:
        return self.space_size / self.seconds if self.seconds > 0 else float("inf")

    @property
    def full_space_seconds(self) -> float:
        """The time the whole 10^8 space would take at the measured rate."""
        return PHONE_SPACE / self.hashes_per_s

    def summary(self) -> dict[str, float | int]:
        """Flat figures (the stable metric keys, without prefix)."""
        return {
            "phone_targets": self.n_targets,
            "phone_recovered": self.n_recovered,
            "phone_recovered_fraction": self.recovered_fraction,
            "phone_space_start": self.space_start,
            "phone_space_size": self.space_size,
            "reversal_seconds": self.seconds,
            "hashes_per_s": self.hashes_per_s,
            "full_space_seconds_est": self.full_space_seconds,
            "reversal_candidates": self.n_candidates,
            "reversal_workers": self.workers,
        }


def _worker_filter(target_filter: DigestWordFilter) -> DigestWordFilter:
    """The worker state of the enumeration: the targets' bitmap (sent once per worker)."""
    return target_filter


def _scan(target_filter: DigestWordFilter, start: int, stop: int, chunk_size: int) -> np.ndarray:
    """Suffixes in ``[start, stop)`` whose digest word 7 passes the filter."""
    found = []
    for lo in range(start, stop, chunk_size):
        suffixes = np.arange(lo, min(lo + chunk_size, stop), dtype=np.int64)
        hits = target_filter.contains(phone_digest_word7(suffixes))
        if hits.any():
            found.append(suffixes[hits])
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _scan_task(target_filter: DigestWordFilter,
               task: tuple[int, int, int]) -> tuple[int, np.ndarray]:
    start, stop, chunk_size = task
    return stop - start, _scan(target_filter, start, stop, chunk_size)


def _tasks(start: int, stop: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + _TASK_SIZE, stop)) for lo in range(start, stop, _TASK_SIZE)]


def recover_phones(
    target_digests: Iterable[str],
    *,
    space_start: int = 0,
    space_size: int = PHONE_SPACE,
    workers: int = 1,
    chunk_size: int = 65_536,
    progress: Callable[[int], None] | None = None,
    execution: ExecutionConfig | None = None,
) -> ReversalResult:
    """Recover ``010``-numbers from unsalted SHA-256 digests by enumerating suffixes.

    Parameters
    ----------
    target_digests
        Lower-case hex digests to attack (duplicates and nulls are ignored).
    space_start, space_size
        Enumerate suffixes ``[space_start, space_start + space_size)`` of ``010`` + 8 digits;
        the whole space is ``0`` and ``10^8``.
    workers
        Processes; ``1`` runs in this process (``execution.workers`` wins when set).
    chunk_size
        Lanes hashed per numpy pass (speed only).
    progress
        Called with the number of suffixes just finished, after each task.
    execution
        The executor's config (:mod:`nsf.execution`; None: local processes).

    Returns
    -------
    ReversalResult
        Each recovery confirmed with :func:`hashlib.sha256` against the full digest.
    """
    if not 0 <= space_start < PHONE_SPACE or not 1 <= space_size <= PHONE_SPACE - space_start:
        raise ValueError(
            f"phone sub-space [{space_start}, {space_start + space_size}) is not inside "
            f"[0, {PHONE_SPACE})"
        )
    targets = {d for d in target_digests if isinstance(d, str)}
    stop = space_start + space_size
    began = time.perf_counter()
    target_filter = DigestWordFilter(sorted(targets))
    candidates: list[np.ndarray] = []
    if targets:
        # The executor's workers die with this process, at once when the run stops by an
        # exception; a local pool's start-up is timed too.
        setup = Setup(_worker_filter, (target_filter,))
        with Executor(execution, workers) as executor:
            workers = executor.workers
            for _, (done, block) in executor.map_unordered(
                    _scan_task, [(lo, hi, chunk_size) for lo, hi in _tasks(space_start, stop)],
                    setup=setup):
                candidates.append(block)
                if progress is not None:
                    progress(done)
    recovered: dict[str, str] = {}
    n_candidates = 0
    for block in candidates:
        n_candidates += int(block.size)
        for suffix in block.tolist():
            phone = f"010{suffix:08d}"
            digest = hashlib.sha256(phone.encode()).hexdigest()
            if digest in targets:
                recovered[digest] = phone
    seconds = time.perf_counter() - began
    return ReversalResult(
        recovered=recovered,
        n_targets=len(targets),
        space_start=space_start,
        space_size=space_size,
        seconds=seconds,
        n_candidates=n_candidates,
        workers=workers,
    )


def phone_in_space(phones: Sequence[str], *, space_start: int, space_size: int) -> np.ndarray:
    """Which canonical phone plaintexts fall inside the enumerated sub-space (for scoring)."""
    suffix = np.array([int(p[3:]) if p.startswith("010") else -1 for p in phones], dtype=np.int64)
    return (suffix >= space_start) & (suffix < space_start + space_size)
