"""netstat.graph: the module graph the HTML page draws, held to torch.fx's
graph of the same torchvision models (an independent tracer) and to the
models' source written out by hand."""

from __future__ import annotations

import operator

import pytest
import torch

from netstat.analysis import analyze
from netstat.graph import INPUT, MODULE, OP, OUTPUT, build_graph

tvm = pytest.importorskip("torchvision.models")
fx = pytest.importorskip("torch.fx")


def _graph(spec: str):
    analysis = analyze(spec)
    return analysis, build_graph(analysis.profile, analysis.receptive_field)


@pytest.fixture(scope="module")
def resnet18():
    return _graph("torchvision:resnet18")


def _sources(graph, node) -> list[str]:
    """The module paths (or op names) of the nodes with an edge into `node`."""
    return sorted(graph.nodes[a].path if graph.nodes[a].kind == MODULE else graph.nodes[a].name for a, b in graph.edges if b == node.id)


def _fx_arg_targets(node) -> list[str]:
    flat = []
    for arg in node.args:
        flat += list(arg) if isinstance(arg, (list, tuple)) else [arg]
    return sorted(a.target for a in flat if isinstance(a, fx.Node))


def test_resnet18_adds_read_what_torch_fx_says(resnet18):
    """Every residual add: the two modules it reads, by torch.fx's symbolic
    trace of the same torchvision model (in the order the adds run)."""
    _, graph = resnet18
    traced = fx.symbolic_trace(tvm.resnet18())
    fx_adds = [n for n in traced.graph.nodes if n.op == "call_function" and n.target in (operator.add, operator.iadd, torch.add)]
    ours = [n for n in graph.nodes if n.kind == OP and n.name in ("add", "add_")]
    assert len(ours) == len(fx_adds) == 8
    for node, fx_node in zip(ours, fx_adds):
        assert _sources(graph, node) == _fx_arg_targets(fx_node)
        assert len([1 for a, b in graph.edges if b == node.id]) == 2  # a merge: two incoming edges


def test_resnet18_module_edges_match_torch_fx(resnet18):
    """Module -> module edges between leaf modules equal fx's call_module ->
    call_module edges (fx's functional nodes -- the adds, flatten -- are
    skipped through on both sides)."""
    _, graph = resnet18
    traced = fx.symbolic_trace(tvm.resnet18())

    fx_edges = {(src, n.target) for n in traced.graph.nodes if n.op == "call_module" for src in _fx_module_sources(n)}
    ours = {(src, n.path) for n in graph.nodes if n.kind == MODULE and not n.children for src in _module_sources(graph, n.id)}
    assert ours == fx_edges


def _fx_module_sources(node) -> set[str]:
    """The call_module nodes `node` reads, through functional nodes (F.relu, add, cat)."""
    out = set()
    for arg in node.all_input_nodes:
        out |= {arg.target} if arg.op == "call_module" else _fx_module_sources(arg) if arg.op == "call_function" else set()
    return out


def _module_sources(graph, node_id: int) -> set[str]:
    """The module nodes `node_id` reads, through op nodes."""
    out = set()
    for a, b in graph.edges:
        if b == node_id:
            src = graph.nodes[a]
            out |= {src.path} if src.kind == MODULE else _module_sources(graph, a) if src.kind == OP else set()
    return out


def test_inception_v3_concatenations_read_their_branches():
    """InceptionA's torch.cat reads its four branches (torchvision's
    InceptionA.forward: branch1x1, branch5x5_2, branch3x3dbl_3, branch_pool;
    each BasicConv2d ends in bn then F.relu), as torch.fx sees them."""
    _, graph = _graph("torchvision:inception_v3")
    traced = fx.symbolic_trace(tvm.inception_v3(init_weights=False, aux_logits=False))
    fx_cats = [n for n in traced.graph.nodes if n.op == "call_function" and n.target is torch.cat]
    block = graph.node("Mixed_5b")
    cat = next(graph.nodes[c] for c in block.children if graph.nodes[c].kind == OP and graph.nodes[c].name == "cat")
    assert len([1 for a, b in graph.edges if b == cat.id]) == 4  # a merge of four branches
    fx_cat = next(n for n in fx_cats if all(t.startswith("Mixed_5b.") for t in _fx_module_sources(n)))
    expected = {"Mixed_5b.branch1x1.bn", "Mixed_5b.branch3x3dbl_3.bn", "Mixed_5b.branch5x5_2.bn", "Mixed_5b.branch_pool.bn"}
    assert _module_sources(graph, cat.id) == _fx_module_sources(fx_cat) == expected


