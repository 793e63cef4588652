/*
 * berth-init: PID 1 for containers run with --init (Docker's docker-init/tini
 * role). It starts the command, forwards the signals it receives to it,
 * reaps every orphan that is reparented to it, and exits with the command's
 * status (128+n when a signal killed it).
 *
 *   berth-init [--] CMD [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) first++;
  if (first >= argc) {
    fprintf(stderr, "usage: berth-init [--] CMD [ARGS...]\n");
    return 125;
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);

  pid_t child = fork();
  if (child < 0) {
    perror("berth-init: fork");
    return 125;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* Own process group, so a terminal's job-control signals reach it. */
    setpgid(0, 0);
    if (isatty(STDIN_FILENO)) tcsetpgrp(STDIN_FILENO, getpid());
    execvp(argv[first], &argv[first]);
    fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  /* Not PID 1 (e.g. --pid host)? Still adopt orphans below us. */
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1);

  for (;;) {
    siginfo_t info;
    struct timespec tick = { .tv_sec = 1 };
    int sig = sigtimedwait(&all, &info, &tick);
    if (sig > 0 && sig != SIGCHLD) {
      /* Forward to the command's whole process group. */
      if (kill(-child, sig) < 0) kill(child, sig);
    }
    for (;;) {
      int status;
      pid_t w = waitpid(-1, &status, WNOHANG);
      if (w <= 0) break;
      if (w == child) {
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      }
    }
  }
}
