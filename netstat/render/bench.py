"""Tables for `netstat bench`: latency beside cost, and the roofline.

Only formatting: every number arrives computed in `netstat.bench.BenchResult`.
"""

from __future__ import annotations

from typing import Any, Sequence

from netstat.render import Column, Table, emit, human, human_bytes


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _settings(r) -> str:
    env = r.env
    parts = [
        f"{r.device}",
        f"{env.get('threads')} thread{'s' if env.get('threads') != 1 else ''}",
        r.dtype + (" (amp)" if env.get("amp") else ""),
        "channels_last" if env.get("channels_last") else "contiguous",
        f"torch.compile({env['compile']})" if env.get("compile") else "eager",
        f"{r.mode} mode",
    ]
    if env.get("cudnn_benchmark"):
        parts.append("cudnn.benchmark")
    malloc = env.get("allocator") or {}
    if malloc.get("applied"):
        parts.append("malloc keeps freed memory (no mmap, no trim)")
    elif malloc:
        parts.append(f"malloc {malloc.get('note') or 'left as it is'}".rstrip("."))
    return " · ".join(parts)


def _machine(r) -> str:
    env = r.env
    gpu = env.get("gpu")
    where = (
        f"{gpu['name']} (driver {gpu.get('driver') or '?'}, CUDA {gpu.get('cuda')}, cuDNN {gpu.get('cudnn')})"
        if gpu
        else f"{env.get('cpu')} ({env.get('usable_cores')} usable cores, {env.get('cpu_capability')})"
    )
    return f"{where} · torch {env.get('torch')} · netstat {env.get('netstat')} · {env.get('date')}"


def latency_table(results: Sequence[Any]) -> Table:
    """One row per model and batch: time statistics, throughput, cold start, cost."""
    table = Table(
        title="Latency" if not results or results[0].mode == "latency" else "Throughput",
        columns=[
            Column("Model", "left"),
            Column("Batch"),
            Column("Inputs", "left"),
            Column("Median ms"),
            Column("±95% CI"),
            Column("p10 ms"),
            Column("p90 ms"),
            Column("IQR/med"),
            Column("n"),
            Column("Samples/s"),
            Column("Cold ms"),
            Column("MAdds"),
            Column("Mem. access"),
        ],
    )
    for r in results:
        s = r.stats
        if s is None:
            table.add_row(
                [r.model, str(r.batch), r.described_inputs, r.status.upper(), *["-"] * 9],
                raw=[r.model, r.batch, r.described_inputs, r.status, *[None] * 9],
            )
            continue
        ci = r.measurement.get("median_ci_rel")
        table.add_row(
            [
                r.model,
                str(r.batch),
                r.described_inputs,
                _ms(s.median / 1e6),
                "-" if ci is None else f"±{ci:.1%}",
                _ms(s.p10 / 1e6),
                _ms(s.p90 / 1e6),
                _pct(s.iqr_rel),
                str(s.n),
                human(r.samples_per_s),
                _ms(None if r.cold_start_ns is None else r.cold_start_ns / 1e6),
                human(r.madds),
                human_bytes(r.memory_access_bytes),
            ],
            raw=[
                r.model, r.batch, r.described_inputs, s.median / 1e6, ci, s.p10 / 1e6, s.p90 / 1e6, s.iqr_rel, s.n,
                r.samples_per_s, None if r.cold_start_ns is None else r.cold_start_ns / 1e6,
                r.madds, r.memory_access_bytes,
            ],
        )
    if results:
        table.footer.append(f"[dim]{_settings(results[0])}[/]")
        table.footer.append(f"[dim]{_machine(results[0])}[/]")
    for r in results:
        # A run out of memory is reported once, by the command (a note, or the error when none was measured).
        for text in ([r.error] if r.error and r.status != "oom" else []) + r.warnings:
            table.warnings.append(f"{r.model} (batch {r.batch}): {text}")
    return table


