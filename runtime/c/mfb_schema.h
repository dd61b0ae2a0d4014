/* Generated from runtime/schema.fbs by runtime/c_schema.py: do not edit; regenerate with
 *     python -m microflat.runtime.c_schema > runtime/c/mfb_schema.h
 * The C verifier (mfb_reader.c) walks tables with these descriptors; the interpreter reads
 * fields by the slot constants. A test regenerates this file and compares. */
#ifndef MFB_SCHEMA_H
#define MFB_SCHEMA_H

#include <stdint.h>

#define MFB_FILE_IDENTIFIER "MFB0"
#define MFB_FORMAT_MAJOR 1
#define MFB_FORMAT_MINOR 1

/* Field kinds. */
#define MFB_KIND_SCALAR 0
#define MFB_KIND_ENUM 1
#define MFB_KIND_UNION 2
#define MFB_KIND_TABLE 3
#define MFB_KIND_STRING 4
#define MFB_KIND_VECTOR_SCALAR 5
#define MFB_KIND_VECTOR_ENUM 6
#define MFB_KIND_VECTOR_TABLE 7
#define MFB_KIND_VECTOR_STRING 8

typedef struct {
    uint8_t kind;     /* MFB_KIND_* */
    uint8_t slot;     /* vtable slot (a union's type lies in slot - 1) */
    uint8_t size;     /* bytes of the scalar, or of a vector element */
    uint8_t sub;      /* the table of a TABLE / VECTOR_TABLE field, the union of a UNION field */
    int32_t enum_max; /* ENUM / VECTOR_ENUM: valid values are 0..enum_max */
} mfb_field_desc;

typedef struct {
    const mfb_field_desc *fields;
    uint8_t count;
} mfb_table_desc;

typedef struct {
    const uint8_t *members; /* member i (type code i + 1) is table members[i] */
    uint8_t count;
} mfb_union_desc;

/* Tables. */
#define MFB_TABLE_WEIGHT_ENCODING 0
#define MFB_TABLE_TENSOR 1
#define MFB_TABLE_CONV2D_OPTIONS 2
#define MFB_TABLE_DEPTHWISE_CONV2D_OPTIONS 3
#define MFB_TABLE_FULLY_CONNECTED_OPTIONS 4
#define MFB_TABLE_ADD_OPTIONS 5
#define MFB_TABLE_MUL_OPTIONS 6
#define MFB_TABLE_SQUARED_DIFFERENCE_OPTIONS 7
#define MFB_TABLE_TRANSPOSE_OPTIONS 8
#define MFB_TABLE_BATCH_MAT_MUL_OPTIONS 9
#define MFB_TABLE_TRANSPOSE_CONV_OPTIONS 10
#define MFB_TABLE_RESIZE_OPTIONS 11
#define MFB_TABLE_REDUCE_OPTIONS 12
#define MFB_TABLE_POOL2D_OPTIONS 13
#define MFB_TABLE_MEAN_OPTIONS 14
#define MFB_TABLE_SOFTMAX_OPTIONS 15
#define MFB_TABLE_CONCATENATION_OPTIONS 16
#define MFB_TABLE_PAD_OPTIONS 17
#define MFB_TABLE_STRIDED_SLICE_OPTIONS 18
#define MFB_TABLE_GATHER_OPTIONS 19
#define MFB_TABLE_LSTM_OPTIONS 20
#define MFB_TABLE_SVDF_OPTIONS 21
#define MFB_TABLE_REQUANTIZE_OPTIONS 22
#define MFB_TABLE_LOGISTIC_OPTIONS 23
#define MFB_TABLE_OPERATOR 24
#define MFB_TABLE_MEMORY_PLAN 25
#define MFB_TABLE_METADATA 26
#define MFB_TABLE_MODEL 27
#define MFB_TABLE_COUNT 28
#define MFB_ROOT_TABLE MFB_TABLE_MODEL

/* Enums. */
#define MFB_DTYPE_INT8 0
#define MFB_DTYPE_INT32 1
#define MFB_DTYPE_FLOAT32 2
#define MFB_DTYPE_INT16 3
#define MFB_DTYPE_INT64 4
#define MFB_DTYPE_MAX 4
#define MFB_OP_CODE_CONV_2D 0
#define MFB_OP_CODE_DEPTHWISE_CONV_2D 1
#define MFB_OP_CODE_FULLY_CONNECTED 2
#define MFB_OP_CODE_ADD 3
#define MFB_OP_CODE_MUL 4
#define MFB_OP_CODE_AVERAGE_POOL_2D 5
#define MFB_OP_CODE_MAX_POOL_2D 6
#define MFB_OP_CODE_MEAN 7
#define MFB_OP_CODE_SOFTMAX 8
#define MFB_OP_CODE_CONCATENATION 9
#define MFB_OP_CODE_PAD 10
#define MFB_OP_CODE_RESHAPE 11
#define MFB_OP_CODE_LOGISTIC 12
#define MFB_OP_CODE_TANH 13
#define MFB_OP_CODE_HARDSWISH 14
#define MFB_OP_CODE_QUANTIZE 15
#define MFB_OP_CODE_DEQUANTIZE 16
#define MFB_OP_CODE_GELU 17
#define MFB_OP_CODE_SILU 18
#define MFB_OP_CODE_HARD_SIGMOID 19
#define MFB_OP_CODE_LEAKY_RELU 20
#define MFB_OP_CODE_ELU 21
#define MFB_OP_CODE_MISH 22
#define MFB_OP_CODE_RELU 23
#define MFB_OP_CODE_RELU6 24
#define MFB_OP_CODE_RELU_N1_TO_1 25
#define MFB_OP_CODE_CLAMP 26
#define MFB_OP_CODE_SUB 27
#define MFB_OP_CODE_MAXIMUM 28
#define MFB_OP_CODE_MINIMUM 29
#define MFB_OP_CODE_SQUARED_DIFFERENCE 30
#define MFB_OP_CODE_TRANSPOSE 31
#define MFB_OP_CODE_BATCH_MATMUL 32
#define MFB_OP_CODE_TRANSPOSE_CONV 33
#define MFB_OP_CODE_RESIZE_NEAREST_NEIGHBOR 34
#define MFB_OP_CODE_RESIZE_BILINEAR 35
#define MFB_OP_CODE_SUM 36
#define MFB_OP_CODE_REDUCE_MAX 37
#define MFB_OP_CODE_REDUCE_MEAN 38
#define MFB_OP_CODE_RSQRT 39
#define MFB_OP_CODE_STRIDED_SLICE 40
#define MFB_OP_CODE_GATHER 41
#define MFB_OP_CODE_ASSIGN_VARIABLE 42
#define MFB_OP_CODE_REQUANTIZE 43
#define MFB_OP_CODE_UNIDIRECTIONAL_SEQUENCE_LSTM 44
#define MFB_OP_CODE_SVDF 45
#define MFB_OP_CODE_MAX 45
#define MFB_ROUNDING_MODE_DOUBLE_ROUNDING 0
#define MFB_ROUNDING_MODE_MAX 0

