"""The live track record (issue 23): what the daily loop served since its first served day, read
from the database, beside what happened.

- **Forecasts**: every served forecast of each round (the ``forecasts`` table's ``round``) beside
  the actual open of its target day, and the sMAPE of the served forecast over naive's (the last
  close; both as docs/design.md, "Definitions", and :mod:`taiex.metrics` define them), pooled over
  every horizon whose target falls in the last :data:`ROLLING_TARGETS` scored target days (fewer
  at first), and since the first served day.
- **Signals**: every served entry signal of each round beside its label (the close of the session
  after its day above that day's MA20, or not).
- **Strategy**: each round's signal followed as ``taiex simulate`` follows it (the evening's from
  close to close, the pre-open round's from open to open), beside buy-and-hold and the trivial
  rule, with the simulation's costs and code (:func:`taiex.simulation.summary.strategy_returns`).

When a round stored more than one version's answer from one day (a rerun after a promotion), the
one stored last is what was served: it is what the report showed; but an answer stored from a
day before its model's training end (a rerun with ``--as-of`` after a later model was promoted)
saw its targets and is no forecast: the figures leave it out. A version never champion served
nothing (the loop stores champions' answers only): its rows are left out. A target day whose
open is not stored yet is *pending*; one on or before the last stored day that is not stored (a
session closed at short notice) has *no session*. Neither is dropped, neither is scored.

Nothing here loads a model or draws: :func:`chart_data` gives the chart's data as plain frames.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from taiex.features import entry_labels, moving_average_20, trivial_score
from taiex.kinds.evaluation import as_date
from taiex.metrics import smape_terms
from taiex.report.facts import DO_NOT_ENTER, ENTER
from taiex.rounds import Round
from taiex.simulation.summary import STRATEGIES, Costs, returns_figures, strategy_returns
from taiex.store import Store

log = logging.getLogger(__name__)

# Scored target days in the rolling ratio: about a month of sessions.
ROLLING_TARGETS = 20
# Calendar days read before the first served day: MA20 needs 19 sessions before it (Lunar New
# Year closes TWSE for about a week).
LOOKBACK_DAYS = 60

Status = Literal["known", "pending", "no session", "no MA20"]
KNOWN: Status = "known"
PENDING: Status = "pending"  # the day that decides is not stored yet
NO_SESSION: Status = "no session"  # a target on or before the last stored day, not stored
NO_MA20: Status = "no MA20"  # a signal's day with fewer than 20 stored days up to it
STRATEGY_LABELS = {
    "signal": "signal strategy",
    "trivial_rule": "trivial rule (close > MA20)",
    "buy_and_hold": "buy-and-hold",
}
HELD = {
    Round.evening.value: "from the close of the signal's day to the next close",
    Round.pre_open.value: "from the open of the session the signal is for to the next open",
}


# ---------------------------------------------------------------- the record


@dataclass(frozen=True)
class ServedForecast:
    """One served forecast pair: what a round served from ``origin`` for ``target``, and the
    actual open (None while pending, or when the target had no session)."""

    round: str
    model_version: str
    origin: dt.date
    horizon: int
    target: dt.date
    forecast: float
    lower_80: float
    upper_80: float
    naive: float
    actual: float | None
    status: Status

    @property
    def smape(self) -> float | None:
        """This pair's sMAPE term in percent (its share of the mean)."""
        return _term(self.forecast, self.actual)

    @property
    def naive_smape(self) -> float | None:
        return _term(self.naive, self.actual)

    @property
    def error(self) -> float | None:
        """Forecast minus actual, in index points."""
        return None if self.actual is None else self.forecast - self.actual

    @property
    def inside_80(self) -> bool | None:
        if self.actual is None:
            return None
        return self.lower_80 <= self.actual <= self.upper_80


def _term(value: float, actual: float | None) -> float | None:
    return None if actual is None else float(smape_terms([value], [actual])[0])


