"""The rule-based regime classifier (``regimes.method: rules``), causal and vectorised.

For every bar, from bars up to and including it (a bar is known at its close):
  HIGH_IMPACT_CANDLE  its range >= ``impact_range_atr_multiple`` x the previous bar's ATR,
                      or its volume >= ``impact_volume_multiple`` x the median volume of
                      the ``impact_volume_window`` bars before it
  SR_ZONE_ACTION      its close lies in a support/resistance zone of strength
                      >= ``sr_strength_min`` (see support_resistance.py)
  BULL_TREND          ADX >= ``adx_trend_min`` and EMA slope >= ``slope_trend_min``
  BEAR_TREND          ADX >= ``adx_trend_min`` and EMA slope <= -``slope_trend_min``
  SIDEWAYS_RANGE      ADX <= ``adx_range_max`` or Bollinger width in the lowest
                      ``bollinger_narrow_rank_max`` of its trailing window
When several hold, the first in ``precedence`` wins; when none holds, ``ambiguous_regime``.
Optional smoothing: a new regime is adopted only after it held ``min_duration_bars``
bars in a row (regimes in ``smoothing_exempt`` are adopted at once); until then the last
adopted regime stays. Bars before every indicator is defined are ``warmup_regime`` and
flagged ``is_warmup``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.market.timeframes import to_timedelta
from ares_kedro.params import checked_keys
from ares_kedro.regimes import REGIMES
from ares_kedro.regimes.indicators import (
    average_directional_index,
    average_true_range,
    bollinger_width,
    ema_slope,
    trailing_percentile,
)
from ares_kedro.regimes.support_resistance import (
    SupportResistanceParams,
    find_pivots,
    higher_bars,
    zone_strength,
    zone_width_at_bars,
)
from ares_kedro.windows import rolling_median, shift

_POSITIVE = ("adx_window", "ema_window", "slope_lag_bars", "atr_window", "bollinger_window",
             "bollinger_rank_window", "impact_volume_window", "bollinger_std",
             "impact_range_atr_multiple", "impact_volume_multiple", "sr_strength_min",
             "slope_trend_min")


@dataclass(frozen=True)
class RuleParams:
    """``regimes.rules`` in conf. Windows in bars of the bar table's timeframe."""

    adx_window: int
    ema_window: int
    slope_lag_bars: int
    atr_window: int
    bollinger_window: int
    bollinger_std: float
    bollinger_rank_window: int
    adx_trend_min: float  # 0..100
    slope_trend_min: float  # EMA change per bar, in ATRs
    adx_range_max: float  # 0..100
    bollinger_narrow_rank_max: float  # 0..1
    sr_strength_min: float
    impact_range_atr_multiple: float
    impact_volume_multiple: float
    impact_volume_window: int
    precedence: tuple[str, ...]
    ambiguous_regime: str
    warmup_regime: str
    min_duration_bars: int
    smoothing_exempt: tuple[str, ...]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RuleParams:
        values = checked_keys(cls, params, "regimes.rules")
        values["precedence"] = tuple(values["precedence"])
        values["smoothing_exempt"] = tuple(values["smoothing_exempt"] or ())
        spec = cls(**values)
        for name in _POSITIVE:
            if not getattr(spec, name) > 0:
                raise ValueError(f"regimes.rules.{name} must be > 0, got {getattr(spec, name)}")
        for name in ("adx_trend_min", "adx_range_max"):
            if not 0 <= getattr(spec, name) <= 100:
                raise ValueError(f"regimes.rules.{name} must be within 0..100")
        if not 0 <= spec.bollinger_narrow_rank_max <= 1:
            raise ValueError("regimes.rules.bollinger_narrow_rank_max must be within 0..1")
        if spec.min_duration_bars < 1:
            raise ValueError("regimes.rules.min_duration_bars must be >= 1 (1 = no smoothing)")
        if sorted(spec.precedence) != sorted(REGIMES):
            raise ValueError(f"regimes.rules.precedence must list each of {REGIMES} once")
        for name in ("ambiguous_regime", "warmup_regime"):
            if getattr(spec, name) not in REGIMES:
                raise ValueError(f"regimes.rules.{name} must be one of {REGIMES}")
        if set(spec.smoothing_exempt) - set(REGIMES):
            raise ValueError(f"regimes.rules.smoothing_exempt must name regimes of {REGIMES}")
        return spec


