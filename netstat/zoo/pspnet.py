"""PSPNet (Zhao, Shi, Qi, Wang & Jia 2016, "Pyramid Scene Parsing Network").

A dilated ResNet-50 (layer3 / layer4 dilated: output stride 8) and the pyramid
pooling module: the final feature map is average-pooled adaptively to 1x1,
2x2, 3x3 and 6x6 bins, each level is reduced by a 1x1 conv to 1/N of the
channels (N = 4 levels), upsampled bilinearly to the feature size and
concatenated with the features; then a 3x3 conv of 512, dropout and a 1x1
classifier, upsampled x8 to the input.

The paper's deep-supervision head on layer3 (3x3 conv of 256, 1x1 to
classes) serves training only and is left out unless `aux_loss=True`. The
backbone is the netstat / torchvision ResNet-50 (7x7 stem, v1.5 bottlenecks),
not the paper's modified ResNet with a stem of three 3x3 convs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model
from netstat.zoo.fcn import dilated_resnet_backbone

# Zhao et al. 2016, Section 3.3 and Figure 3: bin sizes of the four pyramid
# levels, width of the 3x3 conv after the concatenation (the authors' Caffe
# net), width of the deep-supervision head (Section 3.4 / the released code).
PSP_BINS = (1, 2, 3, 6)
PSP_BOTTLENECK = 512
PSP_AUX_WIDTH = 256
PSP_DROPOUT = 0.1


class PyramidPooling(nn.Module):
    """For each bin size b: adaptive average pool to b x b, 1x1 conv (+BN,
    ReLU) to in/len(bins) channels, bilinear upsampling back; concatenated
    with the input (2 x in channels out)."""

    def __init__(self, in_channels: int, bins: Sequence[int] = PSP_BINS) -> None:
        super().__init__()
        reduced = in_channels // len(bins)
        self.stages = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvBNAct(in_channels, reduced, 1)) for b in bins)
        self.out_channels = in_channels + reduced * len(bins)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        levels = [x] + [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=True) for stage in self.stages]
        return torch.cat(levels, dim=1)


class PSPNet(nn.Module):
    """`backbone` (dilated ResNet-50), `ppm`, `classifier` (3x3 conv 512,
    dropout, 1x1 to classes) [, `aux_classifier` on layer3]; output upsampled
    bilinearly to the input. Returns the logits, or {"out", "aux"} when the
    auxiliary head is built."""

    def __init__(self, num_classes: int = 150, aux_loss: bool = False, bins: Sequence[int] = PSP_BINS) -> None:
        super().__init__()
        return_layers = {"layer4": "out"}
        if aux_loss:
            return_layers["layer3"] = "aux"
        self.backbone = dilated_resnet_backbone(50, return_layers)
        self.ppm = PyramidPooling(2048, bins)
        self.classifier = nn.Sequential(
            ConvBNAct(self.ppm.out_channels, PSP_BOTTLENECK, 3),
            nn.Dropout(PSP_DROPOUT),
            nn.Conv2d(PSP_BOTTLENECK, num_classes, 1),
        )
        self.aux_classifier = (
            nn.Sequential(ConvBNAct(1024, PSP_AUX_WIDTH, 3), nn.Dropout(PSP_DROPOUT), nn.Conv2d(PSP_AUX_WIDTH, num_classes, 1))
            if aux_loss
            else None
        )

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        out = self.classifier(self.ppm(features["out"]))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        if self.aux_classifier is None:
            return out
        aux = F.interpolate(self.aux_classifier(features["aux"]), size=size, mode="bilinear", align_corners=True)
        return OrderedDict([("out", out), ("aux", aux)])


@register_model(
    family="pspnet",
    task="segmentation",
    year=2016,
    paper="Pyramid Scene Parsing Network",
    input_shape=(1, 3, 473, 473),
    published=Published(
        source="Zhao et al. 2016 (no parameter or MAdds count published)",
        note="own count only (ADE20K, 150 classes, 473x473 crops as in the paper)",
    ),
    aliases=("pspnet",),
    note="torchvision-style ResNet-50 (7x7 stem, v1.5) instead of the paper's 3x3-stem ResNet; "
    "deep-supervision head left out (aux_loss=True adds it)",
)
def pspnet_resnet50(num_classes: int = 150, aux_loss: bool = False) -> PSPNet:
    return PSPNet(num_classes, aux_loss)
