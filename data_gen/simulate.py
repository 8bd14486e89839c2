"""Simulate one chunk of users over the whole calendar and write its part of every table.

A chunk is a run of whole user blocks. Its outputs (one Parquet part per table) are written to
temporary names, renamed, and only then is the chunk's record written; a chunk without a record is
redone on the next run. Everything a chunk writes depends only on the seed and its users' blocks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_gen import _checksum
from data_gen._rng import DAYS, INIT, ORACLE, SHOWN_BALANCE, BlockRNG, block_generator
from data_gen.categories import AMOUNT_BANDS, COUNT_CAP, feed_columns
from data_gen.config import BLOCK_USERS, WorldConfig
from data_gen.identifiers import hash_identifiers, mask_email, mask_phone
from data_gen.population import (
    CARRIERS,
    EMAIL_DOMAINS,
    REGION_NAMES,
    SIGNUP_CHANNELS,
    Population,
    age_band,
    make_population,
)
from data_gen.world import (
    BEHAVIOUR,
    COUNTERS,
    EVENT_COLUMNS,
    ORACLE_COLUMNS,
    PARAMS,
    C,
    events_hash_sum,
    simulate_users,
    stream_seeds,
)

EPOCH = dt.date(1970, 1, 1)
TABLES = ("users", "sensitive", "truth_users", "feed", "outcomes", "truth", "events")


@dataclass(frozen=True)
class ChunkTask:
    """One chunk's work; picklable for worker processes."""

    index: int
    user_lo: int
    user_hi: int
    seed: int
    world: WorldConfig
    staging: str
    hmac_key: bytes | None
    pay_money_scale: float | None = None  # the calibrated value (None: the config's)


def _affine_permutation(seed: int, salt: int, x: np.ndarray, modulus: int) -> np.ndarray:
    """A bijection of [0, modulus) keyed by the seed: unique values without coordination."""
    g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2**31, salt))))
    while True:
        a = int(g.integers(1, modulus))
        if np.gcd(a, modulus) == 1:
            break
    b = int(g.integers(0, modulus))
    return ((x.astype(object) * a + b) % modulus).astype(np.int64)


class _Identities(TypedDict):
    """A chunk's identifiers in their canonical plaintext forms, and the phone suffixes."""

    phone_plain: list[str]
    email_plain: list[str]
    customer_number: list[str]
    kakao_account_id: list[str]
    email_local: list[str]
    email_domain: list[str]
    phone_suffix: np.ndarray


def _identities(task: ChunkTask, pop: Population, rng: BlockRNG) -> _Identities:
    uid = pop.user_id
    phone_suffix = _affine_permutation(task.seed, 1, uid, 10**8)
    customer = 100_000_000 + _affine_permutation(task.seed, 2, uid, 900_000_000)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    length = 4 + (rng.random() * 5).astype(int)
    codes = letters[np.minimum((np.stack([rng.random() for _ in range(8)], 1) * 26).astype(int),
                               25)]
    locals_ = [codes[i, : length[i]].tobytes().decode() + np.base_repr(int(u), 36).lower()
               for i, u in enumerate(uid)]
    domains = [EMAIL_DOMAINS[d] for d in pop.email_domain]
    emails = [f"{loc}@{dom}" for loc, dom in zip(locals_, domains, strict=True)]
    phones = [f"010{int(s):08d}" for s in phone_suffix]
    customers = [str(int(c)) for c in customer]
    accounts = [e if by_mail else p for e, p, by_mail in
                zip(emails, phones, pop.account_by_email, strict=True)]
    return {
        "phone_plain": phones, "email_plain": emails, "customer_number": customers,
        "kakao_account_id": accounts, "email_local": locals_, "email_domain": domains,
        "phone_suffix": phone_suffix,
    }


def _day_number(day: int, start: dt.date) -> int:
    return (start - EPOCH).days + day


