"""Cost formulas of the ops a backward pass runs, in the one registry
(`netstat.formulas.FORMULAS`, `@formula(aten.X)`): pure functions of shapes,
as the forward ones, with the same conventions (README "Counting
conventions"): MAdds are the multiply-accumulates of convolution and matrix
products only; FLOPs are 2 x MAdds plus everything else, one per add,
multiply, comparison or transcendental.

A linear layer's backward needs no entry here: autograd runs it as `mm`
(grad_input = grad_out W, grad_weight = grad_out^T x) and `sum` (grad_bias),
which the forward table counts. Attention's reference kernel is `bmm`,
`_softmax` and element-wise ops, so its backward is `bmm` and
`_softmax_backward_data`.
"""

from __future__ import annotations

from math import prod
from typing import Sequence

import torch

from netstat.formulas.pointwise import adaptive_windows
from netstat.formulas.registry import Cost, formula, numel

aten = torch.ops.aten
Shape = tuple[int, ...]


def _ops(*names: str) -> list:
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


# --------------------------------------------------------------------------- convolution


@formula(aten.convolution_backward)
def convolution_backward(
    grad_output: Shape, input: Shape, weight: Shape, bias_sizes=None, transposed: bool = False,  # noqa: A002 - schema name
    groups: int = 1, output_mask: Sequence[bool] = (True, True, True), **_,
) -> Cost:
    """A conv's backward is two convolutions of the forward's size and a sum.
    The forward takes F = numel(out) x Cin/groups x prod(kernel) MAdds
    (weight (Cout, Cin/groups, *k); transposed: numel(input) x Cout/groups x
    prod(kernel), weight (Cin, Cout/groups, *k)). grad_input
    (output_mask[0]) is a transposed conv of grad_output with the weight: each
    of the F products of the forward is made once more, F MAdds. grad_weight
    (output_mask[1]): each weight element sums grad_output x input over the
    positions where it was used, F MAdds again. grad_bias (output_mask[2]):
    a sum of grad_output over batch and space per channel, numel(grad_output)
    - Cout adds. (torch.utils.flop_counter counts grad_weight of a grouped
    conv `groups` times: as though every input channel met every output one.)"""
    per_product = weight[1] * prod(weight[2:])
    forward = numel(input if transposed else grad_output) * per_product
    madds = forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))
    bias = numel(grad_output) - grad_output[1] if output_mask[2] else 0
    return Cost(madds, 2 * madds + bias)


# --------------------------------------------------------------------------- normalisation

BN_BACKWARD_STATS_FLOPS = 5  # x_hat = (x - mean) x invstd (2); sum(dy) (1); sum(dy x_hat) (2)
BN_BACKWARD_INPUT_FLOPS = 4  # dx = (dy - mean(dy) - x_hat mean(dy x_hat)) x gamma invstd: multiply, 2 subtracts, scale
LN_SCALE_FLOPS = 1  # layer norm's g = dy x gamma, before the statistics


@formula(aten.native_batch_norm_backward)
def batch_norm_backward(grad_out: Shape, train: bool = True, output_mask: Sequence[bool] = (True, True, True), **_) -> Cost:
    """Per element of grad_out. Training: the statistics, x_hat and the two
    per-channel sums (BN_BACKWARD_STATS_FLOPS = 5: subtract, multiply; add;
    multiply, add), which are also grad_bias and grad_weight, then grad_input
    (BN_BACKWARD_INPUT_FLOPS = 4) when asked. Inference statistics are
    constants: grad_input is dy x gamma invstd (1), grad_weight sum(dy x_hat)
    (x_hat 2 + multiply, add: 4), grad_bias sum(dy) (1)."""
    n = numel(grad_out)
    want_input, want_weight, want_bias = (bool(m) for m in output_mask)
    if train:
        per_element = BN_BACKWARD_STATS_FLOPS + (BN_BACKWARD_INPUT_FLOPS if want_input else 0)
    else:
        per_element = int(want_input) + 4 * int(want_weight) + int(want_bias)
    return Cost(0, per_element * n)


