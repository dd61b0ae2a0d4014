"""The Numba backend's kernel calls as rows of integers, run by one jitted loop.

Why: a call from Python into a jitted kernel costs about a microsecond
whatever the kernel does (the dispatcher types and unboxes each of up to 31
arguments, ten of them arrays), and a small model's layers take a few
microseconds each: KWS spent a sixth of its time in the dispatcher. Here a
run of steps is one call: `run_program(program, arena, constants)`.

The encoding. Every array a known kernel is passed is a slice of one of two
buffers: the arena (tensors), or `constants`, one buffer into which the steps'
own arrays (packed weights, output-stage vectors, workspaces) are copied,
each 64-byte aligned. A step is a row of int64: the kernel's number in
KERNELS, then its arguments in the order of its signature: an array as
(buffer: 0 arena / 1 constants, element offset in the buffer viewed as the
array's dtype, length), an integer or a boolean as itself. The rows of
consecutive known steps make one program; any other step (a kernel not in
KERNELS, an array that is not a whole aligned slice of either buffer) runs
from Python between two programs, as before.

The interpreter's steps are rewritten to use the same slices of `constants`,
so running them one by one from Python (Interpreter.trace) computes on the
same memory.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from microflat.kernels.elementwise import add_s8_same_shape
from microflat.kernels.packed_layers import conv2d_s8_packed, depthwise_conv2d_s8_packed
from microflat.kernels.pooling import average_pool2d_s8, max_pool2d_s8, mean_hw_s8
from microflat.kernels.softmax import softmax_s8

KERNELS = (conv2d_s8_packed, depthwise_conv2d_s8_packed, add_s8_same_shape, average_pool2d_s8, max_pool2d_s8,
           mean_hw_s8, softmax_s8)
ALIGN = 64


def _fields(kernel):
    """The kernel's argument kinds: a numpy dtype for an array, "int" or "bool" for a scalar."""
    kinds = []
    for t in kernel.signatures[0]:
        if isinstance(t, types.Array):
            kinds.append(np.dtype(str(t.dtype)))
        elif isinstance(t, types.Boolean):
            kinds.append("bool")
        elif isinstance(t, types.Integer):
            kinds.append("int")
        else:
            raise TypeError(f"{kernel.__name__}: argument type {t} has no encoding")
    return kinds


FIELDS = {k: _fields(k) for k in KERNELS}
ROW_LENGTHS = (55, 54, 23, 21, 21, 15, 12)  # what run_program decodes, kernel by kernel


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


