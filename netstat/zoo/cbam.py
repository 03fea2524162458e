"""CBAM-ResNet (Woo et al. 2018, "CBAM: Convolutional Block Attention
Module"): ResNet-50 with a channel gate (shared MLP, reduction 16, over
average- and max-pooled features) followed by a spatial gate (7x7 conv + BN
over channel-wise max and mean) on each bottleneck's residual branch, before
the addition.

Built as the authors' PyTorch code (Jongchan/attention-module), whose ResNet
is torchvision's "v1.5" (stride on the 3x3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import RESNET_LAYERS, Bottleneck, ResNet

# Woo et al. 2018, Sec. 3 / 4.1: reduction ratio r = 16, spatial kernel 7.
CBAM_REDUCTION = 16
CBAM_SPATIAL_KERNEL = 7


class ChannelGate(nn.Module):
    """sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))) * x, one shared MLP."""

    def __init__(self, channels: int, reduction: int = CBAM_REDUCTION) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, channels // reduction), nn.ReLU(inplace=True), nn.Linear(channels // reduction, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        att = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(att)[:, :, None, None]


class SpatialGate(nn.Module):
    """sigmoid(BN(conv7x7([max_c(x), mean_c(x)]))) * x."""

    def __init__(self, kernel_size: int = CBAM_SPATIAL_KERNEL) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


class CBAM(nn.Module):
    """Channel gate, then spatial gate."""

    def __init__(self, channels: int, reduction: int = CBAM_REDUCTION) -> None:
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction)
        self.spatial_gate = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial_gate(self.channel_gate(x))


class CBAMBottleneck(Bottleneck):
    """torchvision bottleneck with CBAM (`cbam`) on the residual branch."""

    def __init__(self, inplanes: int, planes: int, *args, **kwargs) -> None:
        super().__init__(inplanes, planes, *args, **kwargs)
        self.cbam = CBAM(planes * self.expansion)

    def attend(self, out: Tensor) -> Tensor:
        return self.cbam(out)


@register_model(
    family="cbam",
    year=2018,
    paper="CBAM: Convolutional Block Attention Module",
    published=Published(
        source="Woo et al. 2018, Table 4 (ResNet50 + CBAM)",
        params=28.09e6,
        madds=3.864e9,
        rtol_madds=0.07,
        note="authors' code strides on the 3x3 (v1.5, 4.10 G); the paper's GFLOPs count the stride on the first 1x1",
    ),
)
def cbam_resnet50(**kwargs) -> ResNet:
    return ResNet(CBAMBottleneck, RESNET_LAYERS[50][1], **kwargs)
