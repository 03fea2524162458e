"""Formulas for everything but the products: normalisation, element-wise
ops (a constant number of FLOPs per element, `FLOPS_PER_ELEMENT`),
reductions, pooling and resampling, and the zero-FLOP kinds of the op table."""

from __future__ import annotations

from math import ceil, floor, prod
from typing import Callable, Sequence

from netstat import ops
from netstat.formulas.registry import Cost, Shape, aten_packets, formula, numel, packets, zero

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


@formula(*aten_packets("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional", "_batch_norm_impl_index",
                "cudnn_batch_norm", "miopen_batch_norm", "batch_norm"))
def batch_norm(input: Shape, weight: Shape | None = None, training: bool = True, **_) -> Cost:  # noqa: A002
    return _norm(input, weight, training)


@formula(*aten_packets("_batch_norm_with_update"))
def batch_norm_with_update(input: Shape, weight: Shape | None = None, **_) -> Cost:  # noqa: A002
    """The training-mode op: its schema has no `training` flag."""
    return _norm(input, weight, training=True)


@formula(*aten_packets("_native_batch_norm_legit_no_training", "_batch_norm_no_update"))
def batch_norm_inference(input: Shape, **_) -> Cost:  # noqa: A002
    return _norm(input, None, training=False)


@formula(*aten_packets("native_layer_norm", "layer_norm", "native_group_norm", "group_norm", "instance_norm"))
def layer_or_group_norm(input: Shape, weight: Shape | None = None, **_) -> Cost:  # noqa: A002
    """Statistics are computed at inference too."""
    return _norm(input, weight, training=True)


RMS_NORM_FLOPS = 3  # square, add (the mean of squares), multiply by the reciprocal RMS


@formula(*aten_packets("rms_norm", "_fused_rms_norm"))
def rms_norm(input: Shape, weight: Shape | None = None, **_) -> Cost:  # noqa: A002
    """x / sqrt(mean(x^2) + eps) * gamma; the per-row root and reciprocal are not counted."""
    return Cost(0, (RMS_NORM_FLOPS + (1 if weight is not None else 0)) * numel(input))


# ---------------------------------------------------------------------------
# Element-wise ops: a constant number of FLOPs per output element.
# ---------------------------------------------------------------------------

SOFTMAX_FLOPS = 5  # max, subtract, exp, sum, divide per element (attention's softmax too: `products`)

FLOPS_PER_ELEMENT: dict[str, int] = {
    # arithmetic (add with alpha != 1 would add a multiply; not counted)
    "add": 1, "sub": 1, "rsub": 1, "mul": 1, "div": 1, "neg": 1, "reciprocal": 1,
    "pow": 1, "sqrt": 1, "rsqrt": 1, "exp": 1, "log": 1, "abs": 1, "absolute": 1, "square": 1,
    "maximum": 1, "minimum": 1, "addcmul": 2, "addcdiv": 2, "lerp": 3,
    "xlogy": 2,  # x * log(y)
    # activations
    "relu": 1,  # max(x, 0)
    "threshold": 1,
    "clamp_min": 1, "clamp_max": 1, "clamp": 2, "clip": 2,
    "hardtanh": 2,  # min and max (ReLU6)
    "relu6": 2,  # hardtanh(x, 0, 6)
    "leaky_relu": 2,  # compare, multiply
    "prelu": 2, "_prelu_kernel": 2, "rrelu_with_noise": 2,  # as leaky_relu, with a learned / sampled slope
    "hardshrink": 1,  # |x| > lambda
    "softshrink": 2,  # compare, subtract lambda
    "elu": 4,  # compare, exp, subtract, multiply
    "celu": 4,  # elu with x / alpha folded into the exp's argument
    "selu": 5,  # elu (4) times lambda
    "log_sigmoid": 3,  # -softplus(-x): exp, add, log
    "sigmoid": 4,  # neg, exp, add, divide
    "tanh": 1,
    "hardsigmoid": 4,  # add 3, clamp (2), divide by 6
    "hardswish": 5,  # hardsigmoid (4) times x
    "silu": 5,  # sigmoid (4) times x
    "mish": 6,  # softplus (exp, add, log), tanh, multiply ... (x * tanh(softplus(x)))
    "softplus": 3,  # exp, add, log
    "gelu": 5,  # erf form: divide by sqrt 2, erf, add 1, multiply x, halve (tanh form below)
    # comparisons and rounding (a comparison is one FLOP, as in max / clamp)
    "eq": 1, "ne": 1, "gt": 1, "ge": 1, "lt": 1, "le": 1, "isinf": 1, "isnan": 1, "sgn": 1,
    "floor": 1, "ceil": 1, "round": 1,
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
    "special_softmax": SOFTMAX_FLOPS,
}
GELU_TANH_FLOPS = 9  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))


