"""Files that are either whole or absent: CSV exports, plots and the report (also to a URL)."""

from __future__ import annotations

import mimetypes
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from taiex.errors import OutputError, SettingsError, StorageError

if TYPE_CHECKING:
    import pandas as pd


def write_atomic(path: Path, data: bytes, *, make_parents: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    A crash (even SIGKILL) leaves the old file or the new one, never half of one. Only a regular
    file or a new path is written: a device, a pipe, a folder or a symbolic link in the way is
    refused, as the rename would replace it with a file. ``make_parents=False`` refuses a
    missing folder instead of creating it. Every failure (disk full included) is an OutputError.
    """
    check_target(path, make_parents=make_parents)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV at ``path`` (4 decimals, ISO dates), whole or not at all, in a folder
    that exists (never through a link or a device); the path written."""
    text = frame.to_csv(index=False, float_format="%.4f", date_format="%Y-%m-%d")
    return write_atomic(path, text.encode(), make_parents=False)


def check_target(path: Path, *, make_parents: bool = True) -> None:
    """OutputError unless :func:`write_atomic` may write ``path``: a regular file or a new path,
    in an existing folder unless ``make_parents``. A command checks its output this way before
    a long computation, so that a typo in the path does not cost the computation."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(f"{path}: not a regular file; taiex writes only regular files")
    if not make_parents and not path.parent.is_dir():
        raise OutputError(f"{path}: the folder {path.parent} does not exist")


def _replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp makes the file private (0600); a page, a plot or an export is for others too.
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _content_type(url: str) -> dict[str, str]:
    """What an object store serves ``url`` as, for a browser to show the page and run its
    scripts (S3's default, binary/octet-stream, makes a browser download index.html); the
    argument of the filesystems that take one (s3fs), none for the others."""
    kind, _ = mimetypes.guess_type(url)
    if kind is None or not url.startswith(("s3://", "s3a://")):
        return {}
    return {"ContentType": f"{kind}; charset=utf-8" if kind.startswith("text/") else kind}


def publish(location: str, name: str, data: bytes) -> str:
    """Write ``data`` as ``name`` in ``location``, a folder or an fsspec URL (``s3://bucket/x/``),
    whole or not at all; the written file's path or URL.

    A URL needs fsspec and the filesystem's package (``pip install 'taiex[s3]'`` for s3://).
    """
    if "://" not in location or location.startswith("file://"):
        folder = Path(location.removeprefix("file://")).expanduser()
        return str(write_atomic(folder / name, data))
    url = f"{location.rstrip('/')}/{name}"
    try:
        import fsspec
    except ImportError as exc:
        raise SettingsError(
            f"TAIEX_REPORT_URL={location}: writing to a URL needs fsspec and the package of its "
            "filesystem (pip install 'taiex[s3]' for s3://)"
        ) from exc
    try:
        # Object stores write an object whole on close; nothing is visible before. No mkdir:
        # on S3 that would create a bucket named by a typo.
        filesystem, path = fsspec.core.url_to_fs(url)
        with filesystem.open(path, "wb", **_content_type(url)) as handle:
            handle.write(data)
    except ImportError as exc:  # fsspec knows the scheme, its package is missing
        raise SettingsError(f"TAIEX_REPORT_URL={location}: {exc}") from exc
    except Exception as exc:
        # Each filesystem has its own errors besides OSError: botocore's NoCredentialsError for
        # s3:// without credentials was a traceback.
        raise StorageError(f"cannot write {url}: {exc}") from exc
    return url
