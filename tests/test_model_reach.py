"""The six models of reach_models.py: compiled with the CLI (`microflat compile`), run on both backends, within a
derived bound of the float PyTorch module.

The bound is checked op by op, on the model's own run: for every value v of the compiled graph, its measured error
e[v] = max |dequantized int8 - float| (int8 from Interpreter.trace, float from the compiler's float graph, which
the test first holds equal to the module) must lie within the bound the op's arithmetic allows given its inputs'
measured errors. A worst case carried from the input through a transformer grows past any use (each Linear can
multiply it by sum |w|); carried op by op, each bound is tight, and a kernel that rounds, saturates or scales
wrongly anywhere in the model fails at that op. The last op's bound is the output's bound against float.

M = max |dequantized input| and s = a value's scale. One requantization costs 1.5 s_out (a rounding, and the
fixed-point multiplier's double rounding: one more step), a table lookup s_out / 2 (the table holds f of each
dequantized input, correctly rounded), a byte move nothing:

    conv, fc, transpose conv   max over channels c of  A_c e_in + K M s_w[c] / 2 + s_in s_w[c] / 2  + 1.5 s_out
                    (A_c = sum |w_c|, the float weights the int8 ones round: the input error through the true
                    weights, the weight rounding through the dequantized inputs, the bias rounding; K taps an output
                    element meets)
    add, sub        e_a + e_b + 1.5 s_out
    mul             M_a e_b + max|b| e_a + 1.5 s_out;   batch matmul: K scale (M_a e_b + max|b| e_a) + 1.5 s_out
    squared diff    (2 max|a - b| + d) d + 1.5 s_out,  d = e_a + e_b + 2 max(s_a, s_b) / 2^7 (the kernel's rounding)
    table f         L e_in + s_out / 2, L the Lipschitz constant of f (rsqrt: at the least input, either side)
    softmax         e^(2 e_in) - 1 + 1.5 / 256 (each probability scales by at most e^(+-2 e_in); TFLite's own rounding)
    mean, avg pool  e_in + 1.5 s_out;   sum of N: N e_in + 1.5 s_out
    max, max pool, pad, reshape, transpose, slice, gather, nearest resize, reduce max: max e_in (no arithmetic)
    concatenation   max e_in (+ 1.5 s_out when an input's quantization differs from the output's)
    a constant operand, an embedding table: s / 2 (its rounding; not an op output, so not measured)

A fused clamp is 1-Lipschitz and adds nothing.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from microflat.compiler import compile_model, save_program
from microflat.compiler.simulate import run_graph
from microflat.runtime import Interpreter
from reach_models import REACH_MODELS, reach_inputs

SCRIPT = Path(sys.executable).parent / "microflat"
CALIBRATION = 32
# Lipschitz constants of the table activations on the whole real line: max |f'|.
#   gelu: x Phi(x) has f' = Phi(x) + x phi(x), largest at x = sqrt(2): 1.1289; its tanh form agrees to 1e-3.
#   silu: x s(x) has f' = s(x) (1 + x (1 - s(x))), largest at x = 2.3994: 1.0998.  mish: 1.0882 (at x = 1.19).
#   hardswish: x (x + 3) / 6 on [-3, 3] has f' = (2 x + 3) / 6, 1.5 at x = 3.  hardsigmoid 1/6, logistic 1/4.
LIPSCHITZ = {"gelu": 1.1290, "gelu_tanh": 1.1300, "silu": 1.0999, "mish": 1.0883, "hardswish": 1.5,
             "hardsigmoid": 1 / 6, "logistic": 0.25, "tanh": 1.0, "clamp": 1.0}
MOVES = {"max_pool", "pad", "reshape", "transpose", "strided_slice", "resize_nearest", "reduce_max", "maximum",
         "minimum"}


def _maxabs(t) -> float:
    return float(np.max(np.abs(t))) if np.size(t) else 0.0


def op_bound(node, e, deq, flt) -> float:
    """The bound on node's output error given its inputs' errors e, dequantized values deq and float values flt."""
    op, a, ins, s_out = node.op, node.attrs, node.inputs, node.output.scale
    mag = [_maxabs(d) for d in deq]
    if op in ("conv", "fc", "transpose_conv"):
        w = np.asarray(a["weight"], np.float64)
        s_w = np.asarray(a["quantized"]["weight_scale"], np.float64)
        rows = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
        if op == "transpose_conv":  # [O, I, KH, KW]: an output meets I * ceil(KH / s) * ceil(KW / s) taps
            k = w.shape[1] * math.ceil(w.shape[2] / a["stride"][0]) * math.ceil(w.shape[3] / a["stride"][1])
        else:
            k = int(np.prod(w.shape[1:]))
        return float(np.max(rows * e[0] + k * mag[0] * s_w / 2 + ins[0].scale * s_w / 2)) + 1.5 * s_out
    if op in ("add", "sub"):
        return e[0] + e[1] + 1.5 * s_out
    if op == "mul":
        return mag[0] * e[1] + _maxabs(flt[1]) * e[0] + 1.5 * s_out
    if op == "batch_matmul":
        k = ins[0].shape[-2] if a["adj_x"] else ins[0].shape[-1]
        return k * a["scale"] * (mag[0] * e[1] + _maxabs(flt[1]) * e[0]) + 1.5 * s_out
    if op == "squared_difference":
        d = e[0] + e[1] + 2 * max(ins[0].scale, ins[1].scale) / 2**7
        return (2 * _maxabs(flt[0] - flt[1]) + d) * d + 1.5 * s_out
    if op == "rsqrt":  # 1 / sqrt(x + eps): |f'| = (x + eps)^(-3/2) / 2, largest at the least input
        least = max(min(float(flt[0].min()), float(deq[0].min())), 0.0) + a["eps"]
        return 0.5 * least ** -1.5 * e[0] + s_out / 2
    if op in LIPSCHITZ:
        return LIPSCHITZ[op] * e[0] + s_out / 2
    if op == "softmax":
        return math.expm1(2 * e[0]) + 1.5 / 256
    if op in ("mean", "reduce_mean", "avg_pool"):
        return e[0] + 1.5 * s_out
    if op == "reduce_sum":
        return int(np.prod([ins[0].shape[ax] for ax in a["axes"]])) * e[0] + 1.5 * s_out
    if op == "concat":
        y = node.output
        return max(e) + (1.5 * s_out if any((v.scale, v.zero_point) != (y.scale, y.zero_point) for v in ins) else 0.0)
    if op in MOVES or op == "gather":
        return max(e)
    raise AssertionError(f"no error rule for {op} ({node.source})")


def _dequantized(v, q):
    return q.astype(np.float64) if v.dtype == "int32" else (q.astype(np.float64) - v.zero_point) * v.scale


def representable(v) -> tuple[float, float]:
    return (-128 - v.zero_point) * v.scale, (127 - v.zero_point) * v.scale


def check_op_by_op(graph, data, physical_sample, feed_sample) -> tuple[float, float]:
    """Every op's measured error within op_bound on one sample; returns the output's bound and representable range."""
    (_,), env = run_graph(graph, [physical_sample], record=True)
    flt = {v: t.double().numpy() for v, t in env.items()}
    trace = Interpreter(data).trace(feed_sample)
    deq, e = {}, {}
    for v in graph.inputs:  # the test quantized the input itself (_feed)
        deq[v] = _dequantized(v, feed_sample.reshape(flt[v].shape))
    producers = graph.producers()
    for v in graph.values():
        node = producers.get(v)
        if node is not None and node.op == "constant":
            deq[v], e[v] = flt[v], v.scale / 2  # not an op output: its rounding, not measured
            continue
        if v not in deq:
            deq[v] = _dequantized(v, trace[v.name].reshape(flt[v].shape))
        e[v] = _maxabs(deq[v] - flt[v])
        if node is None:  # a model input: one quantization (ids: exact)
            assert e[v] <= (0.0 if v.dtype == "int32" else v.scale / 2 * (1 + 1e-6)), (v.name, e[v])
            continue
        bound = op_bound(node, [e[u] for u in node.inputs], [deq[u] for u in node.inputs], [flt[u] for u in node.inputs])
        slack = 1e-5 * max(1.0, _maxabs(flt[v]))  # float32 in the float graph
        # an unseen input may carry a value past the range calibration gave it: int8 saturates there, so the
        # op is held to the float value clamped to its representable range (the excess is measured downstream)
        clamped = np.clip(flt[v], representable(v)[0], representable(v)[1])
        assert _maxabs(deq[v] - clamped) <= bound + slack, (node.op, node.source, _maxabs(deq[v] - clamped), bound)
        last = (bound + slack, representable(v))
    return last


def _feed(v, x: np.ndarray) -> np.ndarray:
    """The model's int8 input (x rounded to its grid, halves away from zero, saturated), or int32 ids."""
    if v.dtype == "int32":
        return x.astype(np.int32)
    q = np.sign(x) * np.floor(np.abs(x.astype(np.float64) / v.scale) + 0.5) + v.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def _cli_compile(tmp_path, name, model, calib):
    pt2, npy, mfb = tmp_path / f"{name}.pt2", tmp_path / f"{name}.npy", tmp_path / f"{name}.mfb"
    save_program(model, (calib[:1],), pt2)
    np.save(npy, calib.numpy())
    r = subprocess.run([str(SCRIPT), "compile", str(pt2), "--calib", str(npy), "-o", str(mfb)], capture_output=True,
                       text=True, env=dict(os.environ, TQDM_DISABLE="1"))
    assert r.returncode == 0, r.stderr
    return mfb.read_bytes()


