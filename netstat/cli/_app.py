"""The Typer app and what every command shares: error handling, option parsing.

Commands live in the sibling modules (one per command group); each parses its
options, calls the library, and hands the result to `netstat.render`. No
arithmetic here, and torch is imported only inside command bodies so that
`netstat --help` stays fast.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from netstat.errors import ArgumentError, NetstatError, UsageError
from netstat.render import FORMATS, PAGE_FORMATS, stderr_console


# Exceptions Typer itself handles (exit codes, usage errors). ClickException
# lives in click or, in newer Typer, in its vendored copy: found via the MRO.
_TYPER_OWN = (typer.Exit, typer.Abort) + tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
# Click's own usage errors (no such option or command, a missing argument, an
# option value of the wrong type) and, among them, the one that only shows the
# help of a command called without arguments.
_CLICK_ERRORS = tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_NO_ARGS_HELP = tuple(
    getattr(module, "NoArgsIsHelpError")
    for module in {sys.modules.get(c.__module__) for c in _CLICK_ERRORS}
    if module is not None and hasattr(module, "NoArgsIsHelpError")
)


# The library's argument names (netstat.errors.PARAMETERS) as this CLI's flags.
FLAGS = {
    "models": "--models",
    "update": "--update",
    "input_size": "--input (once per forward argument)",
    "input_shape": "--input",
    "seeds": "--seeds",
    "verify_layers": "--depth",
    "min_time": "--min-time",
    "max_time": "--max-time",
    "amp": "--amp",
    "dtype": "--dtype",
    "threads": "--threads",
    "cpu_device": "--device cpu",
    "batch": "--batch",
    "optimizer": "--optimizer",
    "training_dtype": "--dtype",
    "training_amp": "--amp",
    "memory": "--memory",
    "precision": "--precision",
    "processes": "--processes",
    "seq_len": "--seq-len",
    "explain_metric": "--metric",
    "explain_tolerance": "--tolerance",
    "fit_device": "--device",
}


class _Group(TyperGroup):
    """Turns a NetstatError (bad input, model that cannot run) or an OSError
    (a path or stdout that cannot be written) into one sentence on stderr
    and its exit code, never a traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        # Options of `netstat` itself are parsed here, before invoke.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS_HELP:
            raise
        except _CLICK_ERRORS as err:
            raise _click_error(err) from None
        except OSError as err:  # `netstat --help > /dev/full`
            raise _os_error(err) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _NO_ARGS_HELP:
            raise
        except _CLICK_ERRORS as err:
            raise _click_error(err) from None
        except NetstatError as err:
            if isinstance(err, ArgumentError):
                err = err.renamed(FLAGS)
            report_error(err.message, err.hint)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            report_error("Interrupted.")
            raise typer.Exit(130) from None
        except _TYPER_OWN:
            raise
        except OSError as err:  # a file or stdout that cannot be read or written: the OS's words
            if os.environ.get("NETSTAT_DEBUG"):
                raise
            raise _os_error(err) from None
        except Exception as err:  # noqa: BLE001 - last line of defence for users
            if os.environ.get("NETSTAT_DEBUG"):
                raise
            report_error(f"Internal error: {type(err).__name__}: {err}", "Set NETSTAT_DEBUG=1 for the traceback.")
            raise typer.Exit(1) from None


def _os_error(err: OSError) -> typer.Exit:
    """An OSError no command turned into its own sentence, reported: a
    path's ('Cannot access 'NAME': File name too long.', exit 2 or 1, see
    `render.path_error`) or, with no file named, stdout's ('Cannot write
    the output: No space left on device.', exit 1; a closed pipe exits 1 in
    silence, as click and Rich do)."""
    from netstat.render import discard_stdout, output_error, path_error

    named = err.filename is not None or err.filename2 is not None
    if not named and isinstance(err, BrokenPipeError):
        discard_stdout()
        return typer.Exit(1)
    error = path_error(err) if named else output_error(err)
    report_error(error.message, error.hint)
    return typer.Exit(error.exit_code)


