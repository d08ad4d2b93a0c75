"""Evidence for the retrain thresholds, from finished simulations (`taiex simulate`).

    python bench/thresholds.py NEVER_DIR [OTHER_DIR ...]

NEVER_DIR is a simulation under ``--policy never``: one champion per kind, judged every evening
on the days it did not train on, never replaced. For each candidate retrain rule this prints on
how many evenings it would have fired and in how many separate episodes (runs of consecutive
evenings): a rule that fires for weeks on end while the model is as good as its baseline would
only retrain again and again. The LSTM rules are read from its monitored sMAPE beside the naive
forecast's (decisions.csv) and from a Diebold–Mariano t over the last 120 served targets
(forecasts.csv); the classifier's from its monitored ROC AUC beside the trivial score's.

Then, for every folder given, the figures a policy is chosen by (the summaries side by side).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WINDOW_TARGETS = 120  # the LSTM's monitoring window (targets), as the monitor has it
MARGINS = (0.0, 0.02, 0.05, 0.10)  # sMAPE worse than naive's by more than this share
AUC_FLOORS = (0.7, 0.8, 0.9)
AUC_GAPS = (0.0, 0.02, 0.05)  # AUC below the trivial score's by more than this


def episodes(fired: pd.Series) -> int:
    """How many runs of consecutive True there are."""
    values = fired.to_numpy(bool)
    return int(np.sum(values & ~np.concatenate([[False], values[:-1]])))


def rolling_dm(forecasts: pd.DataFrame, window: int) -> pd.Series:
    """Each evening's Diebold–Mariano t of the served 1-5 day forecasts against naive over the
    pairs whose target lies in the last ``window`` targets up to that evening (lag 5)."""
    from taiex.metrics import diebold_mariano, smape_terms

    scored = forecasts.dropna(subset=["actual"]).sort_values(["target_date", "horizon"])
    scored = scored.assign(
        loss=smape_terms(scored["forecast"], scored["actual"]),
        base=smape_terms(scored["naive"], scored["actual"]),
    )
    targets = sorted(scored["target_date"].unique())
    values = {}
    for i in range(window - 1, len(targets)):
        first, last = targets[i - window + 1], targets[i]
        part = scored[(scored["target_date"] >= first) & (scored["target_date"] <= last)]
        values[pd.Timestamp(last)] = diebold_mariano(part["loss"], part["base"], 5)
    return pd.Series(values, dtype=float)


def rule_table(never: Path) -> pd.DataFrame:
    from taiex.simulation.records import DECISIONS, FORECASTS, RunFolder

    folder = RunFolder(never)
    decisions = folder.read(DECISIONS)
    kinds = {kind: part.set_index("date") for kind, part in decisions.groupby("kind")}
    rows = []

    def add(kind: str, rule: str, fired: pd.Series) -> None:
        judged = fired.dropna().astype(bool)
        rows.append(
            {
                "kind": kind,
                "rule": rule,
                "evenings judged": len(judged),
                "fires on": int(judged.sum()),
                "share": float(judged.mean()) if len(judged) else np.nan,
                "episodes": episodes(judged),
            }
        )

    from taiex.kinds import get

    forecaster = None
    for kind, part in kinds.items():
        metric, base = part["metric"], part["baseline"]
        known = metric.notna() & base.notna()
        rules: dict[str, pd.Series]
        if not get(kind).metric.higher_is_better:  # sMAPE beside naive
            forecaster = kind
            rules = {f"sMAPE > naive x {1 + m:.2f}": metric > base * (1 + m) for m in MARGINS}
        else:  # higher is better: AUC beside the trivial score
            rules = {f"AUC < {a:.2f}": metric < a for a in AUC_FLOORS}
            rules |= {f"AUC < trivial - {d:.2f}": metric < base - d for d in AUC_GAPS}
        for name, fired in rules.items():
            add(kind, name, fired.where(known))
    if forecaster is not None:
        dm = rolling_dm(folder.read(FORECASTS), WINDOW_TARGETS)
        for t in (1.0, 1.96):
            add(forecaster, f"DM t vs naive > {t:.2f} (last {WINDOW_TARGETS} targets)", dm > t)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("never", type=Path)
    parser.add_argument("others", type=Path, nargs="*")
    args = parser.parse_args()
    from taiex.simulation.summary import comparison

    pd.set_option("display.width", 200)
    print(f"retrain rules on {args.never} (the first models, never replaced)")
    print(rule_table(args.never).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    folders = [args.never, *args.others]
    summaries = {
        folder.name: json.loads((folder / "summary.json").read_text()) for folder in folders
    }
    print()
    rows = comparison(summaries)
    table = pd.DataFrame([values for _, values in rows], index=[label for label, _ in rows])
    table.columns = list(summaries)
    print(table.to_string())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
