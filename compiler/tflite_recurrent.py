"""UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF of a .tflite as microflat's LSTM and SVDF ops (compile_tflite's
recurrent half: tflite_import._Importer calls lstm(importer, op) and svdf(importer, op)).

State. TFLite keeps an LSTM's h and c and an SVDF's memory in variable tensors (is_variable, no buffer: TFLite
refuses a variable with data), operator inputs that are neither graph inputs nor outputs, updated in place, reset
to real 0 (an int8 tensor's zero point, else 0) when the interpreter allocates, and carried from one invoke to the
next (docs/RECURRENT.md section 5). microflat's variables (docs/FORMAT.md, "Variables") are the same thing: each
such tensor becomes a microflat variable at the file's quantization, which microflat resets to the same real 0;
the op writes its new value to a fresh tensor and an ASSIGN_VARIABLE right after the op stores it for the next
invoke. An op later in the file that reads the TFLite variable reads the updated value (TFLite updated it in
place): the importer's tensor of that index becomes the new value. So the model's inputs and outputs are the
file's, and the state carries across invokes as in TFLite.

UNIDIRECTIONAL_SEQUENCE_LSTM (inputs as lstm_shared.h numbers them: 0 x, 1-4 input-to-{i,f,c,o} weights, 5-8
recurrent-to-{i,f,c,o} weights, 9-11 peephole, 12-15 gate biases, 16-17 projection, 18 h, 19 c, 20-23 layer norm):
the four [C, I] and [C, C] weights of each kind stacked into microflat's [4, C, I] and [4, C, C], the biases into
[4, C]; the sequence's form is x's dtype:

  int8 x (8x8_16)   LiteRT's integer LSTM (lstm_eval.cc; TFLite Micro's int8 LSTM is another algorithm, not
                    bit-exact with it: RECURRENT.md 3.7, so microflat follows LiteRT here). Its Prepare
                    (PopulateQuantizedLstmParams8x8_16) is kernels.lstm_8x8_16_params on the file's scales: the
                    gate scales are 2^-12 without layer norm (intermediates 0-3 are read only with layer norm),
                    intermediate 4 (the hidden product o tanh(c)) gives s_hid and z_hid, the cell clip quantized
                    against c's scale. The file must hold intermediate 4 (TFLite's Prepare reads it). microflat's
                    op adds y's zero point as z_hid, so z_hid must be h's.
  int16 x (16x8)    TFLite Micro's (LiteRT has no int16 LSTM): kernels.lstm_16x8_params on the scales; TFLM reads
                    no intermediates (its gate scales are fixed, its hidden product goes to h's scale); int64 biases,
                    no recurrent bias; x and h with zero point 0 (TFLM's int16 FC ignores zero points: refused).

Both: fused activation TANH (the cell gate's; TFLite's integer kernels assert on any other), cell_clip (proj_clip
has no effect without projection), time_major or not. microflat's op runs one sequence (batch 1); a batch of B
sequences becomes B ops on slices of x, each with its own [1, C] state variables, their outputs concatenated:
TFLite's integer LSTM computes each batch row from its own state rows only, in either layout. h, y (a copy of h's
values in TFLite) and the new h share h's quantization, which the file must give y too.

SVDF (inputs x, weights_feature, weights_time, bias or -1, state): microflat's SVDF (TFLite Micro's
EvalIntegerSvdfReference) with kernels.svdf_params on the five scales. TFLite and TFLite Micro differ in how the
two effective scales are formed (svdf_params' precision: LiteRT in float32, the tflite-micro wheel in double,
measured by tests/test_svdf.py): microflat follows TFLite Micro (SVDF_PRECISION), as compile_tflite does wherever
the two differ, and TFLM's bias scale check |s_bias - s_state s_wt| < 1e-5. The fused activation is not applied
(TFLite requires RELU for int8 and never applies it; TFLM ignores it). int16 state with zero point 0 and int16
time weights only (TFLM's int8 state and time weights are not mapped).

Refused with CompileError naming the op's output tensor and what: a float or hybrid op (float x), CIFG, peephole,
projection, layer norm, diagonal recurrent weights, a fused activation other than TANH (LSTM), a missing
intermediate 4 (int8 LSTM), a state that is not a variable (or holds data), per-channel or asymmetric weights,
zero points or quantizations microflat's ops cannot hold (above), and whatever the kernels' params functions
refuse (their ValueError's message: cell scales outside the kernel's range, weights holding -128, accumulator
bounds, ...).
"""

