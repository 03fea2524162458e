"""Matrix products: mm, addmm, bmm, baddbmm (linear and matmul reach these
through views; attention's math path through bmm). The output is contiguous;
addmm's is `mm(mat1, mat2) + beta * self` laid out element-wise, as its
decomposition computes it. Operands of different dtypes or non-float ones
make the rule decline, so that the meta kernel raises its own error."""

from __future__ import annotations

from netstat.shapes._core import Layout, broadcast, contiguous, elementwise, expanded, is_meta, overloads, rule


def _floats(*tensors) -> bool:
    """All on meta, one float dtype."""
    return all(is_meta(t) for t in tensors) and len({t.dtype for t in tensors}) == 1 and tensors[0].dtype.is_floating_point


def _matrix(a, b) -> tuple[int, int] | None:
    """(n, m) of a (n, k) @ (k, m) product, None when the shapes do not chain."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return None
    return a.shape[0], b.shape[1]


def _batched(a, b) -> tuple[int, int, int] | None:
    """(B, n, m) of a (B, n, k) @ (B, k, m) product, None when the shapes do not chain."""
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        return None
    return a.shape[0], a.shape[1], b.shape[2]


@rule(*overloads("mm"))
def mm(self, mat2):
    """(n, k) @ (k, m) -> contiguous (n, m)."""
    shape = _matrix(self, mat2) if _floats(self, mat2) else None
    return None if shape is None else Layout(shape, contiguous(shape), self.dtype)


@rule(*overloads("addmm"))
def addmm(self, mat1, mat2, *, beta=1, alpha=1):
    """beta * self + alpha * (mat1 @ mat2): (n, m), self broadcast to it."""
    shape = _matrix(mat1, mat2) if _floats(self, mat1, mat2) else None
    if shape is None or broadcast(self.shape, shape) != shape:
        return None
    return Layout(shape, elementwise(shape, [contiguous(shape), expanded(self.shape, self.stride(), shape)]), self.dtype)


@rule(*overloads("bmm"))
def bmm(self, mat2):
    """(B, n, k) @ (B, k, m) -> contiguous (B, n, m)."""
    shape = _batched(self, mat2) if _floats(self, mat2) else None
    return None if shape is None else Layout(shape, contiguous(shape), self.dtype)


@rule(*overloads("baddbmm"))
def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
    """beta * self + alpha * (batch1 @ batch2): contiguous (B, n, m), self broadcast to it."""
    shape = _batched(batch1, batch2) if _floats(self, batch1, batch2) else None
    if shape is None or broadcast(self.shape, shape) != shape:
        return None
    return Layout(shape, contiguous(shape), self.dtype)

