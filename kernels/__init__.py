"""microflat's integer kernels: Numba-jitted, each with a bit-exact C twin.

Public API (each function validates its arguments and raises ValueError
naming the one that is wrong):

    conv2d, depthwise_conv2d, fully_connected      int8 layers, backend="numba" | "c"; the filter is an
                                                   int8 array or an Encoding, run in place
    transpose_conv2d                               int8 transposed convolution (ConvTranspose2d, groups 1)
    encode, decode, Encoding                       compressed weights (palette, sparse, packed int4)
    add, sub, mul, maximum, minimum,
    squared_difference                             int8 elementwise, NHWC broadcasting (add, sub, mul: int16 too)
    average_pool2d, max_pool2d, mean_hw            int8 pooling (average_pool2d, max_pool2d: int16 too)
    softmax                                        int8 softmax (output scale 1/256, zp -128)
    logistic_int16, tanh_int16, softmax_int16      TFLite's int16 LOGISTIC, TANH, SOFTMAX (output Q0.15)
    concatenation, pad, lut                        int8 data movement and table activations (concatenation:
                                                   int16 too)
    transpose                                      int8 permutation of up to five dimensions
    strided_slice, gather                          int8 STRIDED_SLICE (SLICE, SPLIT, SPLIT_V, UNPACK) of up to
                                                   five dimensions (int16 too), GATHER (nn.Embedding)
    reduce_mean, reduce_sum, reduce_max            int8 MEAN, SUM, REDUCE_MAX over any axes (rank <= 5)
    resize_nearest, resize_bilinear                int8 RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR (NHWC)
    batch_matmul                                   int8 batched matmul of two activations (attention)
    quantize_int8, dequantize_int8                 float32 <-> int8 at the model boundary
    quantize_int16, dequantize_int16,
    requantize_tensor                              float32 <-> int16; int8 / int16 -> int16 / int8 (QUANTIZE)
    add_params, sub_params, mul_params,
    squared_difference_params,
    preprocess_softmax_scaling,
    softmax_s16_params, logistic_s16_params,
    tanh_s16_params,
    concatenation_params, build_lut_s8,
    resize_params,
    transpose_params, batch_matmul_params,
    strided_slice_params, strided_slice_loops      compile-time parameter helpers
    reduce_params, reduce_mean_params,
    reduce_sum_params, fold_mean_multiplier        reduction dimension and quantization helpers
    quantize_multiplier, quantize_multipliers      real multiplier -> (Q31 mult, shift)
    quantize, dequantize                           float <-> int8 at a scale and zero point
    *_s8_scratch_bytes                             scratch each kernel needs

The jitted kernels themselves (conv2d_s8, ...) trust their caller; they are
what the interpreter calls on arena buffers.
"""

from . import _jit  # noqa: F401  (first: its cache locator must be in place before any kernel is defined)
from .conv2d import (conv2d, conv2d_encoded_s8, conv2d_encoded_s8_scratch_bytes, conv2d_s8, conv2d_s8_scratch_bytes,
                     conv2d_s16)
from .depthwise_conv2d import (
    depthwise_conv2d,
    depthwise_conv2d_encoded_s8,
    depthwise_conv2d_s8,
    depthwise_conv2d_s8_scratch_bytes,
    depthwise_conv2d_s16,
)
from .fully_connected import (
    fully_connected,
    fully_connected_encoded_s8,
    fully_connected_encoded_s8_scratch_bytes,
    fully_connected_s8,
    fully_connected_s8_scratch_bytes,
    fully_connected_s16,
)
from .weight_encoding import Encoding, EncodingError, decode, encode
from .concatenation import (concatenation, concatenation_options, concatenation_params, concatenation_s8,
                            concatenation_s16)
from .elementwise import (
    add,
    add_params,
    add_s8,
    add_s16,
    maximum,
    maximum_s8,
    minimum,
    minimum_s8,
    mul,
    mul_params,
    mul_s8,
    mul_s16,
    squared_difference,
    squared_difference_params,
    squared_difference_s8,
    sub,
    sub_params,
    sub_s8,
    sub_s16,
)
from .lut import build_lut_s8, lut, lut_s8
from .pad import pad, pad_s8
from .pooling import (average_pool2d, average_pool2d_s8, average_pool2d_s16, max_pool2d, max_pool2d_s8,
                      max_pool2d_s16, mean_hw, mean_hw_s8)
from .quantization import (dequantize_int8, dequantize_int16, dequantize_s8, dequantize_s16, quantize_int8,
                           quantize_int16, quantize_s8, quantize_s16, requantize_s8_s16, requantize_s16_s8,
                           requantize_s16_s16, requantize_tensor)
from .softmax import preprocess_softmax_scaling, softmax, softmax_int16, softmax_s8, softmax_s16, softmax_s16_params
from .activations_s16 import (logistic_int16, logistic_s16, logistic_s16_params, tanh_int16, tanh_s16,
                              tanh_s16_params)
