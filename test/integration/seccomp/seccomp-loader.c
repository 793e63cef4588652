/*
 * Test-only seccomp loader: installs a BPF program compiled by berth and execs
 * a command under it, as the runtime's launcher does just before execve.
 *
 *   seccomp-loader PROGRAM.bpf FLAGS CMD [ARG...]
 *
 * PROGRAM.bpf holds struct sock_filter[] in native byte order; FLAGS is the
 * SECCOMP_FILTER_FLAG_* bit mask (decimal). Exits 125 when loading fails, with
 * the reason on stderr, so a test can tell "refused by the kernel" from the
 * command's own exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s PROGRAM.bpf FLAGS CMD [ARG...]\n", argv[0]);
    return 125;
  }
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "seccomp-loader: open %s: %s\n", argv[1], strerror(errno));
    return 125;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0) {
    fprintf(stderr, "seccomp-loader: %s: size is not a multiple of %zu\n", argv[1], sizeof(struct sock_filter));
    return 125;
  }
  struct sock_filter *insns = malloc((size_t)st.st_size);
  if (!insns) return 125;
  size_t done = 0;
  while (done < (size_t)st.st_size) {
    ssize_t n = read(fd, (char *)insns + done, (size_t)st.st_size - done);
    if (n <= 0) {
      fprintf(stderr, "seccomp-loader: read %s: %s\n", argv[1], n < 0 ? strerror(errno) : "short file");
      return 125;
    }
    done += (size_t)n;
  }
  close(fd);
  struct sock_fprog prog = { .len = (unsigned short)(st.st_size / sizeof(struct sock_filter)), .filter = insns };
  unsigned long flags = strtoul(argv[2], NULL, 10);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "seccomp-loader: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
    return 125;
  }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) != 0) {
    fprintf(stderr, "seccomp-loader: seccomp(SECCOMP_SET_MODE_FILTER): %s\n", strerror(errno));
    return 125;
  }
  execv(argv[3], argv + 3);
  fprintf(stderr, "seccomp-loader: exec %s: %s\n", argv[3], strerror(errno));
  return 126;
}
