"""MobileNet V3 Large and Small (Howard et al. 2019, "Searching for
MobileNetV3"), laid out as torchvision's `mobilenet_v3_large` / `_small`.

Inverted-residual bottlenecks (the shared `InvertedResidual` of `_blocks`) with
ReLU or h-swish and optional squeeze-excitation gated by a hard sigmoid, a 1x1
conv to 6x the last bottleneck width, global pooling, then a 1x1 (as linear)
layer to 1280 / 1024, h-swish, dropout and the classifier.

`dilated=True` keeps the last stage at output stride 16 (its stride-2 depthwise
conv becomes stride 1 with dilation 2 and the following ones dilation 2), as
torchvision's `_mobilenet_v3_conf(arch, dilated=True)` for DeepLabV3 / LR-ASPP;
`reduced_tail=True` halves the last stage's channels. `mobilenet_v3_backbone`
returns the `features` Sequential for segmentation heads: its blocks carry
`out_channels` and `_is_cn` (True on strided blocks), as torchvision's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from torch import nn

from netstat.zoo._blocks import ConvBNAct, InvertedResidual, SqueezeExcitation, make_divisible
from netstat.zoo._registry import Published, register_model

# (input channels, kernel, expanded channels, output channels, SE, activation
# "RE" = ReLU / "HS" = h-swish, stride). The last three rows of each are the
# last stage (C4), which `dilated` / `reduced_tail` change.
# Howard et al. 2019, Table 1 (MobileNetV3-Large).
_LARGE: list[tuple[int, int, int, int, bool, str, int]] = [
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),  # C1
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),  # C2
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),  # C3
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),  # C4
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
]
# Howard et al. 2019, Table 2 (MobileNetV3-Small).
_SMALL: list[tuple[int, int, int, int, bool, str, int]] = [
    (16, 3, 16, 16, True, "RE", 2),  # C1
    (16, 3, 72, 24, False, "RE", 2),  # C2
    (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2),  # C3
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1),
    (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2),  # C4
    (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
]
MOBILENET_V3_CFGS = {"mobilenet_v3_large": (_LARGE, 1280), "mobilenet_v3_small": (_SMALL, 1024)}


@dataclass(frozen=True)
class BneckConfig:
    """One bottleneck, channels already scaled by the width multiplier."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    use_hs: bool
    stride: int
    dilation: int


def mobilenet_v3_conf(
    arch: str, width_mult: float = 1.0, reduced_tail: bool = False, dilated: bool = False
) -> tuple[list[BneckConfig], int]:
    """Bottleneck configs and the penultimate width of `arch`
    ("mobilenet_v3_large" / "mobilenet_v3_small"), as torchvision's
    `_mobilenet_v3_conf`."""
    if arch not in MOBILENET_V3_CFGS:
        raise ValueError(f"unknown MobileNetV3 architecture {arch!r}")
    rows, last_channel = MOBILENET_V3_CFGS[arch]
    divider = 2 if reduced_tail else 1

    def ch(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    tail = len(rows) - 3
    confs = []
    for i, (cin, k, exp, cout, se, act, s) in enumerate(rows):
        if i >= tail:
            cin = cin if i == tail else cin // divider
            exp, cout = (exp if i == tail else exp // divider), cout // divider
        dilation = 2 if dilated and i >= tail else 1
        confs.append(BneckConfig(ch(cin), k, ch(exp), ch(cout), se, act == "HS", s, dilation))
    return confs, ch(last_channel // divider)


def _bneck(cnf: BneckConfig, norm_layer: Callable[..., nn.Module]) -> InvertedResidual:
    return InvertedResidual(
        cnf.input_channels,
        cnf.out_channels,
        cnf.expanded_channels,
        kernel_size=cnf.kernel,
        stride=cnf.stride,
        dilation=cnf.dilation,
        activation_layer=nn.Hardswish if cnf.use_hs else nn.ReLU,
        norm_layer=norm_layer,
        se_channels=make_divisible(cnf.expanded_channels // 4, 8) if cnf.use_se else None,
        se_layer=partial(SqueezeExcitation, scale_activation=nn.Hardsigmoid),
    )


class MobileNetV3(nn.Module):
    """`features` (stem, bottlenecks, 1x1 conv), `avgpool`, `classifier`
    (linear, h-swish, dropout, linear), as torchvision's `MobileNetV3`."""

    def __init__(
        self,
        inverted_residual_setting: list[BneckConfig],
        last_channel: int,
        num_classes: int = 1000,
        norm_layer: Callable[..., nn.Module] | None = None,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("inverted_residual_setting must not be empty")
        norm_layer = norm_layer or partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        first = inverted_residual_setting[0].input_channels
        layers: list[nn.Module] = [
            ConvBNAct(3, first, 3, stride=2, norm_layer=norm_layer, activation_layer=nn.Hardswish)
        ]
        layers += [_bneck(cnf, norm_layer) for cnf in inverted_residual_setting]
        last_in = inverted_residual_setting[-1].out_channels
        last_conv = 6 * last_in
        layers.append(ConvBNAct(last_in, last_conv, 1, norm_layer=norm_layer, activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def build_mobilenet_v3(
    arch: str, width_mult: float = 1.0, reduced_tail: bool = False, dilated: bool = False, **kwargs
) -> MobileNetV3:
    """A whole MobileNetV3 of `arch`; `kwargs` go to `MobileNetV3`."""
    setting, last_channel = mobilenet_v3_conf(arch, width_mult, reduced_tail, dilated)
    return MobileNetV3(setting, last_channel, **kwargs)


def mobilenet_v3_backbone(arch: str = "mobilenet_v3_large", dilated: bool = True, **kwargs) -> nn.Sequential:
    """The `features` of a MobileNetV3 (output stride 16 when `dilated`), as
    torchvision's segmentation models take `mobilenet_v3_large(dilated=True).features`."""
    return build_mobilenet_v3(arch, dilated=dilated, **kwargs).features


_COMMON: dict[str, Any] = dict(family="mobilenet_v3", year=2019, paper="Searching for MobileNetV3")
_SRC = "Howard et al. 2019, Table 3"


@register_model(
    **_COMMON,
    published=Published(source=_SRC, params=5.4e6, madds=219e6, top1=75.2),
    torchvision="mobilenet_v3_large",
    aliases=("mobilenet_v3",),
)
def mobilenet_v3_large(**kwargs) -> MobileNetV3:
    return build_mobilenet_v3("mobilenet_v3_large", **kwargs)


@register_model(
    **_COMMON,
    published=Published(source=_SRC, params=2.5e6, madds=56e6, top1=67.4),
    torchvision="mobilenet_v3_small",
)
def mobilenet_v3_small(**kwargs) -> MobileNetV3:
    return build_mobilenet_v3("mobilenet_v3_small", **kwargs)
