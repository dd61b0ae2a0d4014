"""The `microflat` command line.

User errors print one line, `microflat: error: ...`, and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .errors import FormatError


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.main()


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from microflat.compiler.writer import write_atomic

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


def _inspect(args: argparse.Namespace) -> int:
    import json

    from .inspect_model import render, summary
    from .loader import load_file

    s = summary(load_file(args.model))
    print(json.dumps(s, indent=2) if args.json else render(s))
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
    inspect = commands.add_parser("inspect", help="show a .mfb model's ops, MACs, weights, arena plan and bytes")
    inspect.add_argument("model", metavar="MODEL.mfb")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(handler=_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FormatError as exc:
        print(f"microflat: error: {args.model}: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"microflat: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
