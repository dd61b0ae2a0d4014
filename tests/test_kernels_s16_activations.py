"""TFLite's int16 LOGISTIC, TANH and SOFTMAX (16x8 mode; docs/RECURRENT.md sections 1 and 2): logistic_int16,
tanh_int16 and softmax_int16 through their public wrappers, their tables, and their compile-time parameters.

Numba equals the plain int64 references of activation_references.py (another formulation than the kernels, which
asserts the kernels' int32 bounds), and C equals Numba byte for byte, on every drawn case and on all 65,536 int16
inputs of logistic and tanh at six input scales (both power-of-two cases and four general ones). The references read
the tables from the C sources (activations_s16.c, softmax_s16_tables.h), whose sums and CRC-32s this file pins to
RECURRENT.md's values, and holds the Python copies and the header's generator to them.

Against the float functions (float64), every output lies within the error bound activation_references.py derives
from the kernels' arithmetic (the tables' own errors, their interpolation, the input rescaling, the rounding): on
every input of logistic and tanh at nine scales, and on every drawn softmax row.

Every drawn int16 array holds -32768 and 32767; the parameters are those TFLite's Prepare derives from a drawn scale,
or the edges of what the wrappers accept (multipliers 0, 1 and the largest; shifts 0, 14, 15 and 31; softmax
multipliers 0, 2^30 and 2^31 - 1 with shifts -31 and 15). LiteRT's reference kernels are the third party in
test_litert_16x8.py.
"""

from __future__ import annotations

import importlib
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from activation_references import (EXP_LUT, ONE_OVER_LUT, SIGMOID_TABLE, SOFTMAX_ARGUMENT_STEP, logistic_bound,
                                   ref_logistic, ref_softmax, ref_tanh, softmax_bound, tanh_bound)
from microflat.testing.layer_cases import with_edges
from microflat import kernels as K

I16_MIN, I16_MAX = -(2**15), 2**15 - 1
KERNELS_DIR = Path(__file__).resolve().parent.parent / "kernels"
ALL_INT16 = np.arange(I16_MIN, I16_MAX + 1, dtype=np.int16)


def _crc(values, fmt) -> int:
    return zlib.crc32(np.asarray(values).astype(fmt).tobytes())


# --- the tables ----------------------------------------------------------------------------------------------------

def test_the_sigmoid_table_is_tflites():
    """RECURRENT.md 1.2's checks of a verbatim copy, in the C source; the Python copy is the same table."""
    assert len(SIGMOID_TABLE) == 256
    assert int(SIGMOID_TABLE.sum()) == 15_670_629
    assert _crc(SIGMOID_TABLE, "<u2") == 0xB84F6AB4
    assert SIGMOID_TABLE[0] == 32768 and SIGMOID_TABLE[-1] == 65535
    assert np.all(np.diff(SIGMOID_TABLE) >= 0), "the kernels rely on T[h + 1] - T[h] >= 0"
    np.testing.assert_array_equal(K.activations_s16.SIGMOID_TABLE_U16, SIGMOID_TABLE)
    assert K.activations_s16.sigmoid_table_checks() == (15_670_629, 0xB84F6AB4)


def test_the_softmax_tables_are_tflites_and_the_header_is_generated():
    """RECURRENT.md 2.1's recomputed checks, the checked-in header equal to its generator's text, and the bound the
    lookup's int16 intermediates rely on (consecutive entries within 634)."""
    softmax = importlib.import_module("microflat.kernels.softmax")
    assert (KERNELS_DIR / "softmax_s16_tables.h").read_text() == softmax.softmax_s16_tables_header(), \
        "regenerate: python -m microflat.kernels.softmax > kernels/softmax_s16_tables.h"
    exp_lut, one_over = softmax.softmax_s16_tables()
    np.testing.assert_array_equal(exp_lut, EXP_LUT)
    np.testing.assert_array_equal(one_over, ONE_OVER_LUT)
    assert (len(EXP_LUT), int(EXP_LUT.sum()), _crc(EXP_LUT, "<i2")) == (513, 1_694_030, 0xAC7DFFAA)
    assert (len(ONE_OVER_LUT), int(ONE_OVER_LUT.sum()), _crc(ONE_OVER_LUT, "<i2")) == (513, 11_653_643, 0xADF81625)
    assert EXP_LUT[:4].tolist() == [2, 2, 2, 2] and EXP_LUT[-4:].tolist() == [30902, 31512, 32133, 32767]
    assert ONE_OVER_LUT[:4].tolist() == [32767, 32704, 32640, 32578]
    assert ONE_OVER_LUT[-4:].tolist() == [16432, 16416, 16400, 16384]
    # the two entries where TFLite Micro's float32 table differs (RECURRENT.md 2.3): microflat's is TFLite's double one
    assert (ONE_OVER_LUT[160], ONE_OVER_LUT[294]) == (24967, 20815)
    for lut in (EXP_LUT, ONE_OVER_LUT):
        assert np.abs(np.diff(lut)).max() <= 634


