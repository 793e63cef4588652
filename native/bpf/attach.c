/*
 * berth-device-attach: load the cgroup device eBPF program berth compiled
 * (src/runtime/cgroups/devices-ebpf.ts) and attach
 * it to a cgroup v2 directory. cgroup v2 enforces device rules only this way.
 * Node cannot call bpf(2); this executes what TypeScript decided.
 *
 *   berth-device-attach CGROUP_DIR < PROGRAM   (struct bpf_insn[])
 *
 * Prints the verifier log and exits 1 when the kernel refuses the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char verifier_log[1 << 16];

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CGROUP_DIR < PROGRAM\n", argv[0]);
    return 2;
  }
  static struct bpf_insn insns[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(0, (char *)insns + len, sizeof(insns) - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { fprintf(stderr, "berth-device-attach: read program: %s\n", strerror(errno)); return 2; }
    if (n == 0) break;
    len += (size_t)n;
    if (len == sizeof(insns)) { fprintf(stderr, "berth-device-attach: program too large\n"); return 2; }
  }
  if (len == 0 || len % sizeof(struct bpf_insn) != 0) {
    fprintf(stderr, "berth-device-attach: stdin is not struct bpf_insn[] (%zu bytes)\n", len);
    return 2;
  }

  union bpf_attr load;
  memset(&load, 0, sizeof(load));
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)insns;
  load.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  load.license = (uint64_t)(uintptr_t)"Apache";
  load.log_buf = (uint64_t)(uintptr_t)verifier_log;
  load.log_size = sizeof(verifier_log);
  load.log_level = 1;
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
  if (prog < 0) {
    fprintf(stderr, "berth-device-attach: BPF_PROG_LOAD: %s\n%s\n", strerror(errno), verifier_log);
    return 1;
  }
  int cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    fprintf(stderr, "berth-device-attach: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  union bpf_attr attach;
  memset(&attach, 0, sizeof(attach));
  attach.target_fd = (uint32_t)cg;
  attach.attach_bpf_fd = (uint32_t)prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) != 0) {
    fprintf(stderr, "berth-device-attach: BPF_PROG_ATTACH to %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  /* The attachment holds its own reference; our fds may go. */
  return 0;
}
