"""`netstat explain`'s table: the candidates within the tolerance, or the nearest ones."""

from __future__ import annotations

from netstat.render import Column, Table


def _figure(value: float, share: bool) -> str:
    if share:
        return f"{100 * value:.3f}%"
    return f"{value:,.0f}"


def _off(error: float, quoted: float, share: bool) -> str:
    if share:
        return f"{100 * error:+.3f} pts"
    return f"{100 * error / quoted:+.2f}%"


def _build(candidate) -> str:
    build = candidate.build
    parts = [build.variant] if build.variant else []
    if build.input_size is not None:
        parts.append("input " + "x".join(map(str, build.input_size)))
    return ", ".join(parts) or "as built"


def explain_table(result) -> Table:
    """One row per candidate, simplest and closest first."""
    quoted, share = result.quoted, result.quoted.share
    shown = result.matches or result.nearest
    title = f"{result.model}: what gives {quoted.text}" + (f" ({result.source})" if result.source else "")
    # The value and how far off it is are what was asked: the last columns dropped at 80 columns.
    # The explanation's sentence and its arithmetic share one prose cell, so neither is dropped.
    table = Table(title=title, columns=[
        Column("#"), Column("value", priority=2), Column("off by", priority=1), Column("build", "left", wrap=True),
        Column("explanation = arithmetic", "left", wrap=True),
    ])
    for i, c in enumerate(shown, 1):
        table.add_row([str(i), _figure(c.value, share), _off(c.error, quoted.value, share), _build(c), f"{c.count.sentence}\n= {c.count.arithmetic}"],
                      raw=[i, c.value, c.error, _build(c), f"{c.count.sentence} = {c.count.arithmetic}"], end_section=True)
    tol = _figure(result.tolerance, share) if not share else f"{100 * result.tolerance:.3f} pts"
    if result.found:
        more = f"; the {len(shown)} simplest and closest are shown" if result.within > len(shown) else ""
        table.footer.append(f"{result.within} of {result.searched} candidates land within ±{tol} of {quoted.text}{more}.")
    else:
        table.footer.append(f"No explanation within ±{tol} of {quoted.text} among {result.searched} candidates; the nearest are shown.")
    builds = {c.build.variant: c.build.sentence for c in shown if c.build.variant and c.build.sentence}
    table.footer += [f"{variant}: {sentence}." for variant, sentence in builds.items()]
    if result.failed:
        table.footer.append(f"{len(result.failed)} builds could not run (an input the model does not take) and are not candidates.")
    table.footer.append(f"Traced {len(result.builds)} builds; docs/explain.md lists the search space.")
    return table
