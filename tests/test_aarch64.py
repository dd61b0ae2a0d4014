"""The Numba runtime on AArch64 (emulated) gives this host's bytes, tensor by tensor.

Each of tests/cpu_targets.py's AArch64 CPUs runs an arm64 Python under qemu-aarch64 (build/aarch64-python,
made by tests/arm/aarch64_python.sh) that compiles the kernels for that CPU: the Cortex-A72 takes the
widening-multiply path (SMULL, SADALP), the Cortex-A76 the dot-product path (SDOT). Every zoo model is
traced there, and every operator's output must equal this host's trace byte for byte: integer arithmetic
leaves no room for a tolerance. The guest also reports the vector path it selected, so a run that fell back
to the portable path fails. Under emulation each CPU's kernels compile in a few minutes; the zoo models
(not the op-coverage models, which the x86 targets run) keep this within CI's budget. The output stage and
ADD, which AArch64 runs in its own instructions (vector_ir.requant_lanes, add_lanes), are also checked on
the guest against the int64 references on thousands of edge-heavy cases.
"""

import json
import os
import subprocess

import numpy as np
import pytest

import int_reference as ref
import ops_reference as ops_ref
from cpu_targets import AARCH64_PYTHON, AARCH64_TARGETS, TRACE_WORKER, aarch64_command, guest_project
from firmware import need
from microflat.compiler import zoo
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.export_c import example_inputs
from zoo_files import compiled_zoo


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    need("qemu-aarch64")
    if not (AARCH64_PYTHON / "root").is_dir():
        message = (f"needs {AARCH64_PYTHON} (make {AARCH64_PYTHON.relative_to(AARCH64_PYTHON.parents[1])}, after "
                   "dpkg --add-architecture arm64 && apt-get update)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return guest_project(tmp_path_factory.mktemp("guest"))


@pytest.fixture(scope="module")
def numba_caches(tmp_path_factory):
    """One Numba cache per CPU for this module's tests: what one test compiled for a CPU, the next loads."""
    folder = tmp_path_factory.mktemp("numba-caches")
    return {cpu: folder / cpu for cpu in AARCH64_TARGETS}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    files = compiled_zoo()
    return {name: files[name] for name in sorted(zoo.ZOO)}


@pytest.mark.parametrize("cpu", sorted(AARCH64_TARGETS))
def test_every_zoo_operator_output_equals_the_hosts(cpu, guest, models, numba_caches, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for k, data in enumerate(models.values()):
        (folder / f"{k:02d}.mfb").write_bytes(data)
    argv, env = aarch64_command(cpu, numba_caches[cpu], guest)
    done = subprocess.run([*argv, "-c", TRACE_WORKER, str(folder)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == AARCH64_TARGETS[cpu][1]
    for k, (name, data) in enumerate(models.items()):
        host = Interpreter(data).trace(*example_inputs(load_bytes(data), None))
        with np.load(folder / f"{k:02d}.npz") as theirs:
            assert sorted(theirs.files) == sorted(host), name
            for tensor, value in host.items():
                np.testing.assert_array_equal(theirs[tensor], value, err_msg=f"{name}: {tensor} on {cpu}")


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


@pytest.mark.parametrize("cpu", sorted(AARCH64_TARGETS))
def test_output_stage_and_add_equal_tflites_double_rounding(cpu, guest, numba_caches, tmp_path):
    """On the guest, the output stage (requantize_span: SQRDMULH, SRSHL and saturating narrows on AArch64)
    on 4,000 edge-heavy spans, and ADD / SUB (add_s8_same_shape: three such rescales an element) on 2,000
    vectors, against the int64 references of TFLite's arithmetic (int_reference, ops_reference)."""
    spans, adds = _span_cases(4000, 70), _add_cases(2000, 70)
    np.savez(tmp_path / "spans.npz", **spans)
    np.savez(tmp_path / "adds.npz", **adds)
    argv, env = aarch64_command(cpu, numba_caches[cpu], guest)
    done = subprocess.run([*argv, "-c", NUMERICS, *(str(tmp_path / f) for f in ("spans.npz", "adds.npz",
                                                                                 "spans.npy", "adds.npy"))],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = []
    for k in range(len(spans["zp"])):
        n = spans["length"][k]
        total = spans["acc"][k, :n].astype(np.int64) + spans["bias"][k, :n]
        expected.append(ref.requantize(total, spans["mult"][k, :n], spans["shift"][k, :n], spans["zp"][k],
                                       spans["lo"][k], spans["hi"][k]))
    np.testing.assert_array_equal(np.load(tmp_path / "spans.npy"), np.concatenate(expected).astype(np.int8))
    expected = []
    for k in range(len(adds["length"])):
        n = adds["length"][k]
        p = dict(zip(ADD_PARAMS, (int(v) for v in adds["params"][k])))
        expected.append(ops_ref.add(adds["a"][k, :n], adds["b"][k, :n], p))
    np.testing.assert_array_equal(np.load(tmp_path / "adds.npy"), np.concatenate(expected))
