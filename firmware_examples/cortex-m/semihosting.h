/*
 * Semihosting: the debugger (or QEMU, with -semihosting) prints and exits for us.
 * Two calls, made with BKPT 0xAB (ARM's semihosting convention for M-profile):
 * SYS_WRITE0 prints a NUL-terminated string, SYS_EXIT_EXTENDED stops with a status.
 * On a board without a debugger attached, route semihosting_puts to a UART instead.
 */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

#include <stdint.h>

#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static inline uint32_t semihosting_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static inline void semihosting_write(const char *text)
{
    (void)semihosting_call(SYS_WRITE0, text);
}

/* A line: the text and a newline. */
static inline void semihosting_puts(const char *line)
{
    semihosting_write(line);
    semihosting_write("\n");
}

static inline void semihosting_exit(int status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    (void)semihosting_call(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

#endif /* SEMIHOSTING_H */
