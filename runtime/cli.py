"""The `microflat` command line.

User errors print one line, `microflat: error: ...` naming the argument or
file at fault, and exit with status 2, never a traceback; nothing is left
half-written (files and folders are written to a temporary beside the target
and renamed into place), and no command writes over one of its own inputs.
SIGTERM and Ctrl-C remove the temporaries too, print one line and exit with
143 and 130.

Layout, in every command: arrays are in PyTorch's layout by default, as the
PyTorch model takes and returns them (images NCHW); the .mfb holds images NHWC,
as TFLite does, and the CLI converts at the boundary. The file does not record
which tensors are images, so run and export-c take every 4-D int8 or float32
input and output of the .mfb as one (NCHW outside, NHWC in the file); compile
and inspect --compare know from the PyTorch model. --layout nhwc: 4-D arrays
are channels-last [N, H, W, C], the file's own order, passed to the runtime as
they are (and transposed to NCHW for the PyTorch model).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .errors import FormatError, InputError, MicroflatError

LAYOUT_HELP = ("nchw (default): 4-D arrays in PyTorch's layout [N, C, H, W], converted to and from the .mfb's NHWC; "
               "nhwc: 4-D arrays channels-last [N, H, W, C], the .mfb's own order (TFLite's)")


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line (no usage block), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Terminated(BaseException):
    """SIGTERM, raised where the program is, so every `finally` and temporary-file cleanup runs."""


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the cleanup short
    raise _Terminated()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("microflat")
    except PackageNotFoundError:
        return "(not installed as a distribution)"


# --- reading and checking the user's files ----------------------------------------------------------------------


def _load_npy(path, what="input"):
    """One numeric array from a .npy file, or ValueError naming the file and what is wrong with it."""
    import numpy as np

    def refuse(reason):
        return ValueError(f"cannot read {what} {path}: {reason}")

    if os.path.isdir(path):
        raise refuse("it is a folder, not a .npy file")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if not head:
        raise refuse("the file is empty, not a .npy file (numpy.save writes them)")
    if head[:4] == b"PK\x03\x04":
        raise refuse("it is a .npz archive; save the one array with numpy.save")
    if head != b"\x93NUMPY":
        raise refuse("not a .npy file (numpy.save writes them)")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Object arrays" in first or "pickled" in first:
            raise refuse("it holds Python objects, not numbers") from None
        raise refuse(f"the .npy file is damaged ({first})") from None
    if array.dtype.kind not in "iuf":
        raise refuse(f"it holds {array.dtype} values, not integers or floats")
    return array


def _finite(array, path, what="input"):
    """The array; ValueError naming the file where a float array holds NaN or an infinity (never quantized)."""
    import numpy as np

    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{what} {path} holds NaN or infinite values (the first at index {bad}, "
                         f"{array[bad]}); microflat quantizes finite numbers only")
    return array


def _writable(path, option):
    """ValueError, before any work, where `path` cannot be written: a folder, or in a folder that does not exist."""
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise ValueError(f"cannot write {option} {path}: it is a folder")
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {option} {path}: the folder {folder} does not exist")


def _not_an_input(output, option, *inputs):
    """ValueError where `output` is one of the command's input files: microflat never writes over them."""
    for given in inputs:
        if not given or given.startswith("zoo:") or not os.path.exists(given):
            continue
        same = os.path.realpath(output) == os.path.realpath(given)
        if not same and os.path.exists(output):
            same = os.path.samefile(output, given)
        if same:
            raise ValueError(f"{option} {output} is the input {given}: microflat never writes over its inputs; "
                             "choose another output path")


def _is_image(t) -> bool:
    """The CLI's rule (the .mfb does not record it): a 4-D int8 or float32 model input or output is an image,
    stored NHWC."""
    return len(t.shape) == 4 and t.dtype in ("int8", "float32")


def _nchw(shape) -> str:
    return f"[{shape[0]}, {shape[3]}, {shape[1]}, {shape[2]}]"


