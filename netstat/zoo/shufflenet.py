"""ShuffleNet V1 (Zhang et al. 2017, "ShuffleNet: An Extremely Efficient
Convolutional Neural Network for Mobile Devices") and ShuffleNet V2 (Ma et al.
2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design"), V2 laid out as torchvision's `shufflenet_v2_x*`.

V1 unit (Figure 2b/c): 1x1 group conv (bottleneck = 1/4 of the unit's output)
-> BN -> ReLU -> channel shuffle -> 3x3 depthwise conv -> BN -> 1x1 group conv
-> BN; added to the input (stride 1) or concatenated with a 3x3/s2 average pool
of it (stride 2), then ReLU. The first 1x1 conv of stage 2 is not grouped (its
input has only 24 channels). Width multipliers follow the authors' release
(megvii-model/ShuffleNet-Series): the stem has 12 / 24 / 24 / 48 channels at
0.5x / 1x / 1.5x / 2x.

V2 unit (Figure 3c/d): split the channels in half, one half through 1x1 conv
-> 3x3 depthwise -> 1x1 conv, concatenate, shuffle with 2 groups; the stride-2
unit feeds both halves the whole input, the second through a 3x3 depthwise ->
1x1 conv branch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netstat.zoo._blocks import ChannelShuffle, ConvBNAct
from netstat.zoo._registry import Published, register_model

# Zhang et al. 2017, Table 1: output channels of stages 2, 3, 4 of ShuffleNet
# 1x for each number of groups g; units per stage 4, 8, 4; stem 24 channels.
SHUFFLENET_V1_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
SHUFFLENET_V1_REPEATS = (4, 8, 4)
# Stem width per width multiplier, from the authors' release (not in the paper).
SHUFFLENET_V1_STEM = {0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}

# Ma et al. 2018, Table 5: units per stage and output channels of conv1,
# stages 2-4 and conv5 for 0.5x / 1x / 1.5x / 2x.
SHUFFLENET_V2_REPEATS = (4, 8, 4)
SHUFFLENET_V2_CHANNELS: dict[str, tuple[int, int, int, int, int]] = {
    "0.5x": (24, 48, 96, 192, 1024),
    "1.0x": (24, 116, 232, 464, 1024),
    "1.5x": (24, 176, 352, 704, 1024),
    "2.0x": (24, 244, 488, 976, 2048),
}


# ShuffleNet V1 ------------------------------------------------------------------


class ShuffleV1Unit(nn.Module):
    """`compress` (1x1 group conv, BN, ReLU), `shuffle`, `dw` (3x3 depthwise,
    BN), `expand` (1x1 group conv, BN), plus the shortcut."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, stride: int, first_groups: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        self.stride = stride
        mid = out_channels // 4
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        self.compress = ConvBNAct(in_channels, mid, 1, groups=first_groups)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.dw = ConvBNAct(mid, mid, 3, stride=stride, groups=mid, activation_layer=None)
        self.expand = ConvBNAct(mid, branch_out, 1, groups=groups, activation_layer=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(self.dw(self.shuffle(self.compress(x))))
        if self.stride == 1:
            return self.relu(out + x)
        return self.relu(torch.cat((self.shortcut(x), out), 1))


class ShuffleNetV1(nn.Module):
    """`conv1`, `maxpool`, `stage2`-`stage4`, global average pool, `fc`."""

    def __init__(self, groups: int = 3, width_mult: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        if groups not in SHUFFLENET_V1_CHANNELS:
            raise ValueError(f"groups must be one of {sorted(SHUFFLENET_V1_CHANNELS)}, not {groups}")
        if width_mult not in SHUFFLENET_V1_STEM:
            raise ValueError(f"width_mult must be one of {sorted(SHUFFLENET_V1_STEM)}, not {width_mult}")
        in_channels = SHUFFLENET_V1_STEM[width_mult]
        self.conv1 = ConvBNAct(3, in_channels, 3, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for idx, (repeats, c) in enumerate(zip(SHUFFLENET_V1_REPEATS, SHUFFLENET_V1_CHANNELS[groups])):
            out_channels = int(c * width_mult)
            units = []
            for i in range(repeats):
                first_groups = 1 if idx == 0 and i == 0 else groups
                units.append(ShuffleV1Unit(in_channels, out_channels, groups, 2 if i == 0 else 1, first_groups))
                in_channels = out_channels
            setattr(self, f"stage{idx + 2}", nn.Sequential(*units))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(self.avgpool(x).flatten(1))


# ShuffleNet V2 ------------------------------------------------------------------


class ShuffleV2Unit(nn.Module):
    """torchvision's ShuffleNetV2 `InvertedResidual`: `branch1` (stride 2 only:
    3x3 depthwise, BN, 1x1 conv, BN, ReLU) and `branch2` (1x1 conv, BN, ReLU,
    3x3 depthwise, BN, 1x1 conv, BN, ReLU), concatenated and shuffled."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        self.stride = stride
        half = out_channels // 2
        if stride == 1 and in_channels != 2 * half:
            raise ValueError(f"a stride-1 unit needs in_channels == out_channels, not {in_channels} != {out_channels}")
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels if stride > 1 else half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )
        self.shuffle = ChannelShuffle(2)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return self.shuffle(out)


class ShuffleNetV2(nn.Module):
    """`conv1`, `maxpool`, `stage2`-`stage4`, `conv5`, global mean, `fc`, as
    torchvision's."""

    def __init__(self, stages_repeats, stages_out_channels, num_classes: int = 1000) -> None:
        super().__init__()
        if len(stages_repeats) != 3 or len(stages_out_channels) != 5:
            raise ValueError("expected 3 stage repeats and 5 output widths")
        in_channels = stages_out_channels[0]
        self.conv1 = ConvBNAct(3, in_channels, 3, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for idx, (repeats, out_channels) in enumerate(zip(stages_repeats, stages_out_channels[1:4])):
            units = [ShuffleV2Unit(in_channels, out_channels, 2)]
            units += [ShuffleV2Unit(out_channels, out_channels, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{idx + 2}", nn.Sequential(*units))
            in_channels = out_channels
        self.conv5 = ConvBNAct(in_channels, stages_out_channels[-1], 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(stages_out_channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _shufflenet_v2(size: str, **kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(SHUFFLENET_V2_REPEATS, SHUFFLENET_V2_CHANNELS[size], **kwargs)


# Registered models --------------------------------------------------------------

_V1: dict[str, Any] = dict(
    family="shufflenet_v1",
    year=2017,
    paper="ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
)
# MAdds of 1x per g: Table 1 ("complexity"); accuracy: Table 2 (0.5x, 1x per g)
# and Table 5 (1.5x, 2x). The paper prints no parameter counts; those are the
# authors' release (megvii-model/ShuffleNet-Series, ShuffleNetV1 README).
_V1_SRC = "Zhang et al. 2017, Table 1"
_V1_REPO = "megvii-model/ShuffleNet-Series README (params)"


@register_model(
    **_V1,
    published=Published(source=f"{_V1_SRC}; {_V1_REPO}", params=1.9e6, madds=137e6, top1=67.4),
    aliases=("shufflenet_v1_g3", "shufflenet_v1_x1_0"),
)
def shufflenet_v1(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, width_mult=1.0, **kwargs)


@register_model(**_V1, published=Published(source=_V1_SRC, madds=143e6, top1=66.4))
def shufflenet_v1_g1(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=1, **kwargs)


@register_model(**_V1, published=Published(source=_V1_SRC, madds=140e6, top1=67.3))
def shufflenet_v1_g2(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=2, **kwargs)


@register_model(**_V1, published=Published(source=_V1_SRC, madds=133e6, top1=67.2))
def shufflenet_v1_g4(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=4, **kwargs)


@register_model(
    **_V1,
    published=Published(source=f"{_V1_SRC}; {_V1_REPO}", params=2.4e6, madds=137e6, top1=67.6),
)
def shufflenet_v1_g8(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=8, **kwargs)


@register_model(
    **_V1,
    published=Published(
        source=f"Zhang et al. 2017, Table 2; {_V1_REPO}",
        params=0.7e6,
        madds=38e6,
        top1=56.8,
        rtol_params=0.03,
        note="The release rounds 0.72 M parameters to 0.7 M.",
    ),
)
def shufflenet_v1_x0_5(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, width_mult=0.5, **kwargs)


@register_model(
    **_V1,
    published=Published(source=f"Zhang et al. 2017, Table 5; {_V1_REPO}", params=3.4e6, madds=292e6, top1=71.5),
)
def shufflenet_v1_x1_5(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, width_mult=1.5, **kwargs)


@register_model(
    **_V1,
    published=Published(source=f"Zhang et al. 2017, Table 5; {_V1_REPO}", params=5.4e6, madds=524e6, top1=73.7),
)
def shufflenet_v1_x2_0(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, width_mult=2.0, **kwargs)


_V2: dict[str, Any] = dict(
    family="shufflenet_v2",
    year=2018,
    paper="ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
)
_V2_SRC = "Ma et al. 2018, Table 8"


@register_model(
    **_V2,
    published=Published(
        source=_V2_SRC,
        params=1.4e6,
        madds=41e6,
        top1=60.3,
        rtol_params=0.03,
        note="Table 8 rounds 1.37 M parameters to 1.4 M.",
    ),
    torchvision="shufflenet_v2_x0_5",
)
def shufflenet_v2_x0_5(**kwargs) -> ShuffleNetV2:
    return _shufflenet_v2("0.5x", **kwargs)


@register_model(
    **_V2,
    published=Published(source=_V2_SRC, params=2.3e6, madds=146e6, top1=69.4),
    torchvision="shufflenet_v2_x1_0",
    aliases=("shufflenet", "shufflenet_v2"),
)
def shufflenet_v2_x1_0(**kwargs) -> ShuffleNetV2:
    return _shufflenet_v2("1.0x", **kwargs)


@register_model(
    **_V2,
    published=Published(source=_V2_SRC, params=3.5e6, madds=299e6, top1=72.6),
    torchvision="shufflenet_v2_x1_5",
)
def shufflenet_v2_x1_5(**kwargs) -> ShuffleNetV2:
    return _shufflenet_v2("1.5x", **kwargs)


@register_model(
    **_V2,
    published=Published(source=_V2_SRC, params=7.4e6, madds=591e6, top1=74.9),
    torchvision="shufflenet_v2_x2_0",
)
def shufflenet_v2_x2_0(**kwargs) -> ShuffleNetV2:
    return _shufflenet_v2("2.0x", **kwargs)
