"""The pre-open forecaster as the loop runs it (the kind ``preopen-forecaster``): one history
frame in, an artifact out, like every kind's model.

:class:`~taiex.models.preopen.PreopenForecaster` takes the TAIEX history and the night's moves
apart; here both come in one frame, the history with its nights' moves as columns
(:func:`taiex.overnight.with_nights`: ``night:^GSPC`` …, the night after each day, NaN where it
is not known). The symbols are the frame's, in its order: a model trained on a set of symbols
forecasts only from a frame that holds them.

A forecast from an origin whose night is not known cannot be made: :meth:`PreopenModel.predict`
refuses it (the round then falls back to the evening forecast), and
:meth:`PreopenModel.predict_origins` leaves such origins out, so that a monitoring window scores
the model and naive on the same pairs, those the round could serve.

The artifact's payload is the forecaster's state as JSON: plain numbers, nothing executable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from taiex.errors import ArtifactError, DataError, InputError, NotFittedError
from taiex.frames import FORECAST_VALUES, check_history, target_dates, to_date
from taiex.models import artifact
from taiex.models.preopen import PreopenConfig, PreopenForecaster
from taiex.overnight import night_symbols, nights_of

if TYPE_CHECKING:
    from taiex.models.backtest import LSTMBacktest

__all__ = ["PreopenModel", "PreopenModelConfig"]

PRICE_COLUMNS = ["date", "open", "high", "low", "close"]
_DEFAULTS = PreopenConfig()


@dataclass(frozen=True)
class PreopenModelConfig:
    """The config file's ``[preopen_forecaster]`` keys (:class:`PreopenConfig`'s, but the
    symbols, which come from ``TAIEX_OVERNIGHT_SYMBOLS`` through the history's columns)."""

    half_life_years: float = _DEFAULTS.half_life_years
    band_pool: int = _DEFAULTS.band_pool
    band_folds: int = _DEFAULTS.band_folds
    min_rows: int = _DEFAULTS.min_rows
    horizons: int = _DEFAULTS.horizons
    # Days of history an origin needs before it: the gap level's and the band scale's memory
    # start at the first stored day, so any origin may be forecast.
    window: ClassVar[int] = 1

    def __post_init__(self) -> None:
        try:
            self.forecaster_config(_DEFAULTS.symbols)
        except ValueError as exc:
            raise InputError(str(exc)) from exc

    def forecaster_config(self, symbols: Sequence[str]) -> PreopenConfig:
        return PreopenConfig(symbols=tuple(symbols), **dataclasses.asdict(self))

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Self:
        return cls(**values)  # type: ignore[arg-type]  # checked by the kind spec's types


