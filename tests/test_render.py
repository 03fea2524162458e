"""Issue 11, items 5 and 6: table widths and CSV shape, through the CLI.

Widths: names are never cut, at COLUMNS=80 / 120 and in a pipe (stdout not a
terminal, COLUMNS unset: the natural width); numeric columns are dropped
first, with a footer line. CSV: every row has the header's length.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from netstat.cli import app
from netstat.render import Column, Table, emit, to_csv, to_markdown

RESNET50_TYPES = ["Conv2d", "Linear", "BatchNorm2d", "ReLU", "add (functional)", "MaxPool2d", "AdaptiveAvgPool2d", "view (functional)"]
COMPARED = ["vgg16", "mobilenet_v1", "resnet50"]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner, args, columns: str | None):
    """The CLI in-process; `columns` None: no COLUMNS, stdout not a terminal (a pipe)."""
    result = runner.invoke(app, args, env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    return result.stdout


def piped(*args: str) -> str:
    """`python -m netstat ARGS | ...` as a user runs it: COLUMNS unset."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "netstat", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_list_piped_keeps_every_name():
    out = piped("list")
    assert any(line.split()[:1] == ["efficientnet_b3"] for line in out.splitlines()), out
    assert "…" not in out
    assert "Not shown" not in out  # no limit in a pipe: every column is there
    assert "MAdds" in out and "Params" in out


@pytest.mark.parametrize("columns", ["80", None])
def test_profile_by_type_shows_every_type(runner, columns):
    out = invoke(runner, ["profile", "resnet50", "--by", "type"], columns)
    names = {line.split("  ")[1].strip() for line in out.splitlines() if line.startswith("  ") and len(line.split("  ")) > 1}
    assert set(RESNET50_TYPES) <= names, out
    assert "…" not in out
    if columns:
        assert all(len(line) <= 80 for line in out.splitlines() if "━" in line), out
        assert "Not shown at 80 columns:" in out
    else:
        assert "Mem. access" in out.splitlines()[2] and "Not shown" not in out


@pytest.mark.parametrize("columns", ["120", "80"])
def test_compare_shows_full_model_names(runner, columns):
    out = invoke(runner, ["compare", *COMPARED], columns)
    rows = [line.split()[0] for line in out.splitlines() if "x224x224" in line]
    assert rows == COMPARED, out
    assert "…" not in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= int(columns)
    assert "Params" in out and "MAdds" in out  # what a comparison is for is dropped last


def test_wide_terminal_drops_nothing(runner):
    out = invoke(runner, ["compare", *COMPARED], "200")
    header = out.splitlines()[2].split()
    assert header[:3] == ["Model", "Input", "Params"] and "FLOP/B" in header and "Final" in header
    assert "Not shown" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["profile", "resnet18"],
        ["profile", "resnet18", "--by", "type"],
        ["compare", "vgg16", "mobilenet_v1"],
        ["rf", "lenet5"],
        ["rf", "--kernel", "3", "--layers", "3"],
        ["calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "3"],
    ],
    ids=lambda a: " ".join(a),
)
def test_csv_rows_match_header(runner, args):
    rows = list(csv.reader(io.StringIO(invoke(runner, [*args, "--format", "csv"], "80"))))
    assert len(rows) >= 2, rows
    assert {len(row) for row in rows} == {len(rows[0])}, rows[:3]


def test_to_csv_rejects_a_ragged_row():
    t = Table("t", [Column("a", "left"), Column("b")])
    t.add_row(["x", "1"], raw=["x", 1, "extra"])
    with pytest.raises(ValueError, match="3 fields, the header 2"):
        to_csv(t)


def _table() -> Table:
    t = Table("t", [Column("Name", "left"), Column("Big"), Column("Small", priority=1), Column("Note", "left", wrap=True)])
    t.add_row(["a_rather_long_model_name_here", "123,456,789", "1.5", "a note that may wrap between its words"])
    return t


def _emit_table(columns: str | None, monkeypatch, capsys) -> str:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    emit([_table()], {}, "table")
    return capsys.readouterr().out


def test_fit_drops_lowest_priority_numbers_and_wraps_prose(monkeypatch, capsys):
    out = _emit_table("60", monkeypatch, capsys)
    assert "a_rather_long_model_name_here" in out and "1.5" in out and "123,456,789" not in out
    assert "Not shown at 60 columns: Big;" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 60


def test_names_wider_than_the_limit_print_whole(monkeypatch, capsys):
    out = _emit_table("20", monkeypatch, capsys)
    assert "a_rather_long_model_name_here" in out and "123,456,789" in out and "Not shown" not in out


def test_pipe_prints_natural_width(monkeypatch, capsys):
    out = _emit_table(None, monkeypatch, capsys)
    assert "a note that may wrap between its words" in out and "123,456,789" in out


def _marked_table() -> Table:
    """Cells, header, title and footer with Rich markup; one cell with escaped brackets."""
    t = Table("[bold]Check[/] · run", [Column("[bold]Layer[/]", "left"), Column("Shape", "left"), Column("Agree", "left")])
    t.add_row(["features.0", "\\[1, 6] [dim]x2[/]", "[green]ok[/]"])
    t.add_row(["features.1", "-", "[bold red]NO[/]"])
    t.footer.append("[yellow]Note:[/] done")
    return t


