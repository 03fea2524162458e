"""The reads of one convolution or pooling window along one axis, shared by
the graph's convolution and pooling rules (`netstat.rf.rules.windows`) and
the stack calculator (`netstat.rf.calculator`).

Torch-free (only `netstat.rf.model`), so that `netstat rf` without a model
starts without importing torch.
"""

from __future__ import annotations

from netstat.rf.model import Reads, affine


def window_reads(kernel: int, stride: int, padding: int, dilation: int) -> Reads:
    """One axis of a convolution or pooling window: output o reads input units
    o*stride - padding .. o*stride - padding + dilation*(kernel - 1)."""
    return affine(stride, -padding, -padding + dilation * (kernel - 1))
