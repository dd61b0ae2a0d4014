"""microflat's new operators against LiteRT's reference kernels (OpResolverType.BUILTIN_REF), bit for bit.

Each op is built twice at one drawn quantization (benchmarks/single_ops.py: a .mfb through ModelWriter and a
.tflite through benchmarks/tflite_builder.py, int8 in and out), and run on random int8 inputs by microflat's
Numba and C backends and by LiteRT. Most ops must be exact. Where microflat deliberately computes otherwise,
the test asserts the derived bound instead, and nothing looser:

* Table activations (microflat: one correctly rounded float64 table). TFLite rounds its own approximation of
  the same real value v = f(x) / s_out + zp_out, so the two may differ by one, and only where v lies within
  that approximation's error of a rounding boundary (a half-integer), per op:
  - GELU, ELU, LOGISTIC, TANH: TFLite's float32 table (PopulateLookupTable / LUTPopulate): a few float32
    roundings, relative error below 2^-21; allowed window (|v - zp_out| + 1) 2^-18.
  - RELU, RELU6, LEAKY_RELU: TFLite's MultiplyByQuantizedMultiplier, which rounds twice: SRDHM rounds to
    2^-rs of an output step (rs: the multiplier's right shift), then the division by 2^rs rounds again, so
    a value within 2^-(rs+1) below a half-integer can round away from it; plus the Q31 multiplier's and
    (LEAKY_RELU) float32 alpha's relative error: window 2^-(rs+1) + (|v - zp_out| + 1) 2^-20.
  - RSQRT: TFLite rounds 2^20 / sqrt(x - zp_in) (its fixed-point GetInvSqrtQuantizedMultiplierExp) to an
    integer of at least 2^20 / sqrt(255) > 2^16 (relative error 2^-17 and the Newton steps' own), takes
    1 / (sqrt(s_in) s_out) in float32, then requantizes with MultiplyByQuantizedMultiplier at a right shift
    rs = 20 - shift: window 2^-(rs+1) + (|v - zp_out| + 1) 2^-15.
  - HARD_SWISH: TFLite computes it in 16-bit fixed point (reference HardSwish): Q15 output and "reluish"
    multipliers (relative error 2^-15 each), a Q15 reluish factor in [0, 1] (about three roundings of
    2^-15), all scaling the value before the last division by 2^e (e = -output_multiplier_exponent), which
    carries half a unit from the first SRDHM and one from the truncating SaturatingDoublingHighMul:
    window (|v - zp_out| + 1) 2^-12 + 1.5 2^-e.
* SILU: TFLite has no SILU builtin; its .tflite is LOGISTIC (output 1/256, -128) then MUL, which rounds
  sigma(x) to 1/256 (within (1/2 + 2^-10) / 256: LOGISTIC's float32 table) and the product once more
  (MultiplyByQuantizedMultiplier: at most 3/4 of a step with double rounding), against microflat's single
  rounding (1/2): |y_mf - y_tfl| < 5/4 + |x_r| (1/2 + 2^-10) / (256 s_out).
* SUM: LiteRT's reference SUM with rescaling reads and writes int8 tensors as uint8 (reduce.cc's
  QuantizedMeanOrSum<T, kReference> passes GetTensorData<uint8_t>), so it is only meaningful where the two
  views agree: inputs in [0, 127], outputs in [0, 126] equal; where microflat saturates at 127 LiteRT's byte
  read as uint8 is >= 127, and where microflat's result is negative LiteRT clamps to uint8 0.
* ELU: the reference resolver has no ELU kernel; ELU is compared against the built-in kernel (one float32
  table either way, elu.cc).

STRIDED_SLICE and GATHER are tested once the format has them (single_ops.available()).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter  # noqa: E402
from ai_edge_litert.interpreter import OpResolverType  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import single_ops as S  # noqa: E402
import tflite_builder as T  # noqa: E402

from microflat import kernels as K  # noqa: E402
from microflat.kernels.lut import lut_function  # noqa: E402
from microflat.runtime import Interpreter  # noqa: E402

OPS = S.available()
EXACT = [op for op in OPS if op not in S.TABLES and op != "SUM"]
TABLE_OPS = [op for op in S.TABLES if op != "SILU"]
INPUTS_PER_CASE = 3
# Each example builds two files and runs three interpreters (about 10 ms); 40 examples an op keep the module
# near 15 s on this machine, whatever the hypothesis profile asks.
EXAMPLES = 40


def litert(data: bytes, inputs, kind=OpResolverType.BUILTIN_REF) -> np.ndarray:
    it = LiteRTInterpreter(model_content=data, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    for d, a in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], a)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def microflat(pair, inputs) -> np.ndarray:
    """Numba's output, after checking that C gives the same bytes."""
    got = Interpreter(pair.mfb, backend="numba").invoke(*inputs)[0]
    got_c = Interpreter(pair.mfb, backend="c").invoke(*inputs)[0]
    assert got_c.tobytes() == got.tobytes(), f"{pair.op}: C differs from Numba"
    return got


