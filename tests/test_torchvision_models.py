"""Every torchvision model, profiled exactly as a new user profiles it, against
the numbers torchvision publishes for it.

For every model in `torchvision.models.list_models()` (classification,
segmentation, detection, video, optical flow, quantization) and every weights
entry whose `num_params` or `_ops` differ from the DEFAULT entry's,
`netstat.profile("torchvision:NAME[@ENTRY]")` with no other argument must give

- params == `weights.meta["num_params"]`, exactly;
- `round(MAdds / 1e9, 3) == weights.meta["_ops"]` (torchvision's "GFLOPS" are
  GMACs of conv, linear and attention, rounded to 3 decimals);
- the input torchvision measured `_ops` at (the entry's transforms: crop size,
  segmentation's resize size, 16-frame clips; a detector's own `min_size`;
  two 512 x 512 frames for optical flow);
- a trace on the meta device, except for the models in NEEDS_VALUES, whose
  forward cannot run without values; those fall back to CPU and must say why
  in `result.notes`.

Two kinds of published number are explained rather than equal: a detector
whose figure held fewer boxes than its maxima equals netstat's fixed part plus
those boxes (PUBLISHED_BOXES, exactly), and a quantized entry's num_params is
the float model's (FLOAT_PARAMS: held to the folded float twin in
tests/test_quantized.py). NEEDS_VALUES is strict: a model in it that starts to
run on meta fails, and its entry must go. A few cases also run through the command line
(`netstat profile torchvision:NAME --format json`).

Every case but the SMOKE ones is marked slow (the whole file takes minutes,
most of it in the detectors and quantized models that run on CPU);
`pytest -m "not slow"` keeps one model of each task.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import pytest

tvm = pytest.importorskip("torchvision.models")

import netstat  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")

# ---------------------------------------------------------------------------
# The cases: every model's DEFAULT entry, and every other entry that publishes
# different numbers (regnet_y_16gf / 32gf / 128gf SWAG, ViT SWAG E2E at 384 /
# 512 / 518 and LINEAR at 224, keypointrcnn COCO_LEGACY). Entries that publish
# the same numbers as DEFAULT (IMAGENET1K_V1 beside V2, raft_large's C_T_*,
# SWAG_LINEAR at 224) are not repeated; netstat matches those too
# (`python tests/bench/torchvision_table.py --all-entries`).
# ---------------------------------------------------------------------------


def _cases() -> list[str]:
    ids = []
    for name in tvm.list_models():
        enum = tvm.get_model_weights(name)
        default = enum.DEFAULT
        ids.append(name)
        for entry in enum:
            published = (entry.meta["num_params"], entry.meta["_ops"])
            if entry is not default and published != (default.meta["num_params"], default.meta["_ops"]):
                ids.append(f"{name}@{entry.name}")
    return ids


CASES = _cases()
QUANTIZED = tvm.list_models(module=tvm.quantization)
DETECTION = tvm.list_models(module=tvm.detection)
SEGMENTATION = tvm.list_models(module=tvm.segmentation)
VIDEO = tvm.list_models(module=tvm.video)
OPTICAL_FLOW = tvm.list_models(module=tvm.optical_flow)

# One quick case per task: `pytest -m "not slow"` runs these.
SMOKE = {"resnet18", "vit_b_16@IMAGENET1K_SWAG_E2E_V1", "fcn_resnet50", "fcos_resnet50_fpn", "r3d_18", "raft_small"}

# torchvision's detector `_ops` count the boxes that survived the score
# thresholds in its own measurement (random weights, a random image); netstat
# hands every head its maximum (post_nms_top_n proposals, detections_per_img
# detections). Each published number is netstat's fixed part plus so many
# boxes, from the breakdown (result.detector) -- the README's table:
PUBLISHED_BOXES = {  # case: (proposals, detections) in torchvision's measurement
    "fasterrcnn_mobilenet_v3_large_320_fpn": (0, 0),
    "fasterrcnn_mobilenet_v3_large_fpn": (0, 0),
    "keypointrcnn_resnet50_fpn": (1000, 1),
    "keypointrcnn_resnet50_fpn@COCO_LEGACY": (1000, 0),
    "maskrcnn_resnet50_fpn": (1000, 0),
}
# torchvision's quantized entries publish the float model's num_params; the
# int8 model folds each BatchNorm into its conv, and tests/test_quantized.py
# holds netstat's count to the float twin's minus the folded channels.
FLOAT_PARAMS = {name: "published params are the float model's: checked against the folded twin in tests/test_quantized.py" for name in QUANTIZED}

# Models that need values (in the forward, or for quantized models already in
# torchvision's builder): they fall back to CPU, and `result.notes` must name
# the cause (a fragment of the meta device's error).
_ROI_LEVELS = "torch.nonzero"  # MultiScaleRoIAlign assigns boxes to FPN levels with torch.where(levels == i)
_QUANTIZED_ITEM = "item()"  # building the int8 model reads values: torch.ao's convert checks each observer's min <= max
NEEDS_VALUES = {
    "fasterrcnn_mobilenet_v3_large_320_fpn": _ROI_LEVELS,
    "fasterrcnn_mobilenet_v3_large_fpn": _ROI_LEVELS,
    "fasterrcnn_resnet50_fpn": _ROI_LEVELS,
    "fasterrcnn_resnet50_fpn_v2": _ROI_LEVELS,
    "keypointrcnn_resnet50_fpn": _ROI_LEVELS,
    "maskrcnn_resnet50_fpn": _ROI_LEVELS,
    "maskrcnn_resnet50_fpn_v2": _ROI_LEVELS,
    **{name: _QUANTIZED_ITEM for name in QUANTIZED},
}


def model_name(case: str) -> str:
    return case.partition("@")[0]


def weights_of(case: str):
    name, _, entry = case.partition("@")
    enum = tvm.get_model_weights(name)
    return enum[entry] if entry else enum.DEFAULT


def params(elsewhere: dict[str, str] | None = None) -> list:
    """CASES as pytest params: id = the case, slow unless in SMOKE; a case
    checked in another file (`elsewhere`, with the reason) is left out here."""
    elsewhere = elsewhere or {}
    return [pytest.param(case, id=case, marks=[] if case in SMOKE else [pytest.mark.slow]) for case in CASES if case not in elsewhere]


# ---------------------------------------------------------------------------
# One profile per case, shared by the tests below.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    params: int
    madds: int
    device: str
    input_shape: tuple[int, ...]
    inputs: tuple[tuple[int, ...], ...]
    notes: tuple[str, ...]
    seconds: float
    detector: Any = None  # netstat.detection.DetectorCost for a detector


@functools.cache
def measured(case: str) -> Measured:
    """`netstat.profile("torchvision:CASE")`, no other argument: what a new user runs."""
    start = time.perf_counter()
    result = netstat.profile(f"torchvision:{case}")
    return Measured(
        params=result.totals["params"],
        madds=result.totals["madds"],
        device=result.device,
        input_shape=tuple(result.input_shape),
        inputs=tuple(tuple(i["shape"]) for i in result.inputs),
        notes=tuple(result.notes),
        seconds=time.perf_counter() - start,
        detector=result.detector,
    )


# ---------------------------------------------------------------------------
# The published numbers.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", params(FLOAT_PARAMS))
def test_params_equal_published(case):
    published = weights_of(case).meta["num_params"]
    got = measured(case).params
    assert got == published, f"torchvision:{case}: netstat {got:,} params, torchvision publishes {published:,} ({weights_of(case)})"


@pytest.mark.parametrize("case", params())
def test_gmacs_equal_published(case):
    """At the model's own box maxima; a detector whose published figure held
    fewer boxes must equal its fixed part plus those boxes, exactly."""
    published = weights_of(case).meta["_ops"]
    m = measured(case)
    got = round(m.madds / 1e9, 3)
    if case in PUBLISHED_BOXES:
        d, (proposals, detections) = m.detector, PUBLISHED_BOXES[case]
        explained = d.fixed_madds + proposals * (d.per_proposal_madds or 0) + detections * (d.per_detection_madds or 0)
        got = round(explained / 1e9, 3)
    assert got == published, (
        f"torchvision:{case}: netstat {got} GMACs ({m.madds:,} MAdds at {m.input_shape} on {m.device}), "
        f"torchvision publishes {published} ({weights_of(case)})"
    )


# ---------------------------------------------------------------------------
# The input torchvision measured at, and the device.
# ---------------------------------------------------------------------------


def expected_inputs(case: str) -> list[tuple[int, ...]]:
    """The input(s) of torchvision's own `_ops` measurement, from torchvision's
    objects rather than from netstat's table."""
    name = model_name(case)
    if name in OPTICAL_FLOW:
        return [(1, 3, 512, 512)] * 2  # two frames; OpticalFlow transforms do not resize
    if name in DETECTION:
        import torch

        with torch.device("meta"):
            model = tvm.get_model(name, weights=None, weights_backbone=None)
        size = model.transform.min_size[-1]  # the detector resizes to its own min_size
        return [(1, 3, size, size)]
    transforms = weights_of(case).transforms()
    if name in SEGMENTATION:
        size = transforms.resize_size
        return [(1, 3, size[0], size[-1])]
    crop = transforms.crop_size
    if name in VIDEO:
        return [(1, 3, 16, crop[0], crop[-1])]  # 16-frame clips
    return [(1, 3, crop[0], crop[-1])]


