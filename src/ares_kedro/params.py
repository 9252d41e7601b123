"""Checking parameter blocks from conf against the dataclass that types them."""

from __future__ import annotations

from dataclasses import fields
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
