"""Load a .mfb file and verify every byte before anything runs.

Checks, in layers (each failure is a FormatError naming the field and byte offset):
  1. the header: length, identifier, major version, sizes and alignment of
     the flatbuffer and the constant segment, exact file length;
  2. the flatbuffer's structure (flatbuffer_reader): every offset, vtable,
     vector, string, enum and union;
  3. meaning: buffers inside the segment and 16-aligned; tensor dtypes,
     shapes (with overflow checks) against buffer bytes; quantization;
     indices; the graph's order (every input is written before it is read);
     each operator's own rules (ops.py);
  4. the memory plan: every activation and scratch inside the arena, and no
     two buffers alive at the same time overlap, except the in-place reuses
     memory_plan.py allows.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
from dataclasses import dataclass

import numpy as np

from microflat.kernels import weight_encoding as WE

from . import memory_plan
from .errors import FormatError
from .flatbuffer_reader import read_root
from .format import (
    ARENA_ALIGNMENT,
    DTYPE_BYTES,
    DTYPE_NUMPY,
    FILE_IDENTIFIER,
    FORMAT_MAJOR,
    HEADER,
    HEADER_BYTES,
    MAX_ARENA_BYTES,
    MAX_OPERATORS,
    MAX_RANK,
    MAX_TENSOR_BYTES,
    MAX_TENSORS,
    OPCODE,
    OPCODE_NAMES,
    ROUNDING_MODE,
    SEGMENT_ALIGNMENT,
)
from .ops import OPS, OpCheck, OpInfo


@dataclass
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: tuple
    scale: np.ndarray | None
    zero_point: int | None  # per-tensor zero point (the first one for per-channel quantization)
    buffer: int
    data: np.ndarray | None  # constant data, read in place from the file (None for an encoded weight)
    pos: int
    encoding: WE.Encoding | None = None  # a compressed int8 weight: its streams, read in place
    variable: bool = False  # persistent state: keeps its value across invokes (docs/FORMAT.md, "Variables")

    @property
    def stored_bytes(self) -> int:
        """Bytes the constant takes in the file: its streams and codebook when encoded, else nbytes."""
        return self.nbytes if self.encoding is None else self.encoding.stored_bytes

    @property
    def is_const(self) -> bool:
        return self.buffer != 0

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def scale_value(self):
        return None if self.scale is None or len(self.scale) == 0 else float(self.scale[0])

    @property
    def reset_value(self) -> int:
        """A variable's value after a reset: real 0, its zero point where it has one (0.0 for float32)."""
        return 0 if self.dtype == "float32" else self.zero_point or 0


@dataclass
class Header:
    major: int
    minor: int
    flatbuffer_bytes: int
    segment_offset: int
    segment_bytes: int
    file_bytes: int


