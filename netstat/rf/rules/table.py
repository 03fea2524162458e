"""The rule table (`RULES`, keyed by aten op packet name), the decorator that
fills it, and the argument helpers the rules share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from netstat.rf.propagate import Propagator
    from netstat.trace import OpRecord

Rule = Callable[["Propagator", "OpRecord"], list]

RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register a transfer rule for the aten op packets `names`."""

    def deco(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return deco


# Element-wise ops handled by the broadcast rule without a note.
POINTWISE = set(
    """
    abs absolute add addcdiv addcmul alias bitwise_and bitwise_not bitwise_or ceil clamp clamp_max clamp_min clip
    clone contiguous copy cos detach div elu eq erf exp expm1 fill floor fmod frac ge gelu gt hardsigmoid
    hardswish hardtanh isinf isnan le leaky_relu lift_fresh lift_fresh_copy log log1p log2 log_sigmoid logical_and
    logical_not logical_or lt masked_fill maximum minimum mish mul native_dropout ne neg pow prelu _prelu_kernel
    reciprocal relu relu6 remainder round rrelu_with_noise rsqrt rsub selu sgn sigmoid sign silu sin softplus softshrink
    sqrt square sub tanh threshold trunc where xlogy _to_copy to_copy celu dropout hardshrink
    """.split()
)


def base_name(name: str) -> str:
    """The out-of-place op of an in-place one: 'relu_' -> 'relu'."""
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


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
