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
 */
#include "activations_s16.h"
#include "microflat_kernels.h"
#include "numerics.h"

static inline int32_t lstm_16x8_saturate_int16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/*
 * Gate `gate`'s (0..3: i, f, c, o) pre-activation of cell `cell`:
 * sat16(RQ64(bias + x . W_x, mult_x, shift_x) + RQ64(h . W_h, mult_h, shift_h)).
 * |x|, |h| <= 2^15 and |w| <= 127: each product is below 2^22 in magnitude (int32), and by the caller's bound
 * (|bias| + 2^15 sum|w| <= 2^47 - 1) every partial sum of the int64 accumulators is exact and inside
 * multiply_by_quantized_multiplier_int64's domain. The two requantized values are int16: their sum is exact.
 */
static int32_t lstm_16x8_gate(int32_t gate, int32_t cell, int32_t input_size, int32_t cell_size,
                              const int32_t *gate_mult, const int8_t *gate_shift, const int16_t *x,
                              const int8_t *input_weights, const int8_t *recurrent_weights, const int64_t *bias,
                              const int16_t *hidden_state)
{
    const int32_t row = gate * cell_size + cell;
    const int8_t *wx = input_weights + (int64_t)row * input_size;
    int64_t acc = bias[row];
    for (int32_t k = 0; k < input_size; ++k) {
        acc += (int32_t)x[k] * wx[k];
    }
    const int32_t from_input = requantize_int64(acc, gate_mult[gate], gate_shift[gate], -32768, 32767);
    const int8_t *wh = recurrent_weights + (int64_t)row * cell_size;
    acc = 0;
    for (int32_t k = 0; k < cell_size; ++k) {
        acc += (int32_t)hidden_state[k] * wh[k];
    }
    const int32_t from_state = requantize_int64(acc, gate_mult[4 + gate], gate_shift[4 + gate], -32768, 32767);
    return lstm_16x8_saturate_int16(from_input + from_state);
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
            const int32_t forget_gate = mf_logistic_s16_element(
                (int16_t)lstm_16x8_gate(1, r, input_size, cell_size, gate_mult, gate_shift, x, input_weights,
                                        recurrent_weights, bias, hidden_state), 0, 0);
            const int32_t input_gate = mf_logistic_s16_element(
                (int16_t)lstm_16x8_gate(0, r, input_size, cell_size, gate_mult, gate_shift, x, input_weights,
                                        recurrent_weights, bias, hidden_state), 0, 0);
            const int32_t cell_gate = mf_tanh_s16_element(
                (int16_t)lstm_16x8_gate(2, r, input_size, cell_size, gate_mult, gate_shift, x, input_weights,
                                        recurrent_weights, bias, hidden_state), 0, 0);
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
            const int32_t output_gate = mf_logistic_s16_element(
                (int16_t)lstm_16x8_gate(3, r, input_size, cell_size, gate_mult, gate_shift, x, input_weights,
                                        recurrent_weights, bias, hidden_state), 0, 0);
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
