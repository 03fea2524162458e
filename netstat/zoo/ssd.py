"""Single-shot multibox detectors: SSD300 (Liu et al. 2015, "SSD: Single Shot
MultiBox Detector") and DSOD300 (Shen et al. 2017, "DSOD: Learning Deeply
Supervised Object Detectors from Scratch").

Only the network is bundled: backbone, extra feature layers and the 3x3
box-regression / classification heads, whose outputs are reshaped per anchor
and concatenated over the six feature maps ((N, anchors, 4) and (N, anchors,
classes)). Anchor generation, box decoding and NMS are post-processing, not
part of the network, and are not run.

- `ssd300_vgg16` has the state_dict keys, parameter count and MAdds of
  torchvision's `detection.ssd300_vgg16` network (its `backbone` and `head`;
  torchvision's SSD module adds only the resizing transform, the anchor
  generator and the post-processing). VGG-16 up to conv4_3 (pool3 in ceil
  mode), the L2-normalised and learnably rescaled conv4_3 map, pool5 3x3 /
  stride 1, fc6 as a 3x3 conv dilated by 6, fc7 1x1, and the extra layers
  conv8_2 ... conv11_2. 91 COCO classes as torchvision.
- `dsod300`: DenseNet stem (three 3x3 convs, the first strided), four dense
  blocks (6, 8, 8, 8 layers, growth rate 48, bottleneck 4 x 48 = 192), two
  transitions with 2x2 max pooling and two without pooling, and the dense
  prediction structure: every scale after the first concatenates a learned
  half (1x1 conv, 3x3 / stride-2 conv) with a reused half (2x2 max pool of the
  previous scale, 1x1 conv). Each scale is L2-normalised and rescaled before
  its head. 21 PASCAL VOC classes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import Tensor, nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model
from netstat.zoo.densenet import DenseBlock, Transition
from netstat.zoo.vgg import VGG_CFGS, make_vgg_layers

# ---------------------------------------------------------------------------
# Config tables.
# ---------------------------------------------------------------------------

# Liu et al. 2015, Figure 2 and Section 3.1 (SSD300): the extra layers after
# fc7, as (1x1 width, 3x3 width, 3x3 stride, 3x3 padding) for conv8_2 ...
# conv11_2; the channels of the six source maps; default boxes per location
# (aspect ratios {1, 2, 1/2} plus an extra scale: 4; with {3, 1/3}: 6).
SSD300_EXTRAS = ((256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 1, 0), (128, 256, 1, 0))
SSD300_SOURCES = (512, 1024, 512, 256, 256, 256)
SSD300_ANCHORS = (4, 6, 6, 6, 4, 4)
SSD_L2_SCALE = 20.0  # initial scale of the normalised conv4_3 map (Section 3.1, ParseNet)

# Shen et al. 2017, Table 1 (DSOD300): stem widths, layers per dense block,
# growth rate and bottleneck factor (4k = 192: the "64-192-48-1" net of
# Table 3), transition output widths (compression 1 except the last),
# the width of the reused half at the second scale, and the (learned-half
# width, output width, 3x3 padding) of each later scale (Figure 1, right).
DSOD_STEM = (64, 64, 128)
DSOD_BLOCKS = (6, 8, 8, 8)
DSOD_GROWTH = 48
DSOD_BN_SIZE = 4
DSOD_LAST_TRANSITION = 256
DSOD_SECOND_SCALE_REUSED = 256
DSOD_EXTRAS = ((256, 512, 1), (128, 256, 1), (128, 256, 1), (128, 256, 0))
DSOD_ANCHORS = (4, 6, 6, 6, 4, 4)

# ---------------------------------------------------------------------------
# Shared parts.
# ---------------------------------------------------------------------------


def l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_2 over channels, eps), as `F.normalize(x, dim=1)`, spelt
    out in element-wise ops (square, sum, clamp, rsqrt, multiply) so every
    step has a FLOP count."""
    return x * x.pow(2).sum(1, keepdim=True).clamp_min(eps * eps).rsqrt()


class L2Norm(nn.Module):
    """ParseNet-style L2 normalisation over channels with a learned
    per-channel scale (`weight`, initialised to 20)."""

    def __init__(self, channels: int, scale: float = SSD_L2_SCALE) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), scale))

    def forward(self, x: Tensor) -> Tensor:
        return self.weight.view(1, -1, 1, 1) * l2_normalize(x)


