"""Verify and decode a FlatBuffer against the parsed schema, trusting no byte.

The Python ``flatbuffers`` package reads fields (``flatbuffers.table.Table``)
but has no verifier, so every read below is preceded by the check the C++
FlatBuffers Verifier would make: the table's vtable lies inside the buffer
and is aligned; each present field lies inside its table and is aligned for
its type; every offset points inside the buffer; vector and string lengths
fit; strings are NUL-terminated UTF-8 of at most MAX_STRING_BYTES; enums and union types are in range.
Work is bounded: nesting depth is limited, each table is verified once
(shared tables are memoized), and a vector's count is checked before any of
its elements is read, against the bytes left in the buffer and, for vectors
of tables or strings, against MAX_TABLE_VECTOR (as the C verifier does), so
a hostile file cannot make it loop or blow up: a file claiming 100,000
operators is refused at the vector's length word without reading one.

Failures raise FormatError with the field's path and byte offset.
"""

from __future__ import annotations

import struct

import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table as FbTable

from .errors import FormatError
from .format import MAX_STRING_BYTES, MAX_TABLE_VECTOR, SCHEMA, Schema

MAX_DEPTH = 32

_FLAGS = {
    "bool": N.BoolFlags, "byte": N.Int8Flags, "ubyte": N.Uint8Flags, "short": N.Int16Flags,
    "ushort": N.Uint16Flags, "int": N.Int32Flags, "uint": N.Uint32Flags, "long": N.Int64Flags,
    "ulong": N.Uint64Flags, "float": N.Float32Flags, "double": N.Float64Flags,
}


class Decoded:
    """A decoded table: one attribute per schema field, plus where each lies.

    ``at[name]`` is where the field's value lies: a scalar's own bytes; for a
    table, vector or string field (and a union's value), the object the field
    refers to (the table's first byte, the vector's or string's length word),
    not the 4-byte reference to it; the table itself when the field is absent.
    Element i of a vector of n-byte values lies at ``at[name] + 4 + n * i``.
    ``pos`` is the table's offset. These are the offsets errors report
    (docs/FORMAT.md, "Where an error points").
    """

    def __init__(self, table_name: str, pos: int):
        self.table_name = table_name
        self.pos = pos
        self.at: dict[str, int] = {}

    def __repr__(self):
        fields = {k: v for k, v in vars(self).items() if k not in ("at", "pos", "table_name")}
        return f"{self.table_name}({fields})"


