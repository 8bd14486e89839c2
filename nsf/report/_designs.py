"""The report's view of the sharing designs: what each design exposes to explicit adversaries
beside its accuracy and cost, and the privacy-utility frontier (registered with
:func:`register_family_section`)."""

from __future__ import annotations

from matplotlib.figure import Figure

from nsf.report._document import fmt, interval
from nsf.report._families import register_family_section
from nsf.report._quantity import _note, _num, _p, _png, _table
from nsf.study._designs_section import DesignPoint, DesignsSection, ShareFigure

CAPTION = ("The privacy-utility frontier: each sharing design's share of all people both "
           "shared and identified (singled out on the shared columns, or through a reversible "
           "identifier) against its AUC (left) and its cost (right) relative to the data in "
           "use, with 95% intervals. Filled: Pareto-efficient (no design has less risk and "
           "more utility); the design in use and the recommended one are labelled.")

_ROLE = {"case": "in use", "recommended": "recommended"}


def designs_model(section, study) -> dict:
    """The designs section's numbers for ``report.json`` (the section as logged)."""
    return section.model_dump(mode="json")


def _fig_interval(s: ShareFigure | None) -> str:
    if s is None or _num(s.estimate) is None:
        return "-"
    return f"{fmt(s.estimate, '+3')} {interval(s.lower, s.upper)}"


def _money(s: ShareFigure | None) -> str:
    if s is None or _num(s.estimate) is None:
        return "-"
    lo, hi = _num(s.lower), _num(s.upper)
    out = f"{s.estimate:+,.0f}"
    return out if lo is None or hi is None else f"{out} [{lo:+,.0f}, {hi:+,.0f}]"


def _share(s: ShareFigure | None) -> str:
    if s is None or _num(s.estimate) is None:
        return "-"
    return f"{fmt(s.estimate, 'pct')} {interval(s.lower, s.upper, 'pct')}"


#: The identifier kinds in plain words.
_IDENTIFIER = {"sha256": "SHA-256 digest, unsalted", "hmac": "keyed HMAC",
               "random": "random pseudonym"}
#: The widest table the report shows (columns), so that every table fits the page.
MAX_COLUMNS = 6


def _label(d: DesignPoint) -> str:
    """A design's plain name (a result without labels falls back to its key)."""
    return d.label or d.name


def _described(d: DesignPoint) -> str:
    """What a design shares, in words (group keys written as words)."""
    return d.description.replace("_", " ")


def _big(x: float | None) -> str:
    v = _num(x)
    if v is None:
        return "-"
    if abs(v) >= 1e9:
        return f"{v / 1e9:,.1f} bn"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.2f} M"
    return f"{v:,.0f}"


def _duration(seconds: float | None) -> str:
    v = _num(seconds)
    if v is None:
        return "-"
    if v < 120:
        return f"{v:,.0f} s"
    if v < 7200:
        return f"{v / 60:,.0f} min"
    if v < 172_800:
        return f"{v / 3600:,.1f} h"
    return f"{v / 86_400:,.1f} days"


def _reverse_time(d: DesignPoint, table: bool) -> str:
    s = d.seconds_to_reverse
    if s is None or _num(s.estimate) is None:
        if table:
            return "not applicable (a row key)"
        return "never without the key" if d.reversal.estimate == 0 \
            else "-"
    return f"{_duration(s.estimate)} [{_duration(s.lower)}, {_duration(s.upper)}]"


def _answer(content: DesignsSection) -> str:
    by_role = {d.role: d for d in content.designs if d.role}
    if "case" not in by_role or "recommended" not in by_role:
        return "The design in use or the recommended one was not evaluated."
    case, rec = by_role["case"], by_role["recommended"]
    verdict = content.recommended_dominates
    efficient = [_label(d) for d in content.designs if d.efficient_auc]
    tail = (" Pareto-efficient on risk and AUC: " + "; ".join(efficient) + "."
            if efficient else "")
    same = (rec.at_risk == case.at_risk and rec.auc_diff == case.auc_diff
            and rec.columns == case.columns and rec.people == case.people)
    if same:
        return ("The recommended design shares what the design in use shares (the minimal-set "
                "search removed no group or did not run, and no one is outside the evaluated "
                "population), "
                "so it cannot dominate it; the frontier shows what the other designs would "
                "trade." + tail)
    head = (f"it ({_described(rec)}) puts "
            f"{fmt(rec.at_risk.estimate, 'pct')} "
            f"{interval(rec.at_risk.lower, rec.at_risk.upper, 'pct')} "
            f"of people at risk of re-identification against "
            f"{fmt(case.at_risk.estimate, 'pct')} "
            f"{interval(case.at_risk.lower, case.at_risk.upper, 'pct')} "
            f"for the design in use, for an AUC difference of {_fig_interval(rec.auc_diff)}")
    margin = content.auc_margin or 0.0
    rule = (f"fewer people at risk beyond the intervals, and an AUC no worse than the margin "
            f"of {margin:g} allows")
    if verdict is True:
        return (f"The recommended design dominates the design in use ({rule}): " + head + "."
                + tail)
    if verdict is False:
        return (f"The recommended design does not dominate the design in use (dominating needs "
                f"{rule}): " + head + "." + tail)
    return "Not decided: " + head + " (no AUC for one of them)." + tail


