"""The base of every frozen, strict pydantic model of the project (config, description, results)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A pydantic model that refuses unknown fields and cannot be changed once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)
