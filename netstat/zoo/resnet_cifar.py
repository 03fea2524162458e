"""CIFAR-10 ResNets (He et al. 2015, "Deep Residual Learning for Image
Recognition", Section 4.2): a 3x3 conv with 16 filters, three stages of n
basic blocks on 32x32, 16x16 and 8x8 maps (16, 32, 64 filters), global
average pooling and a 10-way fc; depth 6n + 2. Shortcuts are option A:
identity, with stride-2 subsampling and zero-padded extra channels, so they
add no parameters.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import conv3x3

# He et al. 2015, Section 4.2 (table of the CIFAR-10 architecture): output map
# size and filters per stage; n blocks per stage with n = (depth - 2) / 6.
CIFAR_STAGES = [(32, 16), (16, 32), (8, 64)]


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: take every `stride`-th pixel and pad the channel
    dimension with zeros (half before, half after), as in the paper."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))


class CifarBasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an option A shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ZeroPadShortcut(inplanes, planes, stride) if stride != 1 or inplanes != planes else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """6n + 2 layer CIFAR ResNet (n blocks per stage)."""

    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2, not {depth}")
        n = (depth - 2) // 6
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        inplanes = 16
        stages = []
        for i, (_, planes) in enumerate(CIFAR_STAGES):
            blocks = [CifarBasicBlock(inplanes, planes, 1 if i == 0 else 2)]
            blocks += [CifarBasicBlock(planes, planes) for _ in range(1, n)]
            stages.append(nn.Sequential(*blocks))
            inplanes = planes
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


_COMMON: dict[str, Any] = dict(
    family="resnet_cifar", year=2015, paper="Deep Residual Learning for Image Recognition", input_shape=(1, 3, 32, 32)
)
_SRC = "He et al. 2015, Table 6"


@register_model(**_COMMON, published=Published(source=_SRC, params=0.27e6))
def resnet20_cifar(**kwargs) -> CifarResNet:
    return CifarResNet(20, **kwargs)


@register_model(**_COMMON, published=Published(source=_SRC, params=0.85e6))
def resnet56_cifar(**kwargs) -> CifarResNet:
    return CifarResNet(56, **kwargs)


@register_model(**_COMMON, published=Published(source=_SRC, params=1.7e6))
def resnet110_cifar(**kwargs) -> CifarResNet:
    return CifarResNet(110, **kwargs)