def _both(op, x, **kwargs):
    """Numba's result, after checking that C gives the same bytes."""
    got = op(x, backend="numba", **kwargs)
    got_c = op(x, backend="c", **kwargs)
    assert got.dtype == np.int16 and got_c.dtype == np.int16 and got_c.shape == got.shape == x.shape
    assert got_c.tobytes() == got.tobytes()
    return got


# --- logistic and tanh -----------------------------------------------------------------------------------------

SCALES = [2.0**-12, 2.0**-11, 2.0**-13, 0.001, 3e-4, 1.0 / 3000]
OPS = {"logistic": (K.logistic_int16, K.logistic_s16_params, ref_logistic),
       "tanh": (K.tanh_int16, K.tanh_s16_params, ref_tanh)}


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s:.3g}")
@pytest.mark.parametrize("op", list(OPS))
def test_every_int16_input(op, scale):
    fn, params, ref = OPS[op]
    m, k = params(scale)
    got = _both(fn, ALL_INT16, input_multiplier=m, input_left_shift=k)
    np.testing.assert_array_equal(got, ref(ALL_INT16, m, k))
    lo = 0 if op == "logistic" else -I16_MAX
    assert lo <= got.min() and got.max() <= I16_MAX
    assert np.all(np.diff(got.astype(np.int64)) >= 0), "monotone in the input"


# sigmoid(r) = (1 + tanh(r / 2)) / 2: no overflow of exp(-r) at the large scales
FLOAT_FUNCTIONS = {"logistic": (lambda r: 0.5 + 0.5 * np.tanh(0.5 * r), logistic_bound), "tanh": (np.tanh, tanh_bound)}


@pytest.mark.parametrize("scale", SCALES + [1e-5, 2e-3, 2.5], ids=lambda s: f"{s:.3g}")
@pytest.mark.parametrize("op", list(OPS))
def test_logistic_and_tanh_within_their_derived_bound_of_float(op, scale):
    fn, params, _ = OPS[op]
    f, bound = FLOAT_FUNCTIONS[op]
    s = float(np.float32(scale))
    m, k = params(s)
    y = fn(ALL_INT16, input_multiplier=m, input_left_shift=k).astype(np.float64) / 32768.0
    err = np.abs(y - f(ALL_INT16 * s))
    limit = bound(ALL_INT16, s, m, k)
    worst = int(np.argmax(err - limit))
    assert np.all(err <= limit), f"{float(err[worst] - limit[worst])} above the bound at x = {ALL_INT16[worst]}"


