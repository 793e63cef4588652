/*
 * berth-monitor: the small process that stays with one container for its
 * whole life (what conmon is to podman). It holds the container's stdio,
 * writes the log in Docker's json-file format with rotation, serves attach
 * clients, reaps the container and records its exit status. It outlives
 * berthd, so containers survive a daemon restart.
 *
 * No policy here: berthd decides everything and passes it as flags.
 *
 *   berth-monitor --dir DIR [--socket-dir SHORTDIR] [--log FILE --log-max-size BYTES --log-max-files N]
 *                 [--stdin] [--stdin-once] [--tty] [--pid-file FILE | --pid-from-sync]
 *                 [--pass-fd N] [--mount TARGET FSTYPE SOURCE FLAGS DATA CWD]... -- CMD ARGS...
 *   berth-monitor --args-from-sync
 *
 * --args-from-sync: the monitor was started ahead of time, idle; berthd
 * sends the arguments above on fd 3 when a container needs it, as
 * "args LEN\n" and LEN bytes of NUL-terminated strings. Starting monitors
 * before they are needed keeps the fork of a large berthd off a container's
 * start.
 *
 * --mount: mount(2) TARGET before listening (FLAGS a decimal mount flag
 * word, DATA the fs options, CWD a directory to run it from for relative
 * overlay paths, or ""), in order; the container's root filesystem, mounted
 * here so berthd needs no mount(8). Every such TARGET is unmounted when the
 * container has exited (before exit.json appears) or the start is abandoned.
 *
 * CMD is either the container process itself, or (with --pid-file) a launcher
 * that starts the container detached, writes its pid to FILE and exits; the
 * container is then reparented to us because we are a child subreaper.
 * With --tty, CMD is given `--console-socket DIR/console.sock` semantics: we
 * listen there and receive the pty master with SCM_RIGHTS.
 *
 * fd 3, when open, is a duplex channel to berthd (lines):
 *   monitor -> "listening\n"      sockets are up; attach clients may connect
 *   berthd  -> "start\n"          run CMD now
 *   monitor -> "started PID\n" or "error MESSAGE\n", then fd 3 is closed.
 *   berthd  -> "pid N\n"          (--pid-from-sync) the container's pid, once the
 *                                launcher told berthd over the fd passed with --pass-fd
 * Without fd 3 the monitor starts CMD at once.
 *
 * Sockets go in SHORTDIR (default DIR): unix socket paths are limited to 108 bytes.
 * DIR/attach.sock: each client receives the output framed as Docker's
 * multiplexed stream (8-byte header: stream, 0, 0, 0, u32 big-endian length)
 * and may write raw bytes that go to the container's stdin.
 * DIR/control.sock: line commands "resize ROWS COLS", "close-stdin"; every
 * connection is closed when the container has exited, which is how berthd
 * learns of the exit (then it reads DIR/exit.json).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define BUF_SIZE 32768
/* Docker splits log lines longer than this into several entries. */
#define LOG_LINE_MAX 16384

enum { STREAM_STDIN = 0, STREAM_STDOUT = 1, STREAM_STDERR = 2 };

struct options {
  const char *dir;
  const char *socket_dir;
  const char *log_path;
  long long log_max_size;
  int log_max_files;
  int keep_stdin;
  int stdin_once;
  int tty;
  const char *pid_file;
  int pid_from_sync;
  int pass_fd;
  char **cmd;
};

#define MAX_MOUNTS 8
struct mount_req {
  const char *target, *fstype, *source, *data, *cwd;
  unsigned long flags;
};
static struct mount_req mounts[MAX_MOUNTS];
static int nmounts = 0;
/* How many of them are mounted: those get unmounted on every way out. */
static int mounted = 0;

struct log_writer {
  int fd;
  long long size;
  /* Partial line per stream, flushed at newline or LOG_LINE_MAX. */
  char partial[3][LOG_LINE_MAX];
  size_t partial_len[3];
};

