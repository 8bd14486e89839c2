"""The report's views of the quantity sections: the learning curve (``volume``) and the data
ledger (``ledger``, which also opens the report's summary).

Registered with :func:`nsf.report.register_family_section` (the report core never names
them): each turns its typed section of the study result into JSON-ready numbers, document
blocks and grey-scale figures.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

from nsf.report._document import fmt, interval
from nsf.report._families import register_family_section
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

#: name -> caption of the figures.
CAPTIONS = {
    "volume": "Learning curve: test metric against the training subjects (log scale), with "
              "intervals; dashed: the fitted inverse power law; hollow diamond: its "
              "extrapolation to the case's population (an extrapolation, not a measurement).",
    "ledger": "The data ledger: from the records sent to the records a minimal design needed "
              "(billions of records, case scale); each bar is one verdict of the study or "
              "fact of the case.",
}


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _p(text: str) -> dict:
    return {"type": "p", "text": text}


def _note(text: str) -> dict:
    return {"type": "note", "text": text}


def _h(text: str) -> dict:
    return {"type": "h3", "text": text}


def _table(caption: str, headers: list[str], rows: list[list[str]], numeric=()) -> dict:
    return {"type": "table", "caption": caption, "headers": headers, "rows": rows,
            "numeric": sorted(numeric)}


# --- volume -----------------------------------------------------------------------------------


def volume_model(section, study) -> dict:
    """The volume section's numbers for ``report.json`` (the section as logged)."""
    return section.model_dump(mode="json")


def volume_answer(curve: dict) -> str:
    """One line: how many training subjects were needed."""
    metric = curve["metric"].upper()
    n_all, smallest = curve["n_all"], curve["smallest_sufficient"]
    if smallest >= n_all:
        text = (f"No smaller training set was shown non-inferior to all {n_all:,} training "
                "subjects")
    else:
        text = (f"{smallest:,} of the {n_all:,} training subjects ({fmt(smallest / n_all, 'pct')}"
                ") were non-inferior to all of them at the margin")
    law = curve.get("power_law") or {}
    if law.get("fitted"):
        text += (f"; the fitted inverse power law levels off at {metric} {law['asymptote']:.3f} "
                 f"(at {law['at'] / 1e6:.2f}M people: {law['extrapolated']:.3f}, an "
                 "extrapolation)")
    return text + "."


def volume_blocks(curve: dict) -> list[dict]:
    """The volume section's blocks."""
    metric = curve["metric"].upper()
    blocks: list[dict] = [_p(
        "How many people's data does training need? The baseline retrained on nested "
        "subsamples of the training subjects (every size with the study's seeds; for a seed "
        "each smaller sample lies inside each larger one), scored on the same test rows. 'not "
        "shown needed' means the subjects beyond that size were not needed: the smaller "
        f"training set is non-inferior to all of them within the margin ({fmt(curve['margin'])}"
        f" {metric}).")]
    blocks += [_note(n) for n in curve.get("notes") or []]
    body = []
    for pt in curve["points"]:
        d = pt.get("difference")
        body.append([f"{pt['size']:,}" + (" (all)" if d is None else ""),
                     fmt(pt["estimate"]), interval(pt["lower"], pt["upper"], "3"),
                     "-" if d is None else fmt(d["estimate"], "+3"),
                     "-" if d is None else interval(d["lower"], d["upper"]),
                     "-" if d is None else (d.get("verdict") or "n/a")])
    blocks.append(_table(f"Learning curve ({metric} on the test rows)",
                         ["training subjects", metric, "interval", "difference to all",
                          "interval", "verdict"], body, {1, 2, 3, 4}))
    if curve["points"]:
        blocks.append({"type": "figure", "name": "volume", "caption": CAPTIONS["volume"]})
    n_all, smallest = curve["n_all"], curve["smallest_sufficient"]
    blocks.append(_p(
        f"Smallest training set non-inferior to all {n_all:,} subjects (with every larger "
        f"size): {smallest:,} ({fmt(smallest / n_all, 'pct')}). The curve is "
        + ("monotone within its intervals." if curve.get("monotone_within_intervals")
           else "NOT monotone within its intervals: a larger training set did worse beyond "
                "both intervals.")))
    law = curve.get("power_law") or {}
    if law.get("fitted"):
        bounds = ("" if law.get("lower") is None else
                  f" (interval {interval(law['lower'], law['upper'], '3')} from the fit's "
                  "uncertainty only)")
        blocks.append(_note(
            f"Extrapolation, not a measurement: {law['form']} with a = {law['a']:.4f}, "
            f"b = {law['b']:.4f}, c = {law['c']:.3f}, fitted to the points above, gives "
            f"{metric} {law['extrapolated']:.3f} at {law['at']:,.0f} people (the case's "
            f"population){bounds}. That the law holds so far beyond the data is an "
            "assumption."))
    else:
        blocks.append(_note(f"No power law fitted: {law.get('reason')}."))
    blocks.append(_p("Answer: " + volume_answer(curve)))
    return blocks


# --- figures ----------------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", facecolor="white",
                metadata={"Software": None})
    return buf.getvalue()


_MARKERS = {NEEDED: ("o", "black"), NOT_SHOWN_NEEDED: ("o", "white"),
            INCONCLUSIVE: ("s", "0.6"), None: ("D", "black")}


