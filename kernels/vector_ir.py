"""The inner loops of the packed kernels (packed_layers.py, elementwise.py), written as LLVM vector IR.

  quad_dot_tile      a tile of quad dot products: the GEMM of conv2d and fully connected
  depthwise_taps     one pixel's taps of a depthwise layer, 8 or 16 channels at a time
  requant_lanes      the fused output stage, 16 outputs at a time (AArch64, AVX-512; elsewhere Numba's loop)
  add_lanes          ADD and SUB of same-shape inputs, 16 elements at a time (AArch64, x86; likewise)

Why hand-written: Numba widens int32 * int32 to int64 and its loops reach
LLVM as scalar code, so the auto-vectorizer never forms the x86 VPDPBUSD
(four u8 x s8 products summed into one int32 lane) or the AArch64 SDOT, nor
keeps a tile of accumulators in registers. No library gives Numba kernels
those instructions; an @intrinsic that emits the loop in LLVM IR does, and
Numba inlines it into the kernel that calls it like any other function.

What a tile computes (LANES = 16 output channels per block):

    acc[p, nb * 16 + l] = sum_{j < nk} sum_{i < 4} u(x_p[koff[j] + i]) * w[nb, j, l, i]

for p < P pixels and nb < NB blocks of 16 channels (`w_stride` bytes apart).
x_p is the int8 memory at the address addrs[p], read as u(x) = x + INPUT_OFFSET:
x + 128 for VPDPBUSD, which multiplies an unsigned byte by a signed one (the
byte with its top bit flipped: 0..255), x itself on every other path. koff[j]
is the byte offset of the reduction's quad j from the pixel's first tap. Each
block of the packed filter holds, for every quad j, 16 channels' four weights
side by side (64 bytes): the layout VPDPBUSD and SDOT read. Each pixel's quad
is loaded as one int32 and broadcast. The caller takes the offset back out:
sum (x - zp) w = sum u(x) w - (zp + INPUT_OFFSET) sum w, a per-channel
constant it folds into the bias.

Exactness: |u(x)| <= 255 and |w| <= 128, so a lane's sum of four products is
below 2^17 and VPDPBUSD or SDOT adds it exactly (neither saturates); the
loader's bound 255 * sum|w| + |bias| < 2^31 keeps every partial sum, and the
corrected bias, inside int32. So the tile equals the int64 sum on every input
the loader accepts.

Targets (TARGET, from the CPU Numba compiles for, so a cached kernel is never
run on another; the tile sizes TILE_PIXELS, TILE_BLOCKS follow it, so the
accumulators of a tile stay within the target's vector registers):
  vnni      AVX-512 VNNI: llvm.x86.avx512.vpdpbusd.512, the quad product and its add.
  avxvnni   AVX-VNNI (Intel client CPUs since Alder Lake, AVX-512 off): the same product on
            256-bit vectors, llvm.x86.avx512.vpdpbusd.256, two a block, which LLVM encodes as the
            VEX VPDPBUSD where the CPU has no AVX-512 (and as the EVEX one where it has).
  avx2      VPMADDWD (llvm.x86.avx2.pmadd.wd): the pixel's four bytes widened to
            int16 once, each block's 64 weight bytes to four vectors of 16 int16
            once per quad; each VPMADDWD sums two products into an int32, so a
            block keeps 32 int32 partial sums (two per channel) that the tile
            adds pairwise when it stores. |x w| <= 128 * 128, so a pair's sum is
            at most 2^15 and VPMADDWD (exact unless both pairs are -32768 *
            -32768) adds it exactly; VPMADDUBSW saturates int16 sums and would not be.
  sdot      AArch64 with the dot product (Cortex-A55, A76 and later):
            llvm.aarch64.neon.sdot, s8 x s8, four q registers a block.
  neon      AArch64 without it (Cortex-A53, A72): SMULL into int16 (|x w| <= 2^14)
            and SADALP into int32 pairs, as AVX2's pairs.
  portable  the IR sext/mul/add of the four lanes, which every LLVM target lowers.
"""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

LANES = 16  # int32 accumulators per block: one 512-bit vector, two 256-bit ones, four 128-bit ones

_I8, _I32, _I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
_ACC = ir.VectorType(_I32, LANES)


def _target() -> str:
    """"vnni" (AVX-512 VNNI), "avxvnni", "avx2", "sdot" (AArch64 dot product), "neon" (AArch64 without it) or
    "portable":
    what the CPU Numba compiles for can run. That CPU is the host, or NUMBA_CPU_NAME with the features of
    NUMBA_CPU_FEATURES; a name without features (e.g. "generic", for a portable cache) gets no CPU-specific
    intrinsics, nor does a host whose features LLVM cannot read (an emulated one shows the emulator's)."""
    if config.CPU_NAME:
        if not config.CPU_FEATURES:
            return "portable"
        features = set(config.CPU_FEATURES.split(","))
    else:
        try:
            features = set(llvm.get_host_cpu_features().flatten().split(","))
        except RuntimeError:
            return "portable"
    if {"+avx512bw", "+avx512vnni"} <= features:
        return "vnni"
    if "+avxvnni" in features or {"+avx512vl", "+avx512vnni"} <= features:  # a 256-bit VPDPBUSD, VEX or EVEX
        return "avxvnni"
    if "+avx2" in features:
        return "avx2"
    if "+dotprod" in features:
        return "sdot"
    return "neon" if "+neon" in features else "portable"


