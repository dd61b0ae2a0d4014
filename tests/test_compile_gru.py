"""nn.GRU compiled from PyTorch: TFLite has no integer GRU, so the lowering composes it step by step from int8
FULLY_CONNECTED, ADD, MUL, SUB and the LOGISTIC and TANH tables (compiler/lower.py, _Lowering.gru).

What is checked: every form (1 and 2 layers, batch_first either way, with and without bias) compiles, both
runtimes give the same bytes, and the dequantized output stays within a measured tolerance of the float model;
y[:, -1] and h_n[-1] are the last step's state itself (no concatenation); the per-step hidden weights are stored
once; h0 may be a model input or a state buffer; and the float IR is PyTorch's GRU.
"""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from microflat.compiler import compile_model, datasets, training
from microflat.runtime import Interpreter, load_bytes

pytestmark = pytest.mark.filterwarnings("ignore:The tensor attributes self.*_flat_weights",
                                        r"ignore:`isinstance\(treespec, LeafSpec\)`")

STEPS, INPUTS, HIDDEN, CLASSES = 7, 6, 12, 5
# Measured: over the 8 forms below and 32 held-out random sequences each, the largest error of the dequantized
# logits against the float model was 4.1 output LSBs and the mean of each sequence's largest 1.8 LSB (every
# step's gates and state are int8, so the error is about twice the LSTM's). Asserted with room: 8 and 3.
MAX_ERROR_LSB, MEAN_ERROR_LSB = 8.0, 3.0


class Classifier(nn.Module):
    def __init__(self, batch_first=True, layers=1, bias=True):
        super().__init__()
        self.batch_first = batch_first
        self.gru = nn.GRU(INPUTS, HIDDEN, num_layers=layers, batch_first=batch_first, bias=bias)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1] if self.batch_first else y[-1])


def _sequences(n, seed=1):
    return torch.randn(n, STEPS, INPUTS, generator=torch.Generator().manual_seed(seed))


FORMS = list(itertools.product((True, False), (1, 2), (True, False)))


@pytest.mark.parametrize("batch_first, layers, bias", FORMS,
                         ids=[f"{'batch' if b else 'time'}_first-{n}layer-{'bias' if c else 'nobias'}"
                              for b, n, c in FORMS])
