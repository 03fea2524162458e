"""What every JSON document netstat writes shares: one schema version, and
the label of the root module.

Version history (README "JSON output"):

- "1.0": the profile, receptive-field, ERF and catalogue documents; the
  baseline, benchmark and report documents said 1 (an integer).
- "1.1": one version string for every document. Profiles gained "inputs",
  "partial" totals, per-row "path" and "call", and "detector" / "published"
  where they apply; RF layers gained "path". A baseline written with 1 is
  still read.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.1"

# How tables and documents name the root module's calls; its module path is "".
ROOT_LABEL = "(model)"


def label(path: str) -> str:
    """The display name of a module path: the root module's "" is ROOT_LABEL."""
    return path or ROOT_LABEL
