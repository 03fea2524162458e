"""`list`, `profile`, `compare` and `calc conv`: parse, call the library, render."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from netstat.cli._app import SEQ_LEN_HELP, app, check_format, check_output, parse_inputs, parse_model_kwargs, with_seq_len
from netstat.cli.train import TrainingOptions, compare_training, profile_training
from netstat.errors import UsageError
from netstat.render import emit, note, working

BY = ("layer", "type", "stage")


@app.command("list")
def list_command(
    task: Optional[str] = typer.Option(None, "--task", help="classification, segmentation or detection."),
    family: Optional[str] = typer.Option(None, "--family", help="Only this family (e.g. ResNet, MobileNet)."),
    pattern: Optional[str] = typer.Argument(None, help="Glob on model names, e.g. 'resnet*'."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
) -> None:
    """List the bundled models with their family, year, input, params and MAdds."""
    from netstat.catalog import TASKS, filter_catalog, load_catalog
    from netstat.render.profile import list_table

    fmt = check_format(fmt)
    if task and task not in TASKS:
        raise UsageError(f"Unknown task '{task}'.", hint=f"Use one of: {', '.join(TASKS)}.")
    entries = filter_catalog(load_catalog(), task=task, family=family, pattern=pattern)
    if not entries and family:
        families = sorted({e["family"] for e in load_catalog()})
        raise UsageError(f"No bundled model matches family '{family}'.", hint=f"Families: {', '.join(families)}.")
    emit([list_table(entries)], {"models": entries}, fmt)


@app.command()
def profile(
    model: str = typer.Argument(..., help="Zoo name or alias, torchvision:NAME, timm:NAME, package.module:factory or path/to/file.py:factory."),
    input_shape: Optional[List[str]] = typer.Option(None, "--input", "-i", help="Input shape, e.g. 1,3,224,224 (default: the model's own); once per forward argument, with an optional dtype: 1,128:int64."),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", help="KEY=VALUE for the model's builder (a Python literal), repeatable: --model-kwargs num_classes=10."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help=SEQ_LEN_HELP),
    proposals: Optional[int] = typer.Option(None, "--proposals", help="Detectors: proposals for the box head (default: the model's own maximum)."),
    detections: Optional[int] = typer.Option(None, "--detections", help="Detectors: detections for the mask / keypoint heads (default: the model's own maximum)."),
    depth: int = typer.Option(3, "--depth", "-d", help="Module tree depth shown by --by layer."),
    by: str = typer.Option("layer", "--by", help="layer (module tree), type (module / op type) or stage (output resolution)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
    device: str = typer.Option("meta", "--device", help="meta (no memory, no arithmetic), cpu or cuda."),
    rf: bool = typer.Option(False, "--rf", help="Add the receptive field of every layer."),
    crosscheck: bool = typer.Option(False, "--crosscheck", help="Compare the totals with fvcore, thop and torch.utils.flop_counter."),
    train: bool = typer.Option(False, "--train", help="Profile one training step instead: forward, loss (sum of outputs), backward, optimizer step."),
    batch: Optional[int] = typer.Option(None, "--batch", help="--train: the batch (default 32)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="--train: sgd (default), sgdm, adam, adamw, or none (stop after backward)."),
    amp: Optional[str] = typer.Option(None, "--amp", help="--train: fp32 parameters, activations under autocast to bf16 or fp16."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="--train: the parameters' precision, fp32 (default), bf16 or fp16."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="--train: write a figure of memory over the step (.png, .pdf, .svg)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the interactive HTML page to this file (--format html; a .html name implies it)."),
    snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="--train: write the predicted step as a PyTorch memory snapshot (.pickle) for pytorch.org/memory_viz."),
) -> None:
    """Parameters, MAdds, FLOPs, shapes, memory and memory access, per layer and in total."""
    from netstat.analysis import analyze
    from netstat.render.profile import profile_tables
    from netstat.trace import check_device

    fmt = check_output(output, check_format(fmt, page=True))
    if by not in BY:
        raise UsageError(f"Unknown --by '{by}'.", hint=f"Use one of: {', '.join(BY)}.")
    if depth < 0:
        raise UsageError(f"--depth must be 0 or more, not {depth}.")
    step = TrainingOptions(train, batch, optimizer, amp, dtype, plot, snapshot).checked(device=device, allow_cuda=True, by=by, rf=rf, crosscheck=crosscheck)
    device = "meta" if step is not None else device  # --train --device cuda: the step is traced on meta, the allocator modelled
    inputs, builder = parse_inputs(input_shape), parse_model_kwargs(model_kwargs)
    analysis = analyze(with_seq_len([model], seq_len, builder, inputs)[0], inputs, builder, check_device(device), proposals, detections)
    if step is not None:
        return profile_training(analysis, step, depth, fmt, output)
    with working(f"Tracing {model}"):
        result = analysis.profile
    for line in result.notes:
        note(f"[yellow]Note:[/] {line}")
    data = result.to_dict()
    rf_cells = None
    if rf:
        with working("Receptive fields"):
            rf_result = analysis.receptive_field
        rf_cells = {layer.key: layer.describe() for layer in rf_result.layers}
        data["receptive_field"] = rf_result.to_dict()
    tables = profile_tables(result, by=by, depth=depth, rf_cells=rf_cells)
    if crosscheck:
        from netstat.crosscheck import crosscheck as run_crosscheck
        from netstat.render.check import crosscheck_tables

        cross = run_crosscheck(analysis)
        tables += crosscheck_tables(cross)
        data["crosscheck"] = cross.to_dict()
    if fmt == "html":
        return _profile_page(analysis, data, output)
    emit(tables, data, fmt)


def _profile_page(analysis, data: dict, output: Optional[Path]) -> None:
    """The profile's HTML page: its document (with the receptive field, as --rf adds it) and its graph."""
    from netstat.graph import build_graph
    from netstat.render import emit_page
    from netstat.render.html import profile_page

    data.setdefault("receptive_field", analysis.receptive_field.to_dict())
    emit_page(profile_page(data, build_graph(analysis.profile, analysis.receptive_field).to_dict()), output)


