"""TensorFlow Lite Micro's integer LSTM in its 16x8 form (int16 input and states, int8 weights, int64 biases), bit for
bit: Numba equals a plain int64 reference written here from TFLM's sources (micro/kernels/lstm_eval.h and
lstm_eval.cc, lstm_eval_common.cc, the reference integer_ops FullyConnected, MulElementwise, Logistic and Tanh), C
equals Numba byte for byte, and (when the tflite-micro and ai-edge-litert wheels are installed) the wrapper equals the
tflite-micro interpreter on .tflite files built here, over two Invokes that carry the state.

The reference never imports microflat's numerics and is formulated differently from the kernels: vectorized over
every cell; the LUT activations as a weighted sum T[h] (2^n - f) + T[h + 1] f with floor divisions and explicit
complements, on the table read from the C source (its sum and CRC-32 pinned); the int16 clamps as np.clip; the int64
rescaling and the double-rounding multiply from microflat.testing.int_reference (closed forms); the multipliers by exact
rational arithmetic (int_reference.quantize_multiplier_exact) on double products.

Two levels of cases: integer layers (multipliers with their edges, including the Q15 reduction's 0x7FFF0000, gate
shifts from -31 to 7, product shifts from -31 to 0, cell exponents -29 to 2, clip off, 1, 32767 or between, weights
with +-127, biases up to the accumulator bound, int16 inputs and states with -32768 and 32767) run through
lstm_int16 on hand-made Lstm16x8Params; and float layers (scales drawn over decades), where lstm_16x8_params must
also give the reference's integers.
"""

from __future__ import annotations

import importlib.util
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing.int_reference import (multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_int64,
                           quantize_multiplier_exact)
from microflat.testing.layer_cases import MULT_EDGES, int16_array, with_edges
from microflat.kernels import Lstm16x8Params, lstm_16x8, lstm_16x8_params, lstm_int16
from microflat.kernels.lstm_16x8 import cell_product_multipliers

ROOT = Path(__file__).resolve().parents[1]
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
ACC_LIMIT = 2**47 - 1  # TFLite's int64 rescaling asserts |acc| < 2^47

# ---------------------------------------------------------------------------------------------------------------
# The reference: TFLM's 16x8 LSTM step on int64 arrays
# ---------------------------------------------------------------------------------------------------------------


def _sigmoid_table() -> np.ndarray:
    """TFLite's sigmoid_table_uint16 as the C source holds it."""
    text = (ROOT / "kernels" / "activations_s16.c").read_text()
    body = re.search(r"mf_sigmoid_table_u16\[256\]\s*=\s*\{(.*?)\};", text, re.S).group(1)
    return np.array([int(v) for v in re.findall(r"\d+", body)], np.int64)


TABLE = _sigmoid_table()


def test_the_sigmoid_table_is_tflites():
    assert len(TABLE) == 256 and int(TABLE.sum()) == 15_670_629
    assert zlib.crc32(TABLE.astype("<u2").tobytes()) == 0xB84F6AB4
    assert np.all(np.diff(TABLE) >= 0)


def sat16(v):
    return np.clip(np.asarray(v, np.int64), INT16_MIN, INT16_MAX)


def in_units(x, mult: int, shift: int):
    """TFLite's int16 Logistic / Tanh input rescaling: x M / 2^k rounded half up (floor((x M + 2^(k-1)) / 2^k)),
    M = 3 2^k and k = 0 for the power-of-two case (M = 0)."""
    x = np.asarray(x, np.int64)
    if mult == 0:
        mult, shift = 3 * 2**shift, 0
    return (x * mult + (2 ** (shift - 1) if shift > 0 else 0)) // 2**shift


