/*
 * What the C runtime's files share: a tensor as the verifier and the
 * interpreter see it, and the per-operator entry points (mfb_ops.c).
 */
#ifndef MFB_INTERNAL_H
#define MFB_INTERNAL_H

#include <stdint.h>

#include "mfb_reader.h"
#include "microflat.h"

#define MF_MAX_RANK 6
#define MF_MAX_TENSORS 4096     /* format.MAX_TENSORS and MAX_OPERATORS: mf_verify refuses longer vectors of tables */
#define MF_MAX_BYTES 2147483647u /* MAX_TENSOR_BYTES and MAX_ARENA_BYTES: int32 indexing in the kernels */
#define MF_ALIGNMENT 16u         /* constant buffers, the segment, every arena offset */
#define MF_NONE (-1)

/* A tensor table, decoded. Valid once the loader has checked the tensor (tensor_check in mfb_model.c). */
typedef struct {
    int32_t index;
    uint32_t table;
    uint32_t shape;      /* vector of int */
    int32_t rank;
    uint32_t dtype;      /* MFB_DTYPE_* */
    uint32_t buffer;     /* 0: an activation */
    uint32_t encoding;   /* WeightEncoding table, 0: stored dense */
    int32_t quantized;   /* 1: has a scale and zero point */
    int32_t zero_point;
    uint32_t scale_bits; /* the first scale (per tensor, or channel 0), as float32 bits */
    int64_t size;        /* elements */
    uint32_t nbytes;
} mf_tensor;

/* What an operator's check reports, and the loader's plan check needs. */
typedef struct {
    uint64_t scratch_bytes;
    uint32_t in_place;   /* bit i: the output may reuse input i's buffer (memory_plan.alias_groups) */
    int64_t overlap_bytes; /* > 0: the output may start this many bytes or more below input 0 (memory_plan.py) */
    int32_t overlap_step;  /* ... at a distance that is a multiple of this */
} mf_op_info;

void mf_tensor_read(const mf_model *m, uint32_t i, mf_tensor *t);
int32_t mf_dim(const mf_model *m, const mf_tensor *t, int32_t d);
const uint8_t *mf_const_data(const mf_model *m, uint32_t buffer);
uint32_t mf_buffer_bytes(const mf_model *m, uint32_t buffer);

/* Check operator k (ops.py's check_*), given checked tensors. */
mf_status mf_check_operator(const mf_model *m, uint32_t k, mf_op_info *info, mf_error *error);
/* Run operator k of a loaded model (ops.py's prepare_* and the interpreter's step): MF_OK, or MF_ERROR_INPUT
 * when an input's value is refused at run time (a GATHER index outside its table; nothing is written). */
mf_status mf_run_operator(const mf_model *m, uint32_t k);

#endif /* MFB_INTERNAL_H */
