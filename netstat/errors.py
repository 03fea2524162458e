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
