"""The zoo: every model compiles and runs; the MLPerf Tiny architectures equal the reference files.

Parameter counts (weights + biases of conv, depthwise and FC) and MACs of the
reference int8 .tflite files are read with tests/tflite_reference.py (the
TFLite schema, independent of microflat) and compared with the compiled .mfb.
"""

import os

import numpy as np
import pytest
import torch

from microflat.compiler import compile_model, zoo
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.inspect_model import summary

import tflite_reference

REFERENCE = tflite_reference.reference_dir()
MLPERF = {"ds_cnn": "kws_ref_model.tflite", "mobilenet_v1_025": "vww_96_int8.tflite",
          "resnet8": "pretrainedResnet_quant.tflite", "fc_autoencoder": "ad01_int8.tflite"}
# SQNR of the int8 output against float on inputs from the input distribution, for the
# untrained (seeded, BN-re-estimated) models: the floor this PTQ keeps (see the note's table).
MIN_SQNR_DB = 12.0


def _params(data):
    lm = load_bytes(data)
    weights = {t.index for op in lm.operators if op.opcode in (0, 1, 2) for t in [lm.tensors[int(i)] for i in op.inputs[1:] if i >= 0]}
    return sum(int(np.prod(lm.tensors[i].shape)) for i in weights)


@pytest.fixture(scope="module")
def compiled():
    out = {}
    for name in zoo.ZOO:
        model = zoo.load(name, trained=False)
        x = zoo.untrained_inputs(name, 64, seed=7)
        out[name] = (model, x, compile_model(model, (x[:1],), [x[i:i + 16] for i in range(0, 64, 16)], progress=False))
    return out


@pytest.mark.parametrize("name", sorted(MLPERF))
def test_mlperf_tiny_architecture_matches_the_reference_file(name, compiled):
    path = os.path.join(REFERENCE, MLPERF[name])
    if not os.path.exists(path):
        pytest.fail(f"reference model missing: {path}")
    ref = tflite_reference.read(path)
    data = compiled[name][2].data
    assert _params(data) == ref["params"]
    assert summary(load_bytes(data))["macs"] == ref["macs"]
    lm = load_bytes(data)
    assert lm.tensors[lm.inputs[0]].shape == ref["input_shape"]


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_every_zoo_model_compiles_and_runs_close_to_float(name, compiled):
    model, x, cm = compiled[name]
    it = Interpreter(cm.data)
    (q,) = it.invoke(cm.to_physical([x])[0].numpy())
    out = it.output_details[0]
    y = (q.astype(np.float64) - out["zero_point"]) * out["scale"]
    with torch.no_grad():
        ref = model(x).double().numpy()
    ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref
    sqnr = 10 * np.log10((ref ** 2).sum() / ((ref - y) ** 2).sum())
    assert sqnr >= MIN_SQNR_DB, sqnr
    assert Interpreter(cm.data, backend="c").invoke(cm.to_physical([x[:4]])[0].numpy())[0].tobytes() == q[:4].tobytes()


def test_mobilenet_v2_tiny_has_inverted_residuals(compiled):
    lm = load_bytes(compiled["mobilenet_v2_tiny"][2].data)
    opcodes = [op.opcode for op in lm.operators]
    assert opcodes.count(3) >= 3  # ADD: the residual connections
    assert opcodes.count(1) >= 7  # DEPTHWISE_CONV_2D


def test_keras_same_padding_is_fused_into_the_conv(compiled):
    for name in ("ds_cnn", "mobilenet_v1_025", "resnet8"):
        lm = load_bytes(compiled[name][2].data)
        assert 10 not in [op.opcode for op in lm.operators], name  # no PAD op left


def test_same_padding_matches_tensorflow():
    # TensorFlow: out = ceil(in / s); total = max((out - 1) * s + k - in, 0); before = total // 2
    assert zoo.same_padding(49, 10, 2) == (4, 5)
    assert zoo.same_padding(10, 4, 2) == (1, 1)
    assert zoo.same_padding(96, 3, 2) == (0, 1)
    assert zoo.same_padding(32, 1, 2) == (0, 0)
    assert zoo.same_padding(25, 3, 1) == (1, 1)
