"""microflat's integer kernels: Numba-jitted, each with a bit-exact C twin.

Public API (each function validates its arguments and raises ValueError
naming the one that is wrong):

    conv2d, depthwise_conv2d, fully_connected      int8 layers, backend="numba" | "c"
    quantize_multiplier, quantize_multipliers      real multiplier -> (Q31 mult, shift)
    quantize, dequantize                           float <-> int8 at a scale and zero point
    *_s8_scratch_bytes                             scratch each kernel needs

The jitted kernels themselves (conv2d_s8, ...) trust their caller; they are
what the interpreter calls on arena buffers.
"""

from .conv2d import conv2d, conv2d_s8, conv2d_s8_scratch_bytes
from .depthwise_conv2d import depthwise_conv2d, depthwise_conv2d_s8, depthwise_conv2d_s8_scratch_bytes
from .fully_connected import fully_connected, fully_connected_s8, fully_connected_s8_scratch_bytes
from .numerics import (
    ROUNDING_MODE,
    dequantize,
    multiply_by_quantized_multiplier,
    quantize,
    quantize_multiplier,
    quantize_multipliers,
    requantize,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

__all__ = [
    "ROUNDING_MODE",
    "conv2d",
    "conv2d_s8",
    "conv2d_s8_scratch_bytes",
    "depthwise_conv2d",
    "depthwise_conv2d_s8",
    "depthwise_conv2d_s8_scratch_bytes",
    "dequantize",
    "fully_connected",
    "fully_connected_s8",
    "fully_connected_s8_scratch_bytes",
    "multiply_by_quantized_multiplier",
    "quantize",
    "quantize_multiplier",
    "quantize_multipliers",
    "requantize",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]
