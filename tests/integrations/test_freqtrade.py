"""The Freqtrade strategy trades the governor's decisions in Freqtrade's own backtesting.

A governor is trained on candles as a Freqtrade user has them (OHLCV only, a feather file
in Freqtrade's data layout, read by ``ingestion.source: ohlcv_files``), then Freqtrade
backtests ``AresGovernorStrategy`` on that file's test period and on the real BTCUSDT 1h
sample of ../shared (2019-11-05 on). Freqtrade cannot start without the
exchange's market list, which this machine cannot fetch: ``offline_freqtrade.py`` gives it
that list (Binance's BTC/USDT spot description) and nothing else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.governor.bot_signals import TAG_PREFIX, bot_exits, candle_signals
from ares_kedro.governor.live import Governor
from tests.conftest import PROJECT_ROOT
from tests.pipelines.conftest import MECHANICS_BUDGET, make_project, run_pipelines

pytest.importorskip("freqtrade", reason="the freqtrade extra is not installed "
                    "(pip install -e '.[freqtrade]')")

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).parent / "freqtrade" / "offline_freqtrade.py"
STRATEGY_PATH = PROJECT_ROOT / "integrations" / "freqtrade"
FEE = 0.0012  # Binance spot taker 0.1 % plus the conf's 2 bp slippage, per fill
# A governor made to act whatever its edge: this module tests how the bot trades the
# decisions, never whether they are good (validation's report says that). The candles
# carry an edge OHLC shows in both directions (the benchmarks' mean reversion), and its
# gate opens wherever the expected net return of a trade is above -0.9 round-trip costs,
# so that it decides longs whatever margin its search would have chosen.
MEAN_REVERTING = {"edges": {"mean_reversion": {"strength": 0.25, "regimes": "all"}}}
ACTS_ANYWAY = {"governor": {**MECHANICS_BUDGET["governor"],
                            "final_optimisation": {**MECHANICS_BUDGET["governor"][
                                "final_optimisation"], "max_p_value": 1.0,
                                "min_validation_sharpe": -1.0e9,
                                "expected_return_margin": [-0.95, -0.9]}},
               "analyst": MECHANICS_BUDGET["analyst"]}


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    """(project, governor file, Freqtrade data folder, test period) of one blank training
    on the built-in market's OHLCV candles, written as Freqtrade stores them."""
    root = tmp_path_factory.mktemp("freqtrade")
    with pytest.MonkeyPatch.context() as monkeypatch:
        project = make_project(root, monkeypatch)
        bars = run_pipelines(project, ["ingestion"], {"bars": "market_bars"},
                             env="blank", synthetic=MEAN_REVERTING)["bars"]
        shutil.rmtree(project / "data")
        datadir = root / "user_data" / "data" / "binance"
        datadir.mkdir(parents=True)
        candles = bars.reset_index().rename(columns={"open_time": "date"})
        candles[["date", "open", "high", "low", "close", "volume"]].to_feather(
            datadir / "BTC_USDT-1h.feather")
        out = run_pipelines(project, ["ingestion", "regimes", "analyst", "tactician",
                                      "governor"],
                            {"splits": "time_splits", "targets": "optimal_target_params"},
                            env="blank", params=ACTS_ANYWAY, source="ohlcv_files",
                            market="spot",
                            paths={"ohlcv_files": str(datadir / "BTC_USDT-1h.feather")})
        system = project / "data" / "06_models" / "BINANCE-spot-BTCUSDT-1h" \
            / "governor_decision_system.pkl"
        yield project, system, datadir, out


REAL_HOURS = "binance_spot_klines_1h"
REAL_TEST_START = pd.Timestamp("2019-11-05", tz="UTC")  # the real-data report's test period


