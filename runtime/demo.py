"""The built-in demo: real-valued layers quantized to int8 and run on both runtimes.

For each of conv2d, depthwise conv2d and fully connected it draws a float
layer and input, quantizes them as the compiler will (per-channel symmetric
weights, asymmetric activations, int32 bias, Q31 requantization), runs the
int8 layer through the Numba kernel and its C twin, and reports:
  - whether the two runtimes agree byte for byte;
  - how far the int8 result lies from float64 math on the same (dequantized)
    inputs, in output LSBs.
It grows into the full compress -> compile -> run demo as the compiler lands.
"""

from __future__ import annotations

import time

import numpy as np

from microflat.kernels import conv2d, depthwise_conv2d, fully_connected, quantize, quantize_multipliers


def _quantize_weights_per_channel(w: np.ndarray, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per channel: scale = max|w| / 127, values in [-127, 127]."""
    reduce_axes = tuple(a for a in range(w.ndim) if a != channel_axis)
    max_abs = np.abs(w).max(axis=reduce_axes)
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0)
    shape = [1] * w.ndim
    shape[channel_axis] = -1
    q = np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def _affine_params(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point mapping [lo, hi] (widened to hold 0) onto int8."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zero_point = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zero_point


def _float_conv_nhwc(x, w_ohwi, b, stride, pad, groups):
    """Plain float64 grouped convolution, NHWC x OHWI, symmetric zero padding."""
    n, h, wd, c = x.shape
    oc, kh, kw, cg = w_ohwi.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, oh, ow, oc))
    og = oc // groups
    for g in range(groups):
        xs = xp[..., g * cg:(g + 1) * cg]
        ws = w_ohwi[g * og:(g + 1) * og]
        for ky in range(kh):
            for kx in range(kw):
                patch = xs[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride, :]
                out[..., g * og:(g + 1) * og] += patch @ ws[:, ky, kx, :].T
    return out + b


def _run_layer(name, x_f, w_f, b_f, run, float_fn, channel_axis):
    x_scale, x_zp = _affine_params(float(x_f.min()), float(x_f.max()))
    w_q, w_scales = _quantize_weights_per_channel(w_f, channel_axis)
    x_q = quantize(x_f, x_scale, x_zp)
    bias_q = np.round(b_f / (x_scale * w_scales)).astype(np.int32)
    # Float reference on the values the int8 layer actually sees.
    x_d = x_scale * (x_q.astype(np.float64) - x_zp)
    shape = [1] * w_f.ndim
    shape[channel_axis] = -1
    w_d = w_q.astype(np.float64) * w_scales.reshape(shape)
    b_d = bias_q * x_scale * w_scales
    y_f = np.maximum(float_fn(x_d, w_d, b_d), 0.0)  # fused ReLU
    y_scale, y_zp = _affine_params(0.0, float(y_f.max()))
    mult, shift = quantize_multipliers(x_scale * w_scales / y_scale)
    quant = dict(input_zp=x_zp, output_zp=y_zp, output_mult=mult, output_shift=shift, act_min=y_zp, act_max=127)

    results = {}
    for backend in ("numba", "c"):
        run(x_q, w_q, bias_q, quant, backend)  # warm-up: JIT or first-use build
        t0 = time.perf_counter()
        results[backend] = run(x_q, w_q, bias_q, quant, backend)
        results[backend + "_ms"] = 1e3 * (time.perf_counter() - t0)
    same = np.array_equal(results["numba"], results["c"])
    err_lsb = np.abs(results["numba"].astype(np.float64) - (y_f / y_scale + y_zp))
    return (
        f"{name:<18} {str(x_q.shape):<16} {str(results['numba'].shape):<16} "
        f"{'yes' if same else 'NO':<10} {err_lsb.max():>8.3f} {100 * np.mean(err_lsb <= 1.0):>9.2f}%"
    ), same


def main() -> int:
    rng = np.random.default_rng(0)
    print("microflat demo: float layers quantized to int8, run by the Numba kernels and their C twins\n")
    header = f"{'layer':<18} {'input':<16} {'output':<16} {'C == Numba':<10} {'max |err|':>8} {'<= 1 LSB':>10}"
    print(header)
    print("-" * len(header))
    rows = []

    x = rng.normal(size=(1, 16, 16, 8))
    w = rng.normal(scale=0.2, size=(16, 3, 3, 8))
    b = rng.normal(scale=0.1, size=16)
    rows.append(_run_layer(
        "conv2d 3x3 s1", x, w, b,
        lambda xq, wq, bq, qp, be: conv2d(xq, wq, bq, padding=1, backend=be, **qp),
        lambda xd, wd, bd: _float_conv_nhwc(xd, wd, bd, 1, 1, 1), channel_axis=0,
    ))
    w_dw = rng.normal(scale=0.3, size=(1, 3, 3, 16))
    b_dw = rng.normal(scale=0.1, size=16)
    rows.append(_run_layer(
        "depthwise 3x3 s2", x, w_dw, b_dw,
        lambda xq, wq, bq, qp, be: depthwise_conv2d(xq, wq, bq, stride=2, padding=1, backend=be, **qp),
        # depthwise with multiplier 2 == grouped conv with groups = C_in and OHWI [C*2, 3, 3, 1]
        lambda xd, wd, bd: _float_conv_nhwc(xd, np.transpose(wd, (3, 1, 2, 0)), bd, 2, 1, 8), channel_axis=3,
    ))
    x_fc = rng.normal(size=(4, 256))
    w_fc = rng.normal(scale=0.05, size=(10, 256))
    b_fc = rng.normal(scale=0.1, size=10)
    rows.append(_run_layer(
        "fully_connected", x_fc, w_fc, b_fc,
        lambda xq, wq, bq, qp, be: fully_connected(xq, wq, bq, backend=be, **qp),
        lambda xd, wd, bd: xd @ wd.T + bd, channel_axis=0,
    ))
    for line, _ in rows:
        print(line)
    print(
        "\nerr: |int8 output - float64 result on the dequantized inputs|, in output LSBs. "
        "TFLite's double rounding bounds it\nby 0.5 + 0.5 * 2^-right_shift + |acc| * |M' - M| "
        "(M' the Q31-rounded multiplier), i.e. just over half an LSB."
    )
    return 0 if all(same for _, same in rows) else 1
