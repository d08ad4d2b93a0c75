"""taiex: a daily data and forecasting pipeline for the TAIEX (發行量加權股價指數)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taiex")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