class ScoringHead(nn.Module):
    """One 3x3 conv per feature map to `anchors x columns` channels; each
    output is reshaped from (N, A*K, H, W) to (N, H*W*A, K) and the maps are
    concatenated (torchvision's SSDScoringHead: `module_list`)."""

    def __init__(self, in_channels: Sequence[int], anchors: Sequence[int], columns: int) -> None:
        super().__init__()
        self.module_list = nn.ModuleList(nn.Conv2d(c, a * columns, 3, padding=1) for c, a in zip(in_channels, anchors))
        self.num_columns = columns

    def forward(self, features: list[Tensor]) -> Tensor:
        results = []
        for x, conv in zip(features, self.module_list):
            y = conv(x)
            n, _, h, w = y.shape
            y = y.view(n, -1, self.num_columns, h, w).permute(0, 3, 4, 1, 2)
            results.append(y.reshape(n, -1, self.num_columns))
        return torch.cat(results, dim=1)


class SSDHead(nn.Module):
    """`classification_head` and `regression_head`; returns
    {"bbox_regression": (N, anchors, 4), "cls_logits": (N, anchors, classes)}."""

    def __init__(self, in_channels: Sequence[int], anchors: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.classification_head = ScoringHead(in_channels, anchors, num_classes)
        self.regression_head = ScoringHead(in_channels, anchors, 4)

    def forward(self, features: list[Tensor]) -> dict[str, Tensor]:
        return {"bbox_regression": self.regression_head(features), "cls_logits": self.classification_head(features)}


class SingleShotDetector(nn.Module):
    """`backbone` (returns the feature maps, an ordered dict) and `head`."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.head(list(self.backbone(x).values()))


# ---------------------------------------------------------------------------
# SSD300 (VGG-16).
# ---------------------------------------------------------------------------


class SSDFeatureExtractorVGG(nn.Module):
    """`features` (VGG-16 to conv4_3), `scale_weight` (the conv4_3 L2-norm
    scale), `extra` (pool4 ... conv5_3 + pool5 / fc6 / fc7, then conv8 ...
    conv11), with torchvision's module indices."""

    def __init__(self) -> None:
        super().__init__()
        vgg = make_vgg_layers(VGG_CFGS["D"])
        pools = [i for i, m in enumerate(vgg) if isinstance(m, nn.MaxPool2d)]
        vgg[pools[2]].ceil_mode = True  # pool3: 75 -> 38, as the paper's 38x38 conv4_3
        self.scale_weight = nn.Parameter(torch.full((SSD300_SOURCES[0],), SSD_L2_SCALE))
        self.features = nn.Sequential(*vgg[: pools[3]])  # conv1_1 ... conv4_3 + ReLU
        fc = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),  # pool5
            nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),  # fc6, atrous
            nn.ReLU(inplace=True),
            nn.Conv2d(1024, 1024, kernel_size=1),  # fc7
            nn.ReLU(inplace=True),
        )
        extra: list[nn.Module] = [nn.Sequential(*vgg[pools[3] : pools[4]], fc)]  # pool4 ... conv5_3, fc
        in_channels = 1024
        for mid, out, stride, padding in SSD300_EXTRAS:
            extra.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, mid, kernel_size=1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(mid, out, kernel_size=3, stride=stride, padding=padding),
                    nn.ReLU(inplace=True),
                )
            )
            in_channels = out
        self.extra = nn.ModuleList(extra)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.features(x)
        outputs = [self.scale_weight.view(1, -1, 1, 1) * l2_normalize(x)]
        for block in self.extra:
            x = block(x)
            outputs.append(x)
        return OrderedDict((str(i), v) for i, v in enumerate(outputs))


# ---------------------------------------------------------------------------
# DSOD300.
# ---------------------------------------------------------------------------


