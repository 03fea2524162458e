"""`hf:NAME`: Hugging Face models built from their config.json on meta, offline (netstat.hf).

Every config is made here (`AutoConfig.for_model`, shrunk where the defaults
are slow, saved with `save_pretrained`); nothing is downloaded. For each model
type, netstat's numbers are held to independent sources:

- params: `num_parameters()` of transformers' own model, built by its auto class;
- MAdds: torch.utils.flop_counter.FlopCounterMode's total / 2 on the same meta
  model and inputs. flop_counter counts exactly the ops netstat's MAdds count
  (conv, mm / addmm / bmm / baddbmm, scaled-dot-product attention: two
  multiply-accumulates per query-key pair and channel), so the two are equal;
  its FLOPs are not compared (flop_counter gives element-wise ops, norms and
  softmax no FLOPs, netstat does);
- the default inputs: written out by hand per model from its config.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count
from transformers import AutoConfig
from typer.testing import CliRunner

import netstat
from netstat.cli import app
from netstat.errors import UsageError
from netstat.hf import HEADS

TEXT = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128)
VIT = dict(TEXT, image_size=64, patch_size=16)
STAGES = dict(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128])


def image(height: int, width: int | None = None, channels: int = 3) -> list[dict]:
    return [{"name": "pixel_values", "shape": [1, channels, height, width or height], "dtype": "float32"}]


def tokens(*extra: str, length: int = 128) -> list[dict]:
    """input_ids and attention_mask (1 x length, int64), then `extra` (bbox, decoder_input_ids)."""
    shapes = {"input_ids": [1, length], "attention_mask": [1, length], "bbox": [1, length, 4], "decoder_input_ids": [1, length]}
    return [{"name": name, "shape": shapes[name], "dtype": "int64"} for name in ("input_ids", "attention_mask", *extra)]


# (model_type, config fields, head, the default inputs the model expects, preprocessor image size)
CASES = [
    # vision CNNs
    ("resnet", dict(STAGES, embedding_size=16), "base", image(224), None),
    ("resnet", dict(STAGES, embedding_size=16, num_labels=7), "image-classification", image(224), None),
    ("regnet", dict(STAGES, embedding_size=16, groups_width=8), "base", image(224), None),
    ("convnext", dict(STAGES, image_size=96), "image-classification", image(96), None),
    ("convnextv2", dict(STAGES), "base", image(224), None),
    ("mobilenet_v1", dict(depth_multiplier=0.25, image_size=96), "base", image(96), None),
    ("mobilenet_v2", dict(depth_multiplier=0.35, image_size=96), "image-classification", image(96), None),
    ("efficientnet", dict(image_size=64, width_coefficient=0.25, depth_coefficient=0.2, hidden_dim=320), "base", image(64), None),
    ("poolformer", dict(STAGES, image_size=64), "base", image(64), None),
    # vision transformers
    ("vit", VIT, "base", image(64), None),
    ("vit", dict(VIT, num_labels=5), "image-classification", image(64), None),
    ("deit", VIT, "base", image(64), None),
    ("beit", VIT, "base", image(64), None),
    ("dinov2", dict(TEXT, image_size=56, patch_size=14), "base", image(56), None),
    ("swin", dict(embed_dim=16, depths=[1, 1], num_heads=[1, 2], image_size=64, window_size=4), "base", image(64), None),
    ("swinv2", dict(embed_dim=16, depths=[1, 1], num_heads=[1, 2], image_size=64, window_size=4), "base", image(64), None),
    ("mobilevit", dict(image_size=64, hidden_sizes=[32, 48, 64], neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64]), "base", image(64), None),
    ("levit", dict(image_size=64), "base", image(64), None),
    # a detector and segmenters; DETR's image size from a saved preprocessor_config.json
    ("yolos", dict(TEXT, image_size=[64, 96], num_detection_tokens=10), "object-detection", image(64, 96), None),
    ("detr", dict(use_timm_backbone=False, d_model=32, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=64, decoder_ffn_dim=64,
                  num_queries=10), "object-detection", image(128, 96), (128, 96)),
    ("segformer", dict(STAGES, num_attention_heads=[1, 1, 2, 2], decoder_hidden_size=32), "semantic-segmentation", image(224), None),
    # text encoders (and one encoder-decoder, one with boxes)
    ("bert", TEXT, "base", tokens(), None),
    ("bert", dict(TEXT, num_labels=3), "sequence-classification", tokens(), None),
    ("roberta", TEXT, "masked-lm", tokens(), None),
    ("distilbert", dict(n_layers=2, dim=64, n_heads=2, hidden_dim=128), "base", tokens(), None),
    ("albert", dict(TEXT, embedding_size=32), "base", tokens(), None),
    ("electra", dict(TEXT, embedding_size=32), "token-classification", tokens(), None),
    ("deberta", TEXT, "base", tokens(), None),
    ("deberta-v2", TEXT, "base", tokens(), None),
    ("layoutlm", TEXT, "base", tokens("bbox"), None),
    ("t5", dict(num_layers=1, num_decoder_layers=1, d_model=64, d_ff=128, num_heads=2, d_kv=32), "base", tokens("decoder_input_ids"), None),
    ("bert", dict(TEXT, max_position_embeddings=64), "base", tokens(length=64), None),  # the default length shortened to the model's positions
]


def saved(tmp_path, model_type: str, fields: dict, processor_size=None):
    """The config saved as `save_pretrained` writes it; and the processor's size when given."""
    config = AutoConfig.for_model(model_type, **fields)
    config.save_pretrained(tmp_path)
    if processor_size is not None:
        height, width = processor_size
        (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_resize": True, "size": {"height": height, "width": width}}))
    return config


def transformers_model(config, head: str):
    """transformers' own model for `head`, built by its auto class on meta."""
    with torch.device("meta"):
        return getattr(transformers, HEADS[head]).from_config(config)


def flop_counter_madds(model, inputs) -> float:
    """FlopCounterMode's total / 2 for one forward of `model` on `inputs` (netstat.Inputs)."""
    args, kwargs = inputs.materialise("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*args, **kwargs)
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("model_type, fields, head, expected, processor", CASES, ids=[f"{c[0]}@{c[2]}" for c in CASES])
def test_hf_model_params_madds_inputs_and_meta(tmp_path, model_type, fields, head, expected, processor):
    config = saved(tmp_path, model_type, fields, processor)
    analysis = netstat.analyze(f"hf:{tmp_path}" + ("" if head == "base" else f"@{head}"))
    profile = analysis.profile
    assert profile.inputs == expected
    assert analysis.trace.device == "meta", analysis.trace.notes
    reference = transformers_model(config, head)
    assert type(analysis.model) is type(reference)
    assert profile.totals["params"] == reference.num_parameters()
    assert profile.totals["madds"] == flop_counter_madds(analysis.model, analysis.source.inputs)
    assert profile.totals["madds"] > 0


def test_text_madds_equal_transformers_own_sdpa_on_cpu(tmp_path):
    """netstat runs SDPA attention with its mask always built (its shortcut reads
    the mask's values, which meta lacks); the MAdds equal those of transformers'
    own model, unchanged, on CPU with an all-ones mask (the shortcut taken).
    flop_counter has no formula for the CPU flash-attention kernel that SDPA
    runs on CPU; it is given torch's own SDPA formula for it."""
    config = saved(tmp_path, "bert", TEXT)
    analysis = netstat.analyze(f"hf:{tmp_path}")
    model = transformers.AutoModel.from_config(config).eval()
    assert model.config._attn_implementation == "sdpa"
    ids = torch.ones(1, 128, dtype=torch.int64)
    cpu_sdpa = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=cpu_sdpa) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=ids)
    assert analysis.profile.totals["madds"] == counter.get_total_flops() / 2
    attention = 2 * 2 * 128 * 128 * 64  # layers x (QK^T and AV) x L x L x hidden
    linear = 2 * 128 * (4 * 64 * 64 + 2 * 64 * 128)  # layers x L x (Q, K, V, out; FFN in and out)
    assert analysis.profile.totals["madds"] == attention + linear + 64 * 64  # + the pooler on one token


