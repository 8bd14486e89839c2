"""The simulated world: reproducibility, bookkeeping invariants, calibration, known answers."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2_contingency

from data_gen.dataset import build_dataset, read_manifest
from data_gen.world import EVENT_TYPES, ORACLE_GROUPS
from nsf.config import load_config

SMALL = [
    "world.population.n_users=20000",
    "world.calendar.days=70",
    "world.calendar.warmup_days=30",
    "world.calendar.horizon_days=15",
    "world.calendar.snapshot_every_days=10",
    "world.feed.windows=[7, 30]",
    "world.truth.oracle_draws=8",
    "world.feed.events=true",
]
# Named tolerances for shares that are drawn (not fixed) per user, at 20,000 users.
SHARE_TOL = 0.02
RATE_REL_TOL = 0.05


def _build(tmp_path, extra=(), **kw):
    cfg = load_config("experiments/smoke.yaml", [*SMALL, *extra])
    return build_dataset(cfg.world, seed=cfg.seed, name=cfg.name, data_dir=tmp_path,
                         chunk_users=kw.pop("chunk_users", 8192), **kw)


def _table(path, name) -> pd.DataFrame:
    return pd.concat([pq.read_table(path / f).to_pandas()
                      for f in read_manifest(path)["tables"][name]["files"]], ignore_index=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path, manifest, reused = _build(tmp_path_factory.mktemp("world"))
    assert not reused
    return path, manifest


def test_same_seed_same_checksums_for_any_chunking_and_workers(world, tmp_path):
    _, manifest = world
    _other, m2, _ = _build(tmp_path / "b", chunk_users=16384, workers=2)
    assert m2["checksums"] == manifest["checksums"]
    assert m2["rows"] == manifest["rows"]
    # A different seed changes the content.
    cfg = load_config("experiments/smoke.yaml", [*SMALL, "seed=7"])
    _, m3, _ = build_dataset(cfg.world, seed=cfg.seed, name="s7", data_dir=tmp_path / "c",
                             chunk_users=8192)
    assert m3["checksums"]["events"] != manifest["checksums"]["events"]


def test_manifest_lists_every_table_with_rows(world):
    path, manifest = world
    for table in ("users", "sensitive", "truth_users", "feed", "outcomes", "truth", "events"):
        assert manifest["rows"][table] == len(_table(path, table)), table
    n_obs = len(manifest["observation_dates"])
    assert manifest["rows"]["feed"] == 20000 * n_obs
    assert len(manifest["checksums"]["users"]) == 64


def test_event_log_balances_chain_and_never_go_negative(world):
    path, _ = world
    ev = _table(path, "events").sort_values(["user_id", "day", "seq"], kind="stable")
    assert (ev["balance_after"] >= 0).all()
    types = np.asarray(EVENT_TYPES)[ev["event_type"].to_numpy()]
    ok = ev["status"].to_numpy() == 0
    amount = ev["amount"].to_numpy()
    credit = np.isin(types, ["topup", "auto_topup", "transfer_in"])
    debit = np.isin(types, ["payment", "transfer_out", "grouped_charge", "withdrawal"]) & ok
    delta = np.where(credit, amount, 0) - np.where(debit, amount, 0)
    same_user = ev["user_id"].to_numpy()[1:] == ev["user_id"].to_numpy()[:-1]
    bal = ev["balance_after"].to_numpy()
    expected = bal[:-1] + delta[1:]
    assert np.array_equal(bal[1:][same_user], expected[same_user])


def test_top_up_precedes_the_spend_it_funds(world):
    path, _ = world
    ev = _table(path, "events").sort_values(["user_id", "day", "seq"], kind="stable")
    ev = ev.reset_index(drop=True)
    types = np.asarray(EVENT_TYPES)[ev["event_type"].to_numpy()]
    auto = np.flatnonzero(types == "auto_topup")
    assert auto.size > 0
    nxt = auto + 1
    assert (ev["user_id"].to_numpy()[nxt] == ev["user_id"].to_numpy()[auto]).all()
    assert (ev["seq"].to_numpy()[nxt] == ev["seq"].to_numpy()[auto] + 1).all()
    assert np.isin(types[nxt], ["payment", "transfer_out", "grouped_charge"]).all()
    assert (ev["status"].to_numpy()[nxt] == 0).all()  # the funded spend went through


def test_grouped_charges_list_their_microtransactions_and_declines_have_reasons(world):
    path, _ = world
    ev = _table(path, "events")
    types = np.asarray(EVENT_TYPES)[ev["event_type"].to_numpy()]
    buys = ev[types == "appstore_purchase"].groupby(["user_id", "group_id"])["amount"].sum()
    charges = ev[types == "grouped_charge"].drop_duplicates(["user_id", "group_id"])
    assert len(charges) > 100
    bundled = buys.loc[list(zip(charges["user_id"], charges["group_id"], strict=True))]
    assert np.array_equal(bundled.to_numpy(), charges["amount"].to_numpy())
    declined = ev["status"] == 1
    assert declined.sum() > 0
    assert (ev.loc[declined, "reason"] == 1).all()  # insufficient funds
    assert (ev.loc[~declined, "reason"] == 0).all()


def test_outcomes_agree_with_the_event_log(world):
    path, manifest = world
    ev = _table(path, "events")
    out = _table(path, "outcomes")
    horizon = manifest["config"]["calendar"]["horizon_days"]
    d0 = pd.Timestamp(manifest["observation_dates"][0])
    types = np.asarray(EVENT_TYPES)[ev["event_type"].to_numpy()]
    days = pd.to_datetime(ev["day"])
    in_h = (days > d0) & (days <= d0 + pd.Timedelta(days=horizon))
    failed = ev[in_h & (types == "grouped_charge") & (ev["status"] == 1)]
    n_fail = failed.groupby("user_id").size()
    first = out[pd.to_datetime(out["observation_date"]) == d0].set_index("user_id")
    assert np.array_equal(first["n_appstore_declines"].reindex(n_fail.index).to_numpy(),
                          n_fail.to_numpy())
    assert first.loc[~first.index.isin(n_fail.index), "nsf_appstore"].eq(False).all()


def test_shares_and_rates_match_targets(world):
    path, _manifest = world
    summary = json.loads((path / "summary.json").read_text())["calibration"]
    for key in ("ios_share", "apple_registered_share", "female_share", "foreign_share",
                "auto_topup_share", "bank_linked_share", "id_verified_share"):
        item = summary[key]
        assert abs(item["simulated"] - item["target"]) < SHARE_TOL, key
    for key in ("transfers_in_per_user_day", "transfers_out_per_user_day"):
        assert abs(summary[key]["relative_error"]) < RATE_REL_TOL, key
    assert summary["apple_registered_share"]["simulated"] < 0.2  # [CASE] fewer than 20%
    sens = _table(path, "sensitive")
    users = _table(path, "users").merge(sens, on="user_id")
    assert not (users["apple_registered"] & (users["device_os"] != "ios")).any()


def test_oracle_probability_is_calibrated_against_realised_outcomes(world):
    path, _ = world
    oracle = json.loads((path / "summary.json").read_text())["oracle"]
    assert oracle["rows"] > 2000
    # The realised label is one more draw from the oracle's distribution.
    se = np.sqrt(oracle["mean_p_nsf_appstore"] * (1 - oracle["mean_p_nsf_appstore"])
                 / oracle["rows"])
    assert abs(oracle["realised_nsf_appstore_rate"] - oracle["mean_p_nsf_appstore"]) < 4 * se


def _association(path, attribute: str):
    users = _table(path, "users")
    sens = _table(path, "sensitive")
    out = _table(path, "outcomes")
    df = users.merge(sens, on="user_id")
    if attribute == "email_domain":
        df["attr"] = df["masked_email"].str.split("@").str[1]
    else:
        df["attr"] = df[attribute]
    age_p = chi2_contingency(pd.crosstab(df["attr"], df["age_band"]))[1]
    nsf = out.groupby("user_id")["nsf_any"].any().rename("nsf")
    df = df.merge(nsf, left_on="user_id", right_index=True)
    nsf_p = chi2_contingency(pd.crosstab(df["attr"], df["nsf"]))[1]
    return age_p, nsf_p


def test_zero_dependence_makes_an_attribute_noise(world, tmp_path):
    path, _ = world
    age_p, _ = _association(path, "email_domain")
    assert age_p < 1e-6  # positive control: by default the domain follows age
    zero, _, _ = _build(tmp_path, ["world.dependence.email_domain=0",
                                   "world.dependence.phone_carrier=0"])
    for attribute in ("email_domain", "verification_carrier"):
        age_p, nsf_p = _association(zero, attribute)
        assert age_p > 1e-3 and nsf_p > 1e-3, (attribute, age_p, nsf_p)


def test_sha256_identifiers_are_unsalted_and_hmac_differs(world, tmp_path):
    path, _ = world
    users = _table(path, "users").sort_values("user_id")
    truth = _table(path, "truth_users").sort_values("user_id")
    phone = truth["phone_plain"].iloc[0]
    assert users["phone_hash"].iloc[0] == hashlib.sha256(phone.encode()).hexdigest()
    assert users["phone_hash"].is_unique and truth["phone_plain"].str.fullmatch(r"010\d{8}").all()
    keyed, _, _ = _build(tmp_path, ["world.identifiers.scheme=hmac-sha256",
                                    "world.population.n_users=500"], hmac_key=b"secret")
    k_users = _table(keyed, "users").sort_values("user_id")
    assert k_users["phone_hash"].iloc[0] != users["phone_hash"].iloc[0]


def test_checksums_recompute_from_the_files(world):
    from data_gen.dataset import verify_dataset

    path, manifest = world
    assert verify_dataset(path) == {t: True for t in manifest["tables"]}


def test_binned_feed_is_categorised(tmp_path):
    path, _, _ = _build(tmp_path, ["world.feed.format=binned",
                                          "world.population.n_users=2000",
                                          "world.feed.events=false"])
    feed = _table(path, "feed")
    raw, _, _ = _build(tmp_path / "raw", ["world.population.n_users=2000",
                                          "world.feed.events=false"])
    raw_feed = _table(raw, "feed")
    assert feed["n_payments_30d"].max() <= 10 < raw_feed["n_payments_30d"].max()
    assert feed["pay_money_balance"].nunique() <= 8 < raw_feed["pay_money_balance"].nunique()
    join = pd.to_datetime(feed["join_date"])
    assert ((join.dt.month == 1) & (join.dt.day == 1)).all()  # join year only
    assert len(feed) == len(raw_feed)


def test_outcome_cost_columns_agree_with_the_event_log(world):
    """The cost columns: purchases and amount of each grouped charge that fell due in the
    horizon, and those whose first attempt failed, recounted from the event log."""
    path, manifest = world
    ev = _table(path, "events")
    out = _table(path, "outcomes")
    horizon = manifest["config"]["calendar"]["horizon_days"]
    d0 = pd.Timestamp(manifest["observation_dates"][0])
    types = np.asarray(EVENT_TYPES)[ev["event_type"].to_numpy()]
    days = pd.to_datetime(ev["day"])
    in_h = (days > d0) & (days <= d0 + pd.Timedelta(days=horizon))
    charges = ev[types == "grouped_charge"]
    # A grouped charge's first attempt is its first event; it falls due that day.
    first_attempt = charges.drop_duplicates(["user_id", "group_id"], keep="first")
    due = first_attempt[in_h.loc[first_attempt.index]]
    buys = ev[types == "appstore_purchase"].groupby(["user_id", "group_id"])["amount"]
    keys = list(zip(due["user_id"], due["group_id"], strict=True))
    due = due.assign(n_buys=buys.size().loc[keys].to_numpy(),
                     buy_amount=buys.sum().loc[keys].to_numpy())
    per_user = due.groupby("user_id").agg(
        n_grouped_purchases=("n_buys", "sum"), grouped_amount=("buy_amount", "sum"))
    failed = due[due["status"] == 1].groupby("user_id").agg(
        n_failed_charges=("amount", "size"), failed_charge_amount=("amount", "sum"))
    first = out[pd.to_datetime(out["observation_date"]) == d0].set_index("user_id")
    expected = per_user.join(failed).reindex(first.index).fillna(0)
    assert expected["n_failed_charges"].sum() > 20  # the check sees failures
    for col in ("n_grouped_purchases", "grouped_amount", "n_failed_charges",
                "failed_charge_amount"):
        assert np.array_equal(first[col].to_numpy(), expected[col].to_numpy(np.int64)), col
    # Every grouped charge carries at least one purchase; a failure is a charge.
    assert (out["n_grouped_purchases"] >= out["n_grouped_charges"]).all()
    assert (out["n_failed_charges"] <= out["n_grouped_charges"]).all()
    assert ((out["n_failed_charges"] > 0) <= out["nsf_appstore"]).all()


#: Oracle rows x draws of the unbiasedness check; its tolerance is in standard errors.
ORACLE_CHECK_USERS = 8192
ORACLE_CHECK_DRAWS = 64
Z_TOL = 4.0


def _oracle_rows(tmp_path, method: str) -> pd.DataFrame:
    path, _, _ = _build(tmp_path / method, [
        f"world.population.n_users={ORACLE_CHECK_USERS}", "world.feed.events=false",
        f"world.truth.oracle_draws={ORACLE_CHECK_DRAWS}", f"world.truth.oracle_method={method}"])
    return _table(path, "truth").sort_values(["user_id", "observation_date"], ignore_index=True)


def test_conditional_oracle_is_unbiased_and_less_noisy_than_yes_no_draws(tmp_path):
    """The Rao-Blackwellised oracle estimates the same probability per row as the plain
    average of yes/no re-simulations (their difference has mean zero within its standard
    error, overall and among the riskier rows), with a smaller Monte-Carlo variance: the
    estimates of a row's groups of draws agree more closely."""
    cond, ind = _oracle_rows(tmp_path, "conditional"), _oracle_rows(tmp_path, "indicator")
    assert cond[["user_id", "observation_date"]].equals(ind[["user_id", "observation_date"]])
    sizes = np.asarray([(ORACLE_CHECK_DRAWS - g + ORACLE_GROUPS - 1) // ORACLE_GROUPS
                        for g in range(ORACLE_GROUPS)])
    for name, frame in (("conditional", cond), ("indicator", ind)):
        groups = frame[[f"p_nsf_appstore_group_{g}" for g in range(ORACLE_GROUPS)]].to_numpy()
        np.testing.assert_allclose(groups @ sizes / ORACLE_CHECK_DRAWS, frame["p_nsf_appstore"],
                                   atol=1e-12, err_msg=name)
        assert frame["p_nsf_appstore"].between(0, 1).all()
        assert (frame["p_nsf_appstore"] <= frame["p_nsf_any"] + 1e-12).all(), name
    diff = cond["p_nsf_appstore"] - ind["p_nsf_appstore"]
    for rows in (np.ones(len(diff), bool), (ind["p_nsf_appstore"] > 0.1).to_numpy()):
        d = diff[rows]
        assert rows.sum() > 50
        assert abs(d.mean()) < Z_TOL * d.std(ddof=1) / np.sqrt(d.size), d.mean()
    any_diff = cond["p_nsf_any"] - ind["p_nsf_any"]
    assert abs(any_diff.mean()) < Z_TOL * any_diff.std(ddof=1) / np.sqrt(any_diff.size)

    def group_spread(frame):
        """Mean over rows of the variance between the groups' estimates."""
        return float(frame.filter(like="p_nsf_appstore_group_").var(axis=1, ddof=1).mean())

    assert group_spread(cond) < group_spread(ind)


