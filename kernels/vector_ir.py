"""The inner loops of the packed kernels (packed_layers.py), written as LLVM vector IR.

  pair_dot_tile      a tile of int16 pair dot products: the GEMM of conv2d and fully connected
  depthwise_taps     one pixel's taps of a depthwise layer, 8 or 16 channels at a time

Why hand-written: Numba widens int32 * int32 to int64 and its loops reach
LLVM as scalar code, so the auto-vectorizer never forms the x86 PMADDWD /
VPDPWSSD (two int16 products summed into one int32 lane) nor keeps a tile of
accumulators in registers. No library gives Numba kernels that instruction;
an @intrinsic that emits the loop in LLVM IR does, and Numba inlines it into
the kernel that calls it like any other function.

What a tile computes (LANES = 16 output channels per block):

    acc[p, nb * 16 + l] = sum_{j < kpairs} x[p, 2j] * w[nb, j, l, 0] + x[p, 2j+1] * w[nb, j, l, 1]

for p < P pixels (rows of x, `x_stride` int16 apart) and nb < NB blocks of 16
channels (`w_stride` int16 apart). Each block of the packed filter holds, for
every pair j of the reduction dimension, 16 channels' two weights side by side
(32 int16 = 64 bytes, one vector): the layout PMADDWD reads. Each pixel's pair
(x[2j], x[2j+1]) is loaded as one int32 and broadcast to all 16 lanes.

Exactness: the operands are int16 with |x| <= 255 (x - zero point) and
|w| <= 127, so each product fits in int32 and PMADDWD's sum of two products is
exact (|.| <= 2 * 255 * 127 < 2^16); the lanes then add in int32 and the
caller's bound 255 * sum|w| + |bias| < 2^31 keeps every partial sum in range.
So the tile equals the int64 sum on every input the loader accepts.

Targets: with AVX-512BW the pair product is llvm.x86.avx512.pmaddw.d.512,
which LLVM fuses with the accumulating add into VPDPWSSD where AVX-512 VNNI
exists; with AVX2 it is two llvm.x86.avx2.pmadd.wd on the halves; elsewhere
(AArch64, other hosts) it is the portable IR sext/mul/add of the even and odd
lanes, which every LLVM target lowers (SMLAL on AArch64). The choice follows
the CPU Numba compiles for, so a cached kernel is never run on another.
"""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

LANES = 16  # int32 accumulators per block: one 512-bit vector, two 256-bit ones, four 128-bit ones

_I16, _I32, _I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
_PAIRS = ir.VectorType(_I16, 2 * LANES)
_ACC = ir.VectorType(_I32, LANES)


def _target() -> str:
    """"avx512", "avx2" or "portable": what the CPU Numba compiles for can run."""
    if config.CPU_NAME:  # NUMBA_CPU_NAME (e.g. "generic" for a portable cache): no host-specific intrinsics
        return "portable"
    features = set(llvm.get_host_cpu_features().flatten().split(","))
    if "+avx512bw" in features:
        return "avx512"
    if "+avx2" in features:
        return "avx2"
    return "portable"


TARGET = _target()


def _lanes(n, offset=0, step=1):
    return ir.Constant(ir.VectorType(_I32, n), [offset + step * i for i in range(n)])


