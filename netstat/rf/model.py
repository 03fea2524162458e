"""The linear RF model of one tensor, and how one op's reads transform it.

Every tensor that depends on the model input carries, for each spatial axis
of the input (H and W separately), the linear model of Araujo, Norris & Sim,
"Computing Receptive Fields of Convolutional Neural Networks" (Distill 2019):
unit ``o`` of the tensor along that axis sees the input pixels

    [c + o*j - (r-1)/2,  c + o*j + (r-1)/2]

with ``r`` the RF size, ``j`` the jump (effective stride) and ``c`` the centre
of unit 0 in input pixel indices (the effective padding is ``(r-1)/2 - c``).
Values are exact rationals (`fractions.Fraction`); they are ints when whole.

An op is described per axis by the input units that output unit ``o`` reads
(`Reads`); `transfer` applies them: ``r' = r + (hi0 - lo0) j``,
``j' = s j``, ``c' = c + (lo0 + hi0)/2 j``. The graph propagation and the
stack calculator both go through it.

Each axis also carries its *reach*, the hull of the input pixels any unit can
see, and the range of units whose window holds any real input: strided layers
can skip the last pixels (Inception v3 at 96x96 never reads rows 93..95), so a
unit near the border sees ``interval ∩ reach``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

from netstat.schema import SCHEMA_VERSION  # noqa: F401 - every document's version, re-exported


def exact(x):
    """A Fraction that is whole becomes an int (cheaper, prints cleanly)."""
    if type(x) is Fraction and x.denominator == 1:
        return x.numerator
    return x


def halve(x):
    """x / 2, exact: an int when whole, else a Fraction."""
    if type(x) is int and not x & 1:
        return x >> 1
    return exact(Fraction(x) / 2)


def number(x) -> int | float | None:
    """A model value for JSON: int when whole, else float."""
    if x is None:
        return None
    x = exact(x)
    return x if isinstance(x, int) else float(x)


def fmt_number(x) -> str:
    """12 -> '12', 31/2 -> '15.5', 1/3 -> '0.333'."""
    if x is None:
        return "-"
    x = exact(x)
    if isinstance(x, int):
        return str(x)
    return f"{float(x):.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- one axis


@dataclass(frozen=True)
class AxisRF:
    """The linear RF model of one spatial axis.

    `whole` marks an axis that sees the whole input (global). A global axis
    may still have a local path (an SE block multiplies a conv path by a
    global gate): then size / jump / center describe that local path;
    `size` is None when there is none.

    `reach` is the hull of the input pixels that any unit can see. It starts
    as the whole input and shrinks where a strided layer never reads the last
    pixels (a 3x3 stride-2 unpadded conv on 96 pixels reads 0..94). `valid`
    are the units that read any real input (a unit whose window holds only
    padding sees nothing). Unit o sees exactly ``interval(o) ∩ reach`` when
    it is valid, and a global unit sees ``reach``.
    """

    size: Any  # r (int | Fraction), or None
    jump: Any = 1
    center: Any = 0
    slack: Any = 0
    whole: bool = False
    reach: Any = None  # (lo, hi): the input pixels any unit of the tensor can see; None: unknown
    valid: Any = None  # (first, last) units that read any input at all; None: every unit

    def units(self, n: int) -> tuple[int, int]:
        """The valid units of a dim of n units along this axis."""
        if self.valid is None:
            return 0, n - 1
        return max(0, math.ceil(self.valid[0])), min(n - 1, math.floor(self.valid[1]))

    @property
    def is_global(self) -> bool:
        return self.whole

    @property
    def padding(self):
        """Effective padding (r-1)/2 - c (Araujo et al.)."""
        return None if self.size is None else exact(halve(self.size - 1) - self.center)

    def interval(self, unit: int) -> tuple[Any, Any] | None:
        """Input pixels [lo, hi] that unit `unit` sees through its local path (unclipped)."""
        if self.size is None:
            return None
        mid = self.center + unit * self.jump
        half = halve(self.size - 1)
        return exact(mid - half), exact(mid + half)


def hull(ax: AxisRF, n: int):
    """Input pixels that the valid units among 0..n-1 see through the local path (hull)."""
    if ax.size is None:
        return ax.reach
    lo, hi = ax.units(n)
    if lo > hi:
        return None
    half = halve(ax.size - 1)
    first, last = ax.center + lo * ax.jump, ax.center + hi * ax.jump
    if last < first:
        first, last = last, first
    return exact(first - half), exact(last + half)


def meet(a, b):
    """Intersection of two pixel ranges; None is the unknown (whole) range."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a[0], b[0]), min(a[1], b[1])