@pytest.mark.parametrize("case", params({}))
def test_default_input_is_torchvisions(case):
    m = measured(case)
    want = expected_inputs(case)
    assert list(m.inputs) == want and m.input_shape == want[0], f"torchvision:{case}: netstat traced {list(m.inputs)}, torchvision measured at {want}"


@pytest.mark.parametrize("case", params({}))
def test_runs_on_meta_unless_it_needs_values(case):
    m = measured(case)
    cause = NEEDS_VALUES.get(model_name(case))
    if cause is None:
        assert m.device == "meta", f"torchvision:{case} fell back to {m.device}: {m.notes}"
        return
    fallback = [n for n in m.notes if "cannot run on the meta device" in n]
    assert m.device == "cpu", f"torchvision:{case} now runs on {m.device}: remove it from NEEDS_VALUES"
    assert fallback and cause in fallback[0], f"torchvision:{case} fell back to CPU; expected a note naming {cause!r}, got {m.notes}"


# ---------------------------------------------------------------------------
# Through the command line, as in the README.
# ---------------------------------------------------------------------------


def _check_json(case: str, data: dict) -> None:
    meta = weights_of(case).meta
    assert data["model"] == f"torchvision:{case}", data["model"]
    assert data["device"] == "meta", data["notes"]
    assert data["totals"]["params"] == meta["num_params"], f"{case}: CLI {data['totals']['params']:,} params, published {meta['num_params']:,}"
    gmacs = round(data["totals"]["madds"] / 1e9, 3)
    assert gmacs == meta["_ops"], f"{case}: CLI {gmacs} GMACs, published {meta['_ops']}"
    assert [tuple(i["shape"]) for i in data["inputs"]] == expected_inputs(case)


