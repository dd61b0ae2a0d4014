"""Encoded weights in a .mfb: executed in place and bit-exact, verified field by field, chosen by the compiler."""

import numpy as np
import pytest
import torch
from torch import nn

from model_builders import conv_pool_fc_softmax, rewritten
from microflat.compiler import compile_model
from microflat.compiler import encodings
from microflat.kernels import weight_encoding as WE
from microflat.runtime import CompileError, FormatError, Interpreter, load_bytes
from microflat.runtime.inspect_model import summary

ENCODED, REFERENCE = conv_pool_fc_softmax(encoded=True)


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_encoded_model_equals_the_dense_kernels_called_one_by_one(backend):
    x = np.random.default_rng(5).normal(size=(6, 8, 8, 3)).astype(np.float32)
    (got,) = Interpreter(ENCODED, backend=backend).invoke(x)
    np.testing.assert_array_equal(got, REFERENCE(x, backend))


def test_the_file_holds_the_streams_not_the_dense_weights():
    m = load_bytes(ENCODED)
    kinds = {t.name: t.encoding.kind for t in m.tensors if t.encoding is not None}
    assert kinds == {"conv.w": "sparse(palette3/ch, p3)", "dw.w": "int4", "fc.w": "palette3"}
    for t in m.tensors:
        if t.encoding is not None:
            assert t.data is None and m.buffers[t.buffer][1] == t.encoding.values.size
    assert m.weight_bytes == sum(t.stored_bytes for t in m.tensors if t.is_const)
    dense = load_bytes(conv_pool_fc_softmax()[0])
    assert m.weight_bytes < dense.weight_bytes // 2
    s = summary(m)
    by_op = {o["op"]: o for o in s["ops"]}
    assert by_op["DEPTHWISE_CONV_2D"]["encoding"] == "int4"
    assert by_op["DEPTHWISE_CONV_2D"]["weight_bytes"] == 36 and by_op["DEPTHWISE_CONV_2D"]["dense_weight_bytes"] == 72


def _rewrite(mutate):
    return rewritten(mutate, encoded=True)


def _tensor(model, name):
    return next(t for t in model["tensors"] if t["name"] == name)


def _reencode(model, buffers, name, axis, **how):
    """Store weight ``name`` in another (valid) encoding, rows along ``axis``."""
    dense = next(WE.decode(t.encoding) for t in load_bytes(ENCODED).tensors if t.name == name)
    e = WE.encode(dense, axis, **how)
    t = _tensor(model, name)
    buffers[t["buffer"]] = e.values.tobytes()
    buffers[t["encoding"]["positions_buffer"]] = e.positions.tobytes()
    t["encoding"].update(axis=axis, entries=e.entries, value_bits=e.value_bits, codebook=None,
                         codebook_per_channel=None, position_bits=e.position_bits)


@pytest.mark.parametrize("mutate, field, reason", [
    (lambda m, b: _tensor(m, "fc.w")["encoding"].update(value_bits=9), "encoding.value_bits", "outside"),
    (lambda m, b: _tensor(m, "fc.w")["encoding"].update(codebook=np.array([1, 2, -128], np.int8)),
     "encoding.codebook", ""),
    (lambda m, b: _tensor(m, "fc.w")["encoding"].update(entries=5), "buffer", "5 values of 3 bits need 2"),
    (lambda m, b: _reencode(m, b, "conv.w", 1, position_bits=3), "operators[1].inputs[1]", "axis is 1"),
    (lambda m, b: _tensor(m, "conv.w")["encoding"].update(positions_buffer=99), "encoding.positions_buffer",
     "does not exist"),
    (lambda m, b: _tensor(m, "conv.w")["encoding"].update(position_bits=7), "encoding.positions_buffer", "need"),
    (lambda m, b: _tensor(m, "dw.w")["encoding"].update(value_bits=8), "encoding.value_bits", "save nothing"),
    (lambda m, b: _tensor(m, "conv.b").update(encoding={"value_bits": 4, "entries": 8}), "encoding",
     "only constant int8"),
])
def test_a_damaged_encoding_is_a_format_error_naming_the_field(mutate, field, reason):
    with pytest.raises(FormatError) as e:
        load_bytes(_rewrite(mutate))
    assert field in e.value.field and reason in e.value.reason, str(e.value)
    assert e.value.offset is not None


def test_a_palette_index_past_the_palette_is_refused():
    def bad_index(model, buffers):
        t = _tensor(model, "fc.w")
        t["encoding"]["codebook"] = t["encoding"]["codebook"][:5]  # 3-bit indices reach 5..7 no more
        buffers[t["buffer"]] = bytes([0xFF]) * len(buffers[t["buffer"]])
    with pytest.raises(FormatError, match="indexes entry 7 of a 5-entry palette"):
        load_bytes(_rewrite(bad_index))


