"""Blocks shared by several families, written once.

Names of submodules follow torchvision's (`Conv2dNormActivation` is a
Sequential of conv, norm, activation; `SqueezeExcitation` has `fc1`/`fc2`), so
models built from them have torchvision's state_dict keys.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of `divisor`, never dropping more
    than 10% (MobileNet V2 / V3, EfficientNet)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """Conv -> norm -> activation, as torchvision's Conv2dNormActivation.

    Padding defaults to "same" for odd kernels: (k - 1) // 2 * dilation.
    `norm_layer=None` or `activation_layer=None` drops that stage; the conv has
    a bias only when there is no norm (unless `bias` says otherwise).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        norm_layer: Callable[..., nn.Module] | None = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
        dilation: int = 1,
        inplace: bool | None = True,
        bias: bool | None = None,
    ) -> None:
        if padding is None:
            if isinstance(kernel_size, int):
                padding = (kernel_size - 1) // 2 * dilation
            else:
                padding = tuple((k - 1) // 2 * dilation for k in kernel_size)
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=bias)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer() if inplace is None else activation_layer(inplace=inplace))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2017) with 1x1 convs, as torchvision's:
    global average pool, fc1 -> activation -> fc2 -> gate, then rescale."""

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: reshape to (g, c/g), transpose, flatten.
    Pure data movement: zero FLOPs, but it reads and writes the whole tensor."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, c, h, w)


class ChannelShuffle(nn.Module):
    """`channel_shuffle` as a module, so it shows up as a layer."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)


class StochasticDepth(nn.Module):
    """Stochastic depth (Huang et al. 2016), as torchvision.ops.StochasticDepth:
    in training, zero a residual branch with probability `p` ("row": per sample,
    "batch": for the whole batch) and rescale the survivors; identity in eval."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability must be in [0, 1], not {p}")
        if mode not in ("row", "batch"):
            raise ValueError(f"mode must be 'row' or 'batch', not {mode!r}")
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) if self.mode == "row" else (1,) * x.ndim
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class InvertedResidualBase(nn.Module):
    """A body (one Sequential) plus an identity shortcut when the stride is 1
    and the channels match, with optional stochastic depth on the body.

    Base of the inverted-residual family (MobileNet V2 / V3, EfficientNet MBConv
    and Fused-MBConv). The body is stored under `body_name`: "block" as in
    torchvision's MobileNetV3 / EfficientNet; a subclass may rename it
    (MobileNetV2 uses "conv"). `_is_cn` marks strided blocks (stage starts), as
    torchvision's segmentation heads expect.
    """

    body_name = "block"

    def __init__(
        self,
        layers: list[nn.Module],
        in_channels: int,
        out_channels: int,
        stride: int,
        stochastic_depth_prob: float | None = None,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        setattr(self, self.body_name, nn.Sequential(*layers))
        if stochastic_depth_prob is not None:
            self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.out_channels = out_channels
        self._is_cn = stride > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = getattr(self, self.body_name)(x)
        if not self.use_res_connect:
            return out
        if "stochastic_depth" in self._modules:
            out = self.stochastic_depth(out)
        return out + x


class InvertedResidual(InvertedResidualBase):
    """Inverted bottleneck (Sandler et al. 2018): [1x1 expand] -> kxk depthwise
    -> [squeeze-excitation] -> 1x1 linear projection, each conv with norm.

    MobileNetV2 (ReLU6), MobileNetV3 (ReLU / h-swish, SE with hard sigmoid) and
    EfficientNet's MBConv (SiLU, SE, stochastic depth) are this block. The
    expansion is skipped when `expanded_channels == in_channels`; SE is added
    when `se_channels` is given (built as `se_layer(expanded, se_channels)`).
    With `dilation > 1` the depthwise conv is dilated instead of strided.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        activation_layer: Callable[..., nn.Module] = nn.ReLU6,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        se_channels: int | None = None,
        se_layer: Callable[..., nn.Module] = SqueezeExcitation,
        stochastic_depth_prob: float | None = None,
    ) -> None:
        layers: list[nn.Module] = []
        if expanded_channels != in_channels:
            layers.append(
                ConvBNAct(in_channels, expanded_channels, 1, norm_layer=norm_layer, activation_layer=activation_layer)
            )
        layers.append(
            ConvBNAct(
                expanded_channels,
                expanded_channels,
                kernel_size,
                stride=1 if dilation > 1 else stride,
                dilation=dilation,
                groups=expanded_channels,
                norm_layer=norm_layer,
                activation_layer=activation_layer,
            )
        )
        if se_channels:
            layers.append(se_layer(expanded_channels, se_channels))
        layers.extend(self._project_layers(expanded_channels, out_channels, norm_layer))
        super().__init__(layers, in_channels, out_channels, stride, stochastic_depth_prob)

    @classmethod
    def _project_layers(
        cls, in_channels: int, out_channels: int, norm_layer: Callable[..., nn.Module]
    ) -> list[nn.Module]:
        """The linear 1x1 projection; a subclass may lay it out differently."""
        return [ConvBNAct(in_channels, out_channels, 1, norm_layer=norm_layer, activation_layer=None)]
