"""What the tactician knows at a bar beside the analyst's opinion: higher-timeframe trend
context, realised volatility and the feature rows its models read.

Everything here is causal: the higher-timeframe trend comes from the analyst's
multi-timeframe features (complete 4h and 1d bars only, see
:mod:`~ares_kedro.analyst.features.multi_timeframe`) and the volatility from a trailing
window of closes, so a value at bar t never changes when later bars arrive.

The rows are built from arrays and made a table once (:func:`joined_rows`,
:func:`column_index`, :func:`positions`, :func:`as_strings`): on a live decision's one
bar, pandas' per-column work costs more than the numbers.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.params import checked_keys
from ares_kedro.regimes import REGIMES
from ares_kedro.windows import as_floats, diff, rolling_std

TIMEFRAMES = ("4h", "1d")
OPINION = ("p_long", "p_short", "p_hold", "confidence")
STRINGS = pd.api.types.pandas_dtype(str)  # what ``astype(str)`` gives


@dataclass(frozen=True)
class ContextParams:
    """``tactician.context`` in conf."""

    trend_feature: str  # multi-timeframe feature name without the suffix, e.g. ema_distance_20
    trend_min_distance: float  # |feature| at or above it: that timeframe trends (its units)
    against_daily_trend_scale: float  # size multiplier of an entry against the daily trend
    volatility_window_bars: int  # trailing bars of the realised volatility

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ContextParams:
        spec = cls(**checked_keys(cls, params, "tactician.context"))
        if not (spec.trend_min_distance >= 0 and 0 <= spec.against_daily_trend_scale <= 1
                and int(spec.volatility_window_bars) >= 2):
            raise ValueError("tactician.context: trend_min_distance >= 0, "
                             "against_daily_trend_scale in [0, 1], volatility_window_bars >= 2")
        return spec

    def trend_columns(self) -> dict[str, str]:
        """{timeframe: the analyst feature column giving its trend}."""
        return {tf: f"{self.trend_feature}_{tf}" for tf in TIMEFRAMES}


def trend_direction(value: np.ndarray, min_distance: float) -> np.ndarray:
    """+1 (up), -1 (down) or 0 (no trend, or NaN: not known yet) per value of a trend
    feature, whose magnitude must reach ``min_distance`` (the feature's units)."""
    value = np.asarray(value, dtype=float)
    trend = np.where(value >= min_distance, 1, np.where(value <= -min_distance, -1, 0))
    return np.where(np.isnan(value), 0, trend)


def higher_timeframe_trends(features: pd.DataFrame, params: ContextParams) -> pd.DataFrame:
    """``trend_4h`` and ``trend_1d`` per bar: +1 (up), -1 (down) or 0 (no trend, or not
    known yet: the feature is NaN during its warm-up or when bars are not shorter)."""
    out = {f"trend_{timeframe}": trend_direction(trend_values(features, params, timeframe),
                                                 params.trend_min_distance)
           for timeframe in TIMEFRAMES}
    return pd.DataFrame(np.column_stack(list(out.values())),
                        index=features.index, columns=column_index(tuple(out)))


def trend_values(features: pd.DataFrame, params: ContextParams, timeframe: str) -> np.ndarray:
    """The trend feature of ``timeframe`` (one of :data:`TIMEFRAMES`) per bar, its units."""
    column = params.trend_columns()[timeframe]
    if column not in features:
        raise ValueError(f"tactician.context.trend_feature: analyst_features has no "
                         f"{column!r}; choose a multi-timeframe feature (docs/features.md)")
    return features[column].to_numpy(dtype=float)


def column_index(names: tuple[str, ...], name: Hashable = None) -> pd.Index:
    """The column labels ``names`` as an Index, made once per distinct ``names`` (building
    one from strings costs tens of microseconds; a frame gets its own view)."""
    return _column_index(names, name).view()


@lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...], name: Hashable) -> pd.Index:
    return pd.Index(list(names), name=name)


def realised_volatility(close: pd.Series | np.ndarray, window: int, bars_per_year: float
                        ) -> pd.Series | np.ndarray:
    """Annualised standard deviation of log returns over the trailing ``window`` bars
    (fraction; NaN until the window is full). A Series of closes gives a Series on its
    index, an array an array."""
    log_returns = diff(np.log(as_floats(close)))
    window = int(window)
    volatility = rolling_std(log_returns, window, ddof=1, min_periods=window) * np.sqrt(
        bars_per_year)
    if isinstance(close, pd.Series):
        return pd.Series(volatility, index=close.index, name=close.name)
    return volatility


