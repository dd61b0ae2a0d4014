/*
 * What every example prints after a run, in one format the tests parse:
 *
 *   output 0 (12 bytes): 80 7f 03 ...
 *   checksum 0x811c9dc5
 *
 * The checksum is 32-bit FNV-1a over every output's bytes, in order. Lines go
 * to `put` (semihosting on Cortex-M, stdout on Linux); no printf is needed.
 */
#ifndef MICROFLAT_REPORT_H
#define MICROFLAT_REPORT_H

#include <stdint.h>

#include "microflat.h"

typedef void (*report_put)(const char *line);

static inline uint32_t report_fnv1a(uint32_t hash, const uint8_t *bytes, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        hash = (hash ^ bytes[i]) * 16777619u;
    }
    return hash;
}

/* text + the decimal digits of v; returns the end. */
static inline char *report_decimal(char *text, uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n > 0) {
        *text++ = digits[--n];
    }
    return text;
}

static inline char *report_hex(char *text, uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i) {
        *text++ = hex[(v >> (4 * i)) & 0xFu];
    }
    return text;
}

static inline char *report_text(char *text, const char *s)
{
    while (*s) {
        *text++ = *s++;
    }
    return text;
}

/* One "label value" line. */
static inline void report_value(report_put put, const char *label, uint32_t value)
{
    char line[64];
    char *p = report_decimal(report_text(line, label), value);
    *p = 0;
    put(line);
}

/* The outputs, a line each in chunks of 32 bytes, then the checksum. Returns the checksum. */
static inline uint32_t report_outputs(const mf_model *model, report_put put)
{
    uint32_t hash = 2166136261u;
    for (uint32_t i = 0; i < mf_output_count(model); ++i) {
        const uint8_t *out = (const uint8_t *)mf_output(model, i);
        const uint32_t n = mf_output_bytes(model, i);
        char line[160];
        char *p = report_text(line, "output ");
        p = report_decimal(p, i);
        p = report_text(p, " (");
        p = report_decimal(p, n);
        p = report_text(p, " bytes):");
        *p = 0;
        put(line);
        for (uint32_t j = 0; j < n; j += 32) {
            p = line;
            for (uint32_t k = j; k < n && k < j + 32; ++k) {
                *p++ = ' ';
                p = report_hex(p, out[k], 2);
            }
            *p = 0;
            put(line);
        }
        hash = report_fnv1a(hash, out, n);
    }
    char line[32];
    char *p = report_hex(report_text(line, "checksum 0x"), hash, 8);
    *p = 0;
    put(line);
    return hash;
}

/* A load failure: "error <status> at byte <offset>: <message>". */
static inline void report_error(const mf_error *error, report_put put)
{
    char line[192];
    char *p = report_decimal(report_text(line, "error "), (uint32_t)error->status);
    p = report_decimal(report_text(p, " at byte "), error->offset);
    p = report_text(p, ": ");
    const char *m = error->message ? error->message : "";
    for (int i = 0; m[i] && i < 120; ++i) {
        *p++ = m[i];
    }
    *p = 0;
    put(line);
}

#endif /* MICROFLAT_REPORT_H */
