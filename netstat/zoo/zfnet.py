"""ZFNet, from "Visualizing and Understanding Convolutional Networks"
(Zeiler & Fergus, 2013, ECCV 2014).

An AlexNet-like single-tower network whose first layer is 7x7 stride 2
(instead of 11x11 stride 4) and whose second layer is strided, after the
paper's visualisations showed aliasing and dead filters in AlexNet's first
layers. Layer 1 and 2 are followed by max pooling and a local contrast
normalisation across feature maps (here `LocalResponseNorm`, no parameters).
Paddings are chosen so that the feature maps have the paper's sizes
(110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6).
"""

from __future__ import annotations

import torch
from torch import nn

from netstat.zoo._registry import Published, register_model

# Zeiler & Fergus 2013, Fig. 3: (out_channels, kernel, stride, padding, pool after, norm after)
_FEATURES = (
    (96, 7, 2, 1, True, True),  # 224 -> 110, pool -> 55
    (256, 5, 2, 0, True, True),  # 55 -> 26, pool -> 13
    (384, 3, 1, 1, False, False),
    (384, 3, 1, 1, False, False),
    (256, 3, 1, 1, True, False),  # 13, pool -> 6
)
_FC = (4096, 4096)


class ZFNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for out, k, s, p, pool, norm in _FEATURES:
            layers += [nn.Conv2d(c, out, k, s, p), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            if norm:
                layers.append(nn.LocalResponseNorm(5))
            c = out
        self.features = nn.Sequential(*layers)
        fc: list[nn.Module] = []
        n = c * 6 * 6
        for width in _FC:
            fc += [nn.Dropout(dropout), nn.Linear(n, width), nn.ReLU(inplace=True)]
            n = width
        fc.append(nn.Linear(n, num_classes))
        self.classifier = nn.Sequential(*fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def _zfnet(**kwargs) -> ZFNet:
    return ZFNet(**kwargs)


@register_model(
    family="zfnet",
    year=2013,
    paper="Visualizing and Understanding Convolutional Networks",
    published=Published(
        source="Zeiler & Fergus 2013, Fig. 3 (layer sizes, 62.36M params summed) and Table 2 (1 convnet: 38.4% top-1 err)",
        params=62.36e6,
        top1=61.6,
    ),
    note="Single-tower model of Fig. 3; the paper publishes no MAdds.",
)
def zfnet(**kwargs) -> ZFNet:
    return _zfnet(**kwargs)
