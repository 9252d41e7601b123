"""Meta-labelling buys back precision out of sample on the planted-signal market.

The built-in market with a planted edge (taker-flow imbalance of bar t moves bar t+1)
and a deliberately naive, high-recall primary signal (follow the last bar's move): the
primary is right about half the time, and right more often when the flow agrees with it.
The tactician's meta-model, trained on the first 60 % of signals in purged CV, must raise
the precision of the signals it keeps on the last 40 %, which it never saw.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.market.synthetic import SyntheticMarketSpec, generate_market
from ares_kedro.tactician.decisions import DecisionParams, decide
from ares_kedro.tactician.labels import meta_labels
from ares_kedro.tactician.models import TacticianModelParams
from ares_kedro.tactician.training import QuestionSamples, TacticianEnsemble, train_question
from tests.tactician.test_sizing import PARAMS as SIZING

MODELS = TacticianModelParams(min_training_signals=10**9, cv_folds=4, seed=3, top_features=0,
                              lightgbm={"n_estimators": 80, "learning_rate": 0.05,
                                        "num_leaves": 7, "min_child_samples": 40, "n_jobs": 1})


@pytest.fixture
def planted_market(ingestion_params) -> tuple[pd.DataFrame, np.ndarray]:
    spec = SyntheticMarketSpec.from_params(ingestion_params["synthetic"])
    spec = replace(spec, days=200, trades_per_bar=2,  # order flow alone, strongly planted
                   edges=spec.edges.only("order_flow").updated({"order_flow": {"strength": 1.0}}))
    market = generate_market(spec)
    close = pd.Series(market.close, index=pd.to_datetime(market.bar_open_ns, utc=True))
    previous = close.shift(1).fillna(close.iloc[0])
    bars = pd.DataFrame({"open": previous, "close": close,
                         "high": np.maximum(previous, close), "low": np.minimum(previous, close)})
    return bars, market.flow_imbalance


def test_meta_labelling_raises_the_precision_of_a_naive_signal_out_of_sample(planted_market):
    bars, flow = planted_market
    bar_vol = float(np.log(bars["close"]).diff().std())
    barriers = BarrierParams(take_profit=0.5 * bar_vol, stop_loss=0.5 * bar_vol,
                             holding_bars=2, round_trip_fee=0.0)
    trades, _ = barrier_trades(bars, barriers)
    naive_side = pd.Series(np.sign(bars["close"].diff().fillna(0.0)).to_numpy(), index=bars.index)
    signals = meta_labels(naive_side.iloc[1:-barriers.holding_bars], trades)
    rows = bars.index.get_indexer(signals.index)
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"side": signals["side"].to_numpy(float),
                             "flow_imbalance": flow[rows],  # what bar t's trades show
                             "noise": rng.standard_normal(rows.size)}, index=signals.index)
    split = int(0.6 * rows.size)
    train = QuestionSamples(features.iloc[:split], signals["meta_label"].to_numpy()[:split],
                            np.full(split, "BULL_TREND"), rows[:split],
                            signals["exit_row"].to_numpy()[:split])
    specialists, oof, report = train_question(train, MODELS, embargo=2)
    assert set(specialists) == {"GLOBAL"} and report["GLOBAL"]["out_of_fold_auc"] > 0.6
    assert np.isfinite(oof).mean() > 0.9  # purged CV tested nearly every training signal

    later = features.iloc[split:]
    p_win = TacticianEnsemble({"meta": specialists}, []).probability(
        "meta", later, np.full(len(later), "BULL_TREND"))
    decided = decide(later["side"].to_numpy(), p_win, np.zeros(len(later)),
                     bars["close"].to_numpy()[rows[split:]], np.ones(len(later)),
                     np.full(len(later), 0.5), np.zeros(len(later)), 1.0, 0.0,
                     DecisionParams(meta_margin=0.0, wait_threshold=0.5, close_threshold=0.5),
                     SIZING, _context(), later.index)
    won = signals["meta_label"].to_numpy()[split:] == 1
    before, after = won.mean(), won[decided["act"].to_numpy()].mean()
    assert 0.05 < decided["act"].mean() < 0.95  # it filters, it does not refuse everything
    assert after > before + 0.05, (before, after)
    assert (decided.loc[~decided["act"], "size"] == 0).all()


def _context():
    from ares_kedro.tactician.context import ContextParams

    return ContextParams(trend_feature="ema_distance_20", trend_min_distance=0.5,
                         against_daily_trend_scale=0.5, volatility_window_bars=24)
