"""A quoted figure, read: "3.8G", "60M", "97.7%", "4,133,742,592", "2.14 GMACs", "528 MB".

The number's own digits say how precise it is: the tolerance is one unit in
its last significant digit ("3.8G": 0.1 G; "60M": 10 M, as a trailing zero of
a whole number is not significant; "4,133,742,592": 1), which covers both a
rounded and a truncated figure. A unit word names the metric (FLOPs, MACs /
MAdds, params, bytes); "%" makes it a share of the model; a bare "B" is a
billion ("3.8B FLOPs"), bytes are "kB", "MB", "GB", "KiB", "MiB", "GiB" or "bytes";
"MB" is also tried as MiB (Keras' table gives VGG-16 as 528 MB: 527.8 MiB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netstat.errors import UsageError

METRICS = ("params", "madds", "flops", "memory")
METRIC_NAMES = {"params": "params", "parameters": "params", "madds": "madds", "macs": "madds", "flops": "flops", "memory": "memory", "bytes": "memory"}

_NUMBER = re.compile(
    r"^(?P<num>\d[\d,_]*(?:\.\d+)?|\.\d+)\s*(?:(?:e|[x×]\s*10\s*\^)\s*(?P<exp>[+-]?\d+))?\s*(?P<unit>.*)$", re.IGNORECASE
)
_SCALES = {"": 1.0, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "g": 1e9, "b": 1e9, "billion": 1e9, "t": 1e12, "trillion": 1e12}
_WORDS = {"flop": "flops", "flops": "flops", "mac": "madds", "macs": "madds", "madd": "madds", "madds": "madds", "mult-adds": "madds",
          "multiply-adds": "madds", "param": "params", "params": "params", "parameters": "params", "": None}
_BINARY = {"kb": 2.0**10 / 1e3, "mb": 2.0**20 / 1e6, "gb": 2.0**30 / 1e9, "tb": 2.0**40 / 1e12}
_BYTES = {"bytes": 1.0, "byte": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30, "tib": 2.0**40}


@dataclass(frozen=True)
class Quoted:
    """A figure as quoted: its value, the unit of its last digit and what it measures."""

    text: str
    value: float  # a share as a fraction (97.7% -> 0.977)
    unit: float  # one unit in the last significant digit, same scale as value
    metric: str | None  # params, madds, flops, memory; None: not said
    share: bool
    binary: float | None = None  # "MB" may mean MiB: 2**20 / 1e6 (kB, GB, TB alike)

    def to_dict(self) -> dict:
        return {"text": self.text, "value": self.value, "last_digit": self.unit, "metric": self.metric, "share": self.share}


def _bad(text: str) -> UsageError:
    return UsageError(
        f"'{text}' is not a figure explain can read: give a positive number with an optional scale and unit, "
        "such as 3.8G, 60M, 97.7%, 4,133,742,592, 2.14 GMACs or 528 MB."
    )


def _unit_of(digits: str) -> float:
    """One unit in the last significant digit of the mantissa as written."""
    if "." in digits:
        return 10.0 ** -len(digits.split(".")[1])
    stripped = digits.rstrip("0")
    return 10.0 ** (len(digits) - len(stripped)) if stripped else 1.0


def _scale_and_metric(unit: str, text: str) -> tuple[float, str | None, bool]:
    """(multiplier, metric or None, share?) for the text after the number."""
    unit = _unit_key(unit)
    if unit == "%":
        return 0.01, None, True
    if unit in _BYTES:
        return _BYTES[unit], "memory", False
    for scale, factor in _SCALES.items():  # "" first: "macs" is MACs, "mmacs" mega-MACs
        if unit.startswith(scale) and unit[len(scale):] in _WORDS:
            return factor, _WORDS[unit[len(scale):]], False
    raise _bad(text)


def parse_value(text: str, metric: str | None = None) -> Quoted:
    """Read a quoted figure; `metric` (params, madds / macs, flops, memory)
    overrides what its unit says."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(str(text))
    found = _NUMBER.match(text.strip())
    if not found or re.search(r",,|,\.|^,|,$", found["num"]):
        raise _bad(text)
    digits = found["num"].replace(",", "").replace("_", "")
    scale, said, share = _scale_and_metric(found["unit"], text)
    try:
        exponent = 10.0 ** int(found["exp"]) if found["exp"] else 1.0
        value = float(digits) * exponent * scale
    except OverflowError:
        raise _bad(text) from None
    if not 0 < value < float("inf"):
        raise _bad(text)
    if metric is not None:
        said = _metric_name(metric)
    return Quoted(text.strip(), value, _unit_of(digits) * exponent * scale, said, share, _BINARY.get(_unit_key(found["unit"])))


def _unit_key(unit: str) -> str:
    return unit.strip().lower().replace(" ", "")


def _metric_name(metric: str) -> str:
    from netstat.errors import ArgumentError

    name = METRIC_NAMES.get(str(metric).lower())
    if name is None:
        raise ArgumentError("{explain_metric} must be params, madds, macs, flops or memory, not '{given}'.", given=metric)
    return name