def as_strings(values: Any) -> pd.api.extensions.ExtensionArray:
    """A column (Series or array) as ``astype(str)`` makes it (missing values stay
    missing), as it is when it already holds those strings."""
    if STRINGS == getattr(values, "dtype", None):
        return values.array if isinstance(values, pd.Series) else values
    if isinstance(values, pd.Series):
        return values.astype(str).array
    return pd.array(np.asarray(values, dtype=object), dtype=str)  # what astype(str) gives


def positions(index: pd.Index, labels: pd.Index) -> np.ndarray:
    """Positions of ``labels`` in the unique ``index`` (a label it lacks: KeyError)."""
    rows = index.get_indexer(labels)
    if (rows < 0).any():
        raise KeyError(f"{int((rows < 0).sum())} labels are not in the table's index, the "
                       f"first {labels[np.flatnonzero(rows < 0)[0]]}")
    return rows


def column_arrays(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each column of ``table`` as an array, dtypes kept (one conversion when the columns
    share a NumPy dtype)."""
    dtypes = set(table.dtypes.to_numpy())
    if len(dtypes) == 1 and isinstance(next(iter(dtypes)), np.dtype):
        values = table.to_numpy()
        return {name: values[:, k] for k, name in enumerate(table.columns.to_numpy())}
    return {name: table[name].to_numpy() for name in table.columns}


def joined_rows(table: pd.DataFrame, rows: np.ndarray | None, columns: list[str],
                extra: dict[str, np.ndarray]) -> pd.DataFrame:
    """``table``'s ``columns`` at the positions ``rows`` (every row when None), followed by
    the columns ``extra`` (one value per row; a name already there is replaced in place).
    An all-float64 table (the analyst features) is read as one array and the result built
    from one: a frame per column costs more than the numbers on a live decision's row."""
    names = list(columns)
    if (set(table.dtypes.to_numpy()) == {np.dtype(float)} and len(set(names)) == len(names)
            and not set(extra) & set(names)):
        position = {name: k for k, name in enumerate(table.columns.to_numpy())}
        missing = [name for name in names if name not in position]
        if missing:
            raise KeyError(f"columns {missing} are not in the table")
        take = [position[name] for name in names]
        values = table.to_numpy()
        picked = values[:, take] if rows is None else values[np.ix_(rows, take)]
        added = np.column_stack([np.asarray(v, dtype=float) for v in extra.values()]
                                ) if extra else np.empty((len(picked), 0))
        return pd.DataFrame(np.hstack([picked, added]),
                            index=table.index if rows is None else table.index[rows],
                            columns=column_index((*names, *extra), table.columns.name))
    picked = table if rows is None else table.iloc[rows]
    if names != list(picked.columns):
        picked = picked[names]
    return pd.DataFrame(column_arrays(picked) | extra, index=picked.index)


def context_columns(opinion: pd.DataFrame, side: np.ndarray, regime: np.ndarray,
                    trends: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns a tactician model reads beside the analyst features (see
    :func:`model_features`), one value per sample: ``trends`` holds ``trend_4h`` and
    ``trend_1d`` per sample."""
    out = {f"analyst_{column}": opinion[column].to_numpy(dtype=float) for column in OPINION}
    out["side"] = np.asarray(side, dtype=float)
    out |= {name: np.asarray(values, dtype=float) for name, values in trends.items()}
    out["with_daily_trend"] = out["side"] * out["trend_1d"]
    regime = np.asarray(regime).astype(str)
    for name in REGIMES:
        out[f"regime_{name}"] = (regime == name).astype(float)
    return out


def model_features(features: pd.DataFrame, opinion: pd.DataFrame, side: np.ndarray,
                   regime: np.ndarray, trends: pd.DataFrame) -> pd.DataFrame:
    """The rows a tactician model reads, one per sample.

    Args:
        features: analyst features at each sample's bar (the columns the models use).
        opinion: the analyst's ``p_long``, ``p_short``, ``p_hold`` and ``confidence`` for
            the signal.
        side: +1 / -1 per sample.
        regime: regime name per sample (one-hot encoded: the global model spans regimes).
        trends: :func:`higher_timeframe_trends` at each sample's bar.

    Returns:
        ``features`` plus ``analyst_<opinion>``, ``side``, ``trend_4h``, ``trend_1d``,
        ``with_daily_trend`` (+1 with, -1 against, 0 no daily trend) and
        ``regime_<NAME>`` columns; the index of ``features``.
    """
    extra = context_columns(opinion, side, regime,
                            {column: trends[column].to_numpy(dtype=float) for column in trends})
    return joined_rows(features, None, list(features.columns), extra)
