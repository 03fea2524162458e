"""The zoo catalogue: every bundled model's metadata and counts, computed on
meta and stored in `netstat/data/zoo.json` so that `netstat list` answers
without importing torch.

The stored file is a golden file: `tests/test_catalog.py` recomputes it and
fails on any difference; regenerate it on purpose with

    NETSTAT_UPDATE_GOLDEN=1 pytest tests/test_catalog.py
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

CATALOG_FILE = "zoo.json"
TASKS = ("classification", "segmentation", "detection")


def load_catalog() -> list[dict[str, Any]]:
    """The stored catalogue (no torch import)."""
    text = resources.files("netstat").joinpath("data", CATALOG_FILE).read_text(encoding="utf-8")
    return json.loads(text)["models"]


def build_catalog() -> list[dict[str, Any]]:
    """Recompute the catalogue from the registry (profiles every model on meta)."""
    from netstat.metrics import profile
    from netstat.zoo import all_specs

    entries = []
    for spec in all_specs():
        p = profile(spec.name)
        entry = spec.to_dict()
        entry.update(params=p.totals["params"], madds=p.totals["madds"], flops=p.totals["flops"])
        entries.append(entry)
    return entries


def catalog_path() -> Path:
    return Path(str(resources.files("netstat").joinpath("data", CATALOG_FILE)))


def write_json_atomic(path: Path, data: Any) -> None:
    from netstat.atomic import write_text

    write_text(path, json.dumps(data, indent=1) + "\n")


def filter_catalog(entries: list[dict[str, Any]], task: str | None = None, family: str | None = None, pattern: str | None = None) -> list[dict[str, Any]]:
    import fnmatch

    if task:
        entries = [e for e in entries if e["task"] == task]
    if family:
        entries = [e for e in entries if e["family"].lower() == family.lower()]
    if pattern:
        entries = [e for e in entries if fnmatch.fnmatch(e["name"], pattern)]
    return entries
