"""YOLO v1 (Redmon, Divvala, Girshick & Farhadi 2015, "You Only Look Once:
Unified, Real-Time Object Detection").

24 convolutional layers (GoogLeNet-inspired: 1x1 reductions followed by 3x3
convs, no batch norm, leaky ReLU 0.1) and two fully connected layers (4096,
dropout 0.5, then S x S x (B*5 + C) = 7 x 7 x 30 with a linear activation) on
a 448x448 image. The output is reshaped to (N, S, S, B*5 + C). Decoding the
boxes and NMS are post-processing and not run.
"""

from __future__ import annotations

from torch import Tensor, nn

from netstat.zoo._registry import Published, register_model

# Redmon et al. 2015, Figure 3: (kernel, filters, stride) per conv, "M" = 2x2
# max pool with stride 2, ("R", n, [...]) = the bracketed group repeated n times.
YOLO_V1_CFG: list = [
    (7, 64, 2), "M",
    (3, 192, 1), "M",
    (1, 128, 1), (3, 256, 1), (1, 256, 1), (3, 512, 1), "M",
    ("R", 4, [(1, 256, 1), (3, 512, 1)]), (1, 512, 1), (3, 1024, 1), "M",
    ("R", 2, [(1, 512, 1), (3, 1024, 1)]), (3, 1024, 1), (3, 1024, 2),
    (3, 1024, 1), (3, 1024, 1),
]  # fmt: skip
YOLO_V1_FC = 4096
YOLO_V1_GRID, YOLO_V1_BOXES, YOLO_V1_CLASSES = 7, 2, 20  # S, B, C (PASCAL VOC)
LEAKY_SLOPE = 0.1


def _expand(cfg: list) -> list:
    out = []
    for item in cfg:
        if isinstance(item, tuple) and item[0] == "R":
            out += list(item[2]) * item[1]
        else:
            out.append(item)
    return out


def make_yolo_v1_layers(cfg: list = YOLO_V1_CFG, in_channels: int = 3) -> nn.Sequential:
    """The conv trunk: conv ("same" padding, bias) + leaky ReLU per tuple,
    MaxPool2d(2, 2) per "M"."""
    layers: list[nn.Module] = []
    for item in _expand(cfg):
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        k, filters, stride = item
        layers += [nn.Conv2d(in_channels, filters, k, stride, padding=k // 2), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
        in_channels = filters
    return nn.Sequential(*layers)


class YOLOv1(nn.Module):
    """`features` (24 convs), `classifier` (FC 4096, leaky ReLU, dropout, FC
    S*S*(B*5+C)); output (N, S, S, B*5 + C)."""

    def __init__(
        self, grid: int = YOLO_V1_GRID, boxes: int = YOLO_V1_BOXES, num_classes: int = YOLO_V1_CLASSES
    ) -> None:
        super().__init__()
        self.features = make_yolo_v1_layers()
        self.grid, self.depth = grid, boxes * 5 + num_classes
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(1024 * grid * grid, YOLO_V1_FC),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Dropout(0.5),
            nn.Linear(YOLO_V1_FC, grid * grid * self.depth),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.classifier(self.features(x))
        return x.view(-1, self.grid, self.grid, self.depth)


@register_model(
    family="yolo",
    task="detection",
    year=2015,
    paper="You Only Look Once: Unified, Real-Time Object Detection",
    input_shape=(1, 3, 448, 448),
    published=Published(
        source="Redmon, darknet YOLO page ('Old YOLO': 40.19 Bn FLOPs = 2 x 20.1 G MAdds at 448); "
        "the paper prints no parameter count",
        madds=20.1e9,
        note="darknet's released v1 cfg ends in a locally connected layer; the paper's FC 4096 head is 0.9% more",
    ),
    aliases=("yolo", "yolov1"),
    note="the paper's Figure 3 net (24 conv + 2 FC, no batch norm), 20 VOC classes; fixed 448x448 input (FC head)",
)
def yolo_v1(num_classes: int = YOLO_V1_CLASSES) -> YOLOv1:
    return YOLOv1(num_classes=num_classes)
