"""Fully convolutional networks (Long, Shelhamer & Darrell 2014, "Fully
Convolutional Networks for Semantic Segmentation").

- `fcn32s`, `fcn16s`, `fcn8s`: the paper's VGG-16 nets, laid out as the
  authors' Caffe models (voc-fcn32s / 16s / 8s): conv1_1 padded by 100, Caffe's
  ceil-mode pooling, fc6 / fc7 "convolutionised" (7x7 and 1x1 convs of 4096),
  a 1x1 class scorer, learned transposed-conv upsampling (kernel 2f, stride f,
  no bias, full 21x21 channel mixing), skip scorers on pool4 / pool3 fused by
  addition after cropping, and a final crop back to the input size.
- `fcn_resnet50`: torchvision's `segmentation.fcn_resnet50` layer for layer
  (dilated ResNet-50 at output stride 8, FCNHead, bilinear upsampling), with
  the auxiliary head on layer3 that torchvision's published weights carry.

The plumbing shared by the segmentation families lives here too:
`IntermediateLayers` (returns named intermediate outputs, as torchvision's
`IntermediateLayerGetter`), `SimpleSegmentationModel` (backbone -> classifier
[-> aux classifier] -> bilinear upsampling, returning {"out", "aux"}),
`FCNHead` and the crop helpers. DeepLab and PSPNet import them.
"""

from __future__ import annotations

from typing import Any

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import RESNET_LAYERS, ResNet
from netstat.zoo.vgg import VGG_CFGS, make_vgg_layers

# ---------------------------------------------------------------------------
# Shared segmentation plumbing.
# ---------------------------------------------------------------------------


class IntermediateLayers(nn.ModuleDict):
    """The direct children of `model` up to the last one named in
    `return_layers`, run in order; returns {new_name: output} for the named
    ones. Same submodule names (and so state_dict keys) as torchvision's
    `IntermediateLayerGetter`: a ResNet keeps conv1 ... layer4 and drops
    avgpool / fc."""

    def __init__(self, model: nn.Module, return_layers: dict[str, str]) -> None:
        children = OrderedDict(model.named_children())
        missing = set(return_layers) - set(children)
        if missing:
            raise ValueError(f"return_layers {sorted(missing)} are not children of the model")
        wanted = set(return_layers)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name, module in children.items():
            layers[name] = module
            wanted.discard(name)
            if not wanted:
                break
        super().__init__(layers)
        self.return_layers = dict(return_layers)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class SimpleSegmentationModel(nn.Module):
    """backbone (returns {"out", ["aux"]}) -> classifier -> bilinear upsampling
    to the input size; the auxiliary classifier likewise on "aux". Returns
    {"out": ..., ["aux": ...]}, as torchvision's `_SimpleSegmentationModel`
    (whose aux head runs in eval mode too)."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module, aux_classifier: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        result: OrderedDict[str, Tensor] = OrderedDict()
        result["out"] = F.interpolate(self.classifier(features["out"]), size=size, mode="bilinear", align_corners=False)
        if self.aux_classifier is not None:
            aux = self.aux_classifier(features["aux"])
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result


class FCNHead(nn.Sequential):
    """3x3 conv to in/4 channels, BN, ReLU, dropout 0.1, 1x1 conv to classes
    (torchvision's FCNHead; also its auxiliary head)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        inter = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter, channels, 1),
        )


def crop(x: Tensor, size: tuple[int, int] | torch.Size, offset: int | tuple[int, int]) -> Tensor:
    """`x[..., oy:oy+h, ox:ox+w]`, as Caffe's Crop layer (a slice: a view,
    zero FLOPs). Raises when `x` is too small, instead of silently clipping."""
    oy, ox = (offset, offset) if isinstance(offset, int) else offset
    h, w = int(size[0]), int(size[1])
    if x.shape[-2] < oy + h or x.shape[-1] < ox + w:
        raise ValueError(f"cannot crop {h}x{w} at offset ({oy}, {ox}) from {tuple(x.shape[-2:])}")
    return x[..., oy : oy + h, ox : ox + w]


