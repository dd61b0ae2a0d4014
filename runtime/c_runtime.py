"""The C runtime (runtime/c), driven through cffi: the "c" backend of the Interpreter.

The C loader verifies the file on its own (mf_model_load), with the same
checks as the Python loader, and the C interpreter runs it (mf_invoke) on
an arena this module owns. Both buffers are 16-byte aligned, as the C
runtime requires: constants are read in place as int32 arrays.
"""

from __future__ import annotations

import numpy as np

from microflat.kernels import native

from .errors import FormatError, InputError

ALIGNMENT = 16
STATUS = {
    0: "MF_OK", 1: "MF_ERROR_ARGUMENT", 2: "MF_ERROR_HEADER", 3: "MF_ERROR_FLATBUFFER", 4: "MF_ERROR_MODEL",
    5: "MF_ERROR_TENSOR", 6: "MF_ERROR_ENCODING", 7: "MF_ERROR_OPERATOR", 8: "MF_ERROR_PLAN",
    9: "MF_ERROR_ARENA_TOO_SMALL", 10: "MF_ERROR_NOT_LOADED", 11: "MF_ERROR_INPUT", 12: "MF_ERROR_OPERATOR_NOT_BUILT",
}
MF_ERROR_INPUT = 11  # an input's value the model refuses at invoke (a GATHER index outside its table): InputError


def aligned_bytes(n: int) -> np.ndarray:
    """n zero bytes whose address is a multiple of ALIGNMENT."""
    raw = np.zeros(n + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + n]


class CRuntimeError(FormatError):
    """The C loader refused a file: ``status`` is its mf_status name, ``index`` the tensor or operator (-1: none),
    ``call`` the function that refused it (mf_arena_bytes, or mf_model_load for what only it checks)."""

    def __init__(self, status: int, offset: int, index: int, message: str, call: str = ""):
        self.status = STATUS.get(status, str(status))
        self.index = index
        self.call = call
        what = f" (tensor or operator {index})" if index >= 0 else ""
        super().__init__(f"C runtime {self.status}{what}", offset, message)


class CRuntime:
    """A model loaded by the C runtime, on an arena of mf_arena_bytes (``required_bytes``).

    Nothing the file claims is allocated before the C verifier has checked it: mf_arena_bytes answers only
    after every check but the plan's overlaps (which need the arena as workspace), so the arena allocated
    here is exactly what the verified plan uses (or the verifier's workspace, at most ~270 KB), never a
    damaged file's arena_bytes; a refused file raises CRuntimeError before any arena exists."""

    def __init__(self, data):
        self.ffi, self.lib = native.load()
        ffi, lib = self.ffi, self.lib
        self.file = aligned_bytes(len(data))
        self.file[:] = np.frombuffer(data, np.uint8)
        self._file_ptr = ffi.from_buffer("uint8_t[]", self.file)
        error = ffi.new("mf_error *")
        need = ffi.new("uint32_t *")
        self._check(lib.mf_arena_bytes(self._file_ptr, len(data), need, error), error, "mf_arena_bytes")  # verifies
        self.required_bytes = int(need[0])  # the verified plan's arena or the verifier's workspace, the larger
        self.arena = aligned_bytes(max(self.required_bytes, 1))
        self._arena_ptr = ffi.from_buffer("uint8_t[]", self.arena)
        self.model = ffi.new("mf_model *")
        self._check(lib.mf_model_load(self.model, self._file_ptr, len(data), self._arena_ptr, self.required_bytes,
                                      error), error, "mf_model_load")

    def _check(self, status, error, call):
        if status != 0:
            message = self.ffi.string(error.message).decode() if error.message != self.ffi.NULL else ""
            raise CRuntimeError(int(status), int(error.offset), int(error.index), message, call)

    def invoke(self) -> None:
        _invoke_status(self.lib.mf_invoke(self.model), "mf_invoke")

    def invoke_operator(self, k: int) -> None:
        _invoke_status(self.lib.mf_invoke_operator(self.model, k), f"mf_invoke_operator({k})")

    def reset_state(self) -> None:
        """mf_reset_state: every variable back to real 0."""
        _invoke_status(self.lib.mf_reset_state(self.model), "mf_reset_state")


def _invoke_status(status: int, call: str) -> None:
    """InputError for MF_ERROR_INPUT (an input's value the model refuses), RuntimeError for any other failure."""
    if status == MF_ERROR_INPUT:
        raise InputError(f"{call} returned MF_ERROR_INPUT: an input's value is outside what the model accepts "
                         "(a GATHER index outside its table)")
    if status != 0:
        raise RuntimeError(f"{call} returned {STATUS.get(status, status)}")
