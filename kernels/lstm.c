/*
 * TFLite's integer UNIDIRECTIONAL_SEQUENCE_LSTM (8x8_16; no peephole, projection, layer norm or CIFG) on one
 * time-major sequence: the C twin of lstm.py, whose docstring derives the arithmetic, the accumulator bound
 * and the layout, and of its fixed-point functions (fixed_point16.h). Same argument order, same bytes.
 *
 * Cell by cell, as the Numba kernel: the four gates' Q3.12 pre-activations (two int32 matmul rows each,
 * requantized and summed with int16 saturation), the Q0.15 activations, the cell update, the hidden
 * product; each new h value goes into the step's output row, which becomes hidden_state when the step ends
 * (no cell reads another cell's new values, so this is TFLite's result; no scratch).
 *
 * A cell's four gate rows of each matrix lie C I (input) and C C (recurrent) bytes apart and share its
 * vector, x or h, so their eight dot products are two calls of the target's MF_ROW_DOTS_S8_X4
 * (kernel_paths.h: on a Cortex-M with the DSP extension SMLAD, two MACs an instruction), which reads the
 * int8 vectors in place; the Numba kernel takes the same products one gate at a time. Integer sums do not
 * depend on the order of their terms while no partial sum overflows (below), so both give the same values.
 */
#include "fixed_point16.h"
#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"

/*
 * The four gates' (i, f, c, o) Q3.12 pre-activations of cell `cell`, into pre[0..3]: gate G's
 * sat16(MBQM(bh + h . W_h, mult_h, shift_h) + sat16(MBQM(bx + x . W_x, mult_x, shift_x))).
 * By the caller's bound ((|bias| + 128 sum|w|) 2^max(shift, 0) <= 2^31 - 1 - 2^15) every partial sum of the
 * int32 accumulators is exact (row_dots_s8.h), multiply_by_quantized_multiplier's left shift cannot
 * saturate, and its result plus an int16 gate value stays in int32.
 */
static void lstm_gate_preactivations(int32_t cell, int32_t input_size, int32_t cell_size, const int32_t *gate_mult,
                                     const int8_t *gate_shift, const int8_t *x, const int8_t *input_weights,
                                     const int8_t *recurrent_weights, const int32_t *input_bias,
                                     const int32_t *recurrent_bias, const int8_t *hidden_state, int32_t pre[4])
{
    int32_t from_input[4], from_state[4];
    for (int32_t gate = 0; gate < 4; ++gate) {
        from_input[gate] = input_bias[gate * cell_size + cell];
        from_state[gate] = recurrent_bias[gate * cell_size + cell];
    }
    /* gate G's row of cell r: W_x at (G C + r) I, W_h at (G C + r) C */
    MF_ROW_DOTS_S8_X4(from_input, x, input_weights + (ptrdiff_t)cell * input_size,
                      (ptrdiff_t)cell_size * input_size, input_size);
    MF_ROW_DOTS_S8_X4(from_state, hidden_state, recurrent_weights + (ptrdiff_t)cell * cell_size,
                      (ptrdiff_t)cell_size * cell_size, cell_size);
    for (int32_t gate = 0; gate < 4; ++gate) {
        const int32_t g =
            saturate_int16(multiply_by_quantized_multiplier(from_input[gate], gate_mult[gate], gate_shift[gate]));
        pre[gate] = saturate_int16(
            multiply_by_quantized_multiplier(from_state[gate], gate_mult[4 + gate], gate_shift[4 + gate]) + g);
    }
}

void mf_lstm_8x8_16(int32_t steps, int32_t input_size, int32_t cell_size,
                    const int32_t *gate_mult, const int8_t *gate_shift,
                    int32_t hidden_mult, int32_t hidden_shift, int32_t hidden_zp,
                    int32_t cell_exponent, int32_t cell_clip,
                    const int8_t *input, const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *input_bias, const int32_t *recurrent_bias,
                    int8_t *hidden_state, int16_t *cell_state, int8_t *output)
{
    const int32_t cell_integer_bits = 15 + cell_exponent;    /* in [0, 6] */
    const int32_t cell_gate_exponent = 30 + cell_exponent;   /* in [15, 21] */
    for (int32_t t = 0; t < steps; ++t) {
        const int8_t *x = input + (int64_t)t * input_size;
        int8_t *out = output + (int64_t)t * cell_size;
        for (int32_t r = 0; r < cell_size; ++r) {
            int32_t pre[4]; /* i, f, c, o */
            lstm_gate_preactivations(r, input_size, cell_size, gate_mult, gate_shift, x, input_weights,
                                     recurrent_weights, input_bias, recurrent_bias, hidden_state, pre);
            const int32_t input_gate = logistic_fixed16(pre[0], 3);
            const int32_t forget_gate = logistic_fixed16(pre[1], 3);
            const int32_t cell_gate = tanh_fixed16(pre[2], 3);
            /* f in [0, 32767], c in int16: |f c| <= 32767 * 32768 < 2^30, and the quotient by 2^15 fits int16;
             * i in [0, 32767], g in [-32767, 32767]: |i g| < 2^30, by 2^(30 + p) >= 2^15 also in int16 */
            const int32_t kept = rounding_divide_by_pot(forget_gate * cell_state[r], 15);
            const int32_t added = rounding_divide_by_pot(input_gate * cell_gate, cell_gate_exponent);
            int32_t c = saturate_int16(kept + added);
            if (cell_clip > 0) {
                c = c > cell_clip ? cell_clip : (c < -cell_clip ? -cell_clip : c);
            }
            cell_state[r] = (int16_t)c;
            const int32_t output_gate = logistic_fixed16(pre[3], 3);
            /* o in [0, 32767], tanh in [-32767, 32767]: |o tanh(c)| < 2^30; hidden_shift <= 0: no left shift,
             * and the result (below 2^30 in magnitude) plus an int8 zero point stays in int32 */
            const int32_t product = output_gate * tanh_fixed16(c, cell_integer_bits);
            const int32_t h = multiply_by_quantized_multiplier(product, hidden_mult, hidden_shift) + hidden_zp;
            out[r] = (int8_t)(h < -128 ? -128 : (h > 127 ? 127 : h));
        }
        for (int32_t r = 0; r < cell_size; ++r) { /* the new h, the next step's recurrent input */
            hidden_state[r] = out[r];
        }
    }
}
