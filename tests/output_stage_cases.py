"""The output stage's and ADD's edge-heavy cases, the worker that runs them on a CPU, and the check against the
int64 references of TFLite's arithmetic (int_reference, ops_reference), for every CPU whose vector_ir path
has its own instructions for them (requant_lanes, add_lanes): AArch64 (test_aarch64) and x86
(test_cpu_targets)."""

import numpy as np

from microflat.testing import int_reference as ref
from microflat.testing import ops_reference as ops_ref

NUMERICS = r"""
import sys
import numpy as np
from numba import njit
from microflat.kernels.elementwise import add_s8_same_shape
from microflat.kernels.numerics import requant_prepare_channels
from microflat.kernels.packed_layers import requantize_span


@njit
def all_spans(acc, bias, mult, shift, rnd, right, zp, lo, hi, length, out):
    for k in range(zp.shape[0]):  # the cases in one compiled loop: Python's calls are slow under emulation
        n = length[k]
        requantize_span(acc[k, :n], bias[k, :n], mult[k, :n], shift[k, :n], rnd[k, :n], right[k, :n], zp[k], lo[k],
                        hi[k], out[k, :n])


@njit
def all_adds(params, a, b, in_place, length, out):
    for k in range(length.shape[0]):
        n = length[k]
        p = params[k]
        target = out[k, :n] if in_place[k] == 0 else (a[k, :n] if in_place[k] == 1 else b[k, :n])
        add_s8_same_shape(n, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11],
                          a[k, :n], b[k, :n], target)
        out[k, :n] = target


spans, adds = np.load(sys.argv[1]), np.load(sys.argv[2])
rnd, right, fused = requant_prepare_channels(spans["mult"].astype(np.int64).reshape(-1),
                                             spans["shift"].astype(np.int64).reshape(-1))
assert fused
out = np.zeros(spans["acc"].shape, np.int8)
all_spans(spans["acc"], spans["bias"], spans["mult"], spans["shift"], rnd.reshape(out.shape), right.reshape(out.shape),
          spans["zp"], spans["lo"], spans["hi"], spans["length"], out)
np.save(sys.argv[3], np.concatenate([out[k, :n] for k, n in enumerate(spans["length"])]))
out = np.zeros(adds["a"].shape, np.int8)
all_adds(adds["params"].astype(np.int32), adds["a"].copy(), adds["b"].copy(), adds["in_place"], adds["length"], out)
np.save(sys.argv[4], np.concatenate([out[k, :n] for k, n in enumerate(adds["length"])]))
"""

ADD_PARAMS = ("left_shift", "input1_zp", "input1_mult", "input1_shift", "input2_zp", "input2_mult", "input2_shift",
              "output_zp", "output_mult", "output_shift", "act_min", "act_max")


def _span_cases(count, width, seed=0):
    """Output-stage spans of random lengths (so both the 16-lane part and the tail run), edge-heavy: sums at
    and next to +-2^31, multipliers at 2^30 and 2^31 - 1, every right shift from 1 to 31."""
    rng = np.random.default_rng(seed)
    edges = np.array([-2**31, -2**31 + 1, -2**30, -1, 0, 1, 2**30, 2**31 - 1], np.int64)
    total = rng.integers(-2**31, 2**31, size=(count, width))
    pick = rng.random((count, width)) < 0.3
    total[pick] = rng.choice(edges, size=pick.sum())
    small = rng.random((count, width)) < 0.3  # the range of real layers' sums
    total[small] = rng.integers(-2**20, 2**20, size=small.sum())
    bias = rng.integers(-2**20, 2**20, size=(count, width))
    acc = np.clip(total - bias, -2**31, 2**31 - 1)
    bias = total - acc  # acc + bias = total, both int32
    mult = np.where(rng.random((count, width)) < 0.2, rng.choice([2**30, 2**31 - 1], size=(count, width)),
                    rng.integers(2**30, 2**31, size=(count, width)))
    shift = rng.integers(-31, 0, size=(count, width))
    zp = rng.integers(-128, 128, size=count)
    lo = rng.integers(-128, 128, size=count)
    hi = np.maximum(lo, rng.integers(-128, 128, size=count))
    full = rng.random(count) < 0.5
    lo[full], hi[full] = -128, 127
    return dict(acc=acc.astype(np.int32), bias=bias.astype(np.int32), mult=mult.astype(np.int32),
                shift=shift.astype(np.int32), zp=zp, lo=lo, hi=hi, length=rng.integers(1, width + 1, size=count))


def _add_cases(count, width, seed=1):
    """ADD and SUB (input2_mult negated, as the runtimes run SUB) of random int8 vectors of random lengths
    (both the 16-lane part and the tail), into a new array or in place; multipliers in [2^30, 2^31) with
    every shift the loader admits (<= 0), TFLite's left shift of 20, any zero points and clamp."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(count, width)).astype(np.int8)
    b = rng.integers(-128, 128, size=(count, width)).astype(np.int8)
    p = {"left_shift": np.full(count, 20), "act_min": rng.integers(-128, 128, size=count)}
    p["act_max"] = np.maximum(p["act_min"], rng.integers(-128, 128, size=count))
    for name in ("input1", "input2", "output"):
        p[f"{name}_zp"] = rng.integers(-128, 128, size=count)
        p[f"{name}_mult"] = rng.integers(2**30, 2**31, size=count)
        p[f"{name}_shift"] = rng.integers(-31, 1, size=count)
    p["input2_mult"] *= rng.choice([1, -1], size=count)
    return dict(a=a, b=b, params=np.stack([p[k] for k in ADD_PARAMS], axis=1),
                length=rng.integers(1, width + 1, size=count), in_place=rng.integers(0, 3, size=count))


def write_cases(folder) -> list:
    """4,000 output-stage spans and 2,000 ADD / SUB vectors in `folder`; the worker's four paths (its argv)."""
    np.savez(folder / "spans.npz", **_span_cases(4000, 70))
    np.savez(folder / "adds.npz", **_add_cases(2000, 70))
    return [str(folder / f) for f in ("spans.npz", "adds.npz", "spans.npy", "adds.npy")]


def check_results(folder) -> None:
    """The worker's outputs in `folder` equal the int64 references, byte for byte."""
    spans, adds = np.load(folder / "spans.npz"), np.load(folder / "adds.npz")
    expected = []
    for k in range(len(spans["zp"])):
        n = spans["length"][k]
        total = spans["acc"][k, :n].astype(np.int64) + spans["bias"][k, :n]
        expected.append(ref.requantize(total, spans["mult"][k, :n], spans["shift"][k, :n], spans["zp"][k],
                                       spans["lo"][k], spans["hi"][k]))
    np.testing.assert_array_equal(np.load(folder / "spans.npy"), np.concatenate(expected).astype(np.int8))
    expected = []
    for k in range(len(adds["length"])):
        n = adds["length"][k]
        p = dict(zip(ADD_PARAMS, (int(v) for v in adds["params"][k])))
        expected.append(ops_ref.add(adds["a"][k, :n], adds["b"][k, :n], p))
    np.testing.assert_array_equal(np.load(folder / "adds.npy"), np.concatenate(expected))
