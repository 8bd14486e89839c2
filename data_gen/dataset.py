"""Build a dataset folder: chunks (in parallel), then ``summary.json``, then ``manifest.json``.

Layout of ``<data_dir>/<name>-<digest8>/``: one folder per table of Parquet parts, the summary,
and the manifest, which is written last and atomically. Work in progress lives in a sibling
``.partial`` folder; finished chunks there are kept, so an interrupted build resumes where it
stopped. A folder without a valid manifest is never read as a dataset.

The manifest vouches for itself: its ``integrity`` entry holds the SHA-256 of everything else in
it (config, description, seed, observation dates, rows, checksums, files, the summary's digest),
and, when the dataset was built with a signing key, an HMAC-SHA256 of the same bytes. Every
reader checks it (:func:`read_manifest`) before using anything the manifest says.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import math
import os
import shutil
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import as_completed
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from boundpool import process_pool
from data_gen import _checksum
from data_gen.config import BLOCK_USERS, WorldConfig
from data_gen.errors import WorldError
from data_gen.features import coarse_bands, feed_features, shared_categories
from data_gen.simulate import (
    TABLES,
    ChunkTask,
    calibrate_base_rate,
    check_chunk,
    run_chunk,
    write_json_atomic,
)

#: 2: string values checksummed length-prefixed (format 1 hashed them at the chunk's width).
#: 3: the manifest also holds the SHA-256 of ``summary.json`` (the achieved calibration).
#: 4: the manifest holds its own digest (and optional keyed signature): ``integrity``. Older
#: manifests are refused, not trusted: one without a digest cannot be told from one whose
#: digest was deleted after an edit (a rebuild with ``--force`` writes the new format).
#: 5: the description says what every feed column is (its features, their groups, categories
#: and coarse versions, the bands of those), so that ``nsf`` reads nothing of the simulator.
FORMAT = "nsf-dataset/5"
_MARKER = "_build.json"

#: Attribute groups of the shared feed (the unit the study drops, keeps or coarsens).
#: [ASSUMPTION] Contested groups are those the regulators named as personal data sent beyond
#: need; uncontested: Apple's own charge history, whether Kakao Pay is the App Store method, and
#: the funding settings that say directly whether a charge can be covered.
FEED_GROUPS: tuple[dict, ...] = (
    {"name": "account_identifiers", "contested": True,
     "meaning": "Customer number and Kakao account ID (hashed): only the ID's kind is derived."},
    {"name": "email", "contested": True,
     "meaning": "E-mail: the domain of the masked e-mail (the hash is unusable)."},
    {"name": "phone", "contested": True,
     "meaning": "Phone: the carrier of the number verified at sign-up."},
    {"name": "join_date", "contested": True, "meaning": "Kakao Pay join date and account tenure."},
    {"name": "id_verification", "contested": True,
     "meaning": "Whether the account is ID-card verified."},
    {"name": "signup", "contested": True, "meaning": "Sign-up channel."},
    {"name": "cards", "contested": True, "meaning": "Number of registered payment cards."},
    {"name": "balance", "contested": True, "meaning": "Pay Money balance and balance history."},
    {"name": "topups", "contested": True, "meaning": "Top-up counts and amounts."},
    {"name": "payments", "contested": True,
     "meaning": "Merchant payment counts, amounts and declines."},
    {"name": "transfers", "contested": True, "meaning": "P2P transfer counts and amounts."},
    {"name": "withdrawals", "contested": True, "meaning": "Withdrawals to the bank."},
    {"name": "payment_settings", "contested": False,
     "meaning": "Linked bank account and automatic top-up."},
    {"name": "apple_billing", "contested": False,
     "meaning": "Whether Kakao Pay is the user's App Store method."},
    {"name": "appstore_history", "contested": False,
     "meaning": "Apple's own grouped charges settled by Kakao Pay."},
)

#: Protected attributes of the ``sensitive`` table, by their own names (fairness only).
SENSITIVE_COLUMNS: tuple[str, ...] = ("age_band", "gender", "nationality", "region", "device_os")


def dataset_description(world: WorldConfig) -> dict:
    """The dataset description written into the manifest (a plain dict; ``nsf.data``
    validates it as its ``DatasetDescription``): subject id, target and positive label, time
    and population columns, attribute groups, sensitive columns, windows, outcome wording."""
    return {
        "schema": "nsf.dataset-description/1",
        "door": "simulated",
        "id_column": "user_id",
        "target_column": "nsf_appstore",
        "positive_label": 1,
        "time_column": "observation_date",
        "population_column": "apple_registered",
        "proxy_label_column": "nsf_any",
        "groups": [dict(g) for g in FEED_GROUPS],
        "sensitive": [{"name": c, "kind": "categorical"} for c in SENSITIVE_COLUMNS],
        "rare_level_rows": 0,
        "windows": [int(w) for w in world.feed.windows],
        "outcome": f"a grouped App Store charge fails within {world.calendar.horizon_days} days",
        "population": "Apple-registered users",
        "features": feed_features(world.feed.windows, world.feed.format),
        "categories": shared_categories(),
        "coarse_bands": coarse_bands(),
    }


def package_version() -> str:
    try:
        return version("nsf")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def world_digest(world: WorldConfig, seed: int, hmac_key: bytes | None) -> str:
    """Digest of what determines the content (the secret enters only as its own hash)."""
    base = world.digest(seed)
    if hmac_key is None:
        return base
    return hashlib.sha256((base + hashlib.sha256(hmac_key).hexdigest()).encode()).hexdigest()


def dataset_path(data_dir: Path, name: str, digest: str) -> Path:
    return Path(data_dir) / f"{name}-{digest[:8]}"


def lock_file(folder: Path) -> Path:
    """The file lock of a dataset folder's build: hidden, beside it (``.<name>.lock``)."""
    return folder.with_name(f".{folder.name}.lock")


