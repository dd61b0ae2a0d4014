"""Bias correction (compile_model(bias_correction=True), compiler/quantize.py; Nagel et al. 2019, section 4.2).

The reference is written here from the definition, without the compiler's code: the file's int32 bias of output
channel c is round((b[c] - sum_k (W_q - W)[c, k] E[x_k]) / (s_in s_w[c])), W_q = q s_w the weights the file holds
and E[x] the mean of the layer's input over the calibration data, computed here from that data directly (a conv's
sum over its taps and its group's input channels by torch's own grouped conv of a constant image of the means).
The two means are sums of the same float64 values in different orders, so the unrounded biases may differ in
their last bits and a value within those bits of a rounding boundary may round the other way: at most one step.

Then what it is for: over the calibration data, the compiled layer's outputs have the float layer's mean, up to
the output's own rounding, where without the correction they are off by (W_q - W) E[x].
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from microflat.compiler import compile_model
from microflat.runtime import Interpreter


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _node(cm, op):
    (node,) = [n for n in cm.graph.nodes if n.op == op]
    return node


def _expected_bias(node, shift):
    """The corrected int32 bias from the weights the file holds and `shift` = (W_q - W) E[x] per channel."""
    q = node.attrs["quantized"]
    bias = np.zeros(len(shift)) if node.attrs["bias"] is None else np.asarray(node.attrs["bias"], np.float64)
    return _round_half_away((bias - shift) / (node.inputs[0].scale * q["weight_scale"]))


def _dequantized_weight(node):
    q = node.attrs["quantized"]
    w = q["weight_torch"].astype(np.float64)
    return w * q["weight_scale"].reshape((-1,) + (1,) * (w.ndim - 1))


@pytest.mark.parametrize("bias", [True, False])
def test_a_linear_layers_bias_absorbs_its_weights_rounding(bias):
    torch.manual_seed(0)
    model = nn.Linear(24, 10, bias=bias).eval()
    data = 2.0 + torch.randn(256, 24)  # a mean far from 0, so the shift is many bias steps
    cm = compile_model(model, (data[:1],), [data[i:i + 32] for i in range(0, 256, 32)], bias_correction=True,
                       progress=False)
    node = _node(cm, "fc")
    w = model.weight.detach().double().numpy()
    shift = (_dequantized_weight(node) - w) @ data.double().numpy().mean(axis=0)
    want = _expected_bias(node, shift)
    got = node.attrs["quantized"]["bias"]
    assert np.abs(got - want).max() <= 1
    assert np.abs(shift).max() / (node.inputs[0].scale * node.attrs["quantized"]["weight_scale"]).min() > 2


@pytest.mark.parametrize("cin, cout, groups", [(6, 8, 1), (6, 8, 2), (6, 6, 6), (4, 8, 4)],
                         ids=["dense", "two-groups", "depthwise", "depth-multiplier-2"])
def test_a_convs_bias_absorbs_its_weights_rounding_per_group(cin, cout, groups):
    torch.manual_seed(1)
    model = nn.Conv2d(cin, cout, 3, padding=1, groups=groups).eval()
    data = torch.randn(64, cin, 6, 6) + torch.linspace(-2.0, 3.0, cin).reshape(1, cin, 1, 1)
    cm = compile_model(model, (data[:1],), [data[i:i + 16] for i in range(0, 64, 16)], bias_correction=True,
                       progress=False)
    node = _node(cm, "conv")
    error = torch.from_numpy(_dequantized_weight(node) - model.weight.detach().double().numpy())
    means = data.double().mean(dim=(0, 2, 3)).reshape(1, cin, 1, 1).expand(1, cin, 3, 3)
    shift = F.conv2d(means, error, groups=groups).reshape(-1).numpy()  # sum over the taps and the group's channels
    want = _expected_bias(node, shift)
    assert np.abs(node.attrs["quantized"]["bias"] - want).max() <= 1


def test_without_the_option_the_bias_is_the_float_bias_rounded():
    torch.manual_seed(0)
    model = nn.Linear(24, 10).eval()
    data = 2.0 + torch.randn(64, 24)
    cm = compile_model(model, (data[:1],), [data], progress=False)
    node = _node(cm, "fc")
    np.testing.assert_array_equal(node.attrs["quantized"]["bias"], _expected_bias(node, np.zeros(10)))
    assert "input_mean" not in node.attrs


@pytest.mark.parametrize("activations", ["int8", "int16"])
def test_the_compiled_layers_mean_output_is_the_float_layers(activations):
    """Per output channel, the mean over the calibration data of (compiled output - float output): with the
    correction at most the output's rounding, whose mean is within half an output step, plus the bias's half
    step s_in s_w / 2 (far below one output step here); without it the shift (W_q - W) E[x] shows."""
    torch.manual_seed(2)
    model = nn.Linear(64, 16).eval()
    data = 3.0 + torch.randn(512, 64)
    with torch.no_grad():
        ref = model(data).double().numpy()
    mean_error = {}
    for corrected in (False, True):
        cm = compile_model(model, (data[:1],), [data[i:i + 64] for i in range(0, 512, 64)],
                           activations=activations, bias_correction=corrected, progress=False)
        got = Interpreter(cm.data).invoke(data.numpy(), dequantize=True)[0].astype(np.float64)
        np.testing.assert_array_equal(Interpreter(cm.data, backend="c").invoke(data.numpy(), dequantize=True)[0],
                                      got)
        step = cm.output_quantization[0][0]
        mean_error[corrected] = np.abs((got - ref).mean(axis=0)) / step
    assert mean_error[True].max() <= 0.5 + 0.05
    assert mean_error[False].max() > 2 * mean_error[True].max()