def ref_logistic(x, mult: int = 0, shift: int = 0):
    """sigmoid as Q0.15: the table (step 1/24, 512 units of 1/12288) interpolated, 1 - sigmoid(|x|) below 0."""
    v = in_units(x, mult, shift)
    a = np.abs(v)
    h, f = a // 512, a % 512
    hc = np.minimum(h, 254)
    r = np.where(h >= 255, 32767 * 1024, TABLE[hc] * (512 - f) + TABLE[hc + 1] * f)
    return np.where(v >= 0, (r + 512) // 1024, (2**25 - r + 511) // 1024)


def ref_tanh(x, mult: int = 0, shift: int = 0):
    """tanh = 2 sigmoid(2x) - 1 as Q0.15: the table at 256 units a step, odd."""
    v = in_units(x, mult, shift)
    a = np.abs(v)
    h, f = a // 256, a % 256
    hc = np.minimum(h, 254)
    r = np.where(h >= 255, 65535 * 256, TABLE[hc] * (256 - f) + TABLE[hc + 1] * f)
    return np.where(v >= 0, (r - 2**23 + 128) // 256, (-r + 2**23 + 127) // 256)


def test_the_reference_activations_approximate_the_real_ones():
    """The reference itself against float64 on every Q3.12 input: a wrong constant would be far off."""
    x = np.arange(INT16_MIN, INT16_MAX + 1, dtype=np.int64)
    real = x / 2.0**12
    assert np.abs(ref_logistic(x) - 2**15 / (1 + np.exp(-real))).max() < 4
    assert np.abs(ref_tanh(x) - 2**15 * np.tanh(real)).max() < 8
    for p in (-20, -13, -11, 0):  # the cell's tanh at 2^p, both of TFLM's shift cases
        k = 12 + p
        mult, shift = (0, k) if k >= 0 else (3, -k)
        assert np.abs(ref_tanh(x, mult, shift) - 2**15 * np.tanh(x * 2.0**p)).max() < 8


@dataclass
class Layer:
    """An integer 16x8 layer, as TFLM's Prepare leaves it."""

    wx: np.ndarray  # int8 [4, C, I], gate order i, f, c, o
    wh: np.ndarray  # int8 [4, C, C]
    bias: np.ndarray  # int64 [4, C]
    gate_mult: np.ndarray  # [8]: input-to-i, f, c, o, then recurrent-to-i, f, c, o
    gate_shift: np.ndarray
    forget_mult: int
    forget_shift: int
    input_mult: int
    input_shift: int
    hidden_mult: int
    hidden_shift: int
    cell_exponent: int
    cell_clip: int

    def params(self) -> Lstm16x8Params:
        return Lstm16x8Params(
            input_weights=self.wx, recurrent_weights=self.wh, bias=np.asarray(self.bias, np.int64),
            gate_mult=np.asarray(self.gate_mult, np.int32), gate_shift=np.asarray(self.gate_shift, np.int8),
            forget_mult=int(self.forget_mult), forget_shift=int(self.forget_shift), input_mult=int(self.input_mult),
            input_shift=int(self.input_shift), hidden_mult=int(self.hidden_mult),
            hidden_shift=int(self.hidden_shift), cell_exponent=int(self.cell_exponent),
            cell_clip=int(self.cell_clip))


def reference_lstm(layer: Layer, x, h, c, mbqm=multiply_by_quantized_multiplier):
    """(output [T, C], h, c) from states h, c: TFLM's LstmStep per time step, every cell at once. mbqm: the int32
    rescaling of MulElementwise (TFLite's default, double rounding; a test swaps in the single-rounding one)."""
    wx, wh, bias = (np.asarray(a, np.int64) for a in (layer.wx, layer.wh, layer.bias))
    h, c = np.asarray(h, np.int64), np.asarray(c, np.int64)
    k = (15 + layer.cell_exponent) - 3
    tanh_mult, tanh_shift = (0, k) if k >= 0 else (3, -k)  # TFLM's "negative shift" handling
    out = []
    for x_t in np.asarray(x, np.int64):
        gates = []
        for g in range(4):
            from_input = sat16(multiply_by_quantized_multiplier_int64(wx[g] @ x_t + bias[g], layer.gate_mult[g],
                                                                      layer.gate_shift[g]))
            from_state = sat16(multiply_by_quantized_multiplier_int64(wh[g] @ h, layer.gate_mult[4 + g],
                                                                      layer.gate_shift[4 + g]))
            pre = sat16(from_input + from_state)
            gates.append(ref_tanh(pre) if g == 2 else ref_logistic(pre))
        i, f, g, o = gates
        kept = sat16(mbqm(f * c, layer.forget_mult, layer.forget_shift))
        added = sat16(mbqm(i * g, layer.input_mult, layer.input_shift))
        c = sat16(kept + added)
        if layer.cell_clip > 0:
            c = np.clip(c, -layer.cell_clip, layer.cell_clip)
        h = sat16(mbqm(ref_tanh(c, tanh_mult, tanh_shift) * o, layer.hidden_mult, layer.hidden_shift))
        out.append(h)
    return np.array(out, np.int16), h.astype(np.int16), c.astype(np.int16)


# ---------------------------------------------------------------------------------------------------------------
# Integer layers: Numba == reference, C == Numba
# ---------------------------------------------------------------------------------------------------------------

gate_mults = st.one_of(st.sampled_from(MULT_EDGES + [2**15 - 1, 2**15, 0x7FFEFFFF, 0x7FFF0000]),
                       st.integers(2**30, 2**31 - 1))
gate_shifts = st.one_of(st.integers(-20, 0), st.integers(-31, 7), st.sampled_from([-31, 7]))
product_mults = st.one_of(st.sampled_from(MULT_EDGES), st.integers(2**30, 2**31 - 1))
product_shifts = st.one_of(st.integers(-20, 0), st.sampled_from([-31, -14, 0]))
cell_clips = st.one_of(st.just(0), st.integers(1, 32767), st.sampled_from([1, 32767]))


def weight_block(draw, shape):
    """int8 weights from a drawn seed at a drawn magnitude, holding -127 and 127."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    limit = draw(st.sampled_from([127, 127, 40, 2]))
    return with_edges(draw, rng.integers(-limit, limit + 1, shape).astype(np.int8), -127, 127)


def bias_block(draw, wx):
    """int64 [4, C]: zeros, small, or anywhere up to the accumulator bound |bias| + 2^15 sum|w| <= 2^47 - 1, edges
    included."""
    cells = wx.shape[1]
    bound = ACC_LIMIT - 2**15 * int(np.abs(wx.astype(np.int64)).sum(axis=2).max())
    kind = draw(st.sampled_from(["zeros", "small", "any"]))
    if kind == "zeros":
        return np.zeros((4, cells), np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    limit = 2**24 if kind == "small" else bound
    b = rng.integers(-limit, limit + 1, (4, cells), dtype=np.int64)
    return with_edges(draw, b, -bound, bound) if kind == "any" else b


def state_arrays(draw, cells):
    h = int16_array(draw, (cells,)) if draw(st.booleans()) else None
    c = int16_array(draw, (cells,)) if draw(st.booleans()) else None
    return h, c


@st.composite
def integer_cases(draw):
    inputs, cells, steps = draw(st.integers(1, 16)), draw(st.integers(1, 16)), draw(st.integers(1, 6))
    wx = weight_block(draw, (4, cells, inputs))
    layer = Layer(
        wx=wx, wh=weight_block(draw, (4, cells, cells)), bias=bias_block(draw, wx),
        gate_mult=np.array(draw(st.lists(gate_mults, min_size=8, max_size=8)), np.int64),
        gate_shift=np.array(draw(st.lists(gate_shifts, min_size=8, max_size=8)), np.int64),
        forget_mult=draw(product_mults), forget_shift=draw(product_shifts), input_mult=draw(product_mults),
        input_shift=draw(product_shifts), hidden_mult=draw(product_mults), hidden_shift=draw(product_shifts),
        cell_exponent=draw(st.one_of(st.integers(-29, 2), st.sampled_from([-29, -13, -12, -11, 2]))),
        cell_clip=draw(cell_clips))
    return layer, int16_array(draw, (steps, inputs)), *state_arrays(draw, cells)


def _run_all(layer: Layer, params: Lstm16x8Params, x, h0, c0):
    """Numba == reference, C == Numba (outputs and final states), and the caller's states untouched."""
    cells = layer.wx.shape[1]
    h_in = np.zeros(cells, np.int16) if h0 is None else h0
    c_in = np.zeros(cells, np.int16) if c0 is None else c0
    kept = (h_in.copy(), c_in.copy())
    want = reference_lstm(layer, x, h_in, c_in)
    got = lstm_int16(x, params, h0, c0, backend="numba")
    for g, w in zip(got, want):
        assert g.dtype == np.int16
        np.testing.assert_array_equal(g, w)
    got_c = lstm_int16(x, params, h0, c0, backend="c")
    for g, w in zip(got_c, got):
        assert g.tobytes() == w.tobytes(), "C differs from Numba"
    np.testing.assert_array_equal(h_in, kept[0])
    np.testing.assert_array_equal(c_in, kept[1])
    return got


@given(case=integer_cases())
def test_lstm_16x8_numba_equals_reference_and_c_equals_numba(case):
    layer, x, h0, c0 = case
    _run_all(layer, layer.params(), x, h0, c0)


def test_lstm_16x8_c_equals_numba_on_long_saturating_sequences():
    """Long sequences whose gates and cells sweep their ranges (gate shifts from small to saturating, every cell
    exponent's tanh case), so that the C LUT functions meet many inputs: C == Numba == reference."""
    rng = np.random.default_rng(2028)
    for p in (-29, -20, -13, -12, -11, -9, -4, 2):
        for gate_shift in (-24, -16, -10, 0):
            cells, inputs = 16, 16
            layer = Layer(
                wx=rng.integers(-127, 128, (4, cells, inputs)).astype(np.int8),
                wh=rng.integers(-127, 128, (4, cells, cells)).astype(np.int8),
                bias=rng.integers(-2**30, 2**30, (4, cells)), gate_mult=rng.integers(2**30, 2**31, 8),
                gate_shift=np.full(8, gate_shift) + rng.integers(-2, 3, 8),
                forget_mult=2**30, forget_shift=-14, input_mult=2**30, input_shift=min(-29 - p, 0),
                hidden_mult=int(rng.integers(2**30, 2**31)), hidden_shift=-15, cell_exponent=p,
                cell_clip=int(rng.choice([0, 20000])))
            x = rng.integers(INT16_MIN, INT16_MAX + 1, (48, inputs)).astype(np.int16)
            c0 = rng.integers(INT16_MIN, INT16_MAX + 1, cells).astype(np.int16)
            _run_all(layer, layer.params(), x, None, c0)


# ---------------------------------------------------------------------------------------------------------------
# Float layers: lstm_16x8_params == TFLM's Prepare, and the whole layer
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class FloatLayer:
    wx: np.ndarray
    wh: np.ndarray
    bias: np.ndarray
    input_scale: float
    input_weight_scales: list
    recurrent_weight_scales: list
    state_scale: float
    cell_exponent: int
    cell_clip: float

    def params(self) -> Lstm16x8Params:
        return lstm_16x8_params(
            self.wx, self.wh, self.bias, input_scale=self.input_scale, input_weight_scales=self.input_weight_scales,
            recurrent_weight_scales=self.recurrent_weight_scales, state_scale=self.state_scale,
            cell_scale=2.0**self.cell_exponent, cell_clip=self.cell_clip)

    def integer_layer(self) -> Layer:
        """TFLM's Prepare: every tensor scale a float32, the products and quotients in double (the FC's
        double(s_in) double(s_w) / 2^-12, CreateInterGateMulParams' double(s1) double(s2) / double(s_out)), exact
        rational QuantizeMultiplier; the clip divided in double and truncated."""
        f32 = np.float32

        def fc(s_in, s_w):
            return quantize_multiplier_exact(float(f32(s_in)) * float(f32(s_w)) / 2.0**-12)

        pairs = [fc(self.input_scale, s) for s in self.input_weight_scales]
        pairs += [fc(self.state_scale, s) for s in self.recurrent_weight_scales]
        s_c = 2.0**self.cell_exponent
        forget = quantize_multiplier_exact(2.0**-15 * s_c / s_c)
        added = quantize_multiplier_exact(2.0**-15 * 2.0**-15 / s_c)
        hidden = quantize_multiplier_exact(2.0**-15 * 2.0**-15 / float(f32(self.state_scale)))
        clip = int(min(float(f32(self.cell_clip)) / s_c, float(INT16_MAX))) if self.cell_clip > 0 else 0
        return Layer(wx=self.wx, wh=self.wh, bias=self.bias, gate_mult=np.array([m for m, _ in pairs]),
                     gate_shift=np.array([s for _, s in pairs]), forget_mult=forget[0], forget_shift=forget[1],
                     input_mult=added[0], input_shift=added[1], hidden_mult=hidden[0], hidden_shift=hidden[1],
                     cell_exponent=self.cell_exponent, cell_clip=clip)


def log_uniform(lo: float, hi: float):
    return st.floats(np.log2(lo), np.log2(hi)).map(lambda e: float(2.0**e))


@st.composite
def float_layers(draw, max_inputs=16, max_cells=16, exponents=st.integers(-29, 2)):
    inputs, cells = draw(st.integers(1, max_inputs)), draw(st.integers(1, max_cells))
    p = draw(exponents)
    clip = draw(st.one_of(st.just(0.0), st.floats(0.01, 1.2).map(lambda u: u * 2.0 ** (p + 15))))
    wx = weight_block(draw, (4, cells, inputs))
    return FloatLayer(
        wx=wx, wh=weight_block(draw, (4, cells, cells)), bias=bias_block(draw, wx),
        input_scale=draw(log_uniform(2**-18, 2**-6)),
        input_weight_scales=draw(st.lists(log_uniform(2**-12, 2**-3), min_size=4, max_size=4)),
        recurrent_weight_scales=draw(st.lists(log_uniform(2**-12, 2**-3), min_size=4, max_size=4)),
        state_scale=draw(log_uniform(2**-18, 2**-6)), cell_exponent=p, cell_clip=clip)


def _assert_params_equal(params: Lstm16x8Params, ref: Layer):
    np.testing.assert_array_equal(params.gate_mult, ref.gate_mult)
    np.testing.assert_array_equal(params.gate_shift, ref.gate_shift)
    got = (params.forget_mult, params.forget_shift, params.input_mult, params.input_shift, params.hidden_mult,
           params.hidden_shift, params.cell_exponent, params.cell_clip)
    assert got == (ref.forget_mult, ref.forget_shift, ref.input_mult, ref.input_shift, ref.hidden_mult,
                   ref.hidden_shift, ref.cell_exponent, ref.cell_clip)
    np.testing.assert_array_equal(params.bias, ref.bias)


@given(layer=float_layers(), data=st.data())
def test_lstm_16x8_params_are_tflms_and_the_layer_is_exact(layer, data):
    params = layer.params()
    ref = layer.integer_layer()
    _assert_params_equal(params, ref)
    steps = data.draw(st.integers(1, 6))
    x = int16_array(data.draw, (steps, layer.wx.shape[2]))
    h0, c0 = state_arrays(data.draw, layer.wx.shape[1])
    _run_all(ref, params, x, h0, c0)


# A scale pair whose float32 product gives another Q15 multiplier than the double product: TFLM's (the wheel's)
# is the double one (test_lstm_16x8_equals_tflite_micro checks it on this pair).
DOUBLE_PRODUCT_WITNESS = (0.00023715168936178088, 0.026795214042067528)


def test_gate_multipliers_are_double_products():
    s_x, s_w = DOUBLE_PRODUCT_WITNESS
    f32 = np.float32
    double = quantize_multiplier_exact(float(f32(s_x)) * float(f32(s_w)) / 2.0**-12)
    single = quantize_multiplier_exact(float(f32(f32(s_x) * f32(s_w))) / 2.0**-12)
    assert (double[0] + 2**15) >> 16 != (single[0] + 2**15) >> 16  # the Q15 reductions differ
    wx, wh = np.ones((4, 1, 1), np.int8), np.ones((4, 1, 1), np.int8)
    params = lstm_16x8_params(wx, wh, input_scale=s_x, input_weight_scales=s_w, recurrent_weight_scales=s_w,
                              state_scale=s_x, cell_scale=2.0**-11)
    assert (int(params.gate_mult[0]), int(params.gate_shift[0])) == double


def test_cell_products_follow_the_cell_exponent():
    """2^-15 for f c at every p, 2^(-30 - p) for i g: (2^30, -14) and (2^30, -29 - p)."""
    wx, wh = np.ones((4, 2, 3), np.int8), np.ones((4, 2, 2), np.int8)
    for p in (-29, -15, -11, 0, 2):
        params = lstm_16x8_params(wx, wh, input_scale=2.0**-12, input_weight_scales=0.01,
                                  recurrent_weight_scales=0.01, state_scale=2.0**-15, cell_scale=2.0**p)
        assert (params.forget_mult, params.forget_shift) == (2**30, -14)
        assert (params.input_mult, params.input_shift) == (2**30, -29 - p)
        assert (params.hidden_mult, params.hidden_shift, params.cell_exponent) == (2**30, -14, p)
        # what the loaders derive from LstmOptions' cell_exponent
        assert cell_product_multipliers(p) == (params.forget_mult, params.forget_shift, params.input_mult,
                                               params.input_shift)


# ---------------------------------------------------------------------------------------------------------------
# Refusals, and the C prototype
# ---------------------------------------------------------------------------------------------------------------


def _layer(**changes):
    args = dict(input_weights=np.ones((4, 3, 2), np.int8), recurrent_weights=np.ones((4, 3, 3), np.int8),
                bias=None, input_scale=2.0**-12, input_weight_scales=0.01, recurrent_weight_scales=0.01,
                state_scale=2.0**-15, cell_scale=2.0**-11)
    args.update(changes)
    return lstm_16x8_params(args.pop("input_weights"), args.pop("recurrent_weights"), args.pop("bias"), **args)


@pytest.mark.parametrize("changes, message", [
    (dict(cell_scale=3 * 2.0**-12), "cell_scale must be a power of two"),
    (dict(cell_scale=2.0**-30), r"cell_scale must be 2\^p with p in \[-29, 2\]"),
    (dict(cell_scale=2.0**3), r"cell_scale must be 2\^p with p in \[-29, 2\]"),
    (dict(state_scale=0.0), "state_scale must be finite and > 0"),
    (dict(state_scale=2.0**-30), "the hidden product .* needs shift 1, above 0"),
    (dict(input_weight_scales=[0.01] * 3), "input_weight_scales must hold 1 or 4 scales"),
    (dict(input_scale=1.0, input_weight_scales=1.0), "input-to-i, 4096.0, needs shift 13, above 7"),
    (dict(cell_clip=-1.0), "cell_clip must be finite and >= 0"),
    (dict(cell_clip=2.0**-12), "cell_clip 0.000244140625 is below one step of the cell state"),
    (dict(input_weights=np.full((4, 3, 2), -128, np.int8)), "input_weights holds -128"),
    (dict(recurrent_weights=np.ones((4, 3, 2), np.int8)), r"recurrent_weights must be \[4, C, C\]"),
    (dict(bias=np.ones((4, 3), np.int32)), "bias must have dtype int64"),
    (dict(bias=np.full((4, 3), 2**47 - 2**15, np.int64)), "input-to-i accumulator of cell 0 could reach"),
])
def test_lstm_16x8_params_refuse_what_the_kernel_cannot_take(changes, message):
    with pytest.raises(ValueError, match=message):
        _layer(**changes)


@pytest.mark.parametrize("call, message", [
    (lambda p: lstm_int16(np.zeros((2, 3), np.int16), p), r"input must be \[T, I\] with T >= 1 and I = 2"),
    (lambda p: lstm_int16(np.zeros((0, 2), np.int16), p), r"input must be \[T, I\] with T >= 1"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int8), p), "input must have dtype int16"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p, hidden_state=np.zeros(4, np.int16)),
     "hidden_state must hold C = 3"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p, cell_state=np.zeros(3, np.int8)),
     "cell_state must have dtype int16"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p, backend="fast"), "backend must be one of"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(cell_exponent=3)),
     r"cell_exponent must be in \[-29, 2\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(hidden_shift=1)),
     r"hidden_shift must be in \[-31, 0\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(forget_shift=1)),
     r"forget_shift must be in \[-31, 0\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(input_mult=-1)),
     r"input_mult must be in \[0, 2147483647\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(cell_clip=40000)),
     r"cell_clip must be in \[0, 32767\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(gate_shift=np.full(8, 8, np.int8))),
     r"gate_shift must be in \[-31, 7\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(gate_mult=np.full(8, -1, np.int32))),
     r"gate_mult must be in \[0, 2\^31 - 1\]"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(bias=np.zeros((4, 3), np.int32))),
     "params.bias must have dtype int64"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), p._replace(bias=np.full((4, 3), 2**47 - 2**15, np.int64))),
     "input-to-i accumulator of cell 0 could reach"),
    (lambda p: lstm_int16(np.zeros((2, 2), np.int16), tuple(p)), "params must be an Lstm16x8Params"),
])
def test_lstm_int16_refuses_what_the_kernel_cannot_take(call, message):
    with pytest.raises(ValueError, match=message):
        call(_layer())


