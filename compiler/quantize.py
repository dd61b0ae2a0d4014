"""Post-training quantization: calibrate activations, then quantize weights and biases.

Activations: asymmetric int8 per tensor from an observer (observers.py),
except where the op fixes or ties the output quantization (ir.FIXED_OUTPUT,
ir.TIED_OPS), as TFLite's int8 kernels require, and where the captured graph
fake-quantizes the value (a QAT model): its scale and zero point are kept.

Weights: symmetric per output channel, the TFLite int8 scheme:

    s_w[c] = max|w[c]| / 127,   q = round(w / s_w[c]) in [-127, 127]

(-128 is never used, so negation cannot overflow and the accumulator bound
is symmetric). With weight_bits = 4, 127 becomes 7: weights in [-7, 7], which
the compiler stores as CMSIS-NN's packed int4.

A palettized layer (at most 256 distinct float weights shared across
channels: a clustered model) gets one scale for the whole tensor,
s_w = max|w| / 127, when per-channel scales would split its K shared values
into more int8 values (up to C * K); with one scale they stay K values and
the file stores one palette of K entries. A per-channel QAT layer shares no
value across channels but 0, which every scale keeps, so it stays per channel. A channel of zeros gets s_w = s_out / s_in, which makes its
requantization multiplier 1 and its bias exact to one output step.

Biases: int32 at scale s_in * s_w[c], so that they add straight into the
int32 accumulator: b_q = round(b / (s_in * s_w[c])).

Bias correction (bias_correction=True; Nagel et al. 2019, "Data-Free
Quantization", section 4.2, with the input's mean measured on the calibration
data rather than inferred from batch norm): rounding the weights moves each
output's mean by (W_q - W) E[x], W_q = q * s_w the weights the file holds,
which a bias absorbs. Calibration records E[x] per input channel of every conv
and fc (over the batch, the rows and the pixels; _input_means), and the float
bias becomes

    b' = b - sum over k of (W_q - W)[c, k] E[x_k]

(a conv's k: its taps and the input channels of the output channel's group;
padding's zeros are taken as the mean, as in the paper) before it is quantized
as above, so the layer's output has the float layer's mean over the calibration
data up to the bias's own rounding. A layer without a bias gets one. A GRU's
steps, which share their weights, each get their own bias (their inputs' means
differ). The LSTM and SVDF ops and a transposed conv keep their biases.

LSTM (an lstm node, UNIDIRECTIONAL_SEQUENCE_LSTM 8x8_16): x and the output sequence y asymmetric int8 from
their observed ranges (h_n has y's quantization, as TFLite gives the state and the output one); the cell state
c int16, zero point 0, scale 2^p with the smallest p in [-15, -9] such that 2^p * 32767 >= the largest |c|
observed at any step (above 2^-9 * 32767, about 64, p stays -9 and the kernel saturates c); weights symmetric
int8 with one scale per gate matrix (TFLite's LSTM is per tensor per gate: s_G = max|W_G| / 127, 4 input and 4
recurrent scales), always 8-bit (the op reads int8 weights, whatever weight_bits); the bias b_ih + b_hh int32 at
s_x s_w(input-to-G). An lstm whose width is int16 (widths.py: TFLite Micro's 16x8 LSTM) has x, y and h_n int16
symmetric (zero point 0, as every int16 activation), the same cell rule and weights, and the bias int64 at
s_x s_w(input-to-G).

SVDF (an svdf node, TFLite's SVDF: int8 input and output, int16 state): x and y asymmetric int8 from their observed
ranges; the state int16 symmetric, zero point 0, s_state = max|a| / 32767 over the feature activations a that it
holds (observed with minmax whatever the observer: int16 has steps to spare, and a clipped state would be wrong
for `memory` frames); weight_feature symmetric int8 per tensor, s_wf = max|wf| / 127; weight_time symmetric int16
per tensor, s_wt = max|wt| / 32767, made larger where needed so that no unit's time accumulator
(bias + rank * memory products of a state of up to 2^15) can leave int32 (_quantize_svdf; the kernel would wrap);
the bias int32 at s_state * s_wt (TFLite's rule). Always 8-bit feature weights, whatever weight_bits.

Ties (_tie_states): values that must share one quantization get the union of their observed ranges: an lstm's
given initial h0 and its y (the kernel reads h0 at y's quantization), its c0 and its cell state, and each
variable and the new value assigned to it (ASSIGN_VARIABLE copies the integers). An svdf's state input and its
new state (the kernel copies the integers); and the nodes of one whole-window SVDF (one per frame, one `layer`):
their outputs, their states, and a concatenation of their outputs (the window's output), so that each frame is
computed with the numbers of the streaming layer.

16-bit activations (a Value of dtype "int16", widths.py): symmetric, zero
point 0, s = max|x| / 32767 (observers.qparams); the weights stay int8 as
above, and a layer reading an int16 input gets an int64 bias at the same
scale, bounded by the 16x8 accumulator rule 2^15 * sum|w| + |b| <= 2^47 - 1
(TFLite's 16x8 mode).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from microflat.kernels.lstm import CELL_EXPONENT_MAX, CELL_EXPONENT_MIN
from microflat.kernels.numerics import (MAX_S16_INPUT, S16_ACCUMULATOR_MAX, accumulator_overflow,
                                       round_half_away_from_zero)
from microflat.runtime.errors import CompileError

from . import observers
from .ir import FIXED_OUTPUT, FIXED_OUTPUT_INT16, TIED_OPS, WEIGHTED_OPS, Graph, Value
from .ir_ops import lstm_sequence
from .simulate import run_graph

INT32_MAX = 2**31 - 1
QUANTIZED = ("int8", "int16")  # the activation dtypes calibration gives a scale (widths.py); int32 ids get none


def physical_batches(graph: Graph, data: Iterable):
    """Calibration batches as lists of physical-layout float32 tensors, one per model input."""
    for i, batch in enumerate(data):
        items = list(batch) if isinstance(batch, (tuple, list)) else [batch]
        if len(items) != len(graph.inputs):
            raise CompileError(f"calibration batch {i} has {len(items)} tensor(s); the model takes {len(graph.inputs)}")
        out = []
        for j, (x, v, layout) in enumerate(zip(items, graph.inputs, graph.input_layouts)):
            x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
            if v.dtype == "int32":
                if (x.is_floating_point() and not torch.equal(x, x.round())) or x.dtype == torch.bool:
                    raise CompileError(f"calibration batch {i}, input {j}: the model takes integer ids ({v.name}); "
                                       f"got {x.dtype} values that are not integers")
                if x.numel() and (x.min() < -(2**31) or x.max() > INT32_MAX):
                    raise CompileError(f"calibration batch {i}, input {j}: ids must fit int32")
                x = x.to(torch.int64)
            else:
                x = x.to(torch.float32)
            user = v.shape if layout != "NHWC" else (v.shape[0], v.shape[3], v.shape[1], v.shape[2])
            if x.dim() == len(user) - 1:
                x = x.unsqueeze(0)
            if x.dim() != len(user) or tuple(x.shape[1:]) != tuple(user[1:]):
                want = "[N, " + ", ".join(map(str, user[1:])) + "]"
                raise CompileError(f"calibration batch {i}, input {j}: shape {tuple(x.shape)} does not fit {want}"
                                   + (" (NCHW, as PyTorch takes it)" if layout == "NHWC" else ""))
            if layout == "NHWC":
                x = x.permute(0, 2, 3, 1)
            if x.is_floating_point() and not torch.isfinite(x).all():
                raise CompileError(f"calibration batch {i}, input {j} holds NaN or infinite values")
            out.append(x)
        yield out


# The layers whose biases bias correction adjusts (module docstring).
CORRECTED_OPS = ("conv", "fc")


def calibrate(graph: Graph, data: Iterable, observer: str = observers.DEFAULT_OBSERVER, progress: bool = True,
              bias_correction: bool = False) -> int:
    """Observe every activation over the calibration data; set each Value's scale and zero point. With
    bias_correction, also record each conv's and fc's mean input per channel (node.attrs["input_mean"]), which
    quantize_weights folds into its bias."""
    from tqdm.auto import tqdm

    obs = {}
    producers = graph.producers()
    for node in reversed(graph.nodes):  # a QAT quantization seen after a tied op (a 1-D conv's reshape) is its input's
        src = node.inputs[0] if node.inputs else None
        if node.op in TIED_OPS and node.output.fake_quant is not None and src is not None and src.fake_quant is None:
            src.fake_quant, src.fake_quant_dtype = node.output.fake_quant, node.output.fake_quant_dtype
    for v in graph.values():  # a QAT grid of another width than the value now has (an int8 QAT model compiled at
        if v.fake_quant is not None and v.fake_quant_dtype != v.dtype:  # int16, or widths.py's conversions) does
            v.fake_quant = v.fake_quant_dtype = None  # not apply: the value is calibrated instead
    for v in graph.values():
        node = producers.get(v)
        if v.dtype in QUANTIZED and v.fake_quant is None and (node is None or (node.op not in FIXED_OUTPUT
                                                                            and node.op not in TIED_OPS
                                                                            and v is node.output)):
            obs[v] = observers.make(observer)
    for n in graph.nodes:  # an svdf's new state (an extra output): minmax over the feature activations it holds
        if n.op == "svdf":
            obs[n.extra_outputs[0]] = observers.make("minmax")
    cell_max = {n: 0.0 for n in graph.nodes if n.op == "lstm"}  # the largest |c| at any step
    sums = {n: [0.0, 0] for n in graph.nodes if bias_correction and n.op in CORRECTED_OPS}  # (sum, rows) per input
    count = 0
    for batch in tqdm(physical_batches(graph, data), desc="calibrating", unit="batch", disable=not progress):
        _, env = run_graph(graph, batch, record=True)
        for v, o in obs.items():
            o.update(env[v].numpy())
        for n in cell_max:
            cell_max[n] = max(cell_max[n], _cell_max(graph, n, env))
        for n, acc in sums.items():  # channels last (NHWC, or an fc's [rows, IN]): one sum per input channel
            x = env[n.inputs[0]].numpy().astype(np.float64)
            acc[0] = acc[0] + x.reshape(-1, x.shape[-1]).sum(axis=0)
            acc[1] += x.size // x.shape[-1]
        count += 1
    if count == 0:
        raise CompileError("the calibration data holds no batch")
    for n, (total, rows) in sums.items():
        n.attrs["input_mean"] = total / rows
    ranges = {v: o.range() for v, o in obs.items()}
    for v in ranges:  # a constant operand keeps its exact range, whatever the observer would clip
        node = producers.get(v)
        if node is not None and node.op == "constant":
            data = np.asarray(node.attrs["data"], np.float64)
            ranges[v] = (float(data.min()), float(data.max()))
    _share_ranges(graph, ranges, producers)
    tied = _tie_states(graph, ranges, producers, cell_max)
    for v in graph.values():
        node = producers.get(v)
        if v.dtype not in QUANTIZED:
            continue  # integer ids: not quantized
        if v in tied:
            v.scale, v.zero_point = tied[v]
        elif node is not None and node.op == "lstm" and v is not node.output:  # h_n: y's (c_n is always tied)
            v.scale, v.zero_point = node.output.scale, node.output.zero_point
        elif node is not None and node.op in FIXED_OUTPUT:  # the op's int8 or int16 form's
            v.scale, v.zero_point = (FIXED_OUTPUT_INT16 if v.dtype == "int16" else FIXED_OUTPUT)[node.op]
        elif node is not None and node.op in TIED_OPS:
            src = node.inputs[0]
            v.scale, v.zero_point = src.scale, src.zero_point
        elif v.fake_quant is not None:  # a QAT model's own quantization (compress/qat.py)
            v.scale, v.zero_point = v.fake_quant
        else:
            v.scale, v.zero_point = observers.qparams(*ranges[v], v.dtype)
    return count


# Ops whose inputs must share one quantization with their output (the kernel compares raw values).
SHARED_INPUT_QUANTIZATION = frozenset({"maximum", "minimum"})


def _share_ranges(graph: Graph, ranges: dict, producers: dict) -> None:
    """Give both inputs of every maximum / minimum the union of their ranges (their output is tied to the first),
    so that the kernel's raw comparison compares real values. Each input must be calibrated freely: a model input,
    a constant, or the output of an op that requantizes; the union is taken to a fixed point over chains."""
    groups = [n for n in graph.nodes if n.op in SHARED_INPUT_QUANTIZATION]
    for n in groups:
        for v in n.inputs:
            if v not in ranges:
                raise CompileError(f"{n.op} at {n.source}: its operand {v.name} has a quantization fixed by its own "
                                   "producer (or by fake quantization); the operands of maximum and minimum must share "
                                   "one scale and zero point, so each must be free to take the other's range")
    changed = True
    while changed:
        changed = False
        for n in groups:
            a, b = n.inputs
            union = (min(ranges[a][0], ranges[b][0]), max(ranges[a][1], ranges[b][1]))
            for v in (a, b):
                if ranges[v] != union:
                    ranges[v], changed = union, True


def _cell_max(graph: Graph, node, env) -> float:
    """The largest |c| of an lstm node over every step of a calibration batch. Where run_graph ran the batch sample
    by sample (a stream, or Graph.per_sample) env holds the samples one after another: each input's own leading
    dimension is one sample's."""
    xs = [env[v] for v in node.inputs]
    if not (graph.variables or graph.per_sample):
        return lstm_sequence(node, xs)[3]
    rows = [v.shape[0] for v in node.inputs]
    return max(lstm_sequence(node, [x[i * r:(i + 1) * r] for x, r in zip(xs, rows)])[3]
               for i in range(len(xs[0]) // rows[0]))


def cell_exponent(maxabs: float) -> int:
    """p of an LSTM cell state's scale 2^p: the smallest p in [-15, -9] with 2^p * 32767 >= maxabs. Above 2^-9 *
    32767 (about 64) p stays -9 and the kernel saturates c there: TFLite's tanh of the cell reads at most
    15 + p = 6 integer bits."""
    for p in range(CELL_EXPONENT_MIN, CELL_EXPONENT_MAX + 1):
        if 2.0**p * 32767 >= maxabs:
            return p
    return CELL_EXPONENT_MAX


def _tie_states(graph: Graph, ranges: dict, producers: dict, cell_max: dict) -> dict[Value, tuple[float, int]]:
    """{value: (scale, zero point)} for the values that must share one quantization (module docstring), each
    group's from the union of its members' ranges: an LSTM cell's int16 2^p (cell_exponent), else int8 (int16)
    from the observer's rule; a member whose quantization is fixed (a table activation's, a QAT one) gives it to
    the group. Members are taken back through tied ops (a reshape of a variable is the variable)."""
    def source(v):
        while True:
            node = producers.get(v)
            if node is not None and node.op == "lstm" and v is node.extra_outputs[0]:
                v = node.output  # h_n has y's quantization
            elif node is not None and node.op in TIED_OPS:
                v = node.inputs[0]
            else:
                return v

    parent: dict = {}

    def find(v):
        parent.setdefault(v, v)
        while parent[v] is not v:
            v = parent[v]
        return v

    def union(a, b):
        parent[find(a)] = find(b)

    cells = {}
    for n in graph.nodes:
        if n.op == "lstm":
            cells[n.extra_outputs[1]] = n
            find(n.extra_outputs[1])
            if len(n.inputs) == 3:
                union(source(n.inputs[1]), n.output)
                union(source(n.inputs[2]), n.extra_outputs[1])
    for var, value in graph.assignments:
        union(var, source(value))
    _tie_svdf(graph, source, union)
    groups: dict = {}
    for v in list(parent):
        groups.setdefault(find(v), []).append(v)
    tied = {}
    for members in groups.values():
        names = ", ".join(m.name for m in members)
        if len({m.dtype for m in members}) > 1:
            raise CompileError(f"the values {names} must share one quantization but have different widths "
                               f"({', '.join(m.dtype for m in members)})")
        fixed = set()
        for m in members:
            node = producers.get(m)
            if m.fake_quant is not None:
                fixed.add(m.fake_quant)
            elif node is not None and node.op in FIXED_OUTPUT:
                fixed.add((FIXED_OUTPUT_INT16 if m.dtype == "int16" else FIXED_OUTPUT)[node.op])
        if any(m in cells for m in members):
            maxabs = max([cell_max[cells[m]] for m in members if m in cells]
                         + [max(abs(ranges[m][0]), abs(ranges[m][1])) for m in members if m in ranges])
            if fixed or members[0].dtype != "int16":
                raise CompileError(f"an LSTM's cell state shares its quantization with {names}, which must be an "
                                   "int16 model input or state buffer")
            q = (2.0 ** cell_exponent(maxabs), 0)
        elif len(fixed) > 1:
            raise CompileError(f"the values {names} must share one quantization, but their producers fix "
                               f"different ones: {sorted(fixed)}")
        elif fixed:
            q = fixed.pop()
        else:
            lo = min(ranges[m][0] for m in members)
            hi = max(ranges[m][1] for m in members)
            q = observers.qparams(lo, hi, members[0].dtype)
        tied.update((m, q) for m in members)
    return tied


def _tie_svdf(graph: Graph, source, union) -> None:
    """_tie_states's svdf groups (module docstring): each node's state input with its new state; the outputs, and
    the states, of the nodes of one layer; a concatenation whose inputs all come from one layer's outputs."""
    first: dict = {}
    layer_of = {}
    for n in graph.nodes:
        if n.op != "svdf":
            continue
        head = first.setdefault(n.attrs["layer"], n)
        layer_of[n.output] = n.attrs["layer"]
        union(n.output, head.output)
        union(n.extra_outputs[0], head.extra_outputs[0])
        if len(n.inputs) == 2:
            union(source(n.inputs[1]), n.extra_outputs[0])
    for n in graph.nodes:
        if n.op == "concat":
            layers = {layer_of.get(source(v)) for v in n.inputs}
            if len(layers) == 1 and None not in layers:
                union(n.output, source(n.inputs[0]))


PALETTE_MAX = 256


def _symmetric(w, maxabs, qmax, zero_channel_scale):
    """(s[c], q): s = maxabs / qmax (zero_channel_scale for an all-zero channel), q = round(w / s) in [-qmax, qmax]."""
    scale = np.where(maxabs > 0, maxabs / qmax, zero_channel_scale)
    q = np.clip(round_half_away_from_zero(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -qmax, qmax)
    return scale, q


def quantize_weights(graph: Graph, weight_bits: int = 8) -> None:
    """Symmetric int8 weights (per channel; per tensor for a palettized layer) and int32 biases for every conv
    and fc (in node.attrs['quantized']). weight_bits 4: weights in [-7, 7]."""
    if weight_bits not in (4, 8):
        raise CompileError(f"weight_bits must be 4 or 8, got {weight_bits!r}")
    qmax = 2 ** (weight_bits - 1) - 1
    for node in graph.nodes:
        if node.op == "lstm":
            _quantize_lstm(node)
        if node.op == "svdf":
            _quantize_svdf(node)
        if node.op not in WEIGHTED_OPS:
            continue
        w = np.asarray(node.attrs["weight"], np.float64)
        b = node.attrs["bias"]
        s_in, s_out = node.inputs[0].scale, node.output.scale
        out_ch = w.shape[0]
        maxabs = np.abs(w.reshape(out_ch, -1)).max(axis=1)
        scale, q = _symmetric(w, maxabs, qmax, s_out / s_in)
        distinct = np.unique(w).size
        if distinct <= PALETTE_MAX and np.unique(q).size > distinct:  # channels' scales split shared values
            scale, q = _symmetric(w, np.full(out_ch, np.abs(w).max()), qmax, s_out / s_in)
        bias = np.zeros(out_ch) if b is None else np.asarray(b, np.float64)
        if "input_mean" in node.attrs:
            bias = bias - _mean_shift(node, q * scale.reshape((-1,) + (1,) * (w.ndim - 1)) - w)
        bq = round_half_away_from_zero(bias / (s_in * scale))
        wide = node.inputs[0].dtype == "int16"  # a 16x8 layer: int64 bias and accumulator
        acc, limit, rule = (("int64", S16_ACCUMULATOR_MAX, "2^15 * sum|w| + |bias| > 2^47 - 1") if wide else
                            ("int32", INT32_MAX, "255 * sum|w| + |bias| > 2^31 - 1"))
        if np.abs(bq).max(initial=0) > limit:
            c = int(np.argmax(np.abs(bq)))
            raise CompileError(f"the bias of channel {c} is {bias[c]:.4g}, {abs(bq[c]):.4g} steps of s_in * s_w: it "
                               f"does not fit {acc} at {node.source}")
        worst = accumulator_overflow(np.abs(q.reshape(out_ch, -1)).sum(axis=1), bq,
                                     *((MAX_S16_INPUT, S16_ACCUMULATOR_MAX) if wide else ()))
        if worst is not None:
            c, bound = worst
            raise CompileError(f"the {acc} accumulator of output channel {c} of {node.output.name} could reach "
                               f"{bound} ({rule}, with {w[0].size} weights per channel) at {node.source}; split the "
                               "layer")
        node.attrs["quantized"] = dict(weight_torch=q.astype(np.int8), weight_scale=scale,
                                       bias=bq.astype(np.int64 if wide else np.int32))


def _mean_shift(node, error: np.ndarray) -> np.ndarray:
    """(W_q - W) E[x] per output channel (the module docstring's bias correction): error = W_q - W in the node's
    weight layout (fc [OUT, IN]; conv [O, I / groups, KH, KW], output channel o reading input channels
    (o // (O / groups)) * (I / groups) + j, j < I / groups)."""
    mean = node.attrs["input_mean"]
    if node.op == "fc":
        return error @ mean
    out_ch, per_group = error.shape[:2]
    group = np.arange(out_ch) // (out_ch // node.attrs["groups"])
    channels = group[:, None] * per_group + np.arange(per_group)[None, :]  # [O, I / groups]
    return (error.sum(axis=(2, 3)) * mean[channels]).sum(axis=1)


def _quantize_lstm(node) -> None:
    """An lstm's int8 weights with one scale per gate matrix and its int32 bias at s_x s_w(input-to-G) (module
    docstring), in node.attrs['quantized']: weight_ih [4, C, I], weight_hh [4, C, C], scale_ih [4], scale_hh [4],
    bias [4, C]. A gate matrix of zeros gets scale 1/127 (any scale holds it)."""
    a = node.attrs
    cells = a["weight_hh"].shape[1]
    q = {}
    for side in ("ih", "hh"):
        w = np.asarray(a[f"weight_{side}"], np.float64).reshape(4, cells, -1)
        scale, wq = _symmetric(w, np.abs(w).reshape(4, -1).max(axis=1), 127, 1.0 / 127)
        q[f"weight_{side}"], q[f"scale_{side}"] = wq.astype(np.int8), scale
    bias = np.zeros((4, cells)) if a["bias"] is None else np.asarray(a["bias"], np.float64).reshape(4, cells)
    bq = round_half_away_from_zero(bias / (node.inputs[0].scale * q["scale_ih"][:, None]))
    wide = node.inputs[0].dtype == "int16"  # 16x8: an int64 bias (its accumulator bound is the kernel's check)
    if not wide and np.abs(bq).max(initial=0) > INT32_MAX:
        g, c = np.unravel_index(int(np.argmax(np.abs(bq))), bq.shape)
        raise CompileError(f"the bias of gate {'ifco'[g]}, cell {c} of the LSTM {node.output.name} is "
                           f"{bias[g, c]:.4g}: it does not fit int32 at s_x * s_w, at {node.source}")
    q["bias"] = bq.astype(np.int64 if wide else np.int32)
    a["quantized"] = q


SVDF_STATE_MAX = 2**15  # the largest |int16 state value|


def _quantize_svdf(node) -> None:
    """An svdf's int8 feature weights, int16 time weights and int32 bias (module docstring), in
    node.attrs['quantized']: weight_feature [F, I], feature_scale, weight_time [F, M], time_scale, bias [units] or
    None. s_state (the new state's scale) is calibrated first.

    The time accumulator of unit u is bias_q[u] + the sum of its n = rank * M products wt_q * state, |state| <=
    2^15. With wt_q = round(wt / s) (each within 1/2 of wt / s) and bias_q = round(b / (s_state * s)), its bound
    2^15 * sum|wt_q| + |bias_q| <= (2^15 * L1_u + |b_u| / s_state) / s + 2^14 * n + 1/2, L1_u = sum|wt| over the
    unit's weights, is at most 2^31 - 1 when s >= (2^15 * L1_u + |b_u| / s_state) / (2^31 - 1 - 2^14 * n - 1/2):
    the time scale is the larger of that and max|wt| / 32767. The bound is checked again on the integers."""
    a = node.attrs
    s_state = node.extra_outputs[0].scale
    rank = a["rank"]
    wf = np.asarray(a["weight_feature"], np.float64)
    wt = np.asarray(a["weight_time"], np.float64)
    units = wt.shape[0] // rank
    bias = np.zeros(units) if a["bias"] is None else np.asarray(a["bias"], np.float64)
    s_wf = float(np.abs(wf).max()) / 127 or 1 / 127  # a zero matrix: any scale holds it
    q_wf = np.clip(round_half_away_from_zero(wf / s_wf), -127, 127)
    products = rank * wt.shape[1]
    l1 = np.abs(wt).reshape(units, -1).sum(axis=1)
    need = (SVDF_STATE_MAX * l1 + np.abs(bias) / s_state) / (INT32_MAX - 2**14 * products - 0.5)
    s_wt = max(float(np.abs(wt).max()) / 32767, float(need.max())) or 1 / 32767
    q_wt = np.clip(round_half_away_from_zero(wt / s_wt), -32767, 32767)
    q_b = round_half_away_from_zero(bias / (s_state * s_wt))
    bound = SVDF_STATE_MAX * np.abs(q_wt).reshape(units, -1).sum(axis=1) + np.abs(q_b)
    if bound.max() > INT32_MAX:  # the derivation above rules it out; a float rounding would show here
        u = int(np.argmax(bound))
        raise CompileError(f"the time accumulator of unit {u} of the SVDF {node.output.name} could reach "
                           f"{int(bound[u])}, above 2^31 - 1, at {node.source}")
    a["quantized"] = dict(weight_feature=q_wf.astype(np.int8), feature_scale=s_wf, weight_time=q_wt.astype(np.int16),
                          time_scale=s_wt, bias=None if a["bias"] is None else q_b.astype(np.int32))