def _volume_figure(curve: dict | None, metric: str) -> bytes | None:
    if not curve or not curve.get("points"):
        return None
    import numpy as np

    pts = curve["points"]
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    xs = [pt["size"] for pt in pts]
    ax.plot(xs, [pt["estimate"] for pt in pts], color="black", linewidth=1.2, zorder=1)
    seen = set()
    for pt in pts:
        if _num(pt.get("lower")) is not None and _num(pt.get("upper")) is not None:
            ax.plot([pt["size"]] * 2, [pt["lower"], pt["upper"]], color="black",
                    linewidth=1.0, marker="_", markersize=8)
        verdict = (pt.get("difference") or {}).get("verdict")
        label = "all (baseline)" if pt.get("difference") is None else verdict
        marker, face = _MARKERS.get(verdict, _MARKERS[None])
        ax.plot([pt["size"]], [pt["estimate"]], marker=marker, markerfacecolor=face,
                markeredgecolor="black", linestyle="none", markersize=7, zorder=3,
                label=None if label in seen else label)
        seen.add(label)
    law = curve.get("power_law") or {}
    if law.get("fitted"):
        from nsf.study.families.volume import power_law

        grid = np.geomspace(min(xs), law["at"], 200)
        sign = 1.0 if law.get("higher_is_better", True) else -1.0
        ax.plot(grid, sign * power_law(grid, sign * law["a"], law["b"], law["c"]), color="0.35",
                linestyle="--", linewidth=0.9, label="inverse power law (fit)")
        ax.plot([law["at"]], [law["extrapolated"]], marker="D", markerfacecolor="white",
                markeredgecolor="black", linestyle="none", markersize=7,
                label="extrapolation")
        if law.get("lower") is not None:
            ax.plot([law["at"]] * 2, [law["lower"], law["upper"]], color="0.35",
                    linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_xlabel("training subjects (log scale)")
    ax.set_ylabel(f"test {metric.upper()}")
    ax.set_title("Volume: accuracy against the number of training subjects", fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def volume_figures(curve: dict) -> dict[str, bytes]:
    png = _volume_figure(curve, curve["metric"])
    return {} if png is None else {"volume": png}


register_family_section("volume", title="Volume: how many people's data training needs",
                        model=volume_model, blocks=volume_blocks, figures=volume_figures)


# --- ledger -----------------------------------------------------------------------------------


def _big(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    if unit == "days" or unit == "categories" or unit == "times":
        return f"{x:,.0f}"
    for scale, name in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= scale:
            return f"{x / scale:,.2f}{name}"
    return f"{x:,.0f}"


def ledger_model(section, study) -> dict:
    """The ledger's numbers for ``report.json`` (the section as logged)."""
    return section.model_dump(mode="json")


def ledger_headline(content: dict) -> list[dict]:
    """The ledger as the report's headline answer (the first blocks of the summary)."""
    return [_p(
        "Headline, the data ledger: a design limited to what the study's verdicts show needed "
        f"would have sent {_big(content['records_needed'])} of the "
        f"{_big(content['records_sent'])} records ({fmt(content['fraction_needed'], 'pct')}; "
        f"up to {fmt(content['fraction_needed_upper'], 'pct')} with the next larger training "
        f"set and longer history), with {content['categories_needed']} of the "
        f"{content['categories_sent']} categories each: "
        f"{fmt(content['values_fraction_needed'], 'pct')} of the record-category values sent "
        f"(up to {fmt(content['values_fraction_needed_upper'], 'pct')}). Scaled to the case's "
        "facts; the section 'The data ledger' traces each factor.")]


def ledger_blocks(content: dict) -> list[dict]:
    """The ledger's section blocks."""
    body = [[r["item"], r["unit"], _big(r["sent"], r["unit"]), _big(r["needed"], r["unit"]),
             _big(r["needed_upper"], r["unit"]), r["source"], r["case_fact"]]
            for r in content["rows"]]
    blocks = [_p("What a minimal design would have sent against what was sent, scaled to the "
                 "case. Each factor names the study verdict it comes from and the case fact it "
                 "is scaled to."),
              _table("The data ledger", ["item", "unit", "sent", "needed", "needed (upper)",
                                         "from the verdict", "case fact"], body, {2, 3, 4}),
              {"type": "figure", "name": "ledger", "caption": CAPTIONS["ledger"]}]
    steps = [[s["label"], _big(s["delta"]), s["source"]] for s in content["steps"]]
    blocks.append(_table("From sent to needed (records)", ["step", "records", "from"], steps,
                         {1}))
    blocks += [_note(n) for n in content.get("notes") or []]
    return blocks


def _ledger_figure(content: dict) -> bytes | None:
    steps = content.get("steps") or []
    if not steps:
        return None
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    level = 0.0
    labels = []
    for i, s in enumerate(steps):
        v = s["delta"] / 1e9
        if s["kind"] == "total":
            ax.bar(i, v, color="0.25", edgecolor="black", width=0.6)
            level = v
            ax.text(i, v, f"{v:,.1f}", ha="center", va="bottom", fontsize=7)
        else:
            bottom = level + min(v, 0.0)
            ax.bar(i, abs(v), bottom=bottom, color="white" if v < 0 else "0.7",
                   edgecolor="black", hatch="//" if v < 0 else None, width=0.6)
            ax.text(i, level + max(v, 0.0), f"{v:+,.1f}", ha="center", va="bottom",
                    fontsize=7)
            level += v
        labels.append(s["label"].replace(": ", ":\n").replace(" not ", "\nnot "))
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("records (billions)")
    ax.set_title("The data ledger: from sent to needed", fontsize=10)
    ax.grid(axis="y", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    return _png(fig)


def ledger_figures(content: dict) -> dict[str, bytes]:
    png = _ledger_figure(content)
    return {} if png is None else {"ledger": png}


register_family_section("ledger", title="The data ledger: what was needed against what was sent",
                        model=ledger_model, blocks=ledger_blocks, figures=ledger_figures,
                        headline=ledger_headline)
