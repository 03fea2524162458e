"""Element-wise ops: activations, arithmetic, comparisons.

The output has the broadcast shape of the tensor operands, PyTorch's
element-wise strides (`_core.elementwise`) and the promoted dtype
(`torch.result_type`, which weighs Python scalars and 0-dim tensors as torch
does). An in-place op returns its input. A 0-dim CPU tensor takes part in
the dtype only; any other non-meta tensor, and any complex or non-float
activation input, makes the rule decline (the meta kernel then runs)."""

from __future__ import annotations

from typing import Any

import torch

from netstat.shapes._core import Layout, broadcast, contiguous, elementwise, expanded, is_dense, is_meta, overloads, rule

UNARY = "relu relu6 gelu silu mish hardsigmoid hardswish hardtanh leaky_relu elu celu selu softplus neg abs clamp_min clamp_max"
UNARY_TO_FLOAT = "sigmoid tanh exp rsqrt sqrt log erf"  # an integer input gives a float (not taken: floats only)
BINARY = "add.Tensor add.Scalar sub.Tensor sub.Scalar mul.Tensor mul.Scalar maximum minimum pow.Tensor_Scalar pow.Tensor_Tensor"
BINARY_TO_FLOAT = "div.Tensor div.Scalar"
COMPARISON = "eq.Tensor eq.Scalar ne.Tensor ne.Scalar lt.Tensor lt.Scalar le.Tensor le.Scalar gt.Tensor gt.Scalar ge.Tensor ge.Scalar"
INPLACE_UNARY = """relu_ relu6_ silu_ mish_ hardsigmoid_ hardswish_ hardtanh_ leaky_relu_ elu_ celu_ selu_ sigmoid_ tanh_
    exp_ rsqrt_ sqrt_ neg_ abs_ clamp_min_ clamp_max_ gelu_"""
INPLACE_BINARY = "add_.Tensor add_.Scalar sub_.Tensor sub_.Scalar mul_.Tensor mul_.Scalar div_.Tensor div_.Scalar"

_NUMBER = (torch.Tensor, bool, int, float)


def pointwise(operands: list[Any], dtype: torch.dtype) -> Layout | None:
    """The `dtype` output of an element-wise op over `operands` (tensors and Python scalars)."""
    tensors = [x for x in operands if isinstance(x, torch.Tensor)]
    on_meta = [t for t in tensors if t.is_meta]
    if not on_meta or any(t.dim() > 0 for t in tensors if not t.is_meta):
        return None
    shape = broadcast(*(t.shape for t in tensors))
    if shape is None:
        return None
    return Layout(shape, elementwise(shape, [expanded(t.shape, t.stride(), shape) for t in on_meta]), dtype)


def promoted(self: torch.Tensor, other: Any) -> torch.dtype | None:
    """torch's result dtype of `self op other`; None for a complex or non-number operand."""
    if not isinstance(other, _NUMBER):
        return None
    dtype = torch.result_type(self, other)
    return None if dtype.is_complex else dtype


@rule(*overloads(*UNARY.split(), *UNARY_TO_FLOAT.split()))
def unary(self, *args, **kwargs):
    """A float tensor in, the same dtype out; the other arguments are scalars that do not promote."""
    return pointwise([self], self.dtype) if self.dtype.is_floating_point else None


@rule(*overloads("clamp"))
def clamp(self, min=None, max=None):
    """Clamped between scalar bounds, at least one of them given."""
    if min is None and max is None:
        return None
    return unary(self)


@rule(*overloads(*BINARY.split()))
def binary(self, other, *args, **kwargs):
    """Two operands, the promoted dtype out (`alpha` does not promote)."""
    dtype = promoted(self, other)
    return None if dtype is None else pointwise([self, other], dtype)


@rule(*overloads(*BINARY_TO_FLOAT.split()))
def true_divide(self, other):
    """Division: the promoted dtype, the default float for integers."""
    dtype = promoted(self, other)
    if dtype is not None and not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return None if dtype is None else pointwise([self, other], dtype)


@rule(*overloads(*COMPARISON.split()))
def comparison(self, other):
    """A comparison: a bool tensor of the broadcast shape."""
    return None if promoted(self, other) is None else pointwise([self, other], torch.bool)


@rule(*overloads(*INPLACE_UNARY.split()))
def inplace_unary(self, *args, **kwargs):
    """Writes into `self`, a float tensor that does not overlap itself, and returns it."""
    return self if is_meta(self) and self.dtype.is_floating_point and is_dense(self.shape, self.stride()) else None


@rule(*overloads("clamp_"))
def clamp_(self, min=None, max=None):
    """Clamps `self` in place, between scalar bounds, at least one of them given."""
    return None if min is None and max is None else inplace_unary(self)


@rule(*overloads(*INPLACE_BINARY.split()))
def inplace_binary(self, other, *args, **kwargs):
    """Writes `self op other` into `self`: `other` must broadcast to it and its dtype cast into it."""
    dtype = promoted(self, other)
    out = None if dtype is None else pointwise([self, other], dtype)
    if out is None or out.shape != tuple(self.shape) or not torch.can_cast(dtype, self.dtype):
        return None
    return self if is_dense(self.shape, self.stride()) else None


@rule(*overloads("masked_fill.Scalar"))
def masked_fill(self, mask, value):
    """`self` with the elements under a bool `mask` replaced: a contiguous copy
    (`where(...).contiguous()`). Declined with a size-1 dim, whose stride the
    kernel may take from the input."""
    if not (is_meta(self) and is_meta(mask)) or mask.dtype != torch.bool or promoted(self, value) is None:
        return None
    if broadcast(self.shape, mask.shape) != tuple(self.shape) or 1 in self.shape or 0 in self.shape:
        return None
    return Layout(tuple(self.shape), contiguous(self.shape), self.dtype)
