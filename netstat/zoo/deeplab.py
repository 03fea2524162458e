"""DeepLab v1, v2, v3 and v3+ (Chen et al.), the atrous-convolution family.

- `deeplab_v1`: DeepLab-LargeFOV (Chen et al. 2014, "Semantic Image
  Segmentation with Deep Convolutional Nets and Fully Connected CRFs"): VGG-16
  with 3x3 / stride-2 / pad-1 pools 1-3, stride-1 pools 4-5, conv5 dilated by
  2, fc6 a 3x3 conv of 1024 dilated by 12, fc7 1x1 1024, fc8 1x1 to classes;
  output stride 8, bilinearly upsampled to the input (Caffe's Interp layer).
  The CRF post-processing is not part of the network.
- `deeplab_v2`: DeepLab-ASPP-L on ResNet-101 (Chen et al. 2016, "DeepLab:
  Semantic Image Segmentation with Deep Convolutional Nets, Atrous
  Convolution, and Fully Connected CRFs"): the Caffe ResNet (stride on the
  first 1x1), layer3 / layer4 dilated (output stride 8), four parallel 3x3
  convs straight to classes with rates 6 / 12 / 18 / 24, summed. Single scale
  (the paper's multi-scale-input fusion runs the net three times).
- `deeplabv3_resnet50`, `deeplabv3_mobilenet_v3_large`: torchvision's
  `segmentation` models layer for layer (Chen et al. 2017, "Rethinking Atrous
  Convolution for Semantic Image Segmentation"): ASPP (1x1, three 3x3 at rates
  12 / 24 / 36, image pooling) on a dilated backbone, plus the auxiliary
  FCNHead torchvision's published weights carry.
- `deeplabv3plus_resnet50` (Chen et al. 2018, "Encoder-Decoder with Atrous
  Separable Convolution for Semantic Image Segmentation"): ResNet-50 at output
  stride 16, ASPP at rates 6 / 12 / 18, and the paper's decoder: layer1
  features reduced to 48 channels by a 1x1 conv, concatenated with the x4
  upsampled ASPP output, two 3x3 convs of 256 (Section 4.1, Table 2), a 1x1
  classifier and x4 bilinear upsampling.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model
from netstat.zoo.fcn import FCNHead, IntermediateLayers, SimpleSegmentationModel, dilated_resnet_backbone, resnet50_segmentation
from netstat.zoo.mobilenet_v3 import mobilenet_v3_backbone
from netstat.zoo.resnet import Bottleneck
from netstat.zoo.vgg import VGG_CFGS, make_vgg_layers

# ---------------------------------------------------------------------------
# Config tables.
# ---------------------------------------------------------------------------

# Chen et al. 2014, Section 3.1 / Table 2 (DeepLab-LargeFOV) and the authors'
# Caffe net: (kernel, stride, padding) of pool1 ... pool5; dilation of conv5_x;
# fc6 kernel, dilation and width; fc7 width.
LARGEFOV_POOLS = ((3, 2, 1), (3, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1))
LARGEFOV_CONV5_DILATION = 2
LARGEFOV_FC6 = (3, 12, 1024)
LARGEFOV_FC7 = 1024
# Chen et al. 2016, Section 3.3 / Figure 7 (ASPP-L): the four atrous rates.
ASPP_V2_RATES = (6, 12, 18, 24)
# Chen et al. 2017, Section 4.2: ASPP rates at output stride 8 (torchvision's
# default; 6 / 12 / 18 at output stride 16).
ASPP_V3_RATES = (12, 24, 36)
# Chen et al. 2018, Section 4.1 / Tables 1-2: ASPP rates at output stride 16,
# 48-channel low-level projection, two 3x3 convs of 256 in the decoder.
ASPP_V3PLUS_RATES = (6, 12, 18)
V3PLUS_LOW_LEVEL_CHANNELS = 48
V3PLUS_DECODER = (256, 256)

# ---------------------------------------------------------------------------
# ASPP and the DeepLabV3 head (torchvision's module names).
# ---------------------------------------------------------------------------


class ASPPConv(nn.Sequential):
    """3x3 atrous conv (padding = rate, so the size is kept), BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class ASPPPooling(nn.Sequential):
    """Image-level features: global average pool, 1x1 conv, BN, ReLU, then
    bilinear upsampling back to the input's size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLab v3): a 1x1 branch, one 3x3
    branch per rate, image pooling; concatenated and projected by a 1x1 conv
    (BN, ReLU, dropout 0.5)."""

    def __init__(self, in_channels: int, atrous_rates: Sequence[int], out_channels: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())
        ]
        branches += [ASPPConv(in_channels, out_channels, rate) for rate in atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    """ASPP -> 3x3 conv 256, BN, ReLU -> 1x1 conv to classes."""

    def __init__(self, in_channels: int, num_classes: int, atrous_rates: Sequence[int] = ASPP_V3_RATES) -> None:
        super().__init__(
            ASPP(in_channels, atrous_rates),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )


# ---------------------------------------------------------------------------
# DeepLab v1 (LargeFOV) and v2 (ASPP-L, ResNet-101).
# ---------------------------------------------------------------------------


class DeepLabLargeFOV(nn.Module):
    """VGG-16 `features` with DeepLab's pools and dilated conv5, `classifier`
    (fc6 atrous, fc7, fc8), bilinear upsampling to the input size."""

    def __init__(self, num_classes: int = 21) -> None:
        super().__init__()
        features = make_vgg_layers(VGG_CFGS["D"])
        pools = [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
        for i, (k, s, p) in zip(pools, LARGEFOV_POOLS):
            features[i] = nn.MaxPool2d(k, s, p)
        for m in features[pools[3] + 1 : pools[4]]:  # conv5_1 ... conv5_3
            if isinstance(m, nn.Conv2d):
                m.dilation = (LARGEFOV_CONV5_DILATION,) * 2
                m.padding = (LARGEFOV_CONV5_DILATION,) * 2
        self.features = features
        k6, d6, c6 = LARGEFOV_FC6
        self.classifier = nn.Sequential(
            nn.Conv2d(512, c6, k6, padding=d6 * (k6 - 1) // 2, dilation=d6),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Conv2d(c6, LARGEFOV_FC7, 1),  # fc7
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Conv2d(LARGEFOV_FC7, num_classes, 1),  # fc8
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        x = self.classifier(self.features(x))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class CaffeBottleneck(Bottleneck):
    """The paper's (Caffe) ResNet bottleneck: stride on the first 1x1."""

    stride_in_1x1 = True


class ASPPSum(nn.Module):
    """DeepLab v2's ASPP: parallel 3x3 atrous convs straight to class scores,
    one per rate, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int] = ASPP_V2_RATES) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r) for r in rates)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


class DeepLabV2(nn.Module):
    """Dilated ResNet-101 `backbone` (output stride 8), `classifier` (ASPP-L),
    bilinear upsampling to the input size."""

    def __init__(self, num_classes: int = 21) -> None:
        super().__init__()
        self.backbone = dilated_resnet_backbone(101, {"layer4": "out"}, block=CaffeBottleneck)
        self.classifier = ASPPSum(2048, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        x = self.classifier(self.backbone(x)["out"])
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


# ---------------------------------------------------------------------------
# DeepLab v3 (torchvision) and v3+.
# ---------------------------------------------------------------------------


def _deeplabv3_resnet50(num_classes: int = 21, aux_loss: bool = True) -> SimpleSegmentationModel:
    return resnet50_segmentation(DeepLabHead(2048, num_classes), num_classes, aux_loss)


def _deeplabv3_mobilenet_v3_large(num_classes: int = 21, aux_loss: bool = True) -> SimpleSegmentationModel:
    features = mobilenet_v3_backbone("mobilenet_v3_large", dilated=True)
    # As torchvision: C0 (stem), the strided blocks C1 ... C4, the last conv.
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]
    out_pos, aux_pos = stages[-1], stages[-4]  # output stride 16 / 8
    return_layers = {str(out_pos): "out"}
    if aux_loss:
        return_layers[str(aux_pos)] = "aux"
    backbone = IntermediateLayers(features, return_layers)
    aux = FCNHead(features[aux_pos].out_channels, num_classes) if aux_loss else None
    return SimpleSegmentationModel(backbone, DeepLabHead(features[out_pos].out_channels, num_classes), aux)


class DeepLabV3PlusHead(nn.Module):
    """ASPP on the deep features, `project` (1x1 conv to 48) on the low-level
    ones, x4 bilinear upsampling of the ASPP output to the low-level size,
    concatenation, `decoder` (3x3 convs of `decoder_channels`, two of 256 in
    the paper; then a 1x1 conv to classes)."""

    def __init__(
        self,
        in_channels: int,
        low_level_channels: int,
        num_classes: int,
        rates: Sequence[int] = ASPP_V3PLUS_RATES,
        decoder_channels: Sequence[int] = V3PLUS_DECODER,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels, rates)
        self.project = ConvBNAct(low_level_channels, V3PLUS_LOW_LEVEL_CHANNELS, 1)
        layers: list[nn.Module] = []
        width = 256 + V3PLUS_LOW_LEVEL_CHANNELS
        for out in decoder_channels:
            layers.append(ConvBNAct(width, out, 3))
            width = out
        layers.append(nn.Conv2d(width, num_classes, 1))
        self.decoder = nn.Sequential(*layers)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        low = self.project(features["low_level"])
        deep = F.interpolate(self.aspp(features["out"]), size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.decoder(torch.cat([low, deep], dim=1))


class DeepLabV3Plus(nn.Module):
    """ResNet-50 `backbone` at output stride 16 returning layer1 and layer4,
    `classifier` (DeepLabV3PlusHead), x4 bilinear upsampling to the input."""

    def __init__(self, num_classes: int = 21, decoder_channels: Sequence[int] = V3PLUS_DECODER) -> None:
        super().__init__()
        self.backbone = dilated_resnet_backbone(50, {"layer1": "low_level", "layer4": "out"}, dilation=(False, False, True))
        self.classifier = DeepLabV3PlusHead(2048, 256, num_classes, decoder_channels=decoder_channels)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        x = self.classifier(self.backbone(x))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------
# Entry points.
# ---------------------------------------------------------------------------

_SEG: dict[str, Any] = dict(family="deeplab", task="segmentation")
_TV_AUX = "includes the auxiliary FCNHead (aux_loss=True), as torchvision's published weights; aux_loss=False drops it"


@register_model(
    **_SEG,
    year=2014,
    paper="Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected CRFs",
    input_shape=(1, 3, 513, 513),
    published=Published(source="Chen et al. 2014, Table 2 (DeepLab-LargeFOV: 20.5 M parameters)", params=20.5e6),
    aliases=("deeplab_largefov", "deeplabv1"),
    note="DeepLab-LargeFOV without the CRF; the paper gives no MAdds",
)
def deeplab_v1(num_classes: int = 21) -> DeepLabLargeFOV:
    return DeepLabLargeFOV(num_classes)


@register_model(
    **_SEG,
    year=2016,
    paper="DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous Convolution, and Fully Connected CRFs",
    input_shape=(1, 3, 513, 513),
    published=Published(
        source="Chen et al. 2016 (no parameter or MAdds count published for ResNet-101 ASPP-L)",
        note="own count only: ResNet-101 without fc 42.5 M + ASPP-L 1.55 M",
    ),
    aliases=("deeplabv2",),
    note="ResNet-101 ASPP-L, single-scale, no CRF; Caffe ResNet (stride on the first 1x1); "
    "dilation pattern of torchvision's replace_stride_with_dilation",
)
def deeplab_v2(num_classes: int = 21) -> DeepLabV2:
    return DeepLabV2(num_classes)


_V3: dict[str, Any] = dict(**_SEG, year=2017, paper="Rethinking Atrous Convolution for Semantic Image Segmentation", input_shape=(1, 3, 520, 520))
_TV_SRC = "torchvision docs, {} (num_params, GFLOPS at 520)"


@register_model(
    **_V3,
    torchvision="segmentation.deeplabv3_resnet50",
    torchvision_kwargs={"weights_backbone": None, "aux_loss": True},
    published=Published(
        source=_TV_SRC.format("DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1"), params=42_004_074, madds=178.722e9
    ),
    aliases=("deeplabv3",),
    note=_TV_AUX + " (39.64 M)",
)
def deeplabv3_resnet50(num_classes: int = 21, aux_loss: bool = True) -> SimpleSegmentationModel:
    return _deeplabv3_resnet50(num_classes, aux_loss)


@register_model(
    **_V3,
    torchvision="segmentation.deeplabv3_mobilenet_v3_large",
    torchvision_kwargs={"weights_backbone": None, "aux_loss": True},
    published=Published(
        source=_TV_SRC.format("DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1"),
        params=11_029_328,
        madds=10.452e9,
    ),
    note=_TV_AUX + " (11.03 M); backbone output stride 16 (dilated last stage)",
)
def deeplabv3_mobilenet_v3_large(num_classes: int = 21, aux_loss: bool = True) -> SimpleSegmentationModel:
    return _deeplabv3_mobilenet_v3_large(num_classes, aux_loss)


@register_model(
    **_SEG,
    year=2018,
    paper="Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation",
    input_shape=(1, 3, 513, 513),
    published=Published(
        source="Chen et al. 2018 (reports only Xception-65 / ResNet-101 nets; no ResNet-50 counts)",
        note="own count only (40.35 M, 72.2 G at 513); the paper's Xception-65 net (54.2 G) is another backbone; "
        "VainF/DeepLabV3Plus-Pytorch's 62.7 G is for a one-conv decoder (decoder_channels=(256,): own count 62.4 G)",
    ),
    aliases=("deeplabv3plus",),
    note="torchvision-style ResNet-50 (v1.5) at output stride 16, plain (not separable) 3x3 convs in ASPP and decoder",
)
def deeplabv3plus_resnet50(num_classes: int = 21, decoder_channels: Sequence[int] = V3PLUS_DECODER) -> DeepLabV3Plus:
    return DeepLabV3Plus(num_classes, decoder_channels)
