/*
 * The container process's own settings, applied in the order the kernel
 * needs: console, kernel knobs, then credentials (groups, ids, capabilities),
 * then the start barrier (exec fifo), seccomp last, execve.
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <grp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void write_file(struct child_ctx *ctx, const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) DIE(ctx, "open %s: %s", path, strerror(errno));
  size_t len = strlen(value);
  if (write(fd, value, len) != (ssize_t)len) DIE(ctx, "write %s to %s: %s", value, path, strerror(errno));
  close(fd);
}

static void send_fd(struct child_ctx *ctx, int sock, int fd) {
  static const char name[] = "/dev/ptmx";
  struct iovec iov = { .iov_base = (void *)name, .iov_len = sizeof name - 1 };
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) < 0) DIE(ctx, "send pty master over the console socket: %s", strerror(errno));
}

/* A pty from the container's own devpts; the master goes to the caller over
 * --console-socket, the slave becomes stdio and controlling terminal. */
void process_console(struct child_ctx *ctx) {
  if (!plan_find(ctx->plan, OP_TERMINAL)) return;
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) DIE(ctx, "open /dev/ptmx: %s", strerror(errno));
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) DIE(ctx, "unlock pty: %s", strerror(errno));
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) DIE(ctx, "open pty slave: %s", strerror(errno));
  const struct record *size = plan_find(ctx->plan, OP_CONSOLE_SIZE);
  if (size) {
    struct winsize ws = { .ws_row = (unsigned short)field_u64(size, 0), .ws_col = (unsigned short)field_u64(size, 1) };
    if (ioctl(master, TIOCSWINSZ, &ws) < 0) DIE(ctx, "set console size: %s", strerror(errno));
  }
  const struct record *user = plan_find(ctx->plan, OP_USER);
  if (user && fchown(slave, (uid_t)field_u64(user, 0), (gid_t)-1) < 0 && errno != EINVAL)
    DIE(ctx, "chown pty: %s", strerror(errno));
  /* /dev/console is the pty too, as in runc. */
  if (plan_find(ctx->plan, OP_ROOTFS)) {
    int cfd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (cfd >= 0) {
      close(cfd);
      char p[64];
      snprintf(p, sizeof p, "/proc/self/fd/%d", slave);
      if (mount(p, "/dev/console", NULL, MS_BIND, NULL) < 0) DIE(ctx, "bind pty to /dev/console: %s", strerror(errno));
    }
  }
  if (ctx->console_sock < 0) DIE(ctx, "terminal requested but no console socket");
  send_fd(ctx, ctx->console_sock, master);
  close(master);
  close(ctx->console_sock);
  ctx->console_sock = -1;
  if (ioctl(slave, TIOCSCTTY, 0) < 0) DIE(ctx, "make pty the controlling terminal: %s", strerror(errno));
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0) DIE(ctx, "dup pty to fd %d: %s", i, strerror(errno));
  close(slave);
}

/* A new network namespace starts with "lo" down; runc brings it up. */
static void loopback_up(struct child_ctx *ctx) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) DIE(ctx, "socket for the loopback interface: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) DIE(ctx, "get flags of lo: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) DIE(ctx, "bring lo up: %s", strerror(errno));
  close(fd);
}

/* struct sched_attr (SCHED_ATTR_SIZE_VER1); older libcs do not declare it. */
struct berth_sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t sched_util_min, sched_util_max;
};

static void set_scheduler(struct child_ctx *ctx, const struct record *r) {
  struct berth_sched_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.sched_policy = (uint32_t)field_u64(r, 0);
  a.sched_flags = field_u64(r, 1);
  a.sched_nice = (int32_t)field_i64(r, 2);
  a.sched_priority = (uint32_t)field_u64(r, 3);
  a.sched_runtime = field_u64(r, 4);
  a.sched_deadline = field_u64(r, 5);
  a.sched_period = field_u64(r, 6);
  if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) DIE(ctx, "process.scheduler: sched_setattr: %s", strerror(errno));
}