class LoadedModel:
    """A verified model: decoded tables, tensors with constant data in place, op info and the plan."""

    def __init__(self, data, source: str = "<bytes>", verify_plan: bool = True):
        self.data = data
        self.source = source
        self.header = check_header(data)
        self.root = read_root(data, self.header.flatbuffer_bytes)
        self.operators = self.root.operators or []
        self._check_counts()
        self.buffers = self._check_buffers()
        self.tensors = [self._check_tensor(i, t) for i, t in enumerate(self.root.tensors or [])]
        self.inputs = self._check_io("inputs")
        self.outputs = self._check_io("outputs")
        self.variables = [t.index for t in self.tensors if t.variable]
        # What the plan keeps apart for the whole run, as memory_plan takes model inputs and outputs: the inputs
        # and outputs themselves, and the variables, whose values outlive every invoke.
        self.held_inputs = self.inputs + self.variables
        self.held_outputs = self.outputs + self.variables
        self._check_metadata()
        self._check_graph_order()
        self.op_info: list[OpInfo] = []
        for k in range(len(self.operators)):
            self._check_opcode(k)
            self.op_info.append(OPS[self.operators[k].opcode].check(OpCheck(self, k)))
        self.arena_bytes, self.tensor_offsets, self.scratch_offsets = self._check_plan() if verify_plan else (0, None, None)

    # -- helpers used by ops.py -----------------------------------------------------
    def opcode_name(self, code: int) -> str:
        return OPCODE_NAMES.get(code, str(code))

    def tensor_or_none(self, idx: int):
        return self.tensors[idx] if 0 <= idx < len(self.tensors) else None

    # -- layer 3: meaning ---------------------------------------------------------------
    def _check_counts(self):
        r = self.root
        for name, limit in (("tensors", MAX_TENSORS), ("operators", MAX_OPERATORS)):
            n = len(getattr(r, name) or [])
            if n > limit:
                raise FormatError(name, r.at[name], f"{n} entries exceed the limit of {limit}")
        if not r.tensors:
            raise FormatError("tensors", r.at["tensors"], "the model has no tensors")
        for k, op in enumerate(self.operators):
            for which in ("inputs", "outputs"):
                if getattr(op, which) is None:
                    setattr(op, which, np.zeros(0, np.int32))

    def _check_buffers(self):
        """(offset, size) of each constant buffer, inside the segment and 16-byte aligned."""
        r = self.root
        offs, sizes = r.buffer_offsets, r.buffer_sizes
        if offs is None or sizes is None or len(offs) != len(sizes) or len(sizes) == 0 or sizes[0] != 0:
            raise FormatError("buffer_sizes", r.at["buffer_sizes"],
                              "buffer_offsets and buffer_sizes must have one entry per buffer, buffer 0 empty")
        seg = self.header.segment_bytes
        for i, (o, n) in enumerate(zip(offs.tolist(), sizes.tolist())):
            if o % SEGMENT_ALIGNMENT:
                raise FormatError(f"buffer_offsets[{i}]", r.at["buffer_offsets"] + 4 + 4 * i, f"{o} is not {SEGMENT_ALIGNMENT}-byte aligned")
            if o + n > seg:
                raise FormatError(f"buffer_sizes[{i}]", r.at["buffer_sizes"] + 4 + 4 * i, f"[{o}, {o + n}) lies outside the constant segment ({seg} bytes)")
        return list(zip(offs.tolist(), sizes.tolist()))

    def _check_tensor(self, i, t) -> TensorInfo:
        path = f"tensors[{i}]"
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        if not 1 <= len(shape) <= MAX_RANK:
            raise FormatError(f"{path}.shape", t.at["shape"], f"rank {len(shape)} is outside [1, {MAX_RANK}]")
        if min(shape) < 1:
            raise FormatError(f"{path}.shape", t.at["shape"], f"dimensions must be >= 1, got {shape}")
        nbytes = math.prod(shape) * DTYPE_BYTES[t.dtype]  # Python ints: no overflow
        if nbytes > MAX_TENSOR_BYTES:
            raise FormatError(f"{path}.shape", t.at["shape"], f"{shape} needs {nbytes} bytes, above {MAX_TENSOR_BYTES}")
        dtype = DTYPE_NUMPY[t.dtype]
        scale = zp = None
        if t.scale != 0 or t.channel_scales is not None:
            per_channel = t.channel_scales is not None
            scale = t.channel_scales if per_channel else np.array([t.scale], np.float32)
            field = "channel_scales" if per_channel else "scale"
            if len(scale) == 0 or (per_channel and t.scale != 0):
                raise FormatError(f"{path}.{field}", t.at[field], "give either one scale or per-channel scales")
            if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
                raise FormatError(f"{path}.{field}", t.at[field], "scales must be finite and > 0")
            lo, hi = {"int8": (-128, 127), "int16": (-(2**15), 2**15 - 1)}.get(dtype, (-(2**31), 2**31 - 1))
            if not lo <= t.zero_point <= hi:
                raise FormatError(f"{path}.zero_point", t.at["zero_point"], f"zero point {t.zero_point} is outside [{lo}, {hi}]")
            ax = t.quantized_axis
            if not ((ax == -1 and not per_channel) or (0 <= ax < len(shape) and len(scale) == shape[ax])):
                raise FormatError(f"{path}.quantized_axis", t.at["quantized_axis"], f"axis {ax} does not fit {len(scale)} scales and shape {shape}")
            zp = int(t.zero_point)
        data = encoding = None
        if t.encoding is not None:
            encoding = self._check_encoding(path, t, shape, dtype)
        elif t.buffer:
            data = self._buffer_view(f"{path}.buffer", t.at["buffer"], t.buffer, nbytes, f"shape {shape} x {dtype}")
            data = data.view(dtype).reshape(shape)
        if t.variable and t.buffer:
            raise FormatError(f"{path}.variable", t.at["variable"], "a variable is an activation (buffer 0)")
        return TensorInfo(i, t.name or "", dtype, shape, scale, zp, t.buffer, data, t.pos, encoding, bool(t.variable))

    def _buffer_view(self, path, at, index, nbytes=None, what="") -> np.ndarray:
        """Buffer ``index`` as uint8, in place; it must exist (and hold exactly ``nbytes`` when given)."""
        if not 0 < index < len(self.buffers):
            raise FormatError(path, at, f"buffer {index} does not exist (buffers 1..{len(self.buffers) - 1})")
        b_off, b_size = self.buffers[index]
        if nbytes is not None and b_size != nbytes:
            raise FormatError(path, at, f"buffer {index} holds {b_size} bytes; {what} needs {nbytes}")
        return np.frombuffer(self.data, dtype=np.uint8, count=b_size, offset=self.header.segment_offset + b_off)

    def _check_encoding(self, path, t, shape, dtype) -> WE.Encoding:
        """A WeightEncoding: every field, stream length, palette index and sparse position (weight_encoding.validate)."""
        e = t.encoding
        if dtype != "int8" or t.buffer == 0:
            raise FormatError(f"{path}.encoding", e.pos, "only constant int8 weights can be encoded")
        pb = int(e.position_bits)
        positions = np.zeros(0, np.uint8)
        if pb or e.positions_buffer:
            positions = self._buffer_view(f"{path}.encoding.positions_buffer", e.at["positions_buffer"],
                                          int(e.positions_buffer))
        enc = WE.Encoding(shape=shape, value_bits=int(e.value_bits), entries=int(e.entries),
                          values=self._buffer_view(f"{path}.buffer", t.at["buffer"], t.buffer),
                          codebook=e.codebook if e.codebook is not None else np.zeros(0, np.int8),
                          codebook_per_channel=bool(e.codebook_per_channel), axis=int(e.axis), position_bits=pb,
                          positions=positions)
        if pb == 0 and e.positions_buffer:
            raise FormatError(f"{path}.encoding.positions_buffer", e.at["positions_buffer"],
                              "the dense layout has no positions")
        try:
            WE.validate(enc)
        except WE.EncodingError as err:
            at = t.at["buffer"] if err.field == "buffer" else e.at[err.field]
            name = "buffer" if err.field == "buffer" else f"encoding.{err.field}"
            raise FormatError(f"{path}.{name}", at, err.reason) from None
        return enc

    def _check_io(self, which):
        idx = getattr(self.root, which)
        if idx is None or len(idx) == 0:
            raise FormatError(which, self.root.at[which], "the model needs at least one")
        out = []
        for j, v in enumerate(idx):  # stops by j = len(tensors): an invalid entry or a repeat comes by then
            v = int(v)
            at = self.root.at[which] + 4 + 4 * j
            if not 0 <= v < len(self.tensors) or self.tensors[v].is_const:
                raise FormatError(f"{which}[{j}]", at, f"{v} is not an activation tensor")
            if self.tensors[v].variable:
                raise FormatError(f"{which}[{j}]", at, f"tensor {v} is a variable (state the model keeps)")
            if v in out:
                raise FormatError(f"{which}[{j}]", at, f"tensor {v} is listed twice")
            out.append(v)
        return out

    def _check_metadata(self):
        m = self.root.metadata
        if m is None:
            raise FormatError("metadata", self.root.at["metadata"], "missing")
        if m.source_sha256 is not None and len(m.source_sha256) not in (0, 32):
            raise FormatError("metadata.source_sha256", m.at["source_sha256"], "must hold 32 bytes")
        if m.rounding_mode != ROUNDING_MODE["DOUBLE_ROUNDING"]:
            raise FormatError("metadata.rounding_mode", m.at["rounding_mode"], "unsupported rounding mode")

    def _check_opcode(self, k):
        op = self.operators[k]
        if op.opcode not in OPS:
            raise FormatError(f"operators[{k}].opcode", op.at["opcode"], f"unsupported opcode {op.opcode}")

    def _check_graph_order(self):
        """Every activation an operator reads is a model input, a variable or written by an earlier operator;
        none is written twice. A variable holds the last invoke's value until the one ASSIGN_VARIABLE that may
        write it, so no operator reads it after that one, and no other operator writes it."""
        written = set(self.inputs) | {t.index for t in self.tensors if t.variable}
        assigned = {}  # variable -> the operator that assigns it
        for k, op in enumerate(self.operators):
            for j, t in enumerate(op.inputs):
                t = int(t)
                at = op.at["inputs"] + 4 + 4 * j
                if t == -1:
                    continue
                if not 0 <= t < len(self.tensors):
                    raise FormatError(f"operators[{k}].inputs[{j}]", at, f"tensor index {t} is out of range")
                if not self.tensors[t].is_const and t not in written:
                    raise FormatError(f"operators[{k}].inputs[{j}]", at, f"tensor {t} is read before any operator writes it")
                if t in assigned:
                    raise FormatError(f"operators[{k}].inputs[{j}]", at,
                                      f"variable {t} is read after operator {assigned[t]} assigns it")
            for j, t in enumerate(op.outputs):
                t = int(t)
                at = op.at["outputs"] + 4 + 4 * j
                if not 0 <= t < len(self.tensors) or self.tensors[t].is_const:
                    raise FormatError(f"operators[{k}].outputs[{j}]", at, f"{t} is not an activation tensor")
                if self.tensors[t].variable:
                    if op.opcode != OPCODE["ASSIGN_VARIABLE"]:
                        raise FormatError(f"operators[{k}].outputs[{j}]", at,
                                          f"variable {t} is written by an operator other than ASSIGN_VARIABLE")
                    if t in assigned:
                        raise FormatError(f"operators[{k}].outputs[{j}]", at,
                                          f"variable {t} is assigned twice (operators {assigned[t]} and {k})")
                    assigned[t] = k
                    continue
                if t in written:
                    raise FormatError(f"operators[{k}].outputs[{j}]", at, f"tensor {t} is written twice (or is a model input)")
                written.add(t)
        for j, t in enumerate(self.outputs):
            if t not in written:
                raise FormatError(f"outputs[{j}]", self.root.at["outputs"] + 4 + 4 * j, f"tensor {t} is never written")

    # -- layer 4: the memory plan ---------------------------------------------------------
    def graph(self):
        ops = [([int(t) for t in op.inputs], [int(t) for t in op.outputs]) for op in self.operators]
        is_const = [t.is_const for t in self.tensors]
        life = memory_plan.lifetimes(len(self.tensors), ops, self.held_inputs, self.held_outputs, is_const)
        return ops, life

    def _check_plan(self):
        plan = self.root.plan
        if plan is None:
            raise FormatError("plan", self.root.at["plan"], "missing")
        arena = int(plan.arena_bytes)
        if arena > MAX_ARENA_BYTES:
            raise FormatError("plan.arena_bytes", plan.at["arena_bytes"], f"{arena} exceeds {MAX_ARENA_BYTES}")
        offsets = plan.tensor_offsets
        if offsets is None or len(offsets) != len(self.tensors):
            raise FormatError("plan.tensor_offsets", plan.at["tensor_offsets"], f"needs one value per tensor ({len(self.tensors)})")
        scratch = plan.scratch_offsets
        if scratch is None or len(scratch) != len(self.operators):
            raise FormatError("plan.scratch_offsets", plan.at["scratch_offsets"], f"needs one value per operator ({len(self.operators)})")
        ops, life = self.graph()
        bufs_by_offset = {}
        bufs = []
        for i, t in enumerate(self.tensors):
            off = int(offsets[i])
            at = plan.at["tensor_offsets"] + 4 + 4 * i
            if t.is_const or life[i][0] is None:
                if off != -1:
                    raise FormatError(f"plan.tensor_offsets[{i}]", at, "constant and unused tensors must have offset -1")
                continue
            size = memory_plan.align(t.nbytes)
            if off < 0 or off % ARENA_ALIGNMENT or off + size > arena:
                raise FormatError(f"plan.tensor_offsets[{i}]", at, f"offset {off} (+{size} bytes) is not a {ARENA_ALIGNMENT}-aligned place in the {arena}-byte arena")
            bufs.append(memory_plan.Buffer([i], size, life[i][0], life[i][1], off))
            bufs_by_offset.setdefault(off, []).append(bufs[-1])
        for k, info in enumerate(self.op_info):
            off = int(scratch[k])
            at = plan.at["scratch_offsets"] + 4 + 4 * k
            if info.scratch_bytes == 0:
                if off != -1:
                    raise FormatError(f"plan.scratch_offsets[{k}]", at, "this operator needs no scratch; the offset must be -1")
                continue
            size = memory_plan.align(info.scratch_bytes)
            if off < 0 or off % ARENA_ALIGNMENT or off + size > arena:
                raise FormatError(f"plan.scratch_offsets[{k}]", at, f"scratch at {off} (+{size} bytes) does not fit the {arena}-byte arena")
            bufs.append(memory_plan.Buffer([("scratch", k)], size, k, k, off))
        end = memory_plan.arena_end(bufs)
        if arena != end:
            raise FormatError("plan.arena_bytes", plan.at["arena_bytes"],
                              f"{arena} bytes, but the plan's buffers end at {end}: arena_bytes must be exactly the "
                              f"largest offset + bytes (rounded up to {ARENA_ALIGNMENT}) of its buffers")
        # In-place reuse is allowed exactly where the planner would take it.
        sizes = [t.nbytes for t in self.tensors]
        groups = memory_plan.alias_groups(len(self.tensors), ops, [i.in_place_inputs for i in self.op_info], life,
                                          self.held_inputs, self.held_outputs, sizes)
        merged = {}
        for b in bufs:
            m = b.members[0]
            key = ("s", m[1]) if isinstance(m, tuple) else ("t", groups[m], b.offset)
            if key in merged:
                g = merged[key]
                g.first, g.last, g.size = min(g.first, b.first), max(g.last, b.last), max(g.size, b.size)
                g.members += b.members
            else:
                merged[key] = memory_plan.Buffer(list(b.members), b.size, b.first, b.last, b.offset)
        clash = memory_plan.overlapping_pair(list(merged.values()), self.overlap_pairs())
        if clash:
            a, b = clash
            raise FormatError("plan", plan.pos, f"{_describe(a)} and {_describe(b)} are alive at the same time and overlap in the arena")
        return arena, [int(v) for v in offsets], [int(v) for v in scratch]

    # -- reporting ---------------------------------------------------------------------------
    @property
    def file_bytes(self) -> int:
        return self.header.file_bytes

    @property
    def weight_bytes(self) -> int:
        return sum(t.stored_bytes for t in self.tensors if t.is_const)

    def overlap_pairs(self) -> list:
        """memory_plan.overlap_pairs of this graph: where an output may lie partly over its dying input."""
        ops, life = self.graph()
        return memory_plan.overlap_pairs(ops, [i.overlap for i in self.op_info], life, self.held_inputs,
                                         self.held_outputs)

    def plan_buffers(self) -> list:
        """The unplaced arena buffers: each tensor merged with its in-place aliases, and each op's scratch."""
        ops, life = self.graph()
        sizes = [t.nbytes for t in self.tensors]
        groups = memory_plan.alias_groups(len(self.tensors), ops, [i.in_place_inputs for i in self.op_info], life,
                                          self.held_inputs, self.held_outputs, sizes)
        return memory_plan.buffers(len(self.tensors), ops, life, groups, sizes, [i.scratch_bytes for i in self.op_info])

    def liveness_bound(self) -> int:
        """The least arena of any plan that keeps buffers alive at the same time apart."""
        return memory_plan.liveness_lower_bound(self.plan_buffers(), len(self.operators))

    def overlap_bound(self) -> int:
        """The least arena of any plan, overlap pairs taken at their least span."""
        return memory_plan.overlap_lower_bound(self.plan_buffers(), len(self.operators), self.overlap_pairs())


