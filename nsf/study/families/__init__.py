"""Variant families: one module each, registered once here.

A family declares what it needs from the dataset (``applies(ctx) -> reason | None``) and the
variants it proposes (``variants(ctx)``). A family that cannot apply is skipped with its reason
(logged with the study and shown as "not applicable: <reason>"), never run as fake variants.

Adding a family: a new module here defining ``FAMILY = Family(...)`` (the family contract,
:class:`Family`: its variants or its own procedure, its typed section of the result, its report
view, its MLflow metrics, its ledger factor, the config it owns), and its entry in
:data:`FAMILIES` below. The runner, the result, the report and tracking read every family from
here and name none.
"""

from nsf.study.families import (
    coarsen,
    decisions,
    drop_all,
    drop_one,
    drop_uncontested,
    freshness,
    keep_one,
    population,
    retention,
    sensitive,
    volume,
)
from nsf.study.families.base import (
    BASELINE,
    DROP_ALL,
    Family,
    FamilyContext,
    Proposal,
    StudyRun,
    with_changes,
)

#: The one list of variant families, in the order the study runs and the report shows them.
FAMILIES: dict[str, Family] = {m.FAMILY.name: m.FAMILY for m in (
    drop_one, drop_all, keep_one, coarsen, population, retention, sensitive, volume,
    decisions, freshness, drop_uncontested)}

#: The family whose single-group variants say whether each contested group is needed: the
#: minimal-set search starts from them and the reliance table shows them beside reliance.
NECESSITY = drop_one.FAMILY.name

__all__ = ["BASELINE", "DROP_ALL", "FAMILIES", "NECESSITY", "Family", "FamilyContext",
           "Proposal", "StudyRun", "with_changes"]
