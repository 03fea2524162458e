"""FractalNet (Larsson, Maire & Shakhnarovich 2016, "FractalNet: Ultra-Deep
Neural Networks without Residuals"), the CIFAR network.

A fractal block with C columns follows the expansion rule
f_1(z) = conv(z), f_{C+1}(z) = [f_C o f_C](z) (+) conv(z), where (+) is a join:
the element-wise mean of every column that meets there (the join that closes a
C-column block has C inputs). Each conv is 3x3 conv -> BN -> ReLU. Blocks are
followed by 2x2 max pooling; after five blocks a 32x32 input is 1x1 and a
linear layer classifies. In eval mode all columns are joined (no drop-path).
"""

from __future__ import annotations

import torch
from torch import nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model

# Larsson et al. 2016, Section 4 ("Training"): for CIFAR, B = 5 blocks, each
# followed by 2x2 max pooling, with 64, 128, 256, 512, 512 filters; C = 3
# columns gives the 20-layer network of Table 1 (depth B * 2^(C-1)). The
# authors' generator (gustavla/fractalnet, generation/fractalnet.py) uses the
# same COLUMNS = 3, FILTERS = [64, 128, 256, 512, 512].
FRACTALNET_CIFAR_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)


def fractal_join(paths: list[torch.Tensor]) -> torch.Tensor:
    """The join layer: element-wise mean of its inputs."""
    return paths[0] if len(paths) == 1 else torch.stack(paths).mean(0)


class FractalBlock(nn.Module):
    """f_C: a 3x3 conv-BN-ReLU (`conv`, the shallowest column) next to two
    f_{C-1} in sequence (`first`, `second`), joined by their mean."""

    def __init__(self, columns: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.columns = columns
        self.conv = ConvBNAct(in_channels, out_channels, 3)
        if columns > 1:
            self.first = FractalBlock(columns - 1, in_channels, out_channels)
            self.second = FractalBlock(columns - 1, out_channels, out_channels)

    def paths(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of every column, before the join that closes the block."""
        outs = [self.conv(x)]
        if self.columns > 1:
            outs = self.second.paths(fractal_join(self.first.paths(x))) + outs
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fractal_join(self.paths(x))


class FractalNet(nn.Module):
    """B fractal blocks, each followed by 2x2 max pooling, then a linear layer."""

    def __init__(
        self,
        columns: int = 3,
        channels: tuple[int, ...] = FRACTALNET_CIFAR_CHANNELS,
        num_classes: int = 10,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for out_ch in channels:
            layers += [FractalBlock(columns, in_ch, out_ch), nn.MaxPool2d(2)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        side = input_size // 2 ** len(channels)
        self.classifier = nn.Linear(in_ch * side * side, num_classes)
        self.depth = len(channels) * 2 ** (columns - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model(
    family="fractalnet",
    year=2016,
    paper="FractalNet: Ultra-Deep Neural Networks without Residuals",
    input_shape=(1, 3, 32, 32),
    published=Published(
        source="Larsson et al. 2016, Table 1 (FractalNet, 20 layers, 38.6M params)",
        params=38.6e6,
        rtol_params=0.15,
        note="the described C=3, B=5, 64-512 net (and the authors' generator) has 33.7 M; 38.6 M is not reproducible",
    ),
)
def fractalnet(**kwargs) -> FractalNet:
    return FractalNet(**{"columns": 3, "channels": FRACTALNET_CIFAR_CHANNELS, **kwargs})
