"""The plots: every one renders from real-looking, empty and NaN-holding data, atomically."""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from taiex import plots
from taiex.features import entry_labels, trivial_score
from taiex.files import write_atomic
from taiex.kinds.classifier import CLASSIFIER
from taiex.kinds.lstm import LSTM
from taiex.models.registry import ModelVersion
from taiex.report.page import metric_panel
from tests.series import synthetic_history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def history_plot(
    lstm: pd.DataFrame | None,
    auc: pd.DataFrame | None,
    versions: list[ModelVersion],
    path: Path,
) -> Path:
    """The metric history of both kinds, with the default thresholds."""
    panels = [metric_panel(LSTM, lstm, 100.0), metric_panel(CLASSIFIER, auc, 0.8)]
    return plots.metric_history_plot(panels, versions, path)


# ---------------------------------------------------------------- data the plots get


def forecast_frame(last: pd.Series) -> pd.DataFrame:
    dates = pd.bdate_range(last["date"] + pd.Timedelta(days=1), periods=5)
    level = last["close"] * np.array([1.001, 1.002, 1.003, 1.004, 1.005])
    width = last["close"] * 0.01 * np.sqrt(np.arange(1, 6))
    return pd.DataFrame(
        {
            "horizon": range(1, 6),
            "date": dates,
            "forecast": level,
            "lower_80": level - width,
            "upper_80": level + width,
            "lower_95": level - 1.6 * width,
            "upper_95": level + 1.6 * width,
            "naive": last["close"],
        }
    )


def pair_rows(history: pd.DataFrame, error: float = 0.004) -> pd.DataFrame:
    """Forecasts from every origin of the last 40 days, the actual open where it is known."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(len(history) - 40, len(history)):
        origin = history.iloc[i]
        for h in range(1, 6):
            target = history.iloc[i + h] if i + h < len(history) else None
            forecast = origin["close"] * (1 + rng.normal(0, error))
            rows.append(
                {
                    "origin_date": origin["date"],
                    "horizon": h,
                    "target_date": target["date"] if target is not None else pd.NaT,
                    "forecast": forecast,
                    "lower_80": forecast * 0.99,
                    "upper_80": forecast * 1.01,
                    "lower_95": forecast * 0.985,
                    "upper_95": forecast * 1.015,
                    "naive": origin["close"],
                    "actual": target["open"] if target is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


def classifier_days(history: pd.DataFrame) -> pd.DataFrame:
    trivial = trivial_score(history)
    days = pd.DataFrame(
        {
            "date": history["date"],
            "label": entry_labels(history),
            "probability": 1 / (1 + np.exp(-60 * trivial)),
            "trivial": trivial,
        }
    )
    return days.tail(40).reset_index(drop=True)


def version(kind: str, number: int, created: dt.datetime, promoted: bool) -> ModelVersion:
    return ModelVersion(
        id=number,
        kind=kind,
        version=f"{kind}-v{number}",
        status="champion" if promoted else "challenger",
        train_start=dt.date(1999, 1, 5),
        train_end=created.date(),
        params={},
        metrics={},
        sha256="0" * 64,
        created_at=created,
        promoted_at=created + dt.timedelta(hours=1) if promoted else None,
        decision=None if promoted else "rejected",
    )


def evaluations(days: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    dates = pd.bdate_range("2024-10-01", periods=days)
    wave = np.sin(np.arange(days) / 4)
    lstm = pd.DataFrame(
        {
            "data_date": dates.date,
            "sMAPE": 0.9 + 0.1 * wave,
            "naive_sMAPE": 0.95 + 0.05 * wave,
            "model_version": ["lstm-v1"] * (days // 2) + ["lstm-v2"] * (days - days // 2),
        }
    )
    auc = pd.DataFrame(
        {
            "data_date": dates.date,
            "ROC_AUC": 0.9 + 0.05 * wave,
            "trivial_ROC_AUC": 0.92 + 0.02 * wave,
            "model_version": "classifier-v1",
        }
    )
    auc.loc[3, "ROC_AUC"] = np.nan  # undefined: one class in the window
    return lstm, auc


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return synthetic_history(n=120, start="2024-06-03", seed=11, level=22_000.0)


def pixels(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.shape[:2] == (560, 1000)
    return image


def share_of_colour(image: np.ndarray, colour: str) -> float:
    """Share of the pixels within a small distance of ``colour`` (hex)."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    distance = np.abs(image[..., :3] - rgb).max(axis=-1)
    return float((distance < 0.06).mean())


