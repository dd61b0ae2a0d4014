"""Selective operator linking: a C runtime built with -DMF_OPS_SELECTED holds only the operators its
mf_ops_used.h enables (runtime/c/microflat.h, "Operators"), and refuses a model that needs another.

- `microflat export-c` writes the mf_ops_used.h of exactly the opcodes the model's operators use, read here
  from the file with the flatbuffer reader and named by the C runtime's own MFB_OP_CODE_* constants;
- a host build of the runtime (gcc, loaded with cffi) that leaves out any of them refuses the model at load
  with MF_ERROR_OPERATOR_NOT_BUILT, the first operator that needs one as its index and that operator's opcode
  field as its offset; a build with exactly export-c's selection runs the model to the Python runtime's bytes;
- each operator alone compiles with the firmware's warnings as errors and calls its own kernels only (nm), so
  --gc-sections leaves the others out: the Cortex-M firmware built for a model holds no other operator's
  kernel, and refuses a model that needs an operator it left out, in one line.
"""

import hashlib
import re

import numpy as np
import pytest
from cffi import FFI
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import ROOT, build_firmware, exported, need, python_outputs, run, run_firmware
from model_builders import stream_models
from op_models import OP_MODELS
from zoo_files import COMPILED_STREAMS, VARIANTS, compiled_zoo
from microflat.compiler import zoo
from microflat.runtime import load_bytes
from microflat.runtime.c_runtime import aligned_bytes
from microflat.runtime.export_c import example_inputs, export, ops_header, ops_used
from microflat.runtime.flatbuffer_reader import read_root
from microflat.runtime.loader import check_header

MODELS = (sorted(zoo.ZOO) + sorted(VARIANTS) + sorted(OP_MODELS) + sorted(stream_models())
          + sorted(COMPILED_STREAMS))
RUNTIME_C = ROOT / "runtime" / "c"
KERNELS_C = ROOT / "kernels"
OPS_C = RUNTIME_C / "mfb_ops.c"
FIRMWARE_FLAGS = ["-std=c99", "-Os", "-Wall", "-Wextra", "-Wconversion", "-Werror", f"-I{KERNELS_C}", f"-I{RUNTIME_C}"]
MICROFLAT_H = (RUNTIME_C / "microflat.h").read_text()
NOT_BUILT = int(re.search(r"MF_ERROR_OPERATOR_NOT_BUILT = (\d+)", MICROFLAT_H).group(1))


def c_opcodes() -> dict:
    """{name: opcode} of every operator the C runtime knows: mfb_schema.h's MFB_OP_BUILT_<NAME>, MFB_OP_CODE_<NAME>."""
    text = (RUNTIME_C / "mfb_schema.h").read_text()
    codes = dict(re.findall(r"#define MFB_OP_CODE_(\w+) (\d+)", text))
    return {name: int(codes[name]) for name in re.findall(r"#define MFB_OP_BUILT_(\w+) 1", text)}


OPCODES = c_opcodes()
NAMES = {code: name for name, code in OPCODES.items()}


def operators(data: bytes) -> list:
    """[(opcode, byte offset of its opcode field, or of the operator's table when the field holds the default)]."""
    root = read_root(data, check_header(data).flatbuffer_bytes)
    return [(int(op.opcode), op.at["opcode"]) for op in root.operators]


# Operators that share their check and part of their run with siblings: each alone calls its own kernel and
# none of its siblings' (kernels/microflat_kernels.h).
OWN_KERNEL = {
    "ADD": "mf_add_s8", "SUB": "mf_sub_s8", "MUL": "mf_mul_s8", "SQUARED_DIFFERENCE": "mf_squared_difference_s8",
    "MAXIMUM": "mf_maximum_s8", "MINIMUM": "mf_minimum_s8",
    "AVERAGE_POOL_2D": "mf_average_pool2d_s8", "MAX_POOL_2D": "mf_max_pool2d_s8",
    "RESIZE_NEAREST_NEIGHBOR": "mf_resize_nearest_s8", "RESIZE_BILINEAR": "mf_resize_bilinear_s8",
    "SUM": "mf_reduce_sum_s8", "REDUCE_MAX": "mf_reduce_max_s8", "REDUCE_MEAN": "mf_reduce_mean_s8",
    "QUANTIZE": "mf_quantize_s8", "DEQUANTIZE": "mf_dequantize_s8",
}