@dataclass(frozen=True)
class Ratio:
    """The sMAPE of a round's served forecasts and of naive over the pairs whose target falls
    in ``first`` … ``last`` (``days`` scored target days)."""

    first: dt.date
    last: dt.date
    days: int
    pairs: int
    smape: float
    naive_smape: float

    @property
    def ratio(self) -> float | None:
        """Below 1: the served forecasts beat naive."""
        return self.smape / self.naive_smape if self.naive_smape > 0 else None


@dataclass(frozen=True)
class RoundForecasts:
    """One round's served forecasts, every horizon, by origin and horizon."""

    round: str
    served: tuple[ServedForecast, ...]
    rolling: tuple[Ratio, ...]  # one per scored target day, in order
    overall: Ratio | None  # every scored pair since the first served day

    @property
    def origins(self) -> int:
        return len({f.origin for f in self.served})

    @property
    def pending(self) -> int:
        return sum(f.status == PENDING for f in self.served)


@dataclass(frozen=True)
class ServedSignal:
    """One served entry signal for the session after ``based_on``, and what happened: the
    close of that session against the MA20 of ``based_on`` (``label``: 1 above, 0 not)."""

    round: str
    model_version: str
    based_on: dt.date
    target: dt.date
    probability: float
    signal: int
    threshold: float
    close: float | None  # of the session after ``based_on``
    ma20: float | None  # of ``based_on``
    label: int | None
    status: Status
    # The stored session after ``based_on``, whose close decides: ``target`` but when TWSE
    # closed that day at short notice (a typhoon); None while not stored.
    session: dt.date | None = None

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.signal == self.label

    @property
    def verdict(self) -> str:
        return ENTER if self.signal else DO_NOT_ENTER


@dataclass(frozen=True)
class StrategyLine:
    """One strategy's figures since the first served signal (``taiex simulate``'s)."""

    name: str  # signal, trivial_rule, buy_and_hold
    label: str
    total_return: float
    max_drawdown: float
    switches: int
    days_in_market: float


@dataclass(frozen=True)
class GrowthPoint:
    """Growth of 1 after costs, at the price of ``date``, by strategy name."""

    date: dt.date
    growth: Mapping[str, float]


@dataclass(frozen=True)
class RoundStrategy:
    """One round's signal followed as a strategy, beside buy-and-hold and the trivial rule."""

    round: str
    held: str  # from when to when a position is held
    days: int  # stored sessions after the first price, up to the last
    lines: tuple[StrategyLine, ...]
    growth: tuple[GrowthPoint, ...]

    def line(self, name: str) -> StrategyLine | None:
        return next((line for line in self.lines if line.name == name), None)


@dataclass(frozen=True)
class Session:
    """One target session of the page's table: each round's next-open forecast for it (h1)
    and the actual open, beside each round's rolling ratio as of that day."""

    date: dt.date
    actual: float | None
    status: Status
    naive: float | None  # the last close before it
    forecasts: Mapping[str, ServedForecast]
    ratios: Mapping[str, Ratio]


@dataclass(frozen=True)
class SignalDay:
    """Each round's signal for one session, and what happened."""

    date: dt.date
    based_on: dt.date
    signals: Mapping[str, ServedSignal]
    close: float | None
    ma20: float | None
    label: int | None
    status: Status


@dataclass(frozen=True)
class TrackRecord:
    """Everything served since ``first_served``, beside what happened, by round (evening first).
    ``first_served`` None: nothing was served yet (the page says so in one line)."""

    first_served: dt.date | None
    last_served: dt.date | None
    last_stored: dt.date | None
    costs: Costs
    rolling_targets: int
    forecasts: tuple[RoundForecasts, ...] = ()
    signals: tuple[ServedSignal, ...] = ()
    strategies: tuple[RoundStrategy, ...] = ()
    sessions: tuple[Session, ...] = ()  # by date
    signal_days: tuple[SignalDay, ...] = ()  # by date
    rounds: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.first_served is None


@dataclass(frozen=True)
class DayRecord:
    """What was served from the data to ``day`` (each round) and what happened
    (``taiex predict --day`` for a past day)."""

    day: dt.date
    forecasts: tuple[ServedForecast, ...]
    signals: tuple[ServedSignal, ...]
    first_served: dt.date | None
    last_served: dt.date | None

    @property
    def served(self) -> bool:
        return bool(self.forecasts or self.signals)

    @property
    def rounds(self) -> list[str]:
        return rounds_of(self.forecasts, self.signals)