def compare_page(analyses, data: dict, output: Optional[Path]) -> None:
    """The comparison's HTML page: each model's document entry with its receptive field, and its graph."""
    from netstat.graph import build_graph
    from netstat.render import emit_page
    from netstat.render.html import compare_page as page

    for analysis, entry in zip(analyses, data["models"]):
        entry.setdefault("receptive_field", analysis.receptive_field.to_dict())
    emit_page(page(data, [build_graph(a.profile, a.receptive_field).to_dict() for a in analyses]), output)


@app.command()
def compare(
    models: List[str] = typer.Argument(..., help="Two or more models."),
    input_shape: Optional[List[str]] = typer.Option(None, "--input", "-i", help="One input for all (default: each model's own); once per forward argument, e.g. 1,128:int64."),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", help="KEY=VALUE for every model's builder (a Python literal), repeatable."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help=SEQ_LEN_HELP),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
    device: str = typer.Option("meta", "--device", help="meta, cpu or cuda (for the trace)."),
    bench: bool = typer.Option(False, "--bench", help="Also measure latency on this CPU (batch 1)."),
    min_time: float = typer.Option(1.0, "--min-time", help="--bench: seconds each model is measured at least."),
    max_time: float = typer.Option(10.0, "--max-time", help="--bench: seconds after which a model's measurement stops."),
    crosscheck: bool = typer.Option(False, "--crosscheck", help="Also show fvcore / thop / flop_counter totals."),
    train: bool = typer.Option(False, "--train", help="Compare one training step of each instead (see profile --train)."),
    batch: Optional[int] = typer.Option(None, "--batch", help="--train: the batch (default 32)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="--train: sgd (default), sgdm, adam, adamw or none."),
    amp: Optional[str] = typer.Option(None, "--amp", help="--train: activations under autocast to bf16 or fp16."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="--train: the parameters' precision, fp32 (default), bf16 or fp16."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the interactive HTML page to this file (--format html; a .html name implies it)."),
) -> None:
    """Models side by side: params, MAdds, FLOPs, memory, final RF, accuracy (and latency with --bench)."""
    from netstat.analysis import compare as run_compare
    from netstat.render.profile import compare_columns, compare_table
    from netstat.trace import check_device

    fmt = check_output(output, check_format(fmt, page=True))
    if len(models) < 2:
        raise UsageError(f"compare needs two or more models, not {len(models)}.", hint=f"For example: netstat compare {models[0] if models else 'vgg16'} mobilenet_v1.")
    step = TrainingOptions(train, batch, optimizer, amp, dtype, None).checked(device=device, bench=bench, crosscheck=crosscheck)
    if step is not None and fmt == "html":
        raise UsageError("compare --train has no HTML page; profile MODEL --train --format html draws one step.")
    shape, builder = parse_inputs(input_shape), parse_model_kwargs(model_kwargs)
    comparison = run_compare(with_seq_len(models, seq_len, builder, shape), shape, builder, check_device(device))
    if step is not None:
        return compare_training(comparison, step, fmt)
    with working(f"Tracing {len(models)} models"):
        profiles = comparison.profiles
        extra = compare_columns(comparison)
    for p in profiles:
        for line in p.notes:
            note(f"[yellow]Note ({p.model}):[/] {line}")
    data = comparison.to_dict()
    tables = []
    if bench:
        from netstat.cli.bench import compare_bench

        compare_bench(comparison, data, extra, min_time, max_time)
    tables.append(compare_table(profiles, extra))
    if crosscheck:
        from netstat.crosscheck import crosscheck as run_crosscheck
        from netstat.render.check import crosscheck_tables

        for analysis, entry in zip(comparison.analyses, data["models"]):
            cross = run_crosscheck(analysis)
            tables += crosscheck_tables(cross)
            entry["crosscheck"] = cross.to_dict()
    if fmt == "html":
        return compare_page(comparison.analyses, data, output)
    emit(tables, data, fmt)


calc_app = typer.Typer(help="Back-of-the-envelope calculators (no model needed).", no_args_is_help=True)
app.add_typer(calc_app, name="calc")


@calc_app.command("conv")
def calc_conv(
    cin: int = typer.Option(..., "--cin", help="Input channels."),
    cout: int = typer.Option(..., "--cout", help="Output channels."),
    kernel: int = typer.Option(3, "--kernel", "-k", help="Kernel size k (k x k)."),
    groups: int = typer.Option(1, "--groups", "-g", help="Also show a grouped conv with this many groups."),
    bias: bool = typer.Option(True, "--bias/--no-bias", help="Count bias terms."),
    size: Optional[int] = typer.Option(None, "--size", help="Input height = width H: adds MAdds at HxH."),
    stride: int = typer.Option(1, "--stride", "-s", help="Stride (for the MAdds at --size)."),
    separable: bool = typer.Option(True, "--separable/--no-separable", help="Show the depthwise-separable layout."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Standard vs grouped vs depthwise-separable conv: params and MAdds, with the arithmetic."""
    from netstat.calc import conv, validate
    from netstat.render.profile import calc_table

    fmt = check_format(fmt)
    validate(cin, cout, kernel, groups, size, stride, names={k: f"--{k}" for k in ("cin", "cout", "kernel", "groups", "size", "stride")})
    result = conv(cin, cout, kernel, groups=groups, bias=bias, size=size, stride=stride, separable=separable)
    emit([calc_table(result)], result.to_dict(), fmt)
