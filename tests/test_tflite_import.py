""".tflite in (compiler/tflite_import.py): the MLPerf Tiny reference int8 models, compiled from their .tflite
files, give TFLite's own bytes on both of microflat's runtimes.

TFLite has two reference implementations, and they differ (compiler/tflite_import.py's docstring has the
table): TFLite Micro's Python interpreter (the tflite-micro package) and LiteRT's reference op resolver
(BUILTIN_REF), whose FULLY_CONNECTED rounds acc M once (ties away from zero) where TFLite Micro, CMSIS-NN and
microflat's default round twice (gemmlowp's SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT). All four
models have a FULLY_CONNECTED. Each model, compiled by default, gives TFLite Micro's bytes, and compiled with
reference="litert" LiteRT's reference kernels' bytes, on 1,000 random inputs over the whole int8 range (the all
-128 and all 127 inputs among them), on both runtimes. Single operators (.tflite files written here or by
benchmarks/single_ops.py) against the same references, and the table activations on all 256 inputs at drawn
quantizations against each reference.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tflite_reference import reference_dir
from microflat.compiler.tflite_import import compile_tflite
from microflat.runtime import CompileError, Interpreter, load_bytes

MODELS = ["ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite", "vww_96_int8.tflite"]
SCRIPT = Path(sys.executable).parent / "microflat"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import single_ops  # noqa: E402
from tflite_builder import PADDING, TFLiteBuilder  # noqa: E402


def _path(name: str) -> str:
    return os.path.join(reference_dir(), name)


def _inputs(shape, n=6, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(n)]
    return xs + [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]


@pytest.fixture(scope="module")
def compiled():
    return {name: compile_tflite(_path(name)) for name in MODELS}


@pytest.fixture(scope="module")
def compiled_litert():
    """The four models compiled to follow LiteRT's reference kernels (reference="litert")."""
    return {name: compile_tflite(_path(name), reference="litert") for name in MODELS}


INPUTS = 1000  # per model: the count


