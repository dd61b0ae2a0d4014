"""int8 elementwise add, sub, mul, maximum, minimum and squared difference, with NHWC broadcasting; add, sub and
mul also on int16 (16-bit activations, at the end).

Broadcasting: the output has a 4-D shape [N, H, W, C]; each input is read
through four element strides, with stride 0 on a broadcast dimension (the
[N, 1, 1, C] gate of a squeeze-excite block, a per-channel constant).

add (TFLite's int8 reference Add). Real formula: y = a + b. With
s = 2 * max(s_a, s_b), each input is centred, shifted left by left_shift (20)
for headroom, and scaled to the common scale s / 2^left_shift:

    a' = mbqm((a - a_zp) * 2^20, input1_mult, input1_shift)   (M1 = s_a / s <= 1/2)
    b' = mbqm((b - b_zp) * 2^20, input2_mult, input2_shift)   (M2 = s_b / s <= 1/2)
    y  = clamp(mbqm(a' + b', output_mult, output_shift) + y_zp)   (M = s / (2^20 s_y))

mbqm is multiply_by_quantized_multiplier. Ranges: |a - a_zp| <= 255, so the
shifted value is below 2^28; a' and b' are below 2^27 and their sum cannot
overflow int32.

mul (TFLite's int8 reference Mul). Real formula: y = a * b:

    y = clamp(mbqm((a - a_zp) * (b - b_zp), output_mult, output_shift) + y_zp)

with M = s_a * s_b / s_y; the product is at most 255^2 in magnitude.

sub (TFLite's int8 Sub, tensorflow/lite/kernels/sub.cc). Real formula:
y = a - b. Prepare (PrepareGeneralSubOp) computes exactly add's parameters
(left_shift 20, M1 = s_a / s, M2 = s_b / s, M = s / (2^20 s_y) with
s = 2 * max(s_a, s_b)) and then negates the second input's Q31 multiplier
(op_sign = -1); Eval runs the int8 Add kernel (reference_integer_ops::Add /
BroadcastAdd4DSlow) on those parameters. So

    b' = mbqm((b - b_zp) * 2^20, -input2_mult, input2_shift)
    y  = clamp(mbqm(a' + b', output_mult, output_shift) + y_zp)

with a' as in add. Negating the multiplier is not the same as negating
mbqm's result: the first rounding rounds ties toward +inf, so
mbqm(x, -m, s) and -mbqm(x, m, s) differ on ties; TFLite's form is kept.
sub_s8 takes input2_mult as add does (in [0, 2^31), as add_params and
sub_params give it) and applies the sign itself, by calling add_s8 with
-input2_mult: one arithmetic for both ops. Ranges: -input2_mult is in
(-2^31, 0], so a' and b' are below 2^27 in magnitude as in add.

maximum, minimum (TFLite's MAXIMUM / MINIMUM,
tensorflow/lite/kernels/maximum_minimum.cc). For int8, TFLite compares the
raw stored values (MaximumMinimumBroadcastSlow with el1 > el2 ? el1 : el2,
resp. <) and copies the winner to the output: no requantization and no
fused activation. That is max(r_a, r_b) only when both inputs and the output
share one scale and one zero point (r = s (q - zp) is then increasing in q),
which is what the TFLite converter gives them; the kernels assume it and
take no quantization arguments.

squared_difference (TFLite's int8 SquaredDifference,
tensorflow/lite/kernels/squared_difference.cc). Real formula: y = (a - b)^2.
Prepare uses left_shift 7 and, with s = 2 * max(s_a, s_b), M1 = s_a / s,
M2 = s_b / s (both <= 1/2) and M = s^2 / (2^14 s_y): both inputs are brought
to the common scale s / 2^7, subtracted, and the difference is squared in
int32 before one output requantization (scale s^2 / 2^14 -> s_y):

    a' = mbqm((a - a_zp) * 2^7, input1_mult, input1_shift)
    b' = mbqm((b - b_zp) * 2^7, input2_mult, input2_shift)
    y  = clamp(mbqm((a' - b')^2, output_mult, output_shift) + y_zp, -128, 127)

The op has no fused activation (TFLite clamps to the int8 range only).
Ranges: |(a - a_zp) * 2^7| <= 255 * 2^7 = 32640, and an encoded multiplier
of at most 1/2 halves it: |a'|, |b'| <= 16320 (2^7 even, so no rounding up),
|a' - b'| <= 32640 and (a' - b')^2 <= 255^2 * 2^14 = 1065369600 < 2^30: no
int32 overflow. For any left_shift L in [0, 7] (the kernels take it as a
parameter), |a' - b'| <= 255 * 2^L + 1 (the + 1 only for L = 0, where a'
can round up to 128), so the square is below 32641^2 < 2^30. The input
multipliers must encode at most 1/2 (shift <= -1, or shift 0 and
mult <= 2^30), which TFLite's Prepare always gives; a multiplier near 1
would let the square reach 65280^2 > 2^31, so the wrapper refuses it.

Same-shape fast paths. When neither input broadcasts (both have the output's
shape) the 4-D loops and the strides are not needed: the runtimes call one
flat, branch-free loop over the elements instead, with the same per-element
arithmetic, so the bytes are the same (tests/test_elementwise_same_shape.py).
One kernel per arithmetic family:

    add_s8_same_shape                   ADD, and SUB with input2_mult negated
                                        (what sub_s8 does: TFLite's op_sign)
    extremum_s8_same_shape              MAXIMUM (take_max 1) and MINIMUM (0)
    squared_difference_s8_same_shape    SQUARED_DIFFERENCE

The requantizing two (add and squared difference) compute every rounding of
multiply_by_quantized_multiplier in a branch-free right-shift form (here
numerics.multiply_by_quantized_multiplier_right; in C an unsigned
32 x 32 -> 64-bit form that SSE2 vectorizes, derived in elementwise.c),
which needs every shift <= 0: the loader demands it of the input
multipliers, and the runtimes take
the fast path only when the output's is too (an output multiplier below 1,
what every calibrated layer has; add's is s / (2^20 s_y), squared
difference's s^2 / (2^14 s_y)). The form holds for a negative multiplier
as well (the first rounding is floor((x * mult + 2^30) / 2^31) for either
sign, its one saturating case needs mult = -2^31, outside (-2^31, 2^31)).

16-bit activations (TFLite's "16x8" mode): add_s16, sub_s16, mul_s16. The
same formulas on int16 inputs and output, broadcasting as the int8 kernels,
the output clamped to [act_min, act_max] within [-32768, 32767].

    add (tensorflow/lite/kernels/add.cc, Prepare: for int16 in and out with
    general scales, left_shift = 15 instead of 20 and the same three
    multipliers; Eval runs reference_ops::AddElementwise /
    BroadcastAdd6DSlow, the int8 arithmetic above on int16 values). Ranges:
    |a - a_zp| <= 65535 for any int16 zero points (TFLite's are 0), so
    |(a - a_zp) * 2^15| <= 65535 * 2^15 = 2^31 - 2^15 fits int32. TFLite's
    input multipliers are at most 1/2, which halves it: |a'|, |b'| <=
    65535 * 2^14 (an even value, so no rounding up) and |a' + b'| <=
    2^31 - 2^15. Unlike int8 (sum below 2^29) an input multiplier near 1
    would overflow the sum, so for int16 the wrapper demands at most 1/2
    (shift <= -1, or shift 0 with mult <= 2^30), as squared_difference does.
    TFLite's other int16 path (pot_scale_int16 with power-of-two scales, a
    saturating Q0.15 add for LSTM cells) is not implemented.

    sub: add_s16 with input2_mult negated, as sub_s8 (the same ranges).

    mul (tensorflow/lite/kernels/mul.cc, EvalQuantized: int16 runs
    reference_integer_ops::Mul / BroadcastMul4DSlow, i.e. MulElementwise:
    the 32-bit MultiplyByQuantizedMultiplier of (a - a_zp) * (b - b_zp),
    M = s_a s_b / s_y evaluated in float32, mul_params). With arbitrary int16 zero
    points the product reaches 65535^2 > 2^31; TFLite refuses non-zero int16
    zero points for that reason (TF_LITE_ENSURE_EQ on both input offsets).
    microflat keeps TFLite's int32 product and refuses them likewise:
    the wrapper demands input1_zp = input2_zp = 0, and then
    |a * b| <= 32768^2 = 2^30. (An int64 product would need an int64
    MultiplyByQuantizedMultiplier, whose rounding TFLite does not use here.)
    The output zero point only shifts the result and may be any int16.

Every kernel reads input element i before writing output element i, so the
output may alias an input of the output's own shape (the memory planner runs
them in place). C twins: elementwise.c.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from . import _checks
from ._copy import copy_elements
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import (multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_right,
                       quantize_multiplier, requantize)
from .vector_ir import add_lanes

_i32 = types.int32
_v32 = types.int32[::1]
_v8 = types.int8[::1]
_v16 = types.int16[::1]

ADD_LEFT_SHIFT = 20
ADD_LEFT_SHIFT_INT16 = 15  # TFLite's for int16 with general scales: 65535 * 2^15 < 2^31
_ADD_QUANT_AND_DATA = (  # the arguments add_s8 and add_s8_same_shape end with
    _i32, _i32, _i32,  # input1_zp, input1_mult, input1_shift
    _i32, _i32, _i32,  # input2_zp, input2_mult, input2_shift
    _i32, _i32, _i32,  # output_zp, output_mult, output_shift
    _i32, _i32,  # act_min, act_max
    _v8, _v8, _v8,  # input1, input2, output
)


# add_s8 and sub_s8: one signature (sub is add with the second multiplier negated)
_ADD_SIGNATURE = types.void(
    _v32, _v32, _v32,  # output_shape[4], input1_strides[4], input2_strides[4]
    _i32,  # left_shift
    *_ADD_QUANT_AND_DATA,
)


@njit(inline="always", cache=True, nogil=True)
def _add_broadcast(output_shape, input1_strides, input2_strides, left_shift, input1_zp, input1_mult, input1_shift,
                   input2_zp, input2_mult, input2_shift, output_zp, output_mult, output_shift, act_min, act_max,
                   input1, input2, output):
    """add's loops, written once for int8 (add_s8) and int16 (add_s16): the store narrows the requantized value,
    which the clamp keeps in the output's type."""
    i = 0
    for n in range(output_shape[0]):
        for h in range(output_shape[1]):
            for w in range(output_shape[2]):
                base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2]
                base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2]
                for c in range(output_shape[3]):
                    a = np.int32(input1[base1 + c * input1_strides[3]]) - input1_zp
                    b = np.int32(input2[base2 + c * input2_strides[3]]) - input2_zp
                    a_scaled = multiply_by_quantized_multiplier(np.int32(a << left_shift), input1_mult, input1_shift)
                    b_scaled = multiply_by_quantized_multiplier(np.int32(b << left_shift), input2_mult, input2_shift)
                    output[i] = requantize(np.int32(a_scaled + b_scaled), output_mult, output_shift, output_zp,
                                           act_min, act_max)
                    i += 1


