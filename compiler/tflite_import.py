"""A TFLite flat buffer in, a .mfb out: compile_tflite, bit-exact with TFLite's int8 and 16x8 reference kernels.

Where TFLite's two reference implementations differ, compile_tflite's `reference` chooses which to follow:

  op                     reference="tflite-micro" (default)         reference="litert" (LiteRT's BUILTIN_REF)
  FULLY_CONNECTED        int8: acc M rounded twice (gemmlowp's       rounded once with the Q31 multiplier, ties
                         doubling high multiply, then the rounding   away from zero (FullyConnectedOptions.
                         shift); 16x8: once with a Q15 multiplier    single_rounding), int8 and 16x8
  int8 LOGISTIC, TANH    gemmlowp fixed point (tflite_tables.table)  float32 tables (float_lookup_table)
  int8 RELU6             clamped, not rescaled                       rescaled as RELU, then clamped
  SVDF                   effective scales in double                  in float32 (tflite_recurrent.py)

Everything else is the same in both (every conv, every other op, the int8 LSTM, which follows LiteRT's as TFLite
Micro's int8 LSTM is another algorithm). TFLite Micro's default is also CMSIS-NN's and LiteRT's optimized kernels'
arithmetic. Not followed in either: LiteRT's reference SUM reads int8 as uint8 (tests/test_litert_ops.py), and it
has no ELU (its built-in ELU is TFLite Micro's table). tests/test_tflite_import.py holds the four MLPerf Tiny
models to TFLite Micro's bytes, and compiled with reference="litert" to LiteRT's reference kernels' bytes.

The file is read with the `tflite` package (TFLite's schema.fbs compiled by flatc; the compiler extra's, never
the runtime's). Every tensor keeps its dtype, shape and quantization; every operator becomes microflat's op of the
same name, its parameters computed from the file's float32 scales as TFLite's Prepare computes them:

  CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED   per channel (or per tensor) M = s_in s_w / s_out in double
                                                 (PopulateConvolutionQuantizationParams,
                                                 GetQuantizedConvolutionMultipler), QuantizeMultiplier's
                                                 (mult, shift); the int32 bias as stored
  ADD, SUB, MUL, SQUARED_DIFFERENCE              their Prepare's multipliers (kernels.add_params: left shift 20,
                                                 M1 = s1 / 2 max(s1, s2), M2 likewise, M = 2 max(s1, s2) /
                                                 (2^20 s_out); sub_params, mul_params, squared_difference_params);
                                                 operands of rank < 4 seen as [1, ..., shape] (in-place RESHAPEs)
  MAXIMUM, MINIMUM                               no arithmetic: inputs and output share one quantization
  MEAN, SUM, REDUCE_MAX                          reduce.cc's (kernels.reduce_mean_params, reduce_sum_params)
  CONCATENATION, PAD(V2)                         copies (TFLite wants one quantization); PAD's value real 0
  SQUEEZE, EXPAND_DIMS                           RESHAPE
  QUANTIZE, DEQUANTIZE                           float32 <-> int8 at the model's boundary
  LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU,       TFLite Micro's results, as a table (tflite_tables.py): gemmlowp
  HARD_SWISH, ELU, GELU (int8)                   fixed point, HardSwish's int16 fixed point, ELU's float32 table;
                                                 GELU (which TFLite Micro lacks) TFLite's float32 table
  TRANSPOSE_CONV                                 a conv's per-channel M; the padding TFLite derives from the output
  BATCH_MATMUL                                   M = s_lhs s_rhs / s_out in double; adj_x, adj_y
  STRIDED_SLICE, GATHER                          copies; the slice's bounds resolved per dimension as TFLite does
  SLICE, SPLIT, SPLIT_V, UNPACK, PACK            strided slices of step 1 (one per output), and PACK a concatenation
                                                 of in-place reshapes
  TRANSPOSE, RESIZE_NEAREST_NEIGHBOR,            no arithmetic but the resize's own (align_corners,
  RESIZE_BILINEAR                                half_pixel_centers); the output keeps the input's quantization
  AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE          no arithmetic; TFLite's int8 pools and reshape keep the input's
                                                 quantization, which the file must give the output too
  SOFTMAX                                        PreprocessSoftmaxScaling(beta, s_in) in double (kernels.
                                                 preprocess_softmax_scaling); output 1/256, -128

TFLite's 16x8 mode (int16 activations at zero point 0, int8 weights) maps to the same ops' int16 forms:

  CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED   M as above; the int64 bias as stored (none: zeros; LiteRT's CONV_2D
                                                 wants one, TFLite Micro's does not); the weight dense (the 16x8
                                                 kernels read no encoding). An int32 bias is refused: TFLite's
                                                 kernels then accumulate and round in 32 bits (measured: some
                                                 outputs differ), a form microflat's runtime has not
  ADD, SUB                                       add.cc's general form: add_params with left shift 15, which
                                                 pot_scale_int16 false selects, and true (the default) unless all
                                                 three scales are powers of two; there TFLite takes its power-of-two
                                                 form (TFLite Micro still the general one): refused
  MUL                                            mul_params (float32 products, as for int8)
  AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE,         as for int8; CONCATENATION and PACK copy raw int16 values whatever
  SQUEEZE, EXPAND_DIMS, STRIDED_SLICE, SLICE,    the scales (TFLite's), so an input at another quantization than
  SPLIT(_V), UNPACK, PACK, CONCATENATION         the output's is refused (microflat's copy would requantize it)
  QUANTIZE, DEQUANTIZE                           float32 <-> int16 too
  QUANTIZE int -> int                            quantize.cc's Requantize, M = s_in / s_out in double: microflat's
                                                 REQUANTIZE (int16 -> int8, int16 -> int16; int8 -> int16, TFLite
                                                 Micro's, which LiteRT refuses); int8 -> int8 a one-input
                                                 CONCATENATION (its requantizing copy is the same arithmetic)
  LOGISTIC, TANH                                 SigmoidPrepare's / TanhPrepare's input multiplier and left shift
                                                 (kernels.logistic_s16_params, tanh_s16_params); output 1/32768, 0
  SOFTMAX                                        QuantizeMultiplier(s_in beta / (10 / 65535)) (kernels.
                                                 softmax_s16_params); output 1/32768, 0

Every other op touching an int16 tensor is refused by name (its 16x8 form is none microflat's runtime has).

Padding: SAME's total padding max((out - 1) stride + (k - 1) dilation + 1 - in, 0), its smaller half at the top
and left (ComputePaddingHeightWidth). A fused activation is TFLite's CalculateActivationRangeQuantized: the
bounds zp + round(bound / s) (f32 division, rounded half away from zero) clamped to the output type's range
([-128, 127], or [-32768, 32767] in 16x8 mode).

A batch of -1 in a tensor's shape_signature (the MLPerf Tiny files have one) is the batch its shape holds (1).
Weights are stored as the file holds them, each in the smallest encoding the kernels run in place that keeps
every value (compiler/encodings.py: sparse, packed int4, palette or dense). An INT4 weight (TFLite's packed 4-bit
type, two values a byte, the even-indexed one in the low nibble) is read into its int8 values, which TFLite's and
TFLite Micro's kernels unpack the same way; the encoder then packs it again, to 4 bits or fewer.

Several subgraphs: the model is subgraph 0 (what TFLite Micro runs); a subgraph nothing it runs calls (another
signature's) is ignored. Two calls are trivial wrappers, imported in place:

  STABLEHLO_COMPOSITE                            its decomposition subgraph (StableHLOCompositeOptions) inlined,
                                                 recursively: the callee's ops imported in a frame of their own
                                                 (tensors keyed (frame, index), so a subgraph called twice is
                                                 inlined twice), its inputs and outputs bound to the composite's,
                                                 which must have their dtype, shape and quantization (LiteRT runs
                                                 the decomposition so; TFLite Micro has no STABLEHLO_COMPOSITE)
  CALL_ONCE, VAR_HANDLE, READ_VARIABLE,          TFLite Micro's streaming pattern: an init subgraph that only
  ASSIGN_VARIABLE                                VAR_HANDLEs resource variables and ASSIGN_VARIABLEs them constants;
                                                 each variable (container, shared_name) a microflat variable at the
                                                 quantization of its reads and assignments (TFLite copies raw
                                                 values, so all must agree), its initial values real 0 (the zero
                                                 point, where microflat's variables start and reset). READ_VARIABLE
                                                 is the variable (after this invoke's ASSIGN_VARIABLE, the value
                                                 assigned), ASSIGN_VARIABLE microflat's: at most once an invoke,
                                                 no value read before it used after it, no variable a model output
                                                 (docs/FORMAT.md, "Variables")

Refused with CompileError, naming what: an op microflat does not map, in subgraph 0 or a decomposition it reaches
(each such op and how often it occurs: WHILE, IF and CALL among them), a CALL_ONCE whose init does more than assign
constants, an initial value other than real 0, a decomposition index outside the file, a cycle of subgraphs,
composites nested deeper than 32 or over 4096 ops once inlined, a float or custom op, a tensor whose quantization
the op cannot take.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path

import numpy as np

from microflat import kernels as K
from microflat.runtime.errors import CompileError, MicroflatError

from . import encodings, tflite_recurrent, tflite_tables
from .writer import ModelWriter

try:  # the compiler extra's
    import tflite
except ImportError:  # pragma: no cover - the compiler extra installs it
    tflite = None

_DTYPES = {9: "int8", 7: "int16", 2: "int32", 4: "int64", 0: "float32"}  # tflite.TensorType values
_INT4 = 17  # tflite.TensorType.INT4: constant weights only, read into int8 (_unpack_int4)
_PADDING_SAME, _PADDING_VALID = 0, 1  # tflite.Padding
_ACTIVATIONS = {0: (-math.inf, math.inf), 1: (0.0, math.inf), 2: (-1.0, 1.0), 3: (0.0, 6.0)}  # NONE, RELU, N1_TO_1, 6
_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}  # an integer activation's values
# A weighted layer's bias by its activations' type: int32 (int8), int64 (TFLite's 16x8 mode; module docstring).
_BIAS_DTYPES = {"int8": "int32", "int16": "int64"}
# The ops whose int16 form (TFLite's 16x8 mode) microflat maps: any other touching an int16 tensor is refused by
# name. LSTM and SVDF are not listed: their int8 forms hold int16 states; tflite_recurrent.py checks their types.
_INT16_FORMS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D",
                          "MAX_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "STRIDED_SLICE", "SLICE", "SPLIT",
                          "SPLIT_V", "UNPACK", "PACK", "CONCATENATION", "QUANTIZE", "DEQUANTIZE", "LOGISTIC", "TANH",
                          "SOFTMAX"})
_CHECKS_OWN_DTYPES = frozenset({"UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF",
                                "STABLEHLO_COMPOSITE", "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})
_RESOURCE = 13  # tflite.TensorType.RESOURCE: a VAR_HANDLE's output, which names a resource variable
_COMPOSITE_OPTIONS = 21  # tflite.BuiltinOptions2.StableHLOCompositeOptions
_MAX_NESTING = 32  # composites inside composites: deeper is refused (a damaged file's chain of subgraphs)
# TFLite operators inlined in all (every call of a decomposition counted): a damaged file's composites calling one
# subgraph twice per level would otherwise inline exponentially many; microflat's file holds at most 4096 operators.
_MAX_INLINED = 4096
_Q015 = 1.0 / 32768.0  # the output scale of int16 LOGISTIC, TANH and SOFTMAX (zero point 0)


def _unpack_int4(raw: np.ndarray, count: int, name: str) -> np.ndarray:
    """An INT4 buffer as int8 values: two a byte, the even-indexed value in the low nibble (TFLite's
    PackInt8IntoDenseInt4), each nibble sign-extended ((n ^ 8) - 8); ceil(count / 2) bytes."""
    raw = np.asarray(raw, np.uint8).reshape(-1)
    if raw.size != (count + 1) // 2:
        raise CompileError(f"tensor {name!r}: its INT4 buffer holds {raw.size} bytes, its {count} values need "
                           f"{(count + 1) // 2}")
    nibbles = np.empty(2 * raw.size, np.int16)
    nibbles[0::2], nibbles[1::2] = raw & 0x0F, raw >> 4
    return ((nibbles[:count] ^ 8) - 8).astype(np.int8)


class _Tensor:
    """One tensor of the file, as read: name, dtype, shape, per-channel scales and zero points, constant data. key:
    (frame, index), which the importer's tensors are keyed by (frame 0 is subgraph 0; each inlined call of a
    subgraph is a frame of its own, so a subgraph inlined twice has two sets of tensors)."""

    def __init__(self, model, graph, index: int, key: tuple[int, int] | None = None):
        if not 0 <= index < graph.TensorsLength():
            raise CompileError(f"tensor index {index} is outside the subgraph's {graph.TensorsLength()} tensors")
        t = graph.Tensors(index)
        self.index = index
        self.key = (0, index) if key is None else key
        self.is_variable = bool(t.IsVariable())
        self.name = (t.Name() or b"").decode("utf-8", "replace") or f"t{index}"
        if t.Type() not in _DTYPES and t.Type() != _INT4:
            raise CompileError(f"tensor {self.name!r} has TFLite type {t.Type()}, which microflat does not take")
        self.dtype = _DTYPES.get(t.Type(), "int8")
        self.shape = tuple(int(d) for d in (t.ShapeAsNumpy() if t.ShapeLength() else ()))
        q = t.Quantization()
        self.scales = q.ScaleAsNumpy().astype(np.float32) if q is not None and q.ScaleLength() else None
        self.zero_points = q.ZeroPointAsNumpy().astype(np.int64) if q is not None and q.ZeroPointLength() else None
        self.axis = q.QuantizedDimension() if q is not None else 0
        buf = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        raw = buf.DataAsNumpy() if buf is not None and buf.DataLength() else None
        self.data = None
        if t.Type() == _INT4 and raw is None:
            raise CompileError(f"tensor {self.name!r} is INT4, which microflat takes for constant weights only")
        if raw is not None:
            count = int(np.prod(self.shape, dtype=np.int64))
            data = (_unpack_int4(raw, count, self.name) if t.Type() == _INT4 else
                    np.frombuffer(raw.tobytes(), np.dtype(self.dtype).newbyteorder("<")))
            if data.size != count:
                raise CompileError(f"tensor {self.name!r}: its buffer holds {data.size} values, its shape "
                                   f"{self.shape} {int(np.prod(self.shape))}")
            self.data = data.reshape(self.shape).astype(self.dtype)

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if self.zero_points is not None else 0

    @property
    def quant(self) -> dict:
        """The writer's quantization keywords: the per-tensor scale and zero point, none for a float tensor."""
        return {} if self.scales is None else {"scale": self.scale, "zero_point": self.zero_point}


