"""Run a verified model: prepare once, then invoke on one arena.

Two backends, bit-exact with each other:
  "numba"  prepare (once, at construction): every operator becomes a list of
           kernel calls whose arguments (dimensions, requantization vectors,
           and numpy views of the arena and of the mapped file's constants)
           are computed now; dense conv, depthwise and FC weights are repacked
           now for the SIMD kernels (kernels/packed_layers.py), which also get
           a few kilobytes of workspace of their own, outside the arena;
           invoke runs the calls in order, most of them in one jitted
           loop (step_program.py).
  "c"      the C runtime (runtime/c through c_runtime.py) loads the file with
           its own verifier, which must accept what the Python one accepted,
           and runs every operator itself on its arena.
invoke copies the inputs into the arena, runs the model, and copies the
outputs out; it allocates nothing else and computes no parameter.

Inputs are int8 (or whatever the model's input dtype is), or float32 for an
int8 input, quantized at the boundary with the input tensor's scale and zero
point. The batch is the leading dimension: a model compiled for batch 1 runs
an [N, ...] input on the Numba backend as programs of up to
BATCH_PROGRAM_SAMPLES samples each, the model re-planned for that batch
(batch_plan.py), where every operator is per-sample; otherwise (and on the C
backend, which runs the file's own plan) one sample at a time on the same
arena.
"""

from __future__ import annotations

import functools

import numpy as np

from microflat.kernels import dequantize_s8, dequantize_s16, quantize_s8, quantize_s16
from microflat.kernels._dispatch import c_name, check_backend

from .batch_plan import batched_model, per_sample_reason
from .c_runtime import CRuntime
from .errors import InputError
from .loader import LoadedModel, load_bytes, load_file
from .ops import OPS, OpCheck
from .step_program import StepProgram

# A batch runs as programs of at most this many samples, each on an arena of at most BATCH_PROGRAM_ARENA bytes:
# the arena (and the time to prepare a program) grows with every sample, and on the zoo's models programs of 64
# samples ran at least as fast as programs of 8, 16 or 32.
BATCH_PROGRAM_SAMPLES = 64
BATCH_PROGRAM_ARENA = 64 << 20


