"""Compiled layers against PyTorch itself: random one-layer models, int8 file vs float module.

The reference is the float PyTorch module (never microflat). The tolerance
is derived from the quantization the compiler wrote into the file (read back
with the runtime's loader), per output element y = sum_i w_i x_i + b:

    input rounding:   |x - x^| <= s_in / 2          -> sum_i |w_i| * s_in / 2
    weight rounding:  |w - w^| <= s_w / 2           -> sum_i |x^_i| * s_w / 2
    their product:                                   K * (s_in / 2) * (s_w / 2)
    bias rounding:    s_in * s_w / 2
    output: one rounding (s_out / 2) plus the fixed-point multiplier's double
    rounding (one more step)                         -> 1.5 * s_out

with sum |x^_i| bounded by K * max |x^|. Activations (relu, relu6, clamp) are
1-Lipschitz and keep the bound. Each compile runs torch.export, so these
properties run 25 cases each rather than the kernel tests' thousand.
"""


import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.compiler import compile_model
from microflat.runtime import InputError, Interpreter, load_bytes

CASES = settings(max_examples=25)


def _run(model, x, calib=None):
    """(int8 interpreter output dequantized, float output, loaded model, compiled); C equals Numba."""
    cm = compile_model(model, (x[:1],), [x] if calib is None else calib, progress=False)
    it = Interpreter(cm.data)
    (q,) = it.invoke(cm.to_physical([x])[0].numpy())
    (q_c,) = Interpreter(cm.data, backend="c").invoke(cm.to_physical([x])[0].numpy())
    np.testing.assert_array_equal(q_c, q)  # the C runtime gives the same bytes
    out = it.output_details[0]
    y = (q.astype(np.float64) - out["zero_point"]) * out["scale"]
    with torch.no_grad():
        ref = model(x).double().numpy()
    if ref.ndim == 4:
        ref = ref.transpose(0, 2, 3, 1)
    return y, ref, load_bytes(cm.data), cm


def _layer_bound(lm, cm, x, k, abs_w_sum):
    tin = lm.tensors[lm.inputs[0]]
    tout = lm.tensors[lm.outputs[0]]
    # the weight's scales: the file stores them only inside the op's multipliers, the compiled graph as they are
    s_w = np.asarray(next(n.attrs["quantized"]["weight_scale"] for n in cm.graph.nodes if "quantized" in n.attrs),
                     np.float64)
    s_in, s_out = tin.scale_value, tout.scale_value
    xmax = float(np.abs(x).max()) + s_in / 2
    return (abs_w_sum * s_in / 2 + k * xmax * s_w / 2 + k * s_in * s_w / 4 + s_in * s_w / 2 + 1.5 * s_out)


@st.composite
def conv_cases(draw):
    kind = draw(st.sampled_from(["conv", "depthwise", "grouped"]))
    cin = draw(st.integers(1, 6)) * (2 if kind == "grouped" else 1)
    groups = {"conv": 1, "depthwise": cin, "grouped": 2}[kind]
    mult = draw(st.integers(1, 2))
    cout = cin * mult if kind == "depthwise" else draw(st.integers(1, 4)) * groups
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.sampled_from([0, 1, "same"])) if stride == 1 else draw(st.sampled_from([0, 1]))
    h = draw(st.integers((k[0] - 1) * dilation + 1, 10))
    w = draw(st.integers((k[1] - 1) * dilation + 1, 10))
    return dict(kind=kind, cin=cin, cout=cout, k=k, stride=stride, dilation=dilation, padding=padding, groups=groups,
                h=h, w=w, bias=draw(st.booleans()), bn=draw(st.booleans()),
                act=draw(st.sampled_from([None, "relu", "relu6", "hardtanh"])), seed=draw(st.integers(0, 2**16)))


def _act(name):
    return {None: nn.Identity(), "relu": nn.ReLU(), "relu6": nn.ReLU6(), "hardtanh": nn.Hardtanh(-0.5, 1.0)}[name]


