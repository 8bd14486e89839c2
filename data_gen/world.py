"""The compiled simulation kernel: each user's whole calendar, one user after another.

Users do not interact (P2P counterparts are outside the simulated population), so a user's days
can be simulated in one tight loop with the user's state in registers. Each user has their own
random stream: a splitmix64 sequence seeded from their block's ``SeedSequence`` child and their
offset in the block, so outputs do not depend on chunking or workers.

Within a day a user's events happen in this order (the ``seq`` of the event log): income into
the bank; a manual top-up if the balance is below the user's floor; P2P transfers received; the
day's attempt at an outstanding grouped App Store charge; merchant payments; P2P transfers sent;
App Store purchases (added to the open group, charged days later); a withdrawal of a large
balance to the bank. A debit the balance cannot cover is first topped up from the bank when
automatic top-up is on or, for a payment the user makes in the app, when the user chooses to
top up on the spot; otherwise it is declined for insufficient funds. Balances never go negative.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Event types, statuses and decline reasons (codes in the event log).
INCOME, TOPUP, AUTO_TOPUP, TRANSFER_IN, GROUPED_CHARGE, PAYMENT, TRANSFER_OUT = range(7)
APPSTORE_PURCHASE, WITHDRAWAL = 7, 8
EVENT_TYPES = ("income", "topup", "auto_topup", "transfer_in", "grouped_charge", "payment",
               "transfer_out", "appstore_purchase", "withdrawal")
OK, DECLINED, PENDING = 0, 1, 2
STATUSES = ("ok", "declined", "pending")
NO_REASON, INSUFFICIENT_FUNDS = 0, 1
REASONS = ("", "insufficient_funds")
EVENT_COLUMNS = ("user_id", "day", "seq", "event_type", "amount", "balance_after", "status",
                 "reason", "group_id")

# Running counters per user (cumulated; windows and horizons are differences of checkpoints).
COUNTERS = (
    "n_topups", "n_payments", "n_transfers", "balance_sum", "low_balance_days", "topup_amount",
    "n_auto_topups", "payment_amount", "n_declines", "transfer_in_amount", "transfer_out_amount",
    "n_withdrawals", "withdrawal_amount", "n_appstore_charges", "appstore_amount",
    "n_appstore_declines", "n_charge_attempts", "n_new_charges",
)
C = {name: i for i, name in enumerate(COUNTERS)}
(N_TOPUPS, N_PAYMENTS, N_TRANSFERS, BALANCE_SUM, LOW_DAYS, TOPUP_AMOUNT, N_AUTO, PAYMENT_AMOUNT,
 N_DECLINES, TIN_AMOUNT, TOUT_AMOUNT, N_WITHDRAWALS, WITHDRAWAL_AMOUNT, N_APP_CHARGES,
 APP_AMOUNT, N_APP_DECLINES, N_ATTEMPTS, N_NEW_CHARGES) = range(len(COUNTERS))

# Per-user parameter columns.
PARAMS = ("monthly_income", "payday", "payment_rate", "payment_scale", "transfer_out_rate",
          "transfer_in_rate", "appstore_rate", "topup_floor", "topup_target", "topup_check",
          "spot_topup", "group_delay", "bank_spend", "auto_topup", "initial_balance",
          "initial_bank")
(P_INCOME, P_PAYDAY, P_PAY_RATE, P_PAY_SCALE, P_OUT_RATE, P_IN_RATE, P_APP_RATE, P_FLOOR,
 P_TARGET, P_CHECK, P_SPOT, P_DELAY, P_BANK_SPEND, P_AUTO, P_BAL0, P_BANK0) = range(len(PARAMS))
# exp(-rate) of the four daily counts, appended to the parameters (they never change).
P_EXP_PAY, P_EXP_OUT, P_EXP_IN, P_EXP_APP = range(len(PARAMS), len(PARAMS) + 4)
N_PARAMS = len(PARAMS) + 4

# State vector of one user at the end of a day.
(S_BALANCE, S_BANK, S_OPEN_AMOUNT, S_OPEN_COUNT, S_OPEN_FIRST, S_GROUP_NO, S_CHARGE_AMOUNT,
 S_CHARGE_GROUP, S_CHARGE_ATTEMPTS, S_CHARGE_NEXT, S_SUSPENDED_UNTIL, S_DECLINED) = range(12)
N_STATE = 12

# Behaviour settings passed as one float vector.
BEHAVIOUR = ("topup_unit", "transfer_median", "grouping_cap", "charge_max_attempts",
             "retry_gap_days", "suspend_days", "withdrawal_per_day", "low_balance")
(B_UNIT, B_TRANSFER_MEDIAN, B_CAP, B_MAX_ATTEMPTS, B_RETRY_GAP, B_SUSPEND, B_WITHDRAW,
 B_LOW) = range(len(BEHAVIOUR))

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def stream_seed(block_key, offset):
    """Seed of one stream from its parent key and its offset (user in block, or draw)."""
    return _mix(block_key ^ _mix(np.uint64(offset) + _GOLDEN))


@njit(cache=True)
def stream_seeds(parent_keys, offsets):
    """:func:`stream_seed` for arrays of parent keys and offsets."""
    out = np.empty(offsets.size, np.uint64)
    for i in range(offsets.size):
        out[i] = stream_seed(parent_keys[i], offsets[i])
    return out


@njit(cache=True, inline="always")
def _uniform(rs):
    rs[0] += _GOLDEN
    return (_mix(rs[0]) >> np.uint64(11)) * _TWO53


@njit(cache=True, inline="always")
def _normal(rs):
    u1 = _uniform(rs)
    u2 = _uniform(rs)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(6.283185307179586 * u2)


@njit(cache=True, inline="always")
def _poisson(rs, lam, exp_neg_lam):
    """Poisson by CDF inversion (means are a few events a day at most)."""
    if lam <= 0.0:
        return 0
    u = _uniform(rs)
    p = exp_neg_lam
    cdf = p
    k = 0
    while u > cdf and k < 200:
        k += 1
        p *= lam / k
        cdf += p
    return k


@njit(cache=True, inline="always")
def _round100(x):
    return max(100.0, np.rint(x / 100.0) * 100.0)


@njit(cache=True, inline="always")
def _ceil_unit(x, unit):
    return np.ceil(x / unit) * unit


@njit(cache=True)
def _emit(ev_i, pos, cap, uid, day, seq, etype, amount, balance, status, reason, group):
    i = pos[0]
    if i >= cap:
        pos[1] = 1  # overflow: the caller reserves room, so this means a bug
        return
    ev_i[0, i] = uid
    ev_i[1, i] = day
    ev_i[2, i] = seq
    ev_i[3, i] = etype
    ev_i[4, i] = np.int64(amount)
    ev_i[5, i] = np.int64(balance)
    ev_i[6, i] = status
    ev_i[7, i] = reason
    ev_i[8, i] = group
    pos[0] = i + 1


@njit(cache=True)
def _debit(st, par, beh, cnt, rs, amount, interactive, etype, group, rec, ev_i, pos, cap, uid,
           day, seq, stats):
    """Take ``amount`` from Pay Money, with automatic or on-the-spot top-up; True if paid."""
    unit = beh[B_UNIT]
    paid = st[S_BALANCE] >= amount
    if not paid:
        auto = par[P_AUTO] > 0.5
        willing = auto
        if interactive and not auto:
            willing = _uniform(rs) < par[P_SPOT]
        if auto:
            need = amount - st[S_BALANCE]
        else:  # on the spot, users top up to their target
            need = max(amount - st[S_BALANCE], par[P_TARGET] - st[S_BALANCE] + amount)
        top = _ceil_unit(need, unit)
        if willing and st[S_BANK] >= top:
            st[S_BANK] -= top
            st[S_BALANCE] += top
            cnt[N_TOPUPS] += 1
            cnt[TOPUP_AMOUNT] += top
            if auto:
                cnt[N_AUTO] += 1
            stats[0] += 1
            if rec:
                _emit(ev_i, pos, cap, uid, day, seq[0], AUTO_TOPUP if auto else TOPUP,
                      top, st[S_BALANCE], OK, NO_REASON, 0)
            seq[0] += 1
            paid = True
    if paid:
        st[S_BALANCE] -= amount
    stats[0] += 1
    if rec:
        _emit(ev_i, pos, cap, uid, day, seq[0], etype, amount, st[S_BALANCE],
              OK if paid else DECLINED, NO_REASON if paid else INSUFFICIENT_FUNDS, group)
    seq[0] += 1
    return paid


@njit(cache=True)
def day_step(st, par, beh, prices, cnt, rs, day, rec, ev_i, pos, cap, uid, stats, seq):
    """Simulate one user's ``day`` in place (state ``st``, counters ``cnt``)."""
    unit = beh[B_UNIT]
    seq[0] = 0
    declined = False

    # 1. Income into the bank on payday.
    if day % 30 == int(par[P_PAYDAY]):
        income = np.rint(par[P_INCOME] * np.exp(0.1 * _normal(rs)))
        st[S_BANK] += income
        stats[0] += 1
        if rec:
            _emit(ev_i, pos, cap, uid, day, seq[0], INCOME, income, st[S_BALANCE], OK,
                  NO_REASON, 0)
        seq[0] += 1

    # 2. Manual top-up when the balance is below the floor (or after yesterday's decline).
    u = _uniform(rs)
    p_check = 0.9 if st[S_DECLINED] > 0.5 else par[P_CHECK]
    if st[S_BALANCE] < par[P_FLOOR] and u < p_check:
        want = _ceil_unit(par[P_TARGET] - st[S_BALANCE], unit)
        amount = min(want, np.floor(st[S_BANK] / unit) * unit)
        if amount > 0:
            st[S_BANK] -= amount
            st[S_BALANCE] += amount
            cnt[N_TOPUPS] += 1
            cnt[TOPUP_AMOUNT] += amount
            stats[0] += 1
            if rec:
                _emit(ev_i, pos, cap, uid, day, seq[0], TOPUP, amount, st[S_BALANCE], OK,
                      NO_REASON, 0)
            seq[0] += 1

    # 3. P2P transfers received.
    for _ in range(_poisson(rs, par[P_IN_RATE], par[P_EXP_IN])):
        amount = _round100(beh[B_TRANSFER_MEDIAN] * np.exp(0.7 * _normal(rs)))
        st[S_BALANCE] += amount
        cnt[N_TRANSFERS] += 1
        cnt[TIN_AMOUNT] += amount
        stats[0] += 1
        stats[2] += 1
        if rec:
            _emit(ev_i, pos, cap, uid, day, seq[0], TRANSFER_IN, amount, st[S_BALANCE], OK,
                  NO_REASON, 0)
        seq[0] += 1

    # 4. Grouped App Store charge: close a due group, then attempt a due charge.
    if (st[S_OPEN_COUNT] > 0 and st[S_CHARGE_AMOUNT] == 0
            and (day - st[S_OPEN_FIRST] >= par[P_DELAY] or st[S_OPEN_AMOUNT] >= beh[B_CAP])):
        st[S_CHARGE_AMOUNT] = st[S_OPEN_AMOUNT]
        st[S_CHARGE_GROUP] = st[S_GROUP_NO]
        st[S_CHARGE_ATTEMPTS] = 0
        st[S_CHARGE_NEXT] = day
        st[S_OPEN_AMOUNT] = 0
        st[S_OPEN_COUNT] = 0
        st[S_OPEN_FIRST] = -1
        st[S_GROUP_NO] += 1
    if st[S_CHARGE_AMOUNT] > 0 and st[S_CHARGE_NEXT] == day:
        cnt[N_ATTEMPTS] += 1
        if st[S_CHARGE_ATTEMPTS] == 0:
            cnt[N_NEW_CHARGES] += 1
        charge = st[S_CHARGE_AMOUNT]
        if _debit(st, par, beh, cnt, rs, charge, False, GROUPED_CHARGE,
                  int(st[S_CHARGE_GROUP]), rec, ev_i, pos, cap, uid, day, seq, stats):
            cnt[N_APP_CHARGES] += 1
            cnt[APP_AMOUNT] += charge
            st[S_CHARGE_AMOUNT] = 0
        else:
            cnt[N_APP_DECLINES] += 1
            declined = True
            st[S_CHARGE_ATTEMPTS] += 1
            if st[S_CHARGE_ATTEMPTS] >= beh[B_MAX_ATTEMPTS]:
                st[S_CHARGE_AMOUNT] = 0
                st[S_SUSPENDED_UNTIL] = day + 1 + beh[B_SUSPEND]
            st[S_CHARGE_NEXT] = day + beh[B_RETRY_GAP]

    # 5. Merchant payments.
    for _ in range(_poisson(rs, par[P_PAY_RATE], par[P_EXP_PAY])):
        amount = _round100(par[P_PAY_SCALE] * np.exp(0.8 * _normal(rs)))
        if _debit(st, par, beh, cnt, rs, amount, True, PAYMENT, 0, rec, ev_i, pos, cap, uid, day,
                  seq, stats):
            cnt[N_PAYMENTS] += 1
            cnt[PAYMENT_AMOUNT] += amount
        else:
            cnt[N_DECLINES] += 1
            declined = True

    # 6. P2P transfers sent.
    for _ in range(_poisson(rs, par[P_OUT_RATE], par[P_EXP_OUT])):
        amount = _round100(beh[B_TRANSFER_MEDIAN] * np.exp(0.7 * _normal(rs)))
        stats[3] += 1
        if _debit(st, par, beh, cnt, rs, amount, True, TRANSFER_OUT, 0, rec, ev_i, pos, cap, uid,
                  day, seq, stats):
            cnt[N_TRANSFERS] += 1
            cnt[TOUT_AMOUNT] += amount
        else:
            cnt[N_DECLINES] += 1
            declined = True

    # 7. App Store purchases join the open group (cheap tiers are commoner). [ASSUMPTION]
    if st[S_SUSPENDED_UNTIL] <= day:
        n_prices = prices.size
        for _ in range(_poisson(rs, par[P_APP_RATE], par[P_EXP_APP])):
            tier = min(int(_uniform(rs) ** 1.6 * n_prices), n_prices - 1)
            price = prices[tier]
            if st[S_OPEN_COUNT] == 0:
                st[S_OPEN_FIRST] = day
            st[S_OPEN_AMOUNT] += price
            st[S_OPEN_COUNT] += 1
            stats[0] += 1
            stats[1] += 1
            if rec:
                _emit(ev_i, pos, cap, uid, day, seq[0], APPSTORE_PURCHASE, price,
                      st[S_BALANCE], PENDING, NO_REASON, int(st[S_GROUP_NO]))
            seq[0] += 1

    # 8. Withdrawal of a large balance back to the bank.
    u = _uniform(rs)
    if st[S_BALANCE] > 3 * par[P_TARGET] and u < beh[B_WITHDRAW]:
        amount = max(np.floor((st[S_BALANCE] - np.ceil(par[P_TARGET])) / 100.0) * 100.0, 0.0)
        st[S_BALANCE] -= amount
        st[S_BANK] += amount
        cnt[N_WITHDRAWALS] += 1
        cnt[WITHDRAWAL_AMOUNT] += amount
        stats[0] += 1
        if rec:
            _emit(ev_i, pos, cap, uid, day, seq[0], WITHDRAWAL, amount, st[S_BALANCE], OK,
                  NO_REASON, 0)
        seq[0] += 1

    # End of day: balance history, then spending from the bank outside Kakao Pay.
    cnt[BALANCE_SUM] += st[S_BALANCE]
    if st[S_BALANCE] < beh[B_LOW]:
        cnt[LOW_DAYS] += 1
    # Daily spending outside Kakao Pay varies +-40% around its mean. [ASSUMPTION]
    spend = np.rint(par[P_BANK_SPEND] * (0.6 + 0.8 * _uniform(rs)))
    st[S_BANK] -= min(st[S_BANK], spend)
    st[S_DECLINED] = 1.0 if declined else 0.0


