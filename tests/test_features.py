"""nsf.features: the registry, retention, coarsening, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nsf.data import DatasetDescription, open_dataset
from nsf.features import (
    FeatureSelection,
    build_features,
    select_features,
)
from nsf.features import (
    feed_registry as _feed_registry,
)

WINDOWS = (7, 30, 60)


def simulated_description(windows, feed_format="raw") -> DatasetDescription:
    """The description the simulator writes for a world with these feed windows."""
    from data_gen.config import WorldConfig
    from data_gen.dataset import dataset_description

    world = WorldConfig.model_validate({"feed": {"windows": list(windows),
                                                 "format": feed_format}})
    return DatasetDescription.from_dict(dataset_description(world))


def feed_registry(windows, feed_format="raw"):
    """The registry of a simulated feed with ``windows``, read from its description."""
    return _feed_registry(simulated_description(windows, feed_format))


def test_registry_covers_every_feed_column_with_a_group():
    from data_gen.categories import feed_columns

    reg = feed_registry(WINDOWS)
    sources = {c for s in reg for c in s.sources}
    assert set(feed_columns(WINDOWS)[2:]) <= sources  # every shared column is accounted for
    study_groups = {"balance", "email", "phone", "join_date", "account_identifiers",
                    "id_verification", "cards", "topups", "payments", "transfers",
                    "withdrawals", "appstore_history", "payment_settings"}
    assert study_groups <= set(reg.groups)
    assert {g.name for g in reg.groups.values() if not g.contested} == {
        "payment_settings", "apple_billing", "appstore_history"}


def test_hashed_identifiers_are_listed_but_never_features():
    reg = feed_registry(WINDOWS)
    by_name = {s.name: s for s in reg}
    for col in ("customer_number_hash", "kakao_account_hash", "phone_hash", "email_hash",
                "masked_phone"):
        assert by_name[col].kind == "excluded" and by_name[col].note
    used = {c for s in select_features(reg, FeatureSelection()) for c in [s.name]}
    assert not any(name.endswith("_hash") for name in used)
    assert by_name["email_domain"].sources == ("masked_email",)
    assert "derived" in by_name["email_domain"].note
    assert "derived" in by_name["account_id_kind"].note


def test_retention_keeps_only_short_windows():
    reg = feed_registry(WINDOWS)
    for r, allowed in ((7, {7}), (30, {7, 30}), (None, set(WINDOWS))):
        specs = select_features(reg, FeatureSelection(retention_days=r))
        assert {s.window for s in specs if s.window is not None} == allowed
    assert not any(s.window for s in select_features(reg, FeatureSelection(retention_days=1)))


def test_drop_keep_and_unknown_groups():
    reg = feed_registry(WINDOWS)
    specs = select_features(reg, FeatureSelection(drop_groups=("balance", "email")))
    assert not {s.group for s in specs} & {"balance", "email"}
    only = select_features(reg, FeatureSelection(keep_groups=("appstore_history",)))
    assert {s.group for s in only} == {"appstore_history"}
    with pytest.raises(ValueError, match="unknown attribute groups"):
        select_features(reg, FeatureSelection(drop_groups=("balanse",)))
    with pytest.raises(ValueError, match="keeps no feature"):
        select_features(reg, FeatureSelection(keep_groups=("balance",), drop_groups=("balance",)))


def test_known_feature_values_and_coarsening():
    reg = feed_registry((7,))
    frame = pd.DataFrame({
        "masked_email": ["ab***@naver.com", "cd***@gmail.com", "ef***@corp.kr"],
        "kakao_account_hash": ["e1", "p2", "z3"], "email_hash": ["e1", "e2", "e3"],
        "phone_hash": ["p1", "p2", "p3"],
        "join_date": pd.to_datetime(["2015-03-01", "2019-12-31", "2016-07-01"]),
        "tenure_days": [1700, 40, 1200],
        "pay_money_balance": [0, 15_000, 2_000_000], "verification_carrier": ["SKT", "MVNO",
                                                                               "KT"],
        "n_payments_7d": [0, 3, 25],
    })
    specs = [s for s in reg.usable if s.name in {"email_domain", "account_id_kind", "join_date",
                                                  "tenure_days", "pay_money_balance",
                                                  "verification_carrier", "n_payments_7d"}]
    raw = build_features(frame, specs)
    assert list(raw["email_domain"]) == ["naver.com", "gmail.com", "corp.kr"]
    assert list(raw["account_id_kind"]) == ["email", "phone", "other"]
    assert raw["join_date"].iloc[0] == (pd.Timestamp("2015-03-01") - pd.Timestamp(0)).days
    coarse = build_features(frame, specs, coarsen_groups=[g for g in reg.groups])
    assert list(coarse["email_domain"]) == ["korean_portal", "global", "other"]
    assert list(coarse["join_date"]) == [2015, 2019, 2016]
    assert list(coarse["tenure_days"]) == [4, 0, 3]
    assert list(coarse["pay_money_balance"]) == [0, 2, 6]  # the description's amount bands
    assert list(coarse["verification_carrier"]) == ["MNO", "MVNO", "MNO"]
    assert list(coarse["n_payments_7d"]) == [0, 3, 10]


def test_no_information_from_after_the_observation_date(smoke_dataset):
    """Features of the rows at date d are the same whether later rows exist, are altered, or
    are gone; outcomes are never an input."""
    ds = open_dataset(smoke_dataset)
    feed = ds.table("feed")
    reg = _feed_registry(ds.description)
    specs = select_features(reg, FeatureSelection())
    first = feed["observation_date"].min()
    at_first = (feed["observation_date"] == first).to_numpy()
    full = build_features(feed, specs)[at_first].reset_index(drop=True)
    truncated = build_features(feed[at_first].reset_index(drop=True), specs)
    pd.testing.assert_frame_equal(full, truncated)
    later = feed.copy()
    num = later.select_dtypes("number").columns.drop("user_id")
    for col in num:
        later[col] = later[col].astype(np.float64)
        later.loc[~at_first, col] = 99.0
    altered = build_features(later, specs)[at_first].reset_index(drop=True)
    pd.testing.assert_frame_equal(full, altered)
    outcome_names = {"nsf_appstore", "nsf_any", "n_grouped_charges", "n_charge_attempts",
                     "p_nsf_appstore", "p_nsf_any"}
    assert not outcome_names & {c for s in reg for c in s.sources}
    # A window never reaches past the retention: every windowed feature is at most R days.
    r = 30
    kept = select_features(reg, FeatureSelection(retention_days=r))
    assert max(s.window or 0 for s in kept) <= r
    assert np.isfinite(full.select_dtypes("number").to_numpy()).all()


def test_registry_is_read_from_the_description_not_the_simulator():
    """A description whose writer changes a feature's group, its coarse version or the bands
    changes the registry accordingly; a description without features is refused."""
    base = simulated_description((7,))
    data = base.to_dict()
    for f in data["features"]:
        if f["name"] == "n_cards":
            f["group"] = "payments"
    data["coarse_bands"] = {"amount_band": [0, 100], "count_cap": [2]}
    reg = _feed_registry(DatasetDescription.from_dict(data))
    by_name = {s.name: s for s in reg}
    assert by_name["n_cards"].group == "payments"
    assert by_name["n_payments_7d"].bands == (2,)
    frame = pd.DataFrame({"n_payments_7d": [0, 3], "pay_money_balance": [50, 5_000]})
    specs = [by_name["n_payments_7d"], by_name["pay_money_balance"]]
    coarse = build_features(frame, specs, coarsen_groups=["payments", "balance"])
    assert list(coarse["n_payments_7d"]) == [0, 2]
    assert list(coarse["pay_money_balance"]) == [0, 1]
    assert [c["number"] for c in reg.categories] == list(range(1, 25))
    data["features"] = []
    with pytest.raises(ValueError, match="lists no feed features"):
        _feed_registry(DatasetDescription.from_dict(data))
    data = base.to_dict()
    data["coarse_bands"] = {}
    with pytest.raises(ValueError, match="has no bands"):
        _feed_registry(DatasetDescription.from_dict(data))
