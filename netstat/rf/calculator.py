"""The stack calculator: RF, jump, parameters and gridding of a stack of
C-to-C convolutions, with no model.

RF growth goes through the graph's convolution rule (`window_reads` and
`transfer`), on exact integers of any size up to MAX_SIZE; the gridding count
(`_positions`) works on the lattice of the dilated taps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

from netstat.errors import UsageError
from netstat.rf.model import SCHEMA_VERSION, AxisRF, halve, transfer
from netstat.rf.window import window_reads

MAX_LAYERS = 10_000
_MAX_DIGITS = 2000
MAX_SIZE = 10**_MAX_DIGITS  # the largest RF or stride per axis the calculator reports (a one-kernel RF² must print: Python prints ints up to 4,300 digits)
MAX_CHANNELS = 10**12
GRID_BITS = 1 << 24  # the widest set of positions with holes that the gridding count keeps
GRID_WORK = 1 << 30  # bit operations the gridding count may spend on such sets in all (well under a second)


@dataclass
class StackLayer:
    """Layer `index` of a stack (1-based), with cumulative figures up to it."""

    index: int
    kernel: tuple
    stride: int
    dilation: int
    rf: tuple  # per axis (h, w)
    jump: tuple
    params: int | None  # this layer, for C channels (None without C)
    cumulative_params: int | None
    params_c2: int  # weights per C^2 (kh*kw summed over the layers so far)
    single_kernel: tuple  # the one kernel with the same RF
    single_params: int | None
    single_c2: int
    plain_rf: tuple  # the same stack without dilation
    used: tuple  # input positions per axis that reach the centre output
    span: tuple

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": str(self.index),
            "type": "Conv",
            "kernel": list(self.kernel),
            "stride": list(self.jump),
            "layer_stride": self.stride,
            "dilation": self.dilation,
            "rf": list(self.rf),
            "center": [halve(r - 1) for r in self.rf],
            "global": False,
            "aligned": True,
            "params": self.params,
            "cumulative_params": self.cumulative_params,
            "weights_per_c2": self.params_c2,
            "single_kernel": list(self.single_kernel),
            "single_kernel_params": self.single_params,
            "single_kernel_weights_per_c2": self.single_c2,
            "plain_rf": list(self.plain_rf),
            "used_positions": list(self.used),
            "span": list(self.span),
        }


@dataclass
class StackResult:
    kernel: tuple
    strides: list[int]
    dilations: list[int]
    channels: int | None
    bias: bool
    layers: list[StackLayer]
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def dilated(self) -> bool:
        return any(d != 1 for d in self.dilations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": None,
            "calculator": {
                "kernel": list(self.kernel),
                "layers": len(self.layers),
                "stride": self.strides,
                "dilation": self.dilations,
                "channels": self.channels,
                "bias": self.bias,
            },
            "units": {
                "rf": "input positions per axis",
                "params": "weights (+ biases) of C-to-C convolutions; null without --channels",
                "weights_per_c2": "weights in units of C^2 (bias excluded)",
                "used_positions": "input positions per axis with a path to the centre output (gridding)",
            },
            "layers": [layer.to_dict() for layer in self.layers],
            "warnings": self.warnings,
        }


def stack(
    kernel: int | Sequence[int],
    layers: int,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    channels: int | None = None,
    bias: bool = True,
) -> StackResult:
    """A stack of `layers` C-to-C convolutions of one `kernel` (int or
    (kh, kw)), per layer: RF, jump, cumulative params, the single kernel with
    the same RF and its params, the plain (undilated) stack's RF, and the
    gridding (input positions per axis that reach the centre output).

    `stride` and `dilation` are one int for every layer or one per layer.
    Limits: `layers` up to MAX_LAYERS, RF and stride up to MAX_SIZE per axis,
    `channels` up to MAX_CHANNELS. Raises UsageError on impossible values or
    values past the limits, before any other work.
    """
    kernel, strides, dilations = _stack_args(kernel, layers, stride, dilation, channels)
    growth = _growth(kernel, strides, dilations)
    by_size = {k: _positions([(k, s, d) for s, d in zip(strides, dilations)]) for k in set(kernel)}
    grid = [by_size[k] for k in kernel]
    out = _stack_layers(kernel, strides, dilations, channels, bias, growth, grid)
    result = StackResult(kernel=kernel, strides=strides, dilations=dilations, channels=channels, bias=bias, layers=out)
    result.warnings = _gridding_warnings(result)
    return result


def _stack_args(kernel, layers, stride, dilation, channels) -> tuple[tuple, list[int], list[int]]:
    """The kernel as a tuple and the per-layer strides and dilations, checked."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if len(kernel) not in (1, 2, 3) or any((not isinstance(k, int)) or k < 1 for k in kernel):
        raise UsageError(f"The kernel must be a positive size, not {kernel if len(kernel) > 1 else kernel[0]}.")
    if not isinstance(layers, int) or layers < 1:
        raise UsageError(f"layers must be 1 or more, not {layers}.")
    if layers > MAX_LAYERS:
        raise UsageError(f"layers={layers} is more than this calculator handles ({MAX_LAYERS:,}).")
    strides = _per_layer(stride, layers, "stride")
    dilations = _per_layer(dilation, layers, "dilation")
    if channels is not None and channels < 1:
        raise UsageError(f"channels must be 1 or more, not {channels}.")
    if channels is not None and channels > MAX_CHANNELS:
        raise UsageError("channels must be at most 10^12.")
    return kernel, strides, dilations


