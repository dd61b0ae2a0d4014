"""A minimal writer of .tflite files (single operators, int8; several subgraphs), with the flatbuffers package's
Builder only.

Independent of microflat's runtime: the TFLite schema (tensorflow/lite/schema/schema.fbs, file identifier
"TFL3", Model version 3) hand-coded, table by table, as tests/tflite_reference.py reads it. Field numbers
(vtable slots) used, each table's fields in the schema's order:

  Model:       version 0 (uint), operator_codes 1, subgraphs 2, description 3, buffers 4
  OperatorCode: deprecated_builtin_code 0 (byte: min(code, 127)), custom_code 1, version 2 (int = 1),
               builtin_code 3 (int)
  SubGraph:    tensors 0, inputs 1, outputs 2, operators 3, name 4
  Tensor:      shape 0, type 1 (byte), buffer 2 (uint; 0 = the empty buffer), name 3, quantization 4
  QuantizationParameters: min 0, max 1, scale 2 ([float]), zero_point 3 ([long]), details_type 4,
               details 5, quantized_dimension 6 (int)
  Buffer:      data 0 ([ubyte], 16-byte aligned here)
  Operator:    opcode_index 0 (uint), inputs 1, outputs 2, builtin_options_type 3 (ubyte),
               builtin_options 4, builtin_options_2_type 11 (ubyte), builtin_options_2 12

TensorType: FLOAT32 0, INT16 7, INT32 2, INT8 9 (TFLite wants int16 activations with zero point 0). A union is
two slots: its type (the member's index, 1-based; 0 is NONE), then the offset of the member table.

Constant inputs (TRANSPOSE's perm, a reduction's axes, RESIZE's size, STRIDED_SLICE's begin / end /
strides, TRANSPOSE_CONV's output_shape, filters and biases) are tensors with buffers, as TFLite wants. A
filter's zero point may be non-zero (FULLY_CONNECTED's per-tensor asymmetric weights, tests/test_fc_weight_zp.py).
Checked against the generated schema of the ai-edge-litert wheel by tests/test_litert_ops.py.

    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (1, 8, 8, 4), scale=0.05, zero_point=-3)
    y = b.tensor("y", "int8", (1, 4, 8, 8), scale=0.05, zero_point=-3)
    b.operator("TRANSPOSE", [x, b.constant("perm", np.array([0, 3, 1, 2], np.int32))], [y], "TransposeOptions")
    b.set_io([x], [y])
    data = b.to_bytes()

Several subgraphs: b.subgraph() is a builder of one more subgraph (its index in the file: .index; the first is
b's own, 0), sharing b's buffers and operator codes; b.to_bytes() writes them all, in the order made. Its tensor
indices are its own. Options tables that name a subgraph (CallOnceOptions, StableHLOCompositeOptions,
WhileOptions, IfOptions) take that index.

    init = b.subgraph()
    v = init.tensor("v", "resource", ())
    init.operator("VAR_HANDLE", [], [v], "VarHandleOptions", dict(shared_name="state"))
"""

from __future__ import annotations

import flatbuffers
import numpy as np

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
TENSOR_TYPE = {"float32": 0, "int16": 7, "int32": 2, "int8": 9, "int64": 4, "int4": 17, "resource": 13}

