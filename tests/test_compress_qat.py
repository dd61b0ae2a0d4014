"""Quantization-aware training: weight fake-quant against numpy, BN folding, and the compiled model
against the QAT model's own fake-quant outputs (within 1 LSB on >= 99% of the values)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

from microflat.compiler import compile_model, datasets, training, zoo  # noqa: E402
from microflat.compiler.compress import cluster, prune, qat  # noqa: E402
from microflat.runtime import Interpreter  # noqa: E402


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), out=st.integers(1, 8), k=st.integers(1, 20))
def test_weight_fake_quant_is_per_channel_symmetric_int8(seed, out, k):
    w = np.random.default_rng(seed).normal(0, 1, (out, k)).astype(np.float32)
    got = qat.fake_quantize_weight(torch.from_numpy(w)).numpy().astype(np.float64)
    scale = (np.abs(w).max(axis=1).astype(np.float32) / np.float32(127)).astype(np.float64)[:, None]
    q = np.clip(np.round(w.astype(np.float64) / scale), -127, 127)  # torch rounds half to even
    np.testing.assert_allclose(got, q * scale, rtol=1e-6, atol=0)
    assert np.abs(got.max(axis=1, initial=0)).max() <= np.abs(w).max() * (1 + 1e-6)


def test_activation_fake_quant_uses_the_moving_average_of_batch_extremes():
    fq = qat.FakeQuant()
    fq.train()
    lo, hi = None, None
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.normal(0, 1, 100).astype(np.float32)
        fq(torch.from_numpy(x))
        b_lo, b_hi = float(x.min()), float(x.max())
        lo = b_lo if lo is None else lo + 0.01 * (b_lo - lo)
        hi = b_hi if hi is None else hi + 0.01 * (b_hi - hi)
    assert abs(float(fq.lo) - lo) < 1e-6 and abs(float(fq.hi) - hi) < 1e-6
    scale = (max(hi, 0) - min(lo, 0)) / 255
    assert abs(float(fq.scale) - scale) < 1e-6 * scale
    assert int(fq.zero_point) == int(np.clip(np.floor(-128 - lo / scale + 0.5), -128, 127))


def test_frozen_batch_norm_training_path_equals_the_folded_eval_path():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    with torch.no_grad():
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.5, 2)
        model[1].weight.normal_()
    q = qat.prepare(model)
    x = torch.randn(4, 3, 6, 6)
    qat.calibrate(q, [x])
    q.eval()
    folded = q(x)
    q.train()
    qat.freeze_bn_stats(q)
    qat.freeze_observers(q)
    unfolded = q(x)  # conv on the folded fake-quant weight, divided back, then BN with running statistics
    torch.testing.assert_close(unfolded, folded, rtol=0, atol=float(q.fake_quant_1.scale) * 1.01)


def _lsb_agreement(q, compiled, x):
    out = Interpreter(compiled.data).invoke(compiled.to_physical([x])[0].numpy())[0].astype(np.int64)
    with torch.no_grad():
        ref = q(x).numpy()
    s, zp = compiled.output_quantization[0]
    want = np.round(ref / s) + zp
    return np.abs(out.reshape(want.shape) - want)


def test_qat_small_cnn_on_digits_compiles_within_one_lsb():
    model = zoo.load("small_cnn")
    x, y = datasets.load("digits", "train")
    xt, _ = datasets.load("digits", "test")
    q = qat.prepare(model, [x[:256]])
    training.fit(q, x, y, epochs=2, lr=1e-4)
    compiled = compile_model(q.eval(), (x[:1],), [x[:32]], progress=False)
    d = _lsb_agreement(q, compiled, xt)
    assert (d <= 1).mean() >= 0.99, f"{(d <= 1).mean():.4f} within 1 LSB"
    # the file holds the QAT model's own quantization, not a recalibration
    fqs = [m for m in q.modules() if isinstance(m, qat.FakeQuant)]
    assert compiled.output_quantization[0] == (float(fqs[-1].scale), int(fqs[-1].zero_point))


@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "fc_autoencoder", "lenet300"])
def test_qat_zoo_architectures_compile_within_one_lsb(name):
    """Residual adds, softmax's fixed output, linear + batch norm: one training step, then compile."""
    torch.manual_seed(0)
    model = zoo.load(name, trained=False)
    x = zoo.inputs(name, 64, seed=3)
    q = qat.prepare(model, [x[:32]])
    q.train()
    q(x[:16]).float().pow(2).mean().backward()
    q.eval()
    compiled = compile_model(q, (x[:1],), [x[:8]], progress=False)
    d = _lsb_agreement(q, compiled, x[32:])
    assert (d <= 1).mean() >= 0.99, f"{(d <= 1).mean():.4f} within 1 LSB"


def test_qat_keeps_pruned_zeros_and_clusters():
    torch.manual_seed(0)
    model = zoo.load("lenet300", trained=False)
    x, y = datasets.load("mnist", "train")
    prune.magnitude(model, 0.9)
    cluster.apply(model, 16)
    zeros = {n: m.weight.detach() == 0 for n, m in prune.prunable_layers(model).items()}
    q = qat.prepare(model, [x[:128]])
    training.fit(q, x[:512], y[:512], epochs=1, lr=1e-3)
    for n, m in prune.prunable_layers(model).items():
        w = m.weight.detach()
        assert torch.equal(w == 0, zeros[n])
        assert torch.unique(w).numel() <= 16
    compiled = compile_model(q.eval(), (x[:1],), [x[:32]], progress=False)
    fc = [n for n in compiled.graph.nodes if n.op == "fc"]
    for node in fc:
        wq = node.attrs["quantized"]["weight_torch"]
        assert max(np.unique(row).size for row in wq) <= 16  # per channel: 15 centroids and 0
        assert (wq == 0).mean() >= 0.89


