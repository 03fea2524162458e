"""Pre-activation ResNet, "ResNet v2" (He et al. 2016, "Identity Mappings in
Deep Residual Networks"): BN -> ReLU before each conv, a clean identity path,
and a final BN -> ReLU before global pooling.

Laid out as the authors' Torch code (fb.resnet.torch `preresnet.lua`, which
their resnet-1k-layers release builds on): stem conv-BN-ReLU-maxpool, stride on
the 3x3, projection shortcuts (1x1 conv, no BN) fed by the block's shared
pre-activation, and no pre-activation in the very first block (the stem
already did it). Conv shapes equal ResNet v1's, so the parameters do too.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import conv1x1, conv3x3

# He et al. 2016 use the 50 / 101 / 152 / 200-layer ImageNet depths of He et
# al. 2015, Table 1: bottleneck blocks per stage.
RESNET_V2_LAYERS: dict[int, list[int]] = {
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3 (stride), BN-ReLU-conv1x1 (x4), plus
    the shortcut: identity, or a strided 1x1 conv of the pre-activated input.
    `preact=False` skips the first BN-ReLU (input already activated)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, preact: bool = True) -> None:
        super().__init__()
        out = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(inplanes) if preact else None
        self.conv1 = conv1x1(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = conv1x1(inplanes, out, stride) if stride != 1 or inplanes != out else None

    def forward(self, x: Tensor) -> Tensor:
        pre = x if self.bn1 is None else self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages of
    pre-activation bottlenecks, final BN-ReLU, global average pool, fc."""

    def __init__(self, layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._make_layer(64, layers[0], 1, first_preact=False)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.final_bn = nn.BatchNorm2d(self.inplanes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int, first_preact: bool = True) -> nn.Sequential:
        layers = [PreActBottleneck(self.inplanes, planes, stride, preact=first_preact)]
        self.inplanes = planes * PreActBottleneck.expansion
        layers += [PreActBottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.relu(self.final_bn(x))
        return self.fc(self.avgpool(x).flatten(1))


_COMMON: dict[str, Any] = dict(family="resnet_v2", year=2016, paper="Identity Mappings in Deep Residual Networks")
_SRC = "He et al. 2016 (same conv shapes as v1: He et al. 2015, Table 1)"
_V15 = "stride on the 3x3 as the authors' Torch code; Table 1 FLOPs count the Caffe v1 (stride on the 1x1)"


@register_model(**_COMMON, published=Published(source=_SRC, params=25.6e6, madds=3.8e9, rtol_madds=0.08, note=_V15))
def resnet_v2_50(**kwargs) -> PreActResNet:
    return PreActResNet(RESNET_V2_LAYERS[50], **kwargs)


@register_model(**_COMMON, published=Published(source=_SRC, params=44.5e6, madds=7.6e9, rtol_madds=0.04, note=_V15))
def resnet_v2_101(**kwargs) -> PreActResNet:
    return PreActResNet(RESNET_V2_LAYERS[101], **kwargs)


@register_model(**_COMMON, published=Published(source=_SRC, params=60.2e6, madds=11.3e9, rtol_madds=0.03, note=_V15))
def resnet_v2_152(**kwargs) -> PreActResNet:
    return PreActResNet(RESNET_V2_LAYERS[152], **kwargs)