/* The operators this build holds: every one, or with MF_OPS_SELECTED those mf_ops_used.h enables. */
#ifdef MF_OPS_SELECTED
#include "mf_ops_used.h"
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_CONV_2D)
#define MFB_OP_BUILT_CONV_2D 1
#else
#define MFB_OP_BUILT_CONV_2D 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_DEPTHWISE_CONV_2D)
#define MFB_OP_BUILT_DEPTHWISE_CONV_2D 1
#else
#define MFB_OP_BUILT_DEPTHWISE_CONV_2D 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_FULLY_CONNECTED)
#define MFB_OP_BUILT_FULLY_CONNECTED 1
#else
#define MFB_OP_BUILT_FULLY_CONNECTED 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_ADD)
#define MFB_OP_BUILT_ADD 1
#else
#define MFB_OP_BUILT_ADD 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_MUL)
#define MFB_OP_BUILT_MUL 1
#else
#define MFB_OP_BUILT_MUL 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_AVERAGE_POOL_2D)
#define MFB_OP_BUILT_AVERAGE_POOL_2D 1
#else
#define MFB_OP_BUILT_AVERAGE_POOL_2D 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_MAX_POOL_2D)
#define MFB_OP_BUILT_MAX_POOL_2D 1
#else
#define MFB_OP_BUILT_MAX_POOL_2D 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_MEAN)
#define MFB_OP_BUILT_MEAN 1
#else
#define MFB_OP_BUILT_MEAN 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_SOFTMAX)
#define MFB_OP_BUILT_SOFTMAX 1
#else
#define MFB_OP_BUILT_SOFTMAX 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_CONCATENATION)
#define MFB_OP_BUILT_CONCATENATION 1
#else
#define MFB_OP_BUILT_CONCATENATION 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_PAD)
#define MFB_OP_BUILT_PAD 1
#else
#define MFB_OP_BUILT_PAD 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RESHAPE)
#define MFB_OP_BUILT_RESHAPE 1
#else
#define MFB_OP_BUILT_RESHAPE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_LOGISTIC)
#define MFB_OP_BUILT_LOGISTIC 1
#else
#define MFB_OP_BUILT_LOGISTIC 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_TANH)
#define MFB_OP_BUILT_TANH 1
#else
#define MFB_OP_BUILT_TANH 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_HARDSWISH)
#define MFB_OP_BUILT_HARDSWISH 1
#else
#define MFB_OP_BUILT_HARDSWISH 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_QUANTIZE)
#define MFB_OP_BUILT_QUANTIZE 1
#else
#define MFB_OP_BUILT_QUANTIZE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_DEQUANTIZE)
#define MFB_OP_BUILT_DEQUANTIZE 1
#else
#define MFB_OP_BUILT_DEQUANTIZE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_GELU)
#define MFB_OP_BUILT_GELU 1
#else
#define MFB_OP_BUILT_GELU 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_SILU)
#define MFB_OP_BUILT_SILU 1
#else
#define MFB_OP_BUILT_SILU 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_HARD_SIGMOID)
#define MFB_OP_BUILT_HARD_SIGMOID 1
#else
#define MFB_OP_BUILT_HARD_SIGMOID 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_LEAKY_RELU)
#define MFB_OP_BUILT_LEAKY_RELU 1
#else
#define MFB_OP_BUILT_LEAKY_RELU 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_ELU)
#define MFB_OP_BUILT_ELU 1
#else
#define MFB_OP_BUILT_ELU 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_MISH)
#define MFB_OP_BUILT_MISH 1
#else
#define MFB_OP_BUILT_MISH 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RELU)
#define MFB_OP_BUILT_RELU 1
#else
#define MFB_OP_BUILT_RELU 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RELU6)
#define MFB_OP_BUILT_RELU6 1
#else
#define MFB_OP_BUILT_RELU6 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RELU_N1_TO_1)
#define MFB_OP_BUILT_RELU_N1_TO_1 1
#else
#define MFB_OP_BUILT_RELU_N1_TO_1 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_CLAMP)
#define MFB_OP_BUILT_CLAMP 1
#else
#define MFB_OP_BUILT_CLAMP 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_SUB)
#define MFB_OP_BUILT_SUB 1
#else
#define MFB_OP_BUILT_SUB 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_MAXIMUM)
#define MFB_OP_BUILT_MAXIMUM 1
#else
#define MFB_OP_BUILT_MAXIMUM 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_MINIMUM)
#define MFB_OP_BUILT_MINIMUM 1
#else
#define MFB_OP_BUILT_MINIMUM 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_SQUARED_DIFFERENCE)
#define MFB_OP_BUILT_SQUARED_DIFFERENCE 1
#else
#define MFB_OP_BUILT_SQUARED_DIFFERENCE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_TRANSPOSE)
#define MFB_OP_BUILT_TRANSPOSE 1
#else
#define MFB_OP_BUILT_TRANSPOSE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_BATCH_MATMUL)
#define MFB_OP_BUILT_BATCH_MATMUL 1
#else
#define MFB_OP_BUILT_BATCH_MATMUL 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_TRANSPOSE_CONV)
#define MFB_OP_BUILT_TRANSPOSE_CONV 1
#else
#define MFB_OP_BUILT_TRANSPOSE_CONV 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RESIZE_NEAREST_NEIGHBOR)
#define MFB_OP_BUILT_RESIZE_NEAREST_NEIGHBOR 1
#else
#define MFB_OP_BUILT_RESIZE_NEAREST_NEIGHBOR 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RESIZE_BILINEAR)
#define MFB_OP_BUILT_RESIZE_BILINEAR 1
#else
#define MFB_OP_BUILT_RESIZE_BILINEAR 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_SUM)
#define MFB_OP_BUILT_SUM 1
#else
#define MFB_OP_BUILT_SUM 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_REDUCE_MAX)
#define MFB_OP_BUILT_REDUCE_MAX 1
#else
#define MFB_OP_BUILT_REDUCE_MAX 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_REDUCE_MEAN)
#define MFB_OP_BUILT_REDUCE_MEAN 1
#else
#define MFB_OP_BUILT_REDUCE_MEAN 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_RSQRT)
#define MFB_OP_BUILT_RSQRT 1
#else
#define MFB_OP_BUILT_RSQRT 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_STRIDED_SLICE)
#define MFB_OP_BUILT_STRIDED_SLICE 1
#else
#define MFB_OP_BUILT_STRIDED_SLICE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_GATHER)
#define MFB_OP_BUILT_GATHER 1
#else
#define MFB_OP_BUILT_GATHER 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_ASSIGN_VARIABLE)
#define MFB_OP_BUILT_ASSIGN_VARIABLE 1
#else
#define MFB_OP_BUILT_ASSIGN_VARIABLE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_REQUANTIZE)
#define MFB_OP_BUILT_REQUANTIZE 1
#else
#define MFB_OP_BUILT_REQUANTIZE 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_UNIDIRECTIONAL_SEQUENCE_LSTM)
#define MFB_OP_BUILT_UNIDIRECTIONAL_SEQUENCE_LSTM 1
#else
#define MFB_OP_BUILT_UNIDIRECTIONAL_SEQUENCE_LSTM 0
#endif
#if !defined(MF_OPS_SELECTED) || defined(MF_OP_ENABLE_SVDF)
#define MFB_OP_BUILT_SVDF 1
#else
#define MFB_OP_BUILT_SVDF 0
#endif