def rounds_of(forecasts: Iterable[ServedForecast], signals: Iterable[ServedSignal]) -> list[str]:
    """The rounds that served any of ``forecasts`` or ``signals``, the evening first."""
    found = {f.round for f in forecasts} | {s.round for s in signals}
    return [r.value for r in Round if r.value in found]


# ---------------------------------------------------------------- reading the database


@dataclass(frozen=True)
class _Served:
    """What was served (one version per round and day) and the prices to judge it by."""

    forecasts: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    prices: _Prices | None
    last_stored: dt.date | None

    @property
    def days(self) -> list[dt.date]:
        return [as_date(r["origin_date"]) for r in self.forecasts] + [
            as_date(r["based_on"]) for r in self.signals
        ]


class _Prices:
    """The stored days around what was served, looked up by date."""

    def __init__(self, history: pd.DataFrame) -> None:
        dates = [d.date() for d in pd.to_datetime(history["date"])]
        self.open = dict(zip(dates, history["open"].astype(float), strict=True))
        self.close = dict(zip(dates, history["close"].astype(float), strict=True))
        self.ma20 = dict(zip(dates, moving_average_20(history["close"]), strict=True))
        self.label = dict(zip(dates, entry_labels(history), strict=True))
        self.trivial = dict(zip(dates, trivial_score(history), strict=True))
        self.after = dict(itertools.pairwise(dates))  # the next stored day
        self.dates = dates


def _read(store: Store, *, forecasts_only: bool = False) -> _Served:
    """What was served; ``forecasts_only``: but the answers of a model trained past their day
    (:func:`_unseen`), the one stored before them from that day being what was served."""
    versions = store.versions.all()
    never = {str(v["version"]) for v in versions if v["promoted_at"] is None}
    forecasts = _ever_champion(store.forecasts.every(), never)
    signals = _ever_champion(store.signals.every(), never)
    if forecasts_only:
        ends = {str(v["version"]): as_date(v["train_end"]) for v in versions}
        forecasts = _unseen(forecasts, "origin_date", ends)
        signals = _unseen(signals, "based_on", ends)
    forecasts = _finite(_last_stored(forecasts, "origin_date"), FORECAST_NUMBERS)
    signals = _finite(_last_stored(signals, "based_on"), SIGNAL_NUMBERS)
    last_stored = store.summary()["last_date"]
    days = _Served(forecasts, signals, None, last_stored).days
    if not days:
        return _Served([], [], None, last_stored)
    history = store.read_history(start=min(days) - dt.timedelta(days=LOOKBACK_DAYS))
    prices = _Prices(history) if len(history) else None
    return _Served(forecasts, signals, prices, last_stored)


def _ever_champion(rows: Sequence[dict[str, Any]], never: set[str]) -> list[dict[str, Any]]:
    """The rows but those of a version never champion: the loop serves champions only, so such a
    row (stored by hand, or by a tool) was never served, and the report's forecast never shows
    it either."""
    return [r for r in rows if str(r["model_version"]) not in never]


def _unseen(
    rows: Sequence[dict[str, Any]], day: str, ends: Mapping[str, dt.date]
) -> list[dict[str, Any]]:
    """The rows stored from a day on or after their model's training end. A rerun of an earlier
    day (``taiex run --as-of``) after a model trained on later data was promoted stores that
    model's answer: it saw the targets, so it is no forecast. The loop never serves one live (a
    model given the data to D serves from D on)."""
    kept = [r for r in rows if as_date(r[day]) >= ends.get(str(r["model_version"]), dt.date.min)]
    if len(kept) < len(rows):
        log.info(
            "%d rows from days their model trained past: not in the track record",
            len(rows) - len(kept),
        )
    return kept


def _last_stored(rows: Iterable[Mapping[str, Any]], day: str) -> list[dict[str, Any]]:
    """The rows of the version each round stored last from each day (``rows`` in the order
    stored)."""
    copies = [dict(row) for row in rows]
    served = {(str(r["round"]), as_date(r[day])): r["model_version"] for r in copies}
    return [r for r in copies if served[(str(r["round"]), as_date(r[day]))] == r["model_version"]]