def _elementwise(per_element: int) -> Callable[..., Cost]:
    def cost(out: Sequence[Shape] = (), **_) -> Cost:
        return Cost(0, per_element * numel(out[0]))

    return cost


for _name in ops.names("activation", "elementwise", "softmax"):
    if _name != "gelu":
        formula(*aten_packets(_name, _name + "_"))(_elementwise(FLOPS_PER_ELEMENT[_name]))


@formula(*aten_packets("gelu", "gelu_"))
def gelu(approximate: str = "none", out: Sequence[Shape] = (), **_) -> Cost:
    return Cost(0, (GELU_TANH_FLOPS if approximate == "tanh" else FLOPS_PER_ELEMENT["gelu"]) * numel(out[0]))


# Reductions -------------------------------------------------------------------


@formula(*aten_packets("mean", "nanmean"))
def mean(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """n - 1 adds and one divide per output: n per output, numel(input) in all."""
    return Cost(0, numel(self))


@formula(*aten_packets("sum", "nansum", "prod", "amax", "amin", "max", "min", "logsumexp", "var_mean", "var", "std", "std_mean",
                "median", "nanmedian", "mode", "kthvalue", "count_nonzero"))
def reduction(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """n - 1 adds (multiplies, comparisons) per output element (a median, mode
    or k-th value: counted as one pass of comparisons)."""
    return Cost(0, max(numel(self) - numel(out[0]), 0))


@formula(*aten_packets("aminmax"))
def aminmax(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """A min and a max reduction."""
    return Cost(0, 2 * max(numel(self) - numel(out[0]), 0))


@formula(*aten_packets("logcumsumexp"))
def logcumsumexp(self: Shape, **_) -> Cost:
    """exp, the running add and log: 3 per element."""
    return Cost(0, 3 * numel(self))


@formula(*aten_packets("cumsum", "cumsum_", "cumprod", "cumprod_", "cummax", "cummin"))
def cumulative(self: Shape, dim: int, **_) -> Cost:
    """A running sum (product, max, min) along `dim`: each row of n elements takes n - 1
    adds (multiplies, comparisons), its first output being a copy of its first input.
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


@formula(*aten_packets("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d_with_indices",
                "_max_pool2d", "mkldnn_max_pool2d", "quantized_max_pool1d", "quantized_max_pool2d", "quantized_max_pool3d"))
def max_pool(self: Shape, kernel_size, out: Sequence[Shape] = (), **_) -> Cost:
    """prod(k) - 1 comparisons per output (padding positions included)."""
    window = prod(_pair(kernel_size, len(self) - 2))
    return Cost(0, numel(out[0]) * (window - 1))


@formula(*aten_packets("avg_pool1d", "avg_pool2d", "avg_pool3d"))
def avg_pool(self: Shape, kernel_size, out: Sequence[Shape] = (), **_) -> Cost:
    """prod(k) - 1 adds and one divide per output."""
    window = prod(_pair(kernel_size, len(self) - 2))
    return Cost(0, numel(out[0]) * window)


@formula(*aten_packets("lp_pool2d"))
def lp_pool2d(self: Shape, kernel_size, out: Sequence[Shape] = (), **_) -> Cost:
    """x^p per input element, an average pool, then times the window and the p-th root (2 per output)."""
    return Cost(0, numel(self) + avg_pool(self=self, kernel_size=kernel_size, out=out).flops + 2 * numel(out[0]))


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


@formula(*packets("gap"))
def adaptive_avg_pool(self: Shape, output_size: Sequence[int], **_) -> Cost:
    """Window - 1 adds and one divide per output."""
    return Cost(0, _adaptive_window_total(self, output_size))


@formula(*aten_packets("adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d"))
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
    formula(*aten_packets(_name))(_elementwise(_flops))


@formula(*aten_packets("grid_sampler_2d", "grid_sampler"))
def grid_sampler(interpolation_mode: int = 0, out: Sequence[Shape] = (), **_) -> Cost:
    """F.grid_sample: per output element the interpolation's taps, as for
    upsampling (bilinear 7, nearest 0, bicubic 31); turning the grid's
    normalised coordinates into pixel positions is not counted."""
    per_element = {0: 7, 1: 0, 2: 31}.get(interpolation_mode, 7)
    return Cost(0, per_element * numel(out[0]))


# ---------------------------------------------------------------------------
# Data movement: zero FLOPs, bytes only (every op of the table's ZERO_FLOP
# kinds: layout, copies, creation, logic, selection, nearest upsampling,
# inference dropout).
# ---------------------------------------------------------------------------


formula(*packets(*ops.ZERO_FLOP))(zero)

@formula(*aten_packets("linalg_vector_norm", "norm"))
def vector_norm(self: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """p = 2: a square and an add per input element, a square root per output."""
    return Cost(0, 2 * numel(self) + numel(out[0]))
