"""The receptive field measured by gradients: a check of the analytic RF, and
the effective RF (DESIGN §4).

* `verify` (`netstat.erf.verification`): back-propagate from one output unit at the
  centre of each layer's output to the input of a linearised copy of the
  model (`netstat.erf.linearise`), and compare the extent of the non-zero
  input gradient with the analytic interval of that unit; each axis on a thin
  strip input (`netstat.erf.strips`), many probes to a pass
  (`netstat.erf.probes`).
* `effective_rf` (`netstat.erf.effective`): the effective RF of Luo et al.
  (NeurIPS 2016), the mean |gradient| of one centre unit of the randomly
  initialised network over seeds, with its 50% / 95% mass radii.

Both run the model through `netstat.erf.capture` (hooks keyed by module path
and call number) and return the types of `netstat.erf.result`. They
differentiate with respect to the forward's first input, the one the RF is
measured on (a floating-point tensor with spatial dims, else they refuse in
one sentence), holding every other input fixed (`capture.Feed`); they run in
netstat's own modes (`netstat.isolation.own_modes`), so the caller's
inference mode, no_grad and RNG state do not matter and are kept.
"""

from netstat.erf.effective import effective_rf, mass_radii
from netstat.erf.linearise import fill_weights, linearised
from netstat.erf.result import AxisCheck, ERFResult, VerifyResult, VerifyRow
from netstat.erf.verification import verify

__all__ = [
    "verify",
    "effective_rf",
    "linearised",
    "fill_weights",
    "mass_radii",
    "VerifyResult",
    "VerifyRow",
    "AxisCheck",
    "ERFResult",
]
