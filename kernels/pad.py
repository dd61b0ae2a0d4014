"""int8 constant padding of a 4-D NHWC tensor with the zero point (a real 0).

Every output element is either copied from the input (same quantization) or
set to ``pad_value`` (the zero point). C twin: pad.c.
"""

from __future__ import annotations

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel

_v32 = types.int32[::1]


@kernel(types.void(_v32, _v32, _v32, types.int32, types.int8[::1], types.int8[::1]))
def pad_s8(input_shape, pad_before, output_shape, pad_value, input, output):
    """The jitted kernel; trusts its caller. Shapes and paddings hold four values."""
    i = 0
    for n in range(output_shape[0]):
        xn = n - pad_before[0]
        for h in range(output_shape[1]):
            xh = h - pad_before[1]
            for w in range(output_shape[2]):
                xw = w - pad_before[2]
                inside = (0 <= xn < input_shape[0]) and (0 <= xh < input_shape[1]) and (0 <= xw < input_shape[2])
                base = ((xn * input_shape[1] + xh) * input_shape[2] + xw) * input_shape[3]
                for c in range(output_shape[3]):
                    xc = c - pad_before[3]
                    if inside and 0 <= xc < input_shape[3]:
                        output[i] = input[base + xc]
                    else:
                        output[i] = np.int8(pad_value)
                    i += 1


def pad(input: np.ndarray, paddings, *, pad_value: int, backend: str = "numba") -> np.ndarray:
    """Pad a 4-D int8 tensor; paddings is four (before, after) pairs; pad_value is the zero point."""
    fn = "pad"
    check_backend(fn, backend)
    x = _checks.array(fn, "input", input, np.int8, 4)
    if min(x.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} must have no empty dimension")
    if not isinstance(paddings, (list, tuple)) or len(paddings) != 4:
        raise ValueError(f"{fn}: paddings must be four (before, after) pairs, got {paddings!r}")
    before = np.zeros(4, np.int32)
    out_shape = np.zeros(4, np.int32)
    for d in range(4):
        b, a = _checks.pair(fn, f"paddings[{d}]", paddings[d], 0, 2**16)
        before[d] = b
        out_shape[d] = x.shape[d] + b + a
    v = _checks.integer(fn, "pad_value", pad_value, -128, 127)
    out = np.empty(tuple(int(s) for s in out_shape), dtype=np.int8)
    run_kernel(backend, pad_s8, input_shape=np.array(x.shape, np.int32), pad_before=before, output_shape=out_shape,
               pad_value=v, input=x.reshape(-1), output=out.reshape(-1))
    return out