def _canonical(payload: dict) -> bytes:
    """The bytes a seal covers: the JSON of everything but the seal, keys sorted, no spaces."""
    body = {k: v for k, v in payload.items() if k != "integrity"}
    # Through JSON once first: what is sealed before writing equals what is read back (tuples
    # become lists, non-string keys strings, and then sort the same way).
    body = json.loads(json.dumps(body))
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal_manifest(manifest: dict, signing_key: bytes | None) -> dict:
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
    WorldError
        One line naming ``where``: no seal, a digest that does not match (an edit), no
        signature while a key is set, or a signature that does not match the key.
    """
    seal = payload.get("integrity")
    if not isinstance(seal, dict) or not isinstance(seal.get("sha256"), str):
        raise WorldError(f"{where}: corrupt manifest (missing 'integrity'); rebuild it with "
                         "`nsf simulate --force`")
    expected = seal_manifest(payload, signing_key)
    if not hmac.compare_digest(seal["sha256"], expected["sha256"]):
        raise WorldError(f"{where}: does not match its own digest; it was changed after the "
                         "dataset was written; rebuild it with `nsf simulate --force`")
    if signing_key is None:
        return
    signature = seal.get("hmac_sha256")
    if not isinstance(signature, str):
        raise WorldError(f"{where}: not signed, but a dataset signing key is set "
                         "(dataset.signing_key); rebuild it with the key: "
                         "`nsf simulate --force`")
    if not hmac.compare_digest(signature, expected["hmac_sha256"]):
        raise WorldError(f"{where}: its signature does not match the dataset signing key "
                         "(changed after it was signed, or signed with another key)")


def read_manifest(path: Path, signing_key: bytes | None = None) -> dict:
    """The manifest of a finished dataset, checked against its own digest (and signature when
    ``signing_key`` is given); :class:`WorldError` if the folder is not one or the manifest
    does not vouch for itself."""
    path = Path(path)
    mpath = path / "manifest.json"
    if not path.is_dir():
        raise WorldError(f"{path}: no such dataset folder")
    if not mpath.is_file():
        raise WorldError(f"{path}: not a finished dataset (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldError(f"{mpath}: corrupt manifest ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith(
            "nsf-dataset/"):
        raise WorldError(f"{mpath}: not an nsf dataset manifest (expected format {FORMAT!r})")
    if manifest["format"] != FORMAT:
        raise WorldError(f"{path}: written in the older format {manifest['format']!r} (now "
                         f"{FORMAT!r}); rebuild it with `nsf simulate --force`")
    check_seal(manifest, mpath, signing_key)
    for key in ("rows", "checksums", "tables", "digest", "seed", "config", "summary_sha256"):
        if key not in manifest:
            raise WorldError(f"{mpath}: corrupt manifest (missing {key!r})")
    for table, info in manifest["tables"].items():
        for f in info["files"]:
            if not (path / f).is_file():
                raise WorldError(f"{path}: corrupt dataset (table {table!r} misses {f})")
    return manifest


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_summary(path: Path, manifest: dict | None = None) -> dict:
    """The dataset's ``summary.json`` (targets against achieved rates), checked against the
    SHA-256 its manifest records.

    Raises
    ------
    WorldError
        One line when the summary is missing, unreadable or changed after the build.
    """
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    spath = path / "summary.json"
    try:
        digest = _file_sha256(spath)
    except OSError as exc:
        raise WorldError(f"{spath}: unreadable ({exc.__class__.__name__})") from None
    if digest != manifest["summary_sha256"]:
        raise WorldError(f"{spath}: does not match the checksum in its manifest; "
                         f"{_rebuild_hint()}")
    return json.loads(spath.read_text(encoding="utf-8"))


def table_checksum(path: Path, manifest: dict, table: str, *,
                   batch_rows: int = 1 << 20) -> tuple[int, int]:
    """``(sum of row hashes mod 2^64, rows)`` of a table, recomputed from its files in batches
    of ``batch_rows`` (any batching gives the same result)."""
    return _checksum.combine([_checksum.file_hash_sum(Path(path) / f, batch_rows=batch_rows)
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
    WorldError
        One line naming the first table that does not match, or the unreadable file.
    """
    import pyarrow as pa

    path = Path(path)
    manifest = read_manifest(path, signing_key) if manifest is None else manifest
    names = list(manifest["tables"]) if tables is None else list(tables)
    for table in manifest["tables"]:
        if table not in manifest["rows"] or table not in manifest["checksums"]:
            raise WorldError(f"{path}: corrupt manifest (table {table!r} has no row count or "
                             "checksum)")
        if not rows:
            continue
        try:
            counted = table_rows(path, manifest, table)
        except (OSError, pa.ArrowInvalid) as exc:
            raise WorldError(f"{path}: table {table!r} is unreadable "
                             f"({str(exc).splitlines()[0]})") from None
        if counted != manifest["rows"][table]:
            raise WorldError(f"{path}: table {table!r} has {counted:,} rows but its manifest says "
                             f"{manifest['rows'][table]:,}; {_rebuild_hint()}")
    read_summary(path, manifest)
    if checksums:
        for table in names:
            try:
                total = table_checksum(path, manifest, table, batch_rows=batch_rows)
            except (OSError, pa.ArrowInvalid) as exc:
                raise WorldError(f"{path}: table {table!r} is unreadable "
                                 f"({str(exc).splitlines()[0]})") from None
            if _checksum.digest(table, total) != manifest["checksums"][table]:
                raise WorldError(f"{path}: table {table!r} does not match the content checksum "
                                 f"in its manifest; {_rebuild_hint()}")
    return manifest


