"""Dual Path Networks (Chen, Li, Xiao, Jin, Yan & Feng 2017, "Dual Path
Networks"): ResNeXt-style bottlenecks (grouped 3x3, G=32) whose 1x1 output is
split into a residual part, added to a shared residual path, and a dense part,
concatenated onto a growing densely connected path.

Layout and module names follow the authors' MXNet release (cypw/DPNs):
pre-activation BN-ReLU-conv units `c1x1_a`, `c3x3_b`, `c1x1_c`, and a projection
`c1x1_w_s1` / `c1x1_w_s2` on the first block of every stage.
"""

from __future__ import annotations

import torch
from torch import nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model

# Chen et al. 2017, Table 1 (DPN-92, 32x3d): per stage, blocks, the width of the
# 1x1 / grouped 3x3 bottleneck, the residual-path width, and the dense-path
# increment per block ("1x1, 256 (+16)" etc.). The first block of a stage also
# opens the dense path at 2 x increment.
DPN92_CFG: tuple[tuple[int, int, int, int], ...] = (
    # blocks, bottleneck, residual, increment
    (3, 96, 256, 16),  # conv2, 56x56
    (4, 192, 512, 32),  # conv3, 28x28
    (20, 384, 1024, 24),  # conv4, 14x14
    (3, 768, 2048, 128),  # conv5, 7x7
)


class BnActConv2d(nn.Module):
    """Pre-activation unit: BN -> ReLU -> conv (no bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.act = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, groups=groups, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(self.bn(x)))


class DualPathBlock(nn.Module):
    """One dual-path block. Input: a tensor (first block) or the pair
    (residual, dense); output: the pair. `block_type` is "proj" (first block of
    conv2: 1x1 projection, stride 1), "down" (first block of conv3-5: projection
    and grouped 3x3 with stride 2) or "normal" (identity paths)."""

    def __init__(
        self,
        in_channels: int,
        bottleneck: int,
        residual: int,
        increment: int,
        groups: int = 32,
        block_type: str = "normal",
    ) -> None:
        super().__init__()
        if block_type not in ("proj", "down", "normal"):
            raise ValueError(f"block_type must be 'proj', 'down' or 'normal', not {block_type!r}")
        self.residual = residual
        stride = 2 if block_type == "down" else 1
        self.has_proj = block_type != "normal"
        if block_type == "proj":
            self.c1x1_w_s1 = BnActConv2d(in_channels, residual + 2 * increment, 1)
        elif block_type == "down":
            self.c1x1_w_s2 = BnActConv2d(in_channels, residual + 2 * increment, 1, stride=2)
        self.c1x1_a = BnActConv2d(in_channels, bottleneck, 1)
        self.c3x3_b = BnActConv2d(bottleneck, bottleneck, 3, stride=stride, groups=groups)
        self.c1x1_c = BnActConv2d(bottleneck, residual + increment, 1)

    def forward(self, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x_in = torch.cat(x, dim=1) if isinstance(x, tuple) else x
        if self.has_proj:
            proj = self.c1x1_w_s2(x_in) if hasattr(self, "c1x1_w_s2") else self.c1x1_w_s1(x_in)
            resid, dense = proj[:, : self.residual], proj[:, self.residual :]
        else:
            resid, dense = x
        out = self.c1x1_c(self.c3x3_b(self.c1x1_a(x_in)))
        return resid + out[:, : self.residual], torch.cat([dense, out[:, self.residual :]], dim=1)


class CatBnAct(nn.Module):
    """Concatenate the two paths, then BN -> ReLU (`conv5_bn_ac`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.act(self.bn(torch.cat(x, dim=1)))


class DPN(nn.Module):
    """Stem (7x7/2 conv-BN-ReLU, 3x3/2 max pool), four dual-path stages,
    BN-ReLU on the joined paths, global average pool, linear."""

    def __init__(
        self,
        cfg: tuple[tuple[int, int, int, int], ...] = DPN92_CFG,
        num_init_features: int = 64,
        groups: int = 32,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module(
            "conv1_1",
            nn.Sequential(
                ConvBNAct(3, num_init_features, kernel_size=7, stride=2),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ),
        )
        channels = num_init_features
        for stage, (blocks, bottleneck, residual, inc) in enumerate(cfg, start=2):
            for i in range(1, blocks + 1):
                block_type = "normal" if i > 1 else ("proj" if stage == 2 else "down")
                self.features.add_module(
                    f"conv{stage}_{i}", DualPathBlock(channels, bottleneck, residual, inc, groups, block_type)
                )
                channels = residual + 3 * inc if i == 1 else channels + inc
        self.features.add_module("conv5_bn_ac", CatBnAct(channels))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self.num_features = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# Chen et al. 2017, Table 1 (37.7 M params, 6.5 GFLOPs, where the paper's FLOPs
# are multiply-adds) and Table 2 (top-1 error 20.7 %, 224x224 single crop; the
# authors' repository cypw/DPNs lists 20.73 %).
@register_model(
    family="dpn",
    year=2017,
    paper="Dual Path Networks",
    published=Published(
        source="Chen et al. 2017, Tables 1 and 2 (DPN-92, 32x3d)", params=37.7e6, madds=6.5e9, top1=79.3
    ),
)
def dpn92(**kwargs) -> DPN:
    return DPN(DPN92_CFG, num_init_features=64, groups=32, **kwargs)
