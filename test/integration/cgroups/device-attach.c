/*
 * Test-only: load a cgroup device eBPF program compiled by berth and attach
 * it to a cgroup v2 directory, as the launcher does for v2 device rules.
 *
 *   device-attach PROGRAM.bin CGROUP_DIR
 *
 * Prints the verifier log and exits 1 when the kernel refuses the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char verifier_log[1 << 16];

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PROGRAM.bin CGROUP_DIR\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof(struct bpf_insn) != 0) {
    fprintf(stderr, "device-attach: %s: unreadable or not struct bpf_insn[]\n", argv[1]);
    return 2;
  }
  struct bpf_insn *insns = malloc((size_t)st.st_size);
  if (!insns || read(fd, insns, (size_t)st.st_size) != st.st_size) {
    fprintf(stderr, "device-attach: read %s failed\n", argv[1]);
    return 2;
  }
  close(fd);

  union bpf_attr load;
  memset(&load, 0, sizeof(load));
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)insns;
  load.insn_cnt = (uint32_t)(st.st_size / sizeof(struct bpf_insn));
  load.license = (uint64_t)(uintptr_t)"Apache";
  load.log_buf = (uint64_t)(uintptr_t)verifier_log;
  load.log_size = sizeof(verifier_log);
  load.log_level = 1;
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
  if (prog < 0) {
    fprintf(stderr, "device-attach: BPF_PROG_LOAD: %s\n%s\n", strerror(errno), verifier_log);
    return 1;
  }
  int cg = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    fprintf(stderr, "device-attach: open %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  union bpf_attr attach;
  memset(&attach, 0, sizeof(attach));
  attach.target_fd = (uint32_t)cg;
  attach.attach_bpf_fd = (uint32_t)prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) != 0) {
    fprintf(stderr, "device-attach: BPF_PROG_ATTACH to %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  /* The attachment holds its own reference; our fds may go. */
  return 0;
}