def _options(op, cls):
    table = op.BuiltinOptions()
    opts = cls()
    if table is not None:
        opts.Init(table.Bytes, table.Pos)
    return opts


def _act_range(y: _Tensor, fused: int) -> dict:
    """TFLite's CalculateActivationRangeQuantized: the fused activation's bounds in y's integers, within y's type's
    range (int8, or int16 in 16x8 mode)."""
    if fused not in _ACTIVATIONS:
        raise CompileError(f"fused activation {fused} is not one microflat maps (NONE, RELU, RELU_N1_TO_1, RELU6)")
    lo, hi = _ACTIVATIONS[fused]
    q_min, q_max = _RANGES[y.dtype]

    def quantize(v):
        return y.zero_point + tflite_tables.round_f32(np.float32(v) / np.float32(y.scale))  # a float32 division

    return {"act_min": q_min if lo == -math.inf else max(q_min, quantize(lo)),
            "act_max": q_max if hi == math.inf else min(q_max, quantize(hi))}


def _derived(what: str, params, *args):
    """params(*args), a kernels' *_params (TFLite's Prepare), its ValueError (a quantization that Prepare refuses too)
    a CompileError naming what."""
    try:
        return params(*args)
    except ValueError as e:
        raise CompileError(f"{what}: {e}") from None


def _q015_output(opcode: str, x: _Tensor, y: _Tensor):
    """TFLite's int16 LOGISTIC, TANH and SOFTMAX: the input at zero point 0, the output int16 at 1/32768, 0."""
    if y.dtype != "int16" or y.scales is None or (y.scale, y.zero_point) != (_Q015, 0) or x.zero_point != 0:
        raise CompileError(f"{opcode} {y.name!r}: an int16 {opcode} takes its input at zero point 0 and gives int16 "
                           f"at scale 1/32768, zero point 0 (TFLite's Prepare)")


