"""Every example in the README and the documentation site, run against the
netstat of this checkout, so the documentation cannot drift.

    python docs/examples.py --check     # exit 1 and a diff when a shown output differs
    python docs/examples.py --write     # regenerate every shown output in place

The pages are README.md and every page of mkdocs.yml's `nav` (a page joins the
check when it joins the site). Four kinds of fenced block are examples:

- ```console: each `$ netstat ...` line is run in a shell with COLUMNS=80, in
  a scratch directory that links every entry of the repository root (files a
  command writes stay out of the checkout), and what follows it up to the next `$` line is its
  output (stdout, then stderr; trailing spaces dropped). Numbers are compared
  exactly. A block preceded by the line `<!-- volatile -->` (timings) is
  compared by its structure, not its values: its tables' headers and rows
  with every number masked (the warnings under a timing table depend on the
  machine's load, so they are shown but not compared).
- ```pycon: `>>>` / `...` lines are run as the interactive interpreter runs
  them, in one namespace per page (a page's blocks go on from each other, as
  in a doctest file); what follows is the value shown (an exception shows as
  its last traceback line).
- ```python: the block is run (it must not raise); nothing is compared.
- ```bash: each line that starts with `netstat` is parsed by the command
  line exactly as the shell would hand it over (commands, options, their
  types and choices), without running it: a renamed flag fails the check.

Other blocks (json, text, toml, ...) are not examples.
"""

from __future__ import annotations

import argparse
import atexit
import code
import contextlib
import difflib
import functools
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = 80
VOLATILE = "<!-- volatile -->"
_FENCE = re.compile(r"^```(\w+)\s*$")
_DIGIT = re.compile(r"\d")


@dataclass
class Block:
    """One fenced block of a page: its language, the lines between the
    fences (`start` is the index of the first), and whether it is volatile."""

    page: Path
    lang: str
    start: int
    lines: list[str]
    volatile: bool

    def where(self) -> str:
        return f"{os.path.relpath(self.page, ROOT)}:{self.start}"


