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
    # What the bundle-or-charge costs need: purchases and amount of each grouped charge at its
    # closing, and grouped charges whose first attempt failed, with their amount.
    "n_grouped_purchases", "grouped_amount", "n_failed_charges", "failed_charge_amount",
)
C = {name: i for i, name in enumerate(COUNTERS)}
(N_TOPUPS, N_PAYMENTS, N_TRANSFERS, BALANCE_SUM, LOW_DAYS, TOPUP_AMOUNT, N_AUTO, PAYMENT_AMOUNT,
 N_DECLINES, TIN_AMOUNT, TOUT_AMOUNT, N_WITHDRAWALS, WITHDRAWAL_AMOUNT, N_APP_CHARGES,
 APP_AMOUNT, N_APP_DECLINES, N_ATTEMPTS, N_NEW_CHARGES, N_GROUPED_PURCHASES, GROUPED_AMOUNT,
 N_FAILED_CHARGES, FAILED_AMOUNT) = range(len(COUNTERS))

# Per-user parameter columns.
PARAMS = ("monthly_income", "payday", "payment_rate", "payment_scale", "transfer_out_rate",
          "transfer_in_rate", "appstore_rate", "topup_floor", "topup_target", "topup_check",
          "spot_topup", "group_delay", "bank_spend", "auto_topup", "initial_balance",
          "initial_bank", "appstore_slope")
(P_INCOME, P_PAYDAY, P_PAY_RATE, P_PAY_SCALE, P_OUT_RATE, P_IN_RATE, P_APP_RATE, P_FLOOR,
 P_TARGET, P_CHECK, P_SPOT, P_DELAY, P_BANK_SPEND, P_AUTO, P_BAL0, P_BANK0,
 P_APP_SLOPE) = range(len(PARAMS))
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

# Rows of the drift array: each day's factor of incomes, of prices, and of every App Store
# purchase rate (``world.drift``; all 1.0 in a stationary world, which then draws exactly the
# same numbers as without drift). A user's own App Store trend (their cohort's) is the
# parameter ``appstore_slope``: the daily change of the log rate.
DRIFT_ROWS = ("income", "price", "appstore")
D_INCOME, D_PRICE, D_APPSTORE = range(len(DRIFT_ROWS))

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO53 = 1.0 / 9007199254740992.0


@njit(cache=True)
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


# The kernel keeps a user's random stream and state in scalars and calls no function with array
# arguments inside its day loop: each such call costs an atomic reference-count increment and
# decrement per array (about 20 per call for a day step taking ten arrays), which profiling found
# to be three quarters of the kernel's time when the day step was a separate function.
#
# Compile time: the scalar helpers below are left to LLVM to inline (numba's own inlining,
# ``inline="always"``, re-types each helper at every call site: it tripled the first run's
# compilation for no run-time gain, measured). Only ``_emit``, which takes an array, is inlined
# by numba. ``run_days`` is called with non-literal flags (``np.bool_(False)``, ``np.int64(0)``)
# from both its callers, so it is compiled once, not once per literal.

@njit(cache=True)
def _uniform(s):
    """Next uniform on [0, 1) of the splitmix64 stream with state ``s``; returns ``(u, s)``."""
    s = s + _GOLDEN
    return (_mix(s) >> np.uint64(11)) * _TWO53, s


@njit(cache=True)
def _normal(s):
    u1, s = _uniform(s)
    u2, s = _uniform(s)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(6.283185307179586 * u2), s


@njit(cache=True)
def _poisson(s, lam, exp_neg_lam):
    """Poisson by CDF inversion (means are a few events a day at most); returns ``(k, s)``."""
    if lam <= 0.0:
        return 0, s
    u, s = _uniform(s)
    p = exp_neg_lam
    cdf = p
    k = 0
    while u > cdf and k < 200:
        k += 1
        p *= lam / k
        cdf += p
    return k, s


@njit(cache=True)
def _round100(x):
    return max(100.0, np.rint(x / 100.0) * 100.0)


