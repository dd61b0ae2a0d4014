/* int8 and int16 strided slice, int8 gather: the C twins of slicing.py, whose docstring states the contracts. */
#include "elements.h"
#include "microflat_kernels.h"

/* The strided slice's loops, written once for int8 and int16 (elements.h). */
static MF_ALWAYS_INLINE void strided_slice(const int32_t *input_shape, const int32_t *begin, const int32_t *strides,
                                           const int32_t *output_shape, const void *input, void *output, int wide)
{
    /* Element stride of each input dimension; indices are formed only for positions that are read. */
    const int32_t e3 = input_shape[4];
    const int32_t e2 = e3 * input_shape[3];
    const int32_t e1 = e2 * input_shape[2];
    const int32_t e0 = e1 * input_shape[1];
    const int32_t n4 = output_shape[4];
    const int32_t s4 = strides[4];
    int32_t i = 0;
    for (int32_t a = 0; a < output_shape[0]; ++a) {
        const int32_t o0 = (begin[0] + a * strides[0]) * e0;
        for (int32_t b = 0; b < output_shape[1]; ++b) {
            const int32_t o1 = o0 + (begin[1] + b * strides[1]) * e1;
            for (int32_t c = 0; c < output_shape[2]; ++c) {
                const int32_t o2 = o1 + (begin[2] + c * strides[2]) * e2;
                for (int32_t d = 0; d < output_shape[3]; ++d) {
                    const int32_t base = o2 + (begin[3] + d * strides[3]) * e3 + begin[4];
                    if (s4 == 1) { /* a contiguous run */
                        for (int32_t e = 0; e < n4; ++e) {
                            store_element(output, i + e, load_element(input, base + e, wide), wide);
                        }
                    } else {
                        for (int32_t e = 0; e < n4; ++e) {
                            store_element(output, i + e, load_element(input, base + e * s4, wide), wide);
                        }
                    }
                    i += n4;
                }
            }
        }
    }
}

void mf_strided_slice_s8(const int32_t *input_shape, const int32_t *begin, const int32_t *strides,
                      const int32_t *output_shape, const int8_t *input, int8_t *output)
{
    strided_slice(input_shape, begin, strides, output_shape, input, output, 0);
}

void mf_strided_slice_s16(const int32_t *input_shape, const int32_t *begin, const int32_t *strides,
                          const int32_t *output_shape, const int16_t *input, int16_t *output)
{
    strided_slice(input_shape, begin, strides, output_shape, input, output, 1);
}

void mf_gather_s8(int32_t outer, int32_t indices_count, int32_t axis_size, int32_t inner,
               const int32_t *indices, const int8_t *params, int8_t *output)
{
    int32_t i = 0;
    for (int32_t o = 0; o < outer; ++o) {
        const int32_t row = o * axis_size;
        for (int32_t k = 0; k < indices_count; ++k) {
            const int32_t src = (row + indices[k]) * inner;
            for (int32_t e = 0; e < inner; ++e) {
                output[i + e] = params[src + e];
            }
            i += inner;
        }
    }
}
