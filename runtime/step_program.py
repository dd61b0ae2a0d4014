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

The decoder. One jitted loop that could call every known kernel takes 20 s of
CPU to compile on a fresh install (its own branches 9 s, its kernels the rest),
mostly for kernels a given model never calls. So a model's program is decoded
by a loop generated for the kernels it uses (decoder_source), numbered in
PROGRAM_KERNELS' order: written once per set into the cache folder
(kernels/cache.py), where Numba's on-disk cache finds its compiled code the
next time. The file's name is a digest of its text and of the kernels'
sources, so a changed kernel gets a fresh decoder (Numba's cache of a caller
does not notice a change in its callee).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import threading

import numpy as np
from numba import types
from numba.extending import intrinsic

from microflat.kernels._jit import kernel_sources_digest
from microflat.kernels.cache import cache_dir
from microflat.kernels.kernel_args import parameters

from .atomic import write_atomic

# The kernels a program may call (module:name); a decoder numbers the ones it serves in this order.
PROGRAM_KERNELS = (
    "microflat.kernels.packed_layers:conv2d_s8_packed",
    "microflat.kernels.packed_layers:depthwise_conv2d_s8_packed",
    "microflat.kernels.packed_layers:scatter_pixels_s8",
    "microflat.kernels.elementwise:add_s8_same_shape",
    "microflat.kernels.elementwise:extremum_s8_same_shape",
    "microflat.kernels.elementwise:squared_difference_s8_same_shape",
    "microflat.kernels.pooling:average_pool2d_s8",
    "microflat.kernels.pooling:max_pool2d_s8",
    "microflat.kernels.pooling:mean_hw_s8",
    "microflat.kernels.resize:resize_bilinear_s8",
    "microflat.kernels.softmax:softmax_s8",
)
KERNELS = tuple(getattr(importlib.import_module(m), n) for m, n in (spec.split(":") for spec in PROGRAM_KERNELS))
ALIGN = 64
# The dtypes an array field may have: run_program views both buffers as each of them.
VIEW_DTYPES = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))


def row_length(kernel) -> int:
    """A row's int64s: the kernel's number, then 3 per array argument and 1 per scalar."""
    return 1 + sum(3 if p.is_array else 1 for p in parameters(kernel))


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
        used = {fn for (fn, _), ok in zip(steps, encodable) if ok}
        self.kernels = tuple(k for k in KERNELS if k in used)  # the decoder's numbering
        self._run_program = decoder(self.kernels) if self.kernels else None
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
        if fn not in KERNELS:
            return False
        params = parameters(fn)
        if len(params) != len(args):
            return False
        for (_, kind), a in zip(params, args):
            if isinstance(kind, np.dtype):
                if kind not in VIEW_DTYPES or not (isinstance(a, np.ndarray) and a.dtype == kind and a.ndim == 1 and a.flags.c_contiguous):
                    return False
                if self._in_arena(a) and (_address(a) - self._arena_at) % a.itemsize:
                    return False
        return True

    def _row(self, fn, args) -> np.ndarray:
        row = [self.kernels.index(fn)]
        for (_, kind), a in zip(parameters(fn), args):
            if isinstance(kind, np.dtype):
                in_arena = self._in_arena(a)
                start = self._arena_at if in_arena else self._constants_at
                row += [0 if in_arena else 1, (_address(a) - start) // a.itemsize, a.shape[0]]
            else:
                row.append(int(a))
        return np.array(row, np.int64)

    def run(self):
        for segment in self.segments:
            if isinstance(segment, np.ndarray):
                self._run_program(segment, self.arena, self.constants)
            else:
                fn, args = segment
                fn(*args)




@intrinsic
def borrowed_slice(typingctx, buffer, start, length):
    """buffer[start:start + length] of a 1-D contiguous array, as an array that holds no reference to the
    buffer's memory (a null meminfo), so that passing it on and slicing it again costs no reference count.

    Why: Numba counts references to an array's memory with atomic adds; a small model's run makes a few
    dozen slices per layer, and on AD (ten small fully connected layers) the counting took as long as the
    kernels. The slices a program makes live only while run_program runs, and the arena and constants they
    point into belong to the StepProgram, which outlives every call. Trusts its caller: the row's fields
    name a slice inside the buffer (the interpreter made them from the buffers' own views)."""
    sig = buffer(buffer, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        array, begin, count = args
        source = context.make_array(buffer)(context, builder, array)
        view = context.make_array(buffer)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(buffer.dtype)))
        context.populate_array(view, data=builder.gep(source.data, [begin]), shape=[count], strides=[itemsize],
                               itemsize=itemsize, meminfo=None)
        return view._getvalue()

    return sig, codegen