@CASES
@given(conv_cases())
def test_conv_matches_pytorch_within_the_derived_bound(c):
    torch.manual_seed(c["seed"])
    conv = nn.Conv2d(c["cin"], c["cout"], c["k"], c["stride"], c["padding"], c["dilation"], c["groups"], c["bias"])
    layers = [conv]
    if c["bn"]:
        bn = nn.BatchNorm2d(c["cout"])
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.3, 0.3)
        layers.append(bn)
    layers.append(_act(c["act"]))
    model = nn.Sequential(*layers).eval()
    x = torch.rand(4, c["cin"], c["h"], c["w"]) * 4 - 1.5
    y, ref, lm, cm = _run(model, x)
    # the folded float weights (conv * BN scale) are what the int8 weights approximate
    w_f = next(n for n in cm.graph.nodes if n.op in ("conv", "fc")).attrs["weight"]
    k = int(np.prod(w_f.shape[1:]))
    bound = _layer_bound(lm, cm, x.numpy(), k, np.abs(w_f).reshape(w_f.shape[0], -1).sum(1))
    assert y.shape == ref.shape
    assert np.all(np.abs(y - ref) <= bound.reshape(1, 1, 1, -1) + 1e-9), float(np.max(np.abs(y - ref) - bound))


@CASES
@given(st.integers(1, 40), st.integers(1, 20), st.booleans(), st.sampled_from([None, "relu", "relu6"]),
       st.integers(0, 2**16), st.booleans())
def test_linear_matches_pytorch_within_the_derived_bound(n_in, n_out, bias, act, seed, with_bn):
    torch.manual_seed(seed)
    layers = [nn.Linear(n_in, n_out, bias=bias)]
    if with_bn:
        bn = nn.BatchNorm1d(n_out)
        bn.running_var.uniform_(0.5, 2.0)
        layers.append(bn)
    model = nn.Sequential(*layers, _act(act)).eval()
    x = torch.randn(8, n_in)
    y, ref, lm, cm = _run(model, x)
    w_f = next(n for n in cm.graph.nodes if n.op in ("conv", "fc")).attrs["weight"]
    bound = _layer_bound(lm, cm, x.numpy(), n_in, np.abs(w_f).sum(1))
    assert np.all(np.abs(y - ref) <= bound.reshape(1, -1) + 1e-9)


# --- parameter-free ops: input rounding through an L-Lipschitz op, then 1.5 output steps --------

