"""The daily archive: each data day's page kept as ``YYYY-MM-DD.html`` beside ``index.html``,
with an index, ``archive.html``, newest first.

A page's day is the data day it reports (the last stored TAIEX day), not the wall clock: writing
the report again for the same day replaces that day's page. Pages older than
``TAIEX_REPORT_KEEP_DAYS`` days, counted back from the newest archived day (the data's clock,
never the machine's), are removed, except the first page of each month, which is kept for good.

The archive lives where the report does (``TAIEX_REPORT_URL``: a folder or an fsspec URL) and is
listed, written and deleted through the same layer as the page (:func:`taiex.files.publish`
writes). Every archived page sits in the same folder as ``index.html`` and ``archive.html``, and
the page inlines its images and CSS, so its links resolve the same from any of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from taiex.errors import OutputError, SettingsError, StorageError
from taiex.files import publish

log = logging.getLogger(__name__)

INDEX = "archive.html"
_PAGE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\.html", re.ASCII)


def page_name(day: dt.date) -> str:
    """The archived page's file name for data day ``day``."""
    return f"{day:%Y-%m-%d}.html"


def page_day(name: str) -> dt.date | None:
    """The data day of an archived page's file name; None for any other file."""
    match = _PAGE.fullmatch(name)
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:  # 2024-02-30.html: not ours
        return None


# ---------------------------------------------------------------- the storage layer


@dataclass(frozen=True)
class Location:
    """The report's location (a folder, ``file://`` or an fsspec URL): list, write, delete."""

    location: str

    @property
    def folder(self) -> Path | None:
        """The local folder, or None for a URL."""
        if "://" not in self.location or self.location.startswith("file://"):
            return Path(self.location.removeprefix("file://")).expanduser()
        return None

    def _fs(self) -> tuple[Any, str]:
        try:
            import fsspec
        except ImportError as exc:
            raise SettingsError(
                f"TAIEX_REPORT_URL={self.location}: a URL needs fsspec and the package of its "
                "filesystem (pip install 'taiex[s3]' for s3://)"
            ) from exc
        try:
            fs, path = fsspec.core.url_to_fs(self.location)
        except ImportError as exc:
            raise SettingsError(f"TAIEX_REPORT_URL={self.location}: {exc}") from exc
        return fs, str(path).rstrip("/")

    def names(self) -> list[str]:
        """The names of the files directly in the location (none when it does not exist)."""
        folder = self.folder
        if folder is not None:
            try:
                entries = list(folder.iterdir())
            except FileNotFoundError:
                return []
            except OSError as exc:
                raise OutputError(f"{folder}: cannot list ({exc.strerror or exc})") from exc
            return sorted(e.name for e in entries if stat.S_ISREG(e.lstat().st_mode))
        fs, path = self._fs()
        try:
            fs.invalidate_cache(path)
            found = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise StorageError(f"cannot list {self.location}: {exc}") from exc
        return sorted(
            str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            for entry in found
            if entry.get("type") == "file"
        )

    def write(self, name: str, data: bytes) -> str:
        """``data`` as ``name``, whole or not at all; its path or URL."""
        return publish(self.location, name, data)

    def delete(self, name: str) -> None:
        """Remove the file ``name``; one already gone is no error."""
        folder = self.folder
        if folder is not None:
            try:
                (folder / name).unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(
                    f"{folder / name}: cannot remove ({exc.strerror or exc})"
                ) from exc
            return
        fs, path = self._fs()
        try:
            fs.rm(f"{path}/{name}")
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise StorageError(f"cannot remove {self.location.rstrip('/')}/{name}: {exc}") from exc


# ---------------------------------------------------------------- what to keep


def to_remove(days: Iterable[dt.date], keep_days: int) -> list[dt.date]:
    """The days among ``days`` whose page goes: older than ``keep_days`` days before the newest
    of them, and not the first page of its month."""
    present = sorted(set(days))
    if not present:
        return []
    cutoff = present[-1] - dt.timedelta(days=keep_days)
    firsts: dict[tuple[int, int], dt.date] = {}
    for day in present:
        firsts.setdefault((day.year, day.month), day)
    return [day for day in present if day < cutoff and firsts[(day.year, day.month)] != day]


def archive(location: str, day: dt.date | None, page: str, *, keep_days: int) -> list[dt.date]:
    """Keep ``page`` as the page of data day ``day`` (replacing that day's), thin the old pages
    and write the index; the archived days, newest first. ``day`` None (no data yet): the index
    only, so that the page's link to it leads somewhere."""
    place = Location(location)
    if day is not None:
        place.write(page_name(day), page.encode("utf-8"))
    days = [d for d in map(page_day, place.names()) if d is not None]
    removed = to_remove(days, keep_days)
    for old in removed:
        place.delete(page_name(old))
    if removed:
        log.info("removed %d archived page(s) older than %d days", len(removed), keep_days)
    kept = sorted(set(days) - set(removed), reverse=True)
    place.write(INDEX, render_index(kept, keep_days).encode("utf-8"))
    return kept


def render_index(days: list[dt.date], keep_days: int) -> str:
    """The archive's index: a link to each day's page, newest first."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("taiex", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("archive.html.j2")
    pages = [(day, page_name(day)) for day in days]
    return template.render(pages=pages, keep_days=keep_days)