TARGET = _target()

# The tiles read u(x) = x + INPUT_OFFSET: unsigned for VPDPBUSD (u8 x s8, either width), the input's own signed
# bytes on every other path (VPMADDWD and SMULL take int16 or s8 x s8, SDOT s8 x s8). pack_gemm folds
# (zp + INPUT_OFFSET) * sum w into the bias.
INPUT_OFFSET = 128 if TARGET in ("vnni", "avxvnni") else 0

# AArch64 (either path): its own instructions for the depthwise taps, the output stage and ADD.
_AARCH64 = TARGET in ("sdot", "neon")

# x86 with at least AVX2: its own ADD (add_lanes); the portable path leaves it to Numba's loop. The output
# stage (requant_lanes) only with AVX-512, whose VPMOVQD and VPMOVDB narrow in one instruction: on AVX2
# (Haswell, and Alder Lake's avxvnni path) the same IR took as long as Numba's own loop.
_X86 = ("vnni", "avxvnni", "avx2")
_X86_REQUANT = ("vnni",)

# Whether an accumulator holds each channel's sum in one lane or in two partial sums (lanes 2c, 2c + 1).
_PAIRED = TARGET in ("avx2", "neon")

# Pixels of a tile by its 16-channel blocks (P x NB accumulators held in registers beside NB blocks of
# weights and a broadcast pixel), and the most blocks a tile takes. AVX-512: 32 zmm, one per accumulator.
# AVX2: 16 ymm, and an accumulator of 32 partial sums takes four, as does a block's widened weights.
# AVX-VNNI: 16 ymm; an accumulator takes two, a block's weights two, the broadcast pixel one: 6 x 2 + 2 + 1.
# AArch64: 32 q registers; an accumulator takes four (SDOT) or eight (pairs), a block's weights four.
TILE_PIXELS, TILE_BLOCKS = {
    "avx2": ({1: 2}, 1),
    "avxvnni": ({1: 6}, 1),
    "sdot": ({1: 4, 2: 2}, 2),
    "neon": ({1: 2}, 1),
}.get(TARGET, ({1: 12, 2: 8, 3: 6, 4: 4}, 4))


def _same(value, vector=None):
    """The constant `value` in every lane of `vector` (16 int32 lanes by default)."""
    vector = vector or _ACC
    return ir.Constant(vector, [value] * vector.count)


def _lanes(n, offset=0, step=1):
    return ir.Constant(ir.VectorType(_I32, n), [offset + step * i for i in range(n)])


_I16 = ir.IntType(16)
_WORDS = ir.VectorType(_I16, LANES)  # one 256-bit vector of int16
_PAIRS = ir.VectorType(_I32, 2 * LANES)  # a paired accumulator: channel c's two partial sums in lanes 2c, 2c + 1
_Q32, _Q8, _D8 = ir.VectorType(_I32, 4), ir.VectorType(_I8, 16), ir.VectorType(_I8, 8)  # AArch64's registers


def _accumulator_type():
    return _PAIRS if _PAIRED else _ACC


def _split(builder, vector, parts):
    """`vector` cut into `parts` equal vectors, first lanes first."""
    n = vector.type.count // parts
    return [builder.shuffle_vector(vector, vector, _lanes(n, n * k)) for k in range(parts)]


def _concat(builder, parts):
    """The vectors `parts` (a power of two of them, of one type) side by side, first lanes first."""
    while len(parts) > 1:
        n = 2 * parts[0].type.count
        parts = [builder.shuffle_vector(a, b, _lanes(n)) for a, b in zip(parts[::2], parts[1::2])]
    return parts[0]


def _splat(builder, quad, count):
    """The int32 `quad` in every one of `count` lanes."""
    vector = ir.VectorType(_I32, count)
    one = builder.insert_element(ir.Constant(vector, None), quad, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, one, ir.Constant(vector, [0] * count))


