/*
 * berth-launcher: starts one container process (or an exec into one) from a
 * plan that src/runtime/plan.ts computed. Usage: berth-launcher CONTROL_FD
 *
 * The caller writes the plan on CONTROL_FD and reads line messages back:
 *   "pid N"      the container process exists (in its cgroups, not yet set up)
 *   "hook"       mounts are done; run the runtime hooks, answer "ok" or "fail MSG"
 *   "ready"      set up; waiting on the exec fifo (create) or exec'ing
 *   "error MSG"  a stage failed; nothing of the container remains
 *
 * Processes: the launcher (L) forks J, which joins/creates the namespaces and
 * then clone(CLONE_PARENT)s the container process C, so C is L's child and,
 * with a new pid namespace, pid 1 there. L writes the user namespace maps; J
 * and C report every stage over a socketpair.
 *
 * cgroups: J is born in the cgroup2 directory (clone3 CLONE_INTO_CGROUP) and
 * moves itself into each v1 hierarchy by writing "0" to its `tasks` file, all
 * before it joins or creates any namespace, so C starts in its cgroups. Both
 * avoid what writing a pid to cgroup.procs costs: the kernel takes its global
 * threadgroup lock for writing, which waits for an RCU grace period (7-15 ms
 * measured here per container); a thread moving itself, or a child born in
 * place, does not. cgroup.procs records (the plan's fallback) are written by L.
 * The launcher runs from a sealed memfd copy of itself, so a container
 * process can never write to the launcher binary through /proc/PID/exe
 * (CVE-2019-5736).
 */
#include "launcher.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define SEALED_ENV "_BERTH_LAUNCHER_SEALED"

extern char **environ;

static int ctl_fd = -1;
static pid_t container_pid = -1;

static void ctl_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_write(const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  /* One line per message: newlines inside a message become spaces. */
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n') buf[i] = ' ';
  buf[n++] = '\n';
  if (write(ctl_fd, buf, (size_t)n) < 0) { /* caller gone: nothing to tell */ }
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (container_pid > 0) {
    kill(container_pid, SIGKILL);
    waitpid(container_pid, NULL, 0);
  }
  ctl_write("error %s", msg);
  _exit(1);
}

/* Re-exec from a sealed, anonymous copy of ourselves (CVE-2019-5736). */
static void ensure_sealed(char **argv) {
  if (getenv(SEALED_ENV)) {
    unsetenv(SEALED_ENV);
    return;
  }
  int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int mfd = memfd_create("berth-launcher", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  struct stat st;
  if (exe < 0 || mfd < 0 || fstat(exe, &st) < 0) goto out;
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(mfd, exe, NULL, (size_t)left);
    if (n <= 0) goto out;
    left -= n;
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) goto out;
  setenv(SEALED_ENV, "1", 1);
  fexecve(mfd, argv, environ);
out:
  fprintf(stderr, "berth-launcher: cannot re-exec from a sealed copy: %s\n", strerror(errno));
  _exit(1);
}

static void write_proc_file(pid_t pid, const char *name, const char *value) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("open %s: %s", path, strerror(errno));
  size_t len = strlen(value);
  if (write(fd, value, len) != (ssize_t)len) fail("write %s: %s", path, strerror(errno));
  close(fd);
}

static void join_cgroups(const struct plan *plan, pid_t pid) {
  char buf[32];
  snprintf(buf, sizeof buf, "%d", pid);
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    if (r->op != OP_CGROUP_PROCS) continue;
    int fd = open(field_str(r, 0), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, buf, strlen(buf)) < 0) fail("join cgroup %s: %s", field_str(r, 0), strerror(errno));
    close(fd);
  }
}