FORECAST_NUMBERS = ("forecast", "lower_80", "upper_80", "naive")
SIGNAL_NUMBERS = ("probability", "threshold")


def _finite(rows: list[dict[str, Any]], numbers: Sequence[str]) -> list[dict[str, Any]]:
    """The rows whose ``numbers`` are all finite; each other one is named in a warning and left
    out (one NaN would make every ratio and growth after it NaN, and the JSON invalid)."""
    kept = []
    for row in rows:
        bad = [f"{name} {row[name]}" for name in numbers if not math.isfinite(float(row[name]))]
        if not bad:
            kept.append(row)
            continue
        day = row.get("origin_date", row.get("based_on"))
        horizon = f", h{row['horizon']}" if "horizon" in row else ""
        log.warning(
            "%s (%s) from %s%s: %s; left out of the track record",
            row["model_version"],
            row["round"],
            day,
            horizon,
            ", ".join(bad),
        )
    return kept


def _status(target: dt.date, known: bool, last_stored: dt.date | None) -> Status:
    if known:
        return KNOWN
    return PENDING if last_stored is None or target > last_stored else NO_SESSION


def _number(mapping: Mapping[dt.date, float], day: dt.date | None) -> float | None:
    value = mapping.get(day) if day is not None else None
    return None if value is None or math.isnan(value) else float(value)


def _forecast(row: Mapping[str, Any], served: _Served) -> ServedForecast:
    target = as_date(row["target_date"])
    actual = _number(served.prices.open, target) if served.prices else None
    return ServedForecast(
        round=str(row["round"]),
        model_version=str(row["model_version"]),
        origin=as_date(row["origin_date"]),
        horizon=int(row["horizon"]),
        target=target,
        forecast=float(row["forecast"]),
        lower_80=float(row["lower_80"]),
        upper_80=float(row["upper_80"]),
        naive=float(row["naive"]),
        actual=actual,
        status=_status(target, actual is not None, served.last_stored),
    )


def _signal(row: Mapping[str, Any], served: _Served) -> ServedSignal:
    based_on = as_date(row["based_on"])
    prices = served.prices
    label = _number(prices.label, based_on) if prices else None
    session = prices.after.get(based_on) if prices else None
    target = as_date(row["target_date"])
    return ServedSignal(
        round=str(row["round"]),
        model_version=str(row["model_version"]),
        based_on=based_on,
        target=target,
        probability=float(row["probability"]),
        signal=int(row["signal"]),
        threshold=float(row["threshold"]),
        close=_number(prices.close, session) if prices else None,
        ma20=_number(prices.ma20, based_on) if prices else None,
        label=None if label is None else int(label),
        status=KNOWN if label is not None else _signal_status(based_on, prices),
        session=session,
    )


def _signal_status(based_on: dt.date, prices: _Prices | None) -> Status:
    """Why a signal's label is not known: the session after its day is not stored yet, or
    its day has no MA20."""
    if prices is None or based_on not in prices.after:
        return PENDING
    return NO_MA20


# ---------------------------------------------------------------- the figures


def track_record(
    store: Store, *, costs: Costs | None = None, rolling_targets: int = ROLLING_TARGETS
) -> TrackRecord:
    """The track record since the first served day, from the database (but the answers of a
    model trained past their day: see :func:`_unseen`)."""
    costs = costs or Costs()
    served = _read(store, forecasts_only=True)
    if not served.days:
        return TrackRecord(None, None, served.last_stored, costs, rolling_targets)
    forecasts = sorted(
        (_forecast(r, served) for r in served.forecasts),
        key=lambda f: (f.origin, f.horizon, _order(f.round)),
    )
    signals = sorted(
        (_signal(r, served) for r in served.signals), key=lambda s: (s.based_on, _order(s.round))
    )
    rounds = rounds_of(forecasts, signals)
    by_round = [
        round_forecasts(name, [f for f in forecasts if f.round == name], rolling_targets)
        for name in rounds
    ]
    strategies = [
        round_strategy(name, [s for s in signals if s.round == name], served.prices, costs)
        for name in rounds
        if any(s.round == name for s in signals)
    ]
    return TrackRecord(
        first_served=min(served.days),
        last_served=max(served.days),
        last_stored=served.last_stored,
        costs=costs,
        rolling_targets=rolling_targets,
        forecasts=tuple(f for f in by_round if f.served),
        signals=tuple(signals),
        strategies=tuple(strategies),
        sessions=_sessions(by_round),
        signal_days=_signal_days(signals),
        rounds=tuple(rounds),
    )


