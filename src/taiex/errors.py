"""Every failure a user can act on, as one tree of exceptions.

    TaiexError
    ├── SettingsError           a TAIEX_* variable or the config file holds a bad value
    ├── FetchError              TWSE could not be reached or kept failing after every retry
    ├── SourceError             an overnight source (Yahoo, a CSV URL) gave no usable closes
    ├── UpstreamFormatError     a response or a row does not look like TWSE's format
    │   └── WrongMonthError     the rows belong to another month than the one asked for
    ├── InputError              a CSV, an argument or another input given by the user is invalid
    ├── PriceMoveError          a merge would store a price beyond TWSE's daily limit of its
    │                           neighbouring session (the caller names the file line or month)
    ├── OutputError             a file taiex writes cannot be written (disk full, no such folder)
    ├── StorageError            the database refused a read or a write
    │   └── LockedError         another job holds the lock this one needs
    ├── DataError               stored data cannot serve the request (too short, one class, ...)
    └── ModelError              a model cannot be used
        ├── NotFittedError      predict before fit, or no model registered
        └── ArtifactError       a saved model is missing, corrupt or fails its checksum

Lower-level exceptions (httpx, SQLAlchemy, json) are translated at the edge of the module that
meets them, with ``raise ... from exc`` so the cause stays in the traceback shown by ``--debug``.
"""

from __future__ import annotations

import datetime as dt


class TaiexError(Exception):
    """Root of every error taiex raises on purpose."""


class SettingsError(TaiexError):
    """A setting holds a value taiex cannot use."""


class FetchError(TaiexError):
    """TWSE kept failing for one month after the last retry."""

    def __init__(self, message: str, *, month: str, url: str, last_body: str = "") -> None:
        self.month = month
        self.url = url
        self.last_body = last_body
        snippet = " ".join(last_body.split())[:200]
        detail = f"; last response: {snippet!r}" if snippet else ""
        super().__init__(f"{message} (month {month}, {url}){detail}")


class SourceError(TaiexError):
    """An overnight source could not be reached, or answered nothing usable."""


class UpstreamFormatError(TaiexError):
    """A response or one of its rows is not in the format TWSE documents."""

    def __init__(self, message: str, *, where: str, row: object = None) -> None:
        self.where = where
        self.row = row
        shown = f": {row!r}" if row is not None else ""
        super().__init__(f"{where}: {message}{shown}")


class WrongMonthError(UpstreamFormatError):
    """TWSE answered with another month than the one asked for (it happens under load)."""


class InputError(TaiexError):
    """A file or argument given by the user is invalid."""


class PriceMoveError(TaiexError):
    """A merge would leave two consecutive sessions further apart than TWSE's daily limit.

    ``day`` is the incoming (new or revised) day of the two: the one whose line or month the
    caller names. Nothing of the merge is stored.
    """

    def __init__(self, message: str, *, day: dt.date) -> None:
        self.day = day
        super().__init__(message)


class OutputError(TaiexError):
    """A file taiex writes (raw cache, export, plot, report) cannot be written."""


class StorageError(TaiexError):
    """The database refused an operation."""


class LockedError(StorageError):
    """Another process holds the lock that this job needs."""


class DataError(TaiexError):
    """The stored data cannot serve the request."""


class ModelError(TaiexError):
    """A model cannot be used."""


class NotFittedError(ModelError):
    """The model has not been fitted, or no model is registered."""


class ArtifactError(ModelError):
    """A model artifact is missing, corrupt, or does not match its checksum."""
