"""Overlap pairs: an output planned partly over its dying input (memory_plan.py), in both runtimes.

- The distance an op reports is safe for the rows its kernels read: checked against a brute-force trace
  of which input row each output row still needs, written here without the code under test.
- A layer planned at exactly its pair's distance (the least the planner uses) runs bit-exactly like the
  int64 references in the Numba and the C runtime; a plan one alignment step closer, or off the step, is
  refused by both loaders.
- On the MLPerf Tiny architectures the planned arena goes below the liveness lower bound.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from microflat.testing import ops_reference as ops_ref
from microflat.testing.layer_cases import conv2d_cases, depthwise_cases, int8_array
from microflat.testing.layer_references import conv2d_reference, depthwise_reference
from microflat.compiler.serialize import serialize
from microflat.compiler.writer import ModelWriter
from microflat.runtime import FormatError, Interpreter, load_bytes
from microflat.runtime.memory_plan import row_overlap_bytes

ALIGN = 16


# --- the distance against a brute-force read trace --------------------------------------------------------

def least_safe_distance(n, h, in_row, oh, out_row, rows_read):
    """The least delta >= 0 at which writing output row s (of n * oh, in order) at `delta` bytes below the
    input never lands on an input row that row s or a later one reads. rows_read(y): input rows output row y
    reads (within one image)."""
    last_read = {}
    for b in range(n):
        for y in range(oh):
            for r in rows_read(y):
                last_read[b * h + r] = b * oh + y
    in_bytes = n * h * in_row
    for delta in range(0, n * oh * out_row + 1):
        safe = True
        for s in range(n * oh):
            lo, hi = s * out_row - delta, (s + 1) * out_row - delta  # the row's bytes in input coordinates
            lo, hi = max(lo, 0), min(hi, in_bytes)
            if lo < hi and any(last_read.get(r, -1) >= s for r in range(lo // in_row, (hi - 1) // in_row + 1)):
                safe = False
                break
        if safe:
            return delta
    raise AssertionError("an output wholly below its input is always safe")


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 9), in_row=st.integers(1, 12), out_row=st.integers(1, 12),
       k=st.integers(1, 4), stride=st.integers(1, 3), dilation=st.integers(1, 2), data=st.data())
def test_row_overlap_distance_is_safe_and_tight_where_rows_are_read_contiguously(n, h, in_row, out_row, k, stride,
                                                                                   dilation, data):
    eff = (k - 1) * dilation + 1
    pad_top = data.draw(st.integers(0, eff - 1))
    pad_bottom = data.draw(st.integers(0, eff - 1))
    assume(h + pad_top + pad_bottom >= eff)
    oh = (h + pad_top + pad_bottom - eff) // stride + 1

    def rows_read(y):
        return [r for r in (y * stride - pad_top + t * dilation for t in range(k)) if 0 <= r < h]

    d = row_overlap_bytes(n, h, in_row, oh, out_row, stride, pad_top)
    least = least_safe_distance(n, h, in_row, oh, out_row, rows_read)
    assert d >= least
    # The distance treats every row from a window's top on as still needed; where windows leave no row
    # unread (dilation 1, stride at most the window), that is exact and the distance is the least.
    if dilation == 1 and stride <= k and all(rows_read(y) for y in range(oh)):
        assert d == max(least, out_row)  # row 0 always reads from the input's first byte


# --- a layer planned at its pair's distance, in both runtimes -------------------------------------------

def _identity_lut(w, name, src, shape, zp):
    y = w.add_tensor(name, "int8", shape, scale=0.05, zero_point=zp)
    w.add_operator("TANH", [src, w.add_constant(f"{name}.table", np.arange(-128, 128, dtype=np.int8))], [y])
    return y


def _layer_model(x_np, input_zp, out_shape, output_zp, add_layer):
    """x -> identity table -> the layer -> identity table -> out: the layer's input dies at the layer and
    neither its input nor its output is a model input or output, so the two may overlap."""
    w = ModelWriter()
    x = w.add_tensor("x", "int8", x_np.shape, scale=0.05, zero_point=input_zp)
    xi = _identity_lut(w, "xi", x, x_np.shape, input_zp)
    y = w.add_tensor("y", "int8", out_shape, scale=0.05, zero_point=output_zp)
    add_layer(w, xi, y)
    out = _identity_lut(w, "out", y, out_shape, output_zp)
    w.set_io([x], [out])
    return w, xi, y


def _planned(w, xi, y, closer=0):
    """The model with the layer's output at offset 0 and its input at the pair's planned distance (less
    `closer` bytes); everything else above both."""
    loaded = load_bytes(w.to_bytes())
    (pair,) = loaded.overlap_pairs()
    assert (pair.input, pair.output) == (xi, y)
    dist = pair.planned_distance() - closer
    sizes = [t.nbytes for t in loaded.tensors]
    above = -(-max(dist + sizes[xi], sizes[y]) // ALIGN) * ALIGN
    offsets = [-1 if t.is_const else above for t in loaded.tensors]
    offsets[xi], offsets[y] = dist, 0
    scratch = [above if i.scratch_bytes else -1 for i in loaded.op_info]
    top = max([sizes[t] for t, o in enumerate(offsets) if o == above] + [i.scratch_bytes for i in loaded.op_info])
    plan = {"arena_bytes": above + -(-top // ALIGN) * ALIGN, "tensor_offsets": offsets, "scratch_offsets": scratch}
    return serialize(w._model(plan, bytes(32)), w.buffers), pair, sizes


def _run_overlapped(w, xi, y, x, expected):
    data, pair, sizes = _planned(w, xi, y)
    assume(pair.planned_distance() < sizes[y])  # the two really overlap
    for backend in ("numba", "c"):
        (got,) = Interpreter(data, backend=backend).invoke(x)
        np.testing.assert_array_equal(got, expected, err_msg=backend)
    # one alignment step closer than the pair's distance (or off its step) is refused by both loaders
    if pair.planned_distance() - ALIGN < pair.bytes or pair.step % ALIGN:
        closer, _, _ = _planned(w, xi, y, closer=ALIGN)
        with pytest.raises(FormatError, match="overlap"):
            load_bytes(closer)
        with pytest.raises(FormatError, match="overlap"):
            Interpreter(closer, backend="c")


def _pads_fit(case):
    """The format's geometry: padding below the window and no window wholly in the padding."""
    g = case.geometry
    return all(g[a]["before"] <= (g[a]["k"] - 1) * g[a]["dilation"] and
               (g[a]["out"] - 1) * g[a]["stride"] - g[a]["before"] < g[a]["size"] for a in ("h", "w"))


