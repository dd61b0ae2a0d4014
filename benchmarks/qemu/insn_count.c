/*
 * A QEMU TCG plugin that counts executed guest instructions, and records the
 * running count each time the guest calls a marker function, so a firmware
 * can bracket each operator (benchmarks/firmware_cost.py).
 *
 *   qemu-system-arm ... -plugin insn_count.so,marker=0x1234,out=counts.txt
 *
 * or, for a process under qemu-user (benchmarks/arm_instructions.py), where
 * addresses move from run to run, each time the guest makes system call
 * number N with first argument A:
 *
 *   qemu-aarch64 -plugin insn_count.so,syscall=N,sysarg=A,out=counts.txt ...
 *
 * (QEMU reads an option named arg= as its own old spelling, hence sysarg.)
 *
 * Writes one line per marker hit (the instructions executed before it), then
 * "total N". Debian's QEMU 7.2 loads plugins but ships neither plugins nor
 * qemu-plugin.h, so the dozen declarations this plugin uses are written here
 * from the plugin API of that release (API version 1).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the QEMU 7.2 plugin API, as much of it as this plugin calls ------------------------------- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1,
                                              uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                                              uint64_t a7, uint64_t a8);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
/* ----------------------------------------------------------------------------------------------------- */

#define MAX_MARKS 65536
#define MAX_BLOCKS 65536

/* With blocks=PATH: each translated block's address, length and executions, for a per-function profile. */
typedef struct {
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t executions;
} block_count;
static block_count blocks[MAX_BLOCKS];
static size_t n_blocks;
static const char *blocks_path;

static uint64_t executed; /* one counter for all vCPUs: the MPS2 boards are single-core, and a qemu-user process is measured with one thread at work */
static uint64_t marker = UINT64_MAX;
static int64_t marker_syscall = -1; /* with syscall=N: the system call that marks, and its first argument */
static uint64_t marker_arg;
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static const char *out_path = "insn_count.txt";

static void on_marker(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    if (n_marks < MAX_MARKS) {
        marks[n_marks++] = executed;
    }
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                       uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    (void)id, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
    if (num == marker_syscall && a1 == marker_arg) {
        on_marker(vcpu, NULL);
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    /* Thumb addresses: the TB's address is even; the marker's symbol value may carry the Thumb bit. */
    if (qemu_plugin_tb_vaddr(tb) == (marker & ~(uint64_t)1)) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, qemu_plugin_tb_n_insns(tb));
    if (blocks_path != NULL && n_blocks < MAX_BLOCKS) {
        block_count *b = &blocks[n_blocks++];
        b->vaddr = qemu_plugin_tb_vaddr(tb);
        b->n_insns = qemu_plugin_tb_n_insns(tb);
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->executions, 1);
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *f = fopen(out_path, "w");
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < n_marks; ++i) {
        fprintf(f, "%" PRIu64 "\n", marks[i]);
    }
    fprintf(f, "total %" PRIu64 "\n", executed);
    fclose(f);
    if (blocks_path != NULL && (f = fopen(blocks_path, "w")) != NULL) {
        for (size_t i = 0; i < n_blocks; ++i) {
            if (blocks[i].executions != 0) {
                fprintf(f, "0x%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", blocks[i].vaddr, blocks[i].n_insns,
                        blocks[i].executions);
            }
        }
        fclose(f);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "marker=", 7) == 0) {
            marker = strtoull(argv[i] + 7, NULL, 0);
        } else if (strncmp(argv[i], "syscall=", 8) == 0) {
            marker_syscall = strtoll(argv[i] + 8, NULL, 0);
        } else if (strncmp(argv[i], "sysarg=", 7) == 0) {
            marker_arg = strtoull(argv[i] + 7, NULL, 0);
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = argv[i] + 4;
        } else if (strncmp(argv[i], "blocks=", 7) == 0) {
            blocks_path = argv[i] + 7;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    if (marker_syscall >= 0) {
        qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    }
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
