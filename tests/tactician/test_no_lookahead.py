"""No lookahead in the tactician: its features, probabilities and sizes at bar t are the
same when every bar after t is removed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.features import compute_features
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.tactician.context import ContextParams, higher_timeframe_trends, realised_volatility
from ares_kedro.tactician.decisions import DecisionParams, decide
from ares_kedro.tactician.training import (
    QuestionSamples,
    TacticianEnsemble,
    signal_features,
    train_question,
)
from tests.analyst.test_features import market
from tests.tactician.test_meta_labelling import MODELS
from tests.tactician.test_sizing import PARAMS as SIZING

CONTEXT = ContextParams(trend_feature="ema_distance_20", trend_min_distance=0.5,
                        against_daily_trend_scale=0.5, volatility_window_bars=48)
DECISIONS = DecisionParams(meta_margin=0.0, wait_threshold=0.5, close_threshold=0.5)
OPINIONS = np.random.default_rng(0).uniform(0.1, 0.6, 10_000)
COLUMNS = ["rsi_14", "ema_distance_20_4h", "ema_distance_20_1d", "taker_imbalance"]


def _tactician_outputs(bars: pd.DataFrame, models: TacticianEnsemble) -> pd.DataFrame:
    """Everything the tactician computes for the signals of ``bars`` (every 5th bar, side and
    the analyst's opinion fixed per bar time)."""
    features, _ = compute_features(bars, COLUMNS)
    trends = higher_timeframe_trends(features, CONTEXT)
    rows = np.arange(0, len(bars), 5)
    p_long = OPINIONS[rows]  # the same opinion per bar, whatever comes after
    signals = pd.DataFrame({"p_long": p_long, "p_short": 0.6 - p_long, "p_hold": 0.4,
                            "confidence": np.maximum(p_long, 0.6 - p_long),
                            "side": np.where(p_long > 0.3, 1, -1),
                            "regime": np.where(rows % 2 == 0, "BULL_TREND", "BEAR_TREND")},
                           index=bars.index[rows])
    model_rows = signal_features(features, trends, signals, COLUMNS)
    p_win = models.probability("meta", model_rows, signals["regime"].to_numpy())
    volatility = realised_volatility(bars["close"], CONTEXT.volatility_window_bars, 8760.0)
    atr = average_true_range(bars["high"], bars["low"], bars["close"], 14)
    decided = decide(signals["side"].to_numpy(), p_win, p_win, bars["close"].to_numpy()[rows],
                     atr.to_numpy()[rows], volatility.to_numpy()[rows],
                     trends["trend_1d"].to_numpy()[rows], 1.5, 0.25, DECISIONS, SIZING,
                     CONTEXT, signals.index)
    return pd.concat([model_rows, decided.assign(p_win=p_win)], axis=1)


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, TacticianEnsemble]:
    bars = market(n=1500)
    # specialists fitted on whatever: only their use at prediction time is under test
    first = _tactician_outputs(bars, _untrained(COLUMNS))
    first = first.drop(columns=["act", "entry", "limit_price", "against_daily_trend", "size",
                                "p_win"])
    answer = (np.random.default_rng(1).random(len(first)) < 0.4).astype(int)
    rows = bars.index.get_indexer(first.index)
    samples = QuestionSamples(first, answer, np.full(len(first), "BULL_TREND"), rows, rows + 4)
    specialists, _, _ = train_question(samples, MODELS, embargo=4)
    return bars, TacticianEnsemble({"meta": specialists}, COLUMNS)


def _untrained(columns: list[str]) -> TacticianEnsemble:
    from ares_kedro.tactician.models import BinarySpecialist

    return TacticianEnsemble({"meta": {"GLOBAL": BinarySpecialist(columns, None, None, 0.5)}},
                           columns)


@pytest.mark.parametrize("cut", [700, 1111, 1499])
def test_tactician_features_probabilities_and_sizes_ignore_the_future(fitted, cut):
    bars, models = fitted
    full = _tactician_outputs(bars, models)
    past = _tactician_outputs(bars.iloc[:cut], models)
    assert len(past) > 0 and full["size"].abs().gt(0).any()
    pd.testing.assert_frame_equal(full.loc[past.index], past, rtol=1e-9)
