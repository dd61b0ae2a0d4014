"""Streaming layers: PyTorch modules that run one frame per call with their state in a buffer, or a whole window
at once, and that microflat compiles to its recurrent operators (docs/COMPILER.md, "Recurrent layers and
streaming state").

SVDF is TFLite's SVDF layer (tf.lite's `SVDF`, the first layer of TensorFlow's speech_commands "low_latency_svdf"
keyword spotter): a fully connected layer over the last `memory` frames, factored per output unit into `rank`
pairs of a feature filter and a time filter (a rank-`rank` approximation of each unit's [memory, in_features]
weight). With F = units * rank filters, filter f = u * rank + r belonging to unit u:

    a_t[f]   = sum_k weight_feature[f, k] * x_t[k]                       (the feature activations)
    state_t  = [f, j] -> a_{t - memory + 1 + j}[f],  j = 0 .. memory - 1  (the last `memory` of them, oldest
                                                                          first; 0 before the first frame)
    y_t[u]   = sum_{r < rank} sum_{j < memory} weight_time[u * rank + r, j] * state_t[u * rank + r, j] + bias[u]

That is TFLite's float SVDF step (reference_ops::EvalFloatSVDF, TFLM's svdf): shift the state by one frame, write
the new frame's feature activations into each filter's newest slot, then the time dot products, the rank sum and
the bias. The state is stored as TFLite stores it: [B, F * memory], filter-major. No activation is fused (the
integer op applies none: docs/RECURRENT.md §4); put a ReLU after the layer.

Two modes, chosen by the user (the constructor's `streaming`, or `set_streaming` on a whole model):
  streaming     forward(x [B, in_features]) -> [B, units]: one frame; the state lives in the non-persistent buffer
                `state` [batch_size, F * memory], updated in place every call (the compiler makes it a variable and
                an ASSIGN_VARIABLE), zeros after construction and after reset_state().
  whole-window  forward(x [B, T, in_features]) -> [B, T, units]: every frame of a window from the zero state; no
                buffer. The float computation is a causal depthwise convolution of the feature activations with
                the time weights (fast, for training); the compiler unrolls it into one SVDF per frame.
The buffer is not persistent, so state_dict() is the same in both modes: train in whole-window mode, then switch
to streaming (or load the weights into a streaming twin) and export that.

torch.export keeps each call as one node: the layer calls the custom ops

    microflat::svdf_step(x, weights_feature, weights_time, bias, state, rank) -> (y, new_state)
    microflat::svdf_window(x, weights_feature, weights_time, bias, rank) -> y

(torch.library.custom_op, with fake implementations for export and a backward that differentiates the float
implementation again, so both modes train). The compiler lowers them (compiler/lower.py); importing this module
registers them.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- the float semantics, in plain differentiable PyTorch (the custom ops' implementations) ----------------------


def svdf_step_float(x: Tensor, weights_feature: Tensor, weights_time: Tensor, bias: Tensor | None, state: Tensor,
                    rank: int) -> tuple[Tensor, Tensor]:
    """One SVDF frame (the module docstring): x [B, I], state [B, F * M] -> (y [B, F / rank], new state)."""
    batches = x.shape[0]
    filters, memory = weights_time.shape
    activations = x @ weights_feature.t()  # [B, F]
    new = torch.cat([state.reshape(batches, filters, memory)[:, :, 1:], activations[:, :, None]], 2)
    y = (new * weights_time).sum(2).reshape(batches, filters // rank, rank).sum(2)
    if bias is not None:
        y = y + bias
    return y, new.reshape(batches, filters * memory)


def svdf_window_float(x: Tensor, weights_feature: Tensor, weights_time: Tensor, bias: Tensor | None,
                      rank: int) -> Tensor:
    """Every frame of x [B, T, I] from the zero state -> [B, T, F / rank]: each filter's time dot product over the
    last M feature activations is a causal depthwise convolution (M - 1 zeros in front) with its time weights."""
    batches, steps, _ = x.shape
    filters, memory = weights_time.shape
    activations = (x @ weights_feature.t()).transpose(1, 2)  # [B, F, T]
    per_filter = F.conv1d(F.pad(activations, (memory - 1, 0)), weights_time[:, None, :], groups=filters)
    y = per_filter.reshape(batches, filters // rank, rank, steps).sum(2).transpose(1, 2)  # [B, T, units]
    if bias is not None:
        y = y + bias
    return y.contiguous()


# --- the custom ops --------------------------------------------------------------------------------------------


@torch.library.custom_op("microflat::svdf_step", mutates_args=())
def svdf_step(x: Tensor, weights_feature: Tensor, weights_time: Tensor, bias: Optional[Tensor], state: Tensor,
              rank: int) -> tuple[Tensor, Tensor]:
    return svdf_step_float(x, weights_feature, weights_time, bias, state, rank)  # fresh tensors, no aliases


@svdf_step.register_fake
def _svdf_step_fake(x, weights_feature, weights_time, bias, state, rank):
    return x.new_empty(x.shape[0], weights_time.shape[0] // rank), state.new_empty(state.shape)


@torch.library.custom_op("microflat::svdf_window", mutates_args=())
def svdf_window(x: Tensor, weights_feature: Tensor, weights_time: Tensor, bias: Optional[Tensor],
                rank: int) -> Tensor:
    return svdf_window_float(x, weights_feature, weights_time, bias, rank)


@svdf_window.register_fake
def _svdf_window_fake(x, weights_feature, weights_time, bias, rank):
    return x.new_empty(x.shape[0], x.shape[1], weights_time.shape[0] // rank)


def _register_autograd(op, float_fn, n_tensors: int) -> None:
    """op's backward: float_fn differentiated again from the saved inputs (as activation checkpointing does). The
    first n_tensors arguments are tensors (None for a missing bias), the rest ints."""
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:n_tensors])
        ctx.rest = inputs[n_tensors:]

    def backward(ctx, *grads):
        leaves = [None if t is None else t.detach().requires_grad_(True) for t in ctx.saved_tensors]
        with torch.enable_grad():
            outputs = float_fn(*leaves, *ctx.rest)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None]
        wanted = [t for t, need in zip(leaves, ctx.needs_input_grad) if t is not None and need]
        found = iter(torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True))
        result = [next(found) if t is not None and need else None for t, need in zip(leaves, ctx.needs_input_grad)]
        return (*result, *([None] * len(ctx.rest)))

    op.register_autograd(backward, setup_context=setup_context)


_register_autograd(svdf_step, svdf_step_float, 5)
_register_autograd(svdf_window, svdf_window_float, 4)


# --- the layer ---------------------------------------------------------------------------------------------------


class SVDF(nn.Module):
    """TFLite's SVDF layer (module docstring): weight_feature [units * rank, in_features], weight_time
    [units * rank, memory], bias [units] (or None).

    streaming=True: one frame [batch_size, in_features] per forward, the state kept in the buffer `state`;
    streaming=False (default): a whole window [B, T, in_features] -> [B, T, units] from the zero state.
    Initialization as nn.Linear's over each factor's fan-in: U(-1/sqrt(in_features), ...) for the feature
    weights, U(-1/sqrt(rank * memory), ...) for the time weights and the bias.
    """

    def __init__(self, in_features: int, units: int, rank: int = 1, memory: int = 8, bias: bool = True, *,
                 streaming: bool = False, batch_size: int = 1):
        super().__init__()
        for name, value in (("in_features", in_features), ("units", units), ("rank", rank), ("memory", memory)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SVDF: {name} must be an integer >= 1, got {value!r}")
        self.in_features, self.units, self.rank, self.memory = in_features, units, rank, memory
        filters = units * rank
        self.weight_feature = nn.Parameter(torch.empty(filters, in_features))
        self.weight_time = nn.Parameter(torch.empty(filters, memory))
        self.bias = nn.Parameter(torch.empty(units)) if bias else None
        self.reset_parameters()
        self.streaming = False
        self.set_streaming(streaming, batch_size)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight_feature, -bound, bound)
        bound = 1.0 / math.sqrt(self.rank * self.memory)
        nn.init.uniform_(self.weight_time, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def set_streaming(self, streaming: bool, batch_size: int = 1) -> SVDF:
        """Switch modes: streaming adds the zero state buffer [batch_size, units * rank * memory] (not in
        state_dict); whole-window removes it."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"SVDF: batch_size must be an integer >= 1, got {batch_size!r}")
        self.streaming = bool(streaming)
        if "state" in self._buffers:
            del self._buffers["state"]
        if self.streaming:
            size = self.units * self.rank * self.memory
            self.register_buffer("state", torch.zeros(batch_size, size, device=self.weight_time.device,
                                                      dtype=self.weight_time.dtype), persistent=False)
        return self

    def reset_state(self) -> None:
        """Back to the zero state: the next frame starts a new stream (the runtime's reset_state)."""
        if self.streaming:
            self.state.zero_()

    def forward(self, x: Tensor) -> Tensor:
        if self.streaming:
            if x.dim() != 2 or tuple(x.shape) != (self.state.shape[0], self.in_features):
                raise ValueError(f"SVDF (streaming): one frame [{self.state.shape[0]}, {self.in_features}] per call "
                                 f"(batch_size, in_features), got {tuple(x.shape)}")
            y, new_state = torch.ops.microflat.svdf_step(x, self.weight_feature, self.weight_time, self.bias,
                                                         self.state, self.rank)
            self.state.copy_(new_state.detach())
            return y
        if x.dim() != 3 or x.shape[2] != self.in_features:
            raise ValueError(f"SVDF (whole window): a window [B, T, {self.in_features}] per call, got "
                             f"{tuple(x.shape)}")
        return torch.ops.microflat.svdf_window(x, self.weight_feature, self.weight_time, self.bias, self.rank)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, units={self.units}, rank={self.rank}, memory={self.memory}, "
                f"bias={self.bias is not None}, streaming={self.streaming}")


