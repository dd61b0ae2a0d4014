"""`microflat compress`: a recipe on your own model (a saved ExportedProgram, .pt2) or a zoo model.

    microflat compress MODEL.pt2 --data TRAIN.npz [--val VAL.npz] [--recipe NAME|FILE.toml | --target-bytes N]
                       [--batch-size N] -o OUT.mfb [--strip-names] [--plot PLOT.png] [--json REPORT.json]
    microflat compress zoo:NAME [--data TRAIN.npz [--val VAL.npz]] ... -o OUT.mfb

The data (--data, --val) is a NumPy .npz archive (np.savez(path, x=x, y=y)) of two arrays:

    x   the inputs, batch first, in the model's PyTorch layout: [N, *sample], where sample is the shape the
        model was exported with without its batch dimension (e.g. [N, 1, 28, 28] for NCHW images).
        Floating point (float16/32/64; used as float32), or integers for a model whose input is token ids.
    y   the class labels, [N], integers (any integer dtype; used as int64) in 0 .. C - 1, where the model's
        output is [batch, C] logits.

Without --val, a fixed 10% of --data (seeded) is held out for evaluation, and the rest is trained on.
A zoo model without --data uses its bundled dataset (lenet300, lenet5, small_cnn), as before; with --data, any
zoo model trains on yours.

Training is the default loop (compiler/training.py): Adam, cross-entropy, each step's epochs and learning rate
from the recipe, the recipe's batch size (--batch-size replaces it), a fixed seed. Every step is measured as
`pipeline.run` measures it: float and int8 top-1 on the evaluation data, parameters, MACs and bytes.

A .pt2 is rebuilt as a trainable module by compress/program.py (its conv, linear, batch-norm and dropout
layers become real modules named as in your model); see there for what that needs.

Errors: every bad input raises a MicroflatError with one line naming the argument or file: InputError for
the .npz data (a missing key, a wrong shape or dtype, labels out of range), CompileError for the model, the
recipe and the options. `microflat` prints it and exits with status 2.

`add_arguments(parser)` declares the options on an argparse parser and `run(args) -> int` runs them; neither
imports torch until it runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from microflat.runtime.errors import CompileError, InputError

BUILTIN_RECIPES = ("deep_compression", "channels_half", "lowrank_half")  # recipe.BUILTIN's names (a test checks)
DEFAULT_RECIPE = "deep_compression"
VAL_FRACTION = 0.1
SPLIT_SEED = 0
CALIBRATION_SAMPLES = 512


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (every count option of the CLI)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


STRIP_NAMES_HELP = ("leave out every tensor name but the inputs' and outputs' (a smaller file; inspect then shows "
                    "the others by index)")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `microflat compress` (MODEL, --data, --val, --recipe, --target-bytes, --batch-size, -o,
    --strip-names, --plot, --json) on an argparse parser (or subparser)."""
    parser.add_argument("model", metavar="MODEL",
                        help="your model as a saved ExportedProgram (torch.export.save, .pt2), or zoo:NAME")
    parser.add_argument("--data", metavar="TRAIN.npz",
                        help="training data: an .npz with x (inputs, PyTorch layout, batch first, float32) and y "
                             "(int64 class labels); required for a .pt2, optional for zoo:NAME (its bundled dataset)")
    parser.add_argument("--val", metavar="VAL.npz",
                        help="evaluation data, the same layout (default: a fixed 10%% of --data, held out)")
    parser.add_argument("--recipe", metavar="RECIPE",
                        help=f"a built-in, {', '.join(BUILTIN_RECIPES)} (default: {DEFAULT_RECIPE}), or a TOML file")
    parser.add_argument("--target-bytes", type=positive_int, metavar="N",
                        help="instead of a recipe: per-layer sensitivity, then per-layer pruning and cluster rates "
                             "planned for N bytes of compressed weights")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="training batch size (default: the recipe's batch_size, 64)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.mfb")
    parser.add_argument("--strip-names", action="store_true", help=STRIP_NAMES_HELP)
    parser.add_argument("--plot", metavar="PLOT.png", help="size vs accuracy after each step (matplotlib)")
    parser.add_argument("--json", metavar="REPORT.json", help="the table's figures, machine-readable")
    return parser


