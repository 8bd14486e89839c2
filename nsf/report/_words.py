"""Plain words for the report: variants, groups and metrics named for a reader who is not a
statistician, and the appendix's glossary.

The study names its variants by identifiers (``drop_email``, ``core+email``,
``train_all_users_nsf_any``); the report names them in words ("without e-mail", "e-mail added
to the core"). Every metric the report shows is explained once, in :data:`GLOSSARY`.
"""

from __future__ import annotations

import re

__all__ = ["GLOSSARY", "group_words", "number_with_interval", "plain_bool", "variant_words"]

#: Attribute groups of the simulated feed in words (a user's table keeps its own names).
GROUP_WORDS = {
    "account_identifiers": "account identifiers",
    "email": "e-mail",
    "phone": "phone carrier",
    "join_date": "join date",
    "id_verification": "ID verification",
    "signup": "sign-up channel",
    "cards": "registered cards",
    "balance": "Pay Money balance",
    "topups": "top-ups",
    "payments": "merchant payments",
    "transfers": "transfers",
    "withdrawals": "withdrawals",
    "payment_settings": "payment settings",
    "apple_billing": "Apple billing method",
    "appstore_history": "App Store charge history",
}

#: Labels the study trains on, in words.
LABEL_WORDS = {"nsf_any": "any failed payment", "nsf_appstore": "a failed App Store charge"}


def group_words(name: str) -> str:
    """An attribute group in words (``join_date`` -> ``join date``)."""
    return GROUP_WORDS.get(name, name.replace("_", " "))


def _groups(text: str) -> str:
    return " and ".join(group_words(g) for g in text.split("+"))


def variant_words(name: str, description: str | None = None) -> str:
    """A variant of the study in words (``core+email`` -> "e-mail added to the core")."""
    if name == "baseline":
        return "the full model (all shared data)"
    if name == "drop_all_contested":
        return "without any contested data (the core)"
    if name == "add_sensitive":
        return "sensitive attributes added"
    if name == "coarse_all":
        return "every coarsenable group coarsened"
    if name in ("minimal_set", "minimal"):
        return "the minimal sufficient set"
    m = re.fullmatch(r"core\+(.+)", name)
    if m:
        return f"{_groups(m.group(1))} added to the core"
    m = re.fullmatch(r"(?:drop_|without:)(.+)", name)
    if m:
        return f"without {_groups(m.group(1))}"
    m = re.fullmatch(r"coarse_(.+)", name)
    if m:
        return f"{_groups(m.group(1))} coarsened"
    m = re.fullmatch(r"retention_(\d+)d", name)
    if m:
        return f"only the last {m.group(1)} days of history"
    m = re.fullmatch(r"volume_(\d+)", name)
    if m:
        return f"trained on {int(m.group(1)):,} people"
    m = re.fullmatch(r"train_all_users_(.+)", name)
    if m:
        label = LABEL_WORDS.get(m.group(1), m.group(1).replace("_", " "))
        return f"trained on every user (label: {label})"
    return description or name.replace("_", " ")


def plain_bool(value: object) -> str:
    """A yes/no value as a word (never 0/1 or a share)."""
    return "yes" if value else "no"


def _digits(width: float, most: int) -> int:
    """Decimals an interval of ``width`` supports: two significant figures of the width, at
    most ``most``."""
    import math

    if width <= 0 or not math.isfinite(width):
        return most
    return max(0, min(most, 1 - math.floor(math.log10(width))))


def number_with_interval(est: float | None, lo: float | None, hi: float | None, *,
                         signed: bool = False, pct: bool = False) -> str:
    """``est [lo, hi]`` rounded to what the interval supports (two significant figures of its
    width, at most 3 decimals, or 1 for a percentage)."""
    if est is None:
        return "n/a"
    scale = 100.0 if pct else 1.0
    unit = "%" if pct else ""
    if lo is None or hi is None:
        d = 1 if pct else 3
        return f"{scale * est:{'+' if signed else ''}.{d}f}{unit}"
    d = _digits(scale * (hi - lo), 1 if pct else 3)
    f = f"{'+' if signed else ''}.{d}f"
    return (f"{scale * est:{f}}{unit} [{scale * lo:{f}}{unit}, {scale * hi:{f}}{unit}]")