def _per_layer(value: int | Sequence[int], layers: int, name: str) -> list[int]:
    """One int per layer from one int or a list of one or `layers` ints."""
    values = [value] * layers if isinstance(value, int) else list(value)
    if len(values) == 1 and layers > 1:
        values = values * layers
    if len(values) != layers:
        raise UsageError(f"{name} lists {len(values)} values for {layers} layers; give one value or one per layer.")
    if any((not isinstance(v, int)) or v < 1 for v in values):
        raise UsageError(f"{name} values must be positive integers, not {','.join(map(str, values))}.")
    return values


def _growth(kernel: tuple, strides: list[int], dilations: list[int]) -> list[tuple[tuple, tuple, tuple]]:
    """Per layer, the RF and jump per axis after it, and the plain (undilated)
    stack's RF: one unit seen through the graph's convolution rule,
    padding 0 (padding moves the centre, not the RF). Refuses the stack at
    the first layer whose RF or stride passes MAX_SIZE."""
    dilated = plain = {k: AxisRF(1) for k in set(kernel)}  # axes of one kernel size grow alike
    undilated = all(d == 1 for d in dilations)
    out = []
    for i, (s, d) in enumerate(zip(strides, dilations), 1):
        dilated = _conv_layer(dilated, s, d)
        plain = dilated if undilated else _conv_layer(plain, s, 1)
        if max(ax.size for ax in dilated.values()) > MAX_SIZE or dilated[kernel[0]].jump > MAX_SIZE:  # one jump for all axes
            raise UsageError(f"At layer {i} the receptive field or stride of this stack passes 10^{_MAX_DIGITS} input positions, more than this calculator handles.")
        out.append((tuple(dilated[k].size for k in kernel), tuple(dilated[k].jump for k in kernel), tuple(plain[k].size for k in kernel)))
    return out


def _conv_layer(axes: dict[int, AxisRF], stride: int, dilation: int) -> dict[int, AxisRF]:
    """Kernel size -> axis model, after one unpadded convolution."""
    return {k: transfer(ax, window_reads(k, stride, 0, dilation)) for k, ax in axes.items()}


def _stack_layers(kernel, strides, dilations, channels, bias, growth, grid) -> list[StackLayer]:
    """The cumulative figures of `stack`, layer by layer."""
    n = len(kernel)
    kk = math.prod(kernel)
    per = None if channels is None else channels * channels * kk + (channels if bias else 0)
    out, total = [], 0
    for i, (s, d, (rf, jump, plain_rf)) in enumerate(zip(strides, dilations, growth)):
        total += per or 0
        cum = None if per is None else total
        single_c2 = math.prod(rf)
        out.append(
            StackLayer(
                index=i + 1,
                kernel=kernel,
                stride=s,
                dilation=d,
                rf=rf,
                jump=jump,
                params=per,
                cumulative_params=cum,
                params_c2=kk * (i + 1),
                single_kernel=rf,
                single_params=None if channels is None else channels * channels * single_c2 + (channels if bias else 0),
                single_c2=single_c2,
                plain_rf=plain_rf,
                used=tuple(grid[a][i][0] for a in range(n)),
                span=tuple(grid[a][i][1] for a in range(n)),
            )
        )
    return out


