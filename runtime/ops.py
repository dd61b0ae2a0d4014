"""Per-operator rules: what a valid operator looks like, what it costs, and how it runs.

For every opcode there is one ``check_*`` function and one ``prepare_*``
function. ``check`` verifies everything a kernel trusts (tensor counts,
dtypes, shapes, options, quantization parameters, weight ranges and the int32
accumulator bound) and raises FormatError naming the field and its byte
offset; it returns the op's scratch bytes, MACs and whether it may run in
place. ``prepare`` turns a checked operator into kernel calls on arena and
constant arrays; it runs once, at load. A call is (callable, arguments): a
jitted kernel, or, where an input's values must be checked at every invoke
(GATHER's indices), a Python function that checks them, raises InputError,
and calls the kernel.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from microflat import kernels as K
from microflat.kernels import packed_layers as PL
from microflat.kernels import weight_encoding as WE
from microflat.kernels.kernel_args import bind
from microflat.kernels.numerics import (MAX_CENTERED_INPUT, MAX_S16_INPUT, S16_ACCUMULATOR_MAX, S16_SHIFT_MAX,
                                       SHIFT_MAX, SHIFT_MIN, accumulator_overflow, weight_abs_sums)
from microflat.kernels.lstm import CELL_EXPONENT_MAX as LSTM_CELL_EXPONENT_MAX
from microflat.kernels.lstm import CELL_EXPONENT_MIN as LSTM_CELL_EXPONENT_MIN
from microflat.kernels.lstm import GATES as LSTM_GATES
from microflat.kernels.lstm import HIDDEN_SHIFT_MAX as LSTM_HIDDEN_SHIFT_MAX
from microflat.kernels.lstm import gate_accumulator_overflow
from microflat.kernels.lstm_16x8 import CELL_EXPONENT_MAX as LSTM16_CELL_EXPONENT_MAX
from microflat.kernels.lstm_16x8 import CELL_EXPONENT_MIN as LSTM16_CELL_EXPONENT_MIN
from microflat.kernels.lstm_16x8 import MUL_SHIFT_MAX as LSTM16_MUL_SHIFT_MAX
from microflat.kernels.lstm_16x8 import cell_product_multipliers as lstm16_cell_product_multipliers
from microflat.kernels.lstm_16x8 import gate_accumulator_overflow as lstm16_gate_accumulator_overflow
from microflat.kernels.pooling import MEAN_MAX_ELEMENTS
from microflat.kernels.svdf import MAX_INPUT_SIZE as SVDF_MAX_INPUT_SIZE
from microflat.kernels.reduce import MAX_DIMS as REDUCE_MAX_DIMS
from microflat.kernels.reduce import MAX_ELEMENTS as REDUCE_MAX_ELEMENTS
from microflat.kernels.resize import MAX_SIZE as RESIZE_MAX_SIZE
from microflat.kernels.slicing import MAX_DIMS as SLICE_MAX_DIMS
from microflat.kernels.transpose import MAX_DIMS as TRANSPOSE_MAX_DIMS
from microflat.kernels.softmax import SOFTMAX_MAX_DEPTH, SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZP, softmax_input_radius
from microflat.kernels.softmax import (SOFTMAX_S16_LEFT_SHIFT_MAX, SOFTMAX_S16_MAX_DEPTH, SOFTMAX_S16_OUTPUT_SCALE,
                                       SOFTMAX_S16_OUTPUT_ZP)
from microflat.kernels import activations_s16 as S16_ACTIVATIONS

from . import memory_plan
from .errors import FormatError, InputError
from .format import MAX_RANK, OPCODE, SCHEMA

INT32_MAX = 2**31 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
MAX_SPATIAL = 2**16
# The activation dtypes of a weighted layer: int8, or int16 for its 16x8 form (schema.fbs's conventions).
LAYER_DTYPES = ("int8", "int16")


@dataclass
class OpInfo:
    scratch_bytes: int = 0
    macs: int = 0
    in_place_inputs: tuple = ()  # input positions whose buffer the output may reuse
    overlap: tuple | None = None  # (d, q): the output may start d bytes or more below input 0 (memory_plan.py)


def row_overlap(x, y, stride_h, pad_top, step=1):
    """OpInfo.overlap of an op whose kernels (Numba and C) finish output rows in order, image by image."""
    n, h, w, c = x.shape
    _, oh, ow, oc = y.shape
    return memory_plan.row_overlap_bytes(n, h, w * c, oh, ow * oc, stride_h, pad_top), step


class OpCheck:
    """Checks of one operator, with its field paths and byte offsets at hand."""

    def __init__(self, model, index: int):
        self.model = model
        self.op = model.operators[index]
        self.path = f"operators[{index}]"
        self.name = model.opcode_name(self.op.opcode)

    def io(self):
        """(input tensors, output tensors) of a checked operator; None for an absent optional input."""
        t = self.model.tensors
        return [t[int(i)] if i >= 0 else None for i in self.op.inputs], [t[int(i)] for i in self.op.outputs]

    def fail(self, field, offset, reason):
        raise FormatError(f"{self.path}.{field}", self.at(field) if offset is None else offset, f"{self.name}: {reason}")

    def require(self, cond, field, reason, offset=None):
        if not cond:
            self.fail(field, offset, reason)

    def at(self, field: str) -> int:
        """Where ``field`` (a path below the operator: "inputs", "outputs[0]", "options", "options.stride_h",
        "options.perm[2]") lies, by docs/FORMAT.md's rule, which the C loader follows too: a scalar's bytes; a
        vector's length word; element i of a vector at its own bytes; the options table's first byte; the
        table holding the field when the field is absent (the operator for absent options)."""
        m = re.fullmatch(r"(options\.)?(\w+)(?:\[(\d+)\])?", field)
        if m is None:
            return self.op.pos
        in_options, name, index = m.groups()
        table = self.op.options if in_options else self.op
        if table is None or name not in table.at:  # options.x of an operator without options: the operator
            return self.op.pos
        at = table.at[name]
        if index is None or getattr(table, name, None) is None:
            return at
        elem = SCHEMA.tables[table.table_name].field(name).type[1:-1]
        return at + 4 + struct.calcsize(SCHEMA.scalar_format(elem)) * int(index)

    def counts(self, inputs, outputs):
        ins, outs = self.op.inputs, self.op.outputs
        n_in = 0 if ins is None else len(ins)
        n_out = 0 if outs is None else len(outs)
        self.require(n_in in inputs, "inputs", f"takes {inputs} inputs, has {n_in}", self.op.at["inputs"])
        self.require(n_out == outputs, "outputs", f"has {outputs} output(s), not {n_out}", self.op.at["outputs"])

    def element_at(self, which, i):
        """The byte offset of inputs[i] / outputs[i]: an element of the vector the operator's field points to."""
        return self.op.at[which] + 4 + 4 * i

    def tensor(self, which, i, dtype=None, rank=None, const=None, optional=False, encoded=False):
        """The tensor at inputs[i] / outputs[i], checked; None for an absent optional input.
        encoded: whether the op's kernels read this tensor in a WeightEncoding (else it must be stored dense)."""
        idx = int(getattr(self.op, which)[i])
        field = f"{which}[{i}]"
        at = self.element_at(which, i)
        if idx == -1 and optional:
            return None
        t = self.model.tensor_or_none(idx)
        self.require(t is not None, field, f"tensor index {idx} is out of range", at)
        if dtype is not None:
            allowed = (dtype,) if isinstance(dtype, str) else dtype
            self.require(t.dtype in allowed, field, f"tensor {idx} must be {' or '.join(allowed)}, is {t.dtype}", at)
        if rank is not None:
            self.require(len(t.shape) == rank, field, f"tensor {idx} must be {rank}-D, has shape {t.shape}", at)
        if const is not None:
            kind = "constant" if const else "an activation"
            self.require(t.is_const == const, field, f"tensor {idx} must be {kind}", at)
        if t.encoding is not None and not encoded:
            self.require(False, field, f"tensor {idx} must be stored dense (no WeightEncoding)", at)
        return t

    def options(self):
        """The operator's options table, which must be its OpDef's."""
        table = OPS[self.op.opcode].options
        opts = self.op.options
        have = None if opts is None else opts.table_name
        self.require(have == table, "options", f"needs {table}, has {have}", self.op.at["options"])
        return opts

    def int_option(self, opts, name, lo, hi):
        v = int(getattr(opts, name))
        self.require(lo <= v <= hi, f"options.{name}", f"must be in [{lo}, {hi}], got {v}", opts.at[name])
        return v

    def act_range(self, opts, lo=-128, hi=127):
        """act_min <= act_max, both inside [lo, hi]: the output type's range."""
        lo, hi = self.int_option(opts, "act_min", lo, hi), self.int_option(opts, "act_max", lo, hi)
        self.require(lo <= hi, "options.act_min", f"act_min {lo} > act_max {hi}", opts.at["act_min"])
        return lo, hi

    def requant(self, opts, mult_name, shift_name, channels, shift_max=SHIFT_MAX):
        """Per-tensor or per-channel (mult, shift) vectors, range-checked (shifts up to shift_max)."""
        mult, shift = getattr(opts, mult_name), getattr(opts, shift_name)
        for name, v in ((mult_name, mult), (shift_name, shift)):
            self.require(v is not None and len(v) in (1, channels), f"options.{name}",
                         f"needs 1 or {channels} values, has {0 if v is None else len(v)}", opts.at[name])
        self.require(len(mult) == len(shift), f"options.{shift_name}", "mult and shift differ in length",
                     opts.at[shift_name])
        self.require(int(mult.min()) >= 0, f"options.{mult_name}", "a multiplier is negative", opts.at[mult_name])
        self.require(SHIFT_MIN <= int(shift.min()) and int(shift.max()) <= shift_max, f"options.{shift_name}",
                     f"a shift is outside [{SHIFT_MIN}, {shift_max}]", opts.at[shift_name])
        return mult.astype(np.int32), shift.astype(np.int8), int(len(mult) > 1)

    def scalar_requant(self, opts, mult_name, shift_name):
        return (self.int_option(opts, mult_name, 0, INT32_MAX), self.int_option(opts, shift_name, SHIFT_MIN, SHIFT_MAX))

    def zero_point(self, t, which, i):
        at = self.element_at(which, i)
        self.require(t.zero_point is not None, f"{which}[{i}]", f"tensor {t.index} has no quantization", at)
        return t.zero_point

    def same_quantization(self, a, b, field, offset=None):
        self.require(a.scale_value == b.scale_value and a.zero_point == b.zero_point, field,
                     f"tensors {a.index} and {b.index} must share scale and zero point", offset)

    def weight_zero_point(self, w, asymmetric: bool) -> int:
        """The zero point of the weight at inputs[1] (0 when it has no quantization). Weights are symmetric, zero
        point 0, except where ``asymmetric`` (a FULLY_CONNECTED weight): there a non-zero one needs a dense weight
        (an encoding holds symmetric weights) with one scale, as TFLite's per-tensor kernel, the only one that
        applies a filter offset (its per-channel kernel ignores it). Refusals point at inputs[1]."""
        zp = w.zero_point or 0
        if zp != 0:
            field, at = "inputs[1]", self.element_at("inputs", 1)
            self.require(asymmetric, field, f"weight zero point {zp}: this op's weights must be symmetric (0)", at)
            self.require(w.encoding is None, field, f"weight zero point {zp}: an encoded weight must be symmetric (0)",
                         at)
            self.require(len(w.scale) == 1, field,
                         f"weight zero point {zp} with {len(w.scale)} scales: an asymmetric weight has one scale", at)
        return zp

    def weights(self, w, bias, channels_axis, field, asymmetric=False, wide=False):
        """The weights' zero point (weight_zero_point), then, on the weights centred on it, the symmetric range
        (zero point 0: no -128) and the int32 accumulator bound 255 * sum|w - zp| + |b| < 2^31 (on decoded
        weights; numerics.accumulator_overflow); wide (a 16x8 layer): the int64 accumulator's bound
        2^15 * sum|w| + |b| <= 2^47 - 1 instead. Returns the zero point.

        An encoded weight is checked from its stored fields (weight_encoding.channel_abs_sums), never
        expanded: a damaged shape cannot make the verifier allocate the tensor it claims."""
        zp = self.weight_zero_point(w, asymmetric)
        e = w.encoding
        if e is None:
            lowest = int(w.data.min()) if w.data.size else 0
            sums = weight_abs_sums(w.data, channels_axis, zp)
        else:
            if e.position_bits or e.codebook_per_channel:
                self.require(e.axis == channels_axis, field,
                             f"the encoding's axis is {e.axis}; this op's output channels lie on axis {channels_axis}")
            sums, lowest = WE.channel_abs_sums(e, channels_axis)
        self.require(lowest >= -127 or zp != 0, field, "weights hold -128; symmetric int8 lies in [-127, 127]",
                     self.element_at("inputs", 1))
        limits = (MAX_S16_INPUT, S16_ACCUMULATOR_MAX) if wide else (MAX_CENTERED_INPUT, INT32_MAX)
        worst = accumulator_overflow(sums, None if bias is None else bias.data, *limits)
        if worst is not None:
            self.fail(field, self.element_at("inputs", 1),
                      f"the {'int64' if wide else 'int32'} accumulator of channel {worst[0]} could reach {worst[1]}")
        return zp

    def bias(self, i, channels, dtype="int32"):
        b = self.tensor("inputs", i, dtype, 1, const=True, optional=True) if len(self.op.inputs) > i else None
        if b is not None:
            self.require(b.shape == (channels,), f"inputs[{i}]", f"bias must have shape ({channels},), has {b.shape}")
        return b

    def geometry(self, opts, in_size, k, out_size, axis):
        """Stride, dilation and padding along one axis: every window overlaps the input."""
        s = self.int_option(opts, f"stride_{axis}", 1, MAX_SPATIAL)
        d = self.int_option(opts, f"dilation_{axis}", 1, MAX_SPATIAL) if hasattr(opts, f"dilation_{axis}") else 1
        pad_name = "pad_top" if axis == "h" else "pad_left"
        eff = (k - 1) * d + 1
        p = self.int_option(opts, pad_name, 0, eff - 1)
        last = (out_size - 1) * s - p
        self.require(last < in_size, f"options.stride_{axis}",
                     f"output size {out_size} puts the last window at {last}, outside the input ({in_size})")
        return s, d, p


