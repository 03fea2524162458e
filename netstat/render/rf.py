"""Tables and figures for `netstat rf`: analytic RF per layer, the stack /
dilation calculator, the gradient check, and the effective RF.

Only formatting: every number arrives computed (netstat.rf,
netstat.erf). The figures are drawn and written by netstat.render.figures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from netstat.render import Column, Table, grouped, inputs_str, shape_str
from netstat.render.figures import FIGURE_SUFFIXES  # noqa: F401 - `netstat rf --plot` checks its suffix


def _num(x) -> str:
    """A number for a table cell; an integer of more than 15 digits in
    scientific notation (6.86e156) -- JSON, CSV and Markdown keep it exact."""
    from netstat.rf import fmt_number

    if isinstance(x, int) and abs(x) >= 10**15:
        digits = str(abs(x))
        return f"{'-' if x < 0 else ''}{digits[0]}.{digits[1:3]}e{len(digits) - 1}"
    return fmt_number(x)


def _axes_cell(values: Sequence, none: str = "-") -> str:
    cells = [none if v is None else _num(v) for v in values]
    return cells[0] if len(set(cells)) == 1 else "x".join(cells)


def _rf_cells(st) -> tuple[str, str, str, str, str]:
    """RF, stride, centre, effective padding, flags for one TensorRF."""
    if st is None:
        return "-", "-", "-", "-", "no input dependency"
    flags = []
    local = any(a.size is not None for a in st.axes)
    if st.is_global:
        rf = "global" + (f" (local {_axes_cell(st.local_size)})" if local else "")
    else:
        rf = _axes_cell([None if a.whole else a.size for a in st.axes], "global")
    if any(a.slack for a in st.axes):
        rf += f" ±{_axes_cell(st.slack)}"
        flags.append("mean over units (upsampling)")
    if st.misaligned:
        flags.append("misaligned: " + "; ".join(st.misaligned[-2:]) + (" ..." if len(st.misaligned) > 2 else ""))
    if not local:
        return rf, "-", "-", "-", ", ".join(flags)
    stride = _axes_cell([abs(j) if j is not None else None for j in st.jump])
    return rf, stride, _axes_cell(st.center), _axes_cell(st.padding), ", ".join(flags)


def _raw(st) -> list[Any]:
    """RF, stride, centre, effective padding for CSV, axes joined by '|'
    (global: in the RF; misaligned: in the Note)."""
    from netstat.rf import number

    if st is None:
        return [None] * 4
    return [
        "|".join("global" if a.whole else str(number(a.size)) for a in st.axes),
        "|".join(str(number(a.jump)) for a in st.axes),
        "|".join(str(number(a.center)) for a in st.axes),
        "|".join(str(number(a.padding)) for a in st.axes),
    ]


def _selected(layers, depth: int | None) -> list[tuple[int, Any]]:
    """Leaf layers (depth None) or the module tree down to `depth`."""
    if depth is None:
        return [(i, layer) for i, layer in enumerate(layers) if layer.is_leaf and layer.depth > 0]
    return [(i, layer) for i, layer in enumerate(layers) if 0 < layer.depth <= depth]


def _label(layer, depth: int | None) -> str:
    if depth is None:
        return layer.name
    indent = "  " * (layer.depth - 1)
    return f"{indent}{layer.name.rsplit('.', 1)[-1] if layer.depth > 1 else layer.name}"


def rf_table(result, depth: int | None = None, inputs: list[dict] | None = None) -> Table:
    """One row per layer: output shape, RF, effective stride, centre of the
    first unit, effective padding, and flags; `inputs`: every input of the
    forward (`Inputs.to_dict`) for the title, else the RF's input shape."""
    axes = "x".join(result.axis_names)
    scope = "every leaf layer" if depth is None else f"layers to depth {depth}"
    t = Table(
        f"{result.model} — receptive fields, input {inputs_str(inputs, result.input_shape)} ({scope})",
        [
            Column("Layer", "left"),
            Column("Type", "left"),
            Column("Output", "left"),
            Column(f"RF ({axes})"),
            Column("Stride"),
            Column("Centre"),
            Column("Eff. pad"),
            Column("Note", "left", wrap=True),
        ],
    )
    rows = [(_label(layer, depth), layer) for _, layer in _selected(result.layers, depth)]
    if depth == 0 and result.features is not None and result.features is not result.final:
        rows.append((result.features.name, result.features))  # depth 0: the last feature map and the output
    if result.final is not None:
        rows.append(("(output)", result.final))
    for label, layer in rows:
        rf, stride, centre, pad, flags = _rf_cells(layer.rf)
        kind = layer.type if layer is not result.final else ""
        t.add_row(
            [label, kind, shape_str(layer.output_shape), rf, stride, centre, pad, flags],
            raw=[layer.name, kind, shape_str(layer.output_shape)] + _raw(layer.rf) + [flags],
        )
    if result.final is not None and len(t.rows) > 1:
        t.section_ends.add(len(t.rows) - 2)
    if not any(row[-1] for row in t.rows):  # no flags anywhere: drop the Note column
        t.columns.pop()
        t.rows = [row[:-1] for row in t.rows]
        if t.raw_rows is not None:
            t.raw_rows = [row[:-1] for row in t.raw_rows]
    t.footer = rf_footer(result)
    return t


