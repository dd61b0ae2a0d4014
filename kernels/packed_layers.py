"""The fast Numba path of conv2d, fully connected and depthwise conv2d: weights repacked once, SIMD tiles.

The *_s8 kernels beside this file are the Numba twins of the C kernels: one
output at a time, the same arguments as C. These kernels give the same bytes
(tests/test_kernels_exact.py and tests/test_packed_kernels.py compare each with the int64 references) on
weights prepared once by `pack_gemm` / `pack_depthwise`, which is what the
interpreter does at load:

  conv2d, fully connected   a u8 x s8 GEMM without im2col. The filter [C_out,
                            KH, KW, C_in] becomes int8 blocks of 16 channels x
                            quads of 4 (vector_ir.quad_dot_tile), cut along the
                            runs that lie side by side in the input (a filter
                            row); a tile of P pixels x up to 4 blocks reads each
                            pixel's quads where they lie, through the pixel's
                            address and the quads' offsets, and keeps its P x NB
                            vectors of accumulators in registers through the
                            whole reduction. The input is read as x + 128
                            where the target multiplies unsigned by signed
                            bytes (VPDPBUSD), as x elsewhere (vector_ir.
                            INPUT_OFFSET); that offset and the zero point are
                            taken out through the bias.
  transpose conv2d          stride_h * stride_w ordinary convolutions, one per
                            output phase (the rows oy = oy0 + j * stride_h, columns
                            likewise), each on the conv2d path above; a phase's
                            output is then copied to its strided place
                            (transpose_conv2d_packed_calls, scatter_pixels_s8).
  depthwise conv2d          3x3 with depth multiplier 1: per pixel, all nine taps
                            over 16 (then 8) channels in registers
                            (vector_ir.depthwise_taps), read from the input or,
                            where the layer pads, from a copy of it with a border
                            of zero points, so no tap is tested. Other filters: per output
                            row, one int32 accumulator per (pixel, channel), tap by
                            tap, the loop over channels contiguous on both sides.

Both end in the output stage: the accumulators (plus bias) go through the
fused form of TFLite's double rounding (numerics.requant_fused, derived in
numerics.h): n = acc * mult + round - [acc ^ mult < 0] * 2^31, out = (n >> 32)
>> right. That needs shift <= -1 and mult != INT32_MIN; a layer with another
channel takes the reference `requantize` for every output, pixel by pixel.
The fused stage runs over a whole span of accumulators at once (a tile's
pixels, a depthwise output row), with the per-channel vectors repeated
along the span when the layer is packed (`tile_requant`): one long
branch-free, unit-stride loop that vectorizes. Pixel by pixel, 8 or 16
channels are fewer than one vector iteration of it and ran scalar: that
was half of every layer's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from numba import njit, types

from ._copy import copy_elements
from ._jit import kernel
from .conv2d import conv2d_s8
from .depthwise_conv2d import depthwise_conv2d_s8
from .fully_connected import fully_connected_s8
from .kernel_args import bind
from .transpose_conv import transpose_conv2d_s8
from .numerics import requant_fused, requant_prepare_channels, requantize
from .vector_ir import INPUT_OFFSET, LANES, TILE_BLOCKS, TILE_PIXELS, depthwise_taps, quad_dot_tile, requant_lanes

QUAD = 4  # bytes of the reduction per VPDPBUSD lane
BLOCKS = TILE_BLOCKS  # 16-channel blocks of a tile, at most (the target's: vector_ir)

# The tiles run_tile chooses from: a layer of NB blocks takes tiles of TILE_PIXELS[min(NB, BLOCKS)] pixels;
# BLOCKS at a time, then the remaining blocks at that many pixels. On AVX-512 (12, 1), (8, 2), (6, 3), (4, 4)
# and (4, 1..3); on AVX2 (2, 1) only. Unused sizes are never compiled (an intrinsic compiles when called).
_FULL = tuple(quad_dot_tile(TILE_PIXELS[nb], nb) for nb in range(1, BLOCKS + 1))
_REST = tuple(quad_dot_tile(TILE_PIXELS[BLOCKS], nb) for nb in range(1, BLOCKS + 1))
_FULL_PIXELS = tuple(TILE_PIXELS[nb] for nb in range(1, BLOCKS + 1))
_f1, _f2, _f3, _f4 = _FULL + (_FULL[-1],) * (4 - BLOCKS)
_r1, _r2, _r3, _r4 = _REST + (_REST[-1],) * (4 - BLOCKS)
_p1, _p2, _p3, _p4 = _FULL_PIXELS + (_FULL_PIXELS[-1],) * (4 - BLOCKS)
# A layer of one output pixel (a fully connected layer at batch 1) takes 1-pixel tiles: a full tile would
# compute its one pixel TILE_PIXELS times over.
_ONE = tuple(quad_dot_tile(1, nb) for nb in range(1, BLOCKS + 1))
_o1, _o2, _o3, _o4 = _ONE + (_ONE[-1],) * (4 - BLOCKS)

_taps3x3_16 = depthwise_taps(3, 3, 16)
_taps3x3_8 = depthwise_taps(3, 3, 8)

_i64 = types.int64
_REQUANT = (types.int32[::1], types.int32[::1], types.int32[::1], types.int64[::1], types.int64[::1],
            types.boolean)  # bias, mult, shift, round, right, fused


@dataclass(frozen=True)
class Requant:
    """Per-channel vectors of the output stage, prepared once (requant_prepare in numerics.h)."""

    mult: np.ndarray  # int32 [C]
    shift: np.ndarray  # int32 [C], as stored
    round: np.ndarray  # int64 [C]: 2^30 + 2^(31 + right)
    right: np.ndarray  # int64 [C]: -shift - 1
    fused: bool  # every channel has shift <= -1 and mult != INT32_MIN


def prepare_requant(mult, shift, channels: int) -> Requant:
    mult = np.broadcast_to(np.asarray(mult, np.int64).reshape(-1), (channels,)).copy()
    shift = np.broadcast_to(np.asarray(shift, np.int64).reshape(-1), (channels,)).copy()
    return Requant(mult.astype(np.int32), shift.astype(np.int32), *requant_prepare_channels(mult, shift))


@dataclass(frozen=True)
class PackedGemm:
    """A [C_out, KH, KW, C_in] int8 filter as the tiles read it, with its bias and output stage."""

    weights: np.ndarray  # int8 [blocks * nk * 64]
    koff: np.ndarray  # int64 [nk]: quad j's byte offset from a pixel's first tap in the source image
    channels: int
    bias: np.ndarray  # int32 [C_out]: the layer's bias - (input_zp + INPUT_OFFSET) * sum of the channel's weights
    requant: Requant


def filter_runs(filter_h, filter_w, input_ch, dilation_h, dilation_w, source_w):
    """[(first index, length, byte offset)]: the filter's (ky, kx, c) order cut into the runs that lie side by
    side in the source image (source_w pixels a row): one per filter row when dilation_w = 1, else one per tap."""
    row = dilation_h * source_w * input_ch
    if dilation_w == 1:
        return [(ky * filter_w * input_ch, filter_w * input_ch, ky * row) for ky in range(filter_h)]
    return [((ky * filter_w + kx) * input_ch, input_ch, ky * row + kx * dilation_w * input_ch)
            for ky in range(filter_h) for kx in range(filter_w)]


def pack_gemm(filter_rows: np.ndarray, runs, bias, mult, shift, input_zp: int) -> PackedGemm:
    """Blocks of 16 output channels; in each, for every quad j, the 16 channels' four weights. Each run is cut
    into quads, its last one filled up with zero weights: those read the bytes after the run, which add 0.
    C_out is padded to a multiple of 16 with zero weights."""
    w = np.asarray(filter_rows, np.int8)
    channels, k = w.shape
    index = [[first + QUAD * q + i if QUAD * q + i < length else -1 for i in range(QUAD)]
             for first, length, _ in runs for q in range(-(-length // QUAD))]
    koff = np.array([offset + QUAD * q for _, length, offset in runs for q in range(-(-length // QUAD))], np.int64)
    index = np.array(index, np.int64)  # [nk, 4], -1: a zero weight
    blocks = -(-channels // LANES)
    padded = np.zeros((blocks * LANES, k + 1), np.int8)  # column k: the zero weight
    padded[:channels, :k] = w
    quads = padded[:, np.where(index < 0, k, index)]  # [C_out', nk, 4]
    packed = quads.reshape(blocks, LANES, len(koff), QUAD).transpose(0, 2, 1, 3).reshape(-1).copy()
    b = np.zeros(channels, np.int64) if bias is None or len(bias) == 0 else np.asarray(bias, np.int64)
    b = (b - (int(input_zp) + INPUT_OFFSET) * w.astype(np.int64).sum(axis=1)).astype(np.int32)
    return PackedGemm(packed, koff, channels, b, prepare_requant(mult, shift, channels))


def tile_requant(bias, r: Requant, reps: int):
    """(bias int32, mult, shift, round, right int64) of a span of `reps` pixels of the layer's channels: each
    per-channel vector repeated. Entry c < channels stays channel c, as the pixel-by-pixel reference path
    reads it."""
    return (np.tile(np.asarray(bias, np.int32), reps), *(np.tile(v, reps) for v in (r.mult, r.shift, r.round, r.right)))


@njit(inline="always", cache=True, nogil=True)
def run_tile(pixels, blocks, acc, acc_stride, addrs, koff, w, w_off, w_stride):
    """The tile of `pixels` x `blocks` (1..BLOCKS): the layer's full tile (TILE_PIXELS[blocks] pixels), a
    remainder of its last blocks at TILE_PIXELS[BLOCKS] pixels, or a one-pixel layer's tile, each its own
    compiled intrinsic."""
    nk = koff.shape[0]
    if pixels == 1:
        if blocks == 1:
            _o1(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
        elif blocks == 2:
            _o2(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
        elif blocks == 3:
            _o3(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
        else:
            _o4(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
    elif blocks == 1:
        if pixels == _p1:
            _f1(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
        else:
            _r1(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
    elif blocks == 2:
        if pixels == _p2:
            _f2(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
        else:
            _r2(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
    elif blocks == 3:
        if pixels == _p3:
            _f3(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
        else:
            _r3(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
    elif pixels == _p4:
        _f4(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)
    else:
        _r4(acc, 0, acc_stride, addrs, koff, nk, w, w_off, w_stride)


@njit(inline="always", cache=True, nogil=True)
def requantize_span(acc, bias, mult, shift, rnd, right, output_zp, act_min, act_max, output):
    """output[j] = the fused requantization of acc[j] + bias[j] with entry j's vectors, for j < len(output).

    Where the target has instructions for it, vector_ir.requant_lanes does the first multiple of 16 entries.
    The rest, or all, here: the fused form (numerics.requant_fused) needs |acc + bias| < 2^31, the loader's
    bound, so the sum is an exact int32 and the product of two sign-extended int32 values (one PMULDQ); the
    result lies within +-(2^30 + 2^29 + 1), an int32, so the clamp to [act_min - output_zp, act_max -
    output_zp] before adding output_zp cannot overflow. Every index is the loop counter: the loop vectorizes."""
    lo = np.int32(act_min - output_zp)
    hi = np.int32(act_max - output_zp)
    zp = np.int32(output_zp)
    for j in range(requant_lanes(acc, bias, mult, shift, rnd, output_zp, act_min, act_max, output), output.shape[0]):
        x = np.int64(np.int32(np.int64(acc[j]) + bias[j]))
        v = np.int32(requant_fused(x, np.int64(mult[j]), rnd[j], right[j]))
        output[j] = np.int8(min(max(v, lo), hi) + zp)


@njit(inline="always", cache=True, nogil=True)
def requantize_row(acc, bias, mult, shift, output_zp, act_min, act_max, output):
    """The reference output stage of one pixel: output[c] = requantize(acc[c] + bias[c], channel c's
    multiplier and shift) for c < len(output), for layers the fused form cannot take."""
    for c in range(output.shape[0]):
        x = np.int32(np.int64(acc[c]) + bias[c])
        output[c] = np.int8(requantize(x, np.int32(mult[c]), np.int32(shift[c]), np.int32(output_zp),
                                       np.int32(act_min), np.int32(act_max)))


@njit(cache=True, nogil=True)
def padding_past_input(input_h, input_w, filter_h, filter_w, output_h, output_w, stride_h, stride_w, dilation_h,
                      dilation_w, pad_top, pad_left):
    """(pad_bottom, pad_right): the rows and columns past the input that the last output row and column read."""
    return (max(0, (output_h - 1) * stride_h + (filter_h - 1) * dilation_h + 1 - pad_top - input_h),
            max(0, (output_w - 1) * stride_w + (filter_w - 1) * dilation_w + 1 - pad_left - input_w))


@njit(inline="always", cache=True, nogil=True)
def pad_image(padded, input, base, input_h, input_w, channels, pad_top, pad_left, padded_h, padded_w, input_zp):
    """padded[(pad_top + y) * padded_w + pad_left + x] = input pixel (y, x) of the image at element `base`, every
    other pixel of the padded_h x padded_w image = input_zp (a padding tap then adds (zp - zp) * w = 0)."""
    zp = np.int8(input_zp)
    row = padded_w * channels
    padded[:pad_top * row] = zp
    for y in range(input_h):
        at = (pad_top + y) * row
        padded[at:at + pad_left * channels] = zp
        copy_elements(padded[at + pad_left * channels:at + (pad_left + input_w) * channels],
                      input[base + y * input_w * channels:base + (y + 1) * input_w * channels])
        padded[at + (pad_left + input_w) * channels:at + row] = zp
    padded[(pad_top + input_h) * row:padded_h * row] = zp


@kernel(
    types.void(
        types.int32[::1], types.int64[::1], types.int8[::1],  # acc, addrs, padded
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64, _i64,  # output_h, output_w, output_ch
        _i64, _i64, _i64, _i64, _i64, _i64,  # stride_h, stride_w, pad_top, pad_left, padded_h, padded_w
        _i64, _i64,  # input_zp, output_zp
        types.int8[::1], types.int64[::1], *_REQUANT,  # weights, koff, bias, mult, shift, round, right, fused
        _i64, _i64,  # act_min, act_max
        types.int8[::1], types.int8[::1],  # input, output
    )
)
def conv2d_s8_packed(
    acc, addrs, padded,
    batches, input_h, input_w, input_ch,
    output_h, output_w, output_ch,
    stride_h, stride_w, pad_top, pad_left, padded_h, padded_w,
    input_zp, output_zp,
    weights, koff, bias, mult, shift, rnd, right, fused,
    act_min, act_max,
    input, output,
):
    """conv2d_s8 (groups = 1) on a PackedGemm, with no im2col: a tile's pixels are read where they lie, in the
    input or, where the layer pads or its runs end off a quad, in a copy of it with a border of zero points
    (pad_image; padded_h x padded_w pixels, 4 bytes to spare). Per tile of P output pixels (TILE_PIXELS; the
    last tile repeats its last pixel), every BLOCKS x 16-channel slice of the output through one tile, then the tile's
    output stage at once (bias..right: tile_requant over P pixels). A fully connected layer is the same call
    on an input of [batches, 1, 1, K] as [1, batches, 1, K]."""
    blocks = (output_ch + 15) // 16
    pixels_per_tile = addrs.shape[0]
    acc_stride = blocks * 16
    block_stride = koff.shape[0] * 64
    pixels = output_h * output_w
    image = input_h * input_w * input_ch
    for b in range(batches):
        if padded.shape[0] > 0:
            pad_image(padded, input, b * image, input_h, input_w, input_ch, pad_top, pad_left, padded_h, padded_w,
                      input_zp)
            start = padded.ctypes.data
        else:
            start = input.ctypes.data + b * image
        oy = ox = 0  # the next pixel's place (no division per pixel: small layers notice it)
        for p0 in range(0, pixels, pixels_per_tile):
            count = min(pixels_per_tile, pixels - p0)
            for r in range(count):
                addrs[r] = start + (oy * stride_h * padded_w + ox * stride_w) * input_ch
                ox += 1
                if ox == output_w:
                    oy, ox = oy + 1, 0
            for r in range(count, pixels_per_tile):
                addrs[r] = addrs[count - 1]
            for nb0 in range(0, blocks, BLOCKS):
                run_tile(pixels_per_tile, min(BLOCKS, blocks - nb0), acc[nb0 * 16:], acc_stride, addrs, koff,
                         weights, nb0 * block_stride, block_stride)
            out_base = (b * pixels + p0) * output_ch
            if not fused:
                for r in range(count):
                    out = out_base + r * output_ch
                    requantize_row(acc[r * acc_stride:], bias, mult, shift, output_zp, act_min, act_max,
                                   output[out:out + output_ch])
            else:
                if acc_stride != output_ch:  # close up the padding lanes: the tile's pixels become one span
                    for r in range(1, count):
                        for c in range(output_ch):
                            acc[r * output_ch + c] = acc[r * acc_stride + c]
                requantize_span(acc, bias, mult, shift, rnd, right, output_zp, act_min, act_max,
                                output[out_base:out_base + count * output_ch])


@dataclass(frozen=True)
class PackedDepthwise:
    """A [1, KH, KW, C] int8 depthwise filter widened to int32 [KH * KW * C], with bias and output stage."""

    weights: np.ndarray  # int32 [KH * KW * C], then, where grouped_pixels(C) > 1, [KH * KW * 16] (below)
    tap_sums: np.ndarray  # int32 [C]: sum of each channel's weights over all taps; then [16] where grouped
    bias: np.ndarray
    requant: Requant


@njit(cache=True, nogil=True)
def grouped_pixels(channels):
    """Output pixels that share one 16-lane vector in the 3x3 path at stride 1: 16 / C for C < 16 dividing
    16 (pixel ox + 1's taps are pixel ox's moved by one pixel, so one load reads both), else 1."""
    return LANES // channels if channels < LANES and LANES % channels == 0 else 1


def pack_depthwise(filter_1hwc: np.ndarray, bias, mult, shift) -> PackedDepthwise:
    """The filter widened to int32, and below 16 channels that divide 16 a second copy of it (and of the tap
    sums) with each tap's channels repeated over the 16 lanes, for the grouped 3x3 path."""
    w = np.asarray(filter_1hwc, np.int8)
    channels = w.shape[3]
    b = np.zeros(channels, np.int32) if bias is None or len(bias) == 0 else np.asarray(bias, np.int32).copy()
    taps = w.astype(np.int32).reshape(-1, channels)
    sums = taps.sum(axis=0, dtype=np.int32)
    group = grouped_pixels(channels)
    if group > 1:
        taps = np.concatenate([taps.reshape(-1), np.tile(taps, group).reshape(-1)])
        sums = np.concatenate([sums, np.tile(sums, group)])
    return PackedDepthwise(taps.reshape(-1), sums, b, prepare_requant(mult, shift, channels))


