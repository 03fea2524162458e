"""Every command takes every model and every input form (issue 20): each
command x model-kind cell either works, with the numbers `profile` gives for
the same model and inputs, or refuses with one sentence saying why (exit 1
or 2, no traceback). The refusals are listed: a cell that starts refusing,
or stops, fails here."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from netstat.cli import app

MODELS = '''
import torch
import torch.nn as nn


class Cnn(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, image, extra):
        return self.fc(self.conv(image).mean((2, 3)) + extra)


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.mix = nn.Linear(16, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, input_ids, attention_mask=None):
        h = self.mix(self.emb(input_ids))
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        return self.fc(h.mean(1))


def cnn():
    return Cnn()


def two_inputs():
    return TwoInputs()


def tokens():
    return Tokens()


def wide(width):
    return Cnn(width)


def detector():
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
    backbone.out_channels = 8
    anchors = AnchorGenerator(sizes=((16, 32),), aspect_ratios=((1.0,),))
    pool = MultiScaleRoIAlign(["0"], output_size=4, sampling_ratio=2)
    return FasterRCNN(backbone, num_classes=3, rpn_anchor_generator=anchors, box_roi_pool=pool, min_size=64, max_size=64,
                      rpn_post_nms_top_n_test=20, box_detections_per_img=5, representation_size=16)


cnn.input_shape = (1, 3, 16, 16)
wide.input_shape = (1, 3, 16, 16)
'''

# kind -> (factory, CLI options giving its inputs and builder arguments)
KINDS = {
    "cnn": ("cnn", []),
    "two-inputs": ("two_inputs", ["--input", "1,3,16,16", "--input", "1,8"]),
    "keyword": ("tokens", ["--input", "1,12:int64", "--input", "attention_mask=1,12:int64"]),
    "token-ids": ("tokens", ["--input", "1,12:int64"]),
    "detector": ("detector", ["--input", "1,3,64,64"]),
    "model-kwargs": ("wide", ["--model-kwargs", "width=4"]),
}
BENCH = ["--min-time", "0.01", "--max-time", "0.05"]
# command -> (argv before the model, argv after it); "{m}" is the model spec, "{tmp}" a fresh directory
COMMANDS = {
    "profile": (["profile", "{m}"], []),
    "profile --train": (["profile", "{m}", "--train", "--batch", "2"], []),
    "compare": (["compare", "{m}", "{m}"], []),
    "compare --train": (["compare", "{m}", "{m}", "--train", "--batch", "2"], []),
    "compare --crosscheck": (["compare", "{m}", "{m}", "--crosscheck"], []),
    "compare --bench": (["compare", "{m}", "{m}", "--bench", "--min-time", "0.01", "--max-time", "0.05"], []),
    "rf": (["rf", "{m}"], []),
    "rf --verify": (["rf", "{m}", "--verify"], []),
    "rf --effective": (["rf", "{m}", "--effective", "--seeds", "1"], []),
    "bench": (["bench", "{m}", *BENCH], []),
    "bench A B": (["bench", "{m}", "{m}", *BENCH], []),
    "fit": (["fit", "{m}", "--memory", "64MiB"], []),
    "fit --train": (["fit", "{m}", "--memory", "64MiB", "--train"], []),
    "bench --processes": (["bench", "{m}", "--processes", "2", *BENCH], []),
    "check": (["check", "--update", "--baseline", "{tmp}/baseline.json", "--models", "{m}"], []),
    "report": (["report", "--out", "{tmp}/reports", "--models", "{m}", "--no-crosscheck"], []),
}
# (command, kind) -> the words its one-sentence refusal must hold
REFUSALS = {
    ("rf", "keyword"): "spatial",
    ("rf", "token-ids"): "spatial",
    ("rf --verify", "keyword"): "spatial",
    ("rf --verify", "token-ids"): "spatial",
    ("rf --effective", "keyword"): "spatial",
    ("rf --effective", "token-ids"): "spatial",
    ("check", "model-kwargs"): "width",
    ("report", "model-kwargs"): "No such option: --model-kwargs",  # report, as check, pins factories called without arguments
    # torchvision's detectors need targets to train: the model's own assertion, said in one sentence
    ("profile --train", "detector"): "targets should not be none",
    ("compare --train", "detector"): "targets should not be none",
    ("fit --train", "detector"): "targets should not be none",
}


# (command, kind) -> the layers the gradient check finds wider than their gradient (exit 1, no error):
# after torchvision's RoI pooling the analytic RF is the whole image (roi_align has no RF rule: its
# boxes depend on values), while the gradient at the traced boxes reaches only the pixels they cover.
DISAGREEMENTS = {
    ("rf --verify", "detector"): {"roi_heads.box_roi_pool", "roi_heads.box_head", "roi_heads.box_head.fc6", "roi_heads.box_head.fc7",
                                  "roi_heads.box_predictor", "roi_heads.box_predictor.cls_score", "roi_heads.box_predictor.bbox_pred"},
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture(scope="module")
def profiles(models):
    """What `profile` says of each kind: the numbers every other command must repeat."""
    found = {}
    for kind, (factory, options) in KINDS.items():
        result = CliRunner().invoke(app, ["profile", f"{models}:{factory}", *options, "--format", "json"])
        assert result.exit_code == 0, result.output
        found[kind] = json.loads(result.stdout)
    return found


def _run(argv: list[str]):
    return CliRunner().invoke(app, argv + ["--format", "json"])


def _argv(command: str, kind: str, models, tmp_path) -> list[str]:
    factory, options = KINDS[kind]
    before, after = COMMANDS[command]
    spec = f"{models}:{factory}"
    return [a.replace("{m}", spec).replace("{tmp}", str(tmp_path)) for a in before] + options + after


def _documents(doc) -> list[dict]:
    """Every per-model entry of a document that carries counts (--processes: of every process's run)."""
    if isinstance(doc, dict) and "totals" in doc:
        return [doc]
    if isinstance(doc, dict) and "runs" in doc:
        return [entry for run in doc["runs"] for entry in _documents(run)]
    entries = doc.get("models", doc.get("results", [])) if isinstance(doc, dict) else doc
    if isinstance(entries, dict):
        entries = list(entries.values())
    return [e for e in entries if isinstance(e, dict)]


def _same_numbers(doc: dict, reference: dict) -> int:
    """Params and MAdds wherever the document gives them, equal to profile's;
    how many numbers were compared."""
    totals = reference["totals"]
    compared = 0
    for entry in _documents(doc):
        counts = entry.get("totals", entry)
        if "params" in counts:
            assert counts["params"] == totals["params"]
            compared += 1
        if counts.get("madds") is not None and "training" not in entry and entry.get("batch", 1) == 1:
            assert counts["madds"] == totals["madds"]
            compared += 1
        if "training" in entry:
            assert entry["training"]["params"] == totals["params"]
            compared += 1
    return compared


# the commands whose documents carry counts: each must repeat profile's
COUNTING = {"profile", "profile --train", "compare", "compare --train", "compare --crosscheck", "compare --bench", "bench", "bench A B",
            "bench --processes", "report"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_every_model_kind(command, kind, models, profiles, tmp_path):
    result = _run(_argv(command, kind, models, tmp_path))
    refusal = REFUSALS.get((command, kind))
    if refusal is not None:
        assert result.exit_code in (1, 2), f"expected a refusal, got exit 0:\n{result.output[-2000:]}"
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in result.output, result.output
        assert re.search(refusal, errors[0], re.IGNORECASE), errors[0]
        return
    disagreeing = DISAGREEMENTS.get((command, kind))
    assert result.exit_code == (0 if disagreeing is None else 1), result.output[-3000:]
    doc = json.loads(result.stdout)
    if disagreeing is not None:
        assert {row["name"] for row in doc["verify"]["layers"] if row["status"] != "ok"} == disagreeing
    if command == "report":  # the report's counts are in the zoo.json it wrote; a model it could not measure is a note
        assert doc["notes"] == []
        doc = json.loads((tmp_path / "reports" / "zoo.json").read_text())
        assert len(doc["models"]) == 1
    compared = _same_numbers(doc, profiles[kind])
    assert compared > 0 or command not in COUNTING, f"{command} gave no count to compare"