def adopted_after_min_duration(candidate: np.ndarray, min_bars: int, exempt: np.ndarray,
                               start: int) -> np.ndarray:
    """:func:`smooth_min_duration` on integer codes: ``candidate`` (n,) codes, ``exempt``
    (n,) bool (the candidate is adopted at once), ``start`` the code before any adoption."""
    if min_bars <= 1 or candidate.size == 0:
        return candidate
    position = np.arange(candidate.size)
    run_start = np.maximum.accumulate(np.where(
        np.r_[True, candidate[1:] != candidate[:-1]], position, 0))
    adopt = (position - run_start + 1 >= min_bars) & ~exempt
    last_adopted = np.maximum.accumulate(np.where(adopt, position, -1))
    held = np.where(last_adopted >= 0, candidate[np.maximum(last_adopted, 0)], start)
    return np.where(exempt, candidate, held)


def smooth_min_duration(candidate: pd.Series, min_bars: int, exempt: tuple[str, ...],
                        start: str) -> pd.Series:
    """Adopt a regime only once it held ``min_bars`` bars in a row; causal (no future bar)."""
    if min_bars <= 1:
        return candidate
    names, codes = np.unique(np.r_[np.asarray(candidate, dtype=object), [start]].astype(str),
                             return_inverse=True)
    codes, start_code = codes[:-1], codes[-1]
    adopted = adopted_after_min_duration(codes, min_bars, np.isin(names[codes], exempt),
                                         start_code)
    return pd.Series(names[adopted].astype(object), index=candidate.index)


def classify_rules(bars: pd.DataFrame, timeframe: str, rules: RuleParams,
                   sr: SupportResistanceParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regime of every bar and the support/resistance pivots used.

    Args:
        bars: ``market_bars`` (UTC DatetimeIndex of bar open times; open, high, low, close,
            volume).
        timeframe: the bars' interval, e.g. "1h".

    Returns:
        (labels, pivots): labels indexed like ``bars`` with ``regime`` and the indicator
        values behind it; pivots as from :func:`find_pivots`.
    """
    high, low, close, volume = (bars[c].to_numpy(dtype=np.float64)
                                for c in ("high", "low", "close", "volume"))
    atr = average_true_range(high, low, close, rules.atr_window)
    adx = average_directional_index(high, low, close, rules.adx_window)
    slope = ema_slope(close, atr, rules.ema_window, rules.slope_lag_bars)
    width_rank = trailing_percentile(bollinger_width(close, rules.bollinger_window,
                                                     rules.bollinger_std),
                                     rules.bollinger_rank_window)
    range_atr = (high - low) / shift(atr, 1)
    volume_ratio = volume / rolling_median(shift(volume, 1), rules.impact_volume_window)

    htf = higher_bars(bars, sr.timeframe, timeframe)
    pivots = find_pivots(htf, sr)
    bar_close = bars.index + to_timedelta(timeframe)
    zone_width = zone_width_at_bars(htf, bar_close, sr)
    strength = zone_strength(bar_close.as_unit("ns").asi8, close, zone_width, pivots, sr)

    with np.errstate(invalid="ignore"):
        conditions = {
            "HIGH_IMPACT_CANDLE": (range_atr >= rules.impact_range_atr_multiple)
            | (volume_ratio >= rules.impact_volume_multiple),
            "SR_ZONE_ACTION": strength >= rules.sr_strength_min,
            "BULL_TREND": (adx >= rules.adx_trend_min) & (slope >= rules.slope_trend_min),
            "BEAR_TREND": (adx >= rules.adx_trend_min) & (slope <= -rules.slope_trend_min),
            "SIDEWAYS_RANGE": (adx <= rules.adx_range_max)
            | (width_rank <= rules.bollinger_narrow_rank_max),
        }
    code = {name: i for i, name in enumerate(REGIMES)}
    choice = np.select([conditions[name] for name in rules.precedence],
                       [code[name] for name in rules.precedence],
                       default=code[rules.ambiguous_regime])
    warmup = (np.isnan(atr) | np.isnan(adx) | np.isnan(slope) | np.isnan(width_rank)
              | np.isnan(volume_ratio) | np.isnan(range_atr))
    candidate = np.where(warmup, code[rules.warmup_regime], choice)
    exempt = np.isin(candidate, [code[name] for name in rules.smoothing_exempt])
    regime = adopted_after_min_duration(candidate, rules.min_duration_bars, exempt,
                                        code[rules.warmup_regime])
    labels = pd.DataFrame({
        "regime": pd.Categorical.from_codes(regime, categories=REGIMES),
        "candidate_regime": pd.Categorical.from_codes(candidate, categories=REGIMES),
        "is_warmup": warmup, "adx": adx, "ema_slope_atr": slope,
        "bollinger_width_rank": width_rank, "range_atr": range_atr, "volume_ratio": volume_ratio,
        "sr_zone_strength": strength, "sr_zone_half_width": zone_width,
    }, index=bars.index)
    return labels, pivots
