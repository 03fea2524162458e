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
  natural width, and its title and footer lines whole (never broken mid-phrase).
- Titles and footers are prose: wrapped between words at the limit. No line
  ends in spaces.
- A table wider than the limit loses whole numeric columns, lowest `priority`
  first (ties: the rightmost first), until it fits; a footer line names them.
  If it cannot fit even without every numeric column, nothing is dropped and
  it is printed at its full width, wider than the limit.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    from rich.console import JustifyMethod

FORMATS = ("table", "json", "csv", "md")
PAGE_FORMATS = FORMATS + ("html",)  # profile, profile --train, compare and rf also write an HTML page (netstat.render.html)


@dataclass
class Column:
    """A table column: a name or prose (left) or a number (right); see the
    width rule above."""

    header: str
    justify: JustifyMethod = "right"  # "left" for names and prose
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
    warnings: list[str] = field(default_factory=list)  # about the numbers: on stderr, whatever the format (`emit`)
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


def inputs_str(rows: list[dict] | None, shape: Sequence[int] | None = None) -> str:
    """Every input of a document's "inputs" rows ('1x8:int64, mask=1x8:int64'),
    or `shape` when there are none: the one way titles show inputs."""
    parts = []
    for row in rows or ():
        text = shape_str(row["shape"]) if "shape" in row else repr(row.get("value"))
        text += f":{row['dtype']}" if row.get("dtype", "float32") != "float32" else ""
        name = str(row.get("name", ""))
        parts.append(text if not name or name.split(".")[0].isdigit() else f"{name}={text}")
    return ", ".join(parts) or shape_str(shape)


def stdout_console(width: int | None = None):
    """A console on stdout; `width` None: Rich's own guess (COLUMNS, the terminal, 80)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, emoji=False, soft_wrap=False, width=width)


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

    return Console(file=sys.stderr, highlight=False, emoji=False)


def note(message: str) -> None:
    """A message for the person, on stderr (never mixed into results):
    wrapped between words in a terminal or at COLUMNS, whole in a pipe; no
    line ends in spaces."""
    console = stderr_console()
    wraps = console.is_terminal or os.environ.get("COLUMNS", "").isdigit()
    with console.capture() as captured:
        console.print(message, soft_wrap=not wraps)
    sys.stderr.write(without_trailing_spaces(captured.get()))
    sys.stderr.flush()


@contextmanager
def working(what: str) -> Iterator[None]:
    """A transient spinner saying `what` on stderr while a slow step runs
    (tracing a detector, probing batches), when stderr is a terminal."""
    console = stderr_console()
    if not console.is_terminal:
        yield
        return
    with console.status(what):
        yield


def emit(tables: Iterable[Table], data: dict[str, Any], fmt: str) -> None:
    """Write a result to stdout in the chosen format: JSON through `document`
    (which adds the schema version), the tables as CSV or Markdown (plain
    text: Rich markup removed), or as Rich tables. Flushed here, so that
    stdout that cannot be written fails here and not at exit: a full disk is
    `output_error`'s one sentence; a closed pipe a silent exit 1."""
    tables = list(tables)
    try:
        if fmt == "json":
            sys.stdout.write(json.dumps(_finite(document(data)), indent=2, default=_json_default, allow_nan=False) + "\n")
        elif fmt == "csv":
            sys.stdout.write("\n".join(to_csv(t) for t in tables))
        elif fmt == "md":
            sys.stdout.write("\n".join(to_markdown(t) for t in tables))
        else:
            limit = width_limit()
            for t in tables:
                _print_table(fit(t, limit), limit)
        sys.stdout.flush()
        for text in (w for t in tables for w in t.warnings):
            note(f"[yellow]Warning:[/] {text}")
    except BrokenPipeError:
        # The reader left (`netstat list | head`): exit 1 in silence, as Rich
        # does for the tables it prints and click for what it echoes.
        discard_stdout()
        raise SystemExit(1) from None
    except OSError as err:
        raise output_error(err) from None


def emit_page(text: str, path: Any = None) -> None:
    """An HTML page (`netstat.render.html`) to stdout, or atomically to `path`."""
    if path is None:
        emit_text(text)
        return
    from netstat.atomic import write_text

    try:
        write_text(path, text)
    except OSError as err:
        raise path_error(err, "write the page", path) from None
    note(f"Page written to {path}")