@njit(cache=True)
def _ceil_unit(x, unit):
    return np.ceil(x / unit) * unit


@njit(cache=True, inline="always")
def _emit(ev_i, i, cap, uid, day, seq, etype, amount, balance, status, reason, group):
    """Write one event at slot ``i`` (if the buffer has room); returns the next slot."""
    if i < cap:
        ev_i[0, i] = uid
        ev_i[1, i] = day
        ev_i[2, i] = seq
        ev_i[3, i] = etype
        ev_i[4, i] = np.int64(amount)
        ev_i[5, i] = np.int64(balance)
        ev_i[6, i] = status
        ev_i[7, i] = reason
        ev_i[8, i] = group
    return i + 1


@njit(cache=True)
def _debit_plan(balance, bank, amount, auto, interactive, spot, target, unit, s):
    """Whether a debit of ``amount`` is paid, and the top-up that pays it (0 if none).

    A balance that cannot cover the debit is topped up from the bank when automatic top-up is
    on or, for a payment the user makes in the app, when the user chooses to top up on the
    spot (one uniform draw); otherwise the debit is declined. Returns ``(paid, top, s)``.
    """
    if balance >= amount:
        return True, 0.0, s
    willing = auto
    if interactive and not auto:
        u, s = _uniform(s)
        willing = u < spot
    # Automatic top-up covers the shortfall; on the spot, users top up to their target.
    need = amount - balance if auto else max(amount - balance, target - balance + amount)
    top = _ceil_unit(need, unit)
    if willing and bank >= top:
        return True, top, s
    return False, 0.0, s


