"""Every core command through Typer's CliRunner, and every bad input of the
core issue: one clear sentence, a non-zero exit code, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from netstat.cli import app

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "my_model.py")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def run(runner, *args):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def assert_clean_error(result, code: int, *words: str):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for word in words:
        assert word in result.output


def test_profile_default(runner):
    r = run(runner, "profile", "mobilenet_v3")
    assert r.exit_code == 0, r.output
    assert "mobilenet_v3_large" in r.output and "216,589,760" in r.output


def test_profile_json_is_clean(runner):
    r = run(runner, "profile", "resnet18", "--format", "json")
    data = json.loads(r.stdout)
    assert data["totals"]["params"] == 11_689_512
    assert data["model"] == "resnet18"


def test_profile_by_type_and_depth(runner):
    r = run(runner, "profile", "resnet50", "--depth", "2", "--by", "type")
    assert r.exit_code == 0 and "Bottleneck" not in r.output.split("by type")[0]
    assert "Conv2d" in r.output and "add (functional)" in r.output
    r = run(runner, "profile", "alexnet", "--by", "type")
    assert "58,631,144" in r.output and "96.0%" in r.output


def test_profile_by_stage_csv_md(runner):
    r = run(runner, "profile", "vgg16", "--by", "stage", "--format", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("Stage,")
    r = run(runner, "profile", "vgg16", "--format", "md", "--depth", "1")
    assert "| features |" in r.stdout


def test_profile_user_file(runner):
    r = run(runner, "profile", f"{EXAMPLE}:build", "--input", "1,3,128,128")
    assert r.exit_code == 0, r.output
    assert "1x10" in r.output


def test_profile_package_factory(runner):
    r = run(runner, "profile", "netstat.zoo.lenet:lenet5", "--input", "1,1,32,32", "--format", "json")
    assert json.loads(r.stdout)["totals"]["params"] == 61_706


def test_profile_torchvision_spec(runner):
    pytest.importorskip("torchvision")
    r = run(runner, "profile", "torchvision:resnet18", "--format", "json")
    assert json.loads(r.stdout)["totals"]["madds"] == 1_814_073_344


def test_compare(runner):
    r = run(runner, "compare", "vgg16", "mobilenet_v1", "--format", "json")
    assert r.exit_code == 0, r.output
    models = json.loads(r.stdout)["models"]
    assert [m["model"] for m in models] == ["vgg16", "mobilenet_v1"]
    ratio = models[0]["totals"]["params"] / models[1]["totals"]["params"]
    assert 32 < ratio < 33.5  # "MobileNet V1 has 1/32 of VGG-16's parameters"
    r = run(runner, "compare", "vgg16", "mobilenet_v1")
    assert "Comparison" in r.output


def test_calc_conv(runner):
    r = run(runner, "calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "3")
    assert r.exit_code == 0
    assert "(8x3x3+1)x16 = 1,168" in r.output
    assert "8x3x3 + 16x(8x1x1+1) = 216" in r.output
    r = run(runner, "calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "3", "--size", "32", "--format", "json")
    data = json.loads(r.stdout)
    assert data["layouts"][0]["madds"] == 32 * 32 * 8 * 9 * 16
    assert data["layouts"][1]["madds"] == 32 * 32 * 8 * 9 + 32 * 32 * 8 * 16


def test_calc_matches_torch_modules():
    from netstat.calc import conv

    result = conv(8, 16, 3, groups=2)
    std = torch.nn.Conv2d(8, 16, 3)
    grouped = torch.nn.Conv2d(8, 16, 3, groups=2)
    sep = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=8, bias=False), torch.nn.Conv2d(8, 16, 1))
    counts = [sum(p.numel() for p in m.parameters()) for m in (std, grouped, sep)]
    assert [layout.params for layout in result.layouts] == counts == [1168, 592, 216]


def test_list(runner):
    r = run(runner, "list", "--format", "json")
    names = [m["name"] for m in json.loads(r.stdout)["models"]]
    import netstat

    assert names == netstat.list_models()
    r = run(runner, "list", "--family", "resnet")
    assert "resnet50" in r.output and "vgg16" not in r.output
    r = run(runner, "list", "--task", "classification", "--format", "csv")
    assert r.exit_code == 0 and "alexnet" in r.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["profile", "resnet5O"], 2, ["Unknown model", "resnet50"]),
        (["profile", "mobilenet"], 2, ["ambiguous"]),
        (["profile", "resnet18", "--input", "1,3,abc"], 2, ["Malformed --input"]),
        (["profile", "resnet18", "--input", "1,3,0,224"], 2, ["positive"]),
        (["profile", "alexnet", "--input", "1,3,16,16"], 1, ["alexnet cannot run", "features."]),
        (["profile", "resnet18", "--input", "1,1,224,224"], 1, ["conv1", "channels"]),
        (["profile", "no/such/file.py:build"], 2, ["does not exist"]),
        (["profile", f"{EXAMPLE}:nothing", "--input", "1,3,32,32"], 2, ["no factory named 'nothing'"]),
        (["profile", f"{EXAMPLE}:not_a_module", "--input", "1,3,32,32"], 2, ["not a torch.nn.Module"]),
        (["profile", f"{EXAMPLE}:build"], 2, ["--input"]),
        (["profile", "resnet18", "--format", "xml"], 2, ["Unknown format"]),
        (["profile", "resnet18", "--by", "colour"], 2, ["Unknown --by"]),
        (["profile", "resnet18", "--device", "tpu"], 2, ["Unknown device"]),
        (["calc", "conv", "--cin", "0", "--cout", "16"], 2, ["--cin must be a positive integer"]),
        (["calc", "conv", "--cin", "8", "--cout", "-3"], 2, ["--cout must be a positive integer"]),
        (["calc", "conv", "--cin", "8", "--cout", "16", "--groups", "3"], 2, ["must divide"]),
        (["list", "--task", "poetry"], 2, ["Unknown task"]),
        (["compare", "vgg16", "nosuchnet"], 2, ["Unknown model"]),
    ],
)
def test_bad_input(runner, args, code, words):
    assert_clean_error(run(runner, *args), code, *words)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_absent(runner):
    assert_clean_error(run(runner, "profile", "resnet18", "--device", "cuda"), 2, "no CUDA device")


def test_python_m_netstat():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "netstat", "calc", "conv", "--cin", "8", "--cout", "16"], capture_output=True, text=True, check=True)
    assert "1,168" in out.stdout
