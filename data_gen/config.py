"""The world's parameters: one validated, frozen pydantic model.

Every default is either a fact from the case (marked ``[CASE]``) or an explicit assumption of the
project (marked ``[ASSUMPTION]``). The descriptions are the knobs' documentation: ``nsf config
schema`` prints them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Strength = Annotated[float, Field(ge=0.0, le=1.0)]

#: Users per random stream. Fixed: it defines the outputs, so it is not a knob. Chunks are whole
#: numbers of blocks, which is what makes outputs identical for any chunk size or worker count.
BLOCK_USERS = 8192
#: Users whose identifiers the simulator keeps unique (its phone numbers' bijection).
IDENTIFIER_USERS = 100_000_000

REGIONS = (
    "seoul",
    "gyeonggi_incheon",
    "busan_ulsan_gyeongnam",
    "daegu_gyeongbuk",
    "chungcheong",
    "jeolla",
    "gangwon_jeju",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class PopulationConfig(_Frozen):
    """Who the users are (demographics are for the auditor only, never shared)."""

    n_users: int = Field(
        100_000, ge=1, le=100_000_000,
        description="Number of simulated Kakao Pay users. [CASE] the real feed covered 40.45 M.",
    )
    further_users: int = Field(
        0, ge=0, le=100_000_000,
        description="0 (default): the dataset holds the world's n_users users. Above 0: it "
        "holds instead this many further users of the same world, the users after its own "
        "(from the first whole block of BLOCK_USERS users after user n_users - 1, plus "
        "further_skip): every user is simulated from the seed and its block's random streams "
        "alone, so they are the users a larger world would have there, and everything "
        "world-level (the calibrated base rate, the description) stays that of the world of "
        "n_users users. The study's evaluation subjects simulated on demand "
        "(study.budget.subjects).",
    )
    further_skip: int = Field(
        0, ge=0, le=100_000_000, multiple_of=BLOCK_USERS,
        description=f"Further users skipped before those of further_users (a multiple of "
        f"{BLOCK_USERS}, the block size): successive draws of further users do not overlap.",
    )
    ios_share: Share = Field(
        0.28,
        description="Share of users on iOS. [ASSUMPTION] Apple's smartphone share in Korea was "
        "roughly a quarter to a third in 2019-2024.",
    )
    apple_registered_share: Share = Field(
        0.15,
        description="Share of ALL users who registered Kakao Pay as an App Store payment method "
        "(iOS users only). [CASE] fewer than 20%; 15% is the project's assumption.",
    )
    female_share: Share = Field(0.5, description="Share of women. [ASSUMPTION] parity.")
    foreign_share: Share = Field(
        0.035,
        description="Share of foreign nationals. [ASSUMPTION] about 2.5 M foreign residents "
        "in a population of 51 M, fewer among payment-app users.",
    )
    region_shares: tuple[float, ...] = Field(
        (0.19, 0.31, 0.15, 0.10, 0.11, 0.10, 0.04),
        description="Shares of the regions " + ", ".join(REGIONS) + ". [ASSUMPTION] from "
        "resident-registration population shares, rounded.",
    )
    age_min: int = Field(15, ge=14, le=100, description="Youngest user's age. [ASSUMPTION]")
    age_max: int = Field(79, ge=15, le=110, description="Oldest user's age. [ASSUMPTION]")
    age_mean: float = Field(
        38.0, ge=15, le=100,
        description="Mean user age (normal, truncated to the age range). [ASSUMPTION] "
        "payment-app users are younger than the adult population.",
    )
    age_sd: float = Field(13.0, gt=0, le=50, description="Age standard deviation. [ASSUMPTION]")

    def user_range(self) -> tuple[int, int]:
        """``(first user, number of users)`` of the dataset: ``(0, n_users)``, or the further
        users (``further_users``) from the first whole block after the world's own users,
        plus ``further_skip``."""
        if self.further_users == 0:
            return 0, self.n_users
        own_blocks = -(-self.n_users // BLOCK_USERS)
        return own_blocks * BLOCK_USERS + self.further_skip, self.further_users

    @model_validator(mode="after")
    def _further_users_fit(self) -> PopulationConfig:
        if self.further_skip and not self.further_users:
            raise ValueError("further_skip is set but further_users is 0 (the world's own "
                             "users are simulated); set further_users or drop further_skip")
        if self.further_users:
            last = sum(self.user_range())
            if last > IDENTIFIER_USERS:
                raise ValueError(f"further users up to user {last:,} exceed the "
                                 f"{IDENTIFIER_USERS:,} users whose identifiers are unique")
        return self

    @field_validator("region_shares")
    @classmethod
    def _regions_sum_to_one(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != len(REGIONS):
            raise ValueError(f"needs {len(REGIONS)} shares, one per region: {', '.join(REGIONS)}")
        if any(s < 0 for s in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError("shares must be non-negative and sum to 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PopulationConfig:
        if self.age_max <= self.age_min:
            raise ValueError("age_max must be greater than age_min")
        if self.apple_registered_share > self.ios_share:
            raise ValueError(
                f"apple_registered_share ({self.apple_registered_share}) cannot exceed ios_share "
                f"({self.ios_share}): only iOS users can register for Apple billing"
            )
        return self


class CalendarConfig(_Frozen):
    """When the world runs and when it is observed."""

    start_date: dt.date = Field(
        dt.date(2019, 7, 11),
        description="First simulated day. [CASE] Kakao Pay became an App Store payment method on "
        "2019-07-11.",
    )
    days: int = Field(360, ge=2, le=3660, description="Simulated days.")
    warmup_days: int = Field(
        180, ge=1,
        description="Days before the first observation date, so trailing history windows are full.",
    )
    snapshot_every_days: int = Field(
        30, ge=1, description="Days between observation dates (monthly snapshots of the feed)."
    )
    horizon_days: int = Field(
        30, ge=1, le=365,
        description="Outcome horizon H: an observation's label looks at days (d, d+H]. "
        "[ASSUMPTION] the score is refreshed daily and used over the following month.",
    )

    @model_validator(mode="after")
    def _fits(self) -> CalendarConfig:
        if self.warmup_days + self.horizon_days > self.days:
            raise ValueError(
                f"warmup_days + horizon_days ({self.warmup_days} + {self.horizon_days}) must not "
                f"exceed days ({self.days}): no observation date would have a full horizon"
            )
        return self

    @property
    def observation_days(self) -> list[int]:
        """Simulation-day indices (0-based) of the observation dates."""
        last = self.days - self.horizon_days - 1
        return list(range(self.warmup_days - 1, last + 1, self.snapshot_every_days))

    @property
    def observation_dates(self) -> list[dt.date]:
        return [self.start_date + dt.timedelta(days=d) for d in self.observation_days]


class BehaviourConfig(_Frozen):
    """Money flows. Amounts in KRW; rates are per user per day."""

    monthly_income_median: float = Field(
        2_700_000, gt=0,
        description="Median monthly income into the (unobserved) bank account. [ASSUMPTION] near "
        "Korea's median monthly wage in 2019-2020.",
    )
    income_sigma: float = Field(0.55, gt=0, le=3, description="Log-sd of monthly income.")
    bank_spend_fraction: Share = Field(
        0.88,
        description="Average share of income spent from the bank outside Kakao Pay. [ASSUMPTION]",
    )
    payments_per_day: float = Field(
        0.45, ge=0, le=20,
        description="Mean merchant payments from Pay Money per user per day. [ASSUMPTION]",
    )
    payment_median: float = Field(
        11_000, gt=0, description="Median merchant payment. [ASSUMPTION] small offline/online buys."
    )
    transfers_out_per_day: float = Field(
        0.10, ge=0, le=20, description="Mean P2P transfers sent per day. [ASSUMPTION]"
    )
    transfers_in_per_day: float = Field(
        0.10, ge=0, le=20, description="Mean P2P transfers received per day. [ASSUMPTION]"
    )
    transfer_median: float = Field(
        25_000, gt=0, description="Median P2P transfer. [ASSUMPTION] splitting a bill."
    )
    withdrawal_per_day: float = Field(
        0.02, ge=0, le=5,
        description="Daily chance that a user with a large balance moves it back to the bank. "
        "[ASSUMPTION]",
    )
    topup_unit: int = Field(
        10_000, gt=0, description="Top-ups are multiples of this amount. [ASSUMPTION] 10,000 KRW."
    )
    appstore_purchases_per_day: float = Field(
        0.12, ge=0, le=20,
        description="Mean App Store microtransactions per day of an Apple-registered user of "
        "average propensity. [ASSUMPTION]",
    )
    appstore_prices: tuple[int, ...] = Field(
        (1_200, 2_500, 3_900, 5_900, 12_000, 33_000),
        description="App Store price tiers in KRW. [ASSUMPTION] Korean App Store tiers.",
    )
    grouping_delay_days: tuple[int, int] = Field(
        (1, 5),
        description="Apple charges a group when its first purchase is this many days old: each "
        "user's delay is uniform on [min, max]. [CASE] 'at purchase time or a few days later'.",
    )
    grouping_cap: int = Field(
        50_000, gt=0,
        description="A group is charged at once when its total reaches this amount. [ASSUMPTION]",
    )
    charge_max_attempts: int = Field(
        3, ge=1, le=10,
        description="Attempts at a grouped charge before Apple gives up. [ASSUMPTION]",
    )
    retry_gap_days: int = Field(
        2, ge=1, le=30, description="Days between attempts at a failed charge. [ASSUMPTION]"
    )
    suspend_days: int = Field(
        14, ge=0, le=365,
        description="Days without App Store purchases after a charge fails for good. [ASSUMPTION]",
    )
    low_balance: int = Field(
        10_000, ge=0,
        description="A balance below this counts as a low-balance day. [ASSUMPTION]",
    )
    topup_check_intercept: float = Field(
        1.0, ge=-6, le=6,
        description="Probit intercept of the daily chance that a user whose Pay Money is below "
        "their floor tops it up: P = Phi(intercept + discipline). [ASSUMPTION] 1 (84% for a "
        "user of average discipline).",
    )
    pay_money_scale: float = Field(
        1.0, gt=0, le=50,
        description="Scale of every user's Pay Money floor and top-up target (and so of the "
        "balances): 4 and 5 top-up units for a user of average liquidity buffer. "
        "[ASSUMPTION] 1. With targets.calibrate, the simulator replaces it by the value that "
        "meets targets.apple_nsf_rate (summary.json shows the value used).",
    )

    @field_validator("grouping_delay_days")
    @classmethod
    def _delay_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= v[0] <= v[1] <= 30):
            raise ValueError("needs 0 <= min <= max <= 30")
        return v


class DependenceConfig(_Frozen):
    """How strongly each observable attribute is generated from latent traits and demographics.

    Each attribute is drawn from ``u = s * z + sqrt(1 - s^2) * e`` where ``z`` is a standardised
    combination of its drivers and ``e`` independent noise; ``s = 0`` makes it pure noise with the
    same marginal distribution. Drivers are named in each description.
    """

    email_domain: Strength = Field(
        0.6, description="E-mail domain from age (portal mail for older users, gmail for younger)."
    )
    phone_carrier: Strength = Field(
        0.5, description="Budget (MVNO) carrier from low income and older age."
    )
    join_date: Strength = Field(0.5, description="Early adoption from younger age and income.")
    id_verified: Strength = Field(
        0.4, description="ID-card verification from top-up discipline and income."
    )
    n_cards: Strength = Field(0.6, description="Registered cards from income.")
    signup_channel: Strength = Field(0.3, description="Sign-up channel from age.")
    bank_linked: Strength = Field(
        0.5, description="Linked bank account from discipline and liquidity buffer."
    )
    auto_topup: Strength = Field(
        0.6, description="Automatic top-up from discipline (it also prevents declines)."
    )
    device_os: Strength = Field(0.5, description="iOS from younger age and income.")
    apple_registration: Strength = Field(
        0.7, description="Apple-billing registration (iOS users) from App Store propensity."
    )
    income: Strength = Field(
        0.45, description="Income from age (peaking in the 40s) and gender (pay gap)."
    )
    liquidity_buffer: Strength = Field(0.5, description="Liquidity buffer from income and age.")
    topup_discipline: Strength = Field(0.4, description="Top-up discipline from age and buffer.")
    appstore_propensity: Strength = Field(0.5, description="App Store propensity from youth.")
    spending: Strength = Field(0.3, description="Spending propensity from income.")
    balance: Strength = Field(
        1.0,
        description="Pay Money balance and balance history as the feed shows them: the share "
        "of users whose feed shows their own; the others' feed shows the balance history of "
        "a fixed random other user of their block of users (the same dates), so the columns "
        "keep their distribution, correlate with the user's own by this strength, and at 0 "
        "carry nothing about the user. The simulation itself always runs on the own balance. "
        "[ASSUMPTION] 1: the feed shows the real balance, as in the case.",
    )


Weight = Annotated[float, Field(ge=-3.0, le=3.0)]


class DriversConfig(_Frozen):
    """Weights of the drivers behind each latent trait and attribute with several drivers.

    Each such driver score is ``z = sum(w_i * x_i) / sqrt(sum(w_i^2))`` over standardised,
    mutually uncorrelated drivers ``x_i`` (age score, mid-life hump, gender, other traits), so
    only the weights' ratios and signs matter; the ``world.dependence`` strength then sets how
    much of the trait or attribute comes from ``z``. All defaults are [ASSUMPTION]s of the
    project, chosen to give plausible directions (the public record is silent on them).
    """

    income_midlife: Weight = Field(
        0.6, description="Income from mid-life (a hump in age peaking at the mean age). "
        "[ASSUMPTION]")
    income_age: Weight = Field(0.3, description="Income from age. [ASSUMPTION]")
    income_female: Weight = Field(
        -0.4, description="Income from being a woman (negative: the gender pay gap). "
        "[ASSUMPTION]")
    buffer_income: Weight = Field(
        0.75, description="Liquidity buffer from income. [ASSUMPTION]")
    buffer_age: Weight = Field(0.35, description="Liquidity buffer from age. [ASSUMPTION]")
    discipline_age: Weight = Field(0.5, description="Top-up discipline from age. [ASSUMPTION]")
    discipline_buffer: Weight = Field(
        0.5, description="Top-up discipline from the liquidity buffer. [ASSUMPTION]")
    carrier_income: Weight = Field(
        -0.7, description="Budget (MVNO) carrier from income (negative: low income). "
        "[ASSUMPTION]")
    carrier_age: Weight = Field(0.3, description="Budget (MVNO) carrier from age. [ASSUMPTION]")
    join_age: Weight = Field(
        -0.6, description="Early Kakao Pay adoption from age (negative: the young first). "
        "[ASSUMPTION]")
    join_income: Weight = Field(0.4, description="Early adoption from income. [ASSUMPTION]")
    id_verified_discipline: Weight = Field(
        0.6, description="ID-card verification from top-up discipline. [ASSUMPTION]")
    id_verified_income: Weight = Field(
        0.4, description="ID-card verification from income. [ASSUMPTION]")
    bank_linked_discipline: Weight = Field(
        0.6, description="Linked bank account from top-up discipline. [ASSUMPTION]")
    bank_linked_buffer: Weight = Field(
        0.4, description="Linked bank account from the liquidity buffer. [ASSUMPTION]")
    ios_age: Weight = Field(
        -0.7, description="iOS from age (negative: younger users). [ASSUMPTION]")
    ios_income: Weight = Field(0.3, description="iOS from income. [ASSUMPTION]")

    @model_validator(mode="after")
    def _each_score_has_a_driver(self) -> DriversConfig:
        for prefix in ("income", "buffer", "discipline", "carrier", "join", "id_verified",
                       "bank_linked", "ios"):
            names = [n for n in type(self).model_fields if n.startswith(prefix + "_")]
            if all(getattr(self, n) == 0 for n in names):
                raise ValueError(f"{', '.join(names)} are all 0: give at least one a weight "
                                 "(set world.dependence to 0 to make the trait noise)")
        return self


class TargetsConfig(_Frozen):
    """Calibration targets the summary compares the simulated world against.

    The Apple NSF rate is also *held*: with ``calibrate``, a pilot simulation of the world's
    first users (the same users and random streams as the world) finds the scale of the users'
    Pay Money levels (``behaviour.pay_money_scale``) that meets ``apple_nsf_rate``, by
    bisection, so that two scenarios that differ in a dependence strength keep the same base
    rate. The other
    targets are shares fixed by construction or only reported.
    """

    apple_nsf_rate: Share = Field(
        0.06,
        description="Share of Apple-registered users' observation rows with a failed grouped "
        "charge within the horizon. [ASSUMPTION] not public; a plausible small rate.",
    )
    any_nsf_rate: Share = Field(
        0.10,
        description="Share of all observation rows with any insufficient-funds decline within "
        "the horizon. [ASSUMPTION]",
    )
    auto_topup_share: Share = Field(
        0.30, description="Share of users with automatic top-up on. [ASSUMPTION]"
    )
    bank_linked_share: Share = Field(
        0.85, description="Share of users with a linked bank account. [ASSUMPTION]"
    )
    id_verified_share: Share = Field(
        0.70, description="Share of ID-card verified users. [ASSUMPTION]"
    )
    calibrate: bool = Field(
        True,
        description="Hold apple_nsf_rate whatever the other knobs: set the Pay Money scale "
        "from a pilot simulation (false: use behaviour.pay_money_scale as given).",
    )
    calibration_tolerance: float = Field(
        0.005, gt=0, le=0.1,
        description="The pilot stops when its Apple NSF rate is within this of the target "
        "(absolute). The whole world's rate differs from the pilot's by the sampling noise "
        "of the users outside the pilot too.",
    )
    pilot_users: int = Field(
        16_384, ge=1_000, le=1_000_000,
        description="Users of the pilot (the world's first ones, or all if fewer). "
        "[ASSUMPTION] 16,384 (about 2,500 Apple-registered users).",
    )


class FeedConfig(_Frozen):
    """The 24-category record shared per user per observation date."""

    format: Literal["raw", "binned"] = Field(
        "raw",
        description="'raw' values or 'binned' ('categorised' usage-pattern data, as the court "
        "described the shared items).",
    )
    windows: tuple[int, ...] = Field(
        (7, 30, 90, 180),
        description="Trailing history windows (days) of the aggregates in the feed; 7 is the "
        "window of the public categories [CASE]. Longer windows stand for what a recipient "
        "retaining that many daily records can compute.",
    )
    events: bool = Field(
        False, description="Also write the event log (large: several events per user per day)."
    )

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if 7 not in v:
            raise ValueError("must include 7 (the public categories count the last 7 days)")
        if list(v) != sorted(set(v)) or v[0] < 1:
            raise ValueError("must be strictly increasing positive day counts")
        return v


class IdentifiersConfig(_Frozen):
    """How shared identifiers are pseudonymised."""

    scheme: Literal["sha256", "hmac-sha256"] = Field(
        "sha256",
        description="'sha256': unsalted, as in the case [CASE]; 'hmac-sha256': keyed "
        "with a secret.",
    )
    hmac_key: SecretStr | None = Field(
        None, description="Secret for 'hmac-sha256' (prefer hmac_key_env)."
    )
    hmac_key_env: str = Field(
        "NSF_HMAC_KEY", description="Environment variable holding the secret for 'hmac-sha256'."
    )


class TruthConfig(_Frozen):
    """The oracle: P(NSF) from re-simulating the horizon from each evaluation row's full state."""

    oracle_draws: int = Field(
        256, ge=1, le=10_000,
        description="Re-simulations M of the horizon per evaluation row. The truth table also "
        "keeps the estimate of each of 8 groups of draws, from which the oracle AUC is "
        "corrected for the remaining Monte-Carlo noise (needs M >= 2). [ASSUMPTION] 256: on "
        "two 60,000-user worlds the corrected oracle AUC is within 0.002 of a brute-force "
        "1,024-draw oracle (benchmarks/bench_oracle.py), for about a quarter more time to build "
        "such a world (no event log) than 64 draws, at which the first-order correction "
        "overshoots by up to 0.006 (the Monte-Carlo bias falls faster than 1/M there).",
    )
    oracle_method: Literal["conditional", "indicator"] = Field(
        "conditional",
        description="'conditional' (Rao-Blackwellised): each re-simulated path is conditioned "
        "on no failed grouped charge and carries the probability that each attempt fails given "
        "the path so far, so each path gives a probability; 'indicator': each path gives "
        "whether a charge failed (0/1), the plain average whose AUC is biased low for small M. "
        "Both estimate the same probability.",
    )
    oracle_snapshots: int = Field(
        1, ge=0,
        description="Number of last observation dates whose rows get the oracle (1: the test "
        "rows of the default out-of-time split, split.test_dates=1); 0 disables it.",
    )
    oracle_population: Literal["apple", "all"] = Field(
        "apple", description="Whose rows get the oracle: Apple-registered users or everyone."
    )