@njit(cache=True)
def run_days(st, par, beh, prices, drift, cnt, rs, first, stop, rec, ev_i, pos, uid, stats,
             survive, weight):
    """Simulate one user's days ``first`` .. ``stop - 1`` in place.

    ``drift[:, day]`` holds the day's income, price and App Store rate factors
    (:data:`DRIFT_ROWS`).

    ``st`` is the state at the end of day ``first - 1``, ``cnt`` the running counters, ``rs[0]``
    the random stream; all three are updated. With ``rec``, events go to ``ev_i`` from slot
    ``pos[0]``; ``pos[1]`` is set if the buffer overflowed (the caller reserves room).

    With ``survive`` (the oracle's conditional paths), every grouped App Store charge is made to
    succeed: at each attempt, ``weight[0]`` is multiplied by the probability that the attempt
    succeeds given everything before it, and the day's manual top-up decision (the one draw
    left that decides the attempt) is drawn from its distribution given success. The path is
    then a draw from the world conditioned on no failed grouped charge, and ``weight[0]`` its
    likelihood ratio: ``E[weight] = P(no failed grouped charge)`` (sequential importance
    sampling). A certain failure sets ``weight[0] = 0`` and ends the path.
    """
    s = rs[0]
    cap = ev_i.shape[1]
    ei = pos[0]
    n_events = 0
    n_purchases = 0
    n_tin = 0
    n_tout = 0
    # Parameters and settings (constant over the user's calendar).
    income_mean = par[P_INCOME]
    payday = int(par[P_PAYDAY])
    floor_ = par[P_FLOOR]
    target = par[P_TARGET]
    check = par[P_CHECK]
    spot = par[P_SPOT]
    delay = par[P_DELAY]
    bank_spend = par[P_BANK_SPEND]
    auto = par[P_AUTO] > 0.5
    app_slope = par[P_APP_SLOPE]
    unit = beh[B_UNIT]
    transfer_median = beh[B_TRANSFER_MEDIAN]
    n_prices = prices.size
    # State.
    balance = st[S_BALANCE]
    bank = st[S_BANK]
    open_amount = st[S_OPEN_AMOUNT]
    open_count = st[S_OPEN_COUNT]
    open_first = st[S_OPEN_FIRST]
    group_no = st[S_GROUP_NO]
    charge_amount = st[S_CHARGE_AMOUNT]
    charge_group = st[S_CHARGE_GROUP]
    charge_attempts = st[S_CHARGE_ATTEMPTS]
    charge_next = st[S_CHARGE_NEXT]
    suspended_until = st[S_SUSPENDED_UNTIL]
    declined_before = st[S_DECLINED] > 0.5

    for day in range(first, stop):
        seq = 0
        declined = False
        price_f = drift[D_PRICE, day]
        # The amount of a grouped charge that falls due today (its group closes or a retry is
        # due): known at the start of the day, before the top-up decision that can pay it.
        due = 0.0
        if survive:
            if charge_amount > 0:
                if charge_next == day:
                    due = charge_amount
            elif open_count > 0 and (day - open_first >= delay or open_amount >= beh[B_CAP]):
                due = open_amount
        deferred_top = 0.0
        deferred_p = 0.0
        deferred_u = 0.0

        # 1. Income into the bank on payday.
        if day % 30 == payday:
            z, s = _normal(s)
            income = np.rint(income_mean * drift[D_INCOME, day] * np.exp(0.1 * z))
            bank += income
            n_events += 1
            if rec:
                ei = _emit(ev_i, ei, cap, uid, day, seq, INCOME, income, balance, OK, NO_REASON, 0)
            seq += 1

        # 2. Manual top-up when the balance is below the floor (or after yesterday's decline).
        u, s = _uniform(s)
        p_check = 0.9 if declined_before else check
        if survive and due > 0 and balance < floor_:
            # Decided at the charge below, once both outcomes of the decision are known.
            want = _ceil_unit(target - balance, unit)
            deferred_top = max(min(want, np.floor(bank / unit) * unit), 0.0)
            deferred_p = p_check
            deferred_u = u
        elif balance < floor_ and u < p_check:
            want = _ceil_unit(target - balance, unit)
            amount = min(want, np.floor(bank / unit) * unit)
            if amount > 0:
                bank -= amount
                balance += amount
                cnt[N_TOPUPS] += 1
                cnt[TOPUP_AMOUNT] += amount
                n_events += 1
                if rec:
                    ei = _emit(ev_i, ei, cap, uid, day, seq, TOPUP, amount, balance, OK,
                               NO_REASON, 0)
                seq += 1

        # 3. P2P transfers received.
        k, s = _poisson(s, par[P_IN_RATE], par[P_EXP_IN])
        for _ in range(k):
            z, s = _normal(s)
            amount = _round100(transfer_median * price_f * np.exp(0.7 * z))
            balance += amount
            cnt[N_TRANSFERS] += 1
            cnt[TIN_AMOUNT] += amount
            n_events += 1
            n_tin += 1
            if rec:
                ei = _emit(ev_i, ei, cap, uid, day, seq, TRANSFER_IN, amount, balance, OK,
                           NO_REASON, 0)
            seq += 1

        # 4. Grouped App Store charge: close a due group; the due charge is the first debit.
        if (open_count > 0 and charge_amount == 0
                and (day - open_first >= delay or open_amount >= beh[B_CAP])):
            charge_amount = open_amount
            cnt[N_GROUPED_PURCHASES] += open_count
            cnt[GROUPED_AMOUNT] += open_amount
            charge_group = group_no
            charge_attempts = 0
            charge_next = day
            open_amount = 0
            open_count = 0
            open_first = -1
            group_no += 1
        # 4-6. Debits in order: the due grouped charge, merchant payments, P2P transfers sent.
        for kind in range(3):
            if kind == 0:
                k = 1 if (charge_amount > 0 and charge_next == day) else 0
            elif kind == 1:
                k, s = _poisson(s, par[P_PAY_RATE], par[P_EXP_PAY])
            else:
                k, s = _poisson(s, par[P_OUT_RATE], par[P_EXP_OUT])
            for _ in range(k):
                if kind == 0 and survive:
                    # P(the attempt fails) given the day so far, over the top-up decision.
                    paid_top, _t, s = _debit_plan(balance + deferred_top, bank - deferred_top,
                                                  charge_amount, auto, False, spot, target, unit,
                                                  s)
                    paid_none, _t, s = _debit_plan(balance, bank, charge_amount, auto, False,
                                                   spot, target, unit, s)
                    p_fail = (deferred_p * (0.0 if paid_top else 1.0)
                              + (1.0 - deferred_p) * (0.0 if paid_none else 1.0))
                    weight[0] *= 1.0 - p_fail
                    if p_fail >= 1.0:
                        weight[0] = 0.0
                        break
                    # Where the decision matters, the one that makes the attempt succeed.
                    top_up = paid_top if paid_top != paid_none else deferred_u < deferred_p
                    if top_up and deferred_top > 0:
                        bank -= deferred_top
                        balance += deferred_top
                        cnt[N_TOPUPS] += 1
                        cnt[TOPUP_AMOUNT] += deferred_top
                        n_events += 1
                    deferred_top = 0.0
                if kind == 0:
                    cnt[N_ATTEMPTS] += 1
                    if charge_attempts == 0:
                        cnt[N_NEW_CHARGES] += 1
                    amount = charge_amount
                    etype = GROUPED_CHARGE
                    group = int(charge_group)
                elif kind == 1:
                    z, s = _normal(s)
                    amount = _round100(par[P_PAY_SCALE] * price_f * np.exp(0.8 * z))
                    etype = PAYMENT
                    group = 0
                else:
                    z, s = _normal(s)
                    amount = _round100(transfer_median * price_f * np.exp(0.7 * z))
                    etype = TRANSFER_OUT
                    group = 0
                    n_tout += 1
                paid, top, s = _debit_plan(balance, bank, amount, auto, kind > 0, spot, target,
                                           unit, s)
                if top > 0:
                    bank -= top
                    balance += top
                    cnt[N_TOPUPS] += 1
                    cnt[TOPUP_AMOUNT] += top
                    if auto:
                        cnt[N_AUTO] += 1
                    n_events += 1
                    if rec:
                        ei = _emit(ev_i, ei, cap, uid, day, seq, AUTO_TOPUP if auto else TOPUP,
                                   top, balance, OK, NO_REASON, 0)
                    seq += 1
                if paid:
                    balance -= amount
                n_events += 1
                if rec:
                    ei = _emit(ev_i, ei, cap, uid, day, seq, etype, amount, balance,
                               OK if paid else DECLINED,
                               NO_REASON if paid else INSUFFICIENT_FUNDS, group)
                seq += 1
                if kind == 0:
                    if paid:
                        cnt[N_APP_CHARGES] += 1
                        cnt[APP_AMOUNT] += amount
                        charge_amount = 0
                    else:
                        cnt[N_APP_DECLINES] += 1
                        if charge_attempts == 0:
                            cnt[N_FAILED_CHARGES] += 1
                            cnt[FAILED_AMOUNT] += amount
                        declined = True
                        charge_attempts += 1
                        if charge_attempts >= beh[B_MAX_ATTEMPTS]:
                            charge_amount = 0
                            suspended_until = day + 1 + beh[B_SUSPEND]
                        charge_next = day + beh[B_RETRY_GAP]
                elif paid:
                    if kind == 1:
                        cnt[N_PAYMENTS] += 1
                        cnt[PAYMENT_AMOUNT] += amount
                    else:
                        cnt[N_TRANSFERS] += 1
                        cnt[TOUT_AMOUNT] += amount
                else:
                    cnt[N_DECLINES] += 1
                    declined = True

        if survive and weight[0] == 0.0:
            break  # the path has failed for certain: nothing after it matters

        # 7. App Store purchases join the open group (cheap tiers are commoner). [ASSUMPTION]
        if suspended_until <= day:
            rate = par[P_APP_RATE]
            exp_neg_rate = par[P_EXP_APP]
            if rate > 0.0:  # only Apple-registered users buy: the others skip the drift's exp
                app_f = drift[D_APPSTORE, day]
                if app_slope != 0.0:
                    app_f *= np.exp(app_slope * day)
                if app_f != 1.0:
                    rate *= app_f
                    exp_neg_rate = np.exp(-rate)
            k, s = _poisson(s, rate, exp_neg_rate)
            for _ in range(k):
                u, s = _uniform(s)
                tier = min(int(u ** 1.6 * n_prices), n_prices - 1)
                price = np.rint(prices[tier] * price_f)
                if open_count == 0:
                    open_first = day
                open_amount += price
                open_count += 1
                n_events += 1
                n_purchases += 1
                if rec:
                    ei = _emit(ev_i, ei, cap, uid, day, seq, APPSTORE_PURCHASE, price, balance,
                               PENDING, NO_REASON, int(group_no))
                seq += 1

        # 8. Withdrawal of a large balance back to the bank.
        u, s = _uniform(s)
        if balance > 3 * target and u < beh[B_WITHDRAW]:
            amount = max(np.floor((balance - np.ceil(target)) / 100.0) * 100.0, 0.0)
            balance -= amount
            bank += amount
            cnt[N_WITHDRAWALS] += 1
            cnt[WITHDRAWAL_AMOUNT] += amount
            n_events += 1
            if rec:
                ei = _emit(ev_i, ei, cap, uid, day, seq, WITHDRAWAL, amount, balance, OK,
                           NO_REASON, 0)
            seq += 1

        # End of day: balance history, then spending from the bank outside Kakao Pay.
        cnt[BALANCE_SUM] += balance
        if balance < beh[B_LOW]:
            cnt[LOW_DAYS] += 1
        # Daily spending outside Kakao Pay varies +-40% around its mean. [ASSUMPTION]
        u, s = _uniform(s)
        spend = np.rint(bank_spend * price_f * (0.6 + 0.8 * u))
        bank -= min(bank, spend)
        declined_before = declined

    st[S_BALANCE] = balance
    st[S_BANK] = bank
    st[S_OPEN_AMOUNT] = open_amount
    st[S_OPEN_COUNT] = open_count
    st[S_OPEN_FIRST] = open_first
    st[S_GROUP_NO] = group_no
    st[S_CHARGE_AMOUNT] = charge_amount
    st[S_CHARGE_GROUP] = charge_group
    st[S_CHARGE_ATTEMPTS] = charge_attempts
    st[S_CHARGE_NEXT] = charge_next
    st[S_SUSPENDED_UNTIL] = suspended_until
    st[S_DECLINED] = 1.0 if declined_before else 0.0
    rs[0] = s
    if rec:
        if ei > cap:
            pos[1] = 1  # overflow: the caller reserves room, so this means a bug
            ei = cap
        pos[0] = ei
    stats[0] += n_events
    stats[1] += n_purchases
    stats[2] += n_tin
    stats[3] += n_tout


