"""Trading costs of one fill: exchange fees (maker or taker) and slippage.

All costs are fractions of the filled notional. A market order (taker) pays the taker fee
and slippage; a resting limit order (maker) pays the maker fee and no slippage (it fills at
its limit price or not at all). Slippage is either a fixed number of basis points per market
fill, or grows with the bar's range and the order's share of the bar's traded volume::

    slippage = slippage_bps / 10^4 + range_impact x (high - low) / close x sqrt(participation)

with ``participation = |size| x capital / quote_volume`` (capped at 1) and the result capped
at ``max_slippage_bps``.

A short on a spot market sells borrowed coins: it pays the margin loan's interest,
``spot_short_interest_per_day`` of the borrowed coins' value, accrued every hour it is held
(Binance margin charges hourly; futures pay funding instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.market.timeframes import YEAR
from ares_kedro.params import checked_keys

ORDER_TYPES = ("maker", "taker")
SLIPPAGE_MODELS = ("fixed", "range_volume")
BASIS_POINT = 1e-4
DAY = pd.Timedelta(days=1)  # the interest rate's period


@dataclass(frozen=True)
class CostModel:
    """``validation.costs`` in conf, with the fees of the market traded."""

    maker_fee: float  # per fill, fraction of notional
    taker_fee: float
    entry_order: str  # maker | taker
    take_profit_order: str  # maker (a resting limit at the barrier) | taker
    slippage_model: str  # fixed | range_volume
    slippage_bps: float  # per market fill (fixed part)
    range_impact: float  # range_volume: share of the bar's range per unit sqrt(participation)
    max_slippage_bps: float
    capital: float  # quote currency behind a size of 1 (participation in range_volume)
    funding: bool  # futures: pay and receive funding at each funding time
    short_interest_per_day: float = 0.0  # spot shorts: margin loan interest, of the loan's value

    def short_interest_per_bar(self, bars_per_year: float) -> float:
        """The loan interest a short pays per bar held, as a fraction of its coins' value."""
        return self.short_interest_per_day * (YEAR / DAY) / float(bars_per_year)

    @classmethod
    def from_params(cls, params: dict[str, Any], market: str) -> CostModel:
        fields = dict(checked_keys(_CostsConf, params, "validation.costs"))
        fees = fields.pop("fees")
        if market not in fees:
            raise ValueError(f"validation.costs.fees has no entry for market {market!r}; "
                             f"add one beside {sorted(fees)}")
        interest = float(fields.pop("spot_short_interest_per_day"))
        if interest < 0:
            raise ValueError("validation.costs.spot_short_interest_per_day must be >= 0 (a "
                             "fraction of the borrowed coins' value per day, e.g. 0.0002)")
        spec = cls(maker_fee=float(fees[market]["maker"]), taker_fee=float(fees[market]["taker"]),
                   funding=bool(fields.pop("funding")) and market != "spot",
                   short_interest_per_day=interest if market == "spot" else 0.0, **fields)
        if spec.entry_order not in ORDER_TYPES or spec.take_profit_order not in ORDER_TYPES:
            raise ValueError(f"validation.costs: entry_order and take_profit_order must be one "
                             f"of {ORDER_TYPES}")
        if spec.slippage_model not in SLIPPAGE_MODELS:
            raise ValueError(f"validation.costs.slippage_model must be one of {SLIPPAGE_MODELS},"
                             f" got {spec.slippage_model!r}")
        if min(spec.maker_fee, spec.taker_fee, spec.slippage_bps, spec.range_impact) < 0 or \
                spec.max_slippage_bps < spec.slippage_bps or spec.capital <= 0:
            raise ValueError("validation.costs: fees, slippage and range_impact must be >= 0, "
                             "max_slippage_bps >= slippage_bps and capital > 0")
        return spec

    def fee(self, order: str) -> float:
        return self.maker_fee if order == "maker" else self.taker_fee

    def slippage(self, size: np.ndarray, high: np.ndarray, low: np.ndarray,
                 close: np.ndarray, quote_volume: np.ndarray | None) -> np.ndarray:
        """Slippage (fraction of notional) of market fills of ``size`` in bars with these
        prices; arrays of one length."""
        size = np.abs(np.asarray(size, dtype=float))
        fixed = np.full(size.shape, self.slippage_bps * BASIS_POINT)
        if self.slippage_model == "fixed":
            return fixed
        if quote_volume is None:
            raise ValueError("slippage_model range_volume needs the bars' quote_volume column")
        volume = np.asarray(quote_volume, dtype=float)
        participation = np.where(volume > 0, size * self.capital / np.where(volume > 0, volume,
                                                                            1.0), 1.0)
        bar_range = (np.asarray(high, float) - np.asarray(low, float)) / np.asarray(close, float)
        slip = fixed + self.range_impact * bar_range * np.sqrt(np.minimum(participation, 1.0))
        return np.minimum(slip, self.max_slippage_bps * BASIS_POINT)


@dataclass(frozen=True)
class _CostsConf:
    """The keys of ``validation.costs`` (fees per market)."""

    fees: dict
    entry_order: str
    take_profit_order: str
    slippage_model: str
    slippage_bps: float
    range_impact: float
    max_slippage_bps: float
    capital: float
    funding: bool
    spot_short_interest_per_day: float