def center_crop(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """The central `size` window of `x` (U-Net's crop of the skip features)."""
    h, w = int(size[0]), int(size[1])
    return crop(x, (h, w), ((x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2))


class TappedSequential(nn.Sequential):
    """A Sequential that also returns the outputs of its max pools (the
    taps skip connections read), in order."""

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        taps: list[Tensor] = []
        for layer in self:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                taps.append(x)
        return x, taps


# ---------------------------------------------------------------------------
# FCN-VGG16 (the paper's nets).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FCNConfig:
    """One FCN variant: the pool outputs fused as skips (deepest first) with
    the crop offset of each skip score, the stride of the final upsampling and
    the offset of the final crop to the input."""

    skips: tuple[tuple[int, int], ...]  # (pool number, crop offset)
    final_stride: int
    final_offset: int


# Long et al. 2014, Section 4.2 and Figure 3 (skip architecture); the offsets
# are those of the Crop layers in the authors' Caffe nets (voc-fcn32s / 16s /
# 8s), fixed by conv1_1's padding of 100 and the layer geometry.
FCN_CFGS: dict[str, FCNConfig] = {
    "fcn32s": FCNConfig(skips=(), final_stride=32, final_offset=19),
    "fcn16s": FCNConfig(skips=((4, 5),), final_stride=16, final_offset=27),
    "fcn8s": FCNConfig(skips=((4, 5), (3, 9)), final_stride=8, final_offset=31),
}
_POOL_CHANNELS = {3: 256, 4: 512}


def _upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    """FCN's learned upsampling: kernel 2f, stride f, no bias (initialised to
    bilinear interpolation in the paper; full channel mixing, as in Caffe)."""
    return nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor, bias=False)


class FCNVGG(nn.Module):
    """VGG-16 `features` (conv1_1 padded by 100, ceil-mode pools), `fc`
    (fc6 7x7 conv 4096, fc7 1x1 conv 4096, with ReLU and dropout),
    `score_fr`, skip scorers `score_pool4` / `score_pool3`, upsamplers
    `upscore2` / `upscore_pool4` (x2) and the final `upscore` (x32 / x16 / x8)."""

    def __init__(self, cfg: FCNConfig, num_classes: int = 21) -> None:
        super().__init__()
        self.cfg = cfg
        features = TappedSequential(*make_vgg_layers(VGG_CFGS["D"]))
        features[0].padding = (100, 100)  # conv1_1: pad 100, so that any input survives fc6's 7x7
        for m in features:
            if isinstance(m, nn.MaxPool2d):
                m.ceil_mode = True  # Caffe's pooling rounds up
        self.features = features
        self.fc = nn.Sequential(
            nn.Conv2d(512, 4096, 7),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Conv2d(4096, 4096, 1),  # fc7
            nn.ReLU(inplace=True),
            nn.Dropout(),
        )
        self.score_fr = nn.Conv2d(4096, num_classes, 1)
        names = {4: "upscore2", 3: "upscore_pool4"}
        for pool, _ in cfg.skips:
            self.add_module(f"score_pool{pool}", nn.Conv2d(_POOL_CHANNELS[pool], num_classes, 1))
            self.add_module(names[pool], _upsample(num_classes, 2))
        self.upscore = _upsample(num_classes, cfg.final_stride)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        x, pools = self.features(x)
        x = self.score_fr(self.fc(x))
        names = {4: "upscore2", 3: "upscore_pool4"}
        for pool, offset in self.cfg.skips:
            x = getattr(self, names[pool])(x)
            skip = getattr(self, f"score_pool{pool}")(pools[pool - 1])
            x = x + crop(skip, x.shape[-2:], offset)
        return crop(self.upscore(x), size, self.cfg.final_offset)


# ---------------------------------------------------------------------------
# FCN-ResNet50 (torchvision).
# ---------------------------------------------------------------------------


def dilated_resnet_backbone(depth: int, return_layers: dict[str, str], dilation=(False, True, True), block=None) -> IntermediateLayers:
    """A ResNet of `depth` with strides turned into dilation
    (`replace_stride_with_dilation`), cut after the last returned layer."""
    default_block, layers = RESNET_LAYERS[depth]
    resnet = ResNet(block or default_block, layers, replace_stride_with_dilation=list(dilation))
    return IntermediateLayers(resnet, return_layers)


def resnet50_segmentation(head: nn.Module, num_classes: int, aux_loss: bool) -> SimpleSegmentationModel:
    """torchvision's layout for FCN / DeepLabV3 on ResNet-50: dilated backbone
    (output stride 8), `head` on layer4, and an FCN aux head on layer3."""
    return_layers = {"layer4": "out"}
    if aux_loss:
        return_layers["layer3"] = "aux"
    backbone = dilated_resnet_backbone(50, return_layers)
    aux = FCNHead(1024, num_classes) if aux_loss else None
    return SimpleSegmentationModel(backbone, head, aux)


def _fcn_resnet50(num_classes: int = 21, aux_loss: bool = True) -> SimpleSegmentationModel:
    return resnet50_segmentation(FCNHead(2048, num_classes), num_classes, aux_loss)


_PAPER = "Fully Convolutional Networks for Semantic Segmentation"
_COMMON: dict[str, Any] = dict(family="fcn", year=2014, paper=_PAPER, task="segmentation", input_shape=(1, 3, 500, 500))
_T1 = "Long et al. 2014, Table 1 (FCN-VGG16: 134 M parameters)"
_UP = "the paper's 134 M leaves out the upsampling deconvolutions (21x21 channels, no bias)"


@register_model(
    **_COMMON,
    published=Published(source=_T1, params=134e6),
    note="Caffe voc-fcn32s layout (pad 100, ceil pools, crop offset 19); " + _UP + ": +1.81 M for the 64x64 one",
)
def fcn32s(num_classes: int = 21) -> FCNVGG:
    return FCNVGG(FCN_CFGS["fcn32s"], num_classes)


@register_model(
    **_COMMON,
    published=Published(source=_T1, params=134e6),
    note="Caffe voc-fcn16s layout (pool4 skip, crop offsets 5 and 27); " + _UP,
)
def fcn16s(num_classes: int = 21) -> FCNVGG:
    return FCNVGG(FCN_CFGS["fcn16s"], num_classes)


@register_model(
    **_COMMON,
    published=Published(source=_T1, params=134e6),
    aliases=("fcn",),
    note="Caffe voc-fcn8s layout (pool4 and pool3 skips, crop offsets 5, 9 and 31); " + _UP,
)
def fcn8s(num_classes: int = 21) -> FCNVGG:
    return FCNVGG(FCN_CFGS["fcn8s"], num_classes)


@register_model(
    family="fcn",
    year=2014,
    paper=_PAPER,
    task="segmentation",
    input_shape=(1, 3, 520, 520),
    torchvision="segmentation.fcn_resnet50",
    torchvision_kwargs={"weights_backbone": None, "aux_loss": True},
    published=Published(
        source="torchvision docs, FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1 (num_params, GFLOPS at 520)",
        params=35_322_218,
        madds=152.717e9,
    ),
    note="includes the auxiliary FCNHead on layer3 (aux_loss=True), as torchvision's published weights; "
    "aux_loss=False drops it (32.96 M)",
)
def fcn_resnet50(num_classes: int = 21, aux_loss: bool = True) -> SimpleSegmentationModel:
    return _fcn_resnet50(num_classes, aux_loss)
