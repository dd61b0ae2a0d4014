"""Generate runtime/c/mfb_schema.h, the C runtime's view of runtime/schema.fbs.

schema.fbs is the one declaration of every field. The C verifier walks the
flatbuffer with the same table descriptions the Python reader takes from
format.SCHEMA, so both check the same fields at the same vtable slots; the
interpreter reads fields by the slot constants defined here. The header is
checked in (a firmware build needs no Python) and a test regenerates it and
compares, so it cannot drift from the schema.

    python -m microflat.runtime.c_schema > runtime/c/mfb_schema.h
"""

from __future__ import annotations

import re
import struct
import sys

from .format import FILE_IDENTIFIER, FORMAT_MAJOR, FORMAT_MINOR, SCHEMA, Schema

# Field kinds, as the C verifier switches on them.
KINDS = ("SCALAR", "ENUM", "UNION", "TABLE", "STRING", "VECTOR_SCALAR", "VECTOR_ENUM", "VECTOR_TABLE", "VECTOR_STRING")


def _macro(*parts: str) -> str:
    return "_".join(re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[0-9][A-Z])(?=[A-Z][a-z])", "_", p).upper() for p in parts)


def _size(schema: Schema, type_name: str) -> int:
    return struct.calcsize(schema.scalar_format(type_name))


def _enum_max(schema: Schema, name: str) -> int:
    values = sorted(schema.enums[name].values.values())
    if values != list(range(len(values))):
        raise ValueError(f"enum {name}: the C verifier needs values 0..n-1, got {values}")
    return len(values) - 1


def _default(schema: Schema, f) -> str:
    if f.default is None:
        return "0"
    if schema.base(f.type) in ("float", "double"):
        return repr(float(f.default)) + "f"
    return str(int(f.default))


def _descriptor(schema: Schema, f, table_ids, union_ids) -> tuple[str, int, int, int]:
    """(kind, byte size of the scalar or element, sub id: table or union, enum maximum)."""
    kind = schema.kind(f.type)
    if kind == "vector":
        elem = f.type[1:-1]
        ek = schema.kind(elem)
        if ek == "scalar":
            return "VECTOR_SCALAR", _size(schema, elem), 0, 0
        if ek == "enum":
            return "VECTOR_ENUM", _size(schema, elem), 0, _enum_max(schema, elem)
        if ek == "table":
            return "VECTOR_TABLE", 4, table_ids[elem], 0
        if ek == "string":
            return "VECTOR_STRING", 4, 0, 0
        raise ValueError(f"vectors of {elem} are not supported")
    if kind == "scalar":
        return "SCALAR", _size(schema, f.type), 0, 0
    if kind == "enum":
        return "ENUM", _size(schema, f.type), 0, _enum_max(schema, f.type)
    if kind == "union":
        return "UNION", 4, union_ids[f.type], 0
    if kind == "table":
        return "TABLE", 4, table_ids[f.type], 0
    return "STRING", 4, 0, 0


def _ops_built(schema: Schema) -> list[str]:
    """MFB_OP_BUILT_<NAME>, 1 or 0 for every opcode: the operators a build holds (microflat.h, "Operators").
    0 and 1 rather than defined or not, so that mfb_ops.c can test them in C expressions, which the compiler
    folds, and so still type-checks the operators it leaves out."""
    out = ["", "/* The operators this build holds: every one, or with MF_OPS_SELECTED those mf_ops_used.h enables. */",
           "#ifdef MF_OPS_SELECTED", '#include "mf_ops_used.h"', "#endif"]
    for name in schema.enums["OpCode"].values:
        out += [f"#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_{name})", f"#define MFB_OP_BUILT_{name} 1",
                "#else", f"#define MFB_OP_BUILT_{name} 0", "#endif"]
    return out


