"""The counting conventions `netstat explain` tries on each traced build.

Each convention is a number computed from one build's `Stats` (netstat's own
counts and the peers' rules on its trace), with its arithmetic and a sentence.
`steps` is how far it is from the plain count (0: the figure netstat prints):
the search ranks simpler explanations first.

Counts (params): all; without biases; without normalisation params; weights
only (conv / linear, no bias, no norm); without the classifier; with batch
norm's running statistics (Keras counts them as non-trainable params); each
layer type and top-level module, with and without biases.

Compute (MAdds / FLOPs): MAdds (conv, linear, matmul); 2 x MAdds; netstat's
FLOPs (bias adds, norms, activations, pooling, adds included); MAdds plus
netstat's FLOPs of normalisation, of normalisation + activations + pooling,
or of every other op class (`CLASS_SETS`); fvcore's, thop's and flop_counter's rules
(`netstat.crosscheck`); without the classifier; forward + backward as 3 x the
forward (the rule calflops and DeepSpeed print: backward = 2 x forward).

Memory: fp32 and fp16 weights; the activations' total and peak.

Shares ("97.7%"): each part's params or MAdds over the exact total, or over
the total rounded to 1 or 2 significant figures (a share of "about 60 M").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from netstat.explanation.space import Stats

# The op classes (netstat.crosscheck's) a counter may add to the MAdds, as
# counters do: batch norm (fvcore), + activations and pooling (ptflops'
# module hooks), every class (netstat's FLOPs of everything but the MAdds).
CLASS_SETS = {
    "normalisation": ("norm",),
    "normalisation, activations and pooling": ("norm", "activation", "softmax", "maxpool", "avgpool", "gap"),
    "normalisation, activations, pooling and element-wise ops": ("norm", "activation", "softmax", "maxpool", "avgpool", "gap", "elementwise"),
}
PEER_WORDS = {
    "fvcore": "fvcore's rules (1 per MAdd of conv / linear / matmul, + batch norm, adaptive avg pool, upsampling)",
    "thop": "thop's rules (1 per MAdd of nn.Conv / nn.Linear modules, + norm, avg pool, softmax modules; functional ops unseen)",
    "flop_counter": "torch.utils.flop_counter's rules (2 per MAdd of conv, matmul and attention; nothing else)",
}


@dataclass
class Count:
    """One convention's number on one build."""

    key: str  # stable name of the convention (to recompute it at another batch)
    kind: str  # params, madds, flops, memory, share
    value: float
    arithmetic: str
    sentence: str
    steps: int = 0


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def params_counts(s: Stats) -> list[Count]:
    p, b = s.params, s.bias
    found = [
        Count("params", "params", p, f"{p:,} params", "every parameter (netstat's params)"),
        Count("params-bias", "params", p - b, f"{p:,} - {b:,} biases", "the parameters without biases", 1),
        Count("params-norm", "params", p - s.norm, f"{p:,} - {s.norm:,} normalisation params", "the parameters without batch norm's scale and shift", 1),
        Count("params+buffers", "params", p + s.norm_buffers, f"{p:,} + {s.norm_buffers:,} running statistics",
              "the parameters and batch norm's running mean and variance (Keras counts them as non-trainable params)", 1),
    ]
    if s.weights not in (p, p - b):
        found.append(Count("weights", "params", s.weights, f"{p:,} - {p - s.weights:,} biases and normalisation params",
                           "the conv / linear weights only: no biases, no normalisation params", 1))
    head = s.classifier
    if head is not None:
        found.append(Count("params-classifier", "params", p - head.params, f"{p:,} - {head.params:,} ({head.label})", "the parameters without the classifier", 1))
    for part in s.parts:
        found.append(Count(f"part:{part.label}", "params", part.params, f"{part.params:,} params of the {part.label}", f"the params of the {part.label} only", 1))
        if part.weights != part.params:
            found.append(Count(f"part-w:{part.label}", "params", part.weights, f"{part.params:,} - {part.params - part.weights:,} biases",
                               f"the weights of the {part.label}, without their biases", 1))
    return [c for c in found if c.value > 0 and (c.key == "params" or c.value != p or c.key.startswith("part"))]