/* mkdir -p, each missing component 0755 (umask is 0 here). */
static void mkdir_all(struct child_ctx *ctx, const char *path) {
  char buf[4096];
  if (strlen(path) >= sizeof buf) DIE(ctx, "working directory path too long: %s", path);
  strcpy(buf, path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (buf[0] && mkdir(buf, 0755) < 0 && errno != EEXIST) DIE(ctx, "create working directory %s: %s", buf, strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
}

/* ---- C: the container process ------------------------------------------ */

static void container_main(const struct plan *plan, int sync_fd, int console_sock) __attribute__((noreturn));
static void container_main(const struct plan *plan, int sync_fd, int console_sock) {
  struct child_ctx ctx = { .plan = plan, .sync_fd = sync_fd, .console_sock = console_sock, .fifo_fd = -1, .root_fd = -1 };
  char *msg = NULL;
  if (sync_recv(sync_fd, &msg, NULL) != SYNC_GO) _exit(1);
  free(msg);
  /* The cgroup namespace starts after we are in our cgroups, so they are its root. */
  const struct record *ns = plan_find(plan, OP_NS_NEW);
  if (ns && (field_u64(ns, 0) & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
    DIE(&ctx, "unshare cgroup namespace: %s", strerror(errno));
  if (setsid() < 0) DIE(&ctx, "setsid: %s", strerror(errno));
  umask(0);
  const struct record *fifo = plan_find(plan, OP_EXEC_FIFO);
  if (fifo) {
    /* Opened now, while the host path is reachable; reopened for write at the end. */
    ctx.fifo_fd = open(field_str(fifo, 0), O_PATH | O_CLOEXEC);
    if (ctx.fifo_fd < 0) DIE(&ctx, "open exec fifo %s: %s", field_str(fifo, 0), strerror(errno));
  }
  int has_root = plan_find(plan, OP_ROOTFS) != NULL;
  if (has_root) rootfs_prepare(&ctx);
  if (plan_find(plan, OP_HOOK_PAUSE)) {
    if (sync_send(sync_fd, SYNC_HOOKS, NULL, 0) < 0) _exit(1);
    if (sync_recv(sync_fd, &msg, NULL) != SYNC_HOOKS_DONE) _exit(1);
    ctx.state_json = msg; /* kept for the container hooks */
    /* createContainer hooks: in the container's namespaces, before pivot_root. */
    process_hooks(&ctx, 'c');
  }
  if (has_root) rootfs_pivot(&ctx);
  /* The working directory may be missing from the image (docker run -w /new):
   * made here, inside the container's root, where no path can leave it. */
  const struct record *mk = plan_find(plan, OP_MKDIR_CWD);
  if (mk) mkdir_all(&ctx, field_str(mk, 0));
  process_console(&ctx);
  /* sysctls before readonlyPaths makes /proc/sys read-only */
  process_settings(&ctx);
  if (has_root) rootfs_finalize(&ctx);
  process_credentials(&ctx);
  process_exec(&ctx);
}

/* ---- J: joins and creates namespaces, then forks C ---------------------- */

/* Set in J when the plan asked for CLONE_INTO_CGROUP and clone3 lacked it. */
static const char *born_outside_cgroup2;

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct berth_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* fork(), born in the cgroup2 directory dir when there is one. */
static pid_t fork_joiner(const char *dir) {
  if (!dir) return fork();
  int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) fail("open cgroup %s: %s", dir, strerror(errno));
  struct berth_clone_args args = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cg };
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL)) {
    pid = fork();
    if (pid == 0) born_outside_cgroup2 = dir;
  } else if (pid < 0) {
    fail("start the container process in cgroup %s: %s", dir, strerror(errno));
  }
  close(cg);
  return (pid_t)pid;
}

static void joiner_main(const struct plan *plan, int sync_fd, int console_sock) __attribute__((noreturn));
static void joiner_main(const struct plan *plan, int sync_fd, int console_sock) {
  int in_userns = 0;
  /* Into the cgroups first, while this process is single-threaded and still
   * in the host's namespaces (a user namespace would forbid the writes). */
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    if (r->op != OP_CGROUP_SELF) continue;
    int fd = open(field_str(r, 0), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) < 0) sync_die(sync_fd, "join cgroup %s: %s", field_str(r, 0), strerror(errno));
    close(fd);
  }
  if (born_outside_cgroup2) {
    /* clone3 could not place us (old kernel): the slower write, by ourselves. */
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", born_outside_cgroup2);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) < 0) sync_die(sync_fd, "join cgroup %s: %s", path, strerror(errno));
    close(fd);
  }
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    if (r->op != OP_NS_JOIN) continue;
    int type = (int)field_u64(r, 0);
    int fd = open(field_str(r, 1), O_RDONLY | O_CLOEXEC);
    if (fd < 0) sync_die(sync_fd, "open namespace %s: %s", field_str(r, 1), strerror(errno));
    if (setns(fd, type) < 0) sync_die(sync_fd, "join namespace %s: %s", field_str(r, 1), strerror(errno));
    close(fd);
    if (type == CLONE_NEWUSER) in_userns = 1;
  }
  const struct record *ns = plan_find(plan, OP_NS_NEW);
  unsigned long flags = ns ? field_u64(ns, 0) : 0;
  if (flags & CLONE_NEWUSER) {
    if (unshare(CLONE_NEWUSER) < 0) sync_die(sync_fd, "unshare user namespace: %s", strerror(errno));
    if (sync_send(sync_fd, SYNC_USERMAP_PLS, NULL, 0) < 0) _exit(1);
    char *msg = NULL;
    if (sync_recv(sync_fd, &msg, NULL) != SYNC_USERMAP_ACK) _exit(1);
    free(msg);
    in_userns = 1;
  }
  if (in_userns) {
    /* Become the namespace's root so the rest of the setup is privileged there. */
    if (setresgid(0, 0, 0) < 0) sync_die(sync_fd, "setgid 0 in the user namespace: %s", strerror(errno));
    if (setresuid(0, 0, 0) < 0) sync_die(sync_fd, "setuid 0 in the user namespace: %s", strerror(errno));
  }
  unsigned long rest = flags & ~(unsigned long)(CLONE_NEWUSER | CLONE_NEWCGROUP);
  if (rest && unshare((int)rest) < 0) sync_die(sync_fd, "unshare namespaces 0x%lx: %s", rest, strerror(errno));
  const struct record *offsets = plan_find(plan, OP_TIME_OFFSETS);
  if (offsets) {
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, field_str(offsets, 0), offsets->f[0].len) < 0)
      sync_die(sync_fd, "write time namespace offsets: %s", strerror(errno));
    close(fd);
  }
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) sync_die(sync_fd, "clone the container process: %s", strerror(errno));
  if (pid == 0) container_main(plan, sync_fd, console_sock);
  int32_t p = pid;
  sync_send(sync_fd, SYNC_PID, &p, sizeof p);
  _exit(0);
}

