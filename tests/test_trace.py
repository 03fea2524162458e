"""The trace: functional ops credited to their module, the user's model left
exactly as it was, the meta -> CPU fallback, and the metrics built on it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netstat.errors import ModelRunError, UsageError
from netstat.analysis import profile


class HSwishResidual(nn.Module):
    """y * relu6(y + 3) / 6 and a residual x + y, all functional."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv(x)
        y = y * F.relu6(y + 3) / 6
        return x + y


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = HSwishResidual()
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.block(x).mean((2, 3)))


def test_functional_ops_are_counted_and_credited():
    p = profile(Net(), input_size=(1, 4, 8, 8))
    n = 4 * 8 * 8
    block = next(r for r in p.layers if r.name == "block")
    conv = next(r for r in p.layers if r.name == "block.conv")
    # add 3 (1), relu6 = hardtanh (2), multiply (1), divide (1), residual add (1): 6 FLOPs per element.
    assert block.flops - conv.flops == 6 * n
    assert block.madds == conv.madds == n * 4 * 9
    ops_in_block = {op.name for op in p.trace.ops if op.module == "block"}
    assert {"aten.add.Tensor", "aten.hardtanh.default", "aten.mul.Tensor", "aten.div.Tensor"} <= ops_in_block


def _state(model: nn.Module):
    return {
        "params": {k: (v.device, v.dtype, v.requires_grad, v.data_ptr()) for k, v in model.named_parameters()},
        "buffers": {k: (v.device, v.data_ptr()) for k, v in model.named_buffers()},
        "training": [m.training for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
        "dicts": [sorted(vars(m)) for m in model.modules()],
    }


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_model_untouched(device):
    model = Net().train()
    model.head.requires_grad_(False)
    before = _state(model)
    weights = copy.deepcopy(model.state_dict())
    profile(model, input_size=(1, 4, 8, 8), device=device)
    assert _state(model) == before
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert not torch.nn.modules.module._global_forward_hooks
    assert not torch.nn.modules.module._global_forward_pre_hooks


class Breaks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))  # wrong in_features: raises


def test_model_untouched_when_forward_raises():
    model = Breaks().train()
    before = _state(model)
    with pytest.raises(ModelRunError) as err:
        profile(model, input_size=(1, 3, 8, 8))
    assert "fc" in str(err.value) and "Linear" in str(err.value)
    assert _state(model) == before
    assert not torch.nn.modules.module._global_forward_hooks


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:  # needs a real value: impossible on meta
            return y.relu()
        return -y


def test_meta_falls_back_to_cpu_with_a_note():
    p = profile(DataDependent(), input_size=(1, 3, 8, 8))
    assert p.device == "cpu"
    assert p.notes and "meta" in p.notes[0]
    assert p.totals["madds"] == 4 * 6 * 6 * 3 * 9


def test_input_too_small_names_the_layer():
    with pytest.raises(ModelRunError) as err:
        profile("alexnet", input_size=(1, 3, 16, 16))
    assert "features." in str(err.value)


def test_wrong_channel_count():
    with pytest.raises(ModelRunError) as err:
        profile("resnet18", input_size=(1, 1, 64, 64))
    assert "conv1" in str(err.value) and "channels" in str(err.value)


def test_cuda_without_cuda_is_a_usage_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UsageError):
        profile(Net(), input_size=(1, 4, 8, 8), device="cuda")


def test_shared_parameters_counted_once():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(6, 6, bias=False)
            self.b = nn.Linear(6, 6, bias=False)
            self.b.weight = self.a.weight
            self.frozen = nn.Linear(6, 2)
            self.frozen.requires_grad_(False)
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x):
            return self.bn(self.frozen(self.b(self.a(x))))

    t = profile(Tied(), input_size=(3, 6)).totals
    assert t["params"] == 36 + 6 * 2 + 2 + 2 * 2
    assert t["trainable_params"] == 36 + 2 * 2
    assert t["non_trainable_params"] == 6 * 2 + 2
    assert t["buffers"] == 2 + 2 + 1  # running mean, running var, num_batches_tracked


def test_memory_access_of_pointwise_conv():
    # ShuffleNet V2's MAC of a 1x1 conv: h*w*(c1 + c2) + c1*c2 elements (fp32: 4 bytes each).
    h = w = 10
    c1, c2 = 8, 16
    t = profile(nn.Conv2d(c1, c2, 1, bias=False), input_size=(1, c1, h, w)).totals
    assert t["memory_access_bytes"] == 4 * (h * w * (c1 + c2) + c1 * c2)
    assert t["activation_bytes"] == 4 * h * w * c2


def test_peak_live_activation_bytes():
    # x -> a -> b -> c, each 1x4x8x8 fp32 (1 KiB): at most two are live at once
    # (the op's input and its output), except the input which dies after `a`.
    chain = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1))
    t = profile(chain, input_size=(1, 4, 8, 8)).totals
    assert t["peak_activation_bytes"] == 2 * 4 * 4 * 8 * 8
    # A residual keeps x alive across the branch: x, a and b are live when b is made.
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(4, 4, 1)
            self.b = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return x + self.b(self.a(x))

    t = profile(Residual(), input_size=(1, 4, 8, 8)).totals
    assert t["peak_activation_bytes"] == 3 * 4 * 4 * 8 * 8


def test_views_cost_nothing():
    p = profile(nn.Flatten(), input_size=(2, 3, 4, 4))
    assert p.totals["memory_access_bytes"] == 0 and p.totals["activation_bytes"] == 0


def test_alexnet_linear_layers_hold_96_percent():
    p = profile("alexnet")
    linear = next(r for r in p.by_type if r.name == "Linear")
    assert p.totals["params"] == 61_100_840
    assert linear.params == 58_631_144 == 58_621_952 + 9_192
    assert round(100 * linear.params / p.totals["params"], 1) == 96.0


def test_depth_tree_rows_sum_for_sequential():
    p = profile("vgg16")
    top = [r for r in p.layers if r.depth == 1]
    assert sum(r.madds for r in top) == p.totals["madds"]
    assert sum(r.params for r in top) == p.totals["params"]


def test_stages_cover_every_op():
    p = profile("resnet50")
    assert sum(r.madds for r in p.by_stage) == p.totals["madds"]
    assert [r.name for r in p.by_stage][-1] == "head"
    assert sum(r.params for r in p.by_stage) == p.totals["params"]


def test_to_dict_schema():
    d = profile("mobilenet_v1").to_dict()
    assert d["schema_version"] == "1.1"
    assert set(d["totals"]) >= {"params", "trainable_params", "buffers", "madds", "flops", "activation_bytes", "peak_activation_bytes", "memory_access_bytes"}
    assert {"name", "type", "depth", "output_shape", "params", "madds", "flops"} <= set(d["layers"][0])
    assert d["uncounted_ops"] == {}


class _TwoRanges(torch.nn.Module):
    """Two equal factory calls made for CPU: the second must be a CPU value too."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, x):
        a = int(torch.arange(4).sum())
        b = int(torch.arange(4).sum())
        return self.lin(x) * (a + b)


def test_repeated_cpu_factory_call_is_not_memoised_as_meta():
    import netstat

    result = netstat.profile(_TwoRanges(), input_size=(1, 8))
    assert result.device == "meta" and result.notes == []
    assert result.totals["madds"] == 64