def day_record(store: Store, day: dt.date) -> DayRecord:
    """What each round served from the data to ``day``, beside what happened."""
    served = _read(store)
    forecasts = [_forecast(r, served) for r in served.forecasts if as_date(r["origin_date"]) == day]
    signals = [_signal(r, served) for r in served.signals if as_date(r["based_on"]) == day]
    return DayRecord(
        day=day,
        forecasts=tuple(sorted(forecasts, key=lambda f: (_order(f.round), f.horizon))),
        signals=tuple(sorted(signals, key=lambda s: _order(s.round))),
        first_served=min(served.days, default=None),
        last_served=max(served.days, default=None),
    )


_ORDER = {r.value: i for i, r in enumerate(Round)}  # the evening first


def _order(round_name: str) -> int:
    return _ORDER[round_name]


def round_forecasts(
    name: str, served: Sequence[ServedForecast], rolling_targets: int
) -> RoundForecasts:
    """A round's served forecasts with their rolling and overall sMAPE beside naive's."""
    scored = [f for f in served if f.actual is not None]
    by_target: dict[dt.date, list[ServedForecast]] = {}
    for f in scored:
        by_target.setdefault(f.target, []).append(f)
    targets = sorted(by_target)
    windows = (targets[max(0, i - rolling_targets + 1) : i + 1] for i in range(len(targets)))
    rolling = tuple(_ratio([f for t in window for f in by_target[t]], window) for window in windows)
    overall = _ratio(scored, targets) if scored else None
    return RoundForecasts(name, tuple(served), rolling, overall)


def _ratio(pairs: Sequence[ServedForecast], targets: Sequence[dt.date]) -> Ratio:
    actual = [f.actual for f in pairs if f.actual is not None]  # every one: they are scored
    return Ratio(
        first=targets[0],
        last=targets[-1],
        days=len(targets),
        pairs=len(pairs),
        smape=float(smape_terms([f.forecast for f in pairs], actual).mean()),
        naive_smape=float(smape_terms([f.naive for f in pairs], actual).mean()),
    )


def round_strategy(
    name: str, signals: Sequence[ServedSignal], prices: _Prices | None, costs: Costs
) -> RoundStrategy:
    """A round's signals followed as ``taiex simulate`` follows them, with its costs."""
    frame, priced_on = _strategy_frame(name, signals, prices)
    returns = strategy_returns(frame, costs)
    figures = returns_figures(returns, costs)
    lines = tuple(
        StrategyLine(
            name=key,
            label=STRATEGY_LABELS[key],
            total_return=figures[key]["total_return"],
            max_drawdown=figures[key]["max_drawdown"],
            switches=figures[key]["switches"],
            days_in_market=figures[key]["days_in_market"],
        )
        for key in STRATEGIES
        if key in figures
    )
    if not lines:  # fewer than two signals with a known price: no return yet
        return RoundStrategy(name, HELD[name], 0, (), ())
    growth = {key: np.cumprod(1.0 + returns[key].to_numpy(float)) for key in STRATEGIES}
    first = frame.dropna(subset=["trade_price"])["date"].min().date()
    points = [GrowthPoint(priced_on[first], dict.fromkeys(STRATEGIES, 1.0))]
    points += [
        GrowthPoint(priced_on[day.date()], {key: float(growth[key][i]) for key in STRATEGIES})
        for i, day in enumerate(pd.to_datetime(returns["date"]))
    ]
    # The sessions from the first price to the last: more than the returns when the loop did
    # not serve on some days (the position before them is held across them).
    spanned = sum(points[0].date < day <= points[-1].date for day in prices.dates) if prices else 0
    return RoundStrategy(name, HELD[name], spanned, lines, tuple(points))


