"""A measured figure beside its goal, the shape every bench reports its goals in, so that
``python -m bench`` can list every goal of one run, met or not, with the reason where not."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
}


def goal(
    value: float | None, op: str, target: float, *, unit: str = "", why: str = ""
) -> dict[str, Any]:
    """``{"value", "goal", "met"}`` (and ``"why"``: the measured reason when it is not met).
    ``value`` None (not measured in this run) is never met."""
    met = value is not None and _OPS[op](value, target)
    out: dict[str, Any] = {
        "value": value,
        "goal": f"{op} {target:g}{(' ' + unit) if unit else ''}",
        "met": met,
    }
    if why and not met:
        out["why"] = why
    return out


def goals_of(document: Any, path: str = "") -> dict[str, dict[str, Any]]:
    """Every goal in a bench document, by its dotted path."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(document, dict):
        if {"value", "goal", "met"} <= document.keys():
            return {path: document}
        for key, value in document.items():
            found.update(goals_of(value, f"{path}.{key}" if path else str(key)))
    return found