@pytest.mark.parametrize("name", sorted(REACH_MODELS))
def test_model_compiles_with_the_cli_and_runs_within_the_derived_bound(tmp_path, name):
    model = REACH_MODELS[name]().eval()
    calib = reach_inputs(name, CALIBRATION)
    data = _cli_compile(tmp_path, name, model, calib)
    # The API with the CLI's arguments writes the same bytes, and gives the graph the bound is carried through.
    cm = compile_model(model, (calib[:1],), [calib], progress=False)
    assert cm.data == data

    x = reach_inputs(name, 8, seed=1)  # unseen inputs (ids from the same vocabulary)
    physical = cm.to_physical([x])[0]
    feed = _feed(cm.graph.inputs[0], physical.numpy())
    got = [Interpreter(data, backend=b).invoke(feed)[0] for b in ("numba", "c")]
    np.testing.assert_array_equal(got[1], got[0])  # the C runtime gives the same bytes
    out = Interpreter(data).output_details[0]
    y = (got[0].astype(np.float64) - out["zero_point"]) * out["scale"]

    with torch.no_grad():
        ref = model(x).double().numpy()
    (float_graph,) = run_graph(cm.graph, [physical])
    if ref.ndim == 4 and cm.graph.output_layouts[0] == "NHWC":
        ref = ref.transpose(0, 2, 3, 1)
    float_slack = 1e-5 * max(1.0, float(np.abs(ref).max()))  # float32 sums in another order (batch norm folded)
    np.testing.assert_allclose(float_graph.double().numpy(), ref, rtol=0, atol=float_slack)
    assert y.shape == ref.shape
    clipped = 0
    for i in range(len(x)):
        bound, (lo, hi) = check_op_by_op(cm.graph, data, physical[i:i + 1], feed[i:i + 1])
        assert float(np.max(np.abs(y[i] - np.clip(ref[i], lo, hi)))) <= bound + float_slack
        clipped += int(np.sum((ref[i] < lo) | (ref[i] > hi)))
    print(f"{name}: {len(data)} B, max error {np.max(np.abs(y - ref)):.4g} (last bound {bound:.4g}, output range "
          f"{np.abs(ref).max():.3g}, {clipped} of {ref.size} outputs past the calibrated range)")


