"""Errors a user can cause, each with one clear sentence and an exit code.

The CLI turns these into a message on stderr and the exit code; nothing else
in the library prints. Exit codes follow DESIGN §7: 1 runtime failure or a
failed check, 2 bad usage.
"""

from __future__ import annotations


class NetstatError(Exception):
    """Base class: `message` is one sentence, `hint` an optional second."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class UsageError(NetstatError):
    """Bad input: unknown model, malformed shape, impossible argument."""

    exit_code = 2


class ModelRunError(NetstatError):
    """The model could not run on the given input (names the layer)."""

    exit_code = 1


def closest(name: str, candidates) -> str:
    """A "Did you mean ...?" hint naming up to three near matches ('' when none)."""
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f"Did you mean {', '.join(close)}?" if close else ""


# How the library names its callers' arguments in messages; the CLI renames
# them to its flags (netstat.cli._app.FLAGS).
PARAMETERS = {
    "models": "the models argument",
    "update": "netstat.check.update()",
    "input_size": "input_size (a shape, or a list of shapes: one per forward argument)",
    "input_shape": "input_size",
    "seeds": "seeds",
    "verify_layers": "layers",
    "min_time": "min_time",
    "max_time": "max_time",
    "amp": "amp=True",
    "dtype": "dtype",
    "threads": "threads",
    "cpu_device": "device='cpu'",
    "batch": "batch",
    "optimizer": "optimizer",
    "training_dtype": "dtype",
    "training_amp": "amp",
    "loss": "loss",
    "memory": "memory",
    "precision": "precision",
    "processes": "processes",
    "seq_len": "seq_len",
    "explain_metric": "metric",
    "explain_tolerance": "tolerance",
    "fit_device": "device",
}


class ArgumentError(UsageError):
    """A UsageError that names the caller's arguments: its texts are templates
    with `{models}`-style fields, filled from PARAMETERS, or by `renamed` from
    a front end's own names; `values` fill the other fields."""

    def __init__(self, message: str, hint: str = "", **values) -> None:
        self.templates, self.values = (message, hint), values
        super().__init__(*self._fill({}))

    def _fill(self, names: dict[str, str]) -> tuple[str, str]:
        fields = {**PARAMETERS, **names, **self.values}
        message, hint = (t.format(**fields) for t in self.templates)
        return message, hint

    def renamed(self, names: dict[str, str]) -> UsageError:
        """The same error, naming the arguments as `names` says (flags)."""
        return UsageError(*self._fill(names))


def first_line(err: BaseException, limit: int = 200) -> str:
    """'TypeName: the first line of its message', shortened to at most `limit`
    characters at the end of a sentence, else of a word (then marked '…'):
    how every one-sentence error quotes an exception it caught."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {_shortened(text[0], limit)}" if text else type(err).__name__


def shortened_path(text: str, limit: int = 120) -> str:
    """A path quoted in a sentence: `text`, or its start and end around '...'
    when longer than `limit` (a 5,000-character path is not repeated whole)."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


def is_out_of_memory(err: BaseException) -> bool:
    """Did this error come from running out of host or device memory? (torch
    is looked up, not imported: an error of torch's means it is loaded.)"""
    import sys

    torch = sys.modules.get("torch")
    if isinstance(err, MemoryError) or (torch is not None and isinstance(err, torch.OutOfMemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _shortened(line: str, limit: int) -> str:
    """`line` if it fits in `limit`; else its whole sentences that fit; else
    its whole words that fit, and '…' (a single word longer than `limit` is cut)."""
    if len(line) <= limit:
        return line
    ends = [i + 1 for i in range(min(limit, len(line) - 1)) if line[i] in ".!?" and line[i + 1].isspace()]
    if ends:
        return line[: ends[-1]]
    space = line.rfind(" ", 0, limit)
    return (line[:space].rstrip(" ,;:") if space > 0 else line[: limit - 1]) + "…"