/* Union type codes (0 is NONE). */
#define MFB_OP_OPTIONS_CONV2D_OPTIONS 1
#define MFB_OP_OPTIONS_DEPTHWISE_CONV2D_OPTIONS 2
#define MFB_OP_OPTIONS_FULLY_CONNECTED_OPTIONS 3
#define MFB_OP_OPTIONS_ADD_OPTIONS 4
#define MFB_OP_OPTIONS_MUL_OPTIONS 5
#define MFB_OP_OPTIONS_POOL2D_OPTIONS 6
#define MFB_OP_OPTIONS_MEAN_OPTIONS 7
#define MFB_OP_OPTIONS_SOFTMAX_OPTIONS 8
#define MFB_OP_OPTIONS_CONCATENATION_OPTIONS 9
#define MFB_OP_OPTIONS_PAD_OPTIONS 10
#define MFB_OP_OPTIONS_SQUARED_DIFFERENCE_OPTIONS 11
#define MFB_OP_OPTIONS_TRANSPOSE_OPTIONS 12
#define MFB_OP_OPTIONS_BATCH_MAT_MUL_OPTIONS 13
#define MFB_OP_OPTIONS_TRANSPOSE_CONV_OPTIONS 14
#define MFB_OP_OPTIONS_RESIZE_OPTIONS 15
#define MFB_OP_OPTIONS_REDUCE_OPTIONS 16
#define MFB_OP_OPTIONS_STRIDED_SLICE_OPTIONS 17
#define MFB_OP_OPTIONS_GATHER_OPTIONS 18
#define MFB_OP_OPTIONS_REQUANTIZE_OPTIONS 19
#define MFB_OP_OPTIONS_LSTM_OPTIONS 20
#define MFB_OP_OPTIONS_SVDF_OPTIONS 21
#define MFB_OP_OPTIONS_LOGISTIC_OPTIONS 22

