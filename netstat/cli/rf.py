"""`netstat rf`: receptive fields of a model, the stack / dilation
calculator, the gradient check and the effective RF. Parse, call the library,
render."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from netstat.cli._app import app, check_plot_path, check_format, check_output, parse_inputs, parse_int_list, parse_model_kwargs
from netstat.errors import UsageError
from netstat.render import emit, note


@app.command()
def rf(
    models: Optional[List[str]] = typer.Argument(None, help="Zoo name, torchvision:NAME, package.module:factory or file.py:factory. Without one: the stack calculator."),
    input_shape: Optional[List[str]] = typer.Option(None, "--input", "-i", help="Input shape, e.g. 1,3,224,224 (default: the model's own); once per forward argument, with an optional dtype (1,128:int64) or name (mask=1,1,224,224). The RF is of the first input; --verify and --effective hold the others fixed."),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", help="KEY=VALUE for the model's builder (a Python literal), repeatable: --model-kwargs num_classes=10."),
    depth: Optional[int] = typer.Option(None, "--depth", "-d", help="Show the module tree to this depth (default: every leaf layer)."),
    kernel: Optional[str] = typer.Option(None, "--kernel", "-k", help="Calculator: kernel size, k or kh,kw (default 3)."),
    layers: Optional[int] = typer.Option(None, "--layers", "-n", help="Calculator: number of stacked layers (default 3, or one per --dilation rate)."),
    stride: str = typer.Option("1", "--stride", "-s", help="Calculator: stride of every layer, or one per layer (2,1,1)."),
    dilation: Optional[str] = typer.Option(None, "--dilation", help="Calculator: dilation rate of every layer, or one per layer (1,2,5)."),
    channels: Optional[int] = typer.Option(None, "--channels", "-c", help="Calculator: channels C, for absolute parameter counts."),
    bias: bool = typer.Option(True, "--bias/--no-bias", help="Calculator: count biases."),
    verify: bool = typer.Option(False, "--verify", help="Check every layer's RF against the gradient of a linearised copy."),
    effective: bool = typer.Option(False, "--effective", help="Effective RF (Luo et al. 2016) of the last spatial layer."),
    seeds: int = typer.Option(3, "--seeds", help="--effective: random initialisations averaged."),
    layer: Optional[str] = typer.Option(None, "--layer", help="--effective: probe this layer instead of the last spatial one."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a figure: RF growth (one or more models) or, with --effective, the ERF heat map."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv, md or html (a model's interactive page)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the interactive HTML page to this file (--format html; a .html name implies it)."),
) -> None:
    """Receptive field, effective stride and centre per layer; the stacked /
    dilated convolution calculator; gradient verification; effective RF."""
    fmt = check_output(output, check_format(fmt, page=True))
    plot = check_plot_path(plot)
    models = list(models or [])
    calculator = {"--kernel": kernel, "--layers": layers, "--dilation": dilation, "--channels": channels}
    calculator_given = [flag for flag, value in calculator.items() if value is not None] + (["--stride"] if stride != "1" else [])
    if models and calculator_given:
        raise UsageError(f"{', '.join(calculator_given)} belong to the calculator and do not apply to a model.", hint="Drop the model name, or the calculator options.")
    if fmt == "html" and (not models or verify or effective):
        raise UsageError("The HTML page shows a model's receptive fields; the calculator, --verify and --effective write table, json, csv or md.")
    if not models:
        if verify or effective or layer:
            raise UsageError("--verify, --effective and --layer need a model.", hint="For example: netstat rf resnet50 --verify.")
        if plot is not None:
            raise UsageError("--plot needs a model.", hint="For example: netstat rf vgg16 resnet50 --plot rf.png.")
        if model_kwargs:
            raise UsageError("--model-kwargs needs a model.", hint="For example: netstat rf resnet50 --model-kwargs num_classes=10.")
        _calculator(kernel, layers, stride, dilation, channels, bias, fmt)
        return
    if depth is not None and depth < (1 if verify else 0):
        raise UsageError(f"--depth must be {1 if verify else 0} or more{' with --verify' if verify else ''}, not {depth}.")
    if seeds < 1:
        raise UsageError(f"--seeds must be 1 or more, not {seeds}.")
    if effective and plot is not None and len(models) > 1:
        raise UsageError("The ERF heat map (--effective --plot) takes one model.")
    if fmt == "html":
        return _page(models, parse_inputs(input_shape), parse_model_kwargs(model_kwargs), plot, output)
    _models(models, parse_inputs(input_shape), parse_model_kwargs(model_kwargs), depth, verify, effective, seeds, layer, plot, fmt)


def _page(models, inputs, model_kwargs, plot, output) -> None:
    """`rf MODEL --format html`: the profile page (graph, tree, RF growth) of
    one model, or the comparison page of several; --plot still writes its figure."""
    from netstat.analysis import Comparison, analyze
    from netstat.cli.core import _profile_page, compare_page

    analyses = [analyze(name, inputs, model_kwargs) for name in models]
    if plot is not None:
        from netstat.render.rf import plot_growth

        note(f"RF growth written to {plot_growth([a.receptive_field for a in analyses], plot)}")
    if len(analyses) == 1:
        return _profile_page(analyses[0], analyses[0].profile.to_dict(), output)
    compare_page(analyses, Comparison(analyses).to_dict(), output)


def _calculator(kernel, layers, stride, dilation, channels, bias, fmt) -> None:
    from netstat.rf import stack
    from netstat.render.rf import stack_table

    k = parse_int_list(kernel, "--kernel") if kernel is not None else [3]
    if len(k) > 3:
        raise UsageError(f"Malformed --kernel '{kernel}': give k or kh,kw.")
    rates = parse_int_list(dilation, "--dilation") if dilation is not None else [1]
    strides = parse_int_list(stride, "--stride")
    if layers is None:
        layers = max(len(rates), len(strides), 1) if (len(rates) > 1 or len(strides) > 1) else 3
    _check_calculator(layers, strides, rates, channels)
    result = stack(k[0] if len(k) == 1 else tuple(k), layers, stride=strides, dilation=rates, channels=channels, bias=bias)
    emit([_shortened(stack_table(result), result.dilations, fmt)], result.to_dict(), fmt)


TABLE_ROWS = 200  # a longer stack shows its first and last 100 layers in the table format


def _shortened(table, rates: list[int], fmt: str):
    """Rich takes many seconds to lay out thousands of rows: in the table
    format a long stack keeps its first and last layers (and rates), and says so."""
    from netstat.rf import rates_text

    n, half = len(table.rows), TABLE_ROWS // 2
    if fmt != "table" or n <= TABLE_ROWS:
        return table
    table.title = table.title.replace(",".join(map(str, rates)), rates_text(rates))
    table.rows = table.rows[:half] + [["..."] * len(table.columns)] + table.rows[-half:]
    table.raw_rows, table.section_ends = None, {half - 1, half}
    table.footer.insert(0, f"Layers {half + 1} to {n - half} are left out of this table; --format json, csv or md lists all {n:,}.")
    return table


def _check_calculator(layers: int, strides: list[int], rates: list[int], channels: int | None) -> None:
    """The calculator's counts, checked here so that the errors name the flags
    (the library checks them again and names its parameters)."""
    from netstat.rf import MAX_CHANNELS, MAX_LAYERS

    if not 1 <= layers <= MAX_LAYERS:
        raise UsageError(f"--layers must be between 1 and {MAX_LAYERS:,}, not {layers}.")
    for flag, values in (("--stride", strides), ("--dilation", rates)):
        if len(values) not in (1, layers):
            raise UsageError(f"{flag} lists {len(values)} values for {layers} layers; give one value or one per layer.")
    if channels is not None and not 1 <= channels <= MAX_CHANNELS:
        raise UsageError(f"--channels must be between 1 and 10^12, not {channels}.")


def _models(models, inputs, model_kwargs, depth, verify, effective, seeds, layer, plot, fmt) -> None:
    from netstat.analysis import analyze
    from netstat.render.rf import erf_table, plot_erf, plot_growth, rf_table, verify_table

    tables, entries, results, failed = [], [], [], False
    analyses = [analyze(name, inputs, model_kwargs) for name in models]  # one trace each, shared by --verify and --effective
    for analysis in analyses:
        result = analysis.receptive_field
        if not result.axis_names:
            raise UsageError(f"The input {'x'.join(map(str, result.input_shape))} of {result.model} has no spatial dims, so it has no receptive field.")
        if effective and plot is not None and len(result.axis_names) > 2:
            raise UsageError("The ERF figure (--effective --plot) needs a 1-D or 2-D input.")
        results.append(result)
        given = analysis.source.inputs.to_dict()
        data = {**result.to_dict(), "inputs": given}
        if effective and not verify:
            pass  # the ERF table below says what matters; JSON keeps every layer
        elif verify:
            from netstat.erf import verify as run_verify

            check = run_verify(analysis, layers="all" if depth is None else depth)
            tables.append(verify_table(check, depth))
            data["verify"] = check.to_dict()
            failed = failed or not check.agree
        else:
            tables.append(rf_table(result, depth, inputs=given))
        entries.append(data)
    if effective:
        from netstat.erf import effective_rf

        erfs = [effective_rf(a, seeds=seeds, layer=layer) for a in analyses]
        tables.append(erf_table(erfs))
        for data, e in zip(entries, erfs):
            data["effective"] = e.to_dict()
        if plot is not None:
            note(f"ERF heat map written to {plot_erf(erfs[0], plot)}")
    elif plot is not None:
        note(f"RF growth written to {plot_growth(results, plot)}")
    emit(tables, entries[0] if len(entries) == 1 else {"models": entries}, fmt)
    if failed:
        raise typer.Exit(1)
