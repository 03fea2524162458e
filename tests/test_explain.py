"""`netstat explain`: published figures (papers, counters' READMEs and issues,
blog posts) and what reproduces them, as netstat's search finds it.

Every figure below is as published, with its source. `expected` is the
explanation the source's own method gives (its counter's rules, its model
variant, its input), written down before running the search; None means the
source counts something netstat does not build, so the search must say it
found nothing within the tolerance. The numbers behind the key explanations
are checked again against independent counts: hand formulas, torchvision's
own models, torch.utils.flop_counter and thop.
"""

from __future__ import annotations

import functools
import json

import pytest
import torch
from typer.testing import CliRunner

import netstat
from netstat.cli import app
from netstat.errors import UsageError
from netstat.explanation import parse_value

V1 = "ResNet v1 (stride on the first 1x1)"
TWO_TOWER = "two-tower (the paper's two GPUs)"
AUX = "with auxiliary heads"
MMCV = "madds+normalisation, activations and pooling"  # mmcv / ptflops-style module counters

# (model, quoted figure, metric the source names or None, source, expected (convention key, variant, input side) or None, first?)
FIGURES = [
    # issue 24's three examples
    ("alexnet", "60M", "params", "Krizhevsky et al. 2012, abstract: '60 million parameters'", ("params", "", None), True),
    ("alexnet", "58,621,952", "params", "issue 24's article: FC weights 256x6x6x4096 + 4096x4096 + 4096x1000", ("part-w:Linear layers", "", None), True),
    ("alexnet", "97.7%", "params", "issue 24's article: the FC layers hold 97.7% of the parameters",
     ("share:params:Linear layers without biases:the total rounded to 1 significant figure", "", None), True),
    ("resnet50", "3.8G", "flops", "He et al. 2015, Table 1: ResNet-50 3.8 x 10^9 FLOPs", ("madds", V1, None), True),
    ("alexnet", "2.14 GMACs", None, "calflops README (MrYxJ/calculate-flops.pytorch, issue #42): AlexNet 2.14 GMACs", ("train:madds", "", None), True),
    # papers
    ("resnet18", "1.8G", "flops", "He et al. 2015, Table 1: ResNet-18 1.8 x 10^9 FLOPs", ("madds", "", None), True),
    ("resnet101", "7.6G", "flops", "He et al. 2015, Table 1: ResNet-101 7.6 x 10^9 FLOPs", ("madds", V1, None), True),
    ("vgg19", "19.6G", "flops", "He et al. 2015, Sec. 3.3: VGG-19 19.6 billion FLOPs", ("madds", "", None), True),
    ("googlenet", "1.5G", "madds", "Szegedy et al. 2014, Sec. 1: 1.5 billion multiply-adds at inference time", ("madds", "", None), True),
    ("mobilenet_v2", "300M", "madds", "Sandler et al. 2018, Table 4: MobileNetV2 300M MAdds", ("madds", "", None), True),
    ("mobilenet_v1", "569M", "madds", "Howard et al. 2017, Table 8: 1.0 MobileNet-224 569 million mult-adds", ("madds", "", None), True),
    # counters' READMEs
    ("alexnet", "714.188 MMACs", None, "calflops README (pypi calflops 0.0.1): alexnet MACs 714.188 MMACs", ("madds", "", None), True),
    ("alexnet", "1.43 GFLOPS", None, "calflops README (pypi calflops 0.0.1): alexnet FLOPs 1.43 GFLOPS", ("2madds", "", None), True),
    ("resnet50", "4.14 GMACs", None, "thop README (pypi thop 0.1.1-2209072238), column MACs(G): resnet50 4.14", ("peer:thop", "", None), True),
    ("resnet50", "4.12G", "flops", "open-mmlab mmclassification docs/model_zoo.md: ResNet-50 4.12 GFlops", (MMCV, "", None), True),
    ("squeezenet1_0", "0.83G", "madds", "Captain1986/utils model table (mmcv counter): SqueezeNet1_0 0.83 GMACs", (MMCV, "", None), True),
    # torchvision's and Keras' documentation
    ("resnet50", "4.09G", "flops", "torchvision docs, ResNet50_Weights.IMAGENET1K_V1: 4.09 GFLOPS", ("madds", "", None), True),
    ("googlenet", "6,624,904", "params", "torchvision docs, GoogLeNet_Weights.IMAGENET1K_V1: num_params 6,624,904", ("params", "", None), True),
    ("inception_v3", "27,161,264", "params", "torchvision docs, Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264", ("params", AUX, None), True),
    ("vgg16", "138,357,544", "params", "Keras Applications table: VGG16 138,357,544 parameters", ("params", "", None), True),
    ("mobilenet_v2", "3,538,984", "params", "Keras Applications table: MobileNetV2 3,538,984 parameters", ("params+buffers", "", None), True),
    ("mobilenet_v1", "4,253,864", "params", "Keras Applications table: MobileNet 4,253,864 parameters", ("params+buffers", "", None), True),
    ("densenet121", "8,062,504", "params", "Keras Applications table: DenseNet121 8,062,504 parameters", ("params+buffers", "", None), True),
    ("vgg16", "528 MB", None, "Keras Applications table: VGG16 size 528 MB", ("bytes-fp32@binary", "", None), True),
    # blog posts and benchmark repositories
    ("alexnet", "724M", "madds", "github.com/KamelAbdelouahab/CNN-Workload (Caffe bvlc_alexnet): 724 M MACs", ("madds", TWO_TOWER, 227), True),
    ("resnet50", "3.86 G", "madds", "github.com/KamelAbdelouahab/CNN-Workload (Caffe ResNet-50): 3.86 G MACs", ("madds", V1, None), True),
    # no explanation within the tolerance
    ("resnet50", "25,636,712", "params", "Keras Applications table: ResNet50 (Keras' ResNet50 gives its convs biases)", None, False),
    ("inception_v3", "23,851,784", "params", "Keras Applications table: InceptionV3 (Keras' BN has no scale)", None, False),
    ("alexnet", "62,378,344", "params", "mnchapel.github.io/deep_learning_models/cnn/2012-01-01-alexnet.html (ungrouped 96-256-384-384-256)", None, False),
    ("alexnet", "0.77 GMACs", None, "thop README (pypi thop 0.1.1-2209072238), column MACs(G): alexnet 0.77", None, False),
    ("vgg16", "15.61 GMACs", None, "thop README (pypi thop 0.1.1-2209072238), column MACs(G): vgg16 15.61", None, False),
    ("googlenet", "1.58 G", "madds", "github.com/KamelAbdelouahab/CNN-Workload (Caffe bvlc_googlenet, 5x5 branches): 1.58 G MACs", None, False),
    ("resnet50", "3,877.95M", "madds", "nerox8664/awesome-computer-vision-models README (osmr imgclsmob): ResNet-50 3,877.95M FLOPs", None, False),
]