def test_tflites_prepare():
    """RECURRENT.md 1.1: the power-of-two cases keep multiplier 0 (logistic at 2^-12, tanh at 2^-12 and 2^-11); the
    general one truncates s_in * 12288 * 2^k to (16383.5, 32767]."""
    assert K.logistic_s16_params(2.0**-12) == (0, 0)
    assert K.tanh_s16_params(2.0**-12) == (0, 0)
    assert K.tanh_s16_params(2.0**-11) == (0, 1)
    assert K.logistic_s16_params(2.0**-11) == (24576, 12)  # 2^-11 * 12288 = 6, times 2^12
    assert K.tanh_s16_params(2.0**-13) == (24576, 14)
    assert K.logistic_s16_params(0.001) == (25165, 11)  # 12.288 * 2^11 = 25165.8, truncated
    for s in (1e-6, 1e-3, 0.02, 1.0, 2.5, 32767 / 12288):
        for params in (K.logistic_s16_params, K.tanh_s16_params):
            m, k = params(s)
            assert 16383.5 < m <= 32767 and 0 <= k <= 31
            assert abs(m * 2.0**-k - float(np.float32(s)) * 12288) <= 2.0**-k  # truncation: within one unit
    for s in (2.7, 1e-15, 0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            K.logistic_s16_params(s)


@st.composite
def activation_cases(draw):
    """(x, input_multiplier, input_left_shift): TFLite's parameters of a drawn scale, or the wrappers' edges."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    x = with_edges(draw, draw(hnp.arrays(np.int16, shape, elements=st.integers(I16_MIN, I16_MAX))), I16_MIN, I16_MAX)
    kind = draw(st.sampled_from(["scale", "pot", "edge"]))
    if kind == "scale":
        scale = math.exp(draw(st.floats(math.log(1e-9), math.log(2.6))))
        return x, scale, None, None
    if kind == "pot":
        return x, None, 0, draw(st.one_of(st.sampled_from([0, 1, 14]), st.integers(0, 14)))
    m = draw(st.one_of(st.sampled_from([1, 2, 16384, 32767]), st.integers(1, 32767)))
    k = draw(st.one_of(st.sampled_from([0, 1, 30, 31]), st.integers(0, 31)))
    return x, None, m, k


@pytest.mark.parametrize("op", list(OPS))
@given(case=activation_cases())
def test_logistic_and_tanh_equal_the_reference(op, case):
    fn, params, ref = OPS[op]
    x, scale, m, k = case
    if scale is not None:
        m, k = params(scale)
    np.testing.assert_array_equal(_both(fn, x, input_multiplier=m, input_left_shift=k), ref(x, m, k))


def test_the_kernels_run_in_place():
    from microflat.kernels import native

    for kernel, ref in ((K.logistic_s16, ref_logistic), (K.tanh_s16, ref_tanh)):
        for backend in ("numba", "c"):
            buf = ALL_INT16.copy()
            args = (buf.size, 25165, 11, buf, buf)
            kernel(*args) if backend == "numba" else native.call("mf_" + kernel.py_func.__name__, *args)
            np.testing.assert_array_equal(buf, ref(ALL_INT16, 25165, 11))


def test_the_element_functions_are_the_kernels():
    """logistic_s16_element / tanh_s16_element (the LSTM's gates will call them) on every input, one at a time."""
    xs = ALL_INT16[::97]
    for element, ref in ((K.activations_s16.logistic_s16_element, ref_logistic),
                         (K.activations_s16.tanh_s16_element, ref_tanh)):
        for m, k in ((0, 0), (0, 1), (25165, 11), (32767, 31), (1, 0)):
            got = np.array([element(int(v), m, k) for v in xs], np.int16)
            np.testing.assert_array_equal(got, ref(xs, m, k))


# --- softmax -------------------------------------------------------------------------------------------------------

@st.composite
def softmax_cases(draw):
    """(x, input_multiplier, input_left_shift): rows of 1..40 values spread over a few units of the exp's range or
    the whole of int16, with TFLite's parameters of a drawn scale and beta, or the wrapper's edges."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))) + (draw(st.integers(1, 40)),)
    spread = draw(st.sampled_from([50, 2000, 20000, 32768]))
    centre = draw(st.integers(I16_MIN + spread, I16_MAX - spread + 1))
    elements = st.integers(centre - spread, centre + spread - 1)
    x = draw(hnp.arrays(np.int16, shape, elements=elements))
    if draw(st.booleans()):
        x = with_edges(draw, x, I16_MIN, I16_MAX)
    if draw(st.integers(0, 3)):
        scale = math.exp(draw(st.floats(math.log(1e-6), math.log(4.9))))
        beta = draw(st.sampled_from([1.0, 0.5, 2.0, 0.7, 1.3]))
        try:
            m, s = K.softmax_s16_params(scale, beta)
        except ValueError:
            m, s = K.softmax_s16_params(1.0)
        return x, m, s
    m = draw(st.one_of(st.sampled_from([0, 1, 2**30, 2**31 - 1]), st.integers(2**30, 2**31 - 1)))
    s = draw(st.one_of(st.sampled_from([-31, 0, 15]), st.integers(-31, 15)))
    return x, m, s


@given(case=softmax_cases())
def test_softmax_s16_equals_the_reference(case):
    x, m, s = case
    got = _both(K.softmax_int16, x, input_multiplier=m, input_left_shift=s)
    np.testing.assert_array_equal(got, ref_softmax(x, m, s))


@given(case=softmax_cases())
def test_softmax_s16_within_its_derived_bound_of_float(case):
    """Against the float64 softmax of the real arguments the parameters encode, d * M * 2^(s - 31) * 10 / 65535."""
    x, m, s = case
    y = K.softmax_int16(x, input_multiplier=m, input_left_shift=s).astype(np.float64) / 32768.0
    d = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    a = d * (m * 2.0 ** (s - 31)) * SOFTMAX_ARGUMENT_STEP
    p = np.exp(a - a.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    assert np.abs(y - p).max() <= softmax_bound(x.shape[-1], SOFTMAX_ARGUMENT_STEP)


def test_softmax_s16_at_its_largest_depth():
    """65535 equal values: each exp is the table's top (32762) and the int32 sum 65535 * 32762 its largest; then
    one value far above the rest (the others' exps at the table's bottom, 2)."""
    m, s = K.softmax_s16_params(0.001)
    for x in (np.zeros((1, 65535), np.int16), np.full((1, 65535), I16_MIN, np.int16)):
        x[0, 7] = I16_MAX if x[0, 0] == I16_MIN else 0
        np.testing.assert_array_equal(_both(K.softmax_int16, x, input_multiplier=m, input_left_shift=s),
                                      ref_softmax(x, m, s))
    assert int(_both(K.softmax_int16, np.zeros((1, 1), np.int16), input_multiplier=m, input_left_shift=s)[0, 0]) \
        == 32767  # one value: probability 1
    # the largest shift with the largest difference: |d| 2^15 = 2^31 - 2^15 stays inside int32
    x = np.array([[I16_MIN, I16_MAX, 0]], np.int16)
    np.testing.assert_array_equal(_both(K.softmax_int16, x, input_multiplier=2**31 - 1, input_left_shift=15),
                                  ref_softmax(x, 2**31 - 1, 15))


def test_softmax_s16_runs_in_place():
    from microflat.kernels import native

    rng = np.random.default_rng(1)
    x = rng.integers(-3000, 3000, (3, 17)).astype(np.int16)
    m, s = K.softmax_s16_params(0.002)
    want = ref_softmax(x, m, s)
    for backend in ("numba", "c"):
        buf = x.reshape(-1).copy()
        args = (3, 17, m, s, buf, buf)
        K.softmax_s16(*args) if backend == "numba" else native.call("mf_softmax_s16", *args)
        np.testing.assert_array_equal(buf.reshape(3, 17), want)


def test_softmax_s16_params():
    """QuantizeMultiplier(s_in beta / (10 / 65535)): [-65535, 0] onto [-10, 0]; the shift at most 15."""
    m, s = K.softmax_s16_params(10.0 / 65535.0)
    assert (m, s) == (2**30, 1)  # a multiplier of exactly 1
    m, s = K.softmax_s16_params(0.001, 2.0)
    assert abs(m * 2.0 ** (s - 31) - float(np.float32(0.001)) * 2 * 6553.5) < 1e-6
    assert K.softmax_s16_params(4.9)[1] == 15
    for scale, beta in ((5.1, 1.0), (1.0, 6.0), (0.0, 1.0), (1.0, -1.0), (math.nan, 1.0)):
        with pytest.raises(ValueError):
            K.softmax_s16_params(scale, beta)


@pytest.mark.parametrize("call, message", [
    (lambda x: K.logistic_int16(x.astype(np.int8), input_multiplier=1, input_left_shift=0),
     "logistic_int16: input must have dtype int16"),
    (lambda x: K.logistic_int16(x, input_multiplier=32768, input_left_shift=0),
     r"logistic_int16: input_multiplier must be in \[0, 32767\]"),
    (lambda x: K.tanh_int16(x, input_multiplier=0, input_left_shift=15),
     r"tanh_int16: input_left_shift must be in \[0, 14\]"),
    (lambda x: K.tanh_int16(x, input_multiplier=1, input_left_shift=32),
     r"tanh_int16: input_left_shift must be in \[0, 31\]"),
    (lambda x: K.tanh_int16(x, input_multiplier=-1, input_left_shift=0), "tanh_int16: input_multiplier"),
    (lambda x: K.softmax_int16(x, input_multiplier=2**30, input_left_shift=16),
     r"softmax_int16: input_left_shift must be in \[-31, 15\]"),
    (lambda x: K.softmax_int16(x, input_multiplier=-1, input_left_shift=0), "softmax_int16: input_multiplier"),
    (lambda x: K.softmax_int16(np.zeros((1, 65536), np.int16), input_multiplier=1, input_left_shift=0),
     "softmax_int16: depth 65536 exceeds 65535"),
    (lambda x: K.softmax_int16(np.zeros((2, 0), np.int16), input_multiplier=1, input_left_shift=0),
     "softmax_int16: input .* is empty"),
    (lambda x: K.softmax_int16(x, input_multiplier=1, input_left_shift=0, backend="cuda"), "softmax_int16: backend"),
])
def test_wrappers_refuse(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros((2, 3), np.int16))
