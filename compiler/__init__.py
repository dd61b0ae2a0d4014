"""microflat's compiler: PyTorch -> IR -> passes -> quantize -> serialize.

    from microflat.compiler import compile
    data = compile(model, example_inputs, calibration_batches, output="model.mfb")

Modules, in pipeline order: api (capture, compile), lower (torch.export graph
-> ir), passes (batch-norm folding, pad and activation fusion), observers and
quantize (calibration, per-channel weights), emit (-> writer -> serialize),
simulate (the IR in PyTorch, float or fake-quantized), compare (per-layer
error of a .mfb against its float model), zoo, datasets and training.
tflite_import (compile_tflite) maps an int8 .tflite file to a .mfb without
torch.

The compiler needs the `compiler` extra (torch); importing this package does
not import torch, so the runtime's use of `writer` works on a board without it.
"""

_API = ("compile", "compile_model", "capture", "lower_program", "save_program", "CompiledModel")


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "compile_tflite":
        from .tflite_import import compile_tflite

        return compile_tflite
    if name == "CompileError":
        from microflat.runtime.errors import CompileError

        return CompileError
    raise AttributeError(f"module 'microflat.compiler' has no attribute {name!r}")


__all__ = list(_API) + ["compile_tflite", "CompileError"]