def _pixel_operand(builder, quad):
    """The pixel's quad (its four bytes in an int32) as the accumulate step takes it: broadcast to every int32
    lane of a block (<16 x i32>), of one ymm register (AVX-VNNI: <8 x i32>), of one q register (SDOT:
    <16 x i8>) or of one d register (SMULL: <8 x i8>), or on AVX2 sign-extended to int16 and repeated four
    times (<16 x i16>: lane j holds byte j % 4)."""
    if TARGET == "avx2":
        four = builder.sext(builder.bitcast(quad, ir.VectorType(_I8, 4)), ir.VectorType(_I16, 4))
        repeat = ir.Constant(ir.VectorType(_I32, LANES), [j % 4 for j in range(LANES)])
        return builder.shuffle_vector(four, four, repeat)
    if TARGET == "avxvnni":
        return _splat(builder, quad, LANES // 2)
    if TARGET == "sdot":
        return builder.bitcast(_splat(builder, quad, 4), _Q8)
    if TARGET == "neon":
        return builder.bitcast(_splat(builder, quad, 2), _D8)
    return _splat(builder, quad, LANES)


def _weight_operand(builder, w):
    """A block's 64 weight bytes (<16 x i32>) as the accumulate step takes them: as they are; on AVX2
    sign-extended to int16 in four vectors of 16 (weights 16k..16k + 15: channels 4k..4k + 3); on AVX-VNNI as
    two ymm registers (channels 0..7 and 8..15); on AArch64 as
    four q registers of 16 bytes (SDOT: channels 4k..4k + 3) or eight d registers of 8 (SMULL: 2k, 2k + 1)."""
    if TARGET == "avx2":
        words = builder.sext(builder.bitcast(w, ir.VectorType(_I8, 4 * LANES)), ir.VectorType(_I16, 4 * LANES))
        return _split(builder, words, 4)
    if TARGET == "avxvnni":
        return _split(builder, w, 2)
    if _AARCH64:
        return _split(builder, builder.bitcast(w, ir.VectorType(_I8, 4 * LANES)), 4 if TARGET == "sdot" else 8)
    return w


def _finish(builder, acc):
    """The <16 x i32> channel sums of an accumulator: a paired one's two partial sums added."""
    if not _PAIRED:
        return acc
    even, odd = (builder.shuffle_vector(acc, acc, _lanes(LANES, i, 2)) for i in range(2))
    return builder.add(even, odd)


def _intrinsic(builder, name, result, *operands):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(result, [v.type for v in operands]), name)
    return builder.call(fn, list(operands))