void process_settings(struct child_ctx *ctx) {
  const struct plan *plan = ctx->plan;
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    switch (r->op) {
    case OP_HOSTNAME:
      if (sethostname(field_str(r, 0), r->f[0].len) < 0) DIE(ctx, "sethostname: %s", strerror(errno));
      break;
    case OP_DOMAINNAME:
      if (setdomainname(field_str(r, 0), r->f[0].len) < 0) DIE(ctx, "setdomainname: %s", strerror(errno));
      break;
    case OP_SYSCTL: {
      char path[4096];
      snprintf(path, sizeof path, "/proc/sys/%s", field_str(r, 0));
      write_file(ctx, path, field_str(r, 1));
      break;
    }
    case OP_OOM_SCORE_ADJ:
      write_file(ctx, "/proc/self/oom_score_adj", field_str(r, 0));
      break;
    case OP_RLIMIT: {
      int res = (int)field_u64(r, 0);
      struct rlimit want = { .rlim_cur = field_u64(r, 1), .rlim_max = field_u64(r, 2) };
      if (setrlimit(res, &want) == 0) break;
      /* Without CAP_SYS_RESOURCE a hard limit cannot be raised: keep the current
       * hard limit (the plan marks a limit that must be exact with field 3). */
      struct rlimit cur;
      if (errno == EPERM && !field_u64(r, 3) && getrlimit(res, &cur) == 0 && want.rlim_max > cur.rlim_max) {
        want.rlim_max = cur.rlim_max;
        if (want.rlim_cur > want.rlim_max) want.rlim_cur = want.rlim_max;
        if (setrlimit(res, &want) == 0) break;
      }
      DIE(ctx, "setrlimit %d to %llu:%llu: %s", res, field_u64(r, 1), field_u64(r, 2), strerror(errno));
    }
    case OP_IOPRIO:
      /* ioprio_set(IOPRIO_WHO_PROCESS, 0 = this process, value) */
      if (syscall(SYS_ioprio_set, 1, 0, (int)field_u64(r, 0)) < 0) DIE(ctx, "process.ioPriority: ioprio_set: %s", strerror(errno));
      break;
    case OP_SCHED:
      set_scheduler(ctx, r);
      break;
    case OP_LSM_EXEC: {
      const char *path = field_str(r, 1), *value = field_str(r, 2);
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, value, r->f[2].len) != (ssize_t)r->f[2].len)
        DIE(ctx, "%s: write %s to %s: %s", field_str(r, 0), value, path, strerror(errno));
      close(fd);
      break;
    }
    case OP_LOOPBACK_UP:
      loopback_up(ctx);
      break;
    case OP_PERSONALITY:
      if (personality((unsigned long)field_u64(r, 0)) < 0) DIE(ctx, "personality: %s", strerror(errno));
      break;
    default:
      break;
    }
  }
}

static void load_seccomp(struct child_ctx *ctx, const struct record *r) {
  if (r->f[0].len % sizeof(struct sock_filter) != 0) DIE(ctx, "seccomp program has a partial instruction");
  struct sock_fprog prog = {
    .len = (unsigned short)(r->f[0].len / sizeof(struct sock_filter)),
    .filter = (struct sock_filter *)(void *)r->f[0].s,
  };
  unsigned long flags = field_u64(r, 1);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
    DIE(ctx, "load seccomp filter: %s", strerror(errno));
}

static int capset_all(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2] = {
    { .effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh },
    { .effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32) },
  };
  return (int)syscall(SYS_capset, &hdr, data);
}

