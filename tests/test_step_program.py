"""The Numba backend runs its steps as integer programs (runtime/step_program.py): the same bytes as calling
each kernel from Python, and no known kernel left to Python."""

import numpy as np
import pytest

from microflat.runtime import Interpreter
from microflat.kernels.kernel_args import bind, parameters
from microflat.runtime import step_program as SP
from microflat.runtime.export_c import example_inputs
from model_builders import conv_pool_fc_softmax
from zoo_files import compiled_zoo


def test_a_row_holds_each_argument_where_the_decoder_reads_it():
    """Encode a step whose every scalar argument is distinct, and read each field back at the position the
    decoder generated for it reads it from (its `p[...]` index, named in the same line's comment)."""
    import re

    arena = np.zeros(64, np.uint8)
    for kernel in SP.KERNELS:
        params = parameters(kernel)
        args = []
        for j, prm in enumerate(params):
            args.append(np.zeros(1 + j, prm.kind) if prm.is_array else (j % 2 == 1 if prm.kind == "bool" else 1000 + j))
        program = SP.StepProgram([(kernel, tuple(args))], arena)
        assert program.kernels == (kernel,)
        row = program.segments[0]
        assert row[0] == 0
        branch = SP.decoder_source(program.kernels).split("kind == 0:")[1].split("pc +=")[0]
        for prm, a in zip(params, args):
            at = int(re.search(r"p, (\d+)\),  # " + prm.name + r"\n" if prm.is_array else
                               r"p\[(\d+)\][^,]*,  # " + prm.name + r"\n", branch).group(1))
            if prm.is_array:
                assert row[1 + at + 2] == a.shape[0], (kernel.__name__, prm.name)
            else:
                assert row[1 + at] == int(a), (kernel.__name__, prm.name)


def test_a_decoder_serves_the_kernels_a_model_uses_numbered_in_program_order(tmp_path, monkeypatch):
    """Two kernels out of order in the steps: the decoder serves exactly those two, numbered in PROGRAM_KERNELS'
    order, and is written once into the cache folder ($MICROFLAT_CACHE) under a name that changes with its text."""
    monkeypatch.setenv("MICROFLAT_CACHE", str(tmp_path))
    monkeypatch.setattr(SP, "_DECODERS", {})
    first, last = SP.KERNELS[0], SP.KERNELS[-1]
    assert SP.decoder_source((first, last)) != SP.decoder_source((first,))
    text = SP.decoder_source((first, last))
    assert f"kind == 0:\n            {first.__name__}(" in text and f"kind == 1:\n            {last.__name__}(" in text
    assert "kind == 2" not in text
    run = SP.decoder((first, last))
    assert SP.decoder((first, last)) is run
    written = list((tmp_path / "step_decoders").glob("*.py"))
    assert [p.read_text() for p in written] == [text]


def test_bind_orders_arguments_by_name_and_refuses_a_missing_or_unknown_one():
    kernel = SP.KERNELS[-1]
    names = [p.name for p in parameters(kernel)]
    named = {n: i for i, n in enumerate(names)}
    assert bind(kernel, **dict(reversed(list(named.items())))) == tuple(range(len(names)))
    with pytest.raises(TypeError, match="missing"):
        bind(kernel, **{n: 0 for n in names[1:]})
    with pytest.raises(TypeError, match="unknown"):
        bind(kernel, extra=1, **named)


def _programs(it):
    return it._invoke_all.__self__.segments


def _one_by_one(it, x):
    """The outputs of calling every step from Python, on the same interpreter."""
    m = it.model
    np.copyto(it.view(m.tensors[m.inputs[0]]), x.reshape(-1))
    for fn, args in it.steps:
        fn(*args)
    return [it.view(m.tensors[i]).reshape(m.tensors[i].shape).copy() for i in m.outputs]


@pytest.mark.parametrize("name", sorted(compiled_zoo()))
def test_zoo_models_run_their_known_kernels_in_programs_with_the_same_bytes(name):
    it = Interpreter(compiled_zoo()[name])
    for segment in _programs(it):
        assert isinstance(segment, np.ndarray) or not any(segment[0] is k for k in SP.KERNELS), segment[0]
    known = any(any(fn is k for k in SP.KERNELS) for fn, _ in it.steps)  # the streaming models' kernels are not
    assert any(isinstance(s, np.ndarray) for s in _programs(it)) == known
    t = it.input_details[0]
    rng = np.random.default_rng(5)
    for _ in range(3):
        if t["dtype"] in ("int8", "int16"):
            info = np.iinfo(t["dtype"])
            x = rng.integers(info.min, info.max + 1, t["shape"]).astype(t["dtype"])
        elif t["dtype"] == "int32":  # token ids: export-c's example draws them inside the table
            x = rng.permutation(example_inputs(it.model, None)[0].reshape(-1)).reshape(t["shape"])
        else:
            x = rng.standard_normal(t["shape"]).astype(np.float32)
        it.reset_state()  # a streaming model's state: each run starts from the reset, to run the same invoke twice
        got = it.invoke(x)
        it.reset_state()
        for a, b in zip(got, _one_by_one(it, x)):
            np.testing.assert_array_equal(a, b)


def test_steps_the_program_does_not_know_run_between_programs():
    """quantize, reshape and dequantize are Python steps; the layers between them are programs."""
    data, reference = conv_pool_fc_softmax(seed=3)
    it = Interpreter(data)
    kinds = ["program" if isinstance(s, np.ndarray) else "python" for s in _programs(it)]
    assert "program" in kinds and "python" in kinds
    x = np.random.default_rng(0).standard_normal(it.input_details[0]["shape"]).astype(np.float32)
    (got,) = it.invoke(x)
    (expected,) = _one_by_one(it, x)
    np.testing.assert_array_equal(got, expected)
    (c_out,) = Interpreter(data, backend="c").invoke(x)
    np.testing.assert_array_equal(got, c_out)
