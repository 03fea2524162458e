"""`netstat.explain`: the search, its ranking and its result.

Every candidate is a convention (`conventions`) applied to a traced build
(`space`). The ones within the tolerance are kept and ranked: first those
that round to the quoted figure, then the simplest (fewest axes changed from
netstat's plain count of the model as given), then the closest. With none
within the tolerance the result says so and keeps the nearest five; nothing
is ever forced to match.

The search goes in two stages: the model's own input first (as built, its
variants, 1001 classes); the other input sizes only when nothing lands
there, since a quote usually names its input and a different one is the
least likely explanation. Then a batch: a plain count N times over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netstat.explanation import conventions
from netstat.explanation.space import BATCHES, Build, Builds, Stats, builds, with_batch
from netstat.explanation.value import Quoted, parse_value

SHOWN = 10  # candidates kept in the result (the count of all is kept too)
NEAREST = 5
VERIFIED_BATCHES = 3  # batch candidates re-traced at their batch, at most


@dataclass
class Candidate:
    """One explanation: a convention on a build, its number and how far off it is."""

    count: conventions.Count
    build: Build
    error: float  # value - quoted
    rounds: bool  # rounds to the quoted figure (within half its last digit)

    @property
    def value(self) -> float:
        return self.count.value

    @property
    def steps(self) -> int:
        return self.count.steps + self.build.steps

    def sentence(self) -> str:
        where = [self.build.sentence] if self.build.sentence else []
        if self.build.batch > 1:
            where.append(f"batch {self.build.batch}")
        return self.count.sentence + (f"; {'; '.join(where)}" if where else "")

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "kind": self.count.kind, "convention": self.count.key, "arithmetic": self.count.arithmetic,
                "sentence": self.sentence(), "build": self.build.to_dict(), "error": self.error, "rounds": self.rounds, "steps": self.steps}


@dataclass
class Explanation:
    """The candidates within the tolerance (closest and simplest first), or the nearest ones."""

    model: str
    quoted: Quoted
    source: str | None
    tolerance: float  # absolute, in the quoted figure's scale
    matches: list[Candidate]
    nearest: list[Candidate]
    searched: int  # candidates computed
    within: int  # candidates within the tolerance (matches keeps the first SHOWN)
    builds: list[Build] = field(default_factory=list)
    failed: dict[Build, str] = field(default_factory=dict)  # builds that could not run, and why

    @property
    def found(self) -> bool:
        return bool(self.matches)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "quoted": self.quoted.to_dict(), "source": self.source, "tolerance": self.tolerance,
                "found": self.found, "within": self.within, "searched": self.searched,
                "matches": [c.to_dict() for c in self.matches], "nearest": [c.to_dict() for c in self.nearest],
                "builds": [b.to_dict() for b in self.builds],
                "failed": [{**b.to_dict(), "error": why} for b, why in self.failed.items()]}


def _counts(quoted: Quoted, stats: Stats, build: Build) -> list[conventions.Count]:
    """The conventions that apply to the quoted figure on one build."""
    if quoted.share:
        kinds = ("params",) if quoted.metric == "params" else ("madds",) if quoted.metric in ("madds", "flops") else ("params", "madds")
        return conventions.share_counts(stats, kinds) if build.input_size is None else []
    found = []
    if quoted.metric in (None, "params") and build.input_size is None:
        found += conventions.params_counts(stats)
    if quoted.metric in (None, "madds", "flops"):
        found += conventions.compute_counts(stats)
    if quoted.metric == "memory":
        found += conventions.memory_counts(stats, quoted.binary)
    return found


def _candidate(quoted: Quoted, count: conventions.Count, build: Build, half: float) -> Candidate:
    error = count.value - quoted.value
    return Candidate(count, build, error, abs(error) <= half)


def _rank(c: Candidate) -> tuple:
    return (not c.rounds, c.steps, abs(c.error))


def _batched(quoted: Quoted, found: list[Candidate], stats_of: Builds, tolerance: float, half: float) -> list[Candidate]:
    """Candidates at batch N where the figure is N times a plain batch-1 one
    (the model as built, its own input, no other convention changed):
    re-traced at N, never assumed."""
    if quoted.share or quoted.metric == "params":
        return []
    tried: list[tuple[Build, str, int]] = []
    for c in sorted(found, key=lambda c: abs(quoted.value - round(quoted.value / c.value) * c.value)):
        n = round(quoted.value / c.value)
        plain = c.steps == 0 and c.build.batch == 1
        if plain and c.count.kind != "params" and n in BATCHES and abs(n * c.value - quoted.value) <= tolerance:
            tried.append((c.build, c.count.key, n))
        if len(tried) == VERIFIED_BATCHES:
            break
    out = []
    for build, key, n in tried:
        shape = stats_of(build).input_shape  # type: ignore[union-attr]  # a candidate's build ran
        batched = with_batch(build, shape, n)
        stats = stats_of(batched)
        out += [_candidate(quoted, count, batched, half) for count in _counts(quoted, stats, batched) if count.key == key] if stats else []
    return out


def explain(model: Any, value: str, metric: str | None = None, source: str | None = None, tolerance: float | None = None,
            input_size: Any = None, model_kwargs: dict[str, Any] | None = None) -> Explanation:
    """Which convention, variant and input reproduce a quoted figure
    (`value`: "3.8G", "60M", "97.7%", "4,133,742,592", "2.14 GMACs") for
    `model` (a zoo name, spec string or nn.Module, as `analyze` takes it).
    `metric` (params, madds / macs, flops, memory) overrides the unit's;
    `tolerance` (a fraction of the figure) overrides the one its digits
    give (one unit in the last significant digit). Every candidate is
    computed from traced models (one trace per variant and input)."""
    from netstat.analysis import analyze

    quoted = parse_value(value, metric)
    tolerance_abs = _tolerance(quoted, tolerance)
    half = tolerance_abs / 2
    first = analyze(model, input_size, model_kwargs)
    stats_of = Builds(model, first)
    compute = quoted.metric in (None, "madds", "flops") and not quoted.share
    found: list[Candidate] = []
    every = builds(first, compute)
    for stage in ([b for b in every if b.input_size is None], [b for b in every if b.input_size is not None]):
        if any(abs(c.error) <= tolerance_abs for c in found):
            break  # other inputs only when nothing lands at the model's own
        for build in stage:
            stats = stats_of(build)
            if stats is not None:
                found += [_candidate(quoted, count, build, half) for count in _counts(quoted, stats, build)]
    found += _batched(quoted, found, stats_of, tolerance_abs, half)
    within = sorted((c for c in _unique(found) if abs(c.error) <= tolerance_abs), key=_rank)
    nearest = [] if within else sorted(_unique(found), key=lambda c: abs(c.error))[:NEAREST]
    return Explanation(first.name, quoted, source, tolerance_abs, within[:SHOWN], nearest, len(found), len(within),
                       list(stats_of.stats), dict(stats_of.failed))


def _unique(found: list[Candidate]) -> list[Candidate]:
    """One candidate per kind and number (params, MAdds, FLOPs, bytes, share): the simplest way to get it."""
    best: dict[tuple[str, float], Candidate] = {}
    for c in sorted(found, key=_rank):
        best.setdefault((c.count.kind, round(c.value, 9)), c)
    return list(best.values())


def _tolerance(quoted: Quoted, tolerance: float | None) -> float:
    from netstat.errors import ArgumentError

    if tolerance is None:
        return quoted.unit
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
        raise ArgumentError("{explain_tolerance} must be a fraction of the figure between 0 and 1 (0.01 for 1%), not {given}.", given=tolerance)
    return tolerance * quoted.value