def _step(kernel, **named):
    """(kernel, positional arguments) of one kernel call, its arguments given by name (kernels.kernel_args)."""
    return kernel, bind(kernel, **named)


def _views(view, *tensors):
    return tuple(np.zeros(0, np.int32) if t is None else view(t) for t in tensors)


def _check_weighted(c: OpCheck, o, x, w, y, out_channels: int, channel_axis: int, asymmetric=False):
    """What conv, depthwise conv and fully connected check alike: the optional bias (inputs[2]), the per-tensor
    or per-channel requantization, the fused activation range, the zero points and the weights' range
    (asymmetric: the weight may have a zero point, OpCheck.weight_zero_point). An int16 input makes it a 16x8
    layer (_check_16x8)."""
    if x.dtype == "int16":
        return _check_16x8(c, o, x, w, y, out_channels, channel_axis)
    b = c.bias(2, out_channels)
    c.requant(o, "output_mult", "output_shift", out_channels)
    c.act_range(o)
    c.zero_point(x, "inputs", 0)
    c.zero_point(y, "outputs", 0)
    c.weights(w, b, channel_axis, "inputs[1]", asymmetric)


def _check_16x8(c: OpCheck, o, x, w, y, out_channels: int, channel_axis: int):
    """A 16x8 layer (schema.fbs's conventions; TFLite's 16x8 mode): an int64 bias, shifts in [-31, 7]
    (multiply_by_quantized_multiplier_int64's), the clamp inside int16, zero points 0, a dense symmetric weight
    and the int64 accumulator bound 2^15 * sum|w| + |b| <= 2^47 - 1."""
    b = c.bias(2, out_channels, "int64")
    c.requant(o, "output_mult", "output_shift", out_channels, S16_SHIFT_MAX)
    c.act_range(o, INT16_MIN, INT16_MAX)
    for which, i, t in (("inputs", 0, x), ("outputs", 0, y)):
        c.require(c.zero_point(t, which, i) == 0, f"{which}[{i}]", f"tensor {t.index}: an int16 activation of a "
                  f"16x8 layer has zero point 0, not {t.zero_point}", c.element_at(which, i))
    c.require(w.encoding is None, "inputs[1]", "a 16x8 layer's weight must be stored dense",
              c.element_at("inputs", 1))
    c.weights(w, b, channel_axis, "inputs[1]", wide=True)


def _arguments_16x8(arguments: dict) -> dict:
    """_weighted's arguments as the *_s16 kernels take them: no zero points (both 0), an int64 bias (empty: none)."""
    out = {k: v for k, v in arguments.items() if k not in ("input_zp", "output_zp")}
    if out["bias"].size == 0:
        out["bias"] = np.zeros(0, np.int64)
    return out


def _weighted(c: OpCheck, view, channel_axis: int):
    """(options, x, w, y, arguments) of a verified weighted op: the arguments its kernels share, by name (its
    zero points, requantization, activation range, input, bias and output)."""
    o = c.op.options
    (x, w, *bias), (y,) = c.io()
    mult, shift, per_channel = c.requant(o, "output_mult", "output_shift", w.shape[channel_axis])
    xv, bv, yv = _views(view, x, bias[0] if bias else None, y)
    return o, x, w, y, dict(input_zp=x.zero_point, output_zp=y.zero_point, output_mult=mult, output_shift=shift,
                            per_channel=per_channel, act_min=o.act_min, act_max=o.act_max, input=xv, bias=bv,
                            output=yv)


def _conv_geometry(o, x, w, y) -> dict:
    """The spatial arguments conv2d_s8 and depthwise_conv2d_s8 share, by name."""
    return dict(batches=x.shape[0], input_h=x.shape[1], input_w=x.shape[2], input_ch=x.shape[3],
                filter_h=w.shape[1], filter_w=w.shape[2], output_h=y.shape[1], output_w=y.shape[2],
                stride_h=o.stride_h, stride_w=o.stride_w, dilation_h=o.dilation_h, dilation_w=o.dilation_w,
                pad_top=o.pad_top, pad_left=o.pad_left)


def _weighted_call(dense_kernel, encoded_kernel, scratch, w, view, **arguments):
    """The kernel call of a weighted op: its filter's bytes, or its encoding's streams read in place."""
    return WE.weighted_call(dense_kernel, encoded_kernel, view(w) if w.encoding is None else w.encoding,
                            scratch=scratch, **arguments)


# --- convolution and fully connected ---------------------------------------

def check_conv_2d(c: OpCheck) -> OpInfo:
    c.counts((2, 3), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES, 4)
    w = c.tensor("inputs", 1, "int8", 4, const=True, encoded=True)
    y = c.tensor("outputs", 0, x.dtype, 4, const=False)
    o = c.options()
    n, h, wd, cin = x.shape
    cout, kh, kw, cg = w.shape
    groups = c.int_option(o, "groups", 1, cin)
    c.require(cin % groups == 0 and cout % groups == 0 and cin // groups == cg, "options.groups",
              f"input channels {cin}, filter {w.shape} and groups {groups} disagree", o.at["groups"])
    c.require(y.shape[0] == n and y.shape[3] == cout, "outputs[0]", f"output shape {y.shape} does not match")
    c.geometry(o, h, kh, y.shape[1], "h")
    c.geometry(o, wd, kw, y.shape[2], "w")
    _check_weighted(c, o, x, w, y, cout, 0)
    macs = n * y.shape[1] * y.shape[2] * cout * kh * kw * cg
    if x.dtype == "int16":  # direct loops, no scratch; no overlap (row_overlap counts int8 bytes)
        return OpInfo(0, macs)
    scratch = K.conv2d_s8_scratch_bytes if w.encoding is None else K.conv2d_encoded_s8_scratch_bytes
    # Every conv kernel reads a pixel's (or, in C, a pixel pair's) whole window before writing it, in pixel
    # order. With groups > 1 the C pair path writes group g of the pair before reading group g + 1, so a pair
    # that straddles two rows writes the lower row before its upper pixel is read: no overlap there.
    overlap = row_overlap(x, y, o.stride_h, o.pad_top) if groups == 1 else None
    return OpInfo(scratch(cin, kh, kw, groups), macs, overlap=overlap)


def prepare_conv_2d(c: OpCheck, view, scratch):
    o, x, w, y, arguments = _weighted(c, view, 0)
    arguments.update(_conv_geometry(o, x, w, y), output_ch=y.shape[3], groups=o.groups)
    if x.dtype == "int16":
        return [_step(K.conv2d_s16, filter=view(w), **_arguments_16x8(arguments))]
    if w.encoding is None and o.groups == 1:  # weights repacked once for the SIMD tiles (packed_layers.py)
        return [PL.conv2d_packed_call(filter=view(w), **arguments)]
    return [_weighted_call(K.conv2d_s8, K.conv2d_encoded_s8, scratch, w, view, **arguments)]