class _Writer:
    """Writes one chunk's part of each table and keeps its checksum partials."""

    def __init__(self, staging: Path, index: int):
        self.staging = staging
        self.index = index
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, Path] = {}
        self.sums: dict[str, list[tuple[int, int]]] = {}
        # String columns converted once: the feed repeats the users' identifier columns at
        # every observation date. Keyed by id(); the entry keeps the object alive, so the id
        # cannot be reused while the entry exists.
        self._strings: dict[int, tuple[object, pa.Array, np.ndarray]] = {}

    def _string_column(self, values: np.ndarray | list) -> tuple[pa.Array, np.ndarray]:
        hit = self._strings.get(id(values))
        if hit is None:
            words = _checksum.as_u64(np.asarray(values, dtype=object))
            hit = self._strings[id(values)] = (values, pa.array(values), words)
        return hit[1], hit[2]

    def write(self, table: str, columns: Mapping[str, Any],
              hash_sum: tuple[int, int] | None = None) -> None:
        """Append rows to the chunk's part of ``table``; ``hash_sum`` if already computed
        (required when a column is given as an Arrow array)."""
        arrays = {}
        words = {}
        for name, values in columns.items():
            if isinstance(values, pa.Array):
                arrays[name] = values
            elif isinstance(values, list) or values.dtype == object:
                arrays[name], words[name] = self._string_column(values)
            elif values.dtype.kind == "M":
                # Day numbers viewed as date32: pyarrow's own datetime64 conversion is ten
                # times slower.
                days = values.astype("datetime64[D]").astype(np.int64).astype(np.int32)
                arrays[name] = pa.array(days).view(pa.date32())
            else:
                arrays[name] = pa.array(values)
        tbl = pa.table(arrays)
        if table not in self.writers:
            folder = self.staging / table
            folder.mkdir(parents=True, exist_ok=True)
            path = part_path(self.staging, table, self.index)
            self.paths[table] = path
            # lz4 writes the (large) event log about a third faster than zstd here; the other
            # tables are zstd (level 1): it halves the hex-encoded hashed identifiers, which lz4
            # cannot (no entropy coding): at 100,000 users of experiments/full_population.yaml
            # the dataset takes 80 MB instead of 137 MB (70 MB with the binned feed). Hashed
            # identifiers are unique per user, so a dictionary only costs time. In the event
            # log, dictionaries pay only for the low-cardinality columns; the sorted user and
            # day columns and the amounts are delta-encoded (amounts: as small as lz4 makes
            # them, at half its time); only user and day get statistics (to filter by them).
            options: dict = {"use_dictionary": [n for n in tbl.schema.names
                                                if not n.endswith("_hash")]}
            if table == "events":
                delta = ("user_id", "day", "amount", "balance_after")
                options = {"use_dictionary": ["seq", "event_type", "status", "reason"],
                           "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
                           "write_statistics": ["user_id", "day"]}
            codec = {"compression": "lz4"} if table == "events" else {
                "compression": "zstd", "compression_level": 1}
            self.writers[table] = pq.ParquetWriter(
                path.with_suffix(".parquet.tmp"), tbl.schema, **codec, **options)
        self.writers[table].write_table(tbl, row_group_size=1 << 20)
        if hash_sum is None:
            hash_sum = _checksum.rows_hash_sum(columns, words)
        self.sums.setdefault(table, []).append(hash_sum)

    def abort(self) -> None:
        """Close what is open and remove the unfinished (``.tmp``) parts."""
        for table, writer in self.writers.items():
            # Closing may fail too (no space left to flush): the file is removed below anyway.
            with contextlib.suppress(OSError):
                writer.close()
            self.paths[table].with_suffix(".parquet.tmp").unlink(missing_ok=True)
        self.writers.clear()

    def close(self) -> dict[str, tuple[int, int]]:
        for table, w in self.writers.items():
            w.close()
            path = self.paths[table]
            os.replace(path.with_suffix(".parquet.tmp"), path)
        return {t: _checksum.combine(parts) for t, parts in self.sums.items()}


