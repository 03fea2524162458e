"""Results in a notebook or on a Rich console: the CLI's own tables.

`netstat.display.Displayed` (mixed into every API result) calls `to_html`,
`renderables` and `summary` here. Each result's view is the list of
`Table`s the matching command prints, looked up by the result's class name
in `VIEWS` (a name, not the class: this module imports no computing code;
the library reaches it only through netstat.display, when a result is shown).
Numbers are formatted by those table builders only; this module lays cells
out as HTML (title, header, rows, footer) or as Rich tables.
"""

from __future__ import annotations

import html
from typing import Any, Callable

from netstat.render import Table, _strip_markup, human, human_bytes, inputs_str

PROFILE_DEPTH = 3  # as `netstat profile` shows it


def _profile(profile) -> list[Table]:
    from netstat.render.profile import profile_tables

    return profile_tables(profile, depth=PROFILE_DEPTH)


def _analysis(analysis) -> list[Table]:
    return _profile(analysis.profile)


def _comparison(comparison) -> list[Table]:
    from netstat.render.profile import compare_columns, compare_table

    return [compare_table(comparison.profiles, compare_columns(comparison))]


def _rf(result) -> list[Table]:
    from netstat.render.rf import rf_table

    return [rf_table(result)]


def _training(profile) -> list[Table]:
    from netstat.render.training import training_layers_table, training_totals_table

    return [training_layers_table(profile, PROFILE_DEPTH), training_totals_table(profile)]


def _fit(result) -> list[Table]:
    from netstat.render.training import fit_table

    return [fit_table(result)]


def _bench(result) -> list[Table]:
    from netstat.render.bench import bench_tables

    return bench_tables(result if isinstance(result, list) else [result])


# The tables of each result, by class name (the command that prints the same tables).
VIEWS: dict[str, Callable[[Any], list[Table]]] = {
    "Profile": _profile,  # netstat profile
    "Analysis": _analysis,  # netstat profile
    "Comparison": _comparison,  # netstat compare
    "RFResult": _rf,  # netstat rf
    "TrainingProfile": _training,  # netstat profile --train
    "FitResult": _fit,  # netstat fit
    "BenchResult": _bench,  # netstat bench
    "BenchResults": _bench,  # netstat bench
}


def tables(result: Any) -> list[Table]:
    """The tables `result` shows (the CLI's, for the command that makes it),
    with the notes the CLI writes on stderr under the last one."""
    shown = VIEWS[type(result).__name__](result)
    owner = result.profile if type(result).__name__ == "Analysis" else result
    notes = [n for n in getattr(owner, "notes", None) or [] if not any(n in line for t in shown for line in t.footer)]
    if shown and notes:
        shown[-1].footer = [*shown[-1].footer, *(f"Note: {n}" for n in notes)]
    return shown


def _cell(text: Any) -> str:
    """A formatted cell as HTML: markup removed, escaped, line breaks kept."""
    return html.escape(_strip_markup(str(text))).replace("\n", "<br>")


_ALIGN = {"left": "left", "right": "right", "center": "center"}


def table_html(t: Table) -> str:
    """One table as an HTML <table>: the title as its caption, the footer lines below it."""
    aligns = [_ALIGN.get(c.justify, "left") for c in t.columns]
    head = "".join(f'<th style="text-align:{a}">{_cell(c.header)}</th>' for c, a in zip(t.columns, aligns))
    body = []
    for i, row in enumerate(t.rows):
        rule = ' style="border-bottom:1px solid"' if i in t.section_ends else ""
        cells = "".join(f'<td style="text-align:{a};white-space:pre">{_cell(c)}</td>' for c, a in zip(row, aligns))
        body.append(f"<tr{rule}>{cells}</tr>")
    caption = f'<caption style="text-align:left;font-weight:bold">{_cell(t.title)}</caption>' if t.title else ""
    footer = "".join(f'<p class="netstat-footer">{_cell(line)}</p>' for line in t.footer)
    footer += "".join(f'<p class="netstat-warning" style="color:#a60">Warning: {_cell(line)}</p>' for line in t.warnings)
    return f'<table class="netstat">{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{footer}'