def _describe(b) -> str:
    m = b.members[0]
    return f"the scratch of operator {m[1]}" if isinstance(m, tuple) else f"tensor {m}"


def check_header(data) -> Header:
    n = len(data)
    if n < HEADER_BYTES:
        raise FormatError("header", 0, f"the file has {n} bytes, fewer than the {HEADER_BYTES}-byte header")
    root, ident, major, minor, fb_bytes, seg_off, seg_bytes, file_bytes, reserved = HEADER.unpack_from(data, 0)
    if ident != FILE_IDENTIFIER:
        raise FormatError("header.identifier", 4, f"expected {FILE_IDENTIFIER!r}, found {bytes(ident)!r}: not a .mfb file")
    if major != FORMAT_MAJOR:
        raise FormatError("header.major_version", 8, f"format version {major}.{minor} is not readable (this reader: {FORMAT_MAJOR}.x)")
    if file_bytes != n:
        raise FormatError("header.file_bytes", 24, f"the header says {file_bytes} bytes, the file has {n} (truncated or extended)")
    if reserved != 0:
        raise FormatError("header.reserved", 28, "must be 0")
    if not HEADER_BYTES <= fb_bytes <= seg_off:
        raise FormatError("header.flatbuffer_bytes", 12, f"{fb_bytes} must lie in [{HEADER_BYTES}, segment offset {seg_off}]")
    if seg_off % SEGMENT_ALIGNMENT or seg_off - fb_bytes >= SEGMENT_ALIGNMENT:
        raise FormatError("header.segment_offset", 16, f"{seg_off} must be the first multiple of {SEGMENT_ALIGNMENT} at or after {fb_bytes}")
    if seg_off + seg_bytes != n:
        raise FormatError("header.segment_bytes", 20, f"segment [{seg_off}, {seg_off + seg_bytes}) must end the file ({n} bytes)")
    if not HEADER_BYTES <= root < fb_bytes:
        raise FormatError("header.root_offset", 0, f"{root} must point past the header, inside the flatbuffer")
    return Header(major, minor, fb_bytes, seg_off, seg_bytes, file_bytes)


def load_bytes(data: bytes, source: str = "<bytes>") -> LoadedModel:
    """Verify a model held in memory. Raises FormatError."""
    buf = bytearray(data)  # writable, so kernels may take the constants as plain arrays
    return LoadedModel(buf, source)


def load_file(path) -> LoadedModel:
    """Map and verify a .mfb file (copy-on-write: the file is never modified). Raises FormatError."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise FormatError("header", 0, f"{path} is empty")
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise FormatError("file", None, f"cannot read {path}: {exc.strerror or exc}") from None
    return LoadedModel(mapped, path)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
