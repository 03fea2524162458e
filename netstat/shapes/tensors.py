"""Joining, rolling and reducing tensors: cat, stack, roll, mean / sum / amax
and vector norms.

cat lays its output out in the memory format its inputs share (channels
last only when every input suggests it, as `Tensor.suggest_memory_format`
does), in the promoted dtype; stack, roll and the reductions take
inputs with row-major strides and give row-major outputs; a reduction's
output is row-major whatever its input's layout (as measured against the
meta kernels). View ops (view, reshape,
permute, transpose, expand, select, slice, split, squeeze, unsqueeze, ...)
have no rule: their meta kernels are C++ ones that return views, which the
trace must keep."""

from __future__ import annotations

from functools import reduce

import torch

from netstat.shapes._core import Layout, channels_last, contiguous, is_canonical, is_meta, overloads, rule, suggests_channels_last


def _contiguous_floats(tensors) -> bool:
    """Float meta tensors with exactly row-major strides."""
    return all(is_meta(t) and t.dtype.is_floating_point and is_canonical(t.shape, t.stride()) for t in tensors)


def _dim(dim: int, ndim: int) -> int | None:
    """`dim` wrapped into [0, ndim), None when out of range."""
    return dim % ndim if ndim > 0 and -ndim <= dim < ndim else None


@rule(*overloads("cat"))
def cat(tensors, dim=0):
    """Sizes add up along `dim`; the rest must agree (a legacy empty 1-d input is skipped)."""
    tensors = list(tensors)
    if not tensors or not all(is_meta(t) and not t.dtype.is_complex for t in tensors) or any(0 in t.shape for t in tensors):
        return None
    first = tensors[0]
    wrapped = _dim(dim, first.dim())
    if wrapped is None or any(t.dim() != first.dim() for t in tensors):
        return None
    if any(t.shape[:wrapped] != first.shape[:wrapped] or t.shape[wrapped + 1:] != first.shape[wrapped + 1:] for t in tensors):
        return None
    shape = (*first.shape[:wrapped], sum(t.shape[wrapped] for t in tensors), *first.shape[wrapped + 1:])
    nhwc = all(suggests_channels_last(t.shape, t.stride()) for t in tensors)
    dtype = reduce(torch.promote_types, (t.dtype for t in tensors))
    return Layout(shape, channels_last(shape) if nhwc else contiguous(shape), dtype)


@rule(*overloads("stack"))
def stack(tensors, dim=0):
    """Equal shapes joined along a new dim `dim`."""
    tensors = list(tensors)
    if not tensors or not _contiguous_floats(tensors) or len({(tuple(t.shape), t.dtype) for t in tensors}) != 1:
        return None
    wrapped = _dim(dim, tensors[0].dim() + 1)
    if wrapped is None or 0 in tensors[0].shape:
        return None
    shape = (*tensors[0].shape[:wrapped], len(tensors), *tensors[0].shape[wrapped:])
    return Layout(shape, contiguous(shape), tensors[0].dtype)


@rule(*overloads("roll"))
def roll(self, shifts, dims=()):
    """A rolled copy: the input's shape."""
    if not _contiguous_floats([self]) or not shifts or (dims and len(dims) != len(shifts)) or any(_dim(d, self.dim()) is None for d in dims):
        return None
    return Layout(tuple(self.shape), contiguous(self.shape), self.dtype)


def _reduced_dims(self, dim) -> set[int | None]:
    """The dims a reduction over `dim` (None or empty: all) covers, wrapped; None marks one out of range."""
    dims = range(self.dim()) if dim is None or (not isinstance(dim, int) and len(dim) == 0) else [dim] if isinstance(dim, int) else dim
    return {_dim(d, self.dim()) for d in dims}


def reduced(self, dim, keepdim: bool, dtype: torch.dtype) -> Layout | None:
    """A float input reduced over `dim`: row-major whatever the input's layout (measured)."""
    wrapped = _reduced_dims(self, dim)
    if not (is_meta(self) and self.dtype.is_floating_point) or self.dim() == 0 or None in wrapped or 0 in self.shape:
        return None
    shape = tuple(1 if i in wrapped else s for i, s in enumerate(self.shape) if keepdim or i not in wrapped)
    return Layout(shape, contiguous(shape), dtype)


@rule(*overloads("mean.dim", "sum.dim_IntList"))
def mean(self, dim, keepdim=False, *, dtype=None):
    """Mean or sum over `dim`, in `dtype` (a float one) or the input's."""
    if dtype is not None and not dtype.is_floating_point:
        return None
    return reduced(self, dim, keepdim, dtype or self.dtype)


@rule(*overloads("amax", "amin"))
def amax(self, dim=(), keepdim=False):
    """Max or min over `dim`, in the input's dtype."""
    return reduced(self, dim, keepdim, self.dtype)


@rule(*overloads("linalg_vector_norm"))
def linalg_vector_norm(self, ord=2, dim=None, keepdim=False, *, dtype=None):
    """A vector norm over `dim`, in `dtype` (a float one) or the input's.
    Over size-1 dims only it keeps the input's strides: declined unless those are row-major."""
    if dtype is not None and not dtype.is_floating_point:
        return None
    if all(d is not None and self.shape[d] == 1 for d in _reduced_dims(self, dim)) and not is_canonical(self.shape, self.stride()):
        return None
    return reduced(self, dim, keepdim, dtype or self.dtype)
