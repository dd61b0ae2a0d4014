"""int64 references of TFLite's int16 LOGISTIC, TANH and SOFTMAX (docs/RECURRENT.md sections 1 and 2), in another
formulation than the kernels: whole-array numpy, the input rescaling as a floor division, the table interpolation as
the weighted sum T[h] (2^n - f) + T[h + 1] f, the odd symmetries as explicit complements, the leading zeros of the
softmax sum from bit_length. The tables are read from the C sources (kernels/activations_s16.c,
kernels/softmax_s16_tables.h), whose sums and CRC-32s test_kernels_s16_activations.py pins to RECURRENT.md's values.
Each reference asserts the int32 bounds the kernels' docstrings derive, so a case outside them fails loudly instead
of agreeing by accident. Never imports microflat."""

import re
from pathlib import Path

import numpy as np

from microflat.testing.int_reference import INT32_MAX, multiply_by_quantized_multiplier

I16_MIN, I16_MAX = -(2**15), 2**15 - 1
KERNELS_DIR = Path(__file__).resolve().parent.parent / "kernels"


def _c_array(text: str, name: str) -> np.ndarray:
    """The integers of C array `name` in a source text."""
    body = re.search(re.escape(name) + r"\[\d+\] = \{(.*?)\};", text, re.S).group(1)
    return np.array([int(v) for v in re.findall(r"-?\d+", body)], np.int64)


SIGMOID_TABLE = _c_array((KERNELS_DIR / "activations_s16.c").read_text(), "mf_sigmoid_table_u16")
_TABLES_H = (KERNELS_DIR / "softmax_s16_tables.h").read_text()
EXP_LUT = _c_array(_TABLES_H, "mf_softmax_s16_exp_lut")
ONE_OVER_LUT = _c_array(_TABLES_H, "mf_softmax_s16_one_over_one_plus_x_lut")


def ref_input_in_units(x, m, k):
    """RECURRENT.md 1.3 steps 1 and 2: the input in units of 1/12288, as a floor division; asserts the int32 bound."""
    if m == 0:
        m, k = 3 << k, 0
    total = x.astype(np.int64) * m + (2 ** (k - 1) if k > 0 else 0)
    assert np.abs(total).max() <= INT32_MAX, "x * M + rounding leaves int32"
    return total // 2**k


def _interpolate(a, bits):
    """T[h] (2^n - f) + T[h + 1] f, n = bits, h = a >> n (below 255), f = a mod 2^n: the Q0.16 table interpolated
    with n fraction bits, i.e. T[h] 2^n + f (T[h + 1] - T[h])."""
    h = np.minimum(a >> bits, 254)
    f = a & (2**bits - 1)
    return SIGMOID_TABLE[h] * (2**bits - f) + SIGMOID_TABLE[h + 1] * f