def _quad_accumulate(builder, acc, x, w):
    """acc + (for each channel c: the sum over i < 4 of u(x)[i] * w[4c + i]), the pixel's and the block's bytes
    as _pixel_operand and _weight_operand give them; exact in int32 (module docstring).

    AVX2: VPMADDWD sums a channel's products two by two (i = 0, 1 and 2, 3) into int32 lanes 2c, 2c + 1.
    AArch64 without SDOT: SMULL multiplies 8 bytes into int16 lanes, SADDLP (with the add: SADALP) sums
    adjacent ones into int32, so each d register of weights gives channels 2k and 2k + 1 their two pairs."""
    if TARGET == "avx2":
        sums = [_intrinsic(builder, "llvm.x86.avx2.pmadd.wd", ir.VectorType(_I32, 8), x, wk) for wk in w]
        return builder.add(acc, _concat(builder, sums))
    if TARGET == "vnni":
        return _intrinsic(builder, "llvm.x86.avx512.vpdpbusd.512", _ACC, acc, x, w)
    if TARGET == "avxvnni":
        half = ir.VectorType(_I32, LANES // 2)
        return _concat(builder, [_intrinsic(builder, "llvm.x86.avx512.vpdpbusd.256", half, part, x, wk)
                                 for part, wk in zip(_split(builder, acc, 2), w)])
    if TARGET == "sdot":
        parts = _split(builder, acc, 4)
        return _concat(builder, [_intrinsic(builder, "llvm.aarch64.neon.sdot.v4i32.v16i8", _Q32, part, wk, x)
                                 for part, wk in zip(parts, w)])
    if TARGET == "neon":
        words = ir.VectorType(_I16, 8)
        pairs = [_intrinsic(builder, "llvm.aarch64.neon.saddlp.v4i32.v8i16", _Q32,
                            _intrinsic(builder, "llvm.aarch64.neon.smull.v8i16", words, x, wk)) for wk in w]
        return builder.add(acc, _concat(builder, pairs))
    bytes_ = ir.VectorType(_I8, 4 * LANES)
    wide = ir.VectorType(_I32, 4 * LANES)
    products = builder.mul(builder.sext(builder.bitcast(x, bytes_), wide), builder.sext(builder.bitcast(w, bytes_), wide))
    for i in range(4):
        acc = builder.add(acc, builder.shuffle_vector(products, products, _lanes(LANES, i, 4)))
    return acc


def _data(context, builder, array_type, value, offset):
    """A pointer to element `offset` of a Numba array."""
    data = cgutils.create_struct_proxy(array_type)(context, builder, value=value).data
    return builder.gep(data, [offset])


def _tile_codegen(pixels, blocks):
    def codegen(context, builder, sig, args):
        acc_a, acc_off, acc_stride, addrs_a, koff_a, nk, w_a, w_off, w_stride = args
        accp = _data(context, builder, sig.args[0], acc_a, acc_off)
        addrs = [builder.load(_data(context, builder, sig.args[3], addrs_a, ir.Constant(_I64, p)))
                 for p in range(pixels)]
        koff = _data(context, builder, sig.args[4], koff_a, ir.Constant(_I64, 0))
        wp = _data(context, builder, sig.args[6], w_a, w_off)
        flip = ir.Constant(_I32, 0x80808080 - (1 << 32))  # u(x) = x + 128: each byte's top bit flipped
        entry = builder.block
        loop = builder.append_basic_block("quad_tile.loop")
        done = builder.append_basic_block("quad_tile.done")
        builder.branch(loop)

        builder.position_at_end(loop)
        j = builder.phi(_I64)
        j.add_incoming(ir.Constant(_I64, 0), entry)
        sums = []
        acc_type = _accumulator_type()
        for _ in range(pixels * blocks):
            phi = builder.phi(acc_type)
            phi.add_incoming(ir.Constant(acc_type, None), entry)
            sums.append(phi)
        weights = []
        quad_row = builder.mul(j, ir.Constant(_I64, 4 * LANES))
        for nb in range(blocks):
            at = builder.add(quad_row, builder.mul(ir.Constant(_I64, nb), w_stride))
            w = builder.load(builder.bitcast(builder.gep(wp, [at]), _ACC.as_pointer()), align=1)
            weights.append(_weight_operand(builder, w))
        offset = builder.load(builder.gep(koff, [j]))
        updated = []
        for p in range(pixels):
            address = builder.inttoptr(builder.add(addrs[p], offset), _I32.as_pointer())
            quad = builder.load(address, align=1)
            if INPUT_OFFSET:
                quad = builder.xor(quad, flip)
            x = _pixel_operand(builder, quad)
            for nb in range(blocks):
                updated.append(_quad_accumulate(builder, sums[p * blocks + nb], x, weights[nb]))
        j_next = builder.add(j, ir.Constant(_I64, 1))
        tail = builder.block
        j.add_incoming(j_next, tail)
        for phi, value in zip(sums, updated):
            phi.add_incoming(value, tail)
        builder.cbranch(builder.icmp_signed("<", j_next, nk), loop, done)

        builder.position_at_end(done)
        for p in range(pixels):
            for nb in range(blocks):
                at = builder.add(builder.mul(ir.Constant(_I64, p), acc_stride), ir.Constant(_I64, nb * LANES))
                builder.store(_finish(builder, updated[p * blocks + nb]),
                              builder.bitcast(builder.gep(accp, [at]), _ACC.as_pointer()), align=4)
        return context.get_dummy_value()

    return codegen


def quad_dot_tile(pixels: int, blocks: int):
    """The tile of `pixels` x `blocks` x 16 accumulators as a Numba intrinsic:

        tile(acc, acc_off, acc_stride, addrs, koff, nk, w, w_off, w_stride)

    acc int32[::1]; addrs int64[::1], the pixels' addresses; koff int64[::1], the nk >= 1 quads' byte offsets;
    w int8[::1]; offsets and strides in elements. Writes (does not add to) acc[acc_off + p * acc_stride + c]
    for p < pixels, c < 16 * blocks."""

    @intrinsic
    def tile(typingctx, acc, acc_off, acc_stride, addrs, koff, nk, w, w_off, w_stride):
        i64 = types.int64
        sig = types.void(acc, i64, i64, addrs, koff, i64, w, i64, i64)
        return sig, _tile_codegen(pixels, blocks)

    tile.__name__ = f"quad_dot_tile_{pixels}x{blocks}"
    return tile


def _depthwise_codegen(filter_h, filter_w, lanes):
    i8v, i16v, accv = (ir.VectorType(t, lanes) for t in (_I8, _I16, _I32))
    # AArch64 holds the taps' weights as bytes (9 registers of 16, not 36 of int32 that spill) and multiplies
    # bytes into int16 products (int8 x int8 <= 2^14 in magnitude); x86 keeps its int32 lanes (VPMULLD).
    narrow = _AARCH64

    def codegen(context, builder, sig, args):
        acc_a, acc_off, acc_step, x_addr, x_step, count, row_stride, col_stride, w_a, w_off, w_stride, sums_a, zp = args
        weights, offsets = [], []
        for ky in range(filter_h):
            for kx in range(filter_w):
                t = ky * filter_w + kx
                offsets.append(builder.add(builder.mul(ir.Constant(_I64, ky), row_stride),
                                           builder.mul(ir.Constant(_I64, kx), col_stride)))
                w_at = builder.add(w_off, builder.mul(ir.Constant(_I64, t), w_stride))
                w = builder.load(builder.bitcast(_data(context, builder, sig.args[8], w_a, w_at), accv.as_pointer()),
                                 align=4)
                weights.append(builder.trunc(w, i8v) if narrow else w)
        sums = builder.load(builder.bitcast(_data(context, builder, sig.args[11], sums_a, w_off), accv.as_pointer()),
                            align=4)
        zpv = builder.insert_element(ir.Constant(accv, None), builder.trunc(zp, _I32), ir.Constant(_I32, 0))
        zpv = builder.shuffle_vector(zpv, zpv, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))
        correction = builder.mul(zpv, sums)
        accp = _data(context, builder, sig.args[0], acc_a, acc_off)
        entry = builder.block
        loop = builder.append_basic_block("depthwise_row.loop")
        done = builder.append_basic_block("depthwise_row.done")
        builder.cbranch(builder.icmp_signed(">", count, ir.Constant(_I64, 0)), loop, done)

        builder.position_at_end(loop)
        i = builder.phi(_I64)
        i.add_incoming(ir.Constant(_I64, 0), entry)
        pixel = builder.add(x_addr, builder.mul(i, x_step))
        total = None
        for offset, w in zip(offsets, weights):
            x = builder.load(builder.inttoptr(builder.add(pixel, offset), i8v.as_pointer()), align=1)
            if narrow:  # SMULL (int8 x int8 into int16: |x w| <= 2^14, exact), then SADDW into the int32 sum
                product = builder.sext(builder.mul(builder.sext(x, i16v), builder.sext(w, i16v)), accv)
            else:
                product = builder.mul(builder.sext(x, accv), w)
            total = product if total is None else builder.add(total, product)
        out = builder.gep(accp, [builder.mul(i, acc_step)])
        builder.store(builder.sub(total, correction), builder.bitcast(out, accv.as_pointer()), align=4)
        i_next = builder.add(i, ir.Constant(_I64, 1))
        i.add_incoming(i_next, builder.block)
        builder.cbranch(builder.icmp_signed("<", i_next, count), loop, done)

        builder.position_at_end(done)
        return context.get_dummy_value()

    return codegen