def header(schema: Schema = SCHEMA) -> str:
    tables = list(schema.tables)
    table_ids = {t: i for i, t in enumerate(tables)}
    unions = list(schema.unions)
    union_ids = {u: i for i, u in enumerate(unions)}
    out = [
        "/* Generated from runtime/schema.fbs by runtime/c_schema.py: do not edit; regenerate with",
        " *     python -m microflat.runtime.c_schema > runtime/c/mfb_schema.h",
        " * The C verifier (mfb_reader.c) walks tables with these descriptors; the interpreter reads",
        " * fields by the slot constants. A test regenerates this file and compares. */",
        "#ifndef MFB_SCHEMA_H",
        "#define MFB_SCHEMA_H",
        "",
        "#include <stdint.h>",
        "",
        f'#define MFB_FILE_IDENTIFIER "{FILE_IDENTIFIER.decode()}"',
        f"#define MFB_FORMAT_MAJOR {FORMAT_MAJOR}",
        f"#define MFB_FORMAT_MINOR {FORMAT_MINOR}",
        "",
        "/* Field kinds. */",
    ]
    out += [f"#define MFB_KIND_{k} {i}" for i, k in enumerate(KINDS)]
    out += ["", "typedef struct {",
            "    uint8_t kind;     /* MFB_KIND_* */",
            "    uint8_t slot;     /* vtable slot (a union's type lies in slot - 1) */",
            "    uint8_t size;     /* bytes of the scalar, or of a vector element */",
            "    uint8_t sub;      /* the table of a TABLE / VECTOR_TABLE field, the union of a UNION field */",
            "    int32_t enum_max; /* ENUM / VECTOR_ENUM: valid values are 0..enum_max */",
            "} mfb_field_desc;", "",
            "typedef struct {",
            "    const mfb_field_desc *fields;",
            "    uint8_t count;",
            "} mfb_table_desc;", "",
            "typedef struct {",
            "    const uint8_t *members; /* member i (type code i + 1) is table members[i] */",
            "    uint8_t count;",
            "} mfb_union_desc;", "", "/* Tables. */"]
    out += [f"#define MFB_TABLE_{_macro(t)} {i}" for i, t in enumerate(tables)]
    out += [f"#define MFB_TABLE_COUNT {len(tables)}", f"#define MFB_ROOT_TABLE MFB_TABLE_{_macro(schema.root)}", ""]
    out.append("/* Enums. */")
    for name, e in schema.enums.items():
        for k, v in e.values.items():
            out.append(f"#define MFB_{_macro(name)}_{k} {v}")
        out.append(f"#define MFB_{_macro(name)}_MAX {_enum_max(schema, name)}")
    out += _ops_built(schema)
    out += ["", "/* Union type codes (0 is NONE). */"]
    for name, u in schema.unions.items():
        for i, m in enumerate(u.members):
            out.append(f"#define MFB_{_macro(name)}_{_macro(m)} {i + 1}")
    out += ["", "/* Field slots (MFB_<TABLE>_<FIELD>) and defaults (..._DEFAULT). */"]
    for t in tables:
        for f in schema.tables[t].fields:
            out.append(f"#define MFB_{_macro(t, f.name)} {f.slot}")
            if schema.kind(f.type) in ("scalar", "enum"):
                out.append(f"#define MFB_{_macro(t, f.name)}_DEFAULT {_default(schema, f)}")
    out += ["", "#ifdef MFB_SCHEMA_DESCRIPTORS"]
    for t in tables:
        rows = []
        for f in schema.tables[t].fields:
            kind, size, sub, emax = _descriptor(schema, f, table_ids, union_ids)
            rows.append(f"    {{MFB_KIND_{kind}, {f.slot}, {size}, {sub}, {emax}}}, /* {f.name} */")
        out += [f"static const mfb_field_desc mfb_fields_{t}[] = {{", *rows, "};"]
    out.append("static const mfb_table_desc mfb_tables[MFB_TABLE_COUNT] = {")
    out += [f"    {{mfb_fields_{t}, {len(schema.tables[t].fields)}}}," for t in tables]
    out.append("};")
    for name, u in schema.unions.items():
        members = ", ".join(f"MFB_TABLE_{_macro(m)}" for m in u.members)
        out.append(f"static const uint8_t mfb_members_{name}[] = {{{members}}};")
    out.append(f"static const mfb_union_desc mfb_unions[{len(unions)}] = {{")
    out += [f"    {{mfb_members_{u}, {len(schema.unions[u].members)}}}," for u in unions]
    out += ["};", "#endif /* MFB_SCHEMA_DESCRIPTORS */", "", "#endif /* MFB_SCHEMA_H */", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(header())
