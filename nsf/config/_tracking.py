"""Where runs are logged."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrackingConfig(BaseModel):
    """MLflow tracking store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(
        "sqlite:///mlflow.db",
        description="MLflow tracking URI (SQLite by default; MLflow 3's file store is retired).",
    )
    artifact_location: str | None = Field(
        None,
        description="Artifact root for new experiments; default: an 'mlartifacts' folder beside "
        "a SQLite store.",
    )
