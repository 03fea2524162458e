"""Models from torchvision and timm, built the way their published numbers were measured.

torchvision publishes `num_params` and `_ops` (GMACs) per *weights entry*, and
its builders apply arguments when they are given one: `num_classes` from the
entry's categories, GoogLeNet without its auxiliary heads, FCN / DeepLabV3 with
theirs, `image_size` for ViT-H/14 at 518, FrozenBatchNorm2d in detection
backbones, `quantize` and `backend` for int8 models. `torchvision_model`
calls the builder with the entry itself, and while it runs, torchvision's
`WeightsEnum.get_state_dict` hands back the state dict of the model being
loaded (the builder's own `model`) instead of fetching the file. So the
architecture is exactly the one the weights load into, and no weight file is
downloaded or read. The default input is the one torchvision measured `_ops`
at (`test/common_extended_utils.py`): the entry's transforms applied to a
512 x 512 image (crop size; segmentation's resize to 520; 16-frame clips for
video; a detector's own `min_size`; optical flow at 512 x 512, two frames).

timm models take their default input from their pretrained config.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from netstat.errors import UsageError, closest

_VIDEO_FRAMES = 16  # torchvision measures video models on 16-frame clips
_FLOW_SIZE = 512  # and optical flow on two 512 x 512 frames (no resize in its transforms)
_DETECTOR_SIZES = {"ssd300_vgg16": 300, "ssdlite320_mobilenet_v3_large": 320, "fasterrcnn_mobilenet_v3_large_320_fpn": 320}
_DETECTOR_SIZE = 800  # GeneralizedRCNNTransform's min_size for every other detector


@dataclass
class HubModel:
    """What `spec.resolve` needs from a torchvision or timm name."""

    factory: Any  # builds the model (under the current default device)
    inputs: list[tuple[tuple[int, ...], str]]  # (shape, dtype name) per forward argument
    notes: list[str] = field(default_factory=list)
    published: dict[str, Any] | None = None  # the weights entry's num_params and _ops
    resizes_to_input: bool = False  # an R-CNN detector: min_size / max_size follow the input


def torchvision_model(name: str, weights_name: str | None, kwargs: dict[str, Any]) -> HubModel:
    """torchvision's NAME as the weights entry `weights_name` describes
    (DEFAULT when None; "none" for the builder's own defaults)."""
    import torchvision.models as tvm

    available = set(tvm.list_models())
    if name not in available:
        raise UsageError(f"torchvision has no model '{name}'.", hint=closest(name, available))
    weights = _weights_entry(name, weights_name)
    implied = {}
    if weights is not None and "backend" in weights.meta and "quantize" not in kwargs:
        implied["quantize"] = True  # an int8 entry only loads into a quantized model
    refusal = _refusal(name, weights, {**implied, **kwargs}) if kwargs and weights is not None else None
    if refusal is not None:
        if weights_name is not None:
            raise UsageError(f"torchvision refuses these arguments with {weights}: {refusal}", hint=f"Name the weights 'none' (torchvision:{name}@none) to build without them.")
        note = f"torchvision's {weights} refuses your arguments ({refusal}); built without a weights entry: the builder's defaults and your arguments."
        weights, implied = None, {}
    hub = HubModel(factory=None, inputs=_torchvision_inputs(name, weights))
    if refusal is not None:
        hub.notes.append(note)
    kind = _kind(name)
    hub.resizes_to_input = kind == "detection" and not name.startswith("ssd")
    if weights is not None:
        hub.published = {"weights": str(weights), "params": weights.meta.get("num_params"), "gmacs": weights.meta.get("_ops")}
        hub.notes.append(f"Built as torchvision's {weights} describes it (no weight file read), at the input its transforms give.")
    if kind == "detection" and not hub.resizes_to_input:
        size = hub.inputs[0][0][-1]
        hub.notes.append(f"torchvision {name} resizes every input to {size}x{size} before its backbone runs.")
    hub.factory = _TorchvisionFactory(name, weights, implied)
    return hub


@dataclass
class _TorchvisionFactory:
    """Builds the model; a picklable object rather than a closure."""

    name: str
    weights: Any
    implied: dict[str, Any]  # arguments the weights entry implies that torchvision does not set itself

    def __call__(self, **extra):
        import torchvision.models as tvm

        kwargs = {**self.implied, **extra}
        if self.weights is None:
            return tvm.get_model(self.name, weights=None, **_no_download(self.name), **kwargs)
        with _weights_load_into_themselves():
            return tvm.get_model(self.name, weights=self.weights, **kwargs)


def _refusal(name: str, weights, kwargs: dict[str, Any]) -> str | None:
    """torchvision's complaint when `kwargs` contradict what `weights` fix
    ("The parameter 'num_classes' expected value 1000 but got 10 instead."),
    found by building once on meta; None when it accepts them."""
    import torch
    import torchvision.models as tvm

    try:
        with torch.device("meta"), _weights_load_into_themselves():
            tvm.get_model(name, weights=weights, **kwargs)
    except ValueError as err:
        if "expected value" in str(err):
            return str(err)
    except Exception:  # noqa: BLE001 - anything else is for the real build to report
        pass
    return None


def _weights_entry(name: str, weights_name: str | None):
    import torchvision.models as tvm

    enum = tvm.get_model_weights(name)
    if weights_name is None or weights_name == "DEFAULT":
        return enum.DEFAULT
    if weights_name.lower() == "none":
        return None
    owner, _, key = weights_name.rpartition(".")  # "ResNet50_Weights.IMAGENET1K_V2" or "IMAGENET1K_V2"
    known = f"Use one of: {', '.join(m.name for m in enum)}, DEFAULT or none."
    owner = owner.rpartition(".")[2]  # "torchvision.models.ResNet50_Weights" too
    if owner and owner != enum.__name__:  # another builder's entry: its architecture, not NAME's
        raise UsageError(f"'{weights_name}' are not weights of torchvision's {name}, whose weights are {enum.__name__}.", hint=known)
    if key in enum.__members__:
        return enum[key]
    raise UsageError(f"torchvision's {name} has no weights '{weights_name}'.", hint=known)


def _kind(name: str) -> str:
    import torchvision.models as tvm

    for kind, module in (("detection", tvm.detection), ("segmentation", tvm.segmentation), ("video", tvm.video), ("optical_flow", tvm.optical_flow)):
        if name in tvm.list_models(module=module):
            return kind
    return "classification"


def _torchvision_inputs(name: str, weights) -> list[tuple[tuple[int, ...], str]]:
    kind = _kind(name)
    transforms = getattr(weights, "transforms", None)
    sizes = getattr(transforms, "keywords", {}) if transforms is not None else {}
    if kind == "detection":
        size = _DETECTOR_SIZES.get(name, _DETECTOR_SIZE)
        return [((1, 3, size, size), "float32")]
    if kind == "optical_flow":
        return [((1, 3, _FLOW_SIZE, _FLOW_SIZE), "float32")] * 2
    if kind == "segmentation":
        resized = _square(sizes.get("resize_size", 520))
        return [((1, 3, *resized), "float32")]
    crop = _square(sizes.get("crop_size", 112 if kind == "video" else 224))
    if kind == "video":
        return [((1, 3, _VIDEO_FRAMES, *crop), "float32")]
    return [((1, 3, *crop), "float32")]


def _square(size) -> tuple[int, int]:
    if isinstance(size, (list, tuple)):
        return (size[0], size[-1]) if len(size) == 2 else (size[0], size[0])
    return (size, size)


def _no_download(name: str) -> dict[str, Any]:
    """Segmentation / detection builders default to downloading a backbone; ask for none."""
    import inspect

    import torchvision.models as tvm

    params = inspect.signature(tvm.get_model_builder(name)).parameters
    return {"weights_backbone": None} if "weights_backbone" in params else {}


@contextmanager
def _weights_load_into_themselves():
    """While a torchvision builder runs, `weights.get_state_dict()` returns the
    state dict of the model the builder is about to load it into."""
    from torchvision.models._api import WeightsEnum

    original = WeightsEnum.get_state_dict
    WeightsEnum.get_state_dict = _builders_own_state_dict
    try:
        yield
    finally:
        WeightsEnum.get_state_dict = original


def _builders_own_state_dict(self, *args, **kwargs):
    """Every torchvision builder loads with `model.load_state_dict(weights.get_state_dict(...))`
    (DenseNet through a helper that also names it `model`): hand back that model's own state."""
    import torch

    model = sys._getframe(1).f_locals.get("model")
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"netstat cannot build the architecture of {self} without its weight file.", hint="Name the weights 'none' to build without them.")
    return model.state_dict()


def timm_model(name: str) -> HubModel:
    import timm

    if not timm.is_model(name):
        raise UsageError(f"timm has no model '{name}'.", hint=closest(name, timm.list_models()))
    cfg = timm.get_pretrained_cfg(name)
    size = getattr(cfg, "input_size", None) if cfg is not None else None
    shape = (1, *size) if size else (1, 3, 224, 224)
    return HubModel(factory=_TimmFactory(name), inputs=[(tuple(shape), "float32")])


@dataclass
class _TimmFactory:
    name: str

    def __call__(self, **kwargs):
        import timm

        return timm.create_model(self.name, pretrained=False, **kwargs)
