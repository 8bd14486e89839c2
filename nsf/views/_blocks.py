"""Document blocks, number formats and figure helpers shared by the report and the families'
views (see :mod:`nsf.views`)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

#: How the report names what decided a verdict.
DECIDED_BY = {"simultaneous": "simultaneous interval", "holm": "Holm",
              "per_comparison": "per-comparison interval"}

#: verdict -> (marker, face colour) of a point in the quantity figures (None: no verdict).
MARKERS = {NEEDED: ("o", "black"), NOT_SHOWN_NEEDED: ("o", "white"),
           INCONCLUSIVE: ("s", "0.6"), None: ("D", "black")}


@dataclass(frozen=True)
class FamilyView:
    """How the report shows one section of the study result (a family's, or another typed
    section's).

    Attributes
    ----------
    title : the report section's title (numbered after the core sections).
    model : ``(section, study_result) -> dict`` of JSON-ready numbers (``report.json``).
    blocks : ``content -> list of document blocks`` from that dict (a figure block names a
        figure that ``figures`` draws).
    figures : ``content -> {figure name: PNG bytes}`` (None: no figure).
    headline : ``content -> blocks`` that open the report's summary (None: none).
    summary : ``content -> {"question", "answer"}`` (or None): the section's line in the
        report's summary.
    position : where the section goes among the sections beyond comparisons (ascending; ties
        keep the result's order).
    """

    title: str
    model: Callable[[Any, Any], dict]
    blocks: Callable[[dict], list[dict]]
    figures: Callable[[dict], dict[str, bytes]] | None = None
    headline: Callable[[dict], list[dict]] | None = None
    summary: Callable[[dict], dict | None] | None = None
    position: int = 100


@dataclass(frozen=True)
class ComparisonView:
    """How the report shows a family's comparisons in its core tables (the case's questions).

    Attributes
    ----------
    slot : where its rows go in the report model: ``"<section>.<key>"`` of ``report.json``
        (``attributes.drop_one``, ``granularity.rows``, ...).
    reference : the arm its rows compare with (``"baseline"``; None: each variant's own
        reference).
    order_by : the row field that orders its rows (None: the result's order).
    inventory : what the data inventory's rule reads from it: ``"necessity"`` (a group
        removed) or ``"coarse"`` (a group coarsened); None: nothing.
    """

    slot: str
    reference: str | None = "baseline"
    order_by: str | None = None
    inventory: str | None = None


def num(x: Any) -> float | None:
    """A finite float, or None."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(x: Any, kind: str = "3") -> str:
    """One number as text: ``3`` (3 decimals), ``4``, ``+3`` (signed), ``pct``, ``int``, ``1``."""
    if x is None or (isinstance(x, bool) and kind != "bool"):
        return "n/a"
    if kind == "bool":
        return "yes" if x else "no"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if kind == "+3":
        return f"{v:+.3f}"
    if kind == "4":
        return f"{v:.4f}"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "1":
        return f"{v:.1f}"
    if kind == "g":
        return f"{v:g}"
    return f"{v:.3f}"


def interval(lo: Any, hi: Any, kind: str = "+3") -> str:
    """``[lo, hi]`` in :func:`fmt`'s ``kind`` ('' when both are missing)."""
    if lo is None and hi is None:
        return ""
    return f"[{fmt(lo, kind)}, {fmt(hi, kind)}]"


def para(text: str) -> dict:
    return {"type": "p", "text": text}


def note(text: str) -> dict:
    return {"type": "note", "text": text}


def h3(text: str) -> dict:
    return {"type": "h3", "text": text}


def table(caption: str, headers: list[str], rows: list[list[str]], numeric=()) -> dict:
    return {"type": "table", "caption": caption, "headers": headers, "rows": rows,
            "numeric": sorted(numeric or ())}


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (white background, no software stamp: reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", facecolor="white",
                metadata={"Software": None})
    return buf.getvalue()


def simultaneous_cell(lower: float | None, upper: float | None,
                      family_size: int | None = None) -> str:
    """The interval that holds over the family, with the family's size, or 'n/a'."""
    if lower is None:
        return "n/a"
    return f"{interval(lower, upper)} (family of {family_size or '?'})"


def verdict_cell(verdict: str | None, per_comparison: str | None = None) -> str:
    """The verdict, and the per-comparison interval's verdict when that differs."""
    if verdict and per_comparison and per_comparison != verdict:
        return f"{verdict} (per comparison: {per_comparison})"
    return verdict or "n/a"


def decided_by_cell(verdict: str | None, decided_by: str | None = None) -> str:
    """What decided the verdict (a result without the field was decided per comparison)."""
    if not verdict:
        return "n/a"
    return DECIDED_BY[decided_by or "per_comparison"]