def depthwise_taps(filter_h: int, filter_w: int, lanes: int):
    """`lanes` channels of `count` depthwise output pixels as a Numba intrinsic, the filter's taps held in
    registers across the pixels:

        taps_fn(acc, acc_off, acc_step, x_addr, x_step, count, row_stride, col_stride, w, w_off, w_stride,
                tap_sums, zp)

    for i < count, l < lanes: acc[acc_off + i * acc_step + l] = sum_t x_t[l] * w[w_off + t * w_stride + l]
    - zp * tap_sums[w_off + l], where tap t = (ky, kx) of pixel i reads the int8 memory at address
    x_addr + i * x_step + ky * row_stride + kx * col_stride (strides in bytes); w and tap_sums are int32. With
    x = zp at padding taps this is sum (x - zp) w (packed_layers.depthwise_row derives it). Products of
    int8 and |w| <= 127 widened to int32 lanes are exact, and so is their sum."""

    @intrinsic
    def taps_fn(typingctx, acc, acc_off, acc_step, x_addr, x_step, count, row_stride, col_stride, w, w_off, w_stride,
                tap_sums, zp):
        i64 = types.int64
        sig = types.void(acc, i64, i64, i64, i64, i64, i64, i64, w, i64, i64, tap_sums, i64)
        return sig, _depthwise_codegen(filter_h, filter_w, lanes)

    taps_fn.__name__ = f"depthwise_taps_{filter_h}x{filter_w}x{lanes}"
    return taps_fn


_H16 = ir.VectorType(_I16, 8)


def _broadcast(builder, value, vector):
    """The integer `value`, truncated or sign-extended to the lanes' type, in every lane of a `vector` type."""
    if value.type.width > vector.element.width:
        value = builder.trunc(value, vector.element)
    elif value.type.width < vector.element.width:
        value = builder.sext(value, vector.element)
    one = builder.insert_element(ir.Constant(vector, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, vector.count), [0] * vector.count))


def _rescale(builder, x, mult, shift):
    """AArch64: TFLite's MultiplyByQuantizedMultiplier of four int32 lanes by multipliers `mult` and shifts
    `shift` <= 0 (no left shift), each a <4 x i32>. Why it is exact: requant_lanes."""
    high = _intrinsic(builder, "llvm.aarch64.neon.sqrdmulh.v4i32", _Q32, x, mult)
    fixup = builder.ashr(builder.and_(high, shift), ir.Constant(_Q32, [31] * 4))
    fixed = _intrinsic(builder, "llvm.aarch64.neon.sqadd.v4i32", _Q32, high, fixup)
    return _intrinsic(builder, "llvm.aarch64.neon.srshl.v4i32", _Q32, fixed, shift)


def _double_rounding(builder, x, mult, shift):
    """_rescale, narrowed to int16 with saturation (<4 x i16>)."""
    return _intrinsic(builder, "llvm.aarch64.neon.sqxtn.v4i16", ir.VectorType(_I16, 4),
                      _rescale(builder, x, mult, shift))


