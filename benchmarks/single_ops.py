"""One operator, built twice at the same quantization: as a .mfb (microflat's ModelWriter) and as a .tflite
(tflite_builder.py), with int8 inputs and outputs (no QUANTIZE / DEQUANTIZE around it).

    pair = build("SUB", "speed")              # the realistic shape of op_speed.py's table, fixed quantization
    pair = build("SUB", "small", quant, seed) # a small shape, the quantization tests/test_litert_ops.py draws
    pair.mfb, pair.tflite, pair.inputs        # file bytes, and random inputs valid for both

Operators are named as TFLite names them (HARD_SWISH, MEAN: microflat's HARDSWISH and REDUCE_MEAN). SILU is
not a TFLite builtin: its .tflite is LOGISTIC then MUL (what a converter emits for x * sigmoid(x)), which
rounds twice, so its output is compared but not expected to match. STRIDED_SLICE and GATHER exist only once
the runtime has them (AVAILABLE); every other op of NEW_OPS is in microflat's format.

The multipliers are computed from the float32 scales in float64, in TFLite's order of operations (each
helper's docstring in microflat.kernels names the TFLite Prepare it follows), so that an op that is exact in
TFLite's sense gives the same bytes.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tflite_builder import PADDING, TFLiteBuilder  # noqa: E402

from microflat import kernels as K  # noqa: E402
from microflat.compiler.writer import ModelWriter  # noqa: E402
from microflat.kernels.lut import lut_function  # noqa: E402
from microflat.runtime.ops import OP_DEFS  # noqa: E402

BINARY = ("SUB", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE")
# TFLite name -> (microflat opcode, kernels.lut function, its parameters)
TABLES = {
    "GELU": ("GELU", "gelu", {}),
    "SILU": ("SILU", "silu", {}),
    "HARD_SWISH": ("HARDSWISH", "hardswish", {}),
    "LEAKY_RELU": ("LEAKY_RELU", "leaky_relu", {"alpha": float(np.float32(0.1))}),  # alpha as TFLite stores it
    "ELU": ("ELU", "elu", {"alpha": 1.0}),
    "RELU": ("RELU", "clamp", {"lo": 0.0, "hi": math.inf}),
    "RELU6": ("RELU6", "clamp", {"lo": 0.0, "hi": 6.0}),
    "RSQRT": ("RSQRT", "rsqrt", {"eps": 0.0}),  # TFLite's RSQRT has no epsilon
    "LOGISTIC": ("LOGISTIC", "logistic", {}),
    "TANH": ("TANH", "tanh", {}),
}
FIXED_OUTPUT = {"LOGISTIC": (1.0 / 256.0, -128), "TANH": (1.0 / 128.0, 0)}  # TFLite's int8 rule
NEW_OPS = ("TRANSPOSE", *BINARY, "TRANSPOSE_CONV", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "BATCH_MATMUL",
           "SUM", "REDUCE_MAX", "MEAN", *TABLES, "STRIDED_SLICE", "GATHER")
SLICING = ("STRIDED_SLICE", "GATHER")


def slicing_in_format() -> bool:
    return "STRIDED_SLICE" in OP_DEFS


def available(ops=NEW_OPS) -> list[str]:
    """The ops of `ops` microflat's format has now (STRIDED_SLICE and GATHER are being wired in)."""
    return [op for op in ops if op not in SLICING or slicing_in_format()]


def f32(v) -> float:
    return float(np.float32(v))


@dataclass(frozen=True)
class Q:
    """A tensor's quantization: a float32 scale and a zero point."""
    scale: float
    zero_point: int

    @staticmethod
    def of(scale, zero_point) -> "Q":
        return Q(f32(scale), int(zero_point))


def multiplier(*factors_over_divisor) -> tuple[int, int]:
    """quantize_multiplier of prod(numerators) / divisor, each a float32 value, in float64 (TFLite's doubles)."""
    *num, den = (np.float64(v) for v in factors_over_divisor)
    r = np.float64(1.0)
    for v in num:
        r = r * v
    return K.quantize_multiplier(float(r / den))