def emit_text(text: str) -> None:
    """`text` to stdout, with `emit`'s handling of a closed pipe or a full disk."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()
        raise SystemExit(1) from None
    except OSError as err:
        raise output_error(err) from None


def output_error(err: OSError):
    """A failed write to stdout as one sentence (a NetstatError, exit 1):
    'Cannot write the output: No space left on device.' What stdout still
    buffers is dropped (`discard_stdout`), so that the interpreter's flush at
    exit does not fail a second time."""
    from netstat.errors import NetstatError

    discard_stdout()
    return NetstatError(f"Cannot write the output: {_reason(err)}.")


# What an OSError says of a path that cannot name a file there: the caller's
# input (exit 2). Any other (a full disk, a read-only file system, no
# permission) is a runtime failure (exit 1).
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP})


def path_error(err: OSError, doing: str = "access", path: Any = None):
    """An OSError on a file as one sentence: "Cannot write the figure
    'out/rf.png': Is a directory." `path`: the file the caller named (default:
    the error's, the destination of a rename), shortened when it is long. A
    UsageError (exit 2) for a path that cannot name a file (too long, under a
    file, a directory), else a NetstatError (exit 1)."""
    from netstat.errors import NetstatError, UsageError, shortened_path

    name = path if path is not None else (err.filename2 or err.filename)
    where = f" '{shortened_path(os.fsdecode(name))}'" if name is not None else ""
    error = UsageError if err.errno in _PATH_ERRNOS else NetstatError
    return error(f"Cannot {doing}{where}: {_reason(err)}.")


def _reason(err: OSError) -> str:
    """'No space left on device': the OS's words, or the error's own."""
    return err.strerror or str(err) or type(err).__name__


def discard_stdout() -> None:
    """Point stdout's file descriptor at the null device (nothing when stdout
    has none, e.g. a test runner's buffer): what it still buffers then goes
    nowhere, instead of failing again when Python flushes it at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def document(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as a JSON document: `schema_version` (netstat.schema) first, then
    its own keys.

    Every JSON document on stdout passes here, from every command and mode,
    so this is the one place that guarantees the version, whoever built the
    dict: a document owner's `to_dict` may set it too (the profile, RF, bench
    documents do, for library callers), and a new command cannot forget it.
    A document that names another version is a bug in its builder, and raises.
    (The files netstat writes -- the baseline, `report`'s zoo.json, the stored
    catalogue -- set it where they are built.)"""
    from netstat.schema import SCHEMA_VERSION

    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ValueError(f"A document says schema_version {version!r}; netstat writes {SCHEMA_VERSION!r}.")
    return {"schema_version": SCHEMA_VERSION, **data}


def _finite(tree: Any) -> Any:
    """Strict JSON: a NaN or infinite float becomes null (no number was measured or defined)."""
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    if isinstance(tree, dict):
        return {k: _finite(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_finite(v) for v in tree]
    return tree


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def _print_table(t: Table, limit: int | None) -> None:
    """`t` on a console as wide as the limit, or as the table where it is
    wider. Its title and footer are prose: wrapped between words at the
    limit, and never wrapped without one (a pipe: the reader's pager or
    editor wraps). No line ends in spaces (Rich pads cells to the table's
    width)."""
    from rich.text import Text

    widths = column_widths(t)
    if limit:
        width = max(limit, _frame_width(t.columns, [least for least, _ in widths]))
    else:
        width = _frame_width(t.columns, [natural for _, natural in widths])
    console = stdout_console(width)
    with console.capture() as captured:
        if t.title:
            console.print(Text(t.title, style="bold"), soft_wrap=not limit)
        console.print(to_rich(replace(t, title=""), widths))
        for line in t.footer:
            console.print(line, soft_wrap=not limit)
    sys.stdout.write(without_trailing_spaces(captured.get()))


def without_trailing_spaces(text: str) -> str:
    """Every line of `text` without the spaces at its end (before any closing
    terminal style codes): what Rich pads to a table's width."""
    import re

    return re.sub(r" +((?:\x1b\[[0-9;]*m)*)$", r"\1", text, flags=re.MULTILINE)


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

    console = Console(file=io.StringIO(), width=1_000_000, emoji=False)
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
    the header is a bug in the table's builder, and raises. Plain text: the
    machine values of `raw_rows` as they are, else the formatted cells
    without their Rich markup."""
    rows = t.raw_rows if t.raw_rows is not None else [[_strip_markup(c) if isinstance(c, str) else c for c in row] for row in t.rows]
    for row in rows:
        if len(row) != len(t.columns):
            raise ValueError(f"CSV of {t.title!r}: a row has {len(row)} fields, the header {len(t.columns)}: {row!r}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_strip_markup(c.header) for c in t.columns])
    writer.writerows(rows)
    return buf.getvalue()


def _md_cell(cell: Any) -> str:
    """A formatted cell as Markdown: plain text (no Rich markup), on one line, pipes escaped."""
    return _strip_markup(str(cell)).replace("|", "\\|").replace("\n", " ").strip()


def to_markdown(t: Table) -> str:
    """The title, the header, the rows and the footer as plain Markdown: what
    the terminal shows, without Rich's markup."""
    align = {"left": ":---", "right": "---:", "center": ":---:"}
    lines = [f"### {_strip_markup(t.title)}", ""] if t.title else []
    lines.append("| " + " | ".join(_md_cell(c.header) for c in t.columns) + " |")
    lines.append("| " + " | ".join(align.get(c.justify, "---") for c in t.columns) + " |")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    lines += [""] + [_strip_markup(f) for f in t.footer] if t.footer else []
    return "\n".join(lines) + "\n"


def _strip_markup(text: str) -> str:
    """What Rich shows of `text` (markup removed, escaped brackets kept)."""
    if "[" not in text:
        return text
    from rich.text import Text

    return Text.from_markup(text).plain