@functools.cache
def explained(model: str, value: str, metric: str | None):
    return netstat.explain(model, value, metric)


def _key(c) -> tuple:
    size = c.build.input_size[-1] if c.build.input_size else None
    return (c.count.key, c.build.variant, size)


@pytest.mark.parametrize("model, value, metric, source, expected, first", FIGURES, ids=[f"{f[0]} {f[1]}" for f in FIGURES])
def test_published_figure_gets_the_explanation_of_its_source(model, value, metric, source, expected, first):
    result = explained(model, value, metric)
    if expected is None:
        assert not result.found and result.matches == [], [(_key(c), c.value) for c in result.matches]
        assert result.nearest and all(abs(c.error) > result.tolerance for c in result.nearest)
        return
    keys = [_key(c) for c in result.matches]
    assert expected in keys, (source, keys)
    if first:
        assert keys[0] == expected, (source, keys)
    assert all(abs(c.error) <= result.tolerance for c in result.matches)


def _match(model, value, metric, key):
    return next(c for c in explained(model, value, metric).matches if _key(c) == key)


def _flop_counter_madds(model: torch.nn.Module, shape) -> int:
    """torch.utils.flop_counter's FLOPs / 2 (it counts 2 per multiply-add, no bias) on meta."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device="meta"))
    return counter.get_total_flops() // 2


def test_the_issues_alexnet_figures_are_the_hand_written_sums():
    fc_weights = 256 * 6 * 6 * 4096 + 4096 * 4096 + 4096 * 1000
    assert _match("alexnet", "58,621,952", "params", ("part-w:Linear layers", "", None)).value == fc_weights == 58_621_952
    share = _match("alexnet", "97.7%", "params", FIGURES[2][4])
    assert share.value == pytest.approx(fc_weights / 60e6) and round(100 * share.value, 1) == 97.7
    import torchvision

    with torch.device("meta"):
        params = sum(p.numel() for p in torchvision.models.alexnet().parameters())
    assert _match("alexnet", "60M", "params", ("params", "", None)).value == params == 61_100_840


def test_resnet_v1_madds_equal_torchvisions_resnet50_with_the_stride_moved_to_the_first_1x1():
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.resnet50()
    for stage in (model.layer2, model.layer3, model.layer4):
        stage[0].conv1.stride, stage[0].conv2.stride = (2, 2), (1, 1)
    assert _match("resnet50", "3.8G", "flops", ("madds", V1, None)).value == _flop_counter_madds(model, (1, 3, 224, 224)) == 3_857_973_248


def test_two_tower_alexnet_madds_at_227_are_the_papers_layer_sums():
    convs = [55 * 55 * 96 * 11 * 11 * 3, 27 * 27 * 256 * 5 * 5 * 48, 13 * 13 * 384 * 3 * 3 * 256, 13 * 13 * 384 * 3 * 3 * 192, 13 * 13 * 256 * 3 * 3 * 192]
    fcs = 256 * 6 * 6 * 4096 + 4096 * 4096 + 4096 * 1000
    assert _match("alexnet", "724M", "madds", ("madds", TWO_TOWER, 227)).value == sum(convs) + fcs == 724_406_816


def test_calflops_forward_backward_is_three_times_flop_counters_forward():
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.alexnet()
    forward = _flop_counter_madds(model, (1, 3, 224, 224))
    assert _match("alexnet", "2.14 GMACs", None, ("train:madds", "", None)).value == 3 * forward == 2_142_565_440


def test_keras_counts_are_torchvisions_params_plus_batch_norm_statistics():
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.mobilenet_v2()
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    params = sum(p.numel() for p in model.parameters())
    assert _match("mobilenet_v2", "3,538,984", "params", ("params+buffers", "", None)).value == params + stats == 3_538_984


def test_keras_vgg16_megabytes_are_mebibytes_of_float32_weights():
    import torchvision

    with torch.device("meta"):
        params = sum(p.numel() for p in torchvision.models.vgg16().parameters())
    mebibytes = 4 * params / 2**20
    assert round(mebibytes) == 528
    assert _match("vgg16", "528 MB", None, ("bytes-fp32@binary", "", None)).value == pytest.approx(mebibytes * 1e6)


def test_thops_resnet50_count_is_what_thop_prints():
    import thop
    import torchvision

    model = torchvision.models.resnet50().eval()
    with torch.no_grad():
        macs, _ = thop.profile(model, inputs=(torch.zeros(1, 3, 224, 224),), verbose=False)
    assert _match("resnet50", "4.14 GMACs", None, ("peer:thop", "", None)).value == int(macs) == 4_133_742_592


def test_a_batch_is_found_by_tracing_at_that_batch():
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.resnet18()
    value = f"{32 * 1_814_073_344:,}"
    result = netstat.explain("resnet18", value, "madds")
    top = result.matches[0]
    assert top.build.batch == 32 and top.build.input_size == (32, 3, 224, 224)
    assert top.value == _flop_counter_madds(model, (32, 3, 224, 224))


def test_each_build_is_traced_once(traces):
    calls = traces  # the traced forwards (tests/conftest.py)
    result = netstat.explain("alexnet", "724M", "madds")
    assert len(calls) == len(result.builds) == len(set(result.builds))
    # nothing lands at 224 (as built, two-tower, 1001 classes), so the other inputs are tried:
    # two-tower at its own 227, and as built at 227, 256, 299, 320, 384
    assert len(calls) == 9


def test_other_inputs_are_not_traced_when_the_models_own_input_explains_the_figure(monkeypatch):
    calls = []
    real = netstat.trace.run_trace
    monkeypatch.setattr(netstat.trace, "run_trace", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = netstat.explain("alexnet", "714M", "madds")
    assert result.matches[0].count.key == "madds" and result.matches[0].build.input_size is None
    assert len(calls) == 3  # as built, two-tower, 1001 classes


@pytest.mark.parametrize("text, value, unit, metric, share", [
    ("3.8G", 3.8e9, 1e8, None, False),
    ("60M", 60e6, 10e6, None, False),
    ("97.7%", 0.977, 0.001, None, True),
    ("4,133,742,592", 4_133_742_592, 1, None, False),
    ("2.14 GMACs", 2.14e9, 0.01e9, "madds", False),
    ("1.43 GFLOPS", 1.43e9, 0.01e9, "flops", False),
    ("3.8 x 10^9", 3.8e9, 1e8, None, False),
    ("25.6 million params", 25.6e6, 0.1e6, "params", False),
    ("300 MACs", 300, 100, "madds", False),  # a whole number's trailing zeros are not significant
    ("3.8B FLOPs", 3.8e9, 1e8, "flops", False),
    ("528 MB", 528e6, 1e6, "memory", False),
    ("98 MiB", 98 * 2**20, 2**20, "memory", False),
])
def test_a_quoted_figure_is_read_with_its_precision(text, value, unit, metric, share):
    quoted = parse_value(text)
    assert quoted.value == pytest.approx(value) and quoted.unit == pytest.approx(unit)
    assert (quoted.metric, quoted.share) == (metric, share)


@pytest.mark.parametrize("text", ["", "abc", "3.8Q", "-5M", "0", "1,,000", "3.8 GFLOPZ", "nan", "1e400", "5e-400"])
def test_an_unreadable_figure_is_one_sentence(text):
    with pytest.raises(UsageError, match="is not a figure explain can read"):
        parse_value(text)


def test_bad_metric_and_tolerance_name_the_parameters():
    with pytest.raises(UsageError, match="^metric must be"):
        netstat.explain("lenet5", "60K", metric="joules")
    with pytest.raises(UsageError, match="^tolerance must be"):
        netstat.explain("lenet5", "60K", tolerance=2)


def test_cli_explains_a_figure_in_a_table_and_in_json():
    result = CliRunner().invoke(app, ["explain", "alexnet", "58,621,952", "--source", "issue 24"])
    assert result.exit_code == 0, result.output
    assert "58,621,952" in result.output and "without their biases" in result.output
    result = CliRunner().invoke(app, ["explain", "alexnet", "58,621,952", "--format", "json"])
    data = json.loads(result.output)
    assert data["found"] and data["matches"][0]["value"] == 58_621_952


def test_cli_says_when_nothing_is_within_the_tolerance():
    result = CliRunner().invoke(app, ["explain", "alexnet", "62,378,344", "--metric", "params"])
    assert result.exit_code == 0, result.output
    assert "No explanation within" in result.output


@pytest.mark.parametrize("argv, words", [
    (["explain", "alexnet", "3.8Q"], "is not a figure explain can read"),
    (["explain", "alexnet", "60M", "--metric", "joules"], "--metric must be"),
    (["explain", "alexnet", "60M", "--tolerance", "5"], "--tolerance must be"),
])
def test_cli_bad_input_is_one_sentence_and_exit_2(argv, words):
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def _small_net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 30 * 30, 10))


def test_a_users_module_is_explained_and_left_as_it_was():
    model = _small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    conv, linear = 30 * 30 * 8 * 3 * 3 * 3, 8 * 30 * 30 * 10  # MAdds by hand: 194,400 and 72,000
    result = netstat.explain(model, "27%", "madds", input_size=(1, 3, 32, 32))
    top = result.matches[0]
    assert top.count.key == "share:madds:Linear layers:the exact total" and top.value == linear / (conv + linear)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_inputs_a_model_cannot_take_are_no_candidates():
    result = netstat.explain(_small_net(), "2,000", input_size=(1, 3, 32, 32))
    assert not result.found
    assert len(result.failed) == 6 and all("cannot run on input" in why for why in result.failed.values())
    assert all(c.build.input_size is None for c in result.nearest)
