"""The report's view of the data ledger (``ledger``, which also opens the report's summary):
its typed section of the study result as JSON-ready numbers, document blocks and a grey-scale
figure. (The learning curve's view is its family's: :mod:`nsf.study.families.volume`.)

Registered with :func:`nsf.report.register_family_section` (the ledger is a section of the
result, not a family); the block helpers re-exported here come from :mod:`nsf.views`.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from nsf.report._families import register_family_section
from nsf.views import MARKERS as _MARKERS  # noqa: F401  (the quantity figures' markers)
from nsf.views import fmt
from nsf.views import h3 as _h  # noqa: F401
from nsf.views import note as _note
from nsf.views import num as _num  # noqa: F401
from nsf.views import para as _p
from nsf.views import png as _png
from nsf.views import table as _table

#: name -> caption of the figures.
CAPTIONS = {
    "ledger": "The data ledger: from the records sent to the records a minimal design needed "
              "(billions of records, case scale); each bar is one verdict of the study or "
              "fact of the case.",
}


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
    blocks += [_note(n) for n in content["notes"]]
    return blocks


def _ledger_figure(content: dict) -> bytes | None:
    steps = content["steps"]
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
                        headline=ledger_headline, position=20)
