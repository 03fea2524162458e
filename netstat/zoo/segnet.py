"""Encoder-decoder nets that upsample with max-unpooling: DeconvNet and SegNet.

- `deconvnet` (Noh, Hong & Han 2015, "Learning Deconvolution Network for
  Semantic Segmentation"): the VGG-16 encoder with batch norm, fc6 (7x7 conv
  of 4096, 7x7 -> 1x1) and fc7 (1x1, 4096), then the mirrored decoder:
  deconv-fc6 (7x7 transposed conv, 1x1 -> 7x7), and per stage an unpooling
  with the encoder's switches (pool indices) followed by 3x3 transposed convs
  mirroring the encoder's convs; a 1x1 transposed-conv scorer. 224x224
  object proposals in, 21 PASCAL classes out.
- `segnet` (Badrinarayanan, Kendall & Cipolla 2015, "SegNet: A Deep
  Convolutional Encoder-Decoder Architecture for Image Segmentation"): the 13
  VGG-16 convs with batch norm as the encoder; the decoder unpools with the
  encoder's pooling indices and applies mirrored 3x3 conv / BN / ReLU layers;
  the last conv maps to the classes (11 CamVid classes at 360x480).

Both reuse `make_vgg_layers(VGG_CFGS["D"], batch_norm=True)` with the pools
switched to `return_indices=True`; unpooling gets the pre-pool size, so odd
sizes (45 -> 22 -> 45 at 360x480) come back exactly.
"""

from __future__ import annotations

from torch import Tensor, nn

from netstat.zoo._blocks import ConvBNAct
from netstat.zoo._registry import Published, register_model
from netstat.zoo.vgg import VGG_CFGS, make_vgg_layers

# Decoder widths per stage, deepest first: the output channels of each conv
# (SegNet) or transposed conv (DeconvNet) after that stage's unpooling. They
# mirror VGG-16's configuration D (Simonyan & Zisserman 2014, Table 1): the
# last layer of a stage narrows to the next stage's width.
# Noh et al. 2015, Table 1 (deconv5_1 ... deconv1_2); Badrinarayanan et al.
# 2015, Figure 2 and the authors' Caffe net (conv5_3_D ... conv1_2_D; conv1_1_D
# is the classifier).
DECONVNET_DECODER: tuple[tuple[int, ...], ...] = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))
SEGNET_DECODER: tuple[tuple[int, ...], ...] = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64,))
DECONVNET_FC = (7, 4096)  # fc6 kernel and width; fc7 is 1x1 with the same width


class SwitchEncoder(nn.Sequential):
    """A conv trunk whose max pools return their argmax indices (the
    "switches"); `forward` returns the features and, per pool, its indices and
    input size. Same indices as the Sequential it wraps."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__(*features)
        for m in self:
            if isinstance(m, nn.MaxPool2d):
                m.return_indices = True

    def forward(self, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, tuple[int, int]]]]:
        switches: list[tuple[Tensor, tuple[int, int]]] = []
        for layer in self:
            if isinstance(layer, nn.MaxPool2d):
                size = (int(x.shape[-2]), int(x.shape[-1]))
                x, indices = layer(x)
                switches.append((indices, size))
            else:
                x = layer(x)
        return x, switches


def vgg16_bn_encoder() -> SwitchEncoder:
    """VGG-16 convs with batch norm, pools returning their switches."""
    return SwitchEncoder(make_vgg_layers(VGG_CFGS["D"], batch_norm=True))


def _deconv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UnpoolStage(nn.Module):
    """`unpool` (2x2 max-unpooling with the encoder's indices, back to the
    encoder's pre-pool size), then `layers`."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, indices: Tensor, size: tuple[int, int]) -> Tensor:
        return self.layers(self.unpool(x, indices, output_size=size))


class UnpoolDecoder(nn.Module):
    """`stage5` ... `stage1` (UnpoolStages, deepest first), each unpooling
    with the switches of the matching encoder pool; `widths` as the tables."""

    def __init__(self, widths: tuple[tuple[int, ...], ...], make_layer) -> None:
        super().__init__()
        in_channels = widths[0][0]
        for i, stage in enumerate(widths):
            layers = []
            for out in stage:
                layers.append(make_layer(in_channels, out))
                in_channels = out
            self.add_module(f"stage{len(widths) - i}", UnpoolStage(layers))

    def forward(self, x: Tensor, switches: list[tuple[Tensor, tuple[int, int]]]) -> Tensor:
        for stage, (indices, size) in zip(self.children(), reversed(switches)):
            x = stage(x, indices, size)
        return x


class DeconvNet(nn.Module):
    """`features` (VGG-16-BN with switches), `fc` (fc6, fc7 with BN, ReLU),
    `deconv_fc6`, `decoder` (UnpoolDecoder: five stages of 3x3 transposed
    convs with BN, ReLU), `score` (1x1 transposed conv to classes)."""

    def __init__(self, num_classes: int = 21) -> None:
        super().__init__()
        k, width = DECONVNET_FC
        self.features = vgg16_bn_encoder()
        self.fc = nn.Sequential(ConvBNAct(512, width, k, padding=0, bias=True), ConvBNAct(width, width, 1, bias=True))
        self.deconv_fc6 = _deconv_bn_relu(width, DECONVNET_DECODER[0][0], k)
        self.decoder = UnpoolDecoder(DECONVNET_DECODER, lambda cin, cout: _deconv_bn_relu(cin, cout, 3, padding=1))
        self.score = nn.ConvTranspose2d(DECONVNET_DECODER[-1][-1], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x, switches = self.features(x)
        x = self.deconv_fc6(self.fc(x))
        return self.score(self.decoder(x, switches))


class SegNet(nn.Module):
    """`features` (VGG-16-BN with switches), `decoder` (UnpoolDecoder: five
    stages of 3x3 conv, BN, ReLU), `classifier` (3x3 conv to classes,
    conv1_1_D)."""

    def __init__(self, num_classes: int = 11) -> None:
        super().__init__()
        self.features = vgg16_bn_encoder()
        self.decoder = UnpoolDecoder(SEGNET_DECODER, lambda cin, cout: ConvBNAct(cin, cout, 3, bias=True))
        self.classifier = nn.Conv2d(SEGNET_DECODER[-1][-1], num_classes, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x, switches = self.features(x)
        return self.classifier(self.decoder(x, switches))


@register_model(
    family="deconvnet",
    task="segmentation",
    year=2015,
    paper="Learning Deconvolution Network for Semantic Segmentation",
    input_shape=(1, 3, 224, 224),
    published=Published(
        source="Noh et al. 2015 (architecture in Table 1; no parameter or MAdds count given)",
        note="own count only: 251.8 M parameters, of which fc6 and its mirror deconv-fc6 hold 205.5 M",
    ),
    note="one 224x224 proposal; the paper's proposal extraction and FCN ensemble are not part of the network",
)
def deconvnet(num_classes: int = 21) -> DeconvNet:
    return DeconvNet(num_classes)


@register_model(
    family="segnet",
    task="segmentation",
    year=2015,
    paper="SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image Segmentation",
    input_shape=(1, 3, 360, 480),
    published=Published(
        source="Badrinarayanan et al. 2015 (29.5 M trainable parameters; encoder 14.7 M)",
        params=29.5e6,
    ),
    note="CamVid net (11 classes, 360x480); the paper gives no MAdds",
)
def segnet(num_classes: int = 11) -> SegNet:
    return SegNet(num_classes)