from __future__ import annotations

import numpy as np

from microflat import kernels as K
from microflat.runtime.errors import CompileError

from . import tflite_import  # imported by it: its names are read when an op is mapped

SVDF_PRECISION = "double"  # TFLite Micro's effective scales (module docstring); LiteRT's "float32" (reference="litert")
_TANH = 4  # tflite.ActivationFunctionType.TANH
# lstm_shared.h's input indices
_X, _WX, _WH, _PEEPHOLE, _BIAS, _PROJECTION, _H, _C, _LAYER_NORM = (0, range(1, 5), range(5, 9), range(9, 12),
                                                                    range(12, 16), range(16, 18), 18, 19,
                                                                    range(20, 24))
_HIDDEN_INTERMEDIATE = 4


def _per_tensor_weight(what: str, t, dtype: str) -> float:
    """A constant symmetric weight's one scale."""
    if t.data is None or t.dtype != dtype:
        raise CompileError(f"{what}: weight {t.name!r} must be a constant {dtype} tensor")
    if t.scales is None or t.scales.size != 1:
        raise CompileError(f"{what}: weight {t.name!r} must have one (per-tensor) scale, not "
                           f"{0 if t.scales is None else t.scales.size}")
    if t.zero_point != 0:
        raise CompileError(f"{what}: weight {t.name!r} has zero point {t.zero_point}; TFLite's are symmetric (0)")
    return t.scale


def _scale(what: str, t) -> float:
    if t.scales is None or t.scales.size != 1:
        raise CompileError(f"{what}: tensor {t.name!r} must have one (per-tensor) scale")
    return t.scale


def _variable(importer, what: str, t, shape, zero_point: int) -> int:
    """The microflat variable of TFLite variable tensor t (created once, with the given shape): TFLite's Prepare
    takes the state only through GetVariableInput, which is null unless is_variable is set, and its
    InterpreterBuilder refuses a variable with a buffer."""
    _check_state(importer, what, t)
    if t.key not in importer.ids:
        v = importer.w.add_tensor(f"{t.name}:state", t.dtype, shape, scale=_scale(what, t), zero_point=zero_point)
        importer.ids[t.key] = v
    v = importer.ids[t.key]
    if any(v in op["outputs"] for op in importer.w.operators):  # an earlier op's new state: assigned already
        raise CompileError(f"{what}: state {t.name!r} is updated by two operators; microflat assigns a variable once")
    importer.w.tensors[v]["variable"] = True
    return v


def _clone(w, t: dict, name: str) -> int:
    """A new tensor of t's dtype, shape and quantization, not a variable: a variable's new value (named as the TFLite
    tensor, which a later reader or the graph's outputs see as the updated state)."""
    w.tensors.append({k: v for k, v in t.items() if k not in ("variable", "name")} | {"name": name})
    return len(w.tensors) - 1


def _assign(importer, variable: int, value: int, t=None) -> None:
    """ASSIGN_VARIABLE value -> variable, right after the op; later readers of TFLite tensor t (TFLite updated it in
    place) read the value."""
    importer.w.add_operator("ASSIGN_VARIABLE", [value], [variable])
    if t is not None:
        importer.ids[t.key] = value


# --- UNIDIRECTIONAL_SEQUENCE_LSTM ------------------------------------------------------------------------------


