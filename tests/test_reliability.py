"""A profile never changes or loses the user's model (issue 11).

Random small models with the awkward things users' models have -- a submodule
under two names, tied weights, buffers and plain attributes updated in
forward, a user's own hooks, train/eval mixes, a value-dependent branch (meta
falls back to CPU) and forwards that raise -- go through every public API on
every device this machine has. Afterwards the model must be exactly as before:
state_dict bit for bit, the same parameter and buffer objects with their type,
device and requires_grad, the same training flags, hooks and attributes.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netstat
from netstat.errors import NetstatError

DEVICES = ["meta", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
OUTSIDE: list = []  # state outside the model that a user's hook reaches
CALLER_MODES = {"plain": torch.enable_grad, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}
SIZE = 12


class Probe(nn.Module):
    """A backbone of same-width 3x3 convs with optional awkward features."""

    def __init__(self, width, blocks, alias, tie, count, branch, raises):
        super().__init__()
        layers = []
        for bn in blocks:
            layers += [nn.Conv2d(width, width, 3, padding=1)] + ([nn.BatchNorm2d(width)] if bn else []) + [nn.ReLU()]
        self.backbone = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), *layers)
        if alias:
            self.encoder = self.backbone  # a convenience reference: one module, two names
        convs = [m for m in self.backbone if isinstance(m, nn.Conv2d)][1:]
        if tie and len(convs) >= 2:
            convs[1].weight = convs[0].weight
        self.head = nn.Linear(width, 4)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self.count, self.branch, self.raises = count, branch, raises
        self.seen = 0  # a plain attribute a forward updates
        self.acts: dict = {}  # what a user's feature hook fills

    def forward(self, x):
        x = (self.encoder if hasattr(self, "encoder") else self.backbone)(x)
        if self.count:
            self.calls += 1
            self.seen += 1
        if self.branch and x.sum() > 0:  # needs values: meta falls back to CPU
            x = x * 2
        if self.raises:
            raise ValueError("this forward always fails")
        return self.head(x.mean((2, 3)))


@st.composite
def probes(draw):
    model = Probe(
        width=draw(st.integers(2, 6)),
        blocks=draw(st.lists(st.booleans(), min_size=1, max_size=3)),
        alias=draw(st.booleans()),
        tie=draw(st.booleans()),
        count=draw(st.booleans()),
        branch=draw(st.booleans()),
        raises=draw(st.booleans()),
    )
    model.train(draw(st.booleans()))
    for m in model.modules():
        if draw(st.booleans()):
            m.training = not m.training
    if draw(st.booleans()):
        model.backbone[0].register_forward_hook(lambda mod, inp, out: None)
    if draw(st.booleans()):  # a feature-extraction hook closing over the model and outside state
        model.backbone[0].register_forward_hook(lambda mod, inp, out: (OUTSIDE.append(out), model.acts.__setitem__("c", out)))
        model.head.register_forward_pre_hook(lambda mod, args: OUTSIDE.append(torch.rand(1)))  # one that draws from the RNG
    if draw(st.booleans()):
        with torch.no_grad():
            model.backbone[0].weight.normal_()
        model.head.weight.requires_grad_(False)
    return model


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).contiguous().view(torch.uint8).clone()


def snapshot(model: nn.Module) -> dict:
    """Everything a profile could change, in comparable form."""
    tensors = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    return {
        "state": {k: (v.dtype, v.device, tuple(v.shape), _bits(v)) for k, v in model.state_dict(keep_vars=True).items()},
        "objects": [(name, id(t), type(t), t.device, t.requires_grad, t.grad is None) for name, t in tensors],
        "modules": [(name, id(m), m.training, len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules(remove_duplicate=False)],
        "attrs": {name: {k: v for k, v in vars(m).items() if not k.startswith("_")} for name, m in model.named_modules()},
        "global_hooks": (len(nn.modules.module._global_forward_hooks), len(nn.modules.module._global_forward_pre_hooks)),
        "reached": (len(OUTSIDE), sorted(getattr(model, "acts", {}))),
        "rng": torch.random.get_rng_state(),
        "modes": (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.get_default_dtype()),
    }


def assert_same(before: dict, after: dict) -> None:
    assert after["objects"] == before["objects"]
    assert after["modules"] == before["modules"]
    assert after["attrs"] == before["attrs"]
    assert after["global_hooks"] == before["global_hooks"]
    assert after["reached"] == before["reached"], "a user's hook reached outside state"
    assert torch.equal(after["rng"], before["rng"]), "the global RNG moved"
    assert after["modes"] == before["modes"]
    assert before["state"].keys() == after["state"].keys()
    for key, (dtype, device, shape, bits) in before["state"].items():
        a_dtype, a_device, a_shape, a_bits = after["state"][key]
        assert (a_dtype, a_device, a_shape) == (dtype, device, shape), key
        assert torch.equal(a_bits, bits), f"{key} changed"


def _apis():
    from netstat.crosscheck import crosscheck
    from netstat.erf import effective_rf, verify

    shape = (1, 3, SIZE, SIZE)
    calls = [(f"profile[{d}]", lambda m, d=d: netstat.profile(m, input_size=shape, device=d)) for d in DEVICES]
    calls += [
        ("receptive_field", lambda m: netstat.receptive_field(m, input_size=shape)),
        ("verify", lambda m: verify(m, input_size=shape)),
        ("effective_rf", lambda m: effective_rf(m, input_size=shape, seeds=1)),
        ("crosscheck", lambda m: crosscheck(m, input_size=shape)),
        ("training", lambda m: netstat.analyze(m, input_size=(2, 3, SIZE, SIZE)).training(batch=2)),
    ]
    calls += [
        (f"benchmark[{d}]", lambda m, d=d: netstat.benchmark(m, input_size=shape, device=d, batches=[1], min_time=0.01, max_time=0.05))
        for d in DEVICES
        if d != "meta"
    ]
    return calls


API_CALLS = _apis()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=probes(), mode=st.sampled_from(sorted(CALLER_MODES)))
def test_every_api_leaves_the_model_exactly_as_it_was(model, mode):
    """Also inside the caller's no_grad / inference_mode: the model, the
    objects its hooks reach, the RNG and the modes are as they were."""
    with CALLER_MODES[mode]():
        before = snapshot(model)
        for name, call in API_CALLS:
            try:
                call(model)
            except NetstatError:
                assert model.raises or model.branch, f"{name} failed on a model that runs"
            assert_same(before, snapshot(model))


# --- the defects of issue 11, each as it was reported ----------------------------


class Aliased(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3))
        self.encoder = self.backbone

    def forward(self, x):
        return self.encoder(x)


@pytest.mark.parametrize("api", ["profile", "receptive_field", "benchmark"])
def test_aliased_submodule_keeps_its_weights(api):
    model = Aliased()
    weight = model.backbone[0].weight
    values = weight.detach().clone()
    kwargs = {"batches": [1], "min_time": 0.01, "max_time": 0.05} if api == "benchmark" else {}
    getattr(netstat, api)(model, input_size=(1, 3, 16, 16), **kwargs)
    assert model.backbone[0].weight is weight and model.encoder[0].weight is weight
    assert isinstance(weight, nn.Parameter) and weight.requires_grad and weight.device.type == "cpu"
    assert torch.equal(weight.detach(), values)


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("n", torch.zeros(()))

    def forward(self, x):
        self.n += 1
        return self.lin(x)


@pytest.mark.parametrize("api", ["profile", "benchmark"])
@pytest.mark.parametrize("device", [d for d in DEVICES if d != "meta"])
def test_a_real_run_updates_only_a_copy(device, api):
    model = Counter().eval()
    kwargs = {"batches": [1], "min_time": 0.01, "max_time": 0.05} if api == "benchmark" else {}
    getattr(netstat, api)(model, input_size=(1, 4), device=device, **kwargs)
    assert model.n.item() == 0


def test_calibrated_observers_survive_the_cpu_fallback():
    """HistogramObserver calls .item(), so meta falls back to a real CPU run."""
    from torch.ao.quantization import get_default_qconfig, prepare

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    model.qconfig = get_default_qconfig("x86")
    prepared = prepare(torch.ao.quantization.QuantWrapper(model))
    torch.manual_seed(0)
    prepared(torch.randn(2, 3, 8, 8))  # calibrate
    before = snapshot(prepared)
    result = netstat.profile(prepared, input_size=(1, 3, 8, 8))
    assert any("all-zeros input" in n for n in result.notes)
    assert_same(before, snapshot(prepared))


def test_a_users_detector_still_runs_after_a_profile():
    """torchvision's AnchorGenerator caches anchors on the device it ran on."""
    tvd = pytest.importorskip("torchvision.models.detection")
    model = tvd.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).eval()
    netstat.profile(model, input_size=(1, 3, 320, 320))
    with torch.no_grad():
        out = model([torch.rand(3, 320, 320)])
    assert out[0]["boxes"].device.type == "cpu"


