"""TFLite's integer LSTM (8x8_16), bit for bit: Numba equals a plain int64 reference written from
docs/RECURRENT.md sections 0 and 3, C equals Numba, and (when ai_edge_litert is installed) the wrapper equals
LiteRT's reference kernels (OpResolverType.BUILTIN_REF) over two Invokes that carry the state.

The reference never imports microflat and is formulated differently from the kernels: vectorized over every
cell and every int16 input at once, selects instead of branches, and closed forms for gemmlowp's 16-bit
fixed point (the doubling high multiply as floor((a b + 2^14) / 2^15), the saturating shift as a clip of
x 2^e, the rounding half sum as sign(s) floor((|s| + 1) / 2), a mod q instead of a mask, a bit read by floor
division); the gate matmuls on centred inputs (x - z_x, h - z_h) with the raw bias, where the kernels fold the
zero points into the bias; the multipliers by exact rational arithmetic (int_reference.quantize_multiplier_exact).

Two levels of cases: integer layers (multipliers with their edges 0, 1, 2^30, 2^31 - 1, shifts from -31 to 4,
cell exponents -15 to -9, clip off, 1, 32767 or between, weights with +-127, int8 inputs with -128 and 127,
cell states with -32768 and 32767) run through lstm on hand-made LstmParams; and float layers (scales drawn
over decades), where lstm_8x8_16_params must also give the reference's integers.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing.int_reference import multiply_by_quantized_multiplier, quantize_multiplier_exact, rounding_divide_by_pot
from microflat.testing.layer_cases import MULT_EDGES, int8_array, int16_array, with_edges, zero_points
from microflat.kernels import LstmParams, lstm, lstm_8x8_16, lstm_8x8_16_params
from microflat.kernels.lstm import checked_log2, logistic_fixed16, tanh_fixed16

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1

# ---------------------------------------------------------------------------------------------------------------
# The reference: RECURRENT.md section 3.2 (gemmlowp's int16 fixed point) on int64 arrays
# ---------------------------------------------------------------------------------------------------------------


def wrap16(v):
    return (np.asarray(v, np.int64) + 2**15) % 2**16 - 2**15


def sat16(v):
    return np.clip(np.asarray(v, np.int64), INT16_MIN, INT16_MAX)


def srdhm16(a, b):
    """round(a b / 2^15), ties up; (-2^15)^2 saturates."""
    return np.minimum((np.asarray(a, np.int64) * b + 2**14) // 2**15, INT16_MAX)


def rescale16(x, exponent: int):
    """x * 2^exponent: clipped to int16 for exponent > 0, divided with ties away from zero otherwise."""
    x = np.asarray(x, np.int64)
    return sat16(x * 2**exponent) if exponent > 0 else rounding_divide_by_pot(x, -exponent)


def constant16(k: int) -> int:
    """gemmlowp's int32 constant k as an int16 raw."""
    return int(rounding_divide_by_pot(k, 16))


def exp_quarter(a):
    """exp on [-1/4, 0), Q0.15."""
    e0 = constant16(1895147668)
    x = wrap16(a + 2**12)
    x2 = srdhm16(x, x)
    x3 = srdhm16(x2, x)
    x4 = srdhm16(x2, x2)
    poly = rescale16(wrap16(srdhm16(wrap16(rescale16(x4, -2) + x3), constant16(715827883)) + x2), -1)
    return sat16(e0 + srdhm16(e0, wrap16(x + poly)))


BARREL = {-2: 1672461947, -1: 1302514674, 0: 790015084, 1: 290630308, 2: 39332535, 3: 720401, 4: 242}


