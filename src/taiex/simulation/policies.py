"""The retrain policies a simulation can replay, on the monitor's policy hook.

``configured`` is the daily job's own policy (the kind's rule with the configured thresholds).
``never`` keeps the first models throughout. ``every-N`` retrains every N-th session of the
simulation, whatever the metric says; the challenger is promoted by the same rule as always
(it must beat the champion on the days neither trained on). A policy never trains what the
monitor would not: with no model at all, each one asks for the first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from taiex.errors import InputError

if TYPE_CHECKING:
    from taiex.kinds import Decision, Evaluation, KindSpec
    from taiex.monitor import RetrainPolicy
    from taiex.settings import Settings

CONFIGURED, NEVER = "configured", "never"
_EVERY = re.compile(r"every-([1-9][0-9]*)")


def check(text: str) -> str:
    """``text`` when it names a policy; an InputError saying which ones exist otherwise."""
    if text in (CONFIGURED, NEVER) or _EVERY.fullmatch(text):
        return text
    raise InputError(f"--policy {text!r}: use configured, never or every-N (N a whole number ≥ 1)")


def build(text: str, sessions: Sequence[dt.date]) -> RetrainPolicy:
    """The policy ``text`` names, over the simulation's ``sessions`` (every-N counts them)."""
    from taiex.monitor import CONFIGURED as CONFIGURED_POLICY

    check(text)
    if text == CONFIGURED:
        return CONFIGURED_POLICY
    if text == NEVER:
        return Never()
    match = _EVERY.fullmatch(text)
    assert match is not None
    return EveryN(int(match.group(1)), sessions)


def _first_model(evaluation: Evaluation | None) -> Decision | None:
    from taiex.kinds import Decision

    if evaluation is None:
        return Decision(True, "no model yet", "none")
    return None


class Never:
    """The first models serve throughout."""

    def decide(
        self, spec: KindSpec, evaluation: Evaluation | None, settings: Settings, day: dt.date
    ) -> Decision:
        from taiex.kinds import Decision

        return _first_model(evaluation) or Decision(
            False, "policy never: the first model serves throughout", "forced"
        )


class EveryN:
    """Retrain on every ``n``-th session of ``sessions`` (the n-th, the 2n-th, ...)."""

    def __init__(self, n: int, sessions: Sequence[dt.date]) -> None:
        self.n = n
        self.position = {day: i + 1 for i, day in enumerate(sessions)}

    def decide(
        self, spec: KindSpec, evaluation: Evaluation | None, settings: Settings, day: dt.date
    ) -> Decision:
        from taiex.kinds import Decision

        first = _first_model(evaluation)
        if first is not None:
            return first
        count = self.position.get(day, 0)
        if count and count % self.n == 0:
            return Decision(True, f"policy every-{self.n}: session {count} of the run", "forced")
        left = self.n - count % self.n
        return Decision(False, f"policy every-{self.n}: retrain in {left} session(s)", "forced")
