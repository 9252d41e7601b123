"""The unsupervised regime classifier (``regimes.method: gmm``).

A Gaussian mixture on causal per-bar features (the same indicators as the rules: EMA
slope, ADX, Bollinger width rank, bar range in ATRs, volume ratio, support/resistance
zone strength), fitted on the first ``fit_bars`` usable bars only, so that a bar's label
never depends on later data. Its states are named by their statistics, in this order:
the state with the largest mean bar range is HIGH_IMPACT_CANDLE, then the largest mean
zone strength SR_ZONE_ACTION, the most positive mean slope BULL_TREND, the most negative
BEAR_TREND, and every other state SIDEWAYS_RANGE. The fitted scaler, mixture and naming
are one object (``RegimeMixture``), saved and loaded as a whole, so live prediction labels
bars exactly as training did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from ares_kedro.params import checked_keys
from ares_kedro.regimes import REGIMES
from ares_kedro.regimes.rules import smooth_min_duration

FEATURES = ("ema_slope_atr", "adx", "bollinger_width_rank", "range_atr", "volume_ratio",
            "sr_zone_strength")
NAMING_ORDER = (("HIGH_IMPACT_CANDLE", "range_atr", "max"), ("SR_ZONE_ACTION", "sr_zone_strength", "max"),
                ("BULL_TREND", "ema_slope_atr", "max"), ("BEAR_TREND", "ema_slope_atr", "min"))


@dataclass(frozen=True)
class MixtureParams:
    """``regimes.gmm`` in conf."""

    n_states: int  # >= 5: several states may share a name
    fit_bars: int  # the first usable bars the mixture is fitted on
    covariance_type: str
    max_iter: int
    random_state: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MixtureParams:
        spec = cls(**checked_keys(cls, params, "regimes.gmm"))
        if spec.n_states < len(REGIMES):
            raise ValueError(f"regimes.gmm.n_states must be >= {len(REGIMES)} (one per regime)")
        if spec.fit_bars < 10 * spec.n_states or spec.max_iter < 1:
            raise ValueError("regimes.gmm.fit_bars must be >= 10 x n_states, max_iter >= 1")
        if spec.covariance_type not in ("full", "tied", "diag", "spherical"):
            raise ValueError("regimes.gmm.covariance_type must be full, tied, diag or spherical")
        return spec


class RegimeMixture:
    """Scaler, Gaussian mixture and state names, fitted together (scikit-learn style)."""

    def __init__(self, params: MixtureParams):
        self.params = params

    def fit(self, features: pd.DataFrame) -> RegimeMixture:
        usable = features.loc[:, FEATURES].dropna()
        if len(usable) < self.params.fit_bars:
            raise ValueError(f"gmm needs {self.params.fit_bars} usable bars to fit, the data has "
                             f"{len(usable)}: lower regimes.gmm.fit_bars or ingest more history")
        train = usable.iloc[: self.params.fit_bars]
        self.scaler_ = StandardScaler().fit(train.to_numpy())
        self.mixture_ = GaussianMixture(
            n_components=self.params.n_states, covariance_type=self.params.covariance_type,
            max_iter=self.params.max_iter, random_state=self.params.random_state,
        ).fit(self.scaler_.transform(train.to_numpy()))
        state = self.mixture_.predict(self.scaler_.transform(train.to_numpy()))
        means = train.groupby(state).mean().reindex(range(self.params.n_states))
        self.state_names_ = name_states(means)
        self.fit_end_ = train.index[-1]
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Regime name per bar; NaN where a feature is undefined (warm-up)."""
        values = features.loc[:, FEATURES]
        usable = values.notna().all(axis=1).to_numpy()
        out = np.full(len(values), None, dtype=object)
        if usable.any():
            state = self.mixture_.predict(self.scaler_.transform(values.to_numpy()[usable]))
            out[usable] = np.asarray(self.state_names_, dtype=object)[state]
        return pd.Series(out, index=features.index, name="regime")


def name_states(means: pd.DataFrame) -> list[str]:
    """Regime name of each mixture state from its feature means (NaN for an empty state)."""
    names = ["SIDEWAYS_RANGE"] * len(means)
    free = set(means.dropna().index)
    for regime, feature, how in NAMING_ORDER:
        if not free:
            break
        candidates = means.loc[sorted(free), feature]
        chosen = candidates.idxmax() if how == "max" else candidates.idxmin()
        names[int(chosen)] = regime
        free.discard(chosen)
    return names


def classify_mixture(features: pd.DataFrame, model: RegimeMixture, min_duration_bars: int,
                     smoothing_exempt: tuple[str, ...], warmup_regime: str) -> pd.DataFrame:
    """Labels from a fitted mixture, with the same smoothing and warm-up as the rules."""
    predicted = model.predict(features)
    warmup = predicted.isna().to_numpy()
    candidate = predicted.fillna(warmup_regime)
    regime = smooth_min_duration(candidate, min_duration_bars, smoothing_exempt, warmup_regime)
    return features.assign(
        regime=pd.Categorical(regime, categories=REGIMES),
        candidate_regime=pd.Categorical(candidate, categories=REGIMES),
        is_warmup=warmup,
    )
