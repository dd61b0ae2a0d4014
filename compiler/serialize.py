"""Write a model description to .mfb bytes with the ``flatbuffers`` Builder.

The input is plain Python: a dict per table whose keys are the schema's
field names (runtime/schema.fbs), lists or numpy arrays for vectors, a
(member_name, dict) pair for a union, and the constant buffers as bytes.
Fields left out (or None) take the schema's default and cost no bytes.

After building, the 24 bytes of microflat's extended header are inserted
right after FlatBuffers' root offset and file identifier. Every offset inside
a flatbuffer is relative, except the root offset, so only that one is
adjusted; 24 is a multiple of the builder's alignment (8), so every field
stays aligned. The constant segment follows, 16-byte aligned.

Equal scalar vectors and equal strings are written once and shared: a
flatbuffer field is an offset, so two tables may point at the same vector
(shapes repeated by RESHAPE views and elementwise ops, the same inputs list,
equal shift vectors). Both loaders read fields through offsets only and never
assume a vector is unshared.
"""

from __future__ import annotations

import struct

import flatbuffers
import numpy as np

from microflat.runtime.format import (
    EXTENDED_HEADER_BYTES,
    FILE_IDENTIFIER,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    HEADER,
    SCHEMA,
    SEGMENT_ALIGNMENT,
)

_PREPEND_SLOT = {"bool": "PrependBoolSlot", "byte": "PrependInt8Slot", "ubyte": "PrependUint8Slot",
                 "short": "PrependInt16Slot", "ushort": "PrependUint16Slot", "int": "PrependInt32Slot",
                 "uint": "PrependUint32Slot", "long": "PrependInt64Slot", "ulong": "PrependUint64Slot",
                 "float": "PrependFloat32Slot", "double": "PrependFloat64Slot"}


def _encode_table(b: flatbuffers.Builder, name: str, values: dict, shared: dict) -> int:
    """The table ``name`` built from ``values``; ``shared`` maps (element type, bytes) of each scalar vector and
    string already written to its offset."""
    table = SCHEMA.tables[name]
    unknown = set(values) - {f.name for f in table.fields}
    if unknown:
        raise ValueError(f"{name} has no field(s) {sorted(unknown)}")
    children = {}
    for f in table.fields:  # children first: FlatBuffers builds back to front
        v = values.get(f.name)
        if v is None:
            continue
        kind = SCHEMA.kind(f.type)
        if kind == "table":
            children[f.name] = _encode_table(b, f.type, v, shared)
        elif kind == "union":
            member, member_values = v
            children[f.name] = _encode_table(b, member, member_values, shared)
        elif kind == "string":
            children[f.name] = _shared(shared, ("string", v), lambda: b.CreateString(v))
        elif kind == "vector":
            elem = f.type[1:-1]
            ekind = SCHEMA.kind(elem)
            if ekind in ("scalar", "enum"):
                dtype = SCHEMA.scalar_dtype(elem)
                arr = np.frombuffer(v, dtype=dtype) if isinstance(v, (bytes, bytearray)) else np.asarray(v, dtype=dtype)
                children[f.name] = _shared(shared, (elem, arr.tobytes()), lambda: b.CreateNumpyVector(arr))
            else:
                offsets = [_encode_table(b, elem, item, shared) if ekind == "table" else
                           _shared(shared, ("string", item), lambda: b.CreateString(item)) for item in v]
                b.StartVector(4, len(offsets), 4)
                for off in reversed(offsets):
                    b.PrependUOffsetTRelative(off)
                children[f.name] = b.EndVector()
    # Widest fields first, as flatc orders them: the builder writes back to front, so the narrow ones end up
    # together at the table's start and an alignment gap is paid at most once (a byte between two ints costs 3).
    slots = []  # (bytes, slot, prepend)
    for f in table.fields:
        v = values.get(f.name)
        if v is None:
            continue
        kind = SCHEMA.kind(f.type)
        if kind in ("scalar", "enum"):
            base = SCHEMA.base(f.type)
            default = f.default if f.default is not None else 0
            prepend = getattr(b, _PREPEND_SLOT[base])
            slots.append((np.dtype(SCHEMA.scalar_dtype(base)).itemsize, f.slot,
                          lambda f=f, v=v, prepend=prepend, default=default: prepend(f.slot, v, default)))
            continue
        if kind == "union":  # its type is the slot before its value, a ubyte
            code = SCHEMA.unions[f.type].members.index(v[0]) + 1
            slots.append((1, f.slot - 1, lambda f=f, code=code: b.PrependUint8Slot(f.slot - 1, code, 0)))
        slots.append((4, f.slot, lambda f=f: b.PrependUOffsetTRelativeSlot(f.slot, children[f.name], 0)))
    b.StartObject(table.slot_count)
    for _, _, prepend in sorted(slots, key=lambda s: (-s[0], s[1])):
        prepend()
    return b.EndObject()


def _shared(shared: dict, key: tuple, create) -> int:
    if key not in shared:
        shared[key] = create()
    return shared[key]


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def serialize(model: dict, buffers: list[bytes]) -> bytes:
    """The .mfb bytes of ``model`` (a Model dict without the buffer fields) and its constant buffers.

    buffers[0] must be empty (the sentinel); each other buffer is placed at a
    16-byte-aligned offset of the constant segment.
    """
    if not buffers or len(buffers[0]) != 0:
        raise ValueError("buffers[0] must be the empty sentinel")
    offsets, cursor = [], 0
    for data in buffers:
        cursor = _align(cursor, SEGMENT_ALIGNMENT)
        offsets.append(cursor if len(data) else 0)
        cursor += len(data)
    segment_bytes = cursor
    values = dict(model)
    values["buffer_offsets"] = offsets
    values["buffer_sizes"] = [len(d) for d in buffers]
    b = flatbuffers.Builder(1024)
    root = _encode_table(b, SCHEMA.root, values, {})
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    fb = bytes(b.Output())
    (root_offset,) = struct.unpack_from("<I", fb, 0)
    fb_bytes = len(fb) + EXTENDED_HEADER_BYTES
    segment_offset = _align(fb_bytes, SEGMENT_ALIGNMENT)
    file_bytes = segment_offset + segment_bytes
    header = HEADER.pack(root_offset + EXTENDED_HEADER_BYTES, FILE_IDENTIFIER, FORMAT_MAJOR, FORMAT_MINOR,
                         fb_bytes, segment_offset, segment_bytes, file_bytes, 0)
    out = bytearray(file_bytes)
    out[:len(header)] = header
    out[len(header):fb_bytes] = fb[8:]
    for off, data in zip(offsets, buffers):
        out[segment_offset + off:segment_offset + off + len(data)] = data
    return bytes(out)
