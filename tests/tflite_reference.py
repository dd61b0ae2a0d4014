"""Read parameter counts, MACs and input quantization from a .tflite file.

Independent of microflat: the TFLite schema (tensorflow/lite/schema/schema.fbs)
read field by field with the flatbuffers package. Field numbers used:
  Model: operator_codes 1, subgraphs 2, buffers 4
  OperatorCode: deprecated_builtin_code 0 (int8), builtin_code 3 (int32)
  SubGraph: tensors 0, inputs 1, operators 3
  Tensor: shape 0, buffer 2, quantization 4;  QuantizationParameters: scale 2, zero_point 3
  Operator: opcode_index 0, inputs 1, outputs 2;  Buffer: data 0
Builtin codes: CONV_2D 3, DEPTHWISE_CONV_2D 4, FULLY_CONNECTED 9.
"""

from __future__ import annotations

import os

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED = 3, 4, 9
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reference_dir() -> str:
    """The MLPerf Tiny reference models: $MICROFLAT_MLPERF_TINY, else shared/ beside the
    checkout (../shared from the project root), else the workplace's /work/shared."""
    candidates = [os.environ.get("MICROFLAT_MLPERF_TINY"),
                  os.path.join(_ROOT, "..", "shared", "models", "mlperf_tiny"),
                  "/work/shared/models/mlperf_tiny"]
    for c in candidates:
        if c and os.path.isdir(c):
            return os.path.abspath(c)
    return os.path.abspath(candidates[1])


def _field(t: Table, i):
    return t.Offset(4 + 2 * i)


def _tables(t: Table, i):
    o = _field(t, i)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * k)) for k in range(n)]


def _ints(t: Table, i, kind=N.Int32Flags, size=4):
    o = _field(t, i)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [t.Get(kind, start + size * k) for k in range(n)]


def _scalar(t: Table, i, kind, default=0):
    o = _field(t, i)
    return t.Get(kind, t.Pos + o) if o else default


def read(path):
    """{'params': weights + biases of conv/depthwise/FC, 'macs': their multiply-accumulates, 'input_scale': float, 'input_zero_point': int, 'input_shape': tuple}."""
    buf = bytearray(open(path, "rb").read())
    model = Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    codes = []
    for c in _tables(model, 1):
        dep = _scalar(c, 0, N.Int8Flags)
        codes.append(max(dep, _scalar(c, 3, N.Int32Flags)))
    buffers = _tables(model, 4)
    (graph,) = _tables(model, 2)
    tensors = _tables(graph, 0)
    shapes = [tuple(_ints(t, 0)) for t in tensors]

    def has_data(ti):
        b = buffers[_scalar(tensors[ti], 2, N.Uint32Flags)]
        o = _field(b, 0)
        return bool(o) and b.VectorLen(o) > 0

    def size(shape):
        n = 1
        for d in shape:
            n *= d
        return n

    params = macs = 0
    for op in _tables(graph, 3):
        code = codes[_scalar(op, 0, N.Uint32Flags)]
        ins, outs = _ints(op, 1), _ints(op, 2)
        if code not in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED):
            continue
        params += sum(size(shapes[i]) for i in ins[1:] if i >= 0 and has_data(i))  # weights and bias
        out = size(shapes[outs[0]])
        w = shapes[ins[1]]
        if code == CONV_2D:
            macs += out * w[1] * w[2] * w[3]
        elif code == DEPTHWISE_CONV_2D:
            macs += out * w[1] * w[2]
        elif code == FULLY_CONNECTED:
            macs += out * w[1]
    inp = tensors[_ints(graph, 1)[0]]
    q = Table(inp.Bytes, inp.Indirect(inp.Pos + _field(inp, 4)))
    scale = [q.Get(N.Float32Flags, q.Vector(_field(q, 2)) + 4 * k) for k in range(q.VectorLen(_field(q, 2)))]
    zps = _ints(q, 3, N.Int64Flags, 8)
    return {"params": params, "macs": macs, "input_scale": float(scale[0]), "input_zero_point": int(zps[0]),
            "input_shape": shapes[_ints(graph, 1)[0]]}


def layers(path):
    """Every conv, depthwise and FC layer of a .tflite, in op order: dict(code, weight (int8, the file's layout:
    conv OHWI, depthwise [1, H, W, C], FC [out, in]), weight_scale (float32 per output channel), bias (int32 or
    None), input_scale)."""
    import numpy as np

    buf = bytearray(open(path, "rb").read())
    model = Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    codes = [max(_scalar(c, 0, N.Int8Flags), _scalar(c, 3, N.Int32Flags)) for c in _tables(model, 1)]
    buffers = _tables(model, 4)
    (graph,) = _tables(model, 2)
    tensors = _tables(graph, 0)

    def data(ti, dtype):
        b = buffers[_scalar(tensors[ti], 2, N.Uint32Flags)]
        o = _field(b, 0)
        start, n = b.Vector(o), b.VectorLen(o)
        return np.frombuffer(bytes(buf[start:start + n]), dtype).reshape(tuple(_ints(tensors[ti], 0)))

    def scales(ti):
        t = tensors[ti]
        q = Table(t.Bytes, t.Indirect(t.Pos + _field(t, 4)))
        o = _field(q, 2)
        return np.array([q.Get(N.Float32Flags, q.Vector(o) + 4 * k) for k in range(q.VectorLen(o))], np.float32)

    out = []
    for op in _tables(graph, 3):
        code = codes[_scalar(op, 0, N.Uint32Flags)]
        if code not in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED):
            continue
        ins = _ints(op, 1)
        bias = data(ins[2], "<i4") if len(ins) > 2 and ins[2] >= 0 else None
        out.append(dict(code=code, weight=data(ins[1], np.int8), weight_scale=scales(ins[1]), bias=bias,
                        input_scale=float(scales(ins[0])[0])))
    return out
