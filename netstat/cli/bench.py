"""`netstat bench`: latency / throughput with the protocol of netstat.bench."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import typer

from netstat.cli._app import app, check_format, parse_input_shape, parse_int_list
from netstat.errors import UsageError


@contextmanager
def _progress_bar(enabled: bool) -> Iterator:
    """A Rich progress bar on stderr; yields the callback for netstat.bench."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from netstat.render import stderr_console

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    )
    task_id = bar.add_task("starting", total=1)

    def update(event) -> None:
        bar.update(
            task_id,
            total=event.total,
            completed=event.index + event.fraction,
            description=f"{event.task}: {event.phase}",
        )

    with bar:
        yield update


@app.command()
def bench(
    models: list[str] = typer.Argument(..., help="Zoo names or specs (torchvision:NAME, file.py:factory, pkg.mod:factory)."),
    input_shape: Optional[str] = typer.Option(None, "--input", help="Input shape, e.g. 1,3,224,224 (default: the model's own)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    batch: Optional[str] = typer.Option(None, "--batch", help="Batch sizes, e.g. 1,8,32 (default: the input's batch)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: every core this process may use)."),
    dtype: str = typer.Option("fp32", help="fp32, fp16 or bf16."),
    amp: bool = typer.Option(False, "--amp", help="Keep fp32 weights and run under torch.autocast to --dtype."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format for model and input."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model (compile time shown as cold start)."),
    compile_mode: str = typer.Option("default", "--compile-mode", help="torch.compile mode: default, reduce-overhead, max-autotune."),
    cudnn_benchmark: bool = typer.Option(False, "--cudnn-benchmark", help="Let cuDNN autotune (tuning time shown as cold start)."),
    mode: str = typer.Option("latency", help="latency (one batch at a time) or throughput (back-to-back)."),
    min_time: float = typer.Option(1.0, "--min-time", help="Seconds of measurement at least."),
    max_time: float = typer.Option(10.0, "--max-time", help="Seconds of measurement at most."),
    roofline: bool = typer.Option(False, "--roofline", help="Measure peak matmul FLOP/s and copy bandwidth; compare."),
    allocator: str = typer.Option(
        "steady", "--allocator", help="steady: glibc malloc keeps freed memory while measuring; system: leave malloc alone."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Measure latency and throughput, beside MAdds, memory traffic and the roofline."""
    fmt = check_format(fmt)
    shape = parse_input_shape(input_shape)
    batches = parse_int_list(batch, "--batch") if batch is not None else None
    if mode not in ("latency", "throughput"):
        raise UsageError(f"Unknown mode '{mode}'.", hint="Use latency or throughput.")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be a positive integer, not {threads}.")

    from netstat.bench import benchmark
    from netstat.render.bench import render_bench

    with _progress_bar(progress) as callback:
        results = benchmark(
            models,
            shape,
            device=device,
            batches=batches,
            threads=threads,
            dtype=dtype.lower(),
            amp=amp,
            channels_last=channels_last,
            compile_mode=compile_mode if compile_model else None,
            cudnn_benchmark=cudnn_benchmark,
            mode=mode,
            min_time=min_time,
            max_time=max_time,
            roofline=roofline,
            allocator=allocator,
            progress=callback,
        )
    render_bench(results, fmt)
    _check_measured(results)


def _check_measured(results) -> None:
    """Exit 1 when no batch was measured (each ran out of memory); a note on
    stderr when only some were."""
    from netstat.errors import ModelRunError
    from netstat.render import note

    skipped = [r for r in results if r.status != "ok"]
    if not skipped:
        return
    runs = ", ".join(f"{r.model} at batch {r.batch}" for r in skipped)
    if len(skipped) == len(results):
        raise ModelRunError(f"Nothing was measured: every run ran out of {skipped[0].device} memory ({runs}).")
    note(f"Note: {len(skipped)} of {len(results)} runs ran out of memory and were skipped ({runs}).")