struct client {
  int fd;
  int is_control;
  /* An attach client that half-closed: no more input, still gets output. */
  int input_closed;
  /* Hung up with input still unread (waiting for the container to take more). */
  int hung_up;
  char line[128];
  size_t line_len;
};

static struct options opt = { .log_max_size = 10 * 1024 * 1024, .log_max_files = 3, .pass_fd = -1 };
static struct log_writer logw = { .fd = -1 };
static struct client clients[MAX_CLIENTS];
static int attach_listen = -1, control_listen = -1, console_listen = -1;
static int out_fd = -1, err_fd = -1, stdin_fd = -1, pty_fd = -1;
static int sync_fd = -1;
static int sigchld_fd = -1;
static pid_t container_pid = -1;
static int stdin_attached_once = 0;
/* StdinOnce already ended stdin (a client half-closed or went away). */
static int stdin_attached_once_closed = 0;

/*
 * Input on its way to the container (stdin pipe or pty master, both
 * non-blocking): what a full pipe did not take yet. While anything is
 * pending no attach client is read, so a fast writer is slowed to the
 * container's pace instead of losing data.
 */
static char in_pending[BUF_SIZE];
static size_t in_len = 0, in_off = 0;
/* stdin is to be closed once the pending input is written (close-stdin, StdinOnce). */
static int in_close_after = 0;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void unmount_all(void);
static void close_stdin_when_written(void);

static void sync_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sync_line(const char *fmt, ...) {
  if (sync_fd < 0) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
  /* Messages are one line: newlines inside would end them early. */
  for (int i = 0; i < n; i++) if (buf[i] == '\n') buf[i] = ' ';
  buf[n++] = '\n';
  ssize_t w = write(sync_fd, buf, (size_t)n);
  (void)w;
}

static void die(const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (sync_fd >= 0) sync_line("error %s", msg);
  else fprintf(stderr, "berth-monitor: %s\n", msg);
  unmount_all();
  _exit(125);
}

static void mount_all(void) {
  for (int i = 0; i < nmounts; i++) {
    const struct mount_req *m = &mounts[i];
    int back = -1;
    if (m->cwd[0]) {
      back = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (chdir(m->cwd) < 0) die("mount %s: chdir %s: %s", m->target, m->cwd, strerror(errno));
    }
    int r = mount(m->source[0] ? m->source : NULL, m->target, m->fstype[0] ? m->fstype : NULL, m->flags,
                  m->data[0] ? m->data : NULL);
    int err = errno;
    if (back >= 0) {
      if (fchdir(back) < 0) { /* only our own cwd; nothing depends on it */ }
      close(back);
    }
    if (r < 0) die("mount %s on %s (%s): %s", m->source, m->target, m->fstype[0] ? m->fstype : "bind", strerror(err));
    /* A remount changes a mount already counted. */
    if (!(m->flags & MS_REMOUNT)) mounted++;
  }
}

