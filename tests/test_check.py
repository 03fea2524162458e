"""netstat check: baselines, exact drift detection, --update atomicity and locking, what a baseline may import, errors, papers."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netstat import check as checking
from netstat.atomic import atomic_write
from netstat.cli import app
from netstat.errors import NetstatError, UsageError

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


def never_measure(source):
    raise pytest.fail.Exception(f"measured {source.name}: the error should come before any measuring")


@pytest.fixture
def wide(monkeypatch):
    """Rich wraps stderr at 80 columns, even inside a path: give it room."""
    monkeypatch.setenv("COLUMNS", "1000")


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
    pytest.importorskip("netstat.rf")
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


    def tiny_cnn() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


    tiny_cnn.input_shape = (1, 3, 16, 16)


    def wide_cnn(width=8) -> "nn.Sequential":  # a string annotation is looked up, not evaluated
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
    # the user module is named again in CI: a baseline alone never imports it
    res = run("check", "--baseline", str(baseline), "--models", pattern, "--input", "1,3,8,8")
    assert res.exit_code == 0, res.output
    assert run("check", "--baseline", str(baseline), "--input", "1,3,8,8").exit_code == 2


def test_pattern_matching_rules():
    assert checking.matches("resnet50", "resnet*")
    assert not checking.matches("mypkg.models:resnet50", "resnet*")
    assert checking.matches("mypkg.models:resnet50", "mypkg.models:*")
    assert not checking.matches("other:resnet50", "mypkg.models:*")
    assert checking.parse_patterns(" resnet*, vgg16 ") == ["resnet*", "vgg16"]
    assert not checking.names_user_code("resnet*") and not checking.names_user_code("torchvision:vgg*")
    assert checking.names_user_code("os:abort") and checking.names_user_code("m.py:*") and checking.names_user_code("torchvision.models:vgg11")
    with pytest.raises(UsageError):
        checking.parse_patterns(" , ")


def test_aliases_select_the_canonical_model():
    from netstat.zoo import all_specs, get_spec

    alias = next(a for spec in all_specs() for a in spec.aliases)
    assert [s.name for s in checking.select([alias])] == [get_spec(alias).name]


# -- a baseline never runs code (issue 11, item 8) -------------------------------------


def test_a_baseline_selecting_os_abort_is_refused_and_the_process_lives(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"schema_version": 1, "selection": ["os:abort"], "models": {}}))
    cmd = [sys.executable, "-m", "netstat", "check", "--baseline", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "COLUMNS": "1000"})
    assert proc.returncode == 2, (proc.returncode, proc.stderr)  # os.abort(): -6
    assert "selects user code ('os:abort')" in proc.stderr and "pass it with --models." in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


MARKER_MODULE = """
from pathlib import Path
import torch.nn as nn

Path("imported").write_text("the module ran")


def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten())
"""


def test_a_stored_user_selection_is_imported_only_when_typed(tmp_path, monkeypatch, wide):
    monkeypatch.chdir(tmp_path)
    Path("mod.py").write_text(MARKER_MODULE)
    path = Path("baseline.json")
    path.write_text(json.dumps({"schema_version": 1, "selection": ["lenet5", "mod.py:build"], "models": {}}))
    before = path.read_bytes()
    for extra in ([], ["--update"]):
        res = run("check", "--baseline", str(path), *extra)
        assert res.exit_code == 2, res.output
        assert "The baseline 'baseline.json' selects user code ('mod.py:build'), which netstat imports only when you name it yourself: pass it with --models." in flat(res)
    with pytest.raises(checking.ArgumentError, match="pass it with the models argument"):
        checking.update(path)
    assert not Path("imported").exists() and path.read_bytes() == before
    res = run("check", "--baseline", str(path), "--models", "mod.py:build", "--input", "1,3,8,8", "--update")
    assert res.exit_code == 0, res.output
    assert Path("imported").exists() and "mod.py:build" in json.loads(path.read_text())["models"]


GLOB_MODULE = """
from pathlib import Path
import torch.nn as nn


def main():
    Path("main_called").write_text("main ran")
    raise SystemExit(3)


