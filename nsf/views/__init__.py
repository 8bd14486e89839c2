"""Low-level pieces of the report's views: document blocks, number formats, figure helpers,
and :class:`FamilyView` (how the report shows one family's section).

Imports nothing from :mod:`nsf.study` or :mod:`nsf.report`, so a family's module
(:mod:`nsf.study.families`) can declare its report view, and tracking can draw the same
figures as the report, without an import circle.
"""

from nsf.views._blocks import (
    DECIDED_BY,
    MARKERS,
    ComparisonView,
    FamilyView,
    decided_by_cell,
    fmt,
    h3,
    interval,
    note,
    num,
    para,
    png,
    simultaneous_cell,
    table,
    verdict_cell,
)

__all__ = ["DECIDED_BY", "MARKERS", "ComparisonView", "FamilyView", "decided_by_cell", "fmt",
           "h3", "interval", "note", "num", "para", "png", "simultaneous_cell", "table",
           "verdict_cell"]
