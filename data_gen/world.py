"""One simulated day for many users at once: money flows, grouped App Store charges, declines.

Within a day each user's events happen in this order (the ``seq`` of the event log):
income into the bank; a manual top-up if the balance is below the user's floor; P2P transfers
received; the day's attempt at an outstanding grouped App Store charge; merchant payments; P2P
transfers sent; App Store purchases (added to the open group, charged later); a withdrawal of a
large balance to the bank. A debit that the balance cannot cover triggers an automatic top-up
from the bank (when on and the bank can pay); otherwise it is declined for insufficient funds.
Balances never go negative. All arrays are over users (rows); the loop over days is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from data_gen._rng import BlockRNG
from data_gen.config import BehaviourConfig
from data_gen.population import Population

# Event types (codes in the event log).
INCOME, TOPUP, AUTO_TOPUP, TRANSFER_IN, GROUPED_CHARGE, PAYMENT, TRANSFER_OUT = range(7)
APPSTORE_PURCHASE, WITHDRAWAL = 7, 8
EVENT_TYPES = ("income", "topup", "auto_topup", "transfer_in", "grouped_charge", "payment",
               "transfer_out", "appstore_purchase", "withdrawal")
# Event status and decline reason codes.
OK, DECLINED, PENDING = 0, 1, 2
STATUSES = ("ok", "declined", "pending")
NO_REASON, INSUFFICIENT_FUNDS = 0, 1
REASONS = ("", "insufficient_funds")

# Rows of the running counter matrix (cumulated per user, differenced over windows).
COUNTERS = (
    "n_topups", "n_payments", "n_transfers", "balance_sum", "low_balance_days", "topup_amount",
    "n_auto_topups", "payment_amount", "n_declines", "transfer_in_amount", "transfer_out_amount",
    "n_withdrawals", "withdrawal_amount", "n_appstore_charges", "appstore_amount",
    "n_appstore_declines", "n_charge_attempts", "n_new_charges",
)
C = {name: i for i, name in enumerate(COUNTERS)}


@dataclass
class State:
    """What a user's money looks like at the end of a day (everything the future depends on)."""

    balance: np.ndarray  # Pay Money, KRW (int64, never negative)
    bank: np.ndarray  # linked bank account, KRW (int64, never negative; unobserved)
    open_amount: np.ndarray  # App Store purchases awaiting grouping
    open_count: np.ndarray
    open_first: np.ndarray  # day of the open group's first purchase, -1 if none
    group_no: np.ndarray  # id of the open group (per user, increasing)
    charge_amount: np.ndarray  # outstanding grouped charge, 0 if none
    charge_group: np.ndarray
    charge_attempts: np.ndarray
    charge_next: np.ndarray  # day of the next attempt
    suspended_until: np.ndarray  # no App Store purchases before this day
    declined_recently: np.ndarray  # a decline yesterday prompts a top-up today

    @classmethod
    def initial(cls, pop: Population) -> State:
        n = pop.user_id.size
        return cls(
            balance=pop.initial_balance.astype(np.int64),
            bank=pop.initial_bank.astype(np.int64),
            open_amount=np.zeros(n, np.int64), open_count=np.zeros(n, np.int32),
            open_first=np.full(n, -1, np.int32), group_no=np.zeros(n, np.int32),
            charge_amount=np.zeros(n, np.int64), charge_group=np.zeros(n, np.int32),
            charge_attempts=np.zeros(n, np.int8), charge_next=np.zeros(n, np.int32),
            suspended_until=np.zeros(n, np.int32), declined_recently=np.zeros(n, bool),
        )

    def repeat(self, times: int) -> State:
        """Each row repeated ``times`` times in place (row-major), for re-simulation."""
        return State(**{f.name: np.repeat(getattr(self, f.name), times) for f in fields(self)})


