"""The data ledger: what a minimal design would have sent against what was sent, at case scale.

Every factor comes from a verdict of the study and a fact of the case (``study.ledger``,
docs/case.md), and says which:

- training subjects: the learning curve's smallest size non-inferior to all (family
  ``volume``), drawn from the Apple-registered users unless the population family showed that
  the other users were needed; with no smaller size shown sufficient, every user of the
  training pool counts as needed;
- history: the shortest retention window that, with every longer one, is non-inferior to the
  full history (family ``retention``), within the case's training batch (April-July 2018);
- after the build: only the users actually scored, the Apple-registered ones (the PIPC's and
  FSS's finding, an upper bound of 20% of the users), one record a day; new training data as
  often as the freshness family's verdict says (none when retraining was not shown needed;
  else at the sparsest schedule non-inferior to the most frequent one studied, the upper
  figure at the most frequent one; ``study.ledger.retrain_days``, an assumption, when the
  family did not run), counted only where it is not already in the scoring feed;
- categories: those of the minimal sufficient set's features (or the baseline's when no
  search ran), plus the identifier a match to the Apple account needs.

Only a "not shown needed" verdict removes data; "needed" and "inconclusive" keep it, so the
ledger never understates what was needed. The upper figures take, for each verdict with a
curve, the next larger size or longer window (the nearest point with more data).
"""

from __future__ import annotations

import re

from nsf.study.families import FAMILIES
from nsf.vocabulary import NOT_SHOWN_NEEDED

__all__ = ["LEDGER_ROLES", "build_ledger"]

#: The factors the families give the ledger (their contract's ``ledger_role``): the training
#: pool, the training subjects, the history per subject, the retrainings after the build.
LEDGER_ROLES = ("population", "subjects", "history", "retraining")


def _factor(role: str):
    """The ledger factor ``(result, facts, pool) -> dict`` of the family that gives ``role``."""
    for family in FAMILIES.values():
        if family.ledger_role == role and family.ledger is not None:
            return family.ledger
    raise RuntimeError(f"no registered family gives the ledger's {role!r} factor")


def _freshness(result, facts) -> dict:
    """The retraining factor (the freshness verdict), for tests."""
    return _factor("retraining")(result, facts, None)

_CASE_CATEGORY = re.compile(r"^(\d+) ")


def _categories(result, facts) -> dict:
    by_name = {f.name: f.category for f in result.inventory.features}
    minimal = result.minimal_set
    features = minimal.features if minimal is not None else result.baseline.features
    used = sorted({int(m.group(1)) for f in features
                   if (m := _CASE_CATEGORY.match(by_name.get(f, "")))})
    needed = min(facts.categories, len(used) + facts.linkage_categories)
    coarse = [v.groups[0] for v in result.variants_of("coarsen")
              if len(v.groups) == 1 and v.verdict == NOT_SHOWN_NEEDED]
    source = ("minimal set: the model without " + (", ".join(minimal.removed) or "nothing")
              if minimal is not None else "baseline features (no minimal-set search)")
    return {"needed": float(needed), "used": used, "coarse_enough": coarse,
            "verdict": f"{source}: categories {', '.join(map(str, used))} plus "
            f"{facts.linkage_categories} identifier for the match to Apple"}


