"""Small int8 models built with the writer API, and the kernel-by-kernel reference run of each."""

from __future__ import annotations

import numpy as np

from microflat import kernels as K
from microflat.compiler.writer import ModelWriter


def _rng(seed):
    return np.random.default_rng(seed)


def _compressible(r, w):
    """Half the weights zero, the rest on a palette of 5 values: a pruned, clustered layer."""
    palette = np.array([-90, -31, 12, 57, 127], np.int8)
    return np.where(r.random(w.shape) < 0.5, 0, palette[r.integers(0, 5, w.shape)]).astype(np.int8)


def conv_pool_fc_softmax(seed=0, width=8, writer=False, encoded=False):
    """quantize -> conv3x3 (ReLU) -> depthwise -> add (residual) -> avg pool -> reshape -> FC -> softmax -> dequantize.

    Returns (file bytes, reference function float32 input -> float32 output),
    or the unserialized ModelWriter when writer=True. encoded=True: pruned and
    palettized weights, stored as a sparse per-channel palette (conv), packed
    int4 (depthwise) and a 3-bit palette (FC); the reference runs them dense.
    """
    r = _rng(seed)
    w = ModelWriter()
    layouts = {"conv.w": (0, dict(palette="channel", position_bits=3)), "dw.w": (3, dict(value_bits=4)),
               "fc.w": (0, dict(palette="tensor"))}

    def add(name, data, **quant):
        if not encoded:
            return w.add_constant(name, data, **quant)
        axis, how = layouts[name]
        return w.add_encoded(name, K.encode(data, axis, **how), **quant)
    s_in, z_in = 0.02, -3
    x_f = w.add_tensor("x_float", "float32", (1, 8, 8, 3))
    x = w.add_tensor("x", "int8", (1, 8, 8, 3), scale=s_in, zero_point=z_in)
    w.add_operator("QUANTIZE", [x_f], [x])
    conv_w = r.integers(-127, 128, (width, 3, 3, 3), dtype=np.int8)
    conv_w = _compressible(r, conv_w) if encoded else conv_w
    conv_b = r.integers(-2000, 2000, width, dtype=np.int32)
    cm, cs = K.quantize_multipliers(r.uniform(0.002, 0.01, width))
    fw = add("conv.w", conv_w, scale=np.full(width, 0.01), zero_point=0, axis=0)
    fb = w.add_constant("conv.b", conv_b)
    c1 = w.add_tensor("conv", "int8", (1, 8, 8, width), scale=0.05, zero_point=-128)
    conv_opts = dict(pad_top=1, pad_left=1, act_min=-128, act_max=127, output_mult=cm, output_shift=cs)
    w.add_operator("CONV_2D", [x, fw, fb], [c1], "Conv2DOptions", conv_opts)
    dw_w = r.integers(-8 if encoded else -127, 8 if encoded else 128, (1, 3, 3, width), dtype=np.int8)
    dm, ds = K.quantize_multipliers(r.uniform(0.005, 0.02, width))
    dwt = add("dw.w", dw_w)
    c2 = w.add_tensor("dw", "int8", (1, 8, 8, width), scale=0.05, zero_point=-10)
    dw_opts = dict(pad_top=1, pad_left=1, output_mult=dm, output_shift=ds)
    w.add_operator("DEPTHWISE_CONV_2D", [c1, dwt, -1], [c2], "DepthwiseConv2DOptions", dw_opts)
    add_p = K.add_params(0.05, 0.05, 0.08)
    c3 = w.add_tensor("res", "int8", (1, 8, 8, width), scale=0.08, zero_point=0)
    w.add_operator("ADD", [c1, c2], [c3], "AddOptions", dict(add_p))
    p = w.add_tensor("pool", "int8", (1, 4, 4, width), scale=0.08, zero_point=0)
    pool_opts = dict(filter_h=2, filter_w=2, stride_h=2, stride_w=2)
    w.add_operator("AVERAGE_POOL_2D", [c3], [p], "Pool2DOptions", pool_opts)
    flat = w.add_tensor("flat", "int8", (1, 16 * width), scale=0.08, zero_point=0)
    w.add_operator("RESHAPE", [p], [flat])
    fc_w = r.integers(-127, 128, (10, 16 * width), dtype=np.int8)
    fc_w = _compressible(r, fc_w) if encoded else fc_w
    fm, fs = K.quantize_multipliers([0.0005])
    fcw = add("fc.w", fc_w)
    logits = w.add_tensor("logits", "int8", (1, 10), scale=0.1, zero_point=0)
    w.add_operator("FULLY_CONNECTED", [flat, fcw, -1], [logits], "FullyConnectedOptions",
                   dict(output_mult=fm, output_shift=fs))
    sm, sl, sd = K.preprocess_softmax_scaling(1.0, 0.1)
    probs = w.add_tensor("probs", "int8", (1, 10), scale=1 / 256, zero_point=-128)
    w.add_operator("SOFTMAX", [logits], [probs], "SoftmaxOptions", dict(input_beta_mult=sm, input_left_shift=sl, diff_min=sd))
    out = w.add_tensor("probs_float", "float32", (1, 10))
    w.add_operator("DEQUANTIZE", [probs], [out])
    w.set_io([x_f], [out])
    if writer:
        return w

    def reference(xf, backend="numba"):
        """The same network, one public kernel call at a time."""
        q = K.quantize_int8(xf.astype(np.float32), scale=s_in, zero_point=z_in, backend=backend)
        a = K.conv2d(q, conv_w, conv_b, input_zp=z_in, output_zp=-128, output_mult=cm, output_shift=cs,
                     padding=1, backend=backend)
        b = K.depthwise_conv2d(a, dw_w, None, input_zp=-128, output_zp=-10, output_mult=dm, output_shift=ds,
                               padding=1, backend=backend)
        c = K.add(a, b, input1_zp=-128, input2_zp=-10, output_zp=0, backend=backend, **add_p)
        d = K.average_pool2d(c, 2, stride=2, backend=backend)
        e = K.fully_connected(d.reshape(d.shape[0], -1), fc_w, None, input_zp=0, output_zp=0, output_mult=fm,
                              output_shift=fs, backend=backend)
        f = K.softmax(e, input_beta_mult=sm, input_left_shift=sl, diff_min=sd, backend=backend)
        return K.dequantize_int8(f, scale=1 / 256, zero_point=-128, backend=backend)

    return w.to_bytes(), reference