def _to_output(builder, quarters, zp, bounds):
    """AArch64: four <4 x i16> values (saturated) + the output zero point (<8 x i16>), saturated to int8 and
    clamped to bounds (two <16 x i8>): 16 output bytes. Equal to clamping value + zp, as requant_lanes shows."""
    bytes_ = []
    for pair in (quarters[:2], quarters[2:]):
        shifted = _intrinsic(builder, "llvm.aarch64.neon.sqadd.v8i16", _H16, _concat(builder, pair), zp)
        bytes_.append(_intrinsic(builder, "llvm.aarch64.neon.sqxtn.v8i8", _D8, shifted))
    result = _intrinsic(builder, "llvm.smax.v16i8", _Q8, _concat(builder, bytes_), bounds[0])
    return _intrinsic(builder, "llvm.smin.v16i8", _Q8, result, bounds[1])


def _sixteen_at_a_time(builder, done, name, body):
    """Emit for (i = 0; i < done; i += 16) body(i): `done` an int64 multiple of 16, body(i) emitting one
    iteration's instructions."""
    entry = builder.block
    loop = builder.append_basic_block(f"{name}.loop")
    end = builder.append_basic_block(f"{name}.end")
    builder.cbranch(builder.icmp_signed(">", done, ir.Constant(_I64, 0)), loop, end)
    builder.position_at_end(loop)
    i = builder.phi(_I64)
    i.add_incoming(ir.Constant(_I64, 0), entry)
    body(i)
    i_next = builder.add(i, ir.Constant(_I64, 16))
    i.add_incoming(i_next, builder.block)
    builder.cbranch(builder.icmp_signed("<", i_next, done), loop, end)
    builder.position_at_end(end)


def _requant_x86(context, builder, sig, args, done):
    """requant_lanes on AVX-512: numerics.requant_fused on 16 lanes, in plain vector IR (LLVM multiplies the
    sign-extended int32 lanes with VPMULDQ, eight a register)."""
    acc_a, bias_a, mult_a, shift_a, rnd_a, zp, act_min, act_max, out_a = args
    wide = ir.VectorType(_I64, LANES)
    pointers = [_data(context, builder, sig.args[k], a, ir.Constant(_I64, 0))
                for k, a in enumerate((acc_a, bias_a, mult_a, shift_a))]
    rnd_p = _data(context, builder, sig.args[4], rnd_a, ir.Constant(_I64, 0))
    out = _data(context, builder, sig.args[8], out_a, ir.Constant(_I64, 0))
    zpv = _broadcast(builder, zp, _ACC)
    lo, hi = (_broadcast(builder, builder.sub(bound, zp), _ACC) for bound in (act_min, act_max))

    def body(i):
        acc, bias, mult, shift = (builder.load(builder.bitcast(builder.gep(p, [i]), _ACC.as_pointer()), align=4)
                                  for p in pointers)
        rnd = builder.load(builder.bitcast(builder.gep(rnd_p, [i]), wide.as_pointer()), align=8)
        x = builder.add(acc, bias)
        negative = builder.icmp_signed("<", builder.xor(x, mult), _same(0))
        nudge = builder.sub(rnd, builder.select(negative, _same(1 << 31, wide), _same(0, wide)))
        total = builder.add(builder.mul(builder.sext(x, wide), builder.sext(mult, wide)), nudge)
        high = builder.trunc(builder.ashr(total, _same(32, wide)), _ACC)
        value = builder.ashr(high, builder.sub(_same(-1), shift))
        clamped = builder.select(builder.icmp_signed("<", value, lo), lo, value)
        clamped = builder.select(builder.icmp_signed(">", clamped, hi), hi, clamped)
        builder.store(builder.trunc(builder.add(clamped, zpv), ir.VectorType(_I8, LANES)),
                      builder.bitcast(builder.gep(out, [i]), ir.VectorType(_I8, LANES).as_pointer()), align=1)

    _sixteen_at_a_time(builder, done, "requant_lanes", body)
    return done


