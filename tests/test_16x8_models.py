"""16x8 layers in a .mfb file (int16 activations, int8 weights, int64 bias), and the int16 LOGISTIC, TANH and
SOFTMAX: both runtimes equal the int64 reference, and both loaders refuse what the 16x8 kernels cannot take, at the
same byte.

The layers are layer_cases.py's 16x8 cases (the kernels' own, test_kernels_16x8.py), each written as a one-op
model by the writer API, so the file's options, the loaders' checks, the plans and the two interpreters' calls are
what is tested here; the arithmetic is the int64 reference of layer_references.py (activation_references.py for
the activations).
"""

import math
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from activation_references import ref_logistic, ref_softmax, ref_tanh
from microflat.testing.layer_cases import conv2d_cases_16x8, depthwise_cases_16x8, fully_connected_cases_16x8, int16_array
from microflat import kernels as K
from microflat.testing.layer_references import conv2d_reference, depthwise_reference, fully_connected_reference
from model_builders import damaged
from microflat.compiler.writer import ModelWriter
from microflat.runtime import FormatError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError
from microflat.runtime.format import DTYPE

# One model per example: writing, loading and two interpreters cost about 20 ms.
EXAMPLES = 200


def _requant_options(case):
    kw = case.kwargs
    return dict(output_mult=np.asarray(kw["output_mult"], np.int32), output_shift=np.asarray(kw["output_shift"],
                np.int8), act_min=kw["act_min"], act_max=kw["act_max"])


def _one_op(case, out_shape, opcode, options_table, options, channel_axis):
    w = ModelWriter()
    x = w.add_tensor("x", "int16", case.x.shape, scale=0.01, zero_point=0)
    channels = case.w.shape[channel_axis]
    f = w.add_constant("w", case.w, scale=np.full(channels, 0.02, np.float32), zero_point=0, axis=channel_axis)
    ins = [x, f] + ([] if case.bias is None else [w.add_constant("b", case.bias.astype(np.int64))])
    y = w.add_tensor("y", "int16", out_shape, scale=0.03, zero_point=0)
    w.add_operator(opcode, ins, [y], options_table, dict(options, **_requant_options(case)))
    w.set_io([x], [y])
    return w


def _conv_options(case):
    """The case's geometry as options; a case the format cannot hold (padding past the dilated filter, or a last
    window wholly in the padding: ops.OpCheck.geometry) is discarded."""
    gh, gw = case.geometry["h"], case.geometry["w"]
    for g in (gh, gw):
        assume(g["before"] <= (g["k"] - 1) * g["dilation"] and (g["out"] - 1) * g["stride"] - g["before"] < g["size"])
    return dict(stride_h=gh["stride"], stride_w=gw["stride"], dilation_h=gh["dilation"], dilation_w=gw["dilation"],
                pad_top=gh["before"], pad_left=gw["before"])


def _check(w: ModelWriter, case, expected):
    data = w.to_bytes()
    got = Interpreter(data, backend="numba").invoke(case.x)[0]
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(Interpreter(data, backend="c").invoke(case.x)[0], expected)


@settings(max_examples=EXAMPLES)
@given(case=conv2d_cases_16x8())
def test_conv_2d_16x8_model_equals_reference_on_both_runtimes(case):
    expected = conv2d_reference(case)
    w = _one_op(case, expected.shape, "CONV_2D", "Conv2DOptions",
                dict(_conv_options(case), groups=case.kwargs["groups"]), 0)
    _check(w, case, expected)


@settings(max_examples=EXAMPLES)
@given(case=depthwise_cases_16x8())
def test_depthwise_conv_2d_16x8_model_equals_reference_on_both_runtimes(case):
    expected = depthwise_reference(case)
    w = _one_op(case, expected.shape, "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions",
                dict(_conv_options(case), depth_multiplier=case.geometry["multiplier"]), 3)
    _check(w, case, expected)


@settings(max_examples=EXAMPLES)
@given(case=fully_connected_cases_16x8())
def test_fully_connected_16x8_model_equals_reference_on_both_runtimes(case):
    expected = fully_connected_reference(case)
    _check(_one_op(case, expected.shape, "FULLY_CONNECTED", "FullyConnectedOptions", {}, 0), case, expected)


