"""int16 LOGISTIC and TANH: TFLite's 16x8 reference kernels (reference_integer_ops::Logistic / Tanh with an input
multiplier and shift), bit for bit. docs/RECURRENT.md section 1 is the specification.

Quantization: input int16 with zero point 0 at any scale s_in (within the bounds below); output int16 at scale
1/32768, zero point 0 (Q0.15), whatever the data: logistic in [0, 32767], tanh in [-32767, 32767].

Prepare (logistic_s16_params / tanh_s16_params, float work once, TFLite's SigmoidPrepare / TanhPrepare): the input
is re-expressed in units of 1/12288 = 1/(3 * 2^12) by an integer multiplier M and a right shift k:

    v = (x * M + 2^(k-1)) >> k        (2^(k-1) read as 0 for k = 0)  ~=  x * s_in * 12288

  - power-of-two scale (CheckedLog2(s_in) = r exactly, and 12 + r = 0 for logistic, 0 or 1 for tanh):
    M = 0 and k = 12 + r; the kernel then takes M = 3 << k and k = 0 (RECURRENT.md 1.3 step 1);
  - else m = double(s_in) * 12288 doubled (k += 1) while m <= 16383.5 and k <= 30; M = int32(m), truncated, in
    (16383.5, 32767] unless k reached 31.

Eval per element (logistic_s16_element, tanh_s16_element): with a = |v| and the 256-entry table T of
sigmoid(i / 24) in Q0.16 (SIGMOID_TABLE_U16, TFLite's sigmoid_table_uint16, verbatim):

  logistic  h = a >> 9 (1/24 = 512 units); f = a & 511; r = T[h] 2^9 + f (T[h+1] - T[h]), or 32767 2^10 where
            h >= 255 (|real| >= 10.625); r + 2^9 for v >= 0, else 2^25 - r + 2^9 - 1 (sigmoid(-x) = 1 - sigmoid(x));
            output r >> 10: Q0.16 with 10 more fraction bits down to Q0.15.
  tanh      tanh(x) = 2 sigmoid(2x) - 1: h = a >> 8, f = a & 255, r = T[h] 2^8 + f (T[h+1] - T[h]), or 65535 2^8
            where h >= 255 (|real| >= 5.3125); r - 2^23 + 2^7 for v >= 0, else -r + 2^23 + 2^7 - 1; output r >> 8.

Bounds (the contract the public wrappers, both loaders and the C twin rely on; gemmlowp style):
  - M in [0, 32767]. With M >= 1 and k in [0, 31]: |x * M| <= 2^15 * 32767 = 2^30 - 2^15 and the rounding term
    2^(k-1) <= 2^30, so x * M + 2^(k-1) lies in (-2^30, 2^31 - 2^15]: int32, and the shift k <= 31 is defined.
  - M = 0 (power of two): k in [0, 14], so 3 << k <= 49152 and |x * (3 << k)| <= 2^15 * 49152 = 1.5 * 2^30 < 2^31.
    (TFLite produces k = 0 for logistic and k in {0, 1} for tanh; k = 15 would overflow, and k = 31 would make
    3 << k undefined, so a multiplier that truncates to 0 on the general path is refused by the params.)
  - Then |v| < 2^31, so a = |v| is exact in uint32; h < 255 keeps T[h + 1] inside the table, and
    r <= 65535 2^9 + 511 < 2^25 (logistic), 65535 2^8 + 255 < 2^24 (tanh): no step can overflow. The table is
    non-decreasing, so T[h+1] - T[h] >= 0 (checked by the tests), and 2^25 - r >= 2^25 - (2^25 - 513) > 0.
  - Outputs: logistic (2^25 - 1 + 2^9) >> 10 = 32767 at most and >= 0; tanh within [-32767, 32767].

Accuracy against the float functions: the table errs from 65536 sigmoid(i/24) by at most 1.11 and linear
interpolation over steps of 1/24 by at most (1/24)^2 / 8 * max|sigmoid''| * 65536 = 1.37 (units of 2^-16); with the
output's half-step rounding, logistic lies within 1.74 output steps (2^-15) of sigmoid(v / 12288) and tanh within
2.98 of tanh(v / 12288); v / 12288 differs from the real input r by at most |r| / 16383.5 + 1/24576 (the truncated
multiplier and the rounding of v). tests/activation_references.py states the bound per element and the tests hold
every int16 input to it.

Output element i is written after input element i is read: the kernels run in place. C twin: activations_s16.c; the
per-element functions also as static inline C in activations_s16.h (mf_logistic_s16_element, mf_tanh_s16_element),
for the LSTM's gates.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel

_i32 = types.int32

# TFLite's sigmoid_table_uint16 (tensorflow/lite/kernels/internal/common.h; the same in CMSIS-NN's arm_nntables.c):
# about 65536 sigmoid(i / 24) for i = 0..255. It is data, not a formula: 44 entries differ by one from the
# correctly rounded value, so it is copied verbatim, and checked by its sum and CRC-32 (RECURRENT.md 1.2).
SIGMOID_TABLE_U16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
], dtype=np.uint16)
SIGMOID_TABLE_SUM = 15_670_629
SIGMOID_TABLE_CRC32 = 0xB84F6AB4  # of the 512 little-endian bytes

# The fixed output quantization of both ops (TFLite's: CheckedLog2(s_out) = -15, zero point 0).
OUTPUT_SCALE = 1.0 / 32768.0
OUTPUT_ZP = 0
INPUT_MULTIPLIER_MAX = 32767
INPUT_LEFT_SHIFT_MAX = 31
POT_INPUT_LEFT_SHIFT_MAX = 14  # input_multiplier 0: 3 << 14 = 49152, and 2^15 * 49152 < 2^31
# The real inputs are expressed in units of 1/12288 = 1/(3 * 2^12) (the table's step 1/24 is 512 of them).
_INPUT_UNITS = 4096.0 * 3.0
_INPUT_INTEGER_BITS = 3  # TFLite's kInputIntegerBits: 15 - 3 = 12 is the power-of-two scale's shift offset


def sigmoid_table_checks() -> tuple[int, int]:
    """(sum, CRC-32 of the little-endian bytes) of SIGMOID_TABLE_U16, to hold against RECURRENT.md 1.2's values."""
    return int(SIGMOID_TABLE_U16.astype(np.int64).sum()), zlib.crc32(SIGMOID_TABLE_U16.astype("<u2").tobytes())


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2 on a float32 x: (whether log2(x) is within 1e-3 of an integer, that integer), in float32."""
    lg = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(math.copysign(math.floor(abs(float(lg)) + 0.5), float(lg)))  # std::round
    return bool(abs(float(np.float32(lg - rounded))) < 1e-3), int(rounded)


def _activation_params(fn: str, input_scale: float, pot_shifts: tuple[int, ...]) -> tuple[int, int]:
    s = float(np.float32(input_scale))  # the tensor's float32 scale, widened to double
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"{fn}: input_scale must be finite and > 0, got {input_scale!r}")
    pot, log2 = checked_log2(s)
    shift = (15 - _INPUT_INTEGER_BITS) + log2
    if pot and shift in pot_shifts:
        return 0, shift
    m = s * _INPUT_UNITS
    shift = 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    if m > INPUT_MULTIPLIER_MAX:
        raise ValueError(f"{fn}: input_scale {s!r} is too large: the multiplier {m!r} exceeds 32767 "
                         f"(s_in at most 32767 / 12288)")
    multiplier = int(m)  # static_cast<int32_t>: truncation
    if multiplier == 0:
        raise ValueError(f"{fn}: input_scale {s!r} is too small: the multiplier truncates to 0")
    return multiplier, shift


def logistic_s16_params(input_scale: float) -> tuple[int, int]:
    """(input_multiplier, input_left_shift) of int16 LOGISTIC at input scale s_in (TFLite's SigmoidPrepare):
    (0, 0) at s_in = 2^-12, else the truncated multiplier of s_in * 12288 * 2^shift (module docstring)."""
    return _activation_params("logistic_s16_params", input_scale, (0,))


def tanh_s16_params(input_scale: float) -> tuple[int, int]:
    """(input_multiplier, input_left_shift) of int16 TANH (TFLite's TanhPrepare): (0, 0) or (0, 1) at s_in = 2^-12
    or 2^-11, else as logistic_s16_params."""
    return _activation_params("tanh_s16_params", input_scale, (0, 1))


@kernel(_i32(_i32, _i32, _i32))
def _input_in_units(x, input_multiplier, input_left_shift):
    """v = (x * M + 2^(k-1)) >> k, the input in units of 1/12288 (RECURRENT.md 1.3 steps 1 and 2); M = 0 means
    M = 3 << k, k = 0. Exact in int64; within int32 by the module's bounds."""
    mult = np.int64(input_multiplier)
    shift = np.int64(input_left_shift)
    if mult == 0:
        mult = np.int64(3) << shift
        shift = np.int64(0)
    rounding = (np.int64(1) << (shift - 1)) if shift > 0 else np.int64(0)
    return np.int32((np.int64(x) * mult + rounding) >> shift)


@kernel(_i32(_i32, _i32, _i32))
def logistic_s16_element(x, input_multiplier, input_left_shift):
    """sigmoid of one int16 input (an int32 holding it) as Q0.15 in [0, 32767]: TFLite's int16 Logistic."""
    v = np.int64(_input_in_units(x, input_multiplier, input_left_shift))
    a = -v if v < 0 else v
    h = a >> 9
    if h >= 255:
        r = np.int64(32767 << 10)
    else:
        lo = np.int64(SIGMOID_TABLE_U16[h])
        r = (lo << 9) + (a & 511) * (np.int64(SIGMOID_TABLE_U16[h + 1]) - lo)
    if v >= 0:
        r = r + (1 << 9)
    else:
        r = (1 << 25) - r + (1 << 9) - 1
    return np.int32(r >> 10)


@kernel(_i32(_i32, _i32, _i32))
def tanh_s16_element(x, input_multiplier, input_left_shift):
    """tanh of one int16 input (an int32 holding it) as Q0.15 in [-32767, 32767]: TFLite's int16 Tanh."""
    v = np.int64(_input_in_units(x, input_multiplier, input_left_shift))
    a = -v if v < 0 else v
    h = a >> 8
    if h >= 255:
        r = np.int64(65535 << 8)
    else:
        lo = np.int64(SIGMOID_TABLE_U16[h])
        r = (lo << 8) + (a & 255) * (np.int64(SIGMOID_TABLE_U16[h + 1]) - lo)
    if v >= 0:
        r = r - (1 << 23) + (1 << 7)
    else:
        r = -r + (1 << 23) + (1 << 7) - 1
    return np.int32(r >> 8)


_SIGNATURE = types.void(_i32, _i32, _i32, types.int16[::1], types.int16[::1])


@kernel(_SIGNATURE)
def logistic_s16(size, input_multiplier, input_left_shift, input, output):
    """The jitted kernel; trusts its caller (the module's bounds)."""
    for i in range(size):
        output[i] = np.int16(logistic_s16_element(np.int32(input[i]), input_multiplier, input_left_shift))


@kernel(_SIGNATURE)
def tanh_s16(size, input_multiplier, input_left_shift, input, output):
    """The jitted kernel; trusts its caller (the module's bounds)."""
    for i in range(size):
        output[i] = np.int16(tanh_s16_element(np.int32(input[i]), input_multiplier, input_left_shift))


def check_input_scaling(fn: str, input_multiplier, input_left_shift) -> tuple[int, int]:
    """The module's bounds on (input_multiplier, input_left_shift), as ValueError naming the argument."""
    m = _checks.integer(fn, "input_multiplier", input_multiplier, 0, INPUT_MULTIPLIER_MAX)
    k = _checks.integer(fn, "input_left_shift", input_left_shift, 0,
                        POT_INPUT_LEFT_SHIFT_MAX if m == 0 else INPUT_LEFT_SHIFT_MAX)
    return m, k


def _apply(fn: str, kernel_fn, input, input_multiplier, input_left_shift, backend):
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array")
    x = _checks.array(fn, "input", input, np.int16, input.ndim)
    m, k = check_input_scaling(fn, input_multiplier, input_left_shift)
    out = np.empty_like(x)
    run_kernel(backend, kernel_fn, size=x.size, input_multiplier=m, input_left_shift=k, input=x.reshape(-1),
               output=out.reshape(-1))
    return out


def logistic_int16(input: np.ndarray, *, input_multiplier: int, input_left_shift: int,
                   backend: str = "numba") -> np.ndarray:
    """int16 logistic elementwise (zero point 0), output Q0.15; logistic_s16_params gives the two parameters."""
    return _apply("logistic_int16", logistic_s16, input, input_multiplier, input_left_shift, backend)


def tanh_int16(input: np.ndarray, *, input_multiplier: int, input_left_shift: int,
               backend: str = "numba") -> np.ndarray:
    """int16 tanh elementwise (zero point 0), output Q0.15; tanh_s16_params gives the two parameters."""
    return _apply("tanh_int16", tanh_s16, input, input_multiplier, input_left_shift, backend)