def check_depthwise_conv_2d(c: OpCheck) -> OpInfo:
    c.counts((2, 3), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES, 4)
    w = c.tensor("inputs", 1, "int8", 4, const=True, encoded=True)
    y = c.tensor("outputs", 0, x.dtype, 4, const=False)
    o = c.options()
    n, h, wd, cin = x.shape
    one, kh, kw, cout = w.shape
    m = c.int_option(o, "depth_multiplier", 1, 2**16)
    c.require(one == 1 and cout == cin * m, "inputs[1]", f"filter {w.shape} does not match {cin} channels x {m}")
    c.require(y.shape[0] == n and y.shape[3] == cout, "outputs[0]", f"output shape {y.shape} does not match")
    c.geometry(o, h, kh, y.shape[1], "h")
    c.geometry(o, wd, kw, y.shape[2], "w")
    _check_weighted(c, o, x, w, y, cout, 3)
    macs = n * y.shape[1] * y.shape[2] * cout * kh * kw
    if x.dtype == "int16":  # direct loops, no scratch; no overlap (row_overlap counts int8 bytes)
        return OpInfo(0, macs)
    # The C kernel runs blocks of channels over all rows when m = 1: the output may only land on its own channels.
    overlap = row_overlap(x, y, o.stride_h, o.pad_top, step=cin if m == 1 else 1)
    return OpInfo(K.depthwise_conv2d_s8_scratch_bytes(cin, kh, kw, m), macs, overlap=overlap)


def prepare_depthwise_conv_2d(c: OpCheck, view, scratch):
    o, x, w, y, arguments = _weighted(c, view, 3)
    arguments.update(_conv_geometry(o, x, w, y), depth_multiplier=o.depth_multiplier)
    if x.dtype == "int16":
        return [_step(K.depthwise_conv2d_s16, filter=view(w), **_arguments_16x8(arguments))]
    if scratch.size == 0:
        scratch = np.zeros(0, np.int16)
    if w.encoding is None:
        return [PL.depthwise_packed_call(filter=view(w), **arguments)]
    return [_weighted_call(K.depthwise_conv2d_s8, K.depthwise_conv2d_encoded_s8, scratch, w, view, **arguments)]


def check_fully_connected(c: OpCheck) -> OpInfo:
    c.counts((2, 3), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES, 2)
    w = c.tensor("inputs", 1, "int8", 2, const=True, encoded=True)
    y = c.tensor("outputs", 0, x.dtype, 2, const=False)
    o = c.options()
    n, k = x.shape
    out, wk = w.shape
    c.require(wk == k, "inputs[1]", f"filter {w.shape} does not take {k} input features")
    c.require(y.shape == (n, out), "outputs[0]", f"output shape {y.shape} must be {(n, out)}")
    _check_weighted(c, o, x, w, y, out, 0, asymmetric=True)
    if x.dtype == "int16":
        return OpInfo(0, n * k * out)
    scratch = K.fully_connected_s8_scratch_bytes if w.encoding is None else K.fully_connected_encoded_s8_scratch_bytes
    return OpInfo(scratch(k), n * k * out)


def prepare_fully_connected(c: OpCheck, view, scratch):
    """Symmetric dense weights: the packed SIMD path (packed_layers.py); asymmetric ones (a weight zero point,
    which the packed s8 weights cannot hold centred) and single rounding (which the packed output stage has
    not): fully_connected_s8 itself; encoded ones: its encoded twin."""
    o, x, w, y, arguments = _weighted(c, view, 0)
    arguments.update(batches=x.shape[0], input_features=x.shape[1], output_features=w.shape[0],
                     single_rounding=int(bool(o.single_rounding)))
    if x.dtype == "int16":
        return [_step(K.fully_connected_s16, filter=view(w), **_arguments_16x8(arguments))]
    arguments.update(filter_zp=w.zero_point or 0)
    if w.encoding is None and arguments["filter_zp"] == 0 and not arguments["single_rounding"]:
        return [PL.fully_connected_packed_call(filter=view(w), **arguments)]
    return [_weighted_call(K.fully_connected_s8, K.fully_connected_encoded_s8, scratch, w, view, **arguments)]


def check_transpose_conv(c: OpCheck) -> OpInfo:
    """PyTorch's ConvTranspose2d (groups 1, dilation 1): input pixel (iy, ix) times tap (ky, kx) lands on output
    (iy * stride_h - pad_top + ky, ix * stride_w - pad_left + kx), and what lands outside is dropped, so any
    output size is safe; the windows reaching past it are bounded by requiring pad < kernel and
    out <= in * stride + kernel. The accumulator rule takes each channel's whole filter (an upper bound of the
    taps that meet one output)."""
    c.counts((2, 3), 1)
    x = c.tensor("inputs", 0, "int8", 4)
    w = c.tensor("inputs", 1, "int8", 4, const=True)
    y = c.tensor("outputs", 0, "int8", 4, const=False)
    o = c.options()
    n, h, wd, cin = x.shape
    cout, kh, kw, wc = w.shape
    c.require(wc == cin, "inputs[1]", f"filter {w.shape} does not take {cin} input channels")
    c.require(y.shape[0] == n and y.shape[3] == cout, "outputs[0]", f"output shape {y.shape} does not match")
    for axis, size, k, out in (("h", h, kh, y.shape[1]), ("w", wd, kw, y.shape[2])):
        s = c.int_option(o, f"stride_{axis}", 1, MAX_SPATIAL)
        c.int_option(o, "pad_top" if axis == "h" else "pad_left", 0, k - 1)
        c.require(out <= size * s + k, "outputs[0]", f"output size {out} exceeds {size} * {s} + {k}")
    _check_weighted(c, o, x, w, y, cout, 0)
    return OpInfo(K.transpose_conv2d_s8_scratch_bytes(y.shape[1], y.shape[2], cout), n * h * wd * cin * kh * kw * cout)


def prepare_transpose_conv(c: OpCheck, view, scratch):
    """One packed convolution per output phase, then its scatter (packed_layers.transpose_conv2d_packed_calls):
    transpose_conv2d_s8's bytes, on the SIMD tiles; the planned scratch goes unused here (C's kernel uses it)."""
    o, x, w, y, arguments = _weighted(c, view, 0)
    return PL.transpose_conv2d_packed_calls(
        batches=x.shape[0], input_h=x.shape[1], input_w=x.shape[2], input_ch=x.shape[3], filter_h=w.shape[1],
        filter_w=w.shape[2], output_h=y.shape[1], output_w=y.shape[2], output_ch=w.shape[0], stride_h=o.stride_h,
        stride_w=o.stride_w, pad_top=o.pad_top, pad_left=o.pad_left, filter=view(w), **arguments)


def check_batch_matmul(c: OpCheck) -> OpInfo:
    """Both operands int8 of rank 2 to 5 with their own zero points; the batch dimensions broadcast; the depth K
    at most 33025 (65025 * K fits the int32 accumulator); the output's shape is the product's."""
    c.counts((2,), 1)
    a, b = c.tensor("inputs", 0, "int8"), c.tensor("inputs", 1, "int8")
    y = c.tensor("outputs", 0, "int8", const=False)
    o = c.options()
    try:
        *_, rows, cols, depth, shape = K.batch_matmul_params(a.shape, b.shape, bool(o.adj_x), bool(o.adj_y))
    except ValueError as exc:
        c.fail("inputs", c.op.at["inputs"], str(exc).split(": ", 1)[1])
    c.require(y.shape == shape, "outputs[0]", f"output shape {y.shape} must be {shape}")
    c.scalar_requant(o, "output_mult", "output_shift")
    c.act_range(o)
    for which, i, t in (("inputs", 0, a), ("inputs", 1, b), ("outputs", 0, y)):
        c.zero_point(t, which, i)
    return OpInfo(0, y.size * depth)


def prepare_batch_matmul(c: OpCheck, view, scratch):
    o = c.op.options
    (a, b), (y,) = c.io()
    batch, lhs_strides, rhs_strides, rows, cols, depth, _ = K.batch_matmul_params(a.shape, b.shape, bool(o.adj_x),
                                                                                  bool(o.adj_y))
    return [_step(K.batch_matmul_s8, batch_shape=batch, lhs_batch_strides=lhs_strides,
                  rhs_batch_strides=rhs_strides, rows=rows, cols=cols, depth=depth, adj_x=int(o.adj_x),
                  adj_y=int(o.adj_y), lhs_zp=a.zero_point, rhs_zp=b.zero_point, output_zp=y.zero_point,
                  output_mult=o.output_mult, output_shift=o.output_shift, act_min=o.act_min, act_max=o.act_max,
                  lhs=view(a), rhs=view(b), output=view(y))]


# --- elementwise -------------------------------------------------------------

def _broadcast(c, a, b, y):
    shape = []
    for d in range(4):
        da, db = a.shape[d], b.shape[d]
        c.require(da == db or 1 in (da, db), "inputs", f"shapes {a.shape} and {b.shape} do not broadcast")
        shape.append(max(da, db))
    c.require(tuple(shape) == y.shape, "outputs[0]", f"output shape {y.shape} must be {tuple(shape)}")


def _binary_tensors(c: OpCheck, dtypes=("int8",)):
    """(a, b, y) of a two-input elementwise op: NHWC of one of `dtypes` (all three alike), broadcasting to the
    output, each quantized."""
    c.counts((2,), 1)
    a = c.tensor("inputs", 0, dtypes, 4)
    b = c.tensor("inputs", 1, a.dtype, 4)
    y = c.tensor("outputs", 0, a.dtype, 4, const=False)
    _broadcast(c, a, b, y)
    for which, i, t in (("inputs", 0, a), ("inputs", 1, b), ("outputs", 0, y)):
        c.zero_point(t, which, i)
    return a, b, y


def _binary_info(a, b, y, macs=0) -> OpInfo:
    """Each kernel reads element i of both inputs before writing element i: an input of the output's shape may
    be overwritten."""
    return OpInfo(0, macs, tuple(i for i, t in enumerate((a, b)) if t.shape == y.shape))


def _input_scaling(c: OpCheck, o, max_left_shift: int, max_shift: int, max_mult_at_shift_0: int):
    """left_shift and the two input multipliers of add, sub and squared difference (each real multiplier
    mult * 2^(shift - 31) bounded by the op's range argument)."""
    c.int_option(o, "left_shift", 0, max_left_shift)
    for name in ("input1", "input2"):
        mult = c.int_option(o, f"{name}_mult", 0, INT32_MAX)
        shift = c.int_option(o, f"{name}_shift", SHIFT_MIN, max_shift)
        c.require(shift < 0 or mult <= max_mult_at_shift_0, f"options.{name}_mult",
                  f"encodes a multiplier above {max_mult_at_shift_0 / 2**31}", o.at[f"{name}_mult"])
    c.scalar_requant(o, "output_mult", "output_shift")


def check_add(c: OpCheck) -> OpInfo:
    """ADD and SUB: int8, input multipliers <= 1 (shift <= 0), so the scaled inputs' sum cannot overflow; int16
    (add_s16: TFLite's general-scale int16 form), left_shift <= 15 and input multipliers <= 1/2, which keep
    |a - zp| * 2^15 and the sum of the scaled inputs below 2^31 (elementwise.py)."""
    a, b, y = _binary_tensors(c, LAYER_DTYPES)
    o = c.options()
    if a.dtype == "int16":
        _input_scaling(c, o, K.elementwise.ADD_LEFT_SHIFT_INT16, 0, 2**30)
        c.act_range(o, INT16_MIN, INT16_MAX)
    else:
        _input_scaling(c, o, 20, 0, INT32_MAX)
        c.act_range(o)
    return _binary_info(a, b, y)