/* Unmount in reverse order; a busy mount (someone copying out of it) is detached. */
static void unmount_all(void) {
  for (int i = nmounts - 1; i >= 0 && mounted > 0; i--) {
    if (mounts[i].flags & MS_REMOUNT) continue;
    if (umount2(mounts[i].target, 0) < 0 && errno == EBUSY) umount2(mounts[i].target, MNT_DETACH);
    mounted--;
  }
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void path_in_dir(char *out, size_t cap, const char *name) {
  if ((size_t)snprintf(out, cap, "%s/%s", opt.dir, name) >= cap) die("path too long: %s/%s", opt.dir, name);
}

/* Unix socket paths are limited to 108 bytes, so sockets may live in a
 * shorter directory than the container's state. */
static void socket_path(char *out, size_t cap, const char *name) {
  if ((size_t)snprintf(out, cap, "%s/%s", opt.socket_dir, name) >= cap) die("path too long: %s/%s", opt.socket_dir, name);
}

/* ---------- json-file log ---------- */

static void format_time(char *out, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  /* Fields are bounded by gmtime; clamp so the compiler can see it too. */
  snprintf(out, cap, "%04u-%02u-%02uT%02u:%02u:%02u.%09luZ", (unsigned)(tm.tm_year + 1900) % 10000u,
           (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
           (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned long)ts.tv_nsec % 1000000000ul);
}

static void log_open(void) {
  if (!opt.log_path) return;
  logw.fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (logw.fd < 0) die("open log %s: %s", opt.log_path, strerror(errno));
  struct stat st;
  logw.size = fstat(logw.fd, &st) == 0 ? st.st_size : 0;
}

/* log -> log.1 -> ... -> log.(max-1); the oldest falls off. */
static void log_rotate(void) {
  if (opt.log_max_files <= 1) {
    if (ftruncate(logw.fd, 0) == 0) logw.size = 0;
    return;
  }
  char from[PATH_MAX], to[PATH_MAX];
  for (int i = opt.log_max_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", opt.log_path);
    else snprintf(from, sizeof from, "%s.%d", opt.log_path, i - 1);
    snprintf(to, sizeof to, "%s.%d", opt.log_path, i);
    rename(from, to);
  }
  close(logw.fd);
  logw.fd = -1;
  log_open();
}

static size_t json_escape(char *out, const char *in, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    switch (c) {
      case '"': out[o++] = '\\'; out[o++] = '"'; break;
      case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
      case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
      case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
      case '\t': out[o++] = '\\'; out[o++] = 't'; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out[o++] = '\\'; out[o++] = 'u'; out[o++] = '0'; out[o++] = '0';
          out[o++] = hex[c >> 4]; out[o++] = hex[c & 15];
        } else {
          /* Bytes >= 0x80 pass through; invalid UTF-8 is the container's. */
          out[o++] = (char)c;
        }
    }
  }
  return o;
}

static void log_entry(int stream, const char *data, size_t len) {
  if (logw.fd < 0) return;
  static char line[LOG_LINE_MAX * 6 + 128];
  char ts[40];
  format_time(ts, sizeof ts);
  size_t o = 0;
  o += (size_t)snprintf(line, sizeof line, "{\"log\":\"");
  o += json_escape(line + o, data, len);
  o += (size_t)snprintf(line + o, sizeof line - o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n",
                        stream == STREAM_STDERR ? "stderr" : "stdout", ts);
  if (opt.log_max_size > 0 && logw.size > 0 && logw.size + (long long)o > opt.log_max_size) log_rotate();
  if (logw.fd >= 0 && write_all(logw.fd, line, o) == 0) logw.size += (long long)o;
}

static void log_data(int stream, const char *data, size_t len) {
  char *part = logw.partial[stream];
  size_t *plen = &logw.partial_len[stream];
  for (size_t i = 0; i < len; i++) {
    part[(*plen)++] = data[i];
    if (data[i] == '\n' || *plen == LOG_LINE_MAX) {
      log_entry(stream, part, *plen);
      *plen = 0;
    }
  }
}

static void log_flush(void) {
  for (int s = 1; s <= 2; s++) {
    if (logw.partial_len[s] > 0) log_entry(s, logw.partial[s], logw.partial_len[s]);
    logw.partial_len[s] = 0;
  }
}

/* ---------- sockets and clients ---------- */

static int listen_unix(const char *name) {
  char path[PATH_MAX];
  socket_path(path, sizeof path, name);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof addr.sun_path) die("socket path too long: %s", path);
  strcpy(addr.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind %s: %s", path, strerror(errno));
  chmod(path, 0600);
  if (listen(fd, 16) < 0) die("listen %s: %s", path, strerror(errno));
  return fd;
}

static void add_client(int listen_fd, int is_control) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd == 0) {
      clients[i] = (struct client){ .fd = fd, .is_control = is_control };
      return;
    }
  }
  close(fd); /* full */
}

static void drop_client(struct client *c) {
  close(c->fd);
  if (!c->is_control && opt.stdin_once && stdin_fd >= 0 && !stdin_attached_once_closed) {
    /* --stdin-once: the first attached client's end closes stdin (Docker's StdinOnce). */
    stdin_attached_once_closed = 1;
    close_stdin_when_written();
  }
  *c = (struct client){ 0 };
}

