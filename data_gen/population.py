"""Users: demographics, latent traits, observable attributes and behavioural parameters.

Latent traits are standard-normal scores built from independent base draws. Each observable
attribute is drawn from ``u = s * z + sqrt(1 - s^2) * e`` (see
:class:`~data_gen.config.DependenceConfig`); ``z`` is its standardised driver, ``e`` fresh noise,
and the attribute is ``u`` cut at normal quantiles so that its marginal shares do not depend on
``s``. With ``s = 0`` the attribute is independent of every latent trait and demographic.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from data_gen._rng import BlockRNG
from data_gen.config import REGIONS, WorldConfig

#: Kakao Pay's launch month [CASE: DESIGN.md]; no user joined before it.
KAKAO_PAY_LAUNCH = dt.date(2014, 9, 1)

#: E-mail domains ordered from the youngest to the oldest typical user, with shares.
#: [ASSUMPTION] Korean webmail market: Naver dominant, Daum/Hanmail older, Gmail younger.
EMAIL_DOMAINS = ("gmail.com", "kakao.com", "naver.com", "icloud.com", "nate.com", "daum.net",
                 "hanmail.net")
EMAIL_SHARES = (0.20, 0.05, 0.45, 0.03, 0.04, 0.15, 0.08)
#: Carriers ordered from the richest/youngest typical user; MVNO (budget) last.
#: [ASSUMPTION] approximate subscriber shares 2019-2022.
CARRIERS = ("SKT", "KT", "LGU+", "MVNO")
CARRIER_SHARES = (0.42, 0.26, 0.21, 0.11)
SIGNUP_CHANNELS = ("kakaotalk", "app", "web")
SIGNUP_SHARES = (0.70, 0.25, 0.05)
CARD_SHARES = (0.25, 0.30, 0.22, 0.12, 0.07, 0.04)  # 0..5 registered cards [ASSUMPTION]
AGE_BANDS = ((14, 19, "14-19"), (20, 29, "20-29"), (30, 39, "30-39"), (40, 49, "40-49"),
             (50, 59, "50-59"), (60, 200, "60+"))


def _std(*terms: tuple[float, np.ndarray]) -> np.ndarray:
    """Weighted sum of unit-variance, mutually uncorrelated scores, rescaled to unit variance."""
    total = sum(w * x for w, x in terms)
    return total / np.sqrt(sum(w * w for w, _ in terms))


def _mix(strength: float, driver: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return strength * driver + np.sqrt(1.0 - strength * strength) * noise


def _top_share_within(u: np.ndarray, eligible: np.ndarray, share: float,
                      bounds: np.ndarray) -> np.ndarray:
    """Mark, block by block, the ``share`` of eligible rows with the highest ``u``.

    Used where an attribute exists only within a subgroup that is itself selected on related
    traits (Apple billing among iOS users): a normal-quantile cut would miss the share.
    """
    out = np.zeros(u.size, bool)
    for lo, hi in itertools.pairwise(bounds):
        idx = lo + np.flatnonzero(eligible[lo:hi])
        k = round(share * idx.size)
        if k:
            top = idx[np.argsort(-u[idx], kind="stable")[:k]]
            out[top] = True
    return out


def _cut(u: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    """Category index by cutting a standard-normal score at the shares' quantiles."""
    edges = ndtri(np.clip(np.cumsum(shares)[:-1], 1e-12, 1 - 1e-12))
    return np.searchsorted(edges, u).astype(np.int8)


@dataclass
class Population:
    """Arrays over the users of one chunk (row ``i`` is user ``user_id[i]``)."""

    user_id: np.ndarray
    # demographics (auditor only)
    age: np.ndarray
    female: np.ndarray
    foreign: np.ndarray
    region: np.ndarray
    ios: np.ndarray
    # latent traits (truth only)
    income_z: np.ndarray
    buffer_z: np.ndarray
    discipline_z: np.ndarray
    appstore_z: np.ndarray
    spending_z: np.ndarray
    # observable attributes
    email_domain: np.ndarray
    carrier: np.ndarray
    join_day: np.ndarray  # days since 1970-01-01
    id_verified: np.ndarray
    n_cards: np.ndarray
    signup_channel: np.ndarray
    bank_linked: np.ndarray
    auto_topup: np.ndarray
    apple_registered: np.ndarray
    account_by_email: np.ndarray
    # behavioural parameters (truth only)
    monthly_income: np.ndarray
    payday: np.ndarray
    payment_rate: np.ndarray
    payment_scale: np.ndarray
    transfer_out_rate: np.ndarray
    transfer_in_rate: np.ndarray
    appstore_rate: np.ndarray
    topup_floor: np.ndarray
    topup_target: np.ndarray
    topup_check: np.ndarray
    spot_topup: np.ndarray
    group_delay: np.ndarray
    bank_spend: np.ndarray
    initial_balance: np.ndarray
    initial_bank: np.ndarray
    appstore_slope: np.ndarray  # daily change of the log App Store rate (world.drift)


