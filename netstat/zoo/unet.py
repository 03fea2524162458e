"""U-Net (Ronneberger, Fischer & Brox 2015, "U-Net: Convolutional Networks
for Biomedical Image Segmentation").

`unet` is the paper's net: a contracting path of double 3x3 *valid* convs
(ReLU, no batch norm) and 2x2 max pools, doubling the width from 64 to 1024;
dropout at the end of the contracting path; an expansive path of 2x2 "up-
convolutions" (transposed convs, stride 2) that halve the width, each followed
by concatenation with the centre-cropped features of the same level and a
double 3x3 valid conv; a 1x1 conv to the classes. A 572x572 tile gives a
388x388 map (2 classes, one input channel).

`unet_padded` pads the 3x3 convs by 1, so the output has the input's size and
the crops are no-ops (inputs divisible by 16).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model
from netstat.zoo.fcn import center_crop

# Ronneberger et al. 2015, Figure 1: widths of the five levels of the
# contracting path (the expansive path mirrors them).
UNET_WIDTHS = (64, 128, 256, 512, 1024)
UNET_DROPOUT = 0.5  # "Drop-out layers at the end of the contracting path" (Section 3.1)


class DoubleConv(nn.Sequential):
    """Two 3x3 convs (padding 0 in the paper), each followed by ReLU."""

    def __init__(self, in_channels: int, out_channels: int, padding: int = 0) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=padding),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """`down1` ... `down5` (DoubleConvs of the contracting path, a 2x2 max
    pool before each but the first), `dropout`, `up1` ... `up4` (2x2 up-
    convolutions) each followed by crop-and-concatenate and `dec1` ... `dec4`
    (DoubleConvs of the expansive path), `head` (1x1 conv to classes)."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        padding: int = 0,
        widths: tuple[int, ...] = UNET_WIDTHS,
    ) -> None:
        super().__init__()
        self.levels = len(widths)
        for i, width in enumerate(widths, 1):
            if i > 1:
                self.add_module(f"pool{i - 1}", nn.MaxPool2d(2, 2))
            self.add_module(f"down{i}", DoubleConv(in_channels, width, padding))
            in_channels = width
        self.dropout = nn.Dropout(UNET_DROPOUT)
        for i, width in enumerate(reversed(widths[:-1]), 1):
            self.add_module(f"up{i}", nn.ConvTranspose2d(in_channels, width, kernel_size=2, stride=2))
            self.add_module(f"dec{i}", DoubleConv(2 * width, width, padding))
            in_channels = width
        self.head = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips: list[Tensor] = []
        for i in range(1, self.levels + 1):
            if i > 1:
                x = getattr(self, f"pool{i - 1}")(x)
            x = getattr(self, f"down{i}")(x)
            skips.append(x)
        x = self.dropout(skips.pop())
        for i in range(1, self.levels):
            x = getattr(self, f"up{i}")(x)
            x = getattr(self, f"dec{i}")(torch.cat([center_crop(skips.pop(), x.shape[-2:]), x], dim=1))
        return self.head(x)


_COMMON: dict[str, Any] = dict(
    family="unet",
    task="segmentation",
    year=2015,
    paper="U-Net: Convolutional Networks for Biomedical Image Segmentation",
)
_SRC = "Ronneberger et al. 2015, Figure 1 (architecture); 31.0 M is the count of that figure (the paper prints none)"


@register_model(
    **_COMMON,
    input_shape=(1, 1, 572, 572),
    published=Published(source=_SRC, params=31.0e6),
    note="valid convs: 572x572 -> 388x388, 2 classes; the paper gives no MAdds: own count 150.4 G at 572 "
    "(the often-quoted ~167 G counts each 2x2 stride-2 up-conv 4x, as older thop releases do: 144.8 + 4 x 5.63 G)",
)
def unet(in_channels: int = 1, num_classes: int = 2) -> UNet:
    return UNet(in_channels, num_classes, padding=0)


@register_model(
    **_COMMON,
    input_shape=(1, 1, 512, 512),
    published=Published(source=_SRC, params=31.0e6),
    note="3x3 convs padded by 1 (same-size output, crops are no-ops); inputs must be divisible by 16",
)
def unet_padded(in_channels: int = 1, num_classes: int = 2) -> UNet:
    return UNet(in_channels, num_classes, padding=1)
