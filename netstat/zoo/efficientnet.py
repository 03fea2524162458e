"""EfficientNet B0-B7 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling
for Convolutional Neural Networks") and EfficientNetV2 S / M / L (Tan & Le
2021, "EfficientNetV2: Smaller Models and Faster Training"), laid out as
torchvision's `efficientnet_b*` / `efficientnet_v2_*`.

MBConv is the shared `InvertedResidual` of `_blocks` (SiLU, squeeze-excitation
to 1/4 of the block's input width, stochastic depth on the residual branch);
Fused-MBConv (V2) replaces the 1x1 expansion and depthwise conv by one kxk
conv. Each stage of blocks is one Sequential of `features`. B1-B7 scale B0's
widths by `width_mult` (rounded to multiples of 8) and its depths by
`depth_mult` (rounded up); each model is counted at its paper's resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from torch import nn

from netstat.zoo._blocks import ConvBNAct, InvertedResidual, InvertedResidualBase, SqueezeExcitation, make_divisible
from netstat.zoo._registry import Published, register_model

# (fused, expand ratio, kernel, first stride, input channels, output channels,
# layers) per stage.
_Stage = tuple[bool, int, int, int, int, int, int]
# Tan & Le 2019, Table 1 (EfficientNet-B0 stages 2-8; stage 1 is the 3x3 stem).
EFFICIENTNET_B0: list[_Stage] = [
    (False, 1, 3, 1, 32, 16, 1),
    (False, 6, 3, 2, 16, 24, 2),
    (False, 6, 5, 2, 24, 40, 2),
    (False, 6, 3, 2, 40, 80, 3),
    (False, 6, 5, 1, 80, 112, 3),
    (False, 6, 5, 2, 112, 192, 4),
    (False, 6, 3, 1, 192, 320, 1),
]
# Tan & Le 2021, Table 4 (V2-S); M and L from the official repository's
# configs (effnetv2_configs.py), as torchvision.
EFFICIENTNET_V2: dict[str, list[_Stage]] = {
    "s": [
        (True, 1, 3, 1, 24, 24, 2),
        (True, 4, 3, 2, 24, 48, 4),
        (True, 4, 3, 2, 48, 64, 4),
        (False, 4, 3, 2, 64, 128, 6),
        (False, 6, 3, 1, 128, 160, 9),
        (False, 6, 3, 2, 160, 256, 15),
    ],
    "m": [
        (True, 1, 3, 1, 24, 24, 3),
        (True, 4, 3, 2, 24, 48, 5),
        (True, 4, 3, 2, 48, 80, 5),
        (False, 4, 3, 2, 80, 160, 7),
        (False, 6, 3, 1, 160, 176, 14),
        (False, 6, 3, 2, 176, 304, 18),
        (False, 6, 3, 1, 304, 512, 5),
    ],
    "l": [
        (True, 1, 3, 1, 32, 32, 4),
        (True, 4, 3, 2, 32, 64, 7),
        (True, 4, 3, 2, 64, 96, 7),
        (False, 4, 3, 2, 96, 192, 10),
        (False, 6, 3, 1, 192, 224, 19),
        (False, 6, 3, 2, 224, 384, 25),
        (False, 6, 3, 1, 384, 640, 7),
    ],
}
# Tan & Le 2019, Section 4 / official repo: (width, depth, resolution, dropout).
EFFICIENTNET_SCALING: dict[str, tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


@dataclass(frozen=True)
class StageConfig:
    """One stage, channels and depth already scaled."""

    fused: bool
    expand_ratio: int
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int


def efficientnet_conf(stages: list[_Stage], width_mult: float = 1.0, depth_mult: float = 1.0) -> list[StageConfig]:
    """Scale a stage table: widths to multiples of 8, depths rounded up."""
    return [
        StageConfig(
            fused,
            t,
            k,
            s,
            make_divisible(cin * width_mult, 8),
            make_divisible(cout * width_mult, 8),
            int(math.ceil(n * depth_mult)),
        )
        for fused, t, k, s, cin, cout, n in stages
    ]


class FusedMBConv(InvertedResidualBase):
    """Fused-MBConv (Tan & Le 2021, Figure 2): kxk conv (expanding when the
    ratio is above 1) -> SiLU [-> 1x1 linear projection], as torchvision's."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded_channels: int,
        kernel_size: int,
        stride: int,
        norm_layer: Callable[..., nn.Module],
        stochastic_depth_prob: float,
    ) -> None:
        act = dict(norm_layer=norm_layer, activation_layer=nn.SiLU)
        if expanded_channels != in_channels:
            layers: list[nn.Module] = [
                ConvBNAct(in_channels, expanded_channels, kernel_size, stride, **act),
                ConvBNAct(expanded_channels, out_channels, 1, norm_layer=norm_layer, activation_layer=None),
            ]
        else:
            layers = [ConvBNAct(in_channels, out_channels, kernel_size, stride, **act)]
        super().__init__(layers, in_channels, out_channels, stride, stochastic_depth_prob)