def depthwise_scratch(a) -> tuple[np.ndarray, np.ndarray]:
    """(accumulators of one output row int32, the padded copy of one input image int8) of depthwise_conv2d_s8's
    arguments ``a`` (by name); the copy is empty where the layer reads no padding (it then reads the input
    itself) or takes the row-by-row path, which tests its taps."""
    pb, pr = padding_past_input(a.input_h, a.input_w, a.filter_h, a.filter_w, a.output_h, a.output_w, a.stride_h,
                                a.stride_w, a.dilation_h, a.dilation_w, a.pad_top, a.pad_left)
    copied = (a.pad_top or a.pad_left or pb or pr) and (a.filter_h, a.filter_w, a.depth_multiplier) == (3, 3, 1)
    size = (a.input_h + a.pad_top + pb) * (a.input_w + a.pad_left + pr) * a.input_ch if copied else 0
    return np.zeros(a.output_w * a.input_ch * a.depth_multiplier, np.int32), np.zeros(size, np.int8)


@njit(inline="always", cache=True, nogil=True)
def depthwise_row(acc, source, at, pixel_step, count, row_stride, col_stride, channels, input_zp, weights, tap_sums):
    """The accumulators of `count` output pixels of a 3x3 depthwise layer with depth multiplier 1, pixel i's
    first tap at source[at + i * pixel_step]: all nine taps at once over 16 (then 8) channels in registers,
    the block's weights held across the pixels (vector_ir.depthwise_taps), the rest one by one. Tap (ky, kx)
    of channel c is source[... + ky * row_stride + kx * col_stride + c]: the layer's input, or its padded
    copy (pad_image), so every tap is in bounds.

    The zero point comes out of the sum: sum (x - zp) w = sum x w - zp * sum w. A padding tap holds
    x = zp, which adds zp * w and is taken out again by zp * sum w: it contributes (zp - zp) * w = 0, as
    TFLite's padding does. Every term is below 128 * 127 * 9 in magnitude and the result is the exact
    accumulator, so int32 lanes cannot wrap."""
    address = source.ctypes.data + at
    c = 0
    while c + 16 <= channels:
        _taps3x3_16(acc, c, channels, address + c, pixel_step, count, row_stride, col_stride, weights, c, channels,
                    tap_sums, input_zp)
        c += 16
    if c + 8 <= channels:
        _taps3x3_8(acc, c, channels, address + c, pixel_step, count, row_stride, col_stride, weights, c, channels,
                   tap_sums, input_zp)
        c += 8
    for i in range(count):
        for j in range(c, channels):  # fewer than 8 channels left: tap by tap
            s = np.int64(0)
            for k in range(9):
                s += (np.int64(source[at + i * pixel_step + (k // 3) * row_stride + (k % 3) * col_stride + j])
                      * weights[k * channels + j])
            acc[i * channels + j] = np.int32(s - input_zp * tap_sums[j])


@njit(inline="always", cache=True, nogil=True)
def depthwise_row_output(acc, bias, mult, shift, rnd, right, fused, output_zp, act_min, act_max, output_w, channels,
                         output):
    """The output stage of one depthwise output row: at once where fused, else pixel by pixel."""
    if fused:
        requantize_span(acc, bias, mult, shift, rnd, right, output_zp, act_min, act_max, output)
        return
    for ox in range(output_w):
        requantize_row(acc[ox * channels:], bias, mult, shift, output_zp, act_min, act_max,
                       output[ox * channels:(ox + 1) * channels])


@kernel(
    types.void(
        types.int32[::1], types.int8[::1],  # acc, padded
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, depth_multiplier
        _i64, _i64, _i64, _i64, _i64, _i64,  # stride_h/w, dilation_h/w, pad_top, pad_left
        _i64, _i64,  # input_zp, output_zp
        types.int32[::1], types.int32[::1], *_REQUANT,  # weights, tap_sums, bias, mult, shift, round, right, fused
        _i64, _i64,  # act_min, act_max
        types.int8[::1], types.int8[::1],  # input, output
    )
)
def depthwise_conv2d_s8_packed(
    acc, padded,
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, depth_multiplier,
    stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    input_zp, output_zp,
    weights, tap_sums, bias, mult, shift, rnd, right, fused,
    act_min, act_max,
    input, output,
):
    """depthwise_conv2d_s8 on a PackedDepthwise. A 3x3 filter with depth multiplier 1 runs pixel by
    pixel (or, below 16 channels at stride 1, 16 / C pixels at a time), all nine taps at once
    (depthwise_row). Any other filter runs row by row: the row's
    accumulators start at zero, each tap (ky, kx) inside the image adds (x - input_zp) * w over the row's
    pixels and channels. Padding taps are skipped, which is adding (zero point - zero point) * w = 0.
    Either way the output row is requantized at once (bias..right: tile_requant over the row's pixels).
    Every product is at most 255 * 127 in magnitude and every partial sum stays within the loader's
    bound, so int32 lanes are exact."""
    output_ch = input_ch * depth_multiplier
    row = output_w * output_ch
    if filter_h == 3 and filter_w == 3 and depth_multiplier == 1:
        image = input_h * input_w * input_ch
        if padded.shape[0] > 0:
            pad_bottom, pad_right = padding_past_input(input_h, input_w, 3, 3, output_h, output_w, stride_h, stride_w,
                                                      dilation_h, dilation_w, pad_top, pad_left)
            padded_h, padded_w = input_h + pad_top + pad_bottom, input_w + pad_left + pad_right
        else:
            padded_h, padded_w = input_h, input_w
        row_stride, col_stride = dilation_h * padded_w * input_ch, dilation_w * input_ch
        group = grouped_pixels(input_ch) if stride_w == 1 else 1
        taps = 9 * input_ch
        for b in range(batches):
            if padded.shape[0] > 0:
                pad_image(padded, input, b * image, input_h, input_w, input_ch, pad_top, pad_left, padded_h, padded_w,
                          input_zp)
                source, base = padded, 0
            else:
                source, base = input, b * image
            for oy in range(output_h):
                top = base + oy * stride_h * padded_w * input_ch
                ox = 0
                if group > 1:  # `group` pixels as one of 16 channels, on the repeated weights (pack_depthwise)
                    ox = output_w // group * group
                    depthwise_row(acc, source, top, 16, ox // group, row_stride, col_stride, 16, input_zp,
                                  weights[taps:], tap_sums[input_ch:])
                if ox < output_w:
                    depthwise_row(acc[ox * output_ch:], source, top + ox * stride_w * input_ch, stride_w * input_ch,
                                  output_w - ox, row_stride, col_stride, input_ch, input_zp, weights, tap_sums)
                depthwise_row_output(acc, bias, mult, shift, rnd, right, fused, output_zp, act_min, act_max,
                                     output_w, output_ch, output[(b * output_h + oy) * row:(b * output_h + oy + 1) * row])
        return
    for b in range(batches):
        for oy in range(output_h):
            acc[:row] = 0
            for ky in range(filter_h):
                iy = oy * stride_h - pad_top + ky * dilation_h
                if iy < 0 or iy >= input_h:
                    continue
                for kx in range(filter_w):
                    w_tap = weights[(ky * filter_w + kx) * output_ch:(ky * filter_w + kx + 1) * output_ch]
                    for ox in range(output_w):
                        ix = ox * stride_w - pad_left + kx * dilation_w
                        if ix < 0 or ix >= input_w:
                            continue
                        in_base = ((b * input_h + iy) * input_w + ix) * input_ch
                        x_px = input[in_base:in_base + input_ch]
                        a_px = acc[ox * output_ch:(ox + 1) * output_ch]
                        if depth_multiplier == 1:
                            for c in range(output_ch):
                                a_px[c] += np.int32((np.int32(x_px[c]) - input_zp) * w_tap[c])
                        else:
                            for c in range(output_ch):
                                a_px[c] += np.int32((np.int32(x_px[c // depth_multiplier]) - input_zp) * w_tap[c])
            depthwise_row_output(acc, bias, mult, shift, rnd, right, fused, output_zp, act_min, act_max,
                                 output_w, output_ch, output[(b * output_h + oy) * row:(b * output_h + oy + 1) * row])


def _output_stage_args(bias, r: Requant, reps: int) -> dict:
    """bias, mult, shift, rnd, right, fused: the per-channel vectors tiled over the kernel's output span."""
    return dict(zip(("bias", "mult", "shift", "rnd", "right"), tile_requant(bias, r, reps)), fused=r.fused)


def arguments_of(kernel, arguments: dict, unused=("scratch",)) -> SimpleNamespace:
    """``arguments`` as attributes, checked to name exactly ``kernel``'s arguments but ``unused`` (the packed
    paths take their hand-written kernel's call by name and bring their own scratch)."""
    bind(kernel, **dict.fromkeys(unused), **arguments)  # TypeError on a missing or an unknown name
    return SimpleNamespace(**arguments)


def conv2d_packed_call(**conv):
    """(kernel, arguments) of conv2d_s8_packed for conv2d_s8's arguments by name but its scratch (groups must
    be 1); packs now.

    The layer reads a padded copy of its input where it pads, or where a run of its filter ends off a quad
    (the quad would read up to 3 bytes past the input's end); otherwise the input itself."""
    a = arguments_of(conv2d_s8, conv)
    if a.groups != 1:
        raise ValueError("conv2d_s8_packed: groups must be 1")
    in_h, in_w, in_c, pt, pl = (int(v) for v in (a.input_h, a.input_w, a.input_ch, a.pad_top, a.pad_left))
    pb, pr = padding_past_input(in_h, in_w, a.filter_h, a.filter_w, a.output_h, a.output_w, a.stride_h, a.stride_w,
                                a.dilation_h, a.dilation_w, pt, pl)
    ragged = any(length % QUAD for _, length, _ in filter_runs(a.filter_h, a.filter_w, in_c, a.dilation_h,
                                                               a.dilation_w, in_w))
    copied = bool(pt or pl or pb or pr or ragged)
    src_h, src_w = (in_h + pt + pb, in_w + pl + pr) if copied else (in_h, in_w)
    p = pack_gemm(np.asarray(a.filter).reshape(a.output_ch, -1),
                  filter_runs(a.filter_h, a.filter_w, in_c, a.dilation_h, a.dilation_w, src_w), a.bias,
                  a.output_mult, a.output_shift, int(a.input_zp))
    blocks = -(-a.output_ch // LANES)
    pixels = 1 if a.output_h * a.output_w == 1 else TILE_PIXELS[min(blocks, BLOCKS)]
    stage = _output_stage_args(p.bias, p.requant, pixels)
    return conv2d_s8_packed, bind(conv2d_s8_packed, acc=np.zeros(pixels * blocks * LANES, np.int32),
                                  addrs=np.zeros(pixels, np.int64),
                                  padded=np.zeros(src_h * src_w * in_c + QUAD if copied else 0, np.int8),
                                  batches=a.batches, input_h=in_h, input_w=in_w, input_ch=in_c, output_h=a.output_h,
                                  output_w=a.output_w, output_ch=a.output_ch, stride_h=a.stride_h,
                                  stride_w=a.stride_w, pad_top=pt if copied else 0, pad_left=pl if copied else 0,
                                  padded_h=src_h, padded_w=src_w, input_zp=int(a.input_zp),
                                  output_zp=int(a.output_zp), weights=p.weights, koff=p.koff, **stage,
                                  act_min=int(a.act_min), act_max=int(a.act_max), input=a.input, output=a.output)


def fully_connected_packed_call(**fc):
    """fully_connected_s8's arguments by name but its scratch (filter_zp 0: the packed weights are symmetric;
    single_rounding 0: the packed output stage rounds twice), as a 1x1 convolution over `batches` pixels."""
    a = arguments_of(fully_connected_s8, fc)
    if a.filter_zp or a.single_rounding:
        raise ValueError("fully_connected_s8 packed: filter_zp and single_rounding must be 0")
    return conv2d_packed_call(batches=1, input_h=a.batches, input_w=1, input_ch=a.input_features, filter_h=1,
                              filter_w=1, output_h=a.batches, output_w=1, output_ch=a.output_features, groups=1,
                              stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=0, pad_left=0,
                              input_zp=a.input_zp, output_zp=a.output_zp, output_mult=a.output_mult,
                              output_shift=a.output_shift, per_channel=a.per_channel, act_min=a.act_min,
                              act_max=a.act_max, input=a.input, filter=a.filter, bias=a.bias, output=a.output)


def depthwise_packed_call(**depthwise):
    """(kernel, arguments) of depthwise_conv2d_s8_packed for depthwise_conv2d_s8's arguments by name but its
    scratch; packs now."""
    a = arguments_of(depthwise_conv2d_s8, depthwise)
    channels = a.input_ch * a.depth_multiplier
    p = pack_depthwise(np.asarray(a.filter).reshape(1, a.filter_h, a.filter_w, channels), a.bias, a.output_mult,
                       a.output_shift)
    acc, padded = depthwise_scratch(a)
    geometry = {k: int(depthwise[k]) for k in ("batches", "input_h", "input_w", "input_ch", "filter_h", "filter_w",
                                          "output_h", "output_w", "depth_multiplier", "stride_h", "stride_w",
                                          "dilation_h", "dilation_w", "pad_top", "pad_left")}
    return depthwise_conv2d_s8_packed, bind(depthwise_conv2d_s8_packed, acc=acc, padded=padded, **geometry,
                                            input_zp=int(a.input_zp), output_zp=int(a.output_zp), weights=p.weights,
                                            tap_sums=p.tap_sums, **_output_stage_args(p.bias, p.requant, a.output_w),
                                            act_min=int(a.act_min), act_max=int(a.act_max), input=a.input,
                                            output=a.output)


# --- transposed convolution ---------------------------------------------------------------------------------


@kernel(
    types.void(
        _i64, _i64, _i64, _i64,  # batches, rows, cols, channels
        _i64, _i64, _i64, _i64,  # src_at, src_batch, src_row, src_col: element offset and strides of the source
        _i64, _i64, _i64, _i64,  # dst_at, dst_batch, dst_row, dst_col: likewise of the destination
        types.int8[::1], types.int8[::1],  # src, dst
    )
)
def scatter_pixels_s8(batches, rows, cols, channels, src_at, src_batch, src_row, src_col, dst_at, dst_batch, dst_row,
                      dst_col, src, dst):
    """dst[dst_at + b dst_batch + r dst_row + q dst_col + c] = src[src_at + b src_batch + r src_row + q src_col + c]
    for every b < batches, r < rows, q < cols, c < channels: a transposed convolution's phase output to its
    strided place (a source stride of 0 repeats one pixel). Trusts its caller; src and dst do not overlap."""
    for b in range(batches):
        for r in range(rows):
            s = src_at + b * src_batch + r * src_row
            d = dst_at + b * dst_batch + r * dst_row
            for q in range(cols):
                copy_elements(dst[d + q * dst_col:d + q * dst_col + channels], src[s + q * src_col:])


def _phase_axis(in_size: int, k: int, stride: int, pad: int, out_size: int, phase: int):
    """One axis of a transposed convolution's output phase `phase` (in [0, stride)): the outputs o with
    (o + pad) mod stride = phase, as an ordinary stride-1 convolution.

    Output o = o0 + j * stride (j < count) meets the taps k = phase + m * stride (m < taps) and reads input
    q_j - m, q_j = (o + pad - phase) / stride = q0 + j (transpose_conv.py). A stride-1 convolution with the
    taps reversed (window row r reads input row start + r, tap m = taps - 1 - r) gives it where its output
    row j' = j + skip starts its window at q_j - (taps - 1) = j' - pad': with skip = max(0, q0 - taps + 1)
    extra rows computed first (dropped), pad' = skip + taps - 1 - q0 >= 0 rows of padding.

    Returns (o0, count, taps, skip, pad') or None where no output has this phase."""
    o0 = (phase - pad) % stride
    if o0 >= out_size:
        return None
    count = -(-(out_size - o0) // stride)
    taps = len(range(phase, k, stride))
    q0 = (o0 + pad - phase) // stride
    skip = max(0, q0 - (taps - 1))
    return o0, count, taps, skip, skip + taps - 1 - q0


def transpose_conv2d_packed_calls(**transpose_conv):
    """[(kernel, arguments)] that compute transpose_conv2d_s8 for its arguments by name but its scratch; packs
    now.

    Per output phase (ry, rx): a conv2d_s8_packed call of the filter's taps ky = ry (mod stride_h),
    kx = rx (mod stride_w), reversed, at stride 1 and the padding of _phase_axis, into a buffer of its own, then
    scatter_pixels_s8 of its rows and columns to the output's. A tap that falls outside the input reads the
    conv path's border of zero points, which adds (zp - zp) w = 0: each output gets the bias plus exactly the
    taps TFLite scatters to it, so the same int32 sum (each phase's weight sum is one that meets an output,
    so the loader's bound 255 * S[c] + |bias[c]| covers the exact sum; the tiles' int32 lanes wrap, the way
    every partial sum of the packed path may, and end on it), and the same output stage. A phase with no
    taps (filter smaller than the stride) holds requantize(bias) at each of its pixels."""
    a = arguments_of(transpose_conv2d_s8, transpose_conv)
    n, in_h, in_w, in_c, kh, kw, out_h, out_w, out_c, sh, sw, pt, pl = (int(v) for v in (
        a.batches, a.input_h, a.input_w, a.input_ch, a.filter_h, a.filter_w, a.output_h, a.output_w, a.output_ch,
        a.stride_h, a.stride_w, a.pad_top, a.pad_left))
    out_zp, per_channel, lo, hi, output = int(a.output_zp), a.per_channel, int(a.act_min), int(a.act_max), a.output
    w = np.asarray(a.filter, np.int8).reshape(out_c, kh, kw, in_c)
    b = np.zeros(out_c, np.int32) if a.bias is None or len(a.bias) == 0 else np.asarray(a.bias, np.int32)
    m, s = np.asarray(a.output_mult, np.int32), np.asarray(a.output_shift, np.int8)
    calls = []
    for ry in range(sh):
        rows = _phase_axis(in_h, kh, sh, pt, out_h, ry)
        if rows is None:
            continue
        oy0, ph, my, skip_h, pad_h = rows
        for rx in range(sw):
            cols = _phase_axis(in_w, kw, sw, pl, out_w, rx)
            if cols is None:
                continue
            ox0, pw, mx, skip_w, pad_w = cols
            dst = dict(dst_at=(oy0 * out_w + ox0) * out_c, dst_batch=out_h * out_w * out_c,
                       dst_row=sh * out_w * out_c, dst_col=sw * out_c, dst=output)
            if my == 0 or mx == 0:  # no tap reaches these outputs
                q = [c if per_channel else 0 for c in range(out_c)]
                src = np.array([requantize(int(b[c]), int(m[q[c]]), int(s[q[c]]), int(out_zp), int(lo), int(hi))
                                for c in range(out_c)], np.int8)
                calls.append((scatter_pixels_s8, bind(scatter_pixels_s8, batches=n, rows=ph, cols=pw,
                                                      channels=out_c, src_at=0, src_batch=0, src_row=0, src_col=0,
                                                      src=src, **dst)))
                continue
            sub = w[:, ry::sh][:, ::-1][:, :, rx::sw][:, :, ::-1]  # [C_out, my, mx, C_in], taps reversed
            conv_h, conv_w = ph + skip_h, pw + skip_w
            phase_out = np.zeros(n * conv_h * conv_w * out_c, np.int8)
            calls.append(conv2d_packed_call(
                batches=n, input_h=in_h, input_w=in_w, input_ch=in_c, filter_h=my, filter_w=mx, output_h=conv_h,
                output_w=conv_w, output_ch=out_c, groups=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
                pad_top=pad_h, pad_left=pad_w, input_zp=a.input_zp, output_zp=out_zp, output_mult=m, output_shift=s,
                per_channel=per_channel, act_min=lo, act_max=hi, input=a.input,
                filter=np.ascontiguousarray(sub).reshape(-1), bias=b, output=phase_out))
            calls.append((scatter_pixels_s8, bind(scatter_pixels_s8, batches=n, rows=ph, cols=pw, channels=out_c,
                                                  src_at=(skip_h * conv_w + skip_w) * out_c,
                                                  src_batch=conv_h * conv_w * out_c, src_row=conv_w * out_c,
                                                  src_col=out_c, src=phase_out, **dst)))
    return calls
