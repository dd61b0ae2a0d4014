/*
 * TensorFlow Lite Micro's integer UNIDIRECTIONAL_SEQUENCE_LSTM, 16x8 form (int16 input and hidden state with zero
 * point 0, int8 symmetric weights, int64 gate biases, int16 cell state at 2^p; no peephole, projection, layer norm
 * or CIFG) on one time-major sequence: the C twin of lstm_16x8.py, whose docstring derives the arithmetic, the bounds
 * and the layout. Same argument order, same bytes.
 *
 * Cell by cell, as the Numba kernel: the four gates' Q3.12 pre-activations (an int64 input FC with bias and an
 * int64 recurrent FC without, each rescaled by requantize_int64 to int16, summed with int16 saturation), their
 * Q0.15 LUT activations (activations_s16.h), the cell update and the hidden product (TFLM's MulElementwise:
 * multiply_by_quantized_multiplier, then the int16 clamp); each new h value goes into the step's output row, which
 * becomes hidden_state when the step ends (no cell reads another cell's new values, so this is TFLM's result).
 *
 * A cell's four gate rows of each matrix share its vector, x or h: their dot products are taken two gates at a
 * time, (i, f) and (c, o), by the target's MF_ROW_DOTS_S16_X2 (kernel_paths.h: on a Cortex-M with the DSP
 * extension SMLALD, two MACs an instruction, the 16x8 FC's loop), in place, no scratch; the Numba kernel takes
 * the same products one gate at a time. The int64 sums are exact and so do not depend on the order of their
 * terms (below), so both give the same values.
 */
#include "activations_s16.h"
#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"

static inline int32_t lstm_16x8_saturate_int16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/*
 * The four gates' (i, f, c, o) Q3.12 pre-activations of cell `cell`, into pre[0..3]: gate G's
 * sat16(RQ64(bias + x . W_x, mult_x, shift_x) + RQ64(h . W_h, mult_h, shift_h)).
 * |x|, |h| <= 2^15 and |w| <= 127: each product is below 2^22 in magnitude (int32), and by the caller's bound
 * (|bias| + 2^15 sum|w| <= 2^47 - 1) every partial sum of the int64 accumulators is exact (row_dots_s16.h) and
 * inside multiply_by_quantized_multiplier_int64's domain. The two requantized values are int16: their sum is exact.
 */
static void lstm_16x8_gates(int32_t cell, int32_t input_size, int32_t cell_size, const int32_t *gate_mult,
                            const int8_t *gate_shift, const int16_t *x, const int8_t *input_weights,
                            const int8_t *recurrent_weights, const int64_t *bias, const int16_t *hidden_state,
                            int32_t pre[4])
{
    /* gate G's row of cell r: W_x at (G C + r) I, W_h at (G C + r) C */
    const ptrdiff_t input_step = (ptrdiff_t)cell_size * input_size, state_step = (ptrdiff_t)cell_size * cell_size;
    const int8_t *wx = input_weights + (ptrdiff_t)cell * input_size;
    const int8_t *wh = recurrent_weights + (ptrdiff_t)cell * cell_size;
    int64_t from_input[4], from_state[4] = {0, 0, 0, 0}; /* the recurrent FCs have no bias */
    for (int32_t gate = 0; gate < 4; ++gate) {
        from_input[gate] = bias[gate * cell_size + cell];
    }
    for (int32_t gate = 0; gate < 4; gate += 2) { /* (i, f), then (c, o) */
        MF_ROW_DOTS_S16_X2(&from_input[gate], &from_input[gate + 1], x, wx + gate * input_step,
                           wx + (gate + 1) * input_step, input_size);
        MF_ROW_DOTS_S16_X2(&from_state[gate], &from_state[gate + 1], hidden_state, wh + gate * state_step,
                           wh + (gate + 1) * state_step, cell_size);
    }
    for (int32_t gate = 0; gate < 4; ++gate) {
        const int32_t a = requantize_int64(from_input[gate], gate_mult[gate], gate_shift[gate], -32768, 32767);
        const int32_t b = requantize_int64(from_state[gate], gate_mult[4 + gate], gate_shift[4 + gate], -32768, 32767);
        pre[gate] = lstm_16x8_saturate_int16(a + b);
    }
}

void mf_lstm_16x8(int32_t steps, int32_t input_size, int32_t cell_size,
                  const int32_t *gate_mult, const int8_t *gate_shift,
                  int32_t forget_mult, int32_t forget_shift, int32_t input_mult, int32_t input_shift,
                  int32_t hidden_mult, int32_t hidden_shift,
                  int32_t cell_exponent, int32_t cell_clip,
                  const int16_t *input, const int8_t *input_weights, const int8_t *recurrent_weights,
                  const int64_t *bias,
                  int16_t *hidden_state, int16_t *cell_state, int16_t *output)
{
    /* TFLM's tanh of the cell: left shift (15 + p) - 3 in [-17, 14] for p in [-29, 2]; at or above 0 the LUT's
     * power-of-two path (multiplier 0: 3 << shift), below 0 multiplier 3 and right shift -shift */
    int32_t tanh_shift = 12 + cell_exponent;
    int32_t tanh_mult = 0;
    if (tanh_shift < 0) {
        tanh_mult = 3;
        tanh_shift = -tanh_shift;
    }
    for (int32_t t = 0; t < steps; ++t) {
        const int16_t *x = input + (int64_t)t * input_size;
        int16_t *out = output + (int64_t)t * cell_size;
        for (int32_t r = 0; r < cell_size; ++r) {
            int32_t pre[4]; /* i, f, c, o */
            lstm_16x8_gates(r, input_size, cell_size, gate_mult, gate_shift, x, input_weights, recurrent_weights,
                            bias, hidden_state, pre);
            const int32_t forget_gate = mf_logistic_s16_element((int16_t)pre[1], 0, 0);
            const int32_t input_gate = mf_logistic_s16_element((int16_t)pre[0], 0, 0);
            const int32_t cell_gate = mf_tanh_s16_element((int16_t)pre[2], 0, 0);
            /* f in [0, 32767], c in int16: |f c| <= 32767 * 32768 < 2^30; i in [0, 32767], g in [-32767, 32767]:
             * |i g| < 2^30. Shifts <= 0: no left shift, and each result is below 2^30 in magnitude, so the
             * clamps and the sum of two int16 values are exact in int32 */
            const int32_t kept =
                lstm_16x8_saturate_int16(multiply_by_quantized_multiplier(forget_gate * cell_state[r], forget_mult,
                                                                          forget_shift));
            const int32_t added =
                lstm_16x8_saturate_int16(multiply_by_quantized_multiplier(input_gate * cell_gate, input_mult,
                                                                          input_shift));
            int32_t c = lstm_16x8_saturate_int16(kept + added);
            if (cell_clip > 0) {
                c = c > cell_clip ? cell_clip : (c < -cell_clip ? -cell_clip : c);
            }
            cell_state[r] = (int16_t)c;
            const int32_t output_gate = mf_logistic_s16_element((int16_t)pre[3], 0, 0);
            /* o in [0, 32767], tanh in [-32767, 32767]: |tanh(c) o| < 2^30; hidden_shift <= 0: no left shift */
            const int32_t product = mf_tanh_s16_element((int16_t)c, tanh_mult, tanh_shift) * output_gate;
            out[r] = (int16_t)lstm_16x8_saturate_int16(
                multiply_by_quantized_multiplier(product, hidden_mult, hidden_shift));
        }
        for (int32_t r = 0; r < cell_size; ++r) { /* the new h, the next step's recurrent input */
            hidden_state[r] = out[r];
        }
    }
}
