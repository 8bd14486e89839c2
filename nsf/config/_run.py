"""How a simulation is run (does not change the dataset's content)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nsf.simulator import BLOCK_USERS


class SimulateConfig(BaseModel):
    """Where the dataset goes and how the work is split; none of it changes the content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path("data"),
        description="Folder holding datasets; each goes to <data_dir>/<name>-<digest8>. A path "
        "or a file:// URL (on a cluster: a folder every worker reaches).",
    )
    chunk_users: int = Field(
        BLOCK_USERS * 8, ge=BLOCK_USERS, multiple_of=BLOCK_USERS,
        description=f"Users simulated at once in one process (a multiple of {BLOCK_USERS}); "
        "bounds memory, never changes the outputs.",
    )
    workers: int = Field(
        1, ge=1, le=256, description="Worker processes; never changes the outputs."
    )

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir(cls, value):
        if isinstance(value, str):
            from nsf.paths import local_path

            return local_path(value)
        return value
