"""mypy sees a kind's contract: a wrong name in a loader, a model that does not play its role or a
function whose signature does not fit is a type error, where a ``"module:attribute"`` string
passed every static check (issue 20).

Each case is a small module declaring a kind the way :mod:`taiex.kinds.lstm` does; one mypy run
(the project's configuration, strict) checks them all and each case's errors are read apart.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra")

# A forecaster, its loader and a kind declared with it; {model}, {loader} and {evaluate} vary.
KIND = """\
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import ClassVar, Self

import pandas as pd

from taiex.kinds.lstm import LSTM
from taiex.kinds.spec import Evaluate, TypedKindSpec
from taiex.kinds.evaluation import Evaluation, Row
from taiex.models.lstm_config import LSTMConfig
from taiex.kinds.protocols import Forecaster, ModelClass


class LastClose:
    \"\"\"The naive forecast as a model.\"\"\"

    kind: ClassVar[str] = "naive"

    def __init__(self, config: LSTMConfig) -> None:
        self.config = config
        self.train_start_ = self.train_end_ = dt.date(2024, 1, 1)

    def fit(self, history: pd.DataFrame) -> Self:
        return self

    def to_bytes(self) -> bytes:
        return b""

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return cls(LSTMConfig())

    def metadata(self) -> dict[str, object]:
        return {{}}

{model}

    def predict_origins(
        self, history: pd.DataFrame, origins: Sequence[dt.date] | None = None
    ) -> pd.DataFrame:
        return history


def _model() -> ModelClass[Forecaster, LSTMConfig]:
{loader}


def _evaluate() -> Evaluate[Forecaster]:
    return evaluate


{evaluate}


NAIVE: TypedKindSpec[Forecaster, LSTMConfig] = dataclasses.replace(
    LSTM, name="naive", model_class=_model, evaluate=_evaluate
)
"""

PREDICT = """\
    def predict(self, history: pd.DataFrame) -> pd.DataFrame:
        return history"""
LOADER = """\
    return LastClose"""
EVALUATE = """\
def evaluate(
    model: Forecaster,
    version: str,
    history: pd.DataFrame,
    days: Sequence[dt.date] | None = None,
    *,
    window: int,
    known: Sequence[Row] | None = None,
) -> Evaluation:
    return Evaluation(model.kind, version, model.train_end_, None, None, 0)"""

CASES = {
    "good": {},
    # predict takes a horizon it is never given: the class is no Forecaster.
    "wrong_predict": {
        "model": PREDICT.replace("history: pd.DataFrame)", "history: pd.DataFrame, h: int)")
    },
    # A typo in the loader's import.
    "loader_typo": {
        "loader": "    from taiex.models.lstm import GapLevelForcaster\n\n"
        "    return GapLevelForcaster"
    },
    # An evaluation that forgets the window the spec gives it.
    "wrong_evaluate": {"evaluate": EVALUATE.replace("    *,\n    window: int,\n", "    *,\n")},
}


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each case's mypy errors (with their notes), by case."""
    folder = tmp_path_factory.mktemp("kinds")
    for name, parts in CASES.items():
        code = KIND.format(
            model=parts.get("model", PREDICT),
            loader=parts.get("loader", LOADER),
            evaluate=parts.get("evaluate", EVALUATE),
        )
        (folder / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYPYPATH", str(ROOT / "src"))  # this tree's taiex, wherever it is installed
        stdout, stderr, _ = api.run(
            [
                "--config-file",
                str(ROOT / "pyproject.toml"),
                "--cache-dir",
                str(folder / ".mypy_cache"),
                "--follow-imports=silent",
                "--no-error-summary",
                "--hide-error-context",
                *(str(folder / f"{name}.py") for name in CASES),
            ]
        )
    assert not stderr, stderr
    found: dict[str, list[str]] = {name: [] for name in CASES}
    for line in stdout.splitlines():
        case = Path(line.split(":", 1)[0]).stem
        assert case in found, line  # every message is about a case, none about taiex
        found[case].append(line)
    return found


def test_a_kind_that_keeps_its_contract_passes(errors: dict[str, list[str]]) -> None:
    assert errors["good"] == []


def test_a_model_without_its_roles_signature_is_an_error(errors: dict[str, list[str]]) -> None:
    """The loader's class is no Forecaster: what it builds is not one."""
    text = "\n".join(errors["wrong_predict"])
    assert 'Incompatible return value type (got "type[LastClose]"' in text
    assert "ModelClass[Forecaster, LSTMConfig]" in text
    assert "def LastClose(config: LSTMConfig) -> LastClose" in text  # what it builds


def test_a_typo_in_a_loader_is_an_error(errors: dict[str, list[str]]) -> None:
    text = "\n".join(errors["loader_typo"])
    assert 'Module "taiex.models.lstm" has no attribute "GapLevelForcaster"' in text


def test_an_evaluation_of_the_wrong_shape_is_an_error(errors: dict[str, list[str]]) -> None:
    text = "\n".join(errors["wrong_evaluate"])
    assert "Incompatible return value type" in text and "Evaluate[Forecaster]" in text
