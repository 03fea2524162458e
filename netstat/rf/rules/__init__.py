"""Transfer rules: one table, `RULES`, keyed by aten op packet name.

A rule maps an op's input states to its outputs' (see `netstat.rf.propagate`).
The rules live by kind: `windows` (conv, pooling, upsampling: ops that read a
window per unit), `layout` (padding, slicing, views, permutes, normalisation:
units move but do not mix) and `mixing` (reductions, attention, matmul, cat,
stack: units mix). Importing this package registers all of them.
"""

from netstat.rf.rules import layout, mixing, windows  # noqa: F401  (each registers its rules in RULES)
from netstat.rf.rules.table import POINTWISE, RULES, base_name, find_rule, rule
from netstat.rf.rules.windows import transposed_reads, window_reads

__all__ = ["POINTWISE", "RULES", "base_name", "find_rule", "rule", "transposed_reads", "window_reads"]
