"""The registry of per-op cost formulas: `Cost`, the tables `FORMULAS` (aten
op packets) and `NAMED_FORMULAS` (other libraries' ops, by qualified name),
the decorators that fill them, and `cost_of`, which binds a recorded call to
its formula. The formulas themselves are in the sibling modules."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Sequence, TypeVar

import torch

from netstat import ops

aten = torch.ops.aten

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Cost:
    madds: int = 0
    flops: int = 0


# A formula returns None for a call it does not model (the op is then uncounted).
FORMULAS: dict[Any, Callable[..., Cost | None]] = {}
_Formula = TypeVar("_Formula", bound=Callable[..., "Cost | None"])


def formula(*ops) -> Callable[[_Formula], _Formula]:
    """Register `fn` as the cost formula of each aten op packet in `ops`."""

    def wrap(fn: _Formula) -> _Formula:
        for op in ops:
            packet = getattr(op, "overloadpacket", op)
            if packet in FORMULAS:
                raise ValueError(f"{packet} already has a formula")
            FORMULAS[packet] = fn
        return fn

    return wrap


def aten_packets(*names: str) -> list:
    """aten op packets by name, skipping ones this torch build lacks."""
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def packets(*kinds: str, but: tuple[str, ...] = ()) -> list:
    """The aten packets of every op of `kinds` in the op table (netstat.ops),
    with their in-place forms ('relu' and 'relu_'), less the names in `but`."""
    return aten_packets(*(form for name in ops.names(*kinds) if name not in but for form in (name, name + "_")))


def numel(shape: Sequence[int] | None) -> int:
    return 0 if shape is None else prod(shape)


NAMED_FORMULAS: dict[str, Callable[..., Cost | None]] = {}


def named_formula(*names: str) -> Callable[[_Formula], _Formula]:
    def wrap(fn: _Formula) -> _Formula:
        for name in names:
            NAMED_FORMULAS[name] = fn
        return fn

    return wrap


# Facts about ops that the memory accounting (netstat.trace, netstat.metrics)
# needs and the schema does not give:
# - outputs that are views of the first argument although the schema declares
#   fresh tensors (the RNN cells' gate splits, on every device);
UNSAFE_VIEWS = frozenset({"unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk"})
# - a Python number made a 0-d tensor (`mask[i] = 3`): a constant, not an
#   activation; on CPU it is not even dispatched, on meta and CUDA it is.
CONSTANTS = frozenset({"scalar_tensor"})


def zero(**_) -> Cost:
    """No floating-point arithmetic (data movement, creation, logic)."""
    return Cost(0, 0)


def share_in_place() -> None:
    """An in-place form ("addmm_") costs what its op costs: every registered
    packet's in-place packet that has no formula of its own gets its op's."""
    for packet, fn in list(FORMULAS.items()):
        inplace = getattr(aten, packet.__name__ + "_", None)
        if inplace is not None and inplace not in FORMULAS:
            FORMULAS[inplace] = fn


def bind(func, args: tuple, kwargs: dict) -> dict:
    """The op's input arguments by schema name (positional ones included).
    The result buffers of an `out=` overload (`out`, `values`, ...) are left
    out: a formula gets the results' shapes as `out`. (torch.ops.quantized's
    `add.out` / `cat_out` declare theirs positional, `Tensor(a!) out`, which the
    schema does not flag as an out argument.)"""
    schema = func._schema.arguments
    results = {a.name for a in schema if a.is_out or (a.name == "out" and a.alias_info is not None and a.alias_info.is_write)}
    bound = dict(zip((a.name for a in schema), args))
    bound.update(kwargs)
    return {name: value for name, value in bound.items() if name not in results}


def cost_of(func, args: tuple, kwargs: dict, out_shapes: Sequence[Shape]) -> Cost | None:
    """Cost of one recorded op (tensors already replaced by shapes), or None
    when the op has no formula (it is then reported as uncounted)."""
    packet = func.overloadpacket
    fn = FORMULAS.get(packet) or NAMED_FORMULAS.get(packet._qualified_op_name)
    if fn is None:
        return None
    return fn(**bind(func, args, kwargs), out=list(out_shapes))
