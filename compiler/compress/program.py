"""A saved ExportedProgram (.pt2) rebuilt as a module the compression pieces can train and rewrite.

`torch.export.load(path).module()` runs, but it is not what pruning, clustering,
QAT, channel removal and low-rank need: its submodules are plain containers
of parameters (`conv1` is an `nn.Module`, not an `nn.Conv2d`), its forward
refuses `.train()`, and its shapes are fixed to the batch it was exported
with. `module_from_program` copies the program's graph into a
`torch.fx.GraphModule` in which

  * every `aten.conv1d`/`conv2d`/`convolution` (not transposed) and
    `aten.linear` whose weight (and bias) are parameters `P.weight` (and
    `P.bias`) is a call of a real `nn.Conv1d`/`nn.Conv2d`/`nn.Linear` at `P`,
    holding those parameters: the layer names are the user's own (`conv1`,
    `head.1`), as `sensitivity.plan` and per-layer recipes name them;
  * every batch norm on parameters and buffers `P.*` is an
    `nn.BatchNorm1d/2d/3d` at `P` (so training updates its running statistics
    and QAT folds it), and every `aten.dropout` an `nn.Dropout` (active while
    training);
  * every other parameter, buffer and constant sits at its own qualified name
    and the ops using it stay as they are (trained, not compressed);
  * a reshape of a static-batch program whose first dimension is the batch it
    was exported with takes the batch from its input instead, so the module
    runs on any batch size.

`check_batches` runs the rebuilt module on a few samples at another batch size
against the program, so a program it cannot rebuild faithfully is refused with
the reason, never trained wrongly.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn as nn

from microflat.runtime.errors import CompileError

aten = torch.ops.aten
_CONV = {aten.conv1d.default: 1, aten.conv2d.default: 2}
_BN = (aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default)
_RESHAPE = (aten.view.default, aten.reshape.default, aten._unsafe_view.default)

DYNAMIC_BATCH_HINT = ("export it with a dynamic batch dimension: torch.export.export(model, (x,), "
                      "dynamic_shapes=({0: torch.export.Dim('batch')},))")


def _val(node):
    v = node.meta.get("val") if isinstance(node, fx.Node) else None
    return v if isinstance(v, torch.Tensor) else None


def _static_dim(d):
    return d if isinstance(d, int) else None


def user_inputs(ep: torch.export.ExportedProgram) -> list[fx.Node]:
    names = {s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"}
    return [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in names]


def user_outputs(ep: torch.export.ExportedProgram) -> list:
    out = next(n for n in ep.graph.nodes if n.op == "output")
    values = out.args[0] if isinstance(out.args[0], (tuple, list)) else (out.args[0],)
    return [v for v, s in zip(values, ep.graph_signature.output_specs) if s.kind.name == "USER_OUTPUT"]


def _install(root: nn.Module, path: str, value, *, parameter: bool = False, module: bool = False) -> None:
    """Put a parameter, buffer or module at a qualified name, creating plain containers on the way."""
    *parents, leaf = path.split(".")
    owner = root
    for part in parents:
        child = owner._modules.get(part)
        if child is None:
            child = nn.Module()
            owner.add_module(part, child)
        owner = child
    if module:
        owner.add_module(leaf, value)
    elif parameter:
        owner.register_parameter(leaf, nn.Parameter(value.detach().clone(), requires_grad=value.is_floating_point()))
    else:
        owner.register_buffer(leaf, value.detach().clone())


def module_from_program(ep: torch.export.ExportedProgram, name: str = "the program") -> fx.GraphModule:
    """The program as a trainable GraphModule with real conv, linear, batch-norm and dropout modules.

    name: how errors refer to the program (its path). Raises CompileError.
    """
    sig = ep.graph_signature
    kinds = {}  # placeholder name -> (kind, qualified name)
    for spec in sig.input_specs:
        kind = spec.kind.name
        if kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
            kinds[spec.arg.name] = (kind, spec.target)
        elif kind != "USER_INPUT":
            raise CompileError(f"{name}: an input of kind {kind} ({spec.arg.name}) cannot be rebuilt for training")

    def tensor(fqn):
        if fqn in ep.state_dict:
            return ep.state_dict[fqn]
        if fqn in ep.constants:
            return ep.constants[fqn]
        raise CompileError(f"{name}: no tensor {fqn!r} in the program's state")

    def attr(node):
        """(kind, qualified name) of a parameter/buffer/constant placeholder, else None."""
        return kinds.get(node.name) if isinstance(node, fx.Node) and node.op == "placeholder" else None

    def owner_of(node, field):
        a = attr(node)
        if a is None or not a[1].endswith("." + field):
            return None
        return a[1][: -len(field) - 1]

    # 1. which ops become modules, at which qualified name
    modules: dict[str, nn.Module] = {}       # qualified name -> module
    sources: dict[str, tuple] = {}           # qualified name -> the placeholders it holds
    calls: dict[fx.Node, str] = {}           # op node -> the module that replaces it
    owned: set[str] = set()                  # qualified names of the tensors the modules hold
    batch_norm_tuples: set[fx.Node] = set()  # _native_batch_norm_legit_no_training: its [0] is the module's output
    taken = {f for _, f in kinds.values()} | {f.split(".")[0] for _, f in kinds.values()}

    def claim(path, module, node, tensors) -> bool:
        """Replace `node` by a call of `module` at `path`, which holds `tensors` {field: placeholder}; a layer
        used twice (the same parameters, the same configuration) is one module called twice."""
        key = tuple(sorted((f, n.name) for f, n in tensors.items()))
        if path in modules:
            if not (_same_module(modules[path], module) and sources[path] == key):
                return False
        else:
            _fill(module, {f: tensor(attr(n)[1]) for f, n in tensors.items()})
            modules[path], sources[path] = module, key
        calls[node] = path
        owned.update(f"{path}.{f}" for f in tensors)
        return True

    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        args = list(node.args) + [None] * 12
        if node.target in _CONV or node.target is aten.convolution.default:
            x, w, b = args[0], args[1], args[2]
            path = owner_of(w, "weight")
            wv = _val(w)
            if path is None or attr(w)[0] != "PARAMETER" or wv is None or node.kwargs:
                continue
            if b is not None and (owner_of(b, "bias") != path or attr(b)[0] != "PARAMETER"):
                continue
            if node.target is aten.convolution.default:
                stride, padding, dilation, transposed, output_padding, groups = args[3:9]
                if transposed or any(output_padding or []):
                    continue
                dims = wv.dim() - 2
            else:
                dims = _CONV[node.target]
                stride, padding, dilation, groups = (args[3] or 1), (args[4] or 0), (args[5] or 1), (args[6] or 1)
            if dims not in (1, 2) or wv.dim() != dims + 2:
                continue
            cls = nn.Conv1d if dims == 1 else nn.Conv2d
            out_ch, in_per_group = int(wv.shape[0]), int(wv.shape[1])
            conv = cls(in_per_group * groups, out_ch, tuple(int(k) for k in wv.shape[2:]), stride=stride,
                       padding=padding, dilation=dilation, groups=groups, bias=b is not None)
            tensors = {"weight": w, "bias": b} if b is not None else {"weight": w}
            claim(path, conv, node, tensors)
        elif node.target is aten.linear.default:
            x, w, b = args[0], args[1], args[2]
            path = owner_of(w, "weight")
            wv = _val(w)
            if path is None or attr(w)[0] != "PARAMETER" or wv is None or wv.dim() != 2 or node.kwargs:
                continue
            if b is not None and (owner_of(b, "bias") != path or attr(b)[0] != "PARAMETER"):
                continue
            linear = nn.Linear(int(wv.shape[1]), int(wv.shape[0]), bias=b is not None)
            tensors = {"weight": w, "bias": b} if b is not None else {"weight": w}
            claim(path, linear, node, tensors)
        elif node.target in _BN:
            x, w, b, mean, var = args[:5]
            if node.target is aten.batch_norm.default:
                momentum, eps = args[6], args[7]
            else:
                momentum, eps = args[5], args[6]
                if not all(u.op == "call_function" and u.args[1] == 0 for u in node.users):
                    continue
            path = owner_of(mean, "running_mean")
            xv = _val(x)
            if path is None or owner_of(var, "running_var") != path or xv is None or xv.dim() not in (2, 3, 4, 5):
                continue
            if any(t is not None and owner_of(t, f) != path for t, f in ((w, "weight"), (b, "bias"))):
                continue
            if (w is None) != (b is None):
                continue
            cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[xv.dim()]
            bn = cls(int(_val(mean).shape[0]), eps=float(eps), momentum=momentum, affine=w is not None)
            tensors = {"running_mean": mean, "running_var": var}
            if w is not None:
                tensors.update(weight=w, bias=b)
            tracked = f"{path}.num_batches_tracked"
            if claim(path, bn, node, tensors):
                if tracked in ep.state_dict:
                    modules[path].num_batches_tracked.copy_(ep.state_dict[tracked])
                owned.add(tracked)
                if node.target is not aten.batch_norm.default:
                    batch_norm_tuples.add(node)
        elif node.target is aten.dropout.default and isinstance(args[1], (int, float)):
            path = node.name
            while path in taken or path in modules:
                path += "_"
            claim(path, nn.Dropout(float(args[1])), node, {})

    # 2. the graph, with module calls in place of those ops
    root = nn.Module()
    for path, module in sorted(modules.items(), key=lambda kv: kv[0].count(".")):
        _install(root, path, module, module=True)
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    getattrs: dict[str, fx.Node] = {}
    inputs = user_inputs(ep)
    batch = _static_dim(_val(inputs[0]).shape[0]) if len(inputs) == 1 and _val(inputs[0]) is not None \
        and _val(inputs[0]).dim() > 0 else None

    def get(node):
        if node in env:
            return env[node]
        kind, fqn = attr(node)
        if fqn not in getattrs:
            if fqn not in owned:
                _install(root, fqn, tensor(fqn), parameter=kind == "PARAMETER")
                owned.add(fqn)
            getattrs[fqn] = graph.get_attr(fqn)
        return getattrs[fqn]

    def mapped(a):
        return fx.node.map_arg(a, get)

    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if attr(node) is None:
                env[node] = graph.placeholder(node.name)
                env[node].meta = dict(node.meta)
            continue
        if node.op == "output":
            outs = [mapped(v) for v in user_outputs(ep)]
            graph.output(outs[0] if len(outs) == 1 else tuple(outs))
            continue
        if node in calls:
            new = graph.call_module(calls[node], (mapped(node.args[0]),))
        elif (node.op == "call_function" and node.target is operator.getitem
              and node.args[0] in batch_norm_tuples):
            new = env[node.args[0]]
        elif node.op == "call_function" and node.target in _RESHAPE and batch is not None:
            new = graph.node_copy(node, get)
            src, shape = node.args[0], node.args[1]
            sv, ov = _val(src), _val(node)
            if (isinstance(shape, (list, tuple)) and shape and shape[0] == batch and sv is not None
                    and ov is not None and sv.dim() > 0 and sv.shape[0] == batch and ov.shape[0] == batch):
                size = graph.call_function(aten.sym_size.int, (env[src], 0))
                new.args = (env[src], [size] + list(shape[1:])) + tuple(new.args[2:])
                new.prepend(size)
        else:
            new = graph.node_copy(node, get)
        new.meta = dict(node.meta)
        env[node] = new
    graph.lint()
    gm = fx.GraphModule(root, graph, class_name="RebuiltProgram")
    return gm.eval()


def _same_module(a: nn.Module, b: nn.Module) -> bool:
    return type(a) is type(b) and a.extra_repr() == b.extra_repr()


@torch.no_grad()
def _fill(module: nn.Module, values: dict) -> None:
    for field, value in values.items():
        current = getattr(module, field)
        if isinstance(current, nn.Parameter):
            setattr(module, field, nn.Parameter(value.detach().clone()))
        else:
            current.copy_(value)


@torch.no_grad()
def check_batches(ep: torch.export.ExportedProgram, module: nn.Module, x: torch.Tensor, name: str = "the program",
                  atol: float = 1e-4) -> None:
    """The rebuilt module, in eval mode, gives the program's outputs on x[:3] at batch sizes other than the
    program's own (when it has one). Raises CompileError naming the program."""
    program = ep.module()
    v = _val(user_inputs(ep)[0])
    batch = _static_dim(v.shape[0]) if v is not None and v.dim() > 0 else None
    n = min(len(x), max(3, batch or 0))
    if batch is not None and n < batch:
        return  # too few samples to run the program itself
    try:
        if batch is None:
            want = program(x[:n])
        else:
            want = torch.cat([program(x[i:i + batch]) for i in range(0, n - batch + 1, batch)])
        n = len(want)
        module.eval()
        cases = [(m, module(x[:m])) for m in sorted({1, n})]
    except Exception as exc:
        raise CompileError(f"{name}: rebuilt for training, it fails on another batch size: "
                           f"{(str(exc).splitlines() or [type(exc).__name__])[0]}; {DYNAMIC_BATCH_HINT}") from None
    for m, got in cases:
        if (not isinstance(got, torch.Tensor) or got.shape != want[:m].shape
                or not torch.allclose(got, want[:m], atol=atol, rtol=1e-4)):
            raise CompileError(f"{name}: rebuilt for training, it does not give the program's outputs on a batch of "
                               f"{m} (its shapes keep the batch it was exported with, or it mixes the samples of a "
                               f"batch); {DYNAMIC_BATCH_HINT}")


def layers(module: nn.Module) -> list[str]:
    """The qualified names of the conv and linear layers the compression pieces act on."""
    from .prune import PRUNABLE

    return [n for n, m in module.named_modules() if isinstance(m, PRUNABLE)]
