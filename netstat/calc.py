"""The conv calculator: parameters and MAdds of one layer, with the arithmetic.

Standard conv:            (Cin/g x k x k + 1) x Cout           (+1 is the bias)
Depthwise separable:      Cin x k x k  +  Cout x (Cin x 1 x 1 + 1)
                          depthwise without bias, pointwise with bias (the
                          convention of the worked example 8 -> 16, k=3:
                          1168 vs 216)
MAdds at an H x H input:  Hout^2 x (Cin/g) x k^2 x Cout, with "same" padding
                          k // 2 and Hout = floor((H + 2p - k) / s) + 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from netstat.errors import UsageError


@dataclass(frozen=True)
class ConvLayout:
    name: str
    params: int
    params_formula: str  # the arithmetic, e.g. "(8x3x3+1)x16"
    bias_terms: str  # which terms of the formula are bias
    madds: int | None
    madds_formula: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConvCalc:
    cin: int
    cout: int
    kernel: int
    groups: int
    bias: bool
    stride: int
    size: int | None
    out_size: int | None
    layouts: list[ConvLayout]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["layouts"] = [layout.to_dict() for layout in self.layouts]
        standard = self.layouts[0].params
        data["ratios_to_standard"] = {layout.name: layout.params / standard for layout in self.layouts}
        return data


# Each argument of `conv` that must be a positive integer (None allowed for size).
_SIZES = ("cin", "cout", "kernel", "groups", "size", "stride")


def validate(cin: int, cout: int, kernel: int, groups: int = 1, size: int | None = None, stride: int = 1, names: dict[str, str] | None = None) -> None:
    """A UsageError for the first impossible argument of `conv`. The message
    names the parameter (`cin`), or `names[parameter]` when given (the CLI
    passes its flags: `--cin`)."""
    names = names or {}
    values = {"cin": cin, "cout": cout, "kernel": kernel, "groups": groups, "size": size, "stride": stride}
    for key in _SIZES:
        value = values[key]
        if value is None and key == "size":
            continue
        what = names.get(key, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{what} must be a positive integer, not {value!r}.")
        if value <= 0:
            raise UsageError(f"{what} must be a positive integer, not {value}.")
    if cin % groups or cout % groups:
        g, ci, co = (names.get(k, k) for k in ("groups", "cin", "cout"))
        raise UsageError(f"{g} {groups} must divide both {ci} {cin} and {co} {cout}.")


def conv(cin: int, cout: int, kernel: int, groups: int = 1, bias: bool = True, size: int | None = None, stride: int = 1, separable: bool = True) -> ConvCalc:
    """Standard, grouped (when groups > 1) and depthwise-separable layouts of
    one k x k conv from `cin` to `cout` channels. Raises UsageError when a
    size is not a positive integer or `groups` does not divide the channels."""
    validate(cin, cout, kernel, groups, size, stride)
    pad = kernel // 2
    out_size = None
    if size is not None:
        out_size = (size + 2 * pad - kernel) // stride + 1
        if out_size <= 0:
            raise UsageError(f"A {kernel}x{kernel} kernel at stride {stride} does not fit a {size}x{size} input.")
    plus_b = "+1" if bias else ""
    b = 1 if bias else 0
    k2 = f"{kernel}x{kernel}"
    bias_note = "the +1 per output channel" if bias else "none"

    def madds(per_output: int, per_output_text: str, channels: int) -> tuple[int | None, str | None]:
        if out_size is None:
            return None, None
        return out_size * out_size * per_output * channels, f"{out_size}x{out_size} x {per_output_text} x {channels}"

    layouts = []
    m, mt = madds(cin * kernel * kernel, f"{cin}x{k2}", cout)
    layouts.append(ConvLayout("standard", (cin * kernel * kernel + b) * cout, f"({cin}x{k2}{plus_b})x{cout}" if bias else f"{cin}x{k2}x{cout}", bias_note, m, mt))
    if groups > 1:
        per = cin // groups
        m, mt = madds(per * kernel * kernel, f"{cin}/{groups}x{k2}", cout)
        layouts.append(
            ConvLayout(f"grouped (g={groups})", (per * kernel * kernel + b) * cout, f"({cin}/{groups}x{k2}{plus_b})x{cout}" if bias else f"{cin}/{groups}x{k2}x{cout}", bias_note, m, mt)
        )
    if separable:
        dw = cin * kernel * kernel
        pw = cout * (cin + b)
        formula = f"{cin}x{k2} + {cout}x({cin}x1x1{plus_b})" if bias else f"{cin}x{k2} + {cout}x{cin}x1x1"
        sep_madds = sep_text = None
        if out_size is not None:
            hw = out_size * out_size
            sep_madds = hw * cin * kernel * kernel + hw * cin * cout
            sep_text = f"{out_size}x{out_size} x {cin}x{k2} + {out_size}x{out_size} x {cin} x {cout}"
        note = "depthwise has none; pointwise has the +1 per output channel" if bias else "none"
        layouts.append(ConvLayout("depthwise separable", dw + pw, formula, note, sep_madds, sep_text))
    return ConvCalc(cin, cout, kernel, groups, bias, stride, size, out_size, layouts)
