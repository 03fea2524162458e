"""The one renderer: every command turns its result into `Table`s (for table,
CSV and Markdown output) plus a plain dict (for JSON), and hands them here.

Rendering never computes: numbers arrive computed and are only formatted.
Results go to stdout; notes and warnings go to stderr.

Widths (tables in the terminal; CSV, JSON and Markdown are never width-bound):

- Name columns (justify "left") never wrap and are never cut: each is as wide
  as its longest cell. Prose columns (`Column(wrap=True)`, e.g. notes) wrap
  between words. Numeric columns (justify "right") never wrap and are never cut.
- The width limit is COLUMNS when set, else the terminal's width when stdout
  is a terminal, else none: in a pipe or a redirect a table is printed at its
  natural width (footers wrap at the wider of 80 and the table).
- A table wider than the limit loses whole numeric columns, lowest `priority`
  first (ties: the rightmost first), until it fits; a footer line names them.
  If it cannot fit even without every numeric column, nothing is dropped and
  it is printed at its full width, wider than the limit.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

FORMATS = ("table", "json", "csv", "md")


@dataclass
class Column:
    """A table column: a name or prose (left) or a number (right); see the
    width rule above."""

    header: str
    justify: str = "right"  # "left" for names and prose
    style: str | None = None
    wrap: bool = False  # a prose column (left): may wrap between words
    priority: int = 0  # a numeric column: the lowest is dropped first when the table is too wide


@dataclass
class Table:
    """Rows of already-formatted cells; `raw_rows` keep machine values for CSV."""

    title: str
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    raw_rows: list[list[Any]] | None = None
    footer: list[str] = field(default_factory=list)  # lines printed under the table
    section_ends: set[int] = field(default_factory=set)  # row indexes after which a rule is drawn

    def add_row(self, cells: Sequence[str], raw: Sequence[Any] | None = None, end_section: bool = False) -> None:
        self.rows.append(list(cells))
        if raw is not None:
            if self.raw_rows is None:
                self.raw_rows = []
            self.raw_rows.append(list(raw))
        if end_section:
            self.section_ends.add(len(self.rows) - 1)


def human(n: float | int | None, unit: str = "") -> str:
    """12_345_678 -> '12.35 M'. None -> '-'."""
    if n is None:
        return "-"
    n = float(n)
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip() if n == int(n) else f"{n:.2f} {unit}".rstrip()


def human_bytes(n: float | int | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}"
    return f"{n:.0f} B"


def grouped(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def shape_str(shape: Sequence[int] | None) -> str:
    return "-" if shape is None else "x".join(str(s) for s in shape)


def stdout_console(width: int | None = None):
    """A console on stdout; `width` None: Rich's own guess (COLUMNS, the terminal, 80)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)


