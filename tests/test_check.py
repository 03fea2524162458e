"""netstat check: baselines, exact drift detection, --update atomicity, papers."""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netstat import check as checking
from netstat.atomic import atomic_write
from netstat.cli import app
from netstat.errors import UsageError

MODELS = "lenet5,resnet20_cifar"  # small and fast
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def flat(res) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(res.output.split())


@pytest.fixture(scope="module")
def baseline_doc(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("baseline") / "baseline.json"
    result = checking.update(path, MODELS)
    assert result.updated and result.added == ["lenet5", "resnet20_cifar"]
    return json.loads(path.read_text())


@pytest.fixture
def baseline(tmp_path, baseline_doc) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline_doc, indent=2))
    return path


def edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=2))


# -- the baseline document ------------------------------------------------------


def test_baseline_holds_every_quantity_and_versions(baseline_doc):
    import torch

    import netstat

    assert baseline_doc["netstat_version"] == netstat.__version__
    assert baseline_doc["torch_version"] == torch.__version__
    assert baseline_doc["selection"] == ["lenet5", "resnet20_cifar"]
    lenet = baseline_doc["models"]["lenet5"]
    for key in ("params", "trainable_params", "buffers", "madds", "flops", "output_shape", "peak_activation_bytes", "memory_access_bytes"):
        assert isinstance(lenet[key], (int, list)), key
    assert lenet["input_shape"] == [1, 1, 32, 32]
    assert lenet["output_shape"] == [[1, 10]]
    assert lenet["params"] == lenet["trainable_params"] > 0


def test_final_feature_rf():
    pytest.importorskip("netstat.receptive")
    vgg = checking.measure(checking.select(["vgg16"])[0].source)
    assert vgg["rf"] == [212, 212] and vgg["rf_stride"] == [32, 32]  # pool5, Araujo et al. 2019
    lenet = checking.measure(checking.select(["lenet5"])[0].source)
    assert lenet["rf"] == [32, 32] and lenet["rf_stride"] == [4, 4]  # C5 sees the whole 32x32 input


def test_baseline_file_is_deterministic(tmp_path, baseline_doc):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    checking.update(a, "lenet5")
    checking.update(b, "lenet5")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().endswith("}\n")


# -- drift ----------------------------------------------------------------------


def test_no_drift_exits_0(baseline):
    res = run("check", "--baseline", str(baseline))  # the baseline's own selection
    assert res.exit_code == 0, res.output
    assert "no drift" in res.output


def test_one_parameter_of_drift_exits_1_and_names_the_model(baseline):
    edit(baseline, lambda d: d["models"]["resnet20_cifar"].update(params=d["models"]["resnet20_cifar"]["params"] + 1))
    before = baseline.read_bytes()
    res = run("check", "--baseline", str(baseline), "--models", MODELS)
    assert res.exit_code == 1, res.output
    assert "resnet20_cifar" in res.output and "params" in res.output and "DRIFT" in res.output
    assert "lenet5" not in res.output.split("Drift")[1]  # only the changed model is listed
    assert baseline.read_bytes() == before  # never rewritten without --update


def test_drift_in_a_shape_is_caught(baseline):
    edit(baseline, lambda d: d["models"]["lenet5"].update(output_shape=[[1, 11]]))
    res = run("check", "--baseline", str(baseline), "--format", "json")
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert data["drift"] == [{"model": "lenet5", "quantity": "output_shape", "baseline": [[1, 11]], "now": [[1, 10]], "delta": None, "relative": None}]


def test_added_and_removed_models(baseline):
    def change(doc):
        del doc["models"]["lenet5"]  # now "added": selected but not pinned
        doc["models"]["resnet9000_cifar"] = dict(doc["models"]["resnet20_cifar"])  # gone from the zoo
        doc["selection"].append("resnet9000_cifar")

    edit(baseline, change)
    res = run("check", "--baseline", str(baseline), "--format", "json")
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["added"] == ["lenet5"]
    assert data["removed"] == ["resnet9000_cifar"]
    assert data["drift"] == []


