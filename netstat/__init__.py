"""netstat: the truth about a CNN's architecture.

Public API (imported lazily so that `netstat --help` does not import torch):

    analyze(model_or_spec, input_size=None, model_kwargs=None, ..., inputs=None, kwargs=None) -> Analysis
    Inputs, InputSpec: the one description of a forward's inputs (positional, keyword, real examples)
    compare(models, input_size=None, model_kwargs=None) -> Comparison
    profile(model_or_name, input_size=None, device="meta", model_kwargs=None) -> Profile
    receptive_field(model_or_name, input_size=None) -> RFResult
    benchmark(model_or_name, ...) -> list[BenchResult]
    get_model(name, device=None, **kwargs) -> nn.Module
    list_models(filter=None, task=None, family=None) -> list[str]
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "analyze": "netstat.analysis",
    "Analysis": "netstat.analysis",
    "compare": "netstat.analysis",
    "profile": "netstat.analysis",
    "Profile": "netstat.metrics",
    "receptive_field": "netstat.analysis",
    "benchmark": "netstat.bench",
    "get_model": "netstat.zoo",
    "list_models": "netstat.zoo",
    "get_spec": "netstat.zoo",
    "Inputs": "netstat.inputs",
    "InputSpec": "netstat.inputs",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'netstat' has no attribute {name!r}")