def verify_dataset(path: Path, *, batch_rows: int = 1 << 20,
                   signing_key: bytes | None = None) -> dict[str, bool]:
    """Recompute every table's checksum from its files; ``{table: matches manifest}``."""
    path = Path(path)
    manifest = read_manifest(path, signing_key)
    result = {}
    for table in manifest["tables"]:
        total = table_checksum(path, manifest, table, batch_rows=batch_rows)
        result[table] = (_checksum.digest(table, total) == manifest["checksums"][table]
                         and total[1] == manifest["rows"][table])
    return result


#: Bytes on disk per row of each table, measured on built datasets (zstd; lz4 for the events)
#: and rounded up by about a tenth. [ASSUMPTION] Measured: users 146-151, truth_users 101-103,
#: sensitive 5-7, outcomes 5-6, truth 49-63 bytes per row (3,000 and 20,000 users); the feed
#: 217 bytes per row with three windows raw, 155 binned; the event log 7.2 bytes per
#: event at 0.79 events per user-day (taken as 1.1 x the behaviour's daily rates, 0.77).
ROW_BYTES = {"users": 160, "truth_users": 115, "sensitive": 8, "outcomes": 8, "truth": 70,
             "events": 8}
FEED_ROW_BYTES = {"raw": (150, 25), "binned": (130, 8)}  # (base, per window)
#: Parquet footer and page overhead per part file, and the summary and manifest.
PART_BYTES = 16 * 1024
FIXED_BYTES = 64 * 1024