def rf_footer(result) -> list[str]:
    lines = [
        "RF and stride in input pixels; Centre: input pixel at the centre of the first unit's RF; "
        "Eff. pad = (RF - 1)/2 - Centre (Araujo et al., Distill 2019). Global: the unit sees the whole input."
    ]
    mis = sorted({m for layer in result.layers if layer.rf is not None for m in layer.rf.misaligned})
    if mis:
        lines.append(f"[bold yellow]Misaligned[/] (inputs disagree on stride or centre; the RF is their union): {', '.join(mis)}")
    if any(layer.rf is not None and any(a.slack for a in layer.rf.axes) for layer in result.layers):
        lines.append("±: after upsampling the RF is the mean over units; each unit's edges are within ± that many pixels.")
    for n in result.notes:
        lines.append(f"[yellow]Note:[/] {n}")
    return lines


def stack_table(res) -> Table:
    """Calculator: the stack layer by layer, the single kernel of the same RF,
    and (dilated stacks) the plain stack and the gridding."""

    k = "x".join(map(str, res.kernel))
    c = "C" if res.channels is None else str(res.channels)
    title = f"{len(res.layers)} stacked {k} convolutions, {c} -> {c} channels"
    if res.dilated:
        title += f", dilation {','.join(map(str, res.dilations))}"
    strided = any(s != 1 for s in res.strides)
    columns = [Column("#", "left"), Column("Dil.")]
    columns += [Column("RF"), Column("Stride")] if strided else [Column("RF")]
    columns += [Column("Stack"), Column("One kernel", "left")]
    if res.channels is not None:
        columns += [Column("Params (cum.)"), Column("Its params")]
    if res.dilated:
        columns += [Column("Plain RF"), Column("Used/span")]
    t = Table(title, columns)
    for layer in res.layers:
        rf = _axes_cell(layer.rf)
        single = "x".join(map(_num, layer.single_kernel)) + f": {_num(layer.single_c2)}C²"
        cells = [str(layer.index), str(layer.dilation), rf]
        raw = [layer.index, layer.dilation, rf]
        if strided:
            cells.append(_axes_cell(layer.jump))
            raw.append(_axes_cell(layer.jump))
        cells += [f"{_num(layer.params_c2)}C²", single]
        raw += [layer.params_c2, layer.single_c2]
        if res.channels is not None:
            cells += [grouped(layer.cumulative_params), grouped(layer.single_params)]
            raw += [layer.cumulative_params, layer.single_params]
        if res.dilated:
            used = "-" if layer.used[0] is None else _axes_cell(layer.used) + "/" + _axes_cell(layer.span)
            cells += [_axes_cell(layer.plain_rf), used]
            raw += [_axes_cell(layer.plain_rf), used]
        t.add_row(cells, raw=raw)
    last = res.layers[-1]
    bias = " (+ biases)" if res.bias else ""
    t.footer.append(
        f"{len(res.layers)} layers see {_axes_cell(last.rf)}x{_axes_cell(last.rf)} with {last.params_c2}C² weights{bias}; "
        f"one {'x'.join(map(_num, last.single_kernel))} kernel needs {_num(last.single_c2)}C² ({_ratio_text(last.single_c2, last.params_c2)}x)."
        if len(res.kernel) == 2 and len(set(last.rf)) == 1
        else f"{len(res.layers)} layers see {'x'.join(map(_num, last.rf))} with {_num(last.params_c2)}C² weights{bias}; one kernel of that size needs {_num(last.single_c2)}C²."
    )
    if res.dilated:
        t.footer.append(
            f"The plain stack (no dilation) with the same weights sees {_axes_cell(last.plain_rf)}. "
            "Used/span: input positions per axis with a path to the centre output, of the RF's span (gridding)."
        )
    for w in res.warnings:
        t.warnings.append(w)
    return t