def roofline_table(results: Sequence[Any]) -> Table | None:
    """Achieved FLOP/s against the measured roofline, per model and batch."""
    rows = [(r, r.roofline_dict()) for r in results if r.roofline is not None and r.stats is not None]
    if not rows:
        return None
    roof = rows[0][1]
    table = Table(
        title="Roofline",
        columns=[
            Column("Model", "left"),
            Column("Batch"),
            Column("FLOP/byte"),
            Column("Achieved FLOP/s"),
            Column("Attainable FLOP/s"),
            Column("of attainable"),
            Column("of peak"),
            Column("Bound", "left"),
        ],
    )
    for r, d in rows:
        ai = d["arithmetic_intensity"]
        table.add_row(
            [
                r.model,
                str(r.batch),
                "-" if ai is None else f"{ai:.1f}",
                human(r.achieved_flops_per_s),
                human(d["attainable_flops_per_s"]),
                _pct(d["fraction_of_attainable"]),
                _pct(d["fraction_of_peak"]),
                d["bound"] or "-",
            ],
            raw=[r.model, r.batch, ai, r.achieved_flops_per_s, d["attainable_flops_per_s"],
                 d["fraction_of_attainable"], d["fraction_of_peak"], d["bound"]],
        )
    table.footer.append(
        f"[dim]Measured on {roof['device']} ({roof['dtype']}, {roof['threads']} thread{'s' if roof['threads'] != 1 else ''}): "
        f"peak {human(roof['peak_flops_per_s'], 'FLOP/s')} ({roof['matmul_size']}² matmul), "
        f"copy bandwidth {human(roof['bandwidth_bytes_per_s'], 'B/s')} ({human_bytes(roof['copy_bytes'])} buffers), "
        f"ridge point {roof['ridge_point_flops_per_byte']:.1f} FLOP/byte.[/]"
    )
    return table


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 10 else f"{value:.2f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "-" if not ci else f"[{_ratio(ci[0])}, {_ratio(ci[1])}]"


def ratio_table(runs: Sequence[Any]) -> Table | None:
    """Each model's time against the first model's, measured interleaved."""
    if not any(run.comparisons for run in runs):
        return None
    table = Table(
        title="Ratios (interleaved)",
        columns=[Column("Model", "left"), Column("vs", "left"), Column("Batch"), Column("Time ratio"),
                 Column("95% CI"), Column("Rounds")],
    )
    for run in runs:
        for c in run.comparisons:
            table.add_row([c["model"], c["baseline"], str(c["batch"]), _ratio(c["ratio"]), _ci(c["ci"]), str(c["rounds"])],
                          raw=[c["model"], c["baseline"], c["batch"], c["ratio"], c["ci"], c["rounds"]])
    first = runs[0]
    table.footer.append(
        f"[dim]Time ratio: the model's median time per call over the first model's, from rounds of one block of "
        f"calls per model in rotated order; CI: bootstrap over rounds. Probe: {first.probe['kernel']} x "
        f"{first.probe['calls']} (median {first.probe['median_ms']:.3f} ms).[/]"
    )
    for run in runs:
        for text in run.warnings:
            table.warnings.append(f"batch {run.batch}: {text}")
    return table


def bench_tables(results: Sequence[Any]) -> list[Table]:
    tables = [latency_table(results)]
    ratios = ratio_table(getattr(results, "runs", []))
    if ratios is not None:
        tables.append(ratios)
    roof = roofline_table(results)
    if roof is not None:
        tables.append(roof)
    return tables


def render_bench(results: Sequence[Any], fmt: str) -> None:
    """Write benchmark results to stdout as a table, JSON, CSV or Markdown."""
    from netstat.bench import to_json

    emit(bench_tables(results), to_json(results), fmt)


def processes_table(pooled: dict[str, Any]) -> Table:
    """`--processes N`: each median and each ratio per process, their spread
    (max / min - 1) side by side, and the pooled ratio."""
    count = pooled["processes"]
    table = Table(
        title=f"Across {count} processes",
        columns=[Column("Quantity", "left"), Column("Batch"), *[Column(f"proc {i + 1}") for i in range(count)],
                 Column("Spread"), Column("Pooled"), Column("Pooled 95% CI")],
    )
    for m in pooled["medians"]:
        cells = [_ms(v) for v in m["per_process_ms"]] + ["-"] * (count - len(m["per_process_ms"]))
        table.add_row([f"{m['model']} median ms", str(m["batch"]), *cells, _pct(m["spread"]), _ms(m["median_ms"]), "-"],
                      raw=[f"{m['model']} median ms", m["batch"], *m["per_process_ms"], m["spread"], m["median_ms"], None])
    for c in pooled["comparisons"]:
        values = [None if p is None else p["ratio"] for p in c["per_process"]]
        marks = ["" if inside is None or inside else "*" for inside in c["within_ci"]]
        label = f"{c['model']} / {c['baseline']}"
        table.add_row([label, str(c["batch"]), *[_ratio(v) + k for v, k in zip(values, marks)], _pct(c["spread"]),
                       _ratio(c["ratio"]), _ci(c["ci"])],
                      raw=[label, c["batch"], *values, c["spread"], c["ratio"], c["ci"]])
    table.footer.append("[dim]Spread: max / min - 1 over the processes. Pooled ratio: from every process's rounds "
                        "(bootstrap within each process); * marks a process whose own CI leaves it out.[/]")
    for i, doc in enumerate(pooled["runs"]):
        for run in doc.get("interleaved", []):
            for text in run["warnings"]:
                table.warnings.append(f"process {i + 1}, batch {run['batch']}: {text}")
    return table


def render_processes(pooled: dict[str, Any], fmt: str) -> None:
    """`netstat bench --processes N` to stdout: the spread table, or the pooled JSON."""
    emit([processes_table(pooled)], pooled, fmt)