def _positive(args, name: str, flag: str):
    value = getattr(args, name, None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise CompileError(f"{flag} must be an integer >= 1, got {value!r}")
    return value


def resolve_recipe(spec: str | None, target_bytes: int | None):
    """The recipe named by --recipe (a built-in name or a TOML file); None with --target-bytes."""
    from . import recipe as recipes

    if target_bytes is not None:
        if spec is not None:
            raise CompileError(f"give --recipe ({spec}) or --target-bytes ({target_bytes}), not both")
        return None
    spec = DEFAULT_RECIPE if spec is None else spec
    if spec in recipes.BUILTIN:
        return recipes.BUILTIN[spec]
    if os.path.exists(spec) or spec.endswith(".toml"):
        return recipes.load(spec)
    raise CompileError(f"--recipe {spec}: neither a built-in recipe ({', '.join(sorted(recipes.BUILTIN))}) "
                       "nor a TOML file")


def load_arrays(path: str, flag: str, sample_shape: tuple, input_dtype, classes: int, model_name: str):
    """(x, y) tensors from an .npz, validated against the model. Raises InputError naming the file and key."""
    import zipfile

    import numpy as np
    import torch

    where = f"{flag} {path}"
    if not os.path.exists(path):
        raise InputError(f"{where}: no such file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            single = f.read(6) == b"\x93NUMPY"
        what = "a single array (.npy), not an .npz archive" if single else "not an .npz archive"
        raise InputError(f"{where}: {what}; save x and y with np.savez(path, x=x, y=y)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{where}: cannot read it as an .npz archive (np.savez(path, x=x, y=y)): {exc}") from None
    with archive:
        arrays = {}
        for key, what in (("x", "the inputs, PyTorch layout, batch first"), ("y", "int64 class labels")):
            if key not in archive.files:
                raise InputError(f"{where}: no array {key!r} ({what}); the archive holds {sorted(archive.files)}")
            try:
                arrays[key] = archive[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise InputError(f"{where}: cannot read array {key!r}: {exc}") from None
    x, y = arrays["x"], arrays["y"]
    want = "[N, " + ", ".join(str(d) for d in sample_shape) + "]"
    if x.ndim != 1 + len(sample_shape) or tuple(x.shape[1:]) != tuple(sample_shape):
        raise InputError(f"{where}: x has shape {list(x.shape)}; {model_name} takes {want} (samples of shape "
                         f"{list(sample_shape)}, PyTorch layout, batch first)")
    if len(x) == 0:
        raise InputError(f"{where}: x holds no samples")
    integer_input = not torch.empty((), dtype=input_dtype).is_floating_point()
    if integer_input:
        if x.dtype.kind not in "iu":
            raise InputError(f"{where}: x must hold integer token ids ({model_name}'s input is {input_dtype}), "
                             f"got {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x.astype(np.int64))).to(input_dtype)
    else:
        if x.dtype.kind != "f":
            raise InputError(f"{where}: x must be floating point (float32), got {x.dtype}")
        if not np.isfinite(x).all():
            raise InputError(f"{where}: x holds NaN or infinite values")
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(f"{where}: y has shape {list(y.shape)}; it must be [{len(x)}], one label per sample of x")
    if y.dtype.kind not in "iu":
        raise InputError(f"{where}: y must hold integer class labels (int64), got {y.dtype}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= classes:
        raise InputError(f"{where}: y holds labels {lo}..{hi}; {model_name} outputs {classes} classes, so labels "
                         f"must be 0..{classes - 1}")
    return x, torch.from_numpy(y.astype(np.int64))


def split(x, y, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED):
    """((x, y) to train on, (x, y) held out): a fixed `fraction` of the samples, at least one, chosen by seed."""
    import numpy as np
    import torch

    n = len(x)
    held = max(1, int(round(fraction * n)))
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    test, train = order[:held], order[held:]
    return (x[train], y[train]), (x[test], y[test])


def _program_signature(ep, path):
    """(sample shape, input dtype, classes) of a program with one input and one [batch, C] output."""
    from . import program

    inputs, outputs = program.user_inputs(ep), program.user_outputs(ep)
    if len(inputs) != 1:
        raise CompileError(f"{path}: the program takes {len(inputs)} inputs; microflat compress trains a model of "
                           "one input (x in the .npz)")
    if len(outputs) != 1 or program._val(outputs[0]) is None:
        raise CompileError(f"{path}: the program returns {len(outputs)} outputs; microflat compress trains a "
                           "classifier with one output, [batch, classes] logits")
    iv, ov = program._val(inputs[0]), program._val(outputs[0])
    if iv is None or iv.dim() < 1 or not all(isinstance(d, int) for d in iv.shape[1:]):
        raise CompileError(f"{path}: the program's input needs a fixed shape after its batch dimension")
    if ov.dim() != 2 or not isinstance(ov.shape[1], int):
        raise CompileError(f"{path}: the program's output has shape {list(ov.shape)}; microflat compress trains "
                           "a classifier whose output is [batch, classes] logits")
    return tuple(int(d) for d in iv.shape[1:]), iv.dtype, int(ov.shape[1])


def _zoo_signature(name, model):
    import torch

    from .. import zoo

    example = zoo.example_input(name)
    with torch.no_grad():
        out = model.eval()(example)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise CompileError(f"zoo:{name} is not a classifier ([batch, classes] logits); microflat compress trains "
                           "classifiers")
    return tuple(example.shape[1:]), example.dtype, int(out.shape[1])


def run(args: argparse.Namespace, *, log=None, progress: bool = True) -> int:
    """`microflat compress` with the options of add_arguments: compress, print the table, write the .mfb (and the
    plot and JSON). Returns 0; raises MicroflatError (CompileError, InputError) with one line for bad input."""
    log = log or (lambda line: print(line, file=sys.stderr))
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CompileError("compress needs the compiler extra: pip install 'microflat[compiler]'") from None
    from microflat.runtime.atomic import write_atomic

    from . import pipeline, report

    target_bytes = _positive(args, "target_bytes", "--target-bytes")
    batch_size = _positive(args, "batch_size", "--batch-size")
    data, val = getattr(args, "data", None), getattr(args, "val", None)
    plot_path, json_path = getattr(args, "plot", None), getattr(args, "json", None)
    strip_names = getattr(args, "strip_names", False)
    if val is not None and data is None:
        raise CompileError(f"--val {val} needs --data TRAIN.npz (the training data)")
    chosen = resolve_recipe(getattr(args, "recipe", None), target_bytes)
    spec = args.model
    if spec.startswith("zoo:") and data is None:
        _, rows, _ = pipeline.compress_zoo(spec[4:], chosen, target_bytes=target_bytes, batch_size=batch_size,
                                           output=args.output, plot_path=plot_path, strip_names=strip_names,
                                           progress=progress, log=log)
    else:
        if spec.startswith("zoo:"):
            from .. import zoo

            name = spec[4:]
            zoo.entry(name)
            model = zoo.load(name, progress=progress)
            shape, dtype, classes = _zoo_signature(name, model)
            title, model_name = name, spec
        else:
            if data is None:
                raise CompileError(f"{spec}: compressing your own model needs --data TRAIN.npz (x: inputs, y: "
                                   "class labels) to fine-tune on")
            from ..api import load_program
            from . import program

            ep = load_program(spec)
            shape, dtype, classes = _program_signature(ep, spec)
            title, model_name = os.path.basename(spec), spec
        train = load_arrays(data, "--data", shape, dtype, classes, model_name)
        if val is not None:
            test = load_arrays(val, "--val", shape, dtype, classes, model_name)
        else:
            if len(train[0]) < 2:
                raise InputError(f"--data {data}: x holds one sample; give at least two (10% are held out for "
                                 "evaluation) or --val VAL.npz")
            train, test = split(*train)
            log(f"no --val: evaluating on {len(test[0])} samples of {data} held out (a fixed {VAL_FRACTION:.0%}), "
                f"training on the other {len(train[0])}")
        if not spec.startswith("zoo:"):
            model = program.module_from_program(ep, spec)
            program.check_batches(ep, model, train[0][:4], spec)
            if not program.layers(model):
                raise CompileError(f"{spec}: no conv or linear layer with its own weight parameter to compress")
        _, rows, _ = pipeline.compress_arrays(model, (train[0][:1],), train, test, chosen, target_bytes=target_bytes,
                                              batch_size=batch_size, output=args.output, plot_path=plot_path,
                                              title=f"{title}: size vs int8 top-1 after each step",
                                              calibration_images=CALIBRATION_SAMPLES, strip_names=strip_names,
                                              progress=progress, log=log)
    print(report.render(rows))
    if json_path:
        write_atomic(json_path, report.to_json(rows).encode())
    print(f"wrote {args.output}" + (f", {plot_path}" if plot_path else "") + (f", {json_path}" if json_path else ""))
    return 0