class PreopenModel:
    """The pre-open round's forecaster of the next 5 opens, read from one history frame."""

    kind: ClassVar[str] = "preopen-forecaster"

    def __init__(self, config: PreopenModelConfig | None = None) -> None:
        self.config = config or PreopenModelConfig()

    # ---------------------------------------------------------------- fit and forecast

    def fit(self, history: pd.DataFrame) -> Self:
        """Fit on every day of ``history`` whose night and targets are known."""
        symbols = night_symbols(history)
        if not symbols:
            raise DataError(
                "the pre-open forecaster reads the night's moves, and this history holds none "
                "(taiex.overnight.with_nights)"
            )
        forecaster = PreopenForecaster(self.config.forecaster_config(symbols))
        self.forecaster_ = forecaster.fit(_prices(history), nights_of(history, symbols))
        return self

    @property
    def train_start_(self) -> dt.date:
        return self._fitted().train_start_

    @property
    def train_end_(self) -> dt.date:
        return self._fitted().train_end_

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._fitted().config.symbols

    def predict(self, history: pd.DataFrame) -> pd.DataFrame:
        """The next sessions' opens from the last day of ``history`` and its night (columns
        ``horizon, date, forecast, lower_80 … upper_95, naive``); DataError when that night is
        not known."""
        forecaster = self._fitted()
        moves = nights_of(history, self.symbols)
        last = moves.iloc[-1]
        night = {symbol: float(last[symbol]) for symbol in self.symbols}
        if not np.isfinite(list(night.values())).all():
            day = to_date(last["date"])
            raise DataError(f"the night after {day} is not known: no pre-open forecast from it")
        prices = _prices(history)
        frame = forecaster.predict(prices, night)
        checked = check_history(prices, min_rows=1, purpose="a pre-open forecast")
        origin = np.array([len(checked) - 1], dtype=np.int64)
        frame.insert(1, "date", target_dates(checked, origin, len(frame)).ravel())
        return frame

    def predict_origins(
        self, history: pd.DataFrame, origins: Sequence[dt.date] | None = None
    ) -> pd.DataFrame:
        """Forecasts from many days of ``history`` (default: every day whose night is known),
        each from the rows up to it; a day whose night is not known is left out. Columns
        ``origin_date, horizon, target_date``, then the forecast's."""
        forecaster = self._fitted()
        moves = nights_of(history, self.symbols)
        known = moves.set_index("date")[list(self.symbols)].notna().all(axis=1)
        days = known.index[known.to_numpy()]
        if origins is not None:
            wanted = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(origins), dtype=object)))
            days = wanted[wanted.isin(days)]
        prices = _prices(history)
        if len(days) == 0:
            return pd.DataFrame(columns=["origin_date", "horizon", "target_date", *FORECAST_VALUES])
        rows = forecaster.predict_origins(prices, moves, [d.date() for d in days])
        checked = check_history(prices, min_rows=1, purpose="a pre-open forecast")
        index = np.searchsorted(checked.dates, rows["origin_date"].to_numpy("datetime64[ns]"))
        horizons = forecaster.config.horizons
        rows.insert(2, "target_date", target_dates(checked, index[::horizons], horizons).ravel())
        return rows

    # ---------------------------------------------------------------- artifact

    def _fitted(self) -> PreopenForecaster:
        if not hasattr(self, "forecaster_"):
            raise NotFittedError("this PreopenModel is not fitted: call fit() or from_bytes()")
        forecaster: PreopenForecaster = self.forecaster_
        return forecaster

    def _description(self) -> dict[str, object]:
        forecaster = self._fitted()
        return {
            "config": self.config.to_dict(),
            "symbols": list(self.symbols),
            "train_start": forecaster.train_start_.isoformat(),
            "train_end": forecaster.train_end_.isoformat(),
            "rows": forecaster.n_rows_,
        }

    def metadata(self) -> dict[str, object]:
        """JSON-able description: kind, format, library versions, config, symbols, training
        range and the origins fitted at h1."""
        return {
            "kind": self.kind,
            "format_version": artifact.FORMAT_VERSION,
            "libraries": {"numpy": np.__version__},
            **self._description(),
        }

    def to_bytes(self) -> bytes:
        """The artifact (:mod:`taiex.models.artifact`): the description, and the state as JSON."""
        state = json.dumps(self._fitted().state(), sort_keys=True, allow_nan=False)
        header: artifact.Header = {
            "libraries": {"numpy": np.__version__},
            "metadata": self._description(),
        }
        return artifact.pack(self.kind, header, state.encode("utf-8"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """The model of :meth:`to_bytes`' artifact; ArtifactError when it is not one intact."""
        header, payload = artifact.unpack(data, cls.kind)
        meta: dict[str, Any] = header["metadata"]
        try:
            model = cls(PreopenModelConfig.from_dict(meta["config"]))
            state = json.loads(payload.decode("utf-8"))
            model.forecaster_ = PreopenForecaster.from_state(state)
        except (KeyError, TypeError, ValueError, InputError, DataError) as exc:
            # The checksum held, so the writer itself produced what this version cannot read.
            raise ArtifactError(f"{cls.kind} artifact is incomplete or invalid: {exc!r}") from exc
        return model


def _prices(history: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PRICE_COLUMNS if c not in history.columns]
    if missing:
        raise DataError(f"the history lacks column(s) {', '.join(missing)}")
    return history[PRICE_COLUMNS]


def backtest(
    history: pd.DataFrame,
    *,
    train_until: dt.date,
    start: dt.date,
    end: dt.date | None,
    config: PreopenModelConfig,
) -> LSTMBacktest:
    """The walk-forward test of :func:`taiex.models.backtest.backtest_preopen`, from a history
    that carries its nights (the kind's backtest)."""
    from taiex.models.backtest import backtest_preopen  # torch, for the evening's: not to serve

    symbols = night_symbols(history)
    return backtest_preopen(
        _prices(history),
        nights_of(history, symbols),
        train_until=train_until,
        start=start,
        end=end,
        config=config.forecaster_config(symbols),
    )
