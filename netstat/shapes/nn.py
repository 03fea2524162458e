"""Layers: convolution, batch / layer / group norm, pooling, adaptive
pooling, upsampling, softmax.

Their meta kernels pick the output's memory format from the input's; these
rules take only inputs with row-major strides (what every traced CNN and ViT
feeds them) and give row-major outputs. Batch norm's output is laid out
element-wise from its input and layer norm's like `input.contiguous()`, as
their decompositions compute them, whatever the input's layout. Arguments the
op would reject (a channel mismatch, an empty output) make a rule decline,
so that the meta kernel raises its own error."""

from __future__ import annotations

import torch

from netstat.shapes._core import Layout, computation_dtype, contiguous, elementwise, expanded, is_canonical, is_contiguous, is_dense, is_meta, overloads, rule


def _input(t, *ranks: int) -> bool:
    """A non-empty float meta tensor of one of `ranks`, with exactly row-major strides."""
    return is_meta(t) and t.dtype.is_floating_point and t.dim() in ranks and 0 not in t.shape and is_canonical(t.shape, t.stride())


def _fresh(shape, dtype) -> Layout | None:
    """A contiguous output; None for no shape or an empty one (the meta kernel says why)."""
    if shape is None or not all(s > 0 for s in shape):
        return None
    return Layout(tuple(shape), contiguous(shape), dtype)


def _per_dim(values, n: int) -> tuple[int, ...] | None:
    """A per-spatial-dim parameter: one value for all dims, or one per dim."""
    values = [values] if isinstance(values, int) else list(values)
    if len(values) == 1:
        return tuple(values) * n
    return tuple(values) if len(values) == n else None


def _vector(t, n: int) -> bool:
    """None, or a meta tensor of shape (n,)."""
    return t is None or (is_meta(t) and tuple(t.shape) == (n,))


# -- convolution ---------------------------------------------------------------


@rule(*overloads("convolution"))
def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """N x C x spatial; each spatial size from the conv (or transposed conv) formula."""
    n = input.dim() - 2
    if not (_input(input, 3, 4, 5) and _input(weight, input.dim()) and weight.dtype == input.dtype and groups > 0):
        return None
    params = [_per_dim(p, n) for p in (stride, padding, dilation, output_padding if transposed else [0])]
    if None in params or not all(_conv_params_ok(*(p[i] for p in params)) for i in range(n)):
        return None
    cout = weight.shape[1] * groups if transposed else weight.shape[0]
    cin = weight.shape[0] if transposed else weight.shape[1] * groups
    if input.shape[1] != cin or cin % groups or cout % groups or not _vector(bias, cout) or (bias is not None and bias.dtype != input.dtype):
        return None
    spatial = [_conv_size(input.shape[2 + i], weight.shape[2 + i], *(p[i] for p in params), transposed) for i in range(n)]
    return _fresh((input.shape[0], cout, *spatial), input.dtype)


def _conv_params_ok(stride: int, pad: int, dilation: int, out_pad: int) -> bool:
    """What the convolution accepts: positive stride and dilation, an output padding below either."""
    return stride > 0 and dilation > 0 and pad >= 0 and 0 <= out_pad < max(stride, dilation)


def _conv_size(size: int, k: int, stride: int, pad: int, dilation: int, out_pad: int, transposed: bool) -> int:
    """One output size of a convolution (or transposed convolution)."""
    if transposed:
        return (size - 1) * stride - 2 * pad + dilation * (k - 1) + out_pad + 1
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


# -- normalisation ---------------------------------------------------------------