def test_balance_at_strength_zero_is_noise_with_the_same_distribution(world, tmp_path):
    """world.dependence.balance = 0: the feed's balance group shows another user's balance
    history, so it keeps its distribution (per date) but says nothing about the user's own
    balance or outcomes; the simulation itself, and so every outcome, is unchanged."""
    path, manifest = world
    zero, m0, _ = _build(tmp_path, ["world.dependence.balance=0"])
    assert m0["checksums"]["outcomes"] == manifest["checksums"]["outcomes"]
    assert m0["checksums"]["feed"] != manifest["checksums"]["feed"]
    keys = ["user_id", "observation_date"]
    own = _table(path, "feed").sort_values(keys, ignore_index=True)
    shown = _table(zero, "feed").sort_values(keys, ignore_index=True)
    out = _table(path, "outcomes").sort_values(keys, ignore_index=True)
    assert shown[keys].equals(own[keys])
    balance_cols = [c for c in own.columns if "balance" in c and c != "bank_linked"]
    assert {"pay_money_balance", "balance_mean_7d", "low_balance_days_30d"} <= set(balance_cols)
    other = [c for c in own.columns if c not in balance_cols]
    pd.testing.assert_frame_equal(shown[other], own[other])
    for _, rows in own.groupby("observation_date").groups.items():
        for col in balance_cols:  # the same values, handed to other users
            assert sorted(shown.loc[rows, col]) == sorted(own.loc[rows, col]), col
    n = len(own)
    bound = 4.0 / np.sqrt(n)  # |Spearman rho| of independent columns, 4 standard errors
    for col in ("pay_money_balance", "balance_mean_30d"):
        rho_own = own[col].corr(out["nsf_any"].astype(float), method="spearman")
        rho_shown = shown[col].corr(out["nsf_any"].astype(float), method="spearman")
        assert rho_own < -5 * bound, (col, rho_own)  # positive control: the real one tells
        assert abs(rho_shown) < bound, (col, rho_shown)
        assert abs(shown[col].corr(own[col], method="spearman")) < bound, col


