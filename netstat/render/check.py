"""Tables for `netstat check`, `check --papers`, the cross-check and the zoo
report. Only formatting: every number arrives computed (netstat.check,
netstat.crosscheck, netstat.render.report)."""

from __future__ import annotations

from typing import Any, Sequence

from netstat.render import Column, Table, grouped, human, human_bytes, inputs_str, shape_str


def _value(value: Any) -> str:
    """A baseline value for a cell: integers grouped, shapes as 1x1000."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return grouped(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):  # a baseline's "inputs" rows
            return ", ".join(_input_cell(row) for row in value)
        if value and all(isinstance(v, list) for v in value):
            return ", ".join(shape_str(v) for v in value)
        return shape_str(value)
    return str(value)


def _input_cell(row: dict[str, Any]) -> str:
    """{"name": "mask", "shape": [1, 128], "dtype": "int64"} -> 'mask=1x128:int64' (positional: no name)."""
    name = str(row.get("name", ""))
    text = _value(row["shape"]) if "shape" in row else repr(row.get("value"))
    if row.get("dtype", "float32") != "float32":
        text += f":{row['dtype']}"
    return text if name.isdigit() else f"{name}={text}"


def update_command(result) -> str:
    """The command that pins what a check measured: the same baseline, the
    same --models (a baseline never imports user code unless they are
    named) and the same --input, then --update; quoted for a POSIX shell."""
    import shlex

    from netstat.check import DEFAULT_BASELINE

    words = ["netstat", "check"]
    if result.baseline_path != str(DEFAULT_BASELINE):
        words += ["--baseline", result.baseline_path]
    if result.models:
        words += ["--models", ",".join(result.models)]
    for row in result.inputs.to_dict() if result.inputs else ():
        if "shape" not in row:  # a constant a library caller passed: no flag says it
            continue
        flag = ",".join(str(d) for d in row["shape"]) + ("" if row["dtype"] == "float32" else f":{row['dtype']}")
        words += ["--input", flag if row["name"].isdigit() else f"{row['name']}={flag}"]
    return shlex.join(words + ["--update"])


def _signed(n: int | float | None) -> str:
    if n is None:
        return "-"
    return f"{n:+,}" if isinstance(n, int) else f"{n:+g}"


def _pct(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if x and abs(x * 100) < 10**-digits:  # a tiny change must not read as 0.00%
        return f"{x * 100:+.1e}%"
    return f"{x * 100:+.{digits}f}%"


def _axes(values: Sequence[Any]) -> str:
    """[212, 212] -> '212'; [390.13, 392] -> '390.133x392'."""
    cells = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return cells[0] if len(set(cells)) == 1 else "x".join(cells)


def rf_cell(rf: Any, stride: Any = None) -> str:
    """'212 (s32)', '390.133x392 (s0.978x1)', 'global (s32)' or '-'."""
    if rf is None:
        return "-"
    size = rf if isinstance(rf, str) else _axes(rf)
    if not stride or any(v is None for v in stride):
        return size
    return f"{size} (s{_axes(stride)})"


# ---------------------------------------------------------------------------
# netstat check
# ---------------------------------------------------------------------------


def check_tables(result) -> list[Table]:
    """Summary, drift, added / removed models and errors of a CheckResult."""
    title = ("Baseline update" if result.updating else "Baseline check") + f" · {result.baseline_path}"
    summary = Table(
        title=title,
        columns=[Column("checked"), Column("unchanged"), Column("drifted"), Column("added"), Column("removed"), Column("errors"), Column("result", "left")],
    )
    if result.updated:
        verdict = "written" if result.ok else "written: changes below"
    elif result.updating:
        verdict = "NOT written: models could not be measured"
    elif result.errors and not (result.drift or result.added or result.removed):
        verdict = "FAILED: models could not be measured"
    else:
        verdict = "ok: no drift" if result.ok else "DRIFT"
    counts = [len(result.checked), len(result.unchanged), len(result.drifted_models), len(result.added), len(result.removed), len(result.errors)]
    summary.add_row([str(c) for c in counts] + [verdict], raw=counts + [verdict])
    old, new = result.baseline_versions, result.current_versions
    for key, label in (("torch_version", "torch"), ("netstat_version", "netstat")):
        if old.get(key) and old.get(key) != new.get(key):
            summary.footer.append(f"[yellow]Note:[/] the baseline was made with {label} {old[key]}; this is {label} {new[key]}.")
    if not result.updating and not result.ok:
        from rich.markup import escape

        summary.footer.append(f"If the change is intended, update the baseline in the same change: {escape(update_command(result))}")
    tables = [summary]

    if result.drift:
        drift = Table(
            title="Changed" if result.updating else "Drift",
            columns=[Column("model", "left"), Column("quantity", "left"), Column("baseline"), Column("now"), Column("delta"), Column("change")],
        )
        previous = None
        for i, d in enumerate(result.drift):
            last = i + 1 == len(result.drift) or result.drift[i + 1].model != d.model
            drift.add_row(
                [d.model if d.model != previous else "", d.quantity, _value(d.baseline), _value(d.now), _signed(d.delta), _pct(d.relative)],
                raw=[d.model, d.quantity, d.baseline, d.now, d.delta, d.relative],
                end_section=last,
            )
            previous = d.model
        tables.append(drift)

    if result.added or result.removed:
        models = Table(title="Models added / removed", columns=[Column("model", "left"), Column("change", "left")])
        for name in result.added:
            models.add_row([name, "added: not in the baseline"])
        for name in result.removed:
            models.add_row([name, "removed: in the baseline, no longer a model"])
        tables.append(models)

    if result.errors:
        tables.append(_errors_table(result.errors))
    return tables


def _short(n: float | None) -> str:
    """Three significant digits: 61.1M, 714M, 4.09G."""
    if n is None:
        return "-"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            value = n / factor
            return (f"{value:.3g}" if value < 1000 else f"{value:.0f}") + suffix
    return f"{n:.3g}"


def papers_tables(result, sources: bool = False) -> list[Table]:
    """Ours against each paper's published params and MAdds, one row per
    model; `sources` adds a table of sources and notes (for Markdown)."""
    table = Table(
        title="Papers check",
        columns=[
            Column("model", "left"),
            Column("params\npaper"),
            Column("\nours"),
            Column("\nΔ"),
            Column("MAdds\npaper"),
            Column("\nours"),
            Column("\nΔ"),
            Column("\nresult", "left"),
        ],
    )
    by_model: dict[str, dict[str, Any]] = {}
    for r in result.rows:
        by_model.setdefault(r.model, {})[r.quantity] = r

    def cells(r) -> list[str]:
        if r is None:
            return ["-", "-", "-"]
        dev = f"{r.deviation * 100:+.1f}%"
        return [_short(r.paper), _short(r.ours), dev if r.ok else f"{dev} (±{r.rtol * 100:g}%)"]

    for model, rows in by_model.items():
        params, madds = rows.get("params"), rows.get("madds")
        ok = all(r.ok for r in rows.values())
        table.add_row(
            [model] + cells(params) + cells(madds) + ["ok" if ok else "OUT"],
            raw=[model]
            + [getattr(params, k, None) for k in ("paper", "ours", "deviation")]
            + [getattr(madds, k, None) for k in ("paper", "ours", "deviation")]
            + [ok],
        )
    failed = result.failed
    table.footer.append(
        f"{len(by_model)} models with published numbers, {len(result.rows)} numbers: "
        + ("all within tolerance (default ±2%; looser ones say why in the spec's note)." if not failed else f"[red]{len(failed)} outside tolerance.[/]")
    )
    for r in failed:
        table.footer.append(f"[red]{r.model}[/] {r.quantity}: {r.deviation * 100:+.2f}% vs ±{r.rtol * 100:g}% ({r.source}). {r.note}".rstrip())
    if result.without_numbers:
        table.footer.append(f"No published params / MAdds: {', '.join(result.without_numbers)}.")
    tables = [table]
    if sources:
        detail = Table(title="Sources and notes", columns=[Column("model", "left"), Column("source", "left", wrap=True), Column("tolerance", "left"), Column("note", "left", wrap=True)])
        for model, rows in by_model.items():
            first = next(iter(rows.values()))
            tol = ", ".join(f"{'MAdds' if q == 'madds' else q} ±{r.rtol * 100:g}%" for q, r in rows.items())
            detail.add_row([model, first.source, tol, first.note or ""])
        tables.append(detail)
    if result.errors:
        tables.append(_errors_table(result.errors))
    return tables


# ---------------------------------------------------------------------------
# Cross-check
# ---------------------------------------------------------------------------


def _peer_status(peer) -> str:
    if peer.ok:
        return "ok" + (f" ({peer.version})" if peer.version else "")
    return peer.message or peer.status


def crosscheck_tables(result, exact: bool = False) -> list[Table]:
    """Totals of netstat and the peers; the op-class breakdown of every
    tool's count; and why each class differs, peer by peer (the differences
    add up to netstat FLOPs minus the peer's total). `exact` prints every
    count in full instead of three significant digits."""
    from netstat.crosscheck import CONVENTIONS, why

    totals = Table(
        title=f"Cross-check · {result.model} · {inputs_str(result.inputs, result.input_shape)}",
        columns=[Column("tool", "left"), Column("total"), Column("exact"), Column("params"), Column("status", "left", wrap=True)],
    )
    totals.add_row(["netstat MAdds", human(result.madds), grouped(result.madds), grouped(result.params), "ok"], raw=["netstat_madds", result.madds, result.madds, result.params, "ok"])
    totals.add_row(["netstat FLOPs", human(result.flops), grouped(result.flops), grouped(result.params), "ok"], raw=["netstat_flops", result.flops, result.flops, result.params, "ok"], end_section=True)
    for peer in result.peers:
        params = grouped(peer.params) if peer.name != "flop_counter" else "-"
        totals.add_row([peer.name, human(peer.total), grouped(peer.total), params, _peer_status(peer)], raw=[peer.name, peer.total, peer.total, peer.params, peer.status if peer.ok else peer.message])
    totals.footer.append("netstat MAdds: multiply-adds of conv, matmul, attention. netstat FLOPs: 2 x MAdds + bias, norm, activation, pooling, element-wise, softmax, interpolation.")
    for peer in result.peers:
        totals.footer.append(f"{peer.name}: {CONVENTIONS[peer.name]}.")
    for peer in result.peers:
        if peer.ok and peer.params is not None and peer.params != result.params:
            reason = "it counts only leaf modules it has a rule for, and only those that ran" if peer.name == "thop" else "it de-duplicates shared tensors differently"
            totals.footer.append(f"{peer.name} counts {peer.params:,} parameters, netstat {result.params:,}: {reason}.")
    for note in result.notes:
        totals.footer.append(f"[yellow]Note:[/] {note}")
    tables = [totals, crosscheck_compact_table(result, exact=exact, title="By op class: netstat's MAdds and FLOPs, each tool's count")]

    reasons = Table(
        title="Why they differ (netstat FLOPs − the tool's count, by op class)",
        columns=[Column("op class", "left"), Column("tool", "left"), Column("difference"), Column("why", "left", wrap=True)],
    )
    for peer in result.peers:
        if not peer.ok:
            continue
        terms = [t for t in peer.terms if t.difference or not t.explained]
        for i, t in enumerate(terms):
            reasons.add_row(
                [t.label + ("" if t.explained else " ⚠"), peer.name, _signed(t.difference) if exact else _short_signed(t.difference), why(t)],
                raw=[t.op_class, peer.name, t.difference, why(t)],
                end_section=i + 1 == len(terms),
            )
        if peer.unexplained:
            reasons.footer.append(f"[yellow]{peer.unexplained:,} of {peer.name}'s count is not predicted by its documented rules (rows marked ⚠).[/]")
    if reasons.rows:
        tables.append(reasons)
    return tables


def _short_signed(n: int) -> str:
    return "0" if n == 0 else ("+" if n > 0 else "-") + _short(abs(n))


def crosscheck_summary_table(results: Sequence[Any]) -> Table:
    """One row per model: netstat's totals beside each peer's."""
    from netstat.crosscheck import PEERS

    columns = [Column("model", "left"), Column("input", "left"), Column("MAdds"), Column("FLOPs")]
    columns += [Column(name) for name in PEERS] + [Column("params"), Column("thop params"), Column("explained", "left")]
    table = Table(title="Totals", columns=columns)
    for r in results:
        cells = [r.model, shape_str(r.input_shape[1:]), grouped(r.madds), grouped(r.flops)]
        raw: list[Any] = [r.model, list(r.input_shape), r.madds, r.flops]
        for peer in r.peers:
            cells.append(grouped(peer.total) if peer.ok else peer.status)
            raw.append(peer.total)
        thop = next((p for p in r.peers if p.name == "thop"), None)
        unexplained = [p.name for p in r.peers if p.ok and p.unexplained]
        crashed = [p.name for p in r.peers if not p.ok]
        verdict = "all" if not unexplained and not crashed else "; ".join(
            ([f"not fully: {', '.join(unexplained)}"] if unexplained else []) + ([f"no result: {', '.join(crashed)}"] if crashed else [])
        )
        cells += [grouped(r.params), grouped(thop.params) if thop and thop.ok else "-", verdict]
        raw += [r.params, thop.params if thop else None, verdict]
        table.add_row(cells, raw=raw)
    return table


def crosscheck_compact_table(result, exact: bool = True, title: str | None = None) -> Table:
    """One model's op classes: netstat's MAdds and FLOPs and every peer's
    count, then the totals and netstat FLOPs minus each peer's total."""
    from netstat.crosscheck import OP_CLASSES

    fmt = grouped if exact else _short
    ok = [p for p in result.peers if p.ok]
    table = Table(
        title=title or f"{result.model} · {inputs_str(result.inputs, result.input_shape)}",
        columns=[Column("op class", "left"), Column("MAdds"), Column("FLOPs")] + [Column(p.name) for p in ok],
    )
    for key in OP_CLASSES:
        stat = result.classes.get(key)
        counts = [p.by_class.get(key, 0) for p in ok]
        if not (stat and (stat.madds or stat.flops)) and not any(counts):
            continue
        marks = ["" if all(t.explained for t in p.terms if t.op_class == key) else " ⚠" for p in ok]
        cells = [OP_CLASSES[key], fmt(stat.madds if stat else 0), fmt(stat.flops if stat else 0)]
        table.add_row(cells + [fmt(c) + m for c, m in zip(counts, marks)], raw=[key, stat.madds if stat else 0, stat.flops if stat else 0] + counts)
    if table.rows:
        table.section_ends.add(len(table.rows) - 1)
    table.add_row(["total", fmt(result.madds), fmt(result.flops)] + [fmt(p.total) for p in ok], raw=["total", result.madds, result.flops] + [p.total for p in ok])
    diffs = [result.flops - p.total for p in ok]
    table.add_row(["FLOPs − tool", "", ""] + [_signed(d) if exact else _short_signed(d) for d in diffs], raw=["difference", None, None] + diffs)
    for p in result.peers:
        if not p.ok:
            table.footer.append(f"{p.name}: {p.message}")
        elif p.unexplained:
            table.footer.append(f"{p.name}: {p.unexplained:,} not predicted by its documented rules (⚠).")
    return table