def _static_columns(pop: Population, ident: _Identities, cfg: WorldConfig,
                    key: bytes | None) -> dict:
    scheme = cfg.identifiers.scheme
    return {
        "user_id": pop.user_id,
        "customer_number_hash": hash_identifiers(ident["customer_number"], scheme, key),
        "kakao_account_hash": hash_identifiers(ident["kakao_account_id"], scheme, key),
        "phone_hash": hash_identifiers(ident["phone_plain"], scheme, key),
        "email_hash": hash_identifiers(ident["email_plain"], scheme, key),
        "masked_email": mask_email(ident["email_local"], ident["email_domain"]),
        "masked_phone": mask_phone(ident["phone_suffix"]),
        "join_date": pop.join_day.astype("datetime64[D]"),
        "id_verified": pop.id_verified,
        "n_cards": pop.n_cards.astype(np.int8),
        "signup_channel": np.asarray(SIGNUP_CHANNELS, dtype=object)[pop.signup_channel],
        "verification_carrier": np.asarray(CARRIERS, dtype=object)[pop.carrier],
        "bank_linked": pop.bank_linked,
        "auto_topup": pop.auto_topup,
        "apple_registered": pop.apple_registered,
    }


def _band(x: np.ndarray) -> np.ndarray:
    return (np.searchsorted(AMOUNT_BANDS, x, side="right") - 1).astype(np.int8)


#: Counters behind the feed's balance group (with ``pay_money_balance`` itself).
BALANCE_COUNTERS = (C["balance_sum"], C["low_balance_days"])


def shown_balance_source(seed: int, first_block: int, sizes: list[int],
                         strength: float) -> np.ndarray | None:
    """Whose balance each user's feed shows (row indices), or None when all show their own.

    A share ``strength`` of users (drawn per user) show their own; the others show a partner's:
    the next user on a random cycle through their block, so nobody is their own partner
    (unless the block has one user) and the result does not depend on chunking.
    """
    if strength >= 1.0:
        return None
    source = np.empty(sum(sizes), np.int64)
    lo = 0
    for b, size in enumerate(sizes):
        g = block_generator(seed, first_block + b, SHOWN_BALANCE)
        own = g.random(size) < strength
        cycle = g.permutation(size)
        partner = np.empty(size, np.int64)
        partner[cycle] = np.roll(cycle, -1)
        source[lo:lo + size] = lo + np.where(own, np.arange(size), partner)
        lo += size
    return source