class Interpreter:
    def __init__(self, model, backend: str = "numba"):
        """model: a LoadedModel, a path, or the file's bytes. backend: "numba" or "c"."""
        try:
            check_backend("Interpreter", backend)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if isinstance(model, LoadedModel):
            self.model = model
        elif isinstance(model, (bytes, bytearray, memoryview)):
            self.model = load_bytes(bytes(model))
        else:
            self.model = load_file(model)
        self.backend = backend
        self._input_kinds = [(self.model.tensors[i].shape, np.dtype(self.model.tensors[i].dtype))
                             for i in self.model.inputs]
        # boundary kernels by integer dtype, resolved once
        self._quantize = {"int8": self._callable(quantize_s8), "int16": self._callable(quantize_s16)}
        self._dequantize = {"int8": self._callable(dequantize_s8), "int16": self._callable(dequantize_s16)}
        m = self.model
        self._views = {}
        self.steps = []
        self.op_steps = []  # per operator: its slice of self.steps
        if backend == "c":
            self._c = CRuntime(m.data)
            self.arena = self._c.arena
            self.steps = [(self._c.invoke_operator, (k,)) for k in range(len(m.operators))]
            self.op_steps = [slice(k, k + 1) for k in range(len(m.operators))]
            self._invoke_all = self._c.invoke
            return  # the C runtime resets the variables when it loads the model
        self._per_sample = per_sample_reason(m) is None
        self._batch_interpreters = {}  # samples -> an Interpreter of the model planned for them, or None
        self.arena = np.zeros(-(-max(m.arena_bytes, 1) // 8) * 8, dtype=np.uint8)  # whole int64s: step_program
        for k, op in enumerate(m.operators):
            off = m.scratch_offsets[k]
            size = m.op_info[k].scratch_bytes
            scratch = self.arena[off:off + size].view(np.int16) if size else np.zeros(0, np.int16)
            first = len(self.steps)
            for kernel, args in OPS[op.opcode].prepare(OpCheck(m, k), self.view, scratch):
                self.steps.append((self._callable(kernel), args))
            self.op_steps.append(slice(first, len(self.steps)))
        self._invoke_all = StepProgram(self.steps, self.arena).run  # rewrites the steps' own arrays
        self.reset_state()

    def reset_state(self):
        """Every variable (the state a streaming model keeps across invokes: a recurrent layer's, a ring buffer)
        back to real 0: its zero point, or 0. A new Interpreter starts so; invoke never resets."""
        if self.backend == "c":
            self._c.reset_state()
            return
        for i in self.model.variables:
            t = self.model.tensors[i]
            self.view(t)[:] = t.reset_value

    def _callable(self, kernel):
        if self.backend == "c" and hasattr(kernel, "py_func"):
            from microflat.kernels import native

            return functools.partial(native.call, c_name(kernel))
        return kernel

    def view(self, t):
        """The flat array of a tensor: its constant data, or its place in the arena."""
        if t.is_const:
            return t.data.reshape(-1)
        if t.index not in self._views:
            off = self.model.tensor_offsets[t.index]
            self._views[t.index] = self.arena[off:off + t.nbytes].view(t.dtype)
        return self._views[t.index]

    @property
    def input_details(self):
        return [self._details(self.model.tensors[i]) for i in self.model.inputs]

    @property
    def output_details(self):
        return [self._details(self.model.tensors[i]) for i in self.model.outputs]

    @staticmethod
    def _details(t):
        return dict(name=t.name, index=t.index, shape=t.shape, dtype=t.dtype, scale=t.scale_value, zero_point=t.zero_point)

    def _batch(self, arrays):
        m = self.model
        if len(arrays) != len(m.inputs):
            raise InputError(f"the model takes {len(m.inputs)} input(s), got {len(arrays)}")
        batches = set()
        prepared = []
        for j, (a, idx) in enumerate(zip(arrays, m.inputs)):
            t = m.tensors[idx]
            a = np.asarray(a)
            if a.shape == t.shape:
                n, per = 1, a.reshape((1,) + t.shape)
            elif t.shape[0] == 1 and a.ndim == len(t.shape) and a.shape[1:] == t.shape[1:]:
                n, per = a.shape[0], a.reshape((a.shape[0], 1) + t.shape[1:])
            else:
                raise InputError(f"input {j} ({t.name or idx}) must have shape {t.shape} or [N, {', '.join(map(str, t.shape[1:]))}], got {a.shape}")
            if a.dtype == np.dtype(t.dtype):
                pass
            elif t.dtype in ("int8", "int16") and a.dtype in (np.float32, np.float64):
                if t.scale_value is None:
                    raise InputError(f"input {j} is {t.dtype} without quantization; pass {t.dtype} data")
                per = per.astype(np.float32)
            elif t.dtype == "int32" and a.dtype.kind in "iu":  # token ids as PyTorch and numpy make them: int64
                if a.size and (int(a.min()) < -(2**31) or int(a.max()) > 2**31 - 1):
                    raise InputError(f"input {j} ({t.name or idx}) holds values outside int32")
                per = per.astype(np.int32)
            else:
                also = {"int8": " or float32", "int16": " or float32",
                        "int32": " or another integer type"}.get(t.dtype, "")
                raise InputError(f"input {j} ({t.name or idx}) must be {t.dtype}{also}, got {a.dtype}")
            batches.add(n)
            prepared.append((t, per))
        if len(batches) > 1:
            raise InputError(f"inputs disagree on the batch size: {sorted(batches)}")
        return batches.pop(), prepared

    def invoke(self, *inputs, dequantize: bool = False) -> list[np.ndarray]:
        """Run the model; returns one array per model output, batch first."""
        if self._exact_inputs(inputs):  # one sample of the model's own shapes and dtypes: no batching to do
            m = self.model
            for a, i in zip(inputs, m.inputs):
                np.copyto(self.view(m.tensors[i]), a.reshape(-1))
            self._invoke_all()
            outs = [self.view(m.tensors[i]).reshape(m.tensors[i].shape).copy() for i in m.outputs]
            if dequantize:
                outs = [self._dequantized(o, m.tensors[i]) for o, i in zip(outs, m.outputs)]
            return outs
        return self._run(inputs, dequantize, None)

    def _exact_inputs(self, inputs) -> bool:
        if len(inputs) != len(self._input_kinds):
            return False
        return all(type(a) is np.ndarray and a.shape == shape and a.dtype == dtype
                   for a, (shape, dtype) in zip(inputs, self._input_kinds))

    def trace(self, *inputs) -> dict[str, np.ndarray]:
        """Run the model and keep every operator's output: {tensor name: array, batch first}; a tensor without a
        name (a file compiled with --strip-names) is keyed "#INDEX", its index in the file.

        For debugging accuracy (microflat.compiler.compare): the arena reuses
        memory, so each output is copied right after the operator that writes it.
        """
        record: dict[int, list] = {}
        self._run(inputs, False, record)
        m = self.model
        return {m.tensors[i].name or f"#{i}": np.stack(v) for i, v in record.items()}

    def _run(self, inputs, dequantize, record):
        n, prepared = self._batch(inputs)
        m = self.model
        if n > 1 and any(m.tensors[i].shape[0] != 1 for i in m.outputs):
            raise InputError("a batched input needs a model compiled for batch 1")
        if n > 1 and record is None:
            outs = self._run_batch_programs(n, prepared, dequantize)
            if outs is not None:
                return outs
        outs = [np.empty((n,) + m.tensors[i].shape[1:] if m.tensors[i].shape[0] == 1 else m.tensors[i].shape,
                         dtype=m.tensors[i].dtype) for i in m.outputs]
        for b in range(n):
            for t, per in prepared:
                dst = self.view(t)
                src = per[b].reshape(-1)
                if src.dtype == np.float32 and t.dtype in ("int8", "int16"):
                    self._quantize[t.dtype](src.size, np.float32(t.scale_value), t.zero_point,
                                            np.ascontiguousarray(src), dst)
                else:
                    dst[:] = src
            if record is None:
                self._invoke_all()
            else:
                for k, op in enumerate(m.operators):
                    for fn, args in self.steps[self.op_steps[k]]:
                        fn(*args)
                    for i in op.outputs:
                        t = m.tensors[i]
                        record.setdefault(i, []).append(self.view(t).copy().reshape(t.shape[1:] if t.shape[0] == 1 else t.shape))
            for o, i in zip(outs, m.outputs):
                o.reshape(n, -1)[b] = self.view(m.tensors[i])
        if dequantize:
            outs = [self._dequantized(o, m.tensors[i]) for o, i in zip(outs, m.outputs)]
        return outs

    def _run_batch_programs(self, n, prepared, dequantize):
        """The outputs of n > 1 samples, run as batch programs of up to BATCH_PROGRAM_SAMPLES samples each; None where
        the model is not per-sample (batch_plan.py) or the backend runs the file's own plan (C)."""
        chunk = min(BATCH_PROGRAM_SAMPLES, BATCH_PROGRAM_ARENA // max(self.model.arena_bytes, 1))
        if self.backend != "numba" or not self._per_sample or chunk < 2:
            return None
        parts = []
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            runner = self if size == 1 else self._batch_interpreter(size)
            if runner is None:
                return None
            parts.append(runner._run([per[start:start + size].reshape((size,) + t.shape[1:]) for t, per in prepared],
                                     dequantize, None))
        return parts[0] if len(parts) == 1 else [np.concatenate(p) for p in zip(*parts)]

    def _batch_interpreter(self, size):
        """An Interpreter of the model planned for `size` samples (None where it cannot be); the last two kept."""
        if size not in self._batch_interpreters:
            if len(self._batch_interpreters) >= 2:
                self._batch_interpreters.clear()
            model = batched_model(self.model, size)
            self._batch_interpreters[size] = None if model is None else Interpreter(model, self.backend)
        return self._batch_interpreters[size]

    def _dequantized(self, out, t):
        if t.dtype not in ("int8", "int16") or t.scale_value is None:
            return out
        res = np.empty(out.shape, np.float32)
        self._dequantize[t.dtype](out.size, np.float32(t.scale_value), t.zero_point, out.reshape(-1),
                                  res.reshape(-1))
        return res