def test_markdown_is_plain_text_without_rich_markup():
    md = to_markdown(_marked_table())
    assert md.splitlines()[0] == "### Check · run"
    assert "| Layer | Shape | Agree |" in md
    assert "| features.0 | [1, 6] x2 | ok |" in md and "| features.1 | - | NO |" in md
    assert "Note: done" in md and "[/" not in md


def test_csv_of_formatted_cells_is_plain_text_and_raw_values_stay_as_given():
    rows = list(csv.reader(io.StringIO(to_csv(_marked_table()))))
    assert rows == [["Layer", "Shape", "Agree"], ["features.0", "[1, 6] x2", "ok"], ["features.1", "-", "NO"]]
    raw = Table("t", [Column("name", "left"), Column("n")])
    raw.add_row(["[green]a[/]", "1"], raw=["[a]", 1])
    assert to_csv(raw) == "name,n\n[a],1\n"


def test_json_document_leads_with_the_schema_version(capsys):
    from netstat.render import document
    from netstat.schema import SCHEMA_VERSION

    emit([], {"models": [1]}, "json")
    out = capsys.readouterr().out
    assert out.startswith('{\n  "schema_version": "1.1",') and json.loads(out) == {"schema_version": SCHEMA_VERSION, "models": [1]}
    assert list(document({"model": "m", "schema_version": SCHEMA_VERSION})) == ["schema_version", "model"]
    with pytest.raises(ValueError, match="schema_version 1"):
        document({"schema_version": 1})


# ---- issue 21: prose in a pipe, warnings on stderr, the figures people read


def test_pipe_prints_titles_and_footers_whole_and_no_trailing_spaces(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    long = "a footer sentence that is longer than eighty characters and must not be broken mid-phrase in a pipe"
    t = Table("a title " * 15, [Column("Name", "left"), Column("N")])
    t.add_row(["x", "1"])
    t.footer = [long]
    t.warnings = ["the numbers may be off"]
    emit([t], {}, "table")
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == ("a title " * 15).strip() and long in lines
    assert [line for line in lines if line != line.rstrip()] == []
    assert "the numbers may be off" not in out and "Warning: the numbers may be off" in err


def test_every_zoo_family_has_a_design_group_in_the_params_figure():
    from netstat.catalog import load_catalog
    from netstat.render.figures import _DESIGNS, design_of

    families = {e["family"] for e in load_catalog()}
    assert {f: design_of(f) for f in families if design_of(f) == "other"} == {}
    assert len(_DESIGNS) <= 10  # one distinct colour each (tab10)


def test_latency_figure_never_mixes_machines_and_names_cpu_threads():
    from netstat.render.figures import _latency_series

    cpu = {"env": {"cpu": "AMD EPYC", "threads": 1, "usable_cores": 2}, "device": "cpu", "dtype": "fp32", "batch": 1, "mode": "latency"}
    gpu = {"env": {"cpu": "Xeon", "threads": 16, "gpu": {"name": "NVIDIA H100 80GB HBM3"}}, "device": "cuda", "dtype": "fp16", "batch": 1, "mode": "latency"}
    rows = [{**cpu, "model": "a"}, {**cpu, "env": {**cpu["env"], "threads": 2}, "model": "a"}, {**gpu, "model": "a"}]
    series = _latency_series(rows)
    assert sorted(series) == [("AMD EPYC (CPU, 2 usable cores)", "fp32 · 1 thread"), ("AMD EPYC (CPU, 2 usable cores)", "fp32 · 2 threads"),
                              ("NVIDIA H100 80GB HBM3 (GPU)", "fp16")]


def test_params_vs_madds_names_collide_with_no_other_name():
    from netstat.catalog import load_catalog
    from netstat.render.figures import _NOTABLE, params_vs_madds_plot

    rows = [e for e in load_catalog() if e.get("params") and e.get("madds")]
    fig = params_vs_madds_plot(rows)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    names = [t for t in ax.texts]
    assert sorted(t.get_text() for t in names) == sorted(r["name"] for r in rows if r["name"] in _NOTABLE)
    boxes = [t.get_window_extent(renderer) for t in names]
    overlapping = [(names[i].get_text(), names[j].get_text()) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    assert overlapping == []
    assert len(ax.get_legend().get_texts()) <= 10


def test_training_figure_phase_patches_look_like_their_regions():
    import torch

    import netstat
    from netstat.render.figures import training_memory_plot

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10))
    step = netstat.analyze(model, (1, 3, 16, 16)).training(batch=2)
    fig = training_memory_plot(step)
    top = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = top.get_legend()
    assert legend.get_window_extent(renderer).y0 >= top.get_window_extent(renderer).y1 - 1  # above the plot, on white
    regions = {p.get_label(): p for p in top.patches if p.get_label() in step.phases}
    handles = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles))
    assert set(regions) == {phase for phase, (start, end) in step.phases.items() if end > start}
    for phase, region in regions.items():
        assert tuple(handles[phase].get_facecolor()) == tuple(region.get_facecolor())