#: Every metric and term the report uses, explained once in a sentence (the appendix's
#: glossary; the report links to it).
GLOSSARY = (
    ("AUC", "The chance that the model gives a higher score to a randomly chosen person with "
            "the outcome (a failed payment, in the case) than to one without: 0.5 is guessing, "
            "1.0 is perfect ranking."),
    ("margin", "The smallest loss of accuracy (in AUC) that the study treats as mattering; a "
               "smaller loss counts as no loss."),
    ("needed", "Removing the data costs more accuracy than the margin, beyond the uncertainty "
               "of the measurement."),
    ("not shown needed", "Removing the data costs less than the margin, beyond the "
                         "uncertainty: the model does as well without it."),
    ("inconclusive", "The measurement is too uncertain to tell whether removing the data costs "
                     "more or less than the margin; more data would decide."),
    ("interval", "The range within which the true value lies with the study's confidence "
                 "(95% unless stated); a number in the report is rounded to what its interval "
                 "supports."),
    ("simultaneous interval", "An interval that holds for all the comparisons of one family "
                              "at once, wider than one comparison's own interval."),
    ("contested data", "Data whose need the case disputes: the categories sent to the "
                       "recipient beyond what the score's purpose plainly requires."),
    ("coarsen", "Share a less precise version (bands, counts, a domain instead of an address) "
                "instead of the raw value."),
    ("minimal sufficient set", "The smallest set of contested data with which the model does "
                               "as well as with everything (not worse than the margin)."),
    ("data ledger", "What a design limited to the data shown needed would have sent, against "
                    "what was sent, scaled to the case's volumes."),
    ("reliance (SHAP share)", "How much of the model's output comes from a group's features "
                              "(the share of the mean absolute SHAP value); it describes the "
                              "model, not whether the data is needed."),
    ("permutation drop", "How much AUC falls when a group's values are shuffled in the test "
                         "rows (another measure of reliance)."),
    ("proxy lift", "How much better than chance a group's data predicts a protected attribute "
                   "(such as age band or gender); at or above the threshold it can stand in "
                   "for that attribute."),
    ("equalized-odds difference", "The largest gap between two groups of people in either "
                                  "error rate: wrongly flagged among those who would not fail, "
                                  "or missed among those who would."),
    ("demographic-parity difference", "The largest gap between two groups in the share of "
                                      "people flagged."),
    ("false-positive rate", "Among people without the outcome, the share the score flags."),
    ("false-negative rate", "Among people with the outcome, the share the score does not "
                            "flag."),
    ("ECE (calibration error)", "How far the predicted probability of failure is from the "
                                "observed rate, averaged over score bins."),
    ("PSI (population stability index)", "How much the distribution of scores moves between "
                                         "two models; below 0.1 is usually read as stable."),
    ("swap set", "The share of people whose decision changes between two models."),
    ("decision threshold", "The score at or above which the policy takes its decision against "
                           "a person (in the case: no bundling of their charges)."),
    ("score bands", "The configured ranges of the 0-100 score that fairness is also reported "
                    "on (a description of the score, not the policy's decision)."),
    ("Brier score", "The mean squared difference between predicted probability and outcome; "
                    "lower is better."),
    ("log-odds", "The logarithm of p / (1 - p); the scale on which SHAP values of the model "
                 "add up."),
    ("KS, Gini", "Two other ranking measures: the largest gap between the score distributions "
                 "of people with and without the outcome, and 2 x AUC - 1."),
    ("k-anonymity (k < 5)", "A person is in a class of fewer than 5 people sharing the same "
                            "shared attributes, so they can be singled out."),
    ("HMAC", "A keyed hash: without the key, a digest cannot be reversed by trying every phone "
             "number."),
    ("unsalted SHA-256", "A hash with no secret: anyone can hash every possible phone number "
                         "and match the digests, so it is not anonymous."),
    ("bootstrap", "Repeating the measurement on resampled test rows (and seeds) to see how "
                  "much it varies; the intervals come from it."),
    ("seed", "The random start of a training run; the study trains every model with several "
             "seeds so that chance in training is part of the interval."),
)