class _Attention(torch.nn.Module):
    """nn.MultiheadAttention on a batch-first [N, 10, 16] input; batch_first=False: the module is sequence-first,
    so the model transposes to [10, N, 16] and back, as users of that layout do."""

    def __init__(self, batch_first):
        super().__init__()
        torch.manual_seed(10)
        self.batch_first = batch_first
        self.mha = torch.nn.MultiheadAttention(16, 4, batch_first=batch_first)

    def forward(self, x):
        if self.batch_first:
            return self.mha(x, x, x, need_weights=False)[0]
        t = x.transpose(0, 1)
        return self.mha(t, t, t, need_weights=False)[0].transpose(0, 1)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_within_the_derived_bound(batch_first):
    model = _Attention(batch_first).eval()
    calib = torch.randn(32, 10, 16, generator=torch.Generator().manual_seed(0))
    cm = compile_model(model, (calib[:1],), [calib], progress=False)
    assert [n.op for n in cm.graph.nodes].count("batch_matmul") == 2
    x = torch.randn(4, 10, 16, generator=torch.Generator().manual_seed(1))
    feed = _feed(cm.graph.inputs[0], x.numpy())
    got = [Interpreter(cm.data, backend=b).invoke(feed)[0] for b in ("numba", "c")]
    np.testing.assert_array_equal(got[1], got[0])
    with torch.no_grad():
        ref = model(x).double().numpy()
    out = Interpreter(cm.data).output_details[0]
    y = (got[0].astype(np.float64) - out["zero_point"]) * out["scale"]
    for i in range(len(x)):
        bound, (lo, hi) = check_op_by_op(cm.graph, cm.data, x[i:i + 1], feed[i:i + 1])
        assert float(np.max(np.abs(y[i] - np.clip(ref[i], lo, hi)))) <= bound + 1e-5