def _same_padding(size: int, out: int, stride: int, kernel: int, dilation: int, padding: int) -> int:
    """The top (left) padding: ComputePaddingHeightWidth's smaller half of SAME's total; VALID's 0."""
    if padding == _PADDING_VALID:
        return 0
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2


class _Importer:
    reference = "tflite-micro"  # whose arithmetic to follow where TFLite's two differ: compile_tflite's reference

    def __init__(self, data: bytes, weight_encoding: str):
        self.data = data
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() < 1:
            raise CompileError("the file has no subgraph")
        # The model is subgraph 0 (what TFLite Micro runs). A subgraph it calls is imported in place (inlined) where
        # the call is a trivial wrapper (module docstring): each call is a frame, its tensors keyed (frame, index).
        self.graph = self.model.Subgraphs(0)  # the frame being imported's subgraph
        self.frame = 0
        self.frames = [0]  # frame -> its subgraph's index
        self.calls: list[int] = [0]  # the subgraphs being imported, outermost first (a cycle's guard)
        self.alias: dict[tuple[int, int], tuple[int, int]] = {}  # a callee's input or output -> the caller's tensor
        self.inlined = 0  # TFLite operators imported so far (_MAX_INLINED)
        self.variables: dict[tuple[str, str], dict] = {}  # resource variables by (container, shared_name)
        self.handles: dict[tuple[int, int], tuple[str, str]] = {}  # a VAR_HANDLE's resource tensor -> its variable
        self.w = ModelWriter()
        self.ids: dict[tuple[int, int], int] = {}
        self.weight_encoding = weight_encoding

    def key(self, index: int) -> tuple[int, int]:
        """The current frame's tensor index as its key: the caller's tensor where it is a bound input or output."""
        key = (self.frame, index)
        return self.alias.get(key, key)

    def tensor(self, index: int) -> _Tensor:
        frame, at = self.key(index)
        return _Tensor(self.model, self.model.Subgraphs(self.frames[frame]), at, (frame, at))

    def activation(self, t: _Tensor) -> int:
        """The writer's tensor for t (created once): an arena tensor, or a constant operand (an elementwise op's)."""
        if t.key not in self.ids:
            self.ids[t.key] = (self.w.add_tensor(t.name, t.dtype, t.shape, **t.quant) if t.data is None else
                               self.w.add_constant(t.name, t.data, **t.quant))
        return self.ids[t.key]

    def view_4d(self, t: _Tensor, into: bool) -> int:
        """t seen as [1, ..., shape] for the 4-D elementwise ops (TFLite broadcasts from the trailing dimension):
        an in-place RESHAPE into the view (into) or out of it, which the caller adds; a constant is stored so."""
        if len(t.shape) == 4:
            return self.activation(t)
        shape = (1,) * (4 - len(t.shape)) + t.shape
        if t.data is not None:
            return self.w.add_constant(t.name, t.data.reshape(shape), **t.quant)
        view = self.w.add_tensor(f"{t.name}:4d", t.dtype, shape, **t.quant)
        if into:
            self.w.add_operator("RESHAPE", [self.activation(t)], [view])
        return view

    def weight(self, t: _Tensor, axis: int, encodable: bool = True) -> int:
        """A constant int8 weight in the smallest encoding its op's kernels read in place (dense where they read
        none: encodable False)."""
        if t.data is None or t.dtype != "int8":
            raise CompileError(f"weight {t.name!r} must be a constant int8 tensor")
        if t.zero_points is not None and np.any(t.zero_points != 0):
            raise CompileError(f"weight {t.name!r} has a non-zero zero point (TFLite's int8 weights are symmetric)")
        choice = encodings.choose(t.data, axis, self.weight_encoding if encodable else "dense", f" ({t.name})")
        enc = encodings.encode(t.data, axis, choice)
        return self.w.add_constant(t.name, t.data) if enc is None else self.w.add_encoded(t.name, enc)

    def bias(self, t: _Tensor | None, channels: int, name: str, activations: str = "int8") -> int:
        """A weighted layer's constant bias of _BIAS_DTYPES[activations], zeros where the file has none."""
        dtype = _BIAS_DTYPES[activations]
        data = np.zeros(channels, dtype) if t is None else t.data
        if data is None or data.dtype != np.dtype(dtype):
            raise CompileError(f"the bias of {name!r} must be a constant {dtype} tensor" + (
                " (TFLite's 16x8 kernels with an int32 bias accumulate and round in 32 bits, a form microflat's "
                "runtime has not)" if activations == "int16" else ""))
        return self.w.add_constant(t.name if t is not None else f"{name}.bias", data)

    def io(self, op):
        ins = [self.tensor(int(i)) if int(i) >= 0 else None for i in op.InputsAsNumpy()]
        outs = [self.tensor(int(i)) for i in op.OutputsAsNumpy()]
        return ins, outs

    def layer_inputs(self, x: _Tensor, wt: _Tensor, b: _Tensor | None, channels: int, axis: int, name: str):
        """A weighted layer's input, weight (dense in 16x8 mode: its kernels read no encoding) and bias."""
        wide = x.dtype == "int16"
        return [self.activation(x), self.weight(wt, axis, encodable=not wide), self.bias(b, channels, name, x.dtype)]

    def requant(self, x: _Tensor, wt: _Tensor, y: _Tensor, channels: int):
        """(mult, shift) arrays: M[c] = s_in s_w[c] / s_out in double, one value for a per-tensor weight."""
        s_w = wt.scales.astype(np.float64)
        real = float(x.scale) * s_w / float(y.scale)
        if real.size not in (1, channels):
            raise CompileError(f"weight {wt.name!r} has {real.size} scales for {channels} output channels")
        return K.quantize_multipliers(real)

    # --- ops ---------------------------------------------------------------------------------------------------

    def conv(self, op, depthwise: bool):
        (x, wt, b, *_), (y,) = self.io(op)
        o = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
        kh, kw = wt.shape[1], wt.shape[2]
        channels = wt.shape[3] if depthwise else wt.shape[0]
        mult, shift = self.requant(x, wt, y, channels)
        opts = dict(stride_h=o.StrideH(), stride_w=o.StrideW(), dilation_h=o.DilationHFactor(),
                    dilation_w=o.DilationWFactor(),
                    pad_top=_same_padding(x.shape[1], y.shape[1], o.StrideH(), kh, o.DilationHFactor(), o.Padding()),
                    pad_left=_same_padding(x.shape[2], y.shape[2], o.StrideW(), kw, o.DilationWFactor(), o.Padding()),
                    output_mult=mult, output_shift=shift, **_act_range(y, o.FusedActivationFunction()))
        if depthwise:
            opts["depth_multiplier"] = channels // x.shape[3]
            inputs = self.layer_inputs(x, wt, b, channels, 3, y.name)
            self.w.add_operator("DEPTHWISE_CONV_2D", inputs, [self.activation(y)], "DepthwiseConv2DOptions", opts)
        else:
            opts["groups"] = x.shape[3] // wt.shape[3]
            inputs = self.layer_inputs(x, wt, b, channels, 0, y.name)
            self.w.add_operator("CONV_2D", inputs, [self.activation(y)], "Conv2DOptions", opts)

    def fully_connected(self, op):
        (x, wt, *rest), (y,) = self.io(op)
        b = rest[0] if rest else None
        o = _options(op, tflite.FullyConnectedOptions)
        if o.WeightsFormat() != 0:
            raise CompileError(f"FULLY_CONNECTED {y.name!r}: shuffled weights are not taken")
        mult, shift = self.requant(x, wt, y, wt.shape[0])
        inputs = self.layer_inputs(x, wt, b, wt.shape[0], 0, y.name)
        opts = dict(output_mult=mult, output_shift=shift, **_act_range(y, o.FusedActivationFunction()))
        if self.reference == "litert":
            opts["single_rounding"] = True  # LiteRT's reference FullyConnected rounds once (module docstring)
        self.w.add_operator("FULLY_CONNECTED", inputs, [self.activation(y)], "FullyConnectedOptions", opts)

    def pool(self, op, opcode: str):
        (x,), (y,) = self.io(op)
        o = _options(op, tflite.Pool2DOptions)
        kh, kw = o.FilterHeight(), o.FilterWidth()
        opts = dict(filter_h=kh, filter_w=kw, stride_h=o.StrideH(), stride_w=o.StrideW(),
                    pad_top=_same_padding(x.shape[1], y.shape[1], o.StrideH(), kh, 1, o.Padding()),
                    pad_left=_same_padding(x.shape[2], y.shape[2], o.StrideW(), kw, 1, o.Padding()),
                    **_act_range(y, o.FusedActivationFunction()))
        self.w.add_operator(opcode, [self.activation(x)], [self.activation(y)], "Pool2DOptions", opts)

    def binary(self, op, opcode: str):
        """ADD, SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM: the operands and output as 4-D views; the
        parameters of add.cc's, sub.cc's, mul.cc's and squared_difference.cc's Prepare (kernels' *_params)."""
        (a, b), (y,) = self.io(op)
        scales = (a.scale, b.scale, y.scale)
        shift = {}
        if a.dtype == "int16" and opcode in ("ADD", "SUB"):
            self.require_general_int16(op, opcode, a, b, y)
            shift = dict(left_shift=K.elementwise.ADD_LEFT_SHIFT_INT16)
        options = {"ADD": ("AddOptions", lambda: K.add_params(*scales, **shift), tflite.AddOptions),
                   "SUB": ("AddOptions", lambda: K.sub_params(*scales, **shift), tflite.SubOptions),
                   "MUL": ("MulOptions", lambda: K.mul_params(*scales), tflite.MulOptions),
                   "SQUARED_DIFFERENCE": ("SquaredDifferenceOptions", lambda: K.squared_difference_params(*scales),
                                          None),
                   "MAXIMUM": (None, None, None), "MINIMUM": (None, None, None)}
        table, params, fused = options[opcode]
        opts = None if table is None else dict(params())
        if fused is not None:
            opts.update(_act_range(y, _options(op, fused).FusedActivationFunction()))
        y4 = self.view_4d(y, into=False)
        self.w.add_operator(opcode, [self.view_4d(a, True), self.view_4d(b, True)], [y4], table, opts)
        if y4 != self.activation(y):
            self.w.add_operator("RESHAPE", [y4], [self.activation(y)])

    @staticmethod
    def require_general_int16(op, opcode: str, a: _Tensor, b: _Tensor, y: _Tensor):
        """int16 ADD and SUB map to add.cc's and sub.cc's general form (left shift 15), which pot_scale_int16 false
        selects, and true (the schema's default) too unless all three scales are powers of two (CheckedLog2: log2
        within 1e-3 of an integer). Then TFLite takes its power-of-two form, a saturating int16 add of the inputs,
        one of them rounded by 2^(its log2 - the output's) first, which microflat's runtime has not: refused. (TFLite
        Micro takes the general form whatever the flag: the two differ there.)"""
        flag = op.BuiltinOptions() is not None and _options(
            op, tflite.AddOptions if opcode == "ADD" else tflite.SubOptions).PotScaleInt16()
        if flag and all(K.activations_s16.checked_log2(t.scale)[0] for t in (a, b, y)):
            raise CompileError(f"{opcode} {y.name!r}: int16 with pot_scale_int16 and power-of-two scales is TFLite's "
                               f"power-of-two form, which microflat's runtime has not (TFLite's converter writes "
                               f"pot_scale_int16 false, the general form microflat maps)")

    @staticmethod
    def require_one_int16_quantization(opcode: str, ins: list[_Tensor], y: _Tensor):
        """TFLite's int16 CONCATENATION and PACK copy the raw values whatever the inputs' scales (Prepare asks only
        for zero points 0); microflat's copies only an input at the output's quantization (it requantizes the
        rest): an int16 input at another is refused."""
        if y.dtype == "int16" and any(x.quant != y.quant for x in ins):
            raise CompileError(f"{opcode} {y.name!r}: an int16 input's quantization differs from the output's, whose "
                               f"raw values TFLite copies; microflat copies only at one quantization")

    def concatenation(self, op):
        ins, (y,) = self.io(op)
        o = _options(op, tflite.ConcatenationOptions)
        if o.FusedActivationFunction() != 0:
            raise CompileError(f"CONCATENATION {y.name!r}: a fused activation is not taken")
        self.require_one_int16_quantization("CONCATENATION", ins, y)
        opts = dict(axis=o.Axis() % len(y.shape),
                    **K.concatenation_options([(x.scale, x.zero_point) for x in ins], (y.scale, y.zero_point)))
        self.w.add_operator("CONCATENATION", [self.activation(x) for x in ins], [self.activation(y)],
                            "ConcatenationOptions", opts)

    def pad(self, op):
        """PAD (PADV2 with the output's zero point as its value): TFLite pads an int8 tensor with real 0."""
        (x, paddings, *value), (y,) = self.io(op)
        if len(x.shape) != 4 or paddings.data is None:
            raise CompileError(f"PAD {y.name!r}: microflat pads 4-D tensors by constant paddings")
        if value and (value[0].data is None or int(value[0].data.reshape(-1)[0]) != y.zero_point):
            raise CompileError(f"PAD {y.name!r}: the pad value must be the output's zero point (real 0)")
        p = paddings.data.reshape(4, 2).astype(np.int32)
        self.w.add_operator("PAD", [self.activation(x)], [self.activation(y)], "PadOptions",
                            dict(pad_before=p[:, 0].copy(), pad_after=p[:, 1].copy()))

    def reduce(self, op, opcode: str):
        """MEAN, SUM, REDUCE_MAX over constant axes (kept as 1s or dropped): microflat's REDUCE_MEAN, SUM and
        REDUCE_MAX, whose (mult, shift) are reduce.cc's Prepare (kernels.reduce_mean_params, reduce_sum_params)."""
        (x, axes), (y,) = self.io(op)
        if axes.data is None:
            raise CompileError(f"{opcode} {y.name!r}: its axes must be a constant")
        rank = len(x.shape)
        dims = sorted({int(a) % rank for a in axes.data.reshape(-1)})
        opts = dict(axes=np.array(dims, np.int32))
        if opcode == "MEAN":
            n = int(np.prod([x.shape[d] for d in dims]))
            p = K.reduce_mean_params(x.scale, x.zero_point, y.scale, y.zero_point, n)
            opts.update(mult=p["mult"], shift=p["shift"])
        elif opcode == "SUM":
            p = K.reduce_sum_params(x.scale, x.zero_point, y.scale, y.zero_point)
            opts.update(mult=p["mult"], shift=p["shift"])
        self.w.add_operator({"MEAN": "REDUCE_MEAN"}.get(opcode, opcode), [self.activation(x)], [self.activation(y)],
                            "ReduceOptions", opts)

    def boundary(self, op, opcode: str):
        """QUANTIZE (float32 -> int8 or int16) and DEQUANTIZE (int8 or int16 -> float32); QUANTIZE between integer
        types is requantize's."""
        (x,), (y,) = self.io(op)
        if opcode == "QUANTIZE" and x.dtype in _RANGES:
            return self.requantize(x, y)
        integer, real = (y, x) if opcode == "QUANTIZE" else (x, y)
        if real.dtype != "float32" or integer.dtype not in _RANGES:
            raise CompileError(f"{opcode} {y.name!r}: {x.dtype} -> {y.dtype} is not mapped (float32 and int8 or int16)")
        self.w.add_operator(opcode, [self.activation(x)], [self.activation(y)])

    def requantize(self, x: _Tensor, y: _Tensor):
        """QUANTIZE between integer types, quantize.cc's Requantize: M = s_in / s_out in double (QuantizeMultiplier),
        y = clamp(MultiplyByQuantizedMultiplier(x - zp_in, M) + zp_out) to y's type. microflat's REQUANTIZE where one
        side is int16 (int8 -> int16 is TFLite Micro's; LiteRT refuses it); int8 -> int8 as a one-input
        CONCATENATION, whose requantizing copy is that arithmetic (kernels.concatenation_params)."""
        if y.dtype not in _RANGES:
            raise CompileError(f"QUANTIZE {y.name!r}: {x.dtype} -> {y.dtype} is not mapped")
        if (x.dtype, y.dtype) == ("int8", "int8"):
            self.w.add_operator("CONCATENATION", [self.activation(x)], [self.activation(y)], "ConcatenationOptions",
                                dict(axis=0, **K.concatenation_options([(x.scale, x.zero_point)],
                                                                       (y.scale, y.zero_point))))
            return
        mult, shift = K.quantize_multiplier(float(x.scale) / float(y.scale))
        self.w.add_operator("REQUANTIZE", [self.activation(x)], [self.activation(y)], "RequantizeOptions",
                            dict(mult=mult, shift=shift))

    def logistic_or_tanh(self, op, opcode: str):
        """int8: table_activation's. int16 (16x8): LOGISTIC or TANH with the input multiplier and left shift of
        TFLite's SigmoidPrepare / TanhPrepare (kernels.logistic_s16_params, tanh_s16_params)."""
        (x,), (y,) = self.io(op)
        if x.dtype != "int16":
            return self.table_activation(op, opcode)
        _q015_output(opcode, x, y)
        m, k = _derived(f"{opcode} {y.name!r}", K.logistic_s16_params if opcode == "LOGISTIC" else K.tanh_s16_params,
                        x.scale)
        self.w.add_operator(opcode, [self.activation(x)], [self.activation(y)], "LogisticOptions",
                            dict(input_multiplier=m, input_left_shift=k))

    def table_activation(self, op, opcode: str):
        """int8 LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH, ELU and GELU: TFLite Micro's results (TFLite's
        for GELU, which TFLite Micro lacks) as a 256-entry table (tflite_tables.py), run by microflat's op of the
        function's name."""
        (x,), (y,) = self.io(op)
        if x.dtype != "int8":
            raise CompileError(f"{opcode} {y.name!r}: only the int8 form is mapped")
        quant = (x.scale, x.zero_point, y.scale, y.zero_point)
        if opcode == "LEAKY_RELU":
            alpha = _options(op, tflite.LeakyReluOptions).Alpha()
            if not alpha >= 0:
                raise CompileError(f"LEAKY_RELU {y.name!r}: alpha {alpha} is negative, which microflat does not map")
            values = tflite_tables.leaky_relu_table(alpha, *quant)
        elif opcode in ("RELU", "RELU6"):
            values = tflite_tables.relu_table(opcode, *quant, litert=self.reference == "litert")
        elif opcode == "HARD_SWISH":
            values = _derived(f"HARD_SWISH {y.name!r}", tflite_tables.hard_swish_table, *quant)
        elif opcode == "ELU":
            values = tflite_tables.float_lookup_table(tflite_tables.elu, *quant)
        elif opcode == "GELU":
            approximate = _options(op, tflite.GeluOptions).Approximate()
            values = tflite_tables.float_lookup_table(
                tflite_tables.gelu_approximate if approximate else tflite_tables.gelu, *quant)
        elif self.reference == "litert":  # LOGISTIC, TANH: LiteRT's float32 table
            values = tflite_tables.float_lookup_table(
                tflite_tables.logistic if opcode == "LOGISTIC" else tflite_tables.tanh, *quant)
        else:  # LOGISTIC, TANH: TFLite Micro's fixed point
            values = tflite_tables.table(opcode, x.scale, x.zero_point)
        t = self.w.add_constant(f"{y.name}.table", values)
        self.w.add_operator({"HARD_SWISH": "HARDSWISH"}.get(opcode, opcode), [self.activation(x), t],
                            [self.activation(y)])

    def transpose(self, op):
        (x, perm), (y,) = self.io(op)
        if perm.data is None:
            raise CompileError(f"TRANSPOSE {y.name!r}: its permutation must be a constant")
        self.w.add_operator("TRANSPOSE", [self.activation(x)], [self.activation(y)], "TransposeOptions",
                            dict(perm=perm.data.reshape(-1).astype(np.int32)))

    def resize(self, op, opcode: str):
        """RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR: the output's H and W are the size input's."""
        (x, _size), (y,) = self.io(op)
        table = tflite.ResizeBilinearOptions if opcode == "RESIZE_BILINEAR" else tflite.ResizeNearestNeighborOptions
        o = _options(op, table)
        self.w.add_operator(opcode, [self.activation(x)], [self.activation(y)], "ResizeOptions",
                            dict(align_corners=bool(o.AlignCorners()) or None,
                                 half_pixel_centers=bool(o.HalfPixelCenters()) or None))

    def batch_matmul(self, op):
        """M = s_lhs s_rhs / s_out, the product and the quotient in double (batch_matmul.cc's Prepare)."""
        (a, b), (y,) = self.io(op)
        o = _options(op, tflite.BatchMatMulOptions)
        mult, shift = K.quantize_multiplier(float(a.scale) * float(b.scale) / float(y.scale))
        self.w.add_operator("BATCH_MATMUL", [self.activation(a), self.activation(b)], [self.activation(y)],
                            "BatchMatMulOptions", dict(adj_x=bool(o.AdjX()) or None, adj_y=bool(o.AdjY()) or None,
                                                      output_mult=mult, output_shift=shift))

    def transpose_conv(self, op):
        """TRANSPOSE_CONV (inputs: output shape, weights [O, KH, KW, I], x, bias): the padding TFLite derives from
        the output (ComputePaddingHeightWidth with the output as the conv's input), per-channel M as a conv's."""
        (_shape, wt, x, *rest), (y,) = self.io(op)
        b = rest[0] if rest else None
        o = _options(op, tflite.TransposeConvOptions)
        kh, kw = wt.shape[1], wt.shape[2]

        def pad(size, stride, kernel):
            out = -(-size // stride) if o.Padding() == _PADDING_SAME else (size - kernel + stride) // stride
            return max((out - 1) * stride + kernel - size, 0) // 2

        mult, shift = self.requant(x, wt, y, wt.shape[0])
        inputs = [self.activation(x), self.weight(wt, 0, encodable=False), self.bias(b, wt.shape[0], y.name)]
        self.w.add_operator("TRANSPOSE_CONV", inputs, [self.activation(y)], "TransposeConvOptions",
                            dict(stride_h=o.StrideH(), stride_w=o.StrideW(),
                                 pad_top=pad(y.shape[1], o.StrideH(), kh), pad_left=pad(y.shape[2], o.StrideW(), kw),
                                 output_mult=mult, output_shift=shift,
                                 **_act_range(y, o.FusedActivationFunction())))

    def strided_slice(self, op):
        """STRIDED_SLICE resolved per dimension as TFLite resolves it (StridedSliceStartForAxis / EndForAxis, which
        are Python's slice(begin, end, stride).indices(size), a masked bound None): microflat's first position and
        step of each input dimension; a shrunk dimension takes its one element begin[d]."""
        (x, begin, end, strides), (y,) = self.io(op)
        o = _options(op, tflite.StridedSliceOptions)
        if any(t.data is None for t in (begin, end, strides)):
            raise CompileError(f"STRIDED_SLICE {y.name!r}: begin, end and strides must be constants")
        if o.EllipsisMask() or o.NewAxisMask() or o.Offset():
            raise CompileError(f"STRIDED_SLICE {y.name!r}: ellipsis_mask, new_axis_mask and offset are not mapped")
        b, e, s = (t.data.reshape(-1).astype(np.int64).tolist() for t in (begin, end, strides))
        first, step = [], []
        for d, size in enumerate(x.shape):
            masked_begin, masked_end = o.BeginMask() >> d & 1, o.EndMask() >> d & 1
            if d >= len(b):  # dimensions past the lists are taken whole
                first.append(0), step.append(1)
            elif o.ShrinkAxisMask() >> d & 1:
                at = 0 if masked_begin else b[d]
                first.append(at + size if at < 0 else at), step.append(1)
            else:
                start, stop, stride = slice(None if masked_begin else b[d], None if masked_end else e[d],
                                            s[d]).indices(size)
                if not range(start, stop, stride):
                    raise CompileError(f"STRIDED_SLICE {y.name!r}: dimension {d} is sliced empty")
                first.append(start), step.append(stride)
        self.w.add_operator("STRIDED_SLICE", [self.activation(x)], [self.activation(y)], "StridedSliceOptions",
                            dict(begin=np.array(first, np.int32), strides=np.array(step, np.int32),
                                 shrink_axis_mask=o.ShrinkAxisMask() or None))

    def slice_into(self, x: _Tensor, y: _Tensor, first, shrink: int = 0):
        """microflat's STRIDED_SLICE of x from per-dimension first positions, step 1 (shrink: the dimensions taken
        once and dropped): how SLICE, SPLIT, SPLIT_V and UNPACK are written."""
        self.w.add_operator("STRIDED_SLICE", [self.activation(x)], [self.activation(y)], "StridedSliceOptions",
                            dict(begin=np.array(first, np.int32), strides=np.ones(len(first), np.int32),
                                 shrink_axis_mask=shrink or None))

    def _constant_ints(self, t: _Tensor, what: str) -> list[int]:
        if t.data is None:
            raise CompileError(f"{what} must be a constant")
        return t.data.reshape(-1).astype(np.int64).tolist()

    def slice(self, op):
        """SLICE(begin, size): begin >= 0 per dimension (TFLite's rule); the output's shape is the size."""
        (x, begin, size), (y,) = self.io(op)
        first = self._constant_ints(begin, f"SLICE {y.name!r}: its begin")
        sizes = self._constant_ints(size, f"SLICE {y.name!r}: its size")
        want = tuple(n - b if s == -1 else s for b, s, n in zip(first, sizes, x.shape))
        if len(first) != len(x.shape) or min(first) < 0 or want != y.shape or any(
                b + s > n for b, s, n in zip(first, want, x.shape)):
            raise CompileError(f"SLICE {y.name!r}: begin {first} and size {sizes} do not give its shape {y.shape} "
                               f"inside the input's {x.shape}")
        self.slice_into(x, y, first)

    def split(self, op, opcode: str):
        """SPLIT (axis, x) and SPLIT_V (x, size_splits, axis): one slice per output along the axis."""
        ins, outs = self.io(op)
        x, axis_t = (ins[1], ins[0]) if opcode == "SPLIT" else (ins[0], ins[2])
        axis = self._constant_ints(axis_t, f"{opcode} {outs[0].name!r}: its axis")[0] % len(x.shape)
        rest = lambda t: t.shape[:axis] + t.shape[axis + 1:]  # noqa: E731
        if sum(y.shape[axis] for y in outs) != x.shape[axis] or any(rest(y) != rest(x) for y in outs):
            raise CompileError(f"{opcode} {outs[0].name!r}: its outputs' shapes do not split the input's {x.shape} "
                               f"along axis {axis}")
        start = 0
        for y in outs:
            first = [0] * len(x.shape)
            first[axis] = start
            self.slice_into(x, y, first)
            start += y.shape[axis]

    def unpack(self, op):
        """UNPACK: output k is the slice at k along the axis, that dimension dropped."""
        (x,), outs = self.io(op)
        axis = _options(op, tflite.UnpackOptions).Axis() % len(x.shape)
        for k, y in enumerate(outs):
            first = [0] * len(x.shape)
            first[axis] = k
            self.slice_into(x, y, first, shrink=1 << axis)

    def pack(self, op):
        """PACK: each input seen with a dimension of 1 at the axis (an in-place RESHAPE), then one CONCATENATION
        along it (TFLite's int8 PACK copies: the inputs have the output's quantization)."""
        ins, (y,) = self.io(op)
        axis = _options(op, tflite.PackOptions).Axis() % len(y.shape)
        self.require_one_int16_quantization("PACK", ins, y)
        views = []
        for x in ins:
            shape = x.shape[:axis] + (1,) + x.shape[axis:]
            view = self.w.add_tensor(f"{x.name}:packed", x.dtype, shape, **x.quant)
            self.w.add_operator("RESHAPE", [self.activation(x)], [view])
            views.append(view)
        self.w.add_operator("CONCATENATION", views, [self.activation(y)], "ConcatenationOptions",
                            dict(axis=axis, **K.concatenation_options([(x.scale, x.zero_point) for x in ins],
                                                                      (y.scale, y.zero_point))))

    def gather(self, op):
        (params, indices), (y,) = self.io(op)
        o = _options(op, tflite.GatherOptions)
        if o.BatchDims() != 0:
            raise CompileError(f"GATHER {y.name!r}: batch_dims {o.BatchDims()} is not mapped (0 only)")
        self.w.add_operator("GATHER", [self.activation(params), self.activation(indices)], [self.activation(y)],
                            "GatherOptions", dict(axis=o.Axis() % len(params.shape) or None))

    def reshape(self, op):
        (x, *_), (y,) = self.io(op)
        self.w.add_operator("RESHAPE", [self.activation(x)], [self.activation(y)])

    def softmax(self, op):
        """int8: PreprocessSoftmaxScaling's (mult, left shift, diff_min). int16 (16x8): SoftmaxPrepare's
        QuantizeMultiplier(s_in beta / (10 / 65535)) (kernels.softmax_s16_params)."""
        (x,), (y,) = self.io(op)
        if x.dtype != y.dtype:
            raise CompileError(f"SOFTMAX {y.name!r}: {x.dtype} -> {y.dtype} is not mapped (one type in and out)")
        beta = float(_options(op, tflite.SoftmaxOptions).Beta())
        if x.dtype == "int16":
            _q015_output("SOFTMAX", x, y)
            m, ls = _derived(f"SOFTMAX {y.name!r}", K.softmax_s16_params, x.scale, beta)
            opts = dict(input_beta_mult=m, input_left_shift=ls)
        else:
            m, ls, dmin = K.preprocess_softmax_scaling(beta, x.scale)
            opts = dict(input_beta_mult=m, input_left_shift=ls, diff_min=dmin)
        self.w.add_operator("SOFTMAX", [self.activation(x)], [self.activation(y)], "SoftmaxOptions", opts)

    def run(self) -> bytes:
        handlers = {"CONV_2D": lambda op: self.conv(op, False), "DEPTHWISE_CONV_2D": lambda op: self.conv(op, True),
                    "FULLY_CONNECTED": self.fully_connected, "RESHAPE": self.reshape, "SQUEEZE": self.reshape,
                    "EXPAND_DIMS": self.reshape, "SOFTMAX": self.softmax, "CONCATENATION": self.concatenation,
                    "PAD": self.pad, "PADV2": self.pad,
                    **{name: (lambda op, name=name: self.reduce(op, name)) for name in ("MEAN", "SUM", "REDUCE_MAX")},
                    "QUANTIZE": lambda op: self.boundary(op, "QUANTIZE"),
                    "DEQUANTIZE": lambda op: self.boundary(op, "DEQUANTIZE"),
                    "LOGISTIC": lambda op: self.logistic_or_tanh(op, "LOGISTIC"),
                    "TANH": lambda op: self.logistic_or_tanh(op, "TANH"),
                    "RELU": lambda op: self.table_activation(op, "RELU"),
                    "RELU6": lambda op: self.table_activation(op, "RELU6"),
                    **{name: (lambda op, name=name: self.table_activation(op, name))
                       for name in ("LEAKY_RELU", "HARD_SWISH", "ELU", "GELU")},
                    "TRANSPOSE": self.transpose, "BATCH_MATMUL": self.batch_matmul,
                    "STRIDED_SLICE": self.strided_slice, "GATHER": self.gather, "SLICE": self.slice,
                    "SPLIT": lambda op: self.split(op, "SPLIT"), "SPLIT_V": lambda op: self.split(op, "SPLIT_V"),
                    "UNPACK": self.unpack, "PACK": self.pack,
                    "UNIDIRECTIONAL_SEQUENCE_LSTM": lambda op: tflite_recurrent.lstm(self, op),
                    "SVDF": lambda op: tflite_recurrent.svdf(self, op),
                    "TRANSPOSE_CONV": self.transpose_conv,
                    "RESIZE_NEAREST_NEIGHBOR": lambda op: self.resize(op, "RESIZE_NEAREST_NEIGHBOR"),
                    "RESIZE_BILINEAR": lambda op: self.resize(op, "RESIZE_BILINEAR"),
                    "AVERAGE_POOL_2D": lambda op: self.pool(op, "AVERAGE_POOL_2D"),
                    "MAX_POOL_2D": lambda op: self.pool(op, "MAX_POOL_2D"),
                    **{name: (lambda op, name=name: self.binary(op, name))
                       for name in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM")},
                    "STABLEHLO_COMPOSITE": self.composite, "CALL_ONCE": self.call_once,
                    "VAR_HANDLE": self.var_handle, "READ_VARIABLE": self.read_variable,
                    "ASSIGN_VARIABLE": self.assign_variable}
        self.handlers = handlers
        # every op of subgraph 0 and of the decompositions it reaches, named before any is mapped (WHILE, IF, CALL
        # and any other op calling a subgraph among them); CALL_ONCE's init subgraph is call_once's to check
        missing = Counter(n for n in self.reachable_op_names() if n not in handlers)
        if missing:
            raise CompileError("the file uses operators microflat does not map: " +
                               ", ".join(f"{n} ({c}x)" for n, c in sorted(missing.items())))
        self.import_ops()
        inputs = [self.activation(self.tensor(int(i))) for i in self.graph.InputsAsNumpy()]
        outputs = [self.activation(self.tensor(int(i))) for i in self.graph.OutputsAsNumpy()]
        self.check_variables(inputs + outputs)
        self.w.set_io(inputs, outputs)
        return self.w.to_bytes(hashlib.sha256(self.data).digest())

    def import_ops(self):
        """The current frame's operators, in order, each mapped by its handler."""
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            name = self.opcode_name(op)
            self.inlined += 1
            if self.inlined > _MAX_INLINED:
                raise CompileError(f"the model holds more than {_MAX_INLINED} operators once its composites are "
                                   f"inlined")
            if name not in self.handlers:  # an op of a subgraph reachable_op_names did not see (it lists each once)
                raise CompileError(f"the file uses an operator microflat does not map: {name}")
            self.check_int16_form(op, name)
            self.handlers[name](op)

    def reachable_op_names(self) -> list[str]:
        """The names of the ops of subgraph 0 and of every decomposition subgraph its STABLEHLO_COMPOSITEs reach
        (each subgraph once; an index out of range is composite's to refuse)."""
        names, seen, todo = [], {0}, [0]
        while todo:
            graph = self.model.Subgraphs(todo.pop())
            for i in range(graph.OperatorsLength()):
                op = graph.Operators(i)
                names.append(self.opcode_name(op))
                if names[-1] == "STABLEHLO_COMPOSITE":
                    callee = self.composite_options(op)[1]
                    if 0 <= callee < self.model.SubgraphsLength() and callee not in seen:
                        seen.add(callee)
                        todo.append(callee)
        return names

    # --- subgraphs and resource variables ------------------------------------------------------------------------

    def composite_options(self, op) -> tuple[str, int]:
        """A STABLEHLO_COMPOSITE's name and decomposition subgraph index (StableHLOCompositeOptions, in the
        operator's second options union)."""
        table = op.BuiltinOptions2()
        if table is None or op.BuiltinOptions2Type() != _COMPOSITE_OPTIONS:
            raise CompileError("a STABLEHLO_COMPOSITE has no StableHLOCompositeOptions")
        o = tflite.StableHLOCompositeOptions()
        o.Init(table.Bytes, table.Pos)
        return (o.Name() or b"").decode("utf-8", "replace"), o.DecompositionSubgraphIndex()

    def callee(self, what: str, index: int):
        """Subgraph index, called from the current frame: in the file, not subgraph 0 or one being imported (a
        cycle), not nested deeper than _MAX_NESTING."""
        count = self.model.SubgraphsLength()
        if not 0 <= index < count:
            raise CompileError(f"{what} calls subgraph {index}, which the file lacks (it has {count})")
        if index in self.calls:
            cycle = " -> ".join(str(k) for k in self.calls[self.calls.index(index):] + [index])
            raise CompileError(f"{what} calls subgraph {index}, which is calling it: a cycle of subgraphs {cycle}")
        if len(self.calls) > _MAX_NESTING:
            raise CompileError(f"{what}: subgraphs nested more than {_MAX_NESTING} deep")
        return self.model.Subgraphs(index)

    def bind(self, what: str, frame: int, graph, callee_index: int, caller_index: int, role: str):
        """The callee's tensor callee_index (a decomposition's input or output) stands for the caller's
        caller_index: one tensor, so both must have one dtype, shape and quantization (TFLite's composite copies
        the raw values: another quantization would change their meaning)."""
        if caller_index < 0:
            raise CompileError(f"{what}: an absent (-1) {role}")
        key, target = (frame, callee_index), self.key(caller_index)
        if key in self.alias:
            raise CompileError(f"{what}: its decomposition's tensor {callee_index} is bound twice (an {role} listed "
                               f"twice, or an input passed straight through as an output)")
        mine = _Tensor(self.model, graph, callee_index, key)
        theirs = self.tensor(caller_index)
        if (mine.dtype, mine.shape, mine.quant) != (theirs.dtype, theirs.shape, theirs.quant) or (
                mine.scales is not None and theirs.scales is not None and (
                    mine.scales.size != theirs.scales.size or np.any(mine.scales != theirs.scales))):
            raise CompileError(f"{what}: its decomposition's {role} {mine.name!r} ({mine.dtype} {mine.shape} "
                               f"{mine.quant}) is not the composite's {theirs.name!r} ({theirs.dtype} "
                               f"{theirs.shape} {theirs.quant})")
        if role == "output" and mine.data is not None:
            raise CompileError(f"{what}: its decomposition's output {mine.name!r} is a constant")
        self.alias[key] = target

    def composite(self, op):
        """STABLEHLO_COMPOSITE: its decomposition subgraph called on its inputs, giving its outputs (what LiteRT
        runs), inlined: the callee's ops imported in a frame of their own, its inputs and outputs bound to the
        composite's."""
        name, index = self.composite_options(op)
        what = f"STABLEHLO_COMPOSITE {name!r}"
        graph = self.callee(what, index)
        ins, outs = op.InputsAsNumpy() if op.InputsLength() else [], op.OutputsAsNumpy() if op.OutputsLength() else []
        g_ins = graph.InputsAsNumpy() if graph.InputsLength() else []
        g_outs = graph.OutputsAsNumpy() if graph.OutputsLength() else []
        if (len(ins), len(outs)) != (len(g_ins), len(g_outs)):
            raise CompileError(f"{what}: {len(ins)} inputs and {len(outs)} outputs, its decomposition subgraph "
                               f"{index} {len(g_ins)} and {len(g_outs)}")
        frame = len(self.frames)
        self.frames.append(index)
        for callee_index, caller_index in zip(g_ins, ins):
            self.bind(what, frame, graph, int(callee_index), int(caller_index), "input")
        for callee_index, caller_index in zip(g_outs, outs):
            self.bind(what, frame, graph, int(callee_index), int(caller_index), "output")
        caller = (self.frame, self.graph)
        self.frame, self.graph = frame, graph
        self.calls.append(index)
        self.import_ops()
        self.calls.pop()
        self.frame, self.graph = caller

    def variable_name(self, op) -> tuple[str, str]:
        o = _options(op, tflite.VarHandleOptions)
        return tuple((s or b"").decode("utf-8", "replace") for s in (o.Container(), o.SharedName()))

    def resource(self, what: str, index: int) -> dict:
        """The resource variable whose handle tensor index (of the current frame) a VAR_HANDLE gave."""
        name = self.handles.get(self.key(index)) if index >= 0 else None
        if name is None:
            raise CompileError(f"{what}: its resource input is no VAR_HANDLE's output")
        return self.variables.setdefault(name, dict(name=name, initial=None, tensor=None, form=None, value=None,
                                                    assign=None))

    @staticmethod
    def variable_label(v: dict) -> str:
        container, shared = v["name"]
        return repr(f"{container}/{shared}" if container else shared)

    def call_once(self, op):
        """CALL_ONCE(init): the init subgraph runs on the first invoke only. Taken where it only gives resource
        variables constant initial values (VAR_HANDLE, ASSIGN_VARIABLE of a constant): TFLite Micro's streaming
        models' pattern. The values are checked (variable_tensor) to be real 0, which microflat's variables start
        (and reset) at."""
        index = _options(op, tflite.CallOnceOptions).InitSubgraphIndex()
        graph = self.callee("CALL_ONCE", index)
        if graph.InputsLength() or graph.OutputsLength():
            raise CompileError(f"CALL_ONCE: its init subgraph {index} has inputs or outputs")
        handles = {}
        for i in range(graph.OperatorsLength()):
            init_op = graph.Operators(i)
            name = self.opcode_name(init_op)
            ins = [int(k) for k in init_op.InputsAsNumpy()] if init_op.InputsLength() else []
            outs = [int(k) for k in init_op.OutputsAsNumpy()] if init_op.OutputsLength() else []
            if name == "VAR_HANDLE" and len(outs) == 1:
                handles[outs[0]] = self.variable_name(init_op)
            elif name == "ASSIGN_VARIABLE" and len(ins) == 2 and ins[0] in handles:
                value = _Tensor(self.model, graph, ins[1], (-1, ins[1]))
                v = self.variables.setdefault(handles[ins[0]], dict(name=handles[ins[0]], initial=None, tensor=None,
                                                                    form=None, value=None, assign=None))
                if value.data is None:
                    raise CompileError(f"CALL_ONCE: its init subgraph {index} assigns variable "
                                       f"{self.variable_label(v)} a value that is not a constant")
                if v["tensor"] is not None or v["value"] is not None:
                    raise CompileError(f"CALL_ONCE: its init subgraph {index} assigns variable "
                                       f"{self.variable_label(v)} after the model used it")
                v["initial"] = value
            else:
                raise CompileError(f"CALL_ONCE: its init subgraph {index} runs {name}; microflat takes an init that "
                                   f"only assigns resource variables constants (VAR_HANDLE, ASSIGN_VARIABLE)")

    def var_handle(self, op):
        if op.InputsLength() or op.OutputsLength() != 1:
            raise CompileError("VAR_HANDLE: one output and no inputs")
        index = int(op.OutputsAsNumpy()[0])
        frame, at = self.key(index)
        graph = self.model.Subgraphs(self.frames[frame])
        if not 0 <= at < graph.TensorsLength() or graph.Tensors(at).Type() != _RESOURCE:
            raise CompileError(f"VAR_HANDLE: its output {at} is not a RESOURCE tensor")
        self.handles[(frame, at)] = self.variable_name(op)

    def variable_tensor(self, v: dict, t: _Tensor, what: str) -> int:
        """Variable v's microflat variable (made at its first use, with t's dtype, shape and quantization, which
        every later use must have: TFLite copies the raw values). Its initial values must be real 0."""
        form = (t.dtype, t.shape, t.quant)
        label = self.variable_label(v)
        if v["form"] is not None and v["form"] != form:
            raise CompileError(f"{what}: variable {label} is used as {form}, elsewhere as {v['form']}")
        if v["tensor"] is None:
            if t.dtype not in _RANGES:
                raise CompileError(f"{what}: variable {label} is {t.dtype}; microflat's variables from resource "
                                   f"variables are int8 or int16")
            initial = v["initial"]
            if initial is not None and (initial.dtype != t.dtype or initial.shape != t.shape or
                                        np.any(initial.data != t.zero_point)):
                raise CompileError(f"{what}: variable {label} starts at values other than real 0 ({t.dtype} "
                                   f"{t.shape} at zero point {t.zero_point}), where microflat's variables start")
            v["form"] = form
            v["tensor"] = self.w.add_tensor(f"{v['name'][1] or t.name}:variable", t.dtype, t.shape, **t.quant)
            self.w.tensors[v["tensor"]]["variable"] = True
        return v["tensor"]

    def read_variable(self, op):
        """READ_VARIABLE: its output is the variable itself (no copy); after this invoke's ASSIGN_VARIABLE, the
        value assigned (TFLite's variable holds it from then on)."""
        if op.InputsLength() != 1 or op.OutputsLength() != 1:
            raise CompileError("READ_VARIABLE: one input and one output")
        y = self.tensor(int(op.OutputsAsNumpy()[0]))
        what = f"READ_VARIABLE {y.name!r}"
        v = self.resource(what, int(op.InputsAsNumpy()[0]))
        if y.key in self.ids or y.data is not None:
            raise CompileError(f"{what}: its output is written by another operator or a constant")
        if v["value"] is None and v["initial"] is None:
            raise CompileError(f"{what}: variable {self.variable_label(v)} is read before any value is assigned "
                               f"(no CALL_ONCE initializes it)")
        var = self.variable_tensor(v, y, what)
        self.ids[y.key] = var if v["value"] is None else v["value"]

    def assign_variable(self, op):
        """ASSIGN_VARIABLE: microflat's, once per variable an invoke (its rule: FORMAT.md, "Variables")."""
        if op.InputsLength() != 2 or op.OutputsLength():
            raise CompileError("ASSIGN_VARIABLE: two inputs and no outputs")
        res, value_index = (int(i) for i in op.InputsAsNumpy())
        x = self.tensor(value_index)
        what = f"ASSIGN_VARIABLE {x.name!r}"
        v = self.resource(what, res)
        if v["value"] is not None:
            raise CompileError(f"{what}: variable {self.variable_label(v)} is assigned twice; microflat assigns a "
                               f"variable once an invoke")
        var = self.variable_tensor(v, x, what)
        v["value"] = self.activation(x)
        v["assign"] = self.w.add_operator("ASSIGN_VARIABLE", [v["value"]], [var])

    def check_variables(self, interface: list[int]):
        """microflat's rules for variables (docs/FORMAT.md): never a model input or output, nothing reads one after
        its ASSIGN_VARIABLE (a value READ_VARIABLE gave before it, used after: TFLite's copy, microflat's variable)."""
        for v in self.variables.values():
            if v["tensor"] is None:
                continue
            label = self.variable_label(v)
            if v["tensor"] in interface:
                raise CompileError(f"variable {label}: a value READ_VARIABLE gives is a model input or output, which "
                                   f"a microflat variable cannot be")
            if v["assign"] is not None and any(v["tensor"] in op["inputs"]
                                               for op in self.w.operators[v["assign"] + 1:]):
                raise CompileError(f"variable {label}: an operator after its ASSIGN_VARIABLE reads the value "
                                   f"READ_VARIABLE gave before it, which microflat's variable no longer holds")

    def check_int16_form(self, op, name: str):
        """An op outside _INT16_FORMS touching an int16 tensor is refused: its 16x8 form is none microflat has."""
        if name in _INT16_FORMS or name in _CHECKS_OWN_DTYPES:
            return
        ins, outs = self.io(op)
        if any(t is not None and t.dtype == "int16" for t in ins + outs):
            raise CompileError(f"{name} {outs[0].name!r}: its int16 form (TFLite's 16x8 mode) is not one microflat's "
                               f"runtime has")

    def opcode_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM:
            return f"CUSTOM:{(code.CustomCode() or b'').decode('utf-8', 'replace')}"
        return tflite.opcode2name(builtin)


REFERENCES = ("tflite-micro", "litert")  # compile_tflite's reference


def compile_tflite(source, *, weight_encoding: str = "auto", name: str | None = None,
                   reference: str = "tflite-micro") -> bytes:
    """A .tflite file (a path, or its bytes) as .mfb bytes, bit-exact with TFLite Micro's int8 and 16x8 reference
    kernels (module docstring), or, with reference="litert", with LiteRT's reference kernels (its BUILTIN_REF op
    resolver) where the two differ and microflat can follow LiteRT. name: what error messages call the file
    (default: its path). Raises CompileError, naming the file, for a file it cannot map or cannot read (a damaged
    file included)."""
    if reference not in REFERENCES:
        raise CompileError(f"reference {reference!r} is not one of {', '.join(REFERENCES)}")
    if tflite is None:
        raise CompileError("reading .tflite files needs the compiler extra (pip install microflat[compiler])")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, what = bytes(source), name or "the .tflite file"
    else:
        what = name or str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise CompileError(f"cannot read {what}: {e.strerror or e}") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise CompileError(f"{what} is not a TFLite model (its bytes 4 to 8 are not the identifier TFL3)")
    try:
        importer = _Importer(data, weight_encoding)
        importer.reference = reference
        return importer.run()
    except MicroflatError as e:
        raise CompileError(f"{what}: {e}") from None
    except Exception as e:  # the flatbuffers reader on a damaged file: IndexError, struct.error, ...
        raise CompileError(f"{what} is damaged: {type(e).__name__}: {e}") from None