def set_streaming(model: nn.Module, streaming: bool = True, batch_size: int = 1) -> nn.Module:
    """Every SVDF in `model` switched to streaming (or whole-window) mode; returns the model."""
    for m in model.modules():
        if isinstance(m, SVDF):
            m.set_streaming(streaming, batch_size)
    return model


def reset_states(model: nn.Module) -> None:
    """Every streaming SVDF in `model` back to the zero state."""
    for m in model.modules():
        if isinstance(m, SVDF):
            m.reset_state()


class SvdfKeywordSpotter(nn.Module):
    """A small streaming keyword spotter after TensorFlow's speech_commands "low_latency_svdf": SVDF over
    spectrogram-like frames, ReLU, a second SVDF, ReLU, then a Linear to the logits, per frame.

    Whole-window mode: [B, T, features] -> [B, T, classes] (the logits at every frame; a clip's are the last
    frame's, or any pooling of them); streaming mode: one frame [1, features] -> [1, classes].
    """

    def __init__(self, features: int = 40, classes: int = 12, units: tuple[int, int] = (32, 24),
                 ranks: tuple[int, int] = (2, 1), memories: tuple[int, int] = (10, 8), *, streaming: bool = False):
        super().__init__()
        self.svdf1 = SVDF(features, units[0], ranks[0], memories[0], streaming=streaming)
        self.svdf2 = SVDF(units[0], units[1], ranks[1], memories[1], streaming=streaming)
        self.logits = nn.Linear(units[1], classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(torch.relu(self.svdf2(torch.relu(self.svdf1(x)))))
