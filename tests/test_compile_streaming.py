"""Streaming models compiled from PyTorch: state the model keeps in registered buffers and updates in forward
becomes variables (docs/FORMAT.md, "Variables"), its reads reads of the variable and its update an
ASSIGN_VARIABLE (compiler/lower.py, quantize.py's ties).

The property that can fail: a streaming file fed frame by frame gives the same bytes as the same network compiled
without state and run on each whole window (a ring buffer's last T frames, zeros in front; an LSTM's whole
sequence so far), on both runtimes. Each pair is compiled with the same quantization: the models fix it with
fake quantization (what a QAT model carries), the only free choices being ones both files make alike (per-channel
weight scales, the LSTM cell's 2^p from the same calibration sequence). A state carried wrongly (reset, read
after its update, stored at another scale or shifted by one frame) changes the bytes.
"""

import numpy as np
import pytest
import torch
from torch import nn

from microflat.compiler import compile_model
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.errors import CompileError

# torch.export notes that nn.LSTM assigns its weight list during export: harmless here
pytestmark = pytest.mark.filterwarnings("ignore:The tensor attributes self.*_flat_weights",
                                        r"ignore:`isinstance\(treespec, LeafSpec\)`")

T, C, OUT = 5, 3, 4          # ring buffer: T frames of C features
S, Z = 0.03, -4              # the frames' and the window's quantization
S_OUT, Z_OUT = 0.02, 3       # the output's
S_Y, Z_Y = 1 / 128, 0        # the LSTM's output and h state
HIDDEN = 8


def fq(x, scale, zero_point):
    return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, -128, 127)


class RingHead(nn.Module):
    """The layer over the window: a Linear over the flattened [T, C] window, or a Conv1d spanning it."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.layer = nn.Linear(T * C, OUT) if kind == "linear" else nn.Conv1d(C, OUT, T)

    def forward(self, window):  # [1, T, C]
        y = self.layer(window.flatten(1)) if self.kind == "linear" else self.layer(window.transpose(1, 2))[:, :, 0]
        return fq(y, S_OUT, Z_OUT)


class RingStream(nn.Module):
    """One frame [1, 1, C] in; the ring buffer of the last T frames kept in a registered buffer."""

    def __init__(self, head):
        super().__init__()
        self.head = head
        self.register_buffer("ring", torch.zeros(1, T, C))

    def forward(self, frame):
        window = fq(torch.cat([self.ring[:, 1:], fq(frame, S, Z)], 1), S, Z)
        self.ring.copy_(window)
        return self.head(window)


class RingWindow(nn.Module):
    """The same head on a whole window [1, T, C]."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, window):
        return self.head(fq(window, S, Z))


def _frames(n, seed=0):
    return torch.randn(n, 1, C, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["linear", "conv1d"])
def test_a_ring_buffer_streamed_frame_by_frame_equals_the_window_model(kind):
    torch.manual_seed(1)
    head = RingHead(kind).eval()
    frames = _frames(3 * T)
    stream = compile_model(RingStream(head).eval(), (frames[:1],), [frames], progress=False)
    windows = torch.cat([torch.zeros(T - 1, 1, C), frames]).unfold(0, T, 1)[:, 0].transpose(1, 2)  # [n, T, C]
    whole = compile_model(RingWindow(head).eval(), (windows[:1],), [windows], progress=False)

    loaded = load_bytes(stream.data)
    ring = next(t for t in loaded.tensors if t.name == "ring")
    assert loaded.variables == [ring.index] and (ring.scale_value, ring.zero_point) == (np.float32(S), Z)
    assert [loaded.opcode_name(op.opcode) for op in loaded.operators].count("ASSIGN_VARIABLE") == 1

    q = np.clip(np.round(frames.numpy() / S) + Z, -128, 127).astype(np.int8)  # the int8 frames
    padded = np.concatenate([np.full((T - 1, 1, C), Z, np.int8), q])  # real 0 in front: the variable's reset
    q_windows = np.stack([padded[i:i + T, 0] for i in range(len(q))])
    for backend in ("numba", "c"):
        want = Interpreter(whole.data, backend=backend).invoke(q_windows)[0]
        it = Interpreter(stream.data, backend=backend)
        got = np.concatenate([it.invoke(f[None])[0] for f in q])
        np.testing.assert_array_equal(got, want, err_msg=backend)
        it.reset_state()  # and a batch of frames is the same stream, from the reset
        np.testing.assert_array_equal(it.invoke(q)[0], want, err_msg=f"{backend}, batch")


# The 16-bit streams' quantization (symmetric int16, as QAT's 16-bit fake quantization fixes it): frames and h
S16, S_Y16 = 5.0 / 32767, 1.0 / 32767


def fq16(x, scale):
    return torch.fake_quantize_per_tensor_affine(x, scale, 0, -(2**15), 2**15 - 1)


def fq_frames(x, width):
    return fq(x, S, Z) if width == "int8" else fq16(x, S16)


def fq_output(y, width):
    return fq(y, S_Y, Z_Y) if width == "int8" else fq16(y, S_Y16)