def crosscheck_legend_table() -> Table:
    """Why each peer differs from netstat, per op class."""
    from netstat.crosscheck import OP_CLASSES, PEERS, rule_text

    table = Table(title="Why the tools differ", columns=[Column("op class", "left")] + [Column(p, "left", wrap=True) for p in PEERS])
    for key, label in OP_CLASSES.items():
        if key in ("other",):
            continue
        table.add_row([label] + [rule_text(p, key) for p in PEERS])
    return table


# ---------------------------------------------------------------------------
# The zoo report
# ---------------------------------------------------------------------------


def zoo_table(rows: Sequence[dict[str, Any]]) -> Table:
    """Every model: metadata, counts, RF, peak memory, the paper's numbers and
    our deviation from them."""
    table = Table(
        title="The zoo",
        columns=[
            Column("model", "left"),
            Column("family", "left"),
            Column("year"),
            Column("task", "left"),
            Column("input", "left"),
            Column("params"),
            Column("MAdds"),
            Column("FLOPs"),
            Column("RF"),
            Column("peak act."),
            Column("paper params"),
            Column("Δ params"),
            Column("paper MAdds"),
            Column("Δ MAdds"),
        ],
    )
    for i, r in enumerate(rows):
        pub = r.get("published") or {}
        dev = r.get("deviation") or {}
        last = i + 1 == len(rows) or rows[i + 1].get("family") != r.get("family")
        table.add_row(
            [
                r["name"],
                r.get("family") or "-",
                str(r.get("year") or "-"),
                r.get("task") or "-",
                shape_str(r["input_shape"][1:]),
                human(r.get("params")),
                human(r.get("madds")),
                human(r.get("flops")),
                rf_cell(r.get("rf"), r.get("rf_stride")),
                human_bytes(r.get("peak_activation_bytes")),
                human(pub.get("params")),
                _pct(dev.get("params"), 1) + (" ✗" if dev.get("params_ok") is False else ""),
                human(pub.get("madds")),
                _pct(dev.get("madds"), 1) + (" ✗" if dev.get("madds_ok") is False else ""),
            ],
            end_section=last,
        )
    return table


def _errors_table(errors: dict[str, str]) -> Table:
    """The models that could not be measured, and why."""
    table = Table(title="Could not be measured", columns=[Column("model", "left"), Column("error", "left", wrap=True)])
    for name, message in sorted(errors.items()):
        table.add_row([name, message])
    return table
