"""The recommendation rule of the data inventory: drop, coarsen or keep, from the numbers.

A pure function of one inventory row's measurements, so the rule can be stated in the report
word for word (:data:`RULE_TEXT`) and tested on hand-built inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from nsf.report._schema import CategoryRecommendation, InventoryRow, MinimalSetSection
from nsf.vocabulary import INCONCLUSIVE, NEEDED
from nsf.vocabulary import NOT_SHOWN_NEEDED as NOT_SHOWN

__all__ = ["RULE_STEPS", "RULE_TEXT", "Recommendation", "category_recommendations", "recommend"]

# The proxy threshold of step 4 is a config field (``study.proxy_lift_threshold``), logged
# with the study's result and passed in by the report.

#: The rule, one item per step, applied in order (the first that matches decides).
RULE_STEPS = (
    "(0) The model does not use the category at all: drop.",
    "(1) Uncontested group (data whose necessity is not disputed): keep.",
    "(2) Necessity not shown (removing the group costs less than the margin, with confidence) "
    "and its coarse version not needed either: drop.",
    "(3) Needed or inconclusive, and the coarse version is not shown needed (non-inferior to "
    "the raw data): coarsen.",
    "(4) Proxy override: the group's proxy lift for a protected attribute reaches the "
    "threshold: not kept raw even when it helps accuracy; coarsen if a coarse version exists, "
    "else drop (the necessity column shows what that costs).",
    "(5) Needed: keep. (If the raw group is not shown needed but its coarse version is "
    "needed, an inconsistency of the data: keep and review.)",
    "(6) Inconclusive, with no non-inferior coarse version: keep, provisional (the study "
    "could not tell; more test rows narrow the interval).",
)
RULE_TEXT = ("Each shared category is judged through the attribute group its features belong "
             "to; the first step that matches decides. " + " ".join(RULE_STEPS))


@dataclass(frozen=True)
class Recommendation:
    """``action`` (drop | coarsen | keep), the rule that decided it, and why in words."""

    action: str
    rule: int
    reason: str
    flags: tuple[str, ...] = field(default=())


def recommend(*, used: bool, contested: bool, necessity: str | None,
              coarse: str | None, proxy_lift: float | None, proxy_target: str | None = None,
              threshold: float) -> Recommendation:
    """Apply the inventory rule (:data:`RULE_TEXT`) to one category's group.

    Parameters
    ----------
    used : whether the baseline model uses any feature of the category.
    contested : whether the group's necessity is contested.
    necessity : verdict of dropping the group (``needed``, ``not shown needed``,
        ``inconclusive``), or None when the study has no such variant.
    coarse : verdict of the group's coarse version against the raw one, or None (no coarse
        version, or not studied).
    proxy_lift : the group's largest proxy lift for a protected attribute, or None.
    proxy_target : the attribute of that lift (named in the reason).
    threshold : proxy lift at which step 4 applies (``study.proxy_lift_threshold``, as
        logged with the study).

    Returns
    -------
    Recommendation
    """
    if not used:
        return Recommendation("drop", 0, "not used by the model")
    if not contested:
        return Recommendation("keep", 1, "uncontested")
    flags: list[str] = []
    proxy = proxy_lift is not None and proxy_lift >= threshold
    proxy_words = (f"proxy for {proxy_target or 'a protected attribute'} (lift "
                   f"{proxy_lift:.3f} >= {threshold:g})") if proxy else ""
    if necessity is None:
        flags.append("necessity not studied")
    if necessity == NOT_SHOWN and coarse != NEEDED:
        if proxy:
            flags.append(proxy_words)
        return Recommendation("drop", 2, "necessity not shown", tuple(flags))
    if necessity in (NEEDED, INCONCLUSIVE) and coarse == NOT_SHOWN:
        if proxy:
            flags.append(proxy_words)
        return Recommendation("coarsen", 3, f"{necessity}; coarse version non-inferior",
                              tuple(flags))
    if proxy:
        what = necessity or "necessity not studied"
        if coarse is not None:
            return Recommendation("coarsen", 4, f"{proxy_words}; {what}", tuple(flags))
        return Recommendation("drop", 4, f"{proxy_words}; {what}; no coarse version",
                              tuple(flags))
    if necessity == NEEDED:
        return Recommendation("keep", 5, NEEDED, tuple(flags))
    if necessity == NOT_SHOWN:  # the coarse version is "needed": keep raw, review
        return Recommendation("keep", 5, "not shown needed, but its coarse version is needed "
                              "(inconsistent)", (*flags, "review"))
    flags.append("provisional")
    return Recommendation("keep", 6, f"{necessity or 'necessity not studied'}: the study could "
                          "not tell", tuple(flags))


#: Order of the actions from most to least data kept.
_Action = Literal["keep", "coarsen", "drop"]
_ACTIONS: tuple[_Action, ...] = ("keep", "coarsen", "drop")


def category_recommendations(rows: Sequence[InventoryRow],
                             minimal: MinimalSetSection | None) -> list[CategoryRecommendation]:
    """One recommendation per shared category (per attribute group for a user's table),
    derived once; the report's summary, inventory, minimal set, ledger and money sections all
    read it.

    The inventory rule (:func:`recommend`) judges each attribute group alone. A category can
    feed several groups, and the minimal-set search judges the groups together, so the two can
    disagree (a group inconclusive alone can be removed with the others at no cost; a group not
    needed alone can be needed once the others are gone). The category's recommendation
    reconciles them, in order:

    1. A category the model does not use: drop.
    2. With a minimal-set search: a category whose used groups the search all removed is
       dropped (the model without all the removed groups together is non-inferior); its other
       groups (kept by the search, not studied by it, or uncontested) are needed. A kept
       group is shared coarse when the rule says coarsen (its coarse version is non-inferior,
       or it is a proxy), and dropped only when the rule drops it as a proxy without a coarse
       version.
    3. Without a search: every used category is kept (groups not needed one at a time may be
       needed together), coarse where the rule says coarsen; provisional when a group's
       necessity was not shown.

    Returns
    -------
    list of CategoryRecommendation
        In inventory order; ``action`` is drop | coarsen | keep.
    """
    by_key: dict[str, list[InventoryRow]] = {}
    for r in rows:
        key = str(r.category) if r.category is not None else r.name
        by_key.setdefault(key, []).append(r)
    search = minimal is not None
    # Only what the search removed is shown not needed; a group it did not study is kept.
    removed = set(minimal.removed) if minimal is not None else set()
    kept = set(minimal.kept) if minimal is not None else set()
    out = []
    for key, mine in by_key.items():
        first = mine[0]
        used = [r for r in mine if r.used]
        groups = list(dict.fromkeys(r.group for r in mine))
        contested = any(r.contested for r in mine)
        if not used:
            out.append(CategoryRecommendation(
                category=first.category, name=first.name, key=key, groups=groups,
                contested=contested, action="drop", form=None, needed_groups=[], provisional=False,
                basis="rule", reason="not used by the model"))
            continue
        if search:
            needed = [r for r in used if not r.contested or r.group not in removed]
            if not needed:
                out.append(CategoryRecommendation(
                    category=first.category, name=first.name, key=key, groups=groups,
                    contested=contested, action="drop", form=None, needed_groups=[],
                    provisional=False,
                    basis="minimal set", reason="the model does as well without "
                    + ", ".join(dict.fromkeys(r.group for r in used))
                    + " (removed together in the minimal-set search)"))
                continue
        else:
            # Groups not needed one at a time may be needed together: without a search that
            # removes them together, every used group is kept (as the ledger counts it).
            needed = used
        actions: list[_Action] = []
        for r in needed:
            if r.recommendation == "drop" and r.rule == 4 and search:
                actions.append("drop")  # a proxy without a coarse version
            elif r.recommendation == "coarsen":
                actions.append("coarsen")
            else:
                actions.append("keep")
        action = min(actions, key=_ACTIONS.index)
        provisional = any("provisional" in r.flags for r in needed) or any(
            (r.necessity.verdict if r.necessity else None) != NEEDED and r.contested
            for r in needed)
        names = list(dict.fromkeys(r.group for r in needed))
        if action == "drop":
            reason = "; ".join(r.reason for r in needed)
        elif not any(r.contested for r in needed):
            reason = "uncontested data the score's purpose requires"
        else:
            studied = not search or all(r.group in kept for r in needed if r.contested)
            why = ("kept by the minimal-set search" if search and studied else
                   "not in the minimal-set search, so kept" if search else
                   "no minimal-set search removed it with the others, so kept")
            form = ("its coarse version does as well as the raw data"
                    if action == "coarsen" else "needed raw")
            reason = f"{', '.join(names)}: {why}; {form}"
        out.append(CategoryRecommendation(
            category=first.category, name=first.name, key=key, groups=groups,
            contested=contested, action=action, form="coarse" if action == "coarsen" else
            ("raw" if action == "keep" else None), needed_groups=names,
            provisional=provisional and action != "drop",
            basis="minimal set" if search else "rule", reason=reason))
    return out