def test_a_typed_glob_reports_the_removed_models_it_matches(baseline):
    edit(baseline, lambda d: d["models"].update(resnet9000_cifar=d["models"]["resnet20_cifar"]))
    res = run("check", "--baseline", str(baseline), "--models", "resnet20_cifar,resnet9000*", "--format", "json")
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["removed"] == ["resnet9000_cifar"] and data["added"] == [] and data["drift"] == []


def test_markdown_format(baseline):
    edit(baseline, lambda d: d["models"]["lenet5"].update(madds=1))
    res = run("check", "--baseline", str(baseline), "--format", "md")
    assert res.exit_code == 1
    out = res.stdout
    assert out.startswith("### Baseline check")
    assert "| model | quantity | baseline | now | delta | change |" in out
    assert "| lenet5 | madds | 1 | 416,520 | +416,519 |" in out
    assert "[" not in out.split("### Drift")[0].splitlines()[-2]  # no Rich markup in Markdown
    assert "netstat check --baseline" in out and "--update" in out


def test_missing_or_malformed_baseline_is_a_usage_error(tmp_path):
    res = run("check", "--baseline", str(tmp_path / "nope.json"))
    assert res.exit_code == 2 and "does not exist" in flat(res) and "--update" in flat(res)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run("check", "--baseline", str(bad)).exit_code == 2


def test_unknown_model_pattern_is_a_usage_error(baseline):
    res = run("check", "--baseline", str(baseline), "--models", "nosuchnet*")
    assert res.exit_code == 2 and "No model matches" in flat(res)


# -- update -----------------------------------------------------------------------


def test_update_shows_what_changed_and_fixes_the_baseline(baseline, baseline_doc):
    edit(baseline, lambda d: d["models"]["lenet5"].update(flops=5))
    res = run("check", "--baseline", str(baseline), "--update")
    assert res.exit_code == 0, res.output
    assert "Changed" in res.output and "lenet5" in res.output and "flops" in res.output
    assert json.loads(baseline.read_text())["models"]["lenet5"]["flops"] == baseline_doc["models"]["lenet5"]["flops"]
    assert run("check", "--baseline", str(baseline)).exit_code == 0


def test_update_of_a_subset_keeps_the_other_models(baseline, baseline_doc):
    edit(baseline, lambda d: d["models"]["resnet20_cifar"].update(flops=5))
    res = run("check", "--baseline", str(baseline), "--update", "--models", "lenet5")
    assert res.exit_code == 0
    doc = json.loads(baseline.read_text())
    assert doc["models"]["resnet20_cifar"]["flops"] == 5  # not selected: untouched
    assert doc["selection"] == ["lenet5", "resnet20_cifar"]


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_interrupted_update_leaves_the_old_file_intact(baseline, monkeypatch):
    edit(baseline, lambda d: d["models"]["lenet5"].update(flops=5))
    before = baseline.read_bytes()

    def broken_dumps(doc, indent=0):
        raise RuntimeError("disk full")

    monkeypatch.setattr(checking, "dumps", broken_dumps)
    with pytest.raises(RuntimeError):
        checking.update(baseline, MODELS)
    assert baseline.read_bytes() == before
    assert _no_temp_files(baseline.parent)


def test_write_that_dies_midway_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text('{"models": {}}\n')

    def half_then_die(handle):
        handle.write('{"models": {"resnet')
        raise OSError("killed")

    with pytest.raises(OSError):
        atomic_write(path, half_then_die)
    assert path.read_text() == '{"models": {}}\n'
    assert _no_temp_files(tmp_path)


def test_failed_replace_leaves_the_old_file_intact(baseline, monkeypatch):
    before = baseline.read_bytes()

    def no_replace(src, dst):
        raise OSError("read-only file system")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError):
        checking.write_json(baseline, {"models": {}})
    assert baseline.read_bytes() == before
    assert _no_temp_files(baseline.parent)


def test_update_creates_a_new_baseline(tmp_path):
    path = tmp_path / "sub" / "new.json"
    res = run("check", "--baseline", str(path), "--update", "--models", "lenet5")
    assert res.exit_code == 0, res.output
    assert json.loads(path.read_text())["models"]["lenet5"]["params"] > 0


