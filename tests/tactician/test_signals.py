"""The analyst's signal at a bar comes from the ensemble of the bar's regime, out of fold on
training bars, and a signal is a LONG/SHORT call or a clear lead of one direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.regimes import REGIMES
from ares_kedro.tactician.signals import analyst_signals

TIMES = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")


def _oof(rows: list[tuple[int, str, float, float, str]]) -> pd.DataFrame:
    """(bar, ensemble, p_long, p_short, prediction) rows of analyst_oof_predictions."""
    bar, ensemble, p_long, p_short, prediction = zip(*rows, strict=True)
    p_long, p_short = np.array(p_long), np.array(p_short)
    p_hold = 1 - p_long - p_short
    return pd.DataFrame({"ensemble": ensemble, "p_long": p_long, "p_short": p_short,
                         "p_hold": p_hold, "prediction": prediction,
                         "confidence": np.maximum(np.maximum(p_long, p_short), p_hold),
                         "label": "HOLD"}, index=TIMES[list(bar)]).rename_axis("bar_time")


def _later(regimes: list[str], p_long: float, p_short: float) -> pd.DataFrame:
    """analyst_predictions for bars 4 and 5: every ensemble says the same, except the own
    regime's, which says (p_long, p_short)."""
    table = {"period": ["validation", "test"], "regime": regimes, "label": "HOLD",
             "is_labelled": True}
    for name in ("GLOBAL", *REGIMES):
        own = [r == name for r in regimes]
        pl = np.where(own, p_long, 0.2)
        ps = np.where(own, p_short, 0.2)
        table |= {f"{name}_p_long": pl, f"{name}_p_short": ps, f"{name}_p_hold": 1 - pl - ps,
                  f"{name}_prediction": np.where(own & (pl > 0.5), "LONG", "HOLD"),
                  f"{name}_confidence": np.maximum(pl, 1 - pl - ps), f"{name}_spread": 0.0}
    return pd.DataFrame(table, index=TIMES[4:])


def test_each_bar_takes_its_regimes_ensemble_and_the_global_one_only_as_stand_in():
    regimes = pd.Series(["BULL_TREND", "BULL_TREND", "SIDEWAYS_RANGE", "BEAR_TREND",
                         "BEAR_TREND", "SIDEWAYS_RANGE"], index=TIMES)
    oof = _oof([(0, "BULL_TREND", 0.6, 0.1, "LONG"), (1, "BULL_TREND", 0.3, 0.3, "HOLD"),
                (0, "GLOBAL", 0.1, 0.6, "SHORT"), (1, "GLOBAL", 0.1, 0.6, "SHORT"),
                (2, "GLOBAL", 0.2, 0.3, "HOLD"), (3, "GLOBAL", 0.1, 0.2, "HOLD")])
    later = _later(["BEAR_TREND", "SIDEWAYS_RANGE"], 0.55, 0.1)
    table = analyst_signals(oof, later, regimes, min_directional_edge=0.05)
    assert list(table.index) == list(TIMES)
    assert list(table["ensemble"]) == ["BULL_TREND", "BULL_TREND", "GLOBAL", "GLOBAL",
                                       "BEAR_TREND", "SIDEWAYS_RANGE"]
    assert list(table["period"]) == ["train"] * 4 + ["validation", "test"]
    # bar 0: LONG; bar 1: no lead; bar 2: short leads by 0.1; bar 3: by 0.1; 4, 5: own regime
    assert list(table["side"]) == [1, 0, -1, -1, 1, 1]
    assert table.loc[TIMES[4], "p_long"] == pytest.approx(0.55)


def test_a_lead_below_the_minimum_edge_is_no_signal():
    regimes = pd.Series("BULL_TREND", index=TIMES)
    oof = _oof([(0, "BULL_TREND", 0.34, 0.30, "HOLD"), (1, "BULL_TREND", 0.30, 0.36, "HOLD")])
    table = analyst_signals(oof, _later(["BULL_TREND"] * 2, 0.3, 0.3), regimes, 0.05)
    assert list(table["side"]) == [0, -1, 0, 0]