# ---------------------------------------------------------------------------------------------------------------
# The tflite-micro wheel
# ---------------------------------------------------------------------------------------------------------------


def _tflite_lstm_16x8(layer: FloatLayer, steps: int, time_major: bool) -> bytes:
    """A one-operator .tflite: UNIDIRECTIONAL_SEQUENCE_LSTM with int16 input, output and states (zero point 0), int8
    weights and int64 biases at s_x s_w, batch 1, variable h and c, through the LiteRT wheel's own schema (TFLM's
    16x8 LSTM reads no intermediates: its gate scales are fixed)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    model = S.ModelT()
    model.version = 3
    model.buffers = [S.BufferT()]
    graph = S.SubGraphT()
    graph.tensors = []
    dtypes = {"int8": S.TensorType.INT8, "int16": S.TensorType.INT16, "int64": S.TensorType.INT64}

    def tensor(name, dtype, shape, scale, data=None, variable=False):
        t = S.TensorT()
        t.name, t.type, t.shape, t.isVariable, t.buffer = name, dtypes[dtype], list(shape), variable, 0
        q = S.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [0]
        t.quantization = q
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes(), np.uint8)
            model.buffers.append(b)
            t.buffer = len(model.buffers) - 1
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    cells, inputs = layer.wx.shape[1], layer.wx.shape[2]
    seq = (steps, 1) if time_major else (1, steps)
    x = tensor("x", "int16", (*seq, inputs), layer.input_scale)
    ids = [x]
    ids += [tensor(f"w_x{g}", "int8", (cells, inputs), layer.input_weight_scales[k], layer.wx[k])
            for k, g in enumerate("ifco")]
    ids += [tensor(f"w_h{g}", "int8", (cells, cells), layer.recurrent_weight_scales[k], layer.wh[k])
            for k, g in enumerate("ifco")]
    ids += [-1, -1, -1]  # no peephole
    bias_scales = [float(np.float32(layer.input_scale) * np.float32(s)) for s in layer.input_weight_scales]
    ids += [tensor(f"b_{g}", "int64", (cells,), bias_scales[k], np.asarray(layer.bias[k], np.int64))
            for k, g in enumerate("ifco")]
    ids += [-1, -1]  # no projection
    h = tensor("h", "int16", (1, cells), layer.state_scale, variable=True)
    c = tensor("c", "int16", (1, cells), 2.0**layer.cell_exponent, variable=True)
    ids += [h, c, -1, -1, -1, -1]  # no layer norm
    y = tensor("y", "int16", (*seq, cells), layer.state_scale)

    code = S.OperatorCodeT()
    code.builtinCode = S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.deprecatedBuiltinCode = S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.version = 1
    model.operatorCodes = [code]
    options = S.UnidirectionalSequenceLSTMOptionsT()
    options.fusedActivationFunction = S.ActivationFunctionType.TANH
    options.cellClip, options.projClip, options.timeMajor = float(layer.cell_clip), 0.0, time_major
    op = S.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, ids, [y]
    op.builtinOptionsType = S.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = options
    graph.operators = [op]
    graph.inputs, graph.outputs = [x], [y]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _check_against_tflm(layer: FloatLayer, xs, time_major: bool):
    """Two Invokes of the TFLM interpreter (the state carried in its variables) against two lstm_int16 calls."""
    from tflite_micro.python.tflite_micro import runtime

    steps, inputs = xs[0].shape
    interpreter = runtime.Interpreter.from_bytes(_tflite_lstm_16x8(layer, steps, time_major), arena_size=1 << 20)
    params = layer.params()
    h = c = None  # TFLM's reset: zeros
    for x in xs:
        interpreter.set_input(x.reshape((steps, 1, inputs) if time_major else (1, steps, inputs)), 0)
        interpreter.invoke()
        want = interpreter.get_output(0).reshape(steps, -1)
        for backend in ("numba", "c"):
            got, h_next, c_next = lstm_int16(x, params, h, c, backend=backend)
            np.testing.assert_array_equal(got, want)
        h, c = h_next, c_next


_HAVE_WHEELS = all(importlib.util.find_spec(m) is not None for m in ("tflite_micro", "ai_edge_litert"))


@pytest.mark.skipif(not _HAVE_WHEELS, reason="needs tflite_micro (TFLM) and ai_edge_litert (its schema)")
@settings(max_examples=25)
@given(layer=float_layers(max_inputs=8, max_cells=8, exponents=st.sampled_from([-20, -15, -13, -12, -11, -9, 0])),
       steps=st.integers(1, 5), time_major=st.booleans(), data=st.data())
def test_lstm_16x8_equals_tflite_micro_over_two_invokes(layer, steps, time_major, data):
    xs = [int16_array(data.draw, (steps, layer.wx.shape[2])) for _ in range(2)]
    _check_against_tflm(layer, xs, time_major)


@pytest.mark.skipif(not _HAVE_WHEELS, reason="needs tflite_micro (TFLM) and ai_edge_litert (its schema)")
def test_lstm_16x8_gate_multipliers_are_tflite_micros():
    """The double-product witness in every gate, over 32 steps of saturating input weights: TFLM's outputs equal
    lstm_16x8_params', and this sequence tells the two products apart."""
    s_x, s_w = DOUBLE_PRODUCT_WITNESS
    rng = np.random.default_rng(17)
    cells, inputs, steps = 2, 3, 16
    layer = FloatLayer(wx=np.full((4, cells, inputs), 127, np.int8),
                       wh=rng.integers(-127, 128, (4, cells, cells)).astype(np.int8),
                       bias=np.zeros((4, cells), np.int64), input_scale=s_x, input_weight_scales=[s_w] * 4,
                       recurrent_weight_scales=[s_w] * 4, state_scale=s_x, cell_exponent=-11, cell_clip=0.0)
    xs = [rng.integers(INT16_MIN, INT16_MAX + 1, (steps, inputs)).astype(np.int16) for _ in range(2)]
    f32 = np.float32
    single = quantize_multiplier_exact(float(f32(f32(s_x) * f32(s_w))) / 2.0**-12)
    ref = layer.integer_layer()
    alt = Layer(**{**ref.__dict__, "gate_mult": np.full(8, single[0]), "gate_shift": np.full(8, single[1])})
    zeros = np.zeros(cells, np.int16)
    assert not np.array_equal(reference_lstm(ref, xs[0], zeros, zeros)[0], reference_lstm(alt, xs[0], zeros, zeros)[0])
    _check_against_tflm(layer, xs, True)


