"""Where parallel work runs (never changes any output)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ExecutionConfig(BaseModel):
    """The executor of every parallel step: simulator chunks, study fits and statistics, audit
    enumeration. Every backend and worker count gives identical outputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "dask"] = Field(
        "local", description="'local': worker processes of this machine (concurrent.futures); "
        "'dask': a dask.distributed cluster (execution.address, or a LocalCluster of "
        "execution.workers processes when no address is given).")
    address: str | None = Field(
        None, description="Dask scheduler address (e.g. tcp://HOST:8786); None starts a "
        "LocalCluster on this machine. Only with backend 'dask'.")
    workers: int | None = Field(
        None, ge=1, le=256, description="Worker processes; None: each step's own setting "
        "(simulate.workers, study.workers, audit.workers). Ignored with an address (the "
        "cluster has its own workers).")
    connect_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds to reach the Dask scheduler before the run "
        "stops with one line.")
    retries: int = Field(
        2, ge=0, le=10, description="[ASSUMPTION] Times a Dask task is rerun after it raised on a "
        "worker; a task whose worker died is rescheduled by Dask itself (up to "
        "distributed.scheduler.allowed-failures).")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be a scheduler address such as tcp://HOST:8786, or null")
        return value
