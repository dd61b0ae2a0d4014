"""`microflat demo`: what microflat is for, end to end, on a built-in default, in about half a minute.

A small CNN trained on scikit-learn's bundled 8x8 digits (or loaded from the
zoo's cache), pruned, clustered and QAT-trained with the compression front
end, compiled to one int8 .mfb; then the size ledger, the arena planned at
compile time, float against int8 top-1 on held-out digits, the Numba and C
runtimes giving the same bytes on all of them, the same file in Cortex-M4
firmware under QEMU on a few (where the ARM tools are installed), and a plot.
The work is microflat.compiler.demo's; this entry point only checks that the
compiler extra (PyTorch) is installed and turns a failure into exit status 1.

    microflat demo                                   # writes into a new temporary folder, printed
    python -m microflat.runtime.demo --out DIR [--firmware-inputs N] [--board BOARD]
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m microflat.runtime.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", metavar="DIR", help="where to write the .mfb, the plot and the firmware builds "
                        "(default: a new temporary folder)")
    parser.add_argument("--firmware-inputs", type=int, default=3, metavar="N",
                        help="held-out digits to run in the Cortex-M firmware under QEMU (0: skip it)")
    parser.add_argument("--board", default="mps2-an386", help="the QEMU board (default mps2-an386, Cortex-M4F)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`microflat demo` calls main() (the defaults); argv: the options of build_parser(). Returns the exit status."""
    args = build_parser().parse_args([] if argv is None else argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("microflat demo needs the compiler extra (PyTorch): pip install 'microflat[compiler]'", file=sys.stderr)
        return 1
    from microflat.compiler import demo

    try:
        demo.run(args.out, firmware_inputs=args.firmware_inputs, board=args.board, progress=not args.no_progress)
    except demo.DemoFailure as exc:
        print(f"microflat demo: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