def _real_candles(real_data: Path, datadir: Path) -> None:
    """Real Binance spot BTCUSDT hours of 2019 as Freqtrade hands them to a strategy: the
    real exchange outages filled as Freqtrade fills missing candles (flat at the last
    close, no volume), so the test decides on the same candles Freqtrade does."""
    names = ["open_time", "open", "high", "low", "close", "volume", "close_time",
             "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
    months = sorted((real_data / REAL_HOURS).glob("BTCUSDT-1h-2019-*.csv"))
    raw = pd.concat(pd.read_csv(f, names=names) for f in months)
    raw["date"] = pd.to_datetime(raw["open_time"], unit="ms", utc=True)
    hours = raw.set_index("date")[["open", "high", "low", "close", "volume"]]
    grid = pd.date_range(hours.index[0], hours.index[-1], freq="h", name="date")
    filled = hours.reindex(grid)
    filled["close"] = filled["close"].ffill()
    for column in ("open", "high", "low"):
        filled[column] = filled[column].fillna(filled["close"])
    filled["volume"] = filled["volume"].fillna(0.0)
    datadir.mkdir(parents=True)
    filled.reset_index().to_feather(datadir / "BTC_USDT-1h.feather")


@pytest.fixture(params=["built-in market, its test period", "real BTCUSDT, 2019-11-05 on"])
def candles_to_trade(request, bot, tmp_path_factory) -> tuple[Path, pd.Timestamp, float]:
    """(Freqtrade data folder, first bar traded, share of decisions the serving history may
    decide otherwise than the whole history) of the case: the governor's own test period
    (none), or real hours of a market it was never trained on (measured: 1 of 1,368 with
    120 days, docs/freqtrade.md)."""
    project, system_file, datadir, out = bot
    if request.param.startswith("built-in"):
        return datadir, pd.Timestamp(out["splits"]["test"]["first_bar"]), 0.0
    real = request.getfixturevalue("real_data")
    folder = tmp_path_factory.mktemp("real") / "binance"
    _real_candles(real, folder)
    return folder, REAL_TEST_START, 0.001


def config_wallet() -> float:
    return float(json.loads((STRATEGY_PATH / "config.example.json").read_text())[
        "dry_run_wallet"])


def _freqtrade(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``freqtrade *args`` (through the offline-markets harness) in ``cwd``, whose
    ``user_data`` folder Freqtrade's ``create-userdir`` makes first, as a user does."""
    if not (cwd / "user_data").is_dir():
        made = subprocess.run([sys.executable, str(HARNESS), "create-userdir", "--userdir",
                               str(cwd / "user_data")], capture_output=True, text=True,
                              timeout=120, cwd=cwd)
        assert made.returncode == 0, made.stderr[-2000:]
    return subprocess.run([sys.executable, str(HARNESS), *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def _backtest(tmp_path: Path, system: Path, datadir: Path, timerange: str,
              key: Path) -> pd.DataFrame:
    config = json.loads((STRATEGY_PATH / "config.example.json").read_text())
    config["ares"] = {"governor": str(system), "signing_key_file": str(key)}
    config["fee"] = FEE
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    results = tmp_path / "backtest_results"
    results.mkdir()
    done = _freqtrade(tmp_path, "backtesting", "--config", str(config_file),
                      "--strategy-path", str(STRATEGY_PATH), "--datadir", str(datadir),
                      "--timerange", timerange, "--export", "trades",
                      "--backtest-directory", str(results), "--cache", "none")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    archive = next(results.glob("*.zip"))
    with zipfile.ZipFile(archive) as zipped:
        name = next(n for n in zipped.namelist() if n.endswith(".json")
                    and "_config" not in n and "_market_change" not in n)
        payload = json.loads(zipped.read(name))
    trades = pd.DataFrame(payload["strategy"]["AresGovernorStrategy"]["trades"])
    return trades


def test_freqtrade_backtesting_enters_on_the_governors_decisions_and_leaves_by_its_exit_rule(
        bot, candles_to_trade, tmp_path, monkeypatch):
    project, system_file, _, out = bot
    datadir, test_start, may_differ = candles_to_trade
    key = project / "conf" / "local" / "artifact_signing.key"  # the training project's
    monkeypatch.setenv("ARES_SIGNING_KEY_FILE", str(key))
    governor = Governor.load(system_file)
    # Freqtrade analyses the test period with startup_candle_count candles before it (the
    # governor's serving history), as the live bot does with its trailing candles
    all_candles = pd.read_feather(datadir / "BTC_USDT-1h.feather")
    history = governor.system.live_history_bars()
    assert history == 120 * 24 > governor.system.warmup_bars()
    first = all_candles["date"].searchsorted(test_start)
    candles = all_candles.iloc[first - history:].reset_index(drop=True)
    signals = candle_signals(governor, candles, can_short=False)
    # with that history, the candles decide as the whole history does (the pipeline's view)
    whole = candle_signals(governor, all_candles, can_short=False)
    differ = (whole["ares_decision"].to_numpy()[first:]
              != signals["ares_decision"].to_numpy()[history:]).mean()
    assert differ <= may_differ
    first = history
    timerange = f"{test_start:%Y%m%d}-"
    trades = _backtest(tmp_path, system_file, datadir, timerange, key)

    # the governor was made to act: it decides longs in the test period, Freqtrade trades
    in_test = signals.iloc[first:]
    assert in_test["ares_enter_long"].sum() > 0
    assert len(trades) > 0

    # the signals are the live predictor's decisions, candle by candle
    decided = governor.decide_batch(candles.set_index(pd.DatetimeIndex(
        candles["date"], name="open_time")).drop(columns="date"))
    rows = candles["date"].searchsorted(decided.index)
    assert (signals["ares_decision"].to_numpy()[rows] == decided["decision"].to_numpy()).all()
    assert np.allclose(signals["ares_size"].to_numpy()[rows], decided["size"].abs())

    # every trade opens at the open of the candle after a LONG decision with a size, and
    # stakes that size of the equity (capped by the balance)
    interval = pd.Timedelta(hours=1)
    by_time = signals.set_axis(pd.DatetimeIndex(candles["date"]))
    opened = pd.to_datetime(trades["open_date"], utc=True)
    decided_at = by_time.loc[opened - interval]
    assert (decided_at["ares_enter_long"] == 1).all()
    assert (trades["is_short"] == False).all()  # noqa: E712 (spot: longs only)
    assert trades["enter_tag"].str.startswith(TAG_PREFIX).all()
    tag_size = trades["enter_tag"].str.slice(len(TAG_PREFIX)).astype(float).to_numpy()
    assert np.allclose(tag_size, decided_at["ares_size"].to_numpy(), rtol=1e-5)
    first_stake = tag_size[0] * config_wallet()  # the first trade stakes from the whole wallet
    assert trades["stake_amount"].iloc[0] == pytest.approx(first_stake, rel=1e-3)
    open_rate = candles.set_index("date").loc[opened, "open"].to_numpy()
    assert np.allclose(trades["open_rate"].to_numpy(), open_rate, rtol=1e-6)

    # every exit is the trained rule's: take-profit, stop, holding period, opposite decision
    exits = bot_exits(governor.system.exit_rule, 0.99)
    closed = pd.to_datetime(trades["close_date"], utc=True)
    held = ((closed - opened) / interval).to_numpy()
    reasons = trades["exit_reason"].to_numpy()
    allowed = {"roi", "stop_loss", "ares_time_exit", "exit_signal", "force_exit"}
    assert set(reasons) <= allowed
    time_exit = reasons == "ares_time_exit"
    if exits.exit_on_opposite:  # fixed horizon: holding_bars after the last LONG decision
        last_long = by_time.loc[closed[time_exit] - interval, "ares_bars_since_long"]
        assert (last_long.to_numpy() == exits.holding_bars).all()
        assert not np.isin(reasons, ["roi", "stop_loss"]).any()
        flipped = reasons == "exit_signal"
        assert (by_time.loc[closed[flipped] - interval, "ares_decision"] == "SHORT").all()
    else:  # triple barrier: holding_bars after the entry, or a barrier before
        assert (held[time_exit] == exits.holding_bars).all()
        assert (held[~time_exit & (reasons != "force_exit")] <= exits.holding_bars).all()
    # one position at a time
    assert (opened.to_numpy()[1:] >= closed.to_numpy()[:-1]).all()


def test_the_strategy_refuses_a_pair_the_governor_was_not_trained_on(bot, tmp_path):
    project, system_file, datadir, out = bot
    shutil.copy(datadir / "BTC_USDT-1h.feather", datadir / "ETH_USDT-1h.feather")
    config = json.loads((STRATEGY_PATH / "config.example.json").read_text())
    config["ares"] = {"governor": str(system_file),
                      "signing_key_file": str(project / "conf" / "local" / "artifact_signing.key")}
    config["exchange"]["pair_whitelist"] = ["ETH/USDT"]
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    done = _freqtrade(tmp_path, "backtesting", "--config", str(config_file),
                      "--strategy-path", str(STRATEGY_PATH), "--datadir", str(datadir),
                      "--cache", "none")
    assert done.returncode != 0
    said = " ".join((done.stdout + done.stderr).split())  # Freqtrade wraps its log lines
    assert "the governor was trained on BTCUSDT 1h, not ETH/USDT" in said
