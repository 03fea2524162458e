"""CondenseNet (Huang, Liu, van der Maaten & Weinberger 2018, "CondenseNet: An
Efficient DenseNet using Learned Group Convolutions"), the ImageNet model as it
runs at test time: after training, each learned group convolution is converted
to an index layer (a gather that keeps, per group, the input channels the group
learned to use) followed by a standard group convolution and a channel shuffle.

Layout and module names follow the authors' converted model
(ShichenLiu/CondenseNet, `models/condensenet_converted.py`): dense layers
`conv_1` (index -> BN -> ReLU -> 1x1 group conv -> shuffle) and `conv_2`
(BN -> ReLU -> 3x3 group conv), transitions that are 2x2 average pools only,
and a final linear layer that reads half of the features through an index.
The learned indices are weights; here they are an identity placeholder (same
shapes, same cost).
"""

from __future__ import annotations

import torch
from torch import nn

from netstat.zoo._blocks import channel_shuffle
from netstat.zoo._registry import Published, register_model

# Huang et al. 2018, Section 4.2 / Table 5 and the official README: the
# ImageNet CondenseNet-74 has five dense blocks of 4-6-8-10-8 layers with
# growth rates 8-16-32-64-128, a 4x bottleneck, G = 4 groups in the 1x1 and 3x3
# convs and condensation factor C = 4.
CONDENSENET74_CFG = dict(stages=(4, 6, 8, 10, 8), growth=(8, 16, 32, 64, 128), bottleneck=4, groups=4, condense_factor=4)


class ChannelIndex(nn.Module):
    """Gather channels through an `index` buffer (`torch.index_select` over dim 1).
    Pure data movement: no MAdds."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.register_buffer("index", torch.arange(out_channels) % in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.index_select(x, 1, self.index)


class CondenseConv(nn.Module):
    """A condensed learned group convolution: gather `in_channels * groups /
    condense_factor` channels (`index`), BN, ReLU, group conv, channel shuffle."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        groups: int = 4,
        condense_factor: int = 4,
    ) -> None:
        super().__init__()
        kept = in_channels * groups // condense_factor
        self.groups = groups
        self.register_buffer("index", torch.arange(kept) % in_channels)
        self.norm = nn.BatchNorm2d(kept)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(kept, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.index_select(x, 1, self.index)
        x = self.conv(self.relu(self.norm(x)))
        return channel_shuffle(x, self.groups)


class BNReLUConv(nn.Sequential):
    """BN -> ReLU -> (group) conv, the pre-activation `Conv` of CondenseNet."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, groups: int = 1) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False
        )


class CondenseDenseLayer(nn.Module):
    """1x1 condensed group conv to `bottleneck * growth`, 3x3 group conv to
    `growth`, concatenated onto the input."""

    def __init__(self, in_channels: int, growth: int, bottleneck: int, groups: int, condense_factor: int) -> None:
        super().__init__()
        self.conv_1 = CondenseConv(in_channels, bottleneck * growth, 1, groups, condense_factor)
        self.conv_2 = BNReLUConv(bottleneck * growth, growth, 3, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv_2(self.conv_1(x))], 1)


class CondenseLinear(nn.Module):
    """Linear layer on the `drop_rate` fraction of features it kept (`index`)."""

    def __init__(self, in_features: int, out_features: int, drop_rate: float = 0.5) -> None:
        super().__init__()
        kept = int(in_features * drop_rate)
        self.register_buffer("index", torch.arange(kept))
        self.linear = nn.Linear(kept, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.index_select(x, 1, self.index))


class CondenseNet(nn.Module):
    """3x3/2 stem conv (2 x first growth rate), dense blocks separated by 2x2
    average pools, final BN-ReLU, global average pool, condensed linear."""

    def __init__(
        self,
        stages: tuple[int, ...] = CONDENSENET74_CFG["stages"],
        growth: tuple[int, ...] = CONDENSENET74_CFG["growth"],
        bottleneck: int = 4,
        groups: int = 4,
        condense_factor: int = 4,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        channels = 2 * growth[0]
        self.features = nn.Sequential()
        self.features.add_module("init_conv", nn.Conv2d(3, channels, 3, stride=2, padding=1, bias=False))
        for i, (layers, k) in enumerate(zip(stages, growth)):
            block = nn.Sequential()
            for j in range(layers):
                block.add_module(
                    f"denselayer_{j + 1}", CondenseDenseLayer(channels + j * k, k, bottleneck, groups, condense_factor)
                )
            self.features.add_module(f"denseblock_{i + 1}", block)
            channels += layers * k
            if i != len(stages) - 1:
                self.features.add_module(f"transition_{i + 1}", nn.AvgPool2d(kernel_size=2, stride=2))
        self.features.add_module("norm_last", nn.BatchNorm2d(channels))
        self.features.add_module("relu_last", nn.ReLU(inplace=True))
        self.features.add_module("pool_last", nn.AdaptiveAvgPool2d(1))
        self.classifier = CondenseLinear(channels, num_classes, 0.5)
        self.num_features = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


# Huang et al. 2018, Table 5 (ImageNet, CondenseNet with G = C = 4): 529 M
# FLOPs (multiply-adds), 4.8 M params, top-1 error 26.2 %. The authors'
# `measure_model` (utils.py) also counts ReLU and pooling outputs (12.7 M) and
# the FC before condensing (+1.0 M): their convention gives 530.4 M for this
# model; conv + fc MAdds alone are 516.6 M, 2.3 % under.
@register_model(
    family="condensenet",
    year=2018,
    paper="CondenseNet: An Efficient DenseNet using Learned Group Convolutions",
    published=Published(
        source="Huang et al. 2018, Table 5 (CondenseNet-74, G=C=4)",
        params=4.8e6,
        madds=529e6,
        top1=73.8,
        rtol_madds=0.03,
        note="the paper's 529 M also counts ReLU / pooling ops and the uncondensed FC; conv + fc MAdds are 517 M",
    ),
    aliases=("condensenet74", "condensenet74_c4_g4"),
)
def condensenet(**kwargs) -> CondenseNet:
    return CondenseNet(**{**CONDENSENET74_CFG, **kwargs})
