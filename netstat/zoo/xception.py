"""Xception, from "Xception: Deep Learning with Depthwise Separable
Convolutions" (Chollet, 2016).

A linear stack of depthwise-separable convolutions with residual
connections, in three flows (Fig. 5): the entry flow (two plain 3x3 convs,
then three strided blocks of 128 / 256 / 728 channels with 1x1 strided
shortcuts), the middle flow (8 identical 728-channel blocks of three
separable convs) and the exit flow (a 728 -> 1024 strided block, then
separable convs of 1536 and 2048 channels, global average pooling, fc).
Every convolution is followed by BatchNorm; separable convs have no
activation between the depthwise and the pointwise step (Sec. 4.7).
Input 299 x 299.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model

# Chollet 2016, Fig. 5: (in_channels, separable conv widths, stride, relu first).
_ENTRY = ((64, (128, 128), 2, False), (128, (256, 256), 2, True), (256, (728, 728), 2, True))
_MIDDLE = ((728, (728, 728, 728), 1, True),) * 8
_EXIT = ((728, (728, 1024), 2, True),)
_TAIL = (1536, 2048)


class SeparableConv2d(nn.Sequential):
    """Depthwise k x k conv then pointwise 1x1 conv, both without bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class XceptionBlock(nn.Module):
    """[ReLU] -> SepConv -> BN, repeated, then a 3x3 stride-2 max pool when
    strided; added to the input or to its 1x1 strided projection."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], stride: int, relu_first: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            if i > 0 or relu_first:
                layers.append(nn.ReLU(inplace=False))
            layers += [SeparableConv2d(c, w), nn.BatchNorm2d(w)]
            c = w
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, padding=1))
        self.body = nn.Sequential(*layers)
        if stride != 1 or in_channels != c:
            self.skip: nn.Module = ConvBNAct(in_channels, c, 1, stride, activation_layer=None)
        else:
            self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Xception(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBNAct(3, 32, 3, 2, padding=0), ConvBNAct(32, 64, 3, 1, padding=0))
        self.blocks = nn.Sequential(*(XceptionBlock(*cfg) for cfg in _ENTRY + _MIDDLE + _EXIT))
        tail: list[nn.Module] = []
        c = _EXIT[-1][1][-1]
        for w in _TAIL:
            tail += [SeparableConv2d(c, w), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.tail = nn.Sequential(*tail)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tail(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _xception(**kwargs: Any) -> Xception:
    return Xception(**kwargs)


@register_model(
    family="xception",
    year=2016,
    paper="Xception: Deep Learning with Depthwise Separable Convolutions",
    input_shape=(1, 3, 299, 299),
    published=Published(
        source="Chollet 2016, Table 3 (22,855,952 params) and Table 1 (79.0% top-1); MAdds: timm xception (8.4 GMACs at 299)",
        params=22_855_952,
        madds=8.4e9,
        top1=79.0,
    ),
)
def xception(**kwargs: Any) -> Xception:
    return _xception(**kwargs)