def lstm(importer, op) -> None:
    ins, (y,) = importer.io(op)
    ins = ins + [None] * (24 - len(ins))
    x = ins[_X]
    what = f"UNIDIRECTIONAL_SEQUENCE_LSTM {y.name!r}"
    o = tflite_import._options(op, tflite_import.tflite.UnidirectionalSequenceLSTMOptions)

    def refuse(feature):
        raise CompileError(f"{what}: {feature} is not mapped")

    if x.dtype not in ("int8", "int16"):
        refuse(f"a float or hybrid LSTM ({x.dtype} input)" if x.dtype == "float32" else f"a {x.dtype} input")
    if ins[_WX[0]] is None or ins[_WH[0]] is None:
        refuse("CIFG (no input gate: the input-to-input or recurrent-to-input weights are absent)")
    if any(ins[i] is not None for i in _PEEPHOLE):
        refuse("peephole (cell-to-gate weights)")
    if any(ins[i] is not None for i in _PROJECTION):
        refuse("projection")
    if any(ins[i] is not None for i in _LAYER_NORM):
        refuse("layer norm")
    if o.DiagonalRecurrentTensors():
        refuse("diagonal recurrent weights")
    if o.FusedActivationFunction() != _TANH:
        refuse(f"fused activation {o.FusedActivationFunction()} (TFLite's integer LSTM takes TANH only)")
    if any(ins[i] is None for i in (*_WX, *_WH, *_BIAS, _H, _C)):
        raise CompileError(f"{what}: a weight, bias or state input is absent")
    if len(x.shape) != 3:
        refuse(f"a rank-{len(x.shape)} input {x.shape} (rank 3 only)")
    time_major = bool(o.TimeMajor())
    steps, batches, inputs = (x.shape if time_major else (x.shape[1], x.shape[0], x.shape[2]))
    h, c = ins[_H], ins[_C]
    wide = x.dtype == "int16"

    # weights [4, C, K] in gate order i, f, c, o, one scale per gate matrix; biases [4, C]
    sw_x = [_per_tensor_weight(what, ins[i], "int8") for i in _WX]
    sw_h = [_per_tensor_weight(what, ins[i], "int8") for i in _WH]
    bias_dtype = "int64" if wide else "int32"
    if any(ins[i].data is None or ins[i].dtype != bias_dtype for i in _BIAS):
        raise CompileError(f"{what}: the gate biases must be constant {bias_dtype} tensors")
    cells = ins[_WX[0]].shape[0]
    for indices, shape in ((_WX, (cells, inputs)), (_WH, (cells, cells)), (_BIAS, (cells,))):
        for i in indices:
            if ins[i].shape != shape:
                raise CompileError(f"{what}: input {i} ({ins[i].name!r}) is {ins[i].shape}, not {shape}")
    wx, wh = np.stack([ins[i].data for i in _WX]), np.stack([ins[i].data for i in _WH])
    bias = np.stack([ins[i].data for i in _BIAS])
    for t, dtype in ((h, x.dtype), (c, "int16"), (y, x.dtype)):
        if t.dtype != dtype:
            raise CompileError(f"{what}: {t.name!r} is {t.dtype}; the {x.dtype} LSTM needs {dtype}")
    for t in (h, c):
        if int(np.prod(t.shape)) != batches * cells:
            raise CompileError(f"{what}: state {t.name!r} {t.shape} does not hold {batches} x {cells} values")
    if (_scale(what, y), y.zero_point) != (_scale(what, h), h.zero_point):
        raise CompileError(f"{what}: its output's quantization ({y.scale}, {y.zero_point}) is not h's ({h.scale}, "
                           f"{h.zero_point}); TFLite copies h's values into it")

    for t in (x, h) if wide else ():
        if t.zero_point != 0:
            raise CompileError(f"{what}: int16 tensor {t.name!r} has zero point {t.zero_point}; TFLite Micro's 16x8 "
                               "LSTM ignores it (0 only)")
    try:
        if wide:
            p = K.lstm_16x8_params(wx, wh, bias, input_scale=_scale(what, x), input_weight_scales=sw_x,
                                   recurrent_weight_scales=sw_h, state_scale=h.scale, cell_scale=_scale(what, c),
                                   cell_clip=float(o.CellClip()))
            consts = [importer.w.add_constant(f"{y.name}.input_weights", p.input_weights),
                      importer.w.add_constant(f"{y.name}.recurrent_weights", p.recurrent_weights),
                      importer.w.add_constant(f"{y.name}.bias", p.bias), -1]
        else:
            hidden = _hidden_intermediate(importer, op, what)
            p = K.lstm_8x8_16_params(wx, wh, bias, input_scale=_scale(what, x), input_zp=x.zero_point,
                                     input_weight_scales=sw_x, recurrent_weight_scales=sw_h, state_scale=h.scale,
                                     state_zp=h.zero_point, cell_scale=_scale(what, c),
                                     hidden_scale=_scale(what, hidden), hidden_zp=hidden.zero_point,
                                     cell_clip=float(o.CellClip()))
            if p.hidden_zp != h.zero_point:
                raise CompileError(f"{what}: the hidden intermediate {hidden.name!r} has zero point {p.hidden_zp}, "
                                   f"not h's {h.zero_point}, which microflat's LSTM op cannot hold")
            consts = [importer.w.add_constant(f"{y.name}.input_weights", p.input_weights),
                      importer.w.add_constant(f"{y.name}.recurrent_weights", p.recurrent_weights),
                      importer.w.add_constant(f"{y.name}.input_bias", p.input_bias),
                      importer.w.add_constant(f"{y.name}.recurrent_bias", p.recurrent_bias)]
    except CompileError:
        raise
    except ValueError as e:  # the params functions' refusals, by name
        raise CompileError(f"{what}: {e}") from None
    options = dict(gate_mult=p.gate_mult, gate_shift=p.gate_shift, hidden_mult=p.hidden_mult,
                   hidden_shift=p.hidden_shift, cell_exponent=p.cell_exponent, cell_clip=p.cell_clip)

    # the cell state's zero point is never read (TFLite's arithmetic and reset take it as 0): written as 0
    if batches == 1:
        h_var = _variable(importer, what, h, (1, cells), h.zero_point)
        c_var = _variable(importer, what, c, (1, cells), 0)
        _lstm_op(importer, importer.activation(x), consts, (h_var, h), (c_var, c), importer.activation(y), options)
        return
    # B sequences: B ops on slices of x (the batch axis is 1 time major, else 0), each with its own state rows
    axis = 1 if time_major else 0
    for t in (h, c):
        _variable_rows(importer, what, t)
    ys = []
    for b in range(batches):
        row_shape = (steps, 1, inputs) if time_major else (1, steps, inputs)
        x_b = importer.w.add_tensor(f"{x.name}:{b}", x.dtype, row_shape, scale=x.scale, zero_point=x.zero_point)
        first = [0, 0, 0]
        first[axis] = b
        importer.w.add_operator("STRIDED_SLICE", [importer.activation(x)], [x_b], "StridedSliceOptions",
                                dict(begin=np.array(first, np.int32), strides=np.ones(3, np.int32)))
        h_b = importer.w.add_tensor(f"{h.name}:{b}", h.dtype, (1, cells), scale=h.scale, zero_point=h.zero_point)
        c_b = importer.w.add_tensor(f"{c.name}:{b}", "int16", (1, cells), scale=c.scale, zero_point=0)
        for v in (h_b, c_b):
            importer.w.tensors[v]["variable"] = True
        y_shape = (steps, 1, cells) if time_major else (1, steps, cells)
        y_b = importer.w.add_tensor(f"{y.name}:{b}", y.dtype, y_shape, scale=y.scale, zero_point=y.zero_point)
        _lstm_op(importer, x_b, consts, (h_b, None), (c_b, None), y_b, options)
        ys.append(y_b)
    importer.w.add_operator("CONCATENATION", ys, [importer.activation(y)], "ConcatenationOptions",
                            dict(axis=axis, **K.concatenation_options([(y.scale, y.zero_point)] * batches,
                                                                      (y.scale, y.zero_point))))


