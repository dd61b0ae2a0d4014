/*
 * Startup for a Cortex-M board: the vector table and the reset handler, as a
 * real board needs them. Reset copies .data from its load address in flash
 * to RAM and zeroes .bss (QEMU loads the ELF's segments itself, but a board
 * boots from flash alone), enables the FPU where the build uses it, paints
 * the stack so main can measure its peak, then runs main and exits with its
 * status over semihosting.
 */
#include <stdint.h>

#include "semihosting.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

#define STACK_PAINT 0xA5A5A5A5u
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void);
void Fault_Handler(void);

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    CPACR |= 0xFu << 20; /* CP10 and CP11: full access to the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; p < sp - 16;) {
        *p++ = STACK_PAINT;
    }
    semihosting_exit(main());
}

/* Bytes of stack used so far: from the top down to the lowest word no longer painted. */
uint32_t stack_peak_bytes(void);
uint32_t stack_peak_bytes(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

void Fault_Handler(void)
{
    semihosting_puts("fault");
    semihosting_exit(3);
}

typedef void (*vector)(void);

__attribute__((section(".isr_vector"), used)) const vector vectors[16] = {
    (vector)(uintptr_t)&_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};