# ---------------------------------------------------------------- the forecast


def test_forecast_plot_draws_candles_bands_and_signal(series: pd.DataFrame, tmp_path: Path) -> None:
    signal = {
        "date": dt.date(2024, 11, 19),
        "based_on": dt.date(2024, 11, 18),
        "probability": 0.73,
        "signal": 1,
        "threshold": 0.5,
    }
    path = tmp_path / "plots" / "forecast.png"
    assert plots.forecast_plot(series, forecast_frame(series.iloc[-1]), signal, path) == path
    image = pixels(path)
    # Candles in both of Taiwan's colours, and the forecast line.
    assert share_of_colour(image, plots.UP) > 0.002
    assert share_of_colour(image, plots.DOWN) > 0.002
    assert share_of_colour(image, plots.FORECAST) > 0.0005


def test_signal_subtitle_names_the_verdict_probability_and_day() -> None:
    signal = {
        "date": dt.date(2024, 11, 19),
        "based_on": dt.date(2024, 11, 18),
        "probability": 0.2345,
        "signal": 0,
        "threshold": 0.5,
    }
    line = plots._signal_line(signal)
    assert "2024-11-19" in line and "2024-11-18" in line
    assert "0.23" in line and "do not enter" in line
    assert plots._signal_line(None) == "no entry signal yet"