def estimate_bytes(world: WorldConfig, chunk_users: int, n_users: int | None = None) -> int:
    """About how many bytes the dataset of ``world`` takes on disk (of ``n_users`` of its
    users, default all), from :data:`ROW_BYTES`: 7-15% above what was measured (the 40.45
    M-user world: 29.45 GB built, 31.6 GB estimated; the smoke world 2.16 MB and 2.44 MB)."""
    cal, truth = world.calendar, world.truth
    users = world.user_range()[1] if n_users is None else n_users
    dates = len(cal.observation_days)
    base, per_window = FEED_ROW_BYTES[world.feed.format]
    oracle_share = world.population.apple_registered_share \
        if truth.oracle_population == "apple" else 1.0
    rows = {"users": users, "truth_users": users, "sensitive": users,
            "outcomes": users * dates,
            "truth": users * min(truth.oracle_snapshots, dates) * oracle_share}
    size = sum(ROW_BYTES[t] * n for t, n in rows.items())
    size += users * dates * (base + per_window * len(world.feed.windows))
    tables = len(rows) + 1
    if world.feed.events:
        beh = world.behaviour
        per_day = 1.1 * (beh.payments_per_day + beh.transfers_in_per_day
                          + beh.transfers_out_per_day + beh.appstore_purchases_per_day)
        size += ROW_BYTES["events"] * users * cal.days * per_day
        tables += 1
    chunks = -(-users // chunk_users)
    return int(size + PART_BYTES * tables * chunks + FIXED_BYTES)


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} bytes"


def _check_free_space(folder: Path, need: int) -> None:
    """Refuse to start a build that the file system cannot hold (by :func:`estimate_bytes`)."""
    free = shutil.disk_usage(folder).free
    if free < need:
        raise WorldError(f"{folder}: not enough free space for the dataset: it needs about "
                         f"{_size(need)}, {_size(free)} are free; free space or choose another "
                         "simulate.data_dir")


#: errno values of a full file system (no space; over the disk quota).
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _remove_temporary_files(staging: Path) -> None:
    """Remove the unfinished files of a stopped build (its finished chunks are kept)."""
    for tmp in staging.rglob("*.tmp"):
        tmp.unlink(missing_ok=True)


def _chunks(n_users: int, chunk_users: int, first: int = 0) -> list[tuple[int, int]]:
    """The chunks ``(user_lo, user_hi)`` of users ``[first, first + n_users)`` (``first``: a
    multiple of the block size)."""
    if chunk_users % BLOCK_USERS:
        raise WorldError(f"chunk_users must be a multiple of {BLOCK_USERS} (got {chunk_users})")
    return [(first + lo, first + min(n_users, lo + chunk_users))
            for lo in range(0, n_users, chunk_users)]


def _prepare_staging(staging: Path, digest: str) -> None:
    marker = staging / _MARKER
    if staging.exists():
        try:
            ok = json.loads(marker.read_text())["digest"] == digest
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise WorldError(
                f"{staging}: exists but is not an unfinished build of this config; remove it "
                "or rerun with --force")
        return
    try:
        staging.mkdir(parents=True)
        write_json_atomic(marker, {"digest": digest})
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise  # named with the space needed by build_dataset
        raise WorldError(f"{staging.parent}: cannot write the dataset ({exc.strerror})") from None


def _done_records(staging: Path, chunks: list[tuple[int, int]],
                  signing_key: bytes | None) -> dict[int, dict]:
    """The records of finished chunks that match this chunking and their own digest (and
    signature, with a key); any other record is deleted, so its chunk is built again."""
    done: dict[int, dict] = {}
    folder = staging / "_chunks"
    folder.mkdir(exist_ok=True)
    for i, (lo, hi) in enumerate(chunks):
        rec = folder / f"{i:05d}.json"
        if rec.is_file():
            try:
                data = json.loads(rec.read_text())
                check_seal(data, rec, signing_key)
                ok = (data["index"], data["user_lo"], data["user_hi"]) == (i, lo, hi) \
                    and isinstance(data["sums"], dict) and isinstance(data["aggregates"], dict) \
                    and isinstance(data["block_sums"], dict)
            except (OSError, ValueError, KeyError, TypeError):  # WorldError is a ValueError
                ok = False
            if ok:
                done[i] = data
            else:
                rec.unlink()
    return done


