"""The two rounds of a day (docs/design.md, "Two rounds a day"): light, the kind specs name them."""

from __future__ import annotations

import enum


class Round(enum.StrEnum):
    """``evening``: after TAIEX's close, from TWSE's data; ``pre-open``: before the next open,
    knowing the night's US closes too."""

    evening = "evening"
    pre_open = "pre-open"