def _norm_backward(grad_out: Shape, weight: Shape | None, output_mask: Sequence[bool]) -> Cost:
    """Layer / group norm (statistics per row): grad_input needs g = dy x gamma
    (1, with a weight), x_hat (2), sum(g) (1), sum(g x_hat) (2) and the
    combination (4); grad_weight sum(dy x_hat) (2 more: multiply, add);
    grad_bias sum(dy) (1)."""
    per_element = 0
    if output_mask[0]:
        per_element += (LN_SCALE_FLOPS if weight is not None else 0) + 2 + 1 + 2 + BN_BACKWARD_INPUT_FLOPS
    per_element += 2 * int(bool(output_mask[1])) + int(bool(output_mask[2]))
    return Cost(0, per_element * numel(grad_out))


@formula(aten.native_layer_norm_backward)
def layer_norm_backward(grad_out: Shape, weight: Shape | None = None, output_mask: Sequence[bool] = (True, True, True), **_) -> Cost:
    """See `_norm_backward`: with a weight and every output, 10 + 2 + 1 = 13 per element."""
    return _norm_backward(grad_out, weight, output_mask)


@formula(aten.native_group_norm_backward)
def group_norm_backward(grad_out: Shape, weight: Shape | None = None, output_mask: Sequence[bool] = (True, True, True), **_) -> Cost:
    """As layer norm (`_norm_backward`), statistics per group."""
    return _norm_backward(grad_out, weight, output_mask)


# --------------------------------------------------------------------------- activations: FLOPs per element

BACKWARD_FLOPS_PER_ELEMENT = {
    "threshold_backward": 1,  # ReLU: dy where x > threshold (a compare-and-select)
    "hardtanh_backward": 2,  # ReLU6: two comparisons
    "leaky_relu_backward": 2,  # compare, multiply
    "elu_backward": 3,  # compare, multiply by (y + alpha), multiply dy
    "sigmoid_backward": 3,  # dy x y x (1 - y): subtract, 2 multiplies
    "tanh_backward": 3,  # dy x (1 - y^2): square, subtract, multiply
    "silu_backward": 9,  # s = sigmoid(x) (4); dy x s x (1 + x (1 - s)): subtract, multiply, add, 2 multiplies
    "hardswish_backward": 6,  # 2 comparisons; dy x (2x + 3) / 6: multiply, add, divide, multiply
    "hardsigmoid_backward": 3,  # 2 comparisons, dy / 6
    "mish_backward": 14,  # softplus (3), tanh (1), sigmoid (4), tanh' (2), combination (4)
    "softplus_backward": 5,  # dy x sigmoid(beta x): multiply, sigmoid (4)
    "native_dropout_backward": 2,  # dy x mask x scale
    "_softmax_backward_data": 4,  # y (dy - sum(dy y)): multiply, add, subtract, multiply
    "_log_softmax_backward_data": 4,  # dy - exp(y) sum(dy): add, exp, multiply, subtract
}
GELU_BACKWARD_FLOPS = 11  # erf form: cdf 0.5 (1 + erf(x / sqrt 2)) (4), pdf exp(-x^2 / 2) / sqrt(2 pi) (4), dy (cdf + x pdf) (3)
GELU_TANH_BACKWARD_FLOPS = 16  # tanh form: the forward's 9 + sech^2 (2), the inner derivative (3), dy x (...) (2)


def _per_element(flops: int):
    def cost(out: Sequence[Shape] = (), **_) -> Cost:
        """`flops` per element of the gradient it returns."""
        return Cost(0, flops * numel(out[0]))

    return cost


for _name, _flops in BACKWARD_FLOPS_PER_ELEMENT.items():
    formula(*_ops(_name))(_per_element(_flops))