class _Op(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


OPS = {
    # name: (function, Lipschitz constant w.r.t. each input in the max norm)
    "max_pool": (lambda x: F.max_pool2d(x, 2), 1.0),
    "max_pool_pad_ceil": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), 1.0),
    "avg_pool": (lambda x: F.avg_pool2d(x, (2, 3), (1, 2)), 1.0),
    "avg_pool_pad": (lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), 1.0),
    "adaptive_avg_pool": (lambda x: F.adaptive_avg_pool2d(x, 1), 1.0),
    "adaptive_avg_pool_2x2": (lambda x: F.adaptive_avg_pool2d(x, 2), 1.0),
    "mean_hw": (lambda x: x.mean(dim=(2, 3)), 1.0),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1)), 1.0),
    "sigmoid": (torch.sigmoid, 0.25),
    "tanh": (torch.tanh, 1.0),
    "hardswish": (F.hardswish, 1.5),
    "softmax_channels": (lambda x: torch.softmax(x, dim=1), 1.0),
    "nhwc_permute": (lambda x: x.permute(0, 2, 3, 1).mean(dim=(1, 2)), 1.0),
    # table activations: the largest |f'| over the reals (GELU's at x = sqrt(2), SiLU's at x = 2.40, Mish's at
    # x = 1.49; computed with autograd on a 2e-5 grid over [-20, 20], rounded up)
    "gelu": (F.gelu, 1.129),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), 1.13),
    "silu": (F.silu, 1.1),
    "x_sigmoid_x": (lambda x: x * torch.sigmoid(x), 1.1),
    "hardsigmoid": (F.hardsigmoid, 1 / 6),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), 1.0),
    "prelu": (nn.PReLU(init=0.3), 1.0),
    "elu": (lambda x: F.elu(x, 0.7), 1.0),
    "mish": (F.mish, 1.089),
    "relu_of_input": (torch.relu, 1.0),
    "relu6_after_cat": (lambda x: F.relu6(torch.cat([x, torch.tanh(x)], dim=1)), 1.0),
    # a Python number as an operand: a constant tensor, exact at its own scale (each c below is the end of its
    # range, quantized to -128 or 127 exactly), so the op is |c|-Lipschitz (mul) or 1-Lipschitz (add, sub, max)
    "add_scalar": (lambda x: x + 3.0, 1.0),
    "mul_scalar": (lambda x: x * 0.5, 0.5),
    "div_scalar": (lambda x: x / 4, 0.25),
    "rsub_scalar": (lambda x: 1 - x, 1.0),
    "neg": (lambda x: -x, 1.0),
    "maximum_scalar": (lambda x: torch.maximum(x, torch.tensor(0.5)), 1.0),
    "minimum_scalar": (lambda x: torch.minimum(x, torch.tensor(-0.25)), 1.0),
    "relu_via_maximum_then_scale": (lambda x: torch.maximum(x, torch.tensor(0.0)) * 2, 2.0),
    # layouts PyTorch's element order needs: TRANSPOSE ops (they move bytes, so 1-Lipschitz with no rounding)
    "flatten_output": (lambda x: torch.tanh(x).flatten(1), 1.0),
    "permuted_output": (lambda x: torch.tanh(x).permute(0, 2, 1, 3), 1.0),
    "reshape_after_transpose": (lambda x: torch.tanh(x.transpose(2, 3)).reshape(x.shape[0], 5, -1), 1.0),
    "sequence_made_4d": (lambda x: F.avg_pool2d(x.flatten(2).unsqueeze(3), (2, 1)), 1.0),
    # slicing, splitting, stacking, gathering: bytes moved (STRIDED_SLICE, CONCATENATION as PACK, GATHER)
    "slice_strided": (lambda x: x[:, 1:4, ::2, 1::3], 1.0),
    "select_channel": (lambda x: x[:, 2], 1.0),
    "select_last_width": (lambda x: x[..., -1], 1.0),
    "narrow_height": (lambda x: x.narrow(2, 1, 4), 1.0),
    "chunk_sub": (lambda x: torch.sub(*x.chunk(2, dim=3)), 2.0),
    "split_sizes_reversed": (lambda x: torch.cat(x.split([2, 3], dim=1)[::-1], dim=1), 1.0),
    "unbind_stack_reversed": (lambda x: torch.stack(x.unbind(1)[::-1], dim=1), 1.0),
    "index_select_width": (lambda x: x.index_select(3, torch.tensor([7, 0, 3, 3])), 1.0),
    "index_channels": (lambda x: x[:, [4, 1]], 1.0),
    "slice_tokens": (lambda x: x.flatten(2).transpose(1, 2)[:, 5:20:3], 1.0),
    # reductions over any axes (the sum of 6 values moves each input error 6 times)
    "mean_channels": (lambda x: x.mean(dim=1), 1.0),
    "mean_channels_keepdim": (lambda x: x.mean(dim=1, keepdim=True), 1.0),
    "mean_width": (lambda x: x.mean(dim=3), 1.0),
    "sum_height": (lambda x: x.sum(dim=2), 6.0),
    "amax_channels": (lambda x: x.amax(dim=1), 1.0),
    # resizing where TFLite's 10-bit source positions are exact (scales 1/2): a convex combination, 1-Lipschitz
    "upsample_nearest_2x": (lambda x: F.interpolate(x, scale_factor=2), 1.0),
    "upsample_nearest_exact": (lambda x: F.interpolate(x, size=(12, 16), mode="nearest-exact"), 1.0),
    "upsample_bilinear_2x": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), 1.0),
    "upsample_bilinear_aligned": (lambda x: F.interpolate(x, size=(11, 15), mode="bilinear", align_corners=True), 1.0),
}
BINARY = {
    "add": (lambda a, b: a + b, 2.0),
    "add_relu": (lambda a, b: torch.relu(a + b), 2.0),
    "add_broadcast": (lambda a, b: a + b.mean(dim=(2, 3), keepdim=True), 2.0),
    "cat": (lambda a, b: torch.cat([a, b], dim=1), 1.0),
    "cat_width": (lambda a, b: torch.cat([a, b], dim=3), 1.0),
    "cat_transposed": (lambda a, b: torch.cat([a.flatten(2), b.transpose(2, 3).flatten(2)], dim=1), 1.0),
    "sub": (lambda a, b: a - b, 2.0),
    "sub_relu": (lambda a, b: torch.relu(a - b), 2.0),
    "maximum": (torch.maximum, 1.0),  # both inputs at one (union) scale: each input's rounding, then exact
    "minimum": (torch.minimum, 1.0),
    "squared_difference": (lambda a, b: (a - b) ** 2, None),  # bound derived in the test
    "sub_channel_constant": (lambda a, b: a - torch.linspace(-1, 2, 4).reshape(4, 1, 1) + b, 3.0),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("seed", range(3))
def test_op_matches_pytorch(name, seed):
    fn, lipschitz = OPS[name]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 6, 8, generator=g) * 2
    y, ref, lm, cm = _run(_Op(fn).eval(), x)
    if name in ("softmax_channels",):
        ref = ref.reshape(y.shape)
    if ref.ndim == 4 and cm.graph.output_layouts[0] != "NHWC":  # a 4-D output in PyTorch's own layout
        ref = ref.transpose(0, 3, 1, 2)
    s_in = lm.tensors[lm.inputs[0]].scale_value
    s_out = lm.tensors[lm.outputs[0]].scale_value
    bound = lipschitz * s_in / 2 + 1.5 * s_out
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) <= bound + 1e-9, (np.max(np.abs(y - ref)), bound)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_matches_pytorch(name):
    fn, lipschitz = BINARY[name]
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 4, 5, 6, generator=g), torch.randn(3, 4, 5, 6, generator=g) * 3
    cm = compile_model(_Op(fn).eval(), (a[:1], b[:1]), [(a, b)], progress=False)
    it = Interpreter(cm.data)
    pa, pb = cm.to_physical([a, b])
    (q,) = it.invoke(pa.numpy(), pb.numpy())
    out = it.output_details[0]
    y = (q.astype(np.float64) - out["zero_point"]) * out["scale"]
    with torch.no_grad():
        ref = fn(a, b).double().numpy()
    if cm.graph.output_layouts[0] == "NHWC":
        ref = ref.transpose(0, 2, 3, 1)
    lm = load_bytes(cm.data)
    s_in = max(lm.tensors[i].scale_value for i in lm.inputs)
    # the broadcast operand passes through a mean first: one more rounding of its own
    extra = 1.5 * max(v.scale for v in cm.graph.values()) if name == "add_broadcast" else 0.0
    if name == "sub_channel_constant":  # a sub then an add: the constant's rounding and one more output step
        extra = max(n.output.scale for n in cm.graph.nodes if n.op == "constant") / 2 + \
            1.5 * max(n.output.scale for n in cm.graph.nodes if n.op == "sub")
    if name == "squared_difference":
        # |d^2 - e^2| <= (2|d| + eps) eps for |d - e| <= eps: each input's rounding (s_a / 2 + s_b / 2) and
        # the kernel's rounding of each scaled input to s / 2^7 (s = 2 max(s_a, s_b)), half a step each
        sa, sb = (lm.tensors[i].scale_value for i in lm.inputs)
        eps = (sa + sb) / 2 + 2 * max(sa, sb) / 2**7
        dmax = float((a - b).abs().max())
        assert [n.op for n in cm.graph.nodes] == ["squared_difference"]
        bound = (2 * dmax + eps) * eps + 1.5 * out["scale"]
    else:
        bound = lipschitz * s_in / 2 + 1.5 * out["scale"] + extra
    (q_c,) = Interpreter(cm.data, backend="c").invoke(pa.numpy(), pb.numpy())
    np.testing.assert_array_equal(q_c, q)
    assert np.max(np.abs(y - ref)) <= bound + 1e-9