def test_gru_classifiers_compile_and_agree_on_both_runtimes(batch_first, layers, bias):
    torch.manual_seed(0)
    model = Classifier(batch_first, layers, bias).eval()
    seqs = _sequences(160)
    as_input = (lambda s: s[None]) if batch_first else (lambda s: s[:, None])
    calib = [seqs[:128]] if batch_first else [as_input(s) for s in seqs[:128]]
    cm = compile_model(model, (as_input(seqs[0]),), calib, progress=False)
    loaded = load_bytes(cm.data)
    opcodes = [loaded.opcode_name(op.opcode) for op in loaded.operators]
    assert "CONCATENATION" not in opcodes or layers == 2  # y[:, -1] is the last state; layer 2 reads the sequence
    hidden_weights = [t for t in loaded.tensors if t.is_const and "weight_hh" in (t.name or "")]
    assert len(hidden_weights) == 3 * layers  # r, z, n: one stored copy each, read by every step
    s, zp = cm.output_quantization[0]
    numba, c = Interpreter(cm.data, backend="numba"), Interpreter(cm.data, backend="c")
    errors = []
    for seq in seqs[128:]:
        x = as_input(seq)
        q = numba.invoke(x.numpy())[0]
        np.testing.assert_array_equal(c.invoke(x.numpy())[0], q)
        with torch.no_grad():
            ref = model(x).numpy()
        errors.append(np.abs((q.astype(np.float64) - zp) * s - ref).max() / s)
    assert max(errors) <= MAX_ERROR_LSB, max(errors)
    assert np.mean(errors) <= MEAN_ERROR_LSB, np.mean(errors)
    # the float IR is PyTorch's GRU, step for step
    np.testing.assert_allclose(cm.simulate(as_input(seqs[0]), fake_quant=False)[0],
                               model(as_input(seqs[0])).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("layers", [1, 2])
def test_an_int16_gru_keeps_every_value_in_16_bits(layers):
    """activations="int16": the per-step slices of the input projections (STRIDED_SLICE) and the second layer's
    input sequence (CONCATENATION) stay int16 like the gates, so no REQUANTIZE takes a value through 8 bits."""
    torch.manual_seed(0)
    model = Classifier(True, layers, True).eval()
    seqs = _sequences(160)
    cm = compile_model(model, (seqs[:1],), [seqs[:128]], activations="int16", progress=False)
    loaded = load_bytes(cm.data)
    opcodes = [loaded.opcode_name(op.opcode) for op in loaded.operators]
    assert "REQUANTIZE" not in opcodes and "STRIDED_SLICE" in opcodes
    assert ("CONCATENATION" in opcodes) == (layers == 2)
    assert {t.dtype for t in loaded.tensors if not t.is_const} == {"int16"}
    s, zp = cm.output_quantization[0]
    numba, c = Interpreter(cm.data, backend="numba"), Interpreter(cm.data, backend="c")
    errors = []
    for seq in seqs[128:]:
        q = numba.invoke(seq[None].numpy())[0]
        np.testing.assert_array_equal(c.invoke(seq[None].numpy())[0], q)
        with torch.no_grad():
            errors.append(np.abs((q.astype(np.float64) - zp) * s - model(seq[None]).numpy()).max())
    # Measured: the largest error of the logits over these 32 sequences was 0.0016 (1 layer) and 0.0021 (2), where
    # the same models with int8 activations reach 0.013 and 0.0063 (output LSB 0.0034): what is left is mostly
    # the int8 weights'. Asserted: 0.005.
    assert max(errors) <= 0.005, max(errors)


class GivenState(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(INPUTS, HIDDEN, batch_first=True)

    def forward(self, x, h0):
        y, h = self.gru(x, h0)
        return y, h[-1]


def test_gru_from_a_given_state_returns_the_sequence_and_h_n():
    torch.manual_seed(1)
    model = GivenState().eval()
    seqs = _sequences(288, seed=2)
    h0s = 0.5 * torch.randn(288, 1, HIDDEN, generator=torch.Generator().manual_seed(3))
    cm = compile_model(model, (seqs[:1], h0s[:1]), [(seqs[:256], h0s[:256])], progress=False)
    runtimes = [Interpreter(cm.data, backend=b) for b in ("numba", "c")]
    errors = []
    for i in range(256, 288):
        y, h = runtimes[0].invoke(seqs[i:i + 1].numpy(), h0s[i:i + 1].numpy(), dequantize=True)
        for got, want in zip(runtimes[1].invoke(seqs[i:i + 1].numpy(), h0s[i:i + 1].numpy(), dequantize=True),
                             (y, h)):
            np.testing.assert_array_equal(got, want)
        with torch.no_grad():
            y_ref, h_ref = model(seqs[i:i + 1], h0s[i:i + 1])
        errors.append((np.abs(y - y_ref.numpy()).max(), np.abs(h - h_ref.numpy()).max()))
    # h_n[-1] is the last step's state, y the states concatenated (requantized to one scale). Every step's gates
    # and state are int8, each with its own calibrated range, so a held-out sequence that leaves one of those
    # ranges is clipped there: measured, the largest error over these 32 sequences was 0.073 (y) and 0.071 (h),
    # the mean 0.020 and 0.013 (h's LSB is ~0.006; with 48 calibration sequences instead of 256 the largest was
    # 0.23). Asserted: 0.12 and 0.03.
    worst, mean = np.max(errors, axis=0), np.mean(errors, axis=0)
    assert worst.max() <= 0.12, worst
    assert mean.max() <= 0.03, mean


class GruStream(nn.Module):
    """A GRU wrapper that keeps h in a buffer: one frame in, its output out."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(INPUTS, HIDDEN, batch_first=True)
        self.register_buffer("h", torch.zeros(1, 1, HIDDEN))

    def forward(self, frame):
        y, h = self.gru(frame, self.h)
        self.h.copy_(h)
        return y[:, -1]


def test_a_gru_with_its_state_in_a_buffer_streams_like_the_float_model():
    torch.manual_seed(4)
    model = GruStream().eval()
    frames = torch.randn(40, 1, INPUTS, generator=torch.Generator().manual_seed(5))
    cm = compile_model(model, (frames[:1],), [frames], progress=False)
    assert len(cm.graph.variables) == 1
    with torch.no_grad():
        model.h.zero_()
        want = np.concatenate([model(f[None]).numpy() for f in frames])  # the buffer carries h across calls
    for backend in ("numba", "c"):
        it = Interpreter(cm.data, backend=backend)
        got = np.concatenate([it.invoke(f[None].numpy(), dequantize=True)[0] for f in frames])
        # the state is int8 at h's range (LSB ~0.005) and fed back 40 times: measured 0.012 at most
        assert np.abs(got - want).max() <= 0.03, backend


class RowClassifier(nn.Module):
    def __init__(self, row, hidden):
        super().__init__()
        self.gru = nn.GRU(row, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1])


def test_int8_gru_on_digits_read_row_by_row_is_within_half_a_point_of_float():
    """The 8x8 digits as 8 steps of 8 pixels (benchmarks/recurrent_accuracy.py runs MNIST too)."""
    torch.manual_seed(0)
    x_train, y_train = datasets.load("digits", "train")
    x_test, y_test = datasets.load("digits", "test")
    x_train, x_test = x_train[:, 0], x_test[:, 0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (on a shared machine, by far)
    try:
        model = training.fit(RowClassifier(8, 32), x_train, y_train, epochs=20, lr=0.01)
    finally:
        torch.set_num_threads(threads)
    float_top1 = training.accuracy(training.predict(model, x_test), y_test)
    assert float_top1 >= 0.95  # it trained
    cm = compile_model(model, (x_test[:1],), [x_train[i:i + 64] for i in range(0, 512, 64)], progress=False)
    (q,) = Interpreter(cm.data).invoke(x_test.numpy())
    int8_top1 = training.accuracy(q.astype(np.float32), y_test)
    print(f"\ndigits, GRU(8, 32): float {100 * float_top1:.2f}%  int8 {100 * int8_top1:.2f}%  ({len(y_test)} test)")
    assert int8_top1 >= float_top1 - 0.005
