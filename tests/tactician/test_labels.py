"""Meta-labels say whether acting on an analyst signal would have won, net of costs."""

from __future__ import annotations

import pandas as pd

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.tactician.labels import meta_labels
from tests.analyst.test_labels import bars

PARAMS = BarrierParams(take_profit=0.02, stop_loss=0.01, holding_bars=4, round_trip_fee=0.001)


def test_a_long_signal_that_reaches_take_profit_first_is_a_1_and_a_short_one_a_0():
    frame = bars([(100, 100, 100), (100.5, 99.5, 100), (102.2, 100, 102), (102, 101, 101)]
                 + [(101, 101, 101)] * 4)
    trades, _ = barrier_trades(frame, PARAMS)
    predictions = pd.Series(["LONG", "HOLD", "SHORT"], index=frame.index[[0, 1, 2]])
    labels = meta_labels(predictions.iloc[[0]], trades)
    assert labels["meta_label"].iloc[0] == 1 and labels["net_return"].iloc[0] == 0.02
    short = meta_labels(pd.Series(["SHORT"], index=frame.index[[0]]), trades)
    assert short["meta_label"].iloc[0] == 0 and short["side"].iloc[0] == -1
    assert list(meta_labels(predictions, trades).index) == [frame.index[0], frame.index[2]]
