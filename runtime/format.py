"""The .mfb format's constants and schema, defined once for the writer and the reader.

Layout of a file (docs/FORMAT.md has the byte-level specification):

    0    u32  root table offset (FlatBuffers)        \
    4    4s   file identifier "MFB0" (FlatBuffers)    |
    8    u16  format major version                   |  the header,
    10   u16  format minor version                   |  inside the flatbuffer
    12   u32  flatbuffer bytes (from byte 0)         |  (little-endian)
    16   u32  constant segment offset (16-aligned)   |
    20   u32  constant segment bytes                 |
    24   u32  file bytes                             |
    28   u32  reserved, 0                            /
    32   ...  the rest of the flatbuffer (tables, vectors, strings)
    S    ...  the constant segment: each Buffer 16-byte aligned, read in place

The schema itself is runtime/schema.fbs, parsed here (a small, strict parser
for the subset microflat uses: enums, unions, tables, vectors, strings), so
the .fbs file is the only place a field is declared.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

FILE_IDENTIFIER = b"MFB0"
FILE_EXTENSION = ".mfb"
FORMAT_MAJOR = 1  # a reader refuses any other major version
FORMAT_MINOR = 1  # a reader accepts any minor version (new fields are appended and ignored)
HEADER = struct.Struct("<I4sHHIIIII")  # root, identifier, major, minor, fb bytes, seg offset, seg bytes, file bytes, reserved
HEADER_BYTES = HEADER.size  # 32
EXTENDED_HEADER_BYTES = HEADER_BYTES - 8  # inserted after FlatBuffers' root offset and identifier
SEGMENT_ALIGNMENT = 16  # constant buffers and the segment start
ARENA_ALIGNMENT = 16  # every arena offset
MAX_TENSORS = 4096  # bounds the verifier's work on a hostile file
MAX_OPERATORS = 4096
MAX_RANK = 6
MAX_STRING_BYTES = 4096  # a name; bounds the C verifier's work, which has no memo of shared tables
MAX_TABLE_VECTOR = 4096  # entries of a vector of tables or strings, checked before any is read (MAX_TENSORS, MAX_OPERATORS)
MAX_TENSOR_BYTES = 2**31 - 1  # int32 indexing in the kernels
MAX_ARENA_BYTES = 2**31 - 1

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.fbs"

# FlatBuffers scalar type -> (struct format, numpy dtype), little-endian; used by the writer and the reader.
SCALARS = {
    "bool": ("<?", "<u1"), "byte": ("<b", "<i1"), "ubyte": ("<B", "<u1"), "short": ("<h", "<i2"),
    "ushort": ("<H", "<u2"), "int": ("<i", "<i4"), "uint": ("<I", "<u4"), "long": ("<q", "<i8"),
    "ulong": ("<Q", "<u8"), "float": ("<f", "<f4"), "double": ("<d", "<f8"),
}


@dataclass
class Enum:
    name: str
    base: str
    values: dict[str, int]

    def name_of(self, value: int) -> str:
        for k, v in self.values.items():
            if v == value:
                return k
        raise KeyError(value)


@dataclass
class Union:
    name: str
    members: list[str]  # member i has type code i + 1; 0 is NONE


@dataclass
class Field:
    name: str
    type: str  # scalar, enum, table, union name, "string", or "[T]"
    default: float | int | None
    slot: int  # vtable slot (a union takes two: its type, then its value)


@dataclass
class Table:
    name: str
    fields: list[Field] = field(default_factory=list)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def slot_count(self) -> int:
        return max((f.slot for f in self.fields), default=-1) + 1


@dataclass
class Schema:
    enums: dict[str, Enum]
    unions: dict[str, Union]
    tables: dict[str, Table]
    root: str
    identifier: bytes

    def kind(self, type_name: str) -> str:
        """'scalar', 'enum', 'union', 'table', 'string' or 'vector'."""
        if type_name.startswith("["):
            return "vector"
        if type_name == "string":
            return "string"
        if type_name in SCALARS:
            return "scalar"
        if type_name in self.enums:
            return "enum"
        if type_name in self.unions:
            return "union"
        if type_name in self.tables:
            return "table"
        raise KeyError(type_name)

    def base(self, type_name: str) -> str:
        """The scalar type of a scalar or enum type."""
        return self.enums[type_name].base if type_name in self.enums else type_name

    def scalar_format(self, type_name: str) -> str:
        return SCALARS[self.base(type_name)][0]

    def scalar_dtype(self, type_name: str) -> str:
        return SCALARS[self.base(type_name)][1]


def parse_schema(text: str) -> Schema:
    """Parse the .fbs subset microflat uses; raise ValueError on anything else."""
    text = re.sub(r"//[^\n]*", "", text)
    enums, unions, tables = {}, {}, {}
    root = identifier = None
    pos = 0
    block = re.compile(r"\s*(enum|union|table)\s+(\w+)\s*(?::\s*(\w+))?\s*\{([^}]*)\}|"
                       r"\s*(namespace|root_type|file_identifier|file_extension)\s+([^;]+);|\s*$", re.S)
    while pos < len(text):
        m = block.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"schema: cannot parse at {text[pos:pos + 40]!r}")
        pos = m.end()
        kind, name, base, body, directive, arg = m.groups()
        if kind == "enum":
            values, nxt = {}, 0
            for item in filter(None, (s.strip() for s in body.split(","))):
                key, _, val = (p.strip() for p in item.partition("="))
                nxt = int(val) if val else nxt
                values[key] = nxt
                nxt += 1
            enums[name] = Enum(name, base, values)
        elif kind == "union":
            unions[name] = Union(name, [s.strip() for s in body.split(",") if s.strip()])
        elif kind == "table":
            t = Table(name)
            slot = 0
            for decl in filter(None, (s.strip() for s in body.split(";"))):
                fm = re.fullmatch(r"(\w+)\s*:\s*(\[?\w+\]?)\s*(?:=\s*(\S+))?", decl)
                if not fm:
                    raise ValueError(f"schema: cannot parse field {decl!r} of {name}")
                fname, ftype, default = fm.groups()
                value = None if default is None else (float(default) if "." in default else int(default))
                if ftype in unions:  # a union occupies two slots: <name>_type, then the value
                    slot += 1
                t.fields.append(Field(fname, ftype, value, slot))
                slot += 1
            tables[name] = t
        elif directive == "root_type":
            root = arg.strip()
        elif directive == "file_identifier":
            identifier = arg.strip().strip('"').encode()
    schema = Schema(enums, unions, tables, root, identifier)
    for t in tables.values():
        for f in t.fields:
            schema.kind(f.type.strip("[]"))  # every type is known
    return schema


SCHEMA = parse_schema(SCHEMA_PATH.read_text())
if SCHEMA.identifier != FILE_IDENTIFIER:
    raise RuntimeError("schema.fbs and format.py disagree on the file identifier")

DTYPE = SCHEMA.enums["DType"].values
OPCODE = SCHEMA.enums["OpCode"].values
OPCODE_NAMES = {v: k for k, v in OPCODE.items()}
ROUNDING_MODE = SCHEMA.enums["RoundingMode"].values
DTYPE_NUMPY = {DTYPE["INT8"]: "int8", DTYPE["INT32"]: "int32", DTYPE["FLOAT32"]: "float32", DTYPE["INT16"]: "int16",
               DTYPE["INT64"]: "int64"}
DTYPE_BYTES = {DTYPE["INT8"]: 1, DTYPE["INT32"]: 4, DTYPE["FLOAT32"]: 4, DTYPE["INT16"]: 2, DTYPE["INT64"]: 8}
