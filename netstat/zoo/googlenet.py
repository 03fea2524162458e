"""GoogLeNet (Inception v1), from "Going Deeper with Convolutions"
(Szegedy et al., 2014).

Layer for layer torchvision's `googlenet`: every convolution is a
`BasicConv2d` (conv without bias, BatchNorm with eps 1e-3, ReLU), which the
2014 network did not have (BN came in 2015), and the "5x5" branch of each
Inception module is a 3x3 convolution, a long-standing quirk of the port of
the original weights. The two auxiliary classifiers run only in training;
they are built when `aux_logits=True` (as torchvision's default) and then add
parameters but no inference MAdds.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netstat.zoo._registry import Published, register_model

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# Szegedy et al. 2014, Table 1: name -> (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
# None marks the max pools between the stages (3x3 s2, and 2x2 s2 before 5a as torchvision).
_INCEPTIONS: tuple[tuple[str, tuple[int, ...]] | None, ...] = (
    ("inception3a", (192, 64, 96, 128, 16, 32, 32)),
    ("inception3b", (256, 128, 128, 192, 32, 96, 64)),
    None,
    ("inception4a", (480, 192, 96, 208, 16, 48, 64)),
    ("inception4b", (512, 160, 112, 224, 24, 64, 64)),
    ("inception4c", (512, 128, 128, 256, 24, 64, 64)),
    ("inception4d", (512, 112, 144, 288, 32, 64, 64)),
    ("inception4e", (528, 256, 160, 320, 32, 128, 128)),
    None,
    ("inception5a", (832, 256, 160, 320, 32, 128, 128)),
    ("inception5b", (832, 384, 192, 384, 48, 128, 128)),
)


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=1e-3) -> ReLU with torchvision's
    submodule names `conv` / `bn` (GoogLeNet, Inception v3)."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, in_ch: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_ch, ch3x3red, kernel_size=1), BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1)
        )
        # torchvision's "5x5" branch is a 3x3 convolution.
        self.branch3 = nn.Sequential(
            BasicConv2d(in_ch, ch5x5red, kernel_size=1), BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True), BasicConv2d(in_ch, pool_proj, kernel_size=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv to 128, fc 1024, fc."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, dropout: float = 0.2, dropout_aux: float = 0.7) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        pools = iter((nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.MaxPool2d(2, stride=2, ceil_mode=True)))
        pool_names = iter(("maxpool3", "maxpool4"))
        for entry in _INCEPTIONS:
            if entry is None:
                self.add_module(next(pool_names), next(pools))
            else:
                self.add_module(entry[0], Inception(*entry[1]))
        if aux_logits:
            self.aux1: InceptionAux | None = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2: InceptionAux | None = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def _googlenet(**kwargs: Any) -> GoogLeNet:
    return GoogLeNet(**kwargs)


@register_model(
    family="googlenet",
    year=2014,
    paper="Going Deeper with Convolutions",
    published=Published(
        source="Szegedy et al. 2014, Table 1 (6.8M params summed) and Sec. 5 (1.5G multiply-adds)",
        params=6.8e6,
        madds=1.5e9,
        rtol_params=0.03,
        note="torchvision's '5x5' branch is 3x3: 6.62M params vs Table 1's 6.80M (true 5x5).",
    ),
    torchvision="googlenet",
    torchvision_kwargs={"aux_logits": False, "init_weights": False},
    note="torchvision layout: BN after every conv and 3x3 (not 5x5) convs in the '5x5' branch; "
    "aux_logits=True builds the two training-only auxiliary heads (~13.0M params in all).",
)
def googlenet(**kwargs: Any) -> GoogLeNet:
    return _googlenet(**kwargs)