@njit(cache=True)
def simulate_users(start, stop, user_id, par, beh, prices, days, seeds, oracle_keys,
                   oracle_sel, obs_days, oracle_from, horizon, draws, cp_days, cp_out, bal_out,
                   oracle_out, rec, ev_i, pos, reserve, stats):
    """Simulate users ``start``..``stop`` (row indices) over ``days`` days.

    Fills, per row: ``cp_out[row, j, :]`` the counters at the end of checkpoint day
    ``cp_days[j]``; ``bal_out[k, row]`` the balance at observation ``k``; ``oracle_out[k', row]``
    (P(App Store NSF), P(any NSF), expected grouped charges) for rows with ``oracle_sel`` at
    observations ``k >= oracle_from``. With ``rec``, events go to ``ev_i`` from ``pos[0]``;
    stops early (returns the next row) when fewer than ``reserve`` event slots remain.
    """
    cap = ev_i.shape[1]
    st = np.empty(N_STATE)
    cnt = np.zeros(len(COUNTERS))
    rs = np.zeros(1, np.uint64)
    seq = np.zeros(1, np.int64)
    n_cp = cp_days.size
    for row in range(start, stop):
        if rec and cap - pos[0] < reserve:
            return row
        p = par[row]
        uid = user_id[row]
        st[:] = 0.0
        st[S_BALANCE] = p[P_BAL0]
        st[S_BANK] = p[P_BANK0]
        st[S_OPEN_FIRST] = -1
        cnt[:] = 0.0
        rs[0] = seeds[row]
        j = 0
        k = 0
        for day in range(days):
            day_step(st, p, beh, prices, cnt, rs, day, rec, ev_i, pos, cap, uid, stats, seq)
            while j < n_cp and cp_days[j] == day:
                cp_out[row, j, :] = cnt
                j += 1
            if k < obs_days.size and obs_days[k] == day:
                bal_out[k, row] = st[S_BALANCE]
                if k >= oracle_from and oracle_sel[row]:
                    _oracle(st, p, beh, prices, day, horizon, draws, oracle_keys[k - oracle_from,
                            row], oracle_out[k - oracle_from, row], stats)
                k += 1
    return stop