def batch_norm(input, weight, bias, running_mean, running_var, training: bool):
    """(out, save_mean, save_invstd): out laid out element-wise from the input
    (input - mean) * invstd * weight + bias, the statistics (C,) in the
    computation dtype."""
    if not (is_meta(input) and input.dtype.is_floating_point and input.dim() >= 2):
        return None
    shape, c = tuple(input.shape), input.shape[1]
    if not all(_vector(t, c) for t in (weight, bias, running_mean, running_var)):
        return None
    if training and input.numel() // max(c, 1) < 2:
        return None  # the kernel rejects a batch of one value per channel
    if not training and (running_mean is None or running_var is None or not is_dense(running_mean.shape, running_mean.stride())):
        return None
    stat = expanded((c,) + (1,) * (input.dim() - 2), (1,) * (input.dim() - 1), shape)
    strides = tuple(input.stride())
    for _ in range(2 + (weight is not None) + (bias is not None)):  # - mean, * invstd, * weight, + bias
        strides = elementwise(shape, [strides, stat])
    dtype = computation_dtype(input.dtype)
    mean = Layout((c,), tuple(running_mean.stride()), dtype) if not training else Layout((c,), (1,), dtype)
    return Layout(shape, strides, input.dtype), mean, Layout((c,), (1,), dtype)


@rule(*overloads("native_batch_norm", "_native_batch_norm_legit"))
def native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps):
    """Batch norm with running statistics (used in eval, updated in training)."""
    return batch_norm(input, weight, bias, running_mean, running_var, training)


@rule(*overloads("_native_batch_norm_legit_no_training"))
def batch_norm_no_training(input, weight, bias, running_mean, running_var, momentum, eps):
    """Eval-mode batch norm."""
    return batch_norm(input, weight, bias, running_mean, running_var, False)


@rule(*overloads("_native_batch_norm_legit.no_stats"))
def batch_norm_no_stats(input, weight, bias, training, momentum, eps):
    """Batch norm without running statistics: always the batch's own."""
    return batch_norm(input, weight, bias, None, None, True) if training else None


@rule(*overloads("native_layer_norm"))
def native_layer_norm(input, normalized_shape, weight, bias, eps):
    """(out, mean, rstd): out like `input.contiguous()` (the input's strides
    when it is contiguous), the statistics keep the leading dims with 1 for
    each normalised one."""
    normalized = tuple(normalized_shape)
    axis = input.dim() - len(normalized)
    if not (is_meta(input) and input.dtype.is_floating_point and axis >= 0 and tuple(input.shape[axis:]) == normalized):
        return None
    if not all(t is None or (is_meta(t) and tuple(t.shape) == normalized) for t in (weight, bias)):
        return None
    stats = _fresh((*input.shape[:axis], *(1,) * len(normalized)), computation_dtype(input.dtype))
    if stats is None or 0 in input.shape:
        return None
    strides = tuple(input.stride()) if is_contiguous(input.shape, input.stride()) else contiguous(input.shape)
    return Layout(tuple(input.shape), strides, input.dtype), stats, stats


@rule(*overloads("native_group_norm"))
def native_group_norm(input, weight, bias, N, C, HxW, group, eps):
    """(out, mean, rstd): out like the (contiguous) input, the statistics (N, group)."""
    if not (_input(input, 2, 3, 4, 5) and input.shape[0] == N and input.shape[1] == C and group > 0 and C % group == 0):
        return None
    if not (_vector(weight, C) and _vector(bias, C)):
        return None
    out, stats = _fresh(input.shape, input.dtype), _fresh((N, group), input.dtype)
    return None if out is None or stats is None else (out, stats, stats)


# -- pooling and resampling ---------------------------------------------------------


