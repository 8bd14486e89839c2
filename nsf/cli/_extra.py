"""Commands added by later modules register here (one import line each)."""
from nsf.cli import (
    _audit,  # noqa: F401
    _export,  # noqa: F401
    _report,  # noqa: F401
    _study,  # noqa: F401
    _train,  # noqa: F401
    _ui,  # noqa: F401
)
