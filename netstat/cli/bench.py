"""`netstat bench`: latency / throughput with the protocol of netstat.bench."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Optional

import typer

from netstat.cli._app import SEQ_LEN_HELP, app, check_format, parse_inputs, parse_int_list, parse_model_kwargs, with_seq_len
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
    input_shape: Optional[List[str]] = typer.Option(None, "--input", "-i", help="[NAME=]SHAPE[:DTYPE] once per forward input, e.g. 1,128:int64 (default: the model's own)."),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", help="KEY=VALUE for the builder (a Python literal), repeatable."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help=SEQ_LEN_HELP),
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
    max_time: float = typer.Option(10.0, "--max-time", help="Seconds of measurement at most (per model)."),
    precision: str = typer.Option("1%", "--precision", help="Stop when every median (and ratio) is known to ± this, e.g. 1% or 0.01."),
    drop_unsteady: bool = typer.Option(False, "--drop-unsteady", help="Several models: leave out the rounds the steadiness probe flagged."),
    processes: int = typer.Option(1, "--processes", help="Run the whole measurement in N fresh processes and show their spread."),
    roofline: bool = typer.Option(False, "--roofline", help="Measure peak matmul FLOP/s and copy bandwidth; compare."),
    allocator: str = typer.Option("steady", "--allocator", help="steady: glibc malloc keeps freed memory while measuring; system: leave malloc alone."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Measure latency and throughput, beside MAdds, memory traffic and the roofline."""
    fmt = check_format(fmt)
    inputs, builder = parse_inputs(input_shape), parse_model_kwargs(model_kwargs)
    batches = parse_int_list(batch, "--batch") if batch is not None else None
    fraction = _checked(mode, threads, precision, processes)
    if processes != 1:
        return _bench_processes(processes, fmt, progress, locals())

    from netstat.bench import benchmark
    from netstat.render.bench import render_bench

    with _progress_bar(progress) as callback:
        results = benchmark(
            with_seq_len(models, seq_len, builder, inputs),
            inputs,
            model_kwargs=builder,
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
            precision=fraction,
            drop_unsteady=drop_unsteady,
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


def _checked(mode: str, threads: int | None, precision: str, processes: int) -> float:
    """One sentence for a bad mode, thread or process count; the precision as a fraction."""
    from netstat.bench.processes import check_processes

    if mode not in ("latency", "throughput"):
        raise UsageError(f"Unknown mode '{mode}'.", hint="Use latency or throughput.")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be a positive integer, not {threads}.")
    check_processes(processes)
    return parse_precision(precision)


def parse_precision(text: str) -> float:
    """'1%' or '0.01' as 0.01; one sentence for anything else."""
    value = text.strip()
    try:
        fraction = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise UsageError(f"--precision must be a fraction such as 1% or 0.01, not '{text}'.") from None
    if not 0 < fraction < 1:
        raise UsageError(f"--precision must lie between 0 and 100%, not '{text}'.")
    return fraction


# `bench` options passed on to each fresh process by --processes: (parameter, flag); a list is repeated.
_CHILD_OPTIONS = [("input_shape", "--input"), ("model_kwargs", "--model-kwargs"), ("seq_len", "--seq-len"), ("device", "--device"), ("batch", "--batch"),
                  ("threads", "--threads"), ("dtype", "--dtype"), ("compile_mode", "--compile-mode"), ("mode", "--mode"),
                  ("min_time", "--min-time"), ("max_time", "--max-time"), ("allocator", "--allocator"),
                  ("precision", "--precision")]
_CHILD_SWITCHES = [("amp", "--amp"), ("channels_last", "--channels-last"), ("compile_model", "--compile"),
                   ("cudnn_benchmark", "--cudnn-benchmark"), ("drop_unsteady", "--drop-unsteady"), ("roofline", "--roofline")]


def child_args(options: dict) -> list[str]:
    """The `netstat bench` arguments that repeat this command in a child."""
    args = list(options["models"])
    for name, flag in _CHILD_OPTIONS:
        value = options.get(name)
        for item in value if isinstance(value, list) else [] if value is None else [value]:
            args += [flag, str(item)]
    return args + [flag for name, flag in _CHILD_SWITCHES if options.get(name)]


def _bench_processes(count: int, fmt: str, progress: bool, options: dict) -> None:
    """`--processes N`: the same command in N fresh processes, pooled."""
    from netstat.bench.processes import in_processes, pool
    from netstat.render.bench import render_processes

    per_model = options["max_time"] + 10  # rounds, warm-up, cold start and costs
    batches = len(options["batch"].split(",")) if options.get("batch") else 1
    timeout = 120 + 2 * per_model * len(options["models"]) * batches
    with _progress_bar(progress) as callback:
        docs = in_processes(child_args(options), count, timeout, _ProcessProgress(callback))
    render_processes(pool(docs), fmt)


class _ProcessProgress:
    """--processes: 'process i of N' on the progress bar, if there is one."""

    def __init__(self, callback) -> None:
        self.callback = callback

    def __call__(self, index: int, count: int) -> None:
        if self.callback is not None:
            from netstat.bench import BenchProgress

            self.callback(BenchProgress(f"process {index + 1} of {count}", "measure", 0.0, index, count))


def compare_bench(comparison, data: dict, extra: dict, min_time: float = 1.0, max_time: float = 10.0) -> None:
    """`compare --bench`: the comparison's own analyses measured interleaved
    (their sources: a file is not imported again, the builder arguments and
    input dtypes kept; their profiles give the costs: no second trace), at
    their inputs' batch, with all usable cores; each one's median and its
    time ratio to the first with the CI as columns, the latencies and
    `comparisons` in `data`, warnings as notes."""
    from netstat.bench import benchmark
    from netstat.render import note, stderr_console

    profiles = comparison.profiles
    with _progress_bar(stderr_console().is_terminal) as callback:
        results = benchmark(list(comparison.analyses), min_time=min_time, max_time=max_time, progress=callback)
    latency, ratio = {}, {}
    for p, entry, r in zip(profiles, data["models"], results):
        entry["latency_ms"] = None if r.stats is None else r.stats.to_ms()
        latency[p.model] = f"{r.stats.median / 1e6:.2f}" if r.stats else "-"
    run = results.runs[0] if results.runs else None
    if run is not None:
        measured = [p for p, r in zip(profiles, results) if r.status == "ok"]  # the run's models, in order
        by_name = {c["model"]: c for c in run.comparisons}
        ratio[measured[0].model] = "1"
        for p, name in zip(measured[1:], run.models[1:]):
            c = by_name[name]
            ratio[p.model] = f"{c['ratio']:.2f} [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}]"
        for text in run.warnings:
            note(f"[yellow]Note (latency):[/] {text}")
    extra["Latency (ms)"] = latency
    extra["Time vs first (95% CI)"] = ratio
    data["comparisons"] = [] if run is None else run.comparisons
