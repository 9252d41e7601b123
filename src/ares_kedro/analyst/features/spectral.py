"""Spectral features: rolling Fourier band power and wavelet decomposition energies.

Both read the last 64 log returns (bars t-64 .. t, warm-up 64 bars), demeaned, and give
shares of their power, so they are dimensionless and sum to 1 within a family; a window
holding a missing close gives NaN, a flat one (no power) too. Windows are built as rows of
a block, a bounded number of rows at a time (temporaries stay at a few tens of MB whatever
the history length).

The features of one family are columns of the same transform, computed once per
``compute_features`` call (``memoised_on_close``): the four FFT features cost one pass of
FFTs, not four. Building the demeaned windows, the band sums and the energy shares is
compiled (numba, with numpy's order of summation, so the Fourier features are numpy's bit
for bit); the wavelet decomposition, a fixed orthogonal linear map of the window, is a
matrix product (the matrix is pywt's transform of each unit vector).
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import pandas as pd
import pywt

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.statistics import column_series, memoised_on_close

SPECTRAL_WINDOW = 64
CHUNK_ROWS = 16_384  # windows transformed at once: 16k x 64 floats = 8 MB per array
# rows per matrix product: 64 x 64 x 64 multiplications, which OpenBLAS keeps on the calling
# thread (handing a product to its threads costs more than it saves, far more on a busy
# machine)
PRODUCT_ROWS = 64

# rfft bins k = 1..32 of a 64-bar window (period 64 / k bars; k = 0 is the removed mean)
LOW_BAND = slice(1, 5)     # periods 64 .. 16 bars
MID_BAND = slice(5, 17)    # periods 12.8 .. 4 bars
HIGH_BAND = slice(17, 33)  # periods 3.8 .. 2 bars
WAVELET, WAVELET_LEVELS = "db4", 3  # details d1 (2-4 bars), d2 (4-8), d3 (8-16), approx a3
PAIRWISE_BLOCK = 128  # numpy sums up to this many values in one pass of eight partial sums


@numba.njit(cache=True, nogil=True, inline="always")
def _numpy_sum(values, start, stop):  # pragma: no cover (compiled)
    """values[start:stop] (at most PAIRWISE_BLOCK of them) summed in numpy's order: below
    8 values one by one, else in eight interleaved partial sums, then the rest."""
    n = stop - start
    if n < 8:
        total = 0.0
        for k in range(start, stop):
            total += values[k]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    end = stop - n % 8
    for k in range(start + 8, end, 8):
        r0 += values[k]
        r1 += values[k + 1]
        r2 += values[k + 2]
        r3 += values[k + 3]
        r4 += values[k + 4]
        r5 += values[k + 5]
        r6 += values[k + 6]
        r7 += values[k + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for k in range(end, stop):
        total += values[k]
    return total


@numba.njit(cache=True, nogil=True)
def _demeaned_windows(values, first, stop, taper):  # pragma: no cover (compiled)
    """Row i: the window of ``taper.size`` values ending at first + i, minus its mean (as
    numpy's ``mean``), times ``taper``; all NaN for a window holding a NaN (its mean)."""
    window = taper.size
    out = np.empty((stop - first, window))
    for i in range(stop - first):
        start = first + i - window + 1
        mean = _numpy_sum(values, start, start + window) / window
        row = values[start:start + window]
        for k in range(window):
            out[i, k] = (row[k] - mean) * taper[k]
    return out


def rolling_window_rows(values: np.ndarray, window: int,
                        transform: Callable[[np.ndarray], np.ndarray], columns: int,
                        taper: np.ndarray | None = None) -> np.ndarray:
    """``transform`` applied to every trailing window of ``values``, demeaned (and multiplied
    by ``taper``): row t of the result is ``transform`` of values[t-window+1 .. t] minus
    their mean; rows before the first full window are NaN, and so must ``transform`` make
    those of windows holding a NaN (all their values are NaN). ``transform`` maps a
    (rows, window) block to (rows, columns)."""
    if not 1 <= window <= PAIRWISE_BLOCK:
        raise ValueError(f"window must be 1 .. {PAIRWISE_BLOCK} values, got {window}")
    values = np.ascontiguousarray(values, dtype=np.float64)
    taper = np.ones(window) if taper is None else np.asarray(taper, dtype=np.float64)
    out = np.full((values.size, columns), np.nan)
    for first in range(window - 1, values.size, CHUNK_ROWS):
        stop = min(first + CHUNK_ROWS, values.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[first:stop] = transform(_demeaned_windows(values, first, stop, taper))
    return out


# periodic Hann taper: a sine on an exact bin leaks into its two neighbours only
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(SPECTRAL_WINDOW) / SPECTRAL_WINDOW)
# one-sided spectrum: interior bins stand for two frequencies (+k and -k), Nyquist for one
_BIN_WEIGHT = np.where(np.arange(SPECTRAL_WINDOW // 2 + 1) == SPECTRAL_WINDOW // 2, 1.0, 2.0)
_BANDS = np.array([[band.start, band.stop] for band in (LOW_BAND, MID_BAND, HIGH_BAND)])


@numba.njit(cache=True, nogil=True)
def _band_columns(spectrum, bin_weight, bands, window):  # pragma: no cover (compiled)
    """Per row of the rfft ``spectrum``: each band's share of the power in ``bands``' bins
    (numpy's sums, bit for bit), then the period in bars of the strongest bin k >= 1; NaN
    without power."""
    rows, bins = spectrum.shape
    out = np.full((rows, bands.shape[0] + 1), np.nan)
    power = np.empty(bins)
    energies = np.empty(bands.shape[0])
    for i in range(rows):
        for k in range(bins):
            value = spectrum[i, k]
            power[k] = (value.real * value.real + value.imag * value.imag) * bin_weight[k]
        total = 0.0
        for b in range(bands.shape[0]):
            energies[b] = _numpy_sum(power, bands[b, 0], bands[b, 1])
            total += energies[b]
        if not total > 0:
            continue
        strongest = 1
        for k in range(2, bins):
            if power[k] > power[strongest]:
                strongest = k
        for b in range(bands.shape[0]):
            out[i, b] = energies[b] / total
        out[i, bands.shape[0]] = window / strongest
    return out


def _fourier_band_features(tapered: np.ndarray) -> np.ndarray:
    """Columns: low, mid and high band shares, dominant period (bars) of each window row."""
    spectrum = np.fft.rfft(tapered, axis=1)
    return _band_columns(spectrum, _BIN_WEIGHT, _BANDS, SPECTRAL_WINDOW)


def _wavelet_matrix() -> tuple[np.ndarray, np.ndarray]:
    """The WAVELET_LEVELS-level WAVELET decomposition (periodization) of a SPECTRAL_WINDOW
    window as a matrix (window @ matrix = its coefficients: details d1, d2, d3, then the
    approximation), and where each of these groups of columns starts (then the end)."""
    approximation, *details = pywt.wavedec(np.eye(SPECTRAL_WINDOW), WAVELET,
                                           mode="periodization", level=WAVELET_LEVELS, axis=1)
    groups = [*details[::-1], approximation]
    bounds = np.cumsum([0] + [group.shape[1] for group in groups])
    return np.ascontiguousarray(np.concatenate(groups, axis=1)), bounds


_WAVELET_MATRIX, _WAVELET_GROUPS = _wavelet_matrix()


@numba.njit(cache=True, nogil=True)
def _group_shares(coefficients, bounds):  # pragma: no cover (compiled)
    """Per row: each group of coefficients' share of the row's sum of squares; NaN
    without."""
    rows = coefficients.shape[0]
    groups = bounds.size - 1
    out = np.full((rows, groups), np.nan)
    energies = np.empty(groups)
    for i in range(rows):
        total = 0.0
        for g in range(groups):
            energy = 0.0
            for k in range(bounds[g], bounds[g + 1]):
                energy += coefficients[i, k] * coefficients[i, k]
            energies[g] = energy
            total += energy
        if total > 0:
            for g in range(groups):
                out[i, g] = energies[g] / total
    return out


def _wavelet_energy_shares(demeaned: np.ndarray) -> np.ndarray:
    """Columns: energy shares of details d1, d2, d3 and approximation a3 of each window row
    (orthogonal transform, so the energies add up to the window's sum of squares)."""
    coefficients = np.empty((demeaned.shape[0], _WAVELET_MATRIX.shape[1]))
    for start in range(0, demeaned.shape[0], PRODUCT_ROWS):
        np.matmul(demeaned[start:start + PRODUCT_ROWS], _WAVELET_MATRIX,
                  out=coefficients[start:start + PRODUCT_ROWS])
    return _group_shares(coefficients, _WAVELET_GROUPS)


def _fourier(bars: pd.DataFrame) -> np.ndarray:
    return memoised_on_close("fourier", bars, lambda returns: rolling_window_rows(
        returns, SPECTRAL_WINDOW, _fourier_band_features, 4, taper=_HANN))


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