# --- shared parameters count once in every breakdown (item 4) ---------------------------


def test_tied_linear_weights_count_once_by_type_and_layer():
    model = nn.Sequential(nn.Linear(16, 16, bias=False), nn.Linear(16, 16, bias=False), nn.Linear(16, 2))
    model[1].weight = model[0].weight
    p = netstat.profile(model, input_size=(1, 16))
    total = 16 * 16 + (16 * 2 + 2)  # one shared 16x16 weight, the head's weight and bias
    assert p.totals["params"] == total == 290
    assert {r.name: r.params for r in p.by_type} == {"Linear": total}
    assert {r.name: r.params for r in p.layers} == {"(model)": total, "0": 256, "1": 0, "2": 34}
    assert any("0.weight, 1.weight are one shared tensor (256 parameters)" in n for n in p.notes)


class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.body = nn.Linear(32, 32)
        self.head = nn.Linear(32, 100, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.body(self.emb(ids)))


def test_tied_embedding_and_lm_head_are_never_both_counted():
    from netstat.spec import InputSpec

    p = netstat.profile(TiedLM(), input_size=[InputSpec((1, 8), "int64")])
    shares = {r.name: r.params / p.totals["params"] for r in p.by_type}
    assert p.totals["params"] == 100 * 32 + 32 * 32 + 32
    assert sum(shares.values()) == pytest.approx(1.0)
    assert {r.name: r.params for r in p.layers if r.depth == 1} == {"emb": 3200, "body": 1056, "head": 0}


# --- a factory's input_shape attribute is its default everywhere (item 11) ------------------


def test_factory_input_shape_is_honoured_by_profile_and_bench(tmp_path):
    path = tmp_path / "shaped.py"
    path.write_text("import torch.nn as nn\ndef build():\n    return nn.Linear(4, 2)\nbuild.input_shape = (3, 4)\n")
    spec = f"{path}:build"
    assert netstat.profile(spec).input_shape == (3, 4)
    (result,) = netstat.benchmark(spec, batches=[3], min_time=0.01, max_time=0.05)
    assert result.madds == 3 * 4 * 2