void process_credentials(struct child_ctx *ctx) {
  const struct plan *plan = ctx->plan;
  const struct record *seccomp = plan_find(plan, OP_SECCOMP);
  /* Without no_new_privs the filter needs CAP_SYS_ADMIN to load: load it
   * before the capabilities go (the plan says so with field 2). */
  if (seccomp && field_u64(seccomp, 2)) load_seccomp(ctx, seccomp);

  const struct record *groups = plan_find(plan, OP_GROUPS);
  if (groups) {
    gid_t *list = calloc(groups->n ? groups->n : 1, sizeof *list);
    for (uint32_t i = 0; i < groups->n; i++) list[i] = (gid_t)field_u64(groups, i);
    if (setgroups(groups->n, list) < 0) DIE(ctx, "setgroups: %s", strerror(errno));
    free(list);
  }
  const struct record *caps = plan_find(plan, OP_CAPS);
  if (caps) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) DIE(ctx, "keep capabilities: %s", strerror(errno));
    uint64_t bounding = field_u64(caps, 0);
    for (int cap = 0; cap < 64; cap++) {
      if (bounding & (1ull << cap)) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
        if (errno == EINVAL) break; /* past the kernel's last capability */
        DIE(ctx, "drop capability %d from the bounding set: %s", cap, strerror(errno));
      }
    }
  }
  const struct record *user = plan_find(plan, OP_USER);
  if (user) {
    gid_t gid = (gid_t)field_u64(user, 1);
    uid_t uid = (uid_t)field_u64(user, 0);
    if (setresgid(gid, gid, gid) < 0) DIE(ctx, "setgid %u: %s", gid, strerror(errno));
    if (setresuid(uid, uid, uid) < 0) DIE(ctx, "setuid %u: %s", uid, strerror(errno));
    long long mask = field_i64(user, 2);
    umask(mask >= 0 ? (mode_t)mask : 022);
  } else {
    umask(022);
  }
  if (caps) {
    if (capset_all(field_u64(caps, 1), field_u64(caps, 2), field_u64(caps, 3)) < 0)
      DIE(ctx, "set capabilities: %s", strerror(errno));
    uint64_t ambient = field_u64(caps, 4);
    for (int cap = 0; cap < 64; cap++) {
      if (!(ambient & (1ull << cap))) continue;
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
        DIE(ctx, "raise ambient capability %d: %s", cap, strerror(errno));
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) DIE(ctx, "reset keep capabilities: %s", strerror(errno));
  }
  const struct record *cwd = plan_find(plan, OP_CWD);
  if (cwd && chdir(field_str(cwd, 0)) < 0) DIE(ctx, "chdir to cwd %s: %s", field_str(cwd, 0), strerror(errno));
  if (plan_find(plan, OP_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    DIE(ctx, "set no_new_privs: %s", strerror(errno));
}



static char **field_vector(const struct record *r) {
  char **v = calloc((size_t)(r ? r->n : 0) + 1, sizeof *v);
  for (uint32_t i = 0; r && i < r->n; i++) v[i] = (char *)r->f[i].s;
  return v;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Record: [stage, index, timeout secs (0 none), path, nargs, args..., env...];
 * the state JSON goes to the hook's stdin. */
static void run_hook(struct child_ctx *ctx, const struct record *r) {
  const char *name = field_str(r, 0)[0] == 'c' ? "createContainer" : "startContainer";
  const char *index = field_str(r, 1), *path = field_str(r, 3);
  long long timeout = field_i64(r, 2);
  uint32_t nargs = (uint32_t)field_u64(r, 4);
  if (5 + nargs > r->n) DIE(ctx, "hooks.%s[%s]: malformed plan record", name, index);
  char **argv = calloc((size_t)nargs + 1, sizeof *argv);
  for (uint32_t i = 0; i < nargs; i++) argv[i] = (char *)r->f[5 + i].s;
  char **envp = calloc((size_t)(r->n - 5 - nargs) + 1, sizeof *envp);
  for (uint32_t i = 5 + nargs; i < r->n; i++) envp[i - 5 - nargs] = (char *)r->f[i].s;
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) DIE(ctx, "hooks.%s[%s]: pipe: %s", name, index, strerror(errno));
  pid_t pid = fork();
  if (pid < 0) DIE(ctx, "hooks.%s[%s]: fork: %s", name, index, strerror(errno));
  if (pid == 0) {
    dup2(pfd[0], 0);
    execve(path, argv, envp);
    fprintf(stderr, "berth: hooks.%s[%s] %s: %s\n", name, index, path, strerror(errno));
    _exit(127);
  }
  close(pfd[0]);
  /* A hook that never reads its stdin must not kill us with SIGPIPE. */
  struct sigaction ign = { .sa_handler = SIG_IGN }, old;
  sigaction(SIGPIPE, &ign, &old);
  const char *state = ctx->state_json ? ctx->state_json : "{}";
  if (write(pfd[1], state, strlen(state)) < 0 && errno != EPIPE) { /* the hook decides */ }
  close(pfd[1]);
  sigaction(SIGPIPE, &old, NULL);
  double deadline = timeout > 0 ? now_s() + (double)timeout : 0;
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) DIE(ctx, "hooks.%s[%s]: wait: %s", name, index, strerror(errno));
    if (deadline > 0 && now_s() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      DIE(ctx, "hooks.%s[%s] %s: timed out after %llds", name, index, path, timeout);
    }
    struct timespec ms = { 0, 1000000 };
    nanosleep(&ms, NULL);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    DIE(ctx, "hooks.%s[%s] %s: exited with %d", name, index, path, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  free(argv);
  free(envp);
}

void process_hooks(struct child_ctx *ctx, char stage) {
  for (size_t i = 0; i < ctx->plan->nrecs; i++) {
    const struct record *r = &ctx->plan->recs[i];
    if (r->op == OP_CONTAINER_HOOK && field_str(r, 0)[0] == stage) run_hook(ctx, r);
  }
}

void process_exec(struct child_ctx *ctx) {
  const struct plan *plan = ctx->plan;
  const struct record *preserve = plan_find(plan, OP_PRESERVE_FDS);
  unsigned int first = 3 + (preserve ? (unsigned int)field_u64(preserve, 0) : 0);
  /* Nothing of ours crosses exec beyond stdio and the preserved fds
   * (CVE-2024-21626 class): everything else is close-on-exec from here on. */
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    DIE(ctx, "mark descriptors close-on-exec: %s", strerror(errno));
  for (unsigned int fd = 3; fd < first; fd++) {
    int fl = fcntl((int)fd, F_GETFD);
    if (fl >= 0) fcntl((int)fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  const struct record *path = plan_find(plan, OP_EXEC_PATH);
  char **argv = field_vector(plan_find(plan, OP_ARGS));
  char **envp = field_vector(plan_find(plan, OP_ENV));
  if (sync_send(ctx->sync_fd, SYNC_READY, NULL, 0) < 0) _exit(1);

  if (ctx->fifo_fd >= 0) {
    /* create: block here until `start` opens the fifo for reading. */
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", ctx->fifo_fd);
    int w = open(p, O_WRONLY | O_CLOEXEC);
    if (w < 0 || write(w, "0", 1) != 1) {
      fprintf(stderr, "berth: wait for start on the exec fifo: %s\n", strerror(errno));
      _exit(1);
    }
    close(w);
    close(ctx->fifo_fd);
  }
  /* startContainer hooks: after start, in the container, before the program (as runc). */
  process_hooks(ctx, 's');
  const struct record *seccomp = plan_find(plan, OP_SECCOMP);
  if (seccomp && !field_u64(seccomp, 2)) load_seccomp(ctx, seccomp);
  /* Candidates in PATH order; the first that exists is the program. */
  int err = ENOENT;
  for (uint32_t i = 0; path && i < path->n; i++) {
    execve(field_str(path, i), argv, envp);
    if (errno != ENOENT || err == ENOENT) err = errno;
  }
  char msg[512];
  snprintf(msg, sizeof msg, "exec %s: %s", field_str(path, 0), strerror(err));
  sync_send(ctx->sync_fd, SYNC_ERROR, msg, (uint32_t)strlen(msg));
  fprintf(stderr, "berth: %s\n", msg);
  _exit(err == ENOENT ? 127 : 126);
}
