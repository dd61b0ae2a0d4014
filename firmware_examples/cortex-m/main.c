/*
 * Run a model exported with `microflat export-c` on a Cortex-M board: load
 * and verify it from flash, run it on the example input, print the outputs
 * and their checksum over semihosting (../common/report.h), and compare
 * them with the outputs the Python runtime computed at export time.
 * The exit status is 0 when they match, 1 when not, 2 when the loader
 * refused the model, 4 when initialized data was not copied to RAM.
 */
#include <string.h>

#include "microflat.h"
#include "model_data.h"
#include "report.h"
#include "semihosting.h"

uint32_t stack_peak_bytes(void);

/* Built with -DMICROFLAT_PROFILE, main runs the operators one by one and calls profile_mark before each
 * and after the last, so an instruction-counting QEMU plugin (benchmarks/qemu/insn_count.c) can tell
 * what each operator costs. */
void profile_mark(void);
__attribute__((noinline)) void profile_mark(void)
{
    __asm__ volatile("" ::: "memory");
}

static uint8_t arena[MICROFLAT_ARENA_BYTES] __attribute__((aligned(16)));

/* Initialized data: startup.c must have copied it from flash (a board boots from flash alone). */
static volatile uint32_t data_marker = 0x30626d66u;

int main(void)
{
    mf_model model;
    mf_error error;
    if (data_marker != 0x30626d66u) {
        semihosting_puts("error: .data was not copied from flash");
        return 4;
    }
    if (mf_model_load(&model, microflat_model, microflat_model_bytes, arena, sizeof arena, &error) != MF_OK) {
        report_error(&error, semihosting_puts);
        return 2;
    }
    for (uint32_t i = 0; i < MICROFLAT_INPUTS; ++i) {
        memcpy(mf_input(&model, i), microflat_example_inputs[i], microflat_example_input_bytes[i]);
    }
#ifdef MICROFLAT_PROFILE
    for (uint32_t k = 0; k < model.n_operators; ++k) {
        profile_mark();
        mf_invoke_operator(&model, k);
    }
    profile_mark();
#else
    mf_invoke(&model);
#endif
    report_outputs(&model, semihosting_puts);
    int match = 1;
    for (uint32_t i = 0; i < MICROFLAT_OUTPUTS; ++i) {
        match &= mf_output_bytes(&model, i) == microflat_expected_output_bytes[i] &&
                 memcmp(mf_output(&model, i), microflat_expected_outputs[i], microflat_expected_output_bytes[i]) == 0;
    }
    semihosting_puts(match ? "expected: match" : "expected: MISMATCH");
    semihosting_write("kernel path ");
    semihosting_puts(mf_kernel_path());
    report_value(semihosting_puts, "arena bytes ", MICROFLAT_ARENA_BYTES);
    report_value(semihosting_puts, "stack bytes ", stack_peak_bytes());
    return match ? 0 : 1;
}
