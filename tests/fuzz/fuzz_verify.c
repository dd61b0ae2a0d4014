/*
 * libFuzzer target for the C loader alone: any byte string goes to
 * mf_arena_bytes and, when it answers, to mf_model_load: every check the
 * loader makes (header, structure, meaning, each operator's rules, the
 * memory plan), and nothing is run. The twin of fuzz_loader.c, which also
 * runs what loads; this one spends every execution on the verifier, so it
 * reaches thousands of executions a second (tests/test_c_sanitizers.py,
 * `make fuzz`). Built with clang's -fsanitize=fuzzer,address,undefined, so an
 * out-of-bounds read, an overflow or any undefined behaviour is a crash.
 *
 * It also checks what the API promises: mf_arena_bytes answers only for a
 * file mf_model_load then accepts or refuses for the plan's overlaps alone
 * (MF_ERROR_PLAN at the plan table), and a refusal is the same from both.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_buffers.h"
#include "microflat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_model model;
    mf_error error, again;
    uint32_t need = 0, ignored = 0;
    if (!fuzz_copy_input(data, size)) {
        return 0;
    }
    const mf_status answered = mf_arena_bytes(file, (uint32_t)size, &need, &error);
    if (answered != MF_OK) {
        /* mf_model_load refuses it the same way, whatever arena it is given */
        if (mf_model_load(&model, file, (uint32_t)size, arena, MAX_ARENA, &again) != answered ||
            again.offset != error.offset || again.index != error.index) {
            abort();
        }
        return 0;
    }
    if (need > MAX_ARENA) {
        return 0; /* a verified plan larger than this target's arena (at most 2^31 - 1 bytes) */
    }
    const mf_status loaded = mf_model_load(&model, file, (uint32_t)size, arena, need, &error);
    if (loaded != MF_OK && loaded != MF_ERROR_PLAN) {
        abort(); /* mf_arena_bytes answered for a file the loader refuses for something else */
    }
    if (loaded == MF_OK && (mf_arena_bytes(file, (uint32_t)size, &ignored, &error) != MF_OK || ignored != need)) {
        abort();
    }
    return 0;
}