def test_sparse_positions_past_the_weight_are_refused():
    def run_off(model, buffers):
        t = _tensor(model, "conv.w")
        b = t["encoding"]["positions_buffer"]
        buffers[b] = bytes([0xFF]) * len(buffers[b])
    with pytest.raises(FormatError, match="positions run to element"):
        load_bytes(_rewrite(run_off))


def test_an_inflated_shape_is_refused_without_expanding_the_weight():
    """A sparse weight claiming 8 x 9000 x 9000 x 3 elements (1.9 GB dense) holds only its entries: the
    verifier works from the streams, so loading allocates a few MB before refusing the file."""
    import tracemalloc

    def inflate(model, buffers):
        _tensor(model, "conv.w")["shape"] = [8, 9000, 9000, 3]

    data = _rewrite(inflate)
    tracemalloc.start()
    with pytest.raises(FormatError):
        load_bytes(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 * 2**20, peak


# --- the compiler's choice ---------------------------------------------------------------------

class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _clustered_pruned(seed=0):
    torch.manual_seed(seed)
    m = TwoLayers().eval()
    with torch.no_grad():
        for layer in (m.conv, m.fc):
            w = layer.weight
            levels = torch.linspace(-w.abs().max().item(), w.abs().max().item(), 6)
            q = levels[(w.reshape(-1, 1) - levels).abs().argmin(dim=1)].reshape(w.shape)
            w.copy_(torch.where(torch.rand_like(w) < 0.8, torch.zeros_like(w), q))
    return m


def _weights(data):
    return {t.name: t for t in load_bytes(data).tensors if t.name.endswith(".weight")}


def test_auto_stores_each_layer_in_its_smallest_encoding_and_runs_bit_exact_with_dense():
    m = _clustered_pruned()
    x = torch.randn(16, 3, 8, 8)
    dense = compile_model(m, (x[:1],), [x], weight_encoding="dense", progress=False)
    auto = compile_model(m, (x[:1],), [x], progress=False)
    xs = dense.to_physical([x])[0].numpy()
    expected = Interpreter(dense.data).invoke(xs)[0]
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(Interpreter(auto.data, backend=backend).invoke(xs)[0], expected)
    dw, aw = _weights(dense.data), _weights(auto.data)
    for name, t in aw.items():
        w = dw[name].data
        axis = 0
        best = min(encodings.candidates(w, axis), key=lambda c: c.file_bytes)
        assert t.encoding is not None and t.encoding.kind.startswith(best.kind), (name, t.encoding.kind, best)
        np.testing.assert_array_equal(WE.decode(t.encoding), w)
        assert t.stored_bytes < w.size
    assert len(auto.data) < len(dense.data) // 3


def test_a_clustered_layer_gets_one_scale_so_its_palette_stays_small():
    """6 shared float levels (and 0) in 16 channels: one tensor scale keeps them 7 int8 values, a 3-bit palette."""
    m = _clustered_pruned()
    x = torch.randn(4, 3, 8, 8)
    w = _weights(compile_model(m, (x[:1],), [x], weight_encoding="palette", progress=False).data)
    for t in w.values():
        assert t.encoding.kind in ("palette3", "palette2"), t.encoding.kind
        assert np.unique(t.encoding.codebook).size <= 7  # the 6 levels and the pruned zero
        assert np.unique(t.scale).size == 1


@pytest.mark.parametrize("mode, kind", [("dense", None), ("palette", "palette"), ("sparse", "sparse")])
def test_an_explicit_mode_is_obeyed(mode, kind):
    m = _clustered_pruned()
    x = torch.randn(4, 3, 8, 8)
    for t in _weights(compile_model(m, (x[:1],), [x], weight_encoding=mode, progress=False).data).values():
        assert (t.encoding is None) if kind is None else t.encoding.kind.startswith(kind)


def test_weight_bits_4_gives_cmsis_packed_int4_and_int4_refuses_wider_weights():
    torch.manual_seed(1)
    m = TwoLayers().eval()
    x = torch.randn(4, 3, 8, 8)
    compiled = compile_model(m, (x[:1],), [x], weight_bits=4, weight_encoding="int4", progress=False)
    for t in _weights(compiled.data).values():
        assert t.encoding.kind == "int4" and t.stored_bytes == (t.size + 1) // 2
        assert np.abs(WE.decode(t.encoding)).max() == 7
    with pytest.raises(CompileError, match=r"int4 needs weights in \[-8, 7\]"):
        compile_model(m, (x[:1],), [x], weight_encoding="int4", progress=False)
    with pytest.raises(CompileError, match="weight encoding must be one of"):
        compile_model(m, (x[:1],), [x], weight_encoding="zip", progress=False)


def test_a_per_layer_mode_names_the_weight():
    m = _clustered_pruned()
    x = torch.randn(4, 3, 8, 8)
    names = list(_weights(compile_model(m, (x[:1],), [x], weight_encoding="dense", progress=False).data))
    data = compile_model(m, (x[:1],), [x], weight_encoding={names[0]: "dense"}, progress=False).data
    w = _weights(data)
    assert w[names[0]].encoding is None and w[names[1]].encoding is not None
