"""The compiler's entry points: a PyTorch model in, a .mfb out.

    from microflat.compiler import compile
    data = compile(model, (torch.randn(1, 1, 28, 28),), calib_loader, output="model.mfb")

`compile_model` does the same and returns a CompiledModel, which also holds
the quantized IR: its float and fake-quant simulations, and the quantization
of each input and output.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import logging
import os
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from microflat.runtime.errors import CompileError

from . import observers
from .emit import emit
from .ir import Graph
from .lower import lower
from .passes import optimize
from .quantize import physical_batches, calibrate, quantize_weights
from .simulate import run_graph
from .widths import assign_widths, candidates
from .widths import choose as choose_widths
from .writer import write_atomic


def capture(model, example_inputs=None) -> torch.export.ExportedProgram:
    """An ExportedProgram from an nn.Module (exported in eval mode), an ExportedProgram, or a saved .pt2 path."""
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_program(model)
    if not isinstance(model, torch.nn.Module):
        raise CompileError(f"model must be a torch.nn.Module, an ExportedProgram or a .pt2 path, got {type(model).__name__}")
    if example_inputs is None:
        raise CompileError("example_inputs are required to export an nn.Module")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    model = model.eval()
    try:
        return torch.export.export(model, tuple(example_inputs), strict=False)
    except Exception as exc:
        raise CompileError(f"torch.export failed: {str(exc).splitlines()[0]}") from None


_SAVE_HINT = "save one with torch.export.save(torch.export.export(model, (example,)), PATH)"


def _first_sentence(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text.split(". ")[0].rstrip(".")


@contextlib.contextmanager
def _torch_quiet(caught: list):
    """torch's loggers and warnings silenced: each torch.* logger drops its records into `caught` (torch.export.load
    logs a whole traceback as a warning before it raises)."""
    loggers = [logging.getLogger("torch")] + [logger for name, logger in list(logging.root.manager.loggerDict.items())
                                               if name.startswith("torch.") and isinstance(logger, logging.Logger)]

    def catch(record):
        caught.append(record)
        return False

    for logger in loggers:
        logger.addFilter(catch)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(catch)


def load_program(path) -> torch.export.ExportedProgram:
    """A saved ExportedProgram (.pt2). Raises CompileError, one line naming the path and what is wrong with it (a
    folder, an empty file, a compiled .mfb, not a zip archive, an archive torch cannot read), with torch's own
    logging silenced while it loads."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CompileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CompileError(f"{path}: is a folder, not a saved ExportedProgram (.pt2); {_SAVE_HINT}")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise CompileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not head:
        raise CompileError(f"{path}: is empty, not a saved ExportedProgram (.pt2); {_SAVE_HINT}")
    if head[4:8] == b"MFB0":
        raise CompileError(f"{path}: is a compiled .mfb model; this takes the PyTorch model (a .pt2 written by "
                           "torch.export.save, or zoo:NAME)")
    if not zipfile.is_zipfile(path):
        raise CompileError(f"{path}: is not a saved ExportedProgram (.pt2, a zip archive); {_SAVE_HINT}")
    caught: list = []
    try:
        with _torch_quiet(caught):
            return torch.export.load(path)
    except Exception as exc:  # torch raises many types for a damaged archive, and logs the cause as a warning
        causes = [r.exc_info[1] for r in caught if r.exc_info and r.exc_info[1] is not None]
        reason = _first_sentence(causes[-1] if causes else exc)
        raise CompileError(f"{path}: a zip archive torch.export.load cannot read ({reason}); "
                           f"{_SAVE_HINT}") from None


def _program_digest(ep: torch.export.ExportedProgram) -> bytes:
    h = hashlib.sha256(str(ep.graph).encode())
    for k in sorted(ep.state_dict):
        h.update(k.encode())
        h.update(ep.state_dict[k].detach().cpu().contiguous().numpy().tobytes())
    return h.digest()


@dataclass
class CompiledModel:
    graph: Graph          # quantized IR
    data: bytes           # the .mfb
    calibration_batches: int
    io_dtype: str = "int8"
    source_sha256: bytes | None = None
    strip_names: bool = False

    def encoded(self, weight_encoding="auto") -> bytes:
        """The same compiled model as .mfb bytes with another weight encoding (e.g. "dense", for a size ledger)."""
        return emit(self.graph, self.io_dtype, weight_encoding).to_bytes(self.source_sha256,
                                                                         strip_names=self.strip_names)

    def to_physical(self, inputs) -> list[torch.Tensor]:
        """PyTorch-layout (NCHW) float inputs -> the runtime's layout (NHWC for 4-D inputs)."""
        return next(physical_batches(self.graph, [inputs]))

    def simulate(self, *inputs, fake_quant: bool = True) -> list[np.ndarray]:
        """The model in PyTorch on NCHW inputs: fake-quantized (default) or float. Outputs in the file's layout."""
        return [o.numpy() for o in run_graph(self.graph, self.to_physical(list(inputs)), fake_quant=fake_quant)]

    @property
    def input_quantization(self) -> list[tuple[float, int]]:
        return [(v.scale, v.zero_point) for v in self.graph.inputs]

    @property
    def output_quantization(self) -> list[tuple[float, int]]:
        return [(v.scale, v.zero_point) for v in self.graph.outputs]


def lower_program(model, example_inputs=None) -> Graph:
    """The optimized float IR of a model (no calibration yet)."""
    return optimize(lower(capture(model, example_inputs)))


