"""Every registered model, held to independent sources.

- MAdds against `torch.utils.flop_counter.FlopCounterMode` (its conv/matmul
  FLOPs are 2 x MAdds and leave out bias, BN and activations, as ours do);
- params against fvcore's `parameter_count`;
- layer-for-layer equality with torchvision's own model where it has one;
- the paper's published params / MAdds within the ModelSpec's tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import HAS_TORCHVISION, torchvision_builder
from netstat.zoo import all_specs, get_model

SPECS = all_specs()
IDS = [s.name for s in SPECS]


def flop_counter_madds(model: torch.nn.Module, shape) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device="meta"))
    return counter.get_total_flops() // 2


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_torchvision(spec):
    kwargs = {"weights": None, **spec.torchvision_kwargs}
    with torch.device("meta"):
        return torchvision_builder(spec.torchvision)(**kwargs).eval()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_complete(spec):
    assert spec.family and spec.paper and 1980 < spec.year < 2030
    assert len(spec.input_shape) == 4 and spec.input_shape[0] == 1
    assert spec.published is not None, "every model cites its paper's numbers"
    assert spec.published.source
    loose = spec.published.rtol_params > 0.02 or spec.published.rtol_madds > 0.02
    assert not loose or spec.published.note, "a tolerance above 2% needs a one-line reason"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_params_equal_fvcore(spec):
    from fvcore.nn import parameter_count

    model = get_model(spec.name, device="meta")
    assert parameter_count(model)[""] == n_params(model)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.torchvision], ids=[s.name for s in SPECS if s.torchvision])
@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not installed")
def test_equals_torchvision(spec):
    ours = get_model(spec.name, device="meta")
    theirs = build_torchvision(spec)
    ours_sd = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    theirs_sd = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours_sd == theirs_sd
    assert n_params(ours) == n_params(theirs)
    assert flop_counter_madds(ours, spec.input_shape) == flop_counter_madds(theirs, spec.input_shape)


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.name}[{s.published.source if s.published else '-'}]" for s in SPECS])
def test_published_numbers(spec):
    pub = spec.published
    model = get_model(spec.name, device="meta")
    if pub.params is not None:
        got = n_params(model)
        assert abs(got - pub.params) <= pub.rtol_params * pub.params, f"params {got:,} vs paper {pub.params:,.0f}"
    if pub.madds is not None:
        got = flop_counter_madds(model, spec.input_shape)
        assert abs(got - pub.madds) <= pub.rtol_madds * pub.madds, f"MAdds {got:,} vs paper {pub.madds:,.0f}"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_netstat_counts_equal_independent_tools(spec):
    """netstat's own trace against FlopCounterMode (MAdds) and fvcore (params)."""
    from fvcore.nn import parameter_count

    import netstat

    p = netstat.profile(spec.name)
    model = get_model(spec.name, device="meta")
    assert p.uncounted_ops == {}
    assert p.notes == [] and p.device == "meta"
    assert p.totals["madds"] == flop_counter_madds(model, spec.input_shape)
    assert p.totals["params"] == parameter_count(model)[""]


# Nets whose classifier flattens a fixed-size feature map into a Linear layer:
# only the batch size can change.
FIXED_INPUT = {"lenet5", "fractalnet", "yolo_v1", "zfnet"}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_second_input_size(spec):
    import netstat

    n, c, h, w = spec.input_shape
    shape = (2, c, h, w) if spec.name in FIXED_INPUT else (2, c, h + 32, w + 32)
    p = netstat.profile(spec.name, input_size=shape)
    assert p.totals["madds"] == flop_counter_madds(get_model(spec.name, device="meta"), shape)
    if spec.name in FIXED_INPUT:
        assert p.totals["madds"] == 2 * netstat.profile(spec.name).totals["madds"]
