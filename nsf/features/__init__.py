"""Features of the shared data, declared in one registry by source category and attribute group."""

from nsf.features._build import build_features, compute_feature, required_columns
from nsf.features._registry import (
    LATENT_FEATURES,
    SENSITIVE_FEATURES,
    FeatureRegistry,
    FeatureSpec,
    GroupInfo,
    extra_specs,
    feed_registry,
    table_registry,
)
from nsf.features._select import FeatureSelection, select_features

__all__ = [
    "LATENT_FEATURES",
    "SENSITIVE_FEATURES",
    "FeatureRegistry",
    "FeatureSelection",
    "FeatureSpec",
    "GroupInfo",
    "build_features",
    "compute_feature",
    "extra_specs",
    "feed_registry",
    "required_columns",
    "select_features",
    "table_registry",
]