def test_labels_fall_back_to_english_without_a_cjk_font(
    series: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "cjk_family", lambda: None)
    assert plots.zh("適合進場", "enter") == "enter"
    signal = {"date": "2024-11-19", "based_on": "2024-11-18", "probability": 0.7, "signal": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: there must be none
        plots.forecast_plot(series, None, signal, tmp_path / "f.png")


def test_chinese_labels_render_without_missing_glyphs(series: pd.DataFrame, tmp_path: Path) -> None:
    if plots.cjk_family() is None:
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    assert plots.zh("適合進場", "enter") == "適合進場 enter"
    signal = {"date": "2024-11-19", "based_on": "2024-11-18", "probability": 0.7, "signal": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.forecast_plot(series, forecast_frame(series.iloc[-1]), signal, tmp_path / "f.png")


# ---------------------------------------------------------------- evaluations and history


def test_pairs_subtitle_scores_model_naive_and_band() -> None:
    pairs = pd.DataFrame(
        {
            "forecast": [101.0, 99.0],
            "naive": [102.0, 98.0],
            "actual": [100.0, 100.0],
            "lower_80": [99.5, 98.0],
            "upper_80": [100.5, 99.5],
        }
    )
    text = plots._pairs_subtitle(pairs)
    # model: 2/201 and 2/199 -> 1.00 %; naive: 2*2/202 and 2*2/198 -> 2.00 %
    assert "over 2 pairs: model 1.00 % vs naive 2.00 % (50.0 % better)" in text
    assert "held 50 % of actuals" in text


def test_auc_subtitle_says_when_undefined() -> None:
    days = pd.DataFrame({"label": [1.0, 1.0, np.nan], "probability": [0.6, 0.7, 0.4]})
    days["trivial"] = 0.01
    assert plots._auc_subtitle(days) == "ROC AUC undefined: all 2 labelled days are of class 1"
    days["label"] = [0.0, 1.0, np.nan]
    assert plots._auc_subtitle(days).startswith("ROC AUC 1.000 vs trivial close/MA20 0.500")


def test_evaluation_and_history_plots_render(series: pd.DataFrame, tmp_path: Path) -> None:
    lstm, auc = evaluations()
    versions = [
        version("lstm", 1, dt.datetime(2024, 9, 30, 8), promoted=True),
        version("lstm", 2, dt.datetime(2024, 10, 21, 8), promoted=True),
        version("classifier", 1, dt.datetime(2024, 9, 30, 8), promoted=True),
        version("classifier", 2, dt.datetime(2024, 10, 28, 8), promoted=False),
    ]
    written = [
        plots.lstm_evaluation_plot(pair_rows(series), tmp_path / "e" / "lstm.png", "LSTM"),
        plots.backtest_plot(pair_rows(series), tmp_path / "backtest.png", "backtest"),
        plots.classifier_evaluation_plot(classifier_days(series), tmp_path / "c.png", "clf"),
        history_plot(lstm, auc, versions, tmp_path / "h.png"),
    ]
    for path in written:
        image = pixels(path)
        assert share_of_colour(image, "#ffffff") < 0.97  # something was drawn


# ---------------------------------------------------------------- empty and NaN inputs


def nan_rows(columns: list[str], dates: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame({c: [np.nan, np.nan] for c in columns})
    for column in dates:
        frame[column] = pd.NaT
    return frame


Render = Callable[[pd.DataFrame | None, Path], Path]
RENDERERS: dict[str, tuple[Render, list[str], tuple[str, ...]]] = {
    "forecast": (
        lambda data, path: plots.forecast_plot(data, data, None, path),
        ["open", "high", "low", "close", *plots.FORECAST_COLUMNS],
        ("date",),
    ),
    "lstm_evaluation": (
        lambda data, path: plots.lstm_evaluation_plot(data, path, "LSTM"),
        list(plots.PAIR_COLUMNS),
        ("origin_date", "target_date"),
    ),
    "backtest": (
        lambda data, path: plots.backtest_plot(data, path, "backtest"),
        list(plots.PAIR_COLUMNS),
        ("origin_date", "target_date"),
    ),
    "classifier_evaluation": (
        lambda data, path: plots.classifier_evaluation_plot(data, path, "clf"),
        ["date", "label", "probability", "trivial"],
        ("date",),
    ),
    "metric_history": (
        lambda data, path: history_plot(data, data, [], path),
        ["data_date", "sMAPE", "naive_sMAPE", "ROC_AUC", "trivial_ROC_AUC", "model_version"],
        ("data_date",),
    ),
}


@pytest.mark.parametrize("shape", ["none", "no rows", "nan rows"])
@pytest.mark.parametrize("name", list(RENDERERS))
def test_every_plot_renders_without_data(name: str, shape: str, tmp_path: Path) -> None:
    render, columns, dates = RENDERERS[name]
    data = {
        "none": None,
        "no rows": pd.DataFrame(columns=columns),
        "nan rows": nan_rows(columns, dates),
    }[shape]
    path = render(data, tmp_path / f"{name}.png")
    image = pixels(path)
    # The note's grey box is there; nearly everything else is white.
    assert share_of_colour(image, "#f4f4f4") > 0.001
    assert share_of_colour(image, "#ffffff") > 0.8


def test_history_without_forecast_notes_it(series: pd.DataFrame, tmp_path: Path) -> None:
    image = pixels(plots.forecast_plot(series, None, None, tmp_path / "f.png"))
    assert share_of_colour(image, plots.UP) > 0.002  # the candles are still drawn
    assert share_of_colour(image, "#f4f4f4") > 0.001  # with the note


def test_metric_history_with_versions_but_no_evaluations(tmp_path: Path) -> None:
    versions = [version("lstm", 1, dt.datetime(2024, 9, 30, 8), promoted=True)]
    path = history_plot(None, None, versions, tmp_path / "h.png")
    pixels(path)


# ---------------------------------------------------------------- atomic files


def test_a_plot_replaces_the_old_file_and_leaves_no_temporary(
    series: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "forecast.png"
    path.write_bytes(b"old")
    plots.forecast_plot(series, None, None, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.png"]
    assert path.stat().st_mode & 0o777 == 0o644  # readable by whoever serves or mails it


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "forecast.png"
    path.write_bytes(b"old")

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.png"]


def test_version_marks_far_from_the_evaluations_are_left_out() -> None:
    figure, (ax,) = plots._figure()
    dates = pd.Series(pd.to_datetime(["2024-10-01", "2024-10-31"]))
    near = version("lstm", 2, dt.datetime(2024, 10, 15, 8), promoted=True)
    far = version("lstm", 1, dt.datetime(2019, 1, 2, 8), promoted=True)
    plots._version_marks(ax, [far, near], dates)
    labels = sorted(
        line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")
    )
    assert labels == ["promoted", "trained"]
    # Two lines for the near version (trained, promoted), none for the far one.
    assert len([line for line in ax.get_lines() if line.get_label().startswith("_")]) == 2
    del figure
