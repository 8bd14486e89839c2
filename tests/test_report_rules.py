"""The inventory's recommendation rule on hand-built inputs (one case per step)."""

from __future__ import annotations

import pytest

from nsf.config import StudyConfig
from nsf.report import RULE_TEXT, recommend

NEEDED, NOT_SHOWN, INCONCLUSIVE = "needed", "not shown needed", "inconclusive"
#: The configured default (study.proxy_lift_threshold).
PROXY_LIFT_THRESHOLD = StudyConfig().proxy_lift_threshold
WEAK = PROXY_LIFT_THRESHOLD / 2
STRONG = PROXY_LIFT_THRESHOLD * 2


@pytest.mark.parametrize(("used", "contested", "necessity", "coarse", "lift", "action", "step"), [
    # 0: not used at all -> drop, whatever else holds
    (False, True, NEEDED, None, STRONG, "drop", 0),
    # 1: uncontested -> keep, even as a proxy
    (True, False, None, None, STRONG, "keep", 1),
    # 2: not shown needed, coarse version not needed -> drop
    (True, True, NOT_SHOWN, None, WEAK, "drop", 2),
    (True, True, NOT_SHOWN, NOT_SHOWN, WEAK, "drop", 2),
    (True, True, NOT_SHOWN, INCONCLUSIVE, STRONG, "drop", 2),
    # 3: needed or inconclusive, coarse non-inferior -> coarsen
    (True, True, NEEDED, NOT_SHOWN, WEAK, "coarsen", 3),
    (True, True, INCONCLUSIVE, NOT_SHOWN, None, "coarsen", 3),
    # 4: proxy override -> coarsen if a coarse version exists, else drop
    (True, True, NEEDED, NEEDED, STRONG, "coarsen", 4),
    (True, True, NEEDED, None, STRONG, "drop", 4),
    (True, True, INCONCLUSIVE, INCONCLUSIVE, STRONG, "coarsen", 4),
    # 5: needed -> keep
    (True, True, NEEDED, NEEDED, WEAK, "keep", 5),
    (True, True, NEEDED, None, None, "keep", 5),
    # 6: inconclusive, no non-inferior coarse version -> keep, provisional
    (True, True, INCONCLUSIVE, None, WEAK, "keep", 6),
    (True, True, INCONCLUSIVE, NEEDED, None, "keep", 6),
])
def test_each_step_of_the_rule(used, contested, necessity, coarse, lift, action, step):
    rec = recommend(used=used, contested=contested, necessity=necessity, coarse=coarse,
                    proxy_lift=lift, proxy_target="age_band", threshold=PROXY_LIFT_THRESHOLD)
    assert (rec.action, rec.rule) == (action, step)
    assert f"({step})" in RULE_TEXT


def test_the_threshold_is_inclusive_and_named():
    at = recommend(used=True, contested=True, necessity=NEEDED, coarse=None,
                   proxy_lift=PROXY_LIFT_THRESHOLD, proxy_target="gender",
                   threshold=PROXY_LIFT_THRESHOLD)
    below = recommend(used=True, contested=True, necessity=NEEDED, coarse=None,
                      proxy_lift=PROXY_LIFT_THRESHOLD - 1e-9, proxy_target="gender",
                      threshold=PROXY_LIFT_THRESHOLD)
    assert at.action == "drop" and "gender" in at.reason
    assert below.action == "keep"


def test_a_custom_threshold_changes_the_override():
    rec = recommend(used=True, contested=True, necessity=NEEDED, coarse=None, proxy_lift=0.3,
                    threshold=0.5)
    assert rec.action == "keep"


def test_inconsistent_verdicts_are_kept_and_flagged_for_review():
    rec = recommend(used=True, contested=True, necessity=NOT_SHOWN, coarse=NEEDED,
                    proxy_lift=None, threshold=PROXY_LIFT_THRESHOLD)
    assert rec.action == "keep" and "review" in rec.flags


def test_inconclusive_keep_is_flagged_provisional():
    rec = recommend(used=True, contested=True, necessity=INCONCLUSIVE, coarse=None,
                    proxy_lift=None, threshold=PROXY_LIFT_THRESHOLD)
    assert "provisional" in rec.flags


def test_an_unstudied_group_says_so():
    rec = recommend(used=True, contested=True, necessity=None, coarse=None, proxy_lift=None,
                    threshold=PROXY_LIFT_THRESHOLD)
    assert rec.action == "keep" and "necessity not studied" in rec.flags