@njit(cache=True)
def _oracle(st, par, beh, prices, day, horizon, draws, key, out, stats):
    """Re-simulate the horizon ``draws`` times from this state with independent streams."""
    sim = np.empty_like(st)
    c2 = np.zeros(len(COUNTERS))
    rs = np.zeros(1, np.uint64)
    dummy = np.zeros((9, 1), np.int64)
    dpos = np.zeros(2, np.int64)
    scratch = np.zeros(4, np.int64)
    seq = np.zeros(1, np.int64)
    app = 0.0
    anyd = 0.0
    charges = 0.0
    for m in range(draws):
        sim[:] = st
        c2[:] = 0.0
        rs[0] = stream_seed(key, m)
        for d in range(day + 1, day + 1 + horizon):
            day_step(sim, par, beh, prices, c2, rs, d, False, dummy, dpos, 0, 0, scratch, seq)
        if c2[N_APP_DECLINES] > 0:
            app += 1.0
        if c2[N_APP_DECLINES] + c2[N_DECLINES] > 0:
            anyd += 1.0
        charges += c2[N_NEW_CHARGES]
    out[0] = app / draws
    out[1] = anyd / draws
    out[2] = charges / draws


@njit(cache=True)
def events_hash_sum(ev_i, m, day_offset, order, salts):
    """The event rows' checksum partial, equal to ``_checksum.rows_hash_sum`` of the written
    columns (row hashes summed mod 2^64), computed without materialising hash arrays.

    ``order`` lists buffer rows in the checksum's (sorted-name) column order; the day row is
    shifted by ``day_offset`` to the written date's day number.
    """
    total = np.uint64(0)
    for i in range(m):
        acc = np.uint64(0)
        for j in range(order.size):
            r = order[j]
            v = ev_i[r, i]
            if r == 1:
                v += day_offset
            acc += _mix(np.uint64(v) + _GOLDEN) * salts[j]
        total += _mix(acc + _GOLDEN)
    return total