# --- refusals ----------------------------------------------------------------------------------------------------

def _fc_model(mutate):
    """A valid 16x8 FULLY_CONNECTED [1, 4] -> [1, 3] with its writer's plan, then ``mutate(model, buffers)``
    applied and serialized without verification."""
    w = ModelWriter()
    x = w.add_tensor("x", "int16", (1, 4), scale=0.01, zero_point=0)
    f = w.add_constant("w", np.arange(-6, 6, dtype=np.int8).reshape(3, 4), scale=0.02, zero_point=0)
    b = w.add_constant("b", np.array([5, -7, 2**40], np.int64))
    y = w.add_tensor("y", "int16", (1, 3), scale=0.03, zero_point=0)
    w.add_operator("FULLY_CONNECTED", [x, f, b], [y], "FullyConnectedOptions",
                   dict(output_mult=np.array([2**30], np.int32), output_shift=np.array([-3], np.int8),
                        act_min=-32768, act_max=32767))
    w.set_io([x], [y])
    return damaged(w, mutate)


def _options(model):
    return model["operators"][0]["options"][1]


def _set(**changes):
    def mutate(model, buffers):
        _options(model).update(changes)
    return mutate


def _tensor(index, **changes):
    def mutate(model, buffers):
        model["tensors"][index].update(changes)
    return mutate


def _bias(values):
    def mutate(model, buffers):
        buffers[model["tensors"][2]["buffer"]] = np.asarray(values, np.int64).tobytes()
    return mutate


def _weights(values):
    def mutate(model, buffers):
        buffers[model["tensors"][1]["buffer"]] = np.asarray(values, np.int8).tobytes()
    return mutate


def test_the_valid_16x8_model_loads_on_both_runtimes():
    data = _fc_model(lambda model, buffers: None)
    load_bytes(data)
    CRuntime(data)


@pytest.mark.parametrize("mutate, reason", [
    (_set(output_shift=np.array([8], np.int8)), "a shift is outside"),
    (_set(act_min=-32769), "must be in [-32768, 32767]"),
    (_tensor(0, zero_point=1), "zero point 0"),
    (_tensor(3, zero_point=-2), "zero point 0"),
    (_tensor(1, zero_point=1), "must be symmetric"),
    (_weights(np.r_[-128, np.zeros(11)]), "-128"),
    (_bias([5, -7, 2**47 - 2**15 * 10]), "int64 accumulator"),
    (_bias([5, -7, -(2**63)]), "int64 accumulator"),
], ids=["shift-8", "act-min", "input-zp", "output-zp", "weight-zp", "minus-128", "accumulator", "bias-min"])
def test_both_loaders_refuse_a_damaged_16x8_layer_at_the_same_byte(mutate, reason):
    data = _fc_model(mutate)
    with pytest.raises(FormatError, match=reason.replace("[", r"\[").replace("]", r"\]")) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"


def test_a_16x8_layer_refuses_an_int32_bias_and_mixed_widths():
    for index, dtype in ((2, "INT32"), (3, "INT8")):
        def mutate(model, buffers, index=index, dtype=dtype):
            model["tensors"][index]["dtype"] = DTYPE[dtype]
            if index == 2:
                buffers[model["tensors"][2]["buffer"]] = np.array([5, -7, 9], np.int32).tobytes()
        data = _fc_model(mutate)
        with pytest.raises(FormatError, match="must be int") as py:
            load_bytes(data)
        with pytest.raises(CRuntimeError) as c:
            CRuntime(data)
        assert py.value.offset == c.value.offset


# --- int16 LOGISTIC, TANH and SOFTMAX -------------------------------------------------------------------------------

Q015 = 1.0 / 32768.0
ACTIVATION_PARAMS = {"LOGISTIC": K.logistic_s16_params, "TANH": K.tanh_s16_params}


def _activation_writer(op, shape, s_in, options):
    """A one-op int16 LOGISTIC, TANH (LogisticOptions) or SOFTMAX (SoftmaxOptions) model, output at Q0.15."""
    w = ModelWriter()
    x = w.add_tensor("x", "int16", shape, scale=s_in, zero_point=0)
    y = w.add_tensor("y", "int16", shape, scale=Q015, zero_point=0)
    w.add_operator(op, [x], [y], "SoftmaxOptions" if op == "SOFTMAX" else "LogisticOptions", options)
    w.set_io([x], [y])
    return w


