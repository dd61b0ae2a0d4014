"""Small files stay small: a weight's quantization stored once, equal vectors shared, names strippable.

The bound a small model's file must meet is the issue's (a 3,000-parameter model's file is at most twice its
stored constants); the other tests check what the bytes saved must not cost: the same outputs, bit for bit,
from both runtimes.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model_builders import digits_cnn
from microflat.compiler import compile_model, save_program
from microflat.compiler.writer import ModelWriter
from microflat.runtime import Interpreter, load_bytes

SCRIPT = Path(sys.executable).parent / "microflat"


def test_the_small_model_has_3106_parameters():
    assert sum(p.numel() for p in digits_cnn().parameters()) == 3106


X = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def _compile(**options):
    return compile_model(digits_cnn(), (X[:1],), [X], progress=False, **options)


def _constants(m) -> int:
    return sum(size for _, size in m.buffers)


@pytest.mark.parametrize("options", [{}, {"strip_names": True}, {"io_dtype": "float32"}],
                         ids=["names", "stripped", "float_io"])
def test_a_3000_parameter_model_is_at_most_twice_its_stored_constants(options):
    m = load_bytes(_compile(**options).data)
    assert len(m.data) <= 2 * _constants(m), (len(m.data), _constants(m))


def test_a_weight_carries_no_scales_of_its_own_and_the_op_holds_them_once():
    compiled = _compile()
    m = load_bytes(compiled.data)
    weighted = [op for op in m.operators if m.opcode_name(op.opcode) in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(weighted) == 4
    for op in weighted:
        w, bias = m.tensors[int(op.inputs[1])], m.tensors[int(op.inputs[2])]
        assert w.is_const and w.scale is None and w.zero_point is None  # zero point 0: a symmetric weight
        assert bias.is_const and bias.scale is None
        channels = w.shape[0]
        assert len(op.options.output_mult) == len(op.options.output_shift) == channels


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_equal_vectors_are_stored_once_and_both_runtimes_read_them(backend):
    w = ModelWriter()
    x = w.add_tensor("x", "int8", (1, 4, 4, 2), scale=0.1, zero_point=3)
    y = w.add_tensor("y", "int8", (1, 4, 4, 2), scale=0.1, zero_point=3)
    w.add_operator("RESHAPE", [x], [y])
    w.set_io([x], [y])
    m = load_bytes(w.to_bytes())
    tx, ty = m.root.tensors
    assert tx.at["shape"] == ty.at["shape"]  # one [1, 4, 4, 2]
    op = m.root.operators[0]
    assert m.root.at["inputs"] == op.at["inputs"] and m.root.at["outputs"] == op.at["outputs"]  # [0] and [1]
    data = np.arange(-16, 16, dtype=np.int8).reshape(1, 4, 4, 2)
    np.testing.assert_array_equal(Interpreter(w.to_bytes(), backend=backend).invoke(data)[0], data)


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_stripped_names_change_no_output_and_keep_the_interface(backend):
    kept, stripped = _compile(), _compile(strip_names=True)
    a, b = load_bytes(kept.data), load_bytes(stripped.data)
    assert len(stripped.data) < len(kept.data)
    interface = set(a.inputs) | set(a.outputs)
    for ta, tb in zip(a.tensors, b.tensors):
        assert tb.name == (ta.name if ta.index in interface else "")
        assert ta.name
    x = kept.to_physical([X[:8]])[0].numpy()
    got = Interpreter(stripped.data, backend=backend).invoke(x)[0]
    np.testing.assert_array_equal(got, Interpreter(kept.data, backend=backend).invoke(x)[0])


def test_compile_strip_names_through_the_console_script(tmp_path):
    pt2 = tmp_path / "digits.pt2"
    save_program(digits_cnn(), (X[:1],), pt2)
    np.save(tmp_path / "calib.npy", X.numpy())
    sizes = {}
    for flag in ([], ["--strip-names"]):
        out = tmp_path / f"model{len(flag)}.mfb"
        r = subprocess.run([str(SCRIPT), "compile", str(pt2), "-o", str(out), "--calib", str(tmp_path / "calib.npy"),
                            *flag], capture_output=True, text=True, env=dict(os.environ))
        assert r.returncode == 0, r.stderr
        sizes[bool(flag)] = out.stat().st_size
        names = [t.name for t in load_bytes(out.read_bytes()).tensors]
        assert all(names) != bool(flag)
    assert sizes[True] < sizes[False]
    # a per-layer comparison matches layers by name: a stripped file is refused in one line, not half-compared
    np.save(tmp_path / "x.npy", X[:4].numpy())
    r = subprocess.run([str(SCRIPT), "inspect", str(tmp_path / "model1.mfb"), "--compare", str(pt2), "--input",
                        str(tmp_path / "x.npy")], capture_output=True, text=True)
    assert r.returncode == 2 and "--strip-names" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_a_stripped_files_trace_keeps_every_tensor_apart():
    kept, stripped = _compile(), _compile(strip_names=True)
    x = kept.to_physical([X[:2]])[0].numpy()
    named, unnamed = Interpreter(kept.data).trace(x), Interpreter(stripped.data).trace(x)
    assert len(unnamed) == len(named)
    by_index = {t.name: t.index for t in load_bytes(kept.data).tensors}
    for name, value in named.items():
        key = name if name in unnamed else f"#{by_index[name]}"
        np.testing.assert_array_equal(unnamed[key], value)
