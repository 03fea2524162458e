"""`netstat` command line. Each sibling module adds its commands to `app`."""

from __future__ import annotations

import importlib
import pkgutil

from netstat.cli._app import app

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")


def main() -> None:
    app()


__all__ = ["app", "main"]