def test_compiler_refuses_fake_quantization_outside_int8():
    from microflat.runtime.errors import CompileError

    class UInt8(nn.Module):
        def forward(self, x):
            return torch.fake_quantize_per_tensor_affine(torch.relu(x), 0.1, 0, 0, 255)

    with pytest.raises(CompileError, match=r"int8 \[-128, 127\] or int16"):
        compile_model(UInt8(), (torch.randn(1, 4),), progress=False)


def test_int16_fake_quant_is_symmetric_on_the_int16_grid():
    fq = qat.FakeQuant(dtype="int16")
    fq.train()
    x = torch.tensor([-3.0, 0.25, 1.5])
    y = fq(x)
    scale = 3.0 / 32767  # max(|lo|, |hi|) / 32767, zero point 0 (TFLite's 16x8 activations)
    assert abs(float(fq.scale) - scale) < 1e-6 * scale and int(fq.zero_point) == 0
    q = np.round(x.numpy().astype(np.float64) / float(fq.scale))
    np.testing.assert_allclose(y.numpy(), q * float(fq.scale), rtol=1e-6)
    assert np.abs(q).max() <= 32767


def test_qat_16x8_runs_in_16_bits_where_training_simulated_it():
    """activations="int16": every linear layer's output and the input fake-quantized on the int16 grid; compiled
    with the default activations, the file is 16-bit exactly there and agrees with the QAT model's own outputs.
    Tolerance: the 16x8 output stage multiplies by the multiplier rounded to Q15 (TFLite's int64 form), a relative
    error of at most 2^-15, so up to 1 LSB of a full-scale int16 value per layer; through a second layer a hidden
    value's LSB is worth |w| * s_hidden / s_out of an output LSB, and over a deep stack the differences add up
    (a 10-layer autoencoder: 99% within 6 LSB). Two layers: 1 LSB on >= 99% of the outputs, as the int8 tests ask."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
    x = torch.randn(256, 64)
    q = qat.prepare(model, [x[:64]], activations="int16")
    fqs = [m for m in q.modules() if isinstance(m, qat.FakeQuant)]
    assert len(fqs) == 3 and all(m.dtype == "int16" for m in fqs)
    q.train()
    q(x[:16]).float().pow(2).mean().backward()
    q.eval()
    compiled = compile_model(q, (x[:1],), [x[:8]], progress=False)
    assert compiled.output_quantization[0] == (float(fqs[-1].scale), 0)
    fcs = [n for n in compiled.graph.nodes if n.op == "fc"]
    assert len(fcs) == 2 and all(n.output.dtype == "int16" for n in fcs)
    assert compiled.graph.inputs[0].dtype == "int16"
    d = _lsb_agreement(q, compiled, x[64:])
    assert (d <= 1).mean() >= 0.99, f"{(d <= 1).mean():.4f} within 1 LSB"


def test_qat_16_bit_set_of_layers():
    """activations={names}: only those layers are fake-quantized (and compiled) in 16 bits; REQUANTIZE between."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 8))
    x = torch.randn(64, 16)
    q = qat.prepare(model, [x], activations={"0"})  # the first Linear, by its module path
    widths = {m.dtype for m in q.modules() if isinstance(m, qat.FakeQuant)}
    assert widths == {"int8", "int16"}
    compiled = compile_model(q.eval(), (x[:1],), [x[:8]], progress=False)
    fcs = [n for n in compiled.graph.nodes if n.op == "fc"]
    assert [n.output.dtype for n in fcs] == ["int16", "int8"]
    assert any(n.op == "requantize" for n in compiled.graph.nodes)
    d = _lsb_agreement(q, compiled, x)
    assert (d <= 1).mean() >= 0.99


def test_int8_qat_model_compiled_at_int16_is_recalibrated():
    """An int8 QAT grid does not fit an int16 value (zero point, 255 steps): compiled with activations="int16" the
    values are calibrated on the int16 grid instead, and the file loads."""
    torch.manual_seed(0)
    model = zoo.load("fc_autoencoder", trained=False)
    x = zoo.inputs("fc_autoencoder", 64, seed=3)
    q = qat.prepare(model, [x[:32]]).eval()
    compiled = compile_model(q, (x[:1],), [x[:8]], activations="int16", progress=False)
    assert compiled.output_quantization[0][1] == 0
    Interpreter(compiled.data).invoke(compiled.to_physical([x[:1]])[0].numpy())


def test_compiler_refuses_asymmetric_int16_fake_quantization():
    from microflat.runtime.errors import CompileError

    class Asymmetric(nn.Module):
        def forward(self, x):
            return torch.fake_quantize_per_tensor_affine(x, 0.1, 3, -32768, 32767)

    with pytest.raises(CompileError, match="int16 activations are symmetric"):
        compile_model(Asymmetric(), (torch.randn(1, 4),), progress=False)


def test_recipe_qat_step_takes_the_activation_width():
    from microflat.compiler.compress import recipe
    from microflat.runtime.errors import CompileError

    r = recipe.from_dict({"step": [{"kind": "qat", "epochs": 1, "activations": "int16"}]})
    assert r.steps[0].activations == "int16"
    with pytest.raises(CompileError, match="activations must be"):
        qat.prepare(nn.Sequential(nn.Linear(4, 4)), activations="int12")
