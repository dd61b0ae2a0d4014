"""One cold start, in a fresh process: import the runtime, load the model file, run one inference.

    python benchmarks/cold_start.py RUNTIME FILE     prints the seconds from before the import to after
                                                     the first inference's outputs

RUNTIME: numba, c, onnxruntime, litert-xnnpack, litert-builtin, tflite-micro, torch (FILE: a saved
torch.export program, .pt2). peers.py runs it with NUMBA_CACHE_DIR set to an empty folder (Numba
compiles every kernel) and to one a previous run filled (Numba loads them from disk). Inputs are zeros:
a cold start does not depend on the values.
"""

import time

START = time.perf_counter()

import os  # noqa: E402
import sys  # noqa: E402


def numba_or_c(path, backend):
    import numpy as np

    from microflat.runtime import Interpreter

    it = Interpreter(path, backend=backend)
    d = it.input_details[0]
    it.invoke(np.zeros(d["shape"], d["dtype"]))


def onnxruntime(path):
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    shape = [1 if not isinstance(d, int) else d for d in s.get_inputs()[0].shape]
    s.run(None, {s.get_inputs()[0].name: np.zeros(shape, np.float32)})


def litert(path, xnnpack):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    it.get_tensor(it.get_output_details()[0]["index"])


def tflite_micro(path):
    import numpy as np
    from tflite_micro import runtime

    it = runtime.Interpreter.from_file(path)
    d = it.get_input_details(0)
    it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
    it.invoke()
    it.get_output(0)


def torch_eager(path):
    import torch

    program = torch.export.load(path)
    net = program.module()
    shape = program.example_inputs[0][0].shape
    torch.set_num_threads(1)
    with torch.inference_mode():
        net(torch.zeros(shape))


RUNNERS = {
    "numba": lambda p: numba_or_c(p, "numba"),
    "c": lambda p: numba_or_c(p, "c"),
    "onnxruntime": onnxruntime,
    "litert-xnnpack": lambda p: litert(p, True),
    "litert-builtin": lambda p: litert(p, False),
    "tflite-micro": tflite_micro,
    "torch": torch_eager,
}


if __name__ == "__main__":
    runtime, path = sys.argv[1], sys.argv[2]
    with open(os.devnull, "w") as quiet:  # LiteRT and TFLite Micro print from C++ on stderr
        os.dup2(quiet.fileno(), 2)
        RUNNERS[runtime](path)
    print(f"{time.perf_counter() - START:.6f}")
