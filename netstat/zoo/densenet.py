"""DenseNet (Huang, Liu, van der Maaten & Weinberger 2016, "Densely Connected
Convolutional Networks"): the ImageNet DenseNet-BC models laid out as
torchvision's `densenet121` / `161` / `169` / `201` (same module names and
state_dict keys), and the CIFAR DenseNet-BC (L=100, k=12).

`DenseLayer`, `DenseBlock` and `Transition` are public: DSOD and other
dense-connected detectors build on them.
"""

from __future__ import annotations

from typing import Any

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from netstat.zoo._registry import Published, register_model

# Huang et al. 2016, Table 1 (ImageNet, DenseNet-BC): growth rate k, layers per
# dense block, stem width. DenseNet-161 is the k=48 model of the official repo
# (stem 2k = 96). All use a 4k-wide 1x1 bottleneck and compression 0.5.
DENSENET_CFGS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}


class DenseLayer(nn.Module):
    """One BN-ReLU-Conv1x1 (bottleneck, `bn_size * growth_rate` wide) ->
    BN-ReLU-Conv3x3 (`growth_rate` wide) layer, as torchvision's `_DenseLayer`
    (norm1/relu1/conv1/norm2/relu2/conv2). Takes one tensor or the list of all
    earlier feature maps, concatenates them, returns only the new features."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, width, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, inputs: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(inputs, 1) if isinstance(inputs, (list, tuple)) else inputs
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class DenseBlock(nn.ModuleDict):
    """`num_layers` DenseLayers (`denselayer1` ...), each fed the concatenation
    of the block input and all earlier layers' outputs; returns the whole
    concatenation, `num_input_features + num_layers * growth_rate` channels
    (`self.out_channels`)."""

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        bn_size: int = 4,
        growth_rate: int = 32,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_channels = num_input_features + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN -> ReLU -> Conv1x1 (`num_output_features`) -> AvgPool 2x2/2, as
    torchvision's `_Transition` (norm/relu/conv/pool). `pool=False` leaves out
    the pooling (DSOD's "transition w/o pooling"); `ceil_mode` is passed to it."""

    def __init__(self, num_input_features: int, num_output_features: int, pool: bool = True, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        if pool:
            self.pool = nn.AvgPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode)
        self.out_channels = num_output_features


class DenseNet(nn.Module):
    """DenseNet-BC: stem, dense blocks joined by compressing transitions,
    final BN, ReLU, global average pool, linear.

    `stem="imagenet"`: conv0 7x7/2 -> norm0 -> relu0 -> pool0 3x3/2 (torchvision);
    `stem="cifar"`: a single 3x3 conv0 (Huang et al. 2016, Section 3, CIFAR).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        compression: float = 0.5,
        stem: str = "imagenet",
    ) -> None:
        super().__init__()
        if stem == "imagenet":
            layers = [
                ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU(inplace=True)),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]
        elif stem == "cifar":
            layers = [("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, padding=1, bias=False))]
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', not {stem!r}")
        self.features = nn.Sequential(OrderedDict(layers))

        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels = block.out_channels
            if i != len(block_config) - 1:
                out = int(channels * compression)
                self.features.add_module(f"transition{i + 1}", Transition(channels, out))
                channels = out
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)
        self.num_features = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x), inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


def _densenet(name: str, **kwargs) -> DenseNet:
    growth, blocks, init = DENSENET_CFGS[name]
    return DenseNet(growth_rate=growth, block_config=blocks, num_init_features=init, **kwargs)


_PAPER = "Densely Connected Convolutional Networks"
_COMMON: dict[str, Any] = dict(family="densenet", year=2016, paper=_PAPER)
# torchvision's model cards give exact parameter counts, GFLOPS (which are
# GMACs of conv + linear at 224) and single-crop acc@1 of the LuaTorch weights
# the authors released; they match Huang et al. 2016, Figure 3 / Table 3.
_SRC = "torchvision docs (params, GFLOPS, acc@1); Huang et al. 2016, Table 1 (architecture)"


@register_model(
    **_COMMON,
    published=Published(source=_SRC, params=7_978_856, madds=2.83e9, top1=74.434),
    torchvision="densenet121",
    aliases=("densenet",),
)
def densenet121(**kwargs) -> DenseNet:
    return _densenet("densenet121", **kwargs)


@register_model(
    **_COMMON,
    published=Published(source=_SRC, params=28_681_000, madds=7.73e9, top1=77.138),
    torchvision="densenet161",
)
def densenet161(**kwargs) -> DenseNet:
    return _densenet("densenet161", **kwargs)


@register_model(
    **_COMMON,
    published=Published(source=_SRC, params=14_149_480, madds=3.36e9, top1=75.6),
    torchvision="densenet169",
)
def densenet169(**kwargs) -> DenseNet:
    return _densenet("densenet169", **kwargs)


@register_model(
    **_COMMON,
    published=Published(source=_SRC, params=20_013_928, madds=4.29e9, top1=76.896),
    torchvision="densenet201",
)
def densenet201(**kwargs) -> DenseNet:
    return _densenet("densenet201", **kwargs)


# Huang et al. 2016, Section 3 and Table 2: DenseNet-BC for CIFAR, L=100, k=12:
# a 3x3 conv with 2k channels, three dense blocks of (L - 4) / 6 = 16 bottleneck
# layers (32x32, 16x16, 8x8), compression 0.5, global average pool, linear.
@register_model(
    **_COMMON,
    input_shape=(1, 3, 32, 32),
    published=Published(
        source="Huang et al. 2016, Table 2 (DenseNet-BC, L=100, k=12)",
        params=0.8e6,
        rtol_params=0.05,
        note="Table 2 rounds to one decimal: the L=100, k=12 DenseNet-BC has 0.77 M parameters",
    ),
)
def densenet_bc_100_12(num_classes: int = 10, **kwargs) -> DenseNet:
    return DenseNet(
        growth_rate=12,
        block_config=(16, 16, 16),
        num_init_features=24,
        num_classes=num_classes,
        stem="cifar",
        **kwargs,
    )
