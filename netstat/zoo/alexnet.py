"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification
with Deep Convolutional Neural Networks") in torchvision's one-tower layout
(from Krizhevsky 2014, "One weird trick ..."): 64-192-384-256-256 conv
channels, no local response norm, no grouped convs.

`two_tower=True` builds the paper's own net instead (Krizhevsky et al. 2012,
Section 3.5 and Fig. 2; Caffe's `bvlc_alexnet`): 96-256-384-384-256 conv
channels, conv1 without padding, conv2 / conv4 / conv5 split into two groups
(one per GPU), local response normalisation after conv1 and conv2. The
default (one tower) is unchanged.
"""

from __future__ import annotations

from torch import nn

from netstat.zoo._registry import Published, register_model

# torchvision's `alexnet` (one-tower variant of Krizhevsky et al. 2012, Fig. 2):
# (out_channels, kernel, stride, padding, max pool after).
ALEXNET_CONVS = [
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
]

# Krizhevsky et al. 2012, Fig. 2 (two GPUs): (out_channels, kernel, stride,
# padding, max pool after, groups, local response norm after the ReLU).
ALEXNET_TWO_TOWER_CONVS = [
    (96, 11, 4, 0, True, 1, True),
    (256, 5, 1, 2, True, 2, True),
    (384, 3, 1, 1, False, 1, False),
    (384, 3, 1, 1, False, 2, False),
    (256, 3, 1, 1, True, 2, False),
]


class AlexNet(nn.Module):
    """`features` (5 convs, 3 max pools), `avgpool` (adaptive 6x6),
    `classifier` (dropout, FC-4096, FC-4096, FC-classes), as torchvision's."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, two_tower: bool = False) -> None:
        super().__init__()
        convs = ALEXNET_TWO_TOWER_CONVS if two_tower else [(*c, 1, False) for c in ALEXNET_CONVS]
        layers: list[nn.Module] = []
        cin = 3
        for cout, k, s, p, pool, groups, lrn in convs:
            layers += [nn.Conv2d(cin, cout, k, s, p, groups=groups), nn.ReLU(inplace=True)]
            if lrn:
                layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@register_model(
    family="alexnet",
    year=2012,
    paper="ImageNet Classification with Deep Convolutional Neural Networks",
    torchvision="alexnet",
    published=Published(
        source="Krizhevsky et al. 2012; torchvision docs (one-tower layout)", params=61.1e6, madds=0.714e9
    ),
    note="torchvision's one-tower layout (Krizhevsky 2014), not the paper's two-GPU 96-256-384-384-256 net",
)
def alexnet(**kwargs) -> AlexNet:
    return AlexNet(**kwargs)
