import importlib.util

import pytest

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def torchvision_builder(path: str):
    """`torchvision.models.<path>` ("resnet50", "segmentation.fcn_resnet50")."""
    import torchvision.models as tvm

    obj = tvm
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


requires_torchvision = pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not installed")


@pytest.fixture
def traces(monkeypatch):
    """Counts the traced forwards (netstat.trace.run_trace) during a test."""
    import netstat.trace

    calls = []
    real = netstat.trace.run_trace

    def counted(model, inputs, device="meta"):
        calls.append(type(model).__name__)
        return real(model, inputs, device)

    monkeypatch.setattr(netstat.trace, "run_trace", counted)
    return calls
