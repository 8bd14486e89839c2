"""nsf: an insufficient-funds risk score, reproduced and audited.

The few entry points a Python user calls (each imported on first use, so ``import nsf`` stays
cheap for the command line)::

    import nsf

    cfg = nsf.load_config("experiments/smoke.yaml", ["study.n_bootstrap=200"])
    prepared = nsf.prepare(cfg, nsf.open_dataset("data/smoke-1a2b3c4d"))
    result = nsf.run_study(cfg, prepared)          # a typed nsf.study.StudyResult
    result = nsf.open_result("study.json")         # the same, read back from its JSON
    scores = nsf.probability_to_score([0.02, 0.5])  # the 0-100 score

``nsf.score_file`` scores a file of shared rows with a fitted model
(``nsf.tracking.load_fitted`` reads one logged by ``nsf train``). Everything else lives in the
subpackages (``nsf.config``, ``nsf.data``, ``nsf.features``, ``nsf.models``, ``nsf.scoring``,
``nsf.metrics``, ``nsf.fairness``, ``nsf.explain``, ``nsf.decisions``, ``nsf.study``,
``nsf.tracking``, ``nsf.report``); the command line is ``nsf`` (``nsf.cli``).
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Arrow allocates from the C library's allocator unless the environment says otherwise. Its
# default (mimalloc) returns freed pages to the operating system between batches, and zeroing
# them again on the next page faults took about a fifth of the batch scorer's CPU time. Read
# when pyarrow is first imported, so it is set here, before any module imports pyarrow.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

if TYPE_CHECKING:
    from nsf.config import load_config
    from nsf.data import open_dataset
    from nsf.models import probability_to_score
    from nsf.pipeline import prepare
    from nsf.scoring import score_file
    from nsf.study import StudyResult, run_study

try:
    __version__: str = version("nsf")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "load_config",
    "open_dataset",
    "open_result",
    "prepare",
    "probability_to_score",
    "run_study",
    "score_file",
]

#: Public name -> the module that defines it (imported on first use).
_LAZY = {
    "load_config": "nsf.config",
    "open_dataset": "nsf.data",
    "prepare": "nsf.pipeline",
    "probability_to_score": "nsf.models",
    "run_study": "nsf.study",
    "score_file": "nsf.scoring",
}


def open_result(path: str | Path) -> StudyResult:
    """Read a study's result back from its ``study.json`` (an artifact of the study's run).

    Parameters
    ----------
    path : str or Path
        The ``study.json`` file.

    Returns
    -------
    nsf.study.StudyResult
        The typed result, validated against the schema this version writes.

    Raises
    ------
    nsf.errors.NsfError
        One line: the file is unreadable, not JSON, of another schema, or invalid.
    """
    from nsf.errors import NsfError
    from nsf.study import StudyResult

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NsfError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    return StudyResult.load(text, where=str(path))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nsf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
