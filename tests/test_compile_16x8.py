"""The compiler's 16-bit activations (activations="int16": TFLite's 16x8 mode) against PyTorch itself.

1. One-layer models (conv, depthwise conv, linear) compiled with int16 activations stay within the error bound
   test_compiler_layers.py derives for int8, with the 16x8 rescaling's own terms: the output rounds once (1/2 a
   step, not 1.5) and the Q31 multiplier is cut to Q15 (numerics.multiply_by_quantized_multiplier_int64: relative
   error at most 2^-15 of the output), while every step s is 256 times finer.
2. A model mixing 16x8 ops with int8-only ones (GELU) gets REQUANTIZE between the widths, and both runtimes
   give the same bytes.
3. int16 activations buy accuracy: a small regression CNN's SQNR against the float model rises, at the cost of
   a larger arena.
4. sigmoid, tanh and softmax take TFLite's int16 forms (output Q0.15), each within the bound
   activation_references.py derives for its kernel plus its input's rounding; the other table activations (GELU)
   stay int8 between two REQUANTIZEs.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from activation_references import SOFTMAX_ARGUMENT_STEP, logistic_bound, softmax_bound, tanh_bound
from microflat.compiler import compile_model
from microflat.runtime import Interpreter, load_bytes

CASES = settings(max_examples=15)


def _compile(model, x, activations="int16", io_dtype="int8"):
    cm = compile_model(model, (x[:1],), [x], activations=activations, io_dtype=io_dtype, progress=False)
    xp = cm.to_physical([x])[0].numpy()
    q = Interpreter(cm.data).invoke(xp)[0]
    np.testing.assert_array_equal(Interpreter(cm.data, backend="c").invoke(xp)[0], q)
    return cm, q


def _check_layer(model, x, k):
    """Compile with int16 activations; the output against the float module within the derived bound."""
    cm, q = _compile(model, x)
    lm = load_bytes(cm.data)
    tin, tout = lm.tensors[lm.inputs[0]], lm.tensors[lm.outputs[0]]
    assert tin.dtype == tout.dtype == "int16" and tin.zero_point == tout.zero_point == 0
    y = q.astype(np.float64) * tout.scale_value
    with torch.no_grad():
        ref = model(x).double().numpy()
    if ref.ndim == 4:
        ref = ref.transpose(0, 2, 3, 1)
    node = next(n for n in cm.graph.nodes if "quantized" in n.attrs)
    s_w = np.asarray(node.attrs["quantized"]["weight_scale"], np.float64)
    w = np.abs(np.asarray(node.attrs["weight"], np.float64)).reshape(len(s_w), -1).sum(axis=1)
    s_in, s_out = tin.scale_value, tout.scale_value
    xmax = float(np.abs(x.numpy()).max()) + s_in / 2
    bound = w * s_in / 2 + k * xmax * s_w / 2 + k * s_in * s_w / 4 + s_in * s_w / 2 + 0.5 * s_out
    bound = bound + np.abs(ref) * 2.0**-14 + s_out  # the Q15 multiplier, and one step for float32 scales
    assert np.all(np.abs(y - ref) <= bound), float(np.max(np.abs(y - ref) - bound))


@CASES
@given(cin=st.integers(1, 4), cout=st.integers(1, 6), k=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_int16_conv_within_the_derived_bound_of_float(cin, cout, k, seed):
    torch.manual_seed(seed)
    model = nn.Conv2d(cin, cout, k, padding=k // 2).eval()
    _check_layer(model, torch.randn(4, cin, 6, 6), cin * k * k)


@CASES
@given(c=st.integers(2, 6), seed=st.integers(0, 2**31))
def test_int16_depthwise_conv_within_the_derived_bound_of_float(c, seed):
    torch.manual_seed(seed)
    model = nn.Conv2d(c, c, 3, padding=1, groups=c).eval()
    _check_layer(model, torch.randn(4, c, 5, 5), 9)


@CASES
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_int16_linear_within_the_derived_bound_of_float(n_in, n_out, seed):
    torch.manual_seed(seed)
    model = nn.Linear(n_in, n_out).eval()
    _check_layer(model, torch.randn(8, n_in), n_in)


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        y = nn.functional.avg_pool2d(y, 2) * 0.5 + nn.functional.avg_pool2d(y, 2)
        return torch.softmax(nn.functional.gelu(self.fc(y.flatten(1))), dim=-1)


def test_widths_meet_through_requantize_and_both_runtimes_agree():
    torch.manual_seed(0)
    model, x = Mixed().eval(), torch.randn(16, 1, 8, 8)
    cm, q = _compile(model, x, io_dtype="float32")
    lm = load_bytes(cm.data)
    ops = [lm.opcode_name(o.opcode) for o in lm.operators]
    assert "REQUANTIZE" in ops and "GELU" in ops and "SOFTMAX" in ops
    widths = {t.dtype for t in lm.tensors if not t.is_const}
    assert {"int8", "int16", "float32"} <= widths
    with torch.no_grad():
        ref = model(x).numpy()
    # the GELU's int8 output grid (its scale about 1/40 here: 1/2 a step and the REQUANTIZE's step back into
    # int16, through softmax's derivative <= 1/2) and the int16 softmax's few 2^-15 steps
    assert np.abs(q - ref).max() <= 2.0 / 256


def _sqnr(model, x, activations):
    cm, q = _compile(model, x, activations=activations, io_dtype="float32")
    with torch.no_grad():
        ref = model(x).numpy()
    return 10 * np.log10((ref ** 2).sum() / ((q - ref) ** 2).sum()), load_bytes(cm.data).arena_bytes


def test_int16_activations_raise_the_sqnr_of_a_regression_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    x = torch.randn(64, 1, 8, 8)
    sqnr8, arena8 = _sqnr(model, x, "int8")
    sqnr16, arena16 = _sqnr(model, x, "int16")
    assert sqnr16 > sqnr8 + 3.0, (sqnr8, sqnr16)
    assert arena16 > arena8


def test_auto_widths_keep_the_arena_under_the_budget():
    """activations="auto": with room for everything it is the int16 file; at the int8 file's arena it keeps as
    many 16-bit layers as fit, never above the budget, and never less accurate than int8 (the search only demotes
    from all-int16 while over budget, so it stops at the first choice that fits)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).eval()
    x = torch.randn(32, 1, 8, 8)
    common = dict(io_dtype="float32", progress=False)
    int8 = compile_model(model, (x[:1],), [x], activations="int8", **common).data
    int16 = compile_model(model, (x[:1],), [x], activations="int16", **common).data
    a8, a16 = load_bytes(int8).arena_bytes, load_bytes(int16).arena_bytes
    assert a16 > a8
    roomy = compile_model(model, (x[:1],), [x], activations="auto", max_arena=a16, **common).data
    assert roomy == int16
    tight = load_bytes(compile_model(model, (x[:1],), [x], activations="auto", max_arena=a8, **common).data)
    assert tight.arena_bytes <= a8
    with pytest.raises(Exception, match="max_arena"):
        compile_model(model, (x[:1],), [x], activations="auto", **common)