@njit(cache=True)
def simulate_users(start, stop, user_id, par, beh, prices, drift, days, seeds, oracle_keys,
                   oracle_sel, obs_days, oracle_from, horizon, draws, conditional, cp_days,
                   cp_out, bal_out, oracle_out, rec, ev_i, pos, reserve, stats):
    """Simulate users ``start``..``stop`` (row indices) over ``days`` days.

    Fills, per row: ``cp_out[row, j, :]`` the counters at the end of checkpoint day
    ``cp_days[j]``; ``bal_out[k, row]`` the balance at observation ``k``; ``oracle_out[k', row]``
    (see :func:`oracle`; ``conditional`` chooses its method) for rows with ``oracle_sel`` at
    observations ``k >= oracle_from``. With ``rec``, events go to ``ev_i`` from ``pos[0]``;
    stops early (returns the next row) when fewer than ``reserve`` event slots remain.
    """
    cap = ev_i.shape[1]
    st = np.empty(N_STATE)
    cnt = np.zeros(len(COUNTERS))
    rs = np.zeros(1, np.uint64)
    no_weight = np.ones(1)
    n_cp = cp_days.size
    n_obs = obs_days.size
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
        day = np.int64(0)  # not the literal 0: run_days is compiled for int64 days only
        # Run the days up to the next checkpoint or observation day, then record it.
        while day < days:
            last = days - 1
            if j < n_cp and cp_days[j] < last:
                last = cp_days[j]
            if k < n_obs and obs_days[k] < last:
                last = obs_days[k]
            run_days(st, p, beh, prices, drift, cnt, rs, day, last + 1, rec, ev_i, pos, uid,
                     stats, np.bool_(False), no_weight)
            day = last + 1
            while j < n_cp and cp_days[j] == last:
                cp_out[row, j, :] = cnt
                j += 1
            if k < n_obs and obs_days[k] == last:
                bal_out[k, row] = st[S_BALANCE]
                if k >= oracle_from and oracle_sel[row]:
                    oracle(st, p, beh, prices, drift, last, horizon, draws, conditional,
                           oracle_keys[k - oracle_from, row], oracle_out[k - oracle_from, row],
                           stats)
                k += 1
    return stop