def check_squared_difference(c: OpCheck) -> OpInfo:
    """Input multipliers <= 1/2 and left_shift <= 7: the squared difference fits int32 (elementwise.py)."""
    a, b, y = _binary_tensors(c)
    _input_scaling(c, c.options(), K.elementwise.SQUARED_DIFFERENCE_LEFT_SHIFT, 0, 2**30)
    return _binary_info(a, b, y)


def check_extremum(c: OpCheck) -> OpInfo:
    """MAXIMUM and MINIMUM compare raw values: both inputs and the output share one quantization."""
    a, b, y = _binary_tensors(c)
    c.require(c.op.options is None, "options", "takes no options")
    c.same_quantization(a, y, "inputs[0]")
    c.same_quantization(b, y, "inputs[1]")
    return _binary_info(a, b, y)


def _broadcast_args(a, b, y):
    """The 4-D output shape and each input's element strides (0 on a broadcast axis) of a binary kernel."""
    return dict(output_shape=np.array(y.shape, np.int32),
                input1_strides=K.elementwise.broadcast_strides("add", a.shape, y.shape),
                input2_strides=K.elementwise.broadcast_strides("add", b.shape, y.shape))


def _same_shape(a, b, y, o=None) -> bool:
    """Whether a binary op takes its same-shape kernel (elementwise.py), as mfb_ops.c's run_binary decides:
    neither input broadcasts and, for the requantizing ops (options o), the output shift is <= 0 (the
    kernels' branch-free rounding; the loader already demands it of the input shifts)."""
    return a.shape == y.shape and b.shape == y.shape and (o is None or o.output_shift <= 0)


def _add_or_sub(c: OpCheck, view, sign: int, kernel, kernel_s16):
    """ADD (sign 1) and SUB (sign -1, TFLite's negated second multiplier; add_s8_same_shape takes it so)."""
    o = c.op.options
    (a, b), (y,) = c.io()
    common = dict(_scaled_inputs(o, a, b, y, view), act_min=o.act_min, act_max=o.act_max)
    if a.dtype == "int16":
        return [_step(kernel_s16, **_broadcast_args(a, b, y), **common)]
    if _same_shape(a, b, y, o):  # one vectorized loop
        return [_step(K.elementwise.add_s8_same_shape, count=y.size, **dict(common, input2_mult=sign * o.input2_mult))]
    return [_step(kernel, **_broadcast_args(a, b, y), **common)]


def prepare_add(c: OpCheck, view, scratch):
    return _add_or_sub(c, view, 1, K.add_s8, K.add_s16)


def check_mul(c: OpCheck) -> OpInfo:
    """int8, or int16 with input zero points 0 (TFLite's rule: the int32 product |a * b| <= 2^30, mul_s16)."""
    a, b, y = _binary_tensors(c, LAYER_DTYPES)
    o = c.options()
    c.scalar_requant(o, "output_mult", "output_shift")
    if a.dtype == "int16":
        c.act_range(o, INT16_MIN, INT16_MAX)
        for i, t in enumerate((a, b)):
            c.require(t.zero_point == 0, f"inputs[{i}]", f"tensor {t.index}: an int16 MUL input has zero point 0, "
                      f"not {t.zero_point}", c.element_at("inputs", i))
    else:
        c.act_range(o)
    return _binary_info(a, b, y, int(np.prod(y.shape)))


def _scaled_inputs(o, a, b, y, view):
    """The arguments add_s8, sub_s8 and squared_difference_s8 share after the broadcast: the input scaling,
    the output requantization, the data."""
    return dict(left_shift=o.left_shift, input1_zp=a.zero_point, input1_mult=o.input1_mult,
                input1_shift=o.input1_shift, input2_zp=b.zero_point, input2_mult=o.input2_mult,
                input2_shift=o.input2_shift, output_zp=y.zero_point, output_mult=o.output_mult,
                output_shift=o.output_shift, input1=view(a), input2=view(b), output=view(y))


def prepare_sub(c: OpCheck, view, scratch):
    return _add_or_sub(c, view, -1, K.sub_s8, K.sub_s16)


def prepare_squared_difference(c: OpCheck, view, scratch):
    o = c.op.options
    (a, b), (y,) = c.io()
    if _same_shape(a, b, y, o):
        return [_step(K.elementwise.squared_difference_s8_same_shape, count=y.size, **_scaled_inputs(o, a, b, y, view))]
    return [_step(K.squared_difference_s8, **_broadcast_args(a, b, y), **_scaled_inputs(o, a, b, y, view))]


def _prepare_extremum(kernel, take_max: int):
    def prepare(c: OpCheck, view, scratch):
        (a, b), (y,) = c.io()
        data = dict(input1=view(a), input2=view(b), output=view(y))
        if _same_shape(a, b, y):
            return [_step(K.elementwise.extremum_s8_same_shape, count=y.size, take_max=take_max, **data)]
        return [_step(kernel, **_broadcast_args(a, b, y), **data)]
    return prepare


def prepare_mul(c: OpCheck, view, scratch):
    o = c.op.options
    (a, b), (y,) = c.io()
    return [_step(K.mul_s16 if a.dtype == "int16" else K.mul_s8, **_broadcast_args(a, b, y), input1_zp=a.zero_point,
                  input2_zp=b.zero_point, output_zp=y.zero_point, output_mult=o.output_mult, output_shift=o.output_shift,
                  act_min=o.act_min, act_max=o.act_max, input1=view(a), input2=view(b), output=view(y))]


# --- pooling, mean, softmax ----------------------------------------------------

def _check_pool(c: OpCheck) -> OpInfo:
    """int8, or int16 (an average's window at most AVERAGE_POOL_S16_MAX_TAPS taps: its int32 sum). An int16
    pool takes no overlap (row_overlap counts int8 bytes)."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES, 4)
    y = c.tensor("outputs", 0, x.dtype, 4, const=False)
    o = c.options()
    fh = c.int_option(o, "filter_h", 1, 4096)
    fw = c.int_option(o, "filter_w", 1, 4096)
    c.require(y.shape[0] == x.shape[0] and y.shape[3] == x.shape[3], "outputs[0]", f"output shape {y.shape} does not match")
    c.geometry(o, x.shape[1], fh, y.shape[1], "h")
    c.geometry(o, x.shape[2], fw, y.shape[2], "w")
    if x.dtype == "int16":
        c.act_range(o, INT16_MIN, INT16_MAX)
        c.same_quantization(x, y, "outputs[0]")
        c.require(c.op.opcode != OPCODE["AVERAGE_POOL_2D"] or fh * fw <= K.pooling.AVERAGE_POOL_S16_MAX_TAPS,
                  "options.filter_h", f"an int16 window of {fh} x {fw} taps exceeds "
                  f"{K.pooling.AVERAGE_POOL_S16_MAX_TAPS}", o.at["filter_h"])
        return OpInfo(0, 0)
    c.act_range(o)
    c.same_quantization(x, y, "outputs[0]")
    return OpInfo(0, 0, overlap=row_overlap(x, y, o.stride_h, o.pad_top))


def _prepare_pool(kernel, kernel_s16):
    def prepare(c: OpCheck, view, scratch):
        o = c.op.options
        (x,), (y,) = c.io()
        return [_step(kernel_s16 if x.dtype == "int16" else kernel, batches=x.shape[0], input_h=x.shape[1], input_w=x.shape[2], channels=x.shape[3],
                      filter_h=o.filter_h, filter_w=o.filter_w, output_h=y.shape[1], output_w=y.shape[2],
                      stride_h=o.stride_h, stride_w=o.stride_w, pad_top=o.pad_top, pad_left=o.pad_left,
                      act_min=o.act_min, act_max=o.act_max, input=view(x), output=view(y))]
    return prepare


def check_mean(c: OpCheck) -> OpInfo:
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, "int8", 4)
    y = c.tensor("outputs", 0, "int8", const=False)
    n, h, w, ch = x.shape
    c.require(y.shape in ((n, 1, 1, ch), (n, ch)), "outputs[0]", f"output shape {y.shape} must be {(n, 1, 1, ch)} or {(n, ch)}")
    c.require(h * w <= MEAN_MAX_ELEMENTS, "inputs[0]", f"H * W = {h * w} exceeds {MEAN_MAX_ELEMENTS}")
    o = c.options()
    c.scalar_requant(o, "mult", "shift")
    c.zero_point(x, "inputs", 0)
    c.zero_point(y, "outputs", 0)
    return OpInfo(0, 0)


def prepare_mean(c: OpCheck, view, scratch):
    o = c.op.options
    (x,), (y,) = c.io()
    n, h, w, ch = x.shape
    return [_step(K.mean_hw_s8, batches=n, input_h=h, input_w=w, channels=ch, input_zp=x.zero_point,
                  output_zp=y.zero_point, mult=o.mult, shift=o.shift, input=view(x), output=view(y))]


def _check_q015_output(c: OpCheck, x, y, output_scale: float, output_zp: int):
    """An int16 LOGISTIC, TANH or SOFTMAX (TFLite's 16x8 forms): both zero points 0, and the output at the op's
    fixed quantization, Q0.15 (scale 1/32768 exactly, zero point 0)."""
    for which, i, t in (("inputs", 0, x), ("outputs", 0, y)):
        c.require(c.zero_point(t, which, i) == 0, f"{which}[{i}]", f"tensor {t.index}: an int16 {c.name} has zero "
                  f"point 0, not {t.zero_point}", c.element_at(which, i))
    c.require((y.scale_value, y.zero_point) == (output_scale, output_zp), "outputs[0]",
              f"an int16 {c.name}'s output quantization must be scale 1/32768, zero point 0",
              c.element_at("outputs", 0))


def check_softmax(c: OpCheck) -> OpInfo:
    """int8: TFLite's int8 Softmax (output scale 1/256, zero point -128; diff_min bounds the Q5.26 rescaling).
    int16: TFLite's SoftmaxInt16 (zero points 0, output Q0.15, depth <= 65535 so the int32 sum of the exps cannot
    overflow, input_left_shift in [-31, 15] so 65535 * 2^shift stays inside int32, diff_min 0; kernels/softmax.py)."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES)
    y = c.tensor("outputs", 0, x.dtype, const=False)
    c.require(y.shape == x.shape, "outputs[0]", f"output shape {y.shape} must equal the input's {x.shape}")
    if x.dtype == "int16":
        c.require(x.shape[-1] <= SOFTMAX_S16_MAX_DEPTH, "inputs[0]",
                  f"depth {x.shape[-1]} exceeds {SOFTMAX_S16_MAX_DEPTH}")
        _check_q015_output(c, x, y, SOFTMAX_S16_OUTPUT_SCALE, SOFTMAX_S16_OUTPUT_ZP)
        o = c.options()
        c.int_option(o, "input_beta_mult", 0, INT32_MAX)
        c.int_option(o, "input_left_shift", SHIFT_MIN, SOFTMAX_S16_LEFT_SHIFT_MAX)
        c.int_option(o, "diff_min", 0, 0)
        return OpInfo(0, 0, (0,))
    c.require(x.shape[-1] <= SOFTMAX_MAX_DEPTH, "inputs[0]", f"depth {x.shape[-1]} exceeds {SOFTMAX_MAX_DEPTH}")
    c.require((y.scale_value, y.zero_point) == (SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZP), "outputs[0]",
              f"softmax output quantization must be scale {SOFTMAX_OUTPUT_SCALE}, zero point {SOFTMAX_OUTPUT_ZP}")
    o = c.options()
    c.int_option(o, "input_beta_mult", 0, INT32_MAX)
    ls = c.int_option(o, "input_left_shift", 0, 31)
    c.int_option(o, "diff_min", -softmax_input_radius(ls), 0)
    return OpInfo(0, 0, (0,))


