"""netstat's own output layouts (shape, strides, dtype) for the aten ops that
make up nearly every CNN and ViT, used by the meta trace instead of PyTorch's
meta kernels.

Why: many meta kernels are Python decompositions (batch norm, addmm, add,
mean, cat, layer norm, gelu, ...) wrapped in `torch._disable_dynamo`, which
imports `torch._dynamo` -- about 1.7 s -- on its first call, and which are
slow besides. A rule is a pure function of the op's arguments (tensor shapes,
strides and dtypes; scalars) that returns the output's `Layout`, a tuple of
them, the input itself for an in-place op, or None to decline. It declines
whatever it is not sure of -- a layout it does not model, an argument the op
would reject -- and then the real meta kernel runs, which also raises the
op's own error. Register one with `@rule(aten overloads...)` in the module
of its kind:

- `elementwise`: activations, arithmetic, comparisons (broadcasting, type
  promotion, PyTorch's element-wise stride order);
- `products`: mm, addmm, bmm, baddbmm;
- `nn`: convolution, batch / layer / group norm, pooling, upsampling, softmax;
- `tensors`: cat, stack, roll, reductions.

The meta kernel is the oracle: tests/test_shapes.py traces every zoo and
torchvision classification model with the rules and without them and
requires the same records, strides included.
"""

from __future__ import annotations

from typing import Any

from netstat.shapes import elementwise, nn, products, tensors  # noqa: F401 - they register their rules
from netstat.shapes._core import RULES, Layout, rule

__all__ = ["RULES", "Layout", "infer", "rule"]


def infer(func, args: tuple, kwargs: dict) -> Any:
    """The output layout(s) of `func(*args, **kwargs)` by netstat's rule, or
    None when there is none or it declines."""
    fn = RULES.get(func)
    return None if fn is None else fn(*args, **kwargs)
