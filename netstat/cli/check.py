"""`netstat check` (baselines, papers) and `netstat report`: parse, call
netstat.check / netstat.render.report, render."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from netstat.cli._app import app, check_format, parse_inputs, parse_model_kwargs
from netstat.errors import UsageError


def _progress(what: str):
    """A transient progress line on stderr (nothing when stderr is not a terminal)."""
    from netstat.render import stderr_console

    console = stderr_console()
    status = console.status(what) if console.is_terminal else None

    def update(index: int, total: int, name: str) -> None:
        if status is None:
            return
        if index == 0:
            status.start()
        if index >= total:
            status.stop()
        else:
            status.update(f"{what} {index + 1}/{total}: {name}")

    return update


@app.command()
def check(
    baseline: Path = typer.Option(Path("reports/baseline.json"), "--baseline", help="The baseline JSON to compare with (or to write with --update)."),
    models: Optional[str] = typer.Option(
        None, "--models", help="Comma-separated globs: 'resnet*', 'torchvision:vgg*', 'mypkg.models:*' (its nn.Module classes and functions annotated to return one). Default: the baseline's own selection (user modules must be given here), else the whole zoo."
    ),
    update: bool = typer.Option(False, "--update", help="Rewrite the baseline (atomically) and show what changed."),
    papers: bool = typer.Option(False, "--papers", help="Compare with each paper's published params and MAdds instead of the baseline."),
    input_texts: Optional[List[str]] = typer.Option(
        None, "--input", help="[NAME=]SHAPE[:DTYPE], once per forward argument: 1,3,32,32 or 1,128:int64, attention_mask=1,128:int64. For the models without an input of their own (user factories without an input_shape attribute, module instances, torchvision / timm models). Default: the inputs the baseline records for each model, else its default."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | md"),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", hidden=True, help="Refused: a baseline pins each factory as it builds called without arguments."),
) -> None:
    """Pin every count: compare the models with a baseline exactly (exit 1 on drift), or with the papers."""
    _refuse_model_kwargs(model_kwargs)
    fmt = check_format(fmt)
    if fmt == "csv":
        raise UsageError("check has no CSV output.", hint="Use --format table, json or md.")
    if papers and update:
        raise UsageError("--papers and --update cannot be combined.", hint="The papers' numbers are fixed; --update rewrites the baseline.")
    inputs = parse_inputs(input_texts)
    _run_check(baseline, models, update, papers, inputs, fmt)


def _refuse_model_kwargs(texts: Optional[List[str]]) -> None:
    """check pins each model as its factory builds it called without arguments
    (what a later check re-measures), so builder arguments are refused."""
    if not texts:
        return
    given = ", ".join(f"{k}={v!r}" for k, v in parse_model_kwargs(texts).items())
    raise UsageError(f"check takes no --model-kwargs ({given}): a baseline pins each model as its factory builds it, called without arguments.",
                     hint="Pin a factory that passes them, e.g. def build(): return make(width=4).")


def _run_check(baseline: Path, models: Optional[str], update: bool, papers: bool, inputs, fmt: str) -> None:
    from netstat import check as checking
    from netstat.render import emit, note
    from netstat.render.check import check_tables, papers_tables

    if papers:
        measured = checking.papers(models, progress=_progress("Measuring"))
        emit(papers_tables(measured, sources=fmt == "md"), measured.to_dict(), fmt)
        if not measured.ok:
            raise typer.Exit(1)
        return
    if update:
        result = checking.update(baseline, models, inputs, progress=_progress("Measuring"))
        emit(check_tables(result), result.to_dict(), fmt)
        if not result.updated:
            raise typer.Exit(1)
        changes = len(result.drift) + len(result.added) + len(result.removed)
        note(f"Baseline {baseline} written: {len(result.checked)} models, {changes} change{'s' if changes != 1 else ''}.")
        return
    result = checking.check(baseline, models, inputs, progress=_progress("Measuring"))
    emit(check_tables(result), result.to_dict(), fmt)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def report(
    out: Path = typer.Option(Path("reports"), "--out", help="Directory for zoo.md, zoo.json, crosscheck.md and the figures."),
    models: Optional[str] = typer.Option(None, "--models", help="Comma-separated globs (default: the whole zoo)."),
    crosscheck: bool = typer.Option(True, "--crosscheck/--no-crosscheck", help="Run fvcore, thop and flop_counter on every model (real CPU forwards)."),
    input_size: Optional[List[str]] = typer.Option(None, "--input", help="[NAME=]SHAPE[:DTYPE], once per forward argument, for the models without an input of their own (as for check)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | md"),
) -> None:
    """Regenerate the reports and figures (deterministic: the same files on every run)."""
    from netstat.render import Column, Table, emit
    from netstat.render.report import build_report

    fmt = check_format(fmt)
    result = build_report(out, models, crosscheck=crosscheck, progress=_progress("Reporting"), inputs=parse_inputs(input_size))
    table = Table(title=f"Reports · {out}", columns=[Column("file", "left"), Column("contents", "left")])
    for path, what in result.files.items():
        table.add_row([str(path), what])
    for line in result.notes:
        table.footer.append(f"[yellow]Note:[/] {line}")
    emit([table], result.to_dict(), fmt)
