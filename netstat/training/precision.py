"""Precisions of a training step, and the fake tensors that autocast needs.

`--dtype` puts the parameters (and float inputs) in that precision; the
optimizer state follows them. `--amp` keeps fp32 parameters and runs the
forward and loss under `torch.autocast`, as mixed-precision training does:
convolutions and matrix products cast their inputs (weights included, once
per forward: autocast's cache) to the lower precision, and what follows them
runs in the precision it is given.

Autocast acts through a device's dispatch keys, which meta tensors do not
carry. So an AMP step runs on `FakeTensorMode` tensors that present as CPU
tensors and hold meta storage (nothing allocated, no arithmetic), under
`torch.autocast("cpu")`: its op lists are the CPU ones. CUDA's autocast
keeps a few more ops in fp32 (layer_norm, group_norm, softmax and the
losses, among others), so on a GPU the outputs of those ops take twice the
bytes counted here (`AMP_NOTE`). Backward on fake CUDA tensors cannot run
without a GPU (the autograd engine asks the device for its context).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NAMES = {v: k for k, v in PRECISIONS.items()}

AMP_NOTE = (
    "Autocast follows PyTorch's CPU op lists (the step is traced on fake CPU tensors): convolutions and matrix "
    "products run in {amp}, and what follows them in the precision it is given. On CUDA, autocast also keeps "
    "layer_norm, group_norm, softmax and the losses in fp32: their outputs take twice the bytes counted here. "
    "fp16 training's GradScaler (one multiply of the loss, an unscale of the gradients) is not included."
)


def fake_mode(model: torch.nn.Module, amp: torch.dtype | None) -> tuple[Any, torch.nn.Module]:
    """(None, model) without AMP; else a FakeTensorMode and a copy of the
    meta `model` whose parameters and buffers are fake CPU tensors (tied
    tensors stay tied: deepcopy's memo maps each once)."""
    if amp is None:
        return None, model
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode()
    memo: dict[int, Any] = {}
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) not in memo:
            fake = _fake(mode, t.detach())
            memo[id(t)] = torch.nn.Parameter(fake, requires_grad=t.requires_grad) if isinstance(t, torch.nn.Parameter) else fake
    return mode, copy.deepcopy(model, memo)


def fake_inputs(inputs: tuple[tuple, dict], mode: Any) -> tuple[tuple, dict]:
    """The meta (args, kwargs) `inputs`, their tensors as fake CPU tensors of `mode` (unchanged without one)."""
    if mode is None:
        return inputs
    from torch.utils._pytree import tree_map

    return tree_map(lambda x: _fake(mode, x) if isinstance(x, torch.Tensor) else x, inputs)


def _fake(mode: Any, t: torch.Tensor) -> torch.Tensor:
    return mode.fake_tensor_converter.from_meta_and_device(mode, t, torch.device("cpu"))