def make_population(cfg: WorldConfig, user_id: np.ndarray, rng: BlockRNG, *,
                    pay_money_scale: float | None = None) -> Population:
    """Draw the users ``user_id`` (consecutive) from their blocks' initial streams.

    ``pay_money_scale`` overrides ``behaviour.pay_money_scale`` (the calibrated value, see
    :func:`data_gen.simulate.calibrate_base_rate`).
    """
    pop, dep, beh, w = cfg.population, cfg.dependence, cfg.behaviour, cfg.drivers
    # Independent base scores. The draw order is part of the dataset's definition.
    a = rng.normal()  # age score
    female = rng.random() < pop.female_share
    foreign = rng.random() < pop.foreign_share
    region = np.searchsorted(np.cumsum(pop.region_shares)[:-1], rng.random()).astype(np.int8)
    noise = {k: rng.normal() for k in (
        "income", "buffer", "discipline", "appstore", "spending", "email", "carrier", "join",
        "idv", "cards", "signup", "bank", "auto", "os", "apple")}

    age = np.clip(np.rint(pop.age_mean + pop.age_sd * a), pop.age_min, pop.age_max)
    hump = (1.0 - a * a) / np.sqrt(2.0)  # peaks mid-life; uncorrelated with a
    p_f = pop.female_share
    g = (female - p_f) / np.sqrt(max(p_f * (1 - p_f), 1e-12))

    income_z = _mix(dep.income, _std((w.income_midlife, hump), (w.income_age, a),
                                     (w.income_female, g)), noise["income"])
    buffer_z = _mix(dep.liquidity_buffer, _std((w.buffer_income, income_z), (w.buffer_age, a)),
                    noise["buffer"])
    discipline_z = _mix(dep.topup_discipline, _std((w.discipline_age, a),
                                                   (w.discipline_buffer, buffer_z)),
                        noise["discipline"])
    appstore_z = _mix(dep.appstore_propensity, -a, noise["appstore"])
    spending_z = _mix(dep.spending, income_z, noise["spending"])

    email_domain = _cut(_mix(dep.email_domain, a, noise["email"]), EMAIL_SHARES)
    carrier = _cut(_mix(dep.phone_carrier, _std((w.carrier_income, income_z), (w.carrier_age, a)),
                        noise["carrier"]), CARRIER_SHARES)
    # Join date: a high score means an early adopter; recent joins are more common.
    u_join = ndtr(_mix(dep.join_date, _std((w.join_age, a), (w.join_income, income_z)),
                       noise["join"]))
    launch = (KAKAO_PAY_LAUNCH - dt.date(1970, 1, 1)).days
    first_day = (cfg.calendar.start_date - dt.date(1970, 1, 1)).days
    join_day = (launch + np.floor((first_day - 1 - launch) * (1.0 - u_join) ** 0.6)).astype(
        np.int32)

    tgt = cfg.targets
    id_verified = _cut(-_mix(dep.id_verified, _std((w.id_verified_discipline, discipline_z),
                                                    (w.id_verified_income, income_z)),
                             noise["idv"]), (tgt.id_verified_share, 1 - tgt.id_verified_share)) == 0
    n_cards = _cut(_mix(dep.n_cards, income_z, noise["cards"]), CARD_SHARES)
    signup_channel = _cut(_mix(dep.signup_channel, a, noise["signup"]), SIGNUP_SHARES)
    bank_linked = _cut(-_mix(dep.bank_linked, _std((w.bank_linked_discipline, discipline_z),
                                                    (w.bank_linked_buffer, buffer_z)),
                             noise["bank"]),
                       (tgt.bank_linked_share, 1 - tgt.bank_linked_share)) == 0
    # Automatic top-up needs a linked bank account; its share among linked accounts is set so
    # that the share among all users meets the target.
    auto_given_bank = min(tgt.auto_topup_share / max(tgt.bank_linked_share, 1e-12), 1.0)
    auto_topup = _top_share_within(_mix(dep.auto_topup, discipline_z, noise["auto"]),
                                   bank_linked, auto_given_bank, rng.bounds)
    ios = _cut(-_mix(dep.device_os, _std((w.ios_age, a), (w.ios_income, income_z)), noise["os"]),
               (pop.ios_share, 1 - pop.ios_share)) == 0
    apple_given_ios = pop.apple_registered_share / pop.ios_share if pop.ios_share > 0 else 0.0
    apple_registered = _top_share_within(
        _mix(dep.apple_registration, appstore_z, noise["apple"]), ios, apple_given_ios,
        rng.bounds)
    account_by_email = rng.random() < 0.6  # [ASSUMPTION] Kakao accounts mostly e-mail sign-in

    monthly_income = beh.monthly_income_median * np.exp(beh.income_sigma * income_z)
    payday = rng.integers(0, 30)
    payment_rate = beh.payments_per_day * np.exp(0.5 * spending_z - 0.125)
    payment_scale = beh.payment_median * np.exp(0.25 * income_z)
    transfer_out_rate = beh.transfers_out_per_day * np.exp(0.5 * spending_z - 0.125)
    transfer_in_rate = beh.transfers_in_per_day * np.exp(0.4 * rng.normal() - 0.08)
    # Normalised so that registered users average the configured rate (they are selected on
    # propensity, so the unconditional mean would overshoot).
    appetite = np.exp(0.8 * appstore_z)
    appstore_rate = np.zeros(appetite.size)
    for lo, hi in zip(rng.bounds[:-1], rng.bounds[1:], strict=True):
        reg = lo + np.flatnonzero(apple_registered[lo:hi])
        if reg.size:
            appstore_rate[reg] = (beh.appstore_purchases_per_day * appetite[reg]
                                  / appetite[reg].mean())
    unit = beh.topup_unit
    scale = beh.pay_money_scale if pay_money_scale is None else pay_money_scale
    topup_floor = scale * 4 * unit * np.exp(0.8 * buffer_z)
    topup_target = topup_floor + scale * 5 * unit * np.exp(0.5 * buffer_z + 0.3 * income_z)
    topup_check = ndtr(beh.topup_check_intercept + 1.0 * discipline_z)
    # Paying in the app, a user short of Pay Money can top up on the spot; a grouped App Store
    # charge arrives in the background, with nobody there to do so. [ASSUMPTION]
    spot_topup = ndtr(2.5 + 1.0 * discipline_z)
    lo, hi = beh.grouping_delay_days
    group_delay = rng.integers(lo, hi + 1)
    bank_spend = monthly_income * beh.bank_spend_fraction / 30.0 * np.exp(-0.1 * buffer_z)
    initial_balance = np.floor(topup_target * rng.random() / 100) * 100
    initial_bank = np.floor(monthly_income * 0.6 * np.exp(0.8 * buffer_z - 0.32) * rng.random())
    # New cohorts: the position of the join date between Kakao Pay's launch (0) and the day
    # before the start date (1), centred, sets each user's own App Store trend.
    cohort = (join_day - launch) / max(first_day - 1 - launch, 1) - 0.5
    appstore_slope = cfg.drift.cohort_appstore_shift * cohort / 365.0

    return Population(
        user_id=user_id, age=age.astype(np.int16), female=female, foreign=foreign, region=region,
        ios=ios, income_z=income_z, buffer_z=buffer_z, discipline_z=discipline_z,
        appstore_z=appstore_z, spending_z=spending_z, email_domain=email_domain, carrier=carrier,
        join_day=join_day, id_verified=id_verified, n_cards=n_cards,
        signup_channel=signup_channel, bank_linked=bank_linked, auto_topup=auto_topup,
        apple_registered=apple_registered, account_by_email=account_by_email,
        monthly_income=monthly_income, payday=payday, payment_rate=payment_rate,
        payment_scale=payment_scale, transfer_out_rate=transfer_out_rate,
        transfer_in_rate=transfer_in_rate, appstore_rate=appstore_rate,
        topup_floor=topup_floor, topup_target=topup_target, topup_check=topup_check,
        spot_topup=spot_topup,
        group_delay=group_delay, bank_spend=bank_spend, initial_balance=initial_balance,
        initial_bank=initial_bank, appstore_slope=appstore_slope,
    )


def age_band(age: np.ndarray) -> np.ndarray:
    """Age band labels."""
    out = np.empty(age.shape, dtype=object)
    for lo, hi, label in AGE_BANDS:
        out[(age >= lo) & (age <= hi)] = label
    return out


REGION_NAMES = REGIONS
