/*
 * What both libFuzzer targets (fuzz_verify.c, fuzz_loader.c) share: the
 * static, 16-byte-aligned copy of the input the loader reads (libFuzzer's
 * own buffer has no alignment promise) and the arena a loaded model gets,
 * and the copy itself. Inputs above MAX_FILE are skipped.
 */
#ifndef MICROFLAT_FUZZ_BUFFERS_H
#define MICROFLAT_FUZZ_BUFFERS_H

#include <stdint.h>
#include <string.h>

#define MAX_FILE (4u << 20)
#define MAX_ARENA (16u << 20)

static uint8_t file[MAX_FILE] __attribute__((aligned(16)));
static uint8_t arena[MAX_ARENA] __attribute__((aligned(16)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the input was copied into `file`, 0 when it is too large to try. */
static int fuzz_copy_input(const uint8_t *data, size_t size)
{
    if (size > MAX_FILE) {
        return 0;
    }
    memcpy(file, data, size);
    return 1;
}

#endif