def compile_model(model, example_inputs=None, calibration_data: Iterable | None = None, *,
                  observer: str = observers.DEFAULT_OBSERVER, io_dtype: str = "int8",
                  weight_encoding="auto", weight_bits: int = 8, strip_names: bool = False,
                  activations="int8", max_arena: int | None = None, bias_correction: bool = False,
                  progress: bool = True) -> CompiledModel:
    """Capture, lower, optimize, calibrate, quantize and serialize. Raises CompileError.

    calibration_data: an iterable of batches, each a tensor (or tuple of
    tensors, one per input) in PyTorch's layout (NCHW), batch first. Without
    it the example inputs are the only calibration batch, which suits tests
    and not deployment.
    io_dtype: "int8" (inputs and outputs int8; Interpreter quantizes float
    input at the boundary) or "float32" (QUANTIZE/DEQUANTIZE ops in the file).
    weight_encoding: how each conv/fc weight is stored (compiler/encodings.py):
    "auto" (default: the smallest encoding the kernels run in place), "dense",
    "packed", "int4", "palette" or "sparse"; or a dict {weight tensor name or
    layer name: mode}, "auto" elsewhere.
    weight_bits: 8, or 4 (weights in [-7, 7], stored as packed int4).
    strip_names: leave every tensor name out of the file but the inputs' and
    outputs' (the file's bytes per operator: docs/FORMAT.md, "Size").
    activations: "int8", or "int16": TFLite's 16x8 mode (int16 activations,
    int8 weights) for every op that has a 16x8 kernel, REQUANTIZE between
    widths elsewhere (compiler/widths.py); or "auto": int16 where it buys
    the most accuracy per arena byte under max_arena (widths.choose: each
    choice compiled and measured on the calibration data); or a set of
    layer (node output) names to run in 16 bits.
    bias_correction: fold the mean shift that rounding the weights causes
    into each conv's and linear's bias, measured on the calibration data
    (quantize.py's docstring: Nagel et al. 2019).
    """
    if io_dtype not in ("int8", "float32"):
        raise CompileError(f"io_dtype must be 'int8' or 'float32', got {io_dtype!r}")
    if observer not in observers.OBSERVERS:
        raise CompileError(f"observer must be one of {sorted(observers.OBSERVERS)}, got {observer!r}")
    ep = capture(model, example_inputs)
    graph = optimize(lower(ep))
    if calibration_data is None:
        if example_inputs is None:
            raise CompileError("calibration_data is required (an iterable of input batches)")
        calibration_data = [tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else example_inputs]
    if activations == "auto":
        if max_arena is None:
            raise CompileError("activations='auto' needs max_arena, the arena budget in bytes")
        calibration_data = list(calibration_data)
        build = lambda wide: _build(graph, wide, calibration_data, observer, weight_bits, io_dtype,  # noqa: E731
                                    weight_encoding, bias_correction)
        activations, *_ = choose_widths(lambda wide: _sqnr_and_arena(graph, build(wide), calibration_data),
                                        candidates(graph), max_arena, progress)
    assign_widths(graph, activations)
    batches = calibrate(graph, calibration_data, observer, progress, bias_correction)
    quantize_weights(graph, weight_bits)
    digest = _program_digest(ep)
    data = emit(graph, io_dtype, weight_encoding).to_bytes(digest, strip_names=strip_names)
    return CompiledModel(graph, data, batches, io_dtype, digest, strip_names)


def _build(graph: Graph, wide, data, observer, weight_bits, io_dtype, weight_encoding, bias_correction) -> bytes:
    """The .mfb of a copy of the float graph with `wide` (a set of layer names) in 16 bits."""
    g = copy.deepcopy(graph)
    assign_widths(g, wide)
    calibrate(g, data, observer, progress=False, bias_correction=bias_correction)
    quantize_weights(g, weight_bits)
    return emit(g, io_dtype, weight_encoding).to_bytes()


def _sqnr_and_arena(graph: Graph, data: bytes, calibration_data) -> tuple[float, int]:
    """(SQNR in dB of the integer model's outputs against the float graph's, over the calibration batches; its
    arena bytes). The Interpreter quantizes the float inputs and dequantizes the outputs."""
    from microflat.runtime import Interpreter, load_bytes

    it = Interpreter(data)
    signal = noise = 0.0
    for batch in physical_batches(graph, calibration_data):
        ref = run_graph(graph, batch)
        got = it.invoke(*[x.numpy() for x in batch], dequantize=True)
        for r, q in zip(ref, got):
            r = r.numpy().astype(np.float64)
            signal += float((r ** 2).sum())
            noise += float(((np.asarray(q, np.float64) - r) ** 2).sum())
    return 10 * np.log10(max(signal, 1e-30) / max(noise, 1e-30)), load_bytes(data).arena_bytes


def compile(model, example_inputs=None, calibration_data: Iterable | None = None, *, output=None,
            observer: str = observers.DEFAULT_OBSERVER, io_dtype: str = "int8", weight_encoding="auto",
            weight_bits: int = 8, strip_names: bool = False, activations="int8", max_arena: int | None = None,
            bias_correction: bool = False, progress: bool = True) -> bytes:
    """Compile a PyTorch model to .mfb bytes; with output=PATH, also write them there (atomically)."""
    compiled = compile_model(model, example_inputs, calibration_data, observer=observer, io_dtype=io_dtype,
                             weight_encoding=weight_encoding, weight_bits=weight_bits, strip_names=strip_names,
                             activations=activations, max_arena=max_arena, bias_correction=bias_correction,
                             progress=progress)
    if output is not None:
        write_atomic(output, compiled.data)
    return compiled.data


def save_program(model, example_inputs, path) -> None:
    """torch.export a module and save it as .pt2 (atomically), the input `microflat compile` takes."""
    ep = capture(model, example_inputs)
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    write_atomic(path, buf.getvalue())
