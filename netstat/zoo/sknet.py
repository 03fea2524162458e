"""SKNet (Li et al. 2019, "Selective Kernel Networks"): ResNeXt-50 (32x4d)
whose grouped 3x3 convs become SK convolutions SK[M=2, G=32, r=16], L=32.

An SK conv splits into M paths (3x3 grouped convs with dilation 1 and 2, the
second standing in for a 5x5; each with BN-ReLU), fuses them by summation,
global pooling and fc (C -> d = max(C / r, L), BN, ReLU), and selects with a
per-channel softmax over the paths (fc d -> M*C). Layout as the authors'
Caffe `sknet50.prototxt`: stride on the 3x3s, no bias in the fcs.
"""

from __future__ import annotations

from torch import Tensor, nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import RESNET_LAYERS, Bottleneck, ResNet

# Li et al. 2019, Table 1 (SKNet-50 column): ResNeXt-50 32x4d stages with
# SK[M=2, G=32, r=16]; L = 32 (Sec. 3.1).
SK_PATHS = 2
SK_GROUPS = 32
SK_REDUCTION = 16
SK_MIN_DIM = 32


class SKConv(nn.Module):
    """Selective kernel convolution: split, fuse, select."""

    def __init__(
        self,
        channels: int,
        stride: int = 1,
        groups: int = SK_GROUPS,
        paths: int = SK_PATHS,
        reduction: int = SK_REDUCTION,
        min_dim: int = SK_MIN_DIM,
    ) -> None:
        super().__init__()
        d = max(channels // reduction, min_dim)
        self.paths = nn.ModuleList(
            ConvBNAct(channels, channels, 3, stride, groups=groups, dilation=i + 1) for i in range(paths)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fuse = ConvBNAct(channels, d, 1)
        self.select = nn.Conv2d(d, channels * paths, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        feats = [path(x) for path in self.paths]
        u = feats[0]
        for f in feats[1:]:
            u = u + f
        a = self.select(self.fuse(self.pool(u)))
        a = a.view(a.shape[0], len(feats), -1, 1, 1).softmax(dim=1)
        out = feats[0] * a[:, 0]
        for i, f in enumerate(feats[1:], start=1):
            out = out + f * a[:, i]
        return out


class SKBottleneck(Bottleneck):
    """ResNeXt bottleneck whose grouped 3x3 (`conv2`) is an SK conv; the SK
    conv carries its own BN-ReLU per path, so there is no `bn2`."""

    def __init__(self, inplanes: int, planes: int, *args, **kwargs) -> None:
        super().__init__(inplanes, planes, *args, **kwargs)
        del self.bn2
        self.conv2 = SKConv(self.conv1.out_channels, self.stride, groups=self.conv2.groups)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.conv2(out)))
        return self.relu(out + identity)


@register_model(
    family="sknet",
    year=2019,
    paper="Selective Kernel Networks",
    published=Published(source="Li et al. 2019, Table 2 (SKNet-50)", params=27.5e6, madds=4.47e9),
)
def sknet50(**kwargs) -> ResNet:
    return ResNet(SKBottleneck, RESNET_LAYERS[50][1], groups=SK_GROUPS, width_per_group=4, **kwargs)
