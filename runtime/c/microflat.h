/*
 * microflat's C runtime: load, verify and run a .mfb model with no heap.
 *
 * The twin of the Python runtime (runtime/loader.py, ops.py, interpreter.py):
 * it accepts exactly the files the Python verifier accepts, makes every check
 * it makes, and runs every op and weight encoding through the same kernels
 * (the C files of kernels/), so both give the same bytes.
 *
 *     static uint8_t arena[MODEL_ARENA_BYTES] __attribute__((aligned(16)));
 *     mf_model model;
 *     mf_error error;
 *     if (mf_model_load(&model, model_mfb, sizeof model_mfb, arena, sizeof arena, &error) != MF_OK) {
 *         ... error.status, error.offset and error.message say what is wrong ...
 *     }
 *     memcpy(mf_input(&model, 0), sample, mf_input_bytes(&model, 0));
 *     mf_invoke(&model);
 *     const int8_t *scores = mf_output(&model, 0);
 *
 * Memory. The caller owns everything: the file (read in place, never
 * written; 16-byte aligned, since constants are read as int32 arrays) and
 * one arena (16-byte aligned). The arena holds the activations and scratch
 * at the offsets of the file's memory plan, so it needs the plan's
 * arena_bytes; while loading it also serves as the verifier's workspace
 * (26 bytes and a bit a tensor, 40 an operator). mf_arena_bytes reports the larger
 * of the two, and only for a file it has verified: it makes every check
 * mf_model_load makes but the last (no two buffers alive at the same time
 * overlap, which needs the arena as workspace), so the number it gives is
 * the verified plan's (whose arena_bytes must be exactly where its last
 * buffer ends), never one a damaged file claims. Nothing is
 * allocated, no libc beyond memcpy and memset is called, and nothing aborts:
 * every failure is a status code.
 *
 * Operators. By default the runtime holds every operator. A firmware that runs known models can hold only
 * theirs, as TensorFlow Lite Micro's MicroMutableOpResolver lets it: built with -DMF_OPS_SELECTED, the runtime
 * includes mf_ops_used.h (from the include path), which defines MF_OP_ENABLE_<NAME> for each operator to keep,
 * <NAME> as runtime/schema.fbs's OpCode spells it; `microflat export-c` writes the one of its model. The other
 * operators' code is not compiled in, and with -ffunction-sections -fdata-sections -Wl,--gc-sections the kernels
 * only they call are not linked. mf_model_load refuses a model that uses one: MF_ERROR_OPERATOR_NOT_BUILT.
 *
 * Integer only, except QUANTIZE and DEQUANTIZE, the float32 boundary ops.
 * Little-endian targets (every ARM Cortex-M and aarch64 Linux board).
 */
#ifndef MICROFLAT_H
#define MICROFLAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-begin: the declarations below are also read by kernels/_build_native.py */
typedef enum {
    MF_OK = 0,
    MF_ERROR_ARGUMENT = 1,        /* a NULL pointer, a misaligned file or arena, an index out of range */
    MF_ERROR_HEADER = 2,          /* the 32-byte header: identifier, version, sizes */
    MF_ERROR_FLATBUFFER = 3,      /* the flatbuffer's structure: offsets, vtables, vectors, strings, enums */
    MF_ERROR_MODEL = 4,           /* buffers, inputs and outputs, metadata, the graph's order */
    MF_ERROR_TENSOR = 5,          /* a tensor's shape, dtype, quantization or data */
    MF_ERROR_ENCODING = 6,        /* a compressed weight's streams */
    MF_ERROR_OPERATOR = 7,        /* an operator's inputs, outputs or options */
    MF_ERROR_PLAN = 8,            /* the memory plan */
    MF_ERROR_ARENA_TOO_SMALL = 9, /* the arena given is smaller than mf_arena_bytes */
    MF_ERROR_NOT_LOADED = 10,     /* mf_invoke on a model mf_model_load did not accept */
    MF_ERROR_INPUT = 11,          /* an input's value is outside what the model accepts, found at invoke: a GATHER
                                     index outside its table */
    MF_ERROR_OPERATOR_NOT_BUILT = 12 /* the model uses an operator this build leaves out (MF_OPS_SELECTED); the
                                        error's index is the operator, its offset the operator's opcode */
} mf_status;

typedef struct {
    mf_status status;
    uint32_t offset;     /* byte offset in the file of the offending field (or its table) */
    int32_t index;       /* the tensor or operator concerned, -1 when none */
    const char *message; /* a static string saying what is wrong */
} mf_error;

/* Positions are byte offsets into the file. Read it only through the functions below. */
typedef struct {
    const uint8_t *file;
    uint8_t *arena;
    uint32_t file_bytes;
    uint32_t arena_bytes;     /* the plan's: what the activations and scratch use */
    uint32_t segment;         /* start of the constant segment */
    uint32_t tensors;         /* vector of Tensor tables */
    uint32_t operators;       /* vector of Operator tables (0: none) */
    uint32_t inputs;          /* vector of int */
    uint32_t outputs;
    uint32_t buffer_offsets;  /* vectors of uint */
    uint32_t buffer_sizes;
    uint32_t tensor_offsets;  /* the plan's vectors of int */
    uint32_t scratch_offsets;
    uint32_t n_tensors;
    uint32_t n_operators;
    uint32_t loaded;          /* 1 once mf_model_load accepted the file */
} mf_model;

/* Verify the file (all of mf_model_load's checks but the plan's overlaps) and give the arena it needs: MF_OK and
 * *arena_bytes, or the refusal mf_model_load would give (the same status, offset and index). */
mf_status mf_arena_bytes(const uint8_t *file, uint32_t file_bytes, uint32_t *arena_bytes, mf_error *error);
mf_status mf_model_load(mf_model *model, const uint8_t *file, uint32_t file_bytes, uint8_t *arena,
                        uint32_t arena_bytes, mf_error *error);
/* Run every operator in order (or operator `op` alone). An operator that refuses its inputs' values (a GATHER
 * index outside its table) writes nothing; mf_invoke stops there and returns MF_ERROR_INPUT. */
mf_status mf_invoke(const mf_model *model);
mf_status mf_invoke_operator(const mf_model *model, uint32_t op);
/* Every variable (Tensor.variable: the state a streaming model keeps across invokes) back to real 0: its zero
 * point, or 0. mf_model_load does it; mf_invoke never does. MF_ERROR_NOT_LOADED before a load. */
mf_status mf_reset_state(const mf_model *model);

uint32_t mf_input_count(const mf_model *model);
uint32_t mf_output_count(const mf_model *model);
int32_t mf_input_tensor(const mf_model *model, uint32_t i);
int32_t mf_output_tensor(const mf_model *model, uint32_t i);
void *mf_input(const mf_model *model, uint32_t i);
void *mf_output(const mf_model *model, uint32_t i);
uint32_t mf_input_bytes(const mf_model *model, uint32_t i);
uint32_t mf_output_bytes(const mf_model *model, uint32_t i);
void *mf_tensor_data(const mf_model *model, uint32_t tensor);
uint32_t mf_tensor_bytes(const mf_model *model, uint32_t tensor);
/* The kernels' inner loops this build runs: "portable", "dsp" or "dotprod" (kernels/kernel_paths.h). */
const char *mf_kernel_path(void);
/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif /* MICROFLAT_H */