def _block(
    cnf: StageConfig, in_channels: int, stride: int, norm_layer: Callable[..., nn.Module], sd_prob: float
) -> InvertedResidualBase:
    expanded = make_divisible(in_channels * cnf.expand_ratio, 8)
    if cnf.fused:
        return FusedMBConv(in_channels, cnf.out_channels, expanded, cnf.kernel, stride, norm_layer, sd_prob)
    return InvertedResidual(
        in_channels,
        cnf.out_channels,
        expanded,
        kernel_size=cnf.kernel,
        stride=stride,
        activation_layer=nn.SiLU,
        norm_layer=norm_layer,
        se_channels=max(1, in_channels // 4),
        se_layer=partial(SqueezeExcitation, activation=partial(nn.SiLU, inplace=True)),
        stochastic_depth_prob=sd_prob,
    )


class EfficientNet(nn.Module):
    """`features` (stem, one Sequential per stage, 1x1 head conv), `avgpool`,
    `classifier` (dropout, linear), as torchvision's `EfficientNet`. The
    stochastic-depth drop rate grows linearly with block index to
    `stochastic_depth_prob`."""

    def __init__(
        self,
        setting: list[StageConfig],
        dropout: float,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
        norm_layer: Callable[..., nn.Module] | None = None,
        last_channel: int | None = None,
    ) -> None:
        super().__init__()
        if not setting:
            raise ValueError("setting must not be empty")
        norm_layer = norm_layer or nn.BatchNorm2d
        layers: list[nn.Module] = [
            ConvBNAct(3, setting[0].input_channels, 3, stride=2, norm_layer=norm_layer, activation_layer=nn.SiLU)
        ]
        total = sum(cnf.num_layers for cnf in setting)
        block_id = 0
        for cnf in setting:
            stage: list[nn.Module] = []
            for i in range(cnf.num_layers):
                in_channels = cnf.input_channels if i == 0 else cnf.out_channels
                sd_prob = stochastic_depth_prob * block_id / total
                stage.append(_block(cnf, in_channels, cnf.stride if i == 0 else 1, norm_layer, sd_prob))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        head_in = setting[-1].out_channels
        head_out = last_channel if last_channel is not None else 4 * head_in
        layers.append(ConvBNAct(head_in, head_out, 1, norm_layer=norm_layer, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(head_out, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _efficientnet_b(variant: str, **kwargs) -> EfficientNet:
    width, depth, _, dropout = EFFICIENTNET_SCALING[variant]
    if variant in ("b5", "b6", "b7"):  # torchvision ports these from TF: BN eps 1e-3
        kwargs.setdefault("norm_layer", partial(nn.BatchNorm2d, eps=0.001, momentum=0.01))
    return EfficientNet(efficientnet_conf(EFFICIENTNET_B0, width, depth), kwargs.pop("dropout", dropout), **kwargs)


def _efficientnet_v2(variant: str, dropout: float, **kwargs) -> EfficientNet:
    kwargs.setdefault("norm_layer", partial(nn.BatchNorm2d, eps=1e-3))
    return EfficientNet(
        efficientnet_conf(EFFICIENTNET_V2[variant]), kwargs.pop("dropout", dropout), last_channel=1280, **kwargs
    )


# Registered models --------------------------------------------------------------

_V1: dict[str, Any] = dict(
    family="efficientnet",
    year=2019,
    paper="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
)
_V1_SRC = "Tan & Le 2019, Table 2"


def _shape(variant: str) -> tuple[int, int, int, int]:
    res = EFFICIENTNET_SCALING[variant][2]
    return (1, 3, res, res)


@register_model(
    **_V1,
    input_shape=_shape("b0"),
    published=Published(source=_V1_SRC, params=5.3e6, madds=0.39e9, top1=77.1),
    torchvision="efficientnet_b0",
    aliases=("efficientnet",),
)
def efficientnet_b0(**kwargs) -> EfficientNet:
    return _efficientnet_b("b0", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b1"),
    published=Published(source=_V1_SRC, params=7.8e6, madds=0.70e9, top1=79.1),
    torchvision="efficientnet_b1",
)
def efficientnet_b1(**kwargs) -> EfficientNet:
    return _efficientnet_b("b1", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b2"),
    published=Published(source=_V1_SRC, params=9.2e6, madds=1.0e9, top1=80.1),
    torchvision="efficientnet_b2",
    note="Counted at the paper's 260x260; torchvision's 1.088 GFLOPS for B2 are at its 288 crop.",
)
def efficientnet_b2(**kwargs) -> EfficientNet:
    return _efficientnet_b("b2", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b3"),
    published=Published(source=_V1_SRC, params=12e6, madds=1.8e9, top1=81.6),
    torchvision="efficientnet_b3",
)
def efficientnet_b3(**kwargs) -> EfficientNet:
    return _efficientnet_b("b3", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b4"),
    published=Published(
        source=_V1_SRC,
        params=19e6,
        madds=4.2e9,
        top1=82.9,
        rtol_madds=0.05,
        note="Table 2's 4.2 B is low: B4 at 380 counts 4.39 G (torchvision's 4.394 G and thop agree).",
    ),
    torchvision="efficientnet_b4",
)
def efficientnet_b4(**kwargs) -> EfficientNet:
    return _efficientnet_b("b4", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b5"),
    published=Published(
        source=_V1_SRC,
        params=30e6,
        madds=9.9e9,
        top1=83.6,
        rtol_madds=0.04,
        note="Table 2's 9.9 B is low: B5 at 456 counts 10.27 G (torchvision's 10.266 G and thop agree).",
    ),
    torchvision="efficientnet_b5",
)
def efficientnet_b5(**kwargs) -> EfficientNet:
    return _efficientnet_b("b5", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b6"),
    published=Published(source=_V1_SRC, params=43e6, madds=19e9, top1=84.0),
    torchvision="efficientnet_b6",
)
def efficientnet_b6(**kwargs) -> EfficientNet:
    return _efficientnet_b("b6", **kwargs)


@register_model(
    **_V1,
    input_shape=_shape("b7"),
    published=Published(
        source=_V1_SRC,
        params=66e6,
        madds=37e9,
        top1=84.3,
        rtol_madds=0.025,
        note="Table 2 rounds B7's 37.7 G at 600 (torchvision's 37.746 G) down to 37 B.",
    ),
    torchvision="efficientnet_b7",
)
def efficientnet_b7(**kwargs) -> EfficientNet:
    return _efficientnet_b("b7", **kwargs)


_V2: dict[str, Any] = dict(family="efficientnet_v2", year=2021, paper="EfficientNetV2: Smaller Models and Faster Training")
_V2_SRC = "Tan & Le 2021, official repository (Table 7 rounds)"


@register_model(
    **_V2,
    input_shape=(1, 3, 384, 384),
    published=Published(source=_V2_SRC, params=21.5e6, madds=8.4e9, top1=83.9),
    torchvision="efficientnet_v2_s",
    aliases=("efficientnet_v2",),
)
def efficientnet_v2_s(**kwargs) -> EfficientNet:
    return _efficientnet_v2("s", 0.2, **kwargs)


@register_model(
    **_V2,
    input_shape=(1, 3, 480, 480),
    published=Published(source=_V2_SRC, params=54.1e6, madds=24.7e9, top1=85.1),
    torchvision="efficientnet_v2_m",
)
def efficientnet_v2_m(**kwargs) -> EfficientNet:
    return _efficientnet_v2("m", 0.3, **kwargs)


@register_model(
    **_V2,
    input_shape=(1, 3, 480, 480),
    published=Published(source=_V2_SRC, params=119.5e6, madds=56.3e9, top1=85.7),
    torchvision="efficientnet_v2_l",
)
def efficientnet_v2_l(**kwargs) -> EfficientNet:
    return _efficientnet_v2("l", 0.4, **kwargs)
