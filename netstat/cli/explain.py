"""`netstat explain MODEL VALUE`: which convention, variant and input reproduce a quoted figure."""

from __future__ import annotations

from typing import List, Optional

import typer

from netstat.cli._app import app, check_format, parse_inputs, parse_model_kwargs


@app.command()
def explain(
    model: str = typer.Argument(..., help="Zoo name, torchvision:NAME, timm:NAME, package.module:factory or file.py:factory."),
    value: str = typer.Argument(..., help="The quoted figure: 3.8G, 60M, 97.7%, 4,133,742,592, '2.14 GMACs', '528 MB'."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="params, madds (or macs), flops or memory (default: from VALUE's unit; none: params and compute)."),
    source: Optional[str] = typer.Option(None, "--source", help="Where the figure comes from (shown in the title)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="A fraction of the figure (0.01 for 1%%); default: one unit in its last significant digit."),
    input_shape: Optional[List[str]] = typer.Option(None, "--input", "-i", help="Input shape of the model as given, e.g. 1,3,224,224 (default: the model's own)."),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", help="KEY=VALUE for the model's builder (a Python literal), repeatable."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Which counting convention, model variant and input reproduce a
    figure quoted by a paper, a blog post or another counter."""
    from netstat.explanation import explain as explaining
    from netstat.render import emit
    from netstat.render.explain import explain_table

    fmt = check_format(fmt)
    result = explaining(model, value, metric, source, tolerance, parse_inputs(input_shape), parse_model_kwargs(model_kwargs))
    emit([explain_table(result)], result.to_dict(), fmt)
