"""What an operator plugs in by name: ``package.module:attribute`` settings
(``STRANGERS_FRAME_CHECKER``, ``STRANGERS_AGE_ESTIMATOR``), resolved one way."""

from __future__ import annotations

import importlib
from typing import Any


def resolve(spec: str, what: str, expected: str) -> Any:
    """The callable ``spec`` names (``package.module:attr.path``); ``ValueError`` naming
    ``what`` when it is malformed, cannot be imported, is missing or is not callable
    (``expected`` names what was expected instead, for the message)."""
    module_name, colon, attr_path = spec.partition(":")
    if not colon or not module_name.strip() or not attr_path.strip():
        raise ValueError(f"{what} {spec!r}: expected {expected}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{what} {spec!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{what} {spec!r}: {module_name!r} has no {attr_path!r}") from None
    if not callable(target):
        raise ValueError(f"{what} {spec!r}: {attr_path!r} is not a class or a factory")
    return target