def _activation_options(op, s_in):
    if op == "SOFTMAX":
        m, s = K.softmax_s16_params(s_in)
        return dict(input_beta_mult=m, input_left_shift=s)
    m, k = ACTIVATION_PARAMS[op](s_in)
    return dict(input_multiplier=m, input_left_shift=k)


@settings(max_examples=EXAMPLES)
@given(data=st.data(), op=st.sampled_from(["LOGISTIC", "TANH", "SOFTMAX"]))
def test_int16_activation_model_equals_reference_on_both_runtimes(data, op):
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    s_in = data.draw(st.one_of(st.sampled_from([2.0**-12, 2.0**-11]),
                               st.floats(math.log(1e-5), math.log(4e-3)).map(math.exp)))
    s_in = float(np.float32(s_in))
    options = _activation_options(op, s_in)
    x = int16_array(data.draw, shape)
    if op == "SOFTMAX":
        expected = ref_softmax(x, options["input_beta_mult"], options["input_left_shift"])
    else:
        expected = (ref_logistic if op == "LOGISTIC" else ref_tanh)(x, options["input_multiplier"],
                                                                    options["input_left_shift"])
    data_bytes = _activation_writer(op, shape, s_in, options).to_bytes()
    for backend in ("numba", "c"):
        got = Interpreter(data_bytes, backend=backend).invoke(x)[0]
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, expected)


def _activation_model(op, mutate, shape=(2, 9)):
    """A valid one-op int16 activation model at s_in 0.001 with its writer's plan, then ``mutate(model, buffers)``
    applied and serialized without verification."""
    return damaged(_activation_writer(op, shape, 0.001, _activation_options(op, 0.001)), mutate)


def _no_options(model, buffers):
    del model["operators"][0]["options"]


def _with_a_table(model, buffers):
    """An int8 table op's second input (a constant) beside the int16 input."""
    model["operators"][0]["inputs"] = [0, 0]


def _output_dtype_int8(model, buffers):
    model["tensors"][1]["dtype"] = DTYPE["INT8"]


# (op, mutation, the field both loaders name, the Python loader's reason)
ACTIVATION_REFUSALS = [
    ("LOGISTIC", _set(input_multiplier=32768), "options.input_multiplier", "must be in [0, 32767]"),
    ("LOGISTIC", _set(input_multiplier=-1), "options.input_multiplier", "must be in [0, 32767]"),
    ("LOGISTIC", _set(input_multiplier=0, input_left_shift=15), "options.input_left_shift", "must be in [0, 14]"),
    ("TANH", _set(input_multiplier=1, input_left_shift=32), "options.input_left_shift", "must be in [0, 31]"),
    ("TANH", _set(input_left_shift=-1), "options.input_left_shift", "must be in [0, 31]"),
    ("TANH", _tensor(1, scale=1.0 / 256.0), "outputs[0]", "output quantization must be scale 1/32768"),
    ("LOGISTIC", _tensor(1, zero_point=1), "outputs[0]", "has zero point 0, not 1"),
    ("TANH", _tensor(0, zero_point=-3), "inputs[0]", "has zero point 0, not -3"),
    ("LOGISTIC", _no_options, "options", "needs LogisticOptions"),
    ("TANH", _with_a_table, "inputs", "takes (1,) inputs"),
    ("LOGISTIC", _output_dtype_int8, "outputs[0]", "must be int16"),
    ("SOFTMAX", _set(input_left_shift=16), "options.input_left_shift", "must be in [-31, 15]"),
    ("SOFTMAX", _set(input_left_shift=-32), "options.input_left_shift", "must be in [-31, 15]"),
    ("SOFTMAX", _set(input_beta_mult=-5), "options.input_beta_mult", "must be in [0, 2147483647]"),
    ("SOFTMAX", _set(diff_min=-4), "options.diff_min", "must be in [0, 0]"),
    ("SOFTMAX", _tensor(1, scale=1.0 / 256.0), "outputs[0]", "output quantization must be scale 1/32768"),
    ("SOFTMAX", _tensor(1, zero_point=-128), "outputs[0]", "has zero point 0, not -128"),
    ("SOFTMAX", _output_dtype_int8, "outputs[0]", "must be int16"),
]


