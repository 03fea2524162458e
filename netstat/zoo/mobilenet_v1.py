"""MobileNet V1 (Howard et al. 2017, "MobileNets: Efficient Convolutional
Neural Networks for Mobile Vision Applications"), width multipliers 1.0, 0.75,
0.5 and 0.25 at 224x224.

A 3x3 stride-2 conv, then 13 depthwise-separable blocks (3x3 depthwise conv ->
BN -> ReLU, 1x1 pointwise conv -> BN -> ReLU), global average pooling and one
fully-connected layer. The width multiplier alpha thins every layer, the first
conv included (channels int(alpha * c), at least 8, as the reference TF-slim
implementation). torchvision has no MobileNet V1.
"""

from __future__ import annotations

from typing import Any

from collections import OrderedDict

from torch import nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model

# Howard et al. 2017, Table 1: (output channels, stride) of each depthwise-
# separable block after the 3x3/s2 stem conv with 32 channels. Table 1 prints
# the last depthwise conv as "s2" on a 7x7 input, but its output (and the 7x7
# average pool after it) stay 7x7: it is stride 1, as in the reference code.
MOBILENET_V1_CFG: list[tuple[int, int]] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
]


class DepthwiseSeparable(nn.Sequential):
    """`dw`: 3x3 depthwise conv -> BN -> ReLU; `pw`: 1x1 conv -> BN -> ReLU
    (Howard et al. 2017, Figure 3)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(
            OrderedDict(
                dw=ConvBNAct(in_channels, in_channels, 3, stride=stride, groups=in_channels),
                pw=ConvBNAct(in_channels, out_channels, 1),
            )
        )
        self.out_channels = out_channels


class MobileNetV1(nn.Module):
    """`features` (stem conv + 13 depthwise-separable blocks), `avgpool`,
    `classifier` (one linear layer)."""

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000, min_channels: int = 8) -> None:
        super().__init__()

        def width(c: int) -> int:
            return max(min_channels, int(c * width_mult))

        in_channels = width(32)
        layers: list[nn.Module] = [ConvBNAct(3, in_channels, 3, stride=2)]
        for c, s in MOBILENET_V1_CFG:
            layers.append(DepthwiseSeparable(in_channels, width(c), s))
            in_channels = width(c)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


_PAPER = "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"
_COMMON: dict[str, Any] = dict(family="mobilenet_v1", year=2017, paper=_PAPER)
_SRC = "Howard et al. 2017, Tables 6 and 8"


@register_model(**_COMMON, published=Published(source=_SRC, params=4.2e6, madds=569e6, top1=70.6))
def mobilenet_v1(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=1.0, **kwargs)


@register_model(**_COMMON, published=Published(source=_SRC, params=2.6e6, madds=325e6, top1=68.4))
def mobilenet_v1_075(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)


@register_model(
    **_COMMON,
    published=Published(
        source=_SRC,
        params=1.3e6,
        madds=149e6,
        top1=63.7,
        rtol_params=0.03,
        note="Table 6 rounds 1.33 M parameters to one decimal (1.3 M).",
    ),
)
def mobilenet_v1_050(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)


@register_model(
    **_COMMON,
    published=Published(
        source=_SRC,
        params=0.5e6,
        madds=41e6,
        top1=50.6,
        rtol_params=0.07,
        note="Table 6 rounds 0.47 M parameters to one decimal (0.5 M).",
    ),
)
def mobilenet_v1_025(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)
