"""The trace on a real GPU: the same counts as on meta, and the user's model
left on its own device. Skipped (with the reason shown) without CUDA."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netstat

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]

COUNTS = ("params", "buffers", "madds", "flops", "activation_bytes", "memory_access_bytes", "output_shape")


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0", "unet", "deeplabv3_resnet50"])
def test_cuda_counts_equal_meta(name):
    on_gpu = netstat.profile(name, device="cuda")
    on_meta = netstat.profile(name)
    assert on_gpu.device.startswith("cuda")
    assert on_gpu.uncounted_ops == {}, on_gpu.uncounted_ops  # e.g. cudnn_batch_norm must have a formula
    assert {k: on_gpu.totals[k] for k in COUNTS} == {k: on_meta.totals[k] for k in COUNTS}


def test_cpu_model_profiled_on_cuda_stays_on_cpu():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).train()
    p = netstat.profile(model, input_size=(1, 3, 16, 16), device="cuda")
    assert p.device.startswith("cuda")
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    assert model.training


def test_cuda_model_profiled_on_meta_stays_on_cuda():
    model = nn.Conv2d(3, 8, 3).cuda()
    netstat.profile(model, input_size=(1, 3, 16, 16))
    assert model.weight.device.type == "cuda"