def join(values):
    """Hull of pixel ranges; None when any is unknown."""
    values = list(values)
    if any(v is None for v in values) or not values:
        return None
    return min(v[0] for v in values), max(v[1] for v in values)


def globalised(ax: AxisRF, n: int) -> AxisRF:
    """The axis after a reduction over its n units: every unit's pixels."""
    if ax.whole and ax.size is None:
        return ax
    reach = ax.reach if ax.whole else meet(ax.reach, hull(ax, n))
    return AxisRF(None, None, None, 0, True, reach)


def union_axis(cands: list) -> tuple[AxisRF, bool]:
    """Union of axis models; False when the inputs are misaligned.
    `cands` are (axis, moves): moves says the input varies along the axis."""
    first = cands[0][0]
    if all(ax == first and m == cands[0][1] for ax, m in cands[1:]):
        return first, True
    whole = any(ax.whole for ax, _ in cands)
    reach = join(ax.reach for ax, _ in cands)
    local = [(ax, m) for ax, m in cands if ax.size is not None]
    if not local:
        return AxisRF(None, None, None, 0, True, reach), True
    movers = [ax for ax, m in local if m]
    fixed = [ax for ax, m in local if not m]
    group = movers or fixed
    ok = not (movers and fixed)
    if len({ax.jump for ax in group}) > 1:
        best = max(group, key=lambda ax: ax.size)
        return AxisRF(best.size, best.jump, best.center, best.slack, whole, reach, best.valid), False
    lo = min(ax.center - halve(ax.size - 1) for ax in group)
    hi = max(ax.center + halve(ax.size - 1) for ax in group)
    ok = ok and len({ax.center for ax in group}) == 1
    valid = join(ax.valid for ax in group)
    return AxisRF(exact(hi - lo + 1), group[0].jump, exact(halve(lo + hi)), max(ax.slack for ax in group), whole, reach, valid), ok


# --------------------------------------------------------------------------- one tensor


@dataclass(frozen=True)
class TensorRF:
    """RF of one tensor: `dims[d]` is the input axis tensor dim d runs along
    (None for batch / channel / broadcast dims); `axes[a]` the model of axis a."""

    dims: tuple
    axes: tuple
    misaligned: tuple = ()

    @property
    def is_global(self) -> bool:
        return bool(self.axes) and all(a.whole for a in self.axes)

    @property
    def aligned(self) -> bool:
        return not self.misaligned

    @property
    def size(self) -> tuple:
        """RF size per axis; None for a global axis."""
        return tuple(None if a.whole else a.size for a in self.axes)

    @property
    def local_size(self) -> tuple:
        """RF size per axis through the local (non-global) paths."""
        return tuple(a.size for a in self.axes)

    @property
    def jump(self) -> tuple:
        return tuple(a.jump for a in self.axes)

    @property
    def center(self) -> tuple:
        return tuple(a.center for a in self.axes)

    @property
    def padding(self) -> tuple:
        return tuple(a.padding for a in self.axes)

    @property
    def slack(self) -> tuple:
        return tuple(a.slack for a in self.axes)

    def describe(self) -> str:
        """'212, stride 32' / '7x3, stride 2x1' / 'global' / 'global (local 75, stride 16)'."""
        local = any(a.size is not None for a in self.axes)
        if local:
            text = f"{_joined(self.local_size, '-')}, stride {_joined(self.jump, '-')}"
            if any(a.slack for a in self.axes):
                text += f" ±{_joined(self.slack, '0')}"
        if self.is_global:
            text = f"global (local {text})" if local else "global"
        elif any(a.whole for a in self.axes):
            text += f" (global along {', '.join(str(i) for i, a in enumerate(self.axes) if a.whole)})"
        if self.misaligned:
            text += ", misaligned"
        return text

    def to_dict(self) -> dict[str, Any]:
        local = [number(a.size) for a in self.axes]
        return {
            "rf": None if self.is_global else [None if a.whole else number(a.size) for a in self.axes],
            "stride": [number(a.jump) for a in self.axes],
            "center": [number(a.center) for a in self.axes],
            "padding": [number(a.padding) for a in self.axes],
            "slack": [number(a.slack) for a in self.axes],
            "global": self.is_global,
            "global_axes": [a.whole for a in self.axes],
            "reach": [None if a.reach is None else [number(a.reach[0]), number(a.reach[1])] for a in self.axes],
            "local_rf": local if any(a.whole for a in self.axes) and any(v is not None for v in local) else None,
            "aligned": self.aligned,
            "misaligned_ops": list(self.misaligned),
        }