def _to_model_layout(x, t, layout, path, one_sample=False):
    """The user's array for model input t, in the .mfb's layout: a 4-D NCHW array (one [C, H, W] sample too, for
    export-c) transposed to NHWC under the default layout; the shape checked against what that layout expects."""
    import numpy as np

    if layout != "nchw" or not _is_image(t):
        return x
    n, h, w, c = t.shape
    if one_sample:
        if x.shape in ((1, c, h, w), (c, h, w)):
            return np.ascontiguousarray(x.reshape(1, c, h, w).transpose(0, 2, 3, 1))
        want = f"[1, {c}, {h}, {w}] or [{c}, {h}, {w}] (one sample)"
    else:
        if x.ndim == 4 and x.shape[1:] == (c, h, w) and (n == 1 or x.shape[0] == n):
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        want = f"[N, {c}, {h}, {w}]" if n == 1 else _nchw(t.shape)
    nhwc = f"[{'1' if one_sample else 'N'}, {h}, {w}, {c}]"
    raise InputError(f"input {path} must have shape {want}, NCHW (PyTorch's layout; --layout nhwc for "
                     f"channels-last {nhwc}), got {x.shape}")


def _to_user_layout(y, t, layout):
    import numpy as np

    if layout == "nchw" and _is_image(t) and y.ndim == 4:
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2))
    return y


def _to_torch_layout(x, layout):
    """A float array for the PyTorch model: 4-D channels-last data transposed to NCHW under --layout nhwc."""
    import numpy as np

    if layout == "nhwc" and x.ndim == 4 and x.dtype.kind == "f":
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


# --- the commands ----------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.main(["--out", args.out] if args.out else [])


def _run(args: argparse.Namespace) -> int:
    import io

    import numpy as np

    from .atomic import write_atomic
    from .interpreter import Interpreter

    if args.output:
        _writable(args.output, "--output")
        _not_an_input(args.output, "--output", args.model, *args.input)
    interpreter = Interpreter(args.model, backend=args.backend)
    m = interpreter.model
    if args.output and len(m.outputs) > 1 and not args.output.endswith(".npz"):
        raise InputError(f"{args.model} has {len(m.outputs)} outputs: --output must name a .npz, which holds them "
                         "all by name")
    xs = _run_inputs(args, m)
    try:
        outputs = interpreter.invoke(*xs, dequantize=not args.raw)
    except InputError as exc:
        raise InputError(f"input {', '.join(args.input)}: {exc}") from None
    outputs = [_to_user_layout(y, m.tensors[i], args.layout) for y, i in zip(outputs, m.outputs)]
    if args.output:
        buf = io.BytesIO()
        if len(outputs) == 1:
            np.save(buf, outputs[0], allow_pickle=False)
        else:
            np.savez(buf, **dict(zip(_io_names(m, m.outputs, "output"), outputs)))
        write_atomic(args.output, buf.getvalue())
    else:
        np.set_printoptions(threshold=50)
        for o in outputs:
            print(o)
    return 0


def _io_names(m, indices, kind) -> list[str]:
    """The model's input or output tensors' names (kind_k where the file leaves one out)."""
    return [m.tensors[i].name or f"{kind}_{k}" for k, i in enumerate(indices)]


def _run_inputs(args, m) -> list:
    """The model's inputs, in its order: one .npy per input (--input repeated, in that order), or one .npz holding
    them by input name (or as arr_0, arr_1, ... in order, as numpy.savez names unnamed arrays); each in the
    model's layout."""
    names = _io_names(m, m.inputs, "input")
    if len(args.input) == 1 and _is_npz(args.input[0]):
        path = args.input[0]
        arrays = _load_npz(path)
        keys = names if set(names) <= set(arrays) else [f"arr_{k}" for k in range(len(names))]
        if not set(keys) <= set(arrays):
            raise InputError(f"{path} is a .npz archive of {sorted(arrays)}; {args.model}'s inputs are {names} (or "
                             "arr_0, ... in that order)")
        sources = [(arrays[k], f"{path}[{k}]") for k in keys]
    else:
        if len(args.input) != len(names):
            raise InputError(f"{args.model} takes {len(names)} input(s) ({', '.join(names)}); give one --input per "
                             f"input, in that order, or one .npz of them, not {len(args.input)}")
        sources = [(_load_npy(p), p) for p in args.input]
    return [_to_model_layout(_finite(a, p), m.tensors[i], args.layout, p) for (a, p), i in zip(sources, m.inputs)]


