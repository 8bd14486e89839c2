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

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from nsf.data import DatasetDescription

Kind = Literal["numeric", "categorical", "excluded"]


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
    bands : parameters of the coarse version, from the dataset's description: the band
        edges of ``amount_band``, the cap of ``count_cap`` (as a 1-tuple); else empty.
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
    bands: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        out = asdict(self)
        out["sources"] = list(self.sources)
        out["bands"] = list(self.bands)
        return out


#: Sensitive attributes a study variant may add (never the default model).
SENSITIVE_FEATURES: dict[str, Kind] = {
    "age": "numeric", "age_band": "categorical", "gender": "categorical",
    "nationality": "categorical", "region": "categorical", "device_os": "categorical",
}
#: The simulator's latent traits (truth tables): only for the pipeline check in the tests.
LATENT_FEATURES = ("income_z", "liquidity_buffer_z", "topup_discipline_z",
                   "appstore_propensity_z", "spending_z")


class FeatureRegistry:
    """Every feature of a data source, by attribute group.

    Parameters
    ----------
    specs : the features, including excluded shared columns.
    groups : the attribute groups, in display order.
    categories : the categories of shared data the features come from (dicts with
        ``number``, ``name``, ``public``, ``source``, ``meaning``), as the dataset's
        description lists them; empty for a user's table.
    """

    def __init__(self, specs: Iterable[FeatureSpec], groups: Iterable[GroupInfo],
                 categories: Iterable[dict] = ()):
        self.specs: tuple[FeatureSpec, ...] = tuple(specs)
        self.groups: dict[str, GroupInfo] = {g.name: g for g in groups}
        self.categories: tuple[dict, ...] = tuple(categories)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError("duplicate feature names in the registry")
        unknown = {s.group for s in self.specs} - set(self.groups)
        if unknown:
            raise ValueError(f"features in undeclared groups: {sorted(unknown)}")

    def __iter__(self) -> Iterator[FeatureSpec]:
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
        return FeatureRegistry(specs, groups, self.categories)

    def extended(self, specs: Iterable[FeatureSpec], groups: Iterable[GroupInfo]) -> \
            FeatureRegistry:
        return FeatureRegistry([*self.specs, *specs], [*self.groups.values(), *groups],
                               self.categories)

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


def feed_registry(description: DatasetDescription) -> FeatureRegistry:
    """The registry of a feed, as its dataset's description declares it.

    The description (written by the data's writer: the simulator for a simulated feed) lists
    every shared column with its feature, group, source category and coarse version, and the
    bands of the coarse versions; nothing here knows the simulator's columns.

    Raises
    ------
    ValueError
        If the description lists no features, or a feature's coarse version lacks its bands.
    """
    if not description.features:
        raise ValueError("the dataset's description lists no feed features")
    contested = {g.name: g.contested for g in description.groups}
    specs = []
    for f in description.features:
        bands = description.coarse_bands.get(f.coarsen, ()) \
            if f.coarsen in _BANDED else ()
        if f.coarsen in _BANDED and not bands:
            raise ValueError(f"feature {f.name!r}: coarse version {f.coarsen!r} has no bands "
                             "in the dataset's description")
        specs.append(FeatureSpec(
            name=f.name, group=f.group, category=f.category, sources=tuple(f.sources),
            kind=f.kind, op=f.op, window=f.window, coarsen=f.coarsen,
            contested=contested[f.group], note=f.note, bands=tuple(bands)))
    groups = [GroupInfo(g.name, g.contested, g.meaning) for g in description.groups]
    categories = [{"number": c.number, "name": c.name, "public": c.public,
                   "source": c.source, "meaning": c.meaning} for c in description.categories]
    return FeatureRegistry(specs, groups, categories)


#: Coarse versions whose parameters (bands) come from the description.
_BANDED = ("amount_band", "count_cap")


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
            kind: Kind = "numeric" if (kinds.get(col) or SENSITIVE_FEATURES.get(col)) \
                == "numeric" else "categorical"
            specs.append(FeatureSpec(
                name=col, group="sensitive", category="sensitive", sources=(col,), kind=kind,
                op="value" if kind == "numeric" else "text", note="sensitive attribute"))
    if latents:
        groups.append(GroupInfo("latent", False, "Simulator latent traits (pipeline check)."))
        specs.extend(FeatureSpec(name=c, group="latent", category="latent", sources=(c,),
                                 kind="numeric", contested=False, note="truth table (test only)")
                     for c in LATENT_FEATURES)
    return specs, groups
