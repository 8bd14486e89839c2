"""The one bridge to the simulator (``data_gen``); no other module of ``nsf`` imports it.

What ``nsf`` takes from the simulator's code:

- :class:`WorldConfig`: the experiment config's ``world:`` block, validated when the config is
  loaded, so a bad world value is one line naming its field;
- :data:`BLOCK_USERS`: the users of one random stream, which ``simulate.chunk_users`` must be a
  multiple of;
- :func:`build_dataset` and its bad-input error :class:`WorldError`: running the simulation
  (``nsf simulate``, and the commands that simulate a missing dataset first).

Everything else in ``nsf`` sees simulated data only through the dataset folder, its manifest and
its description (:mod:`nsf.data`). ``data_gen`` never imports ``nsf``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data_gen.config import BLOCK_USERS, WorldConfig
from data_gen.errors import WorldError

if TYPE_CHECKING:
    from data_gen.dataset import build_dataset

__all__ = ["BLOCK_USERS", "WorldConfig", "WorldError", "build_dataset"]


def __getattr__(name: str) -> Any:
    # The simulation code (numerical kernels, about a second to import) is loaded only when a
    # dataset is built, not whenever a config is read.
    if name == "build_dataset":
        from data_gen.dataset import build_dataset

        return build_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
