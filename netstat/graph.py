"""The module graph of one traced forward: what the HTML page draws (issue 21).

Built from the same `netstat.trace.Trace` and `netstat.metrics.Profile` as
every other number (no second trace). A pure library module: no rendering.

Nodes form a tree (the call tree of the forward):

- one **module** node per module call that ran at least one op, in trace
  order; its numbers are the profile's row of that call (`layer`: the index
  in `Profile.layers`, i.e. in the document's ``layers``), so the page shows
  the document's numbers and nothing else;
- one **op** node per op that ran directly in a module call that also called
  submodules (Bottleneck's ``out += identity``, Inception's ``torch.cat``,
  ResNet's ``torch.flatten``): its MAdds, FLOPs and memory access are the
  op's own (`Profile.op_costs`), its params 0. An op inside a module that
  calls no submodule belongs to that module's node. Ops that neither read a
  value another node made nor make one another node reads (an ``empty``
  whose result is never read) are left out;
- an **input** node per forward input and one **output** node.

The finest nodes (module calls with no submodule calls, op nodes, the input
and output) partition the traced ops, so their MAdds add up to the total.
Edges join finest nodes: A -> B when an op of B reads a tensor value an op of
A made (dataflow ids, `TensorRef.tid`); weights are not nodes. A view of the
graph collapsed to some depth is the tree cut there, each edge drawn between
the cut's ancestors of its ends (`collapsed_edges`): a branch and a merge show
wherever the tree is expanded down to them (a ResNet block's add reads two
values: the block's main path and its shortcut).

A module call that runs no op at all (``nn.Identity``, a ``Dropout`` left
out on meta is still an op) has no node: nothing flows through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from netstat.schema import label

INPUT, OUTPUT, MODULE, OP = "input", "output", "module", "op"


@dataclass
class GraphNode:
    """One node of the call tree. Module nodes read their numbers from the
    profile's row `layer`; op nodes carry their op's own."""

    id: int
    kind: str  # INPUT, OUTPUT, MODULE or OP
    name: str  # the module's label, the op's name ("add"), "input 0", "output"
    type: str  # the module's type or the op's overload ("aten.add.Tensor")
    parent: int | None  # the enclosing module call's node (None: the root, inputs, output)
    depth: int  # nesting in the call tree: the root module 0, its calls 1, ...
    layer: int | None = None  # MODULE: index in Profile.layers
    path: str | None = None  # MODULE: the module's path ("" for the root)
    output_shape: list[list[int]] = field(default_factory=list)
    madds: int = 0  # OP: the op's own; MODULE: see `layer`
    flops: int = 0
    memory_access_bytes: int = 0
    activation_bytes: int = 0
    rf: str | None = None  # OP / INPUT: the RF of its (first) output, as the RF table writes it
    children: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name, "type": self.type, "parent": self.parent, "depth": self.depth}
        if self.children:
            data["children"] = list(self.children)
        if self.kind == MODULE:
            data.update(layer=self.layer, path=self.path)
        else:
            data.update(output_shape=self.output_shape, madds=self.madds, flops=self.flops,
                        memory_access_bytes=self.memory_access_bytes, activation_bytes=self.activation_bytes, rf=self.rf)
        return data


@dataclass
class ModuleGraph:
    """Nodes (a tree, `GraphNode.parent`) and the dataflow edges between the finest ones."""

    model: str
    nodes: list[GraphNode]
    edges: list[tuple[int, int]]  # (from, to) between finest nodes, sorted, each once
    root: int | None  # the root module call's node

    @property
    def max_depth(self) -> int:
        return max((n.depth for n in self.nodes), default=0)

    def node(self, name: str, call: int = 0) -> GraphNode:
        """The module node of `name` (a path; "" for the root), its `call`-th call."""
        calls = [n for n in self.nodes if n.kind == MODULE and n.path == name]
        if len(calls) <= call:
            raise KeyError(f"no call {call} of module '{label(name)}' in the graph of {self.model}")
        return calls[call]

    def visible(self, depth: int) -> list[int]:
        """The nodes shown when the tree is expanded to `depth`: every node at
        `depth`, and every childless node above it (plus inputs and output)."""
        return [n.id for n in self.nodes if n.depth == depth or (n.depth < depth and not n.children) or n.kind in (INPUT, OUTPUT)]

    def collapsed_edges(self, shown: Iterable[int]) -> list[tuple[int, int]]:
        """The edges between the `shown` nodes (a cut of the tree: no shown
        node inside another): each finest edge drawn between the shown
        ancestors of its ends, once; an edge inside one shown node vanishes."""
        shown = set(shown)
        rep: dict[int, int] = {}
        for n in self.nodes:
            up: int | None = n.id
            while up is not None and up not in shown:
                up = self.nodes[up].parent
            if up is not None:
                rep[n.id] = up
        return sorted({(rep[a], rep[b]) for a, b in self.edges if a in rep and b in rep and rep[a] != rep[b]})

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "root": self.root, "nodes": [n.to_dict() for n in self.nodes], "edges": [list(e) for e in self.edges]}


def build_graph(profile, rf=None) -> ModuleGraph:
    """The module graph of `profile`'s trace (`netstat.metrics.Profile`);
    `rf` (`netstat.rf.RFResult` of the same trace), when given, adds each op
    node's and input's receptive field."""
    trace, costs = profile.trace, profile.op_costs
    builder = _Builder(profile.model)
    for i, ref in enumerate(trace.inputs):
        builder.add(GraphNode(0, INPUT, f"input {i}" if len(trace.inputs) > 1 else "input", str(ref.dtype).removeprefix("torch."), None, 0,
                              output_shape=[list(ref.shape)], rf=_rf_text(rf, ref.tid)))
    owner = builder.add_calls(trace.modules)
    unit = builder.add_ops(trace, costs, owner, rf)
    out = builder.add(GraphNode(0, OUTPUT, "output", "", None, 0, output_shape=[list(r.shape) for r in trace.outputs]))
    edges = _dataflow(trace, unit, out)
    return ModuleGraph(profile.model, builder.nodes, edges, builder.root)


class _Builder:
    """Collects the nodes: inputs, the calls (a stack of open calls gives
    each its parent), the direct ops of calls that have submodule calls."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.nodes: list[GraphNode] = []
        self.root: int | None = None
        self.input_ids: list[int] = []

    def add(self, node: GraphNode) -> int:
        node.id = len(self.nodes)
        self.nodes.append(node)
        if node.parent is not None:
            self.nodes[node.parent].children.append(node.id)
        if node.kind == INPUT:
            self.input_ids.append(node.id)
        return node.id

    def add_calls(self, calls) -> dict[int, int]:
        """A node per call that ran ops; returns op index -> innermost call's node."""
        owner: dict[int, int] = {}
        stack: list[tuple[int, int]] = []  # (node id, end op) of the open calls
        for index, call in enumerate(calls):
            if call.end_op <= call.first_op:
                continue
            while stack and call.first_op >= stack[-1][1]:
                stack.pop()
            parent = stack[-1][0] if stack else None
            depth = self.nodes[parent].depth + 1 if parent is not None else 0
            node = self.add(GraphNode(0, MODULE, label(call.path), call.type, parent, depth, layer=index, path=call.path))
            if parent is None and self.root is None:
                self.root = node
            stack.append((node, call.end_op))
            for op in range(call.first_op, call.end_op):
                owner[op] = node  # a later (inner) call overwrites its parent's claim
        return owner

    def add_ops(self, trace, costs, owner: dict[int, int], rf) -> dict[int, int]:
        """Op index -> its finest node: the call's node, or a node of its own
        when its call has submodule calls (and it joins the dataflow)."""
        linked = _linked_ops(trace)
        unit: dict[int, int] = {}
        for index, op in enumerate(trace.ops):
            node = owner.get(index)
            if node is not None and not self.nodes[node].children:
                unit[index] = node
                continue
            if index not in linked:
                continue
            parent = self.nodes[node] if node is not None else None
            cost = costs[index]
            unit[index] = self.add(GraphNode(
                0, OP, op.packet.__name__, op.name, node, parent.depth + 1 if parent is not None else 0,
                output_shape=[list(r.shape) for r in op.outputs],
                madds=cost.madds, flops=cost.flops, memory_access_bytes=cost.mac_bytes, activation_bytes=cost.alloc_bytes,
                rf=_rf_text(rf, op.outputs[0].tid) if op.outputs else None,
            ))
        return unit


