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
    fit(analysis_or_model, memory, train=True, ...) -> FitResult
    explain(model_or_spec, value, metric=None, source=None, tolerance=None) -> Explanation

Every result (Profile, Analysis, Comparison, RFResult, TrainingProfile,
FitResult, BenchResult, BenchResults) shows itself as the CLI's tables in
Jupyter and on a Rich console, prints as one summary line, and has to_dict()
and to_pandas().
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
    "explain": "netstat.explanation",
    "Explanation": "netstat.explanation",
    "fit": "netstat.training.fit",
    # the results (each shows itself in Jupyter and Rich, and has to_dict / to_pandas)
    "Comparison": "netstat.analysis",
    "RFResult": "netstat.rf.result",
    "TrainingProfile": "netstat.training.result",
    "FitResult": "netstat.training.fit",
    "BenchResult": "netstat.bench.results",
    "BenchResults": "netstat.bench.results",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'netstat' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (what `__all__` names), for `dir(netstat)` and tab completion."""
    return list(__all__)