def unannotated():
    Path("unannotated_called").write_text("ran")
    return nn.Identity()


def count() -> int:
    Path("count_called").write_text("ran")
    return 3


def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten())


def build_named() -> "nn.Sequential":
    return nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x)


class Config:
    def __init__(self):
        Path("config_called").write_text("ran")
"""


def test_a_glob_selects_only_factories_known_to_build_a_module(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("models.py").write_text(GLOB_MODULE)
    res = run("check", "--baseline", "b.json", "--models", "models.py:*", "--input", "1,3,8,8", "--update")
    assert res.exit_code == 0, res.output
    assert sorted(json.loads(Path("b.json").read_text())["models"]) == ["models.py:Net", "models.py:build", "models.py:build_named"]
    assert sorted(p.name for p in tmp_path.glob("*_called")) == []  # main, unannotated, count, Config never called
    Path("listed.py").write_text(GLOB_MODULE + '\n__all__ = ["main", "build", "Config"]\n')
    assert [s.name for s in checking.select(["listed.py:*"])] == ["listed.py:build"]  # __all__ narrows, never widens the rule
    assert sorted(p.name for p in tmp_path.glob("*_called")) == []


def test_a_typed_factory_that_needs_arguments_is_a_usage_error(tmp_path, monkeypatch, wide):
    monkeypatch.chdir(tmp_path)
    Path("m.py").write_text("def helper(channels, *, depth):\n    return channels\n")
    monkeypatch.setattr(checking, "measure", never_measure)
    res = run("check", "--baseline", "b.json", "--update", "--models", "m.py:helper")
    assert res.exit_code == 2, res.output
    assert "'m.py:helper' needs the arguments channels, depth" in flat(res)  # spec.resolve's sentence


# -- concurrent updates (issue 11, item 7) -------------------------------------------------


def test_concurrent_updates_of_different_models_all_survive(tmp_path):
    models = ("lenet5", "alexnet", "resnet20_cifar")
    for trial in range(2):
        path = tmp_path / f"trial{trial}" / "baseline.json"
        if trial:  # an existing baseline as well as a new one
            path.parent.mkdir()
            path.write_text((tmp_path / "trial0" / "baseline.json").read_text().replace('"lenet5"', '"lenet5_old"'))
        cmd = [sys.executable, "-m", "netstat", "check", "--baseline", str(path), "--update", "--models"]
        procs = [subprocess.Popen([*cmd, m], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for m in models]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0] * len(models), outs
        assert all("written" in out for out in outs)
        doc = json.loads(path.read_text())
        assert sorted(doc["models"]) == sorted(models + (("lenet5_old",) if trial else ()))
        assert set(models) <= set(doc["selection"])


# -- errors: one sentence, before measuring (issue 11, item 9) -------------------------------


def test_update_that_cannot_write_names_the_path_and_the_cause(baseline, monkeypatch, wide):
    before = baseline.read_bytes()

    def denied(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", denied)
    res = run("check", "--baseline", str(baseline), "--update", "--models", "lenet5")
    assert res.exit_code == 1, res.output
    assert "Internal error" not in res.output
    assert f"Error: Cannot write the baseline '{baseline}': Permission denied." in flat(res)
    assert baseline.read_bytes() == before and _no_temp_files(baseline.parent)
    with pytest.raises(NetstatError, match="Permission denied") as err:
        checking.update(baseline, "lenet5")
    assert not isinstance(err.value, UsageError)  # a runtime failure: exit 1


def test_update_into_an_unwritable_place_fails_before_measuring(monkeypatch, wide):
    monkeypatch.setattr(checking, "measure", never_measure)
    res = run("check", "--baseline", "/proc/netstat-test/baseline.json", "--update", "--models", "lenet5")
    assert res.exit_code == 1, res.output
    assert "Internal error" not in res.output
    assert "Error: Cannot write the baseline '/proc/netstat-test/baseline.json': " in flat(res)


def test_a_baseline_path_that_cannot_be_a_file_is_a_usage_error(tmp_path, monkeypatch, wide):
    monkeypatch.setattr(checking, "measure", never_measure)
    (tmp_path / "file").write_text("x")
    for extra in ([], ["--update"]):
        res = run("check", "--baseline", str(tmp_path), "--models", "lenet5", *extra)
        assert res.exit_code == 2 and f"The baseline '{tmp_path}' is a directory, not a JSON file." in flat(res)
    under_a_file = tmp_path / "file" / "b.json"
    res = run("check", "--baseline", str(under_a_file), "--models", "lenet5", "--update")
    assert res.exit_code == 2, res.output
    assert f"The baseline '{under_a_file}' cannot be written: '{tmp_path / 'file'}' is a file, not a directory." in flat(res)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[1, 2]", "it holds a JSON list, not an object"),
        ('{"models": {}}', "its schema_version is None, and this netstat reads '1.1' (or 1)"),
        ('{"schema_version": 99, "models": {}}', "its schema_version is 99, and this netstat reads '1.1' (or 1)"),
        ('{"schema_version": 1, "models": {"lenet5": 3}}', "'models' is not a table of model entries"),
        ('{"schema_version": 1, "models": {}, "selection": "lenet5"}', "'selection' is not a list of model patterns"),
    ],
)
def test_a_file_that_is_not_a_baseline_is_a_usage_error(tmp_path, monkeypatch, wide, content, problem):
    monkeypatch.setattr(checking, "measure", never_measure)
    path = tmp_path / "b.json"
    path.write_text(content)
    for extra in ([], ["--update"]):
        res = run("check", "--baseline", str(path), "--models", "lenet5", *extra)
        assert res.exit_code == 2, res.output
        assert f"Error: The baseline '{path}' is not a netstat baseline: {problem}." in flat(res)
    assert path.read_text() == content


def test_library_errors_name_parameters_and_the_cli_its_flags(tmp_path):
    with pytest.raises(UsageError) as err:
        checking.parse_patterns(" , ")
    assert str(err.value).startswith("No model patterns: the models argument is empty.") and "--" not in str(err.value)
    with pytest.raises(UsageError, match=r"Create it with netstat\.check\.update\(\)\."):
        checking.check(tmp_path / "nope.json")
    res = run("check", "--baseline", str(tmp_path / "b.json"), "--update", "--models", " , ")
    assert res.exit_code == 2 and "No model patterns: --models is empty." in flat(res)
    res = run("report", "--out", str(tmp_path), "--models", " , ")
    assert res.exit_code == 2 and "No model patterns: --models is empty." in flat(res)


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


# -- issue 20, item 7: symbolic links, globs over user code, strict JSON, malformed baselines --------------------


def test_update_through_a_symlink_updates_the_target_and_keeps_the_link(baseline, baseline_doc, tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(baseline.name)  # relative, as a repository would hold it
    edit(baseline, lambda d: d["models"]["lenet5"].update(flops=5))
    res = run("check", "--baseline", str(link), "--update", "--models", "lenet5")
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and os.readlink(link) == baseline.name
    assert json.loads(baseline.read_text())["models"]["lenet5"]["flops"] == baseline_doc["models"]["lenet5"]["flops"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json", "link.json"]  # no lock or temporary file left


GLOB_PINNED = """
import torch.nn as nn


