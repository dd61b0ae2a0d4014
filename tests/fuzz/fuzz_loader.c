/*
 * libFuzzer target for the C loader and what it lets run: any byte string
 * goes to mf_arena_bytes and mf_model_load; a file the loader accepts is
 * then run, since an accepted file must be safe to execute. Running is
 * slow beside verifying (120 to 1,700 executions a second here, as more or
 * fewer inputs load, against 5,000 to 8,500 for the loader alone):
 * fuzz_verify.c fuzzes the loader by itself.
 * Built with clang's -fsanitize=fuzzer,address,undefined
 * (tests/test_c_sanitizers.py), so an out-of-bounds read, an overflow or
 * any undefined behaviour is a crash.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_buffers.h"
#include "microflat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_model model;
    mf_error error;
    uint32_t need = 0;
    if (!fuzz_copy_input(data, size)) {
        return 0;
    }
    if (mf_arena_bytes(file, (uint32_t)size, &need, &error) != MF_OK) {
        return 0;
    }
    /* A verified plan larger than our arena: the loader checks everything, then refuses it. */
    const uint32_t given = need < MAX_ARENA ? need : MAX_ARENA;
    if (mf_model_load(&model, file, (uint32_t)size, arena, given, &error) != MF_OK) {
        return 0;
    }
    for (uint32_t i = 0; i < mf_input_count(&model); ++i) {
        memset(mf_input(&model, i), 0x5A, mf_input_bytes(&model, i));
    }
    mf_invoke(&model);
    return 0;
}