def _feed_rows(cfg: WorldConfig, static: dict, balance: np.ndarray,
               snaps: dict[int, np.ndarray], day: int,
               balance_source: np.ndarray | None = None) -> dict[str, np.ndarray | list]:
    windows = cfg.feed.windows
    binned = cfg.feed.format == "binned"
    n = balance.size
    obs_day = _day_number(day, cfg.calendar.start_date)
    now = snaps[day]
    out: dict[str, np.ndarray | list] = {
        "user_id": static["user_id"],
        "observation_date": np.full(n, obs_day).astype("datetime64[D]"),
    }
    agg = {}
    for w in windows:
        past = snaps.get(day - w)
        agg[w] = now - past if past is not None else now.copy()
    if balance_source is not None:
        # The balance group as the feed shows it (world.dependence.balance).
        balance = balance[balance_source]
        for a in agg.values():
            a[list(BALANCE_COUNTERS)] = a[list(BALANCE_COUNTERS)][:, balance_source]
    cols = {}
    for w in windows:
        a = agg[w]
        cols.update({
            f"n_topups_{w}d": a[C["n_topups"]], f"n_payments_{w}d": a[C["n_payments"]],
            f"n_transfers_{w}d": a[C["n_transfers"]],
            f"balance_mean_{w}d": a[C["balance_sum"]] / w,
            f"low_balance_days_{w}d": a[C["low_balance_days"]],
            f"topup_amount_{w}d": a[C["topup_amount"]],
            f"n_auto_topups_{w}d": a[C["n_auto_topups"]],
            f"payment_amount_{w}d": a[C["payment_amount"]],
            f"n_declines_{w}d": a[C["n_declines"]],
            f"transfer_in_amount_{w}d": a[C["transfer_in_amount"]],
            f"transfer_out_amount_{w}d": a[C["transfer_out_amount"]],
            f"n_withdrawals_{w}d": a[C["n_withdrawals"]],
            f"withdrawal_amount_{w}d": a[C["withdrawal_amount"]],
            f"n_appstore_charges_{w}d": a[C["n_appstore_charges"]],
            f"appstore_amount_{w}d": a[C["appstore_amount"]],
            f"n_appstore_declines_{w}d": a[C["n_appstore_declines"]],
        })
    tenure = (obs_day - static["join_date"].astype(np.int64)).astype(np.int32)
    base = {k: v for k, v in static.items() if k != "user_id"}
    base["tenure_days"] = tenure
    base["pay_money_balance"] = balance
    base.update(cols)
    for name in feed_columns(windows)[2:]:
        v = base[name]
        if binned:
            if name == "join_date":
                v = v.astype("datetime64[Y]").astype("datetime64[D]")  # join year
            elif name == "tenure_days":
                v = (v // 365).astype(np.int16)  # whole years
            elif "amount" in name or ("balance" in name and "days" not in name):
                v = _band(np.asarray(v))
            elif (name.startswith("n_") and name != "n_cards") or "days_" in name:
                v = np.minimum(np.asarray(v), COUNT_CAP)
        if isinstance(v, np.ndarray) and v.dtype == np.float64 and name.startswith(("n_", "low")):
            v = v.astype(np.int32)
        elif isinstance(v, np.ndarray) and v.dtype == np.float64 and "amount" in name:
            v = v.astype(np.int64)
        out[name] = v
    return out


def _block_keys(seed: int, first_block: int, sizes: list[int], *purpose: int) -> np.ndarray:
    """Each row's parent key: its block's ``SeedSequence`` child for ``purpose``."""
    keys = [np.random.SeedSequence(seed, spawn_key=(first_block + i, *purpose))
            .generate_state(1, np.uint64)[0] for i in range(len(sizes))]
    return np.repeat(np.asarray(keys, np.uint64), sizes)


def _offsets(task: ChunkTask, uid: np.ndarray) -> np.ndarray:
    return (uid % BLOCK_USERS).astype(np.int64)


def _params(pop: Population) -> np.ndarray:
    cols = [np.asarray(getattr(pop, name), np.float64) for name in PARAMS]
    cols += [np.exp(-rate) for rate in (pop.payment_rate, pop.transfer_out_rate,
                                         pop.transfer_in_rate, pop.appstore_rate)]
    return np.ascontiguousarray(np.stack(cols, axis=1))


def drift_factors(cfg: WorldConfig) -> np.ndarray:
    """The kernel's drift array: each simulated day's income, price and App Store rate factor
    (:data:`data_gen.world.DRIFT_ROWS`), ``(1 + rate) ** (day / 365)``; exactly 1.0 everywhere
    in a stationary world."""
    drift = cfg.drift
    years = np.arange(cfg.calendar.days, dtype=np.float64) / 365.0
    rates = (drift.income_growth, drift.price_growth, drift.appstore_growth)
    return np.ascontiguousarray(np.stack([np.power(1.0 + r, years) for r in rates]))


def _behaviour(cfg: WorldConfig) -> np.ndarray:
    beh = cfg.behaviour
    return np.asarray([float(getattr(beh, name)) for name in BEHAVIOUR], np.float64)


#: Event columns written narrower than the kernel's int64 buffer.
EVENT_NARROW = {"seq": np.int16, "event_type": np.int8, "status": np.int8, "reason": np.int8,
                "group_id": np.int32}
#: Event slots of the in-memory event buffer (flushed to Parquet when nearly full).
EVENT_BUFFER = 2_000_000
#: Slots kept free per user still to simulate, per simulated day. [generous bound]
EVENTS_RESERVE_PER_DAY = 40


def part_path(staging: Path, table: str, index: int) -> Path:
    """Where chunk ``index`` writes its part of ``table``."""
    return Path(staging) / table / f"part-{index:05d}.parquet"


def check_chunk(item: tuple[str, dict]) -> tuple[int, bool]:
    """Whether a finished chunk's parts still hold what its record says: each part is read
    again and its row hashes summed (as the reader's checksum verification does); a missing,
    unreadable, truncated or edited part gives False. ``item``: (staging folder, record)."""
    staging, record = item
    index = record["index"]
    for table, (hex_sum, rows) in record["sums"].items():
        try:
            total = _checksum.file_hash_sum(part_path(Path(staging), table, index))
        except (OSError, pa.ArrowInvalid):
            return index, False
        if total != (int(hex_sum, 16), rows):
            return index, False
    return index, True


def run_chunk(task: ChunkTask) -> dict:
    """Simulate and write one chunk; returns its record (row counts, checksums, aggregates).

    On any failure (a full disk, an interrupt) the chunk's unfinished ``.tmp`` parts are
    removed before the error propagates; finished parts are renamed only once complete.
    """
    out = _Writer(Path(task.staging), task.index)
    try:
        return _simulate_chunk(task, out)
    except BaseException:
        out.abort()
        raise


def _simulate_chunk(task: ChunkTask, out: _Writer) -> dict:
    cfg = task.world
    cal = cfg.calendar
    first_block = task.user_lo // BLOCK_USERS
    last_block = (task.user_hi - 1) // BLOCK_USERS
    sizes = [min(task.user_hi, (b + 1) * BLOCK_USERS) - max(task.user_lo, b * BLOCK_USERS)
             for b in range(first_block, last_block + 1)]
    uid = np.arange(task.user_lo, task.user_hi, dtype=np.int64)
    n = uid.size

    init = BlockRNG([block_generator(task.seed, b, INIT) for b in
                     range(first_block, last_block + 1)], sizes)
    pop = make_population(cfg, uid, init, pay_money_scale=task.pay_money_scale)
    ident = _identities(task, pop, init)
    static = _static_columns(pop, ident, cfg, task.hmac_key)
    out.write("users", static)
    out.write("sensitive", {
        "user_id": uid, "age": pop.age, "age_band": age_band(pop.age),
        "gender": np.where(pop.female, "female", "male").astype(object),
        "nationality": np.where(pop.foreign, "foreign", "korean").astype(object),
        "region": np.asarray(REGION_NAMES, dtype=object)[pop.region],
        "device_os": np.where(pop.ios, "ios", "android").astype(object),
    })
    out.write("truth_users", {
        "user_id": uid, "phone_plain": ident["phone_plain"], "email_plain": ident["email_plain"],
        "customer_number": ident["customer_number"],
        "kakao_account_id": ident["kakao_account_id"],
        "income_z": pop.income_z, "liquidity_buffer_z": pop.buffer_z,
        "topup_discipline_z": pop.discipline_z, "appstore_propensity_z": pop.appstore_z,
        "spending_z": pop.spending_z, "monthly_income": pop.monthly_income,
        "payday": pop.payday.astype(np.int8), "grouping_delay_days": pop.group_delay.astype(
            np.int8),
        "appstore_rate": pop.appstore_rate, "payment_rate": pop.payment_rate,
    })

    # What the kernel must keep: counters at every day a window or horizon starts or ends.
    obs_days = np.asarray(cal.observation_days, np.int64)
    cp = sorted({c for d in obs_days for c in
                 [d - w for w in cfg.feed.windows] + [d, d + cal.horizon_days] if c >= 0})
    cp_days = np.asarray(cp, np.int64)
    n_oracle = min(cfg.truth.oracle_snapshots, obs_days.size)
    oracle_from = obs_days.size - n_oracle
    offsets = _offsets(task, uid)
    seeds = stream_seeds(_block_keys(task.seed, first_block, sizes, DAYS), offsets)
    oracle_keys = np.stack([stream_seeds(_block_keys(task.seed, first_block, sizes, ORACLE, k),
                                         offsets) for k in range(oracle_from, obs_days.size)]) \
        if n_oracle else np.zeros((0, n), np.uint64)
    oracle_sel = pop.apple_registered if cfg.truth.oracle_population == "apple" \
        else np.ones(n, bool)
    cp_out = np.zeros((n, cp_days.size, len(COUNTERS)))
    bal_out = np.zeros((obs_days.size, n))
    oracle_out = np.zeros((n_oracle, n, len(ORACLE_COLUMNS)))
    stats = np.zeros(4, np.int64)
    rec = cfg.feed.events
    ev = np.zeros((len(EVENT_COLUMNS), EVENT_BUFFER if rec else 0), np.int64)
    pos = np.zeros(2, np.int64)
    reserve = EVENTS_RESERVE_PER_DAY * cal.days
    par = _params(pop)
    beh = _behaviour(cfg)
    prices = np.asarray(cfg.behaviour.appstore_prices, np.float64)
    drift = drift_factors(cfg)
    start_num = _day_number(0, cal.start_date)
    ev_order = np.asarray([EVENT_COLUMNS.index(c) for c in sorted(EVENT_COLUMNS)], np.int64)
    ev_salts = np.asarray([_checksum.column_salt(c) for c in sorted(EVENT_COLUMNS)], np.uint64)
    row = 0
    while row < n:
        row = simulate_users(row, n, uid, par, beh, prices, drift, cal.days, seeds, oracle_keys,
                             oracle_sel, obs_days, oracle_from, cal.horizon_days,
                             cfg.truth.oracle_draws, cfg.truth.oracle_method == "conditional",
                             cp_days, cp_out, bal_out, oracle_out, rec, ev, pos, reserve, stats)
        if pos[1]:
            raise RuntimeError("event buffer overflow in the simulation kernel")
        if rec and pos[0]:
            m = int(pos[0])
            hsum = int(events_hash_sum(ev, m, start_num, ev_order, ev_salts))
            # Columns are written before the buffer is reused, so the wide ones go as views.
            cols = dict(zip(EVENT_COLUMNS, ev[:, :m], strict=True))
            for name, dtype in EVENT_NARROW.items():
                cols[name] = cols[name].astype(dtype)
            cols["day"] = pa.array((cols["day"] + start_num).astype(np.int32)).view(pa.date32())
            out.write("events", cols, hash_sum=(hsum, m))
            pos[0] = 0

    snaps = {int(d): cp_out[:, j, :].T for j, d in enumerate(cp_days)}
    balance_source = shown_balance_source(task.seed, first_block, sizes,
                                          cfg.dependence.balance)
    agg: dict[str, Any] = {
        "apple_rows": 0, "apple_nsf": 0, "apple_rows_charged": 0, "apple_nsf_charged": 0,
        "rows": 0, "any_nsf": 0, "oracle_rows": 0, "oracle_realised": 0,
        # Per observation date (a drifting world's rate changes over the calendar).
        "apple_nsf_by_date": [0] * obs_days.size}
    apple = pop.apple_registered
    # The oracle's P(NSF) of each block of users, summed exactly (math.fsum) over all its rows:
    # the chunk's sum is a list in block order, which the summary adds up in the same order
    # for any chunking (a float sum per chunk would change in the last digits with it).
    row_block = uid // BLOCK_USERS - first_block
    oracle_p_by_block: list[list[np.ndarray]] = [[] for _ in sizes]
    for k, d in enumerate(obs_days):
        d = int(d)
        out.write("feed", _feed_rows(cfg, static, bal_out[k].astype(np.int64), snaps, d,
                                     balance_source))
        diff = snaps[d + cal.horizon_days] - snaps[d]
        nsf_app = diff[C["n_appstore_declines"]] > 0
        nsf_any = nsf_app | (diff[C["n_declines"]] > 0)
        obs_col = np.full(n, start_num + d).astype("datetime64[D]")
        out.write("outcomes", {
            "user_id": uid, "observation_date": obs_col,
            "nsf_appstore": nsf_app, "nsf_any": nsf_any,
            "n_grouped_charges": diff[C["n_new_charges"]].astype(np.int32),
            "n_charge_attempts": diff[C["n_charge_attempts"]].astype(np.int32),
            "n_appstore_declines": diff[C["n_appstore_declines"]].astype(np.int32),
            "n_payment_declines": diff[C["n_declines"]].astype(np.int32),
            "n_grouped_purchases": diff[C["n_grouped_purchases"]].astype(np.int32),
            "grouped_amount": diff[C["grouped_amount"]].astype(np.int64),
            "n_failed_charges": diff[C["n_failed_charges"]].astype(np.int32),
            "failed_charge_amount": diff[C["failed_charge_amount"]].astype(np.int64),
        })
        charged = diff[C["n_new_charges"]] > 0
        agg["apple_rows"] += int(apple.sum())
        agg["apple_nsf"] += int((nsf_app & apple).sum())
        agg["apple_nsf_by_date"][k] = int((nsf_app & apple).sum())
        agg["apple_rows_charged"] += int((apple & charged).sum())
        agg["apple_nsf_charged"] += int((nsf_app & apple & charged).sum())
        agg["rows"] += n
        agg["any_nsf"] += int(nsf_any.sum())
        if k >= oracle_from:
            sel = np.flatnonzero(oracle_sel)
            o = oracle_out[k - oracle_from, sel]
            out.write("truth", {
                "user_id": uid[sel], "observation_date": obs_col[sel],
                **{name: o[:, i] for i, name in enumerate(ORACLE_COLUMNS)},
                "oracle_draws": np.full(sel.size, cfg.truth.oracle_draws, np.int32),
            })
            agg["oracle_rows"] += sel.size
            for b in range(len(sizes)):
                oracle_p_by_block[b].append(o[row_block[sel] == b, 0])
            agg["oracle_realised"] += int(nsf_app[sel].sum())

    last = snaps[int(cp_days[-1])]  # counters up to the last checkpoint day
    agg["user_days"] = n * cal.days
    agg["events"] = int(stats[0])
    agg["appstore_purchases"] = int(stats[1])
    agg["transfers_in"] = int(stats[2])
    agg["transfers_out"] = int(stats[3])
    agg["payments"] = float(last[C["n_payments"]].sum())
    agg["declines"] = float(last[C["n_declines"]].sum() + last[C["n_appstore_declines"]].sum())
    agg["counter_user_days"] = n * (int(cp_days[-1]) + 1)
    agg["apple_user_days"] = int(apple.sum()) * cal.days
    for name, arr in (("ios", pop.ios), ("apple_registered", pop.apple_registered),
                      ("female", pop.female), ("foreign", pop.foreign),
                      ("auto_topup", pop.auto_topup), ("bank_linked", pop.bank_linked),
                      ("id_verified", pop.id_verified)):
        agg[f"n_{name}"] = int(arr.sum())
    agg["n_users"] = int(n)
    sums = out.close()
    return {
        "index": task.index, "user_lo": task.user_lo, "user_hi": task.user_hi,
        "rows": {t: s[1] for t, s in sums.items()},
        "sums": {t: [f"{s[0]:016x}", s[1]] for t, s in sums.items()},
        "aggregates": agg,
        "block_sums": {"oracle_p": [math.fsum(np.concatenate(parts).tolist()) if parts else 0.0
                                    for parts in oracle_p_by_block]},
    }


#: Bracket of the calibrated log Pay Money scale, and the pilot's simulations at most.
LOG_SCALE_BRACKET = (-3.0, 3.0)
CALIBRATION_RUNS = 16
#: The pilot aims this much closer to the target than the tolerance, leaving the rest of the
#: tolerance to the sampling noise of the users outside the pilot.
PILOT_AIM = 0.2


def _block_sizes(lo: int, hi: int) -> tuple[int, list[int]]:
    first, last = lo // BLOCK_USERS, (hi - 1) // BLOCK_USERS
    return first, [min(hi, (b + 1) * BLOCK_USERS) - max(lo, b * BLOCK_USERS)
                   for b in range(first, last + 1)]


def calibrate_base_rate(cfg: WorldConfig, seed: int) -> dict:
    """The Pay Money scale that gives the world the configured Apple NSF rate.

    A pilot simulates the Apple-registered users among the world's first
    ``targets.pilot_users`` users (the same users and random streams as the world, so the
    result depends only on the config and the seed). It keeps ``behaviour.pay_money_scale``
    when that meets ``targets.apple_nsf_rate`` within a fifth of
    ``targets.calibration_tolerance``; otherwise it bisects the log scale (higher Pay Money
    levels: fewer failed charges) until it does. Every run uses the same streams, so the
    pilot's rate is a deterministic function of the scale.

    Returns
    -------
    dict
        ``pay_money_scale`` (the value to use), ``pilot_users``, ``pilot_rows``,
        ``pilot_rate`` (at that value), ``target``, ``pilot_tolerance`` (what the pilot aims
        at), ``runs``, and ``met``: whether the pilot's rate is within the configured
        tolerance (False when the target lies beyond what the bracket's scales reach: the
        nearest end is used).
    """
    cal, tgt = cfg.calendar, cfg.targets
    n = min(tgt.pilot_users, cfg.population.n_users)
    first_block, sizes = _block_sizes(0, n)
    uid = np.arange(n, dtype=np.int64)
    seeds = stream_seeds(_block_keys(seed, first_block, sizes, DAYS), uid % BLOCK_USERS)
    obs_days = np.asarray(cal.observation_days, np.int64)
    cp_days = np.asarray(sorted({int(c) for d in obs_days for c in (d, d + cal.horizon_days)}),
                         np.int64)
    at_obs = np.searchsorted(cp_days, obs_days)
    at_end = np.searchsorted(cp_days, obs_days + cal.horizon_days)
    beh = _behaviour(cfg)
    prices = np.asarray(cfg.behaviour.appstore_prices, np.float64)
    drift = drift_factors(cfg)
    rows = {"n": 0}

    def pilot_rate(log_scale: float) -> float:
        init = BlockRNG([block_generator(seed, b, INIT) for b in
                         range(first_block, first_block + len(sizes))], sizes)
        pop = make_population(cfg, uid, init, pay_money_scale=float(np.exp(log_scale)))
        apple = np.flatnonzero(pop.apple_registered)
        m = apple.size
        rows["n"] = m * obs_days.size
        if m == 0:
            return 0.0
        cp_out = np.zeros((m, cp_days.size, len(COUNTERS)))
        simulate_users(0, m, uid[apple], np.ascontiguousarray(_params(pop)[apple]), beh, prices,
                       drift, cal.days, seeds[apple], np.zeros((0, m), np.uint64),
                       np.zeros(m, bool), obs_days, obs_days.size, cal.horizon_days, 1, False,
                       cp_days, cp_out,
                       np.zeros((obs_days.size, m)), np.zeros((0, m, len(ORACLE_COLUMNS))),
                       False, np.zeros((len(EVENT_COLUMNS), 0), np.int64),
                       np.zeros(2, np.int64), 0, np.zeros(4, np.int64))
        declines = cp_out[:, :, C["n_appstore_declines"]]
        return float(((declines[:, at_end] - declines[:, at_obs]) > 0).mean())

    target, tol = tgt.apple_nsf_rate, PILOT_AIM * tgt.calibration_tolerance
    best = float(np.log(cfg.behaviour.pay_money_scale))
    rate = pilot_rate(best)
    runs = 1
    if abs(rate - target) > tol:
        lo, hi = LOG_SCALE_BRACKET
        rate_lo, rate_hi = pilot_rate(lo), pilot_rate(hi)
        runs += 2
        for x, r in ((lo, rate_lo), (hi, rate_hi)):
            if abs(r - target) < abs(rate - target):
                best, rate = x, r
        if rate_hi < target < rate_lo:
            while abs(rate - target) > tol and runs < CALIBRATION_RUNS:
                mid = 0.5 * (lo + hi)
                rate_mid = pilot_rate(mid)
                runs += 1
                if abs(rate_mid - target) < abs(rate - target):
                    best, rate = mid, rate_mid
                if rate_mid > target:
                    lo = mid
                else:
                    hi = mid
    return {"pay_money_scale": float(np.exp(best)), "pilot_users": int(n),
            "pilot_rows": int(rows["n"]), "pilot_rate": rate, "target": target,
            "pilot_tolerance": tol, "runs": runs,
            "met": bool(abs(rate - target) <= tgt.calibration_tolerance)}


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to a temporary name, flush to disk, then rename over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

