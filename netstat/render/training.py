"""Tables for `profile --train`, `compare --train` and `fit`."""

from __future__ import annotations

from netstat.render import Column, Table, grouped, human, human_bytes, inputs_str


def _n(value: int, fmt=human) -> str:
    return fmt(value) if value else "-"


def _precision(profile) -> str:
    return f"{profile.dtype} parameters, autocast {profile.amp}" if profile.amp else profile.dtype


def _title(profile) -> str:
    return f"{profile.model} — training step, batch {profile.batch} ({inputs_str(profile.inputs, profile.input_shape)}), {profile.optimizer}, {_precision(profile)}"


def training_layers_table(profile, depth: int = 3) -> Table:
    """Per module to `depth`: forward / backward cost, saved bytes, gradients, optimizer state."""
    columns = [Column("Layer", "left"), Column("Type", "left"), Column("Params", priority=2), Column("Fwd MAdds", priority=1), Column("Bwd MAdds", priority=1),
               Column("Fwd FLOPs"), Column("Bwd FLOPs"), Column("Saved", priority=2), Column("Grads"), Column("Opt. state")]
    t = Table(f"{_title(profile)}, layers to depth {depth}", columns)
    for r in profile.layers:
        if r.depth > depth or (r.depth == 0 and depth > 0):  # depth 0: the model's own row
            continue
        name = r.name.rsplit(".", 1)[-1] if r.depth > 1 else r.name
        cells = [f"{'  ' * (r.depth - 1)}{name}", r.type, _n(r.params, grouped), _n(r.forward_madds), _n(r.backward_madds), _n(r.forward_flops),
                 _n(r.backward_flops), _n(r.saved_bytes, human_bytes), _n(r.grad_bytes, human_bytes), _n(r.optimizer_bytes, human_bytes)]
        raw = [r.name, r.type, r.params, r.forward_madds, r.backward_madds, r.forward_flops, r.backward_flops, r.saved_bytes, r.grad_bytes, r.optimizer_bytes]
        t.add_row(cells, raw=raw)
    return t


def training_totals_table(profile) -> Table:
    """The step in total: work per phase, bytes by kind, the peak and where it falls."""
    t = profile.totals
    at = profile.peak_at
    table = Table(f"{_title(profile)}, totals", [Column("Quantity", "left"), Column("Value"), Column("Exact")])
    rows = [
        ("Parameters", human(t["params"]), t["params"]),
        ("  trainable / frozen", f"{human(t['trainable_params'])} / {human(t['frozen_params'])}", f"{t['trainable_params']:,} / {t['frozen_params']:,}"),
        ("Forward MAdds (incl. loss)", human(t["forward_madds"]), t["forward_madds"]),
        ("Backward MAdds", human(t["backward_madds"]), t["backward_madds"]),
        ("Forward FLOPs", human(t["forward_flops"]), t["forward_flops"]),
        ("Backward FLOPs", human(t["backward_flops"]), t["backward_flops"]),
        ("Optimizer FLOPs", human(t["optimizer_flops"]), t["optimizer_flops"]),
        ("Parameter bytes", human_bytes(t["param_bytes"]), t["param_bytes"]),
        ("Gradient bytes", human_bytes(t["grad_bytes"]), t["grad_bytes"]),
        ("Optimizer state bytes", human_bytes(t["optimizer_bytes"]), t["optimizer_bytes"]),
        ("Saved for backward", human_bytes(t["saved_bytes"]), t["saved_bytes"]),
        ("Peak memory of the step", human_bytes(t["peak_bytes"]), t["peak_bytes"]),
    ]
    for i, (name, value, exact) in enumerate(rows):
        table.add_row([name, value, f"{exact:,}" if isinstance(exact, int) else str(exact)], raw=[name.strip(), value, exact], end_section=i in (1, 6))
    table.footer = [f"[bold]Peak[/] at op {at.index} ({at.op}) in the {at.phase}, layer {at.layer or '(model)'}"]
    if profile.uncounted_ops:
        ops = "; ".join(f"{phase}: " + ", ".join(f"{k} x{v}" for k, v in ops.items()) for phase, ops in profile.uncounted_ops.items())
        table.footer.append(f"[bold yellow]Uncounted ops[/] (no formula): {ops}")
    return table