def small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten())


def large() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 1), nn.Flatten())
"""


@pytest.mark.parametrize(
    "broken, error",
    [
        (GLOB_PINNED.replace("-> nn.Module", ""), "No factory of 'models.py' matches '*'."),  # nothing annotated any more
        (GLOB_PINNED + "\nraise RuntimeError('no GPU here')\n", "Importing 'models.py' failed: RuntimeError: no GPU here."),
        ("import torch.nn as nn\n", "No factory of 'models.py' matches '*'."),
    ],
    ids=["unannotated", "fails-to-import", "emptied"],
)
def test_a_glob_over_a_file_that_broke_never_empties_its_baseline(tmp_path, monkeypatch, wide, broken, error):
    monkeypatch.chdir(tmp_path)
    Path("models.py").write_text(GLOB_PINNED)
    res = run("check", "--baseline", "b.json", "--update", "--models", "models.py:*", "--input", "1,3,8,8")
    assert res.exit_code == 0, res.output
    before = Path("b.json").read_bytes()
    assert sorted(json.loads(before)["models"]) == ["models.py:large", "models.py:small"]
    Path("models.py").write_text(broken)
    for extra in (["--update"], []):
        res = run("check", "--baseline", "b.json", "--models", "models.py:*", *extra)
        assert res.exit_code == 2, res.output
        assert error in flat(res) and "The baseline keeps its 2 models under 'models.py:*' as they are" in flat(res)
        assert "Traceback" not in res.output
        assert Path("b.json").read_bytes() == before


def test_a_glob_over_a_file_that_lost_one_factory_reports_it_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("models.py").write_text(GLOB_PINNED)
    assert run("check", "--baseline", "b.json", "--update", "--models", "models.py:*", "--input", "1,3,8,8").exit_code == 0
    Path("models.py").write_text(GLOB_PINNED.split("def large")[0])
    res = run("check", "--baseline", "b.json", "--models", "models.py:*", "--format", "json")
    assert res.exit_code == 1 and json.loads(res.stdout)["removed"] == ["models.py:large"]


def _no_constants(name: str):
    raise AssertionError(f"the JSON holds {name}, which is not JSON")


def test_check_json_is_strict_json_when_the_baseline_holds_non_finite_numbers(baseline, baseline_doc):
    edit(baseline, lambda d: d["models"]["lenet5"].update(flops="<NaN>", madds="<-Infinity>", params="<1e999>"))
    text = baseline.read_text().replace('"<NaN>"', "NaN").replace('"<-Infinity>"', "-Infinity").replace('"<1e999>"', "1e999")
    baseline.write_text(text)  # what Python's JSON reads: NaN, -Infinity, and a number too large for a float (inf)
    res = run("check", "--baseline", str(baseline), "--format", "json")
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout, parse_constant=_no_constants)
    drift = {d["quantity"]: d for d in data["drift"] if d["model"] == "lenet5"}
    lenet = baseline_doc["models"]["lenet5"]
    assert drift["flops"] == {"model": "lenet5", "quantity": "flops", "baseline": "NaN", "now": lenet["flops"], "delta": None, "relative": None}
    assert drift["madds"]["baseline"] == "-Infinity" and drift["madds"]["delta"] is None and drift["madds"]["relative"] is None
    assert drift["params"]["baseline"] == "Infinity" and drift["params"]["now"] == lenet["params"]
    table = run("check", "--baseline", str(baseline))
    assert table.exit_code == 1 and "Internal error" not in table.output


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON: it is nested too deeply to read."),
        ('{"schema_version": "1.1", "models": {"lenet5": {"params": ' + "7" * 5000 + "}}}", "is not valid JSON: a number in it has more than"),
        ('{"schema_version": "1.1", "models": {"lenet5": {"flops": ' + "[" * 500 + "]" * 500 + "}}}", "holds a value nested deeper than any quantity."),
        ('{"schema_version": "1.1", "models": {"lenet5": {"inputs": [{"name": "0", "shape": "1x3"}]}}}', "the inputs of 'lenet5' are not a list of {name, shape, dtype} inputs."),
        ('{"schema_version": "1.1", "models": {"lenet5": {"input_shape": [1, -3]}}}', "the input_shape of 'lenet5' is not a shape."),
    ],
    ids=["deep", "long-number", "deep-value", "bad-inputs", "bad-input-shape"],
)
def test_a_malformed_baseline_gets_one_sentence(tmp_path, monkeypatch, wide, content, problem):
    monkeypatch.setattr(checking, "measure", never_measure)
    path = tmp_path / "b.json"
    path.write_text(content)
    for extra in ([], ["--update"], ["--format", "json"]):
        res = run("check", "--baseline", str(path), "--models", "lenet5", *extra)
        assert res.exit_code == 2, res.output
        assert f"Error: The baseline '{path}' " in flat(res) and problem in flat(res)
        assert len(res.output.strip().splitlines()) == 1 and "Internal error" not in res.output
    with pytest.raises(UsageError):
        checking.load_baseline(path)
    assert path.read_text() == content
