"""The model registry: one registered governor, one champion per market.

Every run that trains a governor registers a version of ``ares-governor`` (kedro-mlflow
logs the served model) and tags it with the market it was trained on (exchange, market,
symbol, timeframe) and its decision system's SHA-256. A promotion by the A/B test moves
that market's alias, ``@champion-<exchange>-<market>-<symbol>-<timeframe>`` (lower case,
e.g. ``models:/ares-governor@champion-binance-spot-btcusdt-1h``): an ETHUSDT 4h promotion
never becomes the champion a BTCUSDT 1h predictor loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REGISTERED_MODEL = "ares-governor"
CHAMPION = "champion"
MARKET_KEYS = ("exchange", "market", "symbol", "timeframe")
SHA_TAG = "decision_system_sha256"


class NoChampion(LookupError):
    """No champion for the market asked (or none at all); the message says what to run."""


def market_key(market: Mapping[str, Any]) -> str:
    """``binance-spot-btcusdt-1h``: the market as a registry alias suffix."""
    missing = [k for k in MARKET_KEYS if not market.get(k)]
    if missing:
        raise ValueError(f"a market needs {list(MARKET_KEYS)}; {missing} missing in "
                         f"{dict(market)}")
    return "-".join(str(market[k]) for k in MARKET_KEYS).lower()


def champion_alias(market: Mapping[str, Any]) -> str:
    """The alias of ``market``'s champion, e.g. ``champion-binance-spot-btcusdt-1h``."""
    return f"{CHAMPION}-{market_key(market)}"


def alias_uri(alias: str) -> str:
    """``models:/ares-governor@<alias>``."""
    return f"models:/{REGISTERED_MODEL}@{alias}"


def champion_uri(market: Mapping[str, Any]) -> str:
    """``models:/ares-governor@champion-<market>``."""
    return alias_uri(champion_alias(market))


def champions(client) -> dict[str, str]:
    """Every market's champion: {alias: version}; empty before the first promotion."""
    import mlflow

    try:
        aliases = client.get_registered_model(REGISTERED_MODEL).aliases
    except mlflow.exceptions.MlflowException:  # nothing registered yet
        return {}
    return {alias: str(version) for alias, version in aliases.items()
            if alias.startswith(f"{CHAMPION}-")}


def champion_source(client, market: Mapping[str, Any] | None = None) -> str:
    """The model URI of ``market``'s champion; without a market, of the only market that
    has one. Raises :class:`NoChampion` naming the markets that have one."""
    found = champions(client)
    if market is not None:
        alias = champion_alias(market)
        if alias not in found:
            raise NoChampion(f"no champion yet for {market_key(market)}"
                             + (f" (champions: {', '.join(sorted(found))})" if found else "")
                             + ": `kedro run` validates a governor and promotes it when the "
                             "A/B test says so (docs/tracking.md)")
        return alias_uri(alias)
    if not found:
        raise NoChampion("no champion yet: `kedro run` validates a governor and promotes it "
                         "when the A/B test says so (docs/tracking.md)")
    if len(found) > 1:
        uris = ", ".join(alias_uri(a) for a in sorted(found))
        raise NoChampion(f"several markets have a champion; say which: {uris}")
    return alias_uri(next(iter(found)))


def tag_version(client, run_id: str, market: Mapping[str, Any], sha256: str,
                tags: Mapping[str, str]) -> list[str]:
    """Tag the versions registered by ``run_id`` with their market, decision-system hash
    and ``tags``; the versions tagged."""
    tagged = []
    for version in client.search_model_versions(f"name='{REGISTERED_MODEL}'"):
        if version.run_id != run_id:
            continue
        values = {SHA_TAG: sha256, **{k: str(market[k]) for k in MARKET_KEYS},
                  "market_key": market_key(market), **tags}
        for key, value in values.items():
            client.set_model_version_tag(REGISTERED_MODEL, version.version, key, str(value))
        tagged.append(str(version.version))
    return tagged


def promote(client, market: Mapping[str, Any], sha256: str) -> str | None:
    """Make the newest version of ``market`` holding the decision system ``sha256`` that
    market's champion; its version, or None when no such version is registered."""
    key = market_key(market)
    matching = [v for v in client.search_model_versions(f"name='{REGISTERED_MODEL}'")
                if v.tags.get(SHA_TAG) == sha256 and v.tags.get("market_key") == key]
    if not matching:
        return None
    newest = max(matching, key=lambda v: int(v.version))
    client.set_registered_model_alias(REGISTERED_MODEL, champion_alias(market), newest.version)
    return str(newest.version)