def compute_counts(s: Stats) -> list[Count]:
    m, f = s.madds, s.flops
    base = [
        Count("madds", "madds", m, f"{m:,} MAdds", "multiply-adds of conv and linear layers (netstat's MAdds; many papers' \"FLOPs\", the counters' MACs)"),
        Count("2madds", "flops", 2 * m, f"2 x {m:,} MAdds", "FLOPs as 2 per multiply-add (no bias, no other op)"),
        Count("flops", "flops", f, f"{f:,} FLOPs", "netstat's FLOPs: 2 per MAdd + bias adds, normalisation, activations, pooling and adds", 1),
    ]
    base += [Count(f"peer:{peer}", "madds" if peer != "flop_counter" else "flops", n, f"{n:,} by {peer}'s rules", PEER_WORDS[peer], 1)
             for peer, n in s.peers.items() if peer in PEER_WORDS]
    found = list(base) + _with_classes(s)
    head = s.classifier
    if head is not None and head.madds:
        found.append(Count("madds-classifier", "madds", m - head.madds, f"{m:,} - {head.madds:,} ({head.label})", "MAdds without the classifier", 1))
    for c in base:
        found.append(Count(f"train:{c.key}", c.kind, 3 * c.value, f"3 x ({c.arithmetic})",
                           f"forward + backward, the backward as 2 x the forward (calflops' and DeepSpeed's rule), of: {c.sentence}", c.steps + 1))
    return [c for c in found if c.value > 0]


def _with_classes(s: Stats) -> list[Count]:
    """MAdds plus netstat's FLOPs of each set of op classes in CLASS_SETS."""
    found, seen = [], {0}
    for words, classes in CLASS_SETS.items():
        extra = sum(s.classes[c].flops for c in classes if c in s.classes)
        if extra not in seen:
            seen.add(extra)
            found.append(Count("madds+" + words, "madds", s.madds + extra, f"{s.madds:,} MAdds + {extra:,} FLOPs of {words}",
                               f"MAdds plus netstat's FLOPs of {words}", 1))
    return found


def memory_counts(s: Stats, binary: float | None = None) -> list[Count]:
    """Bytes; with `binary` (a quote in kB / MB / GB) each also read as KiB / MiB / GiB."""
    p = s.params
    found = [
        Count("bytes-fp32", "memory", 4 * p, f"4 bytes x {p:,} params", "the weights in float32"),
        Count("bytes-fp16", "memory", 2 * p, f"2 bytes x {p:,} params", "the weights in float16", 1),
        Count("activations", "memory", s.activation_bytes, f"{s.activation_bytes:,} bytes", "every activation the forward writes, in float32"),
        Count("peak", "memory", s.peak_activation_bytes, f"{s.peak_activation_bytes:,} bytes", "the activations' peak (netstat's liveness walk)"),
    ]
    if binary:
        power = round(math.log(binary, 1.024))  # kB 1, MB 2, GB 3, TB 4
        prefix = "KMGT"[power - 1]
        found += [Count(c.key + "@binary", "memory", c.value / binary, f"({c.arithmetic}) / 1.024^{power}",
                        f"{c.sentence}, in {prefix}iB written as {prefix}B", c.steps + 1) for c in list(found)]
    return found


def _rounded(x: int, figures: int) -> float:
    return float(round(x, figures - 1 - int(math.floor(math.log10(x)))))


def share_counts(s: Stats, kinds: tuple[str, ...]) -> list[Count]:
    """Each part's share of the model's params or MAdds, over the exact and the rounded totals."""
    found = []
    for kind in kinds:
        total = s.params if kind == "params" else s.madds
        if not total:
            continue
        wholes = [(total, f"{total:,}", "the exact total", 1)] + [
            (_rounded(total, k), _n(_rounded(total, k)), f"the total rounded to {k} significant figure{'s' if k > 1 else ''}", 2) for k in (1, 2)]
        for part in s.parts:
            values = [(part.params if kind == "params" else part.madds, "")]
            if kind == "params" and part.weights != part.params:
                values.append((part.weights, " without biases"))
            for (num, what), (whole, whole_text, whole_words, steps) in itertools.product(values, wholes):
                if num:
                    found.append(Count(f"share:{kind}:{part.label}{what}:{whole_words}", "share", num / whole,
                                       f"{num:,} / {whole_text}", f"the {kind} of the {part.label}{what} over {whole_words} ({whole_text})",
                                       steps))
    return found
