"""Tables for `netstat check`, `check --papers`, the cross-check and the zoo
report. Only formatting: every number arrives computed (netstat.check,
netstat.crosscheck, netstat.report)."""

from __future__ import annotations

from typing import Any, Sequence

from netstat.render import Column, Table, grouped, human, human_bytes, shape_str


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
        if value and all(isinstance(v, list) for v in value):
            return ", ".join(shape_str(v) for v in value)
        return shape_str(value)
    return str(value)


def _signed(n: int | float | None) -> str:
    if n is None:
        return "-"
    return f"{n:+,}" if isinstance(n, int) else f"{n:+g}"


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x * 100:+.{digits}f}%"


def rf_cell(rf: Any, stride: Any = None) -> str:
    """'212 (s32)', '212x180 (s32)', 'global' or '-'."""
    if rf is None:
        return "-"
    if isinstance(rf, str):
        return rf
    size = str(rf[0]) if isinstance(rf, list) and len(set(rf)) == 1 else _value(rf)
    if stride is None:
        return size
    step = f"{stride[0]:g}" if isinstance(stride, list) and len(set(stride)) == 1 else _value(stride)
    return f"{size} (s{step})"


# ---------------------------------------------------------------------------
# netstat check
# ---------------------------------------------------------------------------


def check_tables(result) -> list[Table]:
    """Summary, drift, added / removed models and errors of a CheckResult."""
    title = ("Baseline update" if result.updated else "Baseline check") + f" · {result.baseline_path}"
    summary = Table(
        title=title,
        columns=[Column("checked"), Column("unchanged"), Column("drifted"), Column("added"), Column("removed"), Column("errors"), Column("result", "left")],
    )
    if result.updated:
        verdict = "baseline written" + ("" if result.ok else " (changes above)")
    elif result.errors and not result.ok and not (result.drift or result.added or result.removed):
        verdict = "FAILED: models could not be measured"
    else:
        verdict = "ok: no drift" if result.ok else "DRIFT"
    counts = [len(result.checked), len(result.unchanged), len(result.drifted_models), len(result.added), len(result.removed), len(result.errors)]
    summary.add_row([str(c) for c in counts] + [verdict], raw=counts + [verdict])
    old, new = result.baseline_versions, result.current_versions
    for key, label in (("torch_version", "torch"), ("netstat_version", "netstat")):
        if old.get(key) and old.get(key) != new.get(key):
            summary.footer.append(f"[yellow]Note:[/] the baseline was made with {label} {old[key]}; this is {label} {new[key]}.")
    if result.updated and result.errors:
        summary.footer.append("[red]The baseline was not written: some models could not be measured.[/]")
    elif not result.updated and not result.ok:
        summary.footer.append("If the change is intended, update the baseline in the same change: netstat check --update")
    tables = [summary]

    if result.drift:
        drift = Table(
            title="Changed" if result.updated else "Drift",
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
        errors = Table(title="Could not be measured", columns=[Column("model", "left"), Column("error", "left")])
        for name, message in sorted(result.errors.items()):
            errors.add_row([name, message])
        tables.append(errors)
    return tables


def papers_tables(result) -> list[Table]:
    """Ours against each paper's published params and MAdds."""
    table = Table(
        title="Papers check",
        columns=[
            Column("model", "left"),
            Column("quantity", "left"),
            Column("paper"),
            Column("ours"),
            Column("deviation"),
            Column("tolerance"),
            Column("result", "left"),
            Column("source", "left"),
            Column("note", "left"),
        ],
    )
    previous = None
    for i, r in enumerate(result.rows):
        last = i + 1 == len(result.rows) or result.rows[i + 1].model != r.model
        table.add_row(
            [
                r.model if r.model != previous else "",
                "MAdds" if r.quantity == "madds" else r.quantity,
                human(r.paper),
                human(r.ours),
                _pct(r.deviation, 1),
                f"±{r.rtol * 100:g}%",
                "ok" if r.ok else "OUT",
                r.source,
                r.note,
            ],
            raw=[r.model, r.quantity, r.paper, r.ours, r.deviation, r.rtol, r.ok, r.source, r.note],
            end_section=last,
        )
        previous = r.model
    failed = len(result.failed)
    models = len({r.model for r in result.rows})
    table.footer.append(
        f"{models} models with published numbers, {len(result.rows)} numbers: "
        + ("all within tolerance." if not failed else f"[red]{failed} outside tolerance.[/]")
    )
    if result.without_numbers:
        table.footer.append(f"No published params / MAdds: {', '.join(result.without_numbers)}.")
    tables = [table]
    if result.errors:
        errors = Table(title="Could not be measured", columns=[Column("model", "left"), Column("error", "left")])
        for name, message in sorted(result.errors.items()):
            errors.add_row([name, message])
        tables.append(errors)
    return tables


# ---------------------------------------------------------------------------
# Cross-check
# ---------------------------------------------------------------------------


def _peer_status(peer) -> str:
    if peer.ok:
        return "ok" + (f" ({peer.version})" if peer.version else "")
    return peer.message or peer.status


def crosscheck_tables(result) -> list[Table]:
    """Totals of netstat and the peers, then, per peer, the op-class terms
    that make up netstat FLOPs minus the peer's total."""
    from netstat.crosscheck import CONVENTIONS, why

    totals = Table(
        title=f"Cross-check · {result.model} · {shape_str(result.input_shape)}",
        columns=[Column("tool", "left"), Column("total"), Column("exact"), Column("params"), Column("counts", "left"), Column("status", "left")],
    )
    totals.add_row(["netstat MAdds", human(result.madds), grouped(result.madds), grouped(result.params), "multiply-adds of conv, matmul, attention", "ok"],
                   raw=["netstat_madds", result.madds, result.madds, result.params, "", "ok"])
    totals.add_row(["netstat FLOPs", human(result.flops), grouped(result.flops), grouped(result.params), "2 x MAdds + bias, norm, activation, pooling, element-wise", "ok"],
                   raw=["netstat_flops", result.flops, result.flops, result.params, "", "ok"], end_section=True)
    for peer in result.peers:
        totals.add_row(
            [peer.name, human(peer.total), grouped(peer.total), grouped(peer.params) if peer.name != "flop_counter" else "-", CONVENTIONS[peer.name], _peer_status(peer)],
            raw=[peer.name, peer.total, peer.total, peer.params, CONVENTIONS[peer.name], peer.status if peer.ok else peer.message],
        )
    for peer in result.peers:
        if peer.ok and peer.params is not None and peer.params != result.params:
            totals.footer.append(
                f"{peer.name} counts {peer.params:,} parameters, netstat {result.params:,}: "
                + ("thop counts only leaf modules it has a rule for, and only those that ran." if peer.name == "thop" else "it de-duplicates differently.")
            )
    for note in result.notes:
        totals.footer.append(f"[yellow]Note:[/] {note}")
    tables = [totals]

    for peer in result.peers:
        if not peer.ok:
            continue
        diff = result.flops - peer.total
        table = Table(
            title=f"netstat FLOPs − {peer.name} = {diff:+,}: the difference by op class",
            columns=[Column("op class", "left"), Column("netstat FLOPs"), Column(peer.name), Column("difference"), Column("why", "left")],
        )
        terms = [t for t in peer.terms if t.netstat_flops or t.peer or t.predicted]
        for t in terms:
            table.add_row(
                [t.label + ("" if t.explained else " ⚠"), grouped(t.netstat_flops), grouped(t.peer), _signed(t.difference), why(t)],
                raw=[t.op_class, t.netstat_flops, t.peer, t.difference, why(t)],
            )
        if table.rows:
            table.section_ends.add(len(table.rows) - 1)
        table.add_row(["total", grouped(result.flops), grouped(peer.total), _signed(sum(t.difference for t in peer.terms)), "the differences add up to netstat FLOPs − " + peer.name],
                      raw=["total", result.flops, peer.total, sum(t.difference for t in peer.terms), ""])
        if peer.unexplained:
            table.footer.append(f"[yellow]{peer.unexplained:,} of {peer.name}'s count is not predicted by its documented rules (rows marked ⚠).[/]")
        tables.append(table)
    return tables


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


def crosscheck_compact_table(result) -> Table:
    """One model's op classes: netstat FLOPs and every peer's count, then the
    differences, in one table (for the report)."""
    from netstat.crosscheck import OP_CLASSES

    ok = [p for p in result.peers if p.ok]
    title = f"{result.model} · {shape_str(result.input_shape)}"
    table = Table(title=title, columns=[Column("op class", "left"), Column("netstat MAdds"), Column("netstat FLOPs")] + [Column(p.name) for p in ok])
    keys = [k for k in OP_CLASSES if k in result.classes or any(p.by_class.get(k) for p in ok)]
    for key in keys:
        stat = result.classes.get(key)
        cells = [OP_CLASSES[key], grouped(stat.madds if stat else 0), grouped(stat.flops if stat else 0)]
        for p in ok:
            term = next((t for t in p.terms if t.op_class == key), None)
            mark = "" if term is None or term.explained else " ⚠"
            cells.append(grouped(p.by_class.get(key, 0)) + mark)
        if any(c not in ("0",) for c in cells[1:]):
            table.add_row(cells)
    if table.rows:
        table.section_ends.add(len(table.rows) - 1)
    table.add_row(["total", grouped(result.madds), grouped(result.flops)] + [grouped(p.total) for p in ok])
    table.add_row(["netstat FLOPs − peer", "", ""] + [_signed(result.flops - p.total) for p in ok])
    for p in result.peers:
        if not p.ok:
            table.footer.append(f"{p.name}: {p.message}")
        elif p.unexplained:
            table.footer.append(f"{p.name}: {p.unexplained:,} not predicted by its documented rules (⚠).")
    return table


def crosscheck_legend_table() -> Table:
    """Why each peer differs from netstat, per op class."""
    from netstat.crosscheck import OP_CLASSES, PEERS, rule_text

    table = Table(title="Why the tools differ", columns=[Column("op class", "left")] + [Column(p, "left") for p in PEERS])
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