#: Dependence knobs turned all the way down and all the way up: the base rate would move.
_DRIVEN = ("income", "liquidity_buffer", "topup_discipline", "appstore_propensity", "spending",
           "apple_registration", "auto_topup", "bank_linked")


def _apple_rate(tmp_path, name, extra):
    path, _, _ = _build(tmp_path / name, ["world.feed.events=false",
                                          "world.truth.oracle_snapshots=0", *extra])
    return json.loads((path / "summary.json").read_text())["base_rate"]


def test_apple_nsf_rate_is_held_at_its_target_whatever_the_dependence(tmp_path):
    """Two opposite dependence settings: uncalibrated, their Apple NSF rates are far apart;
    calibrated, both are within the stated tolerance of the configured target."""
    low = [f"world.dependence.{k}=0" for k in _DRIVEN]
    high = [f"world.dependence.{k}=1" for k in _DRIVEN]
    off = ["world.targets.calibrate=false"]
    raw_low, raw_high = _apple_rate(tmp_path, "rl", low + off), _apple_rate(tmp_path, "rh",
                                                                             high + off)
    assert not raw_low["calibrated"] and raw_low["pilot"] is None
    tol = raw_low["tolerance"]
    assert abs(raw_high["achieved"] - raw_low["achieved"]) > 4 * tol  # the knobs move it
    scales = []
    for name, extra in (("cl", low), ("ch", high)):
        held = _apple_rate(tmp_path, name, extra)
        assert held["calibrated"] and held["pilot"]["met"], held
        assert abs(held["achieved"] - held["target"]) <= held["tolerance"], held
        assert held["within_tolerance"]
        scales.append(held["pay_money_scale"])
    assert scales[0] != scales[1]  # each setting got its own level
    # Deterministic from the seed: the same config gives the same calibrated scale.
    assert _apple_rate(tmp_path, "cl2", low)["pay_money_scale"] == scales[0]
