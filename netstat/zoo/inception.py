"""Inception v3 and Inception v4.

- Inception v3, from "Rethinking the Inception Architecture for Computer
  Vision" (Szegedy et al., 2015): layer for layer torchvision's
  `inception_v3` (module names included). Its auxiliary classifier runs only
  in training; `aux_logits=True` builds it (torchvision's default), adding
  3.3M parameters but no inference MAdds.
- Inception v4, from "Inception-v4, Inception-ResNet and the Impact of
  Residual Connections on Learning" (Szegedy et al., 2016): the pure
  Inception network of Figs. 3-9 (stem, 4 x Inception-A, Reduction-A,
  7 x Inception-B, Reduction-B, 3 x Inception-C), every conv followed by BN
  and ReLU.

Both take 299 x 299 inputs.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model
from netstat.zoo.googlenet import BasicConv2d

# ----------------------------------------------------------------------------
# Inception v3 (torchvision layout)
# ----------------------------------------------------------------------------

InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])

# Szegedy et al. 2015, Table 1 (and torchvision): the Mixed blocks in order,
# as (name, block kind, in_channels, block argument).
_V3_MIXED = (
    ("Mixed_5b", "A", 192, 32),  # pool_features
    ("Mixed_5c", "A", 256, 64),
    ("Mixed_5d", "A", 288, 64),
    ("Mixed_6a", "B", 288, None),
    ("Mixed_6b", "C", 768, 128),  # channels_7x7
    ("Mixed_6c", "C", 768, 160),
    ("Mixed_6d", "C", 768, 160),
    ("Mixed_6e", "C", 768, 192),
    ("Mixed_7a", "D", 768, None),
    ("Mixed_7b", "E", 1280, None),
    ("Mixed_7c", "E", 2048, None),
)


class InceptionA(nn.Module):
    """35x35 module (Fig. 5): 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 module with factorised 7x7 convolutions (Fig. 6)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 module with expanded filter banks (Fig. 7)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionAux(nn.Module):
    """Training-only auxiliary classifier on the 17x17 grid."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


_V3_BLOCKS = {"A": InceptionA, "B": InceptionB, "C": InceptionC, "D": InceptionD, "E": InceptionE}


class Inception3(nn.Module):
    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, dropout: float = 0.5) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        for name, kind, cin, arg in _V3_MIXED:
            block = _V3_BLOCKS[kind]
            self.add_module(name, block(cin) if arg is None else block(cin, arg))
            if name == "Mixed_6e":
                # torchvision registers AuxLogits between Mixed_6e and Mixed_7a.
                self.AuxLogits: InceptionAux | None = InceptionAux(768, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor):
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2"):
            x = getattr(self, name)(x)
        aux = None
        for name, *_ in _V3_MIXED:
            x = getattr(self, name)(x)
            if name == "Mixed_6e" and self.AuxLogits is not None and self.training:
                aux = self.AuxLogits(x)
        x = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))
        if self.training and self.aux_logits:
            return InceptionOutputs(x, aux)
        return x


# ----------------------------------------------------------------------------
# Inception v4
# ----------------------------------------------------------------------------


def _cbr(cin: int, cout: int, k: int | tuple[int, int] = 1, s: int = 1, valid: bool = False) -> ConvBNAct:
    """Conv-BN-ReLU; "same" padding unless `valid` (the paper's "V" convs)."""
    return ConvBNAct(cin, cout, k, s, padding=0 if valid else None)


class _Branches(nn.Module):
    """Run parallel branches on one input and concatenate them."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class _Split(nn.Module):
    """A 1x1 conv (or any stem) whose output feeds a 1x3 and a 3x1 conv side by side (Fig. 6)."""

    def __init__(self, stem: nn.Module, cin: int, cout: int) -> None:
        super().__init__()
        self.stem = stem
        self.conv_1x3 = _cbr(cin, cout, (1, 3))
        self.conv_3x1 = _cbr(cin, cout, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return torch.cat([self.conv_1x3(x), self.conv_3x1(x)], 1)


def _avg_proj(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), _cbr(cin, cout))


def _inception_a(cin: int = 384) -> _Branches:  # Fig. 4
    return _Branches(
        _avg_proj(cin, 96),
        _cbr(cin, 96),
        nn.Sequential(_cbr(cin, 64), _cbr(64, 96, 3)),
        nn.Sequential(_cbr(cin, 64), _cbr(64, 96, 3), _cbr(96, 96, 3)),
    )


def _reduction_a(cin: int = 384, k: int = 192, l: int = 224, m: int = 256, n: int = 384) -> _Branches:  # Fig. 7, Table 1
    return _Branches(
        nn.MaxPool2d(3, stride=2),
        _cbr(cin, n, 3, 2, valid=True),
        nn.Sequential(_cbr(cin, k), _cbr(k, l, 3), _cbr(l, m, 3, 2, valid=True)),
    )


def _inception_b(cin: int = 1024) -> _Branches:  # Fig. 5
    return _Branches(
        _avg_proj(cin, 128),
        _cbr(cin, 384),
        nn.Sequential(_cbr(cin, 192), _cbr(192, 224, (1, 7)), _cbr(224, 256, (7, 1))),
        nn.Sequential(
            _cbr(cin, 192), _cbr(192, 192, (1, 7)), _cbr(192, 224, (7, 1)), _cbr(224, 224, (1, 7)), _cbr(224, 256, (7, 1))
        ),
    )


def _reduction_b(cin: int = 1024) -> _Branches:  # Fig. 8
    return _Branches(
        nn.MaxPool2d(3, stride=2),
        nn.Sequential(_cbr(cin, 192), _cbr(192, 192, 3, 2, valid=True)),
        nn.Sequential(_cbr(cin, 256), _cbr(256, 256, (1, 7)), _cbr(256, 320, (7, 1)), _cbr(320, 320, 3, 2, valid=True)),
    )


def _inception_c(cin: int = 1536) -> _Branches:  # Fig. 6
    return _Branches(
        _avg_proj(cin, 256),
        _cbr(cin, 256),
        _Split(_cbr(cin, 384), 384, 256),
        _Split(nn.Sequential(_cbr(cin, 384), _cbr(384, 448, (1, 3)), _cbr(448, 512, (3, 1))), 512, 256),
    )


def _stem() -> nn.Sequential:  # Fig. 3: 299x299x3 -> 35x35x384
    return nn.Sequential(
        _cbr(3, 32, 3, 2, valid=True),
        _cbr(32, 32, 3, valid=True),
        _cbr(32, 64, 3),
        _Branches(nn.MaxPool2d(3, stride=2), _cbr(64, 96, 3, 2, valid=True)),
        _Branches(
            nn.Sequential(_cbr(160, 64), _cbr(64, 96, 3, valid=True)),
            nn.Sequential(_cbr(160, 64), _cbr(64, 64, (7, 1)), _cbr(64, 64, (1, 7)), _cbr(64, 96, 3, valid=True)),
        ),
        _Branches(_cbr(192, 192, 3, 2, valid=True), nn.MaxPool2d(3, stride=2)),
    )


# Szegedy et al. 2016, Fig. 9: (block, repeats).
_V4_LAYOUT = ((_inception_a, 4), (_reduction_a, 1), (_inception_b, 7), (_reduction_b, 1), (_inception_c, 3))


class InceptionV4(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_stem()]
        for block, repeats in _V4_LAYOUT:
            layers += [block() for _ in range(repeats)]
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)  # the paper's "keep 0.8"
        self.fc = nn.Linear(1536, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.fc(self.dropout(x))


def _inception_v3(**kwargs: Any) -> Inception3:
    return Inception3(**kwargs)


def _inception_v4(**kwargs: Any) -> InceptionV4:
    return InceptionV4(**kwargs)


@register_model(
    family="inception",
    year=2015,
    paper="Rethinking the Inception Architecture for Computer Vision",
    input_shape=(1, 3, 299, 299),
    published=Published(
        source="torchvision Inception_V3_Weights (27.16M with aux head, 5.71 GMACs); "
        "Szegedy et al. 2015, abstract (<25M params, ~5G MAdds) and Table 3 (21.2% top-1 err)",
        params=23.8e6,
        madds=5.7e9,
        top1=78.8,
    ),
    torchvision="inception_v3",
    torchvision_kwargs={"aux_logits": False, "init_weights": False},
    aliases=("inception",),
    note="Built without the training-only auxiliary head by default (23.8M); aux_logits=True adds it (27.2M).",
)
def inception_v3(**kwargs: Any) -> Inception3:
    return _inception_v3(**kwargs)


@register_model(
    family="inception",
    year=2016,
    paper="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    input_shape=(1, 3, 299, 299),
    published=Published(
        source="timm inception_v4 model card (42.7M params, 12.3 GMACs at 299); Szegedy et al. 2016, Table 2 (20.0% top-1 err)",
        params=42.7e6,
        madds=12.3e9,
        top1=80.0,
    ),
    note="The paper gives no parameter or MAdd counts; they come from timm's port of the TF-slim model.",
)
def inception_v4(**kwargs: Any) -> InceptionV4:
    return _inception_v4(**kwargs)
