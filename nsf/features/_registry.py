"""The feature registry: every feature, its source category, its attribute group, and whether
that group's necessity is contested.

Groups are first-class because the study drops and coarsens by group. Hashed identifiers are
listed with the reason they are not features; what can honestly be derived from them is.

[ASSUMPTION] Contested groups are those the regulators named as personal data sent beyond
need (identifiers, e-mail, phone, join date, verification, cards, balance and transaction
history). Uncontested: Apple's own charge history with this payment method, whether Kakao Pay
is the user's App Store method, and the payment method's funding settings (linked bank,
automatic top-up), which say directly whether a charge can be covered. ``features.
contested_groups`` overrides this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from data_gen.categories import CATEGORIES
from data_gen.dataset import FEED_GROUPS as _SIMULATED_GROUPS

Kind = Literal["numeric", "categorical", "excluded"]

# A coarsened group uses the bands and caps of the simulator's 'binned' feed ("categorised"
# data, as the court described it).


@dataclass(frozen=True)
class GroupInfo:
    """An attribute group."""

    name: str
    contested: bool
    meaning: str


@dataclass(frozen=True)
class FeatureSpec:
    """One feature (or one shared column that is deliberately not a feature).

    Attributes
    ----------
    name : feature name in the model.
    group : attribute group (the unit the study drops or coarsens).
    category : the shared category it comes from (e.g. ``"7 pay_money_balance"``), ``"table"``
        for the user's own table, ``"sensitive"`` or ``"latent"``.
    sources : raw input columns it is computed from.
    kind : ``numeric``, ``categorical`` (integer-coded in the pipeline) or ``excluded``.
    op : how it is computed: ``value`` (as shared; booleans 0/1), ``days`` (a date as days since
        1970-01-01), ``text`` (a category as shared), ``email_domain`` (the domain of a masked
        e-mail), ``account_id_kind`` (whether the hashed Kakao account ID equals the hashed
        e-mail or phone).
    window : history window in days for windowed aggregates (retention applies), else None.
    coarsen : the coarse version: ``amount_band``, ``count_cap``, ``year`` (date to its year),
        ``years`` (days to whole years), ``carrier_type`` (MVNO or not), ``provider`` (portal,
        global or other mail), ``log2_band`` (user tables), ``none`` (already coarse).
    contested : whether its group's necessity is disputed.
    note : derivation, or the reason it is excluded.
    """

    name: str
    group: str
    category: str
    sources: tuple[str, ...]
    kind: Kind
    op: str = "value"
    window: int | None = None
    coarsen: str = "none"
    contested: bool = True
    note: str = "as shared"

    def as_dict(self) -> dict:
        out = asdict(self)
        out["sources"] = list(self.sources)
        return out


#: The feed's attribute groups, as the simulator's dataset description declares them.
FEED_GROUPS: tuple[GroupInfo, ...] = tuple(
    GroupInfo(g["name"], g["contested"], g["meaning"]) for g in _SIMULATED_GROUPS)

#: Feed column (template) -> (group, coarsen rule). Windowed columns carry ``{w}``.
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

#: Sensitive attributes a study variant may add (never the default model).
SENSITIVE_FEATURES: dict[str, Kind] = {
    "age": "numeric", "age_band": "categorical", "gender": "categorical",
    "nationality": "categorical", "region": "categorical", "device_os": "categorical",
}
#: The simulator's latent traits (truth tables): only for the pipeline check in the tests.
LATENT_FEATURES = ("income_z", "liquidity_buffer_z", "topup_discipline_z",
                   "appstore_propensity_z", "spending_z")


def _category_of(column: str, windows: tuple[int, ...]) -> str:
    for cat in CATEGORIES:
        if column in cat.column_names(windows):
            return f"{cat.number} {cat.name}"
    raise KeyError(column)


class FeatureRegistry:
    """Every feature of a data source, by attribute group.

    Parameters
    ----------
    specs : the features, including excluded shared columns.
    groups : the attribute groups, in display order.
    """

    def __init__(self, specs: Iterable[FeatureSpec], groups: Iterable[GroupInfo]):
        self.specs: tuple[FeatureSpec, ...] = tuple(specs)
        self.groups: dict[str, GroupInfo] = {g.name: g for g in groups}
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError("duplicate feature names in the registry")
        unknown = {s.group for s in self.specs} - set(self.groups)
        if unknown:
            raise ValueError(f"features in undeclared groups: {sorted(unknown)}")

    def __iter__(self):
        return iter(self.specs)

    @property
    def usable(self) -> tuple[FeatureSpec, ...]:
        return tuple(s for s in self.specs if s.kind != "excluded")

    @property
    def contested_groups(self) -> tuple[str, ...]:
        return tuple(g for g, info in self.groups.items() if info.contested)

    def check_groups(self, names: Iterable[str], what: str) -> None:
        """Raise ``ValueError`` naming ``what`` if a group is not in the registry."""
        unknown = sorted(set(names) - set(self.groups))
        if unknown:
            raise ValueError(f"{what}: unknown attribute groups {unknown} (known: "
                             f"{', '.join(self.groups)})")

    def with_contested(self, contested: Iterable[str] | None) -> FeatureRegistry:
        """A copy where exactly ``contested`` groups are contested (None: unchanged)."""
        if contested is None:
            return self
        contested = set(contested)
        self.check_groups(contested, "features.contested_groups")
        groups = [replace(g, contested=g.name in contested) for g in self.groups.values()]
        specs = [replace(s, contested=s.group in contested) for s in self.specs]
        return FeatureRegistry(specs, groups)

    def extended(self, specs: Iterable[FeatureSpec], groups: Iterable[GroupInfo]) -> \
            FeatureRegistry:
        return FeatureRegistry([*self.specs, *specs], [*self.groups.values(), *groups])

    def describe(self) -> dict:
        """YAML-ready: groups with their features (excluded ones with the reason)."""
        return {
            "groups": {
                g.name: {
                    "contested": g.contested,
                    "meaning": g.meaning,
                    "features": [s.as_dict() for s in self.specs if s.group == g.name],
                }
                for g in self.groups.values()
            }
        }


def feed_registry(windows: tuple[int, ...], feed_format: str = "raw") -> FeatureRegistry:
    """The registry of the simulated shared feed with history ``windows``.

    Parameters
    ----------
    windows : the feed's trailing windows in days (manifest ``config.feed.windows``).
    feed_format : ``raw`` or ``binned``; in a binned feed amounts and counts are already coarse,
        so coarsening leaves them as they are.
    """
    windows = tuple(int(w) for w in windows)
    binned = feed_format == "binned"
    contested = {g.name: g.contested for g in FEED_GROUPS}
    specs: list[FeatureSpec] = []

    def add(name, group, column, kind, *, op="value", window=None, coarsen="none", note="as "
            "shared", sources=None):
        if binned and coarsen in ("amount_band", "count_cap", "years"):
            coarsen = "none"
        specs.append(FeatureSpec(
            name=name, group=group, category=_category_of(column, windows),
            sources=tuple(sources or (column,)), kind=kind, op=op, window=window,
            coarsen=coarsen, contested=contested[group], note=note))

    hashed = "hashed identifier: one value per person, high cardinality, no signal by design"
    add("customer_number_hash", "account_identifiers", "customer_number_hash", "excluded",
        note=hashed)
    add("kakao_account_hash", "account_identifiers", "kakao_account_hash", "excluded",
        note=hashed)
    add("account_id_kind", "account_identifiers", "kakao_account_hash", "categorical",
        op="account_id_kind", sources=("kakao_account_hash", "email_hash", "phone_hash"),
        note="derived from hashes: whether the Kakao account ID is the user's e-mail or phone "
        "(equal digests)")
    add("email_hash", "email", "email_hash", "excluded", note=hashed)
    add("email_domain", "email", "masked_email", "categorical", op="email_domain",
        coarsen="provider", note="derived: the domain of the masked e-mail (the two visible "
        "characters of the local part are not used)")
    add("phone_hash", "phone", "phone_hash", "excluded", note=hashed)
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
    # Keep registry order = feed order of the source categories (stable feature lists).
    order = {f"{c.number} {c.name}": c.number for c in CATEGORIES}
    specs.sort(key=lambda s: order[s.category])
    return FeatureRegistry(specs, FEED_GROUPS)


def table_registry(groups: dict[str, tuple[str, ...]], categorical: Iterable[str],
                   contested: Iterable[str] | None = None,
                   column_order: Iterable[str] | None = None) -> FeatureRegistry:
    """The registry of a user's table: one feature per declared column.

    Parameters
    ----------
    groups : group -> columns (``dataset.table.groups``).
    categorical : columns to integer-code as categories.
    contested : contested groups (None: all).
    column_order : the file's columns; features follow their order in the file (None: the
        order of ``groups``). The model sees its features in this order.
    """
    categorical = set(categorical)
    contested = set(groups) if contested is None else set(contested)
    infos = [GroupInfo(g, g in contested, "declared in dataset.table.groups") for g in groups]
    specs = [
        FeatureSpec(name=col, group=g, category="table", sources=(col,),
                    kind="categorical" if col in categorical else "numeric",
                    op="text" if col in categorical else "value",
                    coarsen="none" if col in categorical else "log2_band",
                    contested=g in contested, note="as in the table")
        for g, cols in groups.items() for col in cols
    ]
    if column_order is not None:
        position = {c: i for i, c in enumerate(column_order)}
        specs.sort(key=lambda s: position.get(s.name, len(position)))
    return FeatureRegistry(specs, infos)


def extra_specs(sensitive: Iterable[str], latents: bool,
                kinds: dict[str, str] | None = None) -> tuple[list[FeatureSpec],
                                                              list[GroupInfo]]:
    """Specs and groups for sensitive attributes and (test-only) latent traits.

    ``kinds`` maps a sensitive column to 'numeric' or 'categorical' (the dataset description's);
    columns it does not name fall back to the simulator's kinds, else 'categorical'.
    """
    kinds = kinds or {}
    specs: list[FeatureSpec] = []
    groups: list[GroupInfo] = []
    sensitive = list(sensitive)
    if sensitive:
        groups.append(GroupInfo("sensitive", True, "Protected attributes (study variants only)."))
        for col in sensitive:
            kind = kinds.get(col) or SENSITIVE_FEATURES.get(col, "categorical")
            specs.append(FeatureSpec(
                name=col, group="sensitive", category="sensitive", sources=(col,), kind=kind,
                op="value" if kind == "numeric" else "text", note="sensitive attribute"))
    if latents:
        groups.append(GroupInfo("latent", False, "Simulator latent traits (pipeline check)."))
        specs.extend(FeatureSpec(name=c, group="latent", category="latent", sources=(c,),
                                 kind="numeric", contested=False, note="truth table (test only)")
                     for c in LATENT_FEATURES)
    return specs, groups