def _efficient(d: DesignPoint, priced: bool) -> str:
    marks = (["risk and AUC"] if d.efficient_auc else []) + \
        (["risk and cost"] if priced and d.efficient_cost else [])
    return "; ".join(marks) or "no"


def _people(d: DesignPoint) -> float | None:
    return d.exposure.study_people if d.exposure is not None else None


def _kinds(designs: list[DesignPoint], digests: bool) -> list[str]:
    """What the designs change, in words (only what some design changes)."""
    names = " ".join(d.name for d in designs)
    kinds = ["fewer or coarser groups"]
    if "population_only" in names or any(_people(d) != _people(designs[0])
                                         for d in designs):
        kinds.append("fewer people")
    if "retention_" in names:
        kinds.append("shorter history")
    if digests:
        kinds.append("other identifiers")
    return kinds


def designs_blocks(data: dict) -> list[dict]:
    content = DesignsSection.model_validate(data)
    designs = content.designs
    attrs = list(dict.fromkeys(a for d in designs for a in d.inference))
    digests = any(d.identifier != "random" for d in designs)
    table = not digests  # a user's table: a row key, no digest
    priced = any(d.cost_diff is not None for d in designs)
    reversal = (", or identified by reversing the identifier: an unsalted digest of a phone "
                "number is recovered by hashing the whole numbering plan, a keyed HMAC or a "
                "random pseudonym is not" if digests else "")
    blocks: list[dict] = [_p(
        "What would each way of sharing the data have exposed, and what would it have cost? "
        "Each design is what could be shared instead of the data in use: "
        + ", ".join(_kinds(designs, digests)) + ". Its utility is the AUC and cost of the "
        "model the study trained on exactly that data (no new fits); its privacy is measured "
        "by adversaries run on a random sample of "
        f"{content.people_sampled:,} people: re-identification (unique on the shared "
        f"columns{reversal}), attribute inference (how much better than chance a "
        "cross-validated classifier predicts each sensitive attribute from the shared "
        "columns), and exposure (people and rows shared)."),
        _note("Uniqueness in a sample overstates uniqueness among everyone; a column shared "
              "raw with many distinct values singles out nearly everyone whatever the "
              "identifier.")]
    case_scale = any(d.exposure is not None and d.exposure.case_people is not None
                     for d in designs)
    if any(d.exposure for d in designs):
        heads = ["design", "people (this study)", "rows (this study)"]
        if case_scale:
            heads += ["people (case scale)", "records (case scale)"]
        rows = []
        for d in designs:
            e = d.exposure
            row = [_label(d), _big(e.study_people if e else None),
                   _big(e.study_records if e else None)]
            if case_scale:
                row += [_big(e.case_people if e else None), _big(e.case_records if e else None)]
            rows.append(row)
        blocks.append(_table("Exposure: people and rows each design shares (exact counts, no "
                             "interval)", heads, rows, set(range(1, len(heads)))))
        if case_scale:
            needed = content.case_records_needed
            blocks.append(_note(
                "Case scale: the case's people and records times the design's share of the "
                "people (the evaluation population: the registered users' share, an upper "
                "bound) and of each person's history (a shorter retention keeps its days of "
                "the case's records per person)."
                + (f" The data ledger, which also trims the training subjects and the "
                   f"history, puts the records needed at {_big(needed)}." if needed else "")))
    rows = [[_label(d), "row key" if table else _IDENTIFIER.get(d.identifier,
                                                                  d.identifier),
             _share(d.singled_out), _share(d.reversal), _reverse_time(d, table),
             _share(d.at_risk)] for d in designs]
    blocks.append(_table(
        "Re-identification (95% intervals): singled out on the shared columns, identifiers "
        "recovered and the time to recover them all (one core), share of all people at risk",
        ["design", "identifier", "singled out", "identifiers recovered", "time to recover",
         "at risk"], rows, {2, 3, 4, 5}))
    sph = content.seconds_per_hash
    if sph and sph.estimate and digests:  # no measured rate: no reversal-time note
        blocks.append(_note(
            f"Identifier reversal was measured, not assumed: {content.probe_targets} "
            "numbers drawn at random were turned into each kind of identifier and attacked by "
            f"enumerating {content.probe_hashed:,} candidate numbers around them; "
            "every unsalted digest was recovered and no keyed HMAC or random pseudonym was. "
            "The time to recover every identifier is the whole numbering plan at the measured "
            f"rate of {1 / sph.estimate:,.0f} hashes a second on one core (interval over "
            "the chunks); more cores divide it."))
    for lo in range(0, len(attrs), MAX_COLUMNS - 1):
        part = attrs[lo:lo + MAX_COLUMNS - 1]
        blocks.append(_table(
            "Attribute inference (95% intervals): lift over chance of predicting each "
            "sensitive attribute from the shared columns",
            ["design", *part],
            [[_label(d), *[_fig_interval(d.inference.get(a)) for a in part]]
             for d in designs], set(range(1, len(part) + 1))))
    heads = ["design", "AUC difference", *(["cost difference per 1,000 a month"]
                                           if priced else []), "Pareto-efficient on"]
    blocks.append(_table(
        "Utility against the data in use (95% intervals) and the frontier",
        heads, [[_label(d), _fig_interval(d.auc_diff),
                 *([_money(d.cost_diff)] if priced else []), _efficient(d, priced)]
                for d in designs], set(range(1, 2 + priced))))
    blocks.append(_table("What each design shares", ["design", "what it shares"],
                         [[_label(d), _described(d)] for d in designs]))
    if content.not_evaluated:
        blocks.append(_note("Not formed: " + "; ".join(
            f"{n} ({why})" for n, why in content.not_evaluated.items()) + "."))
    if any(d.auc_diff is not None for d in designs):
        blocks.append({"type": "figure", "name": "designs", "caption": CAPTION})
    blocks.append(_p("Answer: " + _answer(content)))
    return blocks