def _click_error(err) -> typer.Exit:
    """Click's usage error as one line: 'Error: No such option: --x. Try ...'."""
    message = _sentence(err.format_message())
    ctx = getattr(err, "ctx", None)
    hint = ""
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}'."
    report_error(message, hint)
    return typer.Exit(getattr(err, "exit_code", 2))


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if not text or text[-1] in ".!?" else text + "."


def report_error(message: str, hint: str = "") -> None:
    """One line on stderr, never wrapped by Rich (a terminal may still fold it)."""
    from rich.markup import escape

    text = f"[bold red]Error:[/] {escape(' '.join(str(message).split()))}"
    if hint:
        text += f" {escape(' '.join(str(hint).split()))}"
    stderr_console().print(text, soft_wrap=True)


app = typer.Typer(
    cls=_Group,
    help="The truth about a CNN: parameters, MAdds, FLOPs, shapes, receptive fields, memory traffic, latency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode="rich",
)


@app.callback(invoke_without_command=True)
def _options(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print netstat's version and exit (no torch import)."),
    verbose: bool = typer.Option(False, "--verbose", help="With --version: also torch's and Python's versions (imports torch)."),
) -> None:
    if version:
        typer.echo(version_text(verbose))
        raise typer.Exit(0)
    if verbose:
        raise UsageError("--verbose goes with --version.", hint="For example: netstat --version --verbose.")
    if ctx.invoked_subcommand is None:  # only reached with options of netstat itself
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def version_text(verbose: bool = False) -> str:
    """'netstat 0.1.0'; verbose adds torch's version (importing it) and Python's."""
    import netstat

    lines = [f"netstat {netstat.__version__}"]
    if verbose:
        import platform

        try:
            import torch

            torch_version = str(torch.__version__)
        except ImportError:
            torch_version = "not installed"
        lines += [f"torch {torch_version}", f"python {platform.python_version()}"]
    return "\n".join(lines)


def check_format(fmt: str, page: bool = False) -> str:
    """The --format, lower-cased; "html" only where the command writes a page (`page`)."""
    fmt = fmt.lower()
    if fmt == "html" and not page:
        raise UsageError("This command has no HTML page; profile, compare and rf write one.", hint=f"Use one of: {', '.join(FORMATS)}.")
    if fmt not in (PAGE_FORMATS if page else FORMATS):
        raise UsageError(f"Unknown format '{fmt}'.", hint=f"Use one of: {', '.join(PAGE_FORMATS if page else FORMATS)}.")
    return fmt


def check_output(path, fmt: str) -> str:
    """The format an --output file gets: "html" for a .html file left at the
    default table format; a page only (other formats go to stdout)."""
    if path is None:
        return fmt
    if fmt == "table" and str(path).lower().endswith((".html", ".htm")):
        fmt = "html"
    if fmt != "html":
        raise UsageError("--output writes the HTML page (--format html or a .html file); redirect stdout for the other formats.", hint="For example: netstat profile resnet50 > resnet50.json.")
    return fmt


def parse_int_list(text: str, what: str, positive: bool = True) -> list[int]:
    """'1,3,224,224' or '1x3x224x224' -> [1, 3, 224, 224], or a UsageError
    naming `what`. Every part must be an integer: an empty part ('1,,224',
    '1,2,x', a trailing comma) would drop a size silently."""
    parts = [p.strip() for p in re.split(r"[,xX]", text.strip())]
    if "" in parts and any(parts):
        raise UsageError(f"Malformed {what} '{text}': an empty size between or after the separators.", hint="Write sizes such as 1,3,224,224.")
    try:
        values = [int(p) for p in parts if p]
    except ValueError:
        raise UsageError(f"Malformed {what} '{text}': expected comma-separated integers such as 1,3,224,224.") from None
    if not values:
        raise UsageError(f"Malformed {what} '{text}': it is empty.")
    if positive and any(v <= 0 for v in values):
        raise UsageError(f"Malformed {what} '{text}': every size must be a positive integer.")
    return values