def cuda_memory_table(profile) -> Table:
    """The step on a CUDA GPU: the caching allocator's allocated and reserved
    peaks, and the context and workspace lines (typical unless measured)."""
    cuda = profile.cuda_memory()
    kind = "measured" if cuda.measured else "typical, not measured"
    table = Table(f"{_title(profile)}, on a CUDA GPU (caching allocator model)", [Column("Quantity", "left"), Column("Value"), Column("Exact")])
    rows = [
        ("Tensors at the peak (requested bytes)", cuda.requested_peak),
        ("Allocated peak (max_memory_allocated)", cuda.allocated_peak),
        ("Reserved peak (max_memory_reserved)", cuda.reserved_peak),
        ("  reserved beyond the allocated peak", cuda.reserved_peak - cuda.allocated_peak),
        (f"CUDA context ({kind})", cuda.context_bytes),
        (f"Kernel workspace allowance ({kind})", cuda.workspace_bytes),
        ("GPU memory needed (reserved + context + workspace)", cuda.total_bytes),
    ]
    for i, (name, value) in enumerate(rows):
        table.add_row([name, human_bytes(value), f"{value:,}"], raw=[name.strip(), human_bytes(value), value], end_section=i in (3, 5))
    table.footer = [f"{cuda.segments} segments (cudaMalloc calls); the step replayed {cuda.runs} times to its steady state", cuda.note()]
    return table


def training_compare_table(profiles: list) -> Table:
    """One row per model: the step's work and memory at the same batch and optimizer."""
    columns = [Column("Model", "left"), Column("Batch"), Column("Params", priority=2), Column("Fwd FLOPs"), Column("Bwd FLOPs"), Column("Saved"),
               Column("Grads + state"), Column("Peak", priority=3), Column("Peak in", "left")]
    first = profiles[0] if profiles else None
    title = f"Training step comparison ({first.optimizer}, {_precision(first)})" if first else "Training step comparison"
    t = Table(title, columns)
    for p in profiles:
        tot = p.totals
        cells = [p.model, str(p.batch), human(tot["params"]), human(tot["forward_flops"]), human(tot["backward_flops"]), human_bytes(tot["saved_bytes"]),
                 human_bytes(tot["grad_bytes"] + tot["optimizer_bytes"]), human_bytes(tot["peak_bytes"]), f"{p.peak_at.phase}: {p.peak_at.layer or '(model)'}"]
        raw = [p.model, p.batch, tot["params"], tot["forward_flops"], tot["backward_flops"], tot["saved_bytes"], tot["grad_bytes"] + tot["optimizer_bytes"],
               tot["peak_bytes"], f"{p.peak_at.phase}: {p.peak_at.layer}"]
        t.add_row(cells, raw=raw)
    return t


def fit_table(result) -> Table:
    """The largest batch under the budget, and every probe that found it."""
    mode = f"training ({result.optimizer}, {result.dtype}{', autocast ' + result.amp if result.amp else ''})" if result.train else "inference"
    if getattr(result, "device", "meta") == "cuda":
        mode += " on CUDA (allocator reserved + context + workspace)"
    t = Table(f"{result.model} — largest batch in {human_bytes(result.memory_bytes)}, {mode}", [Column("Batch"), Column("Predicted peak"), Column("Fits", "left")])
    usable = result.usable_bytes
    for batch, peak in sorted(result.probes):
        t.add_row([str(batch), human_bytes(peak), "yes" if peak <= usable else "no"], raw=[batch, peak, peak <= usable])
    margin = f" + {100 * result.margin:g}% margin" if result.margin else ""  # for what the prediction misses (netstat.training.fit)
    if result.batch:
        t.footer = [f"[bold]Largest batch[/] {result.batch:,} (predicted peak {human_bytes(result.peak_bytes)}{margin} within {human_bytes(result.memory_bytes)})"]
    else:
        t.footer = [f"[bold red]Batch 1 does not fit[/]: its predicted peak is {human_bytes(result.peak_bytes)}{margin}."]
    if result.margin:
        t.footer.append("Margin: held-out models' real steps were up to 1.9% above the prediction.")
    return t

