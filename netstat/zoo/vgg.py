"""VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for
Large-Scale Image Recognition"), configurations A, B, D, E, with and without
batch norm, laid out as torchvision's `vgg11` ... `vgg19_bn`.

`make_vgg_layers` and `VGG_CFGS` are public: FCN, SegNet, SSD and
DeepLab-LargeFOV reuse the VGG-16 encoder.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from netstat.zoo._registry import Published, register_model

# Simonyan & Zisserman 2014, Table 1: output channels of each 3x3 conv (pad 1,
# stride 1), "M" = 2x2 max pooling with stride 2.
VGG_CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],  # VGG-16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],  # VGG-19
}


def make_vgg_layers(cfg: list[int | str], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The conv trunk for a config of `VGG_CFGS` (indices match torchvision's
    `features`): conv3x3 [-> BN] -> ReLU per int, MaxPool2d(2, 2) per "M"."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        conv = nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1)
        layers += [conv, nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]
        in_channels = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """`features` (conv trunk), `avgpool` (adaptive to 7x7), `classifier`
    (FC-4096, FC-4096, FC-classes with dropout), as torchvision's."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(cfg: str, batch_norm: bool, **kwargs) -> VGG:
    return VGG(make_vgg_layers(VGG_CFGS[cfg], batch_norm=batch_norm), **kwargs)


_PAPER = "Very Deep Convolutional Networks for Large-Scale Image Recognition"
_COMMON: dict[str, Any] = dict(family="vgg", year=2014, paper=_PAPER)
# Params: Simonyan & Zisserman 2014, Table 2 (133 / 133 / 138 / 144 M). The
# paper gives no FLOPs; VGG-16 15.5 G and VGG-19 19.6 G are the commonly cited
# counts (He et al. 2015 quotes 19.6 G for VGG-19); VGG-11 / 13 use torchvision's
# published 7.61 / 11.31 GMACs, which equal our own count of the paper's net.
_SRC = "Simonyan & Zisserman 2014, Table 2 (params); He et al. 2015 / torchvision docs (MAdds)"
_PUB = {
    "A": Published(source=_SRC, params=133e6, madds=7.61e9),
    "B": Published(source=_SRC, params=133e6, madds=11.31e9),
    "D": Published(source=_SRC, params=138e6, madds=15.5e9),
    "E": Published(source=_SRC, params=144e6, madds=19.6e9),
}


@register_model(**_COMMON, published=_PUB["A"], torchvision="vgg11")
def vgg11(**kwargs) -> VGG:
    return _vgg("A", False, **kwargs)


@register_model(**_COMMON, published=_PUB["B"], torchvision="vgg13")
def vgg13(**kwargs) -> VGG:
    return _vgg("B", False, **kwargs)


@register_model(**_COMMON, published=_PUB["D"], torchvision="vgg16", aliases=("vgg",))
def vgg16(**kwargs) -> VGG:
    return _vgg("D", False, **kwargs)


@register_model(**_COMMON, published=_PUB["E"], torchvision="vgg19")
def vgg19(**kwargs) -> VGG:
    return _vgg("E", False, **kwargs)


@register_model(**_COMMON, published=_PUB["A"], torchvision="vgg11_bn")
def vgg11_bn(**kwargs) -> VGG:
    return _vgg("A", True, **kwargs)


@register_model(**_COMMON, published=_PUB["B"], torchvision="vgg13_bn")
def vgg13_bn(**kwargs) -> VGG:
    return _vgg("B", True, **kwargs)


@register_model(**_COMMON, published=_PUB["D"], torchvision="vgg16_bn")
def vgg16_bn(**kwargs) -> VGG:
    return _vgg("D", True, **kwargs)


@register_model(**_COMMON, published=_PUB["E"], torchvision="vgg19_bn")
def vgg19_bn(**kwargs) -> VGG:
    return _vgg("E", True, **kwargs)
