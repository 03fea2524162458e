"""The one renderer: every command turns its result into `Table`s (for table,
CSV and Markdown output) plus a plain dict (for JSON), and hands them here.

Rendering never computes: numbers arrive computed and are only formatted.
Results go to stdout; notes and warnings go to stderr.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

FORMATS = ("table", "json", "csv", "md")


@dataclass
class Column:
    header: str
    justify: str = "right"  # "left" for names
    style: str | None = None


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


def stdout_console():
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


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
        console = stdout_console()
        for t in tables:
            console.print(to_rich(t))
            for line in t.footer:
                console.print(line)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def to_rich(t: Table):
    from rich import box
    from rich.table import Table as RichTable

    table = RichTable(title=t.title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    for col in t.columns:
        table.add_column(col.header, justify=col.justify, style=col.style, no_wrap=col.justify == "right")
    for i, row in enumerate(t.rows):
        table.add_row(*row, end_section=i in t.section_ends)
    return table


def to_csv(t: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.header for c in t.columns])
    writer.writerows(t.raw_rows if t.raw_rows is not None else t.rows)
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