def _run_all(fn: Callable, tasks: list, workers: int,
             run_tasks: Callable[[Callable, list], Iterable] | None) -> Generator[Any]:
    """``fn(task)`` for every task, as each finishes: through the injected runner, in a pool
    of ``workers`` local processes, or here."""
    if run_tasks is not None and tasks:
        yield from run_tasks(fn, tasks)
    elif workers > 1 and len(tasks) > 1:
        with process_pool(min(workers, len(tasks)), preload=[fn.__module__]) as pool:
            futures = [pool.submit(fn, t) for t in tasks]
            for fut in as_completed(futures):
                yield fut.result()
    else:
        for t in tasks:
            yield fn(t)


def _summary(world: WorldConfig, records: list[dict], base_rate: dict | None) -> dict:
    """The achieved rates against their targets, from the chunks' records in chunk order.

    Byte-identical for any chunk size and worker count: every aggregate but one is an integer
    count (or an integer-valued float, exact in any order); the oracle's float sum comes per
    block of users and is added up block by block in block order (:func:`math.fsum`).
    """
    tot: dict[str, Any] = {}
    for r in records:
        for k, v in r["aggregates"].items():
            if isinstance(v, list):
                tot[k] = [a + b for a, b in zip(tot.get(k, [0] * len(v)), v, strict=True)]
            else:
                tot[k] = tot.get(k, 0) + v
    tot["oracle_p_sum"] = math.fsum(s for r in records for s in r["block_sums"]["oracle_p"])
    n = max(tot["n_users"], 1)
    pop, beh, tgt = world.population, world.behaviour, world.targets
    apple_days = max(tot["apple_user_days"], 1)

    def item(sim: float, target: float, note: str) -> dict:
        rel = (sim - target) / target if target else None
        return {"simulated": sim, "target": target, "relative_error": rel, "meaning": note}

    checks = {
        "ios_share": item(tot["n_ios"] / n, pop.ios_share, "share of users on iOS"),
        "apple_registered_share": item(tot["n_apple_registered"] / n, pop.apple_registered_share,
                                       "share of all users registered for Apple billing"),
        "female_share": item(tot["n_female"] / n, pop.female_share, "share of women"),
        "foreign_share": item(tot["n_foreign"] / n, pop.foreign_share, "share of foreigners"),
        "auto_topup_share": item(tot["n_auto_topup"] / n, tgt.auto_topup_share,
                                 "share with automatic top-up"),
        "bank_linked_share": item(tot["n_bank_linked"] / n, tgt.bank_linked_share,
                                  "share with a linked bank account"),
        "id_verified_share": item(tot["n_id_verified"] / n, tgt.id_verified_share,
                                  "share ID-card verified"),
        "payment_attempts_per_user_day": item(
            (tot["payments"] + tot["declines"]) / tot["counter_user_days"], beh.payments_per_day,
            "merchant payments per user per day (approximate: includes other declines)"),
        "transfers_in_per_user_day": item(tot["transfers_in"] / tot["user_days"],
                                          beh.transfers_in_per_day, "P2P transfers received"),
        "transfers_out_per_user_day": item(tot["transfers_out"] / tot["user_days"],
                                           beh.transfers_out_per_day, "P2P transfers sent"),
        "appstore_purchases_per_apple_user_day": item(
            tot["appstore_purchases"] / apple_days, beh.appstore_purchases_per_day,
            "App Store microtransactions per Apple-registered user per day (before "
            "suspensions)"),
        "apple_nsf_rate": item(tot["apple_nsf"] / max(tot["apple_rows"], 1),
                               tgt.apple_nsf_rate,
                               "Apple-registered rows with a failed grouped charge in the horizon"),
        "any_nsf_rate": item(tot["any_nsf"] / max(tot["rows"], 1), tgt.any_nsf_rate,
                             "rows with any insufficient-funds decline in the horizon"),
    }
    apple_rate = checks["apple_nsf_rate"]["simulated"]
    held = {"calibrated": base_rate is not None, "target": tgt.apple_nsf_rate,
            "achieved": apple_rate, "tolerance": tgt.calibration_tolerance,
            "within_tolerance": abs(apple_rate - tgt.apple_nsf_rate) <= tgt.calibration_tolerance,
            "pay_money_scale": (beh.pay_money_scale if base_rate is None
                                else base_rate["pay_money_scale"]),
            "pilot": base_rate}
    if "apple_nsf_by_date" in tot:
        # With world.drift the rate moves over the calendar; the target holds on average.
        apple_users = max(tot["n_apple_registered"], 1)
        held["by_observation_date"] = {
            str(d): c / apple_users for d, c in
            zip(world.calendar.observation_dates, tot["apple_nsf_by_date"], strict=True)}
    return {
        "calibration": checks,
        "base_rate": held,
        "totals": tot,
        "apple_nsf_rate_given_charge": tot["apple_nsf_charged"] / max(tot["apple_rows_charged"], 1),
        "oracle": {
            "rows": tot["oracle_rows"],
            "mean_p_nsf_appstore": tot["oracle_p_sum"] / max(tot["oracle_rows"], 1),
            "realised_nsf_appstore_rate": tot["oracle_realised"] / max(tot["oracle_rows"], 1),
        },
        "events_per_user_day": tot["events"] / max(tot["user_days"], 1),
    }


