"""Every parameter block checked once, at start-up, before any node runs.

A Kedro hook (:class:`ParameterChecks`, registered in ``settings.py``) calls
:func:`check_parameters` as soon as the context exists, so a bad value in conf (a
non-positive take-profit range, a feature name not in the registry, split fractions that
leave no test period, a market without a fee) stops ``kedro run`` with a clear message
before ingestion starts. The nodes validate the same blocks again with the same
functions; checks that need the data (a period left empty by a short history) happen in
the first node that has it.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl


def check_parameters(params: dict[str, Any]) -> None:
    """Raise ValueError for the first invalid block of ``params`` (blocks absent are not
    checked: a project may run only some pipelines)."""
    # imported here, so that loading the settings (every kedro command) stays light
    from ares_kedro.analyst.calibration import CalibrationParams
    from ares_kedro.analyst.coarse_search import CoarseSearchParams
    from ares_kedro.analyst.features import REGISTRY
    from ares_kedro.analyst.models import Regularisation
    from ares_kedro.analyst.pruning import FeaturePruningParams
    from ares_kedro.analyst.regime_training import EnhancementParams, EnsembleParams
    from ares_kedro.analyst.splits import TimeSplitParams
    from ares_kedro.analyst.targets import TargetSearchParams
    from ares_kedro.analyst.tuning import TuningParams
    from ares_kedro.market.ingest import IngestionConfig
    from ares_kedro.regimes.labelling import checked_method
    from ares_kedro.regimes.mixture import MixtureParams
    from ares_kedro.regimes.rules import RuleParams
    from ares_kedro.regimes.support_resistance import SupportResistanceParams

    if "ingestion" in params:
        IngestionConfig.from_params(params["ingestion"])
    if "universe" in params:
        from ares_kedro.validation.universe import UniverseParams, market_ingestion

        universe = UniverseParams.from_params(params["universe"])
        for market in universe.markets:  # every market's ingestion block is a valid one
            if "ingestion" in params:
                IngestionConfig.from_params(market_ingestion(params["ingestion"], market))
    if "regimes" in params:
        regimes = params["regimes"]
        checked_method(regimes.get("method"))
        SupportResistanceParams.from_params(regimes["support_resistance"])
        RuleParams.from_params(regimes["rules"])
        MixtureParams.from_params(regimes["gmm"])
        if regimes.get("method") == "gmm" and "ingestion" in params:
            check_mixture_window(regimes["gmm"], params["ingestion"])
    analyst = params.get("analyst")
    if analyst is None:
        return
    split = TimeSplitParams.from_params(params["time_splits"])
    search = TargetSearchParams.from_params(analyst["target_search"])
    if split.purge_bars < search.holding_bars[1]:
        raise ValueError(f"time_splits.purge_bars ({split.purge_bars}) must be >= the longest "
                         f"holding period searched (analyst.target_search.holding_bars high = "
                         f"{search.holding_bars[1]}), or training labels would reach into "
                         "validation")
    FeaturePruningParams.from_params(analyst["feature_pruning"])
    CoarseSearchParams.from_params(analyst["coarse_search"])
    Regularisation.from_params(analyst["regularisation"])
    EnsembleParams.from_params(analyst["ensembles"])
    TuningParams.from_params(analyst["tuning"])
    EnhancementParams.from_params(analyst["enhancement"])
    CalibrationParams.from_params(analyst["calibration"])
    names = analyst["features"].get("names")
    unknown = sorted(set(names or ()) - set(REGISTRY))
    if unknown:
        raise ValueError(f"analyst.features.names: unknown feature(s) {unknown}; the registry "
                         "is listed in docs/features.md")
    market = params.get("ingestion", {}).get("market")
    fees = analyst["costs"]["taker_fee"]
    if market is not None and market not in fees:
        raise ValueError(f"analyst.costs.taker_fee has no fee for market {market!r}")
    if "tactician" in params:
        check_tactician(params["tactician"], names)
    if "governor" in params:
        check_governor(params["governor"])
    if "validation" in params:
        check_validation(params["validation"], market)
        check_funding_source(params.get("ingestion", {}), params["validation"])


def check_mixture_window(gmm: dict[str, Any], ingestion: dict[str, Any]) -> None:
    """The mixture is fitted on its first ``fit_bars`` bars: refuse at start-up a window of
    data that cannot hold them (the run would fail after ingestion)."""
    import pandas as pd

    days = [d for d in (ingestion.get("lookback_days"),
                        ingestion.get("synthetic", {}).get("days")
                        if ingestion.get("source") == "synthetic" else None) if d]
    if not days:
        return  # all the data there is: the mixture says how much it found
    window = min(days)
    bars = int(pd.Timedelta(days=window) / pd.Timedelta(ingestion["timeframe"]))
    if bars < int(gmm["fit_bars"]):
        raise ValueError(f"regimes.gmm.fit_bars ({gmm['fit_bars']}) is more bars than the "
                         f"data window holds ({window} days of {ingestion['timeframe']} bars "
                         f"= {bars}, fewer after the indicators' warm-up): lower "
                         "regimes.gmm.fit_bars or ingest more history (ingestion.lookback_days)")


def check_funding_source(ingestion: dict[str, Any], validation: dict[str, Any]) -> None:
    """A futures market whose costs charge funding needs a source of funding rates: generic
    OHLCV files have none, so the run would train for minutes and fail at validation."""
    charged = bool(validation.get("costs", {}).get("funding", False))
    if (ingestion.get("source") == "ohlcv_files" and ingestion.get("market") != "spot"
            and charged):
        raise ValueError(
            f"ingestion.source ohlcv_files carries no funding rates, and the "
            f"{ingestion.get('market')} market's costs charge funding "
            "(validation.costs.funding: true). Use Binance Vision files with their fundingRate "
            "files (ingestion.source: binance_vision), or set validation.costs.funding: false "
            "(the backtests then leave funding out, and the report says so)")
    if (ingestion.get("source") == "binance_vision" and ingestion.get("market") != "spot"
            and charged and not ingestion.get("download", False)):
        from ares_kedro.market import archives
        from ares_kedro.market.ingest import IngestionConfig

        config = IngestionConfig.from_params(ingestion)
        if not config.archive_root.is_dir():
            return  # ingestion says which folder is missing, with the fix
        if not archives.inventory_archives(config.archive_root, config.symbol).of(
                archives.FUNDING_RATE):
            raise ValueError(
                f"no fundingRate files for {config.symbol} in {config.archive_root}, and the "
                f"{config.market} market's costs charge funding (validation.costs.funding: "
                "true). Put them there (or set ingestion.download: true), or set "
                "validation.costs.funding: false (the backtests then leave funding out)")


def check_validation(validation: dict[str, Any], market: str | None) -> None:
    """The ``validation`` block (the fees of the market traded must be given)."""
    from ares_kedro.validation.ab_test import ABTestParams
    from ares_kedro.validation.costs import CostModel
    from ares_kedro.validation.monte_carlo import MonteCarloParams
    from ares_kedro.validation.walk_forward import WalkForwardParams

    WalkForwardParams.from_params(validation["walk_forward"])
    if market is not None:
        CostModel.from_params(validation["costs"], market)
    MonteCarloParams.from_params(validation["monte_carlo"])
    ABTestParams.from_params(validation["ab_test"])
    blocks = int(validation["overfitting"]["cscv_blocks"])
    if blocks < 2 or blocks % 2:
        raise ValueError(f"validation.overfitting.cscv_blocks must be even and >= 2, got {blocks}")
    if not 0 < float(validation["overfitting"]["alpha"]) < 0.5:
        raise ValueError("validation.overfitting.alpha must be in (0, 0.5)")


def check_governor(governor: dict[str, Any]) -> None:
    """The ``governor`` block."""
    from ares_kedro.governor.final_parameters import FinalOptimisationParams
    from ares_kedro.governor.model import GovernorModelParams

    GovernorModelParams.from_params(governor["model"])
    FinalOptimisationParams.from_params(governor["final_optimisation"])
    history = governor.get("serving", {}).get("history_days")
    if not isinstance(history, int | float) or isinstance(history, bool) or history <= 0:
        raise ValueError(f"governor.serving.history_days must be a positive number of days, "
                         f"got {history!r}")


def check_tactician(tactician: dict[str, Any], feature_names: list[str] | None) -> None:
    """The ``tactician`` block; its trend columns must be features the analyst computes."""
    from ares_kedro.analyst.features import REGISTRY
    from ares_kedro.tactician.context import ContextParams
    from ares_kedro.tactician.decisions import DecisionParams
    from ares_kedro.tactician.labels import TacticianLabelParams
    from ares_kedro.tactician.models import TacticianModelParams
    from ares_kedro.tactician.sizing import SizingParams

    TacticianLabelParams.from_params(tactician["labels"])
    TacticianModelParams.from_params(tactician["models"])
    DecisionParams.from_params(tactician["decisions"])
    SizingParams.from_params(tactician["sizing"])
    context = ContextParams.from_params(tactician["context"])
    computed = set(feature_names) if feature_names else set(REGISTRY)
    missing = sorted(set(context.trend_columns().values()) - computed)
    if missing:
        raise ValueError(f"tactician.context.trend_feature: the analyst does not compute "
                         f"{missing}; pick a multi-timeframe feature from docs/features.md "
                         "(and keep it in analyst.features.names)")


class ParameterChecks:
    """Kedro hook: check the parameters when the context is created."""

    @hook_impl
    def after_context_created(self, context) -> None:
        check_parameters(context.params)