# --------------------------------------------------------------------------- gridding


def _spread(bits: int, k: int, step: int) -> int:
    """The Minkowski sum of the bitset `bits` and {0, step, ..., (k-1) step},
    by doubling: about 2 log2(k) shifts instead of k."""
    out, offset, block, width = 0, 0, bits, 1
    while k:
        if k & 1:
            out |= block << offset
            offset += width * step
        k >>= 1
        if k:
            block |= block << (width * step)
            width *= 2
    return out


def _positions(taps: Sequence[tuple[int, int, int]], limit: int = GRID_BITS, budget: int = GRID_WORK) -> list[tuple[int | None, int | None]]:
    """For each prefix of a 1-D stack of (kernel, stride, dilation) layers:
    (input positions that reach the output unit, span). The set is the
    Minkowski sum of each layer's taps {t*d*J : 0 <= t < k} (J = jump before
    the layer), on the lattice gZ (g the gcd of the steps d*J). A set that is
    one interval is kept as its length (exact at any size); one with holes as
    a bitset, given up (None, None) past `limit` bits or `budget` bit operations."""
    steps, jump = [], 1
    for k, s, d in taps:
        steps.append(d * jump if k > 1 else 0)
        jump *= s
    g = math.gcd(*steps) or 1
    length, bits, out = 1, None, []  # the set is {0 .. length-1} while bits is None
    for (k, _, _), step in zip(taps, steps):
        step //= g
        if bits is None and step <= length:
            length += (k - 1) * step
        else:
            top = length if bits is None else bits.bit_length()
            budget -= ((k - 1) * step + top) * k.bit_length()
            if (k - 1) * step + top > limit or budget < 0:
                break
            bits = _spread((1 << length) - 1 if bits is None else bits, k, step)
            if not bits & (bits + 1):
                length, bits = bits.bit_length(), None
        count, top = (length, length) if bits is None else (bits.bit_count(), bits.bit_length())
        out.append((count, (top - 1) * g + 1))
    return out + [(None, None)] * (len(taps) - len(out))


def hdc_max_distance(rates: Sequence[int]) -> int:
    """M_2 of the hybrid dilated convolution rule (Wang et al., "Understanding
    Convolution for Semantic Segmentation", WACV 2018): M_n = r_n,
    M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i); the largest
    gap between non-zero taps after the layers; no holes needs M_2 <= K."""
    m = rates[-1]
    for r in reversed(rates[1:-1]):
        m = max(m - 2 * r, m - 2 * (m - r), r)
    return m


def rates_text(rates: Sequence[int]) -> str:
    """'1,2,5'; a long list by its ends: '1,2,5,1,2,...,5 (10,000 layers)'."""
    if len(rates) <= 12:
        return ",".join(map(str, rates))
    if len(set(rates)) == 1:
        return f"{rates[0]} (all {len(rates):,} layers)"
    return f"{','.join(map(str, rates[:5]))},...,{','.join(map(str, rates[-5:]))} ({len(rates):,} layers)"


def _gridding_warnings(result: StackResult) -> list[str]:
    """Warnings on a dilated stack: a common factor of the rates, holes in
    the RF, and the hybrid dilated convolution rule broken."""
    rates = list(result.dilations)
    if not result.dilated:
        return []
    warnings = []
    g = math.gcd(*rates) if max(result.kernel) > 1 else 1
    if g > 1:
        warnings.append(
            f"The dilation rates {rates_text(rates)} share the factor {g}: only 1 in {g} input positions per axis "
            "reaches an output unit (gridding). The hybrid dilated convolution rule asks for rates without a common factor, "
            "e.g. 1,2,5 (Wang et al. 2018)."
        )
        return warnings
    last = result.layers[-1]
    gaps = [(u, sp) for u, sp in zip(last.used, last.span) if u is not None and u < sp]
    if gaps:
        u, sp = gaps[0]
        warnings.append(f"Only {u} of the {sp} input positions per axis in the RF reach the centre output: the stack has holes (gridding).")
        m2, k = (hdc_max_distance(rates) if len(rates) >= 2 and max(result.kernel) > 1 else 0), min(result.kernel)
        if m2 > k:
            warnings.append(f"Hybrid dilated convolution rule: M_2 = {m2} > K = {k} (Wang et al. 2018).")
    return warnings
