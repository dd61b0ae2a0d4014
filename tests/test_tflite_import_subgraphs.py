""".tflite files of several subgraphs (compiler/tflite_import.py): the model is subgraph 0, what TFLite Micro runs;
a subgraph nothing in it calls is ignored; a call microflat can inline is imported in place:

  STABLEHLO_COMPOSITE   its decomposition subgraph, inlined (nested ones too, one subgraph called several times):
                        held to LiteRT's reference kernels (BUILTIN_REF), which run the decomposition; TFLite Micro
                        has no STABLEHLO_COMPOSITE (its resolver refuses the file)
  CALL_ONCE + resource  TFLite Micro's streaming pattern: an init subgraph giving each variable its initial value,
  variables             subgraph 0 reading (READ_VARIABLE) and assigning (ASSIGN_VARIABLE) it; held over several
                        invokes, the state carried, to TFLite Micro and LiteRT alike

on both of microflat's runtimes (Numba and C, equal byte for byte), inputs random over the whole int8 range with
both ends. Then the refusals, each one CompileError naming what: WHILE and IF (by name, as any unmapped op), a
decomposition index out of range, a cycle of subgraphs, a composite whose decomposition's boundary has another
quantization, an init that does more than assign constants, an initial value other than real 0, a variable assigned
twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from tflite_builder import PADDING, TFLiteBuilder  # noqa: E402

from microflat.compiler.tflite_import import compile_tflite  # noqa: E402
from microflat.runtime import CompileError, Interpreter  # noqa: E402

QA = dict(scale=0.05, zero_point=-3)  # the composites' boundary quantization
QC = dict(scale=0.08, zero_point=5)  # the conv's output inside the outer decomposition
Q_STATE = dict(scale=0.05, zero_point=-4)  # the accumulating variable's (and the sum's) quantization
Q_X = dict(scale=0.02, zero_point=7)  # the streaming model's input (and the variable keeping the last input)
SHAPE = (1, 4, 4, 3)


def _edges(shape, n, seed):
    """n random int8 inputs over the whole range, then all -128 and all 127."""
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(n)] + [
        np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]


def _litert(data: bytes):
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    it = LiteRT(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def _litert_invoke(it, x) -> list[np.ndarray]:
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def _tflm(data: bytes):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(data, arena_size=1 << 20)


def _tflm_invoke(it, x, outputs: int) -> list[np.ndarray]:
    it.set_input(x, 0)
    it.invoke()
    return [it.get_output(k).copy() for k in range(outputs)]


def _both(mfb: bytes):
    return [Interpreter(mfb, backend=backend) for backend in ("numba", "c")]


def _invoke_both(runtimes, x) -> list[np.ndarray]:
    """One invoke on each runtime (their state carried), Numba's and C's outputs the same bytes."""
    numba, c = (r.invoke(x) for r in runtimes)
    for a, b in zip(numba, c):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), "C differs from Numba"
    return numba


# --- models ---------------------------------------------------------------------------------------------------

def _conv_add(g: TFLiteBuilder, x: int, seed: int) -> int:
    """In g: a 3x3 SAME per-channel CONV_2D of x (QA) to QC, then ADD of it and x back to QA; the output."""
    rng = np.random.default_rng(seed)
    w_scale = np.array([0.004, 0.006, 0.009], np.float32)
    wt = g.constant("w", rng.integers(-127, 128, (3, 3, 3, 3)).astype(np.int8), scale=w_scale,
                    zero_point=np.zeros(3, np.int64))
    bias = g.constant("b", rng.integers(-2000, 2000, 3).astype(np.int32), scale=(0.05 * w_scale).astype(np.float32),
                      zero_point=np.zeros(3, np.int64))
    c = g.tensor("conv", "int8", SHAPE, **QC)
    g.operator("CONV_2D", [x, wt, bias], [c], "Conv2DOptions", dict(padding=PADDING["SAME"], stride_w=1, stride_h=1))
    y = g.tensor("sum", "int8", SHAPE, **QA)
    g.operator("ADD", [c, x], [y], "AddOptions", dict(fused_activation_function=1))
    return y


def _plain_model() -> TFLiteBuilder:
    """The conv and add twice over, in one subgraph."""
    b = TFLiteBuilder()
    x = b.tensor("x", "int8", SHAPE, **QA)
    y = _conv_add(b, _conv_add(b, x, 4), 4)  # the composites' weights (seed 4)
    b.set_io([x], [y])
    return b


def _with_unused_subgraph() -> bytes:
    """_plain_model's file with a second subgraph (another signature's, say) that nothing calls, holding an op
    microflat does not map."""
    b = _plain_model()
    other = b.subgraph("serving_other")
    x = other.tensor("x", "int8", (1, 4), **QA)
    y = other.tensor("y", "int8", (1, 4), **QA)
    other.operator("RSQRT", [x], [y])
    other.set_io([x], [y])
    return b.to_bytes()


def _composite_model(outer_index=None, inner_index=None, boundary=QA) -> bytes:
    """x -> COMPOSITE "outer" -> COMPOSITE "outer" -> y: subgraph 1 ("outer") is a conv then COMPOSITE "inner"
    (subgraph 2: the ADD of the conv and the outer's input), so subgraph 1 is inlined twice and subgraph 2 nested in
    each. outer_index / inner_index: the decomposition indices written (default the right ones); boundary: the
    quantization of the outer decomposition's input."""
    b = TFLiteBuilder()
    outer, inner = b.subgraph("outer"), b.subgraph("inner")
    p, q = inner.tensor("p", "int8", SHAPE, **QC), inner.tensor("q", "int8", SHAPE, **QA)
    r = inner.tensor("r", "int8", SHAPE, **QA)
    inner.operator("ADD", [p, q], [r], "AddOptions", dict(fused_activation_function=1))
    inner.set_io([p, q], [r])

    ox = outer.tensor("ox", "int8", SHAPE, **boundary)
    rng = np.random.default_rng(4)
    w_scale = np.array([0.004, 0.006, 0.009], np.float32)
    wt = outer.constant("w", rng.integers(-127, 128, (3, 3, 3, 3)).astype(np.int8), scale=w_scale,
                        zero_point=np.zeros(3, np.int64))
    bias = outer.constant("b", rng.integers(-2000, 2000, 3).astype(np.int32),
                          scale=(0.05 * w_scale).astype(np.float32), zero_point=np.zeros(3, np.int64))
    c = outer.tensor("conv", "int8", SHAPE, **QC)
    outer.operator("CONV_2D", [ox, wt, bias], [c], "Conv2DOptions",
                   dict(padding=PADDING["SAME"], stride_w=1, stride_h=1))
    oy = outer.tensor("oy", "int8", SHAPE, **QA)
    outer.operator("STABLEHLO_COMPOSITE", [c, ox], [oy], "StableHLOCompositeOptions",
                   dict(name="test.inner", composite_attributes=b"",
                        decomposition_subgraph_index=inner.index if inner_index is None else inner_index))
    outer.set_io([ox], [oy])

    x, y1, y = (b.tensor(n, "int8", SHAPE, **QA) for n in ("x", "y1", "y"))
    for a, z in ((x, y1), (y1, y)):
        b.operator("STABLEHLO_COMPOSITE", [a], [z], "StableHLOCompositeOptions",
                   dict(name="test.outer", composite_attributes=b"",
                        decomposition_subgraph_index=outer.index if outer_index is None else outer_index))
    b.set_io([x], [y])
    return b.to_bytes()


def _streaming_model(initial: int | None = None, init_extra: bool = False, assign_twice: bool = False) -> bytes:
    """TFLite Micro's streaming pattern. Subgraph 1 (init) gives two resource variables real 0: "acc" (Q_STATE) and
    "last" (Q_X). Subgraph 0: CALL_ONCE(1); y = relu(x + acc) (Q_STATE), assigned to acc; d = (acc after the
    assignment) - last (the previous input), and x assigned to last. Outputs y and d. initial: acc's initial raw
    value (default its zero point); init_extra: the init runs an ADD too; assign_twice: acc assigned a second time."""
    b = TFLiteBuilder()
    init = b.subgraph("init")
    for name, q in (("acc", Q_STATE), ("last", Q_X)):
        h = init.tensor(f"{name}_handle", "resource", ())
        init.operator("VAR_HANDLE", [], [h], "VarHandleOptions", dict(container="", shared_name=name))
        value = q["zero_point"] if initial is None or name != "acc" else initial
        zeros = init.constant(f"{name}_zeros", np.full((1, 8), value, np.int8), **q)
        init.operator("ASSIGN_VARIABLE", [h, zeros], [], "AssignVariableOptions")
    if init_extra:
        a = init.constant("a", np.ones((1, 8), np.int8), **Q_X)
        s = init.tensor("s", "int8", (1, 8), **Q_X)
        init.operator("ADD", [a, a], [s], "AddOptions")

    x = b.tensor("x", "int8", (1, 8), **Q_X)
    acc_h, last_h = b.tensor("acc_handle", "resource", ()), b.tensor("last_handle", "resource", ())
    acc, last = b.tensor("acc", "int8", (1, 8), **Q_STATE), b.tensor("last", "int8", (1, 8), **Q_X)
    y = b.tensor("y", "int8", (1, 8), **Q_STATE)
    acc_now = b.tensor("acc_now", "int8", (1, 8), **Q_STATE)
    d = b.tensor("d", "int8", (1, 8), scale=0.06, zero_point=-1)
    b.operator("CALL_ONCE", [], [], "CallOnceOptions", dict(init_subgraph_index=init.index))
    b.operator("VAR_HANDLE", [], [acc_h], "VarHandleOptions", dict(container="", shared_name="acc"))
    b.operator("VAR_HANDLE", [], [last_h], "VarHandleOptions", dict(container="", shared_name="last"))
    b.operator("READ_VARIABLE", [acc_h], [acc], "ReadVariableOptions")
    b.operator("READ_VARIABLE", [last_h], [last], "ReadVariableOptions")
    b.operator("ADD", [x, acc], [y], "AddOptions", dict(fused_activation_function=1))
    b.operator("ASSIGN_VARIABLE", [acc_h, y], [], "AssignVariableOptions")
    if assign_twice:
        b.operator("ASSIGN_VARIABLE", [acc_h, y], [], "AssignVariableOptions")
    b.operator("READ_VARIABLE", [acc_h], [acc_now], "ReadVariableOptions")  # the value just assigned
    b.operator("SUB", [acc_now, last], [d], "SubOptions")
    b.operator("ASSIGN_VARIABLE", [last_h, x], [], "AssignVariableOptions")
    b.set_io([x], [y, d])
    return b.to_bytes()


# --- what is taken --------------------------------------------------------------------------------------------

def test_a_subgraph_nothing_calls_is_ignored():
    """A second subgraph nothing in subgraph 0 calls (even one holding an op microflat lacks) changes nothing: the
    outputs are the one-subgraph file's, which are LiteRT's."""
    alone, extra = _plain_model().to_bytes(), _with_unused_subgraph()
    runs = _both(compile_tflite(alone)) + _both(compile_tflite(extra))
    lite = _litert(extra)
    for x in _edges(SHAPE, 6, seed=1):
        want = _litert_invoke(lite, x)[0]
        for r in runs:
            np.testing.assert_array_equal(r.invoke(x)[0], want)


def test_nested_stablehlo_composites_equal_litert_on_both_runtimes():
    """Two calls of one decomposition, each holding a nested composite: the inlined model gives LiteRT's outputs
    byte for byte (LiteRT runs the decomposition subgraphs)."""
    data = _composite_model()
    runtimes = _both(compile_tflite(data))
    lite = _litert(data)
    for x in _edges(SHAPE, 10, seed=2):
        want = _litert_invoke(lite, x)[0]
        got = _invoke_both(runtimes, x)[0]
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    # and the composites are the plain model's ops: the same outputs as its one-subgraph form
    plain = Interpreter(compile_tflite(_plain_model().to_bytes()))
    x = _edges(SHAPE, 1, seed=3)[0]
    np.testing.assert_array_equal(plain.invoke(x)[0], runtimes[0].invoke(x)[0])


def test_tflite_micro_does_not_run_a_stablehlo_composite():
    """Why the composites are held to LiteRT alone."""
    with pytest.raises(RuntimeError):
        _tflm(_composite_model())


def test_a_streaming_model_of_call_once_and_variables_equals_tflite_micro_and_litert_over_invokes():
    """The state carried over eight invokes, on both runtimes; TFLite Micro and LiteRT agree too."""
    data = _streaming_model()
    runtimes = _both(compile_tflite(data))
    tflm, lite = _tflm(data), _litert(data)
    for x in _edges((1, 8), 6, seed=5):
        want = _tflm_invoke(tflm, x, 2)
        for w, other in zip(want, _litert_invoke(lite, x)):
            np.testing.assert_array_equal(other, w)
        got = _invoke_both(runtimes, x)
        assert len(got) == 2
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
    # the state is carried: a fresh interpreter given the last input alone gives another y
    assert not np.array_equal(_both(compile_tflite(data))[0].invoke(x)[0], got[0])


# --- refusals -------------------------------------------------------------------------------------------------

def _calling(op: str, table: str, fields: dict) -> bytes:
    """Subgraph 0 calls subgraphs 1 and 2 (each an identity-shaped ADD) by op."""
    b = TFLiteBuilder()
    subs = [b.subgraph(), b.subgraph()]
    for g in subs:
        a, z = g.tensor("a", "int8", (1, 4), **QA), g.tensor("z", "int8", (1, 4), **QA)
        g.operator("ADD", [a, a], [z], "AddOptions")
        g.set_io([a], [z])
    cond = b.tensor("cond", "int8", (1,), **QA)
    x, y = b.tensor("x", "int8", (1, 4), **QA), b.tensor("y", "int8", (1, 4), **QA)
    b.operator(op, [cond, x] if op == "IF" else [x], [y], table, fields)
    b.set_io([cond, x] if op == "IF" else [x], [y])
    return b.to_bytes()


@pytest.mark.parametrize("data, message", [
    (lambda: _calling("WHILE", "WhileOptions", dict(cond_subgraph_index=1, body_subgraph_index=2)),
     r"operators microflat does not map: WHILE \(1x\)"),
    (lambda: _calling("IF", "IfOptions", dict(then_subgraph_index=1, else_subgraph_index=2)),
     r"operators microflat does not map: IF \(1x\)"),
    (lambda: _composite_model(outer_index=7), r"STABLEHLO_COMPOSITE 'test.outer' calls subgraph 7, which the file "
                                              r"lacks \(it has 3\)"),
    (lambda: _composite_model(inner_index=1), r"STABLEHLO_COMPOSITE 'test.inner' calls subgraph 1, which is calling "
                                              r"it: a cycle of subgraphs 1 -> 1"),
    (lambda: _composite_model(boundary=dict(scale=0.05, zero_point=-2)),
     r"STABLEHLO_COMPOSITE 'test.outer': its decomposition's input 'ox' .* is not the composite's 'x'"),
    (lambda: _streaming_model(init_extra=True), r"CALL_ONCE: its init subgraph 1 runs ADD"),
    (lambda: _streaming_model(initial=0), r"READ_VARIABLE 'acc': variable 'acc' starts at values other than real 0"),
    (lambda: _streaming_model(assign_twice=True),
     r"ASSIGN_VARIABLE 'y': variable 'acc' is assigned twice; microflat assigns a variable once an invoke"),
], ids=["while", "if", "index-out-of-range", "cycle", "boundary-quantization", "init-does-more", "initial-not-zero",
        "assigned-twice"])
def test_a_call_microflat_does_not_inline_is_refused_by_name(data, message):
    with pytest.raises(CompileError, match=message) as refused:
        compile_tflite(data(), name="model.tflite")
    assert str(refused.value).startswith("model.tflite: ") and "\n" not in str(refused.value)


def test_a_cycle_through_two_subgraphs_is_refused():
    """Subgraph 1's composite calls 2, whose composite calls 1."""
    b = TFLiteBuilder()
    subs = [b.subgraph(), b.subgraph()]
    for g, other in zip(subs, reversed(subs)):
        a, z = g.tensor("a", "int8", (1, 4), **QA), g.tensor("z", "int8", (1, 4), **QA)
        g.operator("STABLEHLO_COMPOSITE", [a], [z], "StableHLOCompositeOptions",
                   dict(name=f"c{g.index}", composite_attributes=b"", decomposition_subgraph_index=other.index))
        g.set_io([a], [z])
    x, y = b.tensor("x", "int8", (1, 4), **QA), b.tensor("y", "int8", (1, 4), **QA)
    b.operator("STABLEHLO_COMPOSITE", [x], [y], "StableHLOCompositeOptions",
               dict(name="c0", composite_attributes=b"", decomposition_subgraph_index=1))
    b.set_io([x], [y])
    with pytest.raises(CompileError, match=r"STABLEHLO_COMPOSITE 'c2' calls subgraph 1, which is calling it: a cycle "
                                           r"of subgraphs 1 -> 2 -> 1"):
        compile_tflite(b.to_bytes())