def _strategy_frame(
    name: str, signals: Sequence[ServedSignal], prices: _Prices | None
) -> tuple[pd.DataFrame, dict[dt.date, dt.date]]:
    """The signals as the simulation's ``signals.csv`` rows of the round ``name`` (``date``,
    ``signal``, ``trivial``, ``trade_price``), and the day of each row's trading price."""
    evening = name == Round.evening.value
    priced_on = {
        s.based_on: s.based_on if evening else (prices.after.get(s.based_on) if prices else None)
        for s in signals
    }
    price = {} if prices is None else prices.close if evening else prices.open
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime([s.based_on for s in signals]),
            "signal": [float(s.signal) for s in signals],
            "trivial": [_number(prices.trivial, s.based_on) if prices else None for s in signals],
            "trade_price": [_number(price, priced_on[s.based_on]) for s in signals],
        }
    ).astype({"trivial": float, "trade_price": float})
    return frame, {day: when for day, when in priced_on.items() if when is not None}


def _sessions(by_round: Sequence[RoundForecasts]) -> tuple[Session, ...]:
    """One row per next-open target (horizon 1 of any round), with each round's rolling ratio
    as of that day."""
    firsts: dict[dt.date, dict[str, ServedForecast]] = {}
    for part in by_round:
        for f in part.served:
            if f.horizon == 1:
                firsts.setdefault(f.target, {})[part.round] = f
    ratios = {part.round: {r.last: r for r in part.rolling} for part in by_round}
    rows = []
    for day in sorted(firsts):
        served = firsts[day]
        any_one = next(iter(served.values()))
        rows.append(
            Session(
                date=day,
                actual=any_one.actual,
                status=any_one.status,
                naive=any_one.naive,
                forecasts=served,
                ratios={r: ratios[r][day] for r in served if day in ratios[r]},
            )
        )
    return tuple(rows)


def _signal_days(signals: Sequence[ServedSignal]) -> tuple[SignalDay, ...]:
    days: dict[dt.date, dict[str, ServedSignal]] = {}
    for s in signals:
        days.setdefault(s.based_on, {})[s.round] = s
    rows = []
    for based_on in sorted(days):
        by_round = days[based_on]
        one = next(iter(by_round.values()))
        day = one.session or one.target  # the session whose close decides
        rows.append(SignalDay(day, based_on, by_round, one.close, one.ma20, one.label, one.status))
    return tuple(rows)


# ---------------------------------------------------------------- the chart's data


@dataclass(frozen=True)
class ChartData:
    """The track record's chart as plain frames, ready for any plotting library.

    ``opens``: ``date, series, value`` (series ``actual`` and each round's next-open forecast);
    ``ratios``: ``date, round, ratio`` (the rolling ratio to naive); ``growth``: ``date, round,
    strategy, growth`` (growth of 1 after costs)."""

    opens: pd.DataFrame
    ratios: pd.DataFrame
    growth: pd.DataFrame  # from 1 at the first signal's price
    rolling_targets: int


def chart_data(record: TrackRecord) -> ChartData:
    opens = [(s.date, "actual", s.actual) for s in record.sessions if s.actual is not None] + [
        (s.date, name, f.forecast) for s in record.sessions for name, f in s.forecasts.items()
    ]
    ratios = [
        (r.last, part.round, r.ratio)
        for part in record.forecasts
        for r in part.rolling
        if r.ratio is not None  # 0 is a ratio: every pair exact
    ]
    growth = [
        (point.date, part.round, name, value)
        for part in record.strategies
        for point in part.growth
        for name, value in point.growth.items()
    ]
    return ChartData(
        opens=_frame(opens, ("date", "series", "value")),
        ratios=_frame(ratios, ("date", "round", "ratio")),
        growth=_frame(growth, ("date", "round", "strategy", "growth")),
        rolling_targets=record.rolling_targets,
    )


def _frame(rows: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(columns))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.sort_values(["date", *columns[1:-1]]).reset_index(drop=True)