class StepProgram:
    """Encodes an interpreter's steps (a list of (kernel, args)), rewriting their arrays into `constants`."""

    def __init__(self, steps: list, arena: np.ndarray):
        if arena.nbytes % 8:
            raise ValueError("the arena must hold whole int64s: run_program views it as int32 and int64")
        self.arena = arena
        self._arena_at, self._arena_end = _address(arena), _address(arena) + arena.nbytes
        encodable = [self._encodable(fn, args) for fn, args in steps]
        slots, size = {}, 0
        for (fn, args), ok in zip(steps, encodable):
            if not ok:
                continue
            for a in args:
                if isinstance(a, np.ndarray) and not self._in_arena(a) and id(a) not in slots:
                    slots[id(a)] = (size, a)
                    size += -(-max(a.nbytes, 1) // ALIGN) * ALIGN
        raw = np.zeros(size + ALIGN, np.uint8)
        base = -_address(raw) % ALIGN
        self.constants = raw[base:base + size]  # starts on a 64-byte boundary: every slot's offset is whole elements
        views = {}
        for key, (offset, a) in slots.items():
            v = self.constants[offset:offset + a.nbytes].view(a.dtype)
            v[:] = a
            views[key] = v
        self._constants_at = _address(self.constants)
        self.segments = []  # each an int64 program or one (kernel, args) step run from Python
        rows = []
        for k, ((fn, args), ok) in enumerate(zip(steps, encodable)):
            if ok:
                args = tuple(views.get(id(a), a) if isinstance(a, np.ndarray) else a for a in args)
                steps[k] = (fn, args)
                rows.append(self._row(fn, args))
                continue
            if rows:
                self.segments.append(np.concatenate(rows))
                rows = []
            self.segments.append((fn, args))
        if rows:
            self.segments.append(np.concatenate(rows))

    def _in_arena(self, a: np.ndarray) -> bool:
        return self._arena_at <= _address(a) < self._arena_end

    def _encodable(self, fn, args) -> bool:
        fields = FIELDS.get(fn)
        if fields is None or len(fields) != len(args):
            return False
        for kind, a in zip(fields, args):
            if isinstance(kind, np.dtype):
                if not (isinstance(a, np.ndarray) and a.dtype == kind and a.ndim == 1 and a.flags.c_contiguous):
                    return False
                if self._in_arena(a) and (_address(a) - self._arena_at) % a.itemsize:
                    return False
        return True

    def _row(self, fn, args) -> np.ndarray:
        row = [KERNELS.index(fn)]
        for kind, a in zip(FIELDS[fn], args):
            if isinstance(kind, np.dtype):
                in_arena = self._in_arena(a)
                start = self._arena_at if in_arena else self._constants_at
                row += [0 if in_arena else 1, (_address(a) - start) // a.itemsize, a.shape[0]]
            else:
                row.append(int(a))
        assert len(row) == ROW_LENGTHS[row[0]], f"{fn.__name__}: its signature no longer matches run_program"
        return np.array(row, np.int64)

    def run(self):
        for segment in self.segments:
            if isinstance(segment, np.ndarray):
                run_program(segment, self.arena, self.constants)
            else:
                fn, args = segment
                fn(*args)


@njit(inline="always", cache=True, nogil=True)
def _array(arena, constants, p, at):
    """The slice a row's array field (buffer, offset, length) at p[at] names, of the two buffers' views."""
    buffer = arena if p[at] == 0 else constants
    return buffer[p[at + 1]:p[at + 1] + p[at + 2]]


@njit(types.void(types.int64[::1], types.uint8[::1], types.uint8[::1]), cache=True, nogil=True)
def run_program(program, arena, constants):
    """Decode each row of `program` (StepProgram's encoding) and call its kernel. Trusts its caller: the rows
    come from steps the loader verified and the interpreter prepared, and both buffers hold whole int64s."""
    a8, c8 = arena.view(np.int8), constants.view(np.int8)
    a32, c32 = arena.view(np.int32), constants.view(np.int32)
    a64, c64 = arena.view(np.int64), constants.view(np.int64)
    pc = 0
    while pc < program.shape[0]:
        kind = program[pc]
        p = program[pc + 1:]
        i32 = np.int32
        if kind == 0:  # conv2d_s8_packed: 3 arrays, 15 ints, 7 arrays, bool, 2 ints, 2 arrays
            conv2d_s8_packed(_array(a32, c32, p, 0), _array(a64, c64, p, 3), _array(a8, c8, p, 6),
                             p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20],
                             p[21], p[22], p[23],
                             _array(a8, c8, p, 24), _array(a64, c64, p, 27), _array(a32, c32, p, 30),
                             _array(a64, c64, p, 33), _array(a64, c64, p, 36), _array(a64, c64, p, 39),
                             _array(a64, c64, p, 42), p[45] != 0, p[46], p[47],
                             _array(a8, c8, p, 48), _array(a8, c8, p, 51))
            pc += 55
        elif kind == 1:  # depthwise_conv2d_s8_packed: 2 arrays, 17 ints, 7 arrays, bool, 2 ints, 2 arrays
            depthwise_conv2d_s8_packed(_array(a32, c32, p, 0), _array(a8, c8, p, 3),
                                       p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16],
                                       p[17], p[18], p[19], p[20], p[21], p[22],
                                       _array(a32, c32, p, 23), _array(a32, c32, p, 26), _array(a32, c32, p, 29),
                                       _array(a64, c64, p, 32), _array(a64, c64, p, 35), _array(a64, c64, p, 38),
                                       _array(a64, c64, p, 41), p[44] != 0, p[45], p[46],
                                       _array(a8, c8, p, 47), _array(a8, c8, p, 50))
            pc += 54
        elif kind == 2:  # add_s8_same_shape: 13 ints, 3 arrays
            add_s8_same_shape(p[0], i32(p[1]), i32(p[2]), i32(p[3]), i32(p[4]), i32(p[5]), i32(p[6]), i32(p[7]),
                              i32(p[8]), i32(p[9]), i32(p[10]), i32(p[11]), i32(p[12]),
                              _array(a8, c8, p, 13), _array(a8, c8, p, 16), _array(a8, c8, p, 19))
            pc += 23
        elif kind == 3 or kind == 4:  # average_pool2d_s8, max_pool2d_s8: 14 ints, 2 arrays
            args = (i32(p[0]), i32(p[1]), i32(p[2]), i32(p[3]), i32(p[4]), i32(p[5]), i32(p[6]), i32(p[7]),
                    i32(p[8]), i32(p[9]), i32(p[10]), i32(p[11]), i32(p[12]), i32(p[13]))
            if kind == 3:
                average_pool2d_s8(*args, _array(a8, c8, p, 14), _array(a8, c8, p, 17))
            else:
                max_pool2d_s8(*args, _array(a8, c8, p, 14), _array(a8, c8, p, 17))
            pc += 21
        elif kind == 5:  # mean_hw_s8: 8 ints, 2 arrays
            mean_hw_s8(i32(p[0]), i32(p[1]), i32(p[2]), i32(p[3]), i32(p[4]), i32(p[5]), i32(p[6]), i32(p[7]),
                       _array(a8, c8, p, 8), _array(a8, c8, p, 11))
            pc += 15
        else:  # softmax_s8: 5 ints, 2 arrays
            softmax_s8(i32(p[0]), i32(p[1]), i32(p[2]), i32(p[3]), i32(p[4]), _array(a8, c8, p, 5),
                       _array(a8, c8, p, 8))
            pc += 12
