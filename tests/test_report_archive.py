"""The report's daily archive: one page per data day beside index.html, an index newest first,
old pages thinned but the first of each month kept; in a folder and through fsspec (memory://)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from taiex.errors import SettingsError
from taiex.report.archive import Location, archive, page_day, to_remove
from taiex.report.page import write_report
from taiex.settings import Settings
from tests.test_publish import BUCKET, s3  # noqa: F401 (the S3 server fixture)
from tests.test_report import Page, World, daily_rows, empty_world, fill


@pytest.fixture(params=["folder", "memory"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A report location: a folder, or an fsspec URL (the in-memory filesystem)."""
    if request.param == "folder":
        yield str(tmp_path / "site")
        return
    url = f"memory://taiex-archive-{id(request)}/site"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def read(location: str, name: str) -> str:
    with fsspec.open(f"{location.rstrip('/')}/{name}", "rb") as handle:
        return bytes(handle.read()).decode("utf-8")


def archived_days(location: str) -> list[dt.date]:
    return sorted(d for d in map(page_day, Location(location).names()) if d is not None)


def index_days(location: str) -> list[str]:
    """The days the index links to, in its order."""
    links = Page(read(location, "archive.html")).links
    return [link.removesuffix(".html") for link in links if page_day(link) is not None]


# ---------------------------------------------------------------- thinning, with explicit dates


def test_only_old_pages_that_are_not_the_first_of_their_month_go() -> None:
    days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 31)]
    days += [dt.date(2024, 2, 1), dt.date(2024, 2, 15), dt.date(2024, 3, 4), dt.date(2024, 3, 5)]
    # Newest 2024-03-05, 30 days: older than 2024-02-04 goes unless first of its month.
    assert to_remove(days, 30) == [dt.date(2024, 1, 3), dt.date(2024, 1, 31)]
    assert to_remove(days, 90) == []
    assert to_remove(days, 1) == [
        dt.date(2024, 1, 3),
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 15),
    ]
    assert to_remove([], 30) == []


def test_a_page_exactly_keep_days_old_stays() -> None:
    days = [dt.date(2024, 5, 10), dt.date(2024, 5, 20), dt.date(2024, 6, 19)]
    assert to_remove(days, 30) == []  # 2024-05-20 is exactly 30 days before 2024-06-19
    assert to_remove(days, 29) == [dt.date(2024, 5, 20)]


def test_the_archive_keeps_one_page_per_day_and_thins(location: str) -> None:
    start = dt.date(2024, 1, 1)
    days = [start + dt.timedelta(days=i) for i in range(0, 100, 3)]  # 2024-01-01 … 2024-04-06
    for day in days:
        archive(location, day, f"<p>{day}</p>", keep_days=30)
    kept = archived_days(location)
    newest = days[-1]
    assert kept[-1] == newest
    firsts = {(d.year, d.month): d for d in reversed(days)}
    # Every page within 30 days of the newest is there, and before that only each month's first.
    assert [d for d in kept if newest - d <= dt.timedelta(days=30)] == [
        d for d in days if newest - d <= dt.timedelta(days=30)
    ]
    assert [d for d in kept if newest - d > dt.timedelta(days=30)] == sorted(
        d for d in firsts.values() if newest - d > dt.timedelta(days=30)
    )
    assert dt.date(2024, 1, 1) in kept and dt.date(2024, 1, 4) not in kept
    # The index lists exactly what is there, newest first; each page is the one written.
    assert index_days(location) == [d.isoformat() for d in sorted(kept, reverse=True)]
    for day in kept:
        assert read(location, f"{day}.html") == f"<p>{day}</p>"
    assert set(Location(location).names()) == {f"{d}.html" for d in kept} | {"archive.html"}


def test_rewriting_a_day_replaces_its_page(location: str) -> None:
    day = dt.date(2024, 3, 1)
    archive(location, day, "<p>first</p>", keep_days=90)
    archive(location, day, "<p>second</p>", keep_days=90)
    assert archived_days(location) == [day]
    assert read(location, "2024-03-01.html") == "<p>second</p>"
    assert index_days(location) == ["2024-03-01"]


def test_an_older_day_written_later_is_thinned_against_the_newest(location: str) -> None:
    """The clock is the newest data day archived, not the day just written nor the machine's."""
    archive(location, dt.date(2024, 6, 10), "<p>june</p>", keep_days=30)
    archive(location, dt.date(2024, 4, 20), "<p>april backfill</p>", keep_days=30)
    archive(location, dt.date(2024, 4, 22), "<p>april again</p>", keep_days=30)
    assert archived_days(location) == [dt.date(2024, 4, 20), dt.date(2024, 6, 10)]