def _tflm_outputs(data: bytes, xs: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    tflm = runtime.Interpreter.from_bytes(data, arena_size=1 << 22)
    out = []
    for x in xs:
        tflm.set_input(x[None], 0)
        tflm.invoke()
        out.append(tflm.get_output(0)[0].copy())
    return np.array(out)


def _litert_reference_outputs(data: bytes, xs: np.ndarray) -> np.ndarray:
    """LiteRT's reference kernels (BUILTIN_REF), one input at a time, the output tensor looked up once."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    lite = LiteRT(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    lite.allocate_tensors()
    x_index, y_index = lite.get_input_details()[0]["index"], lite.get_output_details()[0]["index"]
    out = []
    for x in xs:
        lite.set_tensor(x_index, x[None])
        lite.invoke()
        out.append(lite.get_tensor(y_index)[0].copy())
    return np.array(out)


@pytest.mark.parametrize("reference", ["tflite-micro", "litert"])
@pytest.mark.parametrize("name", MODELS)
def test_an_mlperf_tiny_model_equals_tflite_on_a_thousand_inputs_on_both_runtimes(name, reference, compiled,
                                                                                  compiled_litert):
    """1,000 random inputs over the whole int8 range (all -128 and all 127 among them), run as one batch by
    microflat's Numba and C runtimes and one at a time by the reference: TFLite Micro, or, for the file compiled
    with reference="litert", LiteRT's reference kernels (whose per-tensor FULLY_CONNECTED rounds once)."""
    data = Path(_path(name)).read_bytes()
    mfb = (compiled if reference == "tflite-micro" else compiled_litert)[name]
    loaded = load_bytes(mfb)
    x_in = loaded.tensors[loaded.inputs[0]]
    shape = tuple(x_in.shape)
    xs = np.stack(_inputs(shape, n=INPUTS - 2, seed=1)).reshape((INPUTS,) + shape[1:])
    want = (_tflm_outputs if reference == "tflite-micro" else _litert_reference_outputs)(data, xs)
    assert x_in.dtype == "int8" and shape[0] == 1  # the file's own input
    numba = Interpreter(mfb, backend="numba").invoke(xs)[0]
    assert numba.dtype == want.dtype and numba.shape == want.shape
    np.testing.assert_array_equal(numba, want)
    np.testing.assert_array_equal(Interpreter(mfb, backend="c").invoke(xs)[0], want)


def test_the_same_tflite_gives_the_same_bytes(compiled):
    name = "kws_ref_model.tflite"
    assert compile_tflite(Path(_path(name)).read_bytes()) == compiled[name]


@pytest.mark.parametrize("per_channel", [False, True])
def test_a_fully_connected_layer_rounds_as_the_chosen_reference(per_channel):
    """Scales that are powers of two (0.5, 2^-4 and 0.125: M = 0.25 exactly, QuantizeMultiplier's (2^30, -1)) put
    many accumulators on a tie of one of TFLite Micro's two roundings, where they and LiteRT's reference one disagree
    (29 / 4: 8 against 7, the first rounding's tie carried into the second). With per-tensor and with per-channel
    weights, the default file gives TFLite Micro's bytes, reference="litert" LiteRT's, on both runtimes, and the
    two references differ (so the test tells them apart)."""
    rng = np.random.default_rng(11)
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (64, 6), scale=0.5, zero_point=0)
    y = b.tensor("y", "int8", (64, 5), scale=0.125, zero_point=0)
    scale = np.full(5, 2.0**-4, np.float32) if per_channel else 2.0**-4
    w = b.constant("w", rng.integers(-3, 4, (5, 6), dtype=np.int8), scale=scale, zero_point=0)
    bias = b.constant("b", rng.integers(-6, 7, 5, dtype=np.int32), scale=np.float32(0.5) * np.float32(2.0**-4))
    b.operator("FULLY_CONNECTED", [x, w, bias], [y], "FullyConnectedOptions")
    b.set_io([x], [y])
    data = b.to_bytes()
    xs = rng.integers(-12, 13, (64, 6), dtype=np.int8)
    micro, lite = _tflm(data, [xs]), _litert(data, [xs])
    assert not np.array_equal(micro, lite)
    for reference, want in (("tflite-micro", micro), ("litert", lite)):
        mfb = compile_tflite(data, reference=reference)
        for backend in ("numba", "c"):
            got = Interpreter(mfb, backend=backend).invoke(xs)[0]
            np.testing.assert_array_equal(got, want, f"{reference} {backend}")


def test_the_weights_keep_every_value_and_the_file_shrinks(compiled):
    """vww's file is mostly weights; each is stored in the smallest lossless encoding the kernels run in place."""
    tfl = Path(_path("vww_96_int8.tflite")).stat().st_size
    assert len(compiled["vww_96_int8.tflite"]) < tfl
    dense = compile_tflite(_path("vww_96_int8.tflite"), weight_encoding="dense")
    x = _inputs((1, 96, 96, 3), n=2)[0]
    np.testing.assert_array_equal(Interpreter(dense).invoke(x)[0], Interpreter(compiled["vww_96_int8.tflite"]).invoke(x)[0])


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:8] + b"x" * 4, "damaged"),
    (lambda b: b[:4] + b"XXXX" + b[8:], "identifier TFL3"),
    (lambda b: b[:3], "identifier TFL3"),
], ids=["truncated", "identifier", "tiny"])
def test_a_damaged_file_is_one_compile_error_naming_it(mutate, message):
    data = mutate(Path(_path("kws_ref_model.tflite")).read_bytes())
    with pytest.raises(CompileError, match=message) as e:
        compile_tflite(data, name="kws.tflite")
    assert "kws.tflite" in str(e.value)


