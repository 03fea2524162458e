"""The stored catalogue (netstat/data/zoo.json) is a golden file: it must
equal a fresh computation. Regenerate it on purpose with

    NETSTAT_UPDATE_GOLDEN=1 pytest tests/test_catalog.py
"""

from __future__ import annotations

import os

from netstat.catalog import catalog_path, load_catalog, write_json_atomic
from netstat.check import build_catalog
from netstat.schema import SCHEMA_VERSION
from netstat.zoo import list_models

REGENERATE = "NETSTAT_UPDATE_GOLDEN=1 pytest tests/test_catalog.py"


def test_catalog_is_current():
    fresh = build_catalog()
    if os.environ.get("NETSTAT_UPDATE_GOLDEN"):
        write_json_atomic(catalog_path(), {"schema_version": SCHEMA_VERSION, "models": fresh})
    stored = {e["name"]: e for e in load_catalog()}
    now = {e["name"]: e for e in fresh}
    assert sorted(stored) == sorted(now) == list_models(), f"models added or removed; regenerate with: {REGENERATE}"
    changed = [name for name in now if now[name] != stored[name]]
    assert not changed, f"counts or metadata changed for {changed}; if on purpose, regenerate with: {REGENERATE}"