def test_densenet121_concatenation_reads_every_earlier_layer():
    """torchvision's _DenseBlock: layer k concatenates the block input and
    the new features of layers 1..k-1 (its _DenseLayer.bn_function cat)."""
    _, graph = _graph("torchvision:densenet121")
    layer = graph.node("features.denseblock1.denselayer3")
    cat = next(graph.nodes[c] for c in layer.children if graph.nodes[c].kind == OP and graph.nodes[c].name == "cat")
    assert _sources(graph, cat) == ["features.denseblock1.denselayer1.conv2", "features.denseblock1.denselayer2.conv2", "features.pool0"]


def test_finest_nodes_partition_the_totals(resnet18):
    """The finest nodes (childless module calls and op nodes) hold every op
    once: their MAdds, FLOPs and memory access add up to the profile's totals."""
    analysis, graph = resnet18
    layers = analysis.profile.layers
    finest = [n for n in graph.nodes if n.kind in (MODULE, OP) and not n.children]
    for key in ("madds", "flops", "memory_access_bytes"):
        total = sum(getattr(layers[n.layer], key) if n.kind == MODULE else getattr(n, key) for n in finest)
        assert total == analysis.profile.totals[key], key
    assert analysis.profile.totals["madds"] == 1_814_073_344  # torchvision's resnet18 at 224: 1.81 GMACs (its weights table: 1.81 GFLOPS)


def test_collapsed_edges_keep_the_chain_and_hide_inner_merges(resnet18):
    """At depth 1 (the root's children) the graph is ResNet's chain, input ->
    conv1 -> ... -> layer4 -> avgpool -> flatten -> fc -> output; expanded to
    layer1.0's children, its add has its two incoming edges."""
    _, graph = resnet18
    names = {n.id: (n.path if n.kind == MODULE else n.name) for n in graph.nodes}
    top = graph.visible(1)
    chain = [(names[a], names[b]) for a, b in graph.collapsed_edges(top)]
    expected = ["input", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "view", "fc", "output"]
    assert sorted(chain) == sorted(zip(expected, expected[1:]))
    block = graph.node("layer1.0")
    shown = [n for n in top if n != graph.node("layer1").id] + [c for c in graph.node("layer1").children if c != block.id] + block.children
    add = next(c for c in block.children if graph.nodes[c].kind == OP)
    into_add = [names[a] for a, b in graph.collapsed_edges(shown) if b == add]
    assert sorted(into_add) == ["layer1.0.bn2", "maxpool"]


def test_tree_matches_module_calls(resnet18):
    """A module node per call that ran ops, under its enclosing call; the
    input and the output; depths count the nesting."""
    analysis, graph = resnet18
    calls = [c for c in analysis.trace.modules if c.end_op > c.first_op]
    modules = [n for n in graph.nodes if n.kind == MODULE]
    assert [(n.path, analysis.profile.layers[n.layer].call) for n in modules] == [(c.path, c.call) for c in calls]
    assert graph.node("layer1.0.conv1").parent == graph.node("layer1.0").id
    assert graph.node("layer1.0").depth == 2 and graph.node("layer1.0.conv1").depth == 3
    assert [n.kind for n in graph.nodes].count(INPUT) == 1 and [n.kind for n in graph.nodes].count(OUTPUT) == 1
    out = next(n for n in graph.nodes if n.kind == OUTPUT)
    assert _sources(graph, out) == ["fc"]
    assert len(graph.node("relu", 0).children) == 0 and len([n for n in modules if n.path == "layer1.0.relu"]) == 2


def test_detector_graph_joins_every_output():
    """A torchvision detector (boxes, labels, scores): the output node reads
    from the nodes that made each, and every edge joins existing nodes."""
    _, graph = _graph("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    out = next(n for n in graph.nodes if n.kind == OUTPUT)
    assert len(out.output_shape) == 3 and [a for a, b in graph.edges if b == out.id]
    assert all(0 <= a < len(graph.nodes) and 0 <= b < len(graph.nodes) and a != b for a, b in graph.edges)
    roots = [n for n in graph.nodes if n.parent is None and n.kind == MODULE]
    assert len(roots) == 1 and roots[0].path == ""


def test_op_nodes_carry_their_rf(resnet18):
    """An op node's RF is that of its output in the RF analysis: layer1.0's
    add sees conv1 (7 at stride 2), maxpool (3 at 2: 7 + 2*2 = 11, stride 4)
    and the block's two 3x3 convs at stride 4 (11 + 2*2*4 = 27)."""
    _, graph = resnet18
    add = next(graph.nodes[c] for c in graph.node("layer1.0").children if graph.nodes[c].kind == OP)
    assert add.rf == "27, stride 4"
