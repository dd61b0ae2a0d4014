/*
 * The taps of a convolution window that fall inside the input, along one axis: shared by the direct
 * convolution loops (depthwise_conv2d.c, conv2d.c's 16x8 kernel).
 */
#ifndef MICROFLAT_VALID_TAPS_H
#define MICROFLAT_VALID_TAPS_H

#include <stdint.h>

/*
 * The taps [*lo, *hi) of a window starting at i0 (dilation d, k taps) that fall inside [0, size). Called
 * for every output pixel of every channel block: a window wholly inside (most of them) is answered by
 * two comparisons, a border window by stepping its ends inward.
 */
static inline void valid_taps(int32_t i0, int32_t d, int32_t k, int32_t size, int32_t *lo, int32_t *hi)
{
    if (i0 >= 0 && i0 + (k - 1) * d < size) {
        *lo = 0;
        *hi = k;
        return;
    }
    int32_t a = 0, b = k;
    while (a < k && i0 + a * d < 0) {
        ++a;
    }
    while (b > a && i0 + (b - 1) * d >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

#endif /* MICROFLAT_VALID_TAPS_H */
