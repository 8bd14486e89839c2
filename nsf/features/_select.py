"""Which registry features a model variant uses."""

from __future__ import annotations

from dataclasses import dataclass

from nsf.features._registry import FeatureRegistry, FeatureSpec


@dataclass(frozen=True)
class FeatureSelection:
    """A variant's features, by attribute group.

    Attributes
    ----------
    drop_groups : groups left out.
    coarsen_groups : groups replaced by their coarse version.
    retention_days : only windowed aggregates over at most this many days (None: all).
    sensitive : sensitive attributes added as features (study variants only).
    latents : add the simulator's latent traits (a pipeline check in the tests, never a study
        variant: the truth is not shared data).
    keep_groups : when not None, only these groups (before ``drop_groups``).
    """

    drop_groups: tuple[str, ...] = ()
    coarsen_groups: tuple[str, ...] = ()
    retention_days: int | None = None
    sensitive: tuple[str, ...] = ()
    latents: bool = False
    keep_groups: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, features) -> FeatureSelection:
        """The selection of a :class:`nsf.config.FeaturesConfig`."""
        return cls(drop_groups=tuple(features.drop_groups),
                   coarsen_groups=tuple(features.coarsen_groups),
                   retention_days=features.retention_days,
                   sensitive=tuple(features.sensitive))

    def describe(self) -> dict:
        return {
            "drop_groups": list(self.drop_groups), "coarsen_groups": list(self.coarsen_groups),
            "retention_days": self.retention_days, "sensitive": list(self.sensitive),
            "latents": self.latents,
            "keep_groups": None if self.keep_groups is None else list(self.keep_groups),
        }


def select_features(registry: FeatureRegistry, selection: FeatureSelection) -> list[FeatureSpec]:
    """The usable features of ``registry`` that ``selection`` keeps, in registry order.

    Raises
    ------
    ValueError
        If the selection names unknown groups, or keeps no feature at all.
    """
    registry.check_groups(selection.drop_groups, "drop_groups")
    registry.check_groups(selection.coarsen_groups, "coarsen_groups")
    if selection.keep_groups is not None:
        registry.check_groups(selection.keep_groups, "keep_groups")
    if selection.retention_days is not None and selection.retention_days < 1:
        raise ValueError(f"retention_days must be >= 1 (got {selection.retention_days})")
    keep = None if selection.keep_groups is None else set(selection.keep_groups)
    if keep is not None:
        keep |= {"sensitive", "latent"}
    drop = set(selection.drop_groups)
    out = []
    for spec in registry.usable:
        if keep is not None and spec.group not in keep:
            continue
        if spec.group in drop:
            continue
        if (spec.window is not None and selection.retention_days is not None
                and spec.window > selection.retention_days):
            continue
        out.append(spec)
    if not out:
        raise ValueError(f"the selection {selection.describe()} keeps no feature")
    return out