# --- drawn quantizations ---------------------------------------------------------------------------------------

def _scale(lo=0.005, hi=0.2):
    return st.floats(np.log(lo), np.log(hi)).map(lambda v: S.f32(np.exp(v)))


@st.composite
def quantizations(draw, op):
    """A quantization for op: input scales in [0.005, 0.2] and any zero points; a requantized output's scale is
    the benchmark's output/input ratio times a factor in [1/4, 4]."""
    x = S.Q.of(draw(_scale()), draw(st.integers(-128, 127)))
    q = dict(x=x)
    base = S.default_quant(op)
    if "x2" in base:
        q["x2"] = S.Q.of(draw(_scale()), draw(st.integers(-128, 127)))
    if op == "TRANSPOSE_CONV":
        q["w"] = draw(_scale(0.001, 0.02))
    if op in S.TABLES:
        if op == "RSQRT":  # TFLite's RSQRT refuses inputs below the zero point: keep a useful range above it
            q["x"] = x = S.Q.of(x.scale, draw(st.integers(-128, 0)))
        y = S.table_output_quant(op, x)
        if op not in S.FIXED_OUTPUT:
            y = S.Q.of(y.scale * draw(st.floats(0.5, 2.0)), draw(st.integers(-128, 127)))
        q["y"] = y
    elif "y" in base:
        ratio = base["y"].scale / base["x"].scale
        q["y"] = S.Q.of(x.scale * ratio * draw(st.floats(0.25, 4.0)), draw(st.integers(-128, 127)))
    return q


def _inputs(pair, seed, lo=None, hi=None):
    rng = np.random.default_rng(seed)
    out = []
    for a, (rlo, rhi) in zip(pair.inputs, pair.input_ranges):
        out.append(rng.integers(max(rlo, lo if lo is not None else rlo), min(rhi, hi if hi is not None else rhi) + 1,
                                size=a.shape).astype(a.dtype))
    return out


# --- the tests -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", EXACT)
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_exact_ops_equal_litert_reference(op, data, seed):
    q = data.draw(quantizations(op))
    pair = S.build(op, "small", q, seed)
    for k in range(INPUTS_PER_CASE):
        inputs = _inputs(pair, seed + k)
        got, want = microflat(pair, inputs), litert(pair.tflite, inputs)
        assert got.shape == want.shape
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[:5].tolist()
            pytest.fail(f"{op} {pair.shape} at {q}: microflat differs from LiteRT's reference at {bad}: "
                        f"microflat {got[tuple(np.array(bad).T)]}, LiteRT {want[tuple(np.array(bad).T)]}; "
                        f"inputs {[a.tolist() for a in inputs]}")


def _table_window(op, q, x):
    """(v, allowed window) per input value x (int array): the exact real output in output steps and how close to
    a half-integer it must lie for TFLite's rounding of its own approximation to differ from microflat's."""
    qx, qy = q["x"], q["y"]
    _, fn, params = S.TABLES[op]
    xr = qx.scale * (x.astype(np.float64) - qx.zero_point)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        v = lut_function(fn, **params)(xr) / qy.scale + qy.zero_point
    size = np.abs(v - qy.zero_point) + 1
    if op in ("GELU", "ELU", "LOGISTIC", "TANH"):
        return v, size * 2.0**-18
    if op in ("RELU", "RELU6", "LEAKY_RELU"):
        slope = np.where((x >= qx.zero_point) | (op != "LEAKY_RELU"), 1.0, params.get("alpha", 1.0))
        right = np.array([max(-K.quantize_multiplier(qx.scale * a / qy.scale)[1], 0) for a in slope.reshape(-1)])
        return v, 2.0 ** -(right.reshape(v.shape) + 1) + size * 2.0**-20
    if op == "RSQRT":
        m = 1.0 / float(np.float32(np.sqrt(np.float32(qx.scale)) * np.float32(qy.scale)))
        right = 20 - K.quantize_multiplier(m)[1]
        return v, 2.0 ** -(right + 1) + size * 2.0**-15
    if op == "HARD_SWISH":
        m = float(np.float32(np.float32(qx.scale / 128.0) / np.float32(qy.scale)))
        e = -K.quantize_multiplier(m)[1]
        return v, size * 2.0**-12 + 1.5 * 2.0**-e
    raise KeyError(op)