# --- shapes -------------------------------------------------------------------------------------------------

# op -> {geometry: parameters}. "speed": the realistic shape of op_speed.py and op_cost.py; "small": the
# test's. WHY says why the speed shape is realistic (op_speed.md prints it).
ELEMENTWISE = {"speed": (1, 32, 32, 16), "small": (1, 3, 5, 4)}
SHAPES = {
    "TRANSPOSE": {"speed": ((1, 16, 16, 32), (0, 3, 1, 2)), "small": ((1, 3, 4, 5), (0, 3, 1, 2))},
    "TRANSPOSE_CONV": {"speed": dict(x=(1, 8, 8, 32), out=(1, 16, 16, 16), k=3, stride=2),
                       "small": dict(x=(1, 3, 4, 5), out=(1, 6, 8, 3), k=3, stride=2)},
    "BATCH_MATMUL": {"speed": ((1, 4, 16, 8), (1, 4, 8, 16)), "small": ((1, 2, 3, 5), (1, 2, 5, 4))},
    "RESIZE_NEAREST_NEIGHBOR": {"speed": ((1, 16, 16, 32), (32, 32)), "small": ((1, 3, 5, 4), (7, 9))},
    "RESIZE_BILINEAR": {"speed": ((1, 16, 16, 32), (32, 32)), "small": ((1, 3, 5, 4), (7, 9))},
    "SUM": {"speed": ((1, 16, 16, 32), (3,)), "small": ((1, 3, 5, 6), (3,))},
    "REDUCE_MAX": {"speed": ((1, 16, 16, 32), (1, 2)), "small": ((1, 3, 5, 6), (1, 2))},
    "MEAN": {"speed": ((1, 16, 16, 32), (1, 2)), "small": ((1, 3, 5, 6), (1, 2))},
    "STRIDED_SLICE": {"speed": ((1, 32, 32, 16), (0, 0, 0, 0), (1, 32, 32, 16), (1, 2, 2, 1)),
                      "small": ((1, 5, 7, 4), (0, 1, 0, 1), (1, 5, 7, 4), (1, 2, 3, 2))},
    "GATHER": {"speed": ((64, 32), 16), "small": ((10, 6), 5)},
}
WHY = {
    "TRANSPOSE": "NHWC -> NCHW of a 16x16x32 feature map: the permute before a PyTorch flatten",
    "BINARY": "two 32x32x16 feature maps of the same shape (a residual or gating branch)",
    "TRANSPOSE_CONV": "8x8x32 -> 16x16x16, 3x3, stride 2 (TFLite SAME): a decoder's 2x upsampling layer",
    "BATCH_MATMUL": "[1, 4, 16, 8] x [1, 4, 8, 16]: q k^T of 4 heads, 16 tokens, head size 8",
    "RESIZE_NEAREST_NEIGHBOR": "16x16x32 -> 32x32: nn.Upsample(scale_factor=2) of a decoder",
    "RESIZE_BILINEAR": "16x16x32 -> 32x32, half-pixel centres: F.interpolate(bilinear) of a decoder / FPN",
    "SUM": "[1, 16, 16, 32] over channels (axis 3, kept): a channel sum, as attention maps take it",
    "REDUCE_MAX": "[1, 16, 16, 32] over H, W (kept): global max pooling",
    "MEAN": "[1, 16, 16, 32] over H, W (kept): global average pooling (TFLite's MEAN; microflat REDUCE_MEAN)",
    "TABLES": "a 32x32x16 feature map: one activation layer",
    "STRIDED_SLICE": "[1, 32, 32, 16] with strides (1, 2, 2, 1): a space-to-depth style subsampling",
    "GATHER": "a 64 x 32 embedding table, 16 token ids: nn.Embedding",
}


