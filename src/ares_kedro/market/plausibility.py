"""Implausible prices: a bar at 1000x, or a month of another symbol's prices under this
symbol's name, stops ingestion with the bar named (docs/data.md, "Plausibility").

A move is implausible when it is both far outside the market's recent range, measured in
robust units, and large in itself:

* **jump**: the close-to-close log return ``|log(close_t / close_{t-1})|``;
* **wick**: how far the high or the low reaches beyond the bar's body,
  ``max(log(high / max(open, close)), log(min(open, close) / low))``.

The unit is the trailing robust scale of absolute returns: 1.4826 x the median of
``|r|`` over the previous ``window_bars`` bars (the median ignores the very spikes it
looks for; the bar itself is not in its own scale). A move is flagged when it exceeds
``max_jump_sigmas`` of them **and** ``min_jump_log_return`` (a quiet market's scale can be
tiny, and a 1 % move is never a data error). On real Binance BTCUSDT (1h, 2017-2019, and
1m samples) the largest move scores about 50; conf/base flags above 100 and 0.2 (22 %).

A spike (a jump out and straight back, or a wick) can be repaired by removing its bar
(``repairs.drop_implausible_bars``); a level shift (a jump that does not come back, like
another symbol's month) has no safe repair and always stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.params import checked_keys

MAD_TO_SIGMA = 1.4826  # median absolute deviation to standard deviation (normal)


@dataclass(frozen=True)
class PlausibilityParams:
    """``ingestion.plausibility`` in conf."""

    window_bars: int  # trailing bars of the robust scale
    max_jump_sigmas: float  # flagged beyond this many robust units ...
    min_jump_log_return: float  # ... and beyond this absolute log move

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PlausibilityParams:
        spec = cls(**checked_keys(cls, params, "ingestion.plausibility"))
        if int(spec.window_bars) < 10 or spec.max_jump_sigmas <= 0 or \
                spec.min_jump_log_return <= 0:
            raise ValueError("ingestion.plausibility: window_bars >= 10, max_jump_sigmas > 0, "
                             "min_jump_log_return > 0")
        return spec


def _moves(bars: pd.DataFrame, window_bars: int) -> tuple[np.ndarray, ...]:
    """(jump, wick, jump in robust units, wick in robust units) per bar."""
    close = bars["close"].to_numpy(dtype=float)
    body_high = np.maximum(bars["open"].to_numpy(dtype=float), close)
    body_low = np.minimum(bars["open"].to_numpy(dtype=float), close)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = np.r_[0.0, np.diff(np.log(close))]
        wick = np.maximum(np.log(bars["high"].to_numpy(dtype=float) / body_high),
                          np.log(body_low / bars["low"].to_numpy(dtype=float)))
    scale = (MAD_TO_SIGMA * pd.Series(np.abs(jump)).rolling(int(window_bars), min_periods=1)
             .median().shift(1)).to_numpy()
    scale = np.where(np.isfinite(scale), scale, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return jump, wick, np.abs(jump) / scale, wick / scale


def implausible_moves(bars: pd.DataFrame, params: PlausibilityParams,
                      moves: tuple[np.ndarray, ...] | None = None) -> pd.DataFrame:
    """The flagged bars of ``bars`` (open, high, low, close; time index), one row each:
    ``kind`` (jump / wick), ``log_move``, ``sigmas`` and ``spike`` (the bar can be removed:
    a wick, or a jump whose next return comes back by at least half of it). ``moves``:
    :func:`_moves` of ``bars`` when already computed."""
    jump, wick, jump_sigmas, wick_sigmas = moves or _moves(bars, params.window_bars)

    def flagged(move: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
        return (np.abs(move) > params.min_jump_log_return) & (sigmas > params.max_jump_sigmas)

    is_jump, is_wick = flagged(jump, jump_sigmas), flagged(wick, wick_sigmas)
    following = np.r_[jump[1:], 0.0]
    comes_back = (np.sign(following) == -np.sign(jump)) & (
        np.abs(following) >= 0.5 * np.abs(jump))
    rows = np.flatnonzero(is_jump | is_wick)
    return pd.DataFrame({
        "kind": np.where(is_jump[rows], "jump", "wick"),
        "log_move": np.where(is_jump[rows], jump[rows], wick[rows]),
        "sigmas": np.where(is_jump[rows], jump_sigmas[rows], wick_sigmas[rows]),
        "spike": np.where(is_jump[rows], comes_back[rows], True),
    }, index=bars.index[rows])


def largest_move_sigmas(moves: tuple[np.ndarray, ...]) -> float:
    """The largest close-to-close move or wick in robust units (what the report shows), of
    :func:`_moves`."""
    _, _, jump_sigmas, wick_sigmas = moves
    finite = np.r_[jump_sigmas, wick_sigmas]
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else 0.0


def checked_prices(bars: pd.DataFrame, params: PlausibilityParams, drop_spikes: bool
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``bars`` without implausible moves, and the report.

    Without ``drop_spikes`` the first flagged bar raises ValueError naming it. With it,
    spikes are removed (their bars become gaps), the rest checked again, and a move that
    is still flagged (a level shift) raises."""
    dropped: list[str] = []
    while True:
        measured = _moves(bars, params.window_bars)  # once per pass: a spike's neighbours change
        moves = implausible_moves(bars, params, measured)
        if moves.empty:
            break
        spikes = moves.index[moves["spike"].to_numpy()]
        if not drop_spikes or spikes.empty or not moves["spike"].iloc[0]:
            first = moves.iloc[0]
            what = ("a spike (out and back)" if first["spike"] else
                    "a level shift that does not come back (another symbol's prices, a "
                    "unit change?)")
            raise ValueError(
                f"implausible price at the bar opening {moves.index[0]}: a {first['kind']} "
                f"of {first['log_move']:+.3f} in log price, {first['sigmas']:.0f} robust "
                f"units of the previous {params.window_bars} bars (limit "
                f"{params.max_jump_sigmas:g} and {params.min_jump_log_return:g}); {what}. "
                "Check the file holding that bar; "
                + ("a spike can be dropped with ingestion.repairs.drop_implausible_bars: "
                   "true" if first["spike"] else "correct or remove the file"))
        dropped += [t.isoformat() for t in spikes[:1]]
        bars = bars.drop(index=spikes[:1])  # one at a time: its neighbour is judged again
    return bars, {"window_bars": int(params.window_bars),
                  "max_jump_sigmas": float(params.max_jump_sigmas),
                  "min_jump_log_return": float(params.min_jump_log_return),
                  "largest_move_sigmas": largest_move_sigmas(measured),
                  "dropped_spikes": dropped}
