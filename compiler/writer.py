"""Build a .mfb model from tensors and operators: the writer API.

    w = ModelWriter()
    x = w.add_tensor("x", "int8", (1, 8, 8, 3), scale=0.05, zero_point=-3)
    f = w.add_constant("conv.w", weights_int8, scale=w_scales, zero_point=0, axis=0)
    y = w.add_tensor("y", "int8", (1, 8, 8, 16), scale=0.1, zero_point=5)
    w.add_operator("CONV_2D", [x, f, b], [y], "Conv2DOptions", {"pad_top": 1, ...})
    w.set_io([x], [y])
    w.save("model.mfb")          # atomic: a temporary file, then a rename

Writing verifies: the model is loaded back with the runtime's verifier (so a
file the writer produces always loads), its operators reordered where
another topological order lowers the peak (schedule.py), planned
(memory_plan: greedy by size, in-place and overlapped where allowed),
serialized with the plan, and verified again.
The PyTorch compiler (next layer up) calls this API.
"""

from __future__ import annotations

import hashlib

import numpy as np

from microflat.runtime import memory_plan
from microflat.runtime.atomic import write_atomic
from microflat.runtime.errors import MicroflatError
from microflat.runtime.format import DTYPE, OPCODE, ROUNDING_MODE
from microflat.runtime.loader import LoadedModel

from . import schedule
from .serialize import serialize

PRODUCER = "microflat 0.1"