@pytest.mark.parametrize("op", TABLE_OPS)
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_table_activations_round_like_litert_except_at_rounding_boundaries(op, data, seed):
    q = data.draw(quantizations(op))
    pair = S.build(op, "small", q, seed)
    lo = pair.input_ranges[0][0]
    every = np.clip(np.arange(-128, 128), lo, 127).astype(np.int8)  # all 256 inputs, then random ones
    shape = pair.inputs[0].shape
    n = int(np.prod(shape))
    cases = [np.resize(every[i:i + n], shape) for i in range(0, every.size, n)]
    kind = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if op == "ELU" else OpResolverType.BUILTIN_REF
    for x in cases + [_inputs(pair, seed)[0]]:
        got = microflat(pair, [x]).astype(np.int64)
        want = litert(pair.tflite, [x], kind).astype(np.int64)
        diff = got != want
        if not diff.any():
            continue
        v, window = _table_window(op, q, x.astype(np.int64))
        with np.errstate(invalid="ignore"):  # RSQRT at x = zp_in: v is infinite, both give 127
            off = np.abs(np.abs(v - np.floor(v)) - 0.5)  # distance of the exact value from the nearest half-integer
        far = diff & ((np.abs(got - want) > 1) | (off > window))
        if far.any():
            i = tuple(np.argwhere(far)[0])
            pytest.fail(f"{op} at {q}: input {int(x[i])} gives microflat {int(got[i])}, LiteRT {int(want[i])}; the "
                        f"exact value {v[i]:.6f} is {off[i]:.3g} from a rounding boundary (allowed {window[i]:.3g})")


@pytest.mark.skipif("SILU" not in OPS, reason="no SILU")
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_silu_within_two_roundings_of_logistic_then_mul(data, seed):
    q = data.draw(quantizations("SILU"))
    pair = S.build("SILU", "small", q, seed)
    x = _inputs(pair, seed)[0]
    got = microflat(pair, [x]).astype(np.int64)
    want = litert(pair.tflite, [x]).astype(np.int64)
    xr = q["x"].scale * np.abs(x.astype(np.float64) - q["x"].zero_point)
    bound = 1.25 + xr * (0.5 + 2.0**-10) / (256 * q["y"].scale)
    assert np.all(np.abs(got - want) < bound), (q, x.tolist(), got.tolist(), want.tolist())


@pytest.mark.skipif("SUM" not in OPS, reason="no SUM")
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_sum_equals_litert_reference_where_its_uint8_view_agrees(data, seed):
    q = data.draw(quantizations("SUM"))
    pair = S.build("SUM", "small", q, seed)
    for k in range(INPUTS_PER_CASE):
        inputs = _inputs(pair, seed + k, lo=0)  # non-negative: int8 and uint8 read the same bytes
        got = microflat(pair, inputs).astype(np.int64)
        want = litert(pair.tflite, inputs)
        as_int8, as_uint8 = want.astype(np.int64), want.view(np.uint8).astype(np.int64)
        inside = (got >= 0) & (got <= 126)
        assert np.array_equal(got[inside], as_int8[inside]), (q, inputs, got, want)
        assert np.all(as_uint8[got == 127] >= 127), (q, inputs, got, want)
        assert np.all(as_uint8[got < 0] == 0), (q, inputs, got, want)


def test_builder_constants_match_litert_generated_schema():
    """tflite_builder's hand-coded builtin codes, union indices and field slots against the flatc-generated
    schema the ai-edge-litert wheel ships (schema_py_generated)."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    for name, code in T.BUILTIN.items():
        assert getattr(schema.BuiltinOperator, name) == code, name
    for table, (index, fields) in T.OPTIONS.items():
        assert getattr(schema.BuiltinOptions, table) == index, table
        obj = getattr(schema, table)()
        for field, (slot, _, _) in fields.items():
            name = "".join(p.capitalize() for p in field.split("_"))
            assert hasattr(obj, name), (table, field)
            # the generated accessor reads vtable offset 4 + 2 * slot
            src = __import__("inspect").getsource(getattr(type(obj), name))
            assert f"Offset({4 + 2 * slot})" in src, (table, field, slot)
    assert schema.TensorType.INT8 == T.TENSOR_TYPE["int8"] and schema.TensorType.INT32 == T.TENSOR_TYPE["int32"]
