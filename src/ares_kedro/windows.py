"""Causal window statistics on float arrays: compiled kernels with pandas' semantics.

The value at position t uses values up to t only. NaN follows pandas: a rolling statistic
is NaN unless its window holds at least ``min_periods`` non-NaN values (default: the whole
window); an exponential mean skips NaN and is NaN until ``min_periods`` values were seen.

Why not pandas' ``rolling`` and ``ewm``: on a live decision's 505-bar window each pandas
call costs tens of microseconds of overhead for a microsecond of arithmetic, and the regime
rules and features make hundreds of them. These kernels give the same values (the
exponential mean bit for bit; the rolling statistics up to rounding, since each window is
summed afresh, oldest value first, instead of by running sums: exact zeros and no drift on
long series), for training's long tables and live windows alike (tests/test_windows.py).
Full windows, the common case, take fast paths (eight windows summed side by side, a
queue for the extremes) that give the same values as the general kernels.
"""

from __future__ import annotations

import numba
import numpy as np


def as_floats(values) -> np.ndarray:
    """``values`` (array, Series, list) as a contiguous float64 array (no copy if it is one)."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def shift(values: np.ndarray, periods: int = 1) -> np.ndarray:
    """``values`` moved ``periods`` positions later (earlier for < 0), NaN where nothing
    moved in: pandas' ``shift``."""
    values = as_floats(values)
    out = np.full(values.size, np.nan)
    if periods == 0:
        out[:] = values
    elif periods > 0:
        out[periods:] = values[:-periods]
    else:
        out[:periods] = values[-periods:]
    return out


def diff(values: np.ndarray, periods: int = 1) -> np.ndarray:
    """values_t - values_{t - periods}, NaN for the first ``periods`` positions."""
    values = as_floats(values)
    return values - shift(values, periods)


def pct_change(values: np.ndarray, periods: int = 1) -> np.ndarray:
    """values_t / values_{t - periods} - 1 (no filling of missing values)."""
    values = as_floats(values)
    return values / shift(values, periods) - 1.0


def ewm_mean(values: np.ndarray, *, alpha: float | None = None, span: float | None = None,
             min_periods: int = 0) -> np.ndarray:
    """Exponential mean with ``adjust=False``: pandas' ``ewm(alpha= | span=, adjust=False,
    min_periods=).mean()`` bit for bit (NaN values are skipped but their positions still
    decay the weight, as pandas does with ``ignore_na=False``)."""
    if (alpha is None) == (span is None):
        raise ValueError("give exactly one of alpha and span")
    # pandas goes through the centre of mass; so must we, for the same rounding
    com = 1.0 / alpha - 1.0 if alpha is not None else (span - 1.0) / 2.0
    return _ewm_mean(as_floats(values), 1.0 / (1.0 + com), max(int(min_periods), 1))


@numba.njit(cache=True, nogil=True)
def _ewm_mean(values, alpha, min_periods):  # pragma: no cover (compiled)
    n = values.size
    out = np.full(n, np.nan)
    if n == 0:
        return out
    decay = 1.0 - alpha
    weighted = values[0]
    seen = 0 if np.isnan(weighted) else 1
    if seen >= min_periods:
        out[0] = weighted
    old_weight = 1.0
    for t in range(1, n):
        value = values[t]
        is_value = not np.isnan(value)
        if is_value:
            seen += 1
        if not np.isnan(weighted):
            old_weight *= decay
            if is_value:
                if weighted != value:
                    weighted = (old_weight * weighted + alpha * value) / (old_weight + alpha)
                old_weight = 1.0
        elif is_value:
            weighted = value
        if seen >= min_periods:
            out[t] = weighted
    return out


def _periods(window: int, min_periods: int | None) -> tuple[int, int]:
    window = int(window)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return window, window if min_periods is None else max(int(min_periods), 1)