@pytest.mark.skipif(not _HAVE_WHEELS, reason="needs tflite_micro (TFLM) and ai_edge_litert (its schema)")
def test_lstm_16x8_products_round_twice_as_tflite_micro():
    """Constant gates (zero weights, pre-activations equal to the biases: s_x s_w = 2^-12) whose i g lands where
    TFLite's double rounding and its TFLITE_SINGLE_ROUNDING build differ (i g = 2^14 - 1 mod 2^15 at shift -14):
    the wheel's outputs are the double rounding's, and this sequence tells the two apart."""

    def single_rounding(x, mult, shift):
        total = 31 - np.asarray(shift, np.int64)
        return (np.asarray(x, np.int64) * mult + (np.int64(1) << (total - 1))) >> total

    steps = 24
    layer = FloatLayer(wx=np.zeros((4, 1, 1), np.int8), wh=np.zeros((4, 1, 1), np.int8),
                       bias=np.array([[483], [-60], [9048], [20000]], np.int64), input_scale=2.0**-6,
                       input_weight_scales=[2.0**-6] * 4, recurrent_weight_scales=[2.0**-6] * 4, state_scale=2.0**-15,
                       cell_exponent=-15, cell_clip=0.0)
    x = np.zeros((steps, 1), np.int16)
    ref, zeros = layer.integer_layer(), np.zeros(1, np.int16)
    assert not np.array_equal(reference_lstm(ref, x, zeros, zeros)[0],
                              reference_lstm(ref, x, zeros, zeros, mbqm=single_rounding)[0])
    _check_against_tflm(layer, [x, x], True)


