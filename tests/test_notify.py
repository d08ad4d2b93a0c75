"""Notifications (taiex.notify): Apprise's json:// to a local HTTP server collecting the POSTs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from taiex import notify
from taiex.calendar import sessions_between
from taiex.cli import app
from taiex.errors import SettingsError
from taiex.pipeline import Context
from taiex.rounds import Round
from taiex.settings import Settings
from taiex.store.schema import signals
from tests.conftest import on_taipei_day
from tests.test_run import DAY1, up_to
from tests.twse_server import TwseServer

pytest.importorskip("apprise")

runner = CliRunner()
SECRET = "s3cr3t-t0ken"


class Collector:
    """A local HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        # The password stands for a service's token: it must never reach a log.
        return f"json://user:{SECRET}@127.0.0.1:{self.server.server_address[1]}/hook"

    def titles(self) -> list[str]:
        return [body["title"] for body in self.received]


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def unreachable_url() -> str:
    return f"json://user:{SECRET}@127.0.0.1:1/hook"


# ---------------------------------------------------------------- settings


def test_the_default_events_are_all_but_the_summary() -> None:
    assert Settings().notify_event_names == ("failed", "signal-changed", "promoted", "stale")
    chosen = Settings.from_env({"TAIEX_NOTIFY_EVENTS": "summary, failed"})
    assert chosen.notify_event_names == ("summary", "failed")


def test_an_unknown_event_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"TAIEX_NOTIFY_EVENTS.*'promote'"):
        Settings.from_env({"TAIEX_NOTIFY_EVENTS": "failed promote"})


def test_a_url_apprise_cannot_parse_names_the_variable_not_the_secret() -> None:
    with pytest.raises(SettingsError, match="TAIEX_NOTIFY_URLS") as caught:
        Settings.from_env({"TAIEX_NOTIFY_URLS": f"json://localhost/x nosuch://{SECRET}@host/"})
    assert SECRET not in str(caught.value) and "URL 2 (nosuch://" in str(caught.value)


def test_the_urls_are_in_no_repr_and_handed_to_no_container() -> None:
    settings = Settings.from_env({"TAIEX_NOTIFY_URLS": unreachable_url()})
    assert SECRET not in repr(settings)
    assert "TAIEX_NOTIFY_URLS" not in settings.to_environ()


# ---------------------------------------------------------------- sending


def test_each_event_is_posted_as_json(collector: Collector) -> None:
    settings = Settings(notify_urls=collector.url, notify_events=" ".join(notify.EVENTS))
    events = [
        notify.failed(Round.evening, "data", RuntimeError("TWSE blocked us\nmore")),
        notify.Event("stale", "taiex evening: stale data", "TWSE has not published"),
        notify.Event("summary", "taiex evening: 2024-12-31", "forecast for 2024-12-31: 23,000"),
    ]
    assert notify.send(settings, events) == ["failed", "stale", "summary"]
    bodies = {body["title"]: body for body in collector.received}
    failed = bodies["taiex evening: failed at data"]
    assert failed["message"] == "data: RuntimeError: TWSE blocked us"
    assert failed["type"] == "failure"
    assert bodies["taiex evening: stale data"]["type"] == "warning"
    assert bodies["taiex evening: 2024-12-31"]["type"] == "info"


def test_events_not_chosen_are_not_sent(collector: Collector) -> None:
    settings = Settings(notify_urls=collector.url)  # the default: no summary
    event = notify.Event("summary", "t", "b")
    assert notify.send(settings, [event]) == []
    assert collector.received == []


def test_an_unreachable_url_is_one_warning_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(notify_urls=unreachable_url())
    with caplog.at_level(logging.DEBUG):
        assert notify.send(settings, [notify.failed(Round.evening, "data", "boom")]) == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "json" in warnings[0].getMessage()
    assert SECRET not in caplog.text


# ---------------------------------------------------------------- taiex run


@pytest.fixture
def server(env: Settings, twse: TwseServer) -> TwseServer:
    from tests.series import TINY_CONFIG

    env.home.mkdir(parents=True, exist_ok=True)
    (env.home / "config.toml").write_text(TINY_CONFIG)
    twse.set_history(up_to(DAY1), today=DAY1)
    return twse


