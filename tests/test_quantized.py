"""Quantized (int8) models: packed weights are parameters, quantized ops have
formulas (issue 12).

Independent sources: torchvision's published `_ops` (GMACs) for MAdds; for
parameters, torchvision's own float twin of each quantized model (the same
builder with quantize=False). torchvision's quantized weights entries publish
the *float* model's `num_params` (each of the 12 is equal to its float entry's),
but the int8 model holds fewer numbers: every BatchNorm is folded into the
conv before it, whose new bias (C) replaces BN's weight and bias (2C), and
quantized_inception_v3 is built without the AuxLogits head its float entry
counts. So netstat's count must be the float twin's minus the folded BN
channels, and that plus the folded channels (plus AuxLogits) must be the
published number.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

tvm = pytest.importorskip("torchvision.models")

import netstat  # noqa: E402
from netstat import formulas  # noqa: E402
from netstat.formulas import Cost  # noqa: E402
from netstat.quantized import PackedWeight, describe_packed, packed_params  # noqa: E402

nnq = torch.ao.nn.quantized
nniq = torch.ao.nn.intrinsic.quantized

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")

QUANTIZED = tvm.list_models(module=tvm.quantization)
SLOW = {"quantized_resnext101_32x8d", "quantized_resnext101_64x4d"}  # ~35 s each on two cores
QUANTIZED_OPS = {
    "aten.quantize_per_tensor.default", "aten.dequantize.self", "aten.quantized_max_pool2d.default",
    "quantized.conv2d.new", "quantized.conv2d_relu.new", "quantized.linear.default", "quantized.add.default",
    "quantized.add_relu.default", "quantized.mul.default", "quantized.cat.default", "quantized.hardswish.default",
}  # fmt: skip


def cases() -> list:
    return [pytest.param(n, id=n, marks=[pytest.mark.slow] if n in SLOW else []) for n in QUANTIZED]


@functools.cache
def profiled(name: str):
    """What a user runs: `netstat.profile("torchvision:NAME")` (traced on CPU)."""
    return netstat.profile(f"torchvision:{name}")


def float_twin(name: str) -> nn.Module:
    """torchvision's float model of the same architecture, before fusing and
    quantizing (the builder's arguments as with its quantized weights)."""
    extra = {"aux_logits": False, "init_weights": False} if name in ("quantized_googlenet", "quantized_inception_v3") else {}
    return tvm.get_model(name, weights=None, quantize=False, **extra)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", cases())
def test_quantized_model_matches_torchvision(name):
    weights = tvm.get_model_weights(name).DEFAULT
    p = profiled(name)
    assert round(p.totals["madds"] / 1e9, 3) == weights.meta["_ops"]
    assert p.uncounted_ops == {}
    assert {op.name for op in p.trace.ops} & QUANTIZED_OPS  # it really ran the int8 kernels
    twin = float_twin(name)
    folded = sum(m.num_features for m in twin.modules() if isinstance(m, nn.BatchNorm2d))
    assert p.totals["params"] == n_params(twin) - folded
    assert (p.totals["trainable_params"], p.totals["non_trainable_params"]) == (0, p.totals["params"])
    aux = n_params(tvm.inception_v3(weights=None, aux_logits=True, init_weights=False).AuxLogits) if name == "quantized_inception_v3" else 0
    assert weights.meta["num_params"] == p.totals["params"] + folded + aux


@pytest.mark.parametrize("name", ["quantized_resnet18", "quantized_inception_v3"])
def test_published_params_note_splits_the_difference_into_folded_batchnorms_and_absent_modules(name):
    """torchvision publishes the float model's num_params; the note says how
    many more that is, and why: folded BatchNorms (one parameter per channel,
    counted on the float twin) and, for quantized_inception_v3, AuxLogits
    (counted on torchvision's float inception_v3), which the int8 model lacks."""
    p = profiled(name)
    published = tvm.get_model_weights(name).DEFAULT.meta["num_params"]
    folded = sum(m.num_features for m in float_twin(name).modules() if isinstance(m, nn.BatchNorm2d))
    aux = n_params(tvm.inception_v3(weights=None, aux_logits=True, init_weights=False).AuxLogits) if name == "quantized_inception_v3" else 0
    [note] = [n for n in p.notes if n.startswith("torchvision publishes")]
    parts = f"{folded:,} that folding each BatchNorm into its conv removes"
    assert f"{published - p.totals['params']:,} more than here = {parts}" in note, note
    if aux:
        assert published - p.totals["params"] == folded + aux
        assert f" + {aux:,} in AuxLogits, which the int8 model does not have." in note, note
    else:
        assert published - p.totals["params"] == folded
        assert "does not have" not in note


def test_quantized_resnet18_numbers():
    p = profiled("quantized_resnet18")
    assert p.totals["madds"] == 1_814_073_344  # the float resnet18's, to the MAdd
    assert p.totals["params"] == 11_689_512 - 4_800  # 20 BNs folded: 64*5 + 128*5 + 256*5 + 512*5 channels
    assert p.device == "cpu" and any("traced on CPU" in n for n in p.notes)


def test_packed_bytes_are_int8_weights_and_fp32_biases():
    model = tvm.get_model("quantized_resnet18", weights=None, quantize=True)
    found = packed_params(model)
    twin = float_twin("quantized_resnet18")
    layers = [m for m in twin.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    weights = [f for f in found if f.name == "weight"]
    biases = [f for f in found if f.name == "bias"]
    assert {f.dtype for f in weights} == {torch.qint8} and {f.dtype for f in biases} == {torch.float32}
    assert sum(f.nbytes for f in weights) == sum(m.weight.numel() for m in layers) * 1
    assert sum(f.nbytes for f in biases) == sum(m.weight.shape[0] for m in layers) * 4  # a bias per output channel
    assert "fc" in {f.module for f in found}  # credited to the Linear, not its LinearPackedParams container


class TinyInt8(nn.Module):
    """Quantize -> conv -> grouped conv + ReLU -> add + ReLU -> flatten -> linear -> dequantize."""

    def __init__(self):
        super().__init__()
        self.quant = nnq.Quantize(0.1, 0, torch.quint8)
        self.conv = nnq.Conv2d(8, 16, 3, padding=1)
        self.conv_relu = nniq.ConvReLU2d(16, 16, 3, padding=1, groups=4)
        self.func = nnq.QFunctional()
        self.fc = nnq.Linear(16 * 6 * 6, 10)
        self.dequant = nnq.DeQuantize()

    def forward(self, x):
        y = self.conv_relu(self.conv(self.quant(x)))
        y = self.func.add_relu(y, y)
        return self.dequant(self.fc(torch.flatten(y, 1)))


def test_tiny_int8_model_by_hand():
    p = netstat.profile(TinyInt8(), input_size=(1, 8, 6, 6), device="cpu")
    assert p.uncounted_ops == {}
    out = 16 * 6 * 6  # elements of each conv's output
    conv, grouped, fc = out * 8 * 9, out * (16 // 4) * 9, out * 10
    assert p.totals["madds"] == conv + grouped + fc
    flops = (
        5 * 8 * 6 * 6  # quantize: divide, round, + zero point, clamp (2)
        + 2 * conv + out  # + bias
        + 2 * grouped + out + out  # + bias, ReLU
        + 2 * out  # add + ReLU
        + 2 * fc + 10  # + bias
        + 2 * 10  # dequantize: - zero point, x scale
    )
    assert p.totals["flops"] == flops
    assert p.totals["params"] == (16 * 8 * 9 + 16) + (16 * 4 * 9 + 16) + (out * 10 + 10)


def test_trace_records_the_packed_weight_shape():
    model = TinyInt8()
    p = netstat.profile(model, input_size=(1, 8, 6, 6), device="cpu")
    convs = [op for op in p.trace.ops if op.name.startswith("quantized.conv2d")]
    described = [op.args[1] for op in convs]
    assert described == [describe_packed(model.conv._packed_params), describe_packed(model.conv_relu._packed_params)]
    grouped = described[1]
    assert isinstance(grouped, PackedWeight)
    assert (grouped.shape, grouped.bias, grouped.groups, grouped.stride, grouped.padding) == ((16, 4, 3, 3), (16,), 4, (1, 1), (1, 1))
    assert grouped.nbytes == 16 * 4 * 9 * 1 + 16 * 4


def test_quantized_formulas_by_hand():
    w = PackedWeight(kind="conv", shape=(6, 2, 3, 3), dtype=torch.qint8, bias=(6,), bias_dtype=torch.float32, groups=2)
    conv = formulas.NAMED_FORMULAS["quantized::conv2d_relu"]
    # out (1, 6, 4, 4): 96 outputs x (Cin/g = 2) x 9; + bias, + ReLU.
    assert conv(qx=(1, 4, 6, 6), packed_weight=w, out=[(1, 6, 4, 4)]) == Cost(96 * 18, 2 * 96 * 18 + 96 + 96)
    assert conv(qx=(1, 4, 6, 6), packed_weight=object(), out=[(1, 6, 4, 4)]) is None  # not unpacked: uncounted
    fc = PackedWeight(kind="linear", shape=(3, 5), dtype=torch.qint8)
    assert formulas.NAMED_FORMULAS["quantized::linear"](X=(2, 5), W_prepack=fc, out=[(2, 3)]) == Cost(30, 60)
    assert formulas.NAMED_FORMULAS["quantized::mul"](qa=(2, 3), qb=(2, 3), out=[(2, 3)]) == Cost(0, 6)
    assert formulas.NAMED_FORMULAS["quantized::cat"](qx=[(2, 3), (2, 3)], out=[(4, 3)]) == Cost(0, 0)
    assert formulas.NAMED_FORMULAS["quantized::hardswish"](input=(2, 3), out=[(2, 3)]) == Cost(0, 5 * 6)


def test_dynamic_quantized_linear_and_lstm_params():
    lin = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(8, 4)), {nn.Linear}, dtype=torch.qint8)
    p = netstat.profile(lin, input_size=(3, 8), device="cpu")
    assert (p.totals["params"], p.totals["madds"], p.totals["flops"], p.uncounted_ops) == (36, 96, 2 * 96 + 12, {})
    half = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(8, 4)), {nn.Linear}, dtype=torch.float16)
    assert [f.nbytes for f in packed_params(half)] == [32 * 2, 4 * 4]  # fp16 weight, fp32 bias
    lstm = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.LSTM(8, 4)), {nn.LSTM}, dtype=torch.qint8)
    assert isinstance(lstm[0], torch.ao.nn.quantized.dynamic.LSTM)
    assert sum(f.numel for f in packed_params(lstm)) == n_params(nn.LSTM(8, 4)) == 4 * 4 * (8 + 4) + 2 * 16
