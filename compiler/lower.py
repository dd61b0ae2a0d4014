"""Lower a torch.export ExportedProgram to the compiler's IR (compiler/ir.py).

Capture is torch.export's; this module walks its FX graph once, in order.

Layout. PyTorch computes in NCHW, the runtime in NHWC. Every activation the
lowering tracks is a `_Ref`: an IR Value (physical shape) plus `order`, the
logical dimension each physical dimension holds (physical dim j is logical
dim order[j]; NCHW stored as NHWC is (0, 2, 3, 1)). A permute only changes
`order`, never data. A flatten of an NHWC tensor with H*W > 1 keeps its
elements in (h, w, c) order while PyTorch's are (c, h, w): the _Ref remembers
(C, H, W) in `chw`, and the Linear that consumes it permutes its weight
columns to match, so no transpose runs at all.

Constants. Parameters, buffers and lifted constants are torch tensors; a call
whose tensor arguments are all constants (a weight's transpose, say) is
evaluated here, once.

Streaming state. A registered buffer the model updates in forward (a ring
buffer's `self.ring.copy_(...)`, an LSTM wrapper writing h_n and c_n back) is
a variable (ir.py): torch.export's functional form (buffers_to_mutate) names
each mutated buffer and its new value; the buffer's reads become reads of the
variable and its new value an assignment. A variable starts at zeros, the
runtime's reset, so a buffer whose initial value is not zero is refused.

Recurrent layers. nn.LSTM (aten.lstm.input, its flat weights) becomes one lstm
node per layer; nn.GRU, which TFLite has no integer op for, is composed step by
step from fc, add, mul, sub and the logistic and tanh tables. Their h_n and
c_n (and a GRU's output sequence) are kept one state at a time (_Stack) and
stacked into PyTorch's shape only where the model reads them whole.

SVDF (compiler/streaming.py's custom ops). microflat::svdf_step becomes one
svdf node (SVDF in the file) whose int16 state is its input and its new state
an extra output: a state buffer in streaming mode (a variable, assigned the new
state). microflat::svdf_window is unrolled into one svdf node per frame of the
window, the first from the zero state (a constant in the file) and each next
one reading the state the previous one wrote; the frames' outputs are a _Stack.

Everything else either lowers to an IR node or raises CompileError naming the
op, the graph node and the user's source line (torch.export records the stack
trace of every node).
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import re

import numpy as np
import torch

from microflat.kernels.reduce import MAX_DIMS as REDUCE_MAX_DIMS
from microflat.kernels.svdf import MAX_INPUT_SIZE as SVDF_MAX_INPUT_SIZE
from microflat.kernels.transpose import MAX_DIMS as TRANSPOSE_MAX_DIMS
from microflat.runtime.errors import CompileError

from . import streaming  # noqa: F401  (registers the microflat:: custom ops a saved program may call)
from .ir import Graph, Node, Value

NCHW_AS_NHWC = (0, 2, 3, 1)
_TORCH_DIR = os.path.dirname(torch.__file__)
# Calls that pass their input through unchanged at inference.
_IDENTITY = {"aten.dropout.default", "aten.clone.default", "aten.contiguous.default", "aten.alias.default",
             "aten.detach.default", "aten.lift_fresh_copy.default", "aten.feature_dropout.default",
             "aten.alpha_dropout.default"}


class _Ref:
    """An activation as PyTorch sees it: an IR Value plus its logical layout."""

    def __init__(self, value: Value, order: tuple[int, ...], chw: tuple[int, int, int] | None = None):
        self.value, self.order, self.chw = value, tuple(order), chw

    @property
    def logical_shape(self):
        shape = [0] * len(self.order)
        for j, d in enumerate(self.order):
            shape[d] = self.value.shape[j]
        return tuple(shape)


class _Stack:
    """A recurrent layer's states, one [1, C] _Ref each, that PyTorch sees stacked along `dim`: an LSTM's or GRU's
    h_n and c_n ([num_layers, 1, C], dim 0) and a GRU's output sequence ([1, T, C], dim 1, or [T, 1, C], dim 0).
    Selecting one (h_n[-1], y[:, -1]) is that state itself, no stacking; the whole tensor is stacked where it is
    read (_Lowering.act).
    """

    def __init__(self, refs: list[_Ref], dim: int, what: str):
        self.refs, self.dim, self.what = refs, dim, what


def _module_name(node, kind: str) -> str:
    """'nn.LSTM 'encoder.rnn'': the module a graph node came from (torch.export's nn_module_stack)."""
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return f"{kind} '{path}'" if path else kind


def source_of(node) -> str:
    """'graph node NAME (file:line: code)': the innermost frame outside torch's own files."""
    where = ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)', node.meta.get("stack_trace") or "")
    user = [f for f in frames if not f[0].startswith(_TORCH_DIR)]
    if user:
        f, line, code = user[-1]
        where = f" ({f}:{line}: {code.strip()})"
    return f"graph node '{node.name}'{where}"


def _physical_shape(logical, order):
    return tuple(int(logical[d]) for d in order)


def _static_shape(node, what) -> tuple[int, ...]:
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor):
        raise CompileError(f"{what}: {source_of(node)} has no tensor shape recorded")
    shape = []
    for i, d in enumerate(val.shape):
        if isinstance(d, torch.SymInt):
            raise CompileError(f"{source_of(node)} has a dynamic dimension {i} ({d}); microflat compiles static "
                               "shapes, and only the batch dimension may be dynamic")
        shape.append(int(d))
    return tuple(shape)


