"""Network in Network, from "Network In Network" (Lin, Chen & Yan, 2013).

Every spatial convolution is followed by two 1x1 convolutions ("mlpconv":
a small MLP slid over the image, "cccp" layers in the authors' Caffe files),
and the classifier is global average pooling over a last mlpconv that emits
one map per class, instead of fully-connected layers. The paper reports
CIFAR / SVHN / MNIST only; the ImageNet model is the authors' 4-mlpconv
network released on the Caffe Model Zoo ("NIN-Imagenet", 224 crop), which
this file reproduces.
"""

from __future__ import annotations

import torch
from torch import nn

from netstat.zoo._registry import Published, register_model

# Lin et al., NIN-Imagenet train_val.prototxt (Caffe Model Zoo):
# (spatial conv out, kernel, stride, padding, 1x1 widths, max pool after)
_MLPCONV = (
    (96, 11, 4, 0, (96, 96), True),  # 224 -> 54, pool -> 27
    (256, 5, 1, 2, (256, 256), True),  # 27, pool -> 13
    (384, 3, 1, 1, (384, 384), True),  # 13, pool -> 6
    (1024, 3, 1, 1, (1024, None), False),  # 6; last 1x1 emits num_classes maps
)


class NiN(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for i, (out, k, s, p, widths, pool) in enumerate(_MLPCONV):
            if i == len(_MLPCONV) - 1:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Conv2d(c, out, k, s, p), nn.ReLU(inplace=True)]
            c = out
            for w in widths:
                w = num_classes if w is None else w
                layers += [nn.Conv2d(c, w, 1), nn.ReLU(inplace=True)]
                c = w
            if pool:
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


def _nin(**kwargs) -> NiN:
    return NiN(**kwargs)


@register_model(
    family="nin",
    year=2013,
    paper="Network In Network",
    published=Published(
        source="Lin et al. 2013; NIN-Imagenet Caffe Model Zoo entry (29 MB fp32 snapshot ~ 7.6M params, 59.36% top-1)",
        params=7.6e6,
        top1=59.36,
    ),
    note="ImageNet NiN of the authors' Caffe Model Zoo release (the paper itself has no ImageNet model); "
    "no published MAdds.",
)
def nin(**kwargs) -> NiN:
    return _nin(**kwargs)