class HostRuntime:
    """The C runtime built for this host as shared libraries, one per selection of operators, called through
    cffi as a firmware calls it. Everything but mfb_ops.c is compiled once; only mfb_ops.c sees the selection."""

    def __init__(self, folder):
        need("gcc", "nm")
        self.folder = folder
        self.objects = []
        for src in sorted(KERNELS_C.glob("*.c")) + sorted(p for p in RUNTIME_C.glob("*.c") if p != OPS_C):
            obj = folder / f"{src.parent.name}_{src.stem}.o"
            self._gcc("-fPIC", "-c", str(src), "-o", str(obj))
            self.objects.append(obj)
        self.kernels = {name for obj in self.objects if obj.name.startswith("kernels_") for name in self._nm(obj)}
        self.ffi = FFI()
        self.ffi.cdef(MICROFLAT_H.split("/* cffi-begin", 1)[1].split("*/", 1)[1].split("/* cffi-end */", 1)[0])
        self._libraries = {}

    @staticmethod
    def _gcc(*args):
        result = run(["gcc", *FIRMWARE_FLAGS, *args])
        assert result.returncode == 0, result.stderr

    @staticmethod
    def _nm(obj, undefined=False) -> set:
        out = run(["nm", "-u" if undefined else "--defined-only", "-g", str(obj)]).stdout
        return {line.split()[-1] for line in out.splitlines() if line.strip()}

    def selection(self, names):
        """A folder holding the mf_ops_used.h that enables `names` (export-c's form)."""
        names = sorted(names, key=OPCODES.get)
        folder = self.folder / ("ops-" + hashlib.sha1(" ".join(names).encode()).hexdigest()[:12])
        folder.mkdir(exist_ok=True)
        (folder / "mf_ops_used.h").write_text(ops_header(names))
        return folder

    def mfb_ops(self, selection=None):
        """mfb_ops.o: every operator (selection None, no MF_OPS_SELECTED), or those of selection/mf_ops_used.h."""
        obj = (selection or self.folder) / "mfb_ops.o"
        if not obj.exists():
            flags = [] if selection is None else ["-DMF_OPS_SELECTED", f"-I{selection}"]
            self._gcc("-fPIC", *flags, "-c", str(OPS_C), "-o", str(obj))
        return obj

    def kernels_called(self, selection=None) -> set:
        return self._nm(self.mfb_ops(selection), undefined=True) & self.kernels

    def library(self, selection):
        if selection not in self._libraries:
            so = selection / "libmicroflat.so"
            # -Bsymbolic: each library's calls stay inside it, whatever else this process has loaded
            self._gcc("-shared", "-Wl,-Bsymbolic", *map(str, self.objects), str(self.mfb_ops(selection)), "-o", str(so))
            self._libraries[selection] = self.ffi.dlopen(str(so))
        return self._libraries[selection]

    def load_and_run(self, selection, data: bytes):
        """The outputs on export-c's example inputs, or (status, index, offset, message) when the load fails."""
        ffi, lib = self.ffi, self.library(selection)
        file = aligned_bytes(len(data))
        file[:] = np.frombuffer(data, np.uint8)
        error, need_bytes, model = ffi.new("mf_error *"), ffi.new("uint32_t *"), ffi.new("mf_model *")
        # mf_arena_bytes verifies the file as mf_model_load does (all but the plan's overlaps): either refuses it
        status = lib.mf_arena_bytes(ffi.from_buffer("uint8_t[]", file), len(data), need_bytes, error)
        if status == 0:
            arena = aligned_bytes(max(int(need_bytes[0]), 1))
            status = lib.mf_model_load(model, ffi.from_buffer("uint8_t[]", file), len(data),
                                       ffi.from_buffer("uint8_t[]", arena), need_bytes[0], error)
        if status != 0:
            return int(status), int(error.index), int(error.offset), ffi.string(error.message).decode()
        for i, x in enumerate(example_inputs(load_bytes(data), None)):
            ffi.memmove(lib.mf_input(model, i), np.ascontiguousarray(x).tobytes(), x.nbytes)
        assert lib.mf_invoke(model) == 0
        return [bytes(ffi.buffer(lib.mf_output(model, i), lib.mf_output_bytes(model, i)))
                for i in range(lib.mf_output_count(model))]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    return HostRuntime(tmp_path_factory.mktemp("selected_ops"))


@pytest.mark.parametrize("name", MODELS)
def test_export_c_enables_exactly_the_opcodes_the_model_uses(name, tmp_path):
    data = compiled_zoo()[name]
    info = export(data, tmp_path)
    enabled = re.findall(r"^#define MF_OP_ENABLE_(\w+) 1$", (tmp_path / "mf_ops_used.h").read_text(), flags=re.M)
    used = sorted({code for code, _ in operators(data)})
    assert enabled == info["ops"] == [NAMES[code] for code in used]