/* ---- L: the launcher ---------------------------------------------------- */

static void forward_signal(int sig) {
  if (container_pid > 0) kill(container_pid, sig);
}

static int connect_console(const char *path) {
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof addr.sun_path) fail("console socket path too long: %s", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    fail("connect to console socket %s: %s", path, strerror(errno));
  return fd;
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

static void write_exit_file(const char *path, int status) {
  char tmp[4096], buf[32];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  int n = snprintf(buf, sizeof buf, "%d\n", exit_code(status));
  if (write(fd, buf, (size_t)n) == n && fsync(fd) == 0) rename(tmp, path);
  close(fd);
}

static int wait_container(void) {
  int status = 0;
  for (;;) {
    pid_t w = waitpid(-1, &status, 0);
    if (w == container_pid) return status;
    if (w < 0 && errno != EINTR) return status;
  }
}

/* Receives the pty master the container sends over the console socketpair. */
static int recv_master(int sock) {
  char name[64];
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name };
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static int copy_once(int from, int to) {
  char buf[8192];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return -1;
  return write_full(to, buf, (size_t)n);
}

/* Foreground run with a terminal and no --console-socket (runc run): the
 * launcher holds the master and copies between it and its own stdio. */
static void proxy_console(int master) {
  struct termios saved;
  int raw = isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
  }
  int in_open = 1;
  for (;;) {
    struct pollfd p[2] = { { .fd = master, .events = POLLIN }, { .fd = in_open ? 0 : -1, .events = POLLIN } };
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (copy_once(master, 1) < 0) break; /* EIO: every slave fd closed */
    }
    if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && copy_once(0, master) < 0) in_open = 0;
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
  close(master);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: berth-launcher CONTROL_FD (started by berth-runtime, not by hand)\n");
    return 2;
  }
  ensure_sealed(argv);
  ctl_fd = atoi(argv[1]);
  if (fcntl(ctl_fd, F_SETFD, FD_CLOEXEC) < 0) {
    fprintf(stderr, "berth-launcher: control fd %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  struct plan plan;
  const char *err = NULL;
  if (plan_read(ctl_fd, &plan, &err) < 0) fail("%s", err);
  const struct record *mode_rec = plan_find(&plan, OP_MODE);
  unsigned mode = mode_rec ? (unsigned)field_u64(mode_rec, 0) : 0;

  const struct record *fifo = plan_find(&plan, OP_EXEC_FIFO);
  if (fifo) {
    /* Writable by the container's user (it opens it after setuid), readable by root. */
    if (mkfifo(field_str(fifo, 0), 0622) < 0 && errno != EEXIST) fail("mkfifo %s: %s", field_str(fifo, 0), strerror(errno));
    if (chmod(field_str(fifo, 0), 0622) < 0) fail("chmod %s: %s", field_str(fifo, 0), strerror(errno));
  }
  const struct record *cs = plan_find(&plan, OP_CONSOLE_SOCKET);
  int console_sock = cs ? connect_console(field_str(cs, 0)) : -1;
  int console_local = -1;
  if (!cs && plan_find(&plan, OP_TERMINAL)) {
    int cv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cv) < 0) fail("console socketpair: %s", strerror(errno));
    console_local = cv[0];
    console_sock = cv[1];
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) fail("socketpair: %s", strerror(errno));

  /* Signals for the container are forwarded from the start (run, exec). */
  struct sigaction sa = { .sa_handler = forward_signal };
  sigemptyset(&sa.sa_mask);
  int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);

  const struct record *cg2 = plan_find(&plan, OP_CGROUP_CLONE_INTO);
  pid_t joiner = fork_joiner(cg2 ? field_str(cg2, 0) : NULL);
  if (joiner < 0) fail("fork: %s", strerror(errno));
  if (joiner == 0) {
    /* The caller's control channel stays with the launcher alone: a container
     * waiting on its exec fifo must not keep the caller's socket open. */
    close(ctl_fd);
    close(sv[0]);
    joiner_main(&plan, sv[1], console_sock);
  }
  close(sv[1]);
  if (console_sock >= 0) close(console_sock);
  int sync_fd = sv[0];

  int ready = 0;
  while (!ready) {
    char *msg = NULL;
    int type = sync_recv(sync_fd, &msg, NULL);
    switch (type) {
    case SYNC_USERMAP_PLS: {
      if (plan_find(&plan, OP_SETGROUPS_DENY)) write_proc_file(joiner, "setgroups", "deny");
      const struct record *m = plan_find(&plan, OP_UID_MAP);
      if (m) write_proc_file(joiner, "uid_map", field_str(m, 0));
      m = plan_find(&plan, OP_GID_MAP);
      if (m) write_proc_file(joiner, "gid_map", field_str(m, 0));
      if (sync_send(sync_fd, SYNC_USERMAP_ACK, NULL, 0) < 0) fail("user namespace setup: child gone");
      break;
    }
    case SYNC_PID: {
      int32_t p;
      memcpy(&p, msg, sizeof p);
      container_pid = p;
      waitpid(joiner, NULL, 0);
      join_cgroups(&plan, container_pid);
      ctl_write("pid %d", container_pid);
      if (sync_send(sync_fd, SYNC_GO, NULL, 0) < 0) fail("container process gone before setup");
      break;
    }
    case SYNC_HOOKS: {
      ctl_write("hook");
      char line[16384];
      ssize_t n = 0, got;
      while (n < (ssize_t)sizeof line - 1 && (got = read(ctl_fd, line + n, 1)) == 1 && line[n] != '\n') n++;
      line[n] = 0;
      /* "ok" or "ok STATE-JSON" (the state the container hooks get on stdin) */
      if (strcmp(line, "ok") != 0 && strncmp(line, "ok ", 3) != 0)
        fail("%s", n > 5 && !strncmp(line, "fail ", 5) ? line + 5 : "hooks failed");
      const char *state = n > 3 ? line + 3 : "";
      if (sync_send(sync_fd, SYNC_HOOKS_DONE, state, (uint32_t)strlen(state)) < 0) fail("container process gone during hooks");
      break;
    }
    case SYNC_READY:
      ready = 1;
      break;
    case SYNC_ERROR:
      fail("%s", msg);
    default:
      if (container_pid < 0) waitpid(joiner, NULL, 0);
      fail("container process exited during setup");
    }
    free(msg);
  }
  /* Without an exec fifo the process is exec'ing now: an exec failure comes
   * back as SYNC_ERROR, success closes the socket (close-on-exec). */
  if (!plan_find(&plan, OP_EXEC_FIFO)) {
    char *msg = NULL;
    if (sync_recv(sync_fd, &msg, NULL) == SYNC_ERROR) fail("%s", msg);
  }
  close(sync_fd);
  ctl_write("ready");

  if (mode & MODE_DETACH) return 0;
  if (mode & MODE_MONITOR) {
    /* Stay as a small monitor: reap the container, record how it ended. */
    close(ctl_fd);
    int status = wait_container();
    const struct record *ef = plan_find(&plan, OP_EXIT_FILE);
    if (ef) write_exit_file(field_str(ef, 0), status);
    return 0;
  }
  if (console_local >= 0) {
    int master = recv_master(console_local);
    close(console_local);
    if (master >= 0) proxy_console(master);
  }
  int status = wait_container();
  ctl_write("exit %d", exit_code(status));
  return exit_code(status);
}
