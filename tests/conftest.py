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
