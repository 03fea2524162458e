"""Per-aten-op cost formulas: one visible table, each a pure function of shapes.

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

from dataclasses import dataclass
from math import ceil, floor, prod
from typing import Callable, Sequence

import torch

from netstat.quantized import PackedWeight

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


def _attention_cost(q: Shape, k: Shape, v: Shape, masked: bool = False) -> Cost:
    """Q (..., L, E), K (..., S, E), V (..., S, Ev): scores Q K^T take L S E
    MAdds per batch-head, the weighted sum of V takes L S Ev. FLOPs add what
    PyTorch's reference (math) kernel -- the one every fused kernel is checked
    against, and the one traced on meta -- does besides: q and k each scaled
    by sqrt(scale) (L E + S E per batch-head), the mask added to the scores
    (1 per score, also for is_causal), the softmax (5 per score)."""
    batch = prod(q[:-2])
    length, emb, source, emb_v = q[-2], q[-1], k[-2], v[-1]
    madds = batch * length * source * (emb + emb_v)
    scores = batch * length * source
    scaling = batch * (length + source) * emb
    return Cost(madds, 2 * madds + scaling + scores * (SOFTMAX_FLOPS + (1 if masked else 0)))


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
def scaled_dot_product_attention(query: Shape, key: Shape, value: Shape, **args) -> Cost:
    """The mask is `attn_mask` or `attn_bias` depending on the kernel."""
    masked = bool(args.get("is_causal")) or args.get("attn_mask") is not None or args.get("attn_bias") is not None
    return _attention_cost(query, key, value, masked)


MHA_WEIGHTS_SCALING = 1  # need_weights: nn.MultiheadAttention scales q alone, 1 per q element


@formula(*_ops("_native_multi_head_attention"))
def native_multi_head_attention(
    query: Shape,
    key: Shape,
    value: Shape,
    embed_dim: int,
    num_head: int,
    qkv_bias: Shape | None = None,
    proj_bias: Shape | None = None,
    mask: Shape | None = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    **_,
) -> Cost:
    """nn.MultiheadAttention's fused inference path: Q, K, V projections,
    attention over `num_head` heads of embed_dim / num_head, output projection.
    Inputs are (batch, length, embed_dim). Counted as the module's own
    (unfused) path: without weights that is scaled_dot_product_attention;
    with them q alone is scaled (L E), the mask is added, and averaging the
    weights over the heads is a mean (1 per score)."""
    batch, length, source = query[0], query[-2], key[-2]
    proj = batch * (length + 2 * source) * embed_dim * embed_dim + batch * length * embed_dim * embed_dim
    head = embed_dim // num_head
    heads = (batch, num_head)
    attn = _attention_cost((*heads, length, head), (*heads, source, head), (*heads, source, head), masked=mask is not None)
    extra = 0
    if need_weights:  # replace the sdpa scaling of q and k by that of q alone, add the mean over heads
        scores = batch * num_head * length * source
        extra = MHA_WEIGHTS_SCALING * batch * length * embed_dim - batch * (length + source) * embed_dim
        extra += scores if average_attn_weights else 0
    bias_adds = (batch * (length + 2 * source) * embed_dim if qkv_bias is not None else 0) + (batch * length * embed_dim if proj_bias is not None else 0)
    return Cost(proj + attn.madds, 2 * proj + attn.flops + extra + bias_adds)


# Recurrent layers ----------------------------------------------------------------

# Per hidden unit and time step of PyTorch's reference LSTM cell (what meta
# traces, op by op): add the two gate pre-activations (4), three sigmoids
# (3 x 4), tanh of the cell gate (1), f * c, i * g and their sum (3), tanh(c)
# and o * tanh(c) (2).
LSTM_CELL_FLOPS = 22
LSTM_BIAS_FLOPS = 8  # b_ih and b_hh, 4 gates each (the bias adds of the two addmm)
_MKLDNN_LSTM = 2  # mkldnn_rnn_layer's `mode` for LSTM (ideep's lstm)


@formula(*_ops("mkldnn_rnn_layer"))
def mkldnn_rnn_layer(input: Shape, weight0: Shape, weight1: Shape, mode: int, hidden_size: int, has_biases: bool, **_) -> Cost | None:  # noqa: A002
    """oneDNN's LSTM layer (one direction, all time steps) on CPU, counted as
    the reference cell meta records per step: every row of the input (time
    step x batch) takes x W_ih^T and h W_hh^T, 4H x (I + H) MAdds (weight0 is
    W_ih (4H, I), weight1 W_hh (4H, H)), then the gate arithmetic. Only LSTM
    runs on this kernel; another mode is left uncounted."""
    if mode != _MKLDNN_LSTM:
        return None
    rows = numel(input) // weight0[1]
    madds = rows * weight0[0] * (weight0[1] + weight1[1])
    per_unit = LSTM_CELL_FLOPS + (LSTM_BIAS_FLOPS if has_biases else 0)
    return Cost(madds, 2 * madds + rows * hidden_size * per_unit)


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
    # trigonometric and error functions: transcendental, one FLOP each (as exp, tanh)
    "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1, "sinh": 1, "cosh": 1,
    "erf": 1, "erfc": 1,
    "_softmax": SOFTMAX_FLOPS,
    "_safe_softmax": SOFTMAX_FLOPS,  # softmax that gives 0 (not NaN) on fully masked rows: SDPA's math kernel
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


@formula(*_ops("cumsum", "cumsum_", "cumprod", "cumprod_"))
def cumulative(self: Shape, dim: int, **_) -> Cost:
    """A running sum (product) along `dim`: each row of n elements takes n - 1
    adds (multiplies), its first output being a copy of its first input.
    A named dimension (Dimname) cannot be resolved from shapes: counted as
    one row of all elements."""
    n = self[dim] if isinstance(dim, int) and self else numel(self)
    rows = numel(self) // n if n else 0
    return Cost(0, numel(self) - rows)


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


@formula(*_ops("grid_sampler_2d", "grid_sampler"))
def grid_sampler(interpolation_mode: int = 0, out: Sequence[Shape] = (), **_) -> Cost:
    """F.grid_sample: per output element the interpolation's taps, as for
    upsampling (bilinear 7, nearest 0, bicubic 31); turning the grid's
    normalised coordinates into pixel positions is not counted."""
    per_element = {0: 7, 1: 0, 2: 31}.get(interpolation_mode, 7)
    return Cost(0, per_element * numel(out[0]))


# ---------------------------------------------------------------------------
# Data movement: zero FLOPs, bytes only.
# ---------------------------------------------------------------------------

DATA_MOVEMENT = (
    # views (no allocation)
    "view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute", "expand",
    "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes", "unbind", "chunk",
    "narrow", "alias", "detach", "as_strided", "flatten", "unflatten", "expand_as", "view_as",
    "unfold", "diagonal", "movedim", "swapaxes", "swapdims", "moveaxis", "tensor_split",
    "unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk",  # views the schema does not mark as aliases
    "as_strided_", "t_", "transpose_", "unsqueeze_", "squeeze_", "detach_",  # in-place views
    "conj", "_conj", "resolve_conj", "resolve_neg", "_neg_view", "real", "imag", "view_as_real",
    "view_as_complex", "positive",
    # copies and layout changes
    "clone", "contiguous", "_to_copy", "copy_", "copy", "cat", "stack", "constant_pad_nd", "pad",
    "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
    "replication_pad2d", "replication_pad3d", "index_select", "gather", "index", "roll", "flip",
    "repeat", "tile", "channel_shuffle", "native_channel_shuffle", "pixel_shuffle",
    "pixel_unshuffle", "max_unpool2d", "max_unpool3d", "where", "masked_fill", "masked_fill_",
    "index_fill", "index_fill_", "masked_scatter", "masked_scatter_", "tril", "triu", "im2col", "col2im",
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
    "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    # creation
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
    "full_like", "new_zeros", "new_empty", "new_ones", "new_full", "new_empty_strided", "fill",
    "fill_", "zero_", "arange", "linspace", "logspace", "scalar_tensor", "lift_fresh", "lift_fresh_copy", "_local_scalar_dense",
    # quantized tensors: integer views, quantisation parameters, creation
    "int_repr", "q_scale", "q_zero_point", "q_per_channel_scales", "q_per_channel_zero_points",
    "q_per_channel_axis", "_empty_affine_quantized", "_empty_per_channel_affine_quantized",
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

# Facts about ops that the memory accounting (netstat.trace, netstat.metrics)
# needs and the schema does not give:
# - outputs that are views of the first argument although the schema declares
#   fresh tensors (the RNN cells' gate splits, on every device);
UNSAFE_VIEWS = frozenset({"unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk"})
# - a Python number made a 0-d tensor (`mask[i] = 3`): a constant, not an
#   activation; on CPU it is not even dispatched, on meta and CUDA it is.
CONSTANTS = frozenset({"scalar_tensor"})


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


# Quantized (int8) ops: torch.ops.quantized, and aten's quantize / dequantize.
#
# A quantized op costs what its float twin costs: a conv's MAdds are out
# elements x Cin/g x kh x kw on the unpacked weight, whose shape the trace
# records in place of the packed-params object (netstat.quantized.PackedWeight);
# integer multiply-adds count as the float ones would. Requantising an int32
# accumulator (or an int8 result) to the output's scale and zero point is a
# kernel detail and not counted, as `addmm`'s alpha / beta are not.

QUANTIZE_FLOPS = 5  # x / scale, round, + zero point, clamp to the integer range (2)
DEQUANTIZE_FLOPS = 2  # (q - zero point) x scale
DYNAMIC_RANGE_FLOPS = 2  # quantize_per_tensor_dynamic first finds min and max: a comparison each


def _packed_weight(args: dict) -> PackedWeight | None:
    """The packed weight of a quantized conv / linear (`packed_weight`, `weight`
    in the legacy conv overloads, `W_prepack` in linear's); None when the trace
    could not unpack it (the op is then uncounted)."""
    weight = next((args[k] for k in ("packed_weight", "weight", "W_prepack") if k in args), None)
    return weight if isinstance(weight, PackedWeight) else None


QUANTIZED_CONVS = {  # name: FLOPs per output element fused after the conv
    "conv1d": 0, "conv2d": 0, "conv3d": 0, "conv_transpose1d": 0, "conv_transpose2d": 0, "conv_transpose3d": 0,
    "conv1d_relu": 1, "conv2d_relu": 1, "conv3d_relu": 1,  # ReLU
    "conv2d_add": 1, "conv2d_add_relu": 2,  # + the accumulator (qaccum), then ReLU
}


def _quantized_conv(fused: int) -> Callable[..., Cost | None]:
    def cost(qx: Shape, out: Sequence[Shape] = (), **args) -> Cost | None:
        """The float conv's formula on the unpacked weight, + the fused ops."""
        w = _packed_weight(args)
        if w is None:
            return None
        conv = convolution(input=qx, weight=w.shape, bias=w.bias, transposed=w.transposed, out=out)
        return Cost(conv.madds, conv.flops + fused * numel(out[0]))

    return cost


for _name, _fused in QUANTIZED_CONVS.items():
    named_formula(f"quantized::{_name}")(_quantized_conv(_fused))

QUANTIZED_LINEARS = {  # name: FLOPs per output element fused after the product
    "linear": 0, "linear_dynamic": 0, "linear_dynamic_fp16": 0, "linear_with_input_q_dq_qweight_dq_output_fp32": 0,
    "linear_relu": 1, "linear_relu_dynamic": 1, "linear_relu_dynamic_fp16": 1,
    "linear_with_input_q_dq_qweight_dq_relu_output_fp32": 1, "linear_tanh": 1,
    "linear_leaky_relu": 2,  # compare, multiply
}


def _quantized_linear(fused: int) -> Callable[..., Cost | None]:
    def cost(X: Shape, W_prepack: PackedWeight, out: Sequence[Shape] = (), **_) -> Cost | None:  # noqa: N803 - schema names
        """Weight (out, in): every output element is a length-`in` dot
        product, + the bias add, + the fused activation."""
        if not isinstance(W_prepack, PackedWeight):
            return None
        madds = numel(out[0]) * W_prepack.shape[1]
        bias = numel(out[0]) if W_prepack.bias is not None else 0
        return Cost(madds, 2 * madds + bias + fused * numel(out[0]))

    return cost


for _name, _fused in QUANTIZED_LINEARS.items():
    named_formula(f"quantized::{_name}")(_quantized_linear(_fused))

QUANTIZED_ELEMENTWISE = {  # name: FLOPs per output element, as the float twin's
    "add": 1, "add_out": 1, "add_scalar": 1, "add_scalar_out": 1, "mul": 1, "mul_out": 1, "mul_scalar": 1, "mul_scalar_out": 1,
    "add_relu": 2, "add_relu_out": 2, "add_scalar_relu": 2, "add_scalar_relu_out": 2,
    "mul_relu": 2, "mul_relu_out": 2, "mul_scalar_relu": 2, "mul_scalar_relu_out": 2,
    "cat": 0, "cat_out": 0, "cat_relu": 1, "cat_relu_out": 1,
    "batch_norm": NORM_FOLDED_FLOPS, "batch_norm1d": NORM_FOLDED_FLOPS, "batch_norm2d": NORM_FOLDED_FLOPS,
    "batch_norm3d": NORM_FOLDED_FLOPS, "batch_norm_relu": NORM_FOLDED_FLOPS + 1,
    "batch_norm2d_relu": NORM_FOLDED_FLOPS + 1, "batch_norm3d_relu": NORM_FOLDED_FLOPS + 1,
    "hardswish": FLOPS_PER_ELEMENT["hardswish"], "sigmoid": FLOPS_PER_ELEMENT["sigmoid"],
    "relu6": FLOPS_PER_ELEMENT["hardtanh"], "clamp": FLOPS_PER_ELEMENT["clamp"],
    "leaky_relu": FLOPS_PER_ELEMENT["leaky_relu"], "prelu": FLOPS_PER_ELEMENT["leaky_relu"],
    "elu": FLOPS_PER_ELEMENT["elu"], "threshold": FLOPS_PER_ELEMENT["threshold"], "softmax": SOFTMAX_FLOPS,
}
for _name, _flops in QUANTIZED_ELEMENTWISE.items():
    named_formula(f"quantized::{_name}")(_elementwise(_flops))

# Packing and unpacking weights: copies.
QUANTIZED_PACKING = (
    "conv1d_prepack", "conv2d_prepack", "conv3d_prepack", "conv1d_unpack", "conv2d_unpack", "conv3d_unpack",
    "linear_prepack", "linear_prepack_fp16", "linear_unpack", "linear_unpack_fp16", "embedding_bag_prepack",
    "embedding_bag_unpack",
)
named_formula(*(f"quantized::{name}" for name in QUANTIZED_PACKING))(_zero)


@named_formula("quantized::layer_norm", "quantized::group_norm", "quantized::instance_norm")
def quantized_norm(input: Shape, weight: Shape | None = None, **_) -> Cost:  # noqa: A002
    """As layer / group norm: statistics at inference, + the affine."""
    return _norm(input, weight, training=True)


@named_formula("quantized::matmul")
def quantized_matmul(qa: Shape, qb: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """As aten.matmul."""
    return matmul(self=qa, other=qb, out=out)


@named_formula("quantized::max_pool1d", "quantized::max_pool2d")
def quantized_max_pool(qx: Shape, kernel_size, out: Sequence[Shape] = (), **_) -> Cost:
    """As max pooling."""
    return max_pool(self=qx, kernel_size=kernel_size, out=out)


@named_formula("quantized::embedding_byte", "quantized::embedding_4bit")
def quantized_embedding(out: Sequence[Shape] = (), **_) -> Cost:
    """Each gathered element is dequantised with its row's scale and bias."""
    return Cost(0, DEQUANTIZE_FLOPS * numel(out[0]))


formula(*_ops("quantized_max_pool1d", "quantized_max_pool2d", "quantized_max_pool3d"))(max_pool)
formula(*_ops("quantized_batch_norm"))(_elementwise(NORM_FOLDED_FLOPS))


def _all_outputs(per_element: int) -> Callable[..., Cost]:
    def cost(out: Sequence[Shape] = (), **_) -> Cost:
        """`per_element` FLOPs per element of every output (list overloads too)."""
        return Cost(0, per_element * sum(numel(s) for s in out))

    return cost


formula(*_ops("quantize_per_tensor", "quantize_per_channel"))(_all_outputs(QUANTIZE_FLOPS))
formula(*_ops("quantize_per_tensor_dynamic"))(_all_outputs(QUANTIZE_FLOPS + DYNAMIC_RANGE_FLOPS))
formula(*_ops("dequantize"))(_all_outputs(DEQUANTIZE_FLOPS))


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
