"""Choose each weight's encoding in the file: the smallest one the kernels run in place, or the one asked for.

The candidates for an int8 weight of n elements (sizes in bytes, the
encodings of kernels/weight_encoding.py):

    dense         n
    packed        ceil(n * b / 8), b = the fewest two's-complement bits that hold
                  every weight (b = 4 is CMSIS-NN's packed int4)
    palette       ceil(n * ceil(log2 K) / 8) + K, with K distinct values in the tensor,
                  or + C * K_max with one palette per output channel
    sparse        ceil(E * p / 8) + ceil(E * v / 8) [+ palette], for each position width
                  p in 1..8: E = nonzeros + fillers, where a run of g zeros between two
                  stored weights takes g div 2^p fillers; v is the packed or palette width

Every buffer in the constant segment is padded to 16 bytes and an encoding
table costs about ENCODING_OVERHEAD bytes of flatbuffer, so those are added
before comparing: a small layer stays dense unless encoding it really saves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microflat.kernels import weight_encoding as WE
from microflat.runtime.errors import CompileError

MODES = ("auto", "dense", "packed", "int4", "palette", "sparse")
ENCODING_OVERHEAD = 48  # the WeightEncoding table, its vtable and the codebook vector's header


@dataclass(frozen=True)
class Choice:
    kind: str               # "dense", "packed", "palette", "sparse"
    value_bits: int = 8
    palette: str | None = None  # None, "tensor" or "channel"
    position_bits: int = 0
    file_bytes: int = 0     # the estimate compared: aligned streams, codebook and table overhead


def _aligned(n: int) -> int:
    return (n + 15) // 16 * 16


def _palette_sizes(values: np.ndarray, channel: np.ndarray, channels: int, extra_zero: bool) -> tuple[int, int]:
    """(distinct values in the tensor, the most distinct values of one channel), counting a zero for fillers."""
    k_tensor = np.unique(values).size + (extra_zero and not np.any(values == 0))
    k_channel = 1
    if values.size:
        pairs = np.unique(channel * 512 + values.astype(np.int64) + 256)
        per = np.bincount(pairs // 512, minlength=channels)
        k_channel = int(per.max()) + int(extra_zero)
    return int(k_tensor), int(k_channel)


def candidates(w: np.ndarray, axis: int) -> list[Choice]:
    """Every encoding of ``w`` (int8, output channels on ``axis``) with its estimated file bytes, dense first."""
    n, channels = w.size, w.shape[axis]
    rows = WE.row_order(w, axis).astype(np.int64)
    out = [Choice("dense", file_bytes=_aligned(n))]
    chan_dense = WE.channels_of(w.shape, axis, n)
    b = WE.signed_bits(rows)
    if b < 8:
        out.append(Choice("packed", b, file_bytes=_aligned(WE.stream_bytes(n, b)) + ENCODING_OVERHEAD))
    kt, kc = _palette_sizes(w.reshape(-1), chan_dense, channels, False)
    for pal, k, book in (("tensor", kt, kt), ("channel", kc, kc * channels)):
        bits = WE.index_bits(k)
        if k <= WE.MAX_CODEBOOK and bits < 8:
            out.append(Choice("palette", bits, pal, 0,
                              _aligned(WE.stream_bytes(n, bits)) + book + ENCODING_OVERHEAD))
    nz = np.flatnonzero(rows)
    gaps = np.diff(np.concatenate([[-1], nz])) - 1
    row_len = n // channels
    for p in range(1, WE.MAX_POSITION_BITS + 1):
        fill = int((gaps // (1 << p)).sum())
        e = nz.size + fill
        pos_bytes = _aligned(WE.stream_bytes(e, p))
        kt, kc = _palette_sizes(rows[nz], nz // row_len, channels, fill > 0)
        options = [(None, max(WE.signed_bits(rows[nz]), 1), 0)]
        options += [(pal, WE.index_bits(k), book) for pal, k, book in (("tensor", kt, kt), ("channel", kc, kc * channels))
                    if k <= WE.MAX_CODEBOOK]
        for pal, v, book in options:
            out.append(Choice("sparse", v, pal, p,
                              pos_bytes + _aligned(WE.stream_bytes(e, v)) + book + ENCODING_OVERHEAD))
    return out


def choose(w: np.ndarray, axis: int, mode: str = "auto", where: str = "") -> Choice:
    """The smallest encoding of ``mode`` ("auto": of all); CompileError when the mode cannot hold ``w``."""
    if mode not in MODES:
        raise CompileError(f"weight encoding must be one of {MODES}, got {mode!r}{where}")
    if mode == "dense":
        return Choice("dense", file_bytes=_aligned(w.size))
    if mode == "int4":
        lo, hi = int(w.min()), int(w.max())
        if lo < -8 or hi > 7:
            raise CompileError(f"int4 needs weights in [-8, 7]; they span [{lo}, {hi}]{where} (quantize with "
                               "weight_bits=4)")
        return Choice("packed", 4, file_bytes=_aligned(WE.stream_bytes(w.size, 4)) + ENCODING_OVERHEAD)
    options = candidates(w, axis)
    if mode != "auto":
        options = [c for c in options if c.kind == mode]
        if not options:
            raise CompileError(f"the {mode} encoding saves nothing on these weights{where}; use 'auto' or 'dense'")
    return min(options, key=lambda c: c.file_bytes)


def encode(w: np.ndarray, axis: int, choice: Choice) -> WE.Encoding | None:
    """The Encoding of a choice; None for dense."""
    if choice.kind == "dense":
        return None
    return WE.encode(w, axis, value_bits=choice.value_bits if choice.kind != "palette" else None,
                     palette=choice.palette, position_bits=choice.position_bits)