def exp_negative(a, integer_bits: int):
    """exp(a), a <= 0 with integer_bits integer bits, as Q0.15."""
    a = np.asarray(a, np.int64)
    fractional = 15 - integer_bits
    quarter = 2 ** (fractional - 2)
    m = wrap16(a % quarter - quarter)
    result = exp_quarter(rescale16(m, integer_bits))
    remainder = wrap16(m - a)
    for e in range(-2, min(integer_bits, 5)):
        bit = (remainder // 2 ** (fractional + e)) % 2
        result = np.where(bit == 1, srdhm16(result, constant16(BARREL[e])), result)
    if integer_bits > 5:
        result = np.where(a < constant16(-(2 ** (36 - integer_bits))), 0, result)
    return np.where(a == 0, INT16_MAX, result)


def reciprocal_half_denominator(a):
    """Newton-Raphson 1 / ((1 + a) / 2) in Q2.13."""
    s = np.asarray(a, np.int64) + INT16_MAX
    d = np.sign(s) * ((np.abs(s) + 1) // 2)
    x = wrap16(constant16(1515870810) + srdhm16(d, constant16(-1010580540)))
    for _ in range(3):
        x = wrap16(x + rescale16(srdhm16(x, wrap16(2**13 - srdhm16(d, x))), 2))
    return x


def ref_logistic(a, integer_bits: int):
    a = np.asarray(a, np.int64)
    magnitude = np.where(a > 0, a, wrap16(-a))
    positive = rescale16(reciprocal_half_denominator(exp_negative(wrap16(-magnitude), integer_bits)), 1)
    return np.where(a == 0, constant16(2**30), np.where(a > 0, positive, wrap16(INT16_MAX - positive)))


def ref_tanh(a, integer_bits: int):
    a = np.asarray(a, np.int64)
    negative = np.where(a < 0, a, wrap16(-a))
    t = rescale16(wrap16(reciprocal_half_denominator(exp_negative(negative, integer_bits + 1)) - 2**13), 2)
    return np.where(a == 0, 0, np.where(a < 0, wrap16(-t), t))


# ---------------------------------------------------------------------------------------------------------------
# The reference LSTM: RECURRENT.md section 3.4, every cell at once
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Layer:
    """An integer layer as the file holds it: raw biases and zero points (not folded)."""

    wx: np.ndarray  # int8 [4, C, I]
    wh: np.ndarray  # int8 [4, C, C]
    bias: np.ndarray  # int32 [4, C]
    input_zp: int
    state_zp: int
    gate_mult: np.ndarray  # [8]
    gate_shift: np.ndarray  # [8]
    hidden_mult: int
    hidden_shift: int
    hidden_zp: int
    cell_exponent: int
    cell_clip: int


EVERY_INT16 = np.arange(INT16_MIN, INT16_MAX + 1, dtype=np.int64)


@functools.cache
def logistic_table(integer_bits: int) -> np.ndarray:
    """ref_logistic on every int16 input, indexed by input + 2^15."""
    return ref_logistic(EVERY_INT16, integer_bits)


@functools.cache
def tanh_table(integer_bits: int) -> np.ndarray:
    return ref_tanh(EVERY_INT16, integer_bits)


def reference_lstm(layer: Layer, x, h, c):
    """(output [T, C], h, c) of the integer LSTM from states h, c."""
    wx, wh, bias = (np.asarray(a, np.int64) for a in (layer.wx, layer.wh, layer.bias))
    h, c = np.asarray(h, np.int64), np.asarray(c, np.int64)
    p = layer.cell_exponent
    out = []
    for x_t in np.asarray(x, np.int64):
        gates = []
        for g in range(4):
            from_input = sat16(multiply_by_quantized_multiplier(bias[g] + wx[g] @ (x_t - layer.input_zp),
                                                                layer.gate_mult[g], layer.gate_shift[g]))
            pre = sat16(multiply_by_quantized_multiplier(wh[g] @ (h - layer.state_zp), layer.gate_mult[4 + g],
                                                         layer.gate_shift[4 + g]) + from_input)
            gates.append((tanh_table(3) if g == 2 else logistic_table(3))[pre - INT16_MIN])
        i, f, g, o = gates
        c = sat16(rounding_divide_by_pot(f * c, 15) + rounding_divide_by_pot(i * g, 30 + p))
        if layer.cell_clip > 0:
            c = np.clip(c, -layer.cell_clip, layer.cell_clip)
        h = np.clip(multiply_by_quantized_multiplier(o * tanh_table(15 + p)[c - INT16_MIN], layer.hidden_mult,
                                                     layer.hidden_shift)
                    + layer.hidden_zp, -128, 127)
        out.append(h)
    return np.array(out, np.int8), h.astype(np.int8), c.astype(np.int16)


def folded_params(layer: Layer) -> LstmParams:
    """The kernel's LstmParams of an integer layer: zero points folded into the biases."""
    wx, wh = layer.wx.astype(np.int64), layer.wh.astype(np.int64)
    return LstmParams(
        input_weights=layer.wx, recurrent_weights=layer.wh,
        input_bias=(layer.bias - layer.input_zp * wx.sum(axis=2)).astype(np.int32),
        recurrent_bias=(-layer.state_zp * wh.sum(axis=2)).astype(np.int32),
        gate_mult=np.asarray(layer.gate_mult, np.int32), gate_shift=np.asarray(layer.gate_shift, np.int8),
        hidden_mult=int(layer.hidden_mult), hidden_shift=int(layer.hidden_shift), hidden_zp=int(layer.hidden_zp),
        cell_exponent=int(layer.cell_exponent), cell_clip=int(layer.cell_clip), state_zp=int(layer.state_zp))


# ---------------------------------------------------------------------------------------------------------------
# The 16-bit functions on every input
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("integer_bits", range(7))
def test_fixed16_logistic_and_tanh_equal_the_reference_on_every_input(integer_bits):
    want_logistic = logistic_table(integer_bits)
    want_tanh = tanh_table(integer_bits)
    # the ranges the kernels' int32 arithmetic relies on (lstm.py)
    assert want_logistic.min() >= 0 and want_logistic.max() <= INT16_MAX
    assert want_tanh.min() >= -INT16_MAX and want_tanh.max() <= INT16_MAX
    got_logistic = np.array([logistic_fixed16(int(a), integer_bits) for a in EVERY_INT16])
    got_tanh = np.array([tanh_fixed16(int(a), integer_bits) for a in EVERY_INT16])
    np.testing.assert_array_equal(got_logistic, want_logistic)
    np.testing.assert_array_equal(got_tanh, want_tanh)


def test_fixed16_functions_approximate_the_real_ones():
    """The reference itself, against float64 (RECURRENT.md 3.2: about 6 LSB for the Q3.12 sigmoid and 12 LSB
    for tanh): a wrong constant or shift would be far off."""
    real = EVERY_INT16 / 2.0**12
    assert np.abs(logistic_table(3) - 2**15 / (1 + np.exp(-real))).max() < 8
    assert np.abs(tanh_table(3) - 2**15 * np.tanh(real)).max() < 16
    for integer_bits in range(7):
        real = EVERY_INT16 / 2.0 ** (15 - integer_bits)
        assert np.abs(tanh_table(integer_bits) - 2**15 * np.tanh(real)).max() < 16


# ---------------------------------------------------------------------------------------------------------------
# Integer layers: Numba == reference, C == Numba
# ---------------------------------------------------------------------------------------------------------------

gate_mults = st.one_of(st.sampled_from(MULT_EDGES), st.integers(2**30, 2**31 - 1))
# |bias| <= 2^20, 128 sum|w| <= 2^18 and |z_x rowsum| <= 2^18 keep (|bias| + 128 sum|w|) 2^4 below 2^31 - 2^15
gate_shifts = st.one_of(st.integers(-16, 4), st.sampled_from([-31, 4]))
hidden_shifts = st.one_of(st.integers(-26, -14), st.sampled_from([-31, 0]))
cell_clips = st.one_of(st.just(0), st.integers(1, 32767), st.sampled_from([1, 32767]))


def weight_block(draw, shape):
    """int8 weights from a drawn seed (hypothesis drawing a thousand elements one by one is slow) at a drawn
    magnitude, holding -127 and 127."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    limit = draw(st.sampled_from([127, 127, 40, 2]))
    return with_edges(draw, rng.integers(-limit, limit + 1, shape).astype(np.int8), -127, 127)


def bias_array(draw, cells):
    return draw(st.one_of(
        st.builds(lambda: np.zeros((4, cells), np.int32)),
        st.lists(st.one_of(st.integers(-3000, 3000), st.integers(-2**20, 2**20)), min_size=4 * cells,
                 max_size=4 * cells).map(lambda v: np.array(v, np.int32).reshape(4, cells))))


def state_arrays(draw, cells):
    h = int8_array(draw, (cells,)) if draw(st.booleans()) else None
    c = int16_array(draw, (cells,)) if draw(st.booleans()) else None
    return h, c


@st.composite
def integer_cases(draw):
    inputs, cells, steps = draw(st.integers(1, 16)), draw(st.integers(1, 16)), draw(st.integers(1, 6))
    layer = Layer(
        wx=weight_block(draw, (4, cells, inputs)), wh=weight_block(draw, (4, cells, cells)),
        bias=bias_array(draw, cells), input_zp=draw(zero_points), state_zp=draw(zero_points),
        gate_mult=np.array(draw(st.lists(gate_mults, min_size=8, max_size=8)), np.int32),
        gate_shift=np.array(draw(st.lists(gate_shifts, min_size=8, max_size=8)), np.int8),
        hidden_mult=draw(gate_mults), hidden_shift=draw(hidden_shifts), hidden_zp=draw(zero_points),
        cell_exponent=draw(st.integers(-15, -9)), cell_clip=draw(cell_clips))
    return layer, int8_array(draw, (steps, inputs)), *state_arrays(draw, cells)


def _run_all(layer, params, x, h0, c0):
    """Numba == reference, C == Numba (outputs and final states), and the caller's states untouched."""
    cells = layer.wx.shape[1]
    h_in = np.full(cells, layer.state_zp, np.int8) if h0 is None else h0
    c_in = np.zeros(cells, np.int16) if c0 is None else c0
    kept = (h_in.copy(), c_in.copy())
    want = reference_lstm(layer, x, h_in, c_in)
    got = lstm(x, params, h0, c0, backend="numba")
    for g, w, dtype in zip(got, want, (np.int8, np.int8, np.int16)):
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, w)
    got_c = lstm(x, params, h0, c0, backend="c")
    for g, w in zip(got_c, got):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(h_in, kept[0])
    np.testing.assert_array_equal(c_in, kept[1])
    return got


@given(case=integer_cases())
def test_lstm_numba_equals_reference_and_c_equals_numba(case):
    layer, x, h0, c0 = case
    _run_all(layer, folded_params(layer), x, h0, c0)


def test_lstm_c_equals_numba_on_long_saturating_sequences():
    """Long sequences whose gates and cells sweep their ranges (small and large multipliers, every cell
    exponent), so that the C fixed-point functions meet many inputs: C == Numba == reference."""
    rng = np.random.default_rng(2027)
    for p in range(-15, -8):
        for gate_shift in (-12, -8, -4, 0):
            cells, inputs = 16, 16
            layer = Layer(
                wx=rng.integers(-127, 128, (4, cells, inputs)).astype(np.int8),
                wh=rng.integers(-127, 128, (4, cells, cells)).astype(np.int8),
                bias=rng.integers(-50000, 50000, (4, cells)).astype(np.int32), input_zp=int(rng.integers(-128, 128)),
                state_zp=int(rng.integers(-128, 128)),
                gate_mult=rng.integers(2**30, 2**31, 8).astype(np.int32),
                gate_shift=np.full(8, gate_shift, np.int8) + rng.integers(-2, 3, 8).astype(np.int8),
                hidden_mult=int(rng.integers(2**30, 2**31)), hidden_shift=-20, hidden_zp=int(rng.integers(-128, 128)),
                cell_exponent=p, cell_clip=int(rng.choice([0, 20000])))
            x = rng.integers(-128, 128, (48, inputs)).astype(np.int8)
            c0 = rng.integers(INT16_MIN, INT16_MAX + 1, cells).astype(np.int16)
            _run_all(layer, folded_params(layer), x, None, c0)


# ---------------------------------------------------------------------------------------------------------------
# Float layers: lstm_8x8_16_params == TFLite's Prepare, and the whole layer
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class FloatLayer:
    wx: np.ndarray
    wh: np.ndarray
    bias: np.ndarray
    input_scale: float
    input_zp: int
    input_weight_scales: list
    recurrent_weight_scales: list
    state_scale: float
    state_zp: int
    cell_exponent: int
    hidden_scale: float | None
    hidden_zp: int | None
    cell_clip: float

    def params(self) -> LstmParams:
        return lstm_8x8_16_params(
            self.wx, self.wh, self.bias, input_scale=self.input_scale, input_zp=self.input_zp,
            input_weight_scales=self.input_weight_scales, recurrent_weight_scales=self.recurrent_weight_scales,
            state_scale=self.state_scale, state_zp=self.state_zp, cell_scale=2.0**self.cell_exponent,
            hidden_scale=self.hidden_scale, hidden_zp=self.hidden_zp, cell_clip=self.cell_clip)

    def integer_layer(self) -> Layer:
        """RECURRENT.md 3.3: float32 effective scales, (2^-15 / s_hid) 2^-15 in double stored as float32, the
        clip divided in float32 and truncated; exact rational QuantizeMultiplier."""
        f32 = np.float32
        gate = f32(2.0**-12)
        pairs = [quantize_multiplier_exact(float(f32(f32(s) * f32(self.input_scale)) / gate))
                 for s in self.input_weight_scales]
        pairs += [quantize_multiplier_exact(float(f32(f32(s) * f32(self.state_scale)) / gate))
                  for s in self.recurrent_weight_scales]
        s_hid = self.state_scale if self.hidden_scale is None else self.hidden_scale
        hidden = quantize_multiplier_exact(float(f32(2.0**-15 / float(f32(s_hid)) * 2.0**-15)))
        clip = 0
        if self.cell_clip > 0:
            clip = int(min(f32(self.cell_clip) / f32(2.0**self.cell_exponent), f32(INT16_MAX)))
        return Layer(
            wx=self.wx, wh=self.wh, bias=self.bias, input_zp=self.input_zp, state_zp=self.state_zp,
            gate_mult=np.array([m for m, _ in pairs]), gate_shift=np.array([s for _, s in pairs]),
            hidden_mult=hidden[0], hidden_shift=hidden[1],
            hidden_zp=self.state_zp if self.hidden_zp is None else self.hidden_zp,
            cell_exponent=self.cell_exponent, cell_clip=clip)


def log_uniform(lo: float, hi: float):
    return st.floats(np.log2(lo), np.log2(hi)).map(lambda e: float(2.0**e))


@st.composite
def float_layers(draw, max_inputs=16, max_cells=16):
    inputs, cells = draw(st.integers(1, max_inputs)), draw(st.integers(1, max_cells))
    p = draw(st.integers(-15, -9))
    own_hidden = draw(st.booleans())
    clip = draw(st.one_of(st.just(0.0), st.floats(0.01, 1.2).map(lambda u: u * 2.0 ** (p + 15))))
    bias = draw(st.lists(st.one_of(st.integers(-3000, 3000), st.integers(-2**18, 2**18)), min_size=4 * cells,
                         max_size=4 * cells))
    return FloatLayer(
        wx=weight_block(draw, (4, cells, inputs)), wh=weight_block(draw, (4, cells, cells)),
        bias=np.array(bias, np.int32).reshape(4, cells),
        input_scale=draw(log_uniform(2**-9, 2**-2)), input_zp=draw(zero_points),
        input_weight_scales=draw(st.lists(log_uniform(2**-14, 2**-4), min_size=4, max_size=4)),
        recurrent_weight_scales=draw(st.lists(log_uniform(2**-14, 2**-4), min_size=4, max_size=4)),
        state_scale=draw(log_uniform(2**-10, 2**-3)), state_zp=draw(zero_points), cell_exponent=p,
        hidden_scale=draw(log_uniform(2**-10, 2**-3)) if own_hidden else None,
        hidden_zp=draw(zero_points) if own_hidden else None, cell_clip=clip)


@given(layer=float_layers(), data=st.data())
def test_lstm_params_are_tflites_and_the_layer_is_exact(layer, data):
    params = layer.params()
    ref = layer.integer_layer()
    np.testing.assert_array_equal(params.gate_mult, ref.gate_mult)
    np.testing.assert_array_equal(params.gate_shift, ref.gate_shift)
    assert (params.hidden_mult, params.hidden_shift, params.hidden_zp) == (ref.hidden_mult, ref.hidden_shift,
                                                                           ref.hidden_zp)
    assert (params.cell_exponent, params.cell_clip, params.state_zp) == (ref.cell_exponent, ref.cell_clip,
                                                                         ref.state_zp)
    folded = folded_params(ref)
    np.testing.assert_array_equal(params.input_bias, folded.input_bias)
    np.testing.assert_array_equal(params.recurrent_bias, folded.recurrent_bias)
    steps = data.draw(st.integers(1, 6))
    x = int8_array(data.draw, (steps, layer.wx.shape[2]))
    h0, c0 = state_arrays(data.draw, layer.wx.shape[1])
    _run_all(ref, params, x, h0, c0)


def test_checked_log2_is_tflites():
    assert checked_log2(np.float32(2.0**-11)) == (-11, True)
    assert checked_log2(np.float32(2.0**-11 * 1.0001)) == (-11, True)  # within 1e-3 in the exponent, as TFLite
    assert checked_log2(np.float32(2.0**-11 * 1.01))[1] is False
    assert checked_log2(np.float32(3 * 2.0**-12)) == (-10, False)


# ---------------------------------------------------------------------------------------------------------------
# Refusals, and the C prototype
# ---------------------------------------------------------------------------------------------------------------


def _layer(**changes):
    args = dict(input_weights=np.ones((4, 3, 2), np.int8), recurrent_weights=np.ones((4, 3, 3), np.int8), bias=None,
                input_scale=0.05, input_zp=0, input_weight_scales=0.01, recurrent_weight_scales=0.01,
                state_scale=1 / 128, state_zp=0, cell_scale=2.0**-11)
    args.update(changes)
    return lstm_8x8_16_params(args.pop("input_weights"), args.pop("recurrent_weights"), args.pop("bias"), **args)


@pytest.mark.parametrize("changes, message", [
    (dict(cell_scale=3 * 2.0**-12), "cell_scale must be a power of two"),
    (dict(cell_scale=2.0**-16), r"cell_scale must be 2\^p with p in \[-15, -9\]"),
    (dict(cell_scale=2.0**-8), r"cell_scale must be 2\^p with p in \[-15, -9\]"),
    (dict(input_zp=128), r"input_zp must be in \[-128, 127\]"),
    (dict(state_scale=0.0), "state_scale must be finite and > 0"),
    (dict(input_weight_scales=[0.01] * 3), "input_weight_scales must hold 1 or 4 scales"),
    (dict(cell_clip=-1.0), "cell_clip must be finite and >= 0"),
    (dict(hidden_scale=2.0**-32), "hidden_scale 2.3283064365386963e-10 is too small"),
    (dict(input_weights=np.full((4, 3, 2), -128, np.int8)), "input_weights holds -128"),
    (dict(recurrent_weights=np.ones((4, 3, 2), np.int8)), r"recurrent_weights must be \[4, C, C\]"),
    (dict(bias=np.ones((4, 3), np.int64)), "bias must have dtype int32"),
    (dict(bias=np.full((4, 3), 2**30, np.int32)), "input-to-i accumulator of cell 0 could reach"),
    (dict(input_weight_scales=[0.01, 0.01, 0.01, 8.0], bias=np.full((4, 3), 2**24, np.int32)),
     "input-to-o accumulator of cell 0 could reach"),
])
def test_lstm_params_refuse_what_the_kernel_cannot_take(changes, message):
    with pytest.raises(ValueError, match=message):
        _layer(**changes)


@pytest.mark.parametrize("call, message", [
    (lambda p: lstm(np.zeros((2, 3), np.int8), p), r"input must be \[T, I\] with T >= 1 and I = 2"),
    (lambda p: lstm(np.zeros((0, 2), np.int8), p), r"input must be \[T, I\] with T >= 1"),
    (lambda p: lstm(np.zeros((2, 2), np.int16), p), "input must have dtype int8"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p, hidden_state=np.zeros(4, np.int8)), "hidden_state must hold C = 3"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p, cell_state=np.zeros(3, np.int8)), "cell_state must have dtype int16"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p, backend="fast"), "backend must be one of"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p._replace(cell_exponent=-8)), r"cell_exponent must be in \[-15, -9\]"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p._replace(hidden_shift=1)), r"hidden_shift must be in \[-31, 0\]"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p._replace(cell_clip=40000)), r"cell_clip must be in \[0, 32767\]"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p._replace(gate_shift=np.full(8, 31, np.int8))),
     r"gate_shift must be in \[-31, 30\]"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), p._replace(gate_mult=np.full(8, -1, np.int32))),
     r"gate_mult must be in \[0, 2\^31 - 1\]"),
    (lambda p: lstm(np.zeros((2, 2), np.int8), tuple(p)), "params must be an LstmParams"),
])
def test_lstm_refuses_what_the_kernel_cannot_take(call, message):
    with pytest.raises(ValueError, match=message):
        call(_layer())