def verify_table(v, depth: int | None = None) -> Table:
    """Analytic interval vs non-zero gradient extent per layer and axis."""
    names = v.analytic.axis_names
    columns = [Column("Layer", "left"), Column("Type", "left"), Column("RF")]
    for a in names:
        columns += [Column(f"Analytic {a}"), Column(f"Gradient {a}")]
    columns.append(Column("Agree", "left"))
    t = Table(f"{v.model} — receptive field checked by gradients, input {inputs_str(v.inputs, v.input_shape)}", columns)
    rows = {r.name: r for r in v.rows}
    shown = [layer for _, layer in _selected(v.analytic.layers, depth)]
    seen = set()
    for layer in shown:
        r = rows.get(layer.name)
        if r is None or layer.name in seen:
            continue
        seen.add(layer.name)
        rf, *_ = _rf_cells(layer.rf)
        cells = [_label(layer, depth), layer.type, rf]
        raw = [layer.name, layer.type, rf]
        for check in r.axes:
            cells += [_extent(check.expected), _extent(check.gradient)]
            raw += [_extent(check.expected), _extent(check.gradient)]
        status = r.status
        style = {"ok": "[green]ok[/]", "mismatch": "[bold red]NO[/]", "misaligned": "[yellow]misaligned[/]", "border": "[yellow]border[/]"}
        cells.append(style.get(status, status))
        raw.append(status)
        t.add_row(cells, raw=raw)
    counts = v.counts
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    verdict = "[bold green]agree[/]" if v.agree else "[bold red]DISAGREE[/]"
    t.footer.append(f"Analytic vs gradient on all {len(v.rows)} layer outputs: {verdict} ({summary}) in {v.seconds:.1f} s.")
    t.footer.append(
        "Gradient: extent (first..last input pixel) of the non-zero gradient of the centre unit on a linearised copy "
        "(positive weights, identity activations, average pooling); analytic: that unit's RF within the pixels the layer can reach."
    )
    if "border" in counts:
        t.footer.append("border: the unit's window reaches into padding, where a dilated kernel's taps skip real pixels; the gradient is narrower than the clipped RF.")
    if v.mode == "strips":
        t.footer.append(f"Each axis was checked on a thin strip input: {', '.join(shape_str(s) for s in v.strip_shapes)}.")
    for n in v.notes:
        t.footer.append(f"[yellow]Note:[/] {n}")
    return t


def _extent(ext) -> str:
    if ext is None:
        return "-"
    return f"{_num(ext[0])}..{_num(ext[1])}"


def erf_table(results: Sequence[Any]) -> Table:
    """Effective RF (Luo et al. 2016) beside the analytic RF."""
    t = Table(
        "Effective receptive field (Luo et al. 2016)",
        [Column("Model", "left"), Column("Layer", "left"), Column("RF"), Column("r50 (px)"), Column("r95 (px)"), Column("ERF95/RF")],
    )
    for e in results:
        rf = e.rf
        size = None if rf is None or rf.is_global else max(s for s in rf.local_size if s is not None)
        ratio = (2 * e.r95 + 1) / float(size) if size else None
        t.add_row(
            [e.model, e.layer, _rf_cells(rf)[0], f"{e.r50:.1f}", f"{e.r95:.1f}", "-" if ratio is None else f"{ratio:.2f}"],
            raw=[e.model, e.layer, _rf_cells(rf)[0], e.r50, e.r95, ratio],
        )
    seeds = sorted({e.seeds for e in results})
    t.footer.append(
        f"The centre unit's |gradient| with respect to the input, random initialisation and random normal input, "
        f"averaged over {', '.join(map(str, seeds))} seed(s). r50 / r95: radius around the unit's RF centre holding "
        "50% / 95% of it; ERF95/RF: the 95% diameter over the analytic RF."
    )
    return t


# --------------------------------------------------------------------------- figures (netstat.render.figures)


def plot_growth(results: Sequence[Any], path: str | os.PathLike) -> Path:
    """The report's RF-growth figure (`figures.rf_growth_figure`) for these
    `RFResult`s: the largest RF reached along the leaf layers, one line per model."""
    from netstat.errors import UsageError
    from netstat.render.figures import rf_growth_figure

    if not rf_growth_figure(results, path):
        raise UsageError("No layer of these models has a local receptive field, so there is no RF growth to plot.")
    return Path(path)


def plot_erf(e, path: str | os.PathLike) -> Path:
    """Heat map of the effective RF with the analytic RF box and the 50% /
    95% mass circles (`figures.erf_figure`)."""
    from netstat.render.figures import erf_figure

    return erf_figure(e, path, _axes_cell(e.rf.local_size) if e.rf is not None else "")


def _ratio_text(a: int, b: int) -> str:
    """a / b for exact integers of any size: 2.72, or 1.23e156 past float's range."""
    return _num(round(a / b, 2)) if a // b < 10**15 else _num(a // b)
