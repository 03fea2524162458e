"""One description of what a model's forward is called with: `Inputs`.

Every command takes its inputs in this one form, from the CLI to the trace,
the training step, the benchmark, the cross-check and the baseline:

- positional inputs (`args`) and keyword inputs (`kwargs`, e.g.
  `attention_mask`), in the order the forward takes them;
- each input an `InputSpec` (a shape and a dtype: netstat makes the tensor)
  or a real example tensor the user passed, possibly nested in tuples,
  lists and dicts (as torchinfo's `input_data` and torchscan's args / kwargs);
- `with_batch(b)` sets the batch (the first dimension of every tensor input):
  the one batch substitution every command uses;
- `materialise(device)` makes the tensors: on meta only shapes and dtypes
  count (empty tensors); elsewhere an `InputSpec` becomes zeros (token ids
  and masks stay in range), or its `fill` (1 for a Hugging Face model's
  attention mask: no padding), and a real example a copy of its values, so the
  forward cannot change the caller's tensors.

Any other value (a flag, None, a number) is passed to the forward as it is.
On the CLI: `--input 1,3,224,224`, `--input 1,128:int64` (positional, once
per argument) and `--input attention_mask=1,128:int64` (keyword).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Iterator

from netstat.errors import UsageError

DEFAULT_INPUT = (1, 3, 224, 224)
DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64", "fp64": "float64", "double": "float64",
          "int64": "int64", "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}


@dataclass(frozen=True)
class InputSpec:
    """One tensor input by its shape and dtype name; netstat makes the tensor."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    fill: int = 0  # every element's value when netstat makes it off meta (1: an attention mask with no padding)

    def describe(self) -> str:
        size = "x".join(map(str, self.shape)) or "scalar"
        return size if self.dtype == "float32" else f"{size}:{self.dtype}"

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}


