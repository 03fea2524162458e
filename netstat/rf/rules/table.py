"""The rule table (`RULES`, keyed by aten op packet name), the decorator that
fills it, and the argument helpers the rules share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from netstat import ops
from netstat.ops import base_name  # noqa: F401 - re-exported for the rules

if TYPE_CHECKING:
    from netstat.rf.propagate import Propagator
    from netstat.trace import OpRecord

Rule = Callable[["Propagator", "OpRecord"], list]

RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register a transfer rule for the aten op packets `names`."""

    def deco(fn: Rule) -> Rule:
        for name in names:
            if name in RULES:
                raise ValueError(f"aten.{name} already has an RF rule")
            RULES[name] = fn
        return fn

    return deco


# Ops without a rule of their own that the broadcast rule handles without a
# note: the op table's kinds whose RF default is element-wise.
POINTWISE = frozenset(name for kind, default in ops.RF_DEFAULT.items() if default == "pointwise" for name in ops.names(kind))


def find_rule(name: str) -> Rule | None:
    """The rule of an op packet, or of its out-of-place form; None when there is none."""
    return RULES.get(name) or RULES.get(base_name(name))


def as_list(value, n: int, default=None) -> list:
    """An int-or-list argument as n per-dim values (one value repeats; a longer list keeps its last n)."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        value = default
    if not isinstance(value, (list, tuple)):
        value = [value]
    value = list(value)
    return value * n if len(value) == 1 else value[-n:]


def spatial_count(name: str, default: int) -> int:
    """Spatial dims of an op from its name ('max_pool2d' -> 2)."""
    for n in (1, 2, 3):
        if f"{n}d" in name:
            return n
    return default


def norm_dim(d: int, rank: int) -> int:
    """A dim index made non-negative."""
    return d + rank if d < 0 else d