def fc_model(in_features=196, hidden=96, classes=10, seed=1, per_channel=False):
    """An int8 MLP of ~20k parameters: [1, IN] -> FC -> FC -> softmax. Returns (bytes, payload bytes).

    Weights are per tensor by default, as TFLite's converter quantizes fully
    connected layers; per_channel=True gives one multiplier per output.
    """
    r = _rng(seed)
    w = ModelWriter()
    x = w.add_tensor("x", "int8", (1, in_features), scale=1 / 255, zero_point=-128)
    payload = 0
    prev, prev_n = x, in_features
    for i, n in enumerate((hidden, classes)):
        wt = r.integers(-127, 128, (n, prev_n), dtype=np.int8)
        b = r.integers(-5000, 5000, n, dtype=np.int32)
        m, s = K.quantize_multipliers(r.uniform(1e-4, 1e-3, n if per_channel else 1))
        payload += wt.nbytes + b.nbytes
        y = w.add_tensor(f"h{i}", "int8", (1, n), scale=0.1, zero_point=-128 if i == 0 else 0)
        # Weight scales are left out: the requantization multipliers already carry them.
        w.add_operator("FULLY_CONNECTED", [prev, w.add_constant(f"fc{i}.w", wt),
                                           w.add_constant(f"fc{i}.b", b)], [y], "FullyConnectedOptions",
                       dict(output_mult=m, output_shift=s))
        prev, prev_n = y, n
    sm, sl, sd = K.preprocess_softmax_scaling(1.0, 0.1)
    probs = w.add_tensor("probs", "int8", (1, classes), scale=1 / 256, zero_point=-128)
    w.add_operator("SOFTMAX", [prev], [probs], "SoftmaxOptions", dict(input_beta_mult=sm, input_left_shift=sl, diff_min=sd))
    w.set_io([x], [probs])
    return w.to_bytes(), payload


def rewritten(mutate, **builder_kwargs) -> bytes:
    """conv_pool_fc_softmax(**builder_kwargs)'s tables with ``mutate(model dict, buffers)`` applied, serialized
    with the writer's plan but not re-planned or verified: a damaged file for the verifier's tests."""
    return damaged(conv_pool_fc_softmax(writer=True, **builder_kwargs), mutate)