def invoke(*args: str, day: dt.date) -> Any:
    with on_taipei_day(day):
        return runner.invoke(app, ["run", *args])


def test_taiex_run_notifies_and_no_secret_is_logged(
    server: TwseServer,
    env: Settings,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TAIEX_LSTM_NAIVE_MARGIN", "10")
    monkeypatch.setenv("TAIEX_CLASSIFIER_AUC_MIN", "0")
    monkeypatch.setenv("TAIEX_NOTIFY_URLS", f"{collector.url} {unreachable_url()}")
    monkeypatch.setenv("TAIEX_NOTIFY_EVENTS", ",".join(notify.EVENTS))
    caplog.set_level(logging.DEBUG)
    result = invoke("--as-of", str(DAY1), day=DAY1)
    assert result.exit_code == 0, result.stderr  # the unreachable URL fails nothing
    titles = collector.titles()
    # The first models are promoted by the run; the summary names the next session.
    assert "taiex evening: lstm lstm-v1 promoted" in titles
    assert "taiex evening: classifier classifier-v1 promoted" in titles
    summary = next(b for b in collector.received if "forecast for" in b["message"])
    assert "80 % band" in summary["message"] and "signal for" in summary["message"]
    assert not any("stale" in title for title in titles)

    # The next session: TWSE has not published it, so the data is stale.
    collector.received.clear()
    later = sessions_between(DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=10))[0]
    result = invoke("--as-of", str(later), day=later)
    assert result.exit_code == 0, result.stderr
    stale = [b for b in collector.received if b["title"] == "taiex evening: stale data"]
    assert len(stale) == 1 and f"TWSE has not published {later}" in stale[0]["message"]
    assert not any("promoted" in title for title in collector.titles())  # nothing new

    # The signal of DAY1 against a previous served one of the other sign.
    ctx = Context.open(Settings.from_env())
    try:
        served = ctx.store.signals.of_day(DAY1)[0]
        before = sessions_between(DAY1 - dt.timedelta(days=10), DAY1)[-2]
        with ctx.store.engine.begin() as conn:
            conn.execute(delete(signals).where(signals.c.based_on == before))
        ctx.store.signals.save(
            [
                {
                    **{k: v for k, v in served.items() if k not in ("id", "created_at")},
                    "based_on": before,
                    "target_date": DAY1,
                    "signal": 1 - int(served["signal"]),
                }
            ]
        )
        since = served["created_at"]
        events = notify.round_events(ctx, Round.evening, DAY1, since, run_day=DAY1)
    finally:
        ctx.close()
    change = next(e for e in events if e.name == "signal-changed")
    assert change.facts["signal"] == served["signal"]
    assert change.facts["previous"] == 1 - int(served["signal"])
    assert SECRET not in caplog.text + result.stdout + result.stderr


def test_a_failed_run_notifies_the_step_and_the_error(
    env: Settings, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAIEX_TWSE_URL", "http://127.0.0.1:1/rwd")
    monkeypatch.setenv("TAIEX_NOTIFY_URLS", collector.url)
    result = invoke("--as-of", "2024-12-31", day=dt.date(2024, 12, 31))
    assert result.exit_code != 0
    assert collector.titles() == ["taiex evening: failed at data"]
    assert collector.received[0]["message"].startswith("data: ")


def test_a_champion_set_by_hand_is_notified(
    server: TwseServer, env: Settings, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("--as-of", str(DAY1), day=DAY1).exit_code == 0
    assert runner.invoke(app, ["train", "classifier"]).exit_code == 0  # classifier-v2
    monkeypatch.setenv("TAIEX_NOTIFY_URLS", collector.url)
    assert runner.invoke(app, ["models", "promote", "classifier-v2"]).exit_code == 0
    assert runner.invoke(app, ["models", "rollback", "classifier"]).exit_code == 0
    assert collector.titles() == [
        "taiex: classifier classifier-v2 promoted by hand",
        "taiex: classifier rolled back to classifier-v1 by hand",
    ]
    assert "classifier-v1 is the classifier champion" in collector.received[1]["message"]
