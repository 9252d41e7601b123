"""Run the ``freqtrade`` command with the exchange's market list given instead of fetched.

Freqtrade asks the exchange for its markets (pairs, precision, limits) at start-up, even to
backtest downloaded candles, and this machine has no exchange access. This wrapper answers
that one request with a fixed description of Binance's BTC/USDT and ETH/USDT spot
markets; the rest (candles, strategy, fills, fees, the results file) is Freqtrade's own
backtesting.

    python offline_freqtrade.py backtesting --config ... --strategy ...
"""

from __future__ import annotations

import sys

from freqtrade.exchange import exchange
from freqtrade.main import main

# Binance spot BTC/USDT as ccxt describes it (tick sizes: Binance's precision mode)
BTC_USDT = {
    "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT",
    "baseId": "BTC", "quoteId": "USDT", "settle": None, "settleId": None,
    "type": "spot", "spot": True, "margin": False, "swap": False, "future": False,
    "option": False, "contract": False, "linear": None, "inverse": None,
    "contractSize": None, "active": True, "taker": 0.001, "maker": 0.001,
    "precision": {"amount": 0.00001, "price": 0.01},
    "limits": {"amount": {"min": 0.00001, "max": 9000.0}, "price": {"min": 0.01, "max": 1e6},
               "cost": {"min": 5.0, "max": 9e6}, "leverage": {"min": None, "max": None}},
    "info": {},
}


ETH_USDT = {**BTC_USDT, "id": "ETHUSDT", "symbol": "ETH/USDT", "base": "ETH", "baseId": "ETH",
            "precision": {"amount": 0.0001, "price": 0.01}}


async def _markets_given(self, reload: bool = False) -> None:
    self._api_async.set_markets([BTC_USDT, ETH_USDT])


exchange.Exchange._api_reload_markets = _markets_given

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