def _conv_like(w, xi, y, case, opcode, table, extra):
    kw, g = case.kwargs, case.geometry
    channels = case.w.shape[0] if opcode == "CONV_2D" else case.w.shape[3]
    wt = w.add_constant("w", case.w, scale=np.full(channels, 0.01), zero_point=0,
                        axis=0 if opcode == "CONV_2D" else 3)
    b = -1 if case.bias is None else w.add_constant("b", case.bias.astype(np.int32))
    opts = dict(stride_h=g["h"]["stride"], stride_w=g["w"]["stride"], dilation_h=g["h"]["dilation"],
                dilation_w=g["w"]["dilation"], pad_top=g["h"]["before"], pad_left=g["w"]["before"],
                act_min=kw["act_min"], act_max=kw["act_max"], output_mult=kw["output_mult"],
                output_shift=kw["output_shift"], **extra)
    w.add_operator(opcode, [xi, wt, b], [y], table, opts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(case=conv2d_cases())
def test_conv_planned_over_its_input_runs_exactly(case):
    assume(case.kwargs["groups"] == 1 and _pads_fit(case))
    expected = conv2d_reference(case)
    w, xi, y = _layer_model(case.x, case.kwargs["input_zp"], expected.shape, case.kwargs["output_zp"],
                            lambda w, xi, y: _conv_like(w, xi, y, case, "CONV_2D", "Conv2DOptions", {}))
    _run_overlapped(w, xi, y, case.x, expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(case=depthwise_cases())
def test_depthwise_planned_over_its_input_runs_exactly(case):
    assume(_pads_fit(case))
    expected = depthwise_reference(case)
    m = case.geometry["multiplier"]
    w, xi, y = _layer_model(case.x, case.kwargs["input_zp"], expected.shape, case.kwargs["output_zp"],
                            lambda w, xi, y: _conv_like(w, xi, y, case, "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions",
                                                        dict(depth_multiplier=m)))
    _run_overlapped(w, xi, y, case.x, expected)


@st.composite
def pool_cases(draw):
    fh, fw, sh, sw = (draw(st.integers(1, 3)) for _ in range(4))
    pt, pl = draw(st.integers(0, fh - 1)), draw(st.integers(0, fw - 1))
    h, wd = draw(st.integers(max(1, fh - pt), 9)), draw(st.integers(max(1, fw - pl), 9))
    oh, ow = (h + pt - fh) // sh + 1, (wd + pl - fw) // sw + 1
    x = int8_array(draw, (draw(st.integers(1, 2)), h, wd, draw(st.integers(1, 20))))
    return draw(st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"])), x, (fh, fw, sh, sw, pt, pl, oh, ow)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(case=pool_cases())
def test_pooling_planned_over_its_input_runs_exactly(case):
    opcode, x, (fh, fw, sh, sw, pt, pl, oh, ow) = case
    ref = ops_ref.average_pool2d if opcode == "AVERAGE_POOL_2D" else ops_ref.max_pool2d
    expected = ref(x, fh, fw, sh, sw, pt, pl, oh, ow, -128, 127)
    opts = dict(filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl)
    w, xi, y = _layer_model(x, 0, expected.shape, 0,
                            lambda w, xi, y: w.add_operator(opcode, [xi], [y], "Pool2DOptions", opts))
    _run_overlapped(w, xi, y, x, expected)


# --- whole models ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ds_cnn", "mobilenet_v1_025", "resnet8"])
def test_mlperf_tiny_arena_goes_below_the_liveness_bound(name):
    from zoo_files import compiled_zoo

    m = load_bytes(compiled_zoo()[name])
    print(f"\n{name}: arena {m.arena_bytes} B, liveness bound {m.liveness_bound()} B, "
          f"with overlap {m.overlap_bound()} B")
    assert m.overlap_bound() <= m.arena_bytes < m.liveness_bound()
