/*
 * Loads and stores of int8 or int16 elements, for the kernels whose loops are written once for both widths
 * (pooling.c, elementwise.c): each public kernel calls the always-inlined body with `wide` a constant, so the
 * compiler keeps one loop per width with plain byte or halfword accesses and no test per element.
 */
#ifndef MICROFLAT_ELEMENTS_H
#define MICROFLAT_ELEMENTS_H

#include <stdint.h>

#if defined(__GNUC__)
#define MF_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MF_ALWAYS_INLINE inline
#endif

/* Element i of an int8 (wide 0) or int16 (wide 1) array. */
static MF_ALWAYS_INLINE int32_t load_element(const void *p, int32_t i, int wide)
{
    return wide ? ((const int16_t *)p)[i] : ((const int8_t *)p)[i];
}

/* Element i := v, a value the caller has clamped into the element's type. */
static MF_ALWAYS_INLINE void store_element(void *p, int32_t i, int32_t v, int wide)
{
    if (wide) {
        ((int16_t *)p)[i] = (int16_t)v;
    } else {
        ((int8_t *)p)[i] = (int8_t)v;
    }
}

#endif /* MICROFLAT_ELEMENTS_H */