@pytest.mark.parametrize("op, mutate, field, reason", ACTIVATION_REFUSALS,
                         ids=[f"{op}-{field}-{i}" for i, (op, _, field, _) in enumerate(ACTIVATION_REFUSALS)])
def test_both_loaders_refuse_a_damaged_int16_activation_at_the_same_byte(op, mutate, field, reason):
    data = _activation_model(op, mutate)
    with pytest.raises(FormatError, match=f"^operators\\[0\\]\\.{re.escape(field)} at .*{re.escape(reason)}") as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"


def test_an_int16_softmax_deeper_than_65535_is_refused_by_both_loaders():
    """65535 values load (the int32 sum of their exps stays below 2^31); 65536, in the same plan (both tensors round
    up to 131,072 arena bytes), are refused at the input."""
    data = _activation_model("SOFTMAX", lambda model, buffers: None, shape=(1, 65535))
    load_bytes(data)
    CRuntime(data)

    def deeper(model, buffers):
        for t in model["tensors"]:
            t["shape"] = [1, 65536]
    data = _activation_model("SOFTMAX", deeper, shape=(1, 65535))
    with pytest.raises(FormatError, match=r"operators\[0\]\.inputs\[0\] .*depth 65536 exceeds 65535") as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset


# --- int16 CONCATENATION and STRIDED_SLICE --------------------------------------------------------------------------

def _concat_slice_model(mutate=None):
    """CONCATENATION of a [1, 2, 3] input at scale 0.01 (requantized) and a [1, 4, 3] one at the output's scale 0.02
    (copied) along axis 1, then a STRIDED_SLICE of every second row from row 5 backwards; all int16, zero points 0.
    ``mutate(model, buffers)`` may damage it before it is serialized without verification."""
    w = ModelWriter()
    a = w.add_tensor("a", "int16", (1, 2, 3), scale=0.01, zero_point=0)
    b = w.add_tensor("b", "int16", (1, 4, 3), scale=0.02, zero_point=0)
    y = w.add_tensor("y", "int16", (1, 6, 3), scale=0.02, zero_point=0)
    z = w.add_tensor("z", "int16", (1, 3, 3), scale=0.02, zero_point=0)
    mult, shift = K.quantize_multiplier(0.01 / 0.02)
    w.add_operator("CONCATENATION", [a, b], [y], "ConcatenationOptions",
                   dict(axis=1, requant=np.array([1, 0], np.uint8), input_mult=np.array([mult, 0], np.int32),
                        input_shift=np.array([shift, 0], np.int8)))
    w.add_operator("STRIDED_SLICE", [y], [z], "StridedSliceOptions",
                   dict(begin=np.array([0, 5, 0], np.int32), strides=np.array([1, -2, 1], np.int32)))
    w.set_io([a, b], [z])
    return w.to_bytes() if mutate is None else damaged(w, mutate)


@given(data=st.data())
@settings(max_examples=200)
def test_int16_concatenation_and_strided_slice_equal_numpy_on_both_runtimes(data):
    a, b = int16_array(data.draw, (1, 2, 3)), int16_array(data.draw, (1, 4, 3))
    model = _concat_slice_model()
    # a at half the output's scale: M = 1/2 is (2^30, shift 0), so the doubling high multiply alone rounds a / 2,
    # ties toward +inf, and no right shift follows
    half = np.floor((a.astype(np.int64) + 1) / 2).astype(np.int16)
    want = np.concatenate([half, b], axis=1)[:, 5::-2]
    for backend in ("numba", "c"):
        got = Interpreter(model, backend=backend).invoke(a, b)[0]
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mutate, reason", [
    (_tensor(0, zero_point=3), "zero point 0"),
    (_tensor(2, zero_point=-1), "zero point 0"),
    (_tensor(1, dtype=DTYPE["INT8"]), "share one type"),
], ids=["input-zp", "output-zp", "mixed-widths"])
def test_both_loaders_refuse_a_damaged_int16_concatenation_at_the_same_byte(mutate, reason):
    data = _concat_slice_model(mutate)
    with pytest.raises(FormatError, match=reason) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"