static void broadcast(int stream, const char *data, size_t len) {
  unsigned char hdr[8] = { (unsigned char)stream, 0, 0, 0, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                           (unsigned char)(len >> 8), (unsigned char)len };
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    if (c->fd == 0 || c->is_control) continue;
    /* A client that cannot keep up is dropped rather than stall the container. */
    int flags = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int bad = write_all(c->fd, hdr, sizeof hdr) < 0 || write_all(c->fd, data, len) < 0;
    fcntl(c->fd, F_SETFL, flags);
    if (bad) drop_client(c);
  }
}

static void handle_output(int fd, int stream) {
  char buf[BUF_SIZE];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    /* EOF (or EIO on a pty whose slave closed). */
    close(fd);
    if (fd == out_fd) out_fd = -1;
    if (fd == err_fd) err_fd = -1;
    if (fd == pty_fd) pty_fd = -1;
    return;
  }
  log_data(stream, buf, (size_t)n);
  broadcast(stream, buf, (size_t)n);
}

static int input_target(void) {
  return opt.tty ? pty_fd : stdin_fd;
}

/* End the container's stdin: close the pipe; a terminal gets ^D. */
static void close_stdin_now(void) {
  in_len = in_off = 0;
  in_close_after = 0;
  if (stdin_fd >= 0 && stdin_fd != pty_fd) {
    close(stdin_fd);
    stdin_fd = -1;
  } else if (pty_fd >= 0) {
    char eot = 4;
    ssize_t w = write(pty_fd, &eot, 1);
    (void)w;
  }
}

static void close_stdin_when_written(void) {
  if (in_len > in_off) in_close_after = 1;
  else close_stdin_now();
}

/* Write what is pending; on a closed reader drop it (the container closed its stdin). */
static void flush_input(void) {
  int target = input_target();
  while (in_off < in_len) {
    if (target < 0) { in_len = in_off = 0; break; }
    ssize_t n = write(target, in_pending + in_off, in_len - in_off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      in_len = in_off = 0;
      if (target == stdin_fd) { close(stdin_fd); stdin_fd = -1; }
      break;
    }
    in_off += (size_t)n;
  }
  in_len = in_off = 0;
  if (in_close_after) close_stdin_now();
}

static void handle_control_line(const char *line) {
  int rows, cols;
  if (sscanf(line, "resize %d %d", &rows, &cols) == 2) {
    if (pty_fd >= 0) {
      struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
      ioctl(pty_fd, TIOCSWINSZ, &ws);
    }
  } else if (strcmp(line, "close-stdin") == 0) {
    close_stdin_when_written();
  }
}

static void handle_client_input(struct client *c) {
  char buf[BUF_SIZE];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n == 0 && !c->is_control) {
    /* End of this client's input, after everything it sent (in order, on
     * the same socket): with StdinOnce the container's stdin ends once that
     * is written. The client still receives output until it goes away. */
    c->input_closed = 1;
    if (opt.stdin_once && !stdin_attached_once_closed) {
      stdin_attached_once_closed = 1;
      close_stdin_when_written();
    }
    return;
  }
  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    drop_client(c);
    return;
  }
  if (c->is_control) {
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n' || c->line_len == sizeof c->line - 1) {
        c->line[c->line_len] = 0;
        handle_control_line(c->line);
        c->line_len = 0;
      } else {
        c->line[c->line_len++] = buf[i];
      }
    }
    return;
  }
  if (input_target() >= 0) {
    stdin_attached_once = 1;
    memcpy(in_pending, buf, (size_t)n);
    in_off = 0;
    in_len = (size_t)n;
    flush_input();
  }
}

/* ---------- console socket (tty mode) ---------- */

