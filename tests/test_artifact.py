"""The one artifact format: round trips, every refusal, and what older layouts get.

The format-1 fixtures under tests/fixtures/ are bytes written by main at b8277b0 (before the one
format), each model's ``to_bytes()``; no release wrote that format, and taiex refuses it in one
line (issue 20):

- ``lstm-format1.bin``: ``GapLevelForecaster(LSTMConfig(hidden_size=4, num_layers=1, max_epochs=2,
  patience=1, batch_size=64, ensemble=1)).fit(synthetic_history(340, seed=5))``
- ``classifier-format1.bin``: ``EntrySignalClassifier(ClassifierConfig(candidates=
  ("logistic_regression",), grids={"logistic_regression": {"C": [1.0]}}, min_train_days=100))
  .fit(synthetic_history(300, seed=5))``

``lstm-format2-gap500.bin`` is a model of the level of the last 500 overnight gaps (main at
6010683, before the span became 1,000): ``GapLevelForecaster(LSTMConfig(hidden_size=4, num_layers=1,
max_epochs=2, patience=1, batch_size=64, ensemble=1)).fit(synthetic_history(700, seed=5))``; its
expected forecasts were computed by that code on a history whose last 80 gaps turned negative,
in full precision, on another processor: they are compared within :mod:`tests.tolerance`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from taiex import __version__
from taiex.errors import ArtifactError
from taiex.frames import FORECAST_VALUES
from taiex.models import artifact
from taiex.models.classifier import EntrySignalClassifier
from taiex.models.lstm import GapLevelForecaster
from taiex.models.lstm_config import LSTMConfig
from tests.series import regime_history
from tests.tolerance import assert_close

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = {"libraries": {"numpy": "2.0"}, "metadata": {"trained": "2025-01-02", "score": 0.5}}
PAYLOAD = bytes(range(256)) * 3

GAP500_LSTM_PREDICT = [  # predict(_turned_gaps())[FORECAST_VALUES] at 6010683
    [14548.66359718982, 14474.556449973032, 14621.746465464921,
     14425.548205875917, 14658.134993914546, 14530.182195176883],
    [14548.66359718982, 14346.104350662556, 14773.793791939803,
     14231.616744234578, 14902.047972078039, 14530.182195176883],
    [14548.66359718982, 14277.552686904804, 14868.070344379894,
     14055.053564662636, 15054.874512626158, 14530.182195176883],
    [14548.66359718982, 14202.054957151711, 14948.532440238232,
     13924.20939999879, 15161.973637422174, 14530.182195176883],
    [14548.66359718982, 14143.162779908014, 15003.770879408643,
     13896.935870327523, 15231.797219369639, 14530.182195176883],
]  # fmt: skip


@pytest.fixture(scope="module")
def packed() -> bytes:
    return artifact.pack("lstm", HEADER, PAYLOAD)


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _with_prefix(data: bytes, **fields: int) -> bytes:
    """``data`` with some fields of its prefix replaced (version, header_size, payload_size)."""
    layout = struct.Struct(">12sHIQ32s")
    magic, version, header_size, payload_size, digest = layout.unpack_from(data)
    values = {"version": version, "header_size": header_size, "payload_size": payload_size}
    values.update(fields)
    prefix = layout.pack(
        magic, values["version"], values["header_size"], values["payload_size"], digest
    )
    return prefix + data[layout.size :]


def _rebuilt(header_text: bytes, payload: bytes) -> bytes:
    """A format-2 artifact around any header bytes, with a correct checksum."""
    digest = hashlib.sha256(header_text + payload).digest()
    prefix = struct.pack(">12sHIQ32s", artifact.MAGIC, 2, len(header_text), len(payload), digest)
    return prefix + header_text + payload


# ---------------------------------------------------------------- round trips


def test_unpack_returns_what_pack_was_given(packed: bytes) -> None:
    header, payload = artifact.unpack(packed, "lstm")
    assert payload == PAYLOAD
    assert header == {
        "kind": "lstm",
        "format_version": artifact.FORMAT_VERSION,
        "libraries": {"taiex": __version__, "numpy": "2.0"},
        "metadata": HEADER["metadata"],
    }
    assert packed.startswith(artifact.MAGIC) and packed.endswith(PAYLOAD)


def test_pack_is_deterministic(packed: bytes) -> None:
    assert artifact.pack("lstm", dict(reversed(list(HEADER.items()))), PAYLOAD) == packed


# ---------------------------------------------------------------- refusals


def test_wrong_kind(packed: bytes) -> None:
    with pytest.raises(ArtifactError, match="holds a lstm model, not the classifier model"):
        artifact.unpack(packed, "classifier")


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04" + bytes(80), b"TAIEX-MODEL"])
def test_bad_magic(data: bytes) -> None:
    with pytest.raises(ArtifactError, match="not a taiex model artifact"):
        artifact.unpack(data, "lstm")


def test_not_bytes() -> None:
    with pytest.raises(ArtifactError, match="is bytes, got str"):
        artifact.unpack("TAIEX-MODEL", "lstm")  # type: ignore[arg-type]


def test_newer_format(packed: bytes) -> None:
    with pytest.raises(ArtifactError, match=r"format version 3 is newer than .* format 2: upgrade"):
        artifact.unpack(_with_prefix(packed, version=3), "lstm")


def test_unknown_older_format(packed: bytes) -> None:
    with pytest.raises(ArtifactError, match="format version 1 is unknown"):
        artifact.unpack(_with_prefix(packed, version=1), "lstm")


@pytest.mark.parametrize(
    "offset",
    [26, 57, 58, 70, -1],
    ids=["digest", "digest-end", "header", "header-later", "payload"],
)
def test_checksum_mismatch(packed: bytes, offset: int) -> None:
    corrupt = bytearray(packed)
    corrupt[offset] ^= 0x20
    with pytest.raises(ArtifactError, match="fails its checksum"):
        artifact.unpack(bytes(corrupt), "lstm")


@pytest.mark.parametrize("keep", [0.99, 0.5, 30 / 1000])
def test_truncated(packed: bytes, keep: float) -> None:
    cut = packed[: int(len(packed) * keep)]
    with pytest.raises(ArtifactError, match="truncated"):
        artifact.unpack(cut, "lstm")


def test_lengths_that_do_not_add_up(packed: bytes) -> None:
    with pytest.raises(ArtifactError, match="longer than its prefix says"):
        artifact.unpack(packed + b"\0", "lstm")
    with pytest.raises(ArtifactError, match="truncated"):
        artifact.unpack(_with_prefix(packed, payload_size=len(PAYLOAD) + 1), "lstm")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"\xff\xfe", "header is not JSON"),
        (b"[1, 2]", "header is a JSON list, not an object"),
        (json.dumps({"kind": "lstm", "libraries": {}}).encode(), "header lacks 'metadata'"),
    ],
)
def test_a_bad_header_with_a_good_checksum(text: bytes, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        artifact.unpack(_rebuilt(text, PAYLOAD), "lstm")


def test_pack_refuses_a_header_that_is_not_json() -> None:
    with pytest.raises(ArtifactError, match="not plain JSON"):
        artifact.pack("lstm", {"metadata": {"score": float("nan")}}, PAYLOAD)


def _turned_gaps() -> pd.DataFrame:
    """700 days whose overnight gaps are +0.2 % but -0.2 % over the last 80."""
    return regime_history(700, gap_mean=np.where(np.arange(700) < 620, 0.002, -0.002), seed=5)


def test_a_model_of_500_gaps_forecasts_as_it_did() -> None:
    """The span is part of the artifact: a model fitted with 500 gaps keeps them, where today's
    default of 1,000 would move its level. Its bands, fitted before the falling-trend term, have
    none (weight 0, where today's default of 0.75 would widen them)."""
    model = GapLevelForecaster.from_bytes(_fixture("lstm-format2-gap500.bin"))
    assert model.config.gap_span == 500 and model.config.band_fall_weight == 0.0
    forecast = model.predict(_turned_gaps())[list(FORECAST_VALUES)]
    # Float64 throughout: its shares are 0, so the float32 network's output does not enter.
    assert not model.lambdas_.any()
    assert_close(forecast.to_numpy(), GAP500_LSTM_PREDICT)
    today = GapLevelForecaster.from_bytes(model.to_bytes())
    assert today.config == model.config  # saved again, it keeps both
    today.config = dataclasses.replace(model.config, gap_span=LSTMConfig().gap_span)
    assert not np.allclose(today.predict(_turned_gaps())["forecast"], forecast["forecast"])
    today.config = dataclasses.replace(model.config, band_fall_weight=0.75)
    assert not np.allclose(today.predict(_turned_gaps())["lower_80"], forecast["lower_80"])


# ---------------------------------------------------------------- older layouts


@pytest.mark.parametrize(
    ("name", "model"),
    [("lstm-format1.bin", GapLevelForecaster), ("classifier-format1.bin", EntrySignalClassifier)],
)
def test_a_format1_artifact_is_refused_in_one_line(
    name: str, model: type[GapLevelForecaster] | type[EntrySignalClassifier]
) -> None:
    data = _fixture(name)
    expected = f"{model.kind} artifact of format 1, .* train a new model \\(`taiex train"
    for load in (lambda: artifact.unpack(data, model.kind), lambda: model.from_bytes(data)):
        with pytest.raises(ArtifactError, match=expected) as caught:
            load()
        assert "\n" not in str(caught.value)


def test_an_lstm_of_the_previous_method_is_refused_in_one_line() -> None:
    """Format 2 with fixed half-widths instead of the adaptive band's fallback bounds."""
    header, payload = artifact.unpack(_fixture("lstm-format2-gap500.bin"), "lstm")
    state = torch.load(io.BytesIO(payload), weights_only=True)
    state["interval_halfwidths"] = state.pop("fallback_bounds")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = artifact.pack("lstm", header, buffer.getvalue())
    with pytest.raises(ArtifactError, match=r"previous method .* train a new model") as caught:
        GapLevelForecaster.from_bytes(data)
    assert "\n" not in str(caught.value)
