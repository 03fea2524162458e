"""Tables for `list`, `profile`, `compare` and `calc`."""

from __future__ import annotations

from typing import Any, Sequence

from netstat.render import Column, Table, grouped, human, human_bytes, inputs_str, shape_str


def _shapes(shapes: Sequence[Sequence[int]]) -> str:
    return ", ".join(shape_str(s) for s in shapes) if shapes else "-"


def _ai(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


_COST_COLUMNS = [Column("Params"), Column("MAdds"), Column("FLOPs"), Column("Act. mem"), Column("Mem. access"), Column("FLOP/B")]


def _cost_cells(row) -> list[str]:
    return [
        grouped(row.params) if row.params else "-",
        human(row.madds) if row.madds else "-",
        human(row.flops) if row.flops else "-",
        human_bytes(row.activation_bytes) if row.activation_bytes else "-",
        human_bytes(row.memory_access_bytes) if row.memory_access_bytes else "-",
        _ai(row.arithmetic_intensity),
    ]


def _cost_raw(row) -> list[Any]:
    return [row.params, row.madds, row.flops, row.activation_bytes, row.memory_access_bytes, row.arithmetic_intensity]


def totals_footer(profile, rf_final: str | None = None) -> list[str]:
    t = profile.totals
    lines = [
        f"[bold]Params[/] {t['params']:,} (trainable {t['trainable_params']:,}, non-trainable {t['non_trainable_params']:,}); buffers {t['buffers']:,}",
        f"[bold]MAdds[/] {t['madds']:,} ({human(t['madds'])}; conv + matmul + attention multiply-accumulates)  "
        f"[bold]FLOPs[/] {t['flops']:,} ({human(t['flops'])}; 2 x MAdds + bias, norm, activation, pooling, element-wise)",
        f"[bold]Activations[/] {human_bytes(t['activation_bytes'])} written, peak live {human_bytes(t['peak_activation_bytes'])}  "
        f"[bold]Memory access[/] {human_bytes(t['memory_access_bytes'])}  [bold]Arithmetic intensity[/] {_ai(t['arithmetic_intensity'])} FLOP/B",
        f"[bold]Output[/] {_shapes(t['output_shape'])}   input {inputs_str(profile.inputs, profile.input_shape)} on {profile.device}",
    ]
    if rf_final:
        lines.append(f"[bold]Receptive field of the output[/] {rf_final}")
    if profile.uncounted_ops:
        ops = ", ".join(f"{name} x{n}" for name, n in profile.uncounted_ops.items())
        lines.append(f"[bold yellow]Uncounted ops[/] (no formula; their FLOPs are missing from the totals): {ops}")
    return lines


def profile_tables(profile, by: str = "layer", depth: int = 3, rf_cells: dict[tuple[str, int], str] | None = None) -> list[Table]:
    """`by`: "layer" (a depth-limited module tree), "type" or "stage"."""
    title = f"{profile.model} — input {inputs_str(profile.inputs, profile.input_shape)}"
    if by == "type":
        total_params = profile.totals["params"]
        total_madds = profile.totals["madds"]
        t = Table(
            f"{title}, by type",
            [Column("Type", "left"), Column("Calls"), Column("Params"), Column("% params"), Column("MAdds"), Column("% MAdds"), Column("FLOPs"), Column("Mem. access")],
        )
        for r in profile.by_type:
            t.add_row(
                [r.name, str(r.calls), grouped(r.params) if r.params else "-", _pct(r.params, total_params), human(r.madds) if r.madds else "-", _pct(r.madds, total_madds), human(r.flops) if r.flops else "-", human_bytes(r.memory_access_bytes)],
                raw=[r.name, r.calls, r.params, r.params / total_params if total_params else None, r.madds, r.madds / total_madds if total_madds else None, r.flops, r.memory_access_bytes],
            )
    elif by == "stage":
        t = Table(f"{title}, by stage (output resolution)", [Column("Stage", "left"), Column("Output", "left", wrap=True), Column("Ops")] + _COST_COLUMNS)
        for r in profile.by_stage:
            t.add_row([r.name, _shapes(r.output_shape), str(r.calls)] + _cost_cells(r), raw=[r.name, _shapes(r.output_shape), r.calls] + _cost_raw(r))
    else:
        columns = [Column("Layer", "left"), Column("Type", "left"), Column("Output", "left", wrap=True)] + _COST_COLUMNS  # several outputs wrap in their cell
        if rf_cells is not None:
            columns.append(Column("RF", "left"))
        t = Table(f"{title}, layers to depth {depth}", columns)
        for i, r in enumerate(profile.layers):
            if r.depth > depth or (r.depth == 0 and depth > 0):  # depth 0: the model's own row
                continue
            indent = "  " * (r.depth - 1)
            label = r.name.rsplit(".", 1)[-1] if r.depth > 1 else r.name
            cells = [f"{indent}{label}", r.type, _shapes(r.output_shape)] + _cost_cells(r)
            raw = [r.name, r.type, _shapes(r.output_shape)] + _cost_raw(r)
            if rf_cells is not None:
                cells.append(rf_cells.get(r.key, "-"))
                raw.append(rf_cells.get(r.key, ""))
            t.add_row(cells, raw=raw)
    t.footer = totals_footer(profile)
    return [t] + ([detector_table(profile)] if profile.detector is not None else [])


def detector_table(profile) -> Table:
    """A detector's cost as fixed part + per proposal + per detection."""
    d = profile.detector
    t = Table(f"{profile.model} — detector cost", [Column("Part", "left", wrap=True), Column("Boxes"), Column("MAdds each"), Column("MAdds", priority=2), Column("FLOPs", priority=2)])
    parts = (
        ("fixed: transform, backbone, neck, RPN / dense head", None, None, d.fixed_madds, d.fixed_flops),
        ("box head, per proposal", d.proposals, d.per_proposal_madds, *_times(d.proposals, d.per_proposal_madds, d.per_proposal_flops)),
        ("mask / keypoint head, per detection", d.detections, d.per_detection_madds, *_times(d.detections, d.per_detection_madds, d.per_detection_flops)),
    )
    for name, boxes, each, madds, flops in parts:
        t.add_row([name, "-" if boxes is None else f"{boxes:,}", human(each), human(madds), human(flops)], raw=[name, boxes, each, madds, flops])
    t.footer = ["Box counts are the model's own maxima unless --proposals / --detections say otherwise; score filtering and NMS are not run (their cost depends on values)."]
    return t


def _times(n: int, madds: int | None, flops: int | None) -> tuple[int, int]:
    return (n * madds if madds else 0, n * flops if flops else 0)


COMPARE_COLUMNS = ("Top-1", "Final RF")  # compare_columns': what `compare` always shows
ASKED = 3  # the priority of a column that a flag asked for: dropped last


def compare_table(profiles: list, extra: dict[str, dict[str, str]] | None = None) -> Table:
    """One row per model; `extra` adds columns (e.g. final RF, latency) keyed
    by column name, then by model name."""
    extra = extra or {}
    # Params and MAdds are what a comparison is for: they go last; then the extra columns (top-1, RF).
    columns = [Column("Model", "left"), Column("Input", "left", wrap=True), Column("Params", priority=2), Column("MAdds", priority=2), Column("FLOPs"), Column("Peak act."), Column("Mem. access"), Column("FLOP/B")]
    # Top-1 and final RF are kept longer than FLOP/B and memory; a column a flag asked for (--bench's latency) longest.
    columns += [Column(name, priority=1 if name in COMPARE_COLUMNS else ASKED) for name in extra]
    t = Table("Comparison", columns)
    for p in profiles:
        tot = p.totals
        cells = [
            p.model,
            inputs_str(p.inputs, p.input_shape),
            human(tot["params"]),
            human(tot["madds"]),
            human(tot["flops"]),
            human_bytes(tot["peak_activation_bytes"]),
            human_bytes(tot["memory_access_bytes"]),
            _ai(tot["arithmetic_intensity"]),
        ]
        raw = [p.model, inputs_str(p.inputs, p.input_shape), tot["params"], tot["madds"], tot["flops"], tot["peak_activation_bytes"], tot["memory_access_bytes"], tot["arithmetic_intensity"]]
        for name in extra:
            cells.append(extra[name].get(p.model, "-"))
            raw.append(extra[name].get(p.model, ""))
        t.add_row(cells, raw=raw)
    if profiles:
        base = profiles[0]
        for p in profiles[1:]:
            parts = [f"{_ratio(p.totals[k], base.totals[k])} {label}" for k, label in (("params", "params"), ("madds", "MAdds")) if base.totals[k] and p.totals[k]]
            if parts:
                t.footer.append(f"{p.model}: {' and '.join(parts)} of {base.model}")
    for p in profiles:
        if p.uncounted_ops:
            t.footer.append(f"[yellow]{p.model}: uncounted ops {', '.join(f'{k} x{v}' for k, v in p.uncounted_ops.items())}[/]")
    return t


def compare_columns(comparison) -> dict[str, dict[str, str]]:
    """The top-1 and final-RF columns of the comparison table (`compare_table`'s `extra`)."""
    top1 = {a.name: f"{comparison.top1(a):.1f}%" for a in comparison.analyses if comparison.top1(a) is not None}
    final = {}
    for a in comparison.analyses:
        features = comparison.final_rf(a)
        final[a.name] = features.describe() if features is not None else "-"
    return {"Top-1": top1, "Final RF": final}


def _ratio(value: float, base: float) -> str:
    """'3.2x the', or '1/32.7 of the' for a fraction (MobileNet V1 has 1/32.7 of VGG-16's params)."""
    r = value / base
    return f"{r:.3g}x the" if r >= 1 else f"1/{1 / r:.3g} of the"


def list_table(entries: list[dict[str, Any]]) -> Table:
    t = Table(
        f"{len(entries)} bundled models",
        [Column("Name", "left"), Column("Family", "left"), Column("Task", "left"), Column("Year"), Column("Input", "left", wrap=True), Column("Params"), Column("MAdds")],
    )
    for e in entries:
        t.add_row(
            [e["name"], e["family"], e["task"], str(e["year"]), shape_str(e["input_shape"]), human(e.get("params")), human(e.get("madds"))],
            raw=[e["name"], e["family"], e["task"], e["year"], shape_str(e["input_shape"]), e.get("params"), e.get("madds")],
        )
    return t


def calc_table(result) -> Table:
    """Each layout's params (and MAdds at --size) with the arithmetic. The
    formula columns wrap between their terms, so that a narrow terminal
    keeps every column; without --size the MAdds column is left out and the
    footer says how to get it."""
    size = f" at {result.size}x{result.size} (output {result.out_size}x{result.out_size}, stride {result.stride}, padding {result.kernel // 2})" if result.size else ""
    columns = [Column("Layout", "left"), Column("Params", "left", wrap=True), Column("vs std")]
    columns += [Column("MAdds", "left", wrap=True)] if result.size else []
    t = Table(f"{result.kernel}x{result.kernel} conv, {result.cin} -> {result.cout} channels{size}", columns)
    standard = result.layouts[0]
    for layout in result.layouts:
        cells = [layout.name, f"{layout.params_formula} = {layout.params:,}", f"{layout.params / standard.params:.1%}"]
        raw = [layout.name, f"{layout.params_formula} = {layout.params}", layout.params / standard.params]
        if result.size:
            cells.append(f"{layout.madds_formula} = {layout.madds:,}")
            raw.append(layout.madds)
        t.add_row(cells, raw=raw)
    t.footer = [f"Bias terms, {layout.name}: {layout.bias_terms}." for layout in result.layouts]
    if not result.size:
        t.footer.append("MAdds depend on the input's size: give --size H.")
    return t
