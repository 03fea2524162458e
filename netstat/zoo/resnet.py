"""ResNet (He et al. 2015, "Deep Residual Learning for Image Recognition"),
ResNeXt (Xie et al. 2016, "Aggregated Residual Transformations for Deep
Neural Networks") and Wide ResNet (Zagoruyko & Komodakis 2016, "Wide
Residual Networks"), laid out as torchvision's `resnet.py`.

torchvision's ResNets are "v1.5": a bottleneck's stride sits on its 3x3 conv,
not on the first 1x1 as in the paper's Caffe models, which costs more MAdds
(ResNet-50: 4.09 G vs 3.86 G) for the same parameters. `Bottleneck` takes the
placement from its class attribute `stride_in_1x1`; subclasses (SE-ResNet)
flip it and add an attention module through the `attend` hook.

`ResNet`, `BasicBlock` and `Bottleneck` are public: DeepLab / FCN reuse them
with `replace_stride_with_dilation=[False, True, True]`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 conv, "same" padding, no bias."""
    return nn.Conv2d(in_planes, out_planes, 3, stride, padding=dilation, groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 conv, no bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18 / 34)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("dilation > 1 is not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand (x4).

    Width is `planes * base_width / 64 * groups`. The stride goes on the 3x3
    ("v1.5", torchvision) unless the class sets `stride_in_1x1 = True` (the
    Caffe ResNet of the paper). `attend` is applied to the residual branch
    before the addition; identity here, SE / CBAM in subclasses.
    """

    expansion = 4
    stride_in_1x1 = False

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if self.stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, width, s1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, s3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def attend(self, out: Tensor) -> Tensor:
        return out

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attend(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages of `block`
    (64, 128, 256, 512 planes; stride 1, 2, 2, 2), global average pool, fc.

    `replace_stride_with_dilation[i]` turns stage i+2's stride into dilation
    (output stride 8 with [False, True, True]), as torchvision's.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        norm_layer: Callable[..., nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes = 64
        self.dilation = 1
        replace_stride_with_dilation = list(replace_stride_with_dilation or [False, False, False])
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(f"replace_stride_with_dilation needs 3 entries, got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        norm_layer = self._norm_layer
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride), norm_layer(planes * block.expansion)
            )
        layers = [
            block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation, norm_layer)
        ]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(
                block(
                    self.inplanes,
                    planes,
                    groups=self.groups,
                    base_width=self.base_width,
                    dilation=self.dilation,
                    norm_layer=norm_layer,
                )
            )
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


# He et al. 2015, Table 1: blocks per stage.
RESNET_LAYERS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


class BottleneckV1(Bottleneck):
    """The paper's (Caffe) bottleneck: the stride on the first 1x1 conv."""

    stride_in_1x1 = True


def _resnet(depth: int, stride_in_1x1: bool = False, **kwargs) -> ResNet:
    """`stride_in_1x1=True` builds the original ResNet v1 (He et al. 2015's
    Caffe models; bottleneck depths only) instead of torchvision's v1.5."""
    block, layers = RESNET_LAYERS[depth]
    if stride_in_1x1 and block is Bottleneck:
        block = BottleneckV1
    return ResNet(block, layers, **kwargs)


_RESNET: dict[str, Any] = dict(family="resnet", year=2015, paper="Deep Residual Learning for Image Recognition")
_T1 = "He et al. 2015, Table 1"
_V15 = "torchvision is ResNet v1.5 (stride on the 3x3, not the first 1x1): more MAdds than the paper's Caffe net"


@register_model(**_RESNET, torchvision="resnet18", published=Published(source=_T1, params=11.7e6, madds=1.8e9))
def resnet18(**kwargs) -> ResNet:
    return _resnet(18, **kwargs)


@register_model(**_RESNET, torchvision="resnet34", published=Published(source=_T1, params=21.8e6, madds=3.6e9))
def resnet34(**kwargs) -> ResNet:
    return _resnet(34, **kwargs)


@register_model(
    **_RESNET,
    torchvision="resnet50",
    aliases=("resnet",),
    published=Published(source=_T1, params=25.6e6, madds=3.8e9, rtol_madds=0.08, note=_V15 + " (4.09 G vs 3.8 G)"),
)
def resnet50(**kwargs) -> ResNet:
    return _resnet(50, **kwargs)


@register_model(
    **_RESNET,
    torchvision="resnet101",
    published=Published(source=_T1, params=44.5e6, madds=7.6e9, rtol_madds=0.04, note=_V15 + " (7.80 G vs 7.6 G)"),
)
def resnet101(**kwargs) -> ResNet:
    return _resnet(101, **kwargs)


@register_model(
    **_RESNET,
    torchvision="resnet152",
    published=Published(source=_T1, params=60.2e6, madds=11.3e9, rtol_madds=0.03, note=_V15 + " (11.51 G vs 11.3 G)"),
)
def resnet152(**kwargs) -> ResNet:
    return _resnet(152, **kwargs)


_RESNEXT: dict[str, Any] = dict(family="resnext", year=2016, paper="Aggregated Residual Transformations for Deep Neural Networks")


@register_model(
    **_RESNEXT,
    torchvision="resnext50_32x4d",
    aliases=("resnext",),
    published=Published(source="Xie et al. 2016, Table 1", params=25.0e6, madds=4.2e9),
)
def resnext50_32x4d(**kwargs) -> ResNet:
    return _resnet(50, groups=32, width_per_group=4, **kwargs)


@register_model(
    **_RESNEXT,
    torchvision="resnext101_32x8d",
    published=Published(
        source="Mahajan et al. 2018 (ResNeXt-101 32x8d: 88 M params, 16 B mult-adds)",
        params=88e6,
        madds=16e9,
        rtol_madds=0.03,
        note="the paper rounds to 16 B (own count 16.41 G)",
    ),
)
def resnext101_32x8d(**kwargs) -> ResNet:
    return _resnet(101, groups=32, width_per_group=8, **kwargs)


_WRN: dict[str, Any] = dict(family="wide_resnet", year=2016, paper="Wide Residual Networks")


@register_model(
    **_WRN,
    torchvision="wide_resnet50_2",
    aliases=("wide_resnet",),
    published=Published(
        source="Zagoruyko & Komodakis 2016, ImageNet table (params, WRN-50-2-bottleneck); torchvision docs (MAdds)",
        params=68.9e6,
        madds=11.4e9,
    ),
)
def wide_resnet50_2(**kwargs) -> ResNet:
    return _resnet(50, width_per_group=128, **kwargs)


@register_model(
    **_WRN,
    torchvision="wide_resnet101_2",
    published=Published(source="torchvision docs (wide_resnet101_2; not in the paper)", params=126.9e6, madds=22.75e9),
)
def wide_resnet101_2(**kwargs) -> ResNet:
    return _resnet(101, width_per_group=128, **kwargs)