/* Field slots (MFB_<TABLE>_<FIELD>) and defaults (..._DEFAULT). */
#define MFB_WEIGHT_ENCODING_VALUE_BITS 0
#define MFB_WEIGHT_ENCODING_VALUE_BITS_DEFAULT 8
#define MFB_WEIGHT_ENCODING_CODEBOOK 1
#define MFB_WEIGHT_ENCODING_CODEBOOK_PER_CHANNEL 2
#define MFB_WEIGHT_ENCODING_CODEBOOK_PER_CHANNEL_DEFAULT 0
#define MFB_WEIGHT_ENCODING_AXIS 3
#define MFB_WEIGHT_ENCODING_AXIS_DEFAULT -1
#define MFB_WEIGHT_ENCODING_POSITION_BITS 4
#define MFB_WEIGHT_ENCODING_POSITION_BITS_DEFAULT 0
#define MFB_WEIGHT_ENCODING_ENTRIES 5
#define MFB_WEIGHT_ENCODING_ENTRIES_DEFAULT 0
#define MFB_WEIGHT_ENCODING_POSITIONS_BUFFER 6
#define MFB_WEIGHT_ENCODING_POSITIONS_BUFFER_DEFAULT 0
#define MFB_TENSOR_NAME 0
#define MFB_TENSOR_DTYPE 1
#define MFB_TENSOR_DTYPE_DEFAULT 0
#define MFB_TENSOR_SHAPE 2
#define MFB_TENSOR_SCALE 3
#define MFB_TENSOR_SCALE_DEFAULT 0
#define MFB_TENSOR_ZERO_POINT 4
#define MFB_TENSOR_ZERO_POINT_DEFAULT 0
#define MFB_TENSOR_CHANNEL_SCALES 5
#define MFB_TENSOR_QUANTIZED_AXIS 6
#define MFB_TENSOR_QUANTIZED_AXIS_DEFAULT -1
#define MFB_TENSOR_BUFFER 7
#define MFB_TENSOR_BUFFER_DEFAULT 0
#define MFB_TENSOR_ENCODING 8
#define MFB_TENSOR_VARIABLE 9
#define MFB_TENSOR_VARIABLE_DEFAULT 0
#define MFB_CONV2D_OPTIONS_STRIDE_H 0
#define MFB_CONV2D_OPTIONS_STRIDE_H_DEFAULT 1
#define MFB_CONV2D_OPTIONS_STRIDE_W 1
#define MFB_CONV2D_OPTIONS_STRIDE_W_DEFAULT 1
#define MFB_CONV2D_OPTIONS_DILATION_H 2
#define MFB_CONV2D_OPTIONS_DILATION_H_DEFAULT 1
#define MFB_CONV2D_OPTIONS_DILATION_W 3
#define MFB_CONV2D_OPTIONS_DILATION_W_DEFAULT 1
#define MFB_CONV2D_OPTIONS_PAD_TOP 4
#define MFB_CONV2D_OPTIONS_PAD_TOP_DEFAULT 0
#define MFB_CONV2D_OPTIONS_PAD_LEFT 5
#define MFB_CONV2D_OPTIONS_PAD_LEFT_DEFAULT 0
#define MFB_CONV2D_OPTIONS_GROUPS 6
#define MFB_CONV2D_OPTIONS_GROUPS_DEFAULT 1
#define MFB_CONV2D_OPTIONS_ACT_MIN 7
#define MFB_CONV2D_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_CONV2D_OPTIONS_ACT_MAX 8
#define MFB_CONV2D_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_CONV2D_OPTIONS_OUTPUT_MULT 9
#define MFB_CONV2D_OPTIONS_OUTPUT_SHIFT 10
#define MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_H 0
#define MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_H_DEFAULT 1
#define MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_W 1
#define MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_W_DEFAULT 1
#define MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_H 2
#define MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_H_DEFAULT 1
#define MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_W 3
#define MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_W_DEFAULT 1
#define MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_TOP 4
#define MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_TOP_DEFAULT 0
#define MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_LEFT 5
#define MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_LEFT_DEFAULT 0
#define MFB_DEPTHWISE_CONV2D_OPTIONS_DEPTH_MULTIPLIER 6
#define MFB_DEPTHWISE_CONV2D_OPTIONS_DEPTH_MULTIPLIER_DEFAULT 1
#define MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MIN 7
#define MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MAX 8
#define MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_DEPTHWISE_CONV2D_OPTIONS_OUTPUT_MULT 9
#define MFB_DEPTHWISE_CONV2D_OPTIONS_OUTPUT_SHIFT 10
#define MFB_FULLY_CONNECTED_OPTIONS_ACT_MIN 0
#define MFB_FULLY_CONNECTED_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_FULLY_CONNECTED_OPTIONS_ACT_MAX 1
#define MFB_FULLY_CONNECTED_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_FULLY_CONNECTED_OPTIONS_OUTPUT_MULT 2
#define MFB_FULLY_CONNECTED_OPTIONS_OUTPUT_SHIFT 3
#define MFB_FULLY_CONNECTED_OPTIONS_SINGLE_ROUNDING 4
#define MFB_FULLY_CONNECTED_OPTIONS_SINGLE_ROUNDING_DEFAULT 0
#define MFB_ADD_OPTIONS_LEFT_SHIFT 0
#define MFB_ADD_OPTIONS_LEFT_SHIFT_DEFAULT 20
#define MFB_ADD_OPTIONS_INPUT1_MULT 1
#define MFB_ADD_OPTIONS_INPUT1_MULT_DEFAULT 0
#define MFB_ADD_OPTIONS_INPUT1_SHIFT 2
#define MFB_ADD_OPTIONS_INPUT1_SHIFT_DEFAULT 0
#define MFB_ADD_OPTIONS_INPUT2_MULT 3
#define MFB_ADD_OPTIONS_INPUT2_MULT_DEFAULT 0
#define MFB_ADD_OPTIONS_INPUT2_SHIFT 4
#define MFB_ADD_OPTIONS_INPUT2_SHIFT_DEFAULT 0
#define MFB_ADD_OPTIONS_OUTPUT_MULT 5
#define MFB_ADD_OPTIONS_OUTPUT_MULT_DEFAULT 0
#define MFB_ADD_OPTIONS_OUTPUT_SHIFT 6
#define MFB_ADD_OPTIONS_OUTPUT_SHIFT_DEFAULT 0
#define MFB_ADD_OPTIONS_ACT_MIN 7
#define MFB_ADD_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_ADD_OPTIONS_ACT_MAX 8
#define MFB_ADD_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_MUL_OPTIONS_OUTPUT_MULT 0
#define MFB_MUL_OPTIONS_OUTPUT_MULT_DEFAULT 0
#define MFB_MUL_OPTIONS_OUTPUT_SHIFT 1
#define MFB_MUL_OPTIONS_OUTPUT_SHIFT_DEFAULT 0
#define MFB_MUL_OPTIONS_ACT_MIN 2
#define MFB_MUL_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_MUL_OPTIONS_ACT_MAX 3
#define MFB_MUL_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_SQUARED_DIFFERENCE_OPTIONS_LEFT_SHIFT 0
#define MFB_SQUARED_DIFFERENCE_OPTIONS_LEFT_SHIFT_DEFAULT 7
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_MULT 1
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_MULT_DEFAULT 0
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_SHIFT 2
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_SHIFT_DEFAULT 0
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_MULT 3
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_MULT_DEFAULT 0
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_SHIFT 4
#define MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_SHIFT_DEFAULT 0
#define MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_MULT 5
#define MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_MULT_DEFAULT 0
#define MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_SHIFT 6
#define MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_SHIFT_DEFAULT 0
#define MFB_TRANSPOSE_OPTIONS_PERM 0
#define MFB_BATCH_MAT_MUL_OPTIONS_ADJ_X 0
#define MFB_BATCH_MAT_MUL_OPTIONS_ADJ_X_DEFAULT 0
#define MFB_BATCH_MAT_MUL_OPTIONS_ADJ_Y 1
#define MFB_BATCH_MAT_MUL_OPTIONS_ADJ_Y_DEFAULT 0
#define MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_MULT 2
#define MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_MULT_DEFAULT 0
#define MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_SHIFT 3
#define MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_SHIFT_DEFAULT 0
#define MFB_BATCH_MAT_MUL_OPTIONS_ACT_MIN 4
#define MFB_BATCH_MAT_MUL_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_BATCH_MAT_MUL_OPTIONS_ACT_MAX 5
#define MFB_BATCH_MAT_MUL_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_H 0
#define MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_H_DEFAULT 1
#define MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_W 1
#define MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_W_DEFAULT 1
#define MFB_TRANSPOSE_CONV_OPTIONS_PAD_TOP 2
#define MFB_TRANSPOSE_CONV_OPTIONS_PAD_TOP_DEFAULT 0
#define MFB_TRANSPOSE_CONV_OPTIONS_PAD_LEFT 3
#define MFB_TRANSPOSE_CONV_OPTIONS_PAD_LEFT_DEFAULT 0
#define MFB_TRANSPOSE_CONV_OPTIONS_ACT_MIN 4
#define MFB_TRANSPOSE_CONV_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_TRANSPOSE_CONV_OPTIONS_ACT_MAX 5
#define MFB_TRANSPOSE_CONV_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_TRANSPOSE_CONV_OPTIONS_OUTPUT_MULT 6
#define MFB_TRANSPOSE_CONV_OPTIONS_OUTPUT_SHIFT 7
#define MFB_RESIZE_OPTIONS_ALIGN_CORNERS 0
#define MFB_RESIZE_OPTIONS_ALIGN_CORNERS_DEFAULT 0
#define MFB_RESIZE_OPTIONS_HALF_PIXEL_CENTERS 1
#define MFB_RESIZE_OPTIONS_HALF_PIXEL_CENTERS_DEFAULT 0
#define MFB_REDUCE_OPTIONS_AXES 0
#define MFB_REDUCE_OPTIONS_MULT 1
#define MFB_REDUCE_OPTIONS_MULT_DEFAULT 0
#define MFB_REDUCE_OPTIONS_SHIFT 2
#define MFB_REDUCE_OPTIONS_SHIFT_DEFAULT 0
#define MFB_POOL2D_OPTIONS_FILTER_H 0
#define MFB_POOL2D_OPTIONS_FILTER_H_DEFAULT 1
#define MFB_POOL2D_OPTIONS_FILTER_W 1
#define MFB_POOL2D_OPTIONS_FILTER_W_DEFAULT 1
#define MFB_POOL2D_OPTIONS_STRIDE_H 2
#define MFB_POOL2D_OPTIONS_STRIDE_H_DEFAULT 1
#define MFB_POOL2D_OPTIONS_STRIDE_W 3
#define MFB_POOL2D_OPTIONS_STRIDE_W_DEFAULT 1
#define MFB_POOL2D_OPTIONS_PAD_TOP 4
#define MFB_POOL2D_OPTIONS_PAD_TOP_DEFAULT 0
#define MFB_POOL2D_OPTIONS_PAD_LEFT 5
#define MFB_POOL2D_OPTIONS_PAD_LEFT_DEFAULT 0
#define MFB_POOL2D_OPTIONS_ACT_MIN 6
#define MFB_POOL2D_OPTIONS_ACT_MIN_DEFAULT -128
#define MFB_POOL2D_OPTIONS_ACT_MAX 7
#define MFB_POOL2D_OPTIONS_ACT_MAX_DEFAULT 127
#define MFB_MEAN_OPTIONS_MULT 0
#define MFB_MEAN_OPTIONS_MULT_DEFAULT 0
#define MFB_MEAN_OPTIONS_SHIFT 1
#define MFB_MEAN_OPTIONS_SHIFT_DEFAULT 0
#define MFB_SOFTMAX_OPTIONS_INPUT_BETA_MULT 0
#define MFB_SOFTMAX_OPTIONS_INPUT_BETA_MULT_DEFAULT 0
#define MFB_SOFTMAX_OPTIONS_INPUT_LEFT_SHIFT 1
#define MFB_SOFTMAX_OPTIONS_INPUT_LEFT_SHIFT_DEFAULT 0
#define MFB_SOFTMAX_OPTIONS_DIFF_MIN 2
#define MFB_SOFTMAX_OPTIONS_DIFF_MIN_DEFAULT 0
#define MFB_CONCATENATION_OPTIONS_AXIS 0
#define MFB_CONCATENATION_OPTIONS_AXIS_DEFAULT 0
#define MFB_CONCATENATION_OPTIONS_REQUANT 1
#define MFB_CONCATENATION_OPTIONS_INPUT_MULT 2
#define MFB_CONCATENATION_OPTIONS_INPUT_SHIFT 3
#define MFB_PAD_OPTIONS_PAD_BEFORE 0
#define MFB_PAD_OPTIONS_PAD_AFTER 1
#define MFB_STRIDED_SLICE_OPTIONS_BEGIN 0
#define MFB_STRIDED_SLICE_OPTIONS_STRIDES 1
#define MFB_STRIDED_SLICE_OPTIONS_SHRINK_AXIS_MASK 2
#define MFB_STRIDED_SLICE_OPTIONS_SHRINK_AXIS_MASK_DEFAULT 0
#define MFB_GATHER_OPTIONS_AXIS 0
#define MFB_GATHER_OPTIONS_AXIS_DEFAULT 0
#define MFB_LSTM_OPTIONS_GATE_MULT 0
#define MFB_LSTM_OPTIONS_GATE_SHIFT 1
#define MFB_LSTM_OPTIONS_HIDDEN_MULT 2
#define MFB_LSTM_OPTIONS_HIDDEN_MULT_DEFAULT 0
#define MFB_LSTM_OPTIONS_HIDDEN_SHIFT 3
#define MFB_LSTM_OPTIONS_HIDDEN_SHIFT_DEFAULT 0
#define MFB_LSTM_OPTIONS_CELL_EXPONENT 4
#define MFB_LSTM_OPTIONS_CELL_EXPONENT_DEFAULT 0
#define MFB_LSTM_OPTIONS_CELL_CLIP 5
#define MFB_LSTM_OPTIONS_CELL_CLIP_DEFAULT 0
#define MFB_SVDF_OPTIONS_RANK 0
#define MFB_SVDF_OPTIONS_RANK_DEFAULT 1
#define MFB_SVDF_OPTIONS_STATE_MULT 1
#define MFB_SVDF_OPTIONS_STATE_MULT_DEFAULT 0
#define MFB_SVDF_OPTIONS_STATE_SHIFT 2
#define MFB_SVDF_OPTIONS_STATE_SHIFT_DEFAULT 0
#define MFB_SVDF_OPTIONS_OUTPUT_MULT 3
#define MFB_SVDF_OPTIONS_OUTPUT_MULT_DEFAULT 0
#define MFB_SVDF_OPTIONS_OUTPUT_SHIFT 4
#define MFB_SVDF_OPTIONS_OUTPUT_SHIFT_DEFAULT 0
#define MFB_REQUANTIZE_OPTIONS_MULT 0
#define MFB_REQUANTIZE_OPTIONS_MULT_DEFAULT 0
#define MFB_REQUANTIZE_OPTIONS_SHIFT 1
#define MFB_REQUANTIZE_OPTIONS_SHIFT_DEFAULT 0
#define MFB_LOGISTIC_OPTIONS_INPUT_MULTIPLIER 0
#define MFB_LOGISTIC_OPTIONS_INPUT_MULTIPLIER_DEFAULT 0
#define MFB_LOGISTIC_OPTIONS_INPUT_LEFT_SHIFT 1
#define MFB_LOGISTIC_OPTIONS_INPUT_LEFT_SHIFT_DEFAULT 0
#define MFB_OPERATOR_OPCODE 0
#define MFB_OPERATOR_OPCODE_DEFAULT 0
#define MFB_OPERATOR_INPUTS 1
#define MFB_OPERATOR_OUTPUTS 2
#define MFB_OPERATOR_OPTIONS 4
#define MFB_MEMORY_PLAN_ARENA_BYTES 0
#define MFB_MEMORY_PLAN_ARENA_BYTES_DEFAULT 0
#define MFB_MEMORY_PLAN_TENSOR_OFFSETS 1
#define MFB_MEMORY_PLAN_SCRATCH_OFFSETS 2
#define MFB_METADATA_ROUNDING_MODE 0
#define MFB_METADATA_ROUNDING_MODE_DEFAULT 0
#define MFB_METADATA_PRODUCER 1
#define MFB_METADATA_SOURCE_SHA256 2
#define MFB_MODEL_TENSORS 0
#define MFB_MODEL_OPERATORS 1
#define MFB_MODEL_INPUTS 2
#define MFB_MODEL_OUTPUTS 3
#define MFB_MODEL_BUFFER_OFFSETS 4
#define MFB_MODEL_BUFFER_SIZES 5
#define MFB_MODEL_PLAN 6
#define MFB_MODEL_METADATA 7