def test_an_unmapped_operator_is_refused_by_name_and_count():
    b = TFLiteBuilder()
    x, y, z, w = (b.tensor(n, "int8", (1, 4, 4, 2), scale=0.1, zero_point=0) for n in "xyzw")
    b.operator("RSQRT", [x], [y])
    b.operator("ARG_MAX", [y], [z])
    b.operator("RSQRT", [z], [w])
    b.set_io([x], [w])
    with pytest.raises(CompileError, match=r"operators microflat does not map: ARG_MAX \(1x\), RSQRT \(2x\)"):
        compile_tflite(b.to_bytes())


def _litert(data: bytes, inputs, resolver: str = "BUILTIN_REF"):
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    lite = LiteRT(model_content=data, experimental_op_resolver_type=getattr(OpResolverType, resolver))
    lite.allocate_tensors()
    for d, x in zip(lite.get_input_details(), inputs):
        lite.set_tensor(d["index"], x)
    lite.invoke()
    return lite.get_tensor(lite.get_output_details()[0]["index"])


def _litert_builtin(data: bytes, inputs):
    return _litert(data, inputs, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")


def _tflm(data: bytes, inputs):
    from tflite_micro.python.tflite_micro import runtime

    tflm = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    for i, x in enumerate(inputs):
        tflm.set_input(x, i)
    tflm.invoke()
    return tflm.get_output(0)


@pytest.mark.parametrize("which", ["speed", "small"])
@pytest.mark.parametrize("op", ["SUB", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "MEAN", "REDUCE_MAX", "SUM",
                                "TRANSPOSE", "BATCH_MATMUL", "TRANSPOSE_CONV", "RESIZE_NEAREST_NEIGHBOR",
                                "RESIZE_BILINEAR", "STRIDED_SLICE", "GATHER"])
def test_a_single_op_tflite_equals_tflite_on_both_runtimes(op, which):
    """benchmarks/single_ops.py's .tflite of one op (realistic and small shapes, broadcasting where the op has
    it). SUM against TFLite Micro: LiteRT's reference SUM reads int8 as uint8 (test_litert_ops.py)."""
    pair = single_ops.build(op, which)
    mfb = compile_tflite(pair.tflite)
    want = (_tflm if op == "SUM" else _litert)(pair.tflite, pair.inputs)
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(Interpreter(mfb, backend=backend).invoke(*pair.inputs)[0], want)


def _padded_product_model():
    """PAD (H, W by 1), MUL of the padded tensor by itself, CONCATENATION of the two on channels, int8."""
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (1, 4, 5, 3), scale=0.05, zero_point=-7)
    p = b.tensor("p", "int8", (1, 6, 7, 3), scale=0.05, zero_point=-7)
    m = b.tensor("m", "int8", (1, 6, 7, 3), scale=0.05, zero_point=-7)  # TFLite's CONCATENATION needs it
    y = b.tensor("y", "int8", (1, 6, 7, 6), scale=0.05, zero_point=-7)
    paddings = b.constant("paddings", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    b.operator("PAD", [x, paddings], [p], "PadOptions")
    b.operator("MUL", [p, p], [m], "MulOptions", dict(fused_activation_function=1))
    b.operator("CONCATENATION", [p, m], [y], "ConcatenationOptions", dict(axis=-1))
    b.set_io([x], [y])
    return b.to_bytes()


def test_pad_mul_and_concatenation_equal_tflite_micro_and_litert():
    """TFLite's int8 CONCATENATION copies its inputs, which must have the output's quantization (TFLite Micro's
    Prepare refuses others); PAD fills with the output's zero point; MUL with a fused ReLU."""
    data = _padded_product_model()
    mfb = compile_tflite(data)
    rng = np.random.default_rng(3)
    for x in [rng.integers(-128, 128, (1, 4, 5, 3), dtype=np.int8), np.full((1, 4, 5, 3), 127, np.int8)]:
        want = _tflm(data, [x])
        np.testing.assert_array_equal(_litert(data, [x]), want)
        for backend in ("numba", "c"):
            np.testing.assert_array_equal(Interpreter(mfb, backend=backend).invoke(x)[0], want)


FIXED_OUTPUTS = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}  # TFLite's int8 rule