def test_mul_matches_pytorch():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 4, 5, 5, generator=g), torch.rand(2, 4, 5, 5, generator=g)
    fn = lambda a, b: a * torch.sigmoid(b)  # noqa: E731  (a squeeze-excite style gate)
    cm = compile_model(_Op(fn).eval(), (a[:1], b[:1]), [(a, b)], progress=False)
    it = Interpreter(cm.data)
    (q,) = it.invoke(*[p.numpy() for p in cm.to_physical([a, b])])
    out = it.output_details[0]
    y = (q.astype(np.float64) - out["zero_point"]) * out["scale"]
    with torch.no_grad():
        ref = fn(a, b).double().numpy().transpose(0, 2, 3, 1)
    sa, sb = (v.scale for v in cm.graph.inputs)
    s_gate = 1 / 256
    # |a g - a^ g^| <= |a| |g - g^| + |g^| |a - a^|: g^ in [0, 1], g's error one sigmoid step plus input rounding
    amax = float(a.abs().max())
    bound = amax * (s_gate * 1.5 + 0.25 * sb / 2) + sa / 2 + 1.5 * out["scale"]
    assert np.max(np.abs(y - ref)) <= bound


def test_lowered_float_graph_equals_the_module():
    """The IR in float (layout changes, BN folding, pad and activation fusion) computes what PyTorch computes."""
    from microflat.compiler import zoo
    from microflat.compiler.api import lower_program
    from microflat.compiler.simulate import run_graph
    from microflat.compiler.quantize import physical_batches

    for name in sorted(zoo.ZOO):
        model = zoo.load(name, trained=False)
        x = zoo.untrained_inputs(name, 4, seed=1)
        graph = lower_program(model, (x[:1],))
        (y,) = run_graph(graph, next(physical_batches(graph, [x])))
        with torch.no_grad():
            ref = model(x)
        if ref.dim() == 4:
            ref = ref.permute(0, 2, 3, 1)
        scale = float(ref.abs().max())
        assert torch.allclose(y, ref, atol=1e-4 * scale + 1e-6), name