def why(op: str) -> str:
    return WHY["BINARY" if op in BINARY else "TABLES" if op in TABLES else op]


def geometry(op: str, which: str):
    return SHAPES[op][which] if op in SHAPES else ELEMENTWISE[which]


# --- quantizations -------------------------------------------------------------------------------------------

def default_quant(op: str) -> dict:
    """The fixed quantization of the benchmarks: scales as calibration gives them (no round ratios, which would put
    many values on exact rounding ties), ranges that fit random data."""
    x, x2 = Q.of(0.0473, -3), Q.of(0.0391, 5)
    if op in ("TRANSPOSE", "MAXIMUM", "MINIMUM", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "REDUCE_MAX",
              "STRIDED_SLICE", "GATHER"):
        return dict(x=x)
    if op == "SUB":
        return dict(x=x, x2=x2, y=Q.of(0.0987, 1))
    if op == "SQUARED_DIFFERENCE":
        return dict(x=x, x2=x2, y=Q.of(0.5123, -128))
    if op == "TRANSPOSE_CONV":
        return dict(x=x, w=0.0041, y=Q.of(0.2871, 2))
    if op == "BATCH_MATMUL":
        return dict(x=x, x2=x2, y=Q.of(0.2436, 0))
    if op == "SUM":
        return dict(x=x, y=Q.of(0.3957, 0))
    if op == "MEAN":
        return dict(x=x, y=Q.of(0.0213, -4))
    if op in TABLES:
        xin = Q.of(0.0473, -128) if op == "RSQRT" else x  # TFLite's RSQRT refuses inputs below the zero point
        return dict(x=xin, y=table_output_quant(op, xin))
    raise KeyError(op)


def table_output_quant(op: str, x: Q) -> Q:
    """The output quantization a min/max calibration gives a table activation over its 256 inputs (LOGISTIC and
    TANH: TFLite's fixed one)."""
    if op in FIXED_OUTPUT:
        return Q.of(*FIXED_OUTPUT[op])
    _, fn, params = TABLES[op]
    r = x.scale * (np.arange(-128, 128, dtype=np.float64) - x.zero_point)
    with np.errstate(divide="ignore", over="ignore"):
        v = lut_function(fn, **params)(r)
    v = v[np.isfinite(v)]
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    if op == "RSQRT":
        hi = min(hi, 64.0)  # 1 / sqrt(x) near 0: the top saturates, as calibration on real data would let it
    # A function that is constant on this input range (RELU with zp_in = 127) still gets a sane scale: at least a
    # sixteenth of the input's span, as a converter's minimum range would give it.
    scale = f32(max(hi - lo, 16 * x.scale) / 255.0)
    return Q.of(scale, int(np.clip(round(-128 - lo / scale), -128, 127)))


# --- the pair ------------------------------------------------------------------------------------------------

@dataclass
class Pair:
    op: str
    mfb: bytes
    tflite: bytes | None
    tflite_ops: str  # what the .tflite holds
    inputs: list  # one array per model input (int8, or int32 ids for GATHER)
    units: int  # output elements, or MACs
    unit: str  # "element" or "MAC"
    shape: str
    input_ranges: list = field(default_factory=list)  # (lo, hi) inclusive, per input: what is valid for both


class _Both:
    """A ModelWriter and a TFLiteBuilder side by side: activations go to both under the same name."""

    def __init__(self):
        self.m, self.t = ModelWriter(), TFLiteBuilder()

    def act(self, name, shape, q: Q | None, dtype="int8"):
        kw = {} if q is None else dict(scale=q.scale, zero_point=q.zero_point)
        return self.m.add_tensor(name, dtype, shape, **kw), self.t.tensor(name, dtype, shape, **kw)

    def tconst(self, name, values):
        return self.t.constant(name, np.asarray(values, np.int32))


