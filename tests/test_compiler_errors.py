"""The compiler's errors: one CompileError (a MicroflatError) naming what is wrong and where."""

import inspect
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from microflat.compiler import compile, compile_model
from microflat.runtime import CompileError, MicroflatError


class UsesCumsum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1) * 1.0  # aten.cumsum: not supported


class DynamicWidth(nn.Module):
    def forward(self, x):
        return torch.relu(nn.functional.max_pool2d(x, 1))


def _line_of(fn, text):
    src, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(src) if text in line)


def test_unsupported_op_names_the_op_the_node_and_the_source_line():
    with pytest.raises(CompileError) as e:
        compile(UsesCumsum(), (torch.randn(1, 4, 3, 3),), progress=False)
    msg = str(e.value)
    assert "unsupported op aten.cumsum.default" in msg
    assert "graph node 'cumsum" in msg
    assert f"{os.path.basename(__file__)}:{_line_of(UsesCumsum.forward, 'torch.cumsum(x')}" in msg
    assert "torch.cumsum(x, dim=1) * 1.0" in msg
    assert isinstance(e.value, MicroflatError)


class ThreeUnsupported(nn.Module):
    def forward(self, x):
        a = torch.cumsum(x, dim=1)
        b = torch.abs(x)
        return torch.sort(a + b, dim=1)[0]


def test_every_unsupported_op_is_named_at_once_with_a_rewrite_where_one_exists():
    with pytest.raises(CompileError) as e:
        compile(ThreeUnsupported(), (torch.randn(1, 4),), progress=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("3 unsupported ops: ")
    parts = msg[len("3 unsupported ops: "):].split("; ")
    assert [p.split(" at ")[0] for p in parts] == [
        "unsupported op aten.cumsum.default", "unsupported op aten.abs.default", "unsupported op aten.sort.default"]
    assert parts[1].endswith(" (instead: torch.relu(x) + torch.relu(-x))")
    assert f"{os.path.basename(__file__)}:{_line_of(ThreeUnsupported.forward, 'torch.abs(x)')}" in parts[1]


def test_dynamic_dimension_other_than_batch_is_refused():
    x = torch.randn(2, 3, 8, 8)
    ep = torch.export.export(DynamicWidth(), (x,), dynamic_shapes=({3: torch.export.Dim("w", min=2, max=64)},))
    with pytest.raises(CompileError, match=r"dynamic dimension 3 .*only the batch dimension"):
        compile(ep, calibration_data=[x], progress=False)


def test_dynamic_batch_is_specialized_to_one():
    x = torch.randn(4, 3, 8, 8)
    ep = torch.export.export(DynamicWidth(), (x,), dynamic_shapes=({0: torch.export.Dim("b", min=2, max=64)},))
    cm = compile_model(ep, calibration_data=[x], progress=False)
    assert cm.graph.inputs[0].shape == (1, 8, 8, 3)


def _constant_linear(k):
    """A Linear(k, 2) whose quantized weights are all 127 and biases 0: its bound is 255 * 127 * k exactly."""
    layer = nn.Linear(k, 2)
    with torch.no_grad():
        layer.weight.fill_(0.01)
        layer.bias.zero_()
    return layer


def test_accumulator_overflow_is_refused_with_the_layer_and_the_numbers():
    k = 66_312  # the least K with 255 * 127 * K > 2^31 - 1
    assert 255 * 127 * k > 2**31 - 1 >= 255 * 127 * (k - 1)
    with pytest.raises(CompileError, match=rf"accumulator of output channel 0 of linear could reach {255 * 127 * k} "
                                           r"\(255 \* sum\|w\| \+ \|bias\| > 2\^31 - 1.*graph node 'linear'"):
        compile(_constant_linear(k), (torch.randn(1, k),), progress=False)
    compile(_constant_linear(k - 1), (torch.randn(1, k - 1),), progress=False)  # one less fits


def test_bad_calibration_shape_names_the_batch_and_the_expected_shape():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(CompileError, match=r"calibration batch 1, input 0: shape \(2, 3, 9, 9\) does not fit \[N, 3, 8, 8\] \(NCHW"):
        compile(model, (torch.randn(1, 3, 8, 8),), [torch.randn(2, 3, 8, 8), torch.randn(2, 3, 9, 9)], progress=False)


def test_non_finite_calibration_data():
    with pytest.raises(CompileError, match="NaN or infinite"):
        compile(nn.Linear(3, 2), (torch.randn(1, 3),), [torch.tensor([[0.0, float("nan"), 1.0]])], progress=False)


def test_missing_and_damaged_pt2(tmp_path):
    with pytest.raises(CompileError, match="no such file"):
        compile(str(tmp_path / "absent.pt2"), calibration_data=[torch.zeros(1, 3)], progress=False)
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(CompileError, match="not a saved ExportedProgram"):
        compile(str(bad), calibration_data=[torch.zeros(1, 3)], progress=False)


def test_bad_arguments():
    with pytest.raises(CompileError, match=r"PReLU with 4 parameters .* \(num_parameters=1\) as a table at graph node 'prelu'"):
        compile(nn.PReLU(4), (torch.randn(1, 4, 3, 3),), progress=False)
    with pytest.raises(CompileError, match="observer must be one of"):
        compile(nn.Linear(3, 2), (torch.randn(1, 3),), observer="histogram", progress=False)
    with pytest.raises(CompileError, match="count_include_pad=False"):
        compile(nn.AvgPool2d(3, 1, 1), (torch.randn(1, 2, 5, 5),), progress=False)


def test_output_is_written_atomically_and_only_on_success(tmp_path):
    out = tmp_path / "m.mfb"
    with pytest.raises(CompileError):
        compile(UsesCumsum(), (torch.randn(1, 4, 3, 3),), output=out, progress=False)
    assert not out.exists()
    data = compile(nn.Linear(3, 2), (torch.randn(4, 3),), output=out, progress=False)
    assert out.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["m.mfb"]
