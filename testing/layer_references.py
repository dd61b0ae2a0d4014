"""int64 references of the convolution-like layers, on the cases of layer_cases.py. Never imports microflat's kernels, compiler or runtime."""

import numpy as np

from . import int_reference as ref


def _requantized(acc, case, channels):
    """The int8 output of int64 accumulators; a 16x8 case's (int16 input) int16 output by the int64 rescaling."""
    kw = case.kwargs
    if case.bias is not None:
        acc = acc + case.bias.astype(np.int64)
    mult = ref.per_channel(kw["output_mult"], channels)
    shift = ref.per_channel(kw["output_shift"], channels)
    if case.x.dtype == np.int16:
        return ref.requantize_int64(acc, mult, shift, kw["act_min"], kw["act_max"]).astype(np.int16)
    out = ref.requantize(acc, mult, shift, kw["output_zp"], kw["act_min"], kw["act_max"])
    return out.astype(np.int8)


def _centered(x, zp):
    return x.astype(np.int64) - zp


def conv2d_reference(case):
    gh, gw = case.geometry["h"], case.geometry["w"]
    acc = ref.conv2d_accumulators(
        _centered(case.x, case.kwargs["input_zp"]), case.w.astype(np.int64),
        (gh["stride"], gw["stride"]), (gh["dilation"], gw["dilation"]),
        gh["before"], gw["before"], gh["out"], gw["out"], case.kwargs["groups"],
    )
    return _requantized(acc, case, case.w.shape[0])


def depthwise_reference(case):
    gh, gw = case.geometry["h"], case.geometry["w"]
    acc = ref.depthwise_accumulators(
        _centered(case.x, case.kwargs["input_zp"]), case.w.astype(np.int64), case.geometry["multiplier"],
        (gh["stride"], gw["stride"]), (gh["dilation"], gw["dilation"]),
        gh["before"], gw["before"], gh["out"], gw["out"],
    )
    return _requantized(acc, case, case.w.shape[3])


def fully_connected_reference(case):
    acc = _centered(case.x, case.kwargs["input_zp"]) @ case.w.astype(np.int64).T
    return _requantized(acc, case, case.w.shape[0])
