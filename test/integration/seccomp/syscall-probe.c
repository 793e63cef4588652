/*
 * Test-only probe: makes one raw system call and prints what came back, so a
 * test can see exactly which errno a seccomp rule returned.
 *
 *   syscall-probe NR [ARG...]     (numbers in decimal or 0x hex)
 *
 * Prints "ok <ret>" or "errno <n>". A clone that succeeds returns 0 in the
 * child, which exits at once; the parent reaps it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NR [ARG...]\n", argv[0]);
    return 2;
  }
  long nr = strtol(argv[1], NULL, 0);
  unsigned long a[6] = {0};
  for (int i = 0; i < 6 && i + 2 < argc; i++) a[i] = strtoul(argv[i + 2], NULL, 0);
  errno = 0;
  long ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (ret == 0 && (nr == SYS_clone || nr == SYS_fork || nr == SYS_vfork)) _exit(0);
  if (ret == -1) {
    printf("errno %d\n", errno);
    return 1;
  }
  if (nr == SYS_clone && ret > 0) waitpid((pid_t)ret, NULL, __WALL);
  printf("ok %ld\n", ret);
  return 0;
}