def _cpu_sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def run_json(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_vit_b16_image_classifier_params_are_published_count(tmp_path):
    """google/vit-base-patch16-224: 86,567,656 parameters (ViTConfig defaults, 1000 labels)."""
    transformers.ViTConfig(num_labels=1000, architectures=["ViTForImageClassification"]).save_pretrained(tmp_path)
    data = run_json("profile", f"hf:{tmp_path}", "--depth", "1")
    assert data["totals"]["params"] == 86_567_656
    assert data["inputs"] == image(224)


def test_cli_bert_base_params(tmp_path):
    """bert-base-uncased's BertModel: 109,482,240 parameters (BertConfig defaults)."""
    transformers.BertConfig().save_pretrained(tmp_path)
    data = run_json("profile", f"hf:{tmp_path}", "--depth", "1")
    assert data["totals"]["params"] == 109_482_240
    assert data["inputs"] == tokens()


def test_saved_architecture_is_built_by_default_and_base_on_request(tmp_path):
    saved(tmp_path, "vit", dict(VIT, architectures=["ViTForImageClassification"]))
    default = netstat.analyze(f"hf:{tmp_path}")
    assert type(default.model).__name__ == "ViTForImageClassification"
    assert any("@base" in line for line in default.profile.notes)
    base = netstat.analyze(f"hf:{tmp_path}@base")
    assert type(base.model).__name__ == "ViTModel"
    by_class = netstat.analyze(f"hf:{tmp_path}@ViTForImageClassification")
    assert by_class.profile.totals["params"] == default.profile.totals["params"]


def test_config_json_file_and_model_kwargs_override_config(tmp_path):
    saved(tmp_path, "bert", TEXT)
    analysis = netstat.analyze(f"hf:{tmp_path / 'config.json'}", model_kwargs={"num_hidden_layers": 1})
    assert analysis.model.config.num_hidden_layers == 1
    reference = transformers_model(AutoConfig.for_model("bert", **dict(TEXT, num_hidden_layers=1)), "base")
    assert analysis.profile.totals["params"] == reference.num_parameters()
    with pytest.raises(UsageError, match="has no field 'num_layerz'"):
        netstat.analyze(f"hf:{tmp_path}", model_kwargs={"num_layerz": 1})


def test_seq_len_sets_the_token_inputs(tmp_path):
    saved(tmp_path, "bert", dict(TEXT, max_position_embeddings=256))
    data = run_json("profile", f"hf:{tmp_path}", "--seq-len", "200", "--depth", "0")
    assert data["inputs"] == tokens(length=200)
    too_long = CliRunner().invoke(app, ["profile", f"hf:{tmp_path}", "--seq-len", "300"])
    assert too_long.exit_code == 2
    assert "--seq-len 300 is longer than the bert model's 256 positions" in too_long.stderr
    with_input = CliRunner().invoke(app, ["profile", f"hf:{tmp_path}", "--seq-len", "64", "--input", "input_ids=1,64:int64"])
    assert with_input.exit_code == 2 and "--input" in with_input.stderr


def test_seq_len_refused_on_a_vision_model(tmp_path):
    saved(tmp_path, "vit", VIT)
    result = CliRunner().invoke(app, ["profile", f"hf:{tmp_path}", "--seq-len", "64"])
    assert result.exit_code == 2
    assert "takes no token ids" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("spec, message", [
    ("hf:netstat-test-org/no-such-model-anywhere", "huggingface-cli download netstat-test-org/no-such-model-anywhere config.json"),
    ("hf:", "names no model"),
])
def test_missing_config_is_one_sentence(spec, message):
    result = CliRunner().invoke(app, ["profile", spec])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_folder_without_config_and_unknown_head(tmp_path):
    with pytest.raises(UsageError, match="holds no config.json"):
        netstat.analyze(f"hf:{tmp_path}")
    with pytest.raises(UsageError, match="The folder '.*missing' does not exist"):
        netstat.analyze(f"hf:{tmp_path / 'missing'}")
    saved(tmp_path, "bert", TEXT)
    with pytest.raises(UsageError, match="neither a head netstat knows"):
        netstat.analyze(f"hf:{tmp_path}@no-such-head")
    with pytest.raises(UsageError, match="no image-classification model for bert"):
        netstat.analyze(f"hf:{tmp_path}@image-classification")
    with pytest.raises(UsageError, match="takes a ViTConfig"):
        netstat.analyze(f"hf:{tmp_path}@ViTModel")


def test_offline_mode_is_put_back(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    saved(tmp_path, "vit", VIT)
    netstat.analyze(f"hf:{tmp_path}").profile
    assert "HF_HUB_OFFLINE" not in os.environ
    assert constants.HF_HUB_OFFLINE is False


def test_without_transformers_the_extra_is_named(monkeypatch):
    import netstat.hf

    real = netstat.hf.importlib.util.find_spec
    monkeypatch.setattr(netstat.hf.importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(UsageError) as caught:
        netstat.analyze("hf:google/vit-base-patch16-224")
    assert "transformers package, which is not installed" in caught.value.message
    assert "netstat[hf]" in caught.value.hint


def test_training_step_sums_outputs_or_uses_the_models_own_loss(tmp_path):
    saved(tmp_path, "bert", dict(TEXT, num_labels=3))
    analysis = netstat.analyze(f"hf:{tmp_path}@sequence-classification")
    summed = analysis.training(batch=2)
    assert summed.step.device == "meta"
    assert not any("nll_loss" in name for name in summed.op_names)
    with_labels = netstat.analyze(f"hf:{tmp_path}@sequence-classification",
                                  kwargs={"input_ids": netstat.InputSpec((1, 128), "int64"), "labels": netstat.InputSpec((1,), "int64")})
    own = with_labels.training(batch=2)
    assert own.step.device == "meta"
    assert any("nll_loss_forward" in name for name in own.op_names)  # BertForSequenceClassification's cross-entropy
    assert own.totals["params"] == transformers_model(AutoConfig.for_model("bert", **dict(TEXT, num_labels=3)), "sequence-classification").num_parameters()


def test_every_command_on_hf_models(tmp_path):
    """rf on a vision model (and a one-sentence refusal on text), compare
    with a zoo model, fit on a text model, profile --train, bench."""
    vision, text = tmp_path / "resnet", tmp_path / "bert"
    saved(vision, "resnet", dict(STAGES, embedding_size=16))
    saved(text, "bert", TEXT)
    rf = run_json("rf", f"hf:{vision}")
    layers = {row["name"]: row for row in rf["layers"]}
    stem = layers["embedder.embedder.convolution"]
    assert stem["rf"] == [7, 7] and stem["stride"] == [2, 2]  # ResNet's 7x7 stride-2 stem conv
    assert layers["embedder"]["rf"] == [11, 11] and layers["embedder"]["stride"] == [4, 4]  # then a 3x3 stride-2 max pool: 7 + 2 x 2
    refused = CliRunner().invoke(app, ["rf", f"hf:{text}"])
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1
    compared = run_json("compare", f"hf:{vision}", "mobilenet_v1")
    assert [m["model"] for m in compared["models"]] == [f"hf:{vision}", "mobilenet_v1"]
    fit = run_json("fit", f"hf:{text}", "--memory", "64MiB", "--seq-len", "32")
    assert fit["device"] == "meta" and fit["batch"] >= 1 and fit["peak_bytes"] <= 64 * 2**20
    bench = run_json("bench", f"hf:{text}", "--seq-len", "16", "--min-time", "0.01", "--max-time", "0.05", "--no-progress")
    assert bench["results"][0]["status"] == "ok" and bench["results"][0]["inputs"] == tokens(length=16)
    step = run_json("profile", f"hf:{vision}", "--train", "--batch", "2")
    assert step["totals"]["params"] == transformers_model(AutoConfig.for_model("resnet", **dict(STAGES, embedding_size=16)), "base").num_parameters()


def test_token_inputs_off_meta_are_an_unpadded_batch(tmp_path):
    """Off meta (bench, the CPU fallback) the ids are zeros and the attention
    mask all ones, as a tokenizer gives an unpadded sentence; at every batch."""
    saved(tmp_path, "bert", TEXT)
    inputs = netstat.analyze(f"hf:{tmp_path}").source.inputs.with_batch(3)
    _, kwargs = inputs.materialise("cpu")
    assert kwargs["attention_mask"].shape == (3, 128) and bool((kwargs["attention_mask"] == 1).all())
    assert kwargs["input_ids"].dtype == torch.int64 and int(kwargs["input_ids"].abs().sum()) == 0


def test_help_imports_neither_torch_nor_transformers():
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['netstat', 'profile', '--help']\nfrom netstat.cli import main\ntry: main()\n"
            "except SystemExit: pass\nprint('@@', [m for m in ('torch', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "--seq-len" in out
    assert out.strip().splitlines()[-1] == "@@ []"


def test_hub_id_found_in_the_local_cache_with_its_processor_size(tmp_path):
    """A hub id read from the cache layout huggingface_hub writes (refs/main ->
    snapshots/REVISION/), in a fresh process whose HF_HUB_CACHE is tmp_path."""
    import subprocess
    import sys

    repo = tmp_path / "models--netstat-test--tiny-resnet"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    AutoConfig.for_model("resnet", **STAGES).save_pretrained(snapshot)  # no image_size of its own
    (snapshot / "preprocessor_config.json").write_text(json.dumps({"do_resize": True, "size": {"height": 32, "width": 48}}))
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run([sys.executable, "-m", "netstat", "profile", "hf:netstat-test/tiny-resnet", "--format", "json", "--depth", "0"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["inputs"] == image(32, 48)
    assert data["totals"]["params"] == transformers_model(AutoConfig.for_model("resnet", **STAGES), "base").num_parameters()


def test_mask2former_falls_back_to_cpu_and_says_why(tmp_path):
    """Mask2Former's forward makes a tensor on CPU, which cannot meet meta ones:
    the trace runs on CPU and the profile says why; the numbers still agree."""
    backbone = transformers.SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], image_size=64, window_size=4,
                                       out_features=["stage1", "stage2", "stage3", "stage4"])
    config = transformers.Mask2FormerConfig(backbone_config=backbone, hidden_dim=32, mask_feature_size=32, feature_size=32, encoder_layers=1,
                                            decoder_layers=2, num_queries=10, dim_feedforward=64, encoder_feedforward_dim=64, num_attention_heads=2)
    config.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 64, "width": 64}}))
    analysis = netstat.analyze(f"hf:{tmp_path}")  # the base model: the segmentation head's loss needs scipy
    profile = analysis.profile
    assert profile.inputs == image(64)
    assert analysis.trace.device == "cpu"
    assert any("cannot run on the meta device (RuntimeError: Tensor on device cpu is not on the expected device meta" in line for line in profile.notes)
    assert profile.totals["params"] == transformers_model(config, "base").num_parameters()
    args, kwargs = analysis.source.inputs.materialise("cpu")
    cpu_sdpa = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=cpu_sdpa) as counter, torch.no_grad():
        analysis.model(*args, **kwargs)
    assert profile.totals["madds"] == counter.get_total_flops() / 2
