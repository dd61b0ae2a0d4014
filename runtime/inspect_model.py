"""What `microflat inspect` reports: ops with shapes, MACs, weight encodings and bytes, the arena plan, the file's bytes.

The size ledger: the constants as float32 (4 bytes an element, what the
PyTorch model holds), as dense int8 weights with int32 biases, and as stored
(each weight in its encoding).
"""

from __future__ import annotations

from .format import HEADER_BYTES
from .loader import LoadedModel


def summary(m: LoadedModel) -> dict:
    ops = []
    for k, op in enumerate(m.operators):
        consts = [m.tensors[int(i)] for i in op.inputs if i >= 0 and m.tensors[int(i)].is_const]
        encoded = [t.encoding.kind for t in consts if t.encoding is not None]
        ops.append({
            "index": k,
            "op": m.opcode_name(op.opcode),
            "inputs": [list(m.tensors[int(i)].shape) for i in op.inputs if i >= 0 and not m.tensors[int(i)].is_const],
            "outputs": [list(m.tensors[int(i)].shape) for i in op.outputs],
            "macs": m.op_info[k].macs,
            "weight_bytes": sum(t.stored_bytes for t in consts),
            "dense_weight_bytes": sum(t.nbytes for t in consts),
            "encoding": encoded[0] if encoded else ("dense" if consts else ""),
            "scratch_bytes": m.op_info[k].scratch_bytes,
        })
    h = m.header
    weight = m.weight_bytes
    segment = sum(size for _, size in m.buffers)  # constants in the segment (codebooks live in the flatbuffer)
    return {
        "file_bytes": h.file_bytes,
        "weight_bytes": weight,
        "size_ledger": {
            "float32_bytes": sum(4 * t.size for t in m.tensors if t.is_const),
            "int8_dense_bytes": sum(t.nbytes for t in m.tensors if t.is_const),
            "stored_bytes": weight,
        },
        "arena_bytes": m.arena_bytes,
        "liveness_lower_bound_bytes": m.liveness_bound(),
        "overlap_lower_bound_bytes": m.overlap_bound(),
        "macs": sum(o["macs"] for o in ops),
        "format_version": f"{h.major}.{h.minor}",
        "producer": m.root.metadata.producer,
        "source_sha256": bytes(m.root.metadata.source_sha256 if m.root.metadata.source_sha256 is not None else b"").hex(),
        "file_breakdown": {
            "header": HEADER_BYTES,
            "flatbuffer": h.flatbuffer_bytes - HEADER_BYTES,
            "alignment_padding": h.segment_offset - h.flatbuffer_bytes + h.segment_bytes - segment,
            "constants": segment,
        },
        "inputs": [_tensor(m, i) for i in m.inputs],
        "outputs": [_tensor(m, i) for i in m.outputs],
        "ops": ops,
        "arena_plan": [{"tensor": t.index, "name": t.name, "offset": m.tensor_offsets[t.index], "bytes": t.nbytes}
                       for t in m.tensors if m.tensor_offsets[t.index] >= 0],
    }


def _tensor(m, i):
    t = m.tensors[i]
    return {"index": i, "name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scale": t.scale_value, "zero_point": t.zero_point}


def render(s: dict) -> str:
    lines = [
        f"file {s['file_bytes']} bytes: header {s['file_breakdown']['header']}, flatbuffer {s['file_breakdown']['flatbuffer']}, "
        f"constants {s['file_breakdown']['constants']}, padding {s['file_breakdown']['alignment_padding']}",
        f"arena {s['arena_bytes']} bytes (liveness lower bound {s['liveness_lower_bound_bytes']}, with overlap "
        f"{s['overlap_lower_bound_bytes']}), "
        f"{s['macs']} MACs, format {s['format_version']}, {s['producer']}",
        "",
        ledger(s["size_ledger"]),
        "",
        f"{'#':>3}  {'op':<18} {'output':<18} {'MACs':>10} {'encoding':<24} {'weights':>9} {'dense':>9} {'scratch':>8}",
    ]
    for o in s["ops"]:
        out = "x".join(map(str, o["outputs"][0])) if o["outputs"] else ""
        lines.append(f"{o['index']:>3}  {o['op']:<18} {out:<18} {o['macs']:>10} {o['encoding']:<24} "
                     f"{o['weight_bytes']:>9} {o['dense_weight_bytes']:>9} {o['scratch_bytes']:>8}")
    return "\n".join(lines)


def ledger(g: dict) -> str:
    f32, dense, stored = g["float32_bytes"], g["int8_dense_bytes"], g["stored_bytes"]
    return (f"constants: float32 {f32} B -> int8 dense {dense} B ({f32 / max(dense, 1):.1f}x) -> "
            f"stored {stored} B ({f32 / max(stored, 1):.1f}x)")
