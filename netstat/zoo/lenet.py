"""LeNet-5, from "Gradient-Based Learning Applied to Document Recognition"
(LeCun, Bottou, Bengio & Haffner, Proc. IEEE 1998), in its modern reading.

The paper's C3 connects each of its 16 maps to only a subset of S2's 6 maps
(1,516 weights) and its subsampling layers S2 / S4 carry a trainable
coefficient and bias per map; its output layer is 10 Euclidean RBF units. The
"modern" LeNet-5 bundled here keeps the layer sizes but uses full C3
connectivity, plain (parameter-free) average pooling and a linear output
layer, which is how the network is usually rebuilt and counted (~61.7 K
parameters, ~0.42 M MAdds on a 1x32x32 input).
"""

from __future__ import annotations

import torch
from torch import nn

from netstat.zoo._registry import Published, register_model

# LeCun et al. 1998, Sec. II-B / Fig. 2: C1 6@5x5 -> S2 -> C3 16@5x5 -> S4 ->
# C5 120@5x5 -> F6 84 -> output 10. (out_channels, kernel) per conv stage.
_CONV_STAGES = ((6, 5), (16, 5))
_C5, _F6 = 120, 84


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for out, k in _CONV_STAGES:
            layers += [nn.Conv2d(c, out, k), nn.Tanh(), nn.AvgPool2d(2)]
            c = out
        # C5 is a 5x5 convolution that sees the whole 5x5 map of S4.
        layers += [nn.Conv2d(c, _C5, 5), nn.Tanh()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(_C5, _F6), nn.Tanh(), nn.Linear(_F6, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def _lenet(**kwargs) -> LeNet5:
    return LeNet5(**kwargs)


@register_model(
    family="lenet",
    year=1998,
    paper="Gradient-Based Learning Applied to Document Recognition",
    input_shape=(1, 1, 32, 32),
    published=Published(
        source="LeCun et al. 1998, Sec. II-B (layer sizes; full C3 connectivity, plain pooling)",
        params=61.7e3,
        madds=0.42e6,
    ),
    aliases=("lenet",),
    note="Modern LeNet-5: full C3 connectivity (2,416 weights, not the paper's 1,516), "
    "parameter-free average pooling and a linear output layer instead of RBF units.",
)
def lenet5(**kwargs) -> LeNet5:
    return _lenet(**kwargs)