_SCALAR = {"int32": "np.int32(p[{at}])", "int64": "p[{at}]", "bool": "p[{at}] != 0"}


def decoder_source(kernels) -> str:
    """The text of a decoder module for ``kernels`` (a subset of KERNELS, in its order): run_program, one
    branch per kernel, kernel k's rows starting with k, each decoded field by field in the order of the kernel's
    signature (kernels.kernel_args)."""
    kernels = [(k.py_func.__module__, k.__name__, k) for k in kernels]
    views = {d: f"a{d.itemsize * 8}, c{d.itemsize * 8}" for d in VIEW_DTYPES}
    lines = [
        '"""run_program: decode a step program (microflat/runtime/step_program.py) and call its kernels.',
        "",
        "Generated by step_program.decoder_source from the kernels' signatures (microflat.kernels.kernel_args)",
        'for the kernels a model uses; do not edit."""',
        "",
        "import numpy as np",
        "from numba import njit, types",
        "",
        "from microflat.kernels._jit import kernel",
        "from microflat.runtime.step_program import borrowed_slice",
    ]
    for module, name, _ in kernels:
        lines.append(f"from {module} import {name}")
    lines += ["", "KERNELS = (" + ", ".join(n for _, n, _ in kernels) + ",)", "", ""]
    lines += [
        '@njit(inline="always", cache=True, nogil=True)',
        "def _array(arena, constants, p, at):",
        '    """The slice that the array field (buffer, offset, length) at p[at] names, of the two buffers\' views',
        '    (borrowed: step_program.borrowed_slice)."""',
        "    return borrowed_slice(arena if p[at] == 0 else constants, p[at + 1], p[at + 2])",
        "",
        "",
        "@kernel(types.void(types.int64[::1], types.uint8[::1], types.uint8[::1]))",
        "def run_program(program, arena, constants):",
        '    """Decode each row of `program` and call its kernel. Trusts its caller: the rows come from steps the',
        '    loader verified and the interpreter prepared, and both buffers hold whole int64s."""',
    ]
    for d in VIEW_DTYPES:
        bits = d.itemsize * 8
        lines.append(f"    a{bits}, c{bits} = arena.view(np.{d.name}), constants.view(np.{d.name})")
    lines += ["    pc = 0", "    while pc < program.shape[0]:", "        kind = program[pc]",
              "        p = program[pc + 1:]"]
    for k, (_, name, kernel) in enumerate(kernels):
        args, at = [], 0
        for prm in parameters(kernel):
            if prm.is_array:
                args.append(f"_array({views[prm.kind]}, p, {at})")
                at += 3
            else:
                args.append(_SCALAR[prm.kind].format(at=at))
                at += 1
        keyword = "if" if k == 0 else "elif"
        lines.append(f"        {keyword} kind == {k}:")
        lines.append(f"            {name}(")
        lines += [f"                {a},  # {prm.name}" for a, prm in zip(args, parameters(kernel))]
        lines.append("            )")
        lines.append(f"            pc += {at + 1}")
    lines += ["        else:", "            return", ""]
    return "\n".join(lines)


_DECODERS = {}
_LOCK = threading.Lock()


def decoder(kernels: tuple):
    """The jitted run_program for ``kernels`` (a subset of KERNELS, in its order), from its cached module:
    generated and written (atomically: a concurrent process sees all or nothing) on first use."""
    with _LOCK:
        if kernels in _DECODERS:
            return _DECODERS[kernels]
        text = decoder_source(kernels)
        digest = hashlib.sha256(text.encode())
        digest.update(kernel_sources_digest().encode())  # the kernels and every helper they inline
        name = f"step_decoder_{digest.hexdigest()[:20]}"
        folder = cache_dir() / "step_decoders"
        path = folder / f"{name}.py"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text.encode())
        spec = importlib.util.spec_from_file_location(f"microflat_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # Numba's cache finds a function's module by name
        spec.loader.exec_module(module)
        _DECODERS[kernels] = module.run_program
        return module.run_program