def _check_state(importer, what: str, t) -> None:
    if not t.is_variable:
        raise CompileError(f"{what}: state {t.name!r} must be a variable tensor (is_variable), as TFLite requires")
    if t.data is not None:
        raise CompileError(f"{what}: state {t.name!r} is a variable with data, which TFLite refuses")


def _variable_rows(importer, what: str, t) -> None:
    """A batch LSTM's state: a TFLite variable as _variable's; each batch row is its own microflat variable (the
    file's [B, C] tensor itself has no microflat tensor, so no other op may read it)."""
    _check_state(importer, what, t)
    if t.key in importer.ids:
        raise CompileError(f"{what}: state {t.name!r} of a batch of sequences is read by another operator")


def _lstm_op(importer, x: int, consts, h, c, y: int, options: dict) -> None:
    """microflat's LSTM on one sequence; h and c: (variable, TFLite tensor or None), the new values assigned."""
    w = importer.w
    new = [_clone(w, w.tensors[var], f"{w.tensors[var]['name']}:new" if t is None else t.name) for var, t in (h, c)]
    w.add_operator("UNIDIRECTIONAL_SEQUENCE_LSTM", [x, *consts, h[0], c[0]], [y, *new], "LstmOptions", options)
    for (var, t), value in zip((h, c), new):
        _assign(importer, var, value, t)