def test_no_data_day_writes_only_the_index(location: str) -> None:
    assert archive(location, None, "<p>empty</p>", keep_days=90) == []
    assert Location(location).names() == ["archive.html"]
    assert "No page yet" in read(location, "archive.html")


def test_other_files_in_the_location_are_left_alone(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for name in ("notes.html", "2024-02-30.html", "2024-01-01.html.bak"):
        (site / name).write_text("x")
    archive(str(site), dt.date(2024, 9, 1), "<p>x</p>", keep_days=1)
    assert sorted(p.name for p in site.iterdir()) == [
        "2024-01-01.html.bak",
        "2024-02-30.html",
        "2024-09-01.html",
        "archive.html",
        "notes.html",
    ]


# ---------------------------------------------------------------- the setting


def test_the_keep_days_setting(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).report_keep_days == 90
    read_back = Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_REPORT_KEEP_DAYS": "30"})
    assert read_back.report_keep_days == 30
    for bad in ("0", "-5", "1.5", "100000"):
        with pytest.raises(SettingsError, match="TAIEX_REPORT_KEEP_DAYS"):
            Settings.from_env({"TAIEX_HOME": str(tmp_path), "TAIEX_REPORT_KEEP_DAYS": bad})


# ---------------------------------------------------------------- write_report


def test_write_report_archives_each_data_day(tmp_path: Path, location: str) -> None:
    world = empty_world(tmp_path)
    try:
        settings = world.settings.replace(report_url=location)
        store, history = world.store, world.history
        days = [world.day(i) for i in (-3, -2, -1)]
        for n, day in zip((88, 89, 90), days, strict=True):
            store.merge_rows(daily_rows(history.iloc[:n]), source="tests/synthetic.csv")
            write_report(store, settings, now=world.now)
            assert archived_days(location)[-1] == day
        assert archived_days(location) == days
        assert index_days(location) == [d.isoformat() for d in reversed(days)]
        latest = read(location, "index.html")
        assert read(location, f"{days[-1]}.html") == latest
        assert f"Data to {days[0]}" in Page(read(location, f"{days[0]}.html")).words
        # The same data day again, later on the clock: its page is replaced, no new one.
        write_report(store, settings, now=world.now + dt.timedelta(hours=5))
        assert archived_days(location) == days
        again = read(location, f"{days[-1]}.html")
        assert again != latest and again == read(location, "index.html")
    finally:
        world.store.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = fill(empty_world(tmp_path))
    yield built
    built.store.dispose()


def test_an_archived_pages_links_resolve(world: World) -> None:
    """Every relative link of an archived page and of the index names a file beside them; the
    images and the CSS are inlined."""
    folder = Path(write_report(world.store, world.settings, now=world.now)).parent
    archived = folder / f"{world.last_day}.html"
    html = archived.read_text(encoding="utf-8")
    assert "<style>" in html and 'rel="stylesheet"' not in html
    for name in (archived.name, "archive.html"):
        page = Page((folder / name).read_text(encoding="utf-8"))
        relative = [
            link
            for link in page.links
            if not link.startswith(("data:", "#", "mailto:")) and "://" not in link
        ]
        assert relative, name
        for link in relative:
            assert (folder / link.split("#")[0]).is_file(), f"{name} links to {link}"
    assert "archive.html" in Page(html).links
    assert f"{world.last_day}.html" in Page((folder / "archive.html").read_text()).links
    assert Page(html).images and all(src.startswith("data:image/png") for src in Page(html).images)


# ---------------------------------------------------------------- an object store


@pytest.mark.usefixtures("s3")
def test_the_archive_on_a_real_s3_server() -> None:
    """s3fs through moto's server: listed, written and thinned as in a folder."""
    location = f"s3://{BUCKET}/daily/"
    for day in (dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 3, 1)):
        archive(location, day, f"<p>{day}</p>", keep_days=30)
    archive(location, dt.date(2024, 3, 1), "<p>again</p>", keep_days=30)
    assert archived_days(location) == [dt.date(2024, 1, 2), dt.date(2024, 3, 1)]
    assert index_days(location) == ["2024-03-01", "2024-01-02"]
    assert read(location, "2024-03-01.html") == "<p>again</p>"
    assert Location(f"s3://{BUCKET}/nothing-here/").names() == []
