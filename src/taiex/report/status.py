"""The report's facts as plain (label, value) text rows, for ``taiex status`` and the page."""

from __future__ import annotations

from taiex.etl import DataStatus
from taiex.kinds import KINDS
from taiex.report.facts import (
    RUN,
    ChampionFacts,
    ForecastFacts,
    ReportFacts,
    SignalFacts,
    taipei,
)
from taiex.store import LoadRecord

# ---------------------------------------------------------------- the terminal


def status_rows(facts: ReportFacts) -> list[tuple[str, str]]:
    """The report's facts as (label, value) rows for ``taiex status`` (plain text, no markup)."""
    rows = [
        ("last trading day stored", _stored_text(facts)),
        ("last load", load_text(facts.data.last_load)),
        ("freshness", freshness_text(facts)),
        ("US closes (pre-open)", overnight_text(facts)),
        ("pre-open round", preopen_text(facts)),
        ("forecast 開盤 (open)", _forecast_text(facts.forecast)),
        ("entry signal", _signal_text(facts.signal)),
    ]
    for spec in KINDS:
        champion = facts.champion(spec.name)
        name = f"{spec.title} champion"
        rows.append((name, _champion_text(champion) if champion else f"none: run `{RUN}`"))
        if champion:
            rows.append(("  reading", champion.reading))
    rows.append(("next step", " ".join(facts.todo) or "nothing to do: data and models are fresh"))
    return rows


def _stored_text(facts: ReportFacts) -> str:
    data = facts.data
    if data.last_date is None:
        return f"none: run `{RUN}`"
    return f"{data.last_date} ({data.rows:,} days since {data.first_date})"


def load_text(load: LoadRecord | None) -> str:
    """The last load of the index's days: a run's months summed (a first load of thousands of
    days ends with a month that adds none), one month, or a file or a delete."""
    if load is None:
        return "never"
    when = f"{load.loaded_at:%Y-%m-%d %H:%M} UTC ({taipei(load.loaded_at):%H:%M} Taipei)"
    what = f"{load.inserted:,} new, {load.updated:,} revised"
    if load.months > 1:
        span = f"{load.months:,} months, {load.first_month} … {load.month}"
        return f"{when} from {load.source}: {what} ({span})"
    if load.month:
        return f"{when} from {load.source}: {what} (the month {load.month})"
    return f"{when} from {load.source}: {what}"


def gaps_text(data: DataStatus) -> str:
    """The stored days against the XTAI calendar: sessions missing, days it does not list."""
    extra, suspect = len(data.extra_days), len(data.suspect_days)
    text = (
        f"{len(data.missing_sessions):,} session(s) not stored; "
        f"{extra:,} stored day(s) the calendar lacks"
    )
    if not extra:
        return text
    known = f"{extra - suspect:,} known TWSE Saturday session(s)"
    if not suspect:
        return f"{text} ({known})"
    return f"{text} ({known}, {suspect:,} suspect: remove with `taiex delete --from DAY`)"


def freshness_text(facts: ReportFacts) -> str:
    if facts.data.last_date is None:
        return "no data"
    behind = facts.sessions_behind
    if not behind:
        return f"up to date as of {taipei(facts.generated_at):%Y-%m-%d %H:%M} Taipei"
    return f"{len(behind)} trading day(s) behind (missing {behind[0]} … {behind[-1]})"


def overnight_text(facts: ReportFacts) -> str:
    """Each symbol's last stored US close, and whether New York has closed a session since."""
    symbols = facts.overnight
    if not symbols:
        return "off (TAIEX_OVERNIGHT_SOURCE=none)"
    if all(s.last is None for s in symbols):
        return "none stored: run `taiex overnight update`"
    stale = [s for s in symbols if not s.fresh]
    if not stale:
        last = min(s.last for s in symbols if s.last is not None)
        return f"{', '.join(s.symbol for s in symbols)} to {last}: fresh"
    expected = stale[0].expected
    behind = ", ".join(f"{s.symbol} {s.last or 'none'}" for s in stale)
    return f"stale: {behind}; New York has closed up to {expected} (`taiex overnight update`)"


def preopen_text(facts: ReportFacts) -> str:
    """Whether the pre-open round served for the latest data, and what it changed."""
    if facts.preopen is None:
        return "off (TAIEX_OVERNIGHT_SOURCE=none)" if not facts.overnight else "no data yet"
    return facts.preopen.summary


def _forecast_text(forecast: ForecastFacts | None) -> str:
    if forecast is None or not forecast.rows:
        return f"none yet: run `{RUN}`"
    first, last = forecast.rows[0], forecast.rows[-1]
    return (
        f"{first.date} {first.forecast:,.0f} (80 %: {first.lower_80:,.0f}–{first.upper_80:,.0f})"
        f" … {last.date} {last.forecast:,.0f}; naive {first.naive:,.0f}; "
        f"{forecast.model_version} from {forecast.origin_date}"
    )


def _signal_text(signal: SignalFacts | None) -> str:
    if signal is None:
        return f"none yet: run `{RUN}`"
    return (
        f"{signal.date}: {signal.verdict} {signal.meaning}, P = {signal.probability:.2f} "
        f"(threshold {signal.threshold:.2f}), {signal.model_version} on {signal.based_on}"
    )


def _champion_text(champion: ChampionFacts) -> str:
    family = f" ({champion.family})" if champion.family else ""
    trained = f"{champion.version}{family}, trained {champion.train_start} … {champion.train_end}"
    evaluation = champion.evaluation
    if evaluation is None:
        return f"{trained}; not monitored yet"
    return (
        f"{trained}; {champion.metric_name} {champion.value_text(evaluation.metric)} vs "
        f"{champion.baseline_name} {champion.value_text(evaluation.baseline)} over "
        f"{evaluation.n} {champion.unit} (to {evaluation.data_date})"
    )