def _pooled(size: int, k: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """One output size of a pooling window; 0 for arguments the op rejects."""
    if k <= 0 or stride <= 0 or dilation <= 0 or pad < 0 or pad > (dilation * (k - 1) + 1) // 2:
        return 0
    out = (size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_shape(input, kernel_size, stride, padding, dilation, ceil_mode) -> tuple[int, ...] | None:
    """The output shape of a 2-d pooling of a (C, H, W) or (N, C, H, W) input."""
    kernel, strides, pads, dilations = (_per_dim(p, 2) for p in (kernel_size, stride or kernel_size, padding, dilation))
    if kernel is None or strides is None or pads is None or dilations is None or not _input(input, 3, 4):
        return None
    spatial = [_pooled(input.shape[-2 + i], kernel[i], strides[i], pads[i], dilations[i], ceil_mode) for i in range(2)]
    return (*input.shape[:-2], *spatial)


@rule(*overloads("max_pool2d_with_indices"))
def max_pool2d_with_indices(self, kernel_size, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    """(out, indices): the pooled shape, indices int64."""
    shape = _pool_shape(self, kernel_size, stride, padding, dilation, ceil_mode)
    out = None if shape is None else _fresh(shape, self.dtype)
    return None if out is None else (out, Layout(out.shape, out.stride, torch.int64))


@rule(*overloads("avg_pool2d"))
def avg_pool2d(self, kernel_size, stride=(), padding=(0,), ceil_mode=False, count_include_pad=True, divisor_override=None):
    """The pooled shape."""
    if divisor_override is not None and divisor_override == 0:
        return None
    shape = _pool_shape(self, kernel_size, stride, padding, (1,), ceil_mode)
    return None if shape is None else _fresh(shape, self.dtype)


def _resized(input, output_size, ndim: int) -> tuple[int, ...] | None:
    """(N, C, *output_size) of an input with `ndim` spatial dims (or without N for adaptive pooling)."""
    size = _per_dim(output_size, ndim)
    return None if size is None else (*input.shape[:-ndim], *size)


@rule(*overloads("_adaptive_avg_pool2d"))
def adaptive_avg_pool2d(self, output_size):
    """(..., C, *output_size)."""
    shape = _resized(self, output_size, 2) if _input(self, 3, 4) else None
    return None if shape is None else _fresh(shape, self.dtype)


@rule(*overloads("adaptive_max_pool2d"))
def adaptive_max_pool2d(self, output_size):
    """(out, indices): (..., C, *output_size), indices int64."""
    shape = _resized(self, output_size, 2) if _input(self, 3, 4) else None
    out = None if shape is None else _fresh(shape, self.dtype)
    return None if out is None else (out, Layout(out.shape, out.stride, torch.int64))


@rule(*overloads("upsample_nearest1d", "upsample_linear1d"))
def upsample_1d(self, output_size, *args, **kwargs):
    """(N, C, L_out)."""
    return _fresh(_resized(self, output_size, 1), self.dtype) if _input(self, 3) and len(output_size) == 1 else None


@rule(*overloads("upsample_nearest2d", "upsample_bilinear2d", "upsample_bicubic2d", "_upsample_nearest_exact2d"))
def upsample_2d(self, output_size, *args, **kwargs):
    """(N, C, H_out, W_out)."""
    return _fresh(_resized(self, output_size, 2), self.dtype) if _input(self, 4) and len(output_size) == 2 else None


@rule(*overloads("upsample_nearest3d", "upsample_trilinear3d"))
def upsample_3d(self, output_size, *args, **kwargs):
    """(N, C, D_out, H_out, W_out)."""
    return _fresh(_resized(self, output_size, 3), self.dtype) if _input(self, 5) and len(output_size) == 3 else None


@rule(*overloads("max_unpool2d"))
def max_unpool2d(self, indices, output_size):
    """(..., C, *output_size), from the pooled values and their int64 indices."""
    if not (_input(self, 3, 4) and is_meta(indices) and indices.dtype == torch.int64 and tuple(indices.shape) == tuple(self.shape)):
        return None
    shape = _resized(self, output_size, 2)
    return None if shape is None else _fresh(shape, self.dtype)


# -- softmax --------------------------------------------------------------------------


def _softmax(self, dim: int, dtype: torch.dtype) -> Layout | None:
    """The input's shape in `dtype`."""
    if not _input(self, *range(1, 9)) or not -self.dim() <= dim < self.dim():
        return None
    return _fresh(self.shape, dtype)


@rule(*overloads("_softmax", "_log_softmax"))
def softmax(self, dim, half_to_float):
    """Softmax along `dim`; a half input may ask for a float output."""
    if half_to_float and self.dtype != torch.float16:
        return None
    return _softmax(self, dim, torch.float32 if half_to_float else self.dtype)


@rule(*overloads("_safe_softmax"))
def safe_softmax(self, dim, dtype=None):
    """Softmax that gives 0 for a fully masked row (attention's math path)."""
    return _softmax(self, dim, dtype or self.dtype)
