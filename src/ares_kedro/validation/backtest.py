"""Vectorised, bar-based backtests of sized LONG / SHORT decisions, every cost in.

A decision at bar t (side +1 / -1, size a fraction of equity) opens a trade at t's close
when no trade is open (one position at a time; a fixed-horizon trade is extended by a
decision on its side and flipped by one on the other, :func:`held_positions`). It leaves by the analyst's barrier rule,
the same as the labels (:func:`~ares_kedro.analyst.labels.barrier_trades`): at the
take-profit or stop price when a later bar's high or low touches it (the stop first when
one bar touches both), else at the close ``holding_bars`` later; a trade still open at the
period's last bar is closed at its close.

Costs, all in (see :mod:`.costs`): the entry fill (taker with slippage, or maker), the exit
fill (a take-profit is a resting limit order when ``take_profit_order`` is maker; stops and
time exits are market orders with slippage), and on futures the funding payment at every
funding time the position is held (``side x size x rate x price / entry price`` of equity
paid; a long pays a positive rate), and on spot a short's margin loan interest for every
bar it is held (``size x interest per bar x price / entry price``).

Equity is marked to market at every close: within a trade held with ``size`` of the equity
at entry, equity relative to entry is ``1 - entry cost + side x size x (P_t / P_entry - 1)
- funding and interest so far`` (minus the exit cost at the exit bar), so the product of the bar returns
over a trade equals ``1 +`` its net return. Everything is array arithmetic over the
trades' bars; no loop over bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import BarrierParams
from ares_kedro.analyst.trade_scoring import held_positions
from ares_kedro.validation.costs import CostModel

TAKE_PROFIT, STOP, TIME_EXIT = 1, -1, 0
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class Backtest:
    """One backtest over the bars ``first_row..last_row`` of a bar table."""

    bar_returns: pd.Series  # net simple return of equity per bar (close t-1 to close t)
    positions: pd.Series  # signed size held through each bar (0 when flat)
    trades: pd.DataFrame  # one row per trade, see :func:`run_trades`
    bars_per_year: float

    @property
    def equity(self) -> pd.Series:
        """Equity per bar close, starting at 1 before the first bar."""
        return (1.0 + self.bar_returns).cumprod()


def funding_by_bar(index: pd.DatetimeIndex, interval: pd.Timedelta,
                   funding_rates: pd.DataFrame | None) -> np.ndarray:
    """(n,) sum of the funding rates whose funding time falls inside each bar
    ([open, open + interval)); zeros without a funding table.

    ``funding_rates``: ``funding_time`` (UTC datetimes or epoch nanoseconds) and
    ``funding_rate`` (fraction per funding event)."""
    paid = np.zeros(len(index))
    if funding_rates is None or funding_rates.empty:
        return paid
    times = pd.DatetimeIndex(pd.to_datetime(funding_rates["funding_time"], utc=True)
                             ).as_unit("ns").asi8
    bar_open = index.as_unit("ns").asi8
    row = np.searchsorted(bar_open, times, side="right") - 1
    inside = (row >= 0) & (times < bar_open[np.clip(row, 0, None)] + interval.value)
    np.add.at(paid, row[inside], funding_rates["funding_rate"].to_numpy(dtype=float)[inside])
    return paid


@dataclass(frozen=True)
class ScoredPeriod:
    """The bars a backtest scores: rows ``first_row..last_row`` of the bar table
    (inclusive), and the bars in a year that annualise its figures."""

    first_row: int
    last_row: int
    bars_per_year: float

    @classmethod
    def of_rows(cls, rows: np.ndarray, bars_per_year: float) -> ScoredPeriod:
        """From the first to the last of sorted ``rows``."""
        return cls(int(rows[0]), int(rows[-1]), float(bars_per_year))


def run_trades(bars: pd.DataFrame, entry_row: np.ndarray, exit_row: np.ndarray,
               side: np.ndarray, size: np.ndarray, exit_price: np.ndarray,
               outcome: np.ndarray, costs: CostModel, funding: np.ndarray,
               period: ScoredPeriod) -> Backtest:
    """Equity path of non-overlapping trades, all costs in.

    Args:
        bars: open, high, low, close (quote_volume for range_volume slippage); sorted.
        entry_row, exit_row: (k,) rows of ``bars``, entry < exit, trades not overlapping.
        side: (k,) +1 / -1; size: (k,) fraction of equity, > 0.
        exit_price: (k,); outcome: (k,) TAKE_PROFIT / STOP / TIME_EXIT (chooses the fill).
        funding: (n,) :func:`funding_by_bar` (ignored unless ``costs.funding``).
        period: the scored rows (inclusive); every trade lies inside them.

    Returns:
        :class:`Backtest` whose ``trades`` has entry_time, exit_time, entry_row, exit_row,
        side, size, outcome, entry_price, exit_price, gross_return (per unit, unsized),
        fees, slippage, funding (fractions of equity at entry) and net_return (of equity).
    """
    first_row, last_row = period.first_row, period.last_row
    entry_row, exit_row = np.asarray(entry_row, np.int64), np.asarray(exit_row, np.int64)
    side, size = np.asarray(side, float), np.asarray(size, float)
    exit_price, outcome = np.asarray(exit_price, float), np.asarray(outcome, np.int64)
    if (exit_row <= entry_row).any() or (entry_row < first_row).any() or \
            (exit_row > last_row).any() or (entry_row[1:] < exit_row[:-1]).any():
        raise ValueError("trades must lie inside the period, exit after entry, not overlap")
    close = bars["close"].to_numpy(float)
    entry_price = close[entry_row]
    cost = _trade_costs(bars, entry_row, exit_row, size, exit_price / entry_price, outcome,
                        costs)
    path = _equity_path(bars["open"].to_numpy(float), close, entry_row, exit_row, side, size,
                        exit_price, entry_price, cost, funding if costs.funding else None,
                        costs.short_interest_per_bar(period.bars_per_year))
    trade, rows, last = path["trade"], path["rows"], path["last"]
    relative, paid_so_far = path["relative"], path["paid_so_far"]
    ratio = cost["ratio"]

    n = last_row - first_row + 1
    log_growth = np.zeros(n)
    np.add.at(log_growth, entry_row - first_row, np.log1p(-cost["entry_cost"]))
    np.add.at(log_growth, rows - first_row, np.log(relative) - np.log(path["previous"]))
    positions = np.zeros(n)
    positions[rows - first_row] = side[trade] * size[trade]
    index = bars.index[first_row:last_row + 1]
    table = pd.DataFrame({
        "entry_time": bars.index[entry_row], "exit_time": bars.index[exit_row],
        "entry_row": entry_row, "exit_row": exit_row, "side": side.astype(int), "size": size,
        "outcome": outcome, "entry_price": entry_price, "exit_price": exit_price,
        "gross_return": side * (ratio - 1.0),
        "fees": size * (cost["entry_fee"] + cost["exit_fee"] * ratio),
        "slippage": size * (cost["entry_slip"] + cost["exit_slip"] * ratio),
        "funding": paid_so_far[last] if rows.size else np.zeros(0),
        "short_interest": path["interest_so_far"][last] if rows.size else np.zeros(0),
        "net_return": relative[last] - 1.0 if rows.size else np.zeros(0)})
    return Backtest(pd.Series(np.expm1(log_growth), index=index, name="net_return"),
                    pd.Series(positions, index=index, name="position"), table,
                    period.bars_per_year)


def _trade_costs(bars: pd.DataFrame, entry_row: np.ndarray, exit_row: np.ndarray,
                 size: np.ndarray, ratio: np.ndarray, outcome: np.ndarray, costs: CostModel
                 ) -> dict[str, np.ndarray]:
    """Per trade: the fee and slippage rates of entry and exit (a take-profit filled as a
    maker pays the maker fee and no slippage), the exit-to-entry price ``ratio``, and the
    entry and exit costs as fractions of equity at entry."""
    high, low = bars["high"].to_numpy(float), bars["low"].to_numpy(float)
    close = bars["close"].to_numpy(float)
    volume = bars["quote_volume"].to_numpy(float) if "quote_volume" in bars else None

    def slip(rows: np.ndarray) -> np.ndarray:
        return costs.slippage(size, high[rows], low[rows], close[rows],
                              None if volume is None else volume[rows])

    entry_fee = np.full(size.shape, costs.fee(costs.entry_order))
    entry_slip = slip(entry_row) if costs.entry_order == "taker" else np.zeros(size.shape)
    maker_exit = (outcome == TAKE_PROFIT) & (costs.take_profit_order == "maker")
    exit_fee = np.where(maker_exit, costs.maker_fee, costs.taker_fee)
    exit_slip = np.where(maker_exit, 0.0, slip(exit_row))
    return {"entry_fee": entry_fee, "entry_slip": entry_slip, "exit_fee": exit_fee,
            "exit_slip": exit_slip, "ratio": ratio,
            "entry_cost": size * (entry_fee + entry_slip),
            "exit_cost": size * (exit_fee + exit_slip) * ratio}


def _equity_path(open_: np.ndarray, close: np.ndarray, entry_row: np.ndarray,
                 exit_row: np.ndarray, side: np.ndarray, size: np.ndarray,
                 exit_price: np.ndarray, entry_price: np.ndarray, cost: dict[str, np.ndarray],
                 funding: np.ndarray | None, short_interest: float = 0.0
                 ) -> dict[str, np.ndarray]:
    """Every bar each trade is exposed to (entry + 1 .. exit), vectorised: its ``trade``,
    bar ``rows``, whether it is the ``last``, the funding and the short's loan interest
    (``short_interest`` per bar of the borrowed coins' value at the bar's open) paid so far,
    the trade's equity ``relative`` to its entry (never below nothing) and the bar before
    (``previous``)."""
    held = exit_row - entry_row
    trade = np.repeat(np.arange(entry_row.size), held)
    start = np.repeat(np.cumsum(held) - held, held)
    rows = np.repeat(entry_row, held) + 1 + (np.arange(held.sum()) - start)
    last = rows == exit_row[trade]
    price = np.where(last, exit_price[trade], close[rows])
    rate = funding[rows] if funding is not None else np.zeros(rows.size)
    exposure = size[trade] * open_[rows] / entry_price[trade]  # the coins' value, of equity
    paid_so_far = _so_far(side[trade] * exposure * rate, start)
    interest_so_far = _so_far(np.where(side[trade] < 0, exposure * short_interest, 0.0), start)
    entry_cost, exit_cost = cost["entry_cost"], cost["exit_cost"]
    relative = (1.0 - entry_cost[trade] + side[trade] * size[trade] *
                (price / entry_price[trade] - 1.0) - paid_so_far - interest_so_far
                - np.where(last, exit_cost[trade], 0.0))
    relative = np.maximum(relative, 1e-12)  # the account cannot go below nothing
    previous = np.empty_like(relative)
    previous[1:] = relative[:-1]
    first = rows == entry_row[trade] + 1
    previous[first] = 1.0 - entry_cost[trade[first]]
    return {"trade": trade, "rows": rows, "last": last, "paid_so_far": paid_so_far,
            "interest_so_far": interest_so_far, "relative": relative, "previous": previous}


def _so_far(paid: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Each trade's running total of ``paid`` over its held bars (``start``: the position of
    each bar's trade's first bar)."""
    cumulative = np.cumsum(paid)
    return cumulative - (cumulative[start] - paid[start])