def parse_inputs(texts: list[str] | None):
    """Repeated --input [NAME=]SHAPE[:DTYPE] -> a netstat.inputs.Inputs, or None:
    '1,3,224,224' and '1,128:int64' are positional inputs, in order;
    'attention_mask=1,128:int64' a keyword input."""
    from netstat.inputs import DTYPES, Inputs, InputSpec

    if not texts:
        return None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in texts:
        name, eq, rest = text.partition("=")
        if not eq:
            name, rest = "", text
        name = name.strip()
        if eq and not name.isidentifier():
            raise UsageError(f"Malformed --input '{text}': the name before '=' must be an identifier such as attention_mask.")
        shape, _, dtype = rest.partition(":")
        dtype = dtype.strip().lower() or "float32"
        if dtype not in DTYPES:
            raise UsageError(f"Unknown dtype '{dtype}' in --input '{text}'.", hint=f"Use one of: {', '.join(sorted(set(DTYPES.values())))}.")
        spec = InputSpec(tuple(parse_int_list(shape, "--input")), DTYPES[dtype])
        if not name and kwargs:
            raise UsageError(f"--input '{text}' is positional but comes after a named input.", hint="Give the positional inputs first, in order.")
        if name in kwargs:
            raise UsageError(f"--input names '{name}' twice.")
        if name:
            kwargs[name] = spec
        else:
            args.append(spec)
    return Inputs.of(args, kwargs)


def check_plot_path(path):
    """A --plot path, checked before any work: a figure suffix, an existing
    folder to write into, not itself a folder, a name the file system takes."""
    from pathlib import Path

    from netstat.render.figures import FIGURE_SUFFIXES

    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(f"Cannot write a figure to '{path}'.", hint=f"Use a file ending in {', '.join(FIGURE_SUFFIXES)}.")
    if len(path.name.encode()) > 255:
        raise UsageError(f"The --plot file name is {len(path.name.encode())} bytes long; file systems take at most 255.")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"'{parent}' is a file, not a folder, so --plot cannot write into it.")
        if not parent.is_dir():
            raise UsageError(f"The folder '{parent}' for --plot does not exist.")
        if path.is_dir():
            raise UsageError(f"--plot '{path}' is a folder; give a file name such as {path / ('figure' + FIGURE_SUFFIXES[0])}.")
    except OSError as err:
        raise UsageError(f"Cannot use '{path}' for --plot: {err.strerror or err}.") from None
    return path


def parse_model_kwargs(texts: list[str] | None) -> dict:
    """Repeated --model-kwargs KEY=VALUE, each VALUE a Python literal (num_classes=10, image_size=384, act='relu')."""
    import ast

    kwargs: dict[str, Any] = {}
    for text in texts or ():
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"Malformed --model-kwargs '{text}': expected KEY=VALUE, e.g. num_classes=10.")
        try:
            kwargs[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise UsageError(f"Malformed --model-kwargs '{text}': {value.strip()!r} is not a Python literal.", hint=f"Quote a string: {key}='{value.strip()}'.") from None
    return kwargs


SEQ_LEN_HELP = "Hugging Face text models: tokens in the default input_ids / attention_mask (default 128)."


def with_seq_len(models: list, seq_len: int | None, model_kwargs: dict, inputs) -> list:
    """--seq-len N: each model (a Hugging Face text model) resolved with its
    default token inputs at N tokens; without it, the models as given."""
    if seq_len is None:
        return list(models)
    if inputs is not None:
        raise UsageError("--seq-len sets the length of a text model's default inputs; with --input, give their shapes there instead.")
    from netstat.hf import at_seq_len
    from netstat.spec import resolve

    return [at_seq_len(resolve(m, model_kwargs=model_kwargs), seq_len) for m in models]