def _linked_ops(trace) -> set[int]:
    """Ops that read a value another op made or the input, or make one that is read or returned."""
    producer = {ref.tid: i for i, op in enumerate(trace.ops) for ref in op.outputs}
    inputs = {ref.tid for ref in trace.inputs}
    linked: set[int] = set()
    for i, op in enumerate(trace.ops):
        for ref in op.inputs:
            if ref.tid in producer and producer[ref.tid] != i:
                linked.update((i, producer[ref.tid]))
            elif ref.tid in inputs:
                linked.add(i)
    linked.update(producer[ref.tid] for ref in trace.outputs if ref.tid in producer)
    return linked


def _dataflow(trace, unit: dict[int, int], out: int) -> list[tuple[int, int]]:
    """Finest edges: the node that made a value -> each node that reads it."""
    made: dict[int, int] = {ref.tid: i for i, ref in enumerate(trace.inputs)}  # input i is node i
    edges = set()
    for index, op in enumerate(trace.ops):
        node = unit.get(index)
        if node is None:
            continue
        for ref in op.inputs:
            source = made.get(ref.tid)
            if source is not None and source != node:
                edges.add((source, node))
        for ref in op.outputs:
            made[ref.tid] = node
    for ref in trace.outputs:
        if ref.tid in made:
            edges.add((made[ref.tid], out))
    return sorted(edges)


def _rf_text(rf, tid: int) -> str | None:
    if rf is None or tid not in rf.states:
        return None
    return rf.states[tid].describe()
