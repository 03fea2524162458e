"""The registry of shape rules (`RULES`, `rule`), the `Layout` a rule returns,
and the stride arithmetic the rules share: contiguous and channels-last
strides, broadcasting, and the output strides of an element-wise op.

Every function here is pure: shapes and strides in, shapes and strides out.
The element-wise ordering is PyTorch's own (TensorIterator's, as
`torch._prims_common` writes it down): the output is dense, its dimensions
ordered outermost-first as the operands' strides order them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

Shape = tuple[int, ...]
Strides = tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    """What a meta tensor is: shape, strides and dtype (it has no values)."""

    shape: Shape
    stride: Strides
    dtype: torch.dtype


RULES: dict[Any, Callable[..., Any]] = {}


def rule(*ops) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn` as the shape rule of each aten overload in `ops` (None entries are skipped)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            if op is None:
                continue
            if op in RULES:
                raise ValueError(f"{op} already has a shape rule")
            RULES[op] = fn
        return fn

    return wrap


def overloads(*names: str) -> list:
    """aten overloads by 'name.overload', None for one this torch build lacks."""
    found = []
    for name in names:
        packet, _, overload = name.partition(".")
        found.append(getattr(getattr(torch.ops.aten, packet, None), overload or "default", None))
    return found


def is_meta(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.is_meta


def layout_of(t: torch.Tensor) -> tuple[Shape, Strides]:
    return tuple(t.shape), tuple(t.stride())


def contiguous(shape: Sequence[int]) -> Strides:
    """Row-major strides (a size-0 or size-1 dim multiplies by 1, as torch does)."""
    strides, step = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = step
        step *= max(shape[i], 1)
    return tuple(strides)


def channels_last(shape: Sequence[int]) -> Strides | None:
    """NHWC (NDHWC) strides of an NCHW (NCDHW) shape; None for another rank."""
    if len(shape) not in (4, 5):
        return None
    return permuted(shape, (0, *range(2, len(shape)), 1))


def permuted(shape: Sequence[int], perm: Sequence[int]) -> Strides:
    """Dense strides with dims laid out in `perm` order, outermost first (torch.empty_permuted)."""
    inner = contiguous([shape[p] for p in perm])
    strides = [0] * len(shape)
    for physical, logical in enumerate(perm):
        strides[logical] = inner[physical]
    return tuple(strides)


def _packed(shape: Sequence[int], strides: Sequence[int], order: Sequence[int]) -> bool:
    """Whether the dims in `order` (innermost first) are packed, size-1 dims aside."""
    expected = 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def is_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Tensor.is_contiguous()."""
    return 0 in shape or _packed(shape, strides, range(len(shape) - 1, -1, -1))


def is_canonical(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Exactly row-major strides, size-1 dims included (`is_contiguous` ignores those)."""
    return tuple(strides) == contiguous(shape)


def is_channels_last(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Tensor.is_contiguous(memory_format=torch.channels_last / channels_last_3d)."""
    if len(shape) not in (4, 5):
        return False
    return _packed(shape, strides, (1, *range(len(shape) - 1, 1, -1), 0))


def is_dense(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Non-overlapping and dense: some order of the dims is contiguous."""
    if _numel(shape) < 2:
        return True
    if len(shape) == 1:
        return strides[0] == 1
    order = sorted(range(len(shape)), key=lambda d: (strides[d], shape[d]))
    return _packed(shape, strides, order)


def suggests_channels_last(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Tensor.suggest_memory_format() is channels_last (3d): NHWC-like strides."""
    if len(shape) not in (4, 5) or strides[1] == 0:
        return False
    least = 0
    for d in (1, *range(len(shape) - 1, 1, -1), 0):
        if shape[d] == 0 or strides[d] < least or (d == 0 and least == strides[1]):
            return False
        least = strides[d] * shape[d]
    return True


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def broadcast(*shapes: Sequence[int]) -> Shape | None:
    """The broadcast of `shapes`, or None where they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, ndim - len(shape)):
            if size != 1 and out[i] != 1 and out[i] != size:
                return None
            out[i] = size if size != 1 else out[i]
    return tuple(out)


def expanded(shape: Sequence[int], strides: Sequence[int], target: Sequence[int]) -> Strides:
    """The strides of `tensor.expand(target)` (an expanded dim has stride 0)."""
    if tuple(shape) == tuple(target):
        return tuple(strides)
    out = [0] * len(target)
    for i in range(len(target) - 1, -1, -1):
        dim = i - (len(target) - len(shape))
        if dim >= 0:
            size, stride = shape[dim], strides[dim]
        else:
            size, stride = 1, (target[i + 1] * out[i + 1] if i + 1 < len(target) else 1)
        out[i] = 0 if size != target[i] else stride
    return tuple(out)


def elementwise(shape: Shape, operands: Sequence[Strides]) -> Strides:
    """Output strides of an element-wise op over `operands` (each one's strides
    expanded to `shape`), in PyTorch's dim order."""
    ndim = len(shape)
    if ndim <= 1:
        return contiguous(shape)
    dense = all(is_contiguous(shape, s) for s in operands)
    nhwc = all(is_channels_last(shape, s) for s in operands)
    if dense and not nhwc:
        return contiguous(shape)
    if nhwc and not dense:
        return permuted(shape, (0, *range(2, ndim), 1))
    perm = list(range(ndim - 1, -1, -1))  # innermost first, insertion-sorted
    for i in range(1, ndim):
        j = i
        for k in range(i - 1, -1, -1):
            order = _compare(shape, operands, perm[k], perm[j])
            if order > 0:
                perm[k], perm[j] = perm[j], perm[k]
                j = k
            elif order < 0:
                break
    return permuted(shape, perm[::-1])


def _compare(shape: Shape, operands: Sequence[Strides], a: int, b: int) -> int:
    """1 when dim `a` is outside dim `b` by the first operand that tells, -1 inside, 0 undecided."""
    for strides in operands:
        sa, sb = strides[a], strides[b]
        if sa == 0 or sb == 0:
            continue
        if sa == sb:
            if shape[b] >= shape[a]:
                continue
            return 1
        return -1 if sb > sa else 1
    return 0


def computation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype PyTorch's decompositions compute a low-precision float in."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