@numba.njit(cache=True, nogil=True)
def _rolling(values, window, min_periods, statistic, ddof):  # pragma: no cover (compiled)
    """statistic 0 sum, 1 mean, 2 std, 3 max, 4 min of the non-NaN values of each window
    (any ``min_periods``), each window computed afresh."""
    n = values.size
    out = np.full(n, np.nan)
    for t in range(n):
        start = max(t - window + 1, 0)
        count = 0
        total = 0.0
        extreme = np.nan
        for k in range(start, t + 1):
            value = values[k]
            if np.isnan(value):
                continue
            count += 1
            total += value
            if statistic == 3 and not value <= extreme:
                extreme = value
            elif statistic == 4 and not value >= extreme:
                extreme = value
        if count < min_periods:
            continue
        if statistic == 0:
            out[t] = total
        elif statistic == 1:
            out[t] = total / count
        elif statistic == 2:
            if count <= ddof:
                continue
            mean = total / count
            squares = 0.0
            for k in range(start, t + 1):
                value = values[k]
                if not np.isnan(value):
                    squares += (value - mean) ** 2
            out[t] = np.sqrt(squares / (count - ddof))
        else:
            out[t] = extreme
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _eight_sums(values, first, window, means):  # pragma: no cover (compiled)
    """Sums, oldest value first, of the eight windows starting at first .. first + 7, of
    the values (``means`` None) or of their squared deviations from ``means``: eight
    independent running sums side by side, in registers."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for k in range(window):
        row = values[first + k:first + k + 8]
        if means is None:
            s0 += row[0]
            s1 += row[1]
            s2 += row[2]
            s3 += row[3]
            s4 += row[4]
            s5 += row[5]
            s6 += row[6]
            s7 += row[7]
        else:
            s0 += (row[0] - means[0]) ** 2
            s1 += (row[1] - means[1]) ** 2
            s2 += (row[2] - means[2]) ** 2
            s3 += (row[3] - means[3]) ** 2
            s4 += (row[4] - means[4]) ** 2
            s5 += (row[5] - means[5]) ** 2
            s6 += (row[6] - means[6]) ** 2
            s7 += (row[7] - means[7]) ** 2
    return s0, s1, s2, s3, s4, s5, s6, s7


@numba.njit(cache=True, nogil=True)
def _full_window_moments(values, window, ddof, statistic):  # pragma: no cover (compiled)
    """What :func:`_rolling` gives with ``min_periods == window`` (a NaN in the window makes
    it NaN), the same sums in the same order, eight windows at a time: as fast as pandas'
    running sums on long tables."""
    n = values.size
    out = np.full(n, np.nan)
    end = window - 1
    while end < n:
        first = end - window + 1
        if end + 8 <= n:
            sums = _eight_sums(values, first, window, None)
            for i in range(8):
                out[end + i] = sums[i]
            count = 8
        else:
            total = 0.0
            for k in range(first, end + 1):
                total += values[k]
            out[end] = total
            count = 1
        if statistic >= 1:
            for i in range(count):
                out[end + i] = out[end + i] / window
        if statistic == 2:
            if count == 8:
                means = (out[end], out[end + 1], out[end + 2], out[end + 3], out[end + 4],
                         out[end + 5], out[end + 6], out[end + 7])
                squares = _eight_sums(values, first, window, means)
                for i in range(8):
                    out[end + i] = np.sqrt(squares[i] / (window - ddof))
            else:
                mean = out[end]
                spread = 0.0
                for k in range(first, end + 1):
                    spread += (values[k] - mean) ** 2
                out[end] = np.sqrt(spread / (window - ddof))
        end += count
    return out


@numba.njit(cache=True, nogil=True)
def _full_window_extreme(values, window, largest):  # pragma: no cover (compiled)
    """Largest (``largest``) or smallest value of each window without NaN: a queue of the
    positions that can still become the extreme, O(n) for any window."""
    n = values.size
    out = np.full(n, np.nan)
    queue = np.empty(n, np.int64)
    head = 0
    tail = 0
    last_nan = -window
    for t in range(n):
        value = values[t]
        if np.isnan(value):
            last_nan = t
            head = 0
            tail = 0
        else:
            while tail > head and ((values[queue[tail - 1]] <= value) if largest
                                   else (values[queue[tail - 1]] >= value)):
                tail -= 1
            queue[tail] = t
            tail += 1
        while head < tail and queue[head] <= t - window:
            head += 1
        if t >= window - 1 and t - last_nan >= window:
            out[t] = values[queue[head]]
    return out


def rolling_sum(values, window: int, min_periods: int | None = None) -> np.ndarray:
    """Sum of the non-NaN values of each trailing window of ``window`` values."""
    window, minimum = _periods(window, min_periods)
    if minimum == window:
        return _full_window_moments(as_floats(values), window, 0, 0)
    return _rolling(as_floats(values), window, minimum, 0, 0)


def rolling_mean(values, window: int, min_periods: int | None = None) -> np.ndarray:
    """Mean of the non-NaN values of each trailing window."""
    window, minimum = _periods(window, min_periods)
    if minimum == window:
        return _full_window_moments(as_floats(values), window, 0, 1)
    return _rolling(as_floats(values), window, minimum, 1, 0)


def rolling_std(values, window: int, ddof: int = 1, min_periods: int | None = None
                ) -> np.ndarray:
    """Standard deviation (``ddof`` as pandas, default 1) of each trailing window."""
    window, minimum = _periods(window, min_periods)
    if minimum == window and window > ddof:
        return _full_window_moments(as_floats(values), window, int(ddof), 2)
    return _rolling(as_floats(values), window, minimum, 2, int(ddof))


def rolling_max(values, window: int, min_periods: int | None = None) -> np.ndarray:
    """Largest non-NaN value of each trailing window."""
    window, minimum = _periods(window, min_periods)
    if minimum == window:
        return _full_window_extreme(as_floats(values), window, True)
    return _rolling(as_floats(values), window, minimum, 3, 0)


def rolling_min(values, window: int, min_periods: int | None = None) -> np.ndarray:
    """Smallest non-NaN value of each trailing window."""
    window, minimum = _periods(window, min_periods)
    if minimum == window:
        return _full_window_extreme(as_floats(values), window, False)
    return _rolling(as_floats(values), window, minimum, 4, 0)


@numba.njit(cache=True, nogil=True)
def _rolling_rank(values, window, min_periods):  # pragma: no cover (compiled)
    """Percentile rank of each value among the non-NaN values of its window (ties at their
    average rank), counting the smaller and equal ones: no sorted copy to keep up."""
    n = values.size
    out = np.full(n, np.nan)
    for t in range(n):
        value = values[t]
        if np.isnan(value):
            continue
        below = 0
        equal = 0
        count = 0
        for k in range(max(t - window + 1, 0), t + 1):
            other = values[k]
            if not np.isnan(other):
                count += 1
                below += other < value
                equal += other == value
        if count >= min_periods:
            out[t] = (below + 0.5 * (equal + 1)) / count
    return out


@numba.njit(cache=True, nogil=True)
def slide_sorted_window(ordered, count, leaving, entering):  # pragma: no cover (compiled)
    """Move a sorted window one step: remove ``leaving`` from and insert ``entering`` into
    ``ordered[:count]`` (NaN: nothing to remove or insert); returns the new count."""
    if not np.isnan(leaving):
        i = np.searchsorted(ordered[:count], leaving)
        for j in range(i, count - 1):
            ordered[j] = ordered[j + 1]
        count -= 1
    if not np.isnan(entering):
        i = np.searchsorted(ordered[:count], entering)
        for j in range(count, i, -1):
            ordered[j] = ordered[j - 1]
        ordered[i] = entering
        count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _rolling_median(values, window, min_periods):  # pragma: no cover (compiled)
    """Median of the non-NaN values of each window; a sorted copy of the window is kept up
    to date (one removal, one insertion per step)."""
    n = values.size
    out = np.full(n, np.nan)
    ordered = np.empty(window)
    count = 0
    for t in range(n):
        leaving = values[t - window] if t >= window else np.nan
        count = slide_sorted_window(ordered, count, leaving, values[t])
        if count < min_periods or count == 0:
            continue
        middle = count // 2
        out[t] = ordered[middle] if count % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])
    return out


def rolling_median(values, window: int, min_periods: int | None = None) -> np.ndarray:
    """Median of the non-NaN values of each trailing window."""
    window, minimum = _periods(window, min_periods)
    return _rolling_median(as_floats(values), window, minimum)


def rolling_rank(values, window: int, min_periods: int | None = None) -> np.ndarray:
    """Percentile rank, 0..1, of each value among its trailing window (itself included,
    ties at their average rank): pandas' ``rolling(window).rank(pct=True)``."""
    window, minimum = _periods(window, min_periods)
    return _rolling_rank(as_floats(values), window, minimum)
