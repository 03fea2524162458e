"""Per-aten-op cost formulas: one visible table, each a pure function of shapes.

A formula receives the op's arguments bound to their schema names, with every
tensor replaced by its shape (a tuple), plus `out`, the list of output shapes,
and returns `Cost(madds, flops)`.

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
- An op with no entry here is *uncounted*: listed with its call count, never
  silently zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor, prod
from typing import Callable, Sequence

import torch

aten = torch.ops.aten

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Cost:
    madds: int = 0
    flops: int = 0


FORMULAS: dict[object, Callable[..., Cost]] = {}


def formula(*ops) -> Callable[[Callable[..., Cost]], Callable[..., Cost]]:
    """Register `fn` as the cost formula of each aten op packet in `ops`."""

    def wrap(fn: Callable[..., Cost]) -> Callable[..., Cost]:
        for op in ops:
            packet = getattr(op, "overloadpacket", op)
            if packet in FORMULAS:
                raise ValueError(f"{packet} already has a formula")
            FORMULAS[packet] = fn
        return fn

    return wrap


def _ops(*names: str) -> list:
    """aten op packets by name, skipping ones this torch build lacks."""
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def numel(shape: Sequence[int] | None) -> int:
    return 0 if shape is None else prod(shape)


# ---------------------------------------------------------------------------
# Convolution and matrix products: the MAdds.
# ---------------------------------------------------------------------------


@formula(*_ops("convolution", "_convolution"))
def convolution(input: Shape, weight: Shape, bias: Shape | None, transposed: bool = False, out: Sequence[Shape] = (), **_) -> Cost:  # noqa: A002 - schema name
    """Each output element of a (grouped, dilated) conv is a dot product of
    Cin/groups x prod(kernel) terms; weight is (Cout, Cin/groups, *k). A
    transposed conv's weight is (Cin, Cout/groups, *k) and every *input*
    element is multiplied by Cout/groups x prod(kernel) weights."""
    per_element = weight[1] * prod(weight[2:])
    madds = numel(input if transposed else out[0]) * per_element
    return Cost(madds, 2 * madds + (numel(out[0]) if bias is not None else 0))


@formula(aten.mm)
def mm(self: Shape, mat2: Shape, **_) -> Cost:
    madds = self[0] * self[1] * mat2[1]  # (m, k) @ (k, n)
    return Cost(madds, 2 * madds)


@formula(aten.addmm)
def addmm(self: Shape, mat1: Shape, mat2: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    madds = mat1[0] * mat1[1] * mat2[1]
    return Cost(madds, 2 * madds + numel(out[0]))  # + the bias add (beta, alpha scaling not counted)


@formula(aten.bmm)
def bmm(self: Shape, mat2: Shape, **_) -> Cost:
    madds = self[0] * self[1] * self[2] * mat2[2]  # (b, m, k) @ (b, k, n)
    return Cost(madds, 2 * madds)


@formula(aten.baddbmm)
def baddbmm(self: Shape, batch1: Shape, batch2: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    madds = batch1[0] * batch1[1] * batch1[2] * batch2[2]
    return Cost(madds, 2 * madds + numel(out[0]))


@formula(*_ops("linear"))
def linear(input: Shape, weight: Shape, bias: Shape | None = None, out: Sequence[Shape] = (), **_) -> Cost:  # noqa: A002
    """Only seen when linear is not decomposed into addmm / mm."""
    madds = numel(out[0]) * weight[1]
    return Cost(madds, 2 * madds + (numel(out[0]) if bias is not None else 0))


@formula(*_ops("matmul"))
def matmul(self: Shape, other: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """Broadcast matmul: every output element is a length-k dot product."""
    k = self[-1]
    madds = max(numel(out[0]), 1) * k
    return Cost(madds, 2 * madds)


@formula(aten.mv)
def mv(self: Shape, vec: Shape, **_) -> Cost:
    madds = self[0] * self[1]  # (m, n) @ (n,)
    return Cost(madds, 2 * madds)


@formula(*_ops("dot", "vdot"))
def dot(self: Shape, **_) -> Cost:
    """(n,) . (n,); the second operand is `tensor` in dot, `other` in vdot."""
    madds = self[0]
    return Cost(madds, 2 * madds)


# Attention ------------------------------------------------------------------

SOFTMAX_FLOPS = 5  # max, subtract, exp, sum, divide per element


def _attention_cost(q: Shape, k: Shape, v: Shape) -> Cost:
    """Q (..., L, E), K (..., S, E), V (..., S, Ev): scores Q K^T take L S E
    MAdds per batch-head, the weighted sum of V takes L S Ev; FLOPs add the
    scaling of the scores (1 per score) and the softmax."""
    batch = prod(q[:-2])
    length, emb, source, emb_v = q[-2], q[-1], k[-2], v[-1]
    madds = batch * length * source * (emb + emb_v)
    scores = batch * length * source
    return Cost(madds, 2 * madds + scores * (1 + SOFTMAX_FLOPS))


@formula(
    *_ops(
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_attention_math",
        "_scaled_dot_product_fused_attention_overrideable",
    )
)
def scaled_dot_product_attention(query: Shape, key: Shape, value: Shape, **_) -> Cost:
    return _attention_cost(query, key, value)


@formula(*_ops("_native_multi_head_attention"))
def native_multi_head_attention(
    query: Shape, key: Shape, value: Shape, embed_dim: int, num_head: int, qkv_bias: Shape | None = None, proj_bias: Shape | None = None, **_
) -> Cost:
    """nn.MultiheadAttention's fused inference path: Q, K, V projections,
    attention over `num_head` heads of embed_dim / num_head, output projection.
    Inputs are (batch, length, embed_dim)."""
    batch, length, source = query[0], query[-2], key[-2]
    proj = batch * (length + 2 * source) * embed_dim * embed_dim + batch * length * embed_dim * embed_dim
    head = embed_dim // num_head
    attn = _attention_cost((batch, num_head, length, head), (batch, num_head, source, head), (batch, num_head, source, head))
    bias_adds = (batch * (length + 2 * source) * embed_dim if qkv_bias is not None else 0) + (batch * length * embed_dim if proj_bias is not None else 0)
    return Cost(proj + attn.madds, 2 * proj + attn.flops + bias_adds)


# ---------------------------------------------------------------------------
# Normalisation.
# ---------------------------------------------------------------------------

NORM_FOLDED_FLOPS = 2  # inference BN: statistics and affine fold into x * scale + shift
NORM_STATS_FLOPS = 6  # mean (1 add), variance (subtract, square, add: 3), normalise (subtract, multiply: 2)
AFFINE_FLOPS = 2  # multiply by gamma, add beta


def _norm(input: Shape, weight: Shape | None, training: bool) -> Cost:  # noqa: A002
    if not training:
        return Cost(0, NORM_FOLDED_FLOPS * numel(input))
    return Cost(0, (NORM_STATS_FLOPS + (AFFINE_FLOPS if weight is not None else 0)) * numel(input))


@formula(*_ops("native_batch_norm", "_native_batch_norm_legit", "cudnn_batch_norm", "miopen_batch_norm", "batch_norm"))
def batch_norm(input: Shape, weight: Shape | None = None, training: bool = True, **_) -> Cost:  # noqa: A002
    return _norm(input, weight, training)


@formula(*_ops("_batch_norm_with_update"))
def batch_norm_with_update(input: Shape, weight: Shape | None = None, **_) -> Cost:  # noqa: A002
    """The training-mode op: its schema has no `training` flag."""
    return _norm(input, weight, training=True)


@formula(*_ops("_native_batch_norm_legit_no_training", "_batch_norm_no_update"))
def batch_norm_inference(input: Shape, **_) -> Cost:  # noqa: A002
    return _norm(input, None, training=False)


@formula(*_ops("native_layer_norm", "native_group_norm"))
def layer_or_group_norm(input: Shape, weight: Shape | None = None, **_) -> Cost:  # noqa: A002
    """Statistics are computed at inference too."""
    return _norm(input, weight, training=True)


# ---------------------------------------------------------------------------
# Element-wise ops: a constant number of FLOPs per output element.
# ---------------------------------------------------------------------------

FLOPS_PER_ELEMENT: dict[str, int] = {
    # arithmetic (add with alpha != 1 would add a multiply; not counted)
    "add": 1, "sub": 1, "rsub": 1, "mul": 1, "div": 1, "neg": 1, "reciprocal": 1,
    "pow": 1, "sqrt": 1, "rsqrt": 1, "exp": 1, "log": 1, "abs": 1, "square": 1,
    "maximum": 1, "minimum": 1, "addcmul": 2, "addcdiv": 2, "lerp": 3,
    # activations
    "relu": 1,  # max(x, 0)
    "threshold": 1,
    "clamp_min": 1, "clamp_max": 1, "clamp": 2,
    "hardtanh": 2,  # min and max (ReLU6)
    "leaky_relu": 2,  # compare, multiply
    "elu": 4,  # compare, exp, subtract, multiply
    "sigmoid": 4,  # neg, exp, add, divide
    "tanh": 1,
    "hardsigmoid": 4,  # add 3, clamp (2), divide by 6
    "hardswish": 5,  # hardsigmoid (4) times x
    "silu": 5,  # sigmoid (4) times x
    "mish": 6,  # softplus (exp, add, log), tanh, multiply ... (x * tanh(softplus(x)))
    "softplus": 3,  # exp, add, log
    "gelu": 5,  # erf form: divide by sqrt 2, erf, add 1, multiply x, halve (tanh form below)
    # comparisons and rounding (a comparison is one FLOP, as in max / clamp)
    "eq": 1, "ne": 1, "gt": 1, "ge": 1, "lt": 1, "le": 1, "floor": 1, "ceil": 1, "round": 1,
    "trunc": 1, "frac": 1, "sign": 1, "log2": 1, "log10": 1, "log1p": 1, "expm1": 1, "exp2": 1,
    "remainder": 1, "fmod": 1, "atan2": 1,
    "_softmax": SOFTMAX_FLOPS,
    "_log_softmax": SOFTMAX_FLOPS,  # max, subtract, exp, sum, log-subtract
    "softmax": SOFTMAX_FLOPS,
    "log_softmax": SOFTMAX_FLOPS,
}
GELU_TANH_FLOPS = 9  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))


def _elementwise(per_element: int) -> Callable[..., Cost]:
    def cost(out: Sequence[Shape] = (), **_) -> Cost:
        return Cost(0, per_element * numel(out[0]))

    return cost


for _name, _flops in FLOPS_PER_ELEMENT.items():
    if _name == "gelu":
        continue
    formula(*_ops(_name, _name + "_"))(_elementwise(_flops))


@formula(*_ops("gelu", "gelu_"))
def gelu(approximate: str = "none", out: Sequence[Shape] = (), **_) -> Cost:
    return Cost(0, (GELU_TANH_FLOPS if approximate == "tanh" else FLOPS_PER_ELEMENT["gelu"]) * numel(out[0]))


# Reductions -------------------------------------------------------------------


@formula(aten.mean)
def mean(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """n - 1 adds and one divide per output: n per output, numel(input) in all."""
    return Cost(0, numel(self))


@formula(*_ops("sum", "amax", "amin", "max", "min", "logsumexp", "var_mean", "var", "std"))
def reduction(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """n - 1 adds (or comparisons) per output element."""
    return Cost(0, max(numel(self) - numel(out[0]), 0))


# ---------------------------------------------------------------------------
# Pooling and resampling.
# ---------------------------------------------------------------------------


def _pair(value, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    return value * n if len(value) == 1 else value


@formula(*_ops("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d_with_indices"))
def max_pool(self: Shape, kernel_size, out: Sequence[Shape] = (), **_) -> Cost:
    """prod(k) - 1 comparisons per output (padding positions included)."""
    window = prod(_pair(kernel_size, len(self) - 2))
    return Cost(0, numel(out[0]) * (window - 1))


@formula(*_ops("avg_pool1d", "avg_pool2d", "avg_pool3d"))
def avg_pool(self: Shape, kernel_size, out: Sequence[Shape] = (), **_) -> Cost:
    """prod(k) - 1 adds and one divide per output."""
    window = prod(_pair(kernel_size, len(self) - 2))
    return Cost(0, numel(out[0]) * window)


def adaptive_windows(in_size: int, out_size: int) -> list[int]:
    """Window lengths of adaptive pooling along one axis (PyTorch's
    start = floor(i L / O), end = ceil((i + 1) L / O))."""
    return [ceil((i + 1) * in_size / out_size) - floor(i * in_size / out_size) for i in range(out_size)]


def _adaptive_window_total(self: Shape, output_size: Sequence[int]) -> int:
    """Sum over outputs of their window sizes; windows are separable per axis."""
    k = len(output_size)
    total = numel(self[:-k])
    for in_size, out_size in zip(self[-k:], output_size):
        total *= sum(adaptive_windows(in_size, out_size))
    return total


@formula(*_ops("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool3d", "adaptive_avg_pool1d"))
def adaptive_avg_pool(self: Shape, output_size: Sequence[int], **_) -> Cost:
    """Window - 1 adds and one divide per output."""
    return Cost(0, _adaptive_window_total(self, output_size))


@formula(*_ops("adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d"))
def adaptive_max_pool(self: Shape, output_size: Sequence[int], out: Sequence[Shape] = (), **_) -> Cost:
    """Window - 1 comparisons per output."""
    return Cost(0, _adaptive_window_total(self, output_size) - numel(out[0]))


INTERPOLATION_FLOPS = {
    "upsample_linear1d": 3,  # a + w (b - a)
    "upsample_bilinear2d": 7,  # 4 weighted taps: 4 multiplies, 3 adds
    "_upsample_bilinear2d_aa": 7,
    "upsample_trilinear3d": 15,  # 8 taps
    "upsample_bicubic2d": 31,  # 16 taps
    "_upsample_bicubic2d_aa": 31,
}
for _name, _flops in INTERPOLATION_FLOPS.items():
    formula(*_ops(_name))(_elementwise(_flops))


# ---------------------------------------------------------------------------
# Data movement: zero FLOPs, bytes only.
# ---------------------------------------------------------------------------

DATA_MOVEMENT = (
    # views (no allocation)
    "view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute", "expand",
    "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes", "unbind", "chunk",
    "narrow", "alias", "detach", "as_strided", "flatten", "unflatten", "expand_as", "view_as",
    "unfold", "diagonal", "movedim",
    # copies and layout changes
    "clone", "contiguous", "_to_copy", "copy_", "copy", "cat", "stack", "constant_pad_nd", "pad",
    "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
    "replication_pad2d", "replication_pad3d", "index_select", "gather", "index", "roll", "flip",
    "repeat", "tile", "channel_shuffle", "native_channel_shuffle", "pixel_shuffle",
    "pixel_unshuffle", "max_unpool2d", "max_unpool3d", "where", "masked_fill", "im2col", "col2im",
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
    "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    # creation
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
    "full_like", "new_zeros", "new_empty", "new_ones", "new_full", "new_empty_strided", "fill",
    "fill_", "zero_", "arange", "scalar_tensor", "lift_fresh", "lift_fresh_copy", "_local_scalar_dense",
    # inference dropout and no-ops
    "dropout", "native_dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout",
    # boolean / integer logic and selection (detectors' post-processing): no float arithmetic
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "logical_and", "logical_or",
    "logical_not", "logical_xor", "nonzero", "_unique2", "unique_dim", "unique_consecutive",
    "index_put", "index_put_", "masked_select", "scatter", "scatter_", "argmax", "argmin", "sort",
    "topk", "argsort", "meshgrid", "bucketize", "searchsorted",
)


def _zero(**_) -> Cost:
    return Cost(0, 0)


formula(*_ops(*DATA_MOVEMENT))(_zero)


@formula(*_ops("linalg_vector_norm", "norm"))
def vector_norm(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """p = 2: a square and an add per input element, a square root per output."""
    return Cost(0, 2 * numel(self) + numel(out[0]))


# ---------------------------------------------------------------------------
# Ops of other libraries, keyed by qualified name so that nothing imports them.
# ---------------------------------------------------------------------------

NAMED_FORMULAS: dict[str, Callable[..., Cost]] = {}
IOU_FLOPS = 13  # 2 max, 2 min, 2 subtract, 2 clamp, multiply; add, subtract, divide; compare
ROI_BILINEAR_FLOPS = 7  # a bilinear sample: 4 taps, 4 multiplies and 3 adds


def named_formula(*names: str) -> Callable[[Callable[..., Cost]], Callable[..., Cost]]:
    def wrap(fn: Callable[..., Cost]) -> Callable[..., Cost]:
        for name in names:
            NAMED_FORMULAS[name] = fn
        return fn

    return wrap


@named_formula("torchvision::nms")
def nms(dets: Shape, **_) -> Cost:
    """Upper bound: each of the n(n - 1)/2 box pairs compared once (the kernel
    skips boxes already suppressed, which depends on the values)."""
    n = dets[0]
    return Cost(0, IOU_FLOPS * n * (n - 1) // 2)


@named_formula("torchvision::roi_align", "torchvision::_roi_align")
def roi_align(sampling_ratio: int = -1, out: Sequence[Shape] = (), **_) -> Cost:
    """Each output bin averages s x s bilinear samples (7 FLOPs each, plus the
    sum and divide). With sampling_ratio <= 0 the grid depends on each RoI's
    size (a value): counted as 2 x 2, what torchvision's detectors use."""
    s = sampling_ratio if sampling_ratio > 0 else 2
    return Cost(0, numel(out[0]) * s * s * (ROI_BILINEAR_FLOPS + 1))


def bind(func, args: tuple, kwargs: dict) -> dict:
    """The op's input arguments by schema name (positional ones included).
    The result buffers of an `out=` overload (`out`, `values`, ...) are left
    out: a formula gets the results' shapes as `out`."""
    schema = func._schema.arguments
    results = {a.name for a in schema if a.is_out}
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
