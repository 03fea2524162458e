"""The zoo catalogue: every bundled model's metadata and counts, computed on
meta and stored in `netstat/data/zoo.json` so that `netstat list` answers
without importing torch.

A plain reader: the catalogue is computed by `netstat.check.build_catalog`.
The stored file is a golden file: `tests/test_catalog.py` recomputes it and
fails on any difference; regenerate it on purpose with

    NETSTAT_UPDATE_GOLDEN=1 pytest tests/test_catalog.py
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from netstat.tasks import TASKS  # noqa: F401 - read with the catalogue by `netstat list`

CATALOG_FILE = "zoo.json"


def load_catalog() -> list[dict[str, Any]]:
    """The stored catalogue (no torch import)."""
    text = resources.files("netstat").joinpath("data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return json.loads(text)["models"]


def catalog_path() -> Path:
    return Path(str(resources.files("netstat").joinpath("data").joinpath(CATALOG_FILE)))


def write_json_atomic(path: Path, data: Any) -> None:
    from netstat.atomic import write_text

    write_text(path, json.dumps(data, indent=1) + "\n")


def family_matches(family: str, query: str) -> bool:
    """Whether a model of `family` belongs to the family `query` names, case
    aside: the family itself or one of its variants, the family name and an
    underscore before the variant ("MobileNet" is mobilenet_v1, _v2 and _v3;
    "resnet" is resnet, resnet_cifar and resnet_v2; "mobilenet_v2" only
    itself)."""
    family, query = family.lower(), query.lower()
    return family == query or family.startswith(query + "_")


def filter_catalog(entries: list[dict[str, Any]], task: str | None = None, family: str | None = None, pattern: str | None = None) -> list[dict[str, Any]]:
    import fnmatch

    if task:
        entries = [e for e in entries if e["task"] == task]
    if family:
        entries = [e for e in entries if family_matches(e["family"], family)]
    if pattern:
        entries = [e for e in entries if fnmatch.fnmatch(e["name"], pattern)]
    return entries
