/*
 * The plan: a sequence of records computed by src/runtime/plan.ts. The C side
 * only decodes and executes it in a fixed order; it decides nothing.
 *
 * Wire format (little endian): "BPLAN001", then records
 *   u32 op, u32 nfields, nfields x (u32 length, bytes)
 * Numbers are decimal text fields. Op numbers must match src/runtime/plan-format.ts.
 */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stddef.h>
#include <stdint.h>

enum plan_op {
  OP_MODE = 1,              /* [flags] */
  OP_NS_NEW = 2,            /* [clone flags] */
  OP_NS_JOIN = 3,           /* [clone flag of the type, path] */
  OP_UID_MAP = 4,           /* [uid_map text] */
  OP_GID_MAP = 5,           /* [gid_map text] */
  OP_SETGROUPS_DENY = 6,    /* [] */
  OP_TIME_OFFSETS = 7,      /* [timens_offsets text] */
  OP_CGROUP_PROCS = 8,      /* [path of a cgroup.procs file] */
  OP_ROOTFS = 9,            /* [host path] */
  OP_ROOTFS_PROPAGATION = 10, /* [mount flags for "/" before the rootfs bind, flags for the new "/" after pivot_root (0: none)] */
  OP_MOUNT = 11,            /* [source, dest, fstype, flags, data, propagation, remount flags, kind] */
  OP_MKNOD = 12,            /* [path, mode, major, minor, uid, gid] */
  OP_DEVBIND = 13,          /* [path]  bind the host's node of the same path */
  OP_SYMLINK = 14,          /* [target, link path] */
  OP_NO_PIVOT = 15,         /* [] */
  OP_ROOT_READONLY = 16,    /* [] */
  OP_MASK = 17,             /* [path] */
  OP_READONLY_PATH = 18,    /* [path] */
  OP_HOSTNAME = 19,         /* [name] */
  OP_DOMAINNAME = 20,       /* [name] */
  OP_SYSCTL = 21,           /* [path under /proc/sys, value] */
  OP_RLIMIT = 22,           /* [resource, soft, hard] */
  OP_OOM_SCORE_ADJ = 23,    /* [value] */
  OP_CAPS = 24,             /* [bounding, effective, permitted, inheritable, ambient] */
  OP_USER = 25,             /* [uid, gid, umask or -1] */
  OP_GROUPS = 26,           /* [gid...] */
  OP_NO_NEW_PRIVS = 27,     /* [] */
  OP_SECCOMP = 28,          /* [bpf bytes, flags, install early (0/1)] */
  OP_CWD = 29,              /* [path] */
  OP_ENV = 30,              /* [K=V...] */
  OP_ARGS = 31,             /* [argv...] */
  OP_EXEC_PATH = 32,        /* [path] */
  OP_CONSOLE_SOCKET = 33,   /* [path] */
  OP_CONSOLE_SIZE = 34,     /* [rows, cols] */
  OP_TERMINAL = 35,         /* [] */
  OP_EXEC_FIFO = 36,        /* [path] */
  OP_PRESERVE_FDS = 37,     /* [n] */
  OP_PERSONALITY = 38,      /* [persona] */
  OP_HOOK_PAUSE = 39,       /* [] stop after mounts so the caller runs runtime hooks */
  OP_EXIT_FILE = 40,        /* [path] a detached monitor writes the exit status here */
  OP_CONTAINER_HOOK = 41,   /* [stage c|s, timeout secs, path, nargs, args..., env...] */
  OP_CGROUP_SELF = 42,      /* [path of a cgroup v1 `tasks` file] the joiner writes "0" (itself) */
  OP_CGROUP_CLONE_INTO = 43, /* [cgroup2 directory] the joiner is born there (clone3 CLONE_INTO_CGROUP) */
  OP_ROOTFS_PARENT_PRIVATE = 44, /* [host mount point] made private before the rootfs is bound onto itself */
  OP_LOOPBACK_UP = 45,      /* [] bring "lo" up (a new network namespace was created) */
  OP_IOPRIO = 46,           /* [ioprio value for ioprio_set(IOPRIO_WHO_PROCESS, 0, …)] */
  OP_SCHED = 47,            /* [policy, flags, nice, priority, runtime, deadline, period] for sched_setattr */
  OP_LSM_EXEC = 48,         /* [config field, attr file, value] the LSM label the process gets on exec */
  OP_MKDIR_CWD = 49,        /* [path] created (mkdir -p, 0755) once inside the new root, as runc does */
  OP_MAX = 50,
};

/* OP_MODE flags */
#define MODE_DETACH 1u       /* the launcher exits once the process is ready */
#define MODE_MONITOR 2u      /* detach, but keep a small monitor that reaps and records the exit */

/* OP_MOUNT kind: what to create at the destination when missing */
#define KIND_DIR 'd'
#define KIND_FILE 'f'

struct field {
  const char *s;  /* NUL terminated copy */
  uint32_t len;
};

struct record {
  uint32_t op;
  uint32_t n;
  struct field *f;
};

struct plan {
  struct record *recs;
  size_t nrecs;
};

/* Reads the length-prefixed plan from fd. Returns 0 or -1 with *err set. */
int plan_read(int fd, struct plan *plan, const char **err);
/* First record with this op, or NULL. */
const struct record *plan_find(const struct plan *plan, uint32_t op);
unsigned long long field_u64(const struct record *r, uint32_t i);
long long field_i64(const struct record *r, uint32_t i);
const char *field_str(const struct record *r, uint32_t i);

#endif
