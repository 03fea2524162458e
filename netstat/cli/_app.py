"""The Typer app and what every command shares: error handling, option parsing.

Commands live in the sibling modules (one per command group); each parses its
options, calls the library, and hands the result to `netstat.render`. No
arithmetic here, and torch is imported only inside command bodies so that
`netstat --help` stays fast.
"""

from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from netstat.errors import NetstatError, UsageError
from netstat.render import FORMATS, stderr_console


# Exceptions Typer itself handles (exit codes, usage errors). ClickException
# lives in click or, in newer Typer, in its vendored copy: found via the MRO.
_TYPER_OWN = (typer.Exit, typer.Abort) + tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _Group(TyperGroup):
    """Turns a NetstatError (bad input, model that cannot run) into one
    sentence on stderr and its exit code, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NetstatError as err:
            report_error(err.message, err.hint)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            report_error("Interrupted.")
            raise typer.Exit(130) from None
        except _TYPER_OWN:
            raise
        except Exception as err:  # noqa: BLE001 - last line of defence for users
            if os.environ.get("NETSTAT_DEBUG"):
                raise
            report_error(f"Internal error: {type(err).__name__}: {err}", "Set NETSTAT_DEBUG=1 for the traceback.")
            raise typer.Exit(1) from None


def report_error(message: str, hint: str = "") -> None:
    from rich.markup import escape

    text = f"[bold red]Error:[/] {escape(message)}"
    if hint:
        text += f" {escape(hint)}"
    stderr_console().print(text)


app = typer.Typer(
    cls=_Group,
    help="The truth about a CNN: parameters, MAdds, FLOPs, shapes, receptive fields, memory traffic, latency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format '{fmt}'.", hint=f"Use one of: {', '.join(FORMATS)}.")
    return fmt


def parse_int_list(text: str, what: str, positive: bool = True) -> list[int]:
    """'1,3,224,224' -> [1, 3, 224, 224], or a UsageError naming `what`."""
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"Malformed {what} '{text}': expected comma-separated integers such as 1,3,224,224.") from None
    if not values:
        raise UsageError(f"Malformed {what} '{text}': it is empty.")
    if positive and any(v <= 0 for v in values):
        raise UsageError(f"Malformed {what} '{text}': every size must be a positive integer.")
    return values


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    return tuple(parse_int_list(text, "--input"))
