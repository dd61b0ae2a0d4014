/*
 * Integer SVDF, one time step (int8 input and output, int16 state updated in place): the C twin of svdf.py,
 * whose docstring derives the arithmetic; TFLM's EvalIntegerSvdfReference, docs/RECURRENT.md §4.
 *
 * Per batch row the input is widened once into `scratch` as int16 (x - input_zp, in [-255, 255]). Ranges:
 *   feature sum  |d| <= 128 * 255 * input_size <= 2^31 - 1 for input_size <= 65793 (the caller's bound),
 *                so the int32 sum is exact;
 *   time sum     each product |wt * state| <= 2^30 fits int32, but the sum of memory_size * rank of them
 *                plus the bias does not: it is taken modulo 2^32, as TFLM's int32 additions wrap in its
 *                GCC / Clang builds. Here the sum runs in uint32_t, whose wrap is defined, and is read
 *                back as int32_t (two's complement, as GCC, Clang and arm-none-eabi-gcc convert; numerics.h
 *                relies on the same for wrapping_add). Any order of the additions gives the same residue.
 * Indices: every buffer holds fewer than 2^31 elements (the wrapper's check); row bases are int64.
 *
 * The feature matmul is the int8 fully connected layer's: the widened row is a column for the target's
 * MF_ROW_SUMS (kernel_paths.h: SMLAD on a Cortex-M with the DSP extension, as CMSIS-NN's arm_svdf_s8 takes
 * arm_nn_vec_mat_mult_t_s8; SDOT on AArch64; the portable C elsewhere), SVDF_FILTER_BLOCK filters at a time.
 * Its column values lie in [-255, 255] and its partial sums within the bound above, which is every path's
 * condition for the same exact sums.
 */
#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"

#define SVDF_FILTER_BLOCK 32 /* the feature sums held at once, on the stack */

int64_t mf_svdf_s8_scratch_bytes(int32_t input_size)
{
    return 2 * (int64_t)input_size;
}

void mf_svdf_s8(int16_t *scratch,
                int32_t batches, int32_t input_size, int32_t units, int32_t memory_size,
                int32_t rank,
                int32_t input_zp, int32_t output_zp,
                int32_t state_mult, int32_t state_shift, int32_t output_mult, int32_t output_shift,
                const int8_t *input, int16_t *state,
                const int8_t *weights_feature, const int16_t *weights_time, const int32_t *bias,
                int8_t *output)
{
    const int32_t filters = units * rank;
    const int64_t row_size = (int64_t)filters * memory_size;
    const int64_t total = (int64_t)batches * row_size;
    const mf_requant to_state = requant_prepare(state_mult, state_shift);
    const mf_requant to_output = requant_prepare(output_mult, output_shift);

    /* 1. The whole buffer moves one element toward index 0 (ascending: each value is read before it is
     * overwritten); every row's last slot is rewritten below. */
    for (int64_t k = 0; k + 1 < total; ++k) {
        state[k] = state[k + 1];
    }

    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *x = input + (int64_t)b * input_size;
        for (int32_t k = 0; k < input_size; ++k) {
            scratch[k] = (int16_t)(x[k] - input_zp); /* in [-255, 255] */
        }
        MF_COLUMN_DONE(scratch, input_size, input_zp);
        int16_t *rows = state + (int64_t)b * row_size;

        /* 2. The feature matmul into each filter's newest slot, saturated to int16. */
        for (int32_t f0 = 0; f0 < filters; f0 += SVDF_FILTER_BLOCK) {
            const int32_t f1 = filters - f0 < SVDF_FILTER_BLOCK ? filters : f0 + SVDF_FILTER_BLOCK;
            int32_t d[SVDF_FILTER_BLOCK]; /* |partial sums| <= 32640 * input_size < 2^31 */
            MF_ROW_SUMS(scratch, input_size, weights_feature, f0, f1, 0, input_zp, d);
            for (int32_t f = f0; f < f1; ++f) {
                const int32_t v = requant_apply(d[f - f0], to_state);
                rows[(int64_t)f * memory_size + memory_size - 1] =
                    (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
            }
        }

        /* 3. The time matmul over the memory, the rank reduction and the bias, modulo 2^32; 4. the output. */
        for (int32_t u = 0; u < units; ++u) {
            uint32_t acc = bias != 0 ? (uint32_t)bias[u] : 0u;
            for (int32_t f = u * rank; f < (u + 1) * rank; ++f) {
                const int16_t *s = rows + (int64_t)f * memory_size;
                const int16_t *t = weights_time + (int64_t)f * memory_size;
                for (int32_t j = 0; j < memory_size; ++j) {
                    acc += (uint32_t)((int32_t)t[j] * s[j]); /* the product: |.| <= 2^30, exact in int32 */
                }
            }
            output[(int64_t)b * units + u] = requant_output((int32_t)acc, to_output, output_zp, -128, 127);
        }
    }
}