def to_html(result: Any) -> str:
    """`result` in Jupyter: its tables as HTML, in a scrollable box when long."""
    parts = "".join(table_html(t) for t in tables(result))
    return f'<div class="netstat-result" style="max-height:40em;overflow:auto">{parts}</div>'


def renderables(result: Any, width: int | None = None) -> list[Any]:
    """`result` on a Rich console `width` cells wide: its tables, fitted as
    the CLI fits them (`netstat.render.fit`), each with its footer."""
    from rich.text import Text

    from netstat.render import fit, to_rich

    items: list[Any] = []
    for t in tables(result):
        shown = fit(t, width)
        items.append(to_rich(shown))
        items += [Text.from_markup(line) for line in shown.footer]
        items += [Text(f"Warning: {line}", style="yellow") for line in shown.warnings]
    return items


def _profile_summary(p) -> str:
    t = p.totals
    return (f"<Profile {p.model}: input {inputs_str(p.inputs, p.input_shape)} on {p.device}; {human(t['params'])} params, "
            f"{human(t['madds'])} MAdds, {human(t['flops'])} FLOPs, peak activations {human_bytes(t['peak_activation_bytes'])}>")


def _analysis_summary(a) -> str:
    traced = "traced" if "_traced" in vars(a) else "not traced yet"
    return f"<Analysis {a.name}: input {a.source.inputs.describe()} on {a.device}, {traced}>"


def _comparison_summary(c) -> str:
    return f"<Comparison of {len(c.analyses)} models: {', '.join(a.name for a in c.analyses)}>"


def _rf_summary(r) -> str:
    features = r.features
    final = f"; RF of the last feature map ({features.name or '(model)'}) {features.describe()}" if features is not None else ""
    return f"<RFResult {r.model}: input {inputs_str(None, r.input_shape)}, {len(r.layers)} layers{final}>"


def _training_summary(p) -> str:
    t = p.totals
    return (f"<TrainingProfile {p.model}: batch {p.batch}, {p.optimizer}, {p.dtype}{', autocast ' + p.amp if p.amp else ''}; "
            f"{human(t['forward_flops'] + t['backward_flops'] + t['optimizer_flops'])} FLOPs per step, peak {human_bytes(t['peak_bytes'])}>")


def _fit_summary(r) -> str:
    mode = "training" if r.train else "inference"
    found = f"largest batch {r.batch:,} (peak {human_bytes(r.peak_bytes)})" if r.batch else f"batch 1 does not fit (peak {human_bytes(r.peak_bytes)})"
    return f"<FitResult {r.model}, {mode} in {human_bytes(r.memory_bytes)}: {found}>"


def _bench_line(r) -> str:
    from netstat.render.bench import _ms

    latency = f"median {_ms(r.median_ms)} ms" if r.status == "ok" else r.status
    return f"{r.model} batch {r.batch} on {r.device}: {latency}"


def _bench_summary(r) -> str:
    if isinstance(r, list):
        return f"<BenchResults: {'; '.join(_bench_line(x) for x in r) or 'no results'}>"
    return f"<BenchResult {_bench_line(r)}>"


SUMMARIES: dict[str, Callable[[Any], str]] = {
    "Profile": _profile_summary,
    "Analysis": _analysis_summary,
    "Comparison": _comparison_summary,
    "RFResult": _rf_summary,
    "TrainingProfile": _training_summary,
    "FitResult": _fit_summary,
    "BenchResult": _bench_summary,
    "BenchResults": _bench_summary,
}


def summary(result: Any) -> str:
    """One line: `repr(result)` and `str(result)`."""
    return SUMMARIES[type(result).__name__](result)
