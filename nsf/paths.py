"""Paths given as fsspec URLs.

``simulate.data_dir`` and ``nsf score``'s input and output may be written as fsspec URLs. A URL
of the local file system (``file://...``, or ``local://...``) is the same as its path. Other
file systems (``s3://``, ``gs://``, ...) are refused with one line: datasets are built with
renames and file locks, which object stores do not offer; mount the store (s3fs, gcsfuse, a
shared NFS folder) and give the mounted path, which every Dask worker can then reach.
"""

from __future__ import annotations

import re
from pathlib import Path

from nsf.errors import NsfError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def local_path(value: str | Path, what: str = "") -> Path:
    """``value`` as a local path; ``what`` names the field or argument in the error."""
    prefix = f"{what}: " if what else ""
    if isinstance(value, Path) or not _SCHEME.match(str(value)):
        return Path(value)
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs, path = url_to_fs(str(value))
    except (ImportError, ValueError) as exc:
        raise NsfError(f"{prefix}{value!r} is not a usable fsspec URL ({exc})") from None
    if not isinstance(fs, LocalFileSystem):
        raise NsfError(f"{prefix}{value!r} is on {type(fs).__name__}; only local paths and "
                       "file:// URLs are written directly (mount an object store and give its "
                       "path)")
    return Path(path)