# BuiltinOperator (schema.fbs enum). Codes above 127 are stored in builtin_code only; the deprecated byte
# field then holds PLACEHOLDER_FOR_GREATER_OP_CODES (127).
BUILTIN = {
    "ADD": 0, "FULLY_CONNECTED": 9, "LOGISTIC": 14, "MUL": 18, "RELU": 19, "RELU6": 21, "RESIZE_BILINEAR": 23,
    "TANH": 28, "GATHER": 36, "TRANSPOSE": 39, "MEAN": 40, "SUB": 41, "STRIDED_SLICE": 45, "MAXIMUM": 55,
    "MINIMUM": 57,
    "TRANSPOSE_CONV": 67, "SUM": 74, "RSQRT": 76, "REDUCE_MAX": 82, "RESIZE_NEAREST_NEIGHBOR": 97,
    "LEAKY_RELU": 98, "SQUARED_DIFFERENCE": 99, "ELU": 111, "QUANTIZE": 114, "HARD_SWISH": 117,
    "BATCH_MATMUL": 126, "GELU": 150,
    "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6, "MAX_POOL_2D": 17,
    "SVDF": 27, "SOFTMAX": 25, "CONCATENATION": 2, "PAD": 34, "SLICE": 65, "SPLIT": 49, "SPLIT_V": 102,
    "PACK": 83, "UNPACK": 88, "RESHAPE": 22, "SQUEEZE": 43, "EXPAND_DIMS": 70, "ARG_MAX": 56,
    # ops that call subgraphs, and resource variables
    "CALL": 31, "IF": 118, "WHILE": 119, "CALL_ONCE": 129, "VAR_HANDLE": 142, "READ_VARIABLE": 143,
    "ASSIGN_VARIABLE": 144, "STABLEHLO_COMPOSITE": 206,
}
PLACEHOLDER_FOR_GREATER_OP_CODES = 127

# BuiltinOptions (schema.fbs union): table -> (union type code, {field: (slot, kind, default)}).
# kind: "b" bool / byte (int8), "i" int32, "f" float32, "s" string, "v" bytes (a [ubyte] vector).
OPTIONS = {
    "SoftmaxOptions": (9, {"beta": (0, "f", 0.0)}),
    "ConcatenationOptions": (10, {"axis": (0, "i", 0), "fused_activation_function": (1, "b", 0)}),
    "PadOptions": (22, {}),
    "SliceOptions": (48, {}),
    "SplitOptions": (35, {"num_splits": (0, "i", 0)}),
    "SplitVOptions": (79, {"num_splits": (0, "i", 0)}),
    "PackOptions": (59, {"values_count": (0, "i", 0), "axis": (1, "i", 0)}),
    "UnpackOptions": (64, {"num": (0, "i", 0), "axis": (1, "i", 0)}),
    "FullyConnectedOptions": (8, {"fused_activation_function": (0, "b", 0), "weights_format": (1, "b", 0),
                                  "keep_num_dims": (2, "b", 0), "asymmetric_quantize_inputs": (3, "b", 0)}),
    # pot_scale_int16 (default true) lets int16 ADD / SUB take their power-of-two-scale path; false: the general one
    "AddOptions": (11, {"fused_activation_function": (0, "b", 0), "pot_scale_int16": (1, "b", 1)}),
    "ResizeBilinearOptions": (15, {"align_corners": (2, "b", 0), "half_pixel_centers": (3, "b", 0)}),  # 0, 1 deprecated
    "MulOptions": (21, {"fused_activation_function": (0, "b", 0)}),
    "GatherOptions": (23, {"axis": (0, "i", 0), "batch_dims": (1, "i", 0)}),
    "TransposeOptions": (26, {}),
    "ReducerOptions": (27, {"keep_dims": (0, "b", 0)}),
    "SubOptions": (28, {"fused_activation_function": (0, "b", 0), "pot_scale_int16": (1, "b", 1)}),
    "StridedSliceOptions": (32, {"begin_mask": (0, "i", 0), "end_mask": (1, "i", 0), "ellipsis_mask": (2, "i", 0),
                                 "new_axis_mask": (3, "i", 0), "shrink_axis_mask": (4, "i", 0),
                                 "offset": (5, "b", 0)}),
    "MaximumMinimumOptions": (39, {}),
    "TransposeConvOptions": (49, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                                  "fused_activation_function": (3, "b", 0)}),
    "ResizeNearestNeighborOptions": (74, {"align_corners": (0, "b", 0), "half_pixel_centers": (1, "b", 0)}),
    "LeakyReluOptions": (75, {"alpha": (0, "f", 0.0)}),
    "SquaredDifferenceOptions": (76, {}),
    "HardSwishOptions": (91, {}),
    "BatchMatMulOptions": (101, {"adj_x": (0, "b", 0), "adj_y": (1, "b", 0),
                                 "asymmetric_quantize_inputs": (2, "b", 0)}),
    "GeluOptions": (116, {"approximate": (0, "b", 0)}),
    "Conv2DOptions": (1, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                          "fused_activation_function": (3, "b", 0), "dilation_w_factor": (4, "i", 1),
                          "dilation_h_factor": (5, "i", 1)}),
    "DepthwiseConv2DOptions": (2, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                                   "depth_multiplier": (3, "i", 0), "fused_activation_function": (4, "b", 0),
                                   "dilation_w_factor": (5, "i", 1), "dilation_h_factor": (6, "i", 1)}),
    "Pool2DOptions": (5, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                          "filter_width": (3, "i", 0), "filter_height": (4, "i", 0),
                          "fused_activation_function": (5, "b", 0)}),
    "SVDFOptions": (6, {"rank": (0, "i", 0), "fused_activation_function": (1, "b", 0),
                        "asymmetric_quantize_inputs": (2, "b", 0)}),
    "IfOptions": (92, {"then_subgraph_index": (0, "i", 0), "else_subgraph_index": (1, "i", 0)}),
    "WhileOptions": (93, {"cond_subgraph_index": (0, "i", 0), "body_subgraph_index": (1, "i", 0)}),
    "CallOnceOptions": (103, {"init_subgraph_index": (0, "i", 0)}),
    "VarHandleOptions": (111, {"container": (0, "s", None), "shared_name": (1, "s", None)}),
    "ReadVariableOptions": (112, {}),
    "AssignVariableOptions": (113, {}),
}
# BuiltinOptions2 (schema.fbs union, written to builtin_options_2_type / builtin_options_2), as OPTIONS.
OPTIONS_2 = {
    # composite_attributes: a flexbuffer (LiteRT wants the field, even empty); its format 0 is FLEXBUFFERS
    "StableHLOCompositeOptions": (21, {"name": (0, "s", None), "decomposition_subgraph_index": (1, "i", 0),
                                       "composite_attributes": (2, "v", None), "version": (4, "i", 0)}),
}
PADDING = {"SAME": 0, "VALID": 1}