def prepare_softmax(c: OpCheck, view, scratch):
    o = c.op.options
    (x,), (y,) = c.io()
    depth = x.shape[-1]
    if x.dtype == "int16":
        return [_step(K.softmax_s16, outer=x.size // depth, depth=depth, input_multiplier=o.input_beta_mult,
                      input_left_shift=o.input_left_shift, input=view(x), output=view(y))]
    return [_step(K.softmax_s8, outer=x.size // depth, depth=depth, input_beta_mult=o.input_beta_mult,
                  input_left_shift=o.input_left_shift, diff_min=o.diff_min, input=view(x), output=view(y))]


# --- data movement ---------------------------------------------------------------

def check_concatenation(c: OpCheck) -> OpInfo:
    """int8, or int16 (concatenation_s16: TFLite's 16x8 form, zero points 0): every input of the output's type."""
    c.counts(range(1, 1025), 1)
    xs = [c.tensor("inputs", i, LAYER_DTYPES) for i in range(len(c.op.inputs))]
    y = c.tensor("outputs", 0, xs[0].dtype, const=False)
    for i, x in enumerate(xs):
        c.require(x.dtype == y.dtype, f"inputs[{i}]", f"tensor {x.index}: a concatenation's inputs share one type")
    o = c.options()
    axis = c.int_option(o, "axis", 0, len(y.shape) - 1)
    for i, x in enumerate(xs):
        same = len(x.shape) == len(y.shape) and all(x.shape[d] == y.shape[d] for d in range(len(y.shape)) if d != axis)
        c.require(same, f"inputs[{i}]", f"shape {x.shape} does not match the output {y.shape} off axis {axis}")
        c.require(c.zero_point(x, "inputs", i) == 0 or x.dtype == "int8", f"inputs[{i}]",
                  f"tensor {x.index}: an int16 activation has zero point 0")
    c.require(sum(x.shape[axis] for x in xs) == y.shape[axis], "outputs[0]", "the axis sizes do not add up")
    c.require(c.zero_point(y, "outputs", 0) == 0 or y.dtype == "int8", "outputs[0]",
              f"tensor {y.index}: an int16 activation has zero point 0")
    for name in ("requant", "input_mult", "input_shift"):
        v = getattr(o, name)
        c.require(v is not None and len(v) == len(xs), f"options.{name}", f"needs {len(xs)} values")
    c.require(int(o.requant.max()) <= 1, "options.requant", "values must be 0 or 1")
    c.require(int(o.input_mult.min()) >= 0, "options.input_mult", "a multiplier is negative")
    c.require(SHIFT_MIN <= int(o.input_shift.min()) and int(o.input_shift.max()) <= SHIFT_MAX, "options.input_shift",
              "a shift is out of range")
    for i, x in enumerate(xs):
        if not o.requant[i]:
            c.same_quantization(x, y, f"options.requant[{i}]")
    return OpInfo(0, 0)


def prepare_concatenation(c: OpCheck, view, scratch):
    o = c.op.options
    xs, (y,) = c.io()
    axis = o.axis
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
    calls, start = [], 0
    for i, x in enumerate(xs):
        copy = x.shape[axis] * inner
        calls.append(_step(K.concatenation_s16 if y.dtype == "int16" else K.concatenation_s8, outer=outer, copy_size=copy, output_row=y.shape[axis] * inner,
                           output_start=start, requant=int(o.requant[i]), input_zp=x.zero_point,
                           output_zp=y.zero_point, mult=int(o.input_mult[i]), shift=int(o.input_shift[i]),
                           input=view(x), output=view(y)))
        start += copy
    return calls


def check_pad(c: OpCheck) -> OpInfo:
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, "int8", 4)
    y = c.tensor("outputs", 0, "int8", 4, const=False)
    o = c.options()
    for name in ("pad_before", "pad_after"):
        v = getattr(o, name)
        c.require(v is not None and len(v) == 4 and int(v.min()) >= 0 and int(v.max()) <= MAX_SPATIAL,
                  f"options.{name}", f"needs four values in [0, {MAX_SPATIAL}]")
    want = tuple(int(x.shape[d] + o.pad_before[d] + o.pad_after[d]) for d in range(4))
    c.require(y.shape == want, "outputs[0]", f"output shape {y.shape} must be {want}")
    c.same_quantization(x, y, "outputs[0]")
    return OpInfo(0, 0)


def prepare_pad(c: OpCheck, view, scratch):
    o = c.op.options
    (x,), (y,) = c.io()
    return [_step(K.pad_s8, input_shape=np.array(x.shape, np.int32), pad_before=o.pad_before.astype(np.int32),
                  output_shape=np.array(y.shape, np.int32), pad_value=y.zero_point, input=view(x), output=view(y))]


def check_reshape(c: OpCheck) -> OpInfo:
    c.counts((1,), 1)
    x = c.tensor("inputs", 0)
    y = c.tensor("outputs", 0, x.dtype, const=False)
    c.require(x.size == y.size, "outputs[0]", f"{y.shape} holds {y.size} elements, the input {x.size}")
    c.require(c.op.options is None, "options", "takes no options")
    if x.dtype in ("int8", "int16"):
        c.same_quantization(x, y, "outputs[0]")
    return OpInfo(0, 0, (0,))


def prepare_reshape(c: OpCheck, view, scratch):
    (x,), (y,) = c.io()
    xv, yv = view(x), view(y)
    if xv.__array_interface__["data"][0] == yv.__array_interface__["data"][0]:
        return []  # planned in place: no data moves
    return [(np.copyto, (yv, xv))]


