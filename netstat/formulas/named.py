"""Formulas of ops from other libraries (torchvision's detection ops) and of
quantized (int8) ops, keyed by qualified name so that nothing imports them,
and aten's quantize / dequantize."""

from __future__ import annotations

from typing import Callable, Sequence

from netstat.formulas.pointwise import FLOPS_PER_ELEMENT, NORM_FOLDED_FLOPS, SOFTMAX_FLOPS, _elementwise, _norm, max_pool
from netstat.formulas.products import convolution, matmul
from netstat.formulas.registry import Cost, Shape, aten_packets, formula, named_formula, numel, zero
from netstat.quantized import PackedWeight

# ---------------------------------------------------------------------------
# Ops of other libraries, keyed by qualified name so that nothing imports them.
# ---------------------------------------------------------------------------

IOU_FLOPS = 13  # 2 max, 2 min, 2 subtract, 2 clamp, multiply; add, subtract, divide; compare
ROI_BILINEAR_FLOPS = 7  # a bilinear sample: 4 taps, 4 multiplies and 3 adds


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
named_formula(*(f"quantized::{name}" for name in QUANTIZED_PACKING))(zero)


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


formula(*aten_packets("quantized_batch_norm"))(_elementwise(NORM_FOLDED_FLOPS))


def _all_outputs(per_element: int) -> Callable[..., Cost]:
    def cost(out: Sequence[Shape] = (), **_) -> Cost:
        """`per_element` FLOPs per element of every output (list overloads too)."""
        return Cost(0, per_element * sum(numel(s) for s in out))

    return cost


formula(*aten_packets("quantize_per_tensor", "quantize_per_channel"))(_all_outputs(QUANTIZE_FLOPS))
formula(*aten_packets("quantize_per_tensor_dynamic"))(_all_outputs(QUANTIZE_FLOPS + DYNAMIC_RANGE_FLOPS))
formula(*aten_packets("dequantize"))(_all_outputs(DEQUANTIZE_FLOPS))