#: Bounds of the yearly growth rates of ``world.drift`` (a fall of 50% to a tripling a year).
GROWTH_RANGE = (-0.5, 3.0)
Growth = Annotated[float, Field(ge=GROWTH_RANGE[0], le=GROWTH_RANGE[1])]


class DriftConfig(_Frozen):
    """Slow change of the world over its calendar (0 everywhere: a stationary world).

    Each rate is a yearly relative change compounded daily from the first simulated day
    (``calendar.start_date``), where every level is the configured one: a level ``x`` is
    ``x * (1 + rate) ** (day / 365)`` on day ``day``. Users' Pay Money habits (their floor
    and top-up target) keep their start-date levels, so prices that grow faster than incomes
    make failed charges commoner over time. With drift the calibrated Apple NSF rate
    (``targets``) holds on average over the observation dates (the pilot's rows), not on each
    date; ``summary.json`` shows the rate of every observation date.
    """

    income_growth: Growth = Field(
        0.03,
        description="Yearly growth of incomes into the bank. [ASSUMPTION] about Korea's "
        "nominal wage growth in 2019-2023 (3% a year).",
    )
    price_growth: Growth = Field(
        0.025,
        description="Yearly growth of prices: merchant payments, P2P transfers, App Store "
        "price tiers and spending outside Kakao Pay. [ASSUMPTION] about Korea's consumer "
        "price inflation in 2019-2023 (2.5% a year).",
    )
    appstore_growth: Growth = Field(
        0.05,
        description="Yearly growth of every Apple-registered user's App Store purchase rate. "
        "[ASSUMPTION] a modest rise in in-app spending.",
    )
    cohort_appstore_shift: float = Field(
        0.1, ge=-3.0, le=3.0,
        description="New cohorts with other habits: yearly change of the log App Store "
        "purchase rate of the users who joined Kakao Pay last (just before the start date) "
        "against those who joined first (at its launch), linear in the join date between "
        "them and centred on the cohort in the middle, so it changes which users buy more "
        "rather than how much all buy. [ASSUMPTION] 0.1: the latest cohort's rate grows "
        "about 10% a year more than the first one's.",
    )

    @property
    def stationary(self) -> bool:
        """True when nothing changes over the calendar."""
        return (self.income_growth == 0 and self.price_growth == 0
                and self.appstore_growth == 0 and self.cohort_appstore_shift == 0)