def _is_npz(path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False  # _load_npy names the problem


def _load_npz(path) -> dict:
    """The numeric arrays of a .npz, by name, or ValueError naming the file."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot read input {path}: the .npz archive is damaged or holds objects ({first})") from None
    for k, a in arrays.items():
        if a.dtype.kind not in "iuf":
            raise ValueError(f"cannot read input {path}: its array {k} holds {a.dtype} values, not numbers")
    return arrays


def _export_c(args: argparse.Namespace) -> int:
    from . import export_c
    from .loader import load_file

    model = load_file(args.model)
    x = None
    if args.input:
        x = _finite(_load_npy(args.input), args.input)
        x = _to_model_layout(x, model.tensors[model.inputs[0]], args.layout, args.input, one_sample=True)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ValueError(f"cannot write -o {args.output}: it exists and is not a folder (export-c writes a folder)")
    try:
        info = export_c.export(args.model, args.output, x)
    except InputError as exc:
        if args.input:
            raise InputError(f"input {args.input}: {exc}") from None
        raise
    print(f"wrote {args.output}: model_data.c ({info['file_bytes']} bytes of model), model_data.h "
          f"(MICROFLAT_ARENA_BYTES {info['arena_bytes']}), {len(info['inputs'])} example input(s), mf_ops_used.h "
          f"({len(info['ops'])} operators), microflat/ (the C runtime)")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import json

    from .inspect_model import render, summary
    from .loader import load_file

    s = summary(load_file(args.model))
    if args.source:
        s["source"] = _source_bytes(args.source, s, args.model)
    if args.input and not args.compare:
        raise ValueError("--input goes with --compare MODEL.pt2 (the float model to compare with)")
    if args.compare:
        if not args.input:
            raise ValueError("--compare needs --input X.npy (float32, PyTorch layout, batch first)")
        x = _to_torch_layout(_finite(_load_npy(args.input), args.input), args.layout)
        _need_compiler("inspect --compare")
        from microflat.compiler import compare

        rows = compare.compare(args.model, _source_model(args.compare), x)
        print(json.dumps(rows, indent=2) if args.json else compare.render(rows))
        return 0
    print(json.dumps(s, indent=2) if args.json else render(s))
    if args.source and not args.json:
        src = s["source"]
        print(f"{args.source}: {src['bytes']:,} bytes; {args.model}: {s['file_bytes']:,} bytes "
              f"({s['file_bytes'] / src['bytes']:.2f} of it)")
    return 0


def _source_bytes(path, s, model) -> dict:
    """inspect --source: the size of the file the model was compiled from, checked against the digest the
    compiler wrote into it (metadata.source_sha256)."""
    import hashlib

    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    if hashlib.sha256(data).hexdigest() != s["source_sha256"]:
        raise InputError(f"{model} was not compiled from {path} (its source digest differs)")
    return {"path": path, "bytes": len(data)}


def _need_compiler(what):
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ValueError(f"{what} needs the compiler extra: pip install 'microflat[compiler]'") from None


def _source_model(spec):
    """A zoo model (zoo:NAME) or the path of a saved ExportedProgram (.pt2), loaded (one line on any error)."""
    if spec.startswith("zoo:"):
        from microflat.compiler import zoo

        return zoo.load(spec[4:], progress=True)
    from microflat.compiler.api import load_program

    return load_program(spec)


def _program_input_shapes(model) -> list[tuple] | None:
    """The shapes of an ExportedProgram's user inputs (None where not known: a module, a dynamic dimension)."""
    import torch

    if not isinstance(model, torch.export.ExportedProgram):
        return None
    names = set(model.graph_signature.user_inputs)
    shapes = [tuple(node.meta["val"].shape) for node in model.graph.nodes
              if node.op == "placeholder" and node.name in names and "val" in node.meta]
    if len(shapes) != len(names) or not all(isinstance(d, int) for shape in shapes for d in shape[1:]):
        return None
    return shapes


def _check_calib_shape(model, calib, path, layout):
    """Before any work: calibration data (already in the PyTorch model's layout) whose shape the model cannot take,
    named with the shape given and the shape expected, both in the user's layout (the compiler would say it only once
    calibration has begun). A zoo module is left to the compiler."""
    shapes = _program_input_shapes(model)
    if shapes is None or len(shapes) != 1:
        return
    want = shapes[0]
    if calib.ndim == len(want) and tuple(calib.shape[1:]) == tuple(want[1:]):
        return
    given, hint = tuple(calib.shape), ""
    if len(want) == 4 and calib.dtype.kind == "f":
        if layout == "nhwc":
            want = (want[0], want[2], want[3], want[1])
            given = tuple(calib.transpose(0, 2, 3, 1).shape) if calib.ndim == 4 else given
            hint = " (channels-last, --layout nhwc)"
        else:
            hint = " (NCHW, as PyTorch takes it; --layout nhwc for channels-last data)"
    expected = "[N, " + ", ".join(str(d) for d in want[1:]) + "]"
    raise InputError(f"calibration data {path}: shape {given} does not fit {expected}{hint}")


def _compile(args: argparse.Namespace) -> int:
    if args.activations == "auto" and args.max_arena is None:
        raise ValueError("--activations auto needs --max-arena BYTES, the arena budget")
    _writable(args.output, "-o")
    _not_an_input(args.output, "-o", args.model, args.calib)
    if args.model.endswith(".tflite"):
        return _compile_tflite(args)
    if args.reference is not None:
        raise ValueError(f"--reference applies to a .tflite, not {args.model}")
    calib = None
    if args.calib:
        calib = _to_torch_layout(_finite(_load_npy(args.calib, "calibration data"), args.calib, "calibration data"),
                                 args.layout)
    elif not args.model.startswith("zoo:"):
        raise ValueError("compiling a .pt2 needs --calib DATA.npy: calibration inputs, PyTorch layout, batch first")
    _need_compiler("compile")
    import torch

    from microflat.compiler import api, zoo

    model = _source_model(args.model)
    if calib is not None:
        _check_calib_shape(model, calib, args.calib, args.layout)
        # integer arrays are token ids (an nn.Embedding's input) and stay integers; anything else is float32
        data = torch.from_numpy(calib if calib.dtype.kind in "iu" else calib.astype("float32"))
        example = (data[:1],)
    else:
        name = args.model[4:]
        data = zoo.inputs(name, 256, split="train")
        example = (zoo.example_input(name),)
    batches = [data[i:i + args.batch_size] for i in range(0, len(data), args.batch_size)]
    blob = api.compile(model, example, batches, output=args.output, observer=args.observer, io_dtype=args.io,
                       weight_encoding=args.weights, weight_bits=args.weight_bits, strip_names=args.strip_names,
                       activations=args.activations, max_arena=args.max_arena,
                       bias_correction=args.bias_correction)
    _report_compiled(args.output, blob)
    return 0


def _report_compiled(output, blob: bytes) -> None:
    from .inspect_model import ledger, summary
    from .loader import load_bytes

    s = summary(load_bytes(blob))
    print(f"wrote {output}: {s['file_bytes']} bytes ({s['weight_bytes']} of weights), arena {s['arena_bytes']} bytes, "
          f"{s['macs']} MACs")
    print(ledger(s["size_ledger"]))


def _compile_tflite(args: argparse.Namespace) -> int:
    """A .tflite is already quantized: its tensors' scales are kept (compiler/tflite_import.py), so only -o and
    --weights apply."""
    given = [flag for flag, value, default in (("--calib", args.calib, None), ("--activations", args.activations, "int8"),
                                                ("--weight-bits", args.weight_bits, 8),
                                                ("--bias-correction", args.bias_correction, False))
             if value != default]
    if given:
        raise ValueError(f"{args.model} is already quantized: {', '.join(given)} does not apply to a .tflite")
    try:
        data = open(args.model, "rb").read()
    except OSError as e:
        raise InputError(f"cannot read {args.model}: {e.strerror or e}") from None
    _need_compiler("compile")
    from microflat.compiler.tflite_import import compile_tflite

    from .atomic import write_atomic

    blob = compile_tflite(data, weight_encoding=args.weights, name=args.model,
                          reference=args.reference or "tflite-micro")
    write_atomic(args.output, blob)
    _report_compiled(args.output, blob)
    return 0


def _compress(args: argparse.Namespace) -> int:
    _writable(args.output, "-o")
    _not_an_input(args.output, "-o", args.model, args.recipe, args.data, args.val)
    for path, option in ((args.plot, "--plot"), (args.json, "--json")):
        if path:
            _writable(path, option)
    from microflat.compiler.compress import command

    return command.run(args)


def build_parser() -> argparse.ArgumentParser:
    # The count options' argparse type, shared with `compress`'s own options; no torch at import.
    from microflat.compiler.compress import command as compress_command

    parser = _Parser(
        prog="microflat",
        description="Compress PyTorch models and run them with integer-only arithmetic. Arrays are in PyTorch's "
                    "layout (images NCHW) unless a command is given --layout nhwc.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo", help="the whole pipeline on a built-in default: train, compress, compile, run on Numba, C and Cortex-M4",
        description="The whole pipeline on a built-in default: train, compress, compile, run on Numba, C and "
                    "Cortex-M4 (under QEMU, where the ARM tools are installed).")
    demo.add_argument("--out", metavar="DIR", help="where to write the .mfb, the plot and the firmware builds "
                      "(default: a new temporary folder, printed)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser(
        "run", help="run a .mfb model on an input .npy file",
        description="Run a .mfb model on the arrays of X.npy (batch first) and print or write its outputs as real "
                    "numbers (float32, dequantized with each output's scale and zero point); --raw: the integers. "
                    "Images are NCHW in and out, as in PyTorch (the file holds them NHWC); --layout nhwc for "
                    "channels-last arrays. NaN and infinities are refused.")
    run.add_argument("model", metavar="MODEL.mfb")
    run.add_argument("--input", required=True, action="append", metavar="X.npy",
                     help="float (quantized with the input's scale and zero point) or the model's integer type; "
                          "batch first, NCHW for images unless --layout nhwc. A model of several inputs takes one "
                          "--input each, in its order, or one .npz holding them by input name")
    run.add_argument("--output", metavar="Y.npy", help="write the output here (atomically) instead of printing; a "
                     "model of several outputs writes them all to a .npz, by output name")
    run.add_argument("--raw", action="store_true",
                     help="the outputs' integers as the model computes them (int8), not dequantized to float32")
    run.add_argument("--layout", choices=("nchw", "nhwc"), default="nchw", help=LAYOUT_HELP)
    run.add_argument("--backend", choices=("numba", "c"), default="numba")
    run.set_defaults(handler=_run)

    export = commands.add_parser(
        "export-c", help="write a .mfb as C source (a const array in flash), an example input and the C runtime, "
                         "for firmware",
        description="Write DIR: the model as C source (a const array in flash), an example input, the outputs it "
                    "must give, mf_ops_used.h and the C runtime. DIR is written whole into a temporary folder beside "
                    "it, then renamed into place; an existing DIR (an earlier export, or a folder of your files: "
                    "those are kept) is replaced whole, never left half old and half new.")
    export.add_argument("model", metavar="MODEL.mfb")
    export.add_argument("-o", "--output", required=True, metavar="DIR")
    export.add_argument("--input", metavar="X.npy",
                        help="the example input: one sample, [1, C, H, W] or [C, H, W] for images (NCHW, PyTorch's "
                             "layout, unless --layout nhwc); float is quantized with the input's scale and zero "
                             "point, as run does (default: a fixed pseudo-random one)")
    export.add_argument("--layout", choices=("nchw", "nhwc"), default="nchw", help=LAYOUT_HELP)
    export.set_defaults(handler=_export_c)

    inspect = commands.add_parser("inspect", help="show a .mfb model's ops, MACs, weights, arena plan and bytes")
    inspect.add_argument("model", metavar="MODEL.mfb")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--compare", metavar="MODEL.pt2", help="per-layer SQNR and max error against the float model "
                         "(a .pt2 or zoo:NAME); needs --input")
    inspect.add_argument("--input", metavar="X.npy", help="float32 inputs for --compare, batch first, as the PyTorch "
                         "model takes them (images NCHW) unless --layout nhwc")
    inspect.add_argument("--layout", choices=("nchw", "nhwc"), default="nchw",
                         help="nchw (default): --input as the PyTorch model takes it; nhwc: 4-D --input is "
                              "channels-last [N, H, W, C], transposed to NCHW for the model")
    inspect.add_argument("--source", metavar="MODEL.tflite", help="the .tflite the model was compiled from: its "
                         "bytes beside the .mfb's")
    inspect.set_defaults(handler=_inspect)

    comp = commands.add_parser("compile", help="quantize a PyTorch model (a .pt2 or zoo:NAME) to int8 and write a .mfb")
    comp.add_argument("model", metavar="MODEL", help="a saved ExportedProgram (torch.export.save, .pt2), zoo:NAME, or "
                      "an int8 TFLite model (.tflite: its quantization is kept, and no --calib is needed)")
    comp.add_argument("-o", "--output", required=True, metavar="OUT.mfb",
                      help="written atomically; never one of the inputs")
    comp.add_argument("--calib", metavar="DATA.npy", help="calibration inputs, float32, batch first, as the PyTorch "
                      "model takes them (images NCHW) unless --layout nhwc; integer token ids for a model whose input "
                      "is an nn.Embedding's (required for a .pt2; a zoo model uses its own data). NaN and "
                      "infinities are refused")
    comp.add_argument("--layout", choices=("nchw", "nhwc"), default="nchw",
                      help="nchw (default): --calib as the PyTorch model takes it; nhwc: 4-D --calib is channels-last "
                           "[N, H, W, C], transposed to NCHW for the model")
    comp.add_argument("--observer", default="minmax", choices=("minmax", "moving_average", "percentile", "mse"))
    comp.add_argument("--io", default="int8", choices=("int8", "float32"),
                      help="int8: the file's inputs and outputs are int8; float32: it quantizes and dequantizes them")
    comp.add_argument("--batch-size", type=compress_command.positive_int, default=32, metavar="N",
                      help="calibration batch size, an integer >= 1 (default 32)")
    comp.add_argument("--weights", default="auto", choices=("auto", "dense", "packed", "int4", "palette", "sparse"),
                      help="how conv/linear weights are stored: auto (default) picks each layer's smallest encoding "
                           "the kernels run in place")
    comp.add_argument("--reference", default=None, choices=("tflite-micro", "litert"),
                      help="a .tflite only: whose integer arithmetic to follow where TFLite's two differ: "
                           "tflite-micro (default; also CMSIS-NN's and LiteRT's optimized kernels') or litert "
                           "(LiteRT's reference kernels, its BUILTIN_REF op resolver)")
    comp.add_argument("--weight-bits", type=int, default=8, choices=(8, 4),
                      help="4: weights quantized to [-7, 7] (stored as packed int4)")
    comp.add_argument("--strip-names", action="store_true", help=compress_command.STRIP_NAMES_HELP)
    comp.add_argument("--activations", default="int8", choices=("int8", "int16", "auto"),
                      help="int16: TFLite's 16x8 mode (int16 activations, int8 weights) wherever an op has a 16x8 "
                           "kernel, requantized to int8 around the others; auto: int16 where it buys the most "
                           "accuracy per arena byte, under --max-arena")
    comp.add_argument("--max-arena", type=compress_command.positive_int, metavar="BYTES",
                      help="the arena budget of --activations auto")
    comp.add_argument("--bias-correction", action="store_true",
                      help="fold the mean shift that rounding the weights causes into each conv/linear bias, "
                           "measured on the calibration data (Nagel et al. 2019)")
    comp.set_defaults(handler=_compile)

    comp = commands.add_parser("compress", help="run a compression recipe on your model (a .pt2 with --data "
                               "TRAIN.npz) or a zoo model, report each step, write a .mfb")
    compress_command.add_arguments(comp)
    comp.set_defaults(handler=_compress)
    return parser


def _os_message(exc: OSError) -> str:
    if exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return exc.strerror or str(exc)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    installed = threading.current_thread() is threading.main_thread()
    if installed:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.handler(args)
    except _Terminated:
        print("microflat: terminated (SIGTERM); temporary files removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("microflat: interrupted; temporary files removed", file=sys.stderr)
        return 128 + signal.SIGINT
    except FormatError as exc:
        print(f"microflat: error: {args.model}: {exc}", file=sys.stderr)
        return 2
    except MicroflatError as exc:
        print(f"microflat: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"microflat: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"microflat: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