@settings(max_examples=120)
@given(op=st.sampled_from(["LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "ELU", "GELU"]),
       scale=st.floats(2.0**-10, 4.0, width=32), zero_point=st.integers(-128, 127),
       output_scale=st.floats(2.0**-8, 0.5, width=32), output_zp=st.integers(-128, 127),
       alpha=st.floats(0.0, 2.0, width=32), approximate=st.booleans())
def test_int8_table_activations_equal_tflite_on_every_input(op, scale, zero_point, output_scale, output_zp, alpha,
                                                            approximate):
    """TFLite Micro's LOGISTIC and TANH (gemmlowp fixed point), RELU and LEAKY_RELU (rescaled by
    MultiplyByQuantizedMultiplier), RELU6 (clamped, not rescaled), HARD_SWISH (int16 fixed point) and ELU (a
    float32 lookup table), and LiteRT's GELU (a float32 lookup table, exact or tanh-approximated; TFLite Micro
    has no GELU), built into the table microflat runs (compiler/tflite_tables.py), on all 256 int8 inputs at a
    drawn quantization (and alpha). Compiled with reference="litert": LiteRT's reference kernels' bytes, whose
    LOGISTIC and TANH are float32 tables and whose RELU6 rescales as RELU does (ELU: LiteRT's built-in kernel, as
    its reference resolver has none)."""
    output_scale, output_zp = FIXED_OUTPUTS.get(op, (output_scale, output_zp))
    # HardSwishPrepare refuses an output scale below s_in / 128 (its output multiplier's exponent must be <= 0)
    assume(op != "HARD_SWISH" or np.float32(output_scale) > np.float32(scale) / 128)
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (1, 256), scale=scale, zero_point=zero_point)
    y = b.tensor("y", "int8", (1, 256), scale=output_scale, zero_point=output_zp)
    options = {"LEAKY_RELU": ("LeakyReluOptions", dict(alpha=alpha)), "HARD_SWISH": ("HardSwishOptions", None),
               "GELU": ("GeluOptions", dict(approximate=int(approximate)))}
    b.operator(op, [x], [y], *options.get(op, ()))
    b.set_io([x], [y])
    data = b.to_bytes()
    every = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    wants = {"tflite-micro": (_litert if op == "GELU" else _tflm)(data, [every]),
             "litert": (_litert_builtin if op == "ELU" else _litert)(data, [every])}
    for reference, want in wants.items():
        mfb = compile_tflite(data, reference=reference)
        for backend in ("numba", "c"):
            np.testing.assert_array_equal(Interpreter(mfb, backend=backend).invoke(every)[0], want)


def test_a_hard_swish_whose_output_scale_tflite_refuses_is_refused():
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (1, 8), scale=1.0, zero_point=0)
    y = b.tensor("y", "int8", (1, 8), scale=0.001, zero_point=0)
    b.operator("HARD_SWISH", [x], [y], "HardSwishOptions")
    b.set_io([x], [y])
    with pytest.raises(CompileError, match="HARD_SWISH.*'y'.*output scale"):
        compile_tflite(b.to_bytes())


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_tflite_gives_a_file_or_one_compile_error(data):
    """The importer reads untrusted files: flipped bytes anywhere in kws's .tflite (its tables, vectors and
    buffers), or the file cut short, give either a .mfb both loaders accept or a CompileError, never another
    exception."""
    original = bytearray(Path(_path("kws_ref_model.tflite")).read_bytes())
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[:data.draw(st.integers(0, len(damaged)))]
    try:
        mfb = compile_tflite(bytes(damaged))
    except CompileError:
        return
    load_bytes(mfb)