static int receive_pty(int listen_fd) {
  int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char byte;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  close(conn);
  if (n < 0) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* ---------- exit status ---------- */

static void write_exit(int status) {
  char path[PATH_MAX], tmp[PATH_MAX], ts[40], body[256];
  path_in_dir(path, sizeof path, "exit.json");
  path_in_dir(tmp, sizeof tmp, ".exit.json.tmp");
  format_time(ts, sizeof ts);
  int code = 0, sig = 0;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) { sig = WTERMSIG(status); code = 128 + sig; }
  int n = snprintf(body, sizeof body, "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\"}\n", code, sig, ts);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  /* No fsync: a kill -9 cannot tear it (temp + rename), and after a power loss
   * the container is gone anyway. */
  if (write_all(fd, body, (size_t)n) == 0) rename(tmp, path);
  close(fd);
}

static pid_t read_pid_file(const char *path) {
  char buf[32] = { 0 };
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  long v = strtol(buf, NULL, 10);
  return v > 0 ? (pid_t)v : -1;
}

/* ---------- start ---------- */

/* Reads one line from berthd on the sync channel into buf (NUL terminated). */
static void read_sync_line(char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t n = read(sync_fd, buf + len, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { unmount_all(); _exit(125); } /* berthd went away mid-handshake */
    if (buf[len] == '\n') break;
    if (++len == cap - 1) die("line from berthd too long");
  }
  buf[len] = 0;
}

/* --pid-from-sync: berthd learnt the pid from the launcher and tells us. */
static pid_t read_sync_pid(void) {
  if (sync_fd < 0) die("--pid-from-sync needs the sync channel on fd 3");
  char buf[64];
  read_sync_line(buf, sizeof buf);
  long v = 0;
  if (sscanf(buf, "pid %ld", &v) != 1 || v <= 0) die("expected \"pid N\" from berthd, got \"%s\"", buf);
  return (pid_t)v;
}

static void wait_for_start(void) {
  if (sync_fd < 0) return;
  sync_line("listening");
  char buf[64];
  read_sync_line(buf, sizeof buf);
  if (strcmp(buf, "start") != 0) die("expected \"start\" from berthd, got \"%s\"", buf);
}