def _pair_products(builder, x, w):
    """<16 x i32>: x[2l] * w[2l] + x[2l+1] * w[2l+1] of two <32 x i16> vectors, exactly."""
    module = builder.module
    if TARGET == "avx512":
        fn = cgutils.get_or_insert_function(module, ir.FunctionType(_ACC, [_PAIRS, _PAIRS]),
                                            "llvm.x86.avx512.pmaddw.d.512")
        return builder.call(fn, [x, w])
    if TARGET == "avx2":
        half = ir.VectorType(_I16, LANES)
        fn = cgutils.get_or_insert_function(module, ir.FunctionType(ir.VectorType(_I32, LANES // 2), [half, half]),
                                            "llvm.x86.avx2.pmadd.wd")
        low = builder.call(fn, [builder.shuffle_vector(x, x, _lanes(LANES)),
                                builder.shuffle_vector(w, w, _lanes(LANES))])
        high = builder.call(fn, [builder.shuffle_vector(x, x, _lanes(LANES, LANES)),
                                 builder.shuffle_vector(w, w, _lanes(LANES, LANES))])
        return builder.shuffle_vector(low, high, _lanes(LANES))
    even, odd = _lanes(LANES, 0, 2), _lanes(LANES, 1, 2)
    products = []
    for lanes in (even, odd):
        a = builder.sext(builder.shuffle_vector(x, x, lanes), _ACC)
        b = builder.sext(builder.shuffle_vector(w, w, lanes), _ACC)
        products.append(builder.mul(a, b))
    return builder.add(*products)


def _data(context, builder, array_type, value, offset):
    """A pointer to element `offset` of a Numba array."""
    data = cgutils.create_struct_proxy(array_type)(context, builder, value=value).data
    return builder.gep(data, [offset])


def _tile_codegen(pixels, blocks):
    def codegen(context, builder, sig, args):
        acc_a, acc_off, acc_stride, x_a, x_off, x_stride, w_a, w_off, w_stride, kpairs = args
        accp = _data(context, builder, sig.args[0], acc_a, acc_off)
        xp = _data(context, builder, sig.args[3], x_a, x_off)
        wp = _data(context, builder, sig.args[6], w_a, w_off)
        entry = builder.block
        loop = builder.append_basic_block("pair_tile.loop")
        done = builder.append_basic_block("pair_tile.done")
        builder.branch(loop)

        builder.position_at_end(loop)
        j = builder.phi(_I64)
        j.add_incoming(ir.Constant(_I64, 0), entry)
        sums = []
        for _ in range(pixels * blocks):
            phi = builder.phi(_ACC)
            phi.add_incoming(ir.Constant(_ACC, None), entry)
            sums.append(phi)
        weights = []
        pair_row = builder.mul(j, ir.Constant(_I64, 2 * LANES))
        for nb in range(blocks):
            at = builder.add(pair_row, builder.mul(ir.Constant(_I64, nb), w_stride))
            weights.append(builder.load(builder.bitcast(builder.gep(wp, [at]), _PAIRS.as_pointer()), align=2))
        updated = []
        for p in range(pixels):
            at = builder.add(builder.mul(ir.Constant(_I64, p), x_stride), builder.mul(j, ir.Constant(_I64, 2)))
            pair = builder.load(builder.bitcast(builder.gep(xp, [at]), _I32.as_pointer()), align=2)
            splat = builder.insert_element(ir.Constant(_ACC, None), pair, ir.Constant(_I32, 0))
            splat = builder.bitcast(builder.shuffle_vector(splat, splat, ir.Constant(_ACC, [0] * LANES)), _PAIRS)
            for nb in range(blocks):
                updated.append(builder.add(sums[p * blocks + nb], _pair_products(builder, splat, weights[nb])))
        j_next = builder.add(j, ir.Constant(_I64, 1))
        tail = builder.block
        j.add_incoming(j_next, tail)
        for phi, value in zip(sums, updated):
            phi.add_incoming(value, tail)
        builder.cbranch(builder.icmp_signed("<", j_next, kpairs), loop, done)

        builder.position_at_end(done)
        for p in range(pixels):
            for nb in range(blocks):
                at = builder.add(builder.mul(ir.Constant(_I64, p), acc_stride), ir.Constant(_I64, nb * LANES))
                builder.store(updated[p * blocks + nb], builder.bitcast(builder.gep(accp, [at]), _ACC.as_pointer()),
                              align=4)
        return context.get_dummy_value()

    return codegen


def pair_dot_tile(pixels: int, blocks: int):
    """The tile of `pixels` x `blocks` x 16 accumulators as a Numba intrinsic:

        tile(acc, acc_off, acc_stride, x, x_off, x_stride, w, w_off, w_stride, kpairs)

    acc int32[::1], x and w int16[::1]; offsets and strides in elements; kpairs >= 1.
    Writes (does not add to) acc[acc_off + p * acc_stride + c] for p < pixels, c < 16 * blocks."""

    @intrinsic
    def tile(typingctx, acc, acc_off, acc_stride, x, x_off, x_stride, w, w_off, w_stride, kpairs):
        i64 = types.int64
        sig = types.void(acc, i64, i64, x, i64, i64, w, i64, i64, i64)
        return sig, _tile_codegen(pixels, blocks)

    tile.__name__ = f"pair_dot_tile_{pixels}x{blocks}"
    return tile


def _depthwise_codegen(filter_h, filter_w, lanes):
    i8v, accv = ir.VectorType(ir.IntType(8), lanes), ir.VectorType(_I32, lanes)

    def codegen(context, builder, sig, args):
        acc_a, acc_off, x_addr, row_stride, col_stride, w_a, w_off, w_stride, sums_a, zp = args
        accp = _data(context, builder, sig.args[0], acc_a, acc_off)
        total = None
        for ky in range(filter_h):
            row = builder.add(x_addr, builder.mul(ir.Constant(_I64, ky), row_stride))
            for kx in range(filter_w):
                t = ky * filter_w + kx
                address = builder.add(row, builder.mul(ir.Constant(_I64, kx), col_stride))
                x = builder.load(builder.inttoptr(address, i8v.as_pointer()), align=1)
                w_at = builder.add(w_off, builder.mul(ir.Constant(_I64, t), w_stride))
                w = builder.load(builder.bitcast(_data(context, builder, sig.args[5], w_a, w_at), accv.as_pointer()),
                                 align=4)
                product = builder.mul(builder.sext(x, accv), w)
                total = product if total is None else builder.add(total, product)
        sums = builder.load(builder.bitcast(_data(context, builder, sig.args[8], sums_a, w_off), accv.as_pointer()),
                            align=4)
        zpv = builder.insert_element(ir.Constant(accv, None), builder.trunc(zp, _I32), ir.Constant(_I32, 0))
        zpv = builder.shuffle_vector(zpv, zpv, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))
        builder.store(builder.sub(total, builder.mul(zpv, sums)), builder.bitcast(accp, accv.as_pointer()), align=4)
        return context.get_dummy_value()

    return codegen


def depthwise_taps(filter_h: int, filter_w: int, lanes: int):
    """`lanes` channels of one depthwise output pixel as a Numba intrinsic:

        taps_fn(acc, acc_off, x_addr, row_stride, col_stride, w, w_off, w_stride, tap_sums, zp)

    acc[acc_off + l] = sum_t x_t[l] * w[w_off + t * w_stride + l] - zp * tap_sums[w_off + l] for l < lanes, where
    tap t = (ky, kx) reads the int8 memory at address x_addr + ky * row_stride + kx * col_stride (strides in
    bytes); w and tap_sums are int32. With x = zp at padding taps this is sum (x - zp) w
    (packed_layers.depthwise_pixel derives it). Products of int8 and |w| <= 127 widened to int32 lanes are
    exact, and so is their sum."""

    @intrinsic
    def taps_fn(typingctx, acc, acc_off, x_addr, row_stride, col_stride, w, w_off, w_stride, tap_sums, zp):
        i64 = types.int64
        sig = types.void(acc, i64, i64, i64, i64, w, i64, i64, tap_sums, i64)
        return sig, _depthwise_codegen(filter_h, filter_w, lanes)

    taps_fn.__name__ = f"depthwise_taps_{filter_h}x{filter_w}x{lanes}"
    return taps_fn