def build_dataset(
    world: WorldConfig,
    *,
    seed: int,
    name: str,
    data_dir: Path,
    chunk_users: int,
    workers: int = 1,
    hmac_key: bytes | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    verify: str = "checksums",
    on_wait: Callable[[Path], None] | None = None,
    run_tasks: Callable[[Callable, list], Iterable] | None = None,
    signing_key: bytes | None = None,
) -> tuple[Path, dict, bool]:
    """Build (or reuse) the dataset of ``world`` and ``seed``.

    The chunks run in ``workers`` local processes, or through ``run_tasks(fn, tasks)``, an
    injected runner yielding ``fn(task)`` for each task as it finishes (``nsf`` passes its
    executor's, local or Dask; ``workers`` is then unused). Finished chunks are kept, so a
    build stopped for any reason resumes where it stopped.

    A finished dataset is reused only if it matches its manifest (row counts, and content
    checksums unless ``verify="rows"``) and its manifest matches its own digest (and is signed
    with ``signing_key``, when given: a new manifest is then signed with it; the key does not
    change the content or the folder's name). The build holds a file lock on the dataset folder
    (:func:`lock_file`): a second build of the same dataset waits for the first (calling
    ``on_wait(lock path)`` once), then reuses what it wrote.

    Returns
    -------
    path, manifest, reused
        The dataset folder, its manifest, and whether a finished dataset was reused.
    """
    if world.identifiers.scheme == "hmac-sha256" and not hmac_key:
        raise WorldError(
            "world.identifiers.scheme is 'hmac-sha256' but no secret was given (set "
            f"world.identifiers.hmac_key or the environment variable "
            f"{world.identifiers.hmac_key_env})")
    if world.identifiers.scheme == "sha256":
        hmac_key = None
    digest = world_digest(world, seed, hmac_key)
    final = dataset_path(data_dir, name, digest)
    lock_path = lock_file(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait(lock_path)
            lock.acquire()
    except OSError as exc:
        raise WorldError(f"{final.parent}: cannot write the dataset ({exc.strerror})") from None
    staging = final.with_name(final.name + ".partial")
    try:
        return _build_locked(world, seed=seed, name=name, digest=digest, final=final,
                             chunk_users=chunk_users, workers=workers, hmac_key=hmac_key,
                             force=force, progress=progress, verify=verify,
                             run_tasks=run_tasks, signing_key=signing_key)
    except OSError as exc:
        # Finished chunks stay for a rerun to resume; nothing half-written is left.
        if staging.is_dir():
            _remove_temporary_files(staging)
        where = exc.filename or staging
        if exc.errno in _DISK_FULL:
            free = shutil.disk_usage(final.parent).free
            raise WorldError(
                f"{where}: no space left on the device; the dataset needs about "
                f"{_size(estimate_bytes(world, chunk_users))} ({_size(free)} free now); "
                "finished chunks are kept: free space and rerun to resume") from None
        raise WorldError(f"{where}: cannot build the dataset "
                         f"({exc.strerror or str(exc).splitlines()[0]})") from None
    finally:
        lock.release()


def _build_locked(world: WorldConfig, *, seed: int, name: str, digest: str, final: Path,
                  chunk_users: int, workers: int, hmac_key: bytes | None, force: bool,
                  progress: Callable[[int, int], None] | None,
                  verify: str,
                  run_tasks: Callable[[Callable, list], Iterable] | None = None,
                  signing_key: bytes | None = None,
                  ) -> tuple[Path, dict, bool]:
    staging = final.with_name(final.name + ".partial")
    if final.exists() and not force:
        if not (final / "manifest.json").exists():
            raise WorldError(f"{final}: exists but is not a dataset (no manifest.json); remove it "
                             "or rerun with --force")
        manifest = read_manifest(final, signing_key)
        if manifest["digest"] != digest:
            raise WorldError(f"{final}: holds a dataset of another config (digest "
                             f"{manifest['digest'][:8]}); rerun with --force to rebuild")
        check_dataset(final, manifest, checksums=verify == "checksums")
        return final, manifest, True
    if force and staging.exists():
        shutil.rmtree(staging)
    first_user, n_users = world.user_range()
    chunks = _chunks(n_users, chunk_users, first_user)
    resuming = staging.exists()
    if not resuming:  # checked before anything is written
        _check_free_space(final.parent, estimate_bytes(world, chunk_users))
    _prepare_staging(staging, digest)
    if resuming:  # what a killed build was writing
        _remove_temporary_files(staging)

    done = _done_records(staging, chunks, signing_key)
    # Finished chunks are never trusted unchecked: each part is hashed again against its
    # record; a chunk whose parts do not match is built again.
    checks = [(str(staging), done[i]) for i in sorted(done)]
    with contextlib.closing(_run_all(check_chunk, checks, workers, run_tasks)) as results:
        for index, intact in results:
            if not intact:
                (staging / "_chunks" / f"{index:05d}.json").unlink()
                del done[index]
    if resuming:  # room for the chunks still to build
        _check_free_space(final.parent, estimate_bytes(
            world, chunk_users, sum(hi - lo for i, (lo, hi) in enumerate(chunks)
                                    if i not in done)))
    base_rate = calibrate_base_rate(world, seed) if world.targets.calibrate else None
    scale = None if base_rate is None else base_rate["pay_money_scale"]
    todo = [ChunkTask(i, lo, hi, seed, world, str(staging), hmac_key, scale)
            for i, (lo, hi) in enumerate(chunks) if i not in done]
    if progress:
        progress(len(done), len(chunks))

    def finish(rec: dict) -> None:
        rec["integrity"] = seal_manifest(rec, signing_key)
        write_json_atomic(staging / "_chunks" / f"{rec['index']:05d}.json", rec)
        done[rec["index"]] = rec
        if progress:
            progress(len(done), len(chunks))

    # Closed on any error (here too, e.g. a full disk writing a record): the workers are
    # stopped before the caller removes the temporary files.
    with contextlib.closing(_run_all(run_chunk, todo, workers, run_tasks)) as results:
        for rec in results:
            finish(rec)

    records = [done[i] for i in range(len(chunks))]
    tables: dict[str, dict] = {}
    rows: dict[str, int] = {}
    checksums: dict[str, str] = {}
    for table in TABLES:
        parts = [(int(r["sums"][table][0], 16), r["sums"][table][1])
                 for r in records if table in r["sums"]]
        if not parts:
            continue
        total = _checksum.combine(parts)
        rows[table] = total[1]
        checksums[table] = _checksum.digest(table, total)
        tables[table] = {"files": [f"{table}/part-{r['index']:05d}.parquet" for r in records
                                   if table in r["sums"]]}
    summary = _summary(world, records, base_rate)
    write_json_atomic(staging / "summary.json", summary)
    world_json = world.model_dump(mode="json")
    manifest = {
        "format": FORMAT,
        "name": name,
        "seed": seed,
        "digest": digest,
        "package_version": package_version(),
        "config": world_json,
        "block_users": BLOCK_USERS,
        "observation_dates": [d.isoformat() for d in world.calendar.observation_dates],
        "rows": rows,
        "checksums": checksums,
        "summary_sha256": _file_sha256(staging / "summary.json"),
        "tables": tables,
        "description": dataset_description(world),
    }
    manifest["integrity"] = seal_manifest(manifest, signing_key)
    shutil.rmtree(staging / "_chunks")
    (staging / _MARKER).unlink()
    write_json_atomic(staging / "manifest.json", manifest)
    if final.exists():
        trash = final.with_name(final.name + ".old")
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash)
    else:
        os.replace(staging, final)
    return final, manifest, False