class EventLog:
    """Collects one day's events as column arrays (only when the event log is on)."""

    def __init__(self, user_id: np.ndarray):
        self.user_id = user_id
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.seq = np.zeros(user_id.size, np.int16)
        self.day = 0

    def start_day(self, day: int) -> None:
        self.day = day
        self.seq[:] = 0

    def emit(self, rows, etype, amount, balance_after, status, reason, group) -> None:
        if rows.size == 0:
            return
        seq = self.seq[rows]
        self.seq[rows] += 1
        n = rows.size
        self.parts.append((
            self.user_id[rows], np.full(n, self.day, np.int32), seq,
            np.broadcast_to(np.asarray(etype, np.int8), (n,)).copy(), np.asarray(amount, np.int64),
            np.asarray(balance_after, np.int64), np.full(n, status, np.int8) if np.isscalar(
                status) else status.astype(np.int8),
            np.full(n, reason, np.int8) if np.isscalar(reason) else reason.astype(np.int8),
            np.broadcast_to(np.asarray(group, np.int32), (n,)).copy(),
        ))

    def drain(self) -> list[tuple[np.ndarray, ...]]:
        parts, self.parts = self.parts, []
        return parts


EVENT_COLUMNS = ("user_id", "day", "seq", "event_type", "amount", "balance_after", "status",
                 "reason", "group_id")


def _round_amount(x: np.ndarray, step: int = 100) -> np.ndarray:
    return np.maximum(step, np.rint(x / step) * step).astype(np.int64)


