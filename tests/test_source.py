"""Parsing TWSE's month format, and the client's politeness and retries against a local server."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import time
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taiex.calendar import Month
from taiex.errors import FetchError, UpstreamFormatError, WrongMonthError
from taiex.source import (
    STAT_FUTURE,
    STAT_NO_DATA,
    DailyRow,
    RateLimiter,
    TwseClient,
    parse_month,
    parse_price,
    parse_roc_date,
)
from tests.series import TWSE_SAMPLES, real_history
from tests.twse_server import TwseServer

DEC = Month(2024, 12)
FIELDS = ["日期", "開盤指數", "最高指數", "最低指數", "收盤指數"]


def body(*rows: list[str], date: str = "20241201", stat: str = "OK") -> bytes:
    return json.dumps({"stat": stat, "date": date, "fields": FIELDS, "data": list(rows)}).encode()


GOOD = ["113/12/02", "22,456.50", "22,802.53", "22,456.50", "22,736.93"]


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 89/01/04", dt.date(2000, 1, 4)),
        ("88/01/05", dt.date(1999, 1, 5)),
        ("113/12/02", dt.date(2024, 12, 2)),
        ("115/02/29", None),  # 2026 is no leap year
        ("113-12-02", None),
        ("", None),
    ],
)
def test_roc_dates(text: str, expected: dt.date | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="date"):
            parse_roc_date(text)
    else:
        assert parse_roc_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22,456.50", Decimal("22456.50")),
        ("6,310.41", Decimal("6310.41")),
        ("999.00", Decimal("999.00")),
        ("48,123.4", Decimal("48123.4")),
    ],
)
def test_prices(text: str, expected: Decimal) -> None:
    assert parse_price(text) == expected


@pytest.mark.parametrize("text", ["--", "", " ", "1,23.00", "abc", "-5.00", "1e5"])
def test_bad_prices(text: str) -> None:
    with pytest.raises(ValueError):
        parse_price(text)


# ---------------------------------------------------------------- whole months


def test_month_parses_exactly() -> None:
    rows = parse_month(body(GOOD), DEC)
    assert rows == [
        DailyRow(
            dt.date(2024, 12, 2),
            Decimal("22456.50"),
            Decimal("22802.53"),
            Decimal("22456.50"),
            Decimal("22736.93"),
        )
    ]


@pytest.mark.parametrize("stat", [STAT_NO_DATA, STAT_FUTURE])
def test_empty_month_stats(stat: str) -> None:
    payload = {"stat": stat} if stat == STAT_NO_DATA else {"stat": stat, "fields": [], "data": []}
    assert parse_month(json.dumps(payload, ensure_ascii=False).encode(), DEC) == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["113/12/02", "--", "22,802.53", "22,456.50", "22,736.93"]], r"row 1: empty cell '--'"),
        ([["113/12/02", "22,456.50", "", "22,456.50", "22,736.93"]], r"row 1: empty cell ''"),
        ([GOOD, ["113/12/03", "100.00", "90.00", "80.00", "95.00"]], r"row 2: high 90.00 is below"),
        ([["113/12/02", "100.00", "110.00", "101.00", "105.00"]], r"row 1: low 101.00 is above"),
        ([GOOD, GOOD], r"row 2: date 2024-12-02 repeats row 1"),
        ([GOOD[:4]], r"row 1: expected 5 cells"),
        ([["113/13/02", *GOOD[1:]]], r"row 1: .*not a valid date"),
    ],
)
def test_bad_rows_name_the_row(rows: list[list[str]], message: str) -> None:
    with pytest.raises(UpstreamFormatError, match=message) as caught:
        parse_month(body(*rows), DEC)
    assert not isinstance(caught.value, WrongMonthError)
    assert "TWSE 2024-12" in str(caught.value)


def test_rows_of_another_month() -> None:
    with pytest.raises(WrongMonthError, match=r"row 2: date 2024-11-29 is outside"):
        parse_month(body(GOOD, ["113/11/29", *GOOD[1:]]), DEC)
    with pytest.raises(WrongMonthError, match="20241101"):
        parse_month(body(GOOD, date="20241101"), DEC)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"stat": "OK", "data": [["113/12/02"', "not JSON"),
        (b"<html>blocked</html>", "not JSON"),
        (b"[1, 2]", "not an object"),
        (json.dumps({"stat": "系統忙碌中"}).encode(), "unexpected stat"),
        (json.dumps({"stat": "OK", "fields": FIELDS}).encode(), "'data' is missing"),
        (json.dumps({"stat": "OK", "fields": ["a"], "data": []}).encode(), "unexpected fields"),
    ],
)
def test_bad_responses(raw: bytes, message: str) -> None:
    with pytest.raises(UpstreamFormatError, match=message):
        parse_month(raw, DEC)


@pytest.mark.parametrize(
    ("name", "count"),
    [("200001", 22), ("202003", 22), ("202310", 20), ("202412", 22), ("202504", 6)],
)
@pytest.mark.realdata
def test_real_samples_match_the_real_history(name: str, count: int) -> None:
    path = TWSE_SAMPLES / f"MI_5MINS_HIST_{name}.json"
    rows = parse_month(path.read_bytes(), Month.parse(name))
    history = real_history().set_index("date")
    assert len(rows) == count
    for r in rows:
        expected = history.loc[str(r.date)]
        got = [r.open, r.high, r.low, r.close]
        assert got == [Decimal(f"{expected[c]:.2f}") for c in ("open", "high", "low", "close")]


cell = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A\d{1,2},\d{3}\.\d{2}\Z"),
    st.sampled_from(["--", "", " 89/01/04", "113/12/02", "113/12/31", "22,456.50"]),
)
row = st.one_of(st.lists(cell, min_size=0, max_size=6), st.integers(), st.none())
payload = st.fixed_dictionaries(
    {"stat": st.sampled_from(["OK", STAT_NO_DATA, STAT_FUTURE, "x"]), "data": st.lists(row)},
    optional={"date": st.sampled_from(["20241201", "20241101", 5]), "fields": st.just(FIELDS)},
)


@settings(max_examples=300, deadline=None)
@given(payload)
def test_any_json_gives_rows_or_the_typed_error(data: dict[str, object]) -> None:
    try:
        rows = parse_month(json.dumps(data, ensure_ascii=False).encode(), DEC)
    except UpstreamFormatError:
        return
    for r in rows:
        assert Month.of(r.date) == DEC
        assert r.low <= min(r.open, r.close) <= max(r.open, r.close) <= r.high
    assert len({r.date for r in rows}) == len(rows)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_rows_or_the_typed_error(raw: bytes) -> None:
    with contextlib.suppress(UpstreamFormatError):
        parse_month(raw, DEC)


# ---------------------------------------------------------------- the client


def client_for(server: TwseServer, **kwargs: object) -> TwseClient:
    options: dict[str, object] = {"timeout": 0.3, "retries": 3, "backoff": 0.001}
    options.update(kwargs)
    return TwseClient(server.url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fault", ["500", "403", "html", "drop", "truncated", "malformed", "timeout", "wrong_month"]
)
def test_client_retries_each_transient_fault(twse: TwseServer, fault: str) -> None:
    twse.inject("2024-06", fault, fault)
    with client_for(twse) as client:
        fetched = client.fetch_month(Month(2024, 6))
    assert [r.fault for r in twse.requests] == [fault, fault, None]
    assert len(fetched.rows) == 20
    assert all(Month.of(r.date) == Month(2024, 6) for r in fetched.rows)


@pytest.mark.parametrize("fault", ["500", "html", "drop", "timeout", "wrong_month", "truncated"])
def test_client_gives_up_with_one_clear_error(twse: TwseServer, fault: str) -> None:
    twse.inject("2024-06", *[fault] * 4)
    with client_for(twse) as client, pytest.raises(FetchError) as caught:
        client.fetch_month(Month(2024, 6))
    error = caught.value
    assert error.month == "2024-06"
    assert error.url.endswith("?date=20240601&response=json")
    assert "failed 4 times" in str(error)
    assert error.url in str(error)
    assert len(twse.requests) == 4


def test_give_up_error_carries_the_last_body(twse: TwseServer) -> None:
    twse.inject("2024-06", "html", "html", "html", "html")
    with client_for(twse) as client, pytest.raises(FetchError, match="IP") as caught:
        client.fetch_month(Month(2024, 6))
    assert "封鎖" in caught.value.last_body


@pytest.mark.parametrize("fault", ["dash_cell", "bad_ohlc", "duplicate"])
def test_bad_rows_are_not_retried(twse: TwseServer, fault: str) -> None:
    twse.inject("2024-06", fault)
    with client_for(twse) as client, pytest.raises(UpstreamFormatError, match="row"):
        client.fetch_month(Month(2024, 6))
    assert len(twse.requests) == 1


def test_a_block_page_waits_longer_than_a_server_error(twse: TwseServer) -> None:
    waits: dict[str, list[float]] = {}
    for fault in ("500", "html"):
        slept: list[float] = []
        twse.inject("2024-06", fault)
        with client_for(twse, backoff=1.0, sleep=slept.append, jitter=lambda: 0.5) as client:
            client.fetch_month(Month(2024, 6))
        waits[fault] = slept
    assert waits["500"] == [1.0]
    assert waits["html"] == [5.0]


def test_backoff_grows_exponentially_with_jitter(twse: TwseServer) -> None:
    slept: list[float] = []
    jitters = iter([0.0, 0.99, 0.5])
    twse.inject("2024-06", "500", "500", "500")
    with client_for(twse, backoff=1.0, sleep=slept.append, jitter=lambda: next(jitters)) as client:
        client.fetch_month(Month(2024, 6))
    assert slept == pytest.approx([0.5, 2 * 1.49, 4 * 1.0])


def test_rate_limiter_spaces_starts_by_the_interval() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: now[0])
    limiter.wait(sleep)  # the first request never waits
    now[0] += 0.5
    limiter.wait(sleep)  # 0.5 s later: waits the remaining 1.5 s
    now[0] += 3.0
    limiter.wait(sleep)  # 3 s later: no wait
    assert slept == [1.5]


def test_requests_and_retries_start_at_least_the_interval_apart(twse: TwseServer) -> None:
    starts: list[float] = []
    session = httpx.Client(event_hooks={"request": [lambda r: starts.append(time.monotonic())]})
    twse.inject("*", "500")
    with client_for(twse, limiter=RateLimiter(0.2), backoff=0.0, session=session) as client:
        for month in (Month(2024, 5), Month(2024, 6), Month(2024, 7)):
            client.fetch_month(month)
    assert len(starts) == 4
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.19  # the hook runs a moment after the limiter stamps the start


def test_unexpected_status_is_not_retried(twse: TwseServer) -> None:
    client = TwseClient(twse.url + "/nope", retries=3, backoff=0)
    with client, pytest.raises(FetchError, match="HTTP 404"):
        client.fetch_month(Month(2024, 6))
    assert len(twse.requests) == 0  # the path is not TWSE's: the server answered 404 at once


def test_unreachable_server_ends_in_fetch_error() -> None:
    client = TwseClient("http://127.0.0.1:9/x", retries=1, backoff=0, timeout=0.2)
    with client, pytest.raises(FetchError, match="failed 2 times, last: connection failed"):
        client.fetch_month(Month(2024, 6))


def test_client_uses_the_session_it_is_given(twse: TwseServer) -> None:
    seen: list[str] = []
    session = httpx.Client(event_hooks={"request": [lambda r: seen.append(str(r.url))]})
    with TwseClient(twse.url, session=session) as client:
        client.fetch_month(Month(2024, 6))
    assert seen == [f"{twse.url}?date=20240601&response=json"]


# ---------------------------------------------------------------- bounds and hostile answers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9" * 400, "is not a number"),  # longer than any price: refused before parsing
        ("12345678901234567", "outside"),
        ("1,000,000.00", "outside"),
        ("22,456.505", "more than 2 decimals"),
        ("0.00", "outside"),
        ("２２,４５６.５０", "is not a number"),
    ],
)
def test_prices_beyond_any_index_level_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_price(text)
    assert parse_price("999,999.99") == Decimal("999999.99")
    assert str(parse_price("22,456.5")) == "22456.50"


def test_a_response_without_fields_is_refused() -> None:
    """Without the column order an open and a close swapped pass every row check."""
    payload = {"stat": "OK", "date": "20241201", "data": [GOOD]}
    with pytest.raises(UpstreamFormatError, match="has no 'fields'"):
        parse_month(json.dumps(payload).encode(), DEC)


def test_a_sunday_row_is_refused() -> None:
    sunday = ["113/12/01", "22,456.50", "22,802.53", "22,456.50", "22,736.93"]
    with pytest.raises(UpstreamFormatError, match=r"row 1: .*Sunday"):
        parse_month(body(sunday), DEC)


def test_deep_json_is_the_typed_error() -> None:
    with pytest.raises(UpstreamFormatError, match="nested too deeply"):
        parse_month(b"[" * 100_000 + b"]" * 100_000, DEC)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("slow_loris", "no complete response within 0.3 s"),
        ("endless", "beyond TAIEX_TWSE_MAX_BYTES"),
        ("huge", "beyond TAIEX_TWSE_MAX_BYTES"),
        ("gzip_mismatch", "DecodingError"),
        ("redirect_loop", "TooManyRedirects"),
        ("deep_json", "nested too deeply"),
    ],
)
def test_hostile_answers_are_retried_then_one_fetch_error(
    twse: TwseServer, fault: str, reason: str
) -> None:
    twse.inject("2024-06", *[fault] * 4)
    # Twenty redirects can outlast 0.3 s on a loaded machine: that fault gets time to loop.
    options = {"timeout": 5.0} if fault == "redirect_loop" else {}
    with (
        client_for(twse, **options) as client,
        pytest.raises(FetchError, match="failed 4 times") as caught,
    ):
        client.fetch_month(Month(2024, 6))
    assert reason in str(caught.value)
    assert len(twse.requests) == 4


@pytest.mark.parametrize("fault", ["slow_loris", "gzip_mismatch", "redirect_loop", "huge"])
def test_a_hostile_answer_then_a_good_one(twse: TwseServer, fault: str) -> None:
    twse.inject("2024-06", fault)
    with client_for(twse) as client:
        assert len(client.fetch_month(Month(2024, 6)).rows) == 20


def test_the_body_bound_is_a_setting(twse: TwseServer) -> None:
    with (
        client_for(twse, max_bytes=100, retries=0) as client,
        pytest.raises(FetchError, match="beyond TAIEX_TWSE_MAX_BYTES=100"),
    ):
        client.fetch_month(Month(2024, 6))


def test_hosts_share_one_limiter_whatever_their_spelling() -> None:
    from taiex.source import shared_limiter

    first = shared_limiter("https://www.twse.com.tw/x", 2.0)
    assert shared_limiter("https://WWW.TWSE.com.tw./y", 2.0) is first
    assert shared_limiter("https://www.twse.com.tw:8443/x", 2.0) is not first