@pytest.mark.parametrize("name", MODELS)
def test_a_build_of_export_cs_selection_runs_the_model_to_the_python_runtimes_bytes(name, host, tmp_path):
    data = compiled_zoo()[name]
    assert host.load_and_run(exported(data, tmp_path), data) == python_outputs(data)


@settings(max_examples=30)
@given(st.data())
def test_a_build_without_an_operator_the_model_uses_refuses_the_model_at_load(host, choices):
    name = choices.draw(st.sampled_from(MODELS), label="model")
    data = compiled_zoo()[name]
    ops = operators(data)
    used = sorted({NAMES[code] for code, _ in ops})
    left_out = set(choices.draw(st.lists(st.sampled_from(used), min_size=1, unique=True), label="left out"))
    others = sorted(set(OPCODES) - set(used))
    extra = set(choices.draw(st.lists(st.sampled_from(others), unique=True), label="others built")) if others else set()
    result = host.load_and_run(host.selection((set(used) - left_out) | extra), data)
    first = next(k for k, (code, _) in enumerate(ops) if NAMES[code] in left_out)
    assert result[:3] == (NOT_BUILT, first, ops[first][1])
    assert "MF_OPS_SELECTED" in result[3]


@pytest.fixture(scope="module")
def kernels_of(host) -> dict:
    """{operator name: the kernels mfb_ops.c calls when it holds that operator alone; None: every operator}."""
    calls = {name: host.kernels_called(host.selection([name])) for name in OPCODES}
    calls[None] = host.kernels_called()
    return calls


@pytest.mark.parametrize("name", sorted(OPCODES, key=OPCODES.get))
def test_each_operator_alone_compiles_and_calls_only_its_own_kernels(name, kernels_of):
    calls = kernels_of[name]
    assert calls < kernels_of[None]
    if name in OWN_KERNEL:
        assert OWN_KERNEL[name] in calls
        assert calls.isdisjoint(set(OWN_KERNEL.values()) - {OWN_KERNEL[name]})


def test_every_kernel_the_runtime_calls_belongs_to_an_operator(kernels_of):
    assert set().union(*(kernels_of[name] for name in OPCODES)) == kernels_of[None]


def _arm_symbols(elf) -> set:
    need("arm-none-eabi-nm")
    return {line.split()[-1] for line in run(["arm-none-eabi-nm", "--defined-only", str(elf)]).stdout.splitlines()}


def _text_bytes(elf) -> int:
    out = run(["arm-none-eabi-size", "-A", str(elf)]).stdout
    return int(re.search(r"^\.text\s+(\d+)", out, flags=re.M).group(1))


def test_the_firmware_links_only_the_kernels_of_the_models_operators(kernels_of, tmp_path):
    """ds_cnn's firmware (OPS=model, the Makefile's default) against one with every operator (OPS=all), both at
    -Os: only the latter holds the kernels that ds_cnn's operators never call, and it still runs bit-exactly."""
    data = compiled_zoo()["ds_cnn"]
    model_dir = exported(data, tmp_path / "model")
    selected = build_firmware(model_dir, tmp_path / "model_ops", opt="-Os")
    every = build_firmware(model_dir, tmp_path / "all_ops", opt="-Os", ops="all")
    used = set(ops_used(load_bytes(data)))
    others_only = kernels_of[None] - set().union(*(kernels_of[name] for name in used))
    assert others_only and others_only <= _arm_symbols(every)
    assert others_only.isdisjoint(_arm_symbols(selected))
    assert _text_bytes(selected) < _text_bytes(every)
    result = run_firmware(every)
    assert result.returncode == 0 and "expected: match" in result.stderr, result.stderr


def test_a_firmware_built_for_one_model_refuses_a_model_needing_an_operator_it_left_out(tmp_path):
    """resnet8 in a firmware built with ds_cnn's operators, which have no ADD: the loader refuses it at its first
    ADD, and the firmware prints one error line and exits 2 (main.c: the loader refused the model)."""
    resnet8 = compiled_zoo()["resnet8"]
    model_dir = exported(resnet8, tmp_path / "model")
    ds_cnn_ops = ops_used(load_bytes(compiled_zoo()["ds_cnn"]))
    assert "ADD" not in ds_cnn_ops
    (model_dir / "mf_ops_used.h").write_text(ops_header(ds_cnn_ops))
    result = run_firmware(build_firmware(model_dir, tmp_path / "build"))
    first_add = next(offset for code, offset in operators(resnet8) if NAMES[code] == "ADD")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(f"error {NOT_BUILT} at byte {first_add}: "), result.stderr
    assert result.stderr.strip().count("\n") == 0
