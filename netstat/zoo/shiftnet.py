"""ShiftNet-A, from "Shift: A Zero FLOP, Zero Parameter Alternative to
Spatial Convolutions" (Wu et al., 2017; CVPR 2018).

The spatial convolutions of a ResNet-like network are replaced by CSC
(conv-shift-conv) modules: a 1x1 conv expands the channels by E, a *shift*
moves each group of channels by one offset of a k x k grid (pure data
movement: no parameters, no MAdds), and a second 1x1 conv mixes them back.
ShiftNet-A is a 7x7 stride-2 stem followed by four stages of CSC modules
(repeats 5 / 6 / 7 / 3, widths 64 / 128 / 256 / 512, shift kernels 5 / 5 / 3 / 3,
expansions 4 / 4-3 / 3-2 / 2-1 for the first / other modules of a stage),
global average pooling and a linear classifier, on 224 x 224 inputs.

The first module of each stage has stride 2 (on its second 1x1 conv) and,
as in the public ShiftNet-A reimplementations, concatenates a 3x3 stride-2
average-pooled copy of its input to its own output instead of adding a
projection; the others are residual. That layout gives 4.19M parameters and
1.42G MAdds, against the paper's rounded 4.1M / 1.4G.

`Shift` is built from `F.pad` and slicing, so it runs on meta tensors and
counts as data movement only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model

# Wu et al. 2017, ShiftNet-A: (width, repeats, shift kernel, E of first module, E of the others).
_STAGES = (
    (64, 5, 5, 4, 4),
    (128, 6, 5, 4, 3),
    (256, 7, 3, 3, 2),
    (512, 3, 3, 2, 1),
)
_STEM = 32


class Shift(nn.Module):
    """Shift channel groups by every offset of a k x k grid (zero-filled).

    The C channels are split evenly into k*k groups (the remainder joins the
    centre, unshifted group); group (dy, dx) of the output at (y, x) is the
    input at (y + dy, x + dx). Zero parameters, zero MAdds.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        p = k // 2
        c, h, w = x.shape[1], x.shape[2], x.shape[3]
        g = c // (k * k)
        xp = F.pad(x, (p, p, p, p))
        pieces = []
        start = 0
        for i in range(k):
            for j in range(k):
                n = g + (c - g * k * k if (i == p and j == p) else 0)
                if n:
                    pieces.append(xp[:, start : start + n, i : i + h, j : j + w])
                start += n
        return torch.cat(pieces, 1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class CSC(nn.Module):
    """1x1 conv-BN-ReLU -> shift -> 1x1 conv-BN, then residual add (or
    concat with an average-pooled shortcut when strided), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.concat = stride != 1 or in_channels != out_channels
        branch_out = out_channels - in_channels if self.concat else out_channels
        mid = branch_out * expansion
        self.conv1 = ConvBNAct(in_channels, mid, 1)
        self.shift = Shift(kernel_size)
        self.conv2 = ConvBNAct(mid, branch_out, 1, stride, activation_layer=None)
        self.shortcut = nn.AvgPool2d(3, stride, padding=1) if self.concat else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.shift(self.conv1(x)))
        if self.concat:
            out = torch.cat([out, self.shortcut(x)], 1)
        else:
            out = out + x
        return self.relu(out)


class ShiftNet(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, _STEM, 7, 2)
        stages: list[nn.Module] = []
        c = _STEM
        for width, repeats, k, e_first, e_rest in _STAGES:
            blocks = [CSC(c, width, e_first, k, stride=2)]
            blocks += [CSC(width, width, e_rest, k) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*blocks))
            c = width
        self.stages = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _shiftnet(**kwargs: Any) -> ShiftNet:
    return ShiftNet(**kwargs)


@register_model(
    family="shiftnet",
    year=2017,
    paper="Shift: A Zero FLOP, Zero Parameter Alternative to Spatial Convolutions",
    published=Published(
        source="Wu et al. 2017, ImageNet results table (ShiftNet-A: 4.1M params, 1.4G FLOPs, 70.1% top-1)",
        params=4.1e6,
        madds=1.4e9,
        top1=70.1,
        rtol_params=0.03,
        note="Paper rounds to 4.1M; the ShiftNet-A layout (concat-shortcut downsampling) gives 4.19M (+2.2%).",
    ),
    note="ShiftNet-A; the paper's 'FLOPs' are multiply-adds. Stride-2 shortcut details follow public reimplementations.",
)
def shiftnet(**kwargs: Any) -> ShiftNet:
    return _shiftnet(**kwargs)