def test_cli_subprocess_efficientnet_b4():
    """`netstat profile torchvision:efficientnet_b4 --format json` in a fresh
    process: clean JSON on stdout, notes on stderr, exit 0."""
    script = Path(sys.executable).with_name("netstat")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "netstat"]
    out = subprocess.run([*command, "profile", "torchvision:efficientnet_b4", "--format", "json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    _check_json("efficientnet_b4", data)
    assert data["input_shape"] == [1, 3, 380, 380]


@pytest.mark.parametrize("case", ["raft_small", "r3d_18", "vit_h_14@IMAGENET1K_SWAG_LINEAR_V1", "lraspp_mobilenet_v3_large"])
def test_cli_runner(case):
    """Two-frame optical flow, a 5-D video clip, a named weights entry and a
    segmentation model through `netstat.cli.app`."""
    from typer.testing import CliRunner

    from netstat.cli import app

    result = CliRunner().invoke(app, ["profile", f"torchvision:{case}", "--format", "json"])
    assert result.exit_code == 0, result.output
    _check_json(case, json.loads(result.stdout))


def test_cases_cover_every_model():
    """121 models (torchvision 0.29) and the weights entries with their own numbers."""
    assert {model_name(c) for c in CASES} == set(tvm.list_models())
    for table in (FLOAT_PARAMS, PUBLISHED_BOXES, NEEDS_VALUES):
        assert set(table) <= set(CASES), set(table) - set(CASES)
    assert set(SMOKE) <= set(CASES)
