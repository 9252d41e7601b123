"""Spectral features: rolling Fourier band power and wavelet decomposition energies.

Both read the last 64 log returns (bars t-64 .. t, warm-up 64 bars), demeaned, and give
shares of their power, so they are dimensionless and sum to 1 within a family; a window
holding a missing close gives NaN, a flat one (no power) too. Windows are processed as rows
of a sliding-window view, a bounded number of rows at a time (temporaries stay at a few
tens of MB whatever the history length).

The features of one family are columns of the same transform, computed once per
``compute_features`` call (``memoised_on_close``): the four FFT features cost one pass of
FFTs, not four.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pywt
from numpy.lib.stride_tricks import sliding_window_view

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.statistics import column_series, memoised_on_close

SPECTRAL_WINDOW = 64
CHUNK_ROWS = 16_384  # windows transformed at once: 16k x 64 floats = 8 MB per array

# rfft bins k = 1..32 of a 64-bar window (period 64 / k bars; k = 0 is the removed mean)
LOW_BAND = slice(1, 5)     # periods 64 .. 16 bars
MID_BAND = slice(5, 17)    # periods 12.8 .. 4 bars
HIGH_BAND = slice(17, 33)  # periods 3.8 .. 2 bars
WAVELET, WAVELET_LEVELS = "db4", 3  # details d1 (2-4 bars), d2 (4-8), d3 (8-16), approx a3


def rolling_window_rows(values: np.ndarray, window: int, transform: Callable[[np.ndarray],
                        np.ndarray], columns: int) -> np.ndarray:
    """``transform`` applied to every trailing window of ``values``: row t of the result is
    ``transform`` of values[t-window+1 .. t] (rows before the first full window, and windows
    holding a NaN, are NaN). ``transform`` maps a (rows, window) block to (rows, columns)."""
    n = values.size
    out = np.full((n, columns), np.nan)
    if n < window:
        return out
    windows = sliding_window_view(values, window)
    missing = np.concatenate(([0], np.cumsum(np.isnan(values))))
    has_gap = (missing[window:] - missing[:-window]) > 0  # per window, aligned with rows
    for start in range(0, windows.shape[0], CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, windows.shape[0])
        block = windows[start:stop]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[window - 1 + start:window - 1 + stop] = transform(block)
    out[window - 1:][has_gap] = np.nan
    return out


def _shares(energies: np.ndarray) -> np.ndarray:
    """Rows divided by their sum; NaN for a row without energy."""
    total = energies.sum(axis=1, keepdims=True)
    return np.where(total > 0, energies / np.where(total > 0, total, 1.0), np.nan)


# periodic Hann taper: a sine on an exact bin leaks into its two neighbours only
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(SPECTRAL_WINDOW) / SPECTRAL_WINDOW)
# one-sided spectrum: interior bins stand for two frequencies (+k and -k), Nyquist for one
_BIN_WEIGHT = np.where(np.arange(SPECTRAL_WINDOW // 2 + 1) == SPECTRAL_WINDOW // 2, 1.0, 2.0)


def _fourier_band_features(block: np.ndarray) -> np.ndarray:
    """Columns: low, mid and high band shares, dominant period (bars) of each window row."""
    tapered = (block - block.mean(axis=1, keepdims=True)) * _HANN
    spectrum = np.fft.rfft(tapered, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2) * _BIN_WEIGHT
    bands = np.stack([power[:, LOW_BAND].sum(axis=1), power[:, MID_BAND].sum(axis=1),
                      power[:, HIGH_BAND].sum(axis=1)], axis=1)
    shares = _shares(bands)
    period = SPECTRAL_WINDOW / (1 + np.argmax(power[:, 1:], axis=1))
    period = np.where(np.isnan(shares[:, 0]), np.nan, period)
    return np.column_stack([shares, period])


def _wavelet_energy_shares(block: np.ndarray) -> np.ndarray:
    """Columns: energy shares of details d1, d2, d3 and approximation a3 of each window row
    (orthogonal transform, so the energies add up to the window's sum of squares)."""
    demeaned = block - block.mean(axis=1, keepdims=True)
    approximation, *details = pywt.wavedec(demeaned, WAVELET, mode="periodization",
                                           level=WAVELET_LEVELS, axis=1)
    finest_first = [*details[::-1], approximation]
    energies = np.stack([np.einsum("ij,ij->i", c, c) for c in finest_first], axis=1)
    return _shares(energies)


def _fourier(bars: pd.DataFrame) -> np.ndarray:
    return memoised_on_close("fourier", bars, lambda returns: rolling_window_rows(
        returns, SPECTRAL_WINDOW, _fourier_band_features, 4))


def _wavelet(bars: pd.DataFrame) -> np.ndarray:
    return memoised_on_close("wavelet", bars, lambda returns: rolling_window_rows(
        returns, SPECTRAL_WINDOW, _wavelet_energy_shares, WAVELET_LEVELS + 1))


@register("fft_low_band_share_64", "spectral", SPECTRAL_WINDOW, ["close"])
def fft_low_band_share_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the power of the last 64 log returns (demeaned, Hann-tapered, rfft) at
    periods of 16 to 64 bars (bins 1-4 of 32), 0..1: slow swings."""
    return column_series(_fourier(bars), 0, bars)


@register("fft_mid_band_share_64", "spectral", SPECTRAL_WINDOW, ["close"])
def fft_mid_band_share_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the power of the last 64 log returns (demeaned, Hann-tapered, rfft) at
    periods of 4 to 12.8 bars (bins 5-16 of 32), 0..1."""
    return column_series(_fourier(bars), 1, bars)


@register("fft_high_band_share_64", "spectral", SPECTRAL_WINDOW, ["close"])
def fft_high_band_share_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the power of the last 64 log returns (demeaned, Hann-tapered, rfft) at
    periods of 2 to 3.8 bars (bins 17-32 of 32), 0..1: bar-to-bar chop (about 0.5 for
    white-noise returns; the three band shares sum to 1)."""
    return column_series(_fourier(bars), 2, bars)


@register("fft_dominant_period_64", "spectral", SPECTRAL_WINDOW, ["close"])
def fft_dominant_period_64(bars: pd.DataFrame) -> pd.Series:
    """Period in bars (64 / k, 2..64) of the strongest rfft bin k >= 1 of the last 64 log
    returns (demeaned, Hann-tapered)."""
    return column_series(_fourier(bars), 3, bars)


@register("wavelet_energy_share_d1_64", "spectral", SPECTRAL_WINDOW, ["close"])
def wavelet_energy_share_d1_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the energy of the last 64 log returns (demeaned) in the level-1 details of
    a 3-level db4 wavelet decomposition (periodization), scales 2-4 bars, 0..1 (about 0.5
    for white noise)."""
    return column_series(_wavelet(bars), 0, bars)


@register("wavelet_energy_share_d2_64", "spectral", SPECTRAL_WINDOW, ["close"])
def wavelet_energy_share_d2_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the energy of the last 64 log returns (demeaned) in the level-2 details of
    the 3-level db4 decomposition, scales 4-8 bars, 0..1."""
    return column_series(_wavelet(bars), 1, bars)


@register("wavelet_energy_share_d3_64", "spectral", SPECTRAL_WINDOW, ["close"])
def wavelet_energy_share_d3_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the energy of the last 64 log returns (demeaned) in the level-3 details of
    the 3-level db4 decomposition, scales 8-16 bars, 0..1."""
    return column_series(_wavelet(bars), 2, bars)


@register("wavelet_energy_share_a3_64", "spectral", SPECTRAL_WINDOW, ["close"])
def wavelet_energy_share_a3_64(bars: pd.DataFrame) -> pd.Series:
    """Share of the energy of the last 64 log returns (demeaned) in the level-3
    approximation of the db4 decomposition, scales over 16 bars, 0..1 (the four wavelet
    shares sum to 1)."""
    return column_series(_wavelet(bars), 3, bars)
