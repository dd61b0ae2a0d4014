"""The `microflat` command line.

User errors print one line, `microflat: error: ...`, and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .errors import FormatError, MicroflatError


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.main()


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from .atomic import write_atomic
    from .interpreter import Interpreter

    interpreter = Interpreter(args.model, backend=args.backend)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read input {args.input}: {exc}") from None
    outputs = interpreter.invoke(x, dequantize=args.dequantize)
    if args.output:
        import io

        buf = io.BytesIO()
        np.save(buf, outputs[0], allow_pickle=False)
        write_atomic(args.output, buf.getvalue())
    else:
        np.set_printoptions(threshold=50)
        for o in outputs:
            print(o)
    return 0


def _export_c(args: argparse.Namespace) -> int:
    from . import export_c

    x = _load_npy(args.input) if args.input else None
    info = export_c.export(args.model, args.output, x)
    print(f"wrote {args.output}: model_data.c ({info['file_bytes']} bytes of model), model_data.h "
          f"(MICROFLAT_ARENA_BYTES {info['arena_bytes']}), {len(info['inputs'])} example input(s), mf_ops_used.h "
          f"({len(info['ops'])} operators), microflat/ (the C runtime)")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import json

    from .inspect_model import render, summary
    from .loader import load_file

    s = summary(load_file(args.model))
    if args.compare:
        if not args.input:
            raise ValueError("--compare needs --input X.npy (float32, PyTorch layout, batch first)")
        _need_compiler("inspect --compare")
        from microflat.compiler import compare

        rows = compare.compare(args.model, _source_model(args.compare), _load_npy(args.input))
        print(json.dumps(rows, indent=2) if args.json else compare.render(rows))
        return 0
    print(json.dumps(s, indent=2) if args.json else render(s))
    return 0


def _need_compiler(what):
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ValueError(f"{what} needs the compiler extra: pip install 'microflat[compiler]'") from None


def _load_npy(path):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def _source_model(spec):
    """A zoo model (zoo:NAME) or the path of a saved ExportedProgram (.pt2)."""
    if spec.startswith("zoo:"):
        from microflat.compiler import zoo

        return zoo.load(spec[4:], progress=True)
    return spec


def _compile(args: argparse.Namespace) -> int:
    _need_compiler("compile")
    import torch

    from microflat.compiler import api, zoo

    from .inspect_model import ledger, summary
    from .loader import load_bytes

    model = _source_model(args.model)
    if args.calib:
        calib = _load_npy(args.calib)
        # integer arrays are token ids (an nn.Embedding's input) and stay integers; anything else is float32
        data = torch.from_numpy(calib if calib.dtype.kind in "iu" else calib.astype("float32"))
        example = (data[:1],)
    elif args.model.startswith("zoo:"):
        name = args.model[4:]
        data = zoo.inputs(name, 256, split="train")
        example = (zoo.example_input(name),)
    else:
        raise ValueError("compiling a .pt2 needs --calib DATA.npy: calibration inputs, PyTorch layout, batch first")
    batches = [data[i:i + args.batch_size] for i in range(0, len(data), args.batch_size)]
    blob = api.compile(model, example, batches, output=args.output, observer=args.observer, io_dtype=args.io,
                       weight_encoding=args.weights, weight_bits=args.weight_bits)
    s = summary(load_bytes(blob))
    print(f"wrote {args.output}: {s['file_bytes']} bytes ({s['weight_bytes']} of weights), arena {s['arena_bytes']} bytes, "
          f"{s['macs']} MACs")
    print(ledger(s["size_ledger"]))
    return 0


def _compress(args: argparse.Namespace) -> int:
    _need_compiler("compress")
    from microflat.compiler.compress import pipeline, recipe, report

    if not args.model.startswith("zoo:"):
        raise ValueError("the CLI compresses zoo models (zoo:NAME), which bring their dataset; compress your own "
                         "model with microflat.compiler.compress.pipeline.run and your train/eval functions")
    if args.target_bytes is not None:
        chosen = None
    elif args.recipe in recipe.BUILTIN:
        chosen = recipe.BUILTIN[args.recipe]
    else:
        chosen = recipe.load(args.recipe)
    _, rows, _ = pipeline.compress_zoo(args.model[4:], chosen, target_bytes=args.target_bytes, output=args.output,
                                       plot_path=args.plot, log=lambda line: print(line, file=sys.stderr))
    print(report.render(rows))
    if args.json:
        from .atomic import write_atomic

        write_atomic(args.json, report.to_json(rows).encode())
    print(f"wrote {args.output}" + (f", {args.plot}" if args.plot else "") + (f", {args.json}" if args.json else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microflat",
        description="Compress PyTorch models and run them with integer-only arithmetic.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo", help="quantize float layers to int8 and run them through the Numba and C kernels"
    )
    demo.set_defaults(handler=_demo)
    run = commands.add_parser("run", help="run a .mfb model on an input .npy file")
    run.add_argument("model", metavar="MODEL.mfb")
    run.add_argument("--input", required=True, metavar="X.npy", help="int8 or float32; batch first")
    run.add_argument("--output", metavar="Y.npy", help="write the first output here (atomically) instead of printing")
    run.add_argument("--backend", choices=("numba", "c"), default="numba")
    run.add_argument("--dequantize", action="store_true", help="return int8 outputs as float32")
    run.set_defaults(handler=_run)
    export = commands.add_parser("export-c", help="write a .mfb as C source (a const array in flash), an example input "
                                 "and the C runtime, for firmware")
    export.add_argument("model", metavar="MODEL.mfb")
    export.add_argument("-o", "--output", required=True, metavar="DIR")
    export.add_argument("--input", metavar="X.npy", help="the example input: one sample in the model's input layout "
                        "(default: a fixed pseudo-random one)")
    export.set_defaults(handler=_export_c)
    inspect = commands.add_parser("inspect", help="show a .mfb model's ops, MACs, weights, arena plan and bytes")
    inspect.add_argument("model", metavar="MODEL.mfb")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--compare", metavar="MODEL.pt2", help="per-layer SQNR and max error against the float model "
                         "(a .pt2 or zoo:NAME); needs --input")
    inspect.add_argument("--input", metavar="X.npy", help="float32 inputs for --compare, PyTorch layout (NCHW), batch first")
    inspect.set_defaults(handler=_inspect)
    comp = commands.add_parser("compile", help="quantize a PyTorch model (a .pt2 or zoo:NAME) to int8 and write a .mfb")
    comp.add_argument("model", metavar="MODEL", help="a saved ExportedProgram (torch.export.save, .pt2) or zoo:NAME")
    comp.add_argument("-o", "--output", required=True, metavar="OUT.mfb")
    comp.add_argument("--calib", metavar="DATA.npy", help="calibration inputs, float32, PyTorch layout, batch first; "
                      "integer token ids for a model whose input is an nn.Embedding's "
                      "(required for a .pt2; a zoo model uses its own data)")
    comp.add_argument("--observer", default="minmax", choices=("minmax", "moving_average", "percentile", "mse"))
    comp.add_argument("--io", default="int8", choices=("int8", "float32"),
                      help="int8: the file's inputs and outputs are int8; float32: it quantizes and dequantizes them")
    comp.add_argument("--batch-size", type=int, default=32, help="calibration batch size")
    comp.add_argument("--weights", default="auto", choices=("auto", "dense", "packed", "int4", "palette", "sparse"),
                      help="how conv/linear weights are stored: auto (default) picks each layer's smallest encoding "
                           "the kernels run in place")
    comp.add_argument("--weight-bits", type=int, default=8, choices=(8, 4),
                      help="4: weights quantized to [-7, 7] (stored as packed int4)")
    comp.set_defaults(handler=_compile)
    comp = commands.add_parser("compress", help="run a compression recipe on a zoo model, report each step, write a .mfb")
    comp.add_argument("model", metavar="zoo:NAME", help="a zoo model with a bundled dataset (lenet300, lenet5, small_cnn)")
    comp.add_argument("--recipe", default="deep_compression", metavar="RECIPE",
                      help="a TOML file, or a built-in: deep_compression (default), channels_half, lowrank_half")
    comp.add_argument("--target-bytes", type=int, metavar="N", help="instead of a recipe: per-layer sensitivity, "
                      "then per-layer pruning and cluster rates planned for N bytes of compressed weights")
    comp.add_argument("-o", "--output", required=True, metavar="OUT.mfb")
    comp.add_argument("--plot", metavar="PLOT.png", help="size vs accuracy after each step (matplotlib)")
    comp.add_argument("--json", metavar="REPORT.json", help="the table's figures, machine-readable")
    comp.set_defaults(handler=_compress)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FormatError as exc:
        print(f"microflat: error: {args.model}: {exc}", file=sys.stderr)
        return 2
    except MicroflatError as exc:
        print(f"microflat: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"microflat: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
