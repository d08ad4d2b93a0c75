"""The charts' JavaScript, shipped in the package and written once beside the pages.

vega, vega-lite and vega-embed (minified, from the npm registry by ``scripts/vendor-vega.sh``,
with their licences in ``LICENSES.txt``) sit in ``taiex/report/assets``. The report writes them to
``assets/`` in the report's location (a folder or an fsspec URL, beside ``index.html`` and the
archived pages), so that the page draws its charts with no network and no CDN, from a folder or
a bucket alike. Their names carry their versions: a file already there is the same file and is
not written again, and an archived page keeps the versions it was written with after an upgrade.
"""

from __future__ import annotations

import logging
from importlib import resources

from taiex.report.archive import Location

log = logging.getLogger(__name__)

FOLDER = "assets"  # beside the pages: every page links to assets/<name>
# In the order a page loads them: vega-lite needs vega, vega-embed both.
LIBRARIES = ("vega", "vega-lite", "vega-embed")
LICENCES = "LICENSES.txt"


def scripts() -> list[str]:
    """The vendored scripts' file names, in load order (``vega-6.4.0.min.js`` first)."""
    names = [entry.name for entry in resources.files("taiex.report").joinpath(FOLDER).iterdir()]

    def library(name: str) -> str:
        return name.rsplit("-", 1)[0]  # "vega-lite-6.4.1.min.js" -> "vega-lite"

    found = {library(n): n for n in names if n.endswith(".min.js")}
    return [found[name] for name in LIBRARIES]


def script_paths() -> list[str]:
    """The scripts as a page links them: relative, so a page moved with its folder works."""
    return [f"{FOLDER}/{name}" for name in scripts()]


def publish_assets(location: str) -> list[str]:
    """Write the scripts and their licences to ``location``'s ``assets/`` where missing; the
    names written (none when all were there)."""
    place = Location(f"{location.rstrip('/')}/{FOLDER}")
    present = set(place.names())
    written = []
    for name in [*scripts(), LICENCES]:
        if name not in present:
            data = resources.files("taiex.report").joinpath(FOLDER, name).read_bytes()
            place.write(name, data)
            written.append(name)
    if written:
        log.info("wrote the charts' scripts to %s/%s", location.rstrip("/"), FOLDER)
    return written