class DayStepper:
    """Advances a :class:`State` by one day.

    Parameters
    ----------
    pop
        The users' parameters (rows aligned with the state).
    beh
        Behaviour settings.
    counters
        ``(len(COUNTERS), n_rows)`` float matrix; each day's flows are added to it.
    """

    def __init__(self, pop: Population, beh: BehaviourConfig, counters: np.ndarray):
        self.p = pop
        self.beh = beh
        self.cnt = counters
        self.unit = beh.topup_unit
        self.prices = np.asarray(beh.appstore_prices, np.int64)
        self.exp_neg = {"in": np.exp(-pop.transfer_in_rate), "pay": np.exp(-pop.payment_rate),
                        "out": np.exp(-pop.transfer_out_rate), "app": np.exp(-pop.appstore_rate)}
        # Events generated (counted whether or not the event log is written).
        self.n_events = 0
        self.n_purchases = 0
        self.n_transfers_in = 0
        self.n_transfers_out = 0

    def _debit(self, s: State, rows, amount, log, etype, rng: BlockRNG, *, interactive: bool,
               group=0) -> np.ndarray:
        """Take ``amount`` from Pay Money for ``rows``; returns the success mask.

        A shortfall is topped up from the bank first when automatic top-up is on, or, for an
        ``interactive`` payment, when the user chooses to top up on the spot; the bank must hold
        the top-up. Otherwise the debit is declined for insufficient funds.
        """
        p, cnt, unit = self.p, self.cnt, self.unit
        bal = s.balance[rows]
        covered = bal >= amount
        short = np.flatnonzero(~covered)
        if short.size:
            r = rows[short]
            auto = p.auto_topup[r]
            willing = auto | (rng.subset(r) < p.spot_topup[r]) if interactive else auto
            # Automatic top-up covers the shortfall; on the spot, users top up to their target.
            need = np.where(auto, amount[short] - bal[short],
                            np.maximum(amount[short] - bal[short],
                                       p.topup_target[r] - bal[short] + amount[short]))
            top = (-(-need // unit) * unit).astype(np.int64)  # ceil to the unit
            can = willing & (s.bank[r] >= top)
            r, top, auto = r[can], top[can], auto[can]
            s.bank[r] -= top
            s.balance[r] += top
            cnt[C["n_topups"], r] += 1
            cnt[C["n_auto_topups"], r] += auto
            cnt[C["topup_amount"], r] += top
            self.n_events += r.size
            if log is not None:
                log.emit(r, np.where(auto, AUTO_TOPUP, TOPUP), top, s.balance[r], OK, NO_REASON,
                         0)
            covered[short[can]] = True
        ok_rows = rows[covered]
        s.balance[ok_rows] -= amount[covered]
        self.n_events += rows.size
        if log is not None:
            status = np.where(covered, OK, DECLINED)
            reason = np.where(covered, NO_REASON, INSUFFICIENT_FUNDS)
            log.emit(rows, etype, amount, s.balance[rows], status, reason, group)
        return covered

    def step(self, s: State, day: int, rng: BlockRNG, log: EventLog | None = None) -> None:
        """Simulate ``day`` (0-based) for every row of ``s`` in place."""
        p, beh, cnt, unit = self.p, self.beh, self.cnt, self.unit
        if log is not None:
            log.start_day(day)
        declined = np.zeros(s.balance.size, bool)

        # 1. Income into the bank on the user's payday.
        paid = np.flatnonzero(p.payday == day % 30)
        if paid.size:
            income = np.rint(p.monthly_income[paid] * np.exp(0.1 * rng.subset_normal(paid)))
            s.bank[paid] += income.astype(np.int64)
            self.n_events += paid.size
            if log is not None:
                log.emit(paid, INCOME, income, s.balance[paid], OK, NO_REASON, 0)

        # 2. Manual top-up when the balance is below the user's floor (or after a decline).
        u = rng.random()
        want_p = np.where(s.declined_recently, 0.9, p.topup_check)
        cand = np.flatnonzero((s.balance < p.topup_floor) & (u < want_p))
        if cand.size:
            want = -((s.balance[cand] - p.topup_target[cand]) // unit) * unit
            amount = np.minimum(want, (s.bank[cand] // unit) * unit).astype(np.int64)
            keep = amount > 0
            cand, amount = cand[keep], amount[keep]
            s.bank[cand] -= amount
            s.balance[cand] += amount
            cnt[C["n_topups"], cand] += 1
            cnt[C["topup_amount"], cand] += amount
            self.n_events += cand.size
            if log is not None:
                log.emit(cand, TOPUP, amount, s.balance[cand], OK, NO_REASON, 0)

        # 3. P2P transfers received.
        k_in = rng.poisson_small(p.transfer_in_rate, self.exp_neg["in"])
        r = 0
        while True:
            rows = np.flatnonzero(k_in > r)
            if rows.size == 0:
                break
            amount = _round_amount(beh.transfer_median * np.exp(0.7 * rng.subset_normal(rows)))
            s.balance[rows] += amount
            cnt[C["n_transfers"], rows] += 1
            cnt[C["transfer_in_amount"], rows] += amount
            self.n_events += rows.size
            self.n_transfers_in += rows.size
            if log is not None:
                log.emit(rows, TRANSFER_IN, amount, s.balance[rows], OK, NO_REASON, 0)
            r += 1

        # 4. Grouped App Store charges: close due groups, then attempt due charges.
        due = np.flatnonzero(
            (s.open_count > 0) & (s.charge_amount == 0)
            & (((day - s.open_first) >= p.group_delay) | (s.open_amount >= beh.grouping_cap)))
        if due.size:
            s.charge_amount[due] = s.open_amount[due]
            s.charge_group[due] = s.group_no[due]
            s.charge_attempts[due] = 0
            s.charge_next[due] = day
            s.open_amount[due] = 0
            s.open_count[due] = 0
            s.open_first[due] = -1
            s.group_no[due] += 1
        att = np.flatnonzero((s.charge_amount > 0) & (s.charge_next == day))
        if att.size:
            cnt[C["n_charge_attempts"], att] += 1
            cnt[C["n_new_charges"], att] += s.charge_attempts[att] == 0
            ok = self._debit(s, att, s.charge_amount[att], log, GROUPED_CHARGE, rng,
                             interactive=False, group=s.charge_group[att])
            good, bad = att[ok], att[~ok]
            cnt[C["n_appstore_charges"], good] += 1
            cnt[C["appstore_amount"], good] += s.charge_amount[good]
            s.charge_amount[good] = 0
            cnt[C["n_appstore_declines"], bad] += 1
            declined[bad] = True
            s.charge_attempts[bad] += 1
            final = bad[s.charge_attempts[bad] >= beh.charge_max_attempts]
            s.charge_amount[final] = 0
            s.suspended_until[final] = day + 1 + beh.suspend_days
            s.charge_next[bad] = day + beh.retry_gap_days

        # 5-6. Merchant payments, then P2P transfers sent.
        for rate, median, sigma, etype, n_key, amt_key in (
            (p.payment_rate, None, 0.8, PAYMENT, "n_payments", "payment_amount"),
            (p.transfer_out_rate, beh.transfer_median, 0.7, TRANSFER_OUT, "n_transfers",
             "transfer_out_amount"),
        ):
            k = rng.poisson_small(rate, self.exp_neg["pay" if etype == PAYMENT else "out"])
            r = 0
            while True:
                rows = np.flatnonzero(k > r)
                if rows.size == 0:
                    break
                scale = p.payment_scale[rows] if median is None else median
                amount = _round_amount(scale * np.exp(sigma * rng.subset_normal(rows)))
                ok = self._debit(s, rows, amount, log, etype, rng, interactive=True)
                good = rows[ok]
                cnt[C[n_key], good] += 1
                cnt[C[amt_key], good] += amount[ok]
                if etype == TRANSFER_OUT:
                    self.n_transfers_out += rows.size
                bad = rows[~ok]
                cnt[C["n_declines"], bad] += 1
                declined[bad] = True
                r += 1

        # 7. App Store purchases join the open group (charged days later).
        open_ = s.suspended_until <= day
        k = rng.poisson_small(np.where(open_, p.appstore_rate, 0.0),
                              np.where(open_, self.exp_neg["app"], 1.0))
        r = 0
        while True:
            rows = np.flatnonzero(k > r)
            if rows.size == 0:
                break
            tier = np.minimum(
                (rng.subset(rows) ** 1.6 * self.prices.size).astype(np.int64),
                self.prices.size - 1)  # cheap tiers are commoner [ASSUMPTION]
            price = self.prices[tier]
            first = s.open_count[rows] == 0
            s.open_first[rows[first]] = day
            s.open_amount[rows] += price
            s.open_count[rows] += 1
            self.n_events += rows.size
            self.n_purchases += rows.size
            if log is not None:
                log.emit(rows, APPSTORE_PURCHASE, price, s.balance[rows], PENDING, NO_REASON,
                         s.group_no[rows])
            r += 1

        # 8. Withdrawal of a large balance back to the bank.
        u = rng.random()
        wd = np.flatnonzero((s.balance > 3 * p.topup_target) & (u < beh.withdrawal_per_day))
        if wd.size:
            amount = (s.balance[wd] - np.ceil(p.topup_target[wd]).astype(np.int64)) // 100 * 100
            amount = np.maximum(amount, 0)
            s.balance[wd] -= amount
            s.bank[wd] += amount
            cnt[C["n_withdrawals"], wd] += 1
            cnt[C["withdrawal_amount"], wd] += amount
            self.n_events += wd.size
            if log is not None:
                log.emit(wd, WITHDRAWAL, amount, s.balance[wd], OK, NO_REASON, 0)

        # End of day: balance history, then spending from the bank outside Kakao Pay.
        cnt[C["balance_sum"]] += s.balance
        cnt[C["low_balance_days"]] += s.balance < beh.low_balance
        spend = np.rint(p.bank_spend * np.exp(0.3 * rng.normal() - 0.045)).astype(np.int64)
        s.bank -= np.minimum(s.bank, spend)
        s.declined_recently = declined