def build_ledger(result, facts) -> dict | None:
    """The ledger of a study result (None for a user's table or ``study.ledger.enabled``
    false): ``{"rows", "steps", "records_sent", "records_needed", "records_needed_upper",
    "fraction_needed", "fraction_needed_upper", "categories_sent", "categories_needed",
    "values_fraction_needed", "values_fraction_needed_upper", "notes"}``.

    Parameters
    ----------
    result : :class:`nsf.study.StudyResult` (its verdicts and sections).
    facts : :class:`nsf.config.LedgerConfig` (the case's figures).
    """
    if not facts.enabled or result.dataset.kind != "simulated":
        return None
    people, days = float(facts.people), float(facts.training_days)
    training_sent = people * days
    feed_sent = max(facts.records - training_sent, 0.0)
    pop = _factor("population")(result, facts, people)
    pool = people * facts.apple_share if pop["apple_only"] else people
    subj = _factor("subjects")(result, facts, pool)
    hist = _factor("history")(result, facts, pool)
    cats = _categories(result, facts)
    fresh = _factor("retraining")(result, facts, pool)
    retrains, retrains_upper = fresh["retrains"], fresh["retrains_upper"]
    fresh_verdict = fresh["verdict"]
    scoring = facts.apple_share * feed_sent

    def needed(n_train: float, r: float, times: int) -> tuple[float, float, float]:
        train = n_train * r
        # Retraining on Apple-registered users reads records the scoring feed already holds;
        # the other training subjects need each retraining's history window, and windows that
        # overlap share their days: never more than the feed carried for them.
        days_after = min(times * r, float(facts.feed_days))
        others = n_train * (1 - facts.apple_share)
        extra = 0.0 if pop["apple_only"] else min(others * days_after,
                                                  feed_sent * others / people)
        return train, extra, train + extra + scoring

    train, extra, total = needed(subj["needed"], hist["needed"], retrains)
    _, _, total_upper = needed(subj["upper"], hist["upper"], retrains_upper)
    n_cat = cats["needed"]
    k = float(facts.categories)
    steps = [
        {"label": "sent", "delta": facts.records, "kind": "total",
         "source": "[CASE] ~54.2 billion records on ~40.45 million people"},
        {"label": "training: subjects not needed",
         "delta": -(people - subj["needed"]) * days, "kind": "step",
         "source": subj["verdict"]},
        {"label": "training: history not needed",
         "delta": -subj["needed"] * (days - hist["needed"]), "kind": "step",
         "source": hist["verdict"]},
        {"label": "after the build: users not scored",
         "delta": -(feed_sent - scoring), "kind": "step",
         "source": f"[CASE] fewer than {facts.apple_share:.0%} registered with Apple; only "
                   "they were scored (PIPC, FSS)"},
        {"label": "after the build: retraining data", "delta": extra, "kind": "step",
         "source": fresh_verdict},
        {"label": "needed (records)", "delta": total, "kind": "total", "source": ""},
    ]
    rows = [
        {"item": "training subjects", "unit": "people", "sent": people,
         "needed": subj["needed"], "needed_upper": subj["upper"], "source": subj["verdict"],
         "case_fact": "[CASE] all ~40.45M users in the training batches"},
        {"item": "training pool", "unit": "people", "sent": people, "needed": pool,
         "needed_upper": pool, "source": pop["verdict"],
         "case_fact": f"[CASE] fewer than {facts.apple_share:.0%} registered with Apple"},
        {"item": "history per training subject", "unit": "days", "sent": days,
         "needed": hist["needed"], "needed_upper": hist["upper"], "source": hist["verdict"],
         "case_fact": "[CASE] training batches April-July 2018"},
        {"item": "users scored after the build", "unit": "people", "sent": people,
         "needed": people * facts.apple_share, "needed_upper": people * facts.apple_share,
         "source": "only the users scored are needed once the model is built",
         "case_fact": "[CASE] model finished June 2019; every user kept flowing daily to "
                      "May 2024 (FSS); non-Apple users excessive (PIPC)"},
        {"item": "retraining after the build", "unit": "times", "sent": None,
         "needed": float(retrains), "needed_upper": float(retrains_upper),
         "source": fresh_verdict,
         "case_fact": f"[CASE] {facts.feed_days} days of daily feed after the build"},
        {"item": "categories per record", "unit": "categories", "sent": k, "needed": n_cat,
         "needed_upper": n_cat, "source": cats["verdict"],
         "case_fact": "[CASE] 24 categories, 10 public"},
        {"item": "granularity", "unit": "", "sent": None, "needed": None,
         "needed_upper": None,
         "source": ("coarse versions shown sufficient for: " + ", ".join(cats["coarse_enough"])
                    if cats["coarse_enough"] else "no coarse version shown sufficient"),
         "case_fact": "[CASE] the court called the items categorised (binned) data"},
        {"item": "records", "unit": "records", "sent": facts.records, "needed": total,
         "needed_upper": total_upper, "source": "the steps of the waterfall",
         "case_fact": "[CASE] ~54.2 billion records, about one per user per day"},
        {"item": "record-category values", "unit": "values", "sent": facts.records * k,
         "needed": total * n_cat, "needed_upper": total_upper * n_cat,
         "source": "records x categories", "case_fact": "[CASE] 24 categories per record"},
    ]
    notes = ["Only a 'not shown needed' verdict removes data; 'needed' and 'inconclusive' keep "
             "it. The upper figures use the next larger training set and the next longer "
             "window of each curve.",
             f"Records after the build are the case's total less the training batches "
             f"({people:,.0f} users x {facts.training_days} days), one per user per day."]
    if not fresh["studied"]:
        notes.append("How often new data is needed after the build (freshness) is not "
                      "measured by this study; the retraining line is an assumption.")
    return {
        "rows": rows, "steps": steps, "notes": notes,
        "records_sent": facts.records, "records_needed": total,
        "records_needed_upper": total_upper, "fraction_needed": total / facts.records,
        "fraction_needed_upper": total_upper / facts.records,
        "categories_sent": facts.categories, "categories_needed": int(n_cat),
        "values_fraction_needed": total * n_cat / (facts.records * k),
        "values_fraction_needed_upper": total_upper * n_cat / (facts.records * k),
        "training_subjects_needed": subj["needed"], "history_days_needed": hist["needed"],
        "scoring_records_needed": scoring, "training_records_needed": train,
    }
