"""The pre-open round (issue 21) attacked: settings changed under it, odd days, damaged state.
Each test failed before the fix it names."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest

from taiex.calendar import TAIPEI
from taiex.errors import ArtifactError, InputError
from taiex.overnight import night_moves_frame
from taiex.preopen_run import _session_before, round_for

D = dt.date
DATA = Path(__file__).parent / "data"
SYMBOLS = ("^GSPC", "^IXIC", "^SOX", "TSM")


def us_closes() -> dict[str, dict[dt.date, float]]:
    frame = pd.read_csv(DATA / "us_closes.csv", parse_dates=["date"])
    frame = frame[frame["date"] >= "2024-11-01"]
    closes: dict[str, dict[dt.date, float]] = {}
    for row in frame.itertuples(index=False):
        closes.setdefault(str(row.symbol), {})[row.date.date()] = float(row.close)
    return closes


def test_a_symbol_without_closes_blanks_only_its_own_moves() -> None:
    # TAIEX_OVERNIGHT_SYMBOLS gains ^DJI, never loaded: the four symbols the models were trained
    # on keep their moves. Before, one missing close blanked every symbol of the day, and the
    # pre-open monitoring measured (and stored, for good) its champions on the quiet nights only.
    closes = us_closes()
    days = [D(2024, 12, 16), D(2024, 12, 17), D(2024, 12, 18), D(2024, 12, 19)]
    frame = night_moves_frame(days, closes, (*SYMBOLS, "^DJI"))
    assert frame["^DJI"].iloc[:-1].isna().all()
    for symbol in SYMBOLS:
        moves = frame[symbol].iloc[:-1]
        assert moves.notna().all(), symbol
    expected = math.log(closes["^SOX"][D(2024, 12, 17)] / closes["^SOX"][D(2024, 12, 16)])
    assert frame["^SOX"].iloc[1] == expected


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        # Before, a day after today reached the calendar ("2029-12-31 is outside the XTAI
        # calendar … remove the day with `taiex delete --from 2029-12-31`"), as did TWSE's first
        # days ("1998-12-21 is outside …"), which no stored day explains.
        (D(2030, 1, 1), "--as-of 2030-01-01 is after today in Taipei (2024-12-31)"),
        (D(1999, 1, 5), "--as-of 1999-01-05: the first pre-open round is for the session after"),
        (D(1998, 6, 1), "--as-of 1998-06-01 is before 1999-01-05"),
    ],
)
def test_an_impossible_as_of_is_named(as_of: dt.date, message: str) -> None:
    now = dt.datetime(2024, 12, 31, 12, tzinfo=TAIPEI)
    with pytest.raises(InputError) as caught:
        round_for(as_of, dt.time(7, 30), now)
    assert str(caught.value).startswith(message)
    assert "taiex delete" not in str(caught.value)


def test_the_round_after_twse_first_day_has_a_session_before_it() -> None:
    assert round_for(D(1999, 1, 6), dt.time(7, 30)).session == D(1999, 1, 6)
    assert _session_before(D(1999, 1, 6)) == D(1999, 1, 5)


def test_a_champion_that_does_not_load_leaves_the_evening_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The only preopen-forecaster's artifact is damaged (no former one to stand in). Before, the
    # round stopped with `error: no usable preopen-forecaster model …` every day, its monitoring
    # (which replaces an unloadable champion) never reached; now the evening's answer stands,
    # saying why, and the monitoring runs.
    import taiex.preopen_run as preopen_run
    from taiex.kinds import KINDS, PREOPEN_KINDS
    from taiex.overnight import Night, NightsOfHistory

    history = pd.DataFrame({"date": pd.to_datetime(["2024-12-26"]), "close": [23000.0]})
    night = Night(D(2024, 12, 26), dt.datetime(2024, 12, 27, 7, 30, tzinfo=TAIPEI), None, None, ())
    monkeypatch.setattr(
        preopen_run, "nights_of_history", lambda ctx, h: NightsOfHistory(history, night, None)
    )

    def serve(ctx: object, name: str, day: dt.date) -> dict[str, object]:
        if name == "preopen-forecaster":
            raise ArtifactError("no usable preopen-forecaster model: preopen-forecaster-v1: …")
        return {"version": f"{name}-v1"}

    monitored: list[str] = []

    def monitor(ctx: object, name: str, day: dt.date) -> dict[str, object]:
        monitored.append(name)
        return {"challenger": None}

    monkeypatch.setattr(preopen_run, "serve", serve)
    monkeypatch.setattr(preopen_run, "monitor", monitor)

    class Ctx:
        def history(self, day: dt.date | None = None) -> pd.DataFrame:
            return history

    answer = preopen_run.answer_round(Ctx(), D(2024, 12, 27), D(2024, 12, 26))  # type: ignore[arg-type]
    assert answer.fallback is not None
    assert answer.fallback.startswith("the pre-open round cannot serve: no usable preopen-forec")
    assert set(answer.served) == {spec.name for spec in KINDS}
    assert monitored == [spec.name for spec in PREOPEN_KINDS]


def test_a_source_whose_answer_is_refused_leaves_what_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TAIEX_OVERNIGHT_SOURCE=csv:FEED, and the feed holds a bad row (or is not there at 07:30).
    # Before, the round stopped with `error: FEED: line 2: …` even with every close it needs
    # stored, where a feed that could not be reached falls back (or serves); now both say why
    # and go on. A setting that names no source stays an error.
    from types import SimpleNamespace

    import taiex.preopen_run as preopen_run
    from taiex.settings import Settings

    feed = tmp_path / "feed.csv"
    feed.write_text("date,symbol,close\n2024-12-30,^GSPC,abc\n")
    ctx = SimpleNamespace(store=None, settings=Settings(overnight_source=f"csv:{feed}"))
    refused = f"{feed}: line 2: close 'abc'"
    monkeypatch.setattr(
        "taiex.overnight_load.update_overnight",
        lambda *args: (_ for _ in ()).throw(InputError(f"{refused} is not a decimal number")),
    )
    issued = dt.datetime(2024, 12, 31, 7, 30, tzinfo=TAIPEI)
    update = preopen_run._overnight(ctx, issued)  # type: ignore[arg-type]
    assert update["error"] is not None and update["error"].startswith(refused)
    assert (update["inserted"], update["updated"]) == (0, 0)
    ctx.settings = Settings(overnight_source="none")
    with pytest.raises(InputError, match="TAIEX_OVERNIGHT_SOURCE=none: the pre-open round is off"):
        preopen_run._overnight(ctx, issued)  # type: ignore[arg-type]


def test_a_pre_open_kind_refuses_an_explicit_evening_backtest(home: Path, tmp_path: Path) -> None:
    """`--round` of a backtest picks the round an evening kind is tested in; a pre-open kind has
    only its own, and `--round evening` for it is refused in one line, not run silently as the
    pre-open test."""
    from typer.testing import CliRunner

    from taiex.cli import app

    home.mkdir(parents=True)
    args = ["backtest", "preopen-forecaster", "--train-until", "2024-06-28"]
    args += ["--from", "2024-07-01", "--out", str(tmp_path / "bt.csv"), "--round", "evening"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: preopen-forecaster is a kind of the pre-open round: drop --round evening\n"
    )
    assert not (tmp_path / "bt.csv").exists()


def test_a_missing_night_column_says_how_to_recover() -> None:
    from taiex.errors import DataError
    from taiex.overnight import nights_of

    history = pd.DataFrame({"date": pd.to_datetime(["2024-12-30"]), "close": [1.0]})
    with pytest.raises(DataError, match="train the pre-open models again"):
        nights_of(history, ["TSM"])
