"""Fairness audit of the score: group metrics on fairlearn's MetricFrame, disparities with
bootstrap intervals, and proxy strength of feature groups for sensitive attributes."""

from ._group import (
    DISPARITIES,
    GROUP_COLUMNS,
    SUPPORT,
    GroupMetrics,
    basic_interval,
    bias_corrected,
    disparity_change,
    disparity_intervals,
    group_metrics,
    replicate_disparities,
    support_mask,
)
from ._proxy import ProxyStrength, proxy_strength

__all__ = [
    "DISPARITIES",
    "GROUP_COLUMNS",
    "SUPPORT",
    "GroupMetrics",
    "ProxyStrength",
    "basic_interval",
    "bias_corrected",
    "disparity_change",
    "disparity_intervals",
    "group_metrics",
    "proxy_strength",
    "replicate_disparities",
    "support_mask",
]