def _hidden_intermediate(importer, op, what: str):
    """Intermediate 4, the hidden product's quantization, which LiteRT's Prepare reads unconditionally."""
    ids = op.IntermediatesAsNumpy() if op.IntermediatesLength() else []
    if len(ids) <= _HIDDEN_INTERMEDIATE or int(ids[_HIDDEN_INTERMEDIATE]) < 0:
        raise CompileError(f"{what}: the int8 LSTM needs its 5 intermediates (the file has {len(ids)}); TFLite "
                           "reads the hidden product's quantization from intermediate 4")
    return importer.tensor(int(ids[_HIDDEN_INTERMEDIATE]))


# --- SVDF ------------------------------------------------------------------------------------------------------


def svdf(importer, op) -> None:
    ins, (y,) = importer.io(op)
    if len(ins) != 5:
        raise CompileError(f"SVDF {y.name!r}: {len(ins)} inputs; TFLite's SVDF has 5")
    x, wf, wt, b, state = ins
    what = f"SVDF {y.name!r}"
    if x.dtype != "int8" or y.dtype != "int8":
        raise CompileError(f"{what}: a {'hybrid or float' if x.dtype == 'float32' else x.dtype} SVDF ({x.dtype} "
                           f"input, {y.dtype} output) is not mapped (int8 only)")
    if state is None or state.dtype != "int16":
        raise CompileError(f"{what}: int8 state (TFLite Micro's) is not mapped (int16 only)")
    if state.zero_point != 0:
        raise CompileError(f"{what}: the int16 state {state.name!r} has zero point {state.zero_point}, not 0")
    s_wf = _per_tensor_weight(what, wf, "int8")
    if wt.dtype != "int16":
        raise CompileError(f"{what}: {wt.dtype} time weights (TFLite Micro's int8 form) are not mapped (int16 only)")
    s_wt = _per_tensor_weight(what, wt, "int16")
    if b is not None and (b.data is None or b.dtype != "int32"):
        raise CompileError(f"{what}: the bias must be a constant int32 tensor")
    rank = tflite_import._options(op, tflite_import.tflite.SVDFOptions).Rank()
    if len(x.shape) != 2 or len(wt.shape) != 2:
        raise CompileError(f"{what}: x {x.shape} and weights_time {wt.shape} must be 2-D ([B, I], [F, M])")
    batches = x.shape[0]
    filters, memory = wt.shape
    if int(np.prod(state.shape)) != batches * memory * filters:
        raise CompileError(f"{what}: state {state.name!r} {state.shape} does not hold B M F = "
                           f"{batches * memory * filters} values")
    try:
        params = K.svdf_params(_scale(what, x), s_wf, _scale(what, state), s_wt, _scale(what, y),
                               None if b is None else _scale(what, b),
                               precision="float32" if importer.reference == "litert" else SVDF_PRECISION)
    except CompileError:
        raise
    except ValueError as e:  # the params functions' refusals, by name
        raise CompileError(f"{what}: {e}") from None
    var = _variable(importer, what, state, (batches, memory * filters), 0)
    new = _clone(importer.w, importer.w.tensors[var], state.name)
    inputs = [importer.activation(x), importer.w.add_constant(wf.name, wf.data),
              importer.w.add_constant(wt.name, wt.data), -1 if b is None else importer.w.add_constant(b.name, b.data),
              var]
    importer.w.add_operator("SVDF", inputs, [importer.activation(y), new], "SvdfOptions", dict(params, rank=rank))
    _assign(importer, var, new, state)