def specialize_batch(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Re-export a program whose batch dimension is dynamic with batch 1; refuse other dynamic dimensions."""
    user = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    examples, dynamic = [], False
    for name in user:
        val = placeholders[name].meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise CompileError(f"input '{name}' is not a tensor; microflat models take tensors only")
        shape = []
        for i, d in enumerate(val.shape):
            if isinstance(d, torch.SymInt):
                if i != 0:
                    raise CompileError(f"input '{name}' has a dynamic dimension {i} ({d}); microflat compiles static "
                                       "shapes, and only the batch dimension (0) may be dynamic")
                dynamic = True
                d = 1
            shape.append(int(d))
        examples.append(torch.zeros(shape, dtype=val.dtype))
    if not dynamic:
        return ep
    return torch.export.export(ep.module(), tuple(examples), strict=False)


class _Lowering:
    def __init__(self, ep: torch.export.ExportedProgram):
        self.ep = ep
        self.env: dict = {}
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.step_shapes: dict = {}  # node -> the logical output shape of the step being lowered (step_shape)
        self.per_sample = False  # some value's leading physical dimension is not the batch (Graph.per_sample)
        self.relayouts: dict = {}  # (value, its order, new order) -> the TRANSPOSE's _Ref: one per view and layout
        self.inputs: list[Value] = []
        self.variables: dict[str, _Ref] = {}  # placeholder name -> the variable a mutated buffer becomes
        self.time_leads = False  # a time-major recurrent layer reads the model's leading dimension as time

    # --- helpers ---------------------------------------------------------------

    def fail(self, node, reason):
        raise CompileError(f"{reason} at {source_of(node)}")

    def value(self, name, shape) -> Value:
        base, k = name, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return Value(name, tuple(int(d) for d in shape))

    def emit(self, node, op, inputs, out_logical, order, attrs=None, chw=None) -> _Ref:
        v = self.value(node.name, _physical_shape(out_logical, order))
        if op == "reshape" and inputs[0].value.dtype == "int16":  # an LSTM's cell state keeps its width
            v.dtype = "int16"
        self.nodes.append(Node(op, [r.value for r in inputs], v, attrs or {}, source_of(node)))
        return _Ref(v, order, chw)

    def act(self, node, arg, what="input") -> _Ref:
        if isinstance(arg, _Ref):  # already resolved (a 1-D op lowered through its 2-D handler)
            return arg
        r = self.env.get(arg) if isinstance(arg, torch.fx.Node) else None
        if isinstance(r, _Stack):
            r = self.env[arg] = self.stacked(node, r)
        if not isinstance(r, _Ref):
            self.fail(node, f"{node.target}: the {what} must be an activation computed from the model's inputs, "
                            f"not a constant or a Python number ({arg!r})")
        return r

    def const(self, node, arg, what) -> torch.Tensor | None:
        if arg is None:
            return None
        r = self.env.get(arg) if isinstance(arg, torch.fx.Node) else arg
        if not isinstance(r, torch.Tensor):
            self.fail(node, f"{node.target}: the {what} must be a constant tensor (a parameter or buffer)")
        return r.detach().to(torch.float64)

    def nhwc(self, node, r: _Ref, what="input") -> _Ref:
        """r stored NHWC, as the image ops take it: a TRANSPOSE where a reshape left it in PyTorch's order."""
        if len(r.order) != 4:
            self.fail(node, f"{node.target}: the {what} must be a 4-D NCHW tensor, has logical shape {r.logical_shape}")
        return r if r.order == NCHW_AS_NHWC and not r.chw else self.relayout(node, r, NCHW_AS_NHWC)

    def out_shape(self, node):
        if node in self.step_shapes:
            return self.step_shapes[node]
        return _static_shape(node, str(node.target))

    @contextlib.contextmanager
    def step_shape(self, node, shape):
        """Within it, out_shape(node) is `shape`: one aten node lowered as several steps (a 1-D op through its
        2-D handler, a 3-D Linear over its tokens, attention's logits), each emitted with its own shape."""
        outer = self.step_shapes.get(node)
        self.step_shapes[node] = tuple(shape)
        try:
            yield
        finally:
            if outer is None:
                del self.step_shapes[node]
            else:  # nested (a GRU's 3-D Linear inside its step): the outer step's shape again
                self.step_shapes[node] = outer

    @staticmethod
    def pair(v, default=None):
        if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
            v = default
        if isinstance(v, (list, tuple)):
            return (int(v[0]), int(v[-1])) if len(v) in (1, 2) else None
        return (int(v), int(v))

    # --- the walk ----------------------------------------------------------------

    def run(self) -> Graph:
        sig = self.ep.graph_signature
        kinds = torch.export.graph_signature.InputKind
        if sig.user_inputs_to_mutate:
            raise CompileError(f"the model updates its input(s) {sorted(set(sig.user_inputs_to_mutate.values()))} in "
                               "place; keep state in a registered buffer (a variable) instead")
        mutated = set(sig.buffers_to_mutate.values())
        consts, state = {}, {}
        for spec in sig.input_specs:
            if spec.kind in (kinds.PARAMETER, kinds.BUFFER):
                data = self.ep.state_dict[spec.target] if spec.target in self.ep.state_dict \
                    else self.ep.constants[spec.target]
                (state if spec.kind == kinds.BUFFER and spec.target in mutated else consts)[spec.arg.name] = data
            elif spec.kind == kinds.CONSTANT_TENSOR:
                consts[spec.arg.name] = self.ep.constants[spec.target]
            elif spec.kind != kinds.USER_INPUT:
                raise CompileError(f"input '{spec.arg.name}' of kind {spec.kind.name} is not supported")
        self.check_supported(consts)
        inputs, layouts = self.inputs, []
        for node in self.ep.graph.nodes:
            if node.op == "placeholder":
                if node.name in consts:
                    self.env[node] = consts[node.name]
                    continue
                if node.name in state:
                    self.env[node] = self.variable(node, state[node.name])
                    continue
                shape = _static_shape(node, "input")
                dtype = node.meta["val"].dtype
                if dtype not in (torch.float32, torch.int64, torch.int32):
                    self.fail(node, f"input '{node.name}' is {dtype}; microflat models take float32 inputs, or "
                                    "integer ids (int64 or int32) for an nn.Embedding")
                order = tuple(range(len(shape)))
                if len(shape) == 4 and dtype == torch.float32 and not self._permuted_to_nchw(node):
                    order = NCHW_AS_NHWC
                ref = _Ref(self.value(node.name, _physical_shape(shape, order)), order)
                if dtype != torch.float32:
                    ref.value.dtype = "int32"
                self.env[node] = ref
                inputs.append(ref.value)
                layouts.append("NHWC" if order == NCHW_AS_NHWC else "")
            elif node.op == "call_function":
                self.env[node] = self.call(node)
            elif node.op == "output":
                outputs, out_layouts, assignments = [], [], []
                output_kinds = torch.export.graph_signature.OutputKind
                variables = {r.value: r for r in self.variables.values()}
                for arg, spec in zip(node.args[0], sig.output_specs):
                    if spec.kind == output_kinds.BUFFER_MUTATION:
                        assignments.extend(self.assignment(node, arg, spec.target))
                        continue
                    if spec.kind != output_kinds.USER_OUTPUT:
                        raise CompileError(f"output '{spec.arg.name}' of kind {spec.kind.name} is not supported")
                    r = self.act(node, arg, "output")
                    if r.chw or r.order not in (tuple(range(len(r.order))), NCHW_AS_NHWC):
                        r = self.plain(arg, r)  # PyTorch's element order: a TRANSPOSE
                    if r.value in inputs:
                        self.fail(arg, "a model input is returned unchanged as an output")
                    if r.value in variables:
                        self.fail(arg, "a state buffer is returned as it was before this invoke's update; return "
                                       "the new value (a variable is never a model output)")
                    outputs.append(r.value)
                    out_layouts.append("NHWC" if r.order == NCHW_AS_NHWC and len(r.order) == 4 else "")
                per_sample = self.per_sample and not self.time_leads
                graph = Graph(inputs, outputs, self.nodes, layouts, out_layouts, per_sample, list(variables),
                              assignments)
                self.check_cell_states(graph)
                return graph
            else:
                self.fail(node, f"graph node kind '{node.op}' is not supported")
        raise CompileError("the exported graph has no output node")

    def check_supported(self, consts) -> None:
        """Refuse a graph with ops microflat has no lowering for, naming every one of them at once (op, node,
        source line, and a rewrite where one exists), not only the first. An op whose inputs are all constants
        is evaluated at compile time and needs none."""
        constant, missing = set(consts), []
        for node in self.ep.graph.nodes:
            if node.op != "call_function":
                continue
            name = str(node.target)
            if all(a.name in constant for a in node.all_input_nodes):
                constant.add(node.name)
            elif not (node.target is operator.getitem or name in _HANDLERS or name in _IDENTITY
                      or name.startswith("aten._assert") or name.startswith("aten.sym_")):
                hint = _REWRITES.get(name)
                missing.append(f"unsupported op {name} at {source_of(node)}" + (f" (instead: {hint})" if hint else ""))
        if len(missing) == 1:
            raise CompileError(missing[0])
        if missing:  # one line still, as every error: the ops one after another
            raise CompileError(f"{len(missing)} unsupported ops: " + "; ".join(missing))

    @staticmethod
    def _permuted_to_nchw(node) -> bool:
        users = list(node.users)
        return bool(users) and all(str(u.target) == "aten.permute.default" and list(u.args[1]) == [0, 3, 1, 2]
                                   for u in users)

    # --- streaming state -------------------------------------------------------------

    def variable(self, node, data: torch.Tensor) -> _Ref:
        """The variable a mutated buffer becomes: zeros at the start (the runtime's reset), laid out as an input of
        its rank would be (a 4-D buffer NHWC)."""
        target = self.ep.graph_signature.inputs_to_buffers[node.name]
        if data.dtype != torch.float32:
            self.fail(node, f"the state buffer '{target}' is {data.dtype}; microflat keeps float32 state (int8 in "
                            "the file)")
        if torch.count_nonzero(data):
            self.fail(node, f"the state buffer '{target}' starts non-zero; a variable starts at zeros (the "
                            "runtime's reset): register it as torch.zeros(...), and zero it again if the model ran "
                            "before export")
        shape = tuple(int(d) for d in data.shape)
        order = NCHW_AS_NHWC if len(shape) == 4 else tuple(range(len(shape)))
        ref = _Ref(self.value(target.replace(".", "_"), _physical_shape(shape, order)), order)
        self.variables[node.name] = ref
        return ref

    def assignment(self, node, arg, target: str) -> list[tuple[Value, Value]]:
        """[(variable, new value)] for the buffer `target` updated to `arg` ([] where it is left unchanged)."""
        name = next(n for n, t in self.ep.graph_signature.inputs_to_buffers.items() if t == target)
        var = self.variables[name]
        new = self.env.get(arg) if isinstance(arg, torch.fx.Node) else arg
        if isinstance(new, torch.Tensor):
            self.fail(node, f"the state buffer '{target}' is set to a constant; a variable holds what the model "
                            "computes (it is reset to zeros by the runtime, not by the model)")
        r = self.act(node, arg, f"new value of the buffer '{target}'")
        if r.logical_shape != var.logical_shape:
            self.fail(node, f"the state buffer '{target}' of shape {var.logical_shape} is set to a value of shape "
                            f"{r.logical_shape}")
        r = self.relayout(node, r, var.order)
        if r.value is var.value:
            return []
        if r.value in self.inputs or any(r.value is v.value for v in self.variables.values()):
            # ASSIGN_VARIABLE copies a computed activation: a model input or another variable goes through a RESHAPE
            r = self.emit(node, "reshape", [r], r.logical_shape, r.order)
        return [(var.value, r.value)]

    def check_cell_states(self, graph: Graph) -> None:
        """An LSTM's cell state is int16 (lstm), and so is an SVDF's state (svdf): it may pass through reshapes, be
        a model input or output, or a variable, and be read by an lstm as its c0 or an svdf as its state; no other
        op has an int16 form that takes it. (A requantize's int16 output is a 16-bit activation QAT simulated.)"""
        converted = {n.output for n in graph.nodes if n.op == "requantize"}
        for n in graph.nodes:
            for i, v in enumerate(n.inputs):
                reader = n.op == "reshape" or (n.op == "lstm" and i == 2) or (n.op == "svdf" and i == 1)
                if v.dtype == "int16" and v not in converted and not reader:
                    raise CompileError(f"{n.op} at {n.source} reads a recurrent state ({v.name}, int16); only "
                                       "a reshape, a model output, a state buffer, another LSTM's initial cell "
                                       "state or another SVDF's state can take it")

    # --- recurrent layers --------------------------------------------------------------

    def stacked(self, node, stack: _Stack) -> _Ref:
        """A _Stack as the tensor PyTorch sees: each [1, C] state grown at stack.dim (a reshape) and, for more than
        one, concatenated there (int8 states; an int16 cell state has no concatenation)."""
        refs = stack.refs
        shape = list(refs[0].logical_shape)
        shape.insert(stack.dim, 1)
        grown = [self._reshape(node, r, tuple(shape), tuple(range(len(shape)))) for r in refs]
        if len(grown) == 1:
            return grown[0]
        if refs[0].value.dtype == "int16":
            self.fail(node, f"the {stack.what} of a {len(refs)}-layer LSTM read whole: its int16 cell states "
                            "cannot be concatenated; read one layer's (c_n[-1]) or give each layer its own nn.LSTM")
        shape[stack.dim] = len(grown)
        with self.step_shape(node, tuple(shape)):
            return self.emit(node, "concat", grown, tuple(shape), tuple(range(len(shape))), dict(axis=stack.dim))

    def initial_state(self, node, arg, layers: int, cells: int, which: str, where: str) -> list | None:
        """One [1, C] _Ref per layer for h0 or c0, or None for the zero state (PyTorch's default)."""
        given = self.env.get(arg) if isinstance(arg, torch.fx.Node) else arg
        if isinstance(given, torch.Tensor):
            if torch.count_nonzero(given):
                self.fail(node, f"{where}: a constant non-zero initial {which}; microflat starts a recurrent layer "
                                "from zeros, from a model input or from a state buffer")
            return None
        if isinstance(given, _Stack):  # another recurrent layer's final state
            if len(given.refs) != layers:
                self.fail(node, f"{where}: the initial {which} has {len(given.refs)} layers, the layer {layers}")
            return given.refs
        r = self.act(node, arg, f"initial {which}")
        if r.logical_shape != (layers, 1, cells):
            self.fail(node, f"{where}: the initial {which} has shape {r.logical_shape}, not {(layers, 1, cells)}")
        if layers != 1:
            self.fail(node, f"{where}: an initial {which} for {layers} layers; microflat takes a given initial state "
                            "for a one-layer module (give each layer a module of its own)")
        if which == "c0":
            if r.value not in self.inputs and not any(r.value is v.value for v in self.variables.values()):
                self.fail(node, f"{where}: the initial cell state must be a model input or a state buffer (it is "
                                "int16 at the cell's scale), not a computed value")
            r.value.dtype = "int16"
        return [self._reshape(node, self.plain(node, r), (1, cells), (0, 1))]

    def lstm(self, node, x, hx, params, has_biases, num_layers, dropout=0.0, train=False, bidirectional=False,
             batch_first=False):
        """nn.LSTM: one lstm node per layer (UNIDIRECTIONAL_SEQUENCE_LSTM, batch 1); returns (output, h_n, c_n),
        the states per layer (_Stack)."""
        layers, per_layer = int(num_layers), (4 if has_biases else 2)
        weights = [self.const(node, p, "LSTM weight") for p in params]
        where, r = self._recurrent_checks(node, "nn.LSTM", bidirectional, train, weights, per_layer, layers, x,
                                          batch_first)
        cells = weights[1].shape[1]
        h0 = self.initial_state(node, hx[0], layers, cells, "h0", where)
        c0 = self.initial_state(node, hx[1], layers, cells, "c0", where)
        if (h0 is None) != (c0 is None):
            raise CompileError(f"{where}: one initial state given and the other zero; give both (h0, c0) or neither")
        h_n, c_n = [], []
        for k in range(layers):
            w_ih, w_hh, *biases = weights[per_layer * k:per_layer * (k + 1)]
            attrs = dict(weight_ih=w_ih.numpy(), weight_hh=w_hh.numpy(),
                         bias=(biases[0] + biases[1]).numpy() if biases else None, time_major=not batch_first)
            out = r.logical_shape[:2] + (cells,)
            y = self.value(node.name if k == layers - 1 else f"{node.name}_l{k}", out)
            h = self.value(f"{node.name}_h_l{k}", (1, cells))
            c = self.value(f"{node.name}_c_l{k}", (1, cells))
            c.dtype = "int16"
            states = [] if h0 is None else [h0[k].value, c0[k].value]
            self.nodes.append(Node("lstm", [r.value] + states, y, attrs, source_of(node), extra_outputs=[h, c]))
            r = _Ref(y, (0, 1, 2))
            h_n.append(_Ref(h, (0, 1)))
            c_n.append(_Ref(c, (0, 1)))
        return r, _Stack(h_n, 0, "h_n"), _Stack(c_n, 0, "c_n")

    def _recurrent_checks(self, node, kind, bidirectional, train, weights, per_layer, layers, x, batch_first):
        """The input as a plain [1, T, I] / [T, 1, I] _Ref, after refusing what microflat does not run."""
        where = f"{_module_name(node, kind)} at {source_of(node)}"
        if bidirectional:
            raise CompileError(f"{where}: a bidirectional {kind[3:]} is not supported (TFLite's recurrent ops run "
                               "one direction); use bidirectional=False")
        if len(weights) != per_layer * layers:
            raise CompileError(f"{where}: a {kind[3:]} with a projection (proj_size > 0) is not supported")
        if train:
            raise CompileError(f"{where}: a {kind[3:]} in training mode; call model.eval() before export")
        r = self.plain(node, self.act(node, x))
        if len(r.logical_shape) != 3:
            raise CompileError(f"{where}: the input must be 3-D (batched), has logical shape {r.logical_shape}")
        batch = r.logical_shape[0 if batch_first else 1]
        if batch != 1:
            raise CompileError(f"{where}: batch {batch}; microflat runs one sequence (batch 1)")
        if not batch_first and not self.per_sample:
            self.time_leads = True  # the model's leading dimension is time: a calibration batch is one sequence
        return where, r

    def gru(self, node, x, hx, params, has_biases, num_layers, dropout=0.0, train=False, bidirectional=False,
            batch_first=False):
        """nn.GRU, which TFLite has no integer op for, composed step by step (gates r, z, n, PyTorch's order):

            r = sigmoid(W_ir x_t + b_ir + W_hr h + b_hr)     z = sigmoid(W_iz x_t + b_iz + W_hz h + b_hz)
            n = tanh(W_in x_t + b_in + r * (W_hn h + b_hn))   h = n + z * (h - n)

        Each gate's input projection runs once over all steps (a FULLY_CONNECTED over the rows, b_hr and b_hz
        folded into it), then each step is three FULLY_CONNECTED on h (sharing their weights in the file), ADDs,
        the LOGISTIC and TANH tables, MULs and SUBs; from the zero state the first step needs no h. Every step's
        values are int8, each calibrated on its own. Returns (the output sequence, h_n), both _Stacks."""
        layers, per_layer = int(num_layers), (4 if has_biases else 2)
        weights = [self.const(node, p, "GRU weight") for p in params]
        where, r = self._recurrent_checks(node, "nn.GRU", bidirectional, train, weights, per_layer, layers, x,
                                          batch_first)
        cells = weights[1].shape[1]
        h0 = self.initial_state(node, hx, layers, cells, "h0", where)
        time = 1 if batch_first else 0
        seq, h_n = r, []
        for k in range(layers):
            w_ih, w_hh, *biases = (w.reshape(3, cells, -1) if w.dim() == 2 else w.reshape(3, cells)
                                   for w in weights[per_layer * k:per_layer * (k + 1)])
            b_ih, b_hh = biases if biases else (None, None)
            if isinstance(seq, _Stack):
                seq = self.stacked(node, seq)
            projections = []
            for g in range(3):
                bias = None if b_ih is None else b_ih[g] + (b_hh[g] if g < 2 else 0)
                with self.step_shape(node, seq.logical_shape[:2] + (cells,)):
                    projections.append(self.linear(node, seq, w_ih[g], bias))
            h = None if h0 is None else h0[k]
            states = []
            for t in range(seq.logical_shape[time]):
                xs = [self._slice(node, p, time, t, 1, 1, shrink=True) for p in projections]
                h = self._gru_step(node, xs, h, w_hh, None if b_hh is None else b_hh[2], f"{node.name}_l{k}")
                states.append(h)
            seq = _Stack(states, time, "output")
            h_n.append(h)
        return seq, _Stack(h_n, 0, "h_n")

    def _gru_step(self, node, xs, h, w_hh, b_hn, key) -> _Ref:
        """One GRU step on the [1, C] input projections xs (r, z, n) and the state h (None: zeros)."""
        shape, order = xs[0].logical_shape, (0, 1)
        op = lambda name, *ins, attrs=None: self.emit(node, name, list(ins), shape, order, attrs)  # noqa: E731
        if h is None:  # h = 0: W_h h = 0, so the gates read only their input projections
            r, z = op("logistic", xs[0]), op("logistic", xs[1])
            pre = xs[2] if b_hn is None else op("add", xs[2], op("mul", r, self.constant(node, b_hn, xs[2])))
            n = op("tanh", pre)
            return op("sub", n, op("mul", z, n))
        hidden = []
        for g in range(3):
            with self.step_shape(node, shape):
                hidden.append(self.linear(node, h, w_hh[g], b_hn if g == 2 else None))
            self.nodes[-1].attrs["shared_weight"] = f"{key}.weight_hh.{'rzn'[g]}"
        r = op("logistic", op("add", xs[0], hidden[0]))
        z = op("logistic", op("add", xs[1], hidden[1]))
        n = op("tanh", op("add", xs[2], op("mul", r, hidden[2])))
        return op("add", n, op("mul", z, op("sub", h, n)))

    # --- SVDF (compiler/streaming.py): microflat::svdf_step and microflat::svdf_window -------------------------

    def _svdf_weights(self, node, weights_feature, weights_time, bias, rank) -> tuple[str, dict]:
        """(where, the svdf node's weight attrs) after refusing what SVDF cannot run."""
        where = f"{_module_name(node, 'SVDF')} at {source_of(node)}"
        wf = self.const(node, weights_feature, "SVDF feature weight")
        wt = self.const(node, weights_time, "SVDF time weight")
        b = self.const(node, bias, "SVDF bias")
        rank = int(rank)
        if wf.dim() != 2 or wt.dim() != 2 or wf.shape[0] != wt.shape[0] or rank < 1 or wt.shape[0] % rank:
            raise CompileError(f"{where}: weights_feature {tuple(wf.shape)} and weights_time {tuple(wt.shape)} must "
                               f"be [F, I] and [F, M] with the rank {rank} dividing F")
        units = wt.shape[0] // rank
        if b is not None and tuple(b.shape) != (units,):
            raise CompileError(f"{where}: the bias {tuple(b.shape)} must be [{units}] (one per unit)")
        if wf.shape[1] > SVDF_MAX_INPUT_SIZE:
            raise CompileError(f"{where}: {wf.shape[1]} input features, more than {SVDF_MAX_INPUT_SIZE} (the int32 "
                               "feature sum's bound)")
        return where, dict(weight_feature=wf.numpy(), weight_time=wt.numpy(), bias=None if b is None else b.numpy(),
                           rank=rank, layer=node.name)

    def _svdf_node(self, node, name, x: _Ref, state: Value | None, attrs) -> tuple[_Ref, _Ref]:
        """One svdf node on x [B, I] from `state` (None: the zero state): (y [B, units], new state [B, F * M])."""
        batches = x.logical_shape[0]
        filters, memory = attrs["weight_time"].shape
        y = self.value(name, (batches, filters // attrs["rank"]))
        new_state = self.value(f"{name}_state", (batches, filters * memory))
        new_state.dtype = "int16"
        self.nodes.append(Node("svdf", [x.value] + ([] if state is None else [state]), y, dict(attrs),
                               source_of(node), extra_outputs=[new_state]))
        return _Ref(y, (0, 1)), _Ref(new_state, (0, 1))

    def svdf_step(self, node, x, weights_feature, weights_time, bias, state, rank):
        """microflat::svdf_step: one svdf node; its state a state buffer (a variable), a model input, another SVDF
        step's new state, or a constant zero (the zero state). Returns (y, the new state)."""
        where, attrs = self._svdf_weights(node, weights_feature, weights_time, bias, rank)
        r = self.plain(node, self.act(node, x))
        filters, memory = attrs["weight_time"].shape
        if len(r.logical_shape) != 2 or r.logical_shape[1] != attrs["weight_feature"].shape[1]:
            raise CompileError(f"{where}: the frame {r.logical_shape} must be [B, {attrs['weight_feature'].shape[1]}]")
        given = self.env.get(state) if isinstance(state, torch.fx.Node) else state
        if isinstance(given, torch.Tensor):
            if torch.count_nonzero(given):
                raise CompileError(f"{where}: a constant non-zero state; an SVDF starts from zeros, a state buffer, a "
                                   "model input or another SVDF step's state")
            return self._svdf_node(node, node.name, r, None, attrs)
        s = self.plain(node, self.act(node, state, "state"))
        if s.logical_shape != (r.logical_shape[0], filters * memory):
            raise CompileError(f"{where}: the state {s.logical_shape} must be {(r.logical_shape[0], filters * memory)}")
        if s.value.dtype != "int16":
            if s.value not in self.inputs and not any(s.value is v.value for v in self.variables.values()):
                raise CompileError(f"{where}: the state must be a state buffer, a model input or another SVDF step's "
                                   "state (it is int16 at the state's scale), not a computed value")
            s.value.dtype = "int16"
        return self._svdf_node(node, node.name, r, s.value, attrs)

    def svdf_window(self, node, x, weights_feature, weights_time, bias, rank):
        """microflat::svdf_window: one svdf node per frame of x [B, T, I], the first from the zero state, each next
        from the state the one before wrote (no variable); the outputs a _Stack along dimension 1."""
        where, attrs = self._svdf_weights(node, weights_feature, weights_time, bias, rank)
        r = self.plain(node, self.act(node, x))
        if len(r.logical_shape) != 3 or r.logical_shape[2] != attrs["weight_feature"].shape[1]:
            raise CompileError(f"{where}: the window {r.logical_shape} must be [B, T, "
                               f"{attrs['weight_feature'].shape[1]}]")
        ys, state = [], None
        for t in range(r.logical_shape[1]):
            frame = self._slice(node, r, 1, t, 1, 1, shrink=True)
            y, s = self._svdf_node(node, f"{node.name}_t{t}", frame, state, attrs)
            ys.append(y)
            state = s.value
        return _Stack(ys, 1, "output")

    def call(self, node):
        target = node.target
        name = str(target)
        if target is operator.getitem:
            seq = self.env[node.args[0]]
            return seq[node.args[1]]
        if name.startswith("aten._assert") or name.startswith("aten.sym_") or name == "aten._assert_tensor_metadata.default":
            return None
        inputs = [self.env.get(a) for a in node.all_input_nodes]
        if all(isinstance(a, torch.Tensor) for a in inputs):  # constant folding (and constant factories)
            args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda a: self.env[a])
            with torch.no_grad():
                return target(*args, **kwargs)
        if name in _IDENTITY:
            return self.act(node, node.args[0])
        handler = _HANDLERS.get(name)
        if handler is None:
            self.fail(node, f"unsupported op {name}")
        return handler(self, node, *node.args, **node.kwargs)

    # --- handlers ----------------------------------------------------------------

    def conv(self, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        r = self.nhwc(node, self.act(node, x))
        weight = self.const(node, w, "weight")
        bias = self.const(node, b, "bias")
        if weight.dim() != 4:
            self.fail(node, f"{node.target}: only 2-D convolution is supported (weight {tuple(weight.shape)})")
        out = self.out_shape(node)
        s, d = self.pair(stride, 1), self.pair(dilation, 1)
        kh, kw = weight.shape[2], weight.shape[3]
        if isinstance(padding, str):
            if padding == "valid":
                pad = (0, 0)
            else:  # "same": torch pads total = d * (k - 1), the odd one after
                pad = (d[0] * (kh - 1) // 2, d[1] * (kw - 1) // 2)
        else:
            pad = self.pair(padding, 0)
        if pad[0] > d[0] * (kh - 1) or pad[1] > d[1] * (kw - 1):
            # windows wholly inside the padding (a 1x1 conv with padding 1, say): the runtime's conv
            # refuses them, so the padding becomes an explicit PAD op (the zero point is real 0)
            n, c, h, w_ = r.logical_shape
            padded = (n, c, h + 2 * pad[0], w_ + 2 * pad[1])
            attrs = dict(before=[0, pad[0], pad[1], 0], after=[0, pad[0], pad[1], 0])
            r = self.emit(node, "pad", [r], padded, NCHW_AS_NHWC, attrs)
            pad = (0, 0)
        attrs = dict(weight=weight.numpy(), bias=None if bias is None else bias.numpy(), stride=s, dilation=d,
                     pad=pad, groups=int(groups))
        return self.emit(node, "conv", [r], out, NCHW_AS_NHWC, attrs)

    def convolution(self, node, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
        if transposed:
            return self.conv_transpose(node, x, w, b, stride, padding, output_padding, groups, dilation)
        return self.conv(node, x, w, b, stride, padding, dilation, groups)

    def conv_transpose(self, node, x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        """ConvTranspose2d (groups 1, dilation 1): TRANSPOSE_CONV; the output's shape carries output_padding."""
        r = self.nhwc(node, self.act(node, x))
        weight = self.const(node, w, "weight")
        bias = self.const(node, b, "bias")
        if weight.dim() != 4:
            self.fail(node, f"{node.target}: only 2-D transposed convolution is supported")
        if int(groups) != 1 or self.pair(dilation, 1) != (1, 1):
            self.fail(node, f"{node.target}: transposed convolution with groups {groups} or dilation {dilation} is "
                            "not supported (groups 1, dilation 1 are)")
        pad = self.pair(padding, 0)
        kh, kw = weight.shape[2], weight.shape[3]
        if pad[0] >= kh or pad[1] >= kw:
            self.fail(node, f"{node.target}: padding {pad} must be below the kernel {(kh, kw)}")
        attrs = dict(weight=weight.transpose(0, 1).contiguous().numpy(), bias=None if bias is None else bias.numpy(),
                     stride=self.pair(stride, 1), pad=pad)
        return self.emit(node, "transpose_conv", [r], self.out_shape(node), NCHW_AS_NHWC, attrs)

    # --- 1-D ops on [N, C, L]: the 2-D ops on [N, C, 1, L], stored channels last ([N, 1, L, C]) -----------

    def as_image(self, node, x) -> _Ref:
        """A [N, C, L] activation as the image [N, C, 1, L], stored NHWC: [N, L, C] then a free reshape."""
        r = self.act(node, x)
        if len(r.order) != 3:
            self.fail(node, f"{node.target}: the input must be 3-D [N, C, L], has logical shape {r.logical_shape}")
        n, c, length = r.logical_shape
        channels_last = self.relayout(node, r, (0, 2, 1))
        return self._reshape(node, channels_last, (n, c, 1, length), NCHW_AS_NHWC)

    def via_image(self, node, handler, x, *args):
        """Lower a 1-D op with its 2-D handler: x as an image of height 1, the result back to [N, C', L']."""
        out = self.out_shape(node)
        with self.step_shape(node, (out[0], out[1], 1, out[2])):
            image = handler(self, node, self.as_image(node, x), *args)
        return self._reshape(node, image, out, (0, 2, 1))

    @staticmethod
    def _one(v, default):
        """A 1-D op's kernel, stride, padding or dilation as the 2-D (1, v) or (0, v) pair."""
        if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
            v = default
        if isinstance(v, (list, tuple)):
            v = v[0]
        return v

    def conv1d(self, node, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        weight = self.const(node, w, "weight")
        if weight.dim() != 3:
            self.fail(node, f"{node.target}: a 1-D convolution's weight is [O, I, K], has {tuple(weight.shape)}")
        pad = padding if isinstance(padding, str) else (0, self._one(padding, 0))
        return self.via_image(node, _L.conv, x, weight.unsqueeze(2), b, (1, self._one(stride, 1)), pad,
                              (1, self._one(dilation, 1)), groups)

    def max_pool1d(self, node, x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
        k = self._one(kernel, None)
        return self.via_image(node, _L.max_pool, x, (1, k), (1, self._one(stride, k)), (0, self._one(padding, 0)),
                              (1, self._one(dilation, 1)), ceil_mode)

    def avg_pool1d(self, node, x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        k = self._one(kernel, None)
        return self.via_image(node, _L.avg_pool, x, (1, k), (1, self._one(stride, k)), (0, self._one(padding, 0)),
                              ceil_mode, count_include_pad)

    def adaptive_avg_pool1d(self, node, x, size):
        return self.via_image(node, _L.adaptive_avg_pool, x, (1, self._one(size, None)))

    def linear(self, node, x, w, b=None):
        r = self.act(node, x)
        weight = self.const(node, w, "weight")
        bias = self.const(node, b, "bias")
        if len(r.order) > 2:  # [N, ..., IN]: every leading index a row of one [rows, IN] FULLY_CONNECTED
            plain = self.plain(node, r)
            shape = plain.logical_shape
            rows = self._reshape(node, plain, (int(np.prod(shape[:-1])), shape[-1]), (0, 1))
            out = self.out_shape(node)
            with self.step_shape(node, (rows.value.shape[0], out[-1])):
                y = self.linear(node, rows, weight, bias)
            return self._reshape(node, y, out, tuple(range(len(out))))
        if len(r.order) != 2 or r.order != (0, 1):
            self.fail(node, f"{node.target}: the input must be 2-D [N, features], has logical shape {r.logical_shape}; "
                            "flatten it first")
        wn = weight.numpy()
        if r.chw:  # columns in PyTorch's (c, h, w) order -> the runtime's (h, w, c)
            c, h, wd = r.chw
            wn = wn.reshape(wn.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(wn.shape[0], -1)
        attrs = dict(weight=np.ascontiguousarray(wn), bias=None if bias is None else bias.numpy())
        return self.emit(node, "fc", [r], self.out_shape(node), (0, 1), attrs)

    def matmul(self, node, a, b):
        """A constant right operand is a Linear's weight (x @ W = linear(x, W^T)); two activations are a
        BATCH_MATMUL, an operand that is a transposed view read as such (adj_x / adj_y), no data moved."""
        ra, rb = self.operand(node, a), self.operand(node, b)
        if isinstance(ra, _Ref) and isinstance(rb, torch.Tensor):
            if rb.dim() != 2:
                self.fail(node, f"{node.target}: a constant right operand must be a 2-D weight, has {tuple(rb.shape)}")
            return self.linear(node, ra, rb.T.contiguous(), None)
        if not (isinstance(ra, _Ref) and isinstance(rb, _Ref)):
            self.fail(node, f"{node.target}: the left operand must be an activation")
        return self.batch_matmul(node, ra, rb, 1.0)

    def batch_matmul(self, node, ra: _Ref, rb: _Ref, scale: float) -> _Ref:
        adj = []
        refs = []
        for r in (ra, rb):
            rank = len(r.order)
            if rank < 2:
                self.fail(node, f"{node.target}: operands must have at least 2 dimensions, one has {r.logical_shape}")
            swapped = tuple(range(rank - 2)) + (rank - 1, rank - 2)
            if r.order == swapped and not r.chw:  # stored with the last two dimensions swapped
                adj.append(True)
                refs.append(r)
            else:
                adj.append(False)
                refs.append(self.plain(node, r))
        out = self.out_shape(node)
        attrs = dict(adj_x=adj[0], adj_y=adj[1], scale=float(scale))
        return self.emit(node, "batch_matmul", refs, out, tuple(range(len(out))), attrs)

    def sdpa(self, node, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        """softmax(q k^T * scale) v: two BATCH_MATMULs (the scale folded into the first's output multiplier) and
        a SOFTMAX over the keys."""
        if attn_mask is not None or is_causal or dropout_p:
            self.fail(node, f"{node.target}: attention with a mask, is_causal or dropout is not supported")
        rq, rk, rv = (self.act(node, t, what) for t, what in ((q, "query"), (k, "key"), (v, "value")))
        depth = rq.logical_shape[-1]
        scale = 1.0 / math.sqrt(depth) if scale is None else float(scale)
        rk = self.plain(node, rk) if rk.chw else rk
        kt = _Ref(rk.value, self._swap_last(rk.order))  # k^T as a view: BATCH_MATMUL reads it with adj_y
        logits_shape = rq.logical_shape[:-1] + (rk.logical_shape[-2],)
        with self.step_shape(node, logits_shape):
            logits = self.batch_matmul(node, rq, kt, scale)
        probs = self.emit(node, "softmax", [logits], logits_shape, logits.order)
        return self.batch_matmul(node, probs, rv, 1.0)

    @staticmethod
    def _swap_last(order):
        """The order of a view whose last two logical dimensions are swapped."""
        rank = len(order)
        swap = {rank - 1: rank - 2, rank - 2: rank - 1}
        return tuple(swap.get(d, d) for d in order)

    def addmm(self, node, b, x, wt, beta=1, alpha=1):
        if beta != 1 or alpha != 1:
            self.fail(node, "addmm with beta or alpha other than 1 is not supported")
        return self.linear(node, x, self.const(node, wt, "weight").T.contiguous(), b)

    def mm(self, node, x, wt):
        return self.matmul(node, x, wt)

    def batch_norm(self, node, x, weight, bias, mean, var, *rest):
        # aten.batch_norm(x, w, b, mean, var, training, momentum, eps, cudnn) or
        # aten._native_batch_norm_legit_no_training(x, w, b, mean, var, momentum, eps)
        training, eps = (rest[0], rest[2]) if len(rest) == 4 else (False, rest[1])
        if training:
            self.fail(node, "batch norm in training mode; call model.eval() before export")
        r = self.act(node, x)
        mu, v = self.const(node, mean, "running mean"), self.const(node, var, "running variance")
        if mu is None or v is None:
            self.fail(node, "batch norm without running statistics")
        n = mu.shape[0]
        g = self.const(node, weight, "weight") if weight is not None else torch.ones(n, dtype=torch.float64)
        beta = self.const(node, bias, "bias") if bias is not None else torch.zeros(n, dtype=torch.float64)
        scale = g / torch.sqrt(v + eps)
        attrs = dict(scale=scale.numpy(), shift=(beta - mu * scale).numpy())
        if len(r.order) == 4:
            self.nhwc(node, r)
        out = self.emit(node, "batch_norm", [r], self.out_shape(node), r.order, attrs)
        return (out, None, None) if "native" in str(node.target) else out

    def clamp_op(self, node, x, lo=None, hi=None):
        r = self.act(node, x)
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
        return self.emit(node, "clamp", [r], self.out_shape(node), r.order, dict(lo=lo, hi=hi), r.chw)

    def relu(self, node, x):
        return self.clamp_op(node, x, 0.0, None)

    def hardtanh(self, node, x, lo=-1.0, hi=1.0):
        return self.clamp_op(node, x, lo, hi)

    def relu6(self, node, x):
        return self.clamp_op(node, x, 0.0, 6.0)

    def _pool_geometry(self, node, r, kernel, stride, padding):
        k = self.pair(kernel)
        s = self.pair(stride, k)
        p = self.pair(padding, 0)
        if k is None or s is None or p is None:
            self.fail(node, f"{node.target}: kernel, stride and padding must have one or two values")
        return k, s, p

    def max_pool(self, node, x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
        r = self.nhwc(node, self.act(node, x))
        if self.pair(dilation, 1) != (1, 1):
            self.fail(node, "max pooling with dilation is not supported")
        k, s, p = self._pool_geometry(node, r, kernel, stride, padding)
        out = self.emit(node, "max_pool", [r], self.out_shape(node), NCHW_AS_NHWC, dict(kernel=k, stride=s, pad=p))
        return (out, None) if "with_indices" in str(node.target) else out

    def avg_pool(self, node, x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        r = self.nhwc(node, self.act(node, x))
        k, s, p = self._pool_geometry(node, r, kernel, stride, padding)
        if divisor_override is not None:
            self.fail(node, "average pooling with divisor_override is not supported")
        if count_include_pad and p != (0, 0):
            self.fail(node, "average pooling with padding and count_include_pad=True: microflat (as TFLite) averages "
                            "the valid elements only; pass count_include_pad=False")
        out = self.out_shape(node)
        _, _, h, w = r.logical_shape
        floor = ((h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1)
        if ceil_mode and tuple(out[2:]) != floor:
            self.fail(node, "average pooling with ceil_mode=True that changes the output size is not supported")
        return self.emit(node, "avg_pool", [r], out, NCHW_AS_NHWC, dict(kernel=k, stride=s, pad=p))

    def adaptive_avg_pool(self, node, x, size):
        r = self.nhwc(node, self.act(node, x))
        _, _, h, w = r.logical_shape
        oh, ow = self.pair(size)
        if (oh, ow) == (1, 1):
            return self.emit(node, "mean", [r], self.out_shape(node), NCHW_AS_NHWC)
        if h % oh or w % ow:
            self.fail(node, f"adaptive average pooling from {h}x{w} to {oh}x{ow}: the sizes must divide")
        k = (h // oh, w // ow)
        return self.emit(node, "avg_pool", [r], self.out_shape(node), NCHW_AS_NHWC, dict(kernel=k, stride=k, pad=(0, 0)))

    def mean(self, node, x, dims=None, keepdim=False, dtype=None):
        r = self.act(node, x)
        rank = len(r.order)
        dims = sorted({int(d) % rank for d in (dims if dims is not None else range(rank))})
        if rank == 3 and dims == [2] and not r.chw:  # over L of [N, C, L]: over H and W of [N, C, 1, L]
            n, c, _ = r.logical_shape
            m = self.emit(node, "mean", [self.as_image(node, r)], (n, c), (0, 1))
            return self._reshape(node, m, (n, c, 1), (0, 1, 2)) if keepdim else m
        if rank != 4 or r.chw or dims != sorted((r.order[1], r.order[2])):
            return self.reduce(node, "reduce_mean", r, dims, keepdim)
        if keepdim:
            order = r.order
        else:  # the logical dims left are N and C, in their logical order
            left = sorted((r.order[0], r.order[3]))
            order = (left.index(r.order[0]), left.index(r.order[3]))
        return self.emit(node, "mean", [r], self.out_shape(node), order)

    def reduce(self, node, op, r: _Ref, dims, keepdim) -> _Ref:
        """REDUCE_MEAN, SUM or REDUCE_MAX over logical `dims`, on the stored tensor (its axes where those dims lie)."""
        if r.chw:
            r = self.plain(node, r)
        rank = len(r.order)
        if 0 in dims:
            self.fail(node, f"{node.target}: a reduction over the batch dimension is not supported")
        if rank > REDUCE_MAX_DIMS:
            self.fail(node, f"{node.target}: a reduction of a {rank}-D tensor; microflat reduces up to "
                            f"{REDUCE_MAX_DIMS} dimensions")
        axes = [j for j, d in enumerate(r.order) if d in dims]
        logical = r.logical_shape
        if keepdim:
            shape, order = tuple(1 if d in dims else n for d, n in enumerate(logical)), r.order
        else:
            left = [d for d in range(rank) if d not in dims]
            shape, order = tuple(logical[d] for d in left), tuple(left.index(d) for d in r.order if d not in dims)
        return self.emit(node, op, [r], shape, order, dict(axes=axes))

    def sum(self, node, x, dims=None, keepdim=False, dtype=None):
        r = self.act(node, x)
        rank = len(r.order)
        return self.reduce(node, "reduce_sum", r, sorted({int(d) % rank for d in (dims or range(rank))}), keepdim)

    def amax(self, node, x, dims=(), keepdim=False):
        r = self.act(node, x)
        rank = len(r.order)
        return self.reduce(node, "reduce_max", r, sorted({int(d) % rank for d in (dims or range(rank))}), keepdim)

    def layer_norm(self, node, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
        """TFLite's int8 LayerNorm: mean = MEAN(x), var = MEAN(SQUARED_DIFFERENCE(x, mean)), y = (x - mean) *
        RSQRT(var + eps) (a table, eps inside), then * weight + bias (constants), each step calibrated."""
        r = self.plain(node, self.act(node, x))
        rank, logical = len(r.order), r.logical_shape
        dims = list(range(rank - len(normalized_shape), rank))
        order = tuple(range(rank))
        stats_shape = tuple(1 if d in dims else n for d, n in enumerate(logical))
        mean = self.reduce(node, "reduce_mean", r, dims, True)
        centred = self.emit(node, "sub", [r, mean], logical, order)
        square = self.emit(node, "squared_difference", [r, mean], logical, order)
        var = self.reduce(node, "reduce_mean", square, dims, True)
        scale = self.emit(node, "rsqrt", [var], stats_shape, order, dict(eps=float(eps)))
        y = self.emit(node, "mul", [centred, scale], logical, order)
        for op, param in (("mul", weight), ("add", bias)):
            if param is not None:
                y = self.emit(node, op, [y, self.constant(node, self.const(node, param, "weight"), y)], logical, order)
        return (y, None, None) if "native" in str(node.target) else y

    def interpolate(self, node, x, align_corners, *, mode):
        """nn.Upsample / F.interpolate (nearest, nearest-exact, bilinear) as TFLite's RESIZE ops: PyTorch's
        nearest is TFLite's without options, nearest-exact TFLite's half_pixel_centers, bilinear with
        align_corners=False TFLite's half_pixel_centers and with True TFLite's align_corners."""
        r = self.nhwc(node, self.act(node, x))
        out = self.out_shape(node)
        if mode == "bilinear":
            attrs = dict(align_corners=bool(align_corners), half_pixel_centers=not align_corners)
        else:
            attrs = dict(align_corners=False, half_pixel_centers=mode == "nearest-exact")
        return self.emit(node, "resize_bilinear" if mode == "bilinear" else "resize_nearest", [r], out, NCHW_AS_NHWC,
                         attrs)

    def upsample_vec(self, node, x, size, *rest, mode):
        """aten.upsample_*.vec(x, output_size, [align_corners,] scale_factors)."""
        align = rest[0] if mode == "bilinear" else False
        return self.interpolate(node, x, align, mode=mode)  # the size is the output's

    def reshape(self, node, x, *rest):
        r = self.act(node, x)
        out = self.out_shape(node)
        logical = r.logical_shape
        if tuple(out) == logical:
            return r
        if r.chw:  # undoing a flatten: back to NCHW
            n = logical[0]
            c, h, w = r.chw
            if tuple(out) == (n, c, h, w):
                return self._reshape(node, r, out, NCHW_AS_NHWC)
            r = self.plain(node, r)
        in_plain = r.order == tuple(range(len(r.order)))
        if len(r.order) == 4 and r.order == NCHW_AS_NHWC:
            n, c, h, w = logical
            if len(out) == 2 and out[0] == n and h * w > 1 and c > 1:
                return self._reshape(node, r, out, (0, 1), chw=(c, h, w))
            if tuple(out) == (n, c, h * w):  # [N, C, H*W] stored [N, H*W, C]: tokens, no data moved
                return self._reshape(node, r, out, (0, 2, 1))
            in_plain = h * w == 1 or c == 1  # NHWC and NCHW hold the same element order
        if r.order == (0, 2, 1) and len(out) == 4 and out[:2] == logical[:2] and out[2] * out[3] == logical[2]:
            return self._reshape(node, r, out, NCHW_AS_NHWC)  # [N, C, L] stored [N, L, C] as an NHWC image
        if not in_plain:  # PyTorch's element order first: a TRANSPOSE
            r = self.plain(node, r)
        if len(out) == 4:
            n, c, h, w = out
            if h * w > 1 and c > 1:  # the elements in NCHW order; an image op that needs NHWC transposes them
                return self._reshape(node, r, out, (0, 1, 2, 3))
            return self._reshape(node, r, out, NCHW_AS_NHWC)
        return self._reshape(node, r, out, tuple(range(len(out))))

    def relayout(self, node, r: _Ref, order) -> _Ref:
        """r stored with its logical dimensions in `order`: a TRANSPOSE where the layouts differ."""
        if r.chw:
            r = self.plain(node, r)
        order = tuple(order)
        perm = tuple(r.order.index(d) for d in order)
        if perm == tuple(range(len(perm))):
            return _Ref(r.value, order)
        if r.value.dtype != "int8":
            self.fail(node, f"{node.target}: integer ids must keep their layout (a transpose of them is not supported)")
        self.per_sample |= perm[0] != 0  # the batch (1) moves: nn.MultiheadAttention's sequence-first layout
        shape = r.value.shape
        if [p for p in perm if shape[p] > 1] == sorted(p for p in perm if shape[p] > 1):
            # only dimensions of size 1 move: the elements keep their order, a reshape (no data moves)
            return self._reshape(node, r, r.logical_shape, order)
        if len(perm) > TRANSPOSE_MAX_DIMS:
            self.fail(node, f"{node.target}: a transpose of {len(perm)} dimensions; microflat transposes at most "
                            f"{TRANSPOSE_MAX_DIMS}")
        key = (r.value, r.order, order)
        if key in self.relayouts:  # this view already transposed for another consumer
            return self.relayouts[key]
        v = self.value(f"{node.name}_transposed", _physical_shape(r.logical_shape, order))
        self.nodes.append(Node("transpose", [r.value], v, {"perm": perm}, source_of(node)))
        self.relayouts[key] = _Ref(v, order)
        return self.relayouts[key]

    def plain(self, node, r: _Ref) -> _Ref:
        """r in PyTorch's own element order (physical = logical). A flattened NCHW tensor (stored in (h, w, c)
        order) is viewed as NHWC, transposed to NCHW and flattened again."""
        if r.chw:
            c, h, w = r.chw
            n = r.logical_shape[0]
            image = self._reshape(node, _Ref(r.value, (0, 1)), (n, c, h, w), NCHW_AS_NHWC)
            nchw = self.relayout(node, image, (0, 1, 2, 3))
            return self._reshape(node, nchw, (n, c * h * w), (0, 1))
        return self.relayout(node, r, tuple(range(len(r.order))))

    def _reshape(self, node, r, out, order, chw=None):
        if _physical_shape(out, order) == r.value.shape:
            return _Ref(r.value, order, chw)
        return self.emit(node, "reshape", [r], out, order, None, chw)

    def flatten(self, node, x, start=0, end=-1):
        return self.reshape(node, x)

    def permute(self, node, x, dims):
        r = self.act(node, x)
        if r.chw:
            r = self.plain(node, r)
        rank = len(r.order)
        dims = [int(d) % rank for d in dims]
        inverse = [0] * rank
        for i, d in enumerate(dims):
            inverse[d] = i
        return _Ref(r.value, tuple(inverse[d] for d in r.order))

    def transpose(self, node, x, d0, d1):
        rank = len(self.act(node, x).order)
        dims = list(range(rank))
        d0, d1 = int(d0) % rank, int(d1) % rank
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(node, x, dims)

    def cat(self, node, tensors, dim=0):
        refs = [self.act(node, t, f"input {i}") for i, t in enumerate(tensors)]
        if any(r.chw for r in refs):
            refs = [self.plain(node, r) for r in refs]
        refs = [self.relayout(node, r, refs[0].order) for r in refs]  # one layout for all
        rank = len(refs[0].order)
        axis = refs[0].order.index(int(dim) % rank)
        return self.emit(node, "concat", refs, self.out_shape(node), refs[0].order, dict(axis=axis))

    # --- slicing, splitting, stacking and gathering: STRIDED_SLICE, CONCATENATION and GATHER ---------------

    def _slice(self, node, r: _Ref, d: int, start: int, count: int, step: int, shrink: bool = False) -> _Ref:
        """Logical dimension d of r, elements start + k * step (k < count), as one STRIDED_SLICE on the stored
        tensor (the dimension's physical axis); shrink: the one element, the dimension dropped."""
        if r.chw:
            r = self.plain(node, r)
        if r.value.dtype != "int8":
            self.fail(node, f"{node.target}: slicing integer ids is not supported")
        logical, j = r.logical_shape, r.order.index(d)
        if not shrink and (start, count, step) == (0, logical[d], 1):
            return r  # the whole dimension
        if count < 1:
            self.fail(node, f"{node.target}: the slice of dimension {d} (size {logical[d]}) is empty")
        self.per_sample |= j == 0  # the leading stored dimension (the batch, 1, or one moved there) is cut
        begin, strides = [0] * len(r.order), [1] * len(r.order)
        begin[j], strides[j] = start, step
        attrs = dict(begin=begin, strides=strides, shrink=[j] if shrink else [])
        if shrink:
            out = logical[:d] + logical[d + 1:]
            order = tuple(o - (o > d) for o in r.order if o != d)
        else:
            out, order = logical[:d] + (count,) + logical[d + 1:], r.order
        return self.emit(node, "strided_slice", [r], out, order, attrs)

    def _dim(self, r: _Ref, dim) -> int:
        return int(dim) % len(r.order)

    def slice_tensor(self, node, x, dim=0, start=None, end=None, step=1):
        """x[..., start:end:step, ...] (PyTorch's steps are positive; the bounds clamp as Python's do)."""
        r = self.act(node, x)
        d = self._dim(r, dim)
        lo, hi, st = slice(start, end, step).indices(r.logical_shape[d])
        return self._slice(node, r, d, lo, len(range(lo, hi, st)), st)

    def narrow(self, node, x, dim, start, length):
        r = self.act(node, x)
        d = self._dim(r, dim)
        return self._slice(node, r, d, int(start) % r.logical_shape[d], int(length), 1)

    def select(self, node, x, dim, index):
        """x[..., index, ...]: one element of the dimension, which is dropped (STRIDED_SLICE's shrink_axis_mask).
        One state of a recurrent layer's _Stack (h_n[-1], a GRU's y[:, -1]) is that state itself."""
        stack = self.env.get(x) if isinstance(x, torch.fx.Node) else None
        if isinstance(stack, _Stack) and int(dim) % 3 == stack.dim:
            if not -len(stack.refs) <= int(index) < len(stack.refs):
                self.fail(node, f"{node.target}: index {index} of a recurrent layer's {stack.what} of "
                                f"{len(stack.refs)}")
            return stack.refs[int(index)]
        r = self.act(node, x)
        d = self._dim(r, dim)
        size = r.logical_shape[d]
        if not -size <= int(index) < size:
            self.fail(node, f"{node.target}: index {index} lies outside dimension {d} of size {size}")
        return self._slice(node, r, d, int(index) % size, 1, 1, shrink=True)

    def _split(self, node, x, sizes, dim):
        r = self.act(node, x)
        d = self._dim(r, dim)
        pieces, start = [], 0
        for n in sizes:
            pieces.append(self._slice(node, r, d, start, int(n), 1))
            start += int(n)
        return pieces

    def _size(self, node, x, dim) -> int:
        """The logical size of dimension `dim` of activation x."""
        r = self.act(node, x)
        return r.logical_shape[self._dim(r, dim)]

    def split(self, node, x, split_size, dim=0):
        """torch.split with one size: pieces of that size, the last one shorter (TFLite's SPLIT when it divides)."""
        size = self._size(node, x, dim)
        n = int(split_size)
        return self._split(node, x, [min(n, size - k) for k in range(0, size, n)], dim)

    def split_with_sizes(self, node, x, sizes, dim=0):
        return self._split(node, x, sizes, dim)

    def chunk(self, node, x, chunks, dim=0):
        """torch.chunk: pieces of ceil(size / chunks), the last one shorter."""
        return self.split(node, x, -(-self._size(node, x, dim) // int(chunks)), dim)

    def unbind(self, node, x, dim=0):
        """torch.unbind: every element of the dimension, each with the dimension dropped (TFLite's UNPACK)."""
        r = self.act(node, x)
        d = self._dim(r, dim)
        return [self._slice(node, r, d, k, 1, 1, shrink=True) for k in range(r.logical_shape[d])]

    def stack(self, node, tensors, dim=0):
        """torch.stack (TFLite's PACK): each input with a new dimension of 1 (a reshape), then one concatenation."""
        refs = [self.act(node, t, f"input {i}") for i, t in enumerate(tensors)]
        rank = len(refs[0].order) + 1
        d = int(dim) % rank
        grown = []
        for r in refs:
            shape = r.logical_shape[:d] + (1,) + r.logical_shape[d:]
            with self.step_shape(node, shape):
                grown.append(self.reshape(node, r))
        return self.cat(node, grown, d)

    def embedding(self, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
        """nn.Embedding: GATHER of the table's rows (a constant, int8 at its own scale) by the token ids, an
        integer model input."""
        table = self.const(node, weight, "weight")
        ids = self.act(node, indices, "indices")
        if table.dim() != 2:
            self.fail(node, f"{node.target}: the table must be 2-D [num_embeddings, dim], has {tuple(table.shape)}")
        if ids.value.dtype != "int32" or ids.order != tuple(range(len(ids.order))):
            self.fail(node, f"{node.target}: the indices must be integer token ids, a model input of dtype int64 or "
                            "int32 used as it is")
        v = self.value(f"{node.name}_table", table.shape)
        self.nodes.append(Node("constant", [], v, {"data": table.numpy()}, source_of(node)))
        out = ids.logical_shape + (table.shape[1],)
        return self.emit(node, "gather", [_Ref(v, (0, 1)), ids], out, tuple(range(len(out))), dict(axis=0))

    def index_select(self, node, x, dim, index):
        """x.index_select(dim, ids) with constant ids: GATHER of the activation along that dimension."""
        r = self.act(node, x)
        if r.chw:
            r = self.plain(node, r)
        d = self._dim(r, dim)
        ids = self.env.get(index) if isinstance(index, torch.fx.Node) else index
        if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point():
            self.fail(node, f"{node.target}: the indices must be a constant 1-D integer tensor")
        size = r.logical_shape[d]
        if ids.numel() == 0 or not bool(((ids >= -size) & (ids < size)).all()):
            self.fail(node, f"{node.target}: indices {ids.tolist()} must lie in [{-size}, {size}) (dimension {d})")
        j = r.order.index(d)
        self.per_sample |= j == 0
        out = r.logical_shape[:d] + (ids.numel(),) + r.logical_shape[d + 1:]
        attrs = dict(axis=j, indices=(ids % size).to(torch.int32).numpy())
        return self.emit(node, "gather", [r], out, r.order, attrs)

    def index(self, node, x, indices):
        """x[..., ids, ...] with one constant 1-D integer index tensor and plain slices elsewhere: index_select."""
        given = [(d, i) for d, i in enumerate(indices) if i is not None]
        if len(given) != 1:
            self.fail(node, f"{node.target}: indexing with {len(given)} index tensors; microflat gathers along one "
                            "dimension with a constant 1-D index")
        return self.index_select(node, x, given[0][0], given[0][1])

    def softmax(self, node, x, dim, *rest):
        r = self.act(node, x)
        if r.chw or r.order[-1] != int(dim) % len(r.order):
            self.fail(node, f"softmax over dim {dim} of logical shape {r.logical_shape}: microflat's softmax runs over "
                            "the innermost stored axis (channels of a 4-D tensor, features of a 2-D one)")
        return self.emit(node, "softmax", [r], self.out_shape(node), r.order)

    def fake_quantize(self, node, x, scale, zero_point, qmin, qmax):
        """A QAT fake-quantization of an activation: no op, but it fixes the value's quantization: int8 on
        [-128, 127], or int16 on [-32768, 32767] with zero point 0 (TFLite's 16x8 activations)."""
        r = self.act(node, x)
        dtype = {(-128, 127): "int8", (-(2**15), 2**15 - 1): "int16"}.get((int(qmin), int(qmax)))
        if dtype is None:
            self.fail(node, f"fake quantization to [{qmin}, {qmax}]: microflat activations are int8 [-128, 127] "
                            "or int16 [-32768, 32767]")
        s = float(self.env[scale]) if isinstance(scale, torch.fx.Node) else float(scale)
        zp = int(self.env[zero_point]) if isinstance(zero_point, torch.fx.Node) else int(zero_point)
        if not (math.isfinite(s) and s > 0):
            self.fail(node, f"fake quantization with scale {s}")
        if dtype == "int16" and zp != 0:
            self.fail(node, f"16-bit fake quantization with zero point {zp}: int16 activations are symmetric")
        if r.value.fake_quant is not None and r.value.fake_quant_dtype != dtype:
            # a width conversion QAT simulated (an int16 value read by an int8 layer: compress/qat.py): a
            # requantize to the new width, on the grid of this second fake quantization
            r = self.emit(node, "requantize", [r], self.out_shape(node), r.order, chw=r.chw)
            r.value.dtype = dtype
        if r.value.fake_quant is not None and (r.value.fake_quant, r.value.fake_quant_dtype) != ((s, zp), dtype):
            self.fail(node, f"a second fake quantization {(s, zp)} ({dtype}) of a value already fake-quantized as "
                            f"{r.value.fake_quant} ({r.value.fake_quant_dtype})")
        r.value.fake_quant, r.value.fake_quant_dtype = (s, zp), dtype
        return r

    def _table_attrs(self, node, op, given):
        if op == "elu":
            alpha = float(given.get("alpha", 1.0))
            if float(given.get("scale", 1.0)) != 1.0 or float(given.get("input_scale", 1.0)) != 1.0:
                self.fail(node, "ELU with scale or input_scale other than 1 (SELU, CELU) is not supported")
            return {"alpha": alpha}
        if op == "leaky_relu":
            return {"alpha": float(given.get("negative_slope", 0.01))}
        raise AssertionError(op)

    def gelu(self, node, x, approximate="none"):
        r = self.act(node, x)
        if approximate not in ("none", "tanh"):
            self.fail(node, f"GELU with approximate={approximate!r}: microflat knows 'none' (erf) and 'tanh'")
        op = "gelu" if approximate == "none" else "gelu_tanh"
        return self.emit(node, op, [r], self.out_shape(node), r.order, None, r.chw)

    def prelu(self, node, x, weight):
        """A PReLU with one parameter is a leaky ReLU of that slope; one slope per channel has no table."""
        r = self.act(node, x)
        w = self.const(node, weight, "weight")
        if w.numel() != 1:
            self.fail(node, f"PReLU with {w.numel()} parameters (one per channel) is not supported; microflat runs "
                            "nn.PReLU() with a single parameter (num_parameters=1) as a table")
        attrs = {"alpha": float(w.reshape(-1)[0])}
        return self.emit(node, "leaky_relu", [r], self.out_shape(node), r.order, attrs, r.chw)

    def operand(self, node, arg):
        """An activation's _Ref, or the constant as a float64 tensor (a Python number too), or None."""
        r = self.env.get(arg) if isinstance(arg, torch.fx.Node) else arg
        if isinstance(r, _Ref):
            return r
        if isinstance(r, (int, float)) and not isinstance(r, bool):
            return torch.tensor(float(r), dtype=torch.float64)
        if isinstance(r, torch.Tensor):
            return r.detach().to(torch.float64)
        return None

    def constant(self, node, data: torch.Tensor, like: _Ref) -> _Ref:
        """A constant operand of an elementwise op with `like`: a constant node holding it in like's layout."""
        rank = len(like.order)
        if data.dim() > rank or (like.chw and data.numel() > 1):
            self.fail(node, f"{node.target}: a constant of shape {tuple(data.shape)} does not broadcast against "
                            f"the activation's logical shape {like.logical_shape}")
        logical = data.reshape((1,) * (rank - data.dim()) + tuple(data.shape))
        physical = logical.permute(*like.order).contiguous().numpy()
        v = self.value(f"{node.name}_const", physical.shape)
        self.nodes.append(Node("constant", [], v, {"data": physical}, source_of(node)))
        return _Ref(v, like.order, like.chw)

    def binary(self, node, op, a, b):
        ra, rb = self.operand(node, a), self.operand(node, b)
        for r, what in ((ra, "first"), (rb, "second")):
            if r is None:
                self.fail(node, f"{node.target}: the {what} operand must be a tensor or a number")
        if not isinstance(ra, _Ref):
            ra = self.constant(node, ra, rb)
        if not isinstance(rb, _Ref):
            rb = self.constant(node, rb, ra)
        if len(ra.order) != len(rb.order):
            self.fail(node, f"{node.target}: operands of logical shapes {ra.logical_shape} and {rb.logical_shape} "
                            "have different ranks; give them the same rank")
        if ra.order != rb.order or ra.chw != rb.chw:  # one layout for both: b's becomes a's, by a TRANSPOSE
            if ra.chw or rb.chw:
                ra, rb = self.plain(node, ra), self.plain(node, rb)
            else:
                rb = self.relayout(node, rb, ra.order)
        return self.emit(node, op, [ra, rb], self.out_shape(node), ra.order, None, ra.chw)

    def div(self, node, a, b, rounding_mode=None):
        """x / c for a constant c is x * (1 / c); a division by an activation has no integer kernel."""
        if rounding_mode is not None:
            self.fail(node, f"division with rounding_mode={rounding_mode!r} is not supported")
        c = self.operand(node, b)
        if not isinstance(c, torch.Tensor):
            self.fail(node, f"{node.target}: division by an activation is not supported; divide by a constant")
        return self.binary(node, "mul", a, 1.0 / c)

    def neg(self, node, x):
        return self.binary(node, "mul", x, -1.0)

    def pow(self, node, x, exponent):
        """x ** 2 is x * x (and (a - b) ** 2 one SQUARED_DIFFERENCE, fused by the passes)."""
        if exponent != 2:
            self.fail(node, f"{node.target}: only the exponent 2 is supported (x * x), got {exponent!r}")
        return self.binary(node, "mul", x, x)

    def pad(self, node, x, pad, mode="constant", value=None):
        r = self.nhwc(node, self.act(node, x))
        if mode != "constant" or (value not in (None, 0, 0.0)):
            self.fail(node, f"pad mode {mode!r} with value {value!r}: only zero padding is supported")
        pad = [int(p) for p in pad]
        before, after = [0] * 4, [0] * 4
        for i in range(len(pad) // 2):  # pairs from the last logical dimension backwards
            dim = 3 - i
            before[dim], after[dim] = pad[2 * i], pad[2 * i + 1]
        if min(before + after) < 0:
            self.fail(node, "negative padding (cropping) is not supported")
        attrs = dict(before=[before[d] for d in NCHW_AS_NHWC], after=[after[d] for d in NCHW_AS_NHWC])
        return self.emit(node, "pad", [r], self.out_shape(node), NCHW_AS_NHWC, attrs)

    def constant_pad_nd(self, node, x, pad, value=0):
        return self.pad(node, x, pad, "constant", value)


def _binary(op, swap=False):
    """The handler of add / sub / mul / maximum / minimum: two operands of one layout, broadcasting. One may be a
    constant (a parameter, a buffer, a Python number): it becomes a constant node in the activation's layout.
    swap: the aten op takes (x, other) for other - x (rsub)."""
    def handler(self, node, a, b, alpha=1):
        if alpha != 1:
            self.fail(node, f"{node.target} with alpha {alpha} is not supported")
        if swap:
            a, b = b, a
        return self.binary(node, op, a, b)
    return handler


def _unary(op):
    """The handler of an elementwise op (a table activation): any layout passes through."""
    def handler(self, node, x, *rest):
        r = self.act(node, x)
        return self.emit(node, op, [r], self.out_shape(node), r.order, None, r.chw)
    handler.pointwise = True
    return handler


def _table(op, parameters=()):
    """The handler of a table activation with parameters (kernels/lut.py's LUT_PARAMETERS): positional
    arguments after the input, then keyword arguments, by the aten schema's names in `parameters`."""
    def handler(self, node, x, *args, **kwargs):
        r = self.act(node, x)
        given = dict(zip(parameters, args), **kwargs)
        attrs = self._table_attrs(node, op, given)
        return self.emit(node, op, [r], self.out_shape(node), r.order, attrs, r.chw)
    handler.pointwise = True
    return handler


_L = _Lowering
_HANDLERS = {
    "aten.conv2d.default": _L.conv,
    "aten.conv2d.padding": _L.conv,
    "aten.convolution.default": _L.convolution,
    "aten.conv1d.default": _L.conv1d,
    "aten.conv1d.padding": _L.conv1d,
    "aten.max_pool1d.default": _L.max_pool1d,
    "aten.avg_pool1d.default": _L.avg_pool1d,
    "aten.adaptive_avg_pool1d.default": _L.adaptive_avg_pool1d,
    "aten.linear.default": _L.linear,
    "aten.addmm.default": _L.addmm,
    "aten.matmul.default": _L.matmul,
    "aten.bmm.default": _L.matmul,
    "aten.scaled_dot_product_attention.default": _L.sdpa,
    "aten.conv_transpose2d.input": _L.conv_transpose,
    "aten.mm.default": _L.mm,
    "aten.batch_norm.default": _L.batch_norm,
    "aten._native_batch_norm_legit_no_training.default": _L.batch_norm,
    "aten.relu.default": _L.relu,
    "aten.relu_.default": _L.relu,
    "aten.relu6.default": _L.relu6,
    "aten.hardtanh.default": _L.hardtanh,
    "aten.hardtanh_.default": _L.hardtanh,
    "aten.clamp.default": _L.clamp_op,
    "aten.clamp_min.default": _L.clamp_op,
    "aten.clamp_max.default": lambda self, node, x, hi: self.clamp_op(node, x, None, hi),
    "aten.clamp_.default": _L.clamp_op,
    "aten.add.Tensor": _binary("add"),
    "aten.add_.Tensor": _binary("add"),
    "aten.sub.Tensor": _binary("sub"),
    "aten.sub_.Tensor": _binary("sub"),
    "aten.rsub.Scalar": _binary("sub", swap=True),
    "aten.rsub.Tensor": _binary("sub", swap=True),
    "aten.maximum.default": _binary("maximum"),
    "aten.minimum.default": _binary("minimum"),
    "aten.div.Tensor": _L.div,
    "aten.div_.Tensor": _L.div,
    "aten.div.Tensor_mode": _L.div,
    "aten.neg.default": _L.neg,
    "aten.pow.Tensor_Scalar": _L.pow,
    "aten.mul.Tensor": _binary("mul"),
    "aten.mul_.Tensor": _binary("mul"),
    "aten.max_pool2d.default": _L.max_pool,
    "aten.max_pool2d_with_indices.default": _L.max_pool,
    "aten.avg_pool2d.default": _L.avg_pool,
    "aten.adaptive_avg_pool2d.default": _L.adaptive_avg_pool,
    "aten._adaptive_avg_pool2d.default": _L.adaptive_avg_pool,
    "aten.mean.dim": _L.mean,
    "aten.sum.dim_IntList": _L.sum,
    "aten.amax.default": _L.amax,
    "aten.layer_norm.default": _L.layer_norm,
    "aten.native_layer_norm.default": lambda self, node, x, shape, w, b, eps: self.layer_norm(node, x, shape, w, b, eps),
    "aten.upsample_nearest2d.vec": lambda self, node, x, size, scales: self.upsample_vec(node, x, size, mode="nearest"),
    "aten._upsample_nearest_exact2d.vec":
        lambda self, node, x, size, scales: self.upsample_vec(node, x, size, mode="nearest-exact"),
    "aten.upsample_bilinear2d.vec":
        lambda self, node, x, size, align, scales: self.upsample_vec(node, x, size, align, mode="bilinear"),
    "aten.flatten.using_ints": _L.flatten,
    "aten.view.default": _L.reshape,
    "aten.reshape.default": _L.reshape,
    "aten._unsafe_view.default": _L.reshape,
    "aten.squeeze.dim": _L.reshape,
    "aten.squeeze.dims": _L.reshape,
    "aten.squeeze.default": _L.reshape,
    "aten.unsqueeze.default": _L.reshape,
    "aten.permute.default": _L.permute,
    "aten.transpose.int": _L.transpose,
    "aten.cat.default": _L.cat,
    "aten.slice.Tensor": _L.slice_tensor,
    "aten.narrow.default": _L.narrow,
    "aten.select.int": _L.select,
    "aten.split.Tensor": _L.split,
    "aten.split_with_sizes.default": _L.split_with_sizes,
    "aten.chunk.default": _L.chunk,
    "aten.unbind.int": _L.unbind,
    "aten.stack.default": _L.stack,
    "aten.embedding.default": _L.embedding,
    "aten.index_select.default": _L.index_select,
    "aten.index.Tensor": _L.index,
    "aten.unflatten.int": _L.reshape,
    "aten.concat.default": _L.cat,
    "aten.softmax.int": _L.softmax,
    "aten._softmax.default": _L.softmax,
    "aten.sigmoid.default": _unary("logistic"),
    "aten.tanh.default": _unary("tanh"),
    "aten.hardswish.default": _unary("hardswish"),
    "aten.hardswish_.default": _unary("hardswish"),
    "aten.gelu.default": _L.gelu,
    "aten.gelu_.default": _L.gelu,
    "aten.silu.default": _unary("silu"),
    "aten.silu_.default": _unary("silu"),
    "aten.hardsigmoid.default": _unary("hardsigmoid"),
    "aten.hardsigmoid_.default": _unary("hardsigmoid"),
    "aten.mish.default": _unary("mish"),
    "aten.mish_.default": _unary("mish"),
    "aten.leaky_relu.default": _table("leaky_relu", ("negative_slope",)),
    "aten.leaky_relu_.default": _table("leaky_relu", ("negative_slope",)),
    "aten.elu.default": _table("elu", ("alpha", "scale", "input_scale")),
    "aten.elu_.default": _table("elu", ("alpha", "scale", "input_scale")),
    "aten.prelu.default": _L.prelu,
    "aten.pad.default": _L.pad,
    "aten.fake_quantize_per_tensor_affine.default": _L.fake_quantize,
    "aten.fake_quantize_per_tensor_affine.tensor_qparams": _L.fake_quantize,
    "aten.constant_pad_nd.default": _L.constant_pad_nd,
    "aten.lstm.input": _L.lstm,
    "aten.gru.input": _L.gru,
    "microflat.svdf_step.default": _L.svdf_step,
    "microflat.svdf_window.default": _L.svdf_window,
}

SUPPORTED_OPS = sorted(_HANDLERS) + sorted(_IDENTITY)
# The aten ops that act on each element alone (clamps and table activations): a channel passes through them
# unchanged, which structured pruning (compress/structured.py) relies on.
POINTWISE_OPS = frozenset(name for name, h in _HANDLERS.items()
                          if getattr(h, "pointwise", False) or h in (_L.relu, _L.relu6, _L.hardtanh, _L.clamp_op,
                                                                     _L.gelu))
# Rewrites into supported ops, for the ops that have one.
_REWRITES = {
    "aten.abs.default": "torch.relu(x) + torch.relu(-x)",
    "aten.square.default": "x * x",
    "aten.selu.default": "1.0507 * F.elu(x, 1.6733)",
}


def functionalize_buffer_updates(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """A program that updates a registered buffer in place (`self.ring.copy_(...)`) in functional form: torch.export
    then records each mutated buffer and its new value in the signature (buffers_to_mutate). Other programs are
    returned as they are."""
    kinds = torch.export.graph_signature.InputKind
    buffers = {s.arg.name for s in ep.graph_signature.input_specs if s.kind == kinds.BUFFER}
    for node in ep.graph.nodes:
        target = node.target
        if (node.op == "call_function" and isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable
                and node.args and isinstance(node.args[0], torch.fx.Node) and node.args[0].name in buffers):
            try:
                return ep.run_decompositions({})
            except Exception as exc:
                raise CompileError(f"the in-place update of a buffer at {source_of(node)} could not be made "
                                   f"functional: {str(exc).splitlines()[0]}") from None
    return ep


def lower(ep: torch.export.ExportedProgram) -> Graph:
    """The IR of an exported program (batch specialized to 1). Raises CompileError."""
    return _Lowering(functionalize_buffer_updates(specialize_batch(ep))).run()
