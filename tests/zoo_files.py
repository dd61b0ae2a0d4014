"""The zoo compiled once per test session: {name: .mfb bytes}, for the tests that run whole models in C.

Every zoo model (untrained: seeded and BN-calibrated, as test_zoo.py compiles
them) with the default encoding choice, plus variants whose weights take the
other encodings, so the C runtime runs packed int4 and sparse layouts on
whole models too (and 16-bit activations), the op-coverage models of
op_models.py, which use every operator the zoo does not, and the streaming
models of model_builders.py (variables, LSTM, SVDF) and the streaming models compiled from PyTorch
(COMPILED_STREAMS: the SVDF keyword spotter of compiler/streaming.py).
"""

import functools

import torch

from microflat.compiler import compile_model, zoo
from microflat.compiler.streaming import SvdfKeywordSpotter, set_streaming
from model_builders import stream_models
from op_models import OP_MODEL_OPTIONS, OP_MODELS, op_model, op_model_inputs

VARIANTS = {
    "ds_cnn/int4": ("ds_cnn", dict(weight_bits=4)),
    "lenet5/sparse": ("lenet5", dict(weight_encoding="sparse")),
    "resnet8/float_io": ("resnet8", dict(io_dtype="float32")),
    "ds_cnn/int16": ("ds_cnn", dict(activations="int16")),  # 16x8 conv, depthwise, FC, pool; REQUANTIZE
}


def compile_zoo_model(name, **options):
    """The untrained zoo model, seeded and calibrated on 64 samples of its input distribution, as .mfb bytes."""
    torch.manual_seed(0)
    model = zoo.load(name, trained=False)
    x = zoo.untrained_inputs(name, 64, seed=7)
    batches = [x[i:i + 16] for i in range(0, 64, 16)]
    return compile_model(model, (x[:1],), batches, progress=False, **options).data


def compile_kws_svdf():
    """The SVDF keyword spotter (40 features a frame, 12 classes) in streaming mode, seeded, calibrated on 32 random
    frames as one stream, as .mfb bytes: one frame an invoke, its two SVDF states in variables."""
    torch.manual_seed(0)
    model = set_streaming(SvdfKeywordSpotter(40, 12).eval(), True)
    frames = torch.randn(32, 40, generator=torch.Generator().manual_seed(7))
    return compile_model(model, (frames[:1],), [frames], progress=False).data


# Streaming models compiled from PyTorch (a second each), named here so that test modules can list them without
# compiling: the zoo-wide tests run them as they run model_builders' writer-built streams.
COMPILED_STREAMS = {"streams/kws_svdf": compile_kws_svdf}


@functools.lru_cache(maxsize=None)
def compiled_zoo() -> dict:
    files = {name: compile_zoo_model(name) for name in zoo.ZOO}
    files.update({key: compile_zoo_model(name, **options) for key, (name, options) in VARIANTS.items()})
    files.update({name: compile_op_model(name) for name in OP_MODELS})
    files.update(stream_models())
    files.update({name: build() for name, build in COMPILED_STREAMS.items()})
    return files


def compile_op_model(name, **options):
    """An op-coverage model (op_models.py), calibrated on 64 samples, as .mfb bytes; its OP_MODEL_OPTIONS, then
    `options`, as compile options."""
    x = op_model_inputs(64, seed=7, name=name)
    return compile_model(op_model(name), (x[:1],), [x[i:i + 16] for i in range(0, 64, 16)], progress=False,
                         **{**OP_MODEL_OPTIONS.get(name, {}), **options}).data
