"""Checking parameter blocks from conf against the dataclass that types them."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any


def checked_keys(cls: type, params: dict[str, Any], section: str) -> dict[str, Any]:
    """``params`` as a plain dict once it has exactly the fields of dataclass ``cls``.

    Raises ValueError naming the conf section and the missing or unknown keys: a missing
    key is an error, never a silent default.
    """
    names = {f.name for f in fields(cls)}
    missing, unknown = sorted(names - set(params)), sorted(set(params) - names)
    if missing or unknown:
        raise ValueError(f"{section}: missing keys {missing}, unknown keys {unknown}; see the "
                         "parameters files in conf/base")
    return dict(params)


def project_parameters(conf_source: str | Path, env: str = "base",
                       **runtime_params: Any) -> dict[str, Any]:
    """The parameters of the project whose ``conf`` folder is ``conf_source``, resolved as
    ``kedro run --env=ENV --params ...`` resolves them (globals, runtime params, the
    env merged softly over base): for benchmarks and tests that read conf without a
    session."""
    import copy

    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(conf_source=str(conf_source), base_env="base",
                               default_run_env=env, runtime_params=runtime_params,
                               merge_strategy={"parameters": "soft"})
    return copy.deepcopy(loader["parameters"])


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it, nested blocks merged key by key."""
    out = dict(base)
    for key, value in override.items():
        out[key] = (merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out