def test_float32_io_quantizes_and_dequantizes_inside_the_file():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU()).eval()
    x = torch.randn(4, 2, 6, 6)
    int8 = compile_model(model, (x[:1],), [x], progress=False)
    flt = compile_model(model, (x[:1],), [x], io_dtype="float32", progress=False)
    lm = load_bytes(flt.data)
    assert [lm.tensors[i].dtype for i in lm.inputs + lm.outputs] == ["float32", "float32"]
    assert [op.opcode for op in lm.operators] == [15, 0, 16]  # QUANTIZE, CONV_2D, DEQUANTIZE
    xp = int8.to_physical([x])[0].numpy()
    expected = Interpreter(int8.data).invoke(xp, dequantize=True)[0]
    assert np.array_equal(Interpreter(flt.data).invoke(xp)[0], expected)


# --- 1-D models: lowered through the 2-D ops on [N, C, 1, L], so they must give the 2-D model's very bytes ---

class _Net1d(nn.Module):
    """Conv1d + BatchNorm1d + ReLU, MaxPool1d, a strided and a dilated Conv1d, AvgPool1d, then the mean over L."""

    def __init__(self, two_d: bool):
        super().__init__()
        conv, bn, maxp, avgp = ((nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d) if two_d else
                                (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d))
        k = (lambda n: (1, n)) if two_d else (lambda n: n)
        self.two_d = two_d
        self.body = nn.Sequential(
            conv(8, 12, k(3), padding=(0, 1) if two_d else 1), bn(12), nn.ReLU(), maxp(k(2)),
            conv(12, 16, k(3), stride=k(2)), nn.ReLU6(), conv(16, 16, k(3), dilation=k(2), groups=4),
            avgp(k(2)))

    def forward(self, x):
        y = self.body(x)
        return y.mean(dim=(2, 3)) if self.two_d else y.mean(dim=-1)