def _panel(ax, designs: list[DesignPoint], key: str, flag: str, label: str) -> None:
    for d in designs:
        u = getattr(d, key)
        x, y = _num(d.at_risk.estimate), None if u is None else _num(u.estimate)
        if u is None or x is None or y is None:
            continue
        xl, xu = _num(d.at_risk.lower), _num(d.at_risk.upper)
        yl, yu = _num(u.lower), _num(u.upper)
        if yl is not None and yu is not None:
            ax.plot([x, x], [yl, yu], color="0.5", linewidth=0.8)
        if xl is not None and xu is not None:
            ax.plot([xl, xu], [y, y], color="0.5", linewidth=0.8)
        ax.plot([x], [y], marker="o", markeredgecolor="black", linestyle="none",
                markerfacecolor="black" if getattr(d, flag) else "white", markersize=6, zorder=3)
        if d.role:
            ax.annotate(_ROLE[d.role], (x, y), xytext=(5, 5), textcoords="offset points",
                        fontsize=8, fontweight="bold")
    ax.set_xlabel("people at risk of re-identification (share of all)")
    ax.set_ylabel(label)
    ax.grid(color="0.85", linewidth=0.6)
    ax.plot([], [], marker="o", linestyle="none", markerfacecolor="black",
            markeredgecolor="black", label="Pareto-efficient")
    ax.plot([], [], marker="o", linestyle="none", markerfacecolor="white",
            markeredgecolor="black", label="dominated")
    ax.legend(fontsize=7, loc="best", frameon=False)


def designs_figures(data: dict) -> dict[str, bytes]:
    content = DesignsSection.model_validate(data)
    designs = content.designs
    if not any(d.auc_diff is not None for d in designs):
        return {}
    priced = any(d.cost_diff is not None for d in designs)
    fig = Figure(figsize=(10.5 if priced else 5.5, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 2 if priced else 1, 1)
    _panel(ax, designs, "auc_diff", "efficient_auc", "AUC difference")
    if priced:
        _panel(fig.add_subplot(1, 2, 2), designs, "cost_diff", "efficient_cost",
               "cost difference per 1,000 users a month")
    fig.suptitle("Sharing designs: risk against utility", fontsize=10)
    return {"designs": _png(fig)}


def designs_summary(data: dict) -> dict | None:
    return {"question": "Which way of sharing the data exposes least for what it costs?",
            "answer": _answer(DesignsSection.model_validate(data))}


register_family_section("designs", title="Sharing designs: what each exposes, for what "
                        "accuracy and cost", model=designs_model, blocks=designs_blocks,
                        figures=designs_figures, summary=designs_summary)
