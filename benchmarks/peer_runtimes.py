"""The runtimes benchmarks/peers.py measures, each behind one small interface.

    runtime.prepare(model, work_dir) -> Session | None     (None: the runtime has no file for this model)
    session.run(x)                    one call on an input batch (batch 1 or 64), outputs fetched
    session.file_bytes, session.arena_bytes (None where the runtime has no planned arena)
    session.batch1, session.batch64   inputs of the right dtype and shape

microflat, ONNX Runtime and PyTorch run the zoo model (compiler/zoo.py: the MLPerf Tiny architectures
layer for layer, the same parameters and MACs as the reference files, seeded and batch-norm calibrated);
LiteRT and TFLite Micro run the reference int8 .tflite files of ../shared/models/mlperf_tiny. LeNet-5
has no .tflite file, so only microflat, ONNX Runtime and PyTorch run it.

Every runtime is single-threaded: peers.py sets the thread environment before anything is imported,
and each session below asks its runtime for one thread as well.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import tflite_reference  # noqa: E402  (finds ../shared/models/mlperf_tiny)


@dataclass(frozen=True)
class Model:
    key: str  # the MLPerf Tiny task, or the model's own name
    zoo: str  # compiler/zoo.py name
    tflite: str | None  # reference file in ../shared/models/mlperf_tiny

    @property
    def tflite_path(self) -> str | None:
        return os.path.join(tflite_reference.reference_dir(), self.tflite) if self.tflite else None


MODELS = (
    Model("KWS", "ds_cnn", "kws_ref_model.tflite"),
    Model("VWW", "mobilenet_v1_025", "vww_96_int8.tflite"),
    Model("IC", "resnet8", "pretrainedResnet_quant.tflite"),
    Model("AD", "fc_autoencoder", "ad01_int8.tflite"),
    Model("LeNet-5", "lenet5", None),
)

BATCH = 64
CALIBRATION = 64


@dataclass
class Session:
    run: object
    batch1: np.ndarray
    batch64: np.ndarray
    file_bytes: int | None
    arena_bytes: int | None = None


def zoo_float_model(model: Model):
    """The zoo model as test_zoo and the compiler see it: untrained, seeded, batch norm re-estimated."""
    import torch

    from microflat.compiler import zoo

    torch.manual_seed(0)
    net = zoo.load(model.zoo, trained=False)
    return net, zoo.untrained_inputs(model.zoo, CALIBRATION, seed=7)


def _random_int8(shape, n, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, size=(n,) + tuple(shape[1:])).astype(np.int8)


class Microflat:
    """The .mfb file compiled from the zoo model, on the Numba or the C runtime."""

    def __init__(self, backend: str):
        self.backend = backend
        self.name = {"numba": "microflat Numba", "c": "microflat C (-O3)"}[backend]

    compiled: set = set()  # compiled in this run: a file left by an earlier run may come from an older compiler

    def compile(self, model: Model, work: str) -> str:
        path = os.path.join(work, f"{model.zoo}.mfb")
        if path not in Microflat.compiled:
            from microflat.compiler import compile_model

            net, x = zoo_float_model(model)
            batches = [x[i:i + 16] for i in range(0, len(x), 16)]
            data = compile_model(net, (x[:1],), batches, progress=False).data
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            Microflat.compiled.add(path)
        return path

    def prepare(self, model: Model, work: str) -> Session:
        from microflat.runtime import Interpreter

        path = self.compile(model, work)
        it = Interpreter(path, backend=self.backend)
        shape = it.input_details[0]["shape"]
        return Session(lambda x: it.invoke(x), _random_int8(shape, 1), _random_int8(shape, BATCH),
                       os.path.getsize(path), it.model.arena_bytes)


class OnnxRuntime:
    """The zoo model exported with torch.export (torch.onnx.export, dynamo) and quantized by ONNX Runtime's
    own tool: static QDQ, uint8 activations and int8 per-channel weights (the form its x86 kernels fuse
    into QLinearConv / MatMulInteger), calibrated on the same 64 inputs as microflat."""

    name = "ONNX Runtime int8 (QDQ)"

    def export(self, model: Model, work: str) -> str:
        qpath = os.path.join(work, f"{model.zoo}.qdq.onnx")
        if os.path.exists(qpath):
            return qpath
        import torch
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
        net, x = zoo_float_model(model)
        fpath, ppath = (os.path.join(work, f"{model.zoo}.{s}.onnx") for s in ("float", "pre"))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(net, (x[:1],), fpath, input_names=["x"], output_names=["y"],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True)
            quant_pre_process(fpath, ppath)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.batches = iter([{"x": x[i:i + 16].numpy()} for i in range(0, len(x), 16)])

            def get_next(self):
                return next(self.batches, None)

        quantize_static(ppath, qpath + ".tmp", Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(qpath + ".tmp", qpath)
        return qpath

    def prepare(self, model: Model, work: str) -> Session:
        import onnxruntime as ort

        path = self.export(model, work)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        _, x = zoo_float_model(model)
        x = x.numpy().astype(np.float32)
        batch64 = np.concatenate([x] * (BATCH // len(x) + 1))[:BATCH]
        return Session(lambda a: session.run(None, {"x": a}), x[:1], batch64, os.path.getsize(path))


class LiteRT:
    """ai-edge-litert on the reference .tflite file: XNNPACK (its default delegate) or its built-in kernels
    (BUILTIN_WITHOUT_DEFAULT_DELEGATES). Batch 64 resizes the input to [64, ...]."""

    def __init__(self, xnnpack: bool):
        self.xnnpack = xnnpack
        self.name = "LiteRT XNNPACK" if xnnpack else "LiteRT built-in kernels"

    def _interpreter(self, path: str, batch: int):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kind = OpResolverType.AUTO if self.xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=kind)
        if batch != 1:
            d = it.get_input_details()[0]
            it.resize_tensor_input(d["index"], [batch] + list(d["shape"][1:]))
        it.allocate_tensors()
        return it

    def prepare(self, model: Model, work: str) -> Session | None:
        if model.tflite is None:
            return None
        path = model.tflite_path
        # LiteRT's users look the tensor indices up once: get_input_details() and get_output_details() build
        # dicts on every call (about 8 us each), so they stay out of the timed call.
        slots = {}
        for batch in (1, BATCH):
            it = self._interpreter(path, batch)
            slots[batch] = (it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"])
        d = slots[1][0].get_input_details()[0]

        def run(x):
            it, i, o = slots[len(x)]
            it.set_tensor(i, x)
            it.invoke()
            return it.get_tensor(o)

        if d["dtype"] != np.int8:
            raise RuntimeError(f"{path}: the reference model's input is {d['dtype']}, not int8")
        # the int8 inputs microflat gets (the same seed and shape: NHWC in both files)
        return Session(run, _random_int8(d["shape"], 1), _random_int8(d["shape"], BATCH), os.path.getsize(path))


class TFLiteMicro:
    """The tflite-micro Python package on the reference .tflite file (its reference kernels, its greedy
    memory planner). Its input is fixed at batch 1, so batch 64 is 64 invocations. The arena is what its
    RecordingMicroAllocator reports."""

    name = "TFLite Micro"

    def prepare(self, model: Model, work: str) -> Session | None:
        if model.tflite is None:
            return None
        from tflite_micro import runtime

        it = runtime.Interpreter.from_file(model.tflite_path)
        d = it.get_input_details(0)

        def run(x):
            out = []
            for sample in x:
                it.set_input(sample[None], 0)
                it.invoke()
                out.append(it.get_output(0))
            return out

        return Session(run, _random_int8(d["shape"], 1), _random_int8(d["shape"], BATCH),
                       os.path.getsize(model.tflite_path), arena_bytes(model.tflite_path))


def arena_bytes(path: str) -> int | None:
    """The 'Arena allocation total' TFLite Micro's RecordingMicroAllocator prints for a model. Its C++ side
    prints through a buffer of its own, flushed at exit, so the report comes from a process of its own."""
    script = ("import sys; from tflite_micro import runtime; "
              "runtime.Interpreter.from_file(sys.argv[1]).print_allocations()")
    done = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True)
    found = re.search(r"Arena allocation total (\d+) bytes", done.stdout + done.stderr)
    return int(found.group(1)) if found else None


class PyTorch:
    """The zoo model in float32, eager, under torch.inference_mode; file bytes are its saved state_dict."""

    name = "PyTorch float (eager)"

    def prepare(self, model: Model, work: str) -> Session:
        import torch

        net, x = zoo_float_model(model)
        buffer = io.BytesIO()
        torch.save(net.state_dict(), buffer)

        def run(a):
            with torch.inference_mode():
                return net(a)

        batch64 = torch.cat([x] * (BATCH // len(x) + 1))[:BATCH].contiguous()
        return Session(run, x[:1].contiguous(), batch64, len(buffer.getvalue()))


def runtimes():
    """Every runtime of the comparison, microflat first: (runtime, import error or None)."""
    out = [(Microflat("numba"), None), (Microflat("c"), None)]
    for runtime, module in ((OnnxRuntime(), "onnxruntime"), (LiteRT(True), "ai_edge_litert"),
                            (LiteRT(False), "ai_edge_litert"), (TFLiteMicro(), "tflite_micro"),
                            (PyTorch(), "torch")):
        try:
            __import__(module)
            if module == "onnxruntime":
                __import__("onnx")
            out.append((runtime, None))
        except ImportError as exc:
            out.append((runtime, f"not installed ({exc.name}); pip install -e '.[bench]'"))
    return out
