"""MobileNet V2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and
Linear Bottlenecks"), laid out as torchvision's `mobilenet_v2`.

A 3x3 stride-2 stem, 17 inverted-residual bottlenecks (1x1 expand -> ReLU6 ->
3x3 depthwise -> ReLU6 -> linear 1x1 projection), a 1x1 conv to 1280 channels,
global average pooling and a linear classifier. The bottleneck is the shared
`InvertedResidual` of `_blocks`; `MobileNetV2Block` only renames its body to
torchvision's `conv` and lays the projection out flat (conv, BN).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from netstat.zoo._blocks import ConvBNAct, InvertedResidual, make_divisible
from netstat.zoo._registry import Published, register_model

# Sandler et al. 2018, Table 2: expansion t, output channels c, repeats n,
# stride s of the first repeat.
MOBILENET_V2_CFG: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class MobileNetV2Block(InvertedResidual):
    """The V2 bottleneck in torchvision's layout: body `conv`, projection as a
    bare 1x1 conv followed by the norm (not a nested Conv-BN)."""

    body_name = "conv"

    @classmethod
    def _project_layers(
        cls, in_channels: int, out_channels: int, norm_layer: Callable[..., nn.Module]
    ) -> list[nn.Module]:
        return [nn.Conv2d(in_channels, out_channels, 1, bias=False), norm_layer(out_channels)]


class MobileNetV2(nn.Module):
    """`features` (stem, bottlenecks, 1x1 conv to `last_channel`), `avgpool`,
    `classifier` (dropout, linear), as torchvision's."""

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        round_nearest: int = 8,
        dropout: float = 0.2,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        in_channels = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        layers: list[nn.Module] = [
            ConvBNAct(3, in_channels, 3, stride=2, norm_layer=norm_layer, activation_layer=nn.ReLU6)
        ]
        for t, c, n, s in MOBILENET_V2_CFG:
            out_channels = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                layers.append(
                    MobileNetV2Block(
                        in_channels,
                        out_channels,
                        expanded_channels=int(round(in_channels * t)),
                        stride=s if i == 0 else 1,
                        activation_layer=nn.ReLU6,
                        norm_layer=norm_layer,
                    )
                )
                in_channels = out_channels
        layers.append(ConvBNAct(in_channels, self.last_channel, 1, norm_layer=norm_layer, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@register_model(
    family="mobilenet_v2",
    year=2018,
    paper="MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    published=Published(
        source="Sandler et al. 2018, Table 4",
        params=3.4e6,
        madds=300e6,
        top1=72.0,
        rtol_params=0.035,
        note="Table 4's 3.4 M is low: the Table 2 network (torchvision's too) has 3.50 M.",
    ),
    torchvision="mobilenet_v2",
)
def mobilenet_v2(**kwargs) -> MobileNetV2:
    return MobileNetV2(**kwargs)