class ModelWriter:
    def __init__(self):
        self.tensors: list[dict] = []
        self.operators: list[dict] = []
        self.buffers: list[bytes] = [b""]
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def _quant(self, scale, zero_point, axis):
        if scale is None:
            return {}
        scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
        zp = int(np.atleast_1d(zero_point)[0])
        if np.any(np.atleast_1d(zero_point) != zp):
            raise ValueError("one zero point per tensor (symmetric per-channel weights use 0)")
        if scales.size == 1 and axis is None:
            return {"scale": float(scales[0]), "zero_point": zp}
        return {"channel_scales": scales, "zero_point": zp, "quantized_axis": axis or 0}

    def add_tensor(self, name, dtype, shape, *, scale=None, zero_point=0, axis=None) -> int:
        """An activation tensor (placed in the arena). Returns its index."""
        self.tensors.append({"name": name, "dtype": DTYPE[dtype.upper()], "shape": [int(d) for d in shape],
                             **self._quant(scale, zero_point, axis)})
        return len(self.tensors) - 1

    def add_constant(self, name, data: np.ndarray, *, scale=None, zero_point=0, axis=None) -> int:
        """A constant tensor; its bytes go to the 16-byte-aligned constant segment."""
        data = np.ascontiguousarray(data)
        dtype = {np.dtype(np.int8): "INT8", np.dtype(np.int16): "INT16", np.dtype(np.int32): "INT32",
                 np.dtype(np.int64): "INT64", np.dtype(np.float32): "FLOAT32"}[data.dtype]
        self.buffers.append(data.astype(data.dtype.newbyteorder("<")).tobytes())
        self.tensors.append({"name": name, "dtype": DTYPE[dtype], "shape": list(data.shape) or [1],
                             **self._quant(scale, zero_point, axis), "buffer": len(self.buffers) - 1})
        return len(self.tensors) - 1

    def add_encoded(self, name, encoding, *, scale=None, zero_point=0, axis=None) -> int:
        """A constant int8 weight stored in a WeightEncoding (kernels/weight_encoding.py): its value stream is the
        tensor's buffer, its position stream (sparse) a second buffer, its codebook a vector in the table."""
        e = encoding
        self.buffers.append(np.ascontiguousarray(e.values, np.uint8).tobytes())
        values_buffer = len(self.buffers) - 1
        table = {"value_bits": e.value_bits, "codebook_per_channel": bool(e.codebook_per_channel) or None,
                 "axis": e.axis, "position_bits": e.position_bits or None, "entries": e.entries,
                 "codebook": np.asarray(e.codebook, np.int8) if e.codebook.size else None}
        if e.position_bits:
            self.buffers.append(np.ascontiguousarray(e.positions, np.uint8).tobytes())
            table["positions_buffer"] = len(self.buffers) - 1
        self.tensors.append({"name": name, "dtype": DTYPE["INT8"], "shape": [int(d) for d in e.shape],
                             **self._quant(scale, zero_point, axis), "buffer": values_buffer, "encoding": table})
        return len(self.tensors) - 1

    def add_operator(self, opcode: str, inputs, outputs, options_table: str | None = None, options: dict | None = None):
        op = {"opcode": OPCODE[opcode], "inputs": [int(i) for i in inputs], "outputs": [int(o) for o in outputs]}
        if options_table is not None:
            op["options"] = (options_table, options or {})
        self.operators.append(op)
        return len(self.operators) - 1

    def set_io(self, inputs, outputs):
        self.inputs, self.outputs = [int(i) for i in inputs], [int(o) for o in outputs]

    def _model(self, plan, source_sha256: bytes, strip_names: bool = False):
        tensors = self.tensors
        if strip_names:  # the inputs' and outputs' names stay: they are the model's interface (input_details)
            named = set(self.inputs) | set(self.outputs)
            tensors = [t if i in named else dict(t, name=None) for i, t in enumerate(tensors)]
        return {"tensors": tensors, "operators": self.operators, "inputs": self.inputs, "outputs": self.outputs,
                "plan": plan, "metadata": {"rounding_mode": ROUNDING_MODE["DOUBLE_ROUNDING"], "producer": PRODUCER,
                                           "source_sha256": source_sha256}}

    def plan(self, loaded: LoadedModel):
        """Greedy-by-size arena plan with overlap pairs. Returns (plan dict, arena bytes, liveness lower bound)."""
        bufs = loaded.plan_buffers()
        arena, tensor_offsets, scratch_offsets = memory_plan.place(bufs, loaded.overlap_pairs(), len(loaded.tensors),
                                                                   len(loaded.operators))
        plan = {"arena_bytes": arena, "tensor_offsets": tensor_offsets, "scratch_offsets": scratch_offsets}
        return plan, arena, memory_plan.liveness_lower_bound(bufs, len(loaded.operators))

    def to_bytes(self, source_sha256: bytes | None = None, *, strip_names: bool = False) -> bytes:
        """Serialize, verify, plan, and verify again. Raises MicroflatError on an invalid model.

        source_sha256: the 32-byte digest of the source model; by default the
        digest of this model's own unplanned serialization.
        strip_names: leave out every tensor name but the model's inputs' and
        outputs' (names are for people and tools; no runtime reads them).
        """
        unplanned = self._model(None, source_sha256 or b"")
        if source_sha256 is None:  # no source model: identify the content itself
            digest = hashlib.sha256(serialize(unplanned, self.buffers)).digest()
            unplanned["metadata"]["source_sha256"] = np.frombuffer(digest, np.uint8)
        first = LoadedModel(bytearray(serialize(unplanned, self.buffers)), verify_plan=False)
        order = schedule.model_order(first)
        if order != sorted(order):  # a branchy graph whose peak another order lowers
            self.operators = [self.operators[k] for k in order]
            unplanned["operators"] = self.operators
            first = LoadedModel(bytearray(serialize(unplanned, self.buffers)), verify_plan=False)
        plan, _, _ = self.plan(first)
        data = serialize(self._model(plan, unplanned["metadata"]["source_sha256"], strip_names), self.buffers)
        LoadedModel(bytearray(data))  # the final file passes the runtime's verifier
        return data

    def save(self, path, source_sha256: bytes | None = None, *, strip_names: bool = False) -> int:
        """Write atomically; returns the file's size."""
        data = self.to_bytes(source_sha256, strip_names=strip_names)
        write_atomic(path, data)
        return len(data)


__all__ = ["ModelWriter", "MicroflatError", "write_atomic"]