class LstmStream(nn.Module):
    """An LSTM wrapper that keeps (h, c) in buffers: one frame in, its output row out; 8-bit (TFLite's 8x8_16
    LSTM) or 16-bit (TFLite Micro's 16x8: the fake quantization's width is the compiled width)."""

    def __init__(self, lstm, width="int8"):
        super().__init__()
        self.lstm, self.width = lstm, width
        self.register_buffer("h", torch.zeros(1, 1, HIDDEN))
        self.register_buffer("c", torch.zeros(1, 1, HIDDEN))

    def forward(self, frame):
        y, (h, c) = self.lstm(fq_frames(frame, self.width), (self.h, self.c))
        self.h.copy_(h)
        self.c.copy_(c)
        y = fq_output(y, self.width)
        # (STRIDED_SLICE is int8-only: the 16-bit stream takes its one row by a reshape, which has an int16 form)
        return y[:, -1] if self.width == "int8" else y.reshape(1, HIDDEN)


class LstmWhole(nn.Module):
    def __init__(self, lstm, width="int8"):
        super().__init__()
        self.lstm, self.width = lstm, width

    def forward(self, x):
        y, _ = self.lstm(fq_frames(x, self.width))
        return fq_output(y, self.width)


@pytest.mark.parametrize("width", ["int8", "int16"])
def test_an_lstm_with_buffer_states_streamed_frame_by_frame_equals_it_on_the_whole_sequence(width):
    torch.manual_seed(2)
    lstm = nn.LSTM(C, HIDDEN, batch_first=True).eval()
    frames = _frames(24, seed=3)
    stream = compile_model(LstmStream(lstm, width).eval(), (frames[:1],), [frames], progress=False)
    sequence = frames.transpose(0, 1)  # [1, 24, C]: the same frames as one sequence
    whole = compile_model(LstmWhole(lstm, width).eval(), (sequence,), [sequence], progress=False)

    loaded = load_bytes(stream.data)
    states = {loaded.tensors[i].name: loaded.tensors[i] for i in loaded.variables}
    assert sorted(states) == ["c", "h"]
    assert states["c"].dtype == "int16" and states["h"].dtype == width  # h at the LSTM's width
    cell = next(n.extra_outputs[1] for n in whole.graph.nodes if n.op == "lstm")  # c_n
    assert states["c"].scale_value == np.float32(cell.scale)  # both calibrated on the same 24 steps
    lstm_op = next(op for op in loaded.operators if loaded.opcode_name(op.opcode) == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    assert list(lstm_op.inputs[5:7]) == [states["h"].index, states["c"].index]  # the op reads the variables
    assert [loaded.opcode_name(op.opcode) for op in loaded.operators].count("RESHAPE") == (width == "int16")

    if width == "int8":
        q = np.clip(np.round(frames.numpy() / S) + Z, -128, 127).astype(np.int8)
    else:
        q = np.clip(np.round(frames.numpy() / S16), -(2**15), 2**15 - 1).astype(np.int16)
    for backend in ("numba", "c"):
        want = Interpreter(whole.data, backend=backend).invoke(q.transpose(1, 0, 2))[0][0]  # [24, HIDDEN]
        it = Interpreter(stream.data, backend=backend)
        got = np.concatenate([it.invoke(f[None])[0] for f in q])
        np.testing.assert_array_equal(got, want, err_msg=backend)
        it.reset_state()
        np.testing.assert_array_equal(it.invoke(q[:3])[0], want[:3], err_msg=f"{backend}, after reset")


class FloatRing(nn.Module):
    """A ring buffer without fake quantization: calibration must tie the ring's quantization to its new value's."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(T * C, OUT)
        self.register_buffer("ring", torch.zeros(1, T, C))

    def forward(self, frame):
        self.ring.copy_(torch.cat([self.ring[:, 1:], frame], 1))
        return self.fc(self.ring.flatten(1))


def test_a_calibrated_stream_follows_the_float_model_frame_by_frame():
    torch.manual_seed(4)
    model = FloatRing().eval()
    frames = _frames(40, seed=5)
    cm = compile_model(model, (frames[:1],), [frames], progress=False)
    ring = cm.graph.variables[0]
    window = cm.graph.assignments[0][1]
    assert (ring.scale, ring.zero_point) == (window.scale, window.zero_point)
    with torch.no_grad():  # the float model carries its buffer the same way: zeros, then frame after frame
        want = np.concatenate([model(f[None]).numpy() for f in frames])
    np.testing.assert_allclose(cm.simulate(frames, fake_quant=False)[0], want, atol=1e-5)
    s, zp = cm.output_quantization[0]
    for backend in ("numba", "c"):
        got = Interpreter(cm.data, backend=backend).invoke(frames.numpy(), dequantize=True)[0]
        # the window is int8 at the frames' range and the Linear's weights per channel: measured 1.01 output LSBs
        assert np.abs(got - want).max() <= 3 * s, (backend, np.abs(got - want).max() / s)


class NonZeroState(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("ring", torch.ones(1, T, C))

    def forward(self, frame):
        self.ring.copy_(torch.cat([self.ring[:, 1:], frame], 1))
        return self.ring.sum(1)


class OldState(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("last", torch.zeros(1, C))

    def forward(self, frame):
        before = self.last.clone()
        self.last.copy_(frame * 2)
        return before


@pytest.mark.parametrize("model, match", [
    (NonZeroState(), "state buffer 'ring' starts non-zero"),
    (OldState(), "a state buffer is returned as it was"),
])
def test_state_a_runtime_cannot_keep_is_refused(model, match):
    with pytest.raises(CompileError, match=match):
        compile_model(model.eval(), (torch.zeros(1, 1, C) if isinstance(model, NonZeroState) else torch.zeros(1, C),),
                      progress=False)
