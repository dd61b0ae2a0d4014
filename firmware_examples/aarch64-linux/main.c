/*
 * microflat_run: run a .mfb model with the C runtime on an ARM Linux board
 * (Raspberry Pi and the like), or on any host.
 *
 *     microflat_run MODEL.mfb INPUT0.bin [INPUT1.bin ...]
 *
 * Each INPUTi.bin holds exactly the bytes of model input i (int8, or
 * float32 for a model compiled with --io float32), as `microflat export-c`
 * writes them. It prints the outputs and their checksum in the format of
 * ../common/report.h and exits 0; a file the loader refuses prints one
 * error line and exits 2.
 *
 * The runtime allocates nothing: this program reads the file into a
 * 16-byte-aligned buffer and gives it the arena mf_arena_bytes asks for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microflat.h"
#include "report.h"

static void put(const char *line)
{
    puts(line);
}

/* The whole file, 16-byte aligned; *n its size. NULL when it cannot be read. */
static uint8_t *read_file(const char *path, uint32_t *n, void **block)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    const long size = ftell(f);
    if (size < 0 || size > 0x7FFFFFFFL || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    *block = malloc((size_t)size + 16);
    if (*block == NULL) {
        fclose(f);
        return NULL;
    }
    uint8_t *data = (uint8_t *)*block + ((16 - (uintptr_t)*block % 16) % 16);
    const size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(*block);
        *block = NULL;
        return NULL;
    }
    *n = (uint32_t)size;
    return data;
}

/* Load, run and report; returns the exit status. The caller owns and frees file and arena. */
static int run(int argc, char **argv, const uint8_t *file, uint32_t file_bytes, void **arena_block)
{
    mf_error error;
    mf_model model;
    uint32_t arena_bytes = 0;
    if (mf_arena_bytes(file, file_bytes, &arena_bytes, &error) != MF_OK) {
        report_error(&error, put);
        return 2;
    }
    *arena_block = calloc((size_t)arena_bytes + 16, 1);
    if (*arena_block == NULL) {
        fprintf(stderr, "microflat_run: cannot allocate a %u-byte arena\n", (unsigned)arena_bytes);
        return 2;
    }
    uint8_t *arena = (uint8_t *)*arena_block + ((16 - (uintptr_t)*arena_block % 16) % 16);
    if (mf_model_load(&model, file, file_bytes, arena, arena_bytes, &error) != MF_OK) {
        report_error(&error, put);
        return 2;
    }
    if ((uint32_t)(argc - 2) != mf_input_count(&model)) {
        fprintf(stderr, "microflat_run: the model takes %u input file(s)\n", (unsigned)mf_input_count(&model));
        return 2;
    }
    for (uint32_t i = 0; i < mf_input_count(&model); ++i) {
        void *block = NULL;
        uint32_t n = 0;
        const uint8_t *input = read_file(argv[2 + i], &n, &block);
        const int fits = input != NULL && n == mf_input_bytes(&model, i);
        if (fits) {
            memcpy(mf_input(&model, i), input, n);
        }
        free(block);
        if (!fits) {
            fprintf(stderr, "microflat_run: %s must hold the %u bytes of input %u\n", argv[2 + i],
                    (unsigned)mf_input_bytes(&model, i), (unsigned)i);
            return 2;
        }
    }
    const mf_status status = mf_invoke(&model);
    if (status != MF_OK) { /* MF_ERROR_INPUT: an input the model refuses, e.g. a GATHER index outside its table */
        fprintf(stderr, "microflat_run: mf_invoke failed with status %d (an input's value the model refuses)\n",
                (int)status);
        return 2;
    }
    report_outputs(&model, put);
    printf("kernel path %s\n", mf_kernel_path());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.mfb INPUT0.bin [INPUT1.bin ...]\n", argv[0]);
        return 2;
    }
    uint32_t file_bytes = 0;
    void *file_block = NULL, *arena_block = NULL;
    const uint8_t *file = read_file(argv[1], &file_bytes, &file_block);
    if (file == NULL) {
        fprintf(stderr, "microflat_run: cannot read %s\n", argv[1]);
        return 2;
    }
    const int status = run(argc, argv, file, file_bytes, &arena_block);
    free(arena_block);
    free(file_block);
    return status;
}