def digits_cnn():
    """A 3,106-parameter CNN on an 8x8 digit, seeded: two 3x3 convs (8 and 16 channels) with batch norm and
    pooling, then 64 -> 24 -> 10 (tests/test_file_size.py's small model, benchmarks/file_bytes.py's)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10)).eval()


# --- streaming models: state kept in variables (docs/FORMAT.md, "Variables") ------------------------------------
# Written with the writer API, as a compiled streaming model is: tests/test_variables.py, test_lstm_model.py and
# test_svdf_model.py test them; the fuzzed loaders and the firmware run them too (STREAM_MODELS).

RING_T, RING_C, RING_OUT = 4, 3, 5
RING_ZP = -3
RING_MULT, RING_SHIFT = K.quantize_multiplier(0.01)


def _weights(seed):
    rng = np.random.default_rng(seed)
    return rng.integers(-127, 128, (RING_OUT, RING_T * RING_C)).astype(np.int8), rng.integers(-500, 500, RING_OUT).astype(np.int32)


def ring_buffer_model(seed=0, writer=False):
    w, b = _weights(seed)
    m = ModelWriter()
    q = dict(scale=0.05, zero_point=RING_ZP)
    x = m.add_tensor("frame", "int8", (1, 1, RING_C), **q)
    state = m.add_tensor("ring", "int8", (1, RING_T, RING_C), **q)
    m.tensors[state]["variable"] = True
    kept = m.add_tensor("kept", "int8", (1, RING_T - 1, RING_C), **q)
    window = m.add_tensor("window", "int8", (1, RING_T, RING_C), **q)
    flat = m.add_tensor("flat", "int8", (1, RING_T * RING_C), **q)
    y = m.add_tensor("y", "int8", (1, RING_OUT), scale=0.1, zero_point=4)
    fw = m.add_constant("fc.w", w, scale=np.full(RING_OUT, 0.02, np.float32), zero_point=0, axis=0)
    fb = m.add_constant("fc.b", b)
    m.add_operator("STRIDED_SLICE", [state], [kept], "StridedSliceOptions",
                   dict(begin=np.array([0, 1, 0], np.int32), strides=np.array([1, 1, 1], np.int32)))
    m.add_operator("CONCATENATION", [kept, x], [window], "ConcatenationOptions",
                   dict(axis=1, requant=np.zeros(2, np.uint8), input_mult=np.zeros(2, np.int32),
                        input_shift=np.zeros(2, np.int8)))
    m.add_operator("ASSIGN_VARIABLE", [window], [state])
    m.add_operator("RESHAPE", [window], [flat])
    m.add_operator("FULLY_CONNECTED", [flat, fw, fb], [y], "FullyConnectedOptions",
                   dict(output_mult=np.array([RING_MULT], np.int32), output_shift=np.array([RING_SHIFT], np.int8)))
    m.set_io([x], [y])
    return m if writer else m.to_bytes()


def window_outputs(frames, seed=0):
    """The fully connected layer on each whole window of the last T frames (zero-point padded in front)."""
    w, b = _weights(seed)
    padded = np.concatenate([np.full((RING_T - 1, RING_C), RING_ZP, np.int8), frames.reshape(-1, RING_C)])
    windows = np.stack([padded[i:i + RING_T].reshape(-1) for i in range(len(frames))])
    return K.fully_connected(windows, w, b, input_zp=RING_ZP, output_zp=4, output_mult=RING_MULT, output_shift=RING_SHIFT)


LSTM_S_X, LSTM_Z_X, LSTM_S_H, LSTM_Z_H = 0.03, -5, 1 / 128, 3


def lstm_params(seed, inputs, cells, cell_exponent=-11):
    rng = np.random.default_rng(seed)
    wx = rng.integers(-127, 128, (4, cells, inputs)).astype(np.int8)
    wh = rng.integers(-127, 128, (4, cells, cells)).astype(np.int8)
    bias = rng.integers(-3000, 3000, (4, cells)).astype(np.int32)
    return K.lstm_8x8_16_params(wx, wh, bias, input_scale=LSTM_S_X, input_zp=LSTM_Z_X,
                              input_weight_scales=[0.004, 0.005, 0.006, 0.007],
                              recurrent_weight_scales=[0.008, 0.009, 0.01, 0.011], state_scale=LSTM_S_H, state_zp=LSTM_Z_H,
                              cell_scale=2.0**cell_exponent)


def lstm_model(p, steps, inputs, writer=False):
    cells = p.input_weights.shape[1]
    w = ModelWriter()
    qh = dict(scale=LSTM_S_H, zero_point=LSTM_Z_H)
    x = w.add_tensor("x", "int8", (1, steps, inputs), scale=LSTM_S_X, zero_point=LSTM_Z_X)
    h = w.add_tensor("h", "int8", (1, cells), **qh)
    c = w.add_tensor("c", "int16", (1, cells), scale=2.0**p.cell_exponent, zero_point=0)
    for v in (h, c):
        w.tensors[v]["variable"] = True
    y = w.add_tensor("y", "int8", (1, steps, cells), **qh)
    h_new = w.add_tensor("h_new", "int8", (1, cells), **qh)
    c_new = w.add_tensor("c_new", "int16", (1, cells), scale=2.0**p.cell_exponent, zero_point=0)
    consts = [w.add_constant(name, v) for name, v in (("wx", p.input_weights), ("wh", p.recurrent_weights),
                                                      ("bx", p.input_bias), ("bh", p.recurrent_bias))]
    w.add_operator("UNIDIRECTIONAL_SEQUENCE_LSTM", [x, *consts, h, c], [y, h_new, c_new], "LstmOptions",
                   dict(gate_mult=p.gate_mult, gate_shift=p.gate_shift, hidden_mult=p.hidden_mult,
                        hidden_shift=p.hidden_shift, cell_exponent=p.cell_exponent, cell_clip=p.cell_clip))
    w.add_operator("ASSIGN_VARIABLE", [h_new], [h])
    w.add_operator("ASSIGN_VARIABLE", [c_new], [c])
    w.set_io([x], [y])
    return w if writer else w.to_bytes()


SVDF_S_X, SVDF_Z_X, SVDF_S_STATE, SVDF_S_Y, SVDF_Z_Y = 0.02, 7, 2.0**-10, 0.05, -3


def svdf_layer(seed, batches, inputs, units, rank, memory, with_bias=True):
    rng = np.random.default_rng(seed)
    filters = units * rank
    wf = rng.integers(-127, 128, (filters, inputs)).astype(np.int8)
    wt = rng.integers(-32767, 32768, (filters, memory)).astype(np.int16)
    bias = rng.integers(-5000, 5000, units).astype(np.int32) if with_bias else None
    q = K.svdf_params(SVDF_S_X, 0.01, SVDF_S_STATE, 2.0**-14, SVDF_S_Y)
    return wf, wt, bias, q


def svdf_model(seed=0, batches=1, inputs=6, units=3, rank=2, memory=4, with_bias=True, writer=False):
    wf, wt, bias, q = svdf_layer(seed, batches, inputs, units, rank, memory, with_bias)
    w = ModelWriter()
    x = w.add_tensor("x", "int8", (batches, inputs), scale=SVDF_S_X, zero_point=SVDF_Z_X)
    state = w.add_tensor("state", "int16", (batches, memory * units * rank), scale=SVDF_S_STATE, zero_point=0)
    w.tensors[state]["variable"] = True
    new_state = w.add_tensor("state_new", "int16", (batches, memory * units * rank), scale=SVDF_S_STATE, zero_point=0)
    y = w.add_tensor("y", "int8", (batches, units), scale=SVDF_S_Y, zero_point=SVDF_Z_Y)
    ins = [x, w.add_constant("wf", wf), w.add_constant("wt", wt), -1 if bias is None else w.add_constant("b", bias),
           state]
    w.add_operator("SVDF", ins, [y, new_state], "SvdfOptions", dict(q, rank=rank))
    w.add_operator("ASSIGN_VARIABLE", [new_state], [state])
    w.set_io([x], [y])
    return w if writer else w.to_bytes()




def stream_models() -> dict:
    """{name: .mfb bytes} of the streaming models, at their default sizes."""
    return {"streams/ring": ring_buffer_model(), "streams/lstm": lstm_model(lstm_params(0, 3, 4), 2, 3),
            "streams/svdf": svdf_model()}


def damaged(w: ModelWriter, mutate) -> bytes:
    """The file of writer w, planned as it would be, after mutate(model dict, buffers) changed it: a file that
    only a loader's checks (not the writer's) can refuse."""
    from microflat.compiler.serialize import serialize
    from microflat.runtime import load_bytes

    planned = load_bytes(w.to_bytes())
    plan = {"arena_bytes": planned.arena_bytes, "tensor_offsets": planned.tensor_offsets,
            "scratch_offsets": planned.scratch_offsets}
    model = w._model(plan, bytes(32))
    mutate(model, w.buffers)
    return serialize(model, w.buffers)