def _bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """Pre-activation conv (BN, ReLU, conv without bias), DenseNet style."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
    )


class LearnHalfReuseHalf(nn.Module):
    """A DSOD prediction scale: `learned` (1x1 conv to `mid`, 3x3 / stride-2
    conv to out/2) concatenated with `reused` (2x2 max pool, 1x1 conv to out/2)."""

    def __init__(self, in_channels: int, mid: int, out_channels: int, padding: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.learned = nn.Sequential(_bn_relu_conv(in_channels, mid), _bn_relu_conv(mid, half, 3, 2, padding))
        self.reused = nn.Sequential(nn.MaxPool2d(2, 2, ceil_mode=padding > 0), _bn_relu_conv(in_channels, half))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.learned(x), self.reused(x)], dim=1)


class DSODBackbone(nn.Module):
    """`stem`, `stage1` (dense blocks 1-2, 38x38 at 300), `pool`, `reuse`
    (1x1 conv of the pooled first scale), `stage2` (dense blocks 3-4, the
    last transition to 256), `extra` (four LearnHalfReuseHalf), `norms`
    (one L2Norm per scale). Returns the six normalised scales."""

    def __init__(self) -> None:
        super().__init__()
        c1, c2, c3 = DSOD_STEM
        self.stem = nn.Sequential(
            ConvBNAct(3, c1, 3, stride=2),
            ConvBNAct(c1, c2, 3),
            ConvBNAct(c2, c3, 3),
            nn.MaxPool2d(2, 2, ceil_mode=True),
        )
        channels = c3
        stages: list[list[nn.Module]] = [[], []]
        for i, layers in enumerate(DSOD_BLOCKS):
            block = DenseBlock(layers, channels, DSOD_BN_SIZE, DSOD_GROWTH)
            channels = block.out_channels
            out = DSOD_LAST_TRANSITION if i == len(DSOD_BLOCKS) - 1 else channels
            stage = stages[i // 2]
            stage += [block, Transition(channels, out, pool=False)]
            if i == 0:  # transition 1 pools (75 -> 38); transition 2's pool is `self.pool`
                stage.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            if i == 1:
                first_scale = out
            channels = out
        self.stage1 = nn.Sequential(*stages[0])
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)  # 38 -> 19
        self.reuse = _bn_relu_conv(first_scale, DSOD_SECOND_SCALE_REUSED)
        self.stage2 = nn.Sequential(*stages[1])
        scales = [first_scale, DSOD_SECOND_SCALE_REUSED + channels]
        extra = []
        for mid, out, padding in DSOD_EXTRAS:
            extra.append(LearnHalfReuseHalf(scales[-1], mid, out, padding))
            scales.append(out)
        self.extra = nn.ModuleList(extra)
        self.norms = nn.ModuleList(L2Norm(c) for c in scales)
        self.out_channels = scales

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        first = self.stage1(self.stem(x))
        pooled = self.pool(first)
        x = torch.cat([self.reuse(pooled), self.stage2(pooled)], dim=1)
        scales = [first, x]
        for block in self.extra:
            x = block(x)
            scales.append(x)
        return OrderedDict((str(i), norm(s)) for i, (norm, s) in enumerate(zip(self.norms, scales)))


# ---------------------------------------------------------------------------
# Entry points.
# ---------------------------------------------------------------------------


def build_ssd300_vgg16(num_classes: int = 91) -> SingleShotDetector:
    return SingleShotDetector(SSDFeatureExtractorVGG(), SSDHead(SSD300_SOURCES, SSD300_ANCHORS, num_classes))


@register_model(
    family="ssd",
    task="detection",
    year=2015,
    paper="SSD: Single Shot MultiBox Detector",
    input_shape=(1, 3, 300, 300),
    published=Published(
        source="Sandler et al. 2018 (MobileNetV2), Table 6: SSD300 36.1 M params, 35.2 B MAdds; "
        "torchvision docs: 35,641,826 params, 34.858 GFLOPS",
        params=36.1e6,
        madds=35.2e9,
    ),
    aliases=("ssd", "ssd300"),
    note="network only (backbone + extra layers + heads), equal to torchvision's ssd300_vgg16 backbone + head "
    "(91 classes); anchors, decoding and NMS not run",
)
def ssd300_vgg16(num_classes: int = 91) -> SingleShotDetector:
    return build_ssd300_vgg16(num_classes)


@register_model(
    family="dsod",
    task="detection",
    year=2017,
    paper="DSOD: Learning Deeply Supervised Object Detectors from Scratch",
    input_shape=(1, 3, 300, 300),
    published=Published(source="Shen et al. 2017, Table 4 (DSOD300: 14.8 M parameters)", params=14.8e6),
    aliases=("dsod",),
    note="dense prediction structure, 21 VOC classes; the paper gives no MAdds",
)
def dsod300(num_classes: int = 21) -> SingleShotDetector:
    backbone = DSODBackbone()
    return SingleShotDetector(backbone, SSDHead(backbone.out_channels, DSOD_ANCHORS, num_classes))