# ---------------------------------------------------------------------------------------------------------------
# LiteRT's reference kernels
# ---------------------------------------------------------------------------------------------------------------


def schema_tensor(model, graph, name, type_code, shape, scale, zero_point, data=None, variable=False) -> int:
    """A per-tensor quantized tensor appended to a LiteRT schema graph (object API), its data (if any) in a
    buffer of its own; returns its index."""
    from ai_edge_litert import schema_py_generated as S

    t = S.TensorT()
    t.name, t.type, t.shape, t.isVariable, t.buffer = name, type_code, list(shape), variable, 0
    q = S.QuantizationParametersT()
    q.scale, q.zeroPoint = [float(scale)], [int(zero_point)]
    t.quantization = q
    if data is not None:
        b = S.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        model.buffers.append(b)
        t.buffer = len(model.buffers) - 1
    graph.tensors.append(t)
    return len(graph.tensors) - 1


def _tflite_lstm(layer: FloatLayer, steps: int, time_major: bool) -> tuple[bytes, dict]:
    """A one-operator .tflite: UNIDIRECTIONAL_SEQUENCE_LSTM with batch 1, variable h and c, and its five
    intermediates (four gate scales 2^-12, the hidden product's), through the LiteRT wheel's own schema."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    model = S.ModelT()
    model.version = 3
    model.buffers = [S.BufferT()]
    graph = S.SubGraphT()
    graph.tensors = []
    dtypes = {"int8": S.TensorType.INT8, "int16": S.TensorType.INT16, "int32": S.TensorType.INT32}

    def tensor(name, dtype, shape, scale, zero_point, data=None, variable=False):
        return schema_tensor(model, graph, name, dtypes[dtype], shape, scale, zero_point, data, variable)

    cells, inputs = layer.wx.shape[1], layer.wx.shape[2]
    seq = (steps, 1) if time_major else (1, steps)
    x = tensor("x", "int8", (*seq, inputs), layer.input_scale, layer.input_zp)
    ids = [x]
    ids += [tensor(f"w_x{g}", "int8", (cells, inputs), layer.input_weight_scales[k], 0, layer.wx[k])
            for k, g in enumerate("ifco")]
    ids += [tensor(f"w_h{g}", "int8", (cells, cells), layer.recurrent_weight_scales[k], 0, layer.wh[k])
            for k, g in enumerate("ifco")]
    ids += [-1, -1, -1]  # no peephole
    bias_scales = [np.float32(layer.input_scale) * np.float32(s) for s in layer.input_weight_scales]
    ids += [tensor(f"b_{g}", "int32", (cells,), bias_scales[k], 0, layer.bias[k]) for k, g in enumerate("ifco")]
    ids += [-1, -1]  # no projection
    h = tensor("h", "int8", (1, cells), layer.state_scale, layer.state_zp, variable=True)
    c = tensor("c", "int16", (1, cells), 2.0**layer.cell_exponent, 0, variable=True)
    ids += [h, c, -1, -1, -1, -1]  # no layer norm
    hidden_scale = layer.state_scale if layer.hidden_scale is None else layer.hidden_scale
    hidden_zp = layer.state_zp if layer.hidden_zp is None else layer.hidden_zp
    intermediates = [tensor(f"gate{k}", "int16", (0,), 2.0**-12, 0) for k in range(4)]
    intermediates.append(tensor("hidden", "int8", (0,), hidden_scale, hidden_zp))
    y = tensor("y", "int8", (*seq, cells), layer.state_scale, layer.state_zp)

    code = S.OperatorCodeT()
    code.builtinCode = S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.deprecatedBuiltinCode = S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.version = 1
    model.operatorCodes = [code]
    options = S.UnidirectionalSequenceLSTMOptionsT()
    options.fusedActivationFunction = S.ActivationFunctionType.TANH
    options.cellClip, options.projClip, options.timeMajor = float(layer.cell_clip), 0.0, time_major
    op = S.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs, op.intermediates = 0, ids, [y], intermediates
    op.builtinOptionsType = S.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = options
    graph.operators = [op]
    graph.inputs, graph.outputs = [x], [y]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), dict(h=h, c=c)


@pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None, reason="needs ai_edge_litert (LiteRT)")
@settings(max_examples=30)
@given(layer=float_layers(max_inputs=8, max_cells=8), steps=st.integers(1, 5), time_major=st.booleans(),
       data=st.data())
def test_lstm_equals_litert_reference_kernels_over_two_invokes(layer, steps, time_major, data):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model, state = _tflite_lstm(layer, steps, time_major)
    interpreter = Interpreter(model_content=model, num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    x_index = interpreter.get_input_details()[0]["index"]
    y_index = interpreter.get_output_details()[0]["index"]
    params = layer.params()
    h = c = None  # LiteRT's reset: h = the state's zero point, c = 0
    for _ in range(2):
        x = int8_array(data.draw, (steps, layer.wx.shape[2]))
        interpreter.set_tensor(x_index, x.reshape(interpreter.get_input_details()[0]["shape"]))
        interpreter.invoke()
        want = interpreter.get_tensor(y_index).reshape(steps, -1)
        for backend in ("numba", "c"):
            got, h_next, c_next = lstm(x, params, h, c, backend=backend)
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(h_next, interpreter.get_tensor(state["h"]).reshape(-1))
        np.testing.assert_array_equal(c_next, interpreter.get_tensor(state["c"]).reshape(-1))
        h, c = h_next, c_next
