"""What the simulated feed's columns are, written into the dataset's description.

``nsf`` knows the simulator's data only through the description of a dataset (its manifest):
the shared categories, each feed column's attribute group, how a feature is derived from it,
its coarse version and the bands of that coarse version all come from here. A change here
changes the description, so it is a new dataset format (``data_gen.dataset.FORMAT``).
"""

from __future__ import annotations

from data_gen.categories import AMOUNT_BANDS, CATEGORIES, COUNT_CAP, category_of

#: Feed column (template) -> (group, coarse version). Windowed columns carry ``{w}``.
_FEED_COLUMNS: dict[str, tuple[str, str]] = {
    "pay_money_balance": ("balance", "amount_band"),
    "balance_mean_{w}d": ("balance", "amount_band"),
    "low_balance_days_{w}d": ("balance", "none"),
    "n_topups_{w}d": ("topups", "count_cap"),
    "topup_amount_{w}d": ("topups", "amount_band"),
    "n_auto_topups_{w}d": ("topups", "count_cap"),
    "n_payments_{w}d": ("payments", "count_cap"),
    "payment_amount_{w}d": ("payments", "amount_band"),
    "n_declines_{w}d": ("payments", "count_cap"),
    "n_transfers_{w}d": ("transfers", "count_cap"),
    "transfer_in_amount_{w}d": ("transfers", "amount_band"),
    "transfer_out_amount_{w}d": ("transfers", "amount_band"),
    "n_withdrawals_{w}d": ("withdrawals", "count_cap"),
    "withdrawal_amount_{w}d": ("withdrawals", "amount_band"),
    "n_appstore_charges_{w}d": ("appstore_history", "count_cap"),
    "appstore_amount_{w}d": ("appstore_history", "amount_band"),
    "n_appstore_declines_{w}d": ("appstore_history", "count_cap"),
    "id_verified": ("id_verification", "none"),
    "n_cards": ("cards", "count_cap"),
    "bank_linked": ("payment_settings", "none"),
    "auto_topup": ("payment_settings", "none"),
    "apple_registered": ("apple_billing", "none"),
}

_HASHED = "hashed identifier: one value per person, high cardinality, no signal by design"


def feed_features(windows: tuple[int, ...], feed_format: str = "raw") -> list[dict]:
    """Every shared column of the feed as a feature (or as a column that is deliberately not
    one), in the order of its source category: ``name``, ``group``, ``category``,
    ``sources``, ``kind``, ``op``, ``window``, ``coarsen``, ``note``.

    In a ``binned`` feed amounts and counts are already coarse, so their coarse version is
    the value as shared (``coarsen: none``).
    """
    windows = tuple(int(w) for w in windows)
    binned = feed_format == "binned"
    out: list[dict] = []

    def add(name, group, column, kind, *, op="value", window=None, coarsen="none",
            note="as shared", sources=None):
        if binned and coarsen in ("amount_band", "count_cap", "years"):
            coarsen = "none"
        cat = category_of(column, windows)
        out.append({"name": name, "group": group, "category": f"{cat.number} {cat.name}",
                    "sources": list(sources or (column,)), "kind": kind, "op": op,
                    "window": window, "coarsen": coarsen, "note": note})

    add("customer_number_hash", "account_identifiers", "customer_number_hash", "excluded",
        note=_HASHED)
    add("kakao_account_hash", "account_identifiers", "kakao_account_hash", "excluded",
        note=_HASHED)
    add("account_id_kind", "account_identifiers", "kakao_account_hash", "categorical",
        op="account_id_kind", sources=("kakao_account_hash", "email_hash", "phone_hash"),
        note="derived from hashes: whether the Kakao account ID is the user's e-mail or phone "
        "(equal digests)")
    add("email_hash", "email", "email_hash", "excluded", note=_HASHED)
    add("email_domain", "email", "masked_email", "categorical", op="email_domain",
        coarsen="provider", note="derived: the domain of the masked e-mail (the two visible "
        "characters of the local part are not used)")
    add("phone_hash", "phone", "phone_hash", "excluded", note=_HASHED)
    add("masked_phone", "phone", "masked_phone", "excluded",
        note="last four digits of the number: arbitrary, 10,000 values, no signal")
    add("verification_carrier", "phone", "verification_carrier", "categorical", op="text",
        coarsen="carrier_type", note="as shared: carrier of the phone verified at sign-up")
    add("join_date", "join_date", "join_date", "numeric", op="days", coarsen="year",
        note="days since 1970-01-01")
    add("tenure_days", "join_date", "tenure_days", "numeric", coarsen="years")
    add("signup_channel", "signup", "signup_channel", "categorical", op="text")
    for template, (group, coarsen) in _FEED_COLUMNS.items():
        if "{w}" in template:
            for w in windows:
                col = template.format(w=w)
                add(col, group, col, "numeric", window=w, coarsen=coarsen)
        else:
            add(template, group, template, "numeric", coarsen=coarsen)
    # Feature order = feed order of the source categories (stable feature lists).
    order = {f"{c.number} {c.name}": c.number for c in CATEGORIES}
    out.sort(key=lambda f: order[f["category"]])
    return out


def shared_categories() -> list[dict]:
    """The 24 shared categories: ``number``, ``name``, ``public``, ``source``, ``meaning``,
    ``columns`` (templates; windowed ones carry ``{w}``)."""
    return [{"number": c.number, "name": c.name, "public": c.public, "source": c.source,
             "meaning": c.meaning, "columns": list(c.columns)} for c in CATEGORIES]


def coarse_bands() -> dict[str, list[int]]:
    """The parameters of the coarse versions: the KRW edges of ``amount_band`` and the cap of
    ``count_cap`` ([ASSUMPTION]s, as the court described "categorised" data)."""
    return {"amount_band": [int(x) for x in AMOUNT_BANDS], "count_cap": [int(COUNT_CAP)]}