# -- user models --------------------------------------------------------------------

USER_MODULE = textwrap.dedent(
    """
    import torch.nn as nn
    from torch.nn import Linear  # imported, not defined here: not a factory


    def tiny_cnn():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


    tiny_cnn.input_shape = (1, 3, 16, 16)


    def wide_cnn(width=8):
        return nn.Sequential(nn.Conv2d(3, width, 3), nn.Flatten())


    def helper(channels):  # needs an argument: not a factory
        return channels


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return self.conv(x)


    def _private():
        return nn.Identity()
    """
)


def test_every_public_factory_of_a_user_module(tmp_path):
    source = tmp_path / "my_models.py"
    source.write_text(USER_MODULE)
    baseline = tmp_path / "mine.json"
    pattern = f"{source}:*"
    res = run("check", "--baseline", str(baseline), "--models", pattern, "--input", "1,3,8,8", "--update")
    assert res.exit_code == 0, res.output
    models = json.loads(baseline.read_text())["models"]
    assert sorted(models) == [f"{source}:{n}" for n in ("Net", "tiny_cnn", "wide_cnn")]
    assert models[f"{source}:tiny_cnn"]["input_shape"] == [1, 3, 16, 16]  # the factory's own input
    assert models[f"{source}:wide_cnn"]["input_shape"] == [1, 3, 8, 8]  # --input
    # the stored selection makes a plain check work, and zoo models are not expected
    res = run("check", "--baseline", str(baseline), "--input", "1,3,8,8")
    assert res.exit_code == 0, res.output


def test_pattern_matching_rules():
    assert checking.matches("resnet50", "resnet*")
    assert not checking.matches("mypkg.models:resnet50", "resnet*")
    assert checking.matches("mypkg.models:resnet50", "mypkg.models:*")
    assert not checking.matches("other:resnet50", "mypkg.models:*")
    assert checking.parse_patterns(" resnet*, vgg16 ") == ["resnet*", "vgg16"]
    with pytest.raises(UsageError):
        checking.parse_patterns(" , ")


def test_aliases_select_the_canonical_model():
    from netstat.zoo import all_specs, get_spec

    alias = next(a for spec in all_specs() for a in spec.aliases)
    assert [s.name for s in checking.select([alias])] == [get_spec(alias).name]


# -- papers ---------------------------------------------------------------------------


def test_papers_within_tolerance_exit_0():
    res = run("check", "--papers", "--models", "lenet5,resnet20_cifar", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert {r["model"] for r in rows} == {"lenet5", "resnet20_cifar"}
    for r in rows:
        assert r["ok"] and abs(r["deviation"]) <= r["rtol"]
        assert r["deviation"] == pytest.approx((r["ours"] - r["paper"]) / r["paper"])


def test_papers_out_of_tolerance_exit_1(monkeypatch):
    from netstat.zoo import Published, _registry

    spec = _registry._MODELS["lenet5"]
    wrong = dataclasses.replace(spec, published=Published(source="a made-up table", params=1.0e6, rtol_params=0.02))
    monkeypatch.setitem(_registry._MODELS, "lenet5", wrong)
    res = run("check", "--papers", "--models", "lenet5")
    assert res.exit_code == 1
    assert "OUT" in res.output and "lenet5" in res.output
    res = run("check", "--papers", "--models", "lenet5", "--format", "md")
    assert "a made-up table" in res.stdout and "### Sources and notes" in res.stdout


def test_paper_row_tolerance_is_relative():
    row = checking.PaperRow("m", "params", paper=100.0, ours=102, rtol=0.02, source="s")
    assert row.ok and row.deviation == pytest.approx(0.02)
    assert not dataclasses.replace(row, ours=103).ok


def test_papers_and_update_cannot_be_combined(tmp_path):
    res = run("check", "--papers", "--update", "--baseline", str(tmp_path / "b.json"))
    assert res.exit_code == 2
    assert not (tmp_path / "b.json").exists()