class WorldConfig(_Frozen):
    """The simulated world (everything that determines the dataset's content)."""

    population: PopulationConfig = PopulationConfig()
    calendar: CalendarConfig = CalendarConfig()
    behaviour: BehaviourConfig = BehaviourConfig()
    dependence: DependenceConfig = DependenceConfig()
    drivers: DriversConfig = DriversConfig()
    targets: TargetsConfig = TargetsConfig()
    feed: FeedConfig = FeedConfig()
    identifiers: IdentifiersConfig = IdentifiersConfig()
    truth: TruthConfig = TruthConfig()
    drift: DriftConfig = DriftConfig()

    @model_validator(mode="after")
    def _windows_fit_the_calendar(self) -> WorldConfig:
        longest = max(self.feed.windows)
        if longest > self.calendar.days:
            raise ValueError(
                f"feed.windows: the longest window ({longest} days) exceeds the simulated "
                f"history (calendar.days = {self.calendar.days})")
        if longest > self.calendar.warmup_days:
            raise ValueError(
                f"calendar.warmup_days ({self.calendar.warmup_days}) is shorter than the "
                f"longest feed window ({longest} days): the first observation dates would "
                "hold truncated history; raise warmup_days or drop the window")
        return self

    def user_range(self) -> tuple[int, int]:
        """``(first user, number of users)`` of the dataset (see the population's)."""
        return self.population.user_range()

    def digest(self, seed: int) -> str:
        """Stable digest of everything that determines the dataset's content."""
        payload = self.model_dump(mode="json")
        # The users' range enters only when it is not the world's own (digests of the worlds
        # built before it existed stay the same).
        for name in ("further_users", "further_skip"):
            if not payload["population"][name]:
                del payload["population"][name]
        payload["identifiers"]["hmac_key"] = (
            None
            if self.identifiers.hmac_key is None
            else hashlib.sha256(self.identifiers.hmac_key.get_secret_value().encode()).hexdigest()
        )
        blob = json.dumps({"seed": seed, "world": payload}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()
