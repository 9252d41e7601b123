"""The validation report's first lines tell the truth at a glance: traded or held, why,
and what market (and, on the built-in market, what edge) it was."""

from __future__ import annotations

from ares_kedro.validation.report import market_line, verdict_lines


def _backtest(acts: bool, trades: int, why: str = "the reason") -> dict:
    return {"governor_acts": acts, "governor_why": why,
            "strategies": {"governor": {"trades": trades, "sharpe": 1.5 if trades else 0.0,
                                        "total_return": 0.02 if trades else 0.0}}}


def test_a_governor_that_traded_says_how_many_trades_and_why():
    first, _, acts = verdict_lines(_backtest(True, 12, "out-of-fold net Sharpe 3.1"))
    assert first.startswith("**The governor traded: 12 trades**")
    assert "out-of-fold net Sharpe 3.1" in first and "**True** (12 test trades)" in acts


def test_a_governor_that_does_not_act_says_it_held_and_why():
    first, _, acts = verdict_lines(_backtest(False, 0, "the edge is not significant"))
    assert first.startswith("**The governor held: no trade.**")
    assert "not significant" in first and "**False**" in acts


def test_acting_without_a_single_test_trade_is_not_called_acting():
    first, _, acts = verdict_lines(_backtest(True, 0))
    assert "held" in first and "no test bar" in first and "**False** (0 test trades)" in acts


def test_the_report_says_what_was_planted_in_the_built_in_market():
    ingestion = {"source": "synthetic", "exchange": "BINANCE", "market": "um_futures",
                 "symbol": "BTCUSDT", "timeframe": "1h",
                 "synthetic": {"seed": 7, "mode": "regimes", "edges": {
                     "order_flow": {"strength": 0.25, "lead_bars": 1},
                     "mean_reversion": {"strength": 0.0, "anchor_bars": 50, "regimes": "ranges"},
                     "trend_persistence": {"strength": 0.09, "lookback_bars": 24,
                                           "regimes": "trends"}}}}
    line = market_line(ingestion)
    assert "order_flow (strength 0.25)" in line and "trend_persistence (strength 0.09, in trends)" in line
    assert "mean_reversion" not in line
    ingestion["synthetic"]["mode"] = "random_walk"
    assert "null mode" in market_line(ingestion)
    assert "binance_vision" in market_line({**ingestion, "source": "binance_vision"})
