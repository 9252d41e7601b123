"""The shadow ledger books each bar once per role and resumes from its newest bar."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ares_kedro.shadow.paper import (
    appended,
    bars_to_decide,
    covered_by_reference,
    empty_ledger,
    last_decided,
    paper_summary,
    reads_reference,
)

TIMES = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")


def booked(role: str, times: pd.DatetimeIndex) -> pd.DataFrame:
    rows = empty_ledger().reindex(range(len(times)))
    rows["bar_time"], rows["role"], rows["decision"] = times, role, "HOLD"
    rows["side"], rows["size"] = np.int8(0), 0.0
    return rows


def test_a_bar_is_booked_once_per_role():
    ledger = appended(empty_ledger(), booked("champion", TIMES[:3]))
    ledger = appended(ledger, booked("challenger", TIMES[:3]))  # another role: its own rows
    assert len(ledger) == 6
    with pytest.raises(ValueError, match="already booked for the champion"):
        appended(ledger, booked("champion", TIMES[2:4]))


def test_a_session_resumes_after_the_newest_bar_of_its_role():
    ledger = appended(empty_ledger(), booked("champion", TIMES[:3]))
    assert last_decided(ledger, "champion") == TIMES[2]
    assert last_decided(ledger, "challenger") is None
    bars = pd.DataFrame({"close": np.arange(6.0)}, index=TIMES)
    governor = SimpleNamespace(system=SimpleNamespace(warmup_bars=lambda: 1))
    assert list(bars_to_decide(bars, governor, TIMES[2])) == [3, 4, 5]
    assert list(bars_to_decide(bars, governor, None, TIMES[4])) == [4, 5]
    assert list(bars_to_decide(bars, governor, None)) == [1, 2, 3, 4, 5]  # past warm-up


def test_a_role_without_two_decided_bars_has_nothing_booked_yet():
    assert paper_summary(None) == {"bars": 0, "trades": 0, "net_return": 0.0, "sharpe": 0.0,
                                   "max_drawdown": 0.0, "position": 0.0}


def test_a_governor_reading_the_reference_market_decides_only_the_bars_its_bars_reach():
    cross = SimpleNamespace(system=SimpleNamespace(feature_names=["rsi_14",
                                                                  "reference_beta_96"]))
    alone = SimpleNamespace(system=SimpleNamespace(feature_names=["rsi_14"]))
    assert reads_reference(cross) and not reads_reference(alone)
    times = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    bars = pd.DataFrame({"close": 1.0}, index=times)
    reference = pd.DataFrame({"close": 2.0}, index=times[:4])  # two bars behind
    rows = np.arange(1, 6)
    assert covered_by_reference(bars, rows, reference).tolist() == [1, 2, 3]
    assert covered_by_reference(bars, rows, None).size == 0  # nothing on no reference