def _requant_codegen(context, builder, sig, args):
    acc_a, bias_a, mult_a, shift_a, _, zp, act_min, act_max, out_a = args
    n = cgutils.create_struct_proxy(sig.args[8])(context, builder, value=out_a).nitems
    if TARGET in _X86_REQUANT:
        return _requant_x86(context, builder, sig, args, builder.and_(n, ir.Constant(_I64, -16)))
    if not _AARCH64:
        return ir.Constant(_I64, 0)
    done = builder.and_(n, ir.Constant(_I64, -16))
    pointers = [_data(context, builder, sig.args[k], a, ir.Constant(_I64, 0))
                for k, a in enumerate((acc_a, bias_a, mult_a, shift_a))]
    out = _data(context, builder, sig.args[8], out_a, ir.Constant(_I64, 0))
    zpv = _broadcast(builder, zp, _H16)
    bounds = [_broadcast(builder, value, _Q8) for value in (act_min, act_max)]

    def body(i):
        narrowed = []
        for q in range(4):
            at = builder.add(i, ir.Constant(_I64, 4 * q))
            acc, bias, mult, shift = (builder.load(builder.bitcast(builder.gep(p, [at]), _Q32.as_pointer()),
                                                   align=4) for p in pointers)
            narrowed.append(_double_rounding(builder, builder.add(acc, bias), mult, shift))
        builder.store(_to_output(builder, narrowed, zpv, bounds),
                      builder.bitcast(builder.gep(out, [i]), _Q8.as_pointer()), align=1)

    _sixteen_at_a_time(builder, done, "requant_lanes", body)
    return done


@intrinsic
def requant_lanes(typingctx, acc, bias, mult, shift, rnd, output_zp, act_min, act_max, output):
    """The fused output stage (packed_layers.requantize_span) of output's first 16 * floor(len / 16) entries
    in the target's own instructions, where it has them; returns how many it wrote (0 where it has none,
    leaving all to the caller's loop).

        requant_lanes(acc, bias, mult, shift, rnd, output_zp, act_min, act_max, output) -> int64

    acc, bias, mult, shift int32[::1], rnd int64[::1] (numerics.requant_prepare_channels' round, which only x86
    reads) and output int8[::1], entry j of each for output[j]; every shift <= -1.

    AArch64 (sdot, neon): TFLite's double rounding is two instructions' exact semantics.
    SaturatingRoundingDoublingHighMul(x, m) is SQRDMULH: both give sat((2 x m + 2^31) >> 32) (gemmlowp's
    nudge of 1 - 2^30 for negative products, divided toward zero, is the same floor). RoundingDivideByPOT(v, e)
    rounds half away from zero; SRSHL by -e rounds half up, so a negative v first takes 1 off (the sign bit
    of v & shift, shift being negative, is v's: the fixup -1 or 0), with a saturating add whose one saturating
    case, v = INT32_MIN, rounds to the same -2^(31 - e) either way. Then the clamp: saturating narrows to
    int16, + output_zp (saturating), to int8, then [act_min, act_max]. A value past int16 saturates there and
    stays past every int8 bound after the zero point (|zp| <= 128), so this equals TFLite's clamp of
    v + zp to [act_min, act_max].

    AVX-512 (vnni): numerics.requant_fused itself, on int64 lanes, its round read from rnd and
    right = -shift - 1 made from the shift. Its one 64-bit shift by 32 + right is split, as
    floor(floor(s / 2^32) / 2^right) = floor(s / 2^(32 + right)): the second, by a per-lane amount, is then
    one VPSRAVD on 16 int32 lanes instead of two on int64 ones. The result lies within +-(2^30 + 2^29 + 1),
    so clamping to [act_min - zp, act_max - zp] before adding zp is exact, as in the loop it replaces.
    Other x86 paths: 0 (_X86_REQUANT says why)."""
    sig = types.int64(acc, bias, mult, shift, rnd, types.int64, types.int64, types.int64, output)
    return sig, _requant_codegen


def _add_x86(context, builder, sig, args):
    """add_lanes on x86: add_s8_same_shape's arithmetic on 16 lanes. multiply_by_quantized_multiplier_right
    (numerics.py) takes an operand below 2^28 in magnitude here, so its first step's result floor((x * mult +
    2^30) / 2^31) is below 2^28 too: the product is on int64 lanes (VPMULDQ), the rounding divide on int32."""
    (count, left_shift, zp1, mult1, shift1, zp2, mult2, shift2, zpo, multo, shifto, act_min, act_max,
     in1, in2, out_a) = args
    wide, bytes_ = ir.VectorType(_I64, LANES), ir.VectorType(_I8, LANES)
    done = builder.and_(count, ir.Constant(_I64, -16))
    p1, p2, out = (_data(context, builder, sig.args[k], a, ir.Constant(_I64, 0))
                   for k, a in ((13, in1), (14, in2), (15, out_a)))

    def constants(mult, shift):
        """(multiplier on int64 lanes, right = -shift, mask = 2^right - 1, mask >> 1) of one rescale."""
        right = builder.neg(_broadcast(builder, shift, _ACC))
        mask = builder.sub(builder.shl(_same(1), right), _same(1))
        return _broadcast(builder, mult, wide), right, mask, builder.ashr(mask, _same(1))

    def rescale(x, mult, right, mask, half):
        s = builder.trunc(builder.ashr(builder.add(builder.mul(builder.sext(x, wide), mult), _same(1 << 30, wide)),
                                       _same(31, wide)), _ACC)
        threshold = builder.add(half, builder.zext(builder.icmp_signed("<", s, _same(0)), _ACC))
        above = builder.zext(builder.icmp_signed(">", builder.and_(s, mask), threshold), _ACC)
        return builder.add(builder.ashr(s, right), above)

    scales = [constants(m, e) for m, e in ((mult1, shift1), (mult2, shift2), (multo, shifto))]
    zps = [_broadcast(builder, z, _ACC) for z in (zp1, zp2, zpo)]
    left = _broadcast(builder, left_shift, _ACC)
    lo, hi = (_broadcast(builder, v, _ACC) for v in (act_min, act_max))

    def body(i):
        total = _same(0)
        for k, p in enumerate((p1, p2)):
            x = builder.sext(builder.load(builder.bitcast(builder.gep(p, [i]), bytes_.as_pointer()), align=1), _ACC)
            total = builder.add(total, rescale(builder.shl(builder.sub(x, zps[k]), left), *scales[k]))
        v = builder.add(rescale(total, *scales[2]), zps[2])
        v = builder.select(builder.icmp_signed("<", v, lo), lo, v)
        v = builder.select(builder.icmp_signed(">", v, hi), hi, v)
        builder.store(builder.trunc(v, bytes_), builder.bitcast(builder.gep(out, [i]), bytes_.as_pointer()), align=1)

    _sixteen_at_a_time(builder, done, "add_lanes", body)
    return done