static void start_command(void) {
  int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
  if (!opt.tty) {
    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    if (opt.keep_stdin && pipe2(in_pipe, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  }
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    int in = in_pipe[0] >= 0 ? in_pipe[0] : devnull;
    int out = out_pipe[1] >= 0 ? out_pipe[1] : devnull;
    int err = err_pipe[1] >= 0 ? err_pipe[1] : devnull;
    /* In tty mode the launcher's own stderr carries its errors to our log. */
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(125);
    if (opt.tty && logw.fd >= 0) dup2(logw.fd, 2);
    /* --pass-fd: berthd's control channel to a launcher becomes its fd 3. */
    if (opt.pass_fd >= 0 && dup2(opt.pass_fd, 3) < 0) _exit(125);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(opt.cmd[0], opt.cmd);
    dprintf(2, "berth-monitor: exec %s: %s\n", opt.cmd[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  if (in_pipe[0] >= 0) { close(in_pipe[0]); stdin_fd = in_pipe[1]; fcntl(stdin_fd, F_SETFL, O_NONBLOCK); }
  if (out_pipe[1] >= 0) { close(out_pipe[1]); out_fd = out_pipe[0]; }
  if (err_pipe[1] >= 0) { close(err_pipe[1]); err_fd = err_pipe[0]; }

  if (opt.pass_fd >= 0) close(opt.pass_fd);
  if (opt.pid_file || opt.pid_from_sync) {
    /* A launcher: wait for it; it exits once the container is running. While
     * waiting, take the pty it hands us over the console socket. */
    int status;
    for (;;) {
      if (opt.tty && pty_fd < 0) {
        struct pollfd p = { .fd = console_listen, .events = POLLIN };
        if (poll(&p, 1, 50) > 0) pty_fd = receive_pty(console_listen);
      }
      pid_t w = waitpid(pid, &status, opt.tty && pty_fd < 0 ? WNOHANG : 0);
      if (w == pid) break;
      if (w < 0 && errno != EINTR) die("wait for launcher: %s", strerror(errno));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (WIFEXITED(status)) die("launcher exited with status %d", WEXITSTATUS(status));
      die("launcher killed by signal %d", WTERMSIG(status));
    }
    if (opt.pid_file) {
      container_pid = read_pid_file(opt.pid_file);
      if (container_pid <= 0) die("launcher wrote no pid to %s", opt.pid_file);
    } else {
      container_pid = read_sync_pid();
    }
  } else {
    container_pid = pid;
  }
  if (opt.tty) stdin_fd = -1;
  sync_line("started %d", (int)container_pid);
  if (sync_fd >= 0) { close(sync_fd); sync_fd = -1; }
}

/* ---------- main loop ---------- */

static void usage(void) {
  fprintf(stderr,
          "usage: berth-monitor --dir DIR [--socket-dir DIR] [--log FILE] [--log-max-size BYTES] [--log-max-files N]\n"
          "                     [--stdin] [--stdin-once] [--tty] [--pid-file FILE | --pid-from-sync]\n"
          "                     [--pass-fd N] [--mount TARGET FSTYPE SOURCE FLAGS DATA CWD]... -- CMD [ARGS...]\n"
          "       berth-monitor --args-from-sync\n");
  exit(125);
}

static void parse_args(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--stdin") == 0) opt.keep_stdin = 1;
    else if (strcmp(a, "--stdin-once") == 0) opt.stdin_once = 1;
    else if (strcmp(a, "--tty") == 0) opt.tty = 1;
    else if (i + 1 < argc && strcmp(a, "--dir") == 0) opt.dir = argv[++i];
    else if (i + 1 < argc && strcmp(a, "--socket-dir") == 0) opt.socket_dir = argv[++i];
    else if (i + 1 < argc && strcmp(a, "--log") == 0) opt.log_path = argv[++i];
    else if (i + 1 < argc && strcmp(a, "--log-max-size") == 0) opt.log_max_size = atoll(argv[++i]);
    else if (i + 1 < argc && strcmp(a, "--log-max-files") == 0) opt.log_max_files = atoi(argv[++i]);
    else if (i + 1 < argc && strcmp(a, "--pid-file") == 0) opt.pid_file = argv[++i];
    else if (strcmp(a, "--pid-from-sync") == 0) opt.pid_from_sync = 1;
    else if (i + 1 < argc && strcmp(a, "--pass-fd") == 0) opt.pass_fd = atoi(argv[++i]);
    else if (i + 6 < argc && strcmp(a, "--mount") == 0 && nmounts < MAX_MOUNTS) {
      struct mount_req *m = &mounts[nmounts++];
      m->target = argv[++i];
      m->fstype = argv[++i];
      m->source = argv[++i];
      m->flags = strtoul(argv[++i], NULL, 10);
      m->data = argv[++i];
      m->cwd = argv[++i];
    }
    else usage();
  }
  if (!opt.dir || i >= argc) usage();
  if (!opt.socket_dir) opt.socket_dir = opt.dir;
  opt.cmd = &argv[i];
}

/* --args-from-sync: "args LEN\n" then LEN bytes of NUL-terminated arguments. */
static char **read_args_from_sync(int *argc_out) {
  char head[64];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(3, head + len, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(125); /* berthd went away before it needed us */
    if (head[len] == '\n') break;
    if (++len == sizeof head - 1) _exit(125);
  }
  head[len] = 0;
  unsigned long size = 0;
  if (sscanf(head, "args %lu", &size) != 1 || size == 0 || size > (1u << 20)) _exit(125);
  char *buf = malloc(size + 1);
  if (!buf) _exit(125);
  for (size_t got = 0; got < size;) {
    ssize_t n = read(3, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(125);
    got += (size_t)n;
  }
  buf[size] = 0;
  int count = 0;
  for (size_t k = 0; k < size; k++) if (buf[k] == 0) count++;
  char **argv = calloc((size_t)count + 2, sizeof *argv);
  if (!argv) _exit(125);
  argv[0] = "berth-monitor";
  int argc = 1;
  for (size_t k = 0; k < size && argc <= count; k += strlen(buf + k) + 1) argv[argc++] = buf + k;
  argv[argc] = NULL;
  *argc_out = argc;
  return argv;
}

/* Descriptors berthd's own parent let it inherit must not stay open in a
 * process that outlives berthd (a test runner waiting for a pipe's EOF
 * would wait for every container): keep stdio, the channel and --pass-fd. */
static void close_stray_fds(void) {
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
  unsigned keep = opt.pass_fd > 3 ? (unsigned)opt.pass_fd : 3;
  if (keep > 4) syscall(SYS_close_range, 4u, keep - 1, 0u);
  syscall(SYS_close_range, keep + 1, ~0u, 0u);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--args-from-sync") == 0) argv = read_args_from_sync(&argc);
  parse_args(argc, argv);
  close_stray_fds();
  if (fcntl(3, F_GETFD) >= 0) {
    sync_fd = 3;
    fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  }
  if (opt.pass_fd >= 0) {
    if (opt.pass_fd <= 3 || fcntl(opt.pass_fd, F_GETFD) < 0) die("--pass-fd %d is not an open descriptor above 3", opt.pass_fd);
    fcntl(opt.pass_fd, F_SETFD, FD_CLOEXEC);
  }
  signal(SIGPIPE, SIG_IGN);
  /* Detached launchers leave the container to us: we reap it. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  /* SIGCHLD arrives as a readable fd in the poll set, so an exit is seen at
   * once (the child unblocks it again before exec). */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  sigchld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigchld_fd < 0) die("signalfd: %s", strerror(errno));
  /* Termination of berthd must not take us along. */
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);

  mount_all();
  log_open();
  attach_listen = listen_unix("attach.sock");
  control_listen = listen_unix("control.sock");
  if (opt.tty) console_listen = listen_unix("console.sock");
  {
    char path[PATH_MAX], body[32];
    path_in_dir(path, sizeof path, "monitor.pid");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      int n = snprintf(body, sizeof body, "%d\n", (int)getpid());
      if (write_all(fd, body, (size_t)n) < 0) die("write %s", path);
      close(fd);
    }
  }

  wait_for_start();
  /* Attach clients that connected before the start are accepted now, so
   * they see output from the first byte. */
  for (;;) {
    struct pollfd p = { .fd = attach_listen, .events = POLLIN };
    if (poll(&p, 1, 0) <= 0) break;
    add_client(attach_listen, 0);
  }
  start_command();

  int exited = 0, exit_status = 0;
  struct timespec exit_seen = { 0 };
  for (;;) {
    /* Reap everything; remember the container's own status. */
    for (;;) {
      int status;
      pid_t w = waitpid(-1, &status, WNOHANG);
      if (w < 0 && errno == ECHILD && !exited && container_pid > 0 && kill(container_pid, 0) < 0 && errno == ESRCH) {
        /* Gone without being our child to reap (its launcher reaped it):
         * the status is unknown, as after a crash (Docker says 255). */
        exited = 1;
        exit_status = 255 << 8;
        clock_gettime(CLOCK_MONOTONIC, &exit_seen);
      }
      if (w <= 0) break;
      if (w == container_pid) {
        exited = 1;
        exit_status = status;
        clock_gettime(CLOCK_MONOTONIC, &exit_seen);
      }
    }
    int outputs_open = out_fd >= 0 || err_fd >= 0 || pty_fd >= 0;
    if (exited) {
      /* Drain what is left, but not forever: a daemonised grandchild may
       * hold the pipe open. */
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long ms = (now.tv_sec - exit_seen.tv_sec) * 1000 + (now.tv_nsec - exit_seen.tv_nsec) / 1000000;
      if (!outputs_open || ms > 500) break;
    }
    struct pollfd fds[8 + MAX_CLIENTS];
    int nfds = 0, idx_out = -1, idx_err = -1, idx_pty = -1, idx_in = -1, idx_attach, idx_control, idx_client0, idx_chld;
    int input_blocked = in_len > in_off && input_target() >= 0;
    if (out_fd >= 0) { idx_out = nfds; fds[nfds++] = (struct pollfd){ .fd = out_fd, .events = POLLIN }; }
    if (err_fd >= 0) { idx_err = nfds; fds[nfds++] = (struct pollfd){ .fd = err_fd, .events = POLLIN }; }
    if (pty_fd >= 0) { idx_pty = nfds; fds[nfds++] = (struct pollfd){ .fd = pty_fd, .events = POLLIN }; }
    /* Pending input: wait until the container's stdin takes more. */
    if (input_blocked && input_target() != pty_fd) { idx_in = nfds; fds[nfds++] = (struct pollfd){ .fd = input_target(), .events = POLLOUT }; }
    if (input_blocked && idx_pty >= 0) fds[idx_pty].events |= POLLOUT;
    idx_chld = nfds; fds[nfds++] = (struct pollfd){ .fd = sigchld_fd, .events = POLLIN };
    idx_attach = nfds; fds[nfds++] = (struct pollfd){ .fd = attach_listen, .events = POLLIN };
    idx_control = nfds; fds[nfds++] = (struct pollfd){ .fd = control_listen, .events = POLLIN };
    idx_client0 = nfds;
    int client_index[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (clients[i].fd == 0) continue;
      client_index[nfds - idx_client0] = i;
      /* Attach clients are not read while their input waits for the container. */
      int reading = clients[i].is_control || (!input_blocked && !clients[i].input_closed);
      /* A hung-up client with unread input is left out until input flows again (no busy loop). */
      int fd = (!reading && clients[i].hung_up && !clients[i].input_closed) ? -1 : clients[i].fd;
      fds[nfds++] = (struct pollfd){ .fd = fd, .events = reading ? POLLIN : 0 };
    }
    int r = poll(fds, (nfds_t)nfds, exited ? 50 : 1000);
    if (r < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (r <= 0) continue;
    if (fds[idx_chld].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigchld_fd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
    }
    if ((idx_in >= 0 && fds[idx_in].revents) || (idx_pty >= 0 && (fds[idx_pty].revents & POLLOUT))) flush_input();
    if (idx_out >= 0 && fds[idx_out].revents) handle_output(out_fd, STREAM_STDOUT);
    if (idx_err >= 0 && fds[idx_err].revents) handle_output(err_fd, STREAM_STDERR);
    if (idx_pty >= 0 && (fds[idx_pty].revents & ~POLLOUT) && pty_fd >= 0) handle_output(pty_fd, STREAM_STDOUT);
    if (fds[idx_attach].revents & POLLIN) add_client(attach_listen, 0);
    if (fds[idx_control].revents & POLLIN) add_client(control_listen, 1);
    for (int k = idx_client0; k < nfds; k++) {
      if (!fds[k].revents) continue;
      struct client *c = &clients[client_index[k - idx_client0]];
      if (c->fd != fds[k].fd) continue;
      if (fds[k].events == 0) {
        /* Not read (half-closed, or input waiting): only a hang-up matters;
         * unread input of a hung-up client is still read once input flows. */
        if (fds[k].revents & (POLLHUP | POLLERR)) {
          if (c->input_closed) drop_client(c);
          else c->hung_up = 1;
        }
        continue;
      }
      handle_client_input(c);
    }
  }

  log_flush();
  /* Unmounted before exit.json appears: berthd reads that as "all done". */
  unmount_all();
  write_exit(exit_status);

  char path[PATH_MAX];
  socket_path(path, sizeof path, "attach.sock");
  unlink(path);
  socket_path(path, sizeof path, "control.sock");
  unlink(path);
  if (opt.tty) { socket_path(path, sizeof path, "console.sock"); unlink(path); }
  if (opt.socket_dir != opt.dir) rmdir(opt.socket_dir);
  for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i].fd) close(clients[i].fd);
  return 0;
}
