"""Models from elsewhere, right by default (issue 12): weights-aware
torchvision builds, --model-kwargs, several inputs with dtypes, detectors with
a deterministic cost. Each number is checked against torchvision's published
meta or a formula written out here."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import netstat
from netstat.cli import app
from netstat.errors import UsageError
from netstat.spec import InputSpec

tvm = pytest.importorskip("torchvision.models")


def _cli_json(*argv: str) -> dict:
    result = CliRunner().invoke(app, [*argv, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- torchvision: the weights entry decides the architecture and the input ----------------


def test_efficientnet_b4_at_its_crop_from_the_cli():
    data = _cli_json("profile", "torchvision:efficientnet_b4")
    meta = tvm.get_model_weights("efficientnet_b4").DEFAULT.meta
    assert data["input_shape"] == [1, 3, 380, 380]
    assert data["totals"]["params"] == meta["num_params"] == 19_341_616
    assert round(data["totals"]["madds"] / 1e9, 3) == meta["_ops"] == 4.394
    assert data["published"] == {"weights": "EfficientNet_B4_Weights.IMAGENET1K_V1", "params": 19_341_616, "gmacs": 4.394}


def test_googlenet_without_the_aux_heads_its_weights_drop():
    p = netstat.profile("torchvision:googlenet")
    assert p.totals["params"] == tvm.get_model_weights("googlenet").DEFAULT.meta["num_params"] == 6_624_904
    built_with_aux = tvm.googlenet(weights=None, aux_logits=True, init_weights=False)
    q = netstat.profile(built_with_aux, input_size=(1, 3, 224, 224))
    aux = sum(p.numel() for m in (built_with_aux.aux1, built_with_aux.aux2) for p in m.parameters())
    assert q.totals["params"] == 6_624_904 + aux
    assert q.totals["madds"] == p.totals["madds"]  # the aux heads never run in eval
    assert any(f"{aux:,} parameters are never read" in n and "aux1" in n and "aux2" in n for n in q.notes)


def test_named_weights_entry_and_none():
    w = tvm.get_model_weights("vit_h_14")
    swag = netstat.profile("torchvision:vit_h_14@IMAGENET1K_SWAG_E2E_V1", device="meta")
    assert swag.input_shape == (1, 3, 518, 518) and swag.totals["params"] == w.IMAGENET1K_SWAG_E2E_V1.meta["num_params"]
    plain = netstat.profile("torchvision:resnet50@none")
    assert plain.published is None and plain.totals["params"] == 25_557_032
    with pytest.raises(UsageError, match="no weights 'FOO'"):
        netstat.profile("torchvision:resnet50@FOO")


def test_model_kwargs_in_api_and_cli():
    p = netstat.profile("torchvision:vit_b_16", input_size=(1, 3, 384, 384), model_kwargs={"image_size": 384})
    # ViT-B/16: 12 blocks of (4 d^2 attention projections + 8 d^2 MLP) per token, plus attention
    # scores and the patch embedding, at 577 tokens (24 x 24 patches + class token).
    d, n, blocks = 768, 24 * 24 + 1, 12
    per_block = n * 12 * d * d + 2 * n * n * d
    patch = 24 * 24 * d * 3 * 16 * 16
    assert p.totals["madds"] == blocks * per_block + patch + d * 1000
    data = _cli_json("profile", "lenet5", "--model-kwargs", "num_classes=10")
    assert data["totals"]["output_shape"] == [[1, 10]]
    result = CliRunner().invoke(app, ["profile", "lenet5", "--model-kwargs", "num_classes=ten"])
    assert result.exit_code == 2 and "not a Python literal" in result.stderr


def test_video_and_segmentation_defaults():
    video = netstat.profile("torchvision:r3d_18")
    assert video.input_shape == (1, 3, 16, 112, 112)
    assert round(video.totals["madds"] / 1e9, 3) == tvm.get_model_weights("r3d_18").DEFAULT.meta["_ops"]
    seg = netstat.profile("torchvision:fcn_resnet50")
    assert seg.input_shape == (1, 3, 520, 520)
    assert seg.totals["params"] == tvm.get_model_weights("fcn_resnet50").DEFAULT.meta["num_params"]  # aux classifier included


# --- several inputs, dtypes ---------------------------------------------------------------


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.proj = nn.Linear(8, 16)

    def forward(self, ids, features):
        return self.emb(ids) + self.proj(features)


def test_several_inputs_with_a_dtype():
    p = netstat.profile(TwoInputs(), input_size=[InputSpec((2, 5), "int64"), (2, 5, 8)])
    assert p.inputs == [{"name": "0", "shape": [2, 5], "dtype": "int64"}, {"name": "1", "shape": [2, 5, 8], "dtype": "float32"}]
    assert p.totals["madds"] == 2 * 5 * 8 * 16  # the Linear only; an embedding look-up multiplies nothing
    with pytest.raises(UsageError, match=r"forward takes 2 inputs \(ids, features\), but 1 positional was given"):
        netstat.profile(TwoInputs(), input_size=(2, 5))


def test_several_inputs_from_the_cli(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(
        "import torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.emb = nn.Embedding(100, 16); self.lin = nn.Linear(8, 16)\n"
        "    def forward(self, ids, x):\n        return self.emb(ids) + self.lin(x)\n"
        "def build():\n    return M()\n"
    )
    data = _cli_json("profile", f"{path}:build", "--input", "2,5:int64", "--input", "2,5,8")
    assert data["inputs"][0] == {"name": "0", "shape": [2, 5], "dtype": "int64"} and data["totals"]["madds"] == 2 * 5 * 8 * 16
    result = CliRunner().invoke(app, ["profile", f"{path}:build", "--input", "2,5:int64"])
    assert result.exit_code == 2 and "takes 2 inputs" in result.stderr


def test_raft_takes_two_frames_by_default():
    p = netstat.profile("torchvision:raft_small")
    assert [i["shape"] for i in p.inputs] == [[1, 3, 512, 512]] * 2
    meta = tvm.get_model_weights("raft_small").DEFAULT.meta
    assert p.totals["params"] == meta["num_params"] and round(p.totals["madds"] / 1e9, 3) == meta["_ops"]


# --- detectors ----------------------------------------------------------------------------

# The R-CNN box head per proposal: TwoMLPHead (256x7x7 -> 1024 -> 1024) and
# FastRCNNPredictor (1024 -> 91 classes and 91 x 4 box deltas).
BOX_HEAD = 256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * 91 + 1024 * 91 * 4
# Mask R-CNN per detection: four 3x3 convs 256 -> 256 at 14x14, a 2x2 stride-2
# transposed conv 256 -> 256 (input elements x Cout x k^2) and a 1x1 conv to 91 classes at 28x28.
MASK_HEAD = 4 * 14 * 14 * 256 * 256 * 9 + 14 * 14 * 256 * 256 * 4 + 28 * 28 * 256 * 91


def test_detector_cost_is_fixed_plus_per_box():
    p = netstat.profile("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", proposals=10, detections=3)
    d = p.detector
    assert (d.proposals, d.detections) == (10, 3)
    assert d.per_proposal_madds == BOX_HEAD
    assert p.totals["madds"] == d.fixed_madds + 10 * BOX_HEAD
    meta = tvm.get_model_weights("fasterrcnn_mobilenet_v3_large_320_fpn").DEFAULT.meta
    assert round(d.fixed_madds / 1e9, 3) == meta["_ops"]  # published = fixed part + 0 proposals
    default = netstat.profile("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    assert (default.detector.proposals, default.detector.detections) == (150, 100)  # rpn post_nms_top_n_test, detections_per_img


def test_detector_cost_does_not_depend_on_weights():
    counts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = tvm.detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=5)
        counts.append(netstat.profile(model, input_size=(1, 3, 320, 320), proposals=20, detections=4).totals["madds"])
    assert counts[0] == counts[1]


@pytest.mark.slow
def test_mask_rcnn_per_detection_is_the_mask_head():
    p = netstat.profile("torchvision:maskrcnn_resnet50_fpn", proposals=5, detections=2)
    assert p.detector.per_detection_madds == MASK_HEAD
    assert p.totals["madds"] == p.detector.fixed_madds + 5 * BOX_HEAD + 2 * MASK_HEAD