@njit(inline="always", cache=True, nogil=True)
def _mul_broadcast(output_shape, input1_strides, input2_strides, input1_zp, input2_zp, output_zp, output_mult,
                   output_shift, act_min, act_max, input1, input2, output):
    """mul's loops, written once for int8 (mul_s8) and int16 (mul_s16), as _add_broadcast."""
    i = 0
    for n in range(output_shape[0]):
        for h in range(output_shape[1]):
            for w in range(output_shape[2]):
                base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2]
                base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2]
                for c in range(output_shape[3]):
                    a = np.int32(input1[base1 + c * input1_strides[3]]) - input1_zp
                    b = np.int32(input2[base2 + c * input2_strides[3]]) - input2_zp
                    output[i] = requantize(np.int32(a * b), output_mult, output_shift, output_zp, act_min, act_max)
                    i += 1


@kernel(_ADD_SIGNATURE)
def add_s8(
    output_shape, input1_strides, input2_strides,
    left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller."""
    _add_broadcast(output_shape, input1_strides, input2_strides, left_shift, input1_zp, input1_mult, input1_shift,
                   input2_zp, input2_mult, input2_shift, output_zp, output_mult, output_shift, act_min, act_max,
                   input1, input2, output)


@kernel(_ADD_SIGNATURE)
def sub_s8(
    output_shape, input1_strides, input2_strides,
    left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller. add_s8 with the second input's multiplier negated, as
    TFLite's Sub (op_sign = -1); input2_mult in [0, 2^31), so its negation is in int32."""
    add_s8(output_shape, input1_strides, input2_strides, left_shift,
           input1_zp, input1_mult, input1_shift,
           input2_zp, np.int32(-input2_mult), input2_shift,
           output_zp, output_mult, output_shift,
           act_min, act_max, input1, input2, output)


@kernel(
    types.void(
        types.int64, _i32,  # count, left_shift
        *_ADD_QUANT_AND_DATA,
    )
)
def add_s8_same_shape(
    count, left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """add_s8 for two inputs of the output's shape and every shift <= 0 (the loader demands it of the
    inputs; an output multiplier below 1 gives it): the same arithmetic, one branch-free loop over the
    elements that LLVM vectorizes (where the target has its own instructions for it, vector_ir.add_lanes does
    the first multiple of 16 elements). SUB runs it too, with input2_mult negated (sub_s8's arithmetic):
    input1_mult and output_mult lie in [0, 2^31), input2_mult in (-2^31, 2^31).
    Ranges: |(a - zp) * 2^left_shift| < 2^28, so the scaled inputs are below 2^27 and their sum fits."""
    r1, r2, ro = -np.int64(input1_shift), -np.int64(input2_shift), -np.int64(output_shift)
    lo, hi = np.int64(act_min), np.int64(act_max)
    # The planner may run add in place (output is input1 or input2). LLVM's vectorized loop checks at run
    # time that its stores overlap no load and falls back to scalar code when they do, so each chunk is
    # computed into a buffer of its own and then copied.
    chunk = np.empty(256, np.int8)
    done = add_lanes(count, left_shift, input1_zp, input1_mult, input1_shift, input2_zp, input2_mult, input2_shift,
                     output_zp, output_mult, output_shift, act_min, act_max, input1, input2, output)
    for start in range(done, count, 256):
        n = min(256, count - start)
        x1, x2 = input1[start:start + n], input2[start:start + n]
        for i in range(n):
            a = (np.int64(x1[i]) - input1_zp) << left_shift
            b = (np.int64(x2[i]) - input2_zp) << left_shift
            total = (multiply_by_quantized_multiplier_right(a, input1_mult, r1)
                     + multiply_by_quantized_multiplier_right(b, input2_mult, r2))
            v = multiply_by_quantized_multiplier_right(total, output_mult, ro) + output_zp
            chunk[i] = np.int8(min(max(v, lo), hi))
        copy_elements(output[start:start + n], chunk)


@njit(inline="always", cache=True, nogil=True)
def _extremum_flat(count, take_max, input1, input2, output):
    if take_max:
        for i in range(count):
            output[i] = max(input1[i], input2[i])
    else:
        for i in range(count):
            output[i] = min(input1[i], input2[i])


@kernel(types.void(types.int64, _i32, _v8, _v8, _v8))  # count, take_max, data
def extremum_s8_same_shape(count, take_max, input1, input2, output):
    """maximum_s8 (take_max 1) and minimum_s8 (take_max 0) for two inputs of the output's shape: the same
    comparison of raw values, one loop over the elements per op that LLVM vectorizes. Run in place (the
    output is an input's buffer), the loop reads that input through the output's own array: LLVM then sees
    one array loaded and stored at the same index, a dependence it vectorizes, where two arrays that might
    overlap would send it to its scalar loop (add_s8_same_shape copies through a buffer instead; here the
    copy would cost as much as the comparison)."""
    at = output.ctypes.data
    if input1.ctypes.data == at:
        _extremum_flat(count, take_max, output, input2, output)
    elif input2.ctypes.data == at:
        _extremum_flat(count, take_max, input1, output, output)
    else:
        _extremum_flat(count, take_max, input1, input2, output)


@kernel(
    types.void(
        _v32, _v32, _v32,  # output_shape[4], input1_strides[4], input2_strides[4]
        _i32, _i32,  # input1_zp, input2_zp
        _i32, _i32, _i32,  # output_zp, output_mult, output_shift
        _i32, _i32,  # act_min, act_max
        _v8, _v8, _v8,  # input1, input2, output
    )
)
def mul_s8(
    output_shape, input1_strides, input2_strides,
    input1_zp, input2_zp,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller."""
    _mul_broadcast(output_shape, input1_strides, input2_strides, input1_zp, input2_zp, output_zp, output_mult,
                   output_shift, act_min, act_max, input1, input2, output)


_EXTREMUM_ARGS = (
    _v32, _v32, _v32,  # output_shape[4], input1_strides[4], input2_strides[4]
    _v8, _v8, _v8,  # input1, input2, output
)


@njit(inline="always", cache=True, nogil=True)
def _extremum(output_shape, input1_strides, input2_strides, input1, input2, output, take_max):
    """maximum_s8 (take_max) and minimum_s8: the larger (smaller) raw int8 value, as TFLite compares."""
    i = 0
    for n in range(output_shape[0]):
        for h in range(output_shape[1]):
            for w in range(output_shape[2]):
                base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2]
                base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2]
                for c in range(output_shape[3]):
                    a = input1[base1 + c * input1_strides[3]]
                    b = input2[base2 + c * input2_strides[3]]
                    if take_max:
                        output[i] = a if a > b else b
                    else:
                        output[i] = a if a < b else b
                    i += 1


@kernel(types.void(*_EXTREMUM_ARGS))
def maximum_s8(output_shape, input1_strides, input2_strides, input1, input2, output):
    """The jitted kernel; trusts its caller."""
    _extremum(output_shape, input1_strides, input2_strides, input1, input2, output, True)


@kernel(types.void(*_EXTREMUM_ARGS))
def minimum_s8(output_shape, input1_strides, input2_strides, input1, input2, output):
    """The jitted kernel; trusts its caller."""
    _extremum(output_shape, input1_strides, input2_strides, input1, input2, output, False)


SQUARED_DIFFERENCE_LEFT_SHIFT = 7


@kernel(
    types.void(
        _v32, _v32, _v32,  # output_shape[4], input1_strides[4], input2_strides[4]
        _i32,  # left_shift
        _i32, _i32, _i32,  # input1_zp, input1_mult, input1_shift
        _i32, _i32, _i32,  # input2_zp, input2_mult, input2_shift
        _i32, _i32, _i32,  # output_zp, output_mult, output_shift
        _v8, _v8, _v8,  # input1, input2, output
    )
)
def squared_difference_s8(
    output_shape, input1_strides, input2_strides,
    left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller (left_shift <= 7, input multipliers <= 1/2: the square fits)."""
    i = 0
    for n in range(output_shape[0]):
        for h in range(output_shape[1]):
            for w in range(output_shape[2]):
                base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2]
                base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2]
                for c in range(output_shape[3]):
                    a = np.int32(input1[base1 + c * input1_strides[3]]) - input1_zp
                    b = np.int32(input2[base2 + c * input2_strides[3]]) - input2_zp
                    a_scaled = multiply_by_quantized_multiplier(np.int32(a << left_shift), input1_mult, input1_shift)
                    b_scaled = multiply_by_quantized_multiplier(np.int32(b << left_shift), input2_mult, input2_shift)
                    diff = np.int32(a_scaled - b_scaled)  # |diff| <= 255 * 2^7
                    output[i] = np.int8(requantize(
                        np.int32(diff * diff), output_mult, output_shift, output_zp, np.int32(-128), np.int32(127)))
                    i += 1


@kernel(
    types.void(
        types.int64, _i32,  # count, left_shift
        _i32, _i32, _i32,  # input1_zp, input1_mult, input1_shift
        _i32, _i32, _i32,  # input2_zp, input2_mult, input2_shift
        _i32, _i32, _i32,  # output_zp, output_mult, output_shift
        _v8, _v8, _v8,  # input1, input2, output
    )
)
def squared_difference_s8_same_shape(
    count, left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    input1, input2, output,
):
    """squared_difference_s8 for two inputs of the output's shape and every shift <= 0: the same
    arithmetic, one branch-free loop over the elements that LLVM vectorizes (in place as
    add_s8_same_shape). Ranges as squared_difference_s8 (module docstring): (a' - b')^2 < 2^30."""
    r1, r2, ro = -np.int64(input1_shift), -np.int64(input2_shift), -np.int64(output_shift)
    chunk = np.empty(256, np.int8)
    for start in range(0, count, 256):
        n = min(256, count - start)
        x1, x2 = input1[start:start + n], input2[start:start + n]
        for i in range(n):
            a = (np.int64(x1[i]) - input1_zp) << left_shift
            b = (np.int64(x2[i]) - input2_zp) << left_shift
            diff = (multiply_by_quantized_multiplier_right(a, input1_mult, r1)
                    - multiply_by_quantized_multiplier_right(b, input2_mult, r2))
            v = multiply_by_quantized_multiplier_right(diff * diff, output_mult, ro) + output_zp
            chunk[i] = np.int8(min(max(v, np.int64(-128)), np.int64(127)))
        copy_elements(output[start:start + n], chunk)


# --- 16-bit activations (module docstring: TFLite's 16x8 mode) ---------------------------------------------

# add_s16 and sub_s16: add_s8's arguments with int16 data
_ADD_S16_SIGNATURE = types.void(
    _v32, _v32, _v32,  # output_shape[4], input1_strides[4], input2_strides[4]
    _i32,  # left_shift
    _i32, _i32, _i32,  # input1_zp, input1_mult, input1_shift
    _i32, _i32, _i32,  # input2_zp, input2_mult, input2_shift
    _i32, _i32, _i32,  # output_zp, output_mult, output_shift
    _i32, _i32,  # act_min, act_max
    _v16, _v16, _v16,  # input1, input2, output
)


@kernel(_ADD_S16_SIGNATURE)
def add_s16(
    output_shape, input1_strides, input2_strides,
    left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller: left_shift <= 15 and input multipliers <= 1/2, so
    |(a - zp) * 2^left_shift| < 2^31 and the sum of the scaled inputs is at most 2^31 - 2^15."""
    _add_broadcast(output_shape, input1_strides, input2_strides, left_shift, input1_zp, input1_mult, input1_shift,
                   input2_zp, input2_mult, input2_shift, output_zp, output_mult, output_shift, act_min, act_max,
                   input1, input2, output)


@kernel(_ADD_S16_SIGNATURE)
def sub_s16(
    output_shape, input1_strides, input2_strides,
    left_shift,
    input1_zp, input1_mult, input1_shift,
    input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller. add_s16 with the second input's multiplier negated (sub_s8's
    arithmetic, TFLite's op_sign); input2_mult in [0, 2^31), so its negation is in int32."""
    add_s16(output_shape, input1_strides, input2_strides, left_shift,
            input1_zp, input1_mult, input1_shift,
            input2_zp, np.int32(-input2_mult), input2_shift,
            output_zp, output_mult, output_shift,
            act_min, act_max, input1, input2, output)


@kernel(
    types.void(
        _v32, _v32, _v32,  # output_shape[4], input1_strides[4], input2_strides[4]
        _i32, _i32,  # input1_zp, input2_zp
        _i32, _i32, _i32,  # output_zp, output_mult, output_shift
        _i32, _i32,  # act_min, act_max
        _v16, _v16, _v16,  # input1, input2, output
    )
)
def mul_s16(
    output_shape, input1_strides, input2_strides,
    input1_zp, input2_zp,
    output_zp, output_mult, output_shift,
    act_min, act_max,
    input1, input2, output,
):
    """The jitted kernel; trusts its caller: |(a - input1_zp) * (b - input2_zp)| < 2^31, which input zero
    points of 0 give (|a * b| <= 2^30; module docstring)."""
    _mul_broadcast(output_shape, input1_strides, input2_strides, input1_zp, input2_zp, output_zp, output_mult,
                   output_shift, act_min, act_max, input1, input2, output)


def broadcast_strides(fn: str, in_shape, out_shape) -> np.ndarray:
    """Element strides of a C-contiguous 4-D input read as ``out_shape`` (0 on broadcast axes)."""
    strides = np.zeros(4, dtype=np.int32)
    step = 1
    for d in range(3, -1, -1):
        if in_shape[d] == out_shape[d]:
            strides[d] = step if in_shape[d] > 1 else 0
        elif in_shape[d] == 1:
            strides[d] = 0
        else:
            raise ValueError(f"{fn}: input shape {tuple(in_shape)} does not broadcast to {tuple(out_shape)}")
        step *= in_shape[d]
    return strides


def broadcast_shape(fn: str, a_shape, b_shape) -> tuple[int, ...]:
    if len(a_shape) != 4 or len(b_shape) != 4:
        raise ValueError(f"{fn}: inputs must be 4-D (NHWC), got {tuple(a_shape)} and {tuple(b_shape)}")
    out = []
    for d, (x, y) in enumerate(zip(a_shape, b_shape)):
        if x != y and 1 not in (x, y):
            raise ValueError(f"{fn}: shapes {tuple(a_shape)} and {tuple(b_shape)} do not broadcast (axis {d})")
        out.append(max(x, y))
    return tuple(out)


def add_params(input1_scale: float, input2_scale: float, output_scale: float, *, left_shift: int = ADD_LEFT_SHIFT):
    """TFLite's Add parameters from the three scales (compile time).

    left_shift: ADD_LEFT_SHIFT (20) for int8, ADD_LEFT_SHIFT_INT16 (15) for
    int16 (add.cc's Prepare picks 15 for int16 with general scales).
    Returns dict(left_shift, input1_mult, input1_shift, input2_mult,
    input2_shift, output_mult, output_shift).
    """
    twice_max = 2.0 * max(input1_scale, input2_scale)
    m1, s1 = quantize_multiplier(input1_scale / twice_max)
    m2, s2 = quantize_multiplier(input2_scale / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * output_scale))
    return dict(left_shift=left_shift, input1_mult=m1, input1_shift=s1, input2_mult=m2, input2_shift=s2,
                output_mult=mo, output_shift=so)


def sub_params(input1_scale: float, input2_scale: float, output_scale: float, *, left_shift: int = ADD_LEFT_SHIFT):
    """TFLite's Sub parameters from the three scales (compile time): PrepareGeneralSubOp.

    The same values as add_params (left_shift 20 for int8, 15 for int16,
    M1 = s1 / s, M2 = s2 / s, M = s / (2^left_shift s_out),
    s = 2 * max(s1, s2)). TFLite then stores the second multiplier negated;
    sub_s8 and sub_s16 apply that sign themselves, so input2_mult is
    returned non-negative, as the kernels and the file format take every
    multiplier.
    """
    return add_params(input1_scale, input2_scale, output_scale, left_shift=left_shift)


def mul_params(input1_scale: float, input2_scale: float, output_scale: float):
    """TFLite's Mul parameters from the three scales (compile time), int8 and int16 alike.

    mul.cc's Prepare evaluates input1->params.scale * input2->params.scale /
    output->params.scale on the tensors' float scales, so in float32 (two
    roundings), and only then converts to double for QuantizeMultiplier;
    float64 arithmetic gives a multiplier a few Q31 units away.
    Returns dict(output_mult, output_shift).
    """
    real = np.float32(np.float32(input1_scale) * np.float32(input2_scale)) / np.float32(output_scale)
    mo, so = quantize_multiplier(float(np.float32(real)))
    return dict(output_mult=mo, output_shift=so)


def squared_difference_params(input1_scale: float, input2_scale: float, output_scale: float):
    """TFLite's int8 SquaredDifference parameters from the three scales (compile time).

    left_shift 7; with s = 2 * max(s1, s2): M1 = s1 / s and M2 = s2 / s
    (at most 1/2) and M = s^2 / (2^14 s_out), the output multiplier applied
    to the squared difference at scale (s / 2^7)^2. Returns dict(left_shift,
    input1_mult, input1_shift, input2_mult, input2_shift, output_mult,
    output_shift).
    """
    twice_max = 2.0 * max(input1_scale, input2_scale)
    m1, s1 = quantize_multiplier(input1_scale / twice_max)
    m2, s2 = quantize_multiplier(input2_scale / twice_max)
    mo, so = quantize_multiplier(
        (twice_max * twice_max) / ((1 << (2 * SQUARED_DIFFERENCE_LEFT_SHIFT)) * output_scale))
    return dict(left_shift=SQUARED_DIFFERENCE_LEFT_SHIFT, input1_mult=m1, input1_shift=s1, input2_mult=m2,
                input2_shift=s2, output_mult=mo, output_shift=so)


def _scalar_requant(fn, name, mult, shift):
    m = _checks.integer(fn, f"{name}_mult", mult, 0, 2**31 - 1)
    s = _checks.integer(fn, f"{name}_shift", shift, -31, 30)
    return m, s


def _inputs(fn, input1, input2, dtype=np.int8):
    a = _checks.array(fn, "input1", input1, dtype, 4)
    b = _checks.array(fn, "input2", input2, dtype, 4)
    shape = broadcast_shape(fn, a.shape, b.shape)
    if min(shape) < 1:
        raise ValueError(f"{fn}: empty shape {shape}")
    return a, b, shape, broadcast_strides(fn, a.shape, shape), broadcast_strides(fn, b.shape, shape)


def _activation_dtype(fn, input1) -> np.dtype:
    """int8 or int16: the dtype of add's, sub's and mul's inputs and output, chosen by input1 (input2 must
    match it)."""
    if isinstance(input1, np.ndarray) and input1.dtype not in (np.int8, np.int16):
        raise ValueError(f"{fn}: input1 must have dtype int8 or int16, got {input1.dtype.name}")
    return np.dtype(input1.dtype if isinstance(input1, np.ndarray) else np.int8)


def _two_scale_quantization(
    fn, left_shift, max_left_shift,
    input1_zp, input1_mult, input1_shift, input2_zp, input2_mult, input2_shift,
    output_zp, output_mult, output_shift, dtype=np.int8,
):
    """The checked quantization arguments of add, sub and squared_difference, by their kernels' names
    (left_shift, input1_zp, input1_mult, input1_shift, input2_zp, input2_mult, input2_shift, output_zp,
    output_mult, output_shift). Zero points lie in ``dtype``'s range. Input shifts must be <= 0 (input
    multipliers below 1)."""
    type_min, type_max = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    ls = _checks.integer(fn, "left_shift", left_shift, 0, max_left_shift)
    z1 = _checks.integer(fn, "input1_zp", input1_zp, type_min, type_max)
    z2 = _checks.integer(fn, "input2_zp", input2_zp, type_min, type_max)
    zo = _checks.integer(fn, "output_zp", output_zp, type_min, type_max)
    m1, sh1 = _scalar_requant(fn, "input1", input1_mult, input1_shift)
    m2, sh2 = _scalar_requant(fn, "input2", input2_mult, input2_shift)
    mo, so = _scalar_requant(fn, "output", output_mult, output_shift)
    for name, s in (("input1_shift", sh1), ("input2_shift", sh2)):
        if s > 0:
            raise ValueError(f"{fn}: {name} must be <= 0 (input multipliers are at most 1/2), got {s}")
    return dict(left_shift=ls, input1_zp=z1, input1_mult=m1, input1_shift=sh1, input2_zp=z2, input2_mult=m2,
                input2_shift=sh2, output_zp=zo, output_mult=mo, output_shift=so)


def _add_or_sub(fn, kernels, input1, input2, quantization, act_min, act_max, backend):
    """add and sub: the same arguments, checks and kernel signature (sub_s8 and sub_s16 negate input2_mult
    themselves). kernels: (the int8 kernel, the int16 kernel), picked by the inputs' dtype."""
    check_backend(fn, backend)
    dtype = _activation_dtype(fn, input1)
    a, b, shape, s1, s2 = _inputs(fn, input1, input2, dtype)
    int16 = dtype == np.int16
    type_min, type_max = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    if quantization["left_shift"] is None:
        quantization = dict(quantization, left_shift=ADD_LEFT_SHIFT_INT16 if int16 else ADD_LEFT_SHIFT)
    q = _two_scale_quantization(fn, max_left_shift=ADD_LEFT_SHIFT_INT16 if int16 else ADD_LEFT_SHIFT,
                                dtype=dtype, **quantization)
    if int16:  # the int16 sum needs input multipliers of at most 1/2 (module docstring)
        for name in ("input1", "input2"):
            m, sh = q[f"{name}_mult"], q[f"{name}_shift"]
            if sh == 0 and m > 2**30:
                raise ValueError(f"{fn}: {name}_mult {m} with shift 0 encodes a multiplier above 1/2; "
                                 f"the sum of the scaled int16 inputs could overflow int32")
    lo, hi = _checks.activation_range(fn, act_min, act_max, type_min, type_max)
    kernel = kernels[1] if int16 else kernels[0]
    out = np.empty(shape, dtype=dtype)
    run_kernel(backend, kernel, output_shape=np.array(shape, np.int32), input1_strides=s1, input2_strides=s2, **q,
               act_min=lo, act_max=hi, input1=a.reshape(-1), input2=b.reshape(-1), output=out.reshape(-1))
    return out


def add(
    input1: np.ndarray, input2: np.ndarray, *,
    input1_zp: int, input1_mult: int, input1_shift: int,
    input2_zp: int, input2_mult: int, input2_shift: int,
    output_zp: int, output_mult: int, output_shift: int,
    left_shift: int | None = None, act_min: int | None = None, act_max: int | None = None, backend: str = "numba",
) -> np.ndarray:
    """int8 or int16 add of two NHWC tensors (broadcasting), TFLite's reference arithmetic.

    The dtype is the inputs' (both int8, or both int16: TFLite's 16x8 mode);
    the output has it too. ``add_params`` computes the multipliers from the
    scales. left_shift defaults to TFLite's: 20 for int8 (at most 20), 15
    for int16 (at most 15); act_min and act_max to the dtype's range.
    input1_mult and input2_mult encode real multipliers below 1 (input
    shifts <= 0), for int16 at most 1/2, so the scaled inputs and their sum
    fit int32 (module docstring); other values are refused.
    """
    return _add_or_sub("add", (add_s8, add_s16), input1, input2, dict(
        left_shift=left_shift, input1_zp=input1_zp, input1_mult=input1_mult, input1_shift=input1_shift,
        input2_zp=input2_zp, input2_mult=input2_mult, input2_shift=input2_shift,
        output_zp=output_zp, output_mult=output_mult, output_shift=output_shift), act_min, act_max, backend)


def sub(
    input1: np.ndarray, input2: np.ndarray, *,
    input1_zp: int, input1_mult: int, input1_shift: int,
    input2_zp: int, input2_mult: int, input2_shift: int,
    output_zp: int, output_mult: int, output_shift: int,
    left_shift: int | None = None, act_min: int | None = None, act_max: int | None = None, backend: str = "numba",
) -> np.ndarray:
    """int8 or int16 input1 - input2 of two NHWC tensors (broadcasting), TFLite's Sub arithmetic.

    The arguments are add's, with the same defaults and checks;
    ``sub_params`` computes them from the scales. input2_mult is given
    non-negative, as add takes it: the kernel applies TFLite's negation of
    the second multiplier.
    """
    return _add_or_sub("sub", (sub_s8, sub_s16), input1, input2, dict(
        left_shift=left_shift, input1_zp=input1_zp, input1_mult=input1_mult, input1_shift=input1_shift,
        input2_zp=input2_zp, input2_mult=input2_mult, input2_shift=input2_shift,
        output_zp=output_zp, output_mult=output_mult, output_shift=output_shift), act_min, act_max, backend)


def mul(
    input1: np.ndarray, input2: np.ndarray, *,
    input1_zp: int, input2_zp: int, output_zp: int, output_mult: int, output_shift: int,
    act_min: int | None = None, act_max: int | None = None, backend: str = "numba",
) -> np.ndarray:
    """int8 or int16 multiply of two NHWC tensors (broadcasting), TFLite's reference arithmetic.

    The dtype is the inputs' (both int8, or both int16); act_min and act_max
    default to its range. (output_mult, output_shift) encode
    s1 * s2 / s_out (quantize_multiplier). For int16, input1_zp and
    input2_zp must be 0, as TFLite demands, so the int32 product cannot
    overflow (module docstring); the output zero point may be any int16.
    """
    fn = "mul"
    check_backend(fn, backend)
    dtype = _activation_dtype(fn, input1)
    a, b, shape, s1, s2 = _inputs(fn, input1, input2, dtype)
    type_min, type_max = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    z1 = _checks.integer(fn, "input1_zp", input1_zp, type_min, type_max)
    z2 = _checks.integer(fn, "input2_zp", input2_zp, type_min, type_max)
    zo = _checks.integer(fn, "output_zp", output_zp, type_min, type_max)
    if dtype == np.int16 and (z1 or z2):
        raise ValueError(f"{fn}: int16 inputs need input1_zp and input2_zp 0 (got {z1} and {z2}), "
                         f"as TFLite's int16 MUL; otherwise the int32 product could overflow")
    mo, so = _scalar_requant(fn, "output", output_mult, output_shift)
    lo, hi = _checks.activation_range(fn, act_min, act_max, type_min, type_max)
    out = np.empty(shape, dtype=dtype)
    kernel = mul_s16 if dtype == np.int16 else mul_s8
    run_kernel(backend, kernel, output_shape=np.array(shape, np.int32), input1_strides=s1, input2_strides=s2,
               input1_zp=z1, input2_zp=z2, output_zp=zo, output_mult=mo, output_shift=so, act_min=lo, act_max=hi,
               input1=a.reshape(-1), input2=b.reshape(-1), output=out.reshape(-1))
    return out


def _extremum_op(fn, kernel, input1, input2, backend):
    check_backend(fn, backend)
    a, b, shape, s1, s2 = _inputs(fn, input1, input2)
    out = np.empty(shape, dtype=np.int8)
    run_kernel(backend, kernel, output_shape=np.array(shape, np.int32), input1_strides=s1, input2_strides=s2,
               input1=a.reshape(-1), input2=b.reshape(-1), output=out.reshape(-1))
    return out


def maximum(input1: np.ndarray, input2: np.ndarray, *, backend: str = "numba") -> np.ndarray:
    """int8 elementwise maximum of two NHWC tensors (broadcasting), as TFLite's MAXIMUM: the larger raw
    value. Meaningful when both inputs and the output share one scale and zero point (the converter's
    quantization of MAXIMUM); no requantization, no activation."""
    return _extremum_op("maximum", maximum_s8, input1, input2, backend)


def minimum(input1: np.ndarray, input2: np.ndarray, *, backend: str = "numba") -> np.ndarray:
    """int8 elementwise minimum of two NHWC tensors (broadcasting), as TFLite's MINIMUM; see maximum."""
    return _extremum_op("minimum", minimum_s8, input1, input2, backend)


def squared_difference(
    input1: np.ndarray, input2: np.ndarray, *,
    input1_zp: int, input1_mult: int, input1_shift: int,
    input2_zp: int, input2_mult: int, input2_shift: int,
    output_zp: int, output_mult: int, output_shift: int,
    left_shift: int = SQUARED_DIFFERENCE_LEFT_SHIFT, backend: str = "numba",
) -> np.ndarray:
    """int8 (input1 - input2)^2 of two NHWC tensors (broadcasting), TFLite's int8 SquaredDifference.

    ``squared_difference_params`` computes the multipliers from the scales.
    left_shift is at most 7 and input1_mult and input2_mult must encode real
    multipliers of at most 1/2 (shift <= -1, or shift 0 with mult <= 2^30),
    so the squared difference fits in int32 (derivation in the module
    docstring); other values are refused. No fused activation: the output is
    clamped to [-128, 127].
    """
    fn = "squared_difference"
    check_backend(fn, backend)
    a, b, shape, s1, s2 = _inputs(fn, input1, input2)
    q = _two_scale_quantization(fn, left_shift, SQUARED_DIFFERENCE_LEFT_SHIFT, input1_zp, input1_mult, input1_shift,
                                input2_zp, input2_mult, input2_shift, output_zp, output_mult, output_shift)
    for name in ("input1", "input2"):
        m, sh = q[f"{name}_mult"], q[f"{name}_shift"]
        if sh == 0 and m > 2**30:
            raise ValueError(f"{fn}: {name}_mult {m} with shift 0 encodes a multiplier above 1/2; "
                             f"the squared difference could overflow int32")
    out = np.empty(shape, dtype=np.int8)
    run_kernel(backend, squared_difference_s8, output_shape=np.array(shape, np.int32), input1_strides=s1,
               input2_strides=s2, **q, input1=a.reshape(-1), input2=b.reshape(-1), output=out.reshape(-1))
    return out