def _random(rng, shape, lo=-128, hi=127, dtype=np.int8):
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def build(op: str, which: str = "speed", quant: dict | None = None, seed: int = 0) -> Pair:
    """The op at geometry `which` ("speed" or "small") and quantization `quant` (default_quant(op) by default),
    with random inputs drawn from `seed`."""
    q = dict(default_quant(op), **(quant or {}))
    rng = np.random.default_rng(seed)
    g = geometry(op, which)
    b = _Both()
    ranges = None
    tflite_ops = op
    if op == "TRANSPOSE":
        shape, perm = g
        out = tuple(shape[p] for p in perm)
        (xm, xt), (ym, yt) = b.act("x", shape, q["x"]), b.act("y", out, q["x"])
        b.m.add_operator("TRANSPOSE", [xm], [ym], "TransposeOptions", dict(perm=np.array(perm, np.int32)))
        b.t.operator("TRANSPOSE", [xt, b.tconst("perm", perm)], [yt], "TransposeOptions")
        shapes, units, unit, desc = [shape], int(np.prod(out)), "element", f"{list(shape)} perm {perm}"
    elif op in BINARY:
        shape = g
        qx = q["x"]
        qx2 = qx if op in ("MAXIMUM", "MINIMUM") else q["x2"]
        qy = qx if op in ("MAXIMUM", "MINIMUM") else q["y"]
        (am, at), (bm, bt), (ym, yt) = b.act("a", shape, qx), b.act("b", shape, qx2), b.act("y", shape, qy)
        if op == "SUB":
            b.m.add_operator("SUB", [am, bm], [ym], "AddOptions", dict(K.sub_params(qx.scale, qx2.scale, qy.scale)))
            b.t.operator("SUB", [at, bt], [yt], "SubOptions")
        elif op == "SQUARED_DIFFERENCE":
            b.m.add_operator(op, [am, bm], [ym], "SquaredDifferenceOptions",
                             dict(K.squared_difference_params(qx.scale, qx2.scale, qy.scale)))
            b.t.operator(op, [at, bt], [yt], "SquaredDifferenceOptions")
        else:
            b.m.add_operator(op, [am, bm], [ym])
            b.t.operator(op, [at, bt], [yt], "MaximumMinimumOptions")
        shapes, units, unit, desc = [shape, shape], int(np.prod(shape)), "element", f"2 x {list(shape)}"
    elif op == "TRANSPOSE_CONV":
        x, out, k, s = g["x"], g["out"], g["k"], g["stride"]
        cin, cout = x[3], out[3]
        w = _random(rng, (cout, k, k, cin), -127, 127)
        ws = np.array([f32(q["w"] * f) for f in rng.uniform(0.5, 1.5, cout)], np.float32)
        bias = rng.integers(-3000, 3000, cout).astype(np.int32)
        qx, qy = q["x"], q["y"]
        # TFLite derives the padding from the output shape (padding.h with the output as the conv's input, SAME)
        pads = [max((-(-o // s) - 1) * s + k - o, 0) // 2 for o in out[1:3]]
        mult, shift = K.quantize_multipliers([np.float64(qx.scale) * np.float64(v) / np.float64(qy.scale) for v in ws])
        (xm, xt), (ym, yt) = b.act("x", x, qx), b.act("y", out, qy)
        wm = b.m.add_constant("w", w, scale=ws, zero_point=0, axis=0)
        bm = b.m.add_constant("bias", bias)
        b.m.add_operator("TRANSPOSE_CONV", [xm, wm, bm], [ym], "TransposeConvOptions",
                         dict(stride_h=s, stride_w=s, pad_top=pads[0], pad_left=pads[1], output_mult=mult,
                              output_shift=shift))
        wt = b.t.constant("w", w, scale=ws, zero_point=np.zeros(cout, np.int64), axis=0)
        bt = b.t.constant("bias", bias, scale=(np.float64(qx.scale) * ws.astype(np.float64)).astype(np.float32),
                          zero_point=np.zeros(cout, np.int64), axis=0)
        b.t.operator("TRANSPOSE_CONV", [b.tconst("output_shape", out), wt, xt, bt], [yt], "TransposeConvOptions",
                     dict(padding=PADDING["SAME"], stride_w=s, stride_h=s))
        shapes, unit = [x], "MAC"
        units = int(np.prod(x)) * k * k * cout
        desc = f"{x[1]}x{x[2]}x{cin} -> {out[1]}x{out[2]}x{cout}, {k}x{k} stride {s}"
    elif op == "BATCH_MATMUL":
        ls, rs = g
        out = ls[:-1] + rs[-1:]
        qx, qx2, qy = q["x"], q["x2"], q["y"]
        mult, shift = multiplier(qx.scale, qx2.scale, qy.scale)
        (am, at), (bm, bt), (ym, yt) = b.act("lhs", ls, qx), b.act("rhs", rs, qx2), b.act("y", out, qy)
        b.m.add_operator(op, [am, bm], [ym], "BatchMatMulOptions", dict(output_mult=mult, output_shift=shift))
        b.t.operator(op, [at, bt], [yt], "BatchMatMulOptions")
        shapes, unit = [ls, rs], "MAC"
        units = int(np.prod(out)) * ls[-1]
        desc = f"{list(ls)} x {list(rs)}"
    elif op in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        shape, size = g
        out = (shape[0], *size, shape[3])
        half = op == "RESIZE_BILINEAR"  # PyTorch's bilinear (align_corners=False); its nearest is floor(i * in / out)
        (xm, xt), (ym, yt) = b.act("x", shape, q["x"]), b.act("y", out, q["x"])
        b.m.add_operator(op, [xm], [ym], "ResizeOptions", dict(half_pixel_centers=half or None))
        table = "ResizeBilinearOptions" if half else "ResizeNearestNeighborOptions"
        b.t.operator(op, [xt, b.tconst("size", size)], [yt], table, dict(half_pixel_centers=int(half)))
        shapes, units, unit = [shape], int(np.prod(out)), "element"
        desc = f"{shape[1]}x{shape[2]}x{shape[3]} -> {size[0]}x{size[1]}" + (", half-pixel" if half else "")
    elif op in ("SUM", "REDUCE_MAX", "MEAN"):
        shape, axes = g
        out = tuple(1 if d in axes else n for d, n in enumerate(shape))
        qx = q["x"]
        qy = qx if op == "REDUCE_MAX" else q["y"]
        (xm, xt), (ym, yt) = b.act("x", shape, qx), b.act("y", out, qy)
        opts = dict(axes=np.array(axes, np.int32))
        if op == "SUM":
            p = K.reduce_sum_params(qx.scale, qx.zero_point, qy.scale, qy.zero_point)
            opts.update(mult=p["mult"], shift=p["shift"])
        elif op == "MEAN":
            n = int(np.prod([shape[a] for a in axes]))
            p = K.reduce_mean_params(qx.scale, qx.zero_point, qy.scale, qy.zero_point, n)
            opts.update(mult=p["mult"], shift=p["shift"])
        b.m.add_operator("REDUCE_MEAN" if op == "MEAN" else op, [xm], [ym], "ReduceOptions", opts)
        b.t.operator(op, [xt, b.tconst("axes", axes)], [yt], "ReducerOptions", dict(keep_dims=1))
        shapes, units, unit = [shape], int(np.prod(shape)), "element"  # per input element: the work is the sum
        desc = f"{list(shape)} axes {axes}"
    elif op in TABLES:
        shape = g
        opcode, fn, params = TABLES[op]
        qx, qy = q["x"], q["y"]
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            table = K.build_lut_s8(fn, qx.scale, qx.zero_point, qy.scale, qy.zero_point, **params)
        (xm, xt), (ym, yt) = b.act("x", shape, qx), b.act("y", shape, qy)
        b.m.add_operator(opcode, [xm, b.m.add_constant("table", table)], [ym])
        if op == "SILU":
            s = Q.of(*FIXED_OUTPUT["LOGISTIC"])
            st = b.t.tensor("sigmoid", "int8", shape, scale=s.scale, zero_point=s.zero_point)
            b.t.operator("LOGISTIC", [xt], [st])
            b.t.operator("MUL", [xt, st], [yt], "MulOptions")
            tflite_ops = "LOGISTIC + MUL"
        elif op == "GELU":
            b.t.operator(op, [xt], [yt], "GeluOptions", dict(approximate=0))
        elif op == "HARD_SWISH":
            b.t.operator(op, [xt], [yt], "HardSwishOptions")
        elif op == "LEAKY_RELU":
            b.t.operator(op, [xt], [yt], "LeakyReluOptions", dict(alpha=params["alpha"]))
        else:
            b.t.operator(op, [xt], [yt])
        shapes, units, unit, desc = [shape], int(np.prod(shape)), "element", f"{list(shape)}"
        if op == "RSQRT":
            ranges = [(qx.zero_point, 127)]
    elif op == "STRIDED_SLICE":
        shape, begin, end, strides = g
        out = tuple(len(range(bg, e, s)) for bg, e, s in zip(begin, end, strides))
        (xm, xt), (ym, yt) = b.act("x", shape, q["x"]), b.act("y", out, q["x"])
        b.m.add_operator(op, [xm], [ym], "StridedSliceOptions",
                         dict(begin=np.array(begin, np.int32), strides=np.array(strides, np.int32)))
        b.t.operator(op, [xt, b.tconst("begin", begin), b.tconst("end", end), b.tconst("strides", strides)], [yt],
                     "StridedSliceOptions")
        shapes, units, unit = [shape], int(np.prod(out)), "element"
        desc = f"{list(shape)} strides {strides}"
    elif op == "GATHER":
        (rows, cols), count = g
        table = _random(rng, (rows, cols))
        qx = q["x"]
        pm = b.m.add_constant("table", table, scale=qx.scale, zero_point=qx.zero_point)
        pt = b.t.constant("table", table, scale=qx.scale, zero_point=qx.zero_point)
        (im, it) = b.act("ids", (count,), None, "int32")
        (ym, yt) = b.act("y", (count, cols), qx)
        b.m.add_operator(op, [pm, im], [ym], "GatherOptions", dict(axis=None))
        b.t.operator(op, [pt, it], [yt], "GatherOptions", dict(axis=0))
        shapes, units, unit = [(count,)], count * cols, "element"
        ranges = [(0, rows - 1)]
        desc = f"{rows}x{cols} table, {count} ids"
    else:
        raise KeyError(f"unknown op {op!r}; choose from {NEW_OPS}")
    ranges = ranges or [(-128, 127)] * len(shapes)
    inputs_m = [i for i in range(len(b.m.tensors)) if "buffer" not in b.m.tensors[i]
                and b.m.tensors[i]["name"] not in ("y",)]
    inputs_t = [i for i, t in enumerate(b.t.tensors) if t["buffer"] == 0 and t["name"] not in ("y", "sigmoid")]
    outputs_m = [i for i, t in enumerate(b.m.tensors) if t["name"] == "y"]
    outputs_t = [i for i, t in enumerate(b.t.tensors) if t["name"] == "y"]
    b.m.set_io(inputs_m, outputs_m)
    b.t.set_io(inputs_t, outputs_t)
    dtype = np.int32 if op == "GATHER" else np.int8
    inputs = [_random(rng, s, lo, hi, dtype) for s, (lo, hi) in zip(shapes, ranges)]
    return Pair(op, b.m.to_bytes(), b.t.to_bytes(), tflite_ops, inputs, units, unit, desc, ranges)


def mfb_opcode(op: str) -> str:
    """microflat's name of a TFLite op."""
    return TABLES[op][0] if op in TABLES else "REDUCE_MEAN" if op == "MEAN" else op