class Activations16(nn.Module):
    """sigmoid, tanh and softmax of the input itself (their int16 forms), and a GELU, which has none, into an add."""

    def forward(self, x):
        return torch.sigmoid(x), torch.tanh(x), torch.softmax(x, dim=-1), x + nn.functional.gelu(x)


def test_int16_sigmoid_tanh_softmax_within_the_derived_bound_of_float():
    """Each output of the int16 LOGISTIC, TANH and SOFTMAX against PyTorch's float function of the float input:
    the kernel's own bound (activation_references.py: the table and its interpolation, the input rescaling, the
    rounding) plus the input's rounding to its int16 grid, |x_q s - x| <= s / 2, carried through sigmoid' <= 1/4 and
    tanh' <= 1; into softmax as a per-argument error (a shift common to a row cancels). The GELU stays int8: a
    REQUANTIZE before and after it."""
    torch.manual_seed(0)
    x = torch.randn(64, 10) * 3
    cm = compile_model(Activations16().eval(), (x[:1],), [x], activations="int16", progress=False)
    lm = load_bytes(cm.data)
    by_op = {lm.opcode_name(o.opcode): o for o in lm.operators}
    assert {"LOGISTIC", "TANH", "SOFTMAX", "GELU", "REQUANTIZE"} <= set(by_op)
    for name in ("LOGISTIC", "TANH", "SOFTMAX"):
        op = by_op[name]
        assert len(op.inputs) == 1  # no table
        tin, tout = lm.tensors[op.inputs[0]], lm.tensors[op.outputs[0]]
        assert tin.dtype == tout.dtype == "int16" and tin.zero_point == tout.zero_point == 0
        assert tout.scale_value == 1.0 / 32768.0
    gelu = by_op["GELU"]
    assert lm.tensors[gelu.inputs[0]].dtype == lm.tensors[gelu.outputs[0]].dtype == "int8"
    assert sum(lm.opcode_name(o.opcode) == "REQUANTIZE" for o in lm.operators) == 2  # into and out of int8
    assert lm.tensors[lm.inputs[0]].dtype == "int16"

    xp = cm.to_physical([x])[0].numpy()
    outs = Interpreter(cm.data).invoke(xp)
    for got, want in zip(Interpreter(cm.data, backend="c").invoke(xp), outs):
        assert got.tobytes() == want.tobytes()
    s_in = lm.tensors[lm.inputs[0]].scale_value
    q = np.clip(np.round(x.double().numpy() / s_in), -32768, 32767)  # the input on its int16 grid
    assert np.abs(q * s_in - x.double().numpy()).max() <= s_in / 2 * (1 + 1e-6)
    xf = x.double().numpy()
    y = [o.astype(np.float64) / 32768.0 for o in outs[:3]]
    logistic, tanh = by_op["LOGISTIC"].options, by_op["TANH"].options
    bound = logistic_bound(q, s_in, logistic.input_multiplier, logistic.input_left_shift) + s_in / 8
    assert np.all(np.abs(y[0] - 1.0 / (1.0 + np.exp(-xf))) <= bound)
    bound = tanh_bound(q, s_in, tanh.input_multiplier, tanh.input_left_shift) + s_in / 2
    assert np.all(np.abs(y[1] - np.tanh(xf)) <= bound)
    # the argument: one step of the scaled difference, each input's rounding, the multiplier's 2^-30 over |a| <= 10
    argument_error = SOFTMAX_ARGUMENT_STEP + s_in / 2 + 10 * 2.0**-30
    p = torch.softmax(x.double(), dim=-1).numpy()
    assert np.abs(y[2] - p).max() <= softmax_bound(x.shape[-1], argument_error)

    # the fake-quantized simulation models the int16 forms exactly: on the input's int16 values it is the file
    from microflat.compiler.simulate import run_op

    q16 = q.astype(np.int16)
    file_outs = Interpreter(cm.data).invoke(q16)
    on_grid = torch.from_numpy((q16 * np.float32(s_in)).astype(np.float32))
    for op, got in zip(("logistic", "tanh", "softmax"), file_outs):
        node = next(n for n in cm.graph.nodes if n.op == op)
        np.testing.assert_array_equal(run_op(node, [on_grid], True).double().numpy() * 32768.0, got)
