"""Hugging Face models, offline: `hf:NAME[@HEAD]` built from its `config.json` on meta.

NAME is a local directory holding `config.json` (what `save_pretrained` writes),
the path of such a JSON file, or a hub id whose `config.json` is already in the
local Hugging Face cache. Nothing is downloaded: the config is read with
`local_files_only=True` while the hub's offline mode is switched on (and put
back afterwards), and the model is built from the config alone, never loading
weights (`use_pretrained_backbone` is switched off: a DETR backbone is built,
not fetched). Configs that need code from the hub (`trust_remote_code`) are
refused.

What is built: the model the config was saved from (its `architectures`, what
`save_pretrained` of a `ViTForImageClassification` records) when it names one,
else the base model (`AutoModel.from_config`); `@base` asks for the base model
and `@HEAD` for another one: a task from `HEADS` (`hf:NAME@image-classification`) or a
transformers class by name (`hf:NAME@ViTForImageClassification`). The config's
own `num_labels` sizes a classifier; `model_kwargs` override config fields
(`num_labels=10`, `num_hidden_layers=6`), and an unknown field is refused.

The default inputs are the model's own, as keyword arguments named as its
forward names them (`netstat.inputs.Inputs` kwargs):

- `pixel_values`: 1 x num_channels x H x W, H x W the config's `image_size`
  (ViT-like models accept no other), else from the saved
  `preprocessor_config.json` (crop_size, else size) when there is one, else
  `IMAGE_SIZES` for the model type (DETR and Mask2Former are run at 800 x 800,
  their processors' shortest edge), else 224;
- `input_ids` and `attention_mask` (int64, 1 x L), as a tokenizer returns them,
  at L = `DEFAULT_SEQ_LEN` (128, shortened to the config's
  `max_position_embeddings` when that is smaller; `seq_len` changes it);
  `bbox` (1 x L x 4) for a forward that takes boxes (LayoutLM) and
  `decoder_input_ids` (1 x L) for an encoder-decoder (T5, BART); off meta the
  mask is all ones (no padding) and the ids zeros;
- `input_values` (1 x 16000: a second at 16 kHz) for speech encoders.

On meta, a model that asks for SDPA attention runs it with its mask always
built (`SDPA_MASK_BUILT`, registered through transformers' attention and mask
interfaces): transformers skips the mask of a batch with no padding, and to
know that it reads the mask's values, which meta tensors do not hold. The
attention then runs as it does for a padded batch: the same MAdds (the test
holds them to transformers' unchanged model on CPU), plus the mask's few
element-wise ops and its bytes. Builds on other devices (bench, the CPU
fallback) keep transformers' own attention.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netstat.errors import ArgumentError, UsageError, closest, first_line, shortened_path
from netstat.inputs import Inputs, InputSpec

PREFIX = "hf"
DEFAULT_SEQ_LEN = 128  # tokens: a sentence or two, BERT's GLUE fine-tuning length
DEFAULT_IMAGE_SIZE = 224
AUDIO_SAMPLES = 16000  # one second at 16 kHz, the rate of wav2vec2 / HuBERT
IMAGE_SIZES = {"detr": 800, "conditional_detr": 800, "deformable_detr": 800, "mask2former": 800, "maskformer": 800}

# @HEAD -> the transformers auto class that builds it.
HEADS = {
    "base": "AutoModel",
    "image-classification": "AutoModelForImageClassification",
    "object-detection": "AutoModelForObjectDetection",
    "semantic-segmentation": "AutoModelForSemanticSegmentation",
    "universal-segmentation": "AutoModelForUniversalSegmentation",
    "depth-estimation": "AutoModelForDepthEstimation",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "causal-lm": "AutoModelForCausalLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
}
TOKEN_INPUTS = ("input_ids",)


@dataclass
class HFFactory:
    """Builds `model_class` from `config` (a plain object, picklable); keyword
    arguments override config fields."""

    config: Any
    model_class: str  # a transformers class name

    def __call__(self, **overrides):
        import torch
        import transformers

        config = configured(self.config, overrides)
        with offline():
            model = getattr(transformers, self.model_class)._from_config(config)
        if torch.get_default_device().type == "meta":
            _mask_always_built_on(model)
        return model.eval()

    @property
    def takes_tokens(self) -> bool:
        return main_input(self.config, self.model_class) in TOKEN_INPUTS


def hf_model(name: str, kwargs: dict[str, Any]) -> tuple[HFFactory, Inputs, list[str]]:
    """`hf:NAME[@HEAD]` -> (factory, default inputs, notes), reading only local files."""
    if importlib.util.find_spec("transformers") is None:
        raise UsageError(f"'{PREFIX}:{name}' needs the transformers package, which is not installed.", hint="pip install 'netstat[hf]'")
    name, _, head = name.partition("@")
    if not name:
        raise UsageError(f"'{PREFIX}:' names no model.", hint="Write hf:path/to/saved_model or hf:google/vit-base-patch16-224.")
    config, folder = load_config(name)
    config = configured(config, kwargs)
    saved = _saved_class(config)
    model_class = _model_class(config, head or saved or "base", name)
    factory = HFFactory(config, model_class)
    notes = [f"Built {model_class} from the config alone (no weights read)."]
    if not head and saved:
        notes.append(f"The config was saved from {saved}, so that is what is built: write {PREFIX}:{name}@base for its base model.")
    return factory, default_inputs(config, model_class, None, _processor_size(folder, name)), notes


def load_config(name: str):
    """The config of a local folder, a JSON file or a cached hub id, and the
    folder it came from (None for the cache)."""
    from transformers import AutoConfig

    path = Path(name).expanduser()
    try:
        if path.is_file():
            return _config_from_dict(json.loads(path.read_text()), name), path.parent
        is_dir = path.is_dir()
    except (OSError, ValueError) as err:
        raise UsageError(f"Cannot read the config '{shortened_path(name)}': {getattr(err, 'strerror', None) or err}.") from None
    if is_dir and not (path / "config.json").is_file():
        raise UsageError(f"The folder '{shortened_path(name)}' holds no config.json.", hint="Save one with model.config.save_pretrained(folder).")
    if not is_dir and name.startswith(("/", ".", "~", "\\")):  # a path, not a hub id
        raise UsageError(f"The folder '{shortened_path(name)}' does not exist.")
    try:
        with offline():
            return AutoConfig.from_pretrained(str(path) if is_dir else name, local_files_only=True), path if is_dir else None
    except OSError:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise UsageError(f"No folder '{shortened_path(name)}' and no config.json for it in the local Hugging Face cache ({HF_HUB_CACHE}); netstat downloads nothing.",
                         hint=f"Fetch the config with: huggingface-cli download {name} config.json") from None
    except (ValueError, KeyError) as err:
        raise UsageError(f"transformers cannot read the config of '{shortened_path(name)}': {first_line(err)}") from None


def _config_from_dict(data: Any, name: str):
    from transformers import AutoConfig

    if not isinstance(data, dict) or "model_type" not in data:
        raise UsageError(f"'{shortened_path(name)}' is not a transformers config: it names no model_type.")
    data = dict(data)
    try:
        return AutoConfig.for_model(data.pop("model_type"), **data)
    except (ValueError, KeyError) as err:
        raise UsageError(f"transformers cannot read the config '{shortened_path(name)}': {first_line(err)}") from None


def configured(config: Any, overrides: dict[str, Any]):
    """A copy of `config` with `overrides` set (each must be a field of it) and
    no pretrained backbone to fetch."""
    import copy

    config = copy.deepcopy(config)
    unknown = [k for k in overrides if not hasattr(config, k)]
    if unknown:
        raise UsageError(f"The {config.model_type} config has no field {', '.join(map(repr, unknown))}.", hint=closest(unknown[0], config.to_dict()))
    for key, value in overrides.items():
        setattr(config, key, value)
    if getattr(config, "use_pretrained_backbone", False):
        config.use_pretrained_backbone = False
    return config


def _model_class(config: Any, head: str, name: str) -> str:
    """The transformers class `head` (a task of HEADS or a class name) builds for `config`."""
    import transformers

    if head in HEADS:
        mapping = getattr(transformers, HEADS[head])._model_mapping
        if type(config) not in mapping:
            raise UsageError(f"transformers has no {head} model for {config.model_type} ('{PREFIX}:{name}@{head}').",
                             hint=f"Heads it has: {', '.join(_heads_of(config)) or 'none'}.")
        return mapping[type(config)].__name__
    found = getattr(transformers, head, None) if head.isidentifier() else None
    if not (isinstance(found, type) and issubclass(found, transformers.PreTrainedModel)):
        raise UsageError(f"'{head}' is neither a head netstat knows nor a transformers model class.", hint=f"Heads: {', '.join(HEADS)}.")
    wanted = found.config_class
    if wanted is not None and not isinstance(config, wanted):
        raise UsageError(f"{head} takes a {wanted.__name__}, and '{PREFIX}:{name}' holds a {type(config).__name__}.")
    return head


def _saved_class(config: Any) -> str | None:
    """The model class the config was saved from (its `architectures`), when transformers has it."""
    import transformers

    saved = list(getattr(config, "architectures", None) or [])
    found = getattr(transformers, saved[0], None) if saved and saved[0].isidentifier() else None
    if isinstance(found, type) and issubclass(found, transformers.PreTrainedModel):
        return saved[0]
    return None


def _heads_of(config: Any) -> list[str]:
    import transformers

    return [head for head, auto in HEADS.items() if type(config) in getattr(transformers, auto)._model_mapping]


def main_input(config: Any, model_class: str) -> str:
    import transformers

    return getattr(transformers, model_class).main_input_name


def default_inputs(config: Any, model_class: str, seq_len: int | None, image_size: tuple[int, int] | None = None) -> Inputs:
    """The keyword inputs the model expects (see the module docstring)."""
    import transformers

    cls = getattr(transformers, model_class)
    takes = set(inspect.signature(cls.forward).parameters)
    main = cls.main_input_name
    if main == "pixel_values":
        size = _image_size(config, image_size)
        return Inputs.of(kwargs={main: InputSpec((1, getattr(config, "num_channels", 3), *size))})
    if main == "input_values":
        return Inputs.of(kwargs={main: InputSpec((1, AUDIO_SAMPLES))})
    if main not in TOKEN_INPUTS:
        raise UsageError(f"netstat does not know the default input of {model_class} ('{main}').",
                         hint="Give its inputs by name, e.g. input_features=1,80,3000.")
    length = sequence_length(config, seq_len)
    ids = InputSpec((1, length), "int64")
    inputs = {main: ids, "attention_mask": InputSpec((1, length), "int64", fill=1)}  # no padding
    if "bbox" in takes:
        inputs["bbox"] = InputSpec((1, length, 4), "int64")
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in takes:
        inputs["decoder_input_ids"] = ids
    return Inputs.of(kwargs={k: v for k, v in inputs.items() if k in takes or k == main})


def sequence_length(config: Any, seq_len: int | None) -> int:
    """`seq_len` (checked against the config's `max_position_embeddings`) or the default."""
    limit = getattr(config, "max_position_embeddings", None)
    limit = limit if isinstance(limit, int) and limit > 0 else None
    if seq_len is None:
        return min(DEFAULT_SEQ_LEN, limit) if limit else DEFAULT_SEQ_LEN
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len <= 0:
        raise ArgumentError("{seq_len} must be a positive number of tokens, not {value!r}.", value=seq_len)
    if limit and seq_len > limit:
        raise ArgumentError("{seq_len} {value} is longer than the {kind} model's {limit} positions (max_position_embeddings).",
                            value=seq_len, kind=config.model_type, limit=limit)
    return seq_len


def _image_size(config: Any, processor: tuple[int, int] | None) -> tuple[int, int]:
    size = getattr(config, "image_size", None) or processor or IMAGE_SIZES.get(config.model_type, DEFAULT_IMAGE_SIZE)
    return _pair(size)


def _pair(size: Any) -> tuple[int, int]:
    if isinstance(size, (list, tuple)):
        return (int(size[0]), int(size[-1]))
    return (int(size), int(size))


def _processor_size(folder: Path | None, name: str) -> tuple[int, int] | None:
    """The image size a saved `preprocessor_config.json` gives (crop_size, else size), if any."""
    path = folder / "preprocessor_config.json" if folder is not None else _cached(name, "preprocessor_config.json")
    if path is None or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    for key, switch in (("crop_size", "do_center_crop"), ("size", "do_resize")):
        size = data.get(key) if data.get(switch, True) else None
        if isinstance(size, int):
            return (size, size)
        if isinstance(size, dict) and "height" in size and "width" in size:
            return (int(size["height"]), int(size["width"]))
        if isinstance(size, dict) and "shortest_edge" in size:
            return (int(size["shortest_edge"]),) * 2
    return None


def _cached(name: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, filename)
    except Exception:  # noqa: BLE001 - a name that is no repo id: nothing cached
        return None
    return found if isinstance(found, str) else None


def at_seq_len(source: Any, seq_len: int):
    """`source` (a ModelSource of a text `hf:` model) with its default inputs at `seq_len` tokens."""
    factory = getattr(source, "factory", None)
    if not isinstance(factory, HFFactory) or not factory.takes_tokens:
        raise ArgumentError("{seq_len} sets the tokens of a Hugging Face text model, and {name} takes no token ids.", name=source.name)
    config = configured(factory.config, source.model_kwargs)
    return dataclasses.replace(source, inputs=default_inputs(config, factory.model_class, seq_len), notes=list(source.notes))


def _mask_always_built_on(model) -> None:
    """A meta build: SDPA attention with its mask always built (SDPA_MASK_BUILT)
    in every config of `model` that asks for SDPA (T5's stacks hold copies)."""
    configs = {id(c): c for m in model.modules() if (c := getattr(m, "config", None)) is not None}
    for config in configs.values():
        if getattr(config, "_attn_implementation", None) == "sdpa":
            config._attn_implementation = _registered_attention()


SDPA_MASK_BUILT = "netstat_sdpa"  # transformers' SDPA attention, its mask always built (see _mask_always_built)


def _registered_attention() -> str:
    """SDPA_MASK_BUILT, registered with transformers' attention and mask
    interfaces (its extension points for attention implementations)."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(SDPA_MASK_BUILT, sdpa_attention_forward)
    AttentionMaskInterface.register(SDPA_MASK_BUILT, _mask_always_built)
    return SDPA_MASK_BUILT


def _mask_always_built(*args, **kwargs):
    """transformers' SDPA mask, never skipped: its shortcut for a batch with no
    padding (pass no mask at all) reads the mask's values, which meta tensors
    do not hold. The attention runs as it does for a padded batch: the same
    MAdds, plus the mask's few element-wise ops and its bytes."""
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, **{**kwargs, "allow_is_causal_skip": False, "allow_is_bidirectional_skip": False})


@contextmanager
def offline():
    """The Hugging Face hub's offline mode, switched on for the block and put back."""
    import huggingface_hub.constants as constants

    saved_env, saved_flag = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], constants.HF_HUB_OFFLINE = "1", True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_flag
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env