def test_conv1d_models_give_the_bytes_of_their_2d_twins():
    torch.manual_seed(3)
    one, two = _Net1d(False), _Net1d(True)
    two.load_state_dict({k: v.unsqueeze(2) if v.dim() == 3 else v for k, v in one.state_dict().items()})
    x = torch.randn(16, 8, 49) * 2
    with torch.no_grad():
        one.body[1].running_mean.uniform_(-0.5, 0.5)
        two.body[1].running_mean.copy_(one.body[1].running_mean)
    one.eval(), two.eval()
    cm1 = compile_model(one, (x[:1],), [x], progress=False)
    cm2 = compile_model(two, (x[:1].unsqueeze(2),), [x.unsqueeze(2)], progress=False)
    moves = ("reshape", "transpose")  # the 1-D model transposes its input to channels last, then views it 2-D
    assert [n.op for n in cm1.graph.nodes if n.op not in moves] == [n.op for n in cm2.graph.nodes]
    for backend in ("numba", "c"):
        (q1,) = Interpreter(cm1.data, backend=backend).invoke(x[:4].numpy())
        (q2,) = Interpreter(cm2.data, backend=backend).invoke(x[:4].unsqueeze(2).permute(0, 2, 3, 1).numpy())
        np.testing.assert_array_equal(q1, q2)


# --- sequences and attention: Linear on [N, T, F], BATCH_MATMUL, scaled dot-product attention --------------

def test_linear_on_a_sequence_runs_each_token_through_one_fully_connected():
    torch.manual_seed(4)
    layer = nn.Linear(32, 12).eval()
    x = torch.randn(8, 16, 32)
    y, ref, lm, cm = _run(layer, x)
    assert [n.op for n in cm.graph.nodes if n.op != "reshape"] == ["fc"]
    w = layer.weight.detach().double().numpy()
    bound = _layer_bound(lm, cm, x.numpy(), w.shape[1], np.abs(w).sum(axis=1))
    assert y.shape == ref.shape
    assert np.all(np.abs(y - ref) <= bound + 1e-9)


def _matmul_bound(a, b, sa, sb, s_out, depth, scale=1.0):
    """|AB - A^B^| per element: each of the K products is off by at most |a| s_b / 2 + |b| s_a / 2 + s_a s_b / 4
    (each operand rounded by half a step), times the folded scale; then one requantization, 1.5 output steps."""
    amax, bmax = float(np.abs(a).max()), float(np.abs(b).max())
    return scale * depth * (amax * sb / 2 + bmax * sa / 2 + sa * sb / 4) + 1.5 * s_out


@pytest.mark.parametrize("transposed", [False, True])
def test_matmul_of_two_activations(transposed):
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(4, 6, 8, generator=g), torch.randn(4, 6, 8, generator=g) * 2
    fn = (lambda a, b: a @ b.transpose(1, 2)) if transposed else (lambda a, b: a @ b.reshape(-1, 8, 6))
    cm = compile_model(_Op(fn).eval(), (a[:1], b[:1]), [(a, b)], progress=False)
    mm = [n for n in cm.graph.nodes if n.op == "batch_matmul"]
    assert len(mm) == 1 and mm[0].attrs["adj_y"] == transposed  # a transposed view is read as such, not moved
    outs = [Interpreter(cm.data, backend=be).invoke(a.numpy(), b.numpy())[0] for be in ("numba", "c")]
    np.testing.assert_array_equal(outs[0], outs[1])
    out = Interpreter(cm.data).output_details[0]
    y = (outs[0].astype(np.float64) - out["zero_point"]) * out["scale"]
    with torch.no_grad():
        ref = fn(a, b).double().numpy()
    sa, sb = (v.scale for v in cm.graph.inputs)
    assert np.max(np.abs(y - ref)) <= _matmul_bound(a.numpy(), b.numpy(), sa, sb, out["scale"], 8) + 1e-9


class _Attention(nn.Module):
    def __init__(self, explicit):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 16)
        self.explicit = explicit

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        if self.explicit:
            return torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1) @ v
        return F.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("explicit", [False, True])
