"""The one table of op kinds: every aten op netstat knows, by what it does.

Four analyses read their op lists from here, so that an op is known to all of
them or to none (tests/test_ops.py):

- `netstat.formulas` registers each op's cost: per kind for the uniform ones
  (a constant per element for `activation` / `elementwise`, zero for the
  `ZERO_FLOP` kinds) and one formula per op or op family for the rest;
- `netstat.rf.rules`: an op with a rule of its own uses it; otherwise its
  kind's `RF_DEFAULT` applies (element-wise, or *opaque*: treated as
  element-wise when it keeps the shape, else as global, and named in a note);
- `netstat.crosscheck` groups ops into the classes its explanation uses: the
  kinds that are classes there (`convolution`, `attention`, ...); the rest is
  data movement;
- `netstat.erf.linearise` turns the `LINEARISED_AWAY` kinds into the identity.

Names are aten op packets, out-of-place (`relu`; `relu_` is the same kind). An
op this torch build lacks is skipped where packets are looked up. Ops of
other libraries (`torchvision::nms`, `quantized::conv2d`) have formulas in
`netstat.formulas.NAMED_FORMULAS` and no RF rule; they are not listed here.
No torch import: the table is data.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    # The MAdds: products of tensors.
    "conv": "convolution _convolution convolution_overrideable cudnn_convolution mkldnn_convolution _slow_conv2d_forward thnn_conv2d",
    "matmul": "mm addmm bmm baddbmm addbmm addmv _addmm_activation linear matmul dot vdot mv",
    "attention": """
        scaled_dot_product_attention _scaled_dot_product_attention_math _scaled_dot_product_flash_attention
        _scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_efficient_attention
        _scaled_dot_product_cudnn_attention _scaled_dot_product_fused_attention_overrideable _native_multi_head_attention
        """,
    "recurrent": "mkldnn_rnn_layer",
    # Normalisation, activation and element-wise arithmetic.
    "norm": """
        native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training _native_batch_norm_legit_functional
        _batch_norm_with_update _batch_norm_no_update _batch_norm_impl_index cudnn_batch_norm miopen_batch_norm batch_norm
        native_layer_norm layer_norm native_group_norm group_norm instance_norm rms_norm _fused_rms_norm
        """,
    "activation": """
        relu relu6 threshold clamp clamp_min clamp_max clip hardtanh leaky_relu elu celu selu sigmoid log_sigmoid tanh
        hardsigmoid hardswish silu mish softplus gelu prelu _prelu_kernel rrelu_with_noise hardshrink softshrink
        """,
    "elementwise": """
        add sub rsub mul div neg reciprocal pow sqrt rsqrt exp exp2 expm1 log log2 log10 log1p abs absolute square
        maximum minimum addcmul addcdiv lerp xlogy sgn sign eq ne gt ge lt le isinf isnan floor ceil round trunc frac
        remainder fmod sin cos tan asin acos atan atan2 sinh cosh erf erfc
        """,
    "softmax": "_softmax _log_softmax _safe_softmax softmax log_softmax special_softmax",
    # Pooling, reductions and resampling.
    "maxpool": """
        max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices max_pool3d_with_indices
        _max_pool2d mkldnn_max_pool2d quantized_max_pool1d quantized_max_pool2d quantized_max_pool3d
        adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
        """,
    "avgpool": "avg_pool1d avg_pool2d avg_pool3d lp_pool2d",
    "gap": "_adaptive_avg_pool1d adaptive_avg_pool1d _adaptive_avg_pool2d adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_avg_pool3d",
    "reduction": """
        sum nansum mean nanmean amax amin max min aminmax prod logsumexp var var_mean std std_mean linalg_vector_norm norm
        median nanmedian mode kthvalue count_nonzero
        """,
    "scan": "cumsum cumprod cummax cummin logcumsumexp",
    "interp": """
        upsample_linear1d upsample_bilinear2d _upsample_bilinear2d_aa upsample_trilinear3d upsample_bicubic2d
        _upsample_bicubic2d_aa grid_sampler grid_sampler_2d
        """,
    "nearest": """
        upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d _upsample_nearest_exact2d
        _upsample_nearest_exact3d max_unpool2d max_unpool3d
        """,
    # No arithmetic: layout, copies, creation, logic, selection.
    "layout": """
        view _unsafe_view unsafe_view reshape _reshape_alias _reshape_alias_copy _reshape_copy view_copy flatten unflatten
        t t_copy transpose transpose_copy swapaxes swapdims permute permute_copy expand expand_as expand_copy broadcast_to
        unsqueeze unsqueeze_copy squeeze squeeze_copy select slice narrow split split_with_sizes unsafe_split
        unsafe_split_with_sizes chunk unsafe_chunk tensor_split unbind cat _cat concat concatenate stack
        constant_pad_nd pad _pad_circular _pad_enum circular_pad2d reflection_pad1d reflection_pad2d reflection_pad3d
        replication_pad1d replication_pad2d replication_pad3d roll flip pixel_shuffle pixel_unshuffle
        index index_select gather take_along_dim embedding copy alias detach clone contiguous _to_copy _conj conj
        _neg_view positive resolve_conj resolve_neg lift_fresh lift_fresh_copy
        """,
    "dropout": "dropout native_dropout feature_dropout alpha_dropout feature_alpha_dropout",
    "creation": """
        empty empty_like empty_strided zeros zeros_like ones ones_like full full_like new_zeros new_empty new_ones
        new_full new_empty_strided fill zero arange linspace logspace scalar_tensor _local_scalar_dense
        _shape_as_tensor sym_size sym_numel bernoulli normal uniform rand_like randn_like randint_like
        _empty_affine_quantized _empty_per_channel_affine_quantized q_scale q_zero_point q_per_channel_scales
        q_per_channel_zero_points q_per_channel_axis
        """,
    "logic": """
        bitwise_and bitwise_or bitwise_xor bitwise_not logical_and logical_or logical_not logical_xor where masked_fill
        all any int_repr tril triu
        """,
    "selection": "sort topk argsort argmax argmin",
    "quantize": "quantize_per_tensor quantize_per_channel quantize_per_tensor_dynamic dequantize quantized_batch_norm",
    # Ops whose receptive field netstat does not model exactly (index arithmetic,
    # data-dependent shapes, arbitrary strides): no FLOPs, an opaque RF.
    "opaque": """
        as_strided diagonal movedim moveaxis view_as view_as_real view_as_complex real imag repeat tile unfold im2col
        col2im channel_shuffle native_channel_shuffle index_fill index_put masked_scatter masked_select scatter nonzero
        _unique2 unique_dim unique_consecutive meshgrid bucketize searchsorted
        """,
    # A training step's backward ops (their formulas: netstat.formulas.backward) and torch.optim's
    # record_function bookkeeping; they never appear in a forward trace.
    "backward": """
        convolution_backward native_batch_norm_backward native_layer_norm_backward native_group_norm_backward
        threshold_backward hardtanh_backward leaky_relu_backward elu_backward sigmoid_backward tanh_backward
        silu_backward hardswish_backward hardsigmoid_backward mish_backward softplus_backward native_dropout_backward
        _softmax_backward_data _log_softmax_backward_data gelu_backward max_pool2d_with_indices_backward
        max_pool3d_with_indices_backward avg_pool2d_backward avg_pool3d_backward _adaptive_avg_pool2d_backward
        _adaptive_avg_pool3d_backward upsample_linear1d_backward upsample_bilinear2d_backward
        _upsample_bilinear2d_aa_backward upsample_trilinear3d_backward upsample_bicubic2d_backward
        _upsample_bicubic2d_aa_backward upsample_nearest1d_backward upsample_nearest2d_backward
        upsample_nearest3d_backward _upsample_nearest_exact1d_backward _upsample_nearest_exact2d_backward
        _upsample_nearest_exact3d_backward index_add embedding_dense_backward select_backward slice_backward
        as_strided_scatter select_scatter slice_scatter diagonal_backward _record_function_enter_new
        _record_function_exit
        """,
}

# Kinds that cost no FLOPs (their bytes still count as memory access).
ZERO_FLOP = ("layout", "dropout", "creation", "logic", "selection", "opaque", "nearest")

# What an op without an RF rule of its own does to the receptive field, by
# kind; a kind not listed here needs a rule for every op (tests/test_ops.py).
RF_DEFAULT: dict[str, str] = {
    "activation": "pointwise",
    "elementwise": "pointwise",
    "logic": "pointwise",
    "quantize": "pointwise",
    "dropout": "pointwise",
    "recurrent": "opaque",
    "interp": "opaque",  # antialiased resampling and grid_sample read windows netstat does not model
    "opaque": "opaque",
    "backward": "opaque",
}

# Kinds the linearised copy of `netstat.erf` replaces by the identity.
LINEARISED_AWAY = ("activation", "norm", "softmax", "dropout")

_KIND_OF: dict[str, str] = {name: kind for kind, text in KINDS.items() for name in text.split()}


def names(*kinds: str) -> tuple[str, ...]:
    """The op names of `kinds`, in table order."""
    return tuple(name for kind in kinds for name in KINDS[kind].split())


def base_name(name: str) -> str:
    """The out-of-place op of an in-place one: 'relu_' -> 'relu' ('_softmax' stays)."""
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def kind_of(name: str) -> str | None:
    """The kind of an op packet name (in-place forms included); None when it is not in the table."""
    return _KIND_OF.get(name) or _KIND_OF.get(base_name(name))


def rf_default(name: str) -> str | None:
    """'pointwise' or 'opaque' for an op that has no RF rule of its own; None when it must have one."""
    kind = kind_of(name)
    return RF_DEFAULT.get(kind) if kind is not None else None
