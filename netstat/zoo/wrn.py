"""CIFAR Wide ResNets, WRN-d-k (Zagoruyko & Komodakis 2016, "Wide Residual
Networks"): a 3x3 conv with 16 filters, three groups of N = (d - 4) / 6
pre-activation wide basic blocks B(3,3) with 16k, 32k, 64k filters, final
BN-ReLU, 8x8 average pool and fc. Shortcuts are 1x1 convs where the shape
changes, applied to the block's pre-activated input, as the authors' code.
"""

from __future__ import annotations

from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import conv1x1, conv3x3

# Zagoruyko & Komodakis 2016, Table 1: group widths (x k) and strides.
WRN_GROUPS = [(16, 1), (32, 2), (64, 2)]


class WideBasicBlock(nn.Module):
    """BN-ReLU-conv3x3 (stride) [dropout] BN-ReLU-conv3x3, plus identity or
    a 1x1 conv shortcut from the pre-activated input."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = conv1x1(inplanes, planes, stride) if stride != 1 or inplanes != planes else None

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.relu(self.bn2(self.conv1(pre)))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.conv2(out) + identity


class WideResNet(nn.Module):
    """WRN-`depth`-`widen` for 32x32 inputs."""

    def __init__(self, depth: int = 28, widen: int = 10, num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth must be 6N + 4, not {depth}")
        n = (depth - 4) // 6
        self.conv1 = conv3x3(3, 16)
        inplanes = 16
        groups = []
        for base, stride in WRN_GROUPS:
            planes = base * widen
            blocks = [WideBasicBlock(inplanes, planes, stride, dropout)]
            blocks += [WideBasicBlock(planes, planes, 1, dropout) for _ in range(1, n)]
            groups.append(nn.Sequential(*blocks))
            inplanes = planes
        self.layer1, self.layer2, self.layer3 = groups
        self.bn = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.bn(x))
        return self.fc(self.avgpool(x).flatten(1))


@register_model(
    family="wide_resnet",
    year=2016,
    paper="Wide Residual Networks",
    input_shape=(1, 3, 32, 32),
    published=Published(
        source="Zagoruyko & Komodakis 2016, CIFAR results table (36.5 M); 5.24 G MAdds as commonly cited",
        params=36.5e6,
        madds=5.24e9,
    ),
)
def wrn_28_10(**kwargs) -> WideResNet:
    return WideResNet(28, 10, **kwargs)