# ---------------------------------------------------------------------------------------------------------------
# In a .mfb file: UNIDIRECTIONAL_SEQUENCE_LSTM with an int16 input, both loaders and runtimes
# ---------------------------------------------------------------------------------------------------------------

S_X, S_H = 2.0**-12, 2.0**-15


def _model_params(seed, inputs, cells, cell_exponent=-11) -> Lstm16x8Params:
    rng = np.random.default_rng(seed)
    wx = rng.integers(-127, 128, (4, cells, inputs)).astype(np.int8)
    wh = rng.integers(-127, 128, (4, cells, cells)).astype(np.int8)
    bias = rng.integers(-2**20, 2**20, (4, cells)).astype(np.int64)
    return lstm_16x8_params(wx, wh, bias, input_scale=S_X, input_weight_scales=[0.004, 0.005, 0.006, 0.007],
                            recurrent_weight_scales=[0.008, 0.009, 0.01, 0.011], state_scale=S_H,
                            cell_scale=2.0**cell_exponent)


def lstm_16x8_model(p: Lstm16x8Params, steps, inputs, writer=False):
    """h and c in variables, updated by two ASSIGN_VARIABLE ops (tests/model_builders.lstm_model's layout), with
    the 16x8 form's tensors: int16 sequence and states, int64 input-to-gate biases, no recurrent bias (-1)."""
    from microflat.compiler.writer import ModelWriter

    cells = p.input_weights.shape[1]
    w = ModelWriter()
    qh = dict(scale=S_H, zero_point=0)
    qc = dict(scale=2.0**p.cell_exponent, zero_point=0)
    x = w.add_tensor("x", "int16", (1, steps, inputs), scale=S_X, zero_point=0)
    h = w.add_tensor("h", "int16", (1, cells), **qh)
    c = w.add_tensor("c", "int16", (1, cells), **qc)
    for v in (h, c):
        w.tensors[v]["variable"] = True
    y = w.add_tensor("y", "int16", (1, steps, cells), **qh)
    h_new = w.add_tensor("h_new", "int16", (1, cells), **qh)
    c_new = w.add_tensor("c_new", "int16", (1, cells), **qc)
    consts = [w.add_constant(name, v) for name, v in (("wx", p.input_weights), ("wh", p.recurrent_weights),
                                                      ("bx", p.bias))]
    w.add_operator("UNIDIRECTIONAL_SEQUENCE_LSTM", [x, *consts, -1, h, c], [y, h_new, c_new], "LstmOptions",
                   dict(gate_mult=p.gate_mult, gate_shift=p.gate_shift, hidden_mult=p.hidden_mult,
                        hidden_shift=p.hidden_shift, cell_exponent=p.cell_exponent, cell_clip=p.cell_clip))
    w.add_operator("ASSIGN_VARIABLE", [h_new], [h])
    w.add_operator("ASSIGN_VARIABLE", [c_new], [c])
    w.set_io([x], [y])
    return w if writer else w.to_bytes()


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), inputs=st.integers(1, 8), cells=st.integers(1, 8), steps=st.integers(1, 6),
       p=st.sampled_from([-29, -20, -13, -12, -11, -9, 0, 2]))