#ifdef MFB_SCHEMA_DESCRIPTORS
static const mfb_field_desc mfb_fields_WeightEncoding[] = {
    {MFB_KIND_SCALAR, 0, 1, 0, 0}, /* value_bits */
    {MFB_KIND_VECTOR_SCALAR, 1, 1, 0, 0}, /* codebook */
    {MFB_KIND_SCALAR, 2, 1, 0, 0}, /* codebook_per_channel */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* axis */
    {MFB_KIND_SCALAR, 4, 1, 0, 0}, /* position_bits */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* entries */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* positions_buffer */
};
static const mfb_field_desc mfb_fields_Tensor[] = {
    {MFB_KIND_STRING, 0, 4, 0, 0}, /* name */
    {MFB_KIND_ENUM, 1, 1, 0, 4}, /* dtype */
    {MFB_KIND_VECTOR_SCALAR, 2, 4, 0, 0}, /* shape */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* scale */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* zero_point */
    {MFB_KIND_VECTOR_SCALAR, 5, 4, 0, 0}, /* channel_scales */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* quantized_axis */
    {MFB_KIND_SCALAR, 7, 4, 0, 0}, /* buffer */
    {MFB_KIND_TABLE, 8, 4, 0, 0}, /* encoding */
    {MFB_KIND_SCALAR, 9, 1, 0, 0}, /* variable */
};
static const mfb_field_desc mfb_fields_Conv2DOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* stride_h */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* stride_w */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* dilation_h */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* dilation_w */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* pad_top */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* pad_left */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* groups */
    {MFB_KIND_SCALAR, 7, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 8, 4, 0, 0}, /* act_max */
    {MFB_KIND_VECTOR_SCALAR, 9, 4, 0, 0}, /* output_mult */
    {MFB_KIND_VECTOR_SCALAR, 10, 1, 0, 0}, /* output_shift */
};
static const mfb_field_desc mfb_fields_DepthwiseConv2DOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* stride_h */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* stride_w */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* dilation_h */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* dilation_w */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* pad_top */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* pad_left */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* depth_multiplier */
    {MFB_KIND_SCALAR, 7, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 8, 4, 0, 0}, /* act_max */
    {MFB_KIND_VECTOR_SCALAR, 9, 4, 0, 0}, /* output_mult */
    {MFB_KIND_VECTOR_SCALAR, 10, 1, 0, 0}, /* output_shift */
};
static const mfb_field_desc mfb_fields_FullyConnectedOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* act_max */
    {MFB_KIND_VECTOR_SCALAR, 2, 4, 0, 0}, /* output_mult */
    {MFB_KIND_VECTOR_SCALAR, 3, 1, 0, 0}, /* output_shift */
    {MFB_KIND_SCALAR, 4, 1, 0, 0}, /* single_rounding */
};
static const mfb_field_desc mfb_fields_AddOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* left_shift */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* input1_mult */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* input1_shift */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* input2_mult */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* input2_shift */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* output_mult */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* output_shift */
    {MFB_KIND_SCALAR, 7, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 8, 4, 0, 0}, /* act_max */
};
static const mfb_field_desc mfb_fields_MulOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* output_mult */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* output_shift */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* act_max */
};
static const mfb_field_desc mfb_fields_SquaredDifferenceOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* left_shift */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* input1_mult */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* input1_shift */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* input2_mult */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* input2_shift */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* output_mult */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* output_shift */
};
static const mfb_field_desc mfb_fields_TransposeOptions[] = {
    {MFB_KIND_VECTOR_SCALAR, 0, 4, 0, 0}, /* perm */
};
static const mfb_field_desc mfb_fields_BatchMatMulOptions[] = {
    {MFB_KIND_SCALAR, 0, 1, 0, 0}, /* adj_x */
    {MFB_KIND_SCALAR, 1, 1, 0, 0}, /* adj_y */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* output_mult */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* output_shift */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* act_max */
};
static const mfb_field_desc mfb_fields_TransposeConvOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* stride_h */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* stride_w */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* pad_top */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* pad_left */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* act_max */
    {MFB_KIND_VECTOR_SCALAR, 6, 4, 0, 0}, /* output_mult */
    {MFB_KIND_VECTOR_SCALAR, 7, 1, 0, 0}, /* output_shift */
};
static const mfb_field_desc mfb_fields_ResizeOptions[] = {
    {MFB_KIND_SCALAR, 0, 1, 0, 0}, /* align_corners */
    {MFB_KIND_SCALAR, 1, 1, 0, 0}, /* half_pixel_centers */
};
static const mfb_field_desc mfb_fields_ReduceOptions[] = {
    {MFB_KIND_VECTOR_SCALAR, 0, 4, 0, 0}, /* axes */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* mult */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* shift */
};
static const mfb_field_desc mfb_fields_Pool2DOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* filter_h */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* filter_w */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* stride_h */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* stride_w */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* pad_top */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* pad_left */
    {MFB_KIND_SCALAR, 6, 4, 0, 0}, /* act_min */
    {MFB_KIND_SCALAR, 7, 4, 0, 0}, /* act_max */
};
static const mfb_field_desc mfb_fields_MeanOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* mult */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* shift */
};
static const mfb_field_desc mfb_fields_SoftmaxOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* input_beta_mult */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* input_left_shift */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* diff_min */
};
static const mfb_field_desc mfb_fields_ConcatenationOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* axis */
    {MFB_KIND_VECTOR_SCALAR, 1, 1, 0, 0}, /* requant */
    {MFB_KIND_VECTOR_SCALAR, 2, 4, 0, 0}, /* input_mult */
    {MFB_KIND_VECTOR_SCALAR, 3, 1, 0, 0}, /* input_shift */
};
static const mfb_field_desc mfb_fields_PadOptions[] = {
    {MFB_KIND_VECTOR_SCALAR, 0, 4, 0, 0}, /* pad_before */
    {MFB_KIND_VECTOR_SCALAR, 1, 4, 0, 0}, /* pad_after */
};
static const mfb_field_desc mfb_fields_StridedSliceOptions[] = {
    {MFB_KIND_VECTOR_SCALAR, 0, 4, 0, 0}, /* begin */
    {MFB_KIND_VECTOR_SCALAR, 1, 4, 0, 0}, /* strides */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* shrink_axis_mask */
};
static const mfb_field_desc mfb_fields_GatherOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* axis */
};
static const mfb_field_desc mfb_fields_LstmOptions[] = {
    {MFB_KIND_VECTOR_SCALAR, 0, 4, 0, 0}, /* gate_mult */
    {MFB_KIND_VECTOR_SCALAR, 1, 1, 0, 0}, /* gate_shift */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* hidden_mult */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* hidden_shift */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* cell_exponent */
    {MFB_KIND_SCALAR, 5, 4, 0, 0}, /* cell_clip */
};
static const mfb_field_desc mfb_fields_SvdfOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* rank */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* state_mult */
    {MFB_KIND_SCALAR, 2, 4, 0, 0}, /* state_shift */
    {MFB_KIND_SCALAR, 3, 4, 0, 0}, /* output_mult */
    {MFB_KIND_SCALAR, 4, 4, 0, 0}, /* output_shift */
};
static const mfb_field_desc mfb_fields_RequantizeOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* mult */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* shift */
};
static const mfb_field_desc mfb_fields_LogisticOptions[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* input_multiplier */
    {MFB_KIND_SCALAR, 1, 4, 0, 0}, /* input_left_shift */
};
static const mfb_field_desc mfb_fields_Operator[] = {
    {MFB_KIND_ENUM, 0, 1, 0, 45}, /* opcode */
    {MFB_KIND_VECTOR_SCALAR, 1, 4, 0, 0}, /* inputs */
    {MFB_KIND_VECTOR_SCALAR, 2, 4, 0, 0}, /* outputs */
    {MFB_KIND_UNION, 4, 4, 0, 0}, /* options */
};
static const mfb_field_desc mfb_fields_MemoryPlan[] = {
    {MFB_KIND_SCALAR, 0, 4, 0, 0}, /* arena_bytes */
    {MFB_KIND_VECTOR_SCALAR, 1, 4, 0, 0}, /* tensor_offsets */
    {MFB_KIND_VECTOR_SCALAR, 2, 4, 0, 0}, /* scratch_offsets */
};
static const mfb_field_desc mfb_fields_Metadata[] = {
    {MFB_KIND_ENUM, 0, 1, 0, 0}, /* rounding_mode */
    {MFB_KIND_STRING, 1, 4, 0, 0}, /* producer */
    {MFB_KIND_VECTOR_SCALAR, 2, 1, 0, 0}, /* source_sha256 */
};
static const mfb_field_desc mfb_fields_Model[] = {
    {MFB_KIND_VECTOR_TABLE, 0, 4, 1, 0}, /* tensors */
    {MFB_KIND_VECTOR_TABLE, 1, 4, 24, 0}, /* operators */
    {MFB_KIND_VECTOR_SCALAR, 2, 4, 0, 0}, /* inputs */
    {MFB_KIND_VECTOR_SCALAR, 3, 4, 0, 0}, /* outputs */
    {MFB_KIND_VECTOR_SCALAR, 4, 4, 0, 0}, /* buffer_offsets */
    {MFB_KIND_VECTOR_SCALAR, 5, 4, 0, 0}, /* buffer_sizes */
    {MFB_KIND_TABLE, 6, 4, 25, 0}, /* plan */
    {MFB_KIND_TABLE, 7, 4, 26, 0}, /* metadata */
};
static const mfb_table_desc mfb_tables[MFB_TABLE_COUNT] = {
    {mfb_fields_WeightEncoding, 7},
    {mfb_fields_Tensor, 10},
    {mfb_fields_Conv2DOptions, 11},
    {mfb_fields_DepthwiseConv2DOptions, 11},
    {mfb_fields_FullyConnectedOptions, 5},
    {mfb_fields_AddOptions, 9},
    {mfb_fields_MulOptions, 4},
    {mfb_fields_SquaredDifferenceOptions, 7},
    {mfb_fields_TransposeOptions, 1},
    {mfb_fields_BatchMatMulOptions, 6},
    {mfb_fields_TransposeConvOptions, 8},
    {mfb_fields_ResizeOptions, 2},
    {mfb_fields_ReduceOptions, 3},
    {mfb_fields_Pool2DOptions, 8},
    {mfb_fields_MeanOptions, 2},
    {mfb_fields_SoftmaxOptions, 3},
    {mfb_fields_ConcatenationOptions, 4},
    {mfb_fields_PadOptions, 2},
    {mfb_fields_StridedSliceOptions, 3},
    {mfb_fields_GatherOptions, 1},
    {mfb_fields_LstmOptions, 6},
    {mfb_fields_SvdfOptions, 5},
    {mfb_fields_RequantizeOptions, 2},
    {mfb_fields_LogisticOptions, 2},
    {mfb_fields_Operator, 4},
    {mfb_fields_MemoryPlan, 3},
    {mfb_fields_Metadata, 3},
    {mfb_fields_Model, 8},
};
static const uint8_t mfb_members_OpOptions[] = {MFB_TABLE_CONV2D_OPTIONS, MFB_TABLE_DEPTHWISE_CONV2D_OPTIONS, MFB_TABLE_FULLY_CONNECTED_OPTIONS, MFB_TABLE_ADD_OPTIONS, MFB_TABLE_MUL_OPTIONS, MFB_TABLE_POOL2D_OPTIONS, MFB_TABLE_MEAN_OPTIONS, MFB_TABLE_SOFTMAX_OPTIONS, MFB_TABLE_CONCATENATION_OPTIONS, MFB_TABLE_PAD_OPTIONS, MFB_TABLE_SQUARED_DIFFERENCE_OPTIONS, MFB_TABLE_TRANSPOSE_OPTIONS, MFB_TABLE_BATCH_MAT_MUL_OPTIONS, MFB_TABLE_TRANSPOSE_CONV_OPTIONS, MFB_TABLE_RESIZE_OPTIONS, MFB_TABLE_REDUCE_OPTIONS, MFB_TABLE_STRIDED_SLICE_OPTIONS, MFB_TABLE_GATHER_OPTIONS, MFB_TABLE_REQUANTIZE_OPTIONS, MFB_TABLE_LSTM_OPTIONS, MFB_TABLE_SVDF_OPTIONS, MFB_TABLE_LOGISTIC_OPTIONS};
static const mfb_union_desc mfb_unions[1] = {
    {mfb_members_OpOptions, 22},
};
#endif /* MFB_SCHEMA_DESCRIPTORS */

#endif /* MFB_SCHEMA_H */