def ref_logistic(x, m, k):
    v = ref_input_in_units(x, m, k)
    a = np.abs(v)
    r = np.where(a >> 9 >= 255, 32767 * 2**10, _interpolate(a, 9))
    assert r.max() < 2**25
    # sigmoid(-x) = 1 - sigmoid(x): the complement in Q0.25 before the rounding shift (half down for negatives)
    return np.where(v >= 0, (r + 2**9) // 2**10, (2**25 - r + 2**9 - 1) // 2**10).astype(np.int16)


def ref_tanh(x, m, k):
    v = ref_input_in_units(x, m, k)
    a = np.abs(v)
    r = np.where(a >> 8 >= 255, 65535 * 2**8, _interpolate(a, 8))
    # tanh(x) = 2 sigmoid(2x) - 1: the table read at twice the argument (8 fraction bits), then 2s - 1 in Q0.23
    return np.where(v >= 0, (r - 2**23 + 2**7) // 2**8, (2**23 - r + 2**7 - 1) // 2**8).astype(np.int16)


def ref_lookup(value, lut):
    """TFLite's int16 table lookup: 9 index bits, 7 interpolated."""
    idx = 256 + np.floor_divide(value, 128)
    off = np.mod(value, 128)
    return lut[idx] + ((lut[idx + 1] - lut[idx]) * off + 64) // 128


def ref_softmax(x, m, s):
    """RECURRENT.md 2.2 row by row, in int64."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        d = row - row.max()
        assert np.abs(d).max() * 2 ** max(s, 0) <= INT32_MAX, "the scaled difference's left shift leaves int32"
        t = np.clip(multiply_by_quantized_multiplier(d, m, s) + 32767, I16_MIN, I16_MAX)
        e = ref_lookup(t, EXP_LUT)
        total = int(e.sum())
        assert total <= INT32_MAX
        hp = 32 - total.bit_length()  # the leading zeros of the int32 sum
        ss = ((total << (hp - 1)) + 2**13) >> 14
        assert 2**16 <= ss <= 2**17
        rc = int(ref_lookup(np.clip(ss - 98304, I16_MIN, I16_MAX), ONE_OVER_LUT))
        k = 31 - hp
        out[i] = np.clip((e * rc + 2 ** (k - 1)) // 2**k, 0, I16_MAX)
    return out.reshape(x.shape).astype(np.int16)


# --- error bounds against the float functions ----------------------------------------------------------------------
# Each kernel approximates its float function within a bound derived from its arithmetic (a result in Q0.15, so one
# output step is 2^-15). The table constants below are exact maxima over the tables' whole (finite) domains.

Q015_STEP = 1.0 / 32768.0
# |T[i] - 65536 sigmoid(i / 24)|, the table's own error (1.11: it is not the correctly rounded table)
SIGMOID_TABLE_ERROR = float(np.abs(SIGMOID_TABLE - 65536.0 / (1.0 + np.exp(-np.arange(256) / 24.0))).max())
# Linear interpolation between nodes h apart errs by at most h^2 / 8 max|f''|; sigmoid'' peaks at 1 / (6 sqrt(3))
# (x = ln(2 -+ sqrt(3))); h = 1/24, in units of 2^-16.
SIGMOID_INTERPOLATION_ERROR = (1.0 / 24.0) ** 2 / 8.0 / (6.0 * np.sqrt(3.0)) * 65536.0


def _lookup_error(lut, f):
    """max over every int16 v of |ref_lookup(v, lut) - 32768 f(v)|: the lookup's whole domain, exhaustively."""
    v = np.arange(I16_MIN, I16_MAX + 1, dtype=np.int64)
    return float(np.abs(ref_lookup(v, lut) - 32768.0 * f(v)).max())


# exp at (t - 32767) 10 / 65535 (t in int16: [-10, 0]): 6.41, at t = 32767, where the table's last entry is clamped
# to 32767; 1 / (1 + x) at x = (u + 32768) / 65535 (u in int16: [0, 1]): 1.42.
EXP_LOOKUP_ERROR = _lookup_error(EXP_LUT, lambda t: np.exp((t - 32767) * 10.0 / 65535.0))
RECIPROCAL_LOOKUP_ERROR = _lookup_error(ONE_OVER_LUT, lambda u: 1.0 / (1.0 + (u + 32768) / 65535.0))


def input_error(x, scale, m, k):
    """Bound on |u - r| per element: u = v / 12288 the input the table reads, r = x * scale the real input. With a
    multiplier m > 0, m / 2^k = scale * 12288 * (1 - mu) (mu >= 0: the truncation) and v rounds x m / 2^k to the
    nearest integer, so |u - r| <= |r| mu + 1 / 24576; a power-of-two scale (m = 0) is exact."""
    if m == 0:
        return np.zeros(np.shape(x))
    mu = 1.0 - m / (scale * 12288.0 * 2.0**k)
    assert 0.0 <= mu < 1.0 / 16383.0
    return np.abs(np.asarray(x, np.float64) * scale) * mu + 1.0 / 24576.0


def logistic_bound(x, scale, m, k):
    """|y 2^-15 - sigmoid(x scale)| per element: the table's error and its interpolation's (in 2^-16), the output's
    rounding (half a step, either sign; the saturated ends 32767 and 1 lie within one step of sigmoid beyond
    +-10.625), and the input's error through sigmoid' <= 1/4."""
    table = (SIGMOID_TABLE_ERROR + SIGMOID_INTERPOLATION_ERROR) / 65536.0
    return table + 0.5 * Q015_STEP + input_error(x, scale, m, k) / 4.0


def tanh_bound(x, scale, m, k):
    """|y 2^-15 - tanh(x scale)|: tanh(u) = 2 sigmoid(2u) - 1 doubles the table's errors; half a step of rounding
    (the saturated +-32767 lie within one step of tanh beyond +-5.3125); tanh' <= 1."""
    table = 2.0 * (SIGMOID_TABLE_ERROR + SIGMOID_INTERPOLATION_ERROR) / 65536.0
    return table + 0.5 * Q015_STEP + input_error(x, scale, m, k)


def softmax_bound(depth, argument_error):
    """|y 2^-15 - p| for a row of `depth` values, p the softmax of arguments a_j known to within argument_error.

    The kernel's exps are e_j = 32768 exp(a_j + theta_j) + eta_j with |theta_j| <= argument_error and |eta_j| <=
    EXP_LOOKUP_ERROR (a clamped argument below -10 gives the table's 2, within 2 of 32768 exp(a)); their sum S is at
    least the row maximum's 32762. Then e_c / S is within (e^(2 argument_error) - 1) + (depth + 1) eta / 32762 of p
    (the theta scale numerator and sum by e^(+-theta); the etas move the ratio by at most eta / S plus
    p depth eta / S). The reciprocal's relative error: its lookup (RECIPROCAL_LOOKUP_ERROR over a result >= 16384),
    the sum normalized to 17 bits (2^-17) and the table's grid (x = (ss - 2^16) / 65535 for ss / 2^16 - 1, and the
    clamp of ss = 2^17: 2 / 65535); e_c / S <= 1 turns it into an absolute error. The output rounds (half a step)
    and clamps at 32767 (one more step below p = 1)."""
    ratio = np.expm1(2.0 * argument_error) + (depth + 1) * EXP_LOOKUP_ERROR / 32762.0
    reciprocal = RECIPROCAL_LOOKUP_ERROR / 16384.0 + 2.0**-17 + 2.0 / 65535.0
    return ratio + reciprocal + 1.5 * Q015_STEP


# One step of the scaled difference (multiply_by_quantized_multiplier's double rounding errs by less than one unit),
# in real units: the exp table's input grid, 10 / 65535.
SOFTMAX_ARGUMENT_STEP = 10.0 / 65535.0