def test_the_16x8_lstm_op_equals_the_kernel_and_streams(seed, inputs, cells, steps, p):
    from microflat.runtime import Interpreter

    params = _model_params(seed, inputs, cells, p)
    x = np.random.default_rng(seed + 1).integers(INT16_MIN, INT16_MAX + 1, (steps, inputs)).astype(np.int16)
    want, _, _ = lstm_int16(x, params)
    whole = lstm_16x8_model(params, steps, inputs)
    frame = lstm_16x8_model(params, 1, inputs)
    for backend in ("numba", "c"):
        got = Interpreter(whole, backend=backend).invoke(x[None])[0]
        np.testing.assert_array_equal(got[0], want, err_msg=backend)
        it = Interpreter(frame, backend=backend)
        stream = np.concatenate([it.invoke(x[t][None, None])[0][0] for t in range(steps)])
        np.testing.assert_array_equal(stream, want, err_msg=f"{backend}, step by step")


def _damaged(mutate):
    from model_builders import damaged

    return damaged(lstm_16x8_model(_model_params(0, 3, 4), 2, 3, writer=True), mutate)


def _options(**changes):
    def mutate(model, buffers):
        model["operators"][0]["options"][1].update(changes)
    return mutate


def _bias(value):
    def mutate(model, buffers):
        bx = next(t for t in model["tensors"] if t["name"] == "bx")
        data = np.frombuffer(buffers[bx["buffer"]], np.int64).copy()
        data[5] = value
        buffers[bx["buffer"]] = data.tobytes()
    return mutate


