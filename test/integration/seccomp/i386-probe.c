/*
 * Test-only i386 probe, built with gcc -m32 -nostdlib (no 32-bit libc
 * needed): makes 32-bit system calls through int $0x80, so the kernel hands
 * seccomp AUDIT_ARCH_I386 and the i386 numbers.
 *
 * Prints "getpid ok|fail" and "unshare ok|EPERM|other <n>", then exits 0.
 */
static long sys3(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

static void say(const char *s) {
  int n = 0;
  while (s[n]) n++;
  sys3(4 /* write */, 1, (long)s, n);
}

void _start(void) {
  say(sys3(20 /* getpid */, 0, 0, 0) > 0 ? "getpid ok\n" : "getpid fail\n");
  long r = sys3(310 /* unshare */, 0x10000000 /* CLONE_NEWUSER */, 0, 0);
  say(r == 0 ? "unshare ok\n" : r == -1 ? "unshare EPERM\n" : "unshare other\n");
  sys3(1 /* exit */, 0, 0, 0);
  for (;;) {
  }
}
