"""The conventions users expect (issue 22): one version, py.typed shipped,
`--depth 0`, and the baseline lock held across processes by filelock."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from typer.testing import CliRunner

import netstat
from netstat.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_the_version_is_written_once_and_installed_as_written():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "netstat.__version__"}
    assert importlib.metadata.version("netstat") == netstat.__version__


def test_py_typed_ships_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["netstat"]
    assert (Path(netstat.__file__).parent / "py.typed").is_file()


def _rows(args: list[str]) -> list[dict]:
    res = runner.invoke(app, [*args, "--format", "csv"])
    assert res.exit_code == 0, res.output
    first_table = res.stdout.strip().split("\n\n")[0]  # a training profile adds a totals table
    header, *lines = [line.split(",") for line in first_table.splitlines()]
    return [dict(zip(header, line)) for line in lines]


def test_depth_0_profile_is_the_models_own_row():
    import torchvision

    (row,) = _rows(["profile", "resnet18", "--depth", "0"])
    assert row["Layer"] == "(model)" and row["Type"] == "ResNet"
    # torchvision's resnet18 is the same architecture: its parameter count, independently.
    assert int(row["Params"]) == sum(p.numel() for p in torchvision.models.resnet18().parameters()) == 11_689_512


def test_depth_0_rf_is_the_last_feature_map_and_the_output():
    rows = _rows(["rf", "vgg16", "--depth", "0"])
    # The last spatial map: avgpool (AdaptiveAvgPool2d(7) of a 7x7 map, after the conv stack).
    assert [row["Layer"] for row in rows] == ["avgpool", "(output)"]
    # VGG-16's conv stack by hand: 13 3x3 convs and 5 2x2 pools; RF = 1 + sum (k - 1) x stride so far = 212.
    strides, rf, jump = [(3, 1)] * 2 + [(2, 2)] + [(3, 1)] * 2 + [(2, 2)] + ([(3, 1)] * 3 + [(2, 2)]) * 3, 1, 1
    for kernel, stride in strides:
        rf, jump = rf + (kernel - 1) * jump, jump * stride
    assert rows[0]["RF (HxW)"] == f"{rf}|{rf}" and rows[0]["Stride"] == f"{jump}|{jump}" and rf == 212 and jump == 32
    refused = runner.invoke(app, ["rf", "vgg16", "--depth", "0", "--verify"])
    assert refused.exit_code == 2 and "--depth must be 1 or more with --verify" in refused.stderr


def test_depth_0_training_profile_is_the_models_own_row():
    res = runner.invoke(app, ["profile", "resnet18", "--depth", "0", "--train", "--batch", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    totals = json.loads(res.stdout)["training"]
    (row,) = _rows(["profile", "resnet18", "--depth", "0", "--train", "--batch", "2"])
    assert row["Layer"] == "(model)" and int(row["Params"]) == totals["params"] == 11_689_512
    assert int(row["Fwd MAdds"]) == totals["forward_madds"] and int(row["Bwd MAdds"]) == totals["backward_madds"]


_BUMP = """
import sys, time
from netstat.atomic import file_lock
path, counter = sys.argv[1], sys.argv[2]
for _ in range(20):
    with file_lock(path):
        value = int(open(counter).read())
        time.sleep(0.001)
        open(counter, "w").write(str(value + 1))
"""


def test_the_baseline_lock_excludes_other_processes(tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [subprocess.Popen([sys.executable, "-c", _BUMP, str(tmp_path / "b.json"), str(counter)]) for _ in range(3)]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]
    assert counter.read_text() == "60"  # no lost update: every read-modify-write held the lock alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter"]  # and the lock file is gone