from .transpose import transpose, transpose_params, transpose_s8
from .slicing import (gather, gather_s8, strided_slice, strided_slice_loops, strided_slice_params, strided_slice_s8,
                      strided_slice_s16)
from .reduce import (
    fold_mean_multiplier,
    reduce_max,
    reduce_max_s8,
    reduce_mean,
    reduce_mean_params,
    reduce_mean_s8,
    reduce_params,
    reduce_s8_scratch_bytes,
    reduce_sum,
    reduce_sum_params,
    reduce_sum_s8,
)
from .resize import resize_bilinear, resize_bilinear_s8, resize_nearest, resize_nearest_s8, resize_params
from .transpose_conv import transpose_conv2d, transpose_conv2d_s8, transpose_conv2d_s8_scratch_bytes
from .batch_matmul import batch_matmul, batch_matmul_params, batch_matmul_s8
from .numerics import (
    ROUNDING_MODE,
    dequantize,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    quantize,
    quantize_multiplier,
    quantize_multipliers,
    requantize,
    requantize_int64,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from .svdf import svdf, svdf_params, svdf_s8, svdf_s8_scratch_bytes
from .lstm import LstmParams, lstm, lstm_8x8_16, lstm_8x8_16_params
from .lstm_16x8 import Lstm16x8Params, lstm_16x8, lstm_16x8_params, lstm_int16

__all__ = [
    "ROUNDING_MODE",
    "Encoding",
    "EncodingError",
    "add",
    "add_params",
    "add_s8",
    "add_s16",
    "average_pool2d",
    "average_pool2d_s8",
    "average_pool2d_s16",
    "batch_matmul",
    "batch_matmul_params",
    "batch_matmul_s8",
    "build_lut_s8",
    "concatenation",
    "concatenation_options",
    "concatenation_params",
    "concatenation_s8",
    "concatenation_s16",
    "conv2d",
    "conv2d_encoded_s8",
    "conv2d_encoded_s8_scratch_bytes",
    "conv2d_s8",
    "conv2d_s8_scratch_bytes",
    "conv2d_s16",
    "depthwise_conv2d",
    "depthwise_conv2d_encoded_s8",
    "depthwise_conv2d_s8",
    "depthwise_conv2d_s8_scratch_bytes",
    "depthwise_conv2d_s16",
    "decode",
    "dequantize",
    "dequantize_int8",
    "dequantize_int16",
    "dequantize_s8",
    "dequantize_s16",
    "encode",
    "fold_mean_multiplier",
    "fully_connected",
    "fully_connected_encoded_s8",
    "fully_connected_encoded_s8_scratch_bytes",
    "fully_connected_s8",
    "fully_connected_s8_scratch_bytes",
    "fully_connected_s16",
    "gather",
    "gather_s8",
    "logistic_int16",
    "logistic_s16",
    "logistic_s16_params",
    "lut",
    "lut_s8",
    "max_pool2d",
    "max_pool2d_s8",
    "max_pool2d_s16",
    "maximum",
    "maximum_s8",
    "mean_hw",
    "mean_hw_s8",
    "minimum",
    "minimum_s8",
    "mul",
    "mul_params",
    "mul_s8",
    "mul_s16",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_int64",
    "pad",
    "pad_s8",
    "preprocess_softmax_scaling",
    "quantize",
    "quantize_int8",
    "quantize_multiplier",
    "quantize_multipliers",
    "quantize_int16",
    "quantize_s8",
    "quantize_s16",
    "reduce_max",
    "reduce_max_s8",
    "reduce_mean",
    "reduce_mean_params",
    "reduce_mean_s8",
    "reduce_params",
    "reduce_s8_scratch_bytes",
    "reduce_sum",
    "reduce_sum_params",
    "reduce_sum_s8",
    "requantize",
    "requantize_s8_s16",
    "requantize_s16_s8",
    "requantize_s16_s16",
    "requantize_tensor",
    "requantize_int64",
    "resize_bilinear",
    "resize_bilinear_s8",
    "resize_nearest",
    "resize_nearest_s8",
    "resize_params",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
    "softmax",
    "softmax_int16",
    "softmax_s8",
    "softmax_s16",
    "softmax_s16_params",
    "squared_difference",
    "squared_difference_params",
    "squared_difference_s8",
    "strided_slice",
    "strided_slice_loops",
    "strided_slice_params",
    "strided_slice_s8",
    "strided_slice_s16",
    "sub",
    "sub_params",
    "sub_s8",
    "sub_s16",
    "tanh_int16",
    "tanh_s16",
    "tanh_s16_params",
    "transpose",
    "transpose_conv2d",
    "transpose_conv2d_s8",
    "transpose_conv2d_s8_scratch_bytes",
    "transpose_params",
    "transpose_s8",
    "svdf",
    "svdf_params",
    "svdf_s8",
    "svdf_s8_scratch_bytes",
    "LstmParams",
    "lstm",
    "lstm_8x8_16",
    "lstm_8x8_16_params",
    "Lstm16x8Params",
    "lstm_16x8",
    "lstm_16x8_params",
    "lstm_int16",
]
