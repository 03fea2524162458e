"""The one table of op kinds (netstat.ops) is what every analysis reads: an
op in it has a cost formula and an RF rule (its own or its kind's default),
and no formula, rule or cross-check class names an op missing from it."""

from __future__ import annotations

import pytest
import torch

from netstat import crosscheck, formulas, ops
from netstat.erf import linearise
from netstat.rf.rules import POINTWISE, RULES, find_rule

aten = torch.ops.aten
IN_THIS_TORCH = [name for kind in ops.KINDS for name in ops.names(kind) if hasattr(aten, name)]


def test_no_op_is_of_two_kinds():
    every = [name for kind in ops.KINDS for name in ops.names(kind)]
    assert len(every) == len(set(every)), sorted({n for n in every if every.count(n) > 1})


@pytest.mark.parametrize("name", IN_THIS_TORCH)
def test_every_op_in_the_table_has_a_cost_formula_and_an_rf_rule(name):
    assert getattr(aten, name) in formulas.FORMULAS, f"aten.{name} ({ops.kind_of(name)}) has no cost formula"
    assert find_rule(name) is not None or ops.rf_default(name) is not None, f"aten.{name} ({ops.kind_of(name)}) has no RF rule"


def test_every_formula_and_every_rf_rule_is_of_an_op_in_the_table():
    formula_ops = {ops.base_name(packet.__name__) for packet in formulas.FORMULAS}
    assert sorted(n for n in formula_ops if ops.kind_of(n) is None) == []
    assert sorted(n for n in RULES if ops.kind_of(n) is None) == []
    assert POINTWISE <= set(ops.names(*ops.KINDS))


def test_in_place_forms_share_their_ops_formula():
    for name in IN_THIS_TORCH:
        if hasattr(aten, name + "_"):
            assert formulas.FORMULAS.get(getattr(aten, name + "_")) is formulas.FORMULAS[getattr(aten, name)], name


def test_the_crosscheck_classes_are_the_tables_kinds():
    assert crosscheck.op_class_of("convolution") == "conv" and crosscheck.op_class_of("addmv") == "matmul"
    assert crosscheck.op_class_of("relu_") == "activation" and crosscheck.op_class_of("eq") == "elementwise"
    assert crosscheck.op_class_of("view") is None  # data movement
    for name in IN_THIS_TORCH:
        cls = crosscheck.op_class_of(name)
        assert cls is None or cls == ops.kind_of(name)


def test_the_linearised_copy_removes_the_tables_activations_norms_and_softmax():
    identity = {name for name, (kind, _) in linearise.OPS.items() if kind == "identity"}
    for name in ("relu", "relu6", "gelu", "hardswish", "batch_norm", "layer_norm", "rms_norm", "softmax", "dropout"):
        assert name in identity and ops.kind_of(name) in ops.LINEARISED_AWAY
    assert not identity & set(ops.names("conv", "elementwise", "maxpool"))


def test_each_elementwise_op_has_its_flops_per_element_written_down():
    for name in ops.names("activation", "elementwise", "softmax"):
        assert name in formulas.FLOPS_PER_ELEMENT, name
