"""Fairness audit of the score: group metrics on fairlearn's MetricFrame, disparities with
bootstrap intervals, and proxy strength of feature groups for sensitive attributes."""

from ._group import (
    DISPARITIES,
    GROUP_COLUMNS,
    GroupMetrics,
    disparity_change,
    disparity_intervals,
    group_metrics,
)
from ._proxy import ProxyStrength, proxy_strength

__all__ = [
    "DISPARITIES",
    "GROUP_COLUMNS",
    "GroupMetrics",
    "ProxyStrength",
    "disparity_change",
    "disparity_intervals",
    "group_metrics",
    "proxy_strength",
]
