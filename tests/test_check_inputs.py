"""netstat check on a user's models: the baseline records every input (positional and keyword, shapes and
dtypes) and check re-measures exactly those; the update it suggests works; older baselines that record only
input_shape are still read; no lock file is left behind (issue 20, item 7)."""

from __future__ import annotations

import json
import shlex
import textwrap
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netstat.cli import app

runner = CliRunner()

MODELS = textwrap.dedent(
    """
    import torch.nn as nn


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, input_ids, attention_mask=None):
            x = self.embed(input_ids)
            if attention_mask is not None:
                x = x * attention_mask.unsqueeze(-1)
            return self.head(x)


    def tagger() -> nn.Module:
        return Tagger()


    def build() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, WIDTH, 3), nn.Flatten())


    WIDTH = 4
    inst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    """
)


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A working directory holding models.py."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "1000")
    Path("models.py").write_text(MODELS)
    return tmp_path


def pin(*args: str) -> dict:
    res = run("check", "--baseline", "b.json", "--update", *args)
    assert res.exit_code == 0, res.output
    return json.loads(Path("b.json").read_text())


@pytest.mark.parametrize("model", ["models.py:build", "models.py:inst"])
def test_a_model_pinned_at_a_given_input_is_checked_at_that_input(folder, model):
    entry = pin("--models", model, "--input", "1,3,32,32")["models"][model]
    res = run("check", "--baseline", "b.json", "--models", model)  # no --input: the recorded one
    assert res.exit_code == 0, res.output
    assert "no drift" in res.output
    assert entry["input_shape"] == [1, 3, 32, 32]
    assert entry["inputs"] == [{"name": "0", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["b.json", "models.py"]  # no lock file left behind


def test_the_baseline_records_keyword_inputs_and_dtypes_and_check_reuses_them(folder):
    inputs = ["--input", "1,12:int64", "--input", "attention_mask=1,12:int64"]
    entry = pin("--models", "models.py:tagger", *inputs)["models"]["models.py:tagger"]
    assert entry["inputs"] == [
        {"name": "0", "shape": [1, 12], "dtype": "int64"},
        {"name": "attention_mask", "shape": [1, 12], "dtype": "int64"},
    ]
    assert entry["output_shape"] == [[1, 12, 2]]
    res = run("check", "--baseline", "b.json", "--models", "models.py:tagger", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ok"] is True


def test_an_input_given_to_check_overrides_the_recorded_one_and_shows_as_drift(folder):
    pin("--models", "models.py:build", "--input", "1,3,32,32")
    res = run("check", "--baseline", "b.json", "--models", "models.py:build", "--input", "1,3,16,16", "--format", "json")
    assert res.exit_code == 1, res.output
    drift = {d["quantity"]: d for d in json.loads(res.stdout)["drift"]}
    assert drift["inputs"]["baseline"] == [{"name": "0", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert drift["inputs"]["now"] == [{"name": "0", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    res = run("check", "--baseline", "b.json", "--models", "models.py:build", "--input", "1,3,16,16")
    assert "1x3x32x32" in res.output and "1x3x16x16" in res.output  # the inputs row, rendered as shapes


def suggested_update(output: str) -> list[str]:
    """The arguments of the 'netstat check ... --update' a failed check suggests."""
    line = next(line for line in output.splitlines() if "update the baseline in the same change:" in line)
    words = shlex.split(line.split("same change:", 1)[1])
    assert words[:2] == ["netstat", "check"] and words[-1] == "--update", words
    return words[1:]


def test_the_update_a_drifted_check_suggests_works_and_keeps_the_inputs(folder):
    pin("--models", "models.py:build", "--input", "1,3,32,32")
    Path("models.py").write_text(MODELS.replace("WIDTH = 4", "WIDTH = 5"))
    res = run("check", "--baseline", "b.json", "--models", "models.py:build", "--format", "md")
    assert res.exit_code == 1 and "DRIFT" in res.output, res.output
    fix = run(*suggested_update(res.stdout))
    assert fix.exit_code == 0, fix.output
    entry = json.loads(Path("b.json").read_text())["models"]["models.py:build"]
    assert entry["input_shape"] == [1, 3, 32, 32] and entry["params"] == 3 * 5 * 9 + 5  # re-pinned, at the same input
    assert run("check", "--baseline", "b.json", "--models", "models.py:build").exit_code == 0


def test_the_suggested_update_repeats_the_models_and_inputs_given(folder):
    pin("--models", "models.py:tagger", "--input", "1,12:int64")
    res = run("check", "--baseline", "b.json", "--models", "models.py:tagger", "--input", "1,12:int64", "--input", "attention_mask=1,12:int64", "--format", "md")
    assert res.exit_code == 1, res.output
    assert suggested_update(res.stdout) == [
        "check", "--baseline", "b.json", "--models", "models.py:tagger", "--input", "1,12:int64", "--input", "attention_mask=1,12:int64", "--update"
    ]


@pytest.mark.parametrize("version", [1, "1.1"])
def test_an_older_baseline_that_records_only_input_shape_is_checked_at_it(folder, version):
    doc = pin("--models", "models.py:build", "--input", "1,3,32,32")
    doc["schema_version"] = version
    for entry in doc["models"].values():
        entry.pop("inputs", None)
    Path("b.json").write_text(json.dumps(doc))
    res = run("check", "--baseline", "b.json", "--models", "models.py:build", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["drift"] == []


def test_file_lock_leaves_no_file_behind_and_still_excludes(tmp_path):
    from netstat.atomic import file_lock, lock_path

    path = tmp_path / "b.json"
    with file_lock(path):
        assert lock_path(path).exists()
    assert list(tmp_path.iterdir()) == []
    counter = tmp_path / "counter"
    counter.write_text("0")
    inside, overlaps = [], []

    def bump():
        for _ in range(25):
            with file_lock(path):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                value = int(counter.read_text())
                time.sleep(0.0005)
                counter.write_text(str(value + 1))
                inside.pop()

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps and counter.read_text() == str(6 * 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter"]


def test_check_refuses_model_kwargs_in_one_sentence(folder):
    res = run("check", "--baseline", "b.json", "--update", "--models", "models.py:build", "--model-kwargs", "width=4")
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: check takes no --model-kwargs (width=4): a baseline pins each model as its factory builds it")
    assert not Path("b.json").exists()