def pages() -> list[Path]:
    """README.md and the Markdown pages of mkdocs.yml's nav."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:", 1)[1] if "\nnav:" in text else ""
    names = re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w./-]+\.md)\s*$", nav, flags=re.M)
    return [ROOT / "README.md"] + [ROOT / "docs" / name for name in dict.fromkeys(names)]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").split("\n")
    found, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        volatile = i > 0 and lines[i - 1].strip() == VOLATILE
        found.append(Block(page, match.group(1), i + 1, lines[i + 1 : end], volatile))
        i = end + 1
    return found


# -- console: run and compare -------------------------------------------------------------


def console_commands(block: Block) -> list[tuple[str, list[str]]]:
    """(command, shown output lines) for each `$ ` line of a console block."""
    runs: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif runs:
            runs[-1][1].append(line)
    return runs


@functools.lru_cache(maxsize=None)
def run_command(command: str) -> list[str]:
    """Output lines of `command` run as a user would, at the repository root
    (once per command and process: a page may show a command another shows)."""
    env = {**os.environ, "COLUMNS": str(COLUMNS), "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("NETSTAT_DEBUG", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", "-c", command], cwd=scratch(), capture_output=True, text=True, env=env, timeout=600)
    text = proc.stdout + proc.stderr
    lines = [line.rstrip() for line in text.rstrip("\n").split("\n")]
    return lines if text.strip() else []


@functools.lru_cache(maxsize=None)
def scratch() -> Path:
    """Where commands run: a fresh directory holding a link to every entry
    of the repository root, so a command reads `examples/`, `reports/` ... as
    the page says, and the files a command writes (`-o page.html`) land there,
    not in the checkout. Removed when the process ends."""
    path = Path(tempfile.mkdtemp(prefix="netstat-docs-"))
    atexit.register(shutil.rmtree, path, True)
    for entry in ROOT.iterdir():
        (path / entry.name).symlink_to(entry)
    return path


def comparable(lines: list[str], volatile: bool) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return [" ".join(_masked(token) for token in line.split()) for line in table_lines(out)] if volatile else out


def _masked(token: str) -> str:
    """A cell of a timing table as its structure: any number, or the dash of
    a value that could not be computed, is `#`."""
    return "#" if token == "-" or _DIGIT.search(token) else token


def table_lines(lines: list[str]) -> list[str]:
    """The header and rows of every table in `lines`: the line above each
    rule of heavy box characters, the rule, and the rows down to a blank line."""
    kept, inside = [], False
    for i, line in enumerate(lines):
        if "━" in line:
            kept += [lines[i - 1]] if i else []
            inside = True
        if inside and not line.strip():
            inside = False
        if inside:
            kept.append(line)
    return kept


# -- pycon: the interactive interpreter ---------------------------------------------------


def pycon_statements(block: Block) -> list[tuple[str, list[str]]]:
    """(source, shown output lines) for each `>>>` statement of a pycon block."""
    statements: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith(">>> "):
            statements.append((line[4:], []))
        elif line.startswith("... ") or line == "...":
            statements[-1] = (statements[-1][0] + "\n" + line[4:], statements[-1][1])
        elif statements:
            statements[-1][1].append(line)
    return statements


def run_pycon(statements: list[str], namespace: dict[str, Any]) -> list[list[str]]:
    """The lines each statement shows, run in `namespace` (one per page, so a
    page's blocks go on from each other, as in a doctest file). An exception
    shows as its last traceback line, as the interpreter prints it."""
    shown = []
    for source in statements:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            try:
                exec(code.compile_command(source + "\n", "<docs>", "single"), namespace)  # noqa: S102 - the docs' own example
            except Exception as error:  # noqa: BLE001 - shown, and then compared, as the interpreter shows it
                print(f"{type(error).__name__}: {error}")
        text = buffer.getvalue().rstrip("\n")
        shown.append(text.split("\n") if text else [])
    return shown


# -- bash: parse against the command line -------------------------------------------------


def parse_netstat(line: str) -> str | None:
    """None when `line` (a `netstat ...` command) parses, else why not.
    (Typer ships its own copy of click, so its classes are recognised by
    what they do, not by click's names.)"""
    import typer.main

    from netstat.cli import app

    args = shlex.split(line, comments=True)[1:]
    command: Any = typer.main.get_command(app)
    context = None
    try:
        while True:
            context = command.make_context(context.info_name if context else "netstat", list(args), parent=context)
            rest = _subcommand_args(context)
            if not hasattr(command, "get_command") or not rest:
                return None
            name, args = rest[0], rest[1:]
            command = command.get_command(context, name)
            if command is None:
                return f"no command {name!r}"
    except Exception as error:  # noqa: BLE001 - click's errors, from typer's copy of click
        if type(error).__name__ == "Exit":
            return None  # --help, --version, --show-completion
        if hasattr(error, "format_message"):
            return error.format_message()
        raise


def _subcommand_args(context: Any) -> list[str]:
    """What a group left for its subcommand: its name, then that command's
    arguments (click keeps the name apart as its protected args)."""
    protected = getattr(context, "_protected_args", None)
    if protected is None:
        protected = getattr(context, "protected_args", [])
    return [*protected, *context.args]


def bash_commands(block: Block) -> list[str]:
    """The `netstat` lines of a bash block, but `--install-completion`: its
    option acts while it is parsed (it would write the reader's shell set-up)."""
    lines = [line.strip() for line in block.lines]
    return [line for line in lines if line.startswith("netstat ") and "--install-completion" not in line]


# -- the check ---------------------------------------------------------------------------


def check_block(block: Block, namespace: dict[str, Any]) -> list[str]:
    """Problems with one block: a diff per example whose output differs."""
    problems = []
    if block.lang == "console":
        for command, shown in console_commands(block):
            now = run_command(command)
            if comparable(shown, block.volatile) != comparable(now, block.volatile):
                diff = difflib.unified_diff(shown, now, "shown", "now", lineterm="", n=1)
                problems.append(f"{block.where()}: $ {command}\n" + "\n".join(diff))
    elif block.lang == "pycon":
        statements = pycon_statements(block)
        for (source, shown), now in zip(statements, run_pycon([s for s, _ in statements], namespace)):
            if comparable(shown, block.volatile) != comparable(now, block.volatile):
                problems.append(f"{block.where()}: >>> {source}\nshown: {shown}\nnow:   {now}")
    elif block.lang == "python":
        try:
            exec(compile("\n".join(block.lines), block.where(), "exec"), dict(namespace))  # noqa: S102
        except Exception as error:  # noqa: BLE001 - reported with the block's place
            problems.append(f"{block.where()}: the python block raised {type(error).__name__}: {error}")
    elif block.lang == "bash":
        problems += [f"{block.where()}: {line}: {why}" for line in bash_commands(block) if (why := parse_netstat(line))]
    return problems


def regenerated(block: Block, namespace: dict[str, Any]) -> list[str]:
    """The block's lines with every shown output replaced by today's."""
    if block.lang == "console":
        lines = []
        for command, _ in console_commands(block):
            lines += [f"$ {command}", *run_command(command)]
        return lines
    if block.lang == "pycon":
        statements = pycon_statements(block)
        lines = []
        for (source, _), now in zip(statements, run_pycon([s for s, _ in statements], namespace)):
            first, *rest = source.split("\n")
            lines += [f">>> {first}", *(f"... {line}" for line in rest), *now]
        return lines
    return block.lines


def write_page(page: Path) -> None:
    from netstat.atomic import write_text

    lines = page.read_text(encoding="utf-8").split("\n")
    namespace = _namespace()
    new = [(block, regenerated(block, namespace)) for block in blocks(page)]  # in order: the namespace goes on
    for block, replacement in reversed(new):
        lines[block.start : block.start + len(block.lines)] = replacement
    write_text(page, "\n".join(lines))


def check_page(page: Path) -> list[str]:
    namespace = _namespace()
    return [problem for block in blocks(page) for problem in check_block(block, namespace)]


def _namespace() -> dict[str, Any]:
    return {"__name__": "__docs__"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="regenerate every shown output in place")
    parser.add_argument("--check", action="store_true", help="compare (the default)")
    parser.add_argument("pages", nargs="*", type=Path, help="only these pages (default: README and the nav)")
    options = parser.parse_args(argv)
    chosen = [p.resolve() for p in options.pages] or pages()
    os.chdir(scratch())  # python and pycon blocks too: the files an example writes stay out of the checkout
    if options.write:
        for page in chosen:
            write_page(page)
        return 0
    problems = [problem for page in chosen for problem in check_page(page)]
    print("\n\n".join(problems) if problems else f"{len(chosen)} pages: every example as shown.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