def _recurrent_bias(model, buffers):
    wh = next(i for i, t in enumerate(model["tensors"]) if t["name"] == "wh")
    model["operators"][0]["inputs"][4] = wh


def _zero_point(name, value):
    def mutate(model, buffers):
        next(t for t in model["tensors"] if t["name"] == name)["zero_point"] = value
    return mutate


@pytest.mark.parametrize("mutate, reason", [
    (_options(cell_exponent=3), "must be in"),
    (_options(cell_exponent=-30), "must be in"),
    (_options(hidden_shift=1), "must be in"),
    (_options(cell_clip=40000), "must be in"),
    (_options(gate_shift=np.full(8, 8, np.int8)), "a shift is outside"),
    (_options(gate_mult=np.ones(4, np.int32), gate_shift=np.zeros(4, np.int8)), "needs"),
    (_bias(2**47 - 2**15), "accumulator"),
    (_bias(-2**63), "accumulator"),
    (_recurrent_bias, "no recurrent bias"),
    (_zero_point("x", 3), "zero point"),
], ids=["cell-exponent-high", "cell-exponent-low", "hidden-shift", "clip", "gate-shift", "gate-count",
        "accumulator", "bias-int64-min", "recurrent-bias", "input-zero-point"])
def test_both_loaders_refuse_a_damaged_16x8_lstm_at_the_same_byte(mutate, reason):
    from microflat.runtime import FormatError, load_bytes
    from microflat.runtime.c_runtime import CRuntime, CRuntimeError

    data = _damaged(mutate)
    with pytest.raises(FormatError, match=reason) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"