def test_attention_within_its_derived_bound(explicit):
    """softmax(q k^T / sqrt(d)) v. With eps_L the logits' error (the matmul bound, scale 1/4 folded), each
    probability is off by a factor within e^(+-2 eps_L), so sum |dp| <= e^(2 eps_L) - 1, plus the softmax's own
    rounding (S keys, at most 1.5 / 256 each); the output p v adds max|v| times that, the value's rounding
    (s_v / 2; the p sum to 1) and one requantization (1.5 output steps)."""
    torch.manual_seed(6)
    model = _Attention(explicit).eval()
    x = torch.randn(4, 10, 16)
    cm = compile_model(model, (x[:1],), [x], progress=False)
    ops = [n.op for n in cm.graph.nodes]
    assert ops.count("batch_matmul") == 2 and "softmax" in ops and "transpose" not in ops
    got = [Interpreter(cm.data, backend=be).invoke(x.numpy())[0] for be in ("numba", "c")]
    np.testing.assert_array_equal(got[0], got[1])
    out = Interpreter(cm.data).output_details[0]
    y = (got[0].astype(np.float64) - out["zero_point"]) * out["scale"]
    with torch.no_grad():
        q, k, v = (m(x).double().numpy() for m in (model.q, model.k, model.v))
        ref = model(x).double().numpy()
    fcs = [n.output for n in cm.graph.nodes if n.op == "fc"]
    sq, sk, sv = (v_.scale for v_ in fcs)
    logits = next(n.output for n in cm.graph.nodes if n.op == "batch_matmul")
    # q, k and v are one FC each: the module docstring's layer bound (input and weight rounding, one output step)
    s_in = cm.graph.inputs[0].scale
    xmax = float(x.abs().max()) + s_in / 2

    def fc_error(m, s_out):
        w = m.weight.detach().double().numpy()
        s_w = np.abs(w).max(axis=1) / 127
        kk = w.shape[1]
        return float(np.max(np.abs(w).sum(axis=1) * s_in / 2 + kk * xmax * s_w / 2 + kk * s_in * s_w / 4
                            + s_in * s_w / 2)) + 1.5 * s_out

    eps_qk = [fc_error(m, s) for s, m in ((sq, model.q), (sk, model.k), (sv, model.v))]
    eps_l = 0.25 * 16 * (np.abs(q).max() * eps_qk[1] + np.abs(k).max() * eps_qk[0] + eps_qk[0] * eps_qk[1]) \
        + 1.5 * logits.scale
    keys = x.shape[1]
    bound = (math.expm1(2 * eps_l) + keys * 1.5 / 256) * np.abs(v).max() + eps_qk[2] + 1.5 * out["scale"]
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) <= bound, (np.max(np.abs(y - ref)), bound)


# --- transposed convolution ---------------------------------------------------------------------------

@pytest.mark.parametrize("k, stride, padding, output_padding", [(3, 2, 1, 1), (2, 2, 0, 0), (4, 3, 1, 2), (3, 1, 1, 0)])
def test_conv_transpose2d_within_the_layer_bound(k, stride, padding, output_padding):
    torch.manual_seed(7)
    layer = nn.ConvTranspose2d(5, 6, k, stride, padding, output_padding).eval()
    x = torch.randn(4, 5, 6, 7)
    y, ref, lm, cm = _run(layer, x)
    assert [n.op for n in cm.graph.nodes] == ["transpose_conv"]
    w = layer.weight.detach().double().numpy()  # [I, O, KH, KW]
    # each output meets at most I * ceil(KH / s) * ceil(KW / s) taps; the whole filter's sum bounds their |w|
    taps = 5 * math.ceil(k / stride) ** 2
    bound = _layer_bound(lm, cm, x.numpy(), taps, np.abs(w).sum(axis=(0, 2, 3)))
    assert y.shape == ref.shape
    assert np.all(np.abs(y - ref) <= bound.reshape(1, 1, 1, -1) + 1e-9)


