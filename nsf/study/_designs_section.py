"""The ``designs`` section of the study result: every sharing design's adversaries and
utility (see :mod:`nsf.study._designs`)."""

from __future__ import annotations

from pydantic import Field

from nsf.study._section import FamilySection, ResultModel


class ShareFigure(ResultModel):
    """A share (or lift, or difference) with its percentile interval (None: undefined)."""

    estimate: float | None
    lower: float | None
    upper: float | None


class DesignExposure(ResultModel):
    """People and records a design shares (exact counts and arithmetic: no interval)."""

    study_people: float = Field(description="People shared in the whole data the study read.")
    study_records: float = Field(description="Rows shared in the whole data the study read "
                                 "(shorter retention keeps its share of the history).")
    case_people: float | None = Field(description="People shared at the case's scale (the "
                                      "ledger's facts; None: not a simulated case).")
    case_records: float | None = Field(description="Records shared at the case's scale: the "
                                       "case's records times the design's share of people and "
                                       "of each person's history.")


class DesignPoint(ResultModel):
    """One sharing design: what it shares, what the adversaries get from it, what it costs."""

    name: str = Field(description="The design's key (MLflow tag nsf.design).")
    label: str = Field("", description="The design's name in plain words (the report's).")
    description: str
    role: str = Field(description="'case' (the design in use), 'recommended' or ''.")
    arm: str | None = Field(description="The study arm trained on this data (its utility).")
    identifier: str = Field(description="'sha256' (unsalted digest), 'hmac' (keyed) or "
                            "'random' (pseudonym or a table's row key).")
    people: int = Field(description="People shared, in the sample the adversaries look at.")
    records: float = Field(description="Rows shared for those people (shorter retention keeps "
                           "its share of the history).")
    columns: int = Field(description="Columns shared.")
    singled_out: ShareFigure = Field(description="Share of people unique on the shared columns.")
    identified: ShareFigure = Field(description="Share singled out or identified through a "
                                    "reversible identifier (the frontier's risk).")
    at_risk: ShareFigure = Field(description="Share of all people both shared and "
                                 "identified (the frontier's risk axis).")
    reversal: ShareFigure = Field(description="Share of identifiers an adversary recovers "
                                  "(exact: measured by an exhaustive enumeration).")
    seconds_to_reverse: ShareFigure | None = Field(
        None, description="One core's time to enumerate the whole numbering plan, which "
        "recovers every identifier (measured rate, with the chunks' interval); None: nothing "
        "recovered, whatever the time.")
    exposure: DesignExposure | None = Field(None, description="People and records shared, at "
                                            "the study's scale and at the case's.")
    inference: dict[str, ShareFigure] = Field(
        description="Sensitive attribute -> lift over chance of predicting it from the shared "
        "columns (AUC - 0.5, or balanced accuracy - 1/classes).")
    auc_diff: ShareFigure | None = Field(description="AUC against the data in use (None: no "
                                         "arm was trained on this data).")
    cost_diff: ShareFigure | None = Field(description="Cost per 1,000 users a month against the "
                                          "data in use (None: not priced).")
    efficient_auc: bool = Field(description="Pareto-efficient on (at risk, AUC).")
    efficient_cost: bool = Field(description="Pareto-efficient on (at risk, cost).")


class DesignsSection(FamilySection):
    """Every sharing design on the privacy-utility frontier."""

    designs: list[DesignPoint]
    people_sampled: int = Field(description="People the adversaries looked at (a random "
                                "sample; uniqueness in a sample is an upper bound).")
    recommended_dominates: bool | None = Field(
        description="Whether the recommended design dominates the one in use: fewer people at "
        "risk beyond doubt (its interval below the other's) and an AUC not worse by more than "
        "auc_margin (the lower end of its AUC-difference interval at least -auc_margin); None: "
        "no AUC to compare.")
    auc_margin: float = Field(0.0, description="The study's AUC non-inferiority margin, which "
                              "decided recommended_dominates.")
    seconds_per_hash: ShareFigure | None = Field(
        None, description="One core's measured time per SHA-256 candidate of the reversal "
        "probe, with the chunks' interval (None: no digest shared).")
    probe_targets: int = Field(0, description="Identifiers of each kind the reversal probe "
                               "made (numbers drawn at random) and attacked.")
    probe_hashed: int = Field(0, description="Candidates the reversal probe hashed.")
    case_records_needed: float | None = Field(
        None, description="The data ledger's records needed at the case's scale (beside the "
        "designs' case-scale records; None: no ledger).")
    not_evaluated: dict[str, str] = Field(
        {}, description="Designs named in study.designs that this study could not form, with "
        "the reason (e.g. the minimal-set search removed no group).")
    seconds: float