def barrier_exits(trades: pd.DataFrame, barriers: BarrierParams, close: np.ndarray,
                  entry_row: np.ndarray, side: np.ndarray, last_row: int,
                  exit_row: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exit_row, exit_price, outcome) of trades entered at ``entry_row`` with ``side`` by
    the barrier rule of :func:`~ares_kedro.analyst.labels.barrier_trades` (its ``trades``
    table), closed at ``last_row``'s close when still open there. ``exit_row`` (optional)
    gives time-exit trades extended or flipped by later signals their own exits."""
    is_long = side > 0
    if exit_row is None:
        exit_row = np.where(is_long, trades["long_exit"].to_numpy()[entry_row],
                            trades["short_exit"].to_numpy()[entry_row])
    exit_row = np.asarray(exit_row, dtype=np.int64)
    outcome = np.where(is_long, trades["long_outcome"].to_numpy()[entry_row],
                       trades["short_outcome"].to_numpy()[entry_row]).astype(np.int64)
    gain = barriers.take_profit + barriers.round_trip_fee  # the barriers' gross distances
    loss = barriers.stop_loss - barriers.round_trip_fee
    entry = close[entry_row]
    late = exit_row > last_row
    with np.errstate(invalid="ignore"):  # a fixed-horizon label's barriers are infinite
        price = np.where(outcome == TAKE_PROFIT, entry * (1 + side * gain),
                         np.where(outcome == STOP, entry * (1 - side * loss),
                                  close[np.minimum(exit_row, last_row)]))
    return (np.where(late, last_row, exit_row), np.where(late, close[last_row], price),
            np.where(late, TIME_EXIT, outcome))


def backtest_decisions(bars: pd.DataFrame, decision_rows: np.ndarray, side: np.ndarray,
                       size: np.ndarray, trades: pd.DataFrame, barriers: BarrierParams,
                       costs: CostModel, funding: np.ndarray, period: ScoredPeriod,
                       max_daily_loss: float | None = None) -> Backtest:
    """Backtest of decisions (``side`` +1 / -1 / 0 and ``size``, a fraction of equity whose
    sign is ignored (the governor's sizes are signed), at sorted ``decision_rows`` of
    ``bars``) over the rows of ``period``.

    ``max_daily_loss`` (fraction of equity, the tactician's limit): once the UTC day's
    net loss through a bar's close reaches it, no new trade opens at a later bar of that
    day (the open one runs its course). The limit only removes entries after a breach, so
    the backtest is repeated until no more entries are removed (a few passes, each
    vectorised; blocked entries stay blocked, so the passes end).
    """
    first_row, last_row = period.first_row, period.last_row
    decision_rows = np.asarray(decision_rows, np.int64)
    keep = (decision_rows >= first_row) & (decision_rows < last_row)
    size = np.abs(np.asarray(size, float))  # the governor's sizes carry the side's sign
    signal = np.where(size > 0, np.sign(np.asarray(side)), 0).astype(np.int8)
    signal = np.where(keep, signal, 0).astype(np.int8)
    close = bars["close"].to_numpy(float)
    day = bars.index.as_unit("ns").asi8 // DAY_NS  # UTC day number of each bar
    blocked = np.zeros(decision_rows.size, dtype=bool)
    while True:
        live = np.where(blocked, 0, signal).astype(np.int8)
        taken, planned_exit = held_positions(decision_rows, live, trades)
        entry = decision_rows[taken]
        sides = live[taken].astype(float)
        exit_row, exit_price, outcome = barrier_exits(trades, barriers, close, entry, sides,
                                                      last_row, planned_exit)
        result = run_trades(bars, entry, exit_row, sides, size[taken], exit_price, outcome,
                            costs, funding, period)
        if max_daily_loss is None:
            return result
        log_pnl = np.log1p(result.bar_returns.to_numpy())
        period_day = day[first_row:last_row + 1]
        new_day = np.r_[True, period_day[1:] != period_day[:-1]]
        cumulative = _cumsum_within_day(log_pnl, new_day)
        reached = _cumsum_within_day(cumulative <= np.log1p(-max_daily_loss), new_day) > 0
        before = np.zeros(reached.size, dtype=bool)  # reached by the previous close, same day
        before[1:] = reached[:-1] & (period_day[1:] == period_day[:-1])
        inside = (decision_rows >= first_row) & (decision_rows <= last_row)
        now_blocked = blocked.copy()  # blocking only grows: the passes converge
        now_blocked[inside] |= before[decision_rows[inside] - first_row]
        if (now_blocked == blocked).all():
            return result
        blocked = now_blocked


def _cumsum_within_day(values: np.ndarray, new_day: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarting at every bar where ``new_day`` is true."""
    running = np.cumsum(values, dtype=float)
    before_day = (running - values)[new_day]  # the running sum just before each day
    return running - before_day[np.cumsum(new_day) - 1]


def buy_and_hold(bars: pd.DataFrame, costs: CostModel, funding: np.ndarray,
                 period: ScoredPeriod) -> Backtest:
    """Long with all the equity from the period's first close to its last, paying the
    entry and exit fills (market orders) and funding like any other trade."""
    close = bars["close"].to_numpy(float)
    first, last = period.first_row, period.last_row
    return run_trades(bars, np.array([first]), np.array([last]), np.array([1.0]),
                      np.array([1.0]), close[[last]], np.array([TIME_EXIT]), costs,
                      funding, period)