def _out_size(size, kernel, stride, dilation, padding):
    """TFLite's output size (ComputeOutSize): SAME ceil(in / stride), VALID ceil((in - dilated + 1) / stride)."""
    dilated = (kernel - 1) * dilation + 1
    return -(-size // stride) if padding == "SAME" else -(-(size - dilated + 1) // stride)


@st.composite
def layer_cases(draw):
    """One CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED or pool .tflite at drawn options and quantization; the
    weights int8, or INT4 (TFLite's packed 4-bit type: two values a byte in the file)."""
    kind = draw(st.sampled_from(["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
                                 "MAX_POOL_2D"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    int4 = draw(st.booleans())

    def weights(b, shape, **quant):
        if int4:
            return b.constant_int4("w", rng.integers(-8, 8, shape).astype(np.int8), **quant)
        return b.constant("w", rng.integers(-127, 128, shape, dtype=np.int8), **quant)

    act = draw(st.sampled_from([0, 1, 2, 3]))  # NONE, RELU, RELU_N1_TO_1, RELU6
    s_in, zp_in = draw(st.sampled_from([0.02, 0.1, 0.5])), draw(st.integers(-128, 127))
    s_out, zp_out = draw(st.sampled_from([0.01, 0.05, 0.3])), draw(st.integers(-128, 127))
    b = TFLiteBuilder()
    if kind == "FULLY_CONNECTED":
        n_in, n_out = draw(st.integers(1, 40)), draw(st.integers(1, 12))
        x = b.tensor("x", "int8", (1, n_in), scale=s_in, zero_point=zp_in)
        y = b.tensor("y", "int8", (1, n_out), scale=s_out, zero_point=zp_out)
        per_channel = not int4 and draw(st.booleans())  # TFLite Micro's FC takes no per-channel INT4 weight
        scale = rng.uniform(0.002, 0.02, n_out).astype(np.float32) if per_channel else 0.01
        w = weights(b, (n_out, n_in), scale=scale, zero_point=0)
        bias = b.constant("b", rng.integers(-3000, 3000, n_out, dtype=np.int32), scale=s_in * np.float32(scale))
        b.operator(kind, [x, w, bias], [y], "FullyConnectedOptions", dict(fused_activation_function=act))
        b.set_io([x], [y])
        return b.to_bytes(), (1, n_in)
    h, wd, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = (1, 1) if kind.endswith("POOL_2D") else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    oh, ow = _out_size(h, kh, sh, dh, padding), _out_size(wd, kw, sw, dw, padding)
    assume(oh >= 1 and ow >= 1)
    x = b.tensor("x", "int8", (1, h, wd, c), scale=s_in, zero_point=zp_in)
    geometry = dict(padding=PADDING[padding], stride_h=sh, stride_w=sw, fused_activation_function=act)
    if kind.endswith("POOL_2D"):
        y = b.tensor("y", "int8", (1, oh, ow, c), scale=s_in, zero_point=zp_in)  # TFLite's pools keep it
        b.operator(kind, [x], [y], "Pool2DOptions", dict(geometry, filter_height=kh, filter_width=kw))
    else:
        multiplier = draw(st.integers(1, 2)) if kind == "DEPTHWISE_CONV_2D" else 1
        out_c = c * multiplier if kind == "DEPTHWISE_CONV_2D" else draw(st.integers(1, 6))
        shape = (1, kh, kw, out_c) if kind == "DEPTHWISE_CONV_2D" else (out_c, kh, kw, c)
        scales = rng.uniform(0.002, 0.02, out_c).astype(np.float32)
        w = weights(b, shape, scale=scales, zero_point=0, axis=3 if kind == "DEPTHWISE_CONV_2D" else 0)
        bias = b.constant("b", rng.integers(-3000, 3000, out_c, dtype=np.int32), scale=s_in * scales)
        y = b.tensor("y", "int8", (1, oh, ow, out_c), scale=s_out, zero_point=zp_out)
        options = dict(geometry, dilation_h_factor=dh, dilation_w_factor=dw)
        if kind == "DEPTHWISE_CONV_2D":
            options["depth_multiplier"] = multiplier
        b.operator(kind, [x, w, bias], [y], "DepthwiseConv2DOptions" if kind == "DEPTHWISE_CONV_2D" else
                   "Conv2DOptions", options)
    b.set_io([x], [y])
    return b.to_bytes(), (1, h, wd, c)


@settings(max_examples=150, deadline=None)
@given(case=layer_cases(), seed=st.integers(0, 2**32 - 1))
def test_a_layer_at_drawn_options_equals_tflite_micro_on_both_runtimes(case, seed):
    """Padding SAME and VALID (odd totals too), strides, dilations, depth multipliers, per-channel weight scales,
    every fused activation, the pools' filters, INT4 weights: the importer's geometry, multipliers and unpacking
    are TFLite's. Compiled with reference="litert", LiteRT's reference kernels' bytes."""
    data, shape = case
    x = np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)
    for reference, run in (("tflite-micro", _tflm), ("litert", _litert)):
        want = run(data, [x])
        mfb = compile_tflite(data, reference=reference)
        for backend in ("numba", "c"):
            np.testing.assert_array_equal(Interpreter(mfb, backend=backend).invoke(x)[0], want)


def test_the_cli_compiles_for_either_reference_and_refuses_the_flag_on_a_pytorch_model(tmp_path, compiled_litert):
    """`microflat compile MODEL.tflite --reference litert` writes compile_tflite(..., reference="litert")'s bytes;
    --reference on a .pt2 is one line naming the file, and nothing is written."""
    name = "kws_ref_model.tflite"
    out = tmp_path / "kws.mfb"
    r = subprocess.run([str(SCRIPT), "compile", _path(name), "-o", str(out), "--reference", "litert"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == compiled_litert[name]
    pt2 = tmp_path / "model.pt2"
    pt2.write_bytes(b"not read")
    r = subprocess.run([str(SCRIPT), "compile", str(pt2), "-o", str(tmp_path / "m.mfb"), "--reference", "litert"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "--reference applies to a .tflite, not" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.mfb").exists()


def test_the_cli_runs_a_model_of_two_inputs_and_two_outputs(tmp_path):
    """A .tflite with inputs a, b and outputs a + b, max(a, b): `microflat run` takes one --input per input (or
    one .npz of them by name) and writes both outputs to a .npz by name."""
    b = TFLiteBuilder()
    a = b.tensor("a", "int8", (1, 3, 4, 2), scale=0.1, zero_point=3)
    c = b.tensor("b", "int8", (1, 3, 4, 2), scale=0.1, zero_point=3)
    total = b.tensor("total", "int8", (1, 3, 4, 2), scale=0.2, zero_point=-5)
    biggest = b.tensor("biggest", "int8", (1, 3, 4, 2), scale=0.1, zero_point=3)
    b.operator("ADD", [a, c], [total], "AddOptions")
    b.operator("MAXIMUM", [a, c], [biggest], "MaximumMinimumOptions")
    b.set_io([a, c], [total, biggest])
    model = tmp_path / "two.mfb"
    model.write_bytes(compile_tflite(b.to_bytes()))
    rng = np.random.default_rng(0)
    xa, xb = (rng.integers(-128, 128, (1, 3, 4, 2), dtype=np.int8) for _ in range(2))
    np.save(tmp_path / "a.npy", xa)
    np.save(tmp_path / "b.npy", xb)
    np.savez(tmp_path / "ab.npz", b=xb, a=xa)
    want = Interpreter(str(model)).invoke(xa, xb)
    for inputs in (["--input", str(tmp_path / "a.npy"), "--input", str(tmp_path / "b.npy")],
                   ["--input", str(tmp_path / "ab.npz")]):
        out = tmp_path / "y.npz"
        r = subprocess.run([str(SCRIPT), "run", str(model), *inputs, "--raw", "--layout", "nhwc", "--output", str(out)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with np.load(out) as got:
            assert sorted(got.files) == ["biggest", "total"]
            np.testing.assert_array_equal(got["total"], want[0])
            np.testing.assert_array_equal(got["biggest"], want[1])
    r = subprocess.run([str(SCRIPT), "run", str(model), "--input", str(tmp_path / "a.npy"), "--raw"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "takes 2 input(s) (a, b)" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([str(SCRIPT), "run", str(model), "--input", str(tmp_path / "ab.npz"), "--output",
                        str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert r.returncode != 0 and "must name a .npz" in r.stderr and not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("path, reference", [("dsp", "tflite-micro"), ("portable", "tflite-micro"),
                                             ("dsp", "litert")])
def test_an_imported_model_runs_bit_exactly_on_a_cortex_m4(path, reference, compiled, compiled_litert, tmp_path):
    """kws (DS-CNN) compiled from its .tflite, exported as C and run under QEMU on the mps2-an386 (Cortex-M4):
    the firmware's outputs are the Python runtime's, which are TFLite Micro's, or, compiled with
    reference="litert", LiteRT's reference kernels' (above)."""
    from firmware import assert_report_matches, build_firmware, exported, run_firmware

    data = (compiled if reference == "tflite-micro" else compiled_litert)["kws_ref_model.tflite"]
    extra = "-DMICROFLAT_PORTABLE" if path == "portable" else ""
    result = run_firmware(build_firmware(exported(data, tmp_path / "model"), tmp_path / "build", extra=extra))
    assert_report_matches(result, data)
    assert f"kernel path {path}\n" in result.stderr


@st.composite
def strided_slices(draw):
    """A STRIDED_SLICE .tflite: rank 1..4, negative and out-of-range begin / end (clamped), negative strides,
    begin / end / shrink masks; the output shape numpy's basic indexing gives (never empty)."""
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    begin_mask, end_mask = draw(st.integers(0, 2**rank - 1)), draw(st.integers(0, 2**rank - 1))
    shrink = draw(st.integers(0, 2**rank - 1)) if draw(st.booleans()) else 0
    begin, end, strides, index = [], [], [], []
    for d, size in enumerate(shape):
        if shrink >> d & 1:
            begin.append(draw(st.integers(-size, size - 1)))
            end.append(draw(st.integers(-8, 8)))
            strides.append(1)
            index.append(0 if begin_mask >> d & 1 else begin[-1])
        else:
            begin.append(draw(st.integers(-8, 8)))
            end.append(draw(st.integers(-8, 8)))
            strides.append(draw(st.sampled_from([-3, -2, -1, 1, 2, 3])))
            index.append(slice(None if begin_mask >> d & 1 else begin[-1], None if end_mask >> d & 1 else end[-1],
                               strides[-1]))
    out = np.empty(shape)[tuple(index)].shape
    assume(0 not in out and len(out) >= 1)  # microflat has no rank-0 tensors; TFLite refuses an empty slice
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", shape, scale=0.1, zero_point=2)
    y = b.tensor("y", "int8", out, scale=0.1, zero_point=2)
    consts = [b.constant(name, np.array(v, np.int32)) for name, v in (("b", begin), ("e", end), ("s", strides))]
    b.operator("STRIDED_SLICE", [x, *consts], [y], "StridedSliceOptions",
               dict(begin_mask=begin_mask, end_mask=end_mask, shrink_axis_mask=shrink))
    b.set_io([x], [y])
    return b.to_bytes(), shape, tuple(index)


@settings(max_examples=80, deadline=None)
@given(case=strided_slices())
def test_a_strided_slice_at_drawn_bounds_and_masks_equals_tflite_and_numpy(case):
    data, shape, index = case
    x = np.arange(np.prod(shape), dtype=np.int64).reshape(shape).astype(np.int8)
    want = _tflm(data, [x])
    np.testing.assert_array_equal(want, x[index].reshape(want.shape))
    np.testing.assert_array_equal(_litert(data, [x]), want)  # a copy: LiteRT's reference gives the same bytes
    mfb = compile_tflite(data)
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(Interpreter(mfb, backend=backend).invoke(x)[0], want)


def _split_family(op: str):
    """A .tflite of one SLICE, SPLIT, SPLIT_V, UNPACK or PACK on [1, 4, 6, 3] int8 tensors; (bytes, input count)."""
    q = dict(scale=0.1, zero_point=3)
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (1, 4, 6, 3), **q)
    ints = lambda name, v: b.constant(name, np.array(v, np.int32))  # noqa: E731
    if op == "SLICE":  # size -1: to the end of the dimension
        y = [b.tensor("y", "int8", (1, 2, 4, 2), **q)]
        b.operator(op, [x, ints("begin", [0, 1, 2, 1]), ints("size", [1, 2, -1, 2])], y, "SliceOptions")
    elif op == "SPLIT":
        y = [b.tensor(f"y{k}", "int8", (1, 4, 2, 3), **q) for k in range(3)]
        b.operator(op, [ints("axis", 2), x], y, "SplitOptions", dict(num_splits=3))
    elif op == "SPLIT_V":
        y = [b.tensor("y0", "int8", (1, 1, 6, 3), **q), b.tensor("y1", "int8", (1, 3, 6, 3), **q)]
        b.operator(op, [x, ints("sizes", [1, 3]), ints("axis", -3)], y, "SplitVOptions", dict(num_splits=2))
    elif op == "UNPACK":
        y = [b.tensor(f"y{k}", "int8", (1, 4, 6), **q) for k in range(3)]
        b.operator(op, [x], y, "UnpackOptions", dict(num=3, axis=3))
    else:
        x2 = b.tensor("x2", "int8", (1, 4, 6, 3), **q)
        y = [b.tensor("y", "int8", (1, 4, 2, 6, 3), **q)]
        b.operator(op, [x, x2], y, "PackOptions", dict(values_count=2, axis=-3))
        b.set_io([x, x2], y)
        return b.to_bytes(), 2
    b.set_io([x], y)
    return b.to_bytes(), 1


@pytest.mark.parametrize("op", ["SLICE", "SPLIT", "SPLIT_V", "UNPACK", "PACK"])
def test_slice_split_unpack_and_pack_equal_tflite_micro_and_litert_on_both_runtimes(op):
    from tflite_micro.python.tflite_micro import runtime

    data, count = _split_family(op)
    rng = np.random.default_rng(4)
    xs = [rng.integers(-128, 128, (1, 4, 6, 3), dtype=np.int8) for _ in range(count)]
    tflm = runtime.Interpreter.from_bytes(data, arena_size=1 << 18)
    for i, x in enumerate(xs):
        tflm.set_input(x, i)
    tflm.invoke()
    mfb = compile_tflite(data)
    outputs = len(load_bytes(mfb).outputs)
    want = [tflm.get_output(k) for k in range(outputs)]
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    lite = LiteRT(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    lite.allocate_tensors()
    for d, x in zip(lite.get_input_details(), xs):
        lite.set_tensor(d["index"], x)
    lite.invoke()
    for d, w in zip(lite.get_output_details(), want, strict=True):  # copies: LiteRT's reference agrees
        np.testing.assert_array_equal(lite.get_tensor(d["index"]), w)
    for backend in ("numba", "c"):
        got = Interpreter(mfb, backend=backend).invoke(*xs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_a_slice_whose_size_is_not_its_output_shape_is_refused():
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", (1, 4, 6, 3), scale=0.1, zero_point=0)
    y = b.tensor("y", "int8", (1, 2, 3, 2), scale=0.1, zero_point=0)
    b.operator("SLICE", [x, b.constant("begin", np.array([0, 1, 2, 1], np.int32)),
                         b.constant("size", np.array([1, 2, -1, 2], np.int32))], [y], "SliceOptions")
    b.set_io([x], [y])
    with pytest.raises(CompileError, match="do not give its shape"):
        compile_tflite(b.to_bytes())