@formula(aten.gelu_backward)
def gelu_backward(approximate: str = "none", out: Sequence[Shape] = (), **_) -> Cost:
    """GELU_BACKWARD_FLOPS (erf form) or GELU_TANH_BACKWARD_FLOPS per element."""
    return Cost(0, (GELU_TANH_BACKWARD_FLOPS if approximate == "tanh" else GELU_BACKWARD_FLOPS) * numel(out[0]))


# --------------------------------------------------------------------------- pooling


def _window(kernel_size, spatial: int) -> int:
    k = (kernel_size,) * spatial if isinstance(kernel_size, int) else tuple(kernel_size)
    return prod(k * spatial if len(k) == 1 else k)


@formula(*_ops("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward"))
def max_pool_backward(grad_output: Shape, **_) -> Cost:
    """Each grad_output element is added to the input position that won
    (overlapping windows accumulate): one add per grad_output element."""
    return Cost(0, numel(grad_output))


@formula(*_ops("avg_pool2d_backward", "avg_pool3d_backward"))
def avg_pool_backward(grad_output: Shape, self: Shape, kernel_size, **_) -> Cost:
    """Each grad_output element is divided by its window (1) and added to
    every element of the window (prod(kernel)): numel(grad_output) x
    (prod(kernel) + 1)."""
    return Cost(0, numel(grad_output) * (_window(kernel_size, len(self) - 2) + 1))


@formula(*_ops("_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward"))
def adaptive_avg_pool_backward(grad_output: Shape, self: Shape, **_) -> Cost:
    """Each output's gradient divided by its window (1 per grad_output
    element) and added to each input of the window: the windows' sizes summed
    (separable per axis, as in the forward)."""
    k = len(grad_output) - 2
    total = numel(self[:-k])
    for in_size, out_size in zip(self[-k:], grad_output[-k:]):
        total *= sum(adaptive_windows(in_size, out_size))
    return Cost(0, total + numel(grad_output))


# Per grad_output element, each of the forward's taps gets the gradient times its weight, added in:
# 2 FLOPs a tap (nearest: one add, no weight).
UPSAMPLE_BACKWARD_FLOPS = {
    "upsample_linear1d_backward": 4, "upsample_bilinear2d_backward": 8, "_upsample_bilinear2d_aa_backward": 8,
    "upsample_trilinear3d_backward": 16, "upsample_bicubic2d_backward": 32, "_upsample_bicubic2d_aa_backward": 32,
    "upsample_nearest1d_backward": 1, "upsample_nearest2d_backward": 1, "upsample_nearest3d_backward": 1,
    "_upsample_nearest_exact1d_backward": 1, "_upsample_nearest_exact2d_backward": 1, "_upsample_nearest_exact3d_backward": 1,
}


def _per_grad_output(flops: int):
    def cost(grad_output: Shape, **_) -> Cost:
        """`flops` per element of grad_output (UPSAMPLE_BACKWARD_FLOPS)."""
        return Cost(0, flops * numel(grad_output))

    return cost


for _name, _flops in UPSAMPLE_BACKWARD_FLOPS.items():
    formula(*_ops(_name))(_per_grad_output(_flops))


# --------------------------------------------------------------------------- data movement and bookkeeping


@formula(*_ops("index_add"))  # index_add_ shares it (formulas.share_in_place)
def index_add(source: Shape, **_) -> Cost:
    """One add per element of `source` (the backward of index_select / gather)."""
    return Cost(0, numel(source))


@formula(*_ops("embedding_dense_backward"))
def embedding_backward(grad_output: Shape, **_) -> Cost:
    """Each row of grad_output is added into its index's row: one add per element."""
    return Cost(0, numel(grad_output))


def _zero(**_) -> Cost:
    return Cost(0, 0)


# A backward's scatter of the gradient into zeros of the input's shape: data movement.
formula(*_ops("select_backward", "slice_backward", "as_strided_scatter", "select_scatter", "slice_scatter", "diagonal_backward"))(_zero)
# torch.optim wraps its step in record_function: profiler bookkeeping, no arithmetic.
formula(torch.ops.profiler._record_function_enter_new, torch.ops.profiler._record_function_exit)(_zero)