def _is_tensor(x: Any) -> bool:
    """A torch.Tensor, without importing torch for a run that has none."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _map(fn, tree: Any) -> Any:
    """`fn` on every leaf of nested tuples, lists and dicts (structure kept)."""
    if isinstance(tree, dict):
        return {k: _map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)) and not isinstance(tree, InputSpec):
        items = [_map(fn, x) for x in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    return fn(tree)


def _leaves(tree: Any, name: str) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{name}.{k}")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{name}.{i}")
    else:
        yield name, tree


def spec_of(x: Any) -> InputSpec | None:
    """The InputSpec of a tensor leaf (a real tensor's shape and dtype), else None."""
    if isinstance(x, InputSpec):
        return x
    if _is_tensor(x):
        return InputSpec(tuple(x.shape), str(x.dtype).removeprefix("torch."))
    return None


@dataclass(frozen=True, eq=False)
class Inputs:
    """The positional and keyword inputs of one forward (see the module docstring)."""

    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, args: Any = (), kwargs: dict[str, Any] | None = None) -> "Inputs":
        """Positional inputs (a list / tuple of them) and keyword inputs (a
        dict); each a tensor, an InputSpec, a nested structure of them, or a
        constant. Keyword names must be identifiers."""
        kwargs = dict(kwargs or {})
        for key in kwargs:
            if not isinstance(key, str) or not key.isidentifier():
                raise UsageError(f"A keyword input's name must be an identifier such as attention_mask, not {key!r}.")
        return cls(tuple(args), tuple(kwargs.items()))

    @classmethod
    def from_shapes(cls, input_size: Any) -> "Inputs | None":
        """None, one shape, or a list of shapes / InputSpecs (one per positional argument)."""
        if input_size is None:
            return None
        if isinstance(input_size, Inputs):
            return input_size
        if isinstance(input_size, InputSpec):
            return cls((input_size,))
        items = list(input_size) if isinstance(input_size, (list, tuple)) else None
        if items and all(isinstance(d, (numbers.Number, str)) for d in items):  # one shape, not a list of them
            items = [tuple(items)]
        if not items:
            raise UsageError(f"An input size must be a shape such as (1, 3, 224, 224) or a list of them, not {input_size!r}.")
        return cls(tuple(as_spec(item) for item in items))

    def __bool__(self) -> bool:
        return bool(self.args or self.kwargs)

    def __repr__(self) -> str:
        return f"Inputs({self.describe()})"

    @property
    def keywords(self) -> dict[str, Any]:
        return dict(self.kwargs)

    def leaves(self) -> list[tuple[str, Any]]:
        """(name, leaf) for every leaf: positional ones named by index ("0",
        "1", "0.1" inside a tuple), keyword ones by their key."""
        found = [leaf for i, arg in enumerate(self.args) for leaf in _leaves(arg, str(i))]
        return found + [leaf for key, value in self.kwargs for leaf in _leaves(value, key)]

    def specs(self) -> list[tuple[str, InputSpec]]:
        """(name, InputSpec) of every tensor input, in order."""
        return [(name, spec) for name, leaf in self.leaves() if (spec := spec_of(leaf)) is not None]

    @property
    def first_shape(self) -> tuple[int, ...] | None:
        """The first tensor input's shape (a profile's `input_shape`)."""
        specs = self.specs()
        return specs[0][1].shape if specs else None

    @property
    def has_examples(self) -> bool:
        """True when some input is a real tensor (its values matter off meta)."""
        return any(_is_tensor(leaf) for _, leaf in self.leaves())

    @property
    def positional_only(self) -> bool:
        """Only positional tensor inputs, none nested: what a peer tool's one-tuple input takes."""
        return not self.kwargs and all(spec_of(a) is not None for a in self.args)

    def with_batch(self, batch: int) -> "Inputs":
        """The same inputs with `batch` as the first dimension of every tensor
        input (scalars kept); a real example is cycled or cut to `batch` rows."""
        def batched(leaf: Any) -> Any:
            spec = spec_of(leaf)
            if spec is None or not spec.shape or spec.shape[0] == batch:
                return leaf
            if isinstance(leaf, InputSpec):
                return InputSpec((batch, *spec.shape[1:]), spec.dtype, leaf.fill)
            import torch

            return leaf[torch.arange(batch, device=leaf.device) % leaf.shape[0]]

        return Inputs(tuple(_map(batched, a) for a in self.args), tuple((k, _map(batched, v)) for k, v in self.kwargs))

    def materialise(self, device: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(args, kwargs) of tensors on `device`, see the module docstring."""
        import torch

        dev = torch.device(device)

        def make(leaf: Any) -> Any:
            spec = spec_of(leaf)
            if spec is None:
                return leaf
            dtype = getattr(torch, spec.dtype)
            if dev.type == "meta":
                return torch.empty(spec.shape, dtype=dtype, device=dev)
            if isinstance(leaf, InputSpec):
                return torch.full(spec.shape, leaf.fill, dtype=dtype, device=dev)
            return leaf.detach().to(dev, copy=True)

        return tuple(_map(make, a) for a in self.args), {k: _map(make, v) for k, v in self.kwargs}

    def cast(self, dtype: str) -> "Inputs":
        """Floating-point tensor inputs in `dtype` (a dtype name); the rest as they are."""
        def cast(leaf: Any) -> Any:
            spec = spec_of(leaf)
            if spec is None or not spec.dtype.startswith(("float", "bfloat")):
                return leaf
            if isinstance(leaf, InputSpec):
                return InputSpec(spec.shape, dtype, leaf.fill)
            import torch

            return leaf.to(getattr(torch, dtype))

        return Inputs(tuple(_map(cast, a) for a in self.args), tuple((k, _map(cast, v)) for k, v in self.kwargs))

    def describe(self) -> str:
        """'1x3x224x224' or '1x128:int64, attention_mask=1x128:int64'."""
        parts = []
        for name, leaf in self.leaves():
            spec = spec_of(leaf)
            text = spec.describe() if spec is not None else repr(leaf)
            parts.append(text if name.split(".")[0].isdigit() else f"{name}={text}")
        return ", ".join(parts) or "no inputs"

    def to_dict(self) -> list[dict[str, Any]]:
        """Every input as {"name", "shape", "dtype"} (tensors) or {"name", "value"} (constants)."""
        rows = []
        for name, leaf in self.leaves():
            spec = spec_of(leaf)
            rows.append({"name": name, **spec.to_dict()} if spec is not None else {"name": name, "value": leaf})
        return rows

    @classmethod
    def from_dict(cls, rows: list[dict[str, Any]]) -> "Inputs":
        """The inverse of `to_dict` for flat inputs (what the CLI and a baseline hold)."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for row in rows:
            leaf = as_spec(InputSpec(tuple(row["shape"]), row.get("dtype", "float32"))) if "shape" in row else row.get("value")
            name = str(row.get("name", len(args)))
            if name.isdigit():
                args.append(leaf)
            else:
                kwargs[name] = leaf
        return cls.of(args, kwargs)


def as_spec(item: Any) -> InputSpec:
    """A shape or an InputSpec, checked: positive integer sizes and a known dtype."""
    if isinstance(item, InputSpec):
        shape, dtype = item.shape, item.dtype
    else:
        shape, dtype = item, "float32"
    whole = isinstance(shape, (list, tuple)) and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape)
    dims = tuple(int(d) for d in shape) if whole else ()
    if not dims or any(d <= 0 for d in dims):
        raise UsageError(f"An input shape must be a sequence of positive integers such as (1, 3, 224, 224), not {item!r}.")
    if dtype not in DTYPES:
        raise UsageError(f"Unknown input dtype '{dtype}'.", hint=f"Use one of: {', '.join(sorted(set(DTYPES.values())))}.")
    return InputSpec(dims, DTYPES[dtype], getattr(item, "fill", 0))


def example_inputs(inputs: Any = None, kwargs: dict[str, Any] | None = None) -> Inputs | None:
    """The API's real example inputs: `inputs` one tensor or a tuple / list of
    positional ones (nested structures allowed), `kwargs` keyword ones."""
    if inputs is None and not kwargs:
        return None
    if inputs is None:
        args: tuple = ()
    elif isinstance(inputs, (tuple, list)):
        args = tuple(inputs)
    else:
        args = (inputs,)
    result = Inputs.of(args, kwargs)
    if not result.specs():
        raise UsageError("The example inputs hold no tensor: give tensors (or netstat.InputSpec shapes) for the forward.")
    return result