class _Reader:
    def __init__(self, buf, end: int, schema: Schema):
        self.buf = buf
        self.end = end
        self.schema = schema
        self.done: dict[tuple[int, str], Decoded] = {}

    def fail(self, path, offset, reason):
        raise FormatError(path, offset, reason)

    def u32(self, pos):
        return struct.unpack_from("<I", self.buf, pos)[0]

    def check_range(self, path, pos, size, align=1):
        if pos < 0 or pos + size > self.end:
            self.fail(path, pos, f"{size} bytes at {pos} run past the end of the flatbuffer ({self.end} bytes)")
        if align > 1 and pos % align:
            self.fail(path, pos, f"misaligned: {pos} is not a multiple of {align}")

    def offset_target(self, path, at):
        """Follow a uoffset stored at ``at``."""
        self.check_range(path, at, 4, 4)
        target = at + self.u32(at)
        if target >= self.end:
            self.fail(path, at, f"offset points to {target}, past the end of the flatbuffer ({self.end} bytes)")
        return target

    def table(self, path, pos, name, depth):
        key = (pos, name)
        if key in self.done:
            return self.done[key]
        if depth > MAX_DEPTH:
            self.fail(path, pos, f"tables nested deeper than {MAX_DEPTH}")
        self.check_range(path, pos, 4, 4)
        vtable = pos - struct.unpack_from("<i", self.buf, pos)[0]
        if vtable < 0 or vtable + 4 > self.end or vtable % 2:  # the soffset at pos is what is wrong
            self.fail(path + " (vtable)", pos, f"the vtable at {vtable} lies outside the flatbuffer or is misaligned")
        vt_bytes, obj_bytes = struct.unpack_from("<HH", self.buf, vtable)
        if vt_bytes < 4 or vt_bytes % 2:
            self.fail(path + " (vtable)", vtable, f"vtable size {vt_bytes} is not an even number >= 4")
        self.check_range(path + " (vtable)", vtable, vt_bytes)
        if obj_bytes < 4:
            self.fail(path, pos, f"table size {obj_bytes} is below 4")
        self.check_range(path, pos, obj_bytes)
        tab = FbTable(self.buf, pos)
        out = Decoded(name, pos)
        for f in self.schema.tables[name].fields:
            setattr(out, f.name, self.field(f"{path}.{f.name}", tab, f, vt_bytes, obj_bytes, depth, out))
        self.done[key] = out
        return out

    def slot(self, path, tab, slot, vt_bytes, obj_bytes, size):
        """Absolute position of the field in ``slot``, or None when absent; checked to lie in the table."""
        vt_off = 4 + 2 * slot
        if vt_off + 2 > vt_bytes:
            return None
        rel = tab.Offset(vt_off)
        if rel == 0:
            return None
        if rel < 4 or rel + size > obj_bytes:
            self.fail(path, tab.Pos, f"field at +{rel} ({size} bytes) lies outside its table ({obj_bytes} bytes)")
        at = tab.Pos + rel
        if at % size:
            self.fail(path, at, f"misaligned {size}-byte field")
        return at

    def field(self, path, tab, f, vt_bytes, obj_bytes, depth, out):
        kind = self.schema.kind(f.type)
        if kind in ("scalar", "enum"):
            fmt = self.schema.scalar_format(f.type)
            size = struct.calcsize(fmt)
            at = self.slot(path, tab, f.slot, vt_bytes, obj_bytes, size)
            out.at[f.name] = tab.Pos if at is None else at
            if at is None:
                value = f.default if f.default is not None else (0.0 if fmt in ("<f", "<d") else 0)
            else:
                value = tab.Get(_FLAGS[self.schema.base(f.type)], at)
            if kind == "enum" and value not in self.schema.enums[f.type].values.values():
                self.fail(path, out.at[f.name], f"{value} is not a {f.type} value")
            return value
        if kind == "union":
            members = self.schema.unions[f.type].members
            type_at = self.slot(path + "_type", tab, f.slot - 1, vt_bytes, obj_bytes, 1)
            code = 0 if type_at is None else tab.Get(N.Uint8Flags, type_at)
            value_at = self.slot(path, tab, f.slot, vt_bytes, obj_bytes, 4)
            out.at[f.name] = tab.Pos if value_at is None else value_at
            if code > len(members):
                self.fail(path + "_type", type_at, f"{code} is not a {f.type} member (1..{len(members)})")
            if code == 0:
                if value_at is not None:
                    self.fail(path, value_at, "a value is present but the union type is NONE")
                return None
            if value_at is None:
                self.fail(path, tab.Pos, f"union type {members[code - 1]} is set but the value is absent")
            target = self.offset_target(path, value_at)
            out.at[f.name] = target
            return self.table(path, target, members[code - 1], depth + 1)
        at = self.slot(path, tab, f.slot, vt_bytes, obj_bytes, 4)
        out.at[f.name] = tab.Pos if at is None else at
        if at is None:
            return None
        target = self.offset_target(path, at)
        out.at[f.name] = target
        if kind == "table":
            return self.table(path, target, f.type, depth + 1)
        if kind == "string":
            return self.string(path, target)
        return self.vector(path, target, f.type[1:-1], depth)

    def vector_header(self, path, target, elem_size):
        self.check_range(path, target, 4, 4)
        n = self.u32(target)
        if n * elem_size > self.end - target - 4:
            self.fail(path, target, f"vector of {n} x {elem_size} bytes runs past the end of the flatbuffer")
        if elem_size == 8 and (target + 4) % 8:
            self.fail(path, target, "8-byte vector elements are misaligned")
        return n

    def string(self, path, target):
        n = self.vector_header(path, target, 1)
        if n > MAX_STRING_BYTES:
            self.fail(path, target, f"a string of {n} bytes is longer than {MAX_STRING_BYTES}")
        if target + 4 + n + 1 > self.end:  # the terminator: refused at the length word, as every string fault
            self.fail(path, target, f"the terminator of a {n}-byte string lies past the end of the flatbuffer")
        if self.buf[target + 4 + n] != 0:
            self.fail(path, target, "string is not NUL-terminated")
        try:
            return bytes(self.buf[target + 4:target + 4 + n]).decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail(path, target, f"string is not UTF-8 ({exc.reason})")

    def vector(self, path, target, elem, depth):
        kind = self.schema.kind(elem)
        if kind in ("scalar", "enum"):
            size = struct.calcsize(self.schema.scalar_format(elem))
            n = self.vector_header(path, target, size)
            values = np.frombuffer(self.buf, dtype=self.schema.scalar_dtype(elem), count=n, offset=target + 4).copy()
            if kind == "enum":
                allowed = np.array(sorted(self.schema.enums[elem].values.values()))
                bad = ~np.isin(values, allowed)
                if bad.any():
                    i = int(np.argmax(bad))
                    self.fail(f"{path}[{i}]", target + 4 + i * size, f"{values[i]} is not a {elem} value")
            return values
        n = self.vector_header(path, target, 4)
        if n > MAX_TABLE_VECTOR:  # before reading any element
            self.fail(path, target, f"a vector of {n} {elem} entries holds more than {MAX_TABLE_VECTOR}")
        items = []
        for i in range(n):
            at = target + 4 + 4 * i
            item_target = self.offset_target(f"{path}[{i}]", at)
            if kind == "table":
                items.append(self.table(f"{path}[{i}]", item_target, elem, depth + 1))
            elif kind == "string":
                items.append(self.string(f"{path}[{i}]", item_target))
            else:
                self.fail(path, target, f"vectors of {elem} are not supported")
        return items


def read_root(buf, end: int, root_at: int = 0, schema: Schema = SCHEMA) -> Decoded:
    """Verify and decode the root table of the flatbuffer in buf[0:end]."""
    reader = _Reader(buf, end, schema)
    target = reader.offset_target(schema.root, root_at)
    return reader.table(schema.root, target, schema.root, 0)