def _joined(values: Sequence, none: str) -> str:
    """Per-axis values as one cell: '7' when they agree, else '7x3'."""
    cells = [none if v is None else fmt_number(abs(v) if none == "-" else v) for v in values]
    return cells[0] if len(set(cells)) == 1 else "x".join(cells)


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Reads:
    """Output unit o reads input units lo0 + o*step .. hi0 + o*step (the
    linear model); the exact reads are within `slack` units of it."""

    step: Any
    lo0: Any
    hi0: Any
    slack: Any = 0


def affine(step, lo0, hi0) -> Reads:
    """Exact reads: unit o reads lo0 + o*step .. hi0 + o*step."""
    return Reads(step, lo0, hi0)


def sampled(step: Fraction, exact_reads: Callable[[int], tuple[int, int]]) -> Reads:
    """The mean model of a periodic read pattern (period = step's denominator);
    `exact_reads(o)` is output unit o's (lo, hi). Units that read nothing
    (lo > hi) are left out."""
    step = Fraction(step)
    if step.denominator == 1:
        lo, hi = exact_reads(0)
        return Reads(step.numerator, lo, hi)
    los, his = [], []
    for o in range(step.denominator):
        lo, hi = exact_reads(o)
        if lo <= hi:
            los.append(lo - o * step)
            his.append(hi - o * step)
    if not los:
        return Reads(exact(step), 0, 0)
    lo0, hi0 = sum(los) / len(los), sum(his) / len(his)
    slack = max(max(abs(v - lo0) for v in los), max(abs(v - hi0) for v in his))
    return Reads(exact(step), exact(lo0), exact(hi0), exact(slack))


def transfer(axis: AxisRF, reads: Reads, n_in: int | None = None) -> AxisRF:
    """Apply one op's reads to an axis model (the local path of a global
    one); `n_in` units along the axis are read, which bounds `reach`."""
    if axis.size is None:
        return axis
    j = axis.jump
    reach, valid = axis.reach, None
    if n_in is not None and not axis.whole:
        reach = meet(axis.reach, hull(axis, n_in))
        valid = _valid_after(axis.units(n_in), reads)
    return AxisRF(
        size=exact(axis.size + (reads.hi0 - reads.lo0) * abs(j)),
        jump=exact(reads.step * j),
        center=exact(axis.center + halve(reads.lo0 + reads.hi0) * j),
        slack=exact(axis.slack + reads.slack * abs(j)) if reads.slack else axis.slack,
        whole=axis.whole,
        reach=reach,
        valid=valid,
    )


def _valid_after(units: tuple[int, int], reads: Reads):
    """Output units whose reads [lo0 + o s, hi0 + o s] meet the valid input units
    (within the slack for fractional reads)."""
    lo, hi = units
    if lo > hi:
        return (1, 0)
    s, a, b = reads.step, reads.lo0 - reads.slack, reads.hi0 + reads.slack
    if s == 0:
        return None if (a <= hi and b >= lo) else (1, 0)
    first, last = (lo - b) / Fraction(s), (hi - a) / Fraction(s)
    if s < 0:
        first, last = last, first
    return math.ceil(first), math.floor(last)
