"""SVDF from PyTorch (compiler/streaming.py's layer and custom ops): its float semantics, its compilation to the SVDF
operator (compiler/lower.py, ir_ops.py, quantize.py), and a streaming keyword spotter built with it.

What can fail, and is checked:
  - the float layer: streaming mode fed frame by frame against whole-window mode (two different computations: a
    shifted state, a causal convolution), and both against a float64 numpy loop of TFLite's SVDF written here;
    torch.export keeps each call as one node; gradients flow in both modes.
  - the compiled layer: a streaming file fed frame by frame gives, on each frame, the bytes of the whole-window
    file (one SVDF per frame chained through plain state tensors) on both runtimes, with the quantization fixed
    identically (fake quantization of the input and output, or the same calibration frames); reset_state
    restarts the stream; the compiled model stays within a tolerance derived from its scales of the float model.
  - the keyword spotter (SVDF, ReLU, SVDF, ReLU, Linear) streamed frame by frame equals its whole-window file.
"""

import numpy as np
import pytest
import torch
from torch import nn

from microflat.compiler import compile_model
from microflat.compiler.streaming import SVDF, SvdfKeywordSpotter, reset_states, set_streaming
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.errors import CompileError

pytestmark = pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`")

INPUTS, UNITS, MEMORY = 6, 4, 5
FRAMES = 24
S, Z = 0.03, -4          # the frames' quantization
S_OUT, Z_OUT = 0.02, 3   # the output's
# Streaming against whole-window mode in float32: the same rank * memory products per output summed in another
# order (a shifted state against a causal convolution). Measured over the cases below and 10 seeds: 2.4e-7 (either
# mode against the float64 reference too), for outputs of magnitude about 1. Asserted: 1e-5.
FLOAT_ATOL = 1e-5


def tflite_svdf(frames, weights_feature, weights_time, bias, rank):
    """TFLite's float SVDF (reference_ops::EvalFloatSVDF) step by step in float64: frames [T, B, I] -> [T, B, units].
    Per step: shift each filter's state by one frame, the new feature activations into the newest slot, then each
    filter's time dot product, the sum over the unit's rank filters, the bias."""
    wf, wt = np.asarray(weights_feature, np.float64), np.asarray(weights_time, np.float64)
    filters, memory = wt.shape
    state = np.zeros((frames.shape[1], filters, memory))
    out = []
    for x in np.asarray(frames, np.float64):
        state[:, :, :-1] = state[:, :, 1:].copy()
        state[:, :, -1] = x @ wf.T
        y = (state * wt).sum(axis=2).reshape(len(x), filters // rank, rank).sum(axis=2)
        out.append(y if bias is None else y + np.asarray(bias, np.float64))
    return np.stack(out)


def _frames(n, batch=1, seed=0):
    return torch.randn(n, batch, INPUTS, generator=torch.Generator().manual_seed(seed))


def _layers(rank, bias, seed=0, batch=1):
    """A whole-window layer and its streaming twin with the same weights."""
    torch.manual_seed(seed)
    window = SVDF(INPUTS, UNITS, rank, MEMORY, bias).eval()
    stream = SVDF(INPUTS, UNITS, rank, MEMORY, bias, streaming=True, batch_size=batch).eval()
    stream.load_state_dict(window.state_dict())
    return window, stream


CASES = [(1, True), (2, True), (2, False)]
IDS = [f"rank{r}-{'bias' if b else 'nobias'}" for r, b in CASES]


# --- the float layer ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rank, bias", CASES, ids=IDS)
def test_the_layer_streamed_frame_by_frame_equals_it_on_the_whole_window(rank, bias):
    window, stream = _layers(rank, bias, batch=2)
    frames = _frames(FRAMES, batch=2)
    with torch.no_grad():
        whole = window(frames.transpose(0, 1))  # [2, T, units]
        streamed = torch.stack([stream(f) for f in frames], 1)
    assert whole.shape == streamed.shape == (2, FRAMES, UNITS)
    np.testing.assert_allclose(streamed.numpy(), whole.numpy(), rtol=0, atol=FLOAT_ATOL)


@pytest.mark.parametrize("rank, bias", CASES, ids=IDS)
def test_the_layer_equals_a_float64_reference_of_tflites_svdf(rank, bias):
    window, stream = _layers(rank, bias, batch=2)
    frames = _frames(FRAMES, batch=2, seed=1)
    want = tflite_svdf(frames.numpy(), window.weight_feature.detach(), window.weight_time.detach(),
                       None if window.bias is None else window.bias.detach(), rank)
    with torch.no_grad():
        streamed = torch.stack([stream(f) for f in frames])
        np.testing.assert_allclose(streamed.numpy(), want, rtol=0, atol=FLOAT_ATOL)
        np.testing.assert_allclose(window(frames.transpose(0, 1)).transpose(0, 1).numpy(), want, rtol=0,
                                   atol=FLOAT_ATOL)
        # in float64 only the summation order differs from the reference's
        window64, stream64 = window.double(), stream.double()
        stream64.reset_state()
        f64 = frames.double()
        np.testing.assert_allclose(torch.stack([stream64(f) for f in f64]).numpy(), want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(window64(f64.transpose(0, 1)).transpose(0, 1).numpy(), want, rtol=0, atol=1e-12)


def test_reset_state_restarts_the_float_stream():
    _, stream = _layers(2, True)
    frames = _frames(6, seed=2)
    with torch.no_grad():
        first = [stream(f) for f in frames]
        stream.reset_state()
        again = [stream(f) for f in frames[:3]]
    for a, b in zip(again, first):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_both_modes_train_and_export_as_one_node():
    window, stream = _layers(2, True)
    x = _frames(FRAMES, seed=3).transpose(0, 1).requires_grad_(True)
    window.train()
    window(x).square().sum().backward()
    for p in (x, window.weight_feature, window.weight_time, window.bias):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    args = [t.detach().double().requires_grad_(True) for t in (x[:, :4], window.weight_feature, window.weight_time,
                                                               window.bias)]
    assert torch.autograd.gradcheck(lambda *a: torch.ops.microflat.svdf_window(*a, 2), args)
    state = torch.randn(1, UNITS * 2 * MEMORY, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: torch.ops.microflat.svdf_step(*a, 2), (args[0][:, 0], *args[1:], state))

    for layer, example, op in ((window.eval(), x[:1].detach(), "microflat.svdf_window.default"),
                               (stream, x[0, :1].detach(), "microflat.svdf_step.default")):
        ep = torch.export.export(layer, (example,), strict=False)
        calls = [str(n.target) for n in ep.graph.nodes if n.op == "call_function" and "microflat" in str(n.target)]
        assert calls == [op]
    assert set(window.state_dict()) == set(stream.state_dict())  # the state buffer is not persistent


# --- the compiled layer ------------------------------------------------------------------------------------------

def fq(x, scale, zero_point):
    return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, -128, 127)


class Quantized(nn.Module):
    """The layer with its input (and, with fixed_output, its output) fake-quantized: what a QAT model carries."""

    def __init__(self, layer, fixed_output=True):
        super().__init__()
        self.layer, self.fixed_output = layer, fixed_output

    def forward(self, x):
        y = self.layer(fq(x, S, Z))
        return fq(y, S_OUT, Z_OUT) if self.fixed_output else y


def _compile_pair(window, stream, frames, wrap):
    """(streaming file, whole-window file), both calibrated on the same frames: the stream frame after frame, the
    window as one sequence [1, T, I]."""
    stream_file = compile_model(wrap(stream).eval(), (frames[0],), [frames[:, 0]], progress=False)
    sequence = frames.transpose(0, 1)
    window_file = compile_model(wrap(window).eval(), (sequence,), [sequence], progress=False)
    return stream_file, window_file


def _int8(frames):
    return np.clip(np.round(frames.numpy() / S) + Z, -128, 127).astype(np.int8)


@pytest.mark.parametrize("fixed_output", [True, False], ids=["fake-quantized-output", "calibrated-output"])
@pytest.mark.parametrize("rank, bias", CASES, ids=IDS)
def test_a_compiled_stream_fed_frame_by_frame_equals_the_compiled_window(rank, bias, fixed_output):
    window, stream = _layers(rank, bias, seed=4)
    frames = _frames(FRAMES, seed=5)
    cs, cw = _compile_pair(window, stream, frames, lambda m: Quantized(m, fixed_output))

    loaded = load_bytes(cs.data)
    names = [loaded.opcode_name(op.opcode) for op in loaded.operators]
    assert names == ["SVDF", "ASSIGN_VARIABLE"]
    state = loaded.tensors[loaded.variables[0]]
    assert state.dtype == "int16" and state.zero_point == 0 and state.shape == (1, UNITS * rank * MEMORY)
    assert list(loaded.operators[0].inputs)[4] == state.index  # the op reads the variable
    windowed = load_bytes(cw.data)
    assert [windowed.opcode_name(op.opcode) for op in windowed.operators].count("SVDF") == FRAMES
    assert not windowed.variables
    # the same quantization in both files, tied across the window's frames
    svdf_nodes = [n for n in cw.graph.nodes if n.op == "svdf"]
    stream_node = next(n for n in cs.graph.nodes if n.op == "svdf")
    for n in svdf_nodes:
        assert (n.output.scale, n.output.zero_point) == (stream_node.output.scale, stream_node.output.zero_point)
        assert n.extra_outputs[0].scale == stream_node.extra_outputs[0].scale
    if fixed_output:
        assert (np.float32(stream_node.output.scale), stream_node.output.zero_point) == (np.float32(S_OUT), Z_OUT)

    q = _int8(frames)
    for backend in ("numba", "c"):
        want = Interpreter(cw.data, backend=backend).invoke(q.transpose(1, 0, 2))[0][0]  # [T, units]
        it = Interpreter(cs.data, backend=backend)
        got = np.concatenate([it.invoke(f)[0] for f in q])
        np.testing.assert_array_equal(got, want, err_msg=backend)
        it.reset_state()  # restarts the stream; and a batch of frames is the same stream, from the reset
        np.testing.assert_array_equal(np.concatenate([it.invoke(f)[0] for f in q[:3]]), want[:3],
                                      err_msg=f"{backend}, after reset")
        it.reset_state()
        np.testing.assert_array_equal(it.invoke(q[:, 0])[0], want, err_msg=f"{backend}, batch")


def test_the_compiled_stream_is_within_a_derived_tolerance_of_the_float_layer():
    """The float layer calibrated on the frames it then runs (so nothing clips), against the dequantized outputs.

    The error bound, from the file's scales, per frame t and unit u. With x̂, â, ŵ the quantized values and e_x <=
    s_in / 2 the input's rounding:
      feature activation of filter f:  |â - a| <= e_a = sum_k |ŵf[f, k]| e_x + s_wf / 2 sum_k |x_k| + s_state
        (the weights' rounding, then the requantization's: half a step, and half for its fixed-point multiplier)
      output:  |ŷ - y| <= sum_{f of u, j} (|ŵt[f, j]| e_a[f] + s_wt / 2 |a[f, j]|) + s_state s_wt / 2 + 1.5 s_out
        (the time weights' and the bias's rounding; the output's rounding, multiplier and grid edge, 1/2 step each)
    Measured over 20 seeds: the largest error is 0.26 of its bound (1.5 output steps)."""
    torch.manual_seed(6)
    model = SVDF(INPUTS, UNITS, 2, MEMORY, streaming=True).eval()
    frames = _frames(FRAMES, seed=7)
    cm = compile_model(model, (frames[0],), [frames[:, 0]], progress=False)
    model.reset_state()
    with torch.no_grad():
        want = np.concatenate([model(f).numpy() for f in frames]).astype(np.float64)

    node = next(n for n in cm.graph.nodes if n.op == "svdf")
    q = node.attrs["quantized"]
    s_in, s_out, s_state = node.inputs[0].scale, node.output.scale, node.extra_outputs[0].scale
    wf_hat = q["weight_feature"] * q["feature_scale"]
    wt_hat = np.abs(q["weight_time"] * q["time_scale"])
    x = frames[:, 0].numpy().astype(np.float64)
    a = x @ model.weight_feature.detach().double().numpy().T  # [T, F]
    e_a = np.abs(wf_hat).sum(1) * s_in / 2 + q["feature_scale"] / 2 * np.abs(x).sum(1, keepdims=True) + s_state
    padded_a = np.concatenate([np.zeros((MEMORY - 1, a.shape[1])), np.abs(a)])
    padded_e = np.concatenate([np.zeros((MEMORY - 1, a.shape[1])), e_a])
    bound = np.empty_like(want)
    for t in range(FRAMES):
        slots_a, slots_e = padded_a[t:t + MEMORY].T, padded_e[t:t + MEMORY].T  # [F, M], oldest first
        per_filter = (wt_hat * slots_e + q["time_scale"] / 2 * slots_a).sum(1)
        bound[t] = per_filter.reshape(UNITS, 2).sum(1) + s_state * q["time_scale"] / 2 + 1.5 * s_out
    for backend in ("numba", "c"):
        got = Interpreter(cm.data, backend=backend).invoke(frames[:, 0].numpy(), dequantize=True)[0]
        error = np.abs(got - want)
        assert (error <= bound).all(), (backend, float((error / bound).max()))


class StateConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = SVDF(INPUTS, UNITS, 1, MEMORY)

    def forward(self, x):
        state = torch.ones(1, UNITS * MEMORY)
        return torch.ops.microflat.svdf_step(x, self.layer.weight_feature, self.layer.weight_time, self.layer.bias,
                                             state, 1)[0]


class StateRead(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = SVDF(INPUTS, UNITS, 1, MEMORY, streaming=True)

    def forward(self, x):
        y = self.layer(x)
        return y, self.layer.state * 2


@pytest.mark.parametrize("model, match", [
    (StateConstant(), "a constant non-zero state"),
    (StateRead(), "reads a recurrent state"),
])
def test_what_svdf_cannot_run_is_refused(model, match):
    with pytest.raises(CompileError, match=match):
        compile_model(model.eval(), (torch.zeros(1, INPUTS),), progress=False)


# --- a streaming keyword spotter -----------------------------------------------------------------------------------

KWS_FEATURES, KWS_CLASSES = 40, 12
S_KWS, S_LOGITS = 0.05, 0.1


class QuantizedSpotter(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.fake_quantize_per_tensor_affine(
            self.model(torch.fake_quantize_per_tensor_affine(x, S_KWS, 0, -128, 127)), S_LOGITS, 0, -128, 127)


def test_a_keyword_spotter_streamed_frame_by_frame_equals_its_whole_window_file():
    """SVDF(40 -> 32, rank 2, memory 10), ReLU, SVDF(32 -> 24, rank 1, memory 8), ReLU, Linear(24 -> 12): trained
    and exported in whole-window mode, switched to streaming and exported again; the streaming file fed 24 random
    frames gives the whole-window file's logits at every frame, on both runtimes, and the float model's to a few
    output steps."""
    torch.manual_seed(8)
    model = SvdfKeywordSpotter(KWS_FEATURES, KWS_CLASSES).eval()
    frames = torch.randn(FRAMES, 1, KWS_FEATURES, generator=torch.Generator().manual_seed(9))
    sequence = frames.transpose(0, 1)
    cw = compile_model(QuantizedSpotter(model).eval(), (sequence,), [sequence], progress=False)
    with torch.no_grad():
        float_logits = model(sequence)[0].numpy()
    set_streaming(model, True)
    cs = compile_model(QuantizedSpotter(model).eval(), (frames[0],), [frames[:, 0]], progress=False)

    loaded = load_bytes(cs.data)
    assert [loaded.opcode_name(op.opcode) for op in loaded.operators] == [
        "SVDF", "RELU", "SVDF", "RELU", "FULLY_CONNECTED", "ASSIGN_VARIABLE", "ASSIGN_VARIABLE"]
    assert sorted(loaded.tensors[i].name for i in loaded.variables) == ["model_svdf1_state", "model_svdf2_state"]

    q = np.clip(np.round(frames.numpy() / S_KWS), -128, 127).astype(np.int8)
    for backend in ("numba", "c"):
        want = Interpreter(cw.data, backend=backend).invoke(q.transpose(1, 0, 2))[0][0]  # [T, classes]
        it = Interpreter(cs.data, backend=backend)
        got = np.concatenate([it.invoke(f)[0] for f in q])
        np.testing.assert_array_equal(got, want, err_msg=backend)
        it.reset_state()
        np.testing.assert_array_equal(np.concatenate([it.invoke(f)[0] for f in q[:4]]), want[:4],
                                      err_msg=f"{backend}, after reset")
    # the float model in streaming mode is its whole-window self; the file follows it (measured over 5 seeds: at
    # most 0.52 of the logits' fixed step; asserted 2)
    reset_states(model)
    with torch.no_grad():
        streamed = torch.cat([model(f) for f in frames]).numpy()
    np.testing.assert_allclose(streamed, float_logits, rtol=0, atol=FLOAT_ATOL)
    assert np.abs(got.astype(np.float64) * S_LOGITS - float_logits).max() <= 2 * S_LOGITS