#: Groups of the oracle's draws (draw ``m`` is in group ``m % ORACLE_GROUPS``). Each group's
#: own estimate is kept, so the Monte-Carlo noise of the oracle can be measured and its effect
#: on the oracle AUC removed (delete-a-group jackknife, ``nsf.metrics.oracle_auc``).
ORACLE_GROUPS = 8
#: What :func:`oracle` writes per row, in this order.
ORACLE_COLUMNS = ("p_nsf_appstore", "p_nsf_any",
                  *(f"p_nsf_appstore_group_{g}" for g in range(ORACLE_GROUPS)))


@njit(cache=True)
def oracle(st, par, beh, prices, drift, day, horizon, draws, conditional, key, out, stats):
    """P(NSF) over the horizon from this state, by ``draws`` re-simulations with own streams.

    With ``conditional`` (Rao-Blackwellised), each re-simulation is a path conditioned on no
    failed grouped charge and contributes ``1 - weight``, its likelihood ratio's complement
    (see :func:`run_days`): a probability, not a yes/no outcome, so the estimate's Monte-Carlo
    noise is smaller and rows that no path happened to fail still get their risk. Otherwise
    each path contributes whether a grouped charge failed (the plain Monte-Carlo average).
    Both are unbiased for the true probability.

    Writes ``out`` = (P(failed grouped charge), P(any insufficient-funds decline), then the
    first probability estimated from each group of draws (:data:`ORACLE_GROUPS`; NaN for a
    group without draws)).
    """
    sim = np.empty_like(st)
    c2 = np.zeros(len(COUNTERS))
    rs = np.zeros(1, np.uint64)
    weight = np.ones(1)
    dummy = np.zeros((9, 0), np.int64)
    dpos = np.zeros(2, np.int64)
    scratch = np.zeros(4, np.int64)
    group_sum = np.zeros(ORACLE_GROUPS)
    anyd = 0.0
    for m in range(draws):
        sim[:] = st
        c2[:] = 0.0
        weight[0] = 1.0
        rs[0] = stream_seed(key, m)
        run_days(sim, par, beh, prices, drift, c2, rs, day + 1, day + 1 + horizon,
                 np.bool_(False), dummy, dpos, np.int64(0), scratch, conditional, weight)
        if conditional:
            fail = 1.0 - weight[0]
            # P(no decline of any kind) = E[weight * no payment decline on the conditioned path].
            anyd += 1.0 - (weight[0] if c2[N_DECLINES] == 0 else 0.0)
        else:
            fail = 1.0 if c2[N_APP_DECLINES] > 0 else 0.0
            anyd += 1.0 if c2[N_APP_DECLINES] + c2[N_DECLINES] > 0 else 0.0
        group_sum[m % ORACLE_GROUPS] += fail
    out[0] = group_sum.sum() / draws
    out[1] = anyd / draws
    for g in range(ORACLE_GROUPS):
        n_g = (draws - g + ORACLE_GROUPS - 1) // ORACLE_GROUPS
        out[2 + g] = group_sum[g] / n_g if n_g > 0 else np.nan


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