def _add_codegen(context, builder, sig, args):
    (count, left_shift, zp1, mult1, shift1, zp2, mult2, shift2, zpo, multo, shifto, act_min, act_max,
     in1, in2, out_a) = args
    if TARGET in _X86:
        return _add_x86(context, builder, sig, args)
    if not _AARCH64:
        return ir.Constant(_I64, 0)
    done = builder.and_(count, ir.Constant(_I64, -16))
    p1, p2, out = (_data(context, builder, sig.args[k], a, ir.Constant(_I64, 0))
                   for k, a in ((13, in1), (14, in2), (15, out_a)))
    zps = [_broadcast(builder, z, _D8) for z in (zp1, zp2)]
    left = _broadcast(builder, builder.sext(left_shift, _I64), _Q32)
    mults = [_broadcast(builder, builder.sext(m, _I64), _Q32) for m in (mult1, mult2, multo)]
    shifts = [_broadcast(builder, builder.sext(v, _I64), _Q32) for v in (shift1, shift2, shifto)]
    zpv = _broadcast(builder, zpo, _H16)
    bounds = [_broadcast(builder, v, _Q8) for v in (act_min, act_max)]

    def body(i):
        scaled = []  # per input: four <4 x i32> of its rescaled values
        for k, p in enumerate((p1, p2)):
            x = builder.load(builder.bitcast(builder.gep(p, [i]), _Q8.as_pointer()), align=1)
            centred = [builder.sub(builder.sext(half, _H16), builder.sext(zps[k], _H16))  # SSUBL: in [-255, 255]
                       for half in _split(builder, x, 2)]
            quarters = [builder.shl(builder.sext(q, _Q32), left) for h in centred for q in _split(builder, h, 2)]
            scaled.append([_rescale(builder, q, mults[k], shifts[k]) for q in quarters])
        totals = [builder.add(a, b) for a, b in zip(*scaled)]
        result = _to_output(builder, [_double_rounding(builder, t, mults[2], shifts[2]) for t in totals], zpv,
                            bounds)
        builder.store(result, builder.bitcast(builder.gep(out, [i]), _Q8.as_pointer()), align=1)

    _sixteen_at_a_time(builder, done, "add_lanes", body)
    return done


@intrinsic
def add_lanes(typingctx, count, left_shift, input1_zp, input1_mult, input1_shift, input2_zp, input2_mult,
              input2_shift, output_zp, output_mult, output_shift, act_min, act_max, input1, input2, output):
    """elementwise.add_s8_same_shape's arithmetic on the first 16 * floor(count / 16) elements, in the
    target's own instructions where it has them; returns how many it wrote (0 where it has none).

    AArch64: each input (x - zp) << left_shift (below 2^28), rescaled by MultiplyByQuantizedMultiplier with
    its shift <= 0 (SQRDMULH and SRSHL with the sign fixup, exact as requant_lanes derives; a negative
    multiplier, SUB's, is no exception: SQRDMULH and SaturatingRoundingDoublingHighMul agree for any signs),
    the two added (below 2^28 each, no overflow), the sum rescaled by the output's multiplier and then
    narrowed, offset and clamped as requant_lanes does. Elements are loaded before they are stored, 16 at a
    time, so an output that is one of the inputs (the planner's in-place add) is safe.

    x86 (vnni, avxvnni, avx2): the loop's own formula (numerics.multiply_by_quantized_multiplier_right) on
    lanes, exact because every value it makes fits its lanes (_add_x86)."""
    i32 = types.int32
    sig = types.int64(types.int64, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, input1, input2,
                      output)
    return sig, _add_codegen