def check_transpose(c: OpCheck) -> OpInfo:
    """Any permutation of up to five dimensions; the output is written in order while the input is read
    permuted, so never in place."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, "int8")
    y = c.tensor("outputs", 0, "int8", const=False)
    o = c.options()
    rank = len(x.shape)
    c.require(rank <= TRANSPOSE_MAX_DIMS, "inputs[0]", f"rank {rank} exceeds {TRANSPOSE_MAX_DIMS}")
    perm = o.perm
    c.require(perm is not None and sorted(int(p) for p in perm) == list(range(rank)), "options.perm",
              f"must be a permutation of 0..{rank - 1}")
    want = tuple(x.shape[int(p)] for p in perm)
    c.require(y.shape == want, "outputs[0]", f"output shape {y.shape} must be {want}")
    c.same_quantization(x, y, "outputs[0]")
    return OpInfo(0, 0)


def prepare_transpose(c: OpCheck, view, scratch):
    (x,), (y,) = c.io()
    loops, strides = K.transpose_params(x.shape, [int(p) for p in c.op.options.perm])
    return [_step(K.transpose_s8, output_shape=loops, input_strides=strides, input=view(x), output=view(y))]


def check_strided_slice(c: OpCheck) -> OpInfo:
    """Resolved loops (the compiler resolved TFLite's begin / end / masks, slicing.strided_slice_params): for input
    dimension d of up to five, positions begin[d] + k * strides[d] for k below count[d], the output's dimension or
    1 where bit d of shrink_axis_mask drops d; the first and the last lie in [0, size), so every one does. One
    quantization, int8 or int16. The output is written in order while the input is read strided: never in place."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES)
    y = c.tensor("outputs", 0, x.dtype, const=False)
    o = c.options()
    rank = len(x.shape)
    c.require(rank <= SLICE_MAX_DIMS, "inputs[0]", f"rank {rank} exceeds {SLICE_MAX_DIMS}")
    for name in ("begin", "strides"):
        v = getattr(o, name)
        c.require(v is not None and len(v) == rank, f"options.{name}",
                  f"needs {rank} values, one per input dimension, has {0 if v is None else len(v)}")
    shrink = c.int_option(o, "shrink_axis_mask", 0, 2**rank - 1)
    kept = [d for d in range(rank) if not shrink >> d & 1]
    c.require(len(y.shape) == len(kept), "outputs[0]",
              f"output shape {y.shape} must have {len(kept)} dimensions: the input's {rank} less the "
              f"{rank - len(kept)} shrink_axis_mask drops")
    for d, size in enumerate(x.shape):
        b, s = int(o.begin[d]), int(o.strides[d])
        c.require(s != 0, "options.strides", f"strides[{d}] must be non-zero")
        c.require(0 <= b < size, "options.begin", f"begin[{d}] = {b} lies outside [0, {size})")
        n = 1 if shrink >> d & 1 else y.shape[kept.index(d)]
        last = b + (n - 1) * s  # Python ints: no overflow
        c.require(0 <= last < size, "outputs[0]",
                  f"{n} positions of input dimension {d} from {b} by {s} end at {last}, outside [0, {size})")
    c.same_quantization(x, y, "outputs[0]")
    return OpInfo(0, 0)


def prepare_strided_slice(c: OpCheck, view, scratch):
    o = c.op.options
    (x,), (y,) = c.io()
    shrink = int(o.shrink_axis_mask)
    kept = iter(y.shape)
    counts = [1 if shrink >> d & 1 else next(kept) for d in range(len(x.shape))]
    p = K.strided_slice_loops(x.shape, [int(b) for b in o.begin], [int(s) for s in o.strides], counts, shrink)
    return [_step(K.strided_slice_s16 if x.dtype == "int16" else K.strided_slice_s8, input_shape=p.input_shape, begin=p.begin, strides=p.strides,
                  output_shape=p.output_shape, input=view(x), output=view(y))]


def check_gather(c: OpCheck) -> OpInfo:
    """GATHER (batch_dims 0): params int8 of any rank, indices int32 of any rank (a model input such as token ids,
    or a constant); the output params.shape[:axis] + indices.shape + params.shape[axis + 1:] (rank <= MAX_RANK)
    at params' quantization. The indices' values are checked at every invoke (_gather_checked); never in place."""
    c.counts((2,), 1)
    p = c.tensor("inputs", 0, "int8")
    i = c.tensor("inputs", 1, "int32")
    y = c.tensor("outputs", 0, "int8", const=False)
    o = c.options()
    axis = c.int_option(o, "axis", 0, len(p.shape) - 1)
    want = p.shape[:axis] + i.shape + p.shape[axis + 1:]
    c.require(len(want) <= MAX_RANK, "outputs[0]", f"the output would have {len(want)} dimensions, more than "
              f"{MAX_RANK}")
    c.require(y.shape == want, "outputs[0]", f"output shape {y.shape} must be {want}")
    c.same_quantization(p, y, "outputs[0]")
    return OpInfo(0, 0)


def _gather_checked(axis, outer, indices_count, axis_size, inner, indices, params, output):
    """GATHER's step: gather_s8 trusts its indices, so they are checked here, at every invoke, as TFLite's GATHER
    fails the op; an index outside [0, axis_size) raises InputError before anything is written."""
    lo, hi = int(indices.min()), int(indices.max())
    if lo < 0 or hi >= axis_size:
        raise InputError(f"GATHER: index {lo if lo < 0 else hi} lies outside [0, {axis_size - 1}] "
                         f"(axis {axis} of params)")
    K.gather_s8(outer, indices_count, axis_size, inner, indices, params, output)


def prepare_gather(c: OpCheck, view, scratch):
    axis = int(c.op.options.axis)
    (p, i), (y,) = c.io()
    outer = int(np.prod(p.shape[:axis], dtype=np.int64))
    inner = int(np.prod(p.shape[axis + 1:], dtype=np.int64))
    # A plain callable, not a kernel: the interpreter runs it from Python between step programs.
    _, args = _step(K.gather_s8, outer=outer, indices_count=i.size, axis_size=p.shape[axis], inner=inner,
                    indices=view(i), params=view(p), output=view(y))
    return [(functools.partial(_gather_checked, axis), args)]


def check_resize(c: OpCheck) -> OpInfo:
    """NHWC, batch and channels kept, H and W up to resize.MAX_SIZE, not both options; one quantization."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, "int8", 4)
    y = c.tensor("outputs", 0, "int8", 4, const=False)
    o = c.options()
    c.require(y.shape[0] == x.shape[0] and y.shape[3] == x.shape[3], "outputs[0]",
              f"output shape {y.shape} must keep the batch and channels of {x.shape}")
    c.require(max(x.shape[1:3] + y.shape[1:3]) <= RESIZE_MAX_SIZE, "outputs[0]",
              f"heights and widths must be at most {RESIZE_MAX_SIZE}")
    c.require(not (o.align_corners and o.half_pixel_centers), "options.align_corners",
              "align_corners and half_pixel_centers cannot both be set")
    c.same_quantization(x, y, "outputs[0]")
    return OpInfo(0, 0)


def _prepare_resize(method, kernel):
    def prepare(c: OpCheck, view, scratch):
        o = c.op.options
        (x,), (y,) = c.io()
        n, h, w, ch = x.shape
        params = K.resize_params(method, (h, w), y.shape[1:3], align_corners=bool(o.align_corners),
                                 half_pixel_centers=bool(o.half_pixel_centers))
        return [_step(kernel, batches=n, input_h=h, input_w=w, channels=ch, output_h=y.shape[1],
                      output_w=y.shape[2], **params, input=view(x), output=view(y))]
    return prepare


def check_reduce(c: OpCheck) -> OpInfo:
    """SUM, REDUCE_MEAN, REDUCE_MAX: rank <= 5, distinct axes; the output is the input with the axes kept as 1s
    or dropped. SUM and REDUCE_MEAN sum N centred values in int32 (N <= reduce.MAX_ELEMENTS); REDUCE_MAX keeps
    the quantization."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, "int8")
    y = c.tensor("outputs", 0, "int8", const=False)
    o = c.options()
    rank = len(x.shape)
    c.require(rank <= REDUCE_MAX_DIMS, "inputs[0]", f"rank {rank} exceeds {REDUCE_MAX_DIMS}")
    axes = o.axes
    c.require(axes is not None and len(axes) >= 1 and len(set(int(a) for a in axes)) == len(axes)
              and all(0 <= int(a) < rank for a in axes), "options.axes",
              f"must be distinct axes in [0, {rank})")
    kept = tuple(1 if d in set(int(a) for a in axes) else x.shape[d] for d in range(rank))
    dropped = tuple(s for d, s in enumerate(x.shape) if d not in set(int(a) for a in axes)) or (1,)
    c.require(y.shape in (kept, dropped), "outputs[0]", f"output shape {y.shape} must be {kept} or {dropped}")
    n = int(np.prod([x.shape[int(a)] for a in axes]))
    if OPS[c.op.opcode] is OP_DEFS["REDUCE_MAX"]:
        c.same_quantization(x, y, "outputs[0]")
        return OpInfo(0, 0)
    c.require(n <= REDUCE_MAX_ELEMENTS, "inputs[0]", f"{n} elements a sum exceed {REDUCE_MAX_ELEMENTS}")
    c.scalar_requant(o, "mult", "shift")
    c.zero_point(x, "inputs", 0)
    c.zero_point(y, "outputs", 0)
    return OpInfo(K.reduce_s8_scratch_bytes(y.size), 0)


def _prepare_reduce(kernel):
    def prepare(c: OpCheck, view, scratch):
        o = c.op.options
        (x,), (y,) = c.io()
        shape, mask, _, _ = K.reduce_params(x.shape, [int(a) for a in o.axes])
        if kernel is K.reduce_max_s8:
            return [_step(kernel, input_shape=shape, reduce_mask=mask, input=view(x), output=view(y))]
        return [_step(kernel, scratch=scratch.view(np.int32), input_shape=shape, reduce_mask=mask,
                      input_zp=x.zero_point, output_zp=y.zero_point, mult=o.mult, shift=o.shift, input=view(x),
                      output=view(y))]
    return prepare


def check_lut(c: OpCheck) -> OpInfo:
    c.counts((2,), 1)
    x = c.tensor("inputs", 0, "int8")
    t = c.tensor("inputs", 1, "int8", 1, const=True)
    y = c.tensor("outputs", 0, "int8", const=False)
    c.require(t.shape == (256,), "inputs[1]", f"the table must have 256 entries, has {t.shape}")
    c.require(y.shape == x.shape, "outputs[0]", f"output shape {y.shape} must equal the input's {x.shape}")
    c.require(c.op.options is None, "options", "takes no options")
    return OpInfo(0, 0, (0,))


def prepare_lut(c: OpCheck, view, scratch):
    (x, t), (y,) = c.io()
    return [_step(K.lut_s8, size=x.size, table=view(t), input=view(x), output=view(y))]


def check_logistic(c: OpCheck) -> OpInfo:
    """LOGISTIC and TANH: int8, a table op (check_lut); or int16, TFLite's 16x8 form (kernels/activations_s16.py):
    no table, zero points 0, output Q0.15, and LogisticOptions within the kernels' bounds: input_multiplier in
    [0, 32767], input_left_shift in [0, 31], or [0, 14] with multiplier 0 (then the multiplier is 3 << shift, and
    2^15 (3 << 14) < 2^31)."""
    c.counts((1, 2), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES)
    if x.dtype == "int8":
        return check_lut(c)
    c.counts((1,), 1)
    y = c.tensor("outputs", 0, "int16", const=False)
    c.require(y.shape == x.shape, "outputs[0]", f"output shape {y.shape} must equal the input's {x.shape}")
    _check_q015_output(c, x, y, S16_ACTIVATIONS.OUTPUT_SCALE, S16_ACTIVATIONS.OUTPUT_ZP)
    o = c.options()
    m = c.int_option(o, "input_multiplier", 0, S16_ACTIVATIONS.INPUT_MULTIPLIER_MAX)
    c.int_option(o, "input_left_shift", 0, S16_ACTIVATIONS.POT_INPUT_LEFT_SHIFT_MAX if m == 0
                 else S16_ACTIVATIONS.INPUT_LEFT_SHIFT_MAX)
    return OpInfo(0, 0, (0,))


def prepare_logistic(c: OpCheck, view, scratch):
    (x, *_), (y,) = c.io()
    if x.dtype == "int8":
        return prepare_lut(c, view, scratch)
    o = c.op.options
    kernel = K.logistic_s16 if c.op.opcode == OPCODE["LOGISTIC"] else K.tanh_s16
    return [_step(kernel, size=x.size, input_multiplier=o.input_multiplier, input_left_shift=o.input_left_shift,
                  input=view(x), output=view(y))]


def _check_boundary(c: OpCheck, in_dtype, out_dtype, quantized) -> OpInfo:
    """QUANTIZE (float32 -> int8 or int16) and DEQUANTIZE (int8 or int16 -> float32): same shape, the integer
    side quantized."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, in_dtype)
    y = c.tensor("outputs", 0, out_dtype, const=False)
    c.require(y.shape == x.shape, "outputs[0]", f"output shape {y.shape} must equal the input's {x.shape}")
    which, t = ("outputs", y) if quantized == "output" else ("inputs", x)
    c.zero_point(t, which, 0)
    c.require(t.scale_value is not None and t.scale_value > 0, f"{which}[0]", "needs a positive scale")
    return OpInfo(0, 0)


class _LstmForm(NamedTuple):
    """What an LSTM's two integer forms differ in (check_lstm), by its input's dtype."""

    bias: str  # the input-to-gate biases' dtype
    recurrent_bias: bool  # whether inputs[4] holds recurrent-to-gate biases (else it is -1)
    gate_shift_max: int
    hidden_shift_max: int
    cell_exponents: tuple[int, int]


LSTM_FORMS = {"int8": _LstmForm("int32", True, SHIFT_MAX, LSTM_HIDDEN_SHIFT_MAX,
                                (LSTM_CELL_EXPONENT_MIN, LSTM_CELL_EXPONENT_MAX)),
              "int16": _LstmForm("int64", False, S16_SHIFT_MAX, LSTM16_MUL_SHIFT_MAX,
                                 (LSTM16_CELL_EXPONENT_MIN, LSTM16_CELL_EXPONENT_MAX))}


def check_lstm(c: OpCheck) -> OpInfo:
    """UNIDIRECTIONAL_SEQUENCE_LSTM (schema.fbs; kernels/lstm.py derives the arithmetic and its bounds): batch 1,
    T steps of an int8 sequence; constant int8 weights (symmetric) and int32 biases in gate order i, f, c, o; the
    states in (h int8, c int16 with zero point 0) and out (h's new value at h's quantization, which the output
    sequence shares; the states in may be constants, the initial state of a layer that starts from it at every
    invoke, or variables, a streaming layer's); 8 gate multipliers, a hidden multiplier with shift <= 0, c's scale
    2^p with p in [-15, -9], a clip in [0, 32767], and the gate accumulator rule (lstm.gate_accumulator_overflow).

    An int16 sequence selects the 16x8 form (kernels/lstm_16x8.py; TFLM's int16 LSTM; LSTM_FORMS): int16 x, h, y
    and new h, x and h with zero point 0; int64 input-to-gate biases and no recurrent bias (inputs[4] is -1: TFLM's
    recurrent FCs have none); gate shifts in [-31, 7], c's scale 2^p with p in [-29, 2] (the f c and i g
    multipliers follow from p: lstm_16x8.cell_product_multipliers), and the int64 accumulator rule
    (lstm_16x8.gate_accumulator_overflow). The C loader checks in the same order."""
    c.counts((7,), 3)
    x = c.tensor("inputs", 0, LAYER_DTYPES, 3)
    form, wide = LSTM_FORMS[x.dtype], x.dtype == "int16"
    wx = c.tensor("inputs", 1, "int8", 3, const=True)
    wh = c.tensor("inputs", 2, "int8", 3, const=True)
    biases = [(3, c.tensor("inputs", 3, form.bias, 2, const=True))]
    if form.recurrent_bias:
        biases.append((4, c.tensor("inputs", 4, form.bias, 2, const=True)))
    else:
        c.require(int(c.op.inputs[4]) == -1, "inputs[4]", "the 16x8 form has no recurrent bias (inputs[4] must be -1)",
                  c.element_at("inputs", 4))
    h = c.tensor("inputs", 5, x.dtype, 2)
    cell = c.tensor("inputs", 6, "int16", 2)
    y = c.tensor("outputs", 0, x.dtype, 3, const=False)
    h_out = c.tensor("outputs", 1, x.dtype, 2, const=False)
    c_out = c.tensor("outputs", 2, "int16", 2, const=False)
    c.require(x.shape[0] == 1 or x.shape[1] == 1, "inputs[0]", f"input {x.shape} is not one sequence ([1, T, I] "
              "or [T, 1, I])")
    cells, inputs = wx.shape[1], x.shape[2]
    c.require(wx.shape == (4, cells, inputs), "inputs[1]", f"input weights {wx.shape} must be {(4, cells, inputs)}")
    c.require(wh.shape == (4, cells, cells), "inputs[2]", f"recurrent weights {wh.shape} must be {(4, cells, cells)}")
    for i, b in biases:
        c.require(b.shape == (4, cells), f"inputs[{i}]", f"bias {b.shape} must be {(4, cells)}")
    for which, i, t in (("inputs", 5, h), ("inputs", 6, cell), ("outputs", 1, h_out), ("outputs", 2, c_out)):
        c.require(t.shape == (1, cells), f"{which}[{i}]", f"state {t.shape} must be {(1, cells)}")
    c.require(y.shape == x.shape[:2] + (cells,), "outputs[0]", f"output {y.shape} must be {x.shape[:2] + (cells,)}")
    for i, t in ((0, x), (5, h)):
        c.require(c.zero_point(t, "inputs", i) == 0 or not wide, f"inputs[{i}]", f"int16 tensor {t.index} has zero "
                  f"point {t.zero_point}, not 0", c.element_at("inputs", i))
    c.same_quantization(h, y, "outputs[0]")
    c.same_quantization(h, h_out, "outputs[1]")
    for which, i, t in (("inputs", 6, cell), ("outputs", 2, c_out)):
        c.require(not t.zero_point, f"{which}[{i}]", f"the cell state has zero point 0, not {t.zero_point}")
    o = c.options()
    mult, shift, _ = c.requant(o, "gate_mult", "gate_shift", 8, form.gate_shift_max)
    c.require(len(mult) == 8, "options.gate_mult", "needs 8 values", o.at["gate_mult"])
    c.scalar_requant(o, "hidden_mult", "hidden_shift")
    c.int_option(o, "hidden_shift", SHIFT_MIN, form.hidden_shift_max)
    c.int_option(o, "cell_exponent", *form.cell_exponents)
    c.int_option(o, "cell_clip", 0, INT16_MAX)
    for i, w in ((1, wx), (2, wh)):
        c.require(int(w.data.min()) >= -127, f"inputs[{i}]", "weights hold -128; symmetric int8 lies in [-127, 127]",
                  c.element_at("inputs", i))
    if wide:
        worst, kind = lstm16_gate_accumulator_overflow(wx.data, wh.data, biases[0][1].data), "int64 accumulator"
    else:
        worst, kind = gate_accumulator_overflow(wx.data, wh.data, biases[0][1].data, biases[1][1].data, shift), \
            "accumulator"
    if worst is not None:
        side, g, r, bound = worst
        i = 1 if side == "input" else 2
        c.fail(f"inputs[{i}]", c.element_at("inputs", i), f"the {side}-to-{LSTM_GATES[g]} {kind} of cell {r} could "
               f"reach {bound}, above {'2^47 - 1' if wide else '2^31 - 1 - 2^15'}")
    steps = x.shape[0] * x.shape[1]
    return OpInfo(0, steps * 4 * cells * (inputs + cells))


def prepare_lstm(c: OpCheck, view, scratch):
    """The states are copied to the outputs, which the kernel then updates in place over the sequence."""
    o = c.op.options
    (x, wx, wh, bx, bh, h, cell), (y, h_out, c_out) = c.io()
    steps = x.shape[0] * x.shape[1]
    if x.dtype == "int16":
        forget_mult, forget_shift, input_mult, input_shift = lstm16_cell_product_multipliers(o.cell_exponent)
        return [(np.copyto, (view(h_out), view(h))), (np.copyto, (view(c_out), view(cell))),
                _step(K.lstm_16x8, steps=steps, input_size=x.shape[2], cell_size=wx.shape[1],
                      gate_mult=o.gate_mult.astype(np.int32), gate_shift=o.gate_shift.astype(np.int8),
                      forget_mult=forget_mult, forget_shift=forget_shift, input_mult=input_mult,
                      input_shift=input_shift, hidden_mult=o.hidden_mult, hidden_shift=o.hidden_shift,
                      cell_exponent=o.cell_exponent, cell_clip=o.cell_clip, input=view(x), input_weights=view(wx),
                      recurrent_weights=view(wh), bias=view(bx), hidden_state=view(h_out),
                      cell_state=view(c_out), output=view(y))]
    return [(np.copyto, (view(h_out), view(h))), (np.copyto, (view(c_out), view(cell))),
            _step(K.lstm_8x8_16, steps=steps, input_size=x.shape[2], cell_size=wx.shape[1],
                  gate_mult=o.gate_mult.astype(np.int32), gate_shift=o.gate_shift.astype(np.int8),
                  hidden_mult=o.hidden_mult, hidden_shift=o.hidden_shift, hidden_zp=y.zero_point,
                  cell_exponent=o.cell_exponent, cell_clip=o.cell_clip, input=view(x), input_weights=view(wx),
                  recurrent_weights=view(wh), input_bias=view(bx), recurrent_bias=view(bh),
                  hidden_state=view(h_out), cell_state=view(c_out), output=view(y))]


def check_svdf(c: OpCheck) -> OpInfo:
    """SVDF, one step (schema.fbs; kernels/svdf.py): int8 x [B, I] with I <= svdf.MAX_INPUT_SIZE, constant int8
    weights_feature [F, I] and int16 weights_time [F, M], an int32 bias [units] (or -1), the int16 state
    [B, M * F] (zero point 0) in and out; rank divides F; the two requantizations range-checked."""
    c.counts((5,), 2)
    x = c.tensor("inputs", 0, "int8", 2)
    wf = c.tensor("inputs", 1, "int8", 2, const=True)
    wt = c.tensor("inputs", 2, "int16", 2, const=True)
    bias = c.tensor("inputs", 3, "int32", 1, const=True, optional=True)
    state = c.tensor("inputs", 4, "int16", 2)
    y = c.tensor("outputs", 0, "int8", 2, const=False)
    state_out = c.tensor("outputs", 1, "int16", 2, const=False)
    batches, inputs = x.shape
    filters, memory = wt.shape
    c.require(inputs <= SVDF_MAX_INPUT_SIZE, "inputs[0]", f"{inputs} features exceed {SVDF_MAX_INPUT_SIZE}")
    c.require(wf.shape == (filters, inputs), "inputs[1]", f"weights_feature {wf.shape} must be {(filters, inputs)}")
    for which, i, t in (("inputs", 4, state), ("outputs", 1, state_out)):
        c.require(t.shape == (batches, memory * filters), f"{which}[{i}]",
                  f"state {t.shape} must be {(batches, memory * filters)}")
        c.require(not t.zero_point, f"{which}[{i}]", f"the state has zero point 0, not {t.zero_point}")
    o = c.options()
    rank = c.int_option(o, "rank", 1, filters)
    c.require(filters % rank == 0, "options.rank", f"rank {rank} does not divide {filters} filters", o.at["rank"])
    units = filters // rank
    if bias is not None:
        c.require(bias.shape == (units,), "inputs[3]", f"bias {bias.shape} must be {(units,)}")
    c.require(y.shape == (batches, units), "outputs[0]", f"output {y.shape} must be {(batches, units)}")
    c.zero_point(x, "inputs", 0)
    c.zero_point(y, "outputs", 0)
    c.scalar_requant(o, "state_mult", "state_shift")
    c.scalar_requant(o, "output_mult", "output_shift")
    return OpInfo(K.svdf_s8_scratch_bytes(inputs), batches * filters * (inputs + memory))


def prepare_svdf(c: OpCheck, view, scratch):
    """The state is copied to the new state's tensor, which the kernel then updates in place."""
    o = c.op.options
    (x, wf, wt, bias, state), (y, state_out) = c.io()
    return [(np.copyto, (view(state_out), view(state))),
            _step(K.svdf_s8, scratch=scratch, batches=x.shape[0], input_size=x.shape[1], units=y.shape[1],
                  memory_size=wt.shape[1], rank=o.rank, input_zp=x.zero_point, output_zp=y.zero_point,
                  state_mult=o.state_mult, state_shift=o.state_shift, output_mult=o.output_mult,
                  output_shift=o.output_shift, input=view(x), state=view(state_out), weights_feature=view(wf),
                  weights_time=view(wt), bias=np.zeros(0, np.int32) if bias is None else view(bias), output=view(y))]


def check_assign_variable(c: OpCheck) -> OpInfo:
    """ASSIGN_VARIABLE: the value (any activation) is copied into a variable tensor of its dtype, shape and
    quantization, which keeps it for the next invoke. Which operators may read and write a variable, and in what
    order, the loader's graph check decides (LoadedModel._check_graph_order)."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, const=False)
    y = c.tensor("outputs", 0, x.dtype, const=False)
    c.require(y.variable, "outputs[0]", f"tensor {y.index} is not a variable", c.element_at("outputs", 0))
    c.require(x.shape == y.shape, "outputs[0]", f"the variable's shape {y.shape} is not the value's {x.shape}",
              c.element_at("outputs", 0))
    c.same_quantization(x, y, "outputs[0]", c.element_at("outputs", 0))
    c.require(c.op.options is None, "options", "takes no options")
    return OpInfo(0, 0)


def prepare_assign_variable(c: OpCheck, view, scratch):
    (x,), (y,) = c.io()
    return [(np.copyto, (view(y), view(x)))]


def check_quantize(c: OpCheck) -> OpInfo:
    return _check_boundary(c, "float32", LAYER_DTYPES, "output")


def check_dequantize(c: OpCheck) -> OpInfo:
    return _check_boundary(c, LAYER_DTYPES, "float32", "input")


def _boundary_args(view, x, y, q):
    """quantize_s8's and dequantize_s8's arguments (and their s16 twins'); q is the integer side, whose scale and
    zero point they use."""
    return dict(size=x.size, scale=np.float32(q.scale_value), zero_point=q.zero_point, input=view(x), output=view(y))


def prepare_quantize(c: OpCheck, view, scratch):
    (x,), (y,) = c.io()
    return [_step(K.quantize_s16 if y.dtype == "int16" else K.quantize_s8, **_boundary_args(view, x, y, y))]


def prepare_dequantize(c: OpCheck, view, scratch):
    (x,), (y,) = c.io()
    return [_step(K.dequantize_s16 if x.dtype == "int16" else K.dequantize_s8, **_boundary_args(view, x, y, x))]


# REQUANTIZE's kernels by (input dtype, output dtype): TFLite's QUANTIZE with an integer input (quantize.cc's
# Requantize; int8 -> int16 as TFLite Micro's quantize_common.cc).
_REQUANTIZE_KERNELS = {("int8", "int16"): "requantize_s8_s16", ("int16", "int8"): "requantize_s16_s8",
                       ("int16", "int16"): "requantize_s16_s16"}


def check_requantize(c: OpCheck) -> OpInfo:
    """REQUANTIZE: int8 <-> int16 or int16 -> int16, same shape, both sides quantized, out = clamp(mbqm(x - zp_in,
    mult, shift) + zp_out) to the output type (one multiplier s_in / s_out, which may exceed 1)."""
    c.counts((1,), 1)
    x = c.tensor("inputs", 0, LAYER_DTYPES)
    y = c.tensor("outputs", 0, LAYER_DTYPES, const=False)
    c.require((x.dtype, y.dtype) in _REQUANTIZE_KERNELS, "outputs[0]", f"{x.dtype} -> {y.dtype} is not a requantize")
    c.require(y.shape == x.shape, "outputs[0]", f"output shape {y.shape} must equal the input's {x.shape}")
    c.zero_point(x, "inputs", 0)
    c.zero_point(y, "outputs", 0)
    c.scalar_requant(c.options(), "mult", "shift")
    return OpInfo(0, 0)


def prepare_requantize(c: OpCheck, view, scratch):
    (x,), (y,) = c.io()
    o = c.op.options
    return [_step(getattr(K, _REQUANTIZE_KERNELS[x.dtype, y.dtype]), size=x.size, input_zp=x.zero_point,
                  output_zp=y.zero_point, mult=o.mult, shift=o.shift, input=view(x), output=view(y))]


@dataclass(frozen=True)
class OpDef:
    """What an opcode is, for the loaders, the interpreter and the compiler.

    output_quantization: "requantizes" (the output has its own scale and zero point, calibrated), "tied" (the
    output has its input's: the kernel moves or compares values without requantizing), or (scale, zero point)
    fixed by the op whatever the data (TFLite's int8 rule). Whether an op takes a fused activation range follows
    from its options table (act_min / act_max fields), so it is not restated here."""

    check: object
    prepare: object
    output_quantization: object = "requantizes"

    options: str | None = None  # the schema's options table, None: the op takes none (LOGISTIC, TANH: int16 only)
    # Whether sample b of the output depends only on sample b of each input that leads with the batch, so the
    # op, checked and prepared with every activation's leading 1 made N, computes N samples at once
    # (batch_plan.py): True, False, or a predicate of the checked op (OpCheck) for ops where an option decides.
    per_sample: object = False

    @property
    def fixed_output(self):
        return self.output_quantization if isinstance(self.output_quantization, tuple) else None

    @property
    def fuses_activation(self) -> bool:
        return self.options is not None and "act_min" in {f.name for f in SCHEMA.tables[self.options].fields}


_POOL = dict(check=_check_pool, output_quantization="tied", options="Pool2DOptions", per_sample=True)
_LUT = dict(check=check_lut, prepare=prepare_lut, per_sample=True)


def _keeps_axis_0(option: str):
    """per_sample of an op whose option (a list of axes or one axis) names the dimensions it works across."""
    return lambda c: 0 not in np.atleast_1d(getattr(c.op.options, option))


def _pads_no_sample(c: OpCheck) -> bool:
    return c.op.options.pad_before[0] == 0 and c.op.options.pad_after[0] == 0


def _keeps_batch_first(c: OpCheck) -> bool:
    return int(c.op.options.perm[0]) == 0


def _slices_within_samples(c: OpCheck) -> bool:
    """A strided slice that takes axis 0 whole and in order (from 0, step 1, not shrunk): each sample's part."""
    o = c.op.options
    return int(o.begin[0]) == 0 and int(o.strides[0]) == 1 and not int(o.shrink_axis_mask or 0) & 1


OP_DEFS = {
    "CONV_2D": OpDef(check_conv_2d, prepare_conv_2d, options="Conv2DOptions", per_sample=True),
    "DEPTHWISE_CONV_2D": OpDef(check_depthwise_conv_2d, prepare_depthwise_conv_2d, options="DepthwiseConv2DOptions",
                               per_sample=True),
    "FULLY_CONNECTED": OpDef(check_fully_connected, prepare_fully_connected, options="FullyConnectedOptions",
                             per_sample=True),
    "ADD": OpDef(check_add, prepare_add, options="AddOptions", per_sample=True),
    "MUL": OpDef(check_mul, prepare_mul, options="MulOptions", per_sample=True),
    "AVERAGE_POOL_2D": OpDef(prepare=_prepare_pool(K.average_pool2d_s8, K.average_pool2d_s16), **_POOL),
    "MAX_POOL_2D": OpDef(prepare=_prepare_pool(K.max_pool2d_s8, K.max_pool2d_s16), **_POOL),
    "MEAN": OpDef(check_mean, prepare_mean, options="MeanOptions", per_sample=True),
    "SOFTMAX": OpDef(check_softmax, prepare_softmax, (SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZP), "SoftmaxOptions",
                     per_sample=True),
    "CONCATENATION": OpDef(check_concatenation, prepare_concatenation, options="ConcatenationOptions",
                           per_sample=_keeps_axis_0("axis")),
    "PAD": OpDef(check_pad, prepare_pad, "tied", "PadOptions", per_sample=_pads_no_sample),
    "RESHAPE": OpDef(check_reshape, prepare_reshape, "tied", per_sample=True),
    # TFLite's int8 logistic and tanh fix their output quantization; a table computes any, but the compiler
    # keeps TFLite's so that a model means the same in both. Their int16 forms (and SOFTMAX's) output Q0.15.
    "LOGISTIC": OpDef(check_logistic, prepare_logistic, (1.0 / 256.0, -128), "LogisticOptions", per_sample=True),
    "TANH": OpDef(check_logistic, prepare_logistic, (1.0 / 128.0, 0), "LogisticOptions", per_sample=True),
    "HARDSWISH": OpDef(**_LUT),
    **{name: OpDef(**_LUT) for name in ("GELU", "SILU", "HARD_SIGMOID", "LEAKY_RELU", "ELU", "MISH", "RELU", "RELU6",
                                        "RELU_N1_TO_1", "CLAMP")},
    "SUB": OpDef(check_add, prepare_sub, options="AddOptions", per_sample=True),
    "MAXIMUM": OpDef(check_extremum, _prepare_extremum(K.maximum_s8, 1), "tied", per_sample=True),
    "MINIMUM": OpDef(check_extremum, _prepare_extremum(K.minimum_s8, 0), "tied", per_sample=True),
    "SQUARED_DIFFERENCE": OpDef(check_squared_difference, prepare_squared_difference,
                                options="SquaredDifferenceOptions", per_sample=True),
    "TRANSPOSE": OpDef(check_transpose, prepare_transpose, "tied", "TransposeOptions", per_sample=_keeps_batch_first),
    "BATCH_MATMUL": OpDef(check_batch_matmul, prepare_batch_matmul, options="BatchMatMulOptions"),
    "TRANSPOSE_CONV": OpDef(check_transpose_conv, prepare_transpose_conv, options="TransposeConvOptions",
                            per_sample=True),
    "RESIZE_NEAREST_NEIGHBOR": OpDef(check_resize, _prepare_resize("nearest", K.resize_nearest_s8), "tied",
                                     "ResizeOptions", per_sample=True),
    "RESIZE_BILINEAR": OpDef(check_resize, _prepare_resize("bilinear", K.resize_bilinear_s8), "tied", "ResizeOptions",
                             per_sample=True),
    "SUM": OpDef(check_reduce, _prepare_reduce(K.reduce_sum_s8), options="ReduceOptions",
                 per_sample=_keeps_axis_0("axes")),
    "REDUCE_MAX": OpDef(check_reduce, _prepare_reduce(K.reduce_max_s8), "tied", "ReduceOptions",
                        per_sample=_keeps_axis_0("axes")),
    "REDUCE_MEAN": OpDef(check_reduce, _prepare_reduce(K.reduce_mean_s8), options="ReduceOptions",
                         per_sample=_keeps_axis_0("axes")),
    "RSQRT": OpDef(**_LUT),
    "STRIDED_SLICE": OpDef(check_strided_slice, prepare_strided_slice, "tied", "StridedSliceOptions",
                           per_sample=_slices_within_samples),
    "GATHER": OpDef(check_gather, prepare_gather, "tied", "GatherOptions"),
    "QUANTIZE": OpDef(check_quantize, prepare_quantize, per_sample=True),
    "ASSIGN_VARIABLE": OpDef(check_assign_variable, prepare_assign_variable, "tied"),
    "REQUANTIZE": OpDef(check_requantize, prepare_requantize, options="RequantizeOptions", per_sample=True),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpDef(check_lstm, prepare_lstm, "tied", "LstmOptions"),
    "SVDF": OpDef(check_svdf, prepare_svdf, options="SvdfOptions"),
    "DEQUANTIZE": OpDef(check_dequantize, prepare_dequantize, per_sample=True),
}
OPS = {OPCODE[name]: d for name, d in OP_DEFS.items()}