def width_limit() -> int | None:
    """COLUMNS when set, else the terminal's width when stdout is a terminal,
    else None (a pipe or a redirect: no limit)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return stdout_console().width
    return None


def stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


def note(message: str) -> None:
    """A message for the person, on stderr (never mixed into results)."""
    stderr_console().print(message)


def emit(tables: Iterable[Table], data: dict[str, Any], fmt: str) -> None:
    """Write a result to stdout in the chosen format."""
    tables = list(tables)
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
    elif fmt == "csv":
        sys.stdout.write("\n".join(to_csv(t) for t in tables))
    elif fmt == "md":
        sys.stdout.write("\n".join(to_markdown(t) for t in tables))
    else:
        limit = width_limit()
        for t in tables:
            _print_table(fit(t, limit), limit)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def _print_table(t: Table, limit: int | None) -> None:
    """`t` and its footer on a console as wide as the limit, or as the table
    where it is wider; with no limit, at least 80 (footers wrap there)."""
    widths = column_widths(t)
    if limit:
        width = max(limit, _frame_width(t.columns, [least for least, _ in widths]))
    else:
        width = max(80, _frame_width(t.columns, [natural for _, natural in widths]))
    console = stdout_console(width)
    console.print(to_rich(t, widths))
    for line in t.footer:
        console.print(line)


def _frame(title: str, columns: Sequence[Column], least: Sequence[int]):
    """A Rich table with our columns and no rows; a column is never narrower than `least`."""
    from rich import box
    from rich.table import Table as RichTable

    table = RichTable(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    for col, width in zip(columns, least):
        table.add_column(col.header, justify=col.justify, style=col.style, no_wrap=not col.wrap, overflow="fold", min_width=width)
    return table


def to_rich(t: Table, widths: Sequence[tuple[int, int]] | None = None):
    """A Rich table: names and numbers as wide as their longest cell, prose
    at least as wide as its longest word (`widths`: `column_widths(t)`)."""
    table = _frame(t.title, t.columns, [least for least, _ in widths or column_widths(t)])
    for i, row in enumerate(t.rows):
        table.add_row(*row, end_section=i in t.section_ends)
    return table


def column_widths(t: Table) -> list[tuple[int, int]]:
    """(narrowest, natural) content width of each column, header included:
    both the longest line for names and numbers; prose may shrink to its
    longest word. Rich markup takes no room."""
    from rich.cells import cell_len
    from rich.text import Text

    widths = []
    for i, col in enumerate(t.columns):
        lines = [line.plain for cell in [col.header, *(row[i] for row in t.rows)] for line in Text.from_markup(cell).split("\n")]
        natural = max(cell_len(line) for line in lines)
        least = max((cell_len(word) for line in lines for word in line.split()), default=0) if col.wrap else natural
        widths.append((least, natural))
    return widths


def _frame_width(columns: Sequence[Column], content: Sequence[int]) -> int:
    """Width in the terminal of a table whose columns hold `content` cells:
    Rich adds the edges, the padding and the separators."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(file=io.StringIO(), width=1_000_000)
    return Measurement.get(console, console.options, _frame("", columns, content)).minimum


def fit(t: Table, limit: int | None) -> Table:
    """`t`, or a copy without its least important numeric columns, to fit
    `limit` cells (the rule is in the module docstring)."""
    if limit is None:
        return t
    least = [w for w, _ in column_widths(t)]

    def width(drop: Sequence[int]) -> int:
        keep = [i for i in range(len(t.columns)) if i not in drop]
        return _frame_width([t.columns[i] for i in keep], [least[i] for i in keep])

    if width(()) <= limit:
        return t
    numeric = sorted((i for i, c in enumerate(t.columns) if c.justify != "left"), key=lambda i: (t.columns[i].priority, -i))
    if width(numeric) > limit:
        return t
    drop = next(numeric[:n] for n in range(1, len(numeric) + 1) if width(numeric[:n]) <= limit)
    keep = [i for i in range(len(t.columns)) if i not in drop]
    names = ", ".join(t.columns[i].header.replace("\n", " ").strip() for i in sorted(drop))
    return replace(
        t,
        columns=[t.columns[i] for i in keep],
        rows=[[row[i] for i in keep] for row in t.rows],
        raw_rows=None,
        footer=[f"[dim]Not shown at {limit} columns: {names}; widen the terminal or use --format csv.[/]", *t.footer],
    )


def to_csv(t: Table) -> str:
    """Header and rows through the csv module; a row of another length than
    the header is a bug in the table's builder, and raises."""
    rows = t.raw_rows if t.raw_rows is not None else t.rows
    for row in rows:
        if len(row) != len(t.columns):
            raise ValueError(f"CSV of {t.title!r}: a row has {len(row)} fields, the header {len(t.columns)}: {row!r}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.header for c in t.columns])
    writer.writerows(rows)
    return buf.getvalue()


def _md_cell(cell: Any) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ").strip()


def to_markdown(t: Table) -> str:
    align = {"left": ":---", "right": "---:", "center": ":---:"}
    lines = [f"### {t.title}", ""] if t.title else []
    lines.append("| " + " | ".join(_md_cell(c.header) for c in t.columns) + " |")
    lines.append("| " + " | ".join(align.get(c.justify, "---") for c in t.columns) + " |")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    lines += [""] + [_strip_markup(f) for f in t.footer] if t.footer else []
    return "\n".join(lines) + "\n"


def _strip_markup(text: str) -> str:
    from rich.text import Text

    return Text.from_markup(text).plain