_SLOT = {"b": "PrependInt8Slot", "i": "PrependInt32Slot", "f": "PrependFloat32Slot"}
_BUFFER_ALIGNMENT = 16


class TFLiteBuilder:
    """Tensors, constant buffers and operators of one subgraph; to_bytes() serializes the Model (with the subgraphs
    subgraph() added, which share its buffers and operator codes)."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty sentinel every activation points at
        self.opcodes: list[str] = []
        self.operators: list[dict] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.index = 0  # this subgraph's index in the file
        self.subgraphs: list[TFLiteBuilder] = [self]  # the file's subgraphs (shared with each sub-builder)

    def subgraph(self, name: str | None = None) -> "TFLiteBuilder":
        """A builder of the file's next subgraph (index .index), sharing this builder's buffers, operator codes and
        list of subgraphs: its tensors and operators are its own; the root builder's to_bytes() writes them all."""
        sub = TFLiteBuilder(name or f"subgraph{len(self.subgraphs)}")
        sub.buffers, sub.opcodes, sub.subgraphs = self.buffers, self.opcodes, self.subgraphs
        sub.index = len(self.subgraphs)
        self.subgraphs.append(sub)
        return sub

    def tensor(self, name, dtype, shape, *, scale=None, zero_point=0, axis=0, buffer=0) -> int:
        """An activation (buffer 0) or, with buffer, a constant. scale: one float or one per channel of axis
        (then zero_point is one value or one per channel). Returns the tensor's index."""
        q = None
        if scale is not None:
            scales = np.atleast_1d(np.asarray(scale, np.float32))
            zps = np.broadcast_to(np.atleast_1d(np.asarray(zero_point, np.int64)), scales.shape)
            q = dict(scale=scales, zero_point=np.ascontiguousarray(zps), axis=int(axis))
        self.tensors.append(dict(name=name, type=TENSOR_TYPE[dtype], shape=[int(d) for d in shape],
                                 buffer=buffer, quantization=q))
        return len(self.tensors) - 1

    def constant(self, name, data: np.ndarray, *, scale=None, zero_point=0, axis=0) -> int:
        """A constant tensor holding data (int8, int16, int32 or float32), little-endian, in a buffer of its own."""
        data = np.ascontiguousarray(data)
        dtype = {np.dtype(np.int8): "int8", np.dtype(np.int16): "int16", np.dtype(np.int32): "int32",
                 np.dtype(np.int64): "int64", np.dtype(np.float32): "float32"}[data.dtype]
        self.buffers.append(data.astype(data.dtype.newbyteorder("<")).tobytes())
        return self.tensor(name, dtype, data.shape, scale=scale, zero_point=zero_point, axis=axis,
                           buffer=len(self.buffers) - 1)

    def constant_int4(self, name, data: np.ndarray, *, scale=None, zero_point=0, axis=0) -> int:
        """A constant INT4 tensor: int8 data in [-8, 7], two values a byte, the even-indexed one in the low nibble
        (TFLite's PackInt8IntoDenseInt4), an odd count's last byte half empty."""
        flat = np.asarray(data, np.int8).reshape(-1)
        if flat.size and (flat.min() < -8 or flat.max() > 7):
            raise ValueError("INT4 data must lie in [-8, 7]")
        nibbles = np.zeros(flat.size + flat.size % 2, np.uint8)
        nibbles[:flat.size] = flat.astype(np.uint8) & 0x0F
        self.buffers.append((nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes())
        return self.tensor(name, "int4", np.shape(data), scale=scale, zero_point=zero_point, axis=axis,
                           buffer=len(self.buffers) - 1)

    def operator(self, op: str, inputs, outputs, options_table: str | None = None, options: dict | None = None):
        """op: a BUILTIN name; inputs: tensor indices, -1 for an absent optional input."""
        if op not in BUILTIN:
            raise ValueError(f"unknown builtin {op!r}; known: {sorted(BUILTIN)}")
        tables = OPTIONS | OPTIONS_2
        if options_table is not None and options_table not in tables:
            raise ValueError(f"unknown options table {options_table!r}")
        unknown = set(options or {}) - set(tables[options_table][1] if options_table else ())
        if unknown:
            raise ValueError(f"{options_table} has no field(s) {sorted(unknown)}")
        if op not in self.opcodes:
            self.opcodes.append(op)
        self.operators.append(dict(opcode=self.opcodes.index(op), inputs=[int(i) for i in inputs],
                                   outputs=[int(o) for o in outputs], options=(options_table, dict(options or {}))))
        return len(self.operators) - 1

    def set_io(self, inputs, outputs):
        self.inputs, self.outputs = [int(i) for i in inputs], [int(o) for o in outputs]

    # --- serialization -------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        b = flatbuffers.Builder(1024)

        def ints(values, dtype=np.int32):
            return b.CreateNumpyVector(np.asarray(values, dtype))

        def table_vector(offsets):
            b.StartVector(4, len(offsets), 4)
            for o in reversed(offsets):
                b.PrependUOffsetTRelative(o)
            return b.EndVector()

        buffers = []
        for data in self.buffers:
            vec = None
            if data:
                b.StartVector(1, len(data), _BUFFER_ALIGNMENT)
                b.head -= len(data)
                b.Bytes[b.head:b.head + len(data)] = data
                vec = b.EndVector()  # StartVector recorded the element count
            b.StartObject(3)
            if vec is not None:
                b.PrependUOffsetTRelativeSlot(0, vec, 0)
            buffers.append(b.EndObject())

        graphs = [self._graph(b, ints, table_vector, g) for g in self.subgraphs]

        codes = []
        for name in self.opcodes:
            code = BUILTIN[name]
            b.StartObject(4)
            b.PrependInt8Slot(0, min(code, PLACEHOLDER_FOR_GREATER_OP_CODES), 0)
            b.PrependInt32Slot(2, 1, 1)
            b.PrependInt32Slot(3, code, 0)
            codes.append(b.EndObject())

        codes_vec, graphs_vec, buffers_vec = table_vector(codes), table_vector(graphs), table_vector(buffers)
        description = b.CreateString("microflat benchmarks/tflite_builder.py")
        b.StartObject(5)
        b.PrependUint32Slot(0, SCHEMA_VERSION, 0)
        b.PrependUOffsetTRelativeSlot(1, codes_vec, 0)
        b.PrependUOffsetTRelativeSlot(2, graphs_vec, 0)
        b.PrependUOffsetTRelativeSlot(3, description, 0)
        b.PrependUOffsetTRelativeSlot(4, buffers_vec, 0)
        model = b.EndObject()
        b.Finish(model, file_identifier=FILE_IDENTIFIER)
        return bytes(b.Output())

    @staticmethod
    def _graph(b, ints, table_vector, g: "TFLiteBuilder") -> int:
        """Subgraph g's tensors, operators and SubGraph table."""
        tensors = []
        for t in g.tensors:
            name = b.CreateString(t["name"])
            shape = ints(t["shape"])
            quant = None
            if t["quantization"] is not None:
                q = t["quantization"]
                scale = b.CreateNumpyVector(q["scale"].astype("<f4"))
                zp = b.CreateNumpyVector(q["zero_point"].astype("<i8"))
                b.StartObject(7)
                b.PrependUOffsetTRelativeSlot(2, scale, 0)
                b.PrependUOffsetTRelativeSlot(3, zp, 0)
                b.PrependInt32Slot(6, q["axis"], 0)
                quant = b.EndObject()
            b.StartObject(11)
            b.PrependUOffsetTRelativeSlot(0, shape, 0)
            b.PrependInt8Slot(1, t["type"], 0)
            b.PrependUint32Slot(2, t["buffer"], 0)
            b.PrependUOffsetTRelativeSlot(3, name, 0)
            if quant is not None:
                b.PrependUOffsetTRelativeSlot(4, quant, 0)
            tensors.append(b.EndObject())

        operators = []
        for op in g.operators:
            ins, outs = ints(op["inputs"]), ints(op["outputs"])
            table, fields = op["options"]
            opts = None
            if table is not None:
                _, layout = (OPTIONS | OPTIONS_2)[table]
                strings = {name: b.CreateString(value) if layout[name][1] == "s" else
                           b.CreateNumpyVector(np.frombuffer(bytes(value), np.uint8))
                           for name, value in fields.items() if layout[name][1] in "sv"}
                b.StartObject(1 + max((s for s, _, _ in layout.values()), default=-1))
                for name, value in fields.items():
                    slot, kind, default = layout[name]
                    if kind in "sv":
                        b.PrependUOffsetTRelativeSlot(slot, strings[name], 0)
                    else:
                        getattr(b, _SLOT[kind])(slot, float(value) if kind == "f" else int(value), default)
                opts = b.EndObject()
            b.StartObject(13)
            b.PrependUint32Slot(0, op["opcode"], 0)
            b.PrependUOffsetTRelativeSlot(1, ins, 0)
            b.PrependUOffsetTRelativeSlot(2, outs, 0)
            if opts is not None and table in OPTIONS_2:  # the second union: slots 11 (type) and 12
                b.PrependUint8Slot(11, OPTIONS_2[table][0], 0)
                b.PrependUOffsetTRelativeSlot(12, opts, 0)
            elif opts is not None:
                b.PrependUint8Slot(3, OPTIONS[table][0], 0)
                b.PrependUOffsetTRelativeSlot(4, opts, 0)
            operators.append(b.EndObject())

        tensor_vec, op_vec = table_vector(tensors), table_vector(operators)
        inputs, outputs = ints(g.inputs), ints(g.outputs)
        graph_name = b.CreateString(g.name)
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, tensor_vec, 0)
        b.PrependUOffsetTRelativeSlot(1, inputs, 0)
        b.PrependUOffsetTRelativeSlot(2, outputs, 0)
        b.PrependUOffsetTRelativeSlot(3, op_vec, 0)
        b.PrependUOffsetTRelativeSlot(4, graph_name, 0)
        return b.EndObject()

    def save(self, path) -> int:
        data = self.to_bytes()
        with open(path, "wb") as f:
            f.write(data)
        return len(data)