def test_layer_norm_within_its_derived_bound():
    """TFLite's decomposition, error carried step by step (e = error, s = each step's output scale; one
    requantization costs 1.5 s):
        mean  e_m  = e_x + 1.5 s_m                       (the mean of inputs off by e_x = s_x / 2)
        d     e_d  = e_x + e_m + 1.5 s_d
        sq    e_sq = (2 max|d| + e1) e1 + 1.5 s_sq,  e1 = e_x + e_m + 2 max(s_x, s_m) / 2^7 (the kernel's rounding)
        var   e_v  = e_sq + 1.5 s_v
        r     e_r  = L e_v + s_r / 2,  L = |d/dv (v + eps)^(-1/2)| at the least variance less e_v (a table: one
                     correctly rounded step, no requantization)
        y     e_y  = max|d| e_r + max r e_d + e_d e_r + 1.5 s_y"""
    torch.manual_seed(8)
    layer = nn.LayerNorm(24, elementwise_affine=False).eval()
    x = torch.randn(6, 10, 24) * 3 + torch.linspace(-2, 2, 10).reshape(1, 10, 1)
    y, ref, lm, cm = _run(layer, x)
    ops = [n.op for n in cm.graph.nodes]
    assert ops == ["reduce_mean", "sub", "squared_difference", "reduce_mean", "rsqrt", "mul"]
    scale = {n.op + ("2" if n.op == "reduce_mean" and i > 0 else ""): n.output.scale
             for i, n in enumerate(n for n in cm.graph.nodes)}
    s_x = cm.graph.inputs[0].scale
    xn = x.double().numpy()
    mu = xn.mean(-1, keepdims=True)
    var = ((xn - mu) ** 2).mean(-1)
    e_x = s_x / 2
    e_m = e_x + 1.5 * scale["reduce_mean"]
    e_d = e_x + e_m + 1.5 * scale["sub"]
    dmax = float(np.abs(xn - mu).max()) + e_d
    e1 = e_x + e_m + 2 * max(s_x, scale["reduce_mean"]) / 2**7
    e_v = (2 * dmax + e1) * e1 + 1.5 * scale["squared_difference"] + 1.5 * scale["reduce_mean2"]
    vmin = max(float(var.min()) - e_v, 0.0) + 1e-5
    e_r = 0.5 * vmin ** -1.5 * e_v + scale["rsqrt"] / 2
    rmax = vmin ** -0.5
    bound = dmax * e_r + rmax * e_d + e_d * e_r + 1.5 * lm.tensors[lm.outputs[0]].scale_value
    assert np.max(np.abs(y - ref)) <= bound, (np.max(np.abs(y - ref)), bound)


# --- embedding: GATHER of a constant table by integer ids -------------------------------------------------------

def test_embedding_rows_are_the_table_rounded_once_and_bad_ids_are_refused():
    """nn.Embedding on int64 ids: the output is tied to the table's quantization, so each row is the float row
    rounded once (s / 2), on both backends; an id outside the table fails the invoke on both (InputError)."""
    torch.manual_seed(9)
    model = nn.Embedding(50, 6).eval()
    ids = torch.randint(0, 50, (16, 7))
    cm = compile_model(model, (ids[:1],), [ids], progress=False)
    assert [n.op for n in cm.graph.nodes] == ["constant", "gather"]
    feed = ids.numpy().astype(np.int32)
    got = [Interpreter(cm.data, backend=be).invoke(feed)[0] for be in ("numba", "c")]
    np.testing.assert_array_equal(got[0], got[1])
    out = Interpreter(cm.data).output_details[0]
    y = (got[0].astype(np.float64) - out["zero_point"]) * out["scale"]
    ref = model.weight.detach().double().numpy()[ids.numpy()]
    assert np.max(np.abs(y - ref)) <= out["scale"] / 2 * (1 + 1e-6)
    for bad in (-1, 50, 2**31 - 1):
        wrong = feed[:1].copy()
        wrong[0, 3] = bad
        for be in ("numba", "c"):
            with pytest.raises(InputError):
                Interpreter(cm.data, backend=be).invoke(wrong)
