"""The audit: reversal, linkage and quasi-identifiers on the shared tables, and the counterfactual.

:func:`run_audit` takes frames and returns a JSON-ready dict; it reads no files and logs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from nsf.audit._hashing import hash_identifiers
from nsf.audit._linkage import link_tables, simulate_recipient_table
from nsf.audit._quasi import coarsen, k_anonymity
from nsf.audit._reversal import ReversalResult, check_hex_digests, phone_in_space, recover_phones
from nsf.config import IDENTIFIER_COLUMNS, AuditConfig, ExecutionConfig
from nsf.errors import NsfError

__all__ = ["ProgressFactory", "run_audit"]

#: Given a task description and its total, returns a callback taking the amount just done.
ProgressFactory = Callable[[str, int], Callable[[int], None]]

COUNTERFACTUAL_SCHEME = "hmac-sha256"


def _check_users(users: pd.DataFrame, source: str) -> pd.DataFrame:
    present = [c for c in IDENTIFIER_COLUMNS if c in users.columns]
    if not present:
        raise NsfError(
            f"{source}: users table has no identifier columns; allowed: "
            f"{', '.join(IDENTIFIER_COLUMNS)} (hex SHA-256 digests)"
        )
    if "user_id" not in users.columns:
        raise NsfError(f"{source}: users table has no 'user_id' column")
    out = users.copy()
    for column in present:
        out[column] = check_hex_digests(out[column], source=f"{source} users", column=column)
    return out


def _quasi_frame(
    users: pd.DataFrame, sensitive: pd.DataFrame | None, columns: tuple[str, ...], source: str
) -> pd.DataFrame:
    frame = users[["user_id", *[c for c in columns if c in users.columns]]]
    missing = [c for c in columns if c not in frame.columns]
    if missing and sensitive is not None:
        take = [c for c in missing if c in sensitive.columns]
        frame = frame.merge(sensitive[["user_id", *take]], on="user_id", how="left")
        missing = [c for c in missing if c not in take]
    if missing:
        raise NsfError(
            f"{source}: quasi-identifier column(s) {', '.join(missing)} not in the users or "
            f"sensitive tables; set audit.quasi_identifiers to columns they hold"
        )
    return frame[list(columns)]


def _reversal_report(
    result: ReversalResult, shared_hashes: pd.Series, truth_phone: pd.Series | None
) -> dict[str, Any]:
    out: dict[str, Any] = dict(result.summary())
    if truth_phone is None:
        return out
    # Scored against the ground truth: the sub-space only holds some numbers, and each recovery
    # must name the right person's number.
    pairs = pd.DataFrame({"digest": shared_hashes, "phone": truth_phone}).dropna()
    pairs = pairs.drop_duplicates("digest")
    in_space = phone_in_space(
        pairs["phone"].tolist(), space_start=result.space_start, space_size=result.space_size
    )
    got = pairs["digest"].map(result.recovered)
    n_in_space = int(in_space.sum())
    out["phone_in_space_fraction"] = n_in_space / len(pairs) if len(pairs) else 0.0
    out["phone_recovered_in_space_fraction"] = (
        int(got[in_space].notna().sum()) / n_in_space if n_in_space else 0.0
    )
    n_got = int(got.notna().sum())
    out["phone_recovery_correct_fraction"] = (
        int((got == pairs["phone"]).sum()) / n_got if n_got else 0.0
    )
    return out


def _attack(
    shared: pd.DataFrame,
    recipient: pd.DataFrame | None,
    recipient_truth: pd.Series | None,
    truth_phone: pd.Series | None,
    cfg: AuditConfig,
    progress: ProgressFactory | None,
    label: str,
    execution: ExecutionConfig | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    if "phone_hash" in shared.columns:
        advance = (
            progress(f"{label}: enumerating 010 numbers", cfg.phone_space_size)
            if progress is not None else None
        )
        result = recover_phones(
            shared["phone_hash"].dropna().unique().tolist(),
            space_start=cfg.phone_space_start,
            space_size=cfg.phone_space_size,
            workers=cfg.workers,
            chunk_size=cfg.chunk_size,
            execution=execution,
            progress=advance,
        )
        report["reversal"] = _reversal_report(result, shared["phone_hash"], truth_phone)
    if recipient is not None:
        on = [c for c in IDENTIFIER_COLUMNS if c in shared.columns]
        report["linkage"] = link_tables(
            shared, recipient, on=on, truth=recipient_truth
        ).summary()
    return report


def run_audit(
    users: pd.DataFrame,
    cfg: AuditConfig,
    *,
    rng: np.random.Generator,
    truth_users: pd.DataFrame | None = None,
    sensitive: pd.DataFrame | None = None,
    source: str = "dataset",
    progress: ProgressFactory | None = None,
    execution: ExecutionConfig | None = None,
) -> dict[str, Any]:
    """Measure what the shared identifiers and attributes give away, and what HMAC would hold.

    Parameters
    ----------
    users
        The shared users table: ``user_id``, hex ``phone_hash``/``email_hash``, the
        quasi-identifiers and ``apple_registered``.
    cfg
        The audit settings.
    rng
        Draws the counterfactual's secret key and shuffles the recipient's table.
    truth_users
        Auditor-only plaintexts (``user_id``, ``phone_plain``, ``email_plain``): needed for
        linkage (the recipient's own copy of the identifiers), the counterfactual and scoring
        recoveries. Without it those parts are left out of the result.
    sensitive
        Demographics, used only for quasi-identifiers named in ``cfg`` that the users table lacks.
    source
        Named in error messages.
    progress
        Optional progress-bar factory (see :data:`ProgressFactory`).
    execution
        Where the enumeration shards run (:mod:`nsf.execution`; None: ``cfg.workers`` local
        processes).

    Returns
    -------
    dict
        ``metrics`` (flat, stable keys), and per part ``reversal``, ``linkage``, ``quasi`` and
        ``counterfactual`` details; JSON-serialisable.

    Raises
    ------
    NsfError
        No identifier columns, malformed digests, or unknown quasi-identifier columns.
    """
    shared = _check_users(users, source)
    quasi_raw = _quasi_frame(shared, sensitive, cfg.quasi_identifiers, source)

    truth_phone = recipient = recipient_truth = None
    if truth_users is not None:
        plain = shared[["user_id"]].merge(truth_users, on="user_id", how="left")
        truth_phone = pd.Series(plain["phone_plain"].to_numpy(), index=shared.index)
        if "apple_registered" in shared.columns:
            registered = shared.set_index("user_id")["apple_registered"]
            recipient, recipient_truth = simulate_recipient_table(
                truth_users, registered, rng=rng
            )

    report = _attack(shared, recipient, recipient_truth, truth_phone, cfg, progress, "sha256",
                     execution)

    quasi_coarse = coarsen(quasi_raw, cfg.coarsen)
    raw, coarse = k_anonymity(quasi_raw), k_anonymity(quasi_coarse)
    report["quasi"] = {
        "columns": list(raw.columns),
        "coarsened_columns": list(coarse.columns),
        "coarsening": [rule.model_dump() for rule in cfg.coarsen],
        "raw": raw.summary(),
        "coarse": coarse.summary("_coarse"),
    }

    if cfg.counterfactual and truth_users is not None:
        # The discloser's secret: drawn here, used once, never returned or logged.
        key = rng.bytes(32)
        keyed = shared[["user_id"]].merge(truth_users, on="user_id", how="left")
        counterfactual = pd.DataFrame({"user_id": keyed["user_id"].to_numpy()}, index=shared.index)
        for column, plain_column in (("phone_hash", "phone_plain"), ("email_hash", "email_plain")):
            if column in shared.columns and plain_column in keyed.columns:
                counterfactual[column] = _keyed(keyed[plain_column], key)
        attacked = _attack(
            counterfactual, recipient, recipient_truth, truth_phone, cfg, progress,
            COUNTERFACTUAL_SCHEME, execution,
        )
        report["counterfactual"] = {"scheme": COUNTERFACTUAL_SCHEME, **attacked}

    report["metrics"] = _flat_metrics(report)
    return _plain(report)


def _keyed(plain: pd.Series, key: bytes) -> list[str | None]:
    values = plain.tolist()
    present = [v for v in values if isinstance(v, str)]
    digests = iter(hash_identifiers(present, COUNTERFACTUAL_SCHEME, key))
    return [next(digests) if isinstance(v, str) else None for v in values]


def _flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for part in ("reversal", "linkage"):
        metrics.update(report.get(part, {}))
    metrics.update(report["quasi"]["raw"])
    metrics.update(report["quasi"]["coarse"])
    for part in ("reversal", "linkage"):
        for key, value in report.get("counterfactual", {}).get(part, {}).items():
            metrics[f"hmac_{key}"] = value
    return {k: float(v) for k, v in metrics.items()}


def _plain(value: Any) -> Any:
    """numpy scalars and tuples to JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
