"""SqueezeNet, from "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters and <0.5MB model size" (Iandola et al., 2016).

Layer for layer torchvision's `squeezenet1_0` / `squeezenet1_1` (module
names and `features.N` indices included). A Fire module squeezes with 1x1
convs, then expands with parallel 1x1 and 3x3 convs whose outputs are
concatenated; the classifier is a 1x1 conv to the classes and global average
pooling. v1.0 is the paper's Table 1 network; v1.1 (from the authors'
repository) starts with a 3x3 / 64 conv and pools earlier, for 2.4x less
computation at the same accuracy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netstat.zoo._registry import Published, register_model

# Iandola et al. 2016, Table 1 (v1.0) and the SqueezeNet v1.1 README: after the
# first conv, "M" is a 3x3 stride-2 ceil-mode max pool and a tuple is a Fire
# module (in_channels, squeeze, expand1x1, expand3x3).
_CONFIGS: dict[str, tuple[tuple[int, int, int], tuple[Any, ...]]] = {
    # first conv: (out_channels, kernel, stride)
    "1_0": (
        (96, 7, 2),
        ("M", (96, 16, 64, 64), (128, 16, 64, 64), (128, 32, 128, 128), "M",
         (256, 32, 128, 128), (256, 48, 192, 192), (384, 48, 192, 192), (384, 64, 256, 256), "M",
         (512, 64, 256, 256)),
    ),
    "1_1": (
        (64, 3, 2),
        ("M", (64, 16, 64, 64), (128, 16, 64, 64), "M", (128, 32, 128, 128), (256, 32, 128, 128), "M",
         (256, 48, 192, 192), (384, 48, 192, 192), (384, 64, 256, 256), (512, 64, 256, 256)),
    ),
}


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


class SqueezeNet(nn.Module):
    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        (out, k, s), body = _CONFIGS[version]
        layers: list[nn.Module] = [nn.Conv2d(3, out, kernel_size=k, stride=s), nn.ReLU(inplace=True)]
        for item in body:
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True) if item == "M" else Fire(*item))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Conv2d(512, num_classes, kernel_size=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def _squeezenet(version: str, **kwargs: Any) -> SqueezeNet:
    return SqueezeNet(version, **kwargs)


_PAPER = "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size"


@register_model(
    family="squeezenet",
    year=2016,
    paper=_PAPER,
    published=Published(
        source="Iandola et al. 2016, Table 1 (1,248,424 params) and Table 2 (57.5% top-1); MAdds: torchvision (0.82 GMACs)",
        params=1.25e6,
        madds=0.82e9,
        top1=57.5,
    ),
    torchvision="squeezenet1_0",
    aliases=("squeezenet",),
)
def squeezenet1_0(**kwargs: Any) -> SqueezeNet:
    return _squeezenet("1_0", **kwargs)


@register_model(
    family="squeezenet",
    year=2016,
    paper=_PAPER,
    published=Published(
        source="SqueezeNet v1.1 README (authors' repo: 2.4x less computation than v1.0); torchvision (1.24M params, 0.35 GMACs)",
        params=1.24e6,
        madds=0.35e9,
    ),
    torchvision="squeezenet1_1",
    note="v1.1 is from the authors' repository, not the paper.",
)
def squeezenet1_1(**kwargs: Any) -> SqueezeNet:
    return _squeezenet("1_1", **kwargs)
