"""The study's vocabulary, defined once: verdicts, metrics, subjects.

Every module that names a verdict or a metric imports it from here (the config's allowed
values, the study, MLflow tags, the typed result :class:`nsf.study.StudyResult` and the
report), so a new one is added in one place. Each concept is a ``Literal`` type (used in
pydantic models, so the JSON schemas list the allowed values) and the tuple of its values in
order. Variant families are registered in :data:`nsf.study.families.FAMILIES` (a family is a
module, so the list lives with them).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "HIGHER_IS_BETTER",
    "INCONCLUSIVE",
    "NEEDED",
    "NOT_SHOWN_NEEDED",
    "STUDY_METRICS",
    "SUBJECTS",
    "VERDICTS",
    "Metric",
    "Subject",
    "Verdict",
]

#: Non-inferiority verdicts about the data in question (:func:`nsf.metrics.
#: non_inferiority_verdict`).
Verdict = Literal["needed", "not shown needed", "inconclusive"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
NEEDED, NOT_SHOWN_NEEDED, INCONCLUSIVE = VERDICTS

#: Metrics the study can put an interval on (the ``nsf.metrics`` names; run keys
#: ``test_<metric>``).
Metric = Literal["auc", "pr_auc", "brier", "log_loss", "ece", "ks", "gini"]
STUDY_METRICS: tuple[str, ...] = get_args(Metric)

#: Whether a larger value of each metric is better.
HIGHER_IS_BETTER: dict[str, bool] = {"auc": True, "pr_auc": True, "ks": True, "gini": True,
                                     "brier": False, "log_loss": False, "ece": False}

#: What a verdict is about: the data the variant lacks compared with its reference
#: (``removed``) or the data it has beyond it (``added``).
Subject = Literal["removed", "added"]
SUBJECTS: tuple[str, ...] = get_args(Subject)

if set(HIGHER_IS_BETTER) != set(STUDY_METRICS):  # pragma: no cover - a definition error
    raise RuntimeError("HIGHER_IS_BETTER must name every metric of STUDY_METRICS")
