"""Per-aten-op cost formulas: one visible table, each a pure function of shapes.

The table is `FORMULAS` (`registry`); the formulas are in `products` (the
MAdds: convolution, matrix products, attention, recurrent layers),
`pointwise` (normalisation, element-wise, reductions, pooling, resampling,
the zero-FLOP kinds), `named` (torchvision's and quantized ops) and
`backward` (the backward ops of a training step). Which ops
exist and of what kind is the op table, `netstat.ops`.

A formula receives the op's arguments bound to their schema names, with every
tensor replaced by its shape (a tuple) and a quantized module's packed weight by
its `netstat.quantized.PackedWeight`, plus `out`, the list of output shapes,
and returns `Cost(madds, flops)` (None: this call cannot be counted, and is
reported uncounted).

Conventions (DESIGN §3; README "Counting conventions"):

- MAdds: multiply-accumulates of convolution, matrix products and attention
  only. That is the convention of the MobileNet / ShuffleNet / ResNet papers
  and of torchvision's published "GFLOPS" (which are GMACs).
- FLOPs: every floating-point operation, 2 x MAdds plus everything else, with
  the per-element constants of `FLOPS_PER_ELEMENT` below. A transcendental
  (exp, erf, tanh, log, sqrt) counts as one FLOP; a comparison (max, clamp)
  counts as one FLOP.
- Data movement (views, copies, cat, padding, creation, dropout at inference,
  max_unpool, nearest upsampling) costs 0 FLOPs but is still a counted op: its
  bytes appear in memory access.
- A fused kernel (oneDNN's LSTM layer, nn.MultiheadAttention's fast path, flash
  attention) counts what PyTorch's reference kernel for it counts op by op, the
  ops a meta trace records, so that no count depends on the device.
- A quantized (int8) op counts as its float twin (conv: out elements x Cin/g x
  kh x kw MAdds); requantisation to the output's scale is not counted.
- An op with no entry here is *uncounted*: listed with its call count, never
  silently zero.
"""

from __future__ import annotations

from netstat.formulas.registry import (  # noqa: F401 - the registry, re-exported
    CONSTANTS,
    FORMULAS,
    NAMED_FORMULAS,
    UNSAFE_VIEWS,
    Cost,
    Shape,
    bind,
    cost_of,
    formula,
    named_formula,
    numel,
    packets,
    share_in_place,
)
from netstat.formulas.products import (  # noqa: F401 - importing a module registers its formulas
    convolution,
    mkldnn_rnn_layer,
    mm,
    native_multi_head_attention,
    scaled_dot_product_attention,
)
from netstat.formulas.pointwise import FLOPS_PER_ELEMENT, SOFTMAX_FLOPS, adaptive_windows, cumulative  # noqa: F401
from netstat.formulas import named  # noqa: F401,E402
from netstat.formulas import backward  # noqa: F401,E402 - the backward ops of a training step (netstat.training)

share_in_place()
