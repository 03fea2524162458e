"""Issue 20, item 6: the documents netstat writes.

- Every JSON document (`--format json`, every command and mode) carries
  `schema_version == SCHEMA_VERSION` at its top level.
- `profile --train` is the profile document plus a "training" block;
  `compare --train` is the compare document with a "training" block per model.
- Markdown and CSV are plain text: no Rich markup such as `[green]ok[/]`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from netstat.cli import app
from netstat.schema import SCHEMA_VERSION

BENCH_FAST = ["--input", "1,1,32,32", "--threads", "1", "--min-time", "0.02", "--max-time", "0.1", "--precision", "50%", "--no-progress"]

# (id, argv without --format): every command, and every mode with a document of its own.
# "{tmp}" is a folder of this module's, with a baseline of lenet5 in it (given.json).
DOCUMENTS = [
    ("list", ["list", "lenet*"]),
    ("profile", ["profile", "lenet5"]),
    ("profile --rf --crosscheck", ["profile", "lenet5", "--rf", "--crosscheck"]),
    ("profile --train", ["profile", "lenet5", "--train", "--batch", "2"]),
    ("compare", ["compare", "lenet5", "resnet20_cifar"]),
    ("compare --train", ["compare", "lenet5", "resnet20_cifar", "--train", "--batch", "2"]),
    ("rf", ["rf", "lenet5"]),
    ("rf two models", ["rf", "lenet5", "resnet20_cifar"]),
    ("rf --verify", ["rf", "lenet5", "--verify"]),
    ("rf --effective", ["rf", "lenet5", "--effective", "--seeds", "1"]),
    ("rf calculator", ["rf", "--kernel", "3", "--layers", "2"]),
    ("calc conv", ["calc", "conv", "--cin", "8", "--cout", "16"]),
    ("fit", ["fit", "lenet5", "--memory", "64MiB"]),
    ("fit --train", ["fit", "lenet5", "--memory", "64MiB", "--train"]),
    ("check --update", ["check", "--update", "--baseline", "{tmp}/baseline.json", "--models", "lenet5"]),
    ("check", ["check", "--baseline", "{tmp}/given.json"]),
    ("check --papers", ["check", "--papers", "--models", "lenet5"]),
    ("bench", ["bench", "lenet5", *BENCH_FAST]),
    ("bench two models", ["bench", "lenet5", "lenet5", *BENCH_FAST]),
    ("report", ["report", "--out", "{tmp}/reports", "--models", "lenet5", "--no-crosscheck"]),
    ("explain", ["explain", "lenet5", "60K", "--metric", "params"]),
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from netstat import check as checking

    path = tmp_path_factory.mktemp("documents")
    assert checking.update(path / "given.json", "lenet5").updated
    return path


def run(runner, argv: list[str], fmt: str, folder=None) -> str:
    argv = [a.replace("{tmp}", str(folder)) for a in argv]
    result = runner.invoke(app, argv + ["--format", fmt], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def command_names(typer_app: typer.Typer, prefix: str = "") -> set[str]:
    """Every command of the CLI, sub-commands as "group name"."""
    names = {prefix + (c.name or c.callback.__name__) for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        names |= command_names(group.typer_instance, f"{prefix}{group.name} ")
    return names


def test_the_documents_cover_every_command():
    covered = {" ".join(argv[:2]) if argv[0] == "calc" else argv[0] for _, argv in DOCUMENTS}
    assert command_names(app) == covered


@pytest.mark.parametrize("argv", [argv for _, argv in DOCUMENTS], ids=[name for name, _ in DOCUMENTS])
def test_every_json_document_carries_the_schema_version(runner, folder, argv):
    doc = json.loads(run(runner, argv, "json", folder))
    assert isinstance(doc, dict)
    assert doc.get("schema_version") == SCHEMA_VERSION == "1.1"


def test_stored_documents_carry_the_schema_version():
    """The files netstat writes and keeps: the CI baseline, report's zoo.json, the catalogue."""
    root = Path(__file__).resolve().parents[1]
    for path in (root / "reports" / "baseline.json", root / "reports" / "zoo.json", root / "netstat" / "data" / "zoo.json"):
        assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION, path


# -- --train documents -------------------------------------------------------------------


def test_profile_train_document_is_the_profile_document_plus_training(runner):
    plain = json.loads(run(runner, ["profile", "lenet5"], "json"))
    train = json.loads(run(runner, ["profile", "lenet5", "--train", "--batch", "4"], "json"))
    assert set(train) == set(plain) | {"training"}
    assert train["totals"] == plain["totals"] and train["layers"] == plain["layers"]
    assert train["training"]["batch"] == 4 and train["training"]["input_shape"] == [4, 1, 32, 32]


def test_compare_train_document_is_the_compare_document_plus_training_per_model(runner):
    plain = json.loads(run(runner, ["compare", "lenet5", "resnet20_cifar"], "json"))
    train = json.loads(run(runner, ["compare", "lenet5", "resnet20_cifar", "--train", "--batch", "2"], "json"))
    assert set(train) == set(plain)
    for before, after in zip(plain["models"], train["models"], strict=True):
        assert set(after) == set(before) | {"training"}
        assert after["model"] == before["model"] and after["totals"] == before["totals"]
        assert after["training"]["batch"] == 2


# -- Markdown and CSV are plain text --------------------------------------------------------

# A Rich tag: [/], [/green], [green], [bold red], [dim] ... (not "[1, 3]" or "[0]").
MARKUP = re.compile(r"\[/[a-z ]*\]|\[(?:bold |dim |italic )*(?:green|red|yellow|blue|cyan|magenta|dim|bold|italic)\]")

PLAIN = [
    ("rf --verify", ["rf", "lenet5", "--verify"]),
    ("rf", ["rf", "lenet5"]),
    ("profile", ["profile", "lenet5"]),
    ("profile --crosscheck", ["profile", "lenet5", "--crosscheck"]),
    ("profile --train", ["profile", "lenet5", "--train", "--batch", "2"]),
    ("compare", ["compare", "lenet5", "resnet20_cifar"]),
]
# (check has no CSV output: Markdown only)
PLAIN_CASES = [(argv, fmt) for _, argv in PLAIN for fmt in ("md", "csv")] + [(["check", "--papers", "--models", "lenet5"], "md")]
PLAIN_IDS = [f"{name}-{fmt}" for name, _ in PLAIN for fmt in ("md", "csv")] + ["check --papers-md"]


def test_markup_pattern_finds_rich_tags():
    assert MARKUP.search("| conv1 | [green]ok[/] |") and MARKUP.search("[bold red]NO[/]")
    assert not MARKUP.search("| x | [1, 3, 32, 32] | features[0] |")


@pytest.mark.parametrize("argv, fmt", PLAIN_CASES, ids=PLAIN_IDS)
def test_markdown_and_csv_hold_no_rich_markup(runner, argv, fmt):
    out = run(runner, argv, fmt)
    assert out.strip()
    assert not MARKUP.search(out), MARKUP.findall(out)


def test_rf_verify_markdown_says_ok_in_plain_text(runner):
    out = run(runner, ["rf", "lenet5", "--verify"], "md")
    rows = [line for line in out.splitlines() if line.startswith(("| features.", "| classifier."))]
    assert len(rows) == 11 and all(line.endswith("| ok |") for line in rows), out
    assert "Analytic vs gradient on all 14 layer outputs: agree (14 ok)" in out
