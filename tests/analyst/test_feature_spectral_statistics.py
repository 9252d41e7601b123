"""Spectral and statistical features: each one measures what its definition says.

The rolling (vectorised, compiled, memoised) computations are compared with a plain
per-window reference; known processes (random walk, fractional Gaussian noise, AR(1)
returns, sines of known period, white noise) land where theory puts them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pywt

from ares_kedro.analyst.features import REGISTRY, compute_features

QUANTILES = ["return_quantile_rank_96", "return_q05_zscore_96", "return_q95_zscore_96"]
HURST = "hurst_exponent_128"
FFT_SHARES = ["fft_low_band_share_64", "fft_mid_band_share_64", "fft_high_band_share_64"]
FFT = [*FFT_SHARES, "fft_dominant_period_64"]
WAVELET = ["wavelet_energy_share_d1_64", "wavelet_energy_share_d2_64",
           "wavelet_energy_share_d3_64", "wavelet_energy_share_a3_64"]
ALL = [*QUANTILES, HURST, *FFT, *WAVELET]


def bars_from_returns(returns: np.ndarray, start_price: float = 100.0) -> pd.DataFrame:
    """Hourly bars whose log returns are ``returns`` (bar 0 has no return)."""
    close = start_price * np.exp(np.concatenate(([0.0], np.cumsum(returns))))
    index = pd.date_range("2024-01-01", periods=close.size, freq="h", tz="UTC")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close},
                        index=index)


def features(bars: pd.DataFrame, names: list[str] = ALL) -> pd.DataFrame:
    table, report = compute_features(bars, names)
    assert report["nan_or_inf_after_warmup"] == {}
    return table


def after_warmup(table: pd.DataFrame, name: str) -> pd.Series:
    return table[name].iloc[REGISTRY[name].warmup:]


def fractional_gaussian_noise(n: int, hurst: float, rng: np.random.Generator) -> np.ndarray:
    """Exact fractional Gaussian noise (Davies-Harte circulant embedding), unit variance."""
    lag = np.arange(n + 1, dtype=float)
    autocovariance = 0.5 * (np.abs(lag + 1) ** (2 * hurst) - 2 * lag ** (2 * hurst)
                            + np.abs(lag - 1) ** (2 * hurst))
    eigenvalues = np.fft.fft(np.concatenate([autocovariance, autocovariance[-2:0:-1]])).real
    noise = rng.normal(size=2 * n) + 1j * rng.normal(size=2 * n)
    return np.fft.fft(np.sqrt(np.clip(eigenvalues, 0, None) / (2 * n)) * noise).real[:n]


def ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    shocks = rng.normal(size=n)
    values = np.empty(n)
    values[0] = shocks[0]
    for i in range(1, n):
        values[i] = phi * values[i - 1] + shocks[i]
    return values


# --- the registry entries ------------------------------------------------------------------

def test_every_new_feature_is_registered_causal_over_its_warmup_and_dimensionless():
    for name in ALL:
        feature = REGISTRY[name]
        assert feature.category == ("statistical" if name in [*QUANTILES, HURST] else "spectral")
        assert feature.inputs == ("close",) and feature.description
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.01, 600)
    table = features(bars_from_returns(returns))
    # warm-up is exact: the first bar whose whole window exists has a value, the one before not
    for name in ALL:
        warmup = REGISTRY[name].warmup
        assert np.isnan(table[name].iloc[warmup - 1]) and np.isfinite(table[name].iloc[warmup])
    # free of the price level and of the size of the moves
    rescaled = features(bars_from_returns(3 * returns, start_price=2.5e4))
    pd.testing.assert_frame_equal(table, rescaled, rtol=1e-7, atol=1e-10)


def test_a_missing_close_blanks_exactly_the_windows_that_contain_its_returns():
    rng = np.random.default_rng(1)
    clean = bars_from_returns(rng.normal(0, 0.01, 700))
    gappy = clean.copy()
    gappy.iloc[300, gappy.columns.get_loc("close")] = np.nan  # spoils returns 300 and 301
    with_gap, _ = compute_features(gappy, ALL)
    without_gap = features(clean)
    for name in ALL:
        window = REGISTRY[name].warmup  # every one of these reads `warm-up` returns
        assert with_gap[name].iloc[300:301 + window].isna().all(), name
        pd.testing.assert_series_equal(with_gap[name].iloc[:300], without_gap[name].iloc[:300])
        pd.testing.assert_series_equal(with_gap[name].iloc[301 + window:],
                                       without_gap[name].iloc[301 + window:], rtol=1e-9)


def test_family_results_follow_the_close_values_and_are_never_shared_with_the_caller():
    rng = np.random.default_rng(2)
    bars = bars_from_returns(rng.normal(0, 0.01, 400))
    names = ["fft_low_band_share_64", "return_quantile_rank_96"]
    first = features(bars, names)
    expected = first.copy()
    first.iloc[:, :] = 0.0  # the caller's frame is its own: no memoised array behind it
    pd.testing.assert_frame_equal(features(bars, names), expected)
    changed = bars.copy()
    changed.iloc[-1, changed.columns.get_loc("close")] *= 1.05  # a new, very large last return
    second = features(changed, names)
    pd.testing.assert_frame_equal(second.iloc[:-1], expected.iloc[:-1])
    assert second["return_quantile_rank_96"].iloc[-1] == 1.0
    assert second["fft_low_band_share_64"].iloc[-1] != expected["fft_low_band_share_64"].iloc[-1]


# --- rolling computation equals a plain per-window reference ------------------------------

def reference(returns: np.ndarray) -> pd.DataFrame:
    """Every feature of this module, one window at a time, straight from its definition."""
    n = returns.size + 1
    out = {name: np.full(n, np.nan) for name in ALL}
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    for t in range(1, n):
        window96 = returns[max(0, t - 96):t]  # returns of bars t-95 .. t
        if window96.size == 96:
            last, others = window96[-1], window96[:-1]
            out["return_quantile_rank_96"][t] = (
                np.sum(others < last) + 0.5 * np.sum(others == last)) / 95
            for name, p in [("return_q05_zscore_96", 0.05), ("return_q95_zscore_96", 0.95)]:
                out[name][t] = (np.quantile(window96, p) - window96.mean()) / window96.std(ddof=1)
        window128 = returns[max(0, t - 128):t]
        if window128.size == 128:
            scales = np.array([1, 2, 4, 8, 16])
            variances = []
            for m in scales:
                sums = np.convolve(window128, np.ones(m), mode="valid")
                variances.append(np.mean((sums - m * window128.mean()) ** 2)
                                 / (m * (1 - m / 128)))
            slope = np.polyfit(np.log(scales), np.log(variances), 1)[0]
            out[HURST][t] = (1 + slope) / 2
        window64 = returns[max(0, t - 64):t]
        if window64.size == 64:
            demeaned = window64 - window64.mean()
            power = np.abs(np.fft.rfft(demeaned * hann)) ** 2
            power[1:32] *= 2  # both signs of every frequency but 0 and Nyquist
            total = power[1:].sum()
            for name, bins in zip(FFT_SHARES, [range(1, 5), range(5, 17), range(17, 33)],
                                  strict=True):
                out[name][t] = power[list(bins)].sum() / total
            out["fft_dominant_period_64"][t] = 64 / (1 + np.argmax(power[1:]))
            coefficients = pywt.wavedec(demeaned, "db4", mode="periodization", level=3)
            energies = [np.sum(c**2) for c in coefficients]  # a3, d3, d2, d1
            assert np.isclose(sum(energies), np.sum(demeaned**2))  # orthogonal: all energy kept
            for name, energy in zip(WAVELET, energies[::-1], strict=True):
                out[name][t] = energy / sum(energies)
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(out, index=index)


def test_the_rolling_computation_matches_a_per_window_reference():
    rng = np.random.default_rng(3)
    # prices on a 0.01 tick: many unchanged closes, so returns tie (exactly 0) as they do live
    close = np.round(100 * np.exp(np.cumsum(rng.standard_t(4, 400) * 0.0005)), 2)
    returns = np.diff(np.log(close))
    assert np.mean(returns == 0) > 0.05
    bars = bars_from_returns(returns, start_price=close[0])
    bars["close"] = close  # exactly the ticked prices
    pd.testing.assert_frame_equal(features(bars), reference(np.diff(np.log(close))),
                                  rtol=1e-9, atol=1e-12)


# --- statistical: quantiles -------------------------------------------------------------

def test_a_new_extreme_return_has_quantile_rank_one_and_a_new_low_zero():
    rng = np.random.default_rng(4)
    returns = rng.normal(0, 0.01, 300)
    returns[250] = 5 * np.abs(returns).max()
    returns[270] = -5 * np.abs(returns).max()
    table = features(bars_from_returns(returns))
    rank = table["return_quantile_rank_96"]
    assert rank.iloc[251] == 1.0 and rank.iloc[271] == 0.0  # bar i + 1 carries return i
    assert after_warmup(table, "return_quantile_rank_96").between(0, 1).all()
    assert 0.45 < after_warmup(table, "return_quantile_rank_96").mean() < 0.55


def test_standardised_tail_quantiles_are_about_1_6_for_normal_returns():
    table = features(bars_from_returns(np.random.default_rng(5).normal(0, 0.01, 5000)))
    assert after_warmup(table, "return_q05_zscore_96").median() == pytest.approx(-1.6, abs=0.1)
    assert after_warmup(table, "return_q95_zscore_96").median() == pytest.approx(1.6, abs=0.1)


def test_tail_asymmetry_has_the_sign_of_the_skew():
    rng = np.random.default_rng(6)
    right_skewed = rng.exponential(0.01, 5000) - 0.01  # long upper tail, short lower one
    up = features(bars_from_returns(right_skewed))
    down = features(bars_from_returns(-right_skewed))
    asymmetry_up = up["return_q95_zscore_96"] + up["return_q05_zscore_96"]
    asymmetry_down = down["return_q95_zscore_96"] + down["return_q05_zscore_96"]
    assert asymmetry_up.iloc[96:].median() > 0.5 and asymmetry_down.iloc[96:].median() < -0.5
    pd.testing.assert_series_equal(asymmetry_up, -asymmetry_down, check_names=False)


# --- statistical: Hurst exponent --------------------------------------------------------

def test_hurst_is_one_half_on_a_gaussian_random_walk():
    table = features(bars_from_returns(np.random.default_rng(7).normal(0, 0.01, 20_000)))
    hurst = after_warmup(table, HURST)
    assert hurst.median() == pytest.approx(0.5, abs=0.05)
    assert 0.04 < hurst.std() < 0.12  # one 128-bar window is a noisy estimate, not a wild one


@pytest.mark.parametrize("true_hurst", [0.3, 0.5, 0.7])
def test_hurst_recovers_the_exponent_of_fractional_gaussian_noise(true_hurst):
    noise = fractional_gaussian_noise(20_000, true_hurst, np.random.default_rng(8))
    table = features(bars_from_returns(0.01 * noise))
    assert after_warmup(table, HURST).median() == pytest.approx(true_hurst, abs=0.1)


def test_hurst_is_above_one_half_when_returns_persist_and_below_when_they_revert():
    rng = np.random.default_rng(9)
    trending = features(bars_from_returns(0.01 * ar1(20_000, 0.5, rng)), [HURST])
    reverting = features(bars_from_returns(0.01 * ar1(20_000, -0.5, rng)), [HURST])
    assert after_warmup(trending, HURST).median() > 0.6
    assert after_warmup(reverting, HURST).median() < 0.4


# --- spectral: Fourier bands -------------------------------------------------------------

def sine_bars(period: float, n: int = 600) -> pd.DataFrame:
    """Log price a sine of ``period`` bars: its returns are a sine of the same period."""
    log_price = 0.02 * np.sin(2 * np.pi * np.arange(n) / period)
    return bars_from_returns(np.diff(log_price))


@pytest.mark.parametrize(("period", "band"), [
    (32.0, "fft_low_band_share_64"), (8.0, "fft_mid_band_share_64"),
    (3.2, "fft_high_band_share_64")])
def test_a_sine_puts_its_power_in_the_band_of_its_period(period, band):
    table = features(sine_bars(period), FFT)
    assert (after_warmup(table, band) > 1 - 1e-9).all()
    np.testing.assert_allclose(after_warmup(table, "fft_dominant_period_64"), period)


def test_fft_band_shares_sum_to_one_and_white_noise_spreads_them_by_band_width():
    table = features(bars_from_returns(np.random.default_rng(10).standard_t(4, 5000) * 0.01),
                     FFT)
    shares = table[FFT_SHARES].iloc[64:]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    assert ((shares >= 0) & (shares <= 1)).all().all()
    # bins 1-4, 5-16 and 17-32 (Nyquist counted once): 8, 24 and 31 of 63 halves of power
    np.testing.assert_allclose(shares.mean(), [8 / 63, 24 / 63, 31 / 63], atol=0.02)
    periods = after_warmup(table, "fft_dominant_period_64")
    assert set(np.unique(periods)) <= {64 / k for k in range(1, 33)}


# --- spectral: wavelet energies ----------------------------------------------------------

def test_wavelet_energy_shares_sum_to_one_and_white_noise_fills_the_finest_level_most():
    table = features(bars_from_returns(np.random.default_rng(11).normal(0, 0.01, 5000)),
                     WAVELET)
    shares = table[WAVELET].iloc[64:]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    # an orthogonal transform splits white noise by coefficient count: 32, 16, 8, 8 of 64
    # (the removed mean lived in the approximation)
    np.testing.assert_allclose(shares.mean(), [0.5, 0.25, 0.125, 0.11], atol=0.02)


@pytest.mark.parametrize(("period", "level"), [
    (32.0, "wavelet_energy_share_a3_64"), (6.0, "wavelet_energy_share_d2_64"),
    (2.5, "wavelet_energy_share_d1_64")])
def test_an_oscillation_lands_in_the_wavelet_level_of_its_scale(period, level):
    table = features(sine_bars(period), WAVELET)
    shares = table[WAVELET].iloc[64:]
    assert (shares.idxmax(axis=1) == level).all()
    assert shares[level].min() > 0.75
