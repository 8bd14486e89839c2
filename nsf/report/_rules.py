"""The recommendation rule of the data inventory: drop, coarsen or keep, from the numbers.

A pure function of one inventory row's measurements, so the rule can be stated in the report
word for word (:data:`RULE_TEXT`) and tested on hand-built inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsf.vocabulary import INCONCLUSIVE, NEEDED
from nsf.vocabulary import NOT_SHOWN_NEEDED as NOT_SHOWN

__all__ = ["RULE_STEPS", "RULE_TEXT", "Recommendation", "recommend"]

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
