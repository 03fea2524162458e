"""SE-ResNet (Hu et al. 2017, "Squeeze-and-Excitation Networks"): ResNet-50
with a squeeze-and-excitation gate (reduction 16) on each bottleneck's
residual branch, after the last BN and before the addition.

As the paper's Caffe models (and its 3.87 GFLOPs), the bottleneck strides on
its first 1x1 conv, not on the 3x3 as torchvision's "v1.5" ResNets do.
"""

from __future__ import annotations

from torch import Tensor

from netstat.zoo._blocks import SqueezeExcitation
from netstat.zoo._registry import Published, register_model
from netstat.zoo.resnet import RESNET_LAYERS, Bottleneck, ResNet

# Hu et al. 2017, Table 1 (SE-ResNet-50 column): ResNet-50 stages with
# fc [C / 16, C] gates; reduction ratio r = 16.
SE_REDUCTION = 16


class SEBottleneck(Bottleneck):
    """Caffe-style bottleneck (stride on the first 1x1) with an SE gate `se`."""

    stride_in_1x1 = True

    def __init__(self, inplanes: int, planes: int, *args, **kwargs) -> None:
        super().__init__(inplanes, planes, *args, **kwargs)
        out = planes * self.expansion
        self.se = SqueezeExcitation(out, out // SE_REDUCTION)

    def attend(self, out: Tensor) -> Tensor:
        return self.se(out)


@register_model(
    family="senet",
    year=2017,
    paper="Squeeze-and-Excitation Networks",
    published=Published(source="Hu et al. 2017, Table 2 (GFLOPs) and Sec. 4 (params)", params=28.1e6, madds=3.87e9),
)
def se_resnet50(**kwargs) -> ResNet:
    return ResNet(SEBottleneck, RESNET_LAYERS[50][1], **kwargs)
