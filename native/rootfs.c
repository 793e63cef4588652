/*
 * Root filesystem mechanics. Every destination inside the rootfs is resolved
 * with openat2(RESOLVE_IN_ROOT) from an fd of the rootfs and mounted through
 * /proc/self/fd/N, so a symlink planted in the image (or swapped in by a
 * racing container process, CVE-2021-30465) can never send a mount to the host.
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int open_in_root(int root_fd, const char *path) {
  struct open_how how = {
    .flags = O_PATH | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

/* Resolves path inside the rootfs, creating missing components (the last one
 * a directory or an empty file). Returns an O_PATH fd of the result. */
static int ensure_in_root(struct child_ctx *ctx, const char *path, char kind) {
  char prefix[4096];
  size_t len = strlen(path);
  if (len >= sizeof prefix) DIE(ctx, "path too long: %s", path);
  int parent = fcntl(ctx->root_fd, F_DUPFD_CLOEXEC, 3);
  size_t i = 0;
  while (i < len) {
    while (i < len && path[i] == '/') i++;
    if (i >= len) break;
    size_t start = i;
    while (i < len && path[i] != '/') i++;
    memcpy(prefix, path, i);
    prefix[i] = 0;
    int fd = open_in_root(ctx->root_fd, prefix);
    if (fd < 0 && errno == ENOENT) {
      char comp[256];
      size_t clen = i - start;
      if (clen >= sizeof comp) DIE(ctx, "path component too long in %s", path);
      memcpy(comp, path + start, clen);
      comp[clen] = 0;
      int last = i >= len || path[i + strspn(path + i, "/")] == 0;
      if (last && kind == KIND_FILE) {
        int f = openat(parent, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0 && errno != EEXIST) DIE(ctx, "create %s: %s", prefix, strerror(errno));
        if (f >= 0) close(f);
      } else if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST) {
        DIE(ctx, "mkdir %s: %s", prefix, strerror(errno));
      }
      fd = open_in_root(ctx->root_fd, prefix);
    }
    if (fd < 0) DIE(ctx, "resolve %s inside the rootfs: %s", prefix, strerror(errno));
    close(parent);
    parent = fd;
  }
  return parent;
}

static void fd_path(char *buf, size_t size, int fd) { snprintf(buf, size, "/proc/self/fd/%d", fd); }

/* A bind remount in a user namespace must keep the flags the kernel locked
 * on the source mount; add them back when the first try is refused. */
static int remount(const char *target, unsigned long flags) {
  if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0) return 0;
  if (errno != EPERM) return -1;
  struct statvfs sv;
  if (statvfs(target, &sv) < 0) return -1;
  unsigned long locked = 0;
  if (sv.f_flag & ST_NOSUID) locked |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) locked |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) locked |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY) locked |= MS_RDONLY;
  if (sv.f_flag & ST_NOATIME) locked |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) locked |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) locked |= MS_RELATIME;
  return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | locked, NULL);
}

static void do_mount(struct child_ctx *ctx, const struct record *r) {
  const char *src = field_str(r, 0), *dest = field_str(r, 1), *type = field_str(r, 2);
  unsigned long flags = field_u64(r, 3), prop = field_u64(r, 5), again = field_u64(r, 6);
  const char *data = field_str(r, 4);
  char kind = field_str(r, 7)[0];
  char p[64];
  int fd = ensure_in_root(ctx, dest, kind);
  fd_path(p, sizeof p, fd);
  if (mount(*src ? src : NULL, p, *type ? type : NULL, flags, *data ? data : NULL) < 0)
    DIE(ctx, "mount %s (%s) on %s: %s", src, *type ? type : "bind", dest, strerror(errno));
  close(fd);
  if (!again && !prop) return;
  /* The fd above names the covered directory; reopen to reach the new mount. */
  fd = open_in_root(ctx->root_fd, dest);
  if (fd < 0) DIE(ctx, "reopen mount %s: %s", dest, strerror(errno));
  fd_path(p, sizeof p, fd);
  if (again && remount(p, again) < 0) DIE(ctx, "remount %s with its options: %s", dest, strerror(errno));
  if (prop && mount(NULL, p, NULL, prop, NULL) < 0) DIE(ctx, "set propagation of %s: %s", dest, strerror(errno));
  close(fd);
}

static void split_parent(struct child_ctx *ctx, const char *path, char *dir, size_t size, const char **base) {
  const char *slash = strrchr(path, '/');
  if (!slash || !slash[1]) DIE(ctx, "bad path %s", path);
  size_t n = (size_t)(slash - path);
  if (n >= size) DIE(ctx, "path too long: %s", path);
  memcpy(dir, path, n);
  dir[n] = 0;
  if (n == 0) strcpy(dir, "/");
  *base = slash + 1;
}

static void do_mknod(struct child_ctx *ctx, const struct record *r) {
  const char *path = field_str(r, 0), *base;
  char dir[4096];
  split_parent(ctx, path, dir, sizeof dir, &base);
  int parent = ensure_in_root(ctx, dir, KIND_DIR);
  mode_t mode = (mode_t)field_u64(r, 1);
  dev_t dev = makedev((unsigned)field_u64(r, 2), (unsigned)field_u64(r, 3));
  /* Replace what the image or an earlier mount left there. */
  if (unlinkat(parent, base, 0) < 0 && errno != ENOENT) DIE(ctx, "remove %s: %s", path, strerror(errno));
  if (mknodat(parent, base, mode, dev) < 0) DIE(ctx, "mknod %s: %s", path, strerror(errno));
  if (fchownat(parent, base, (uid_t)field_u64(r, 4), (gid_t)field_u64(r, 5), AT_SYMLINK_NOFOLLOW) < 0)
    DIE(ctx, "chown %s: %s", path, strerror(errno));
  close(parent);
}

static void do_devbind(struct child_ctx *ctx, const struct record *r) {
  const char *path = field_str(r, 0);
  char p[64];
  int fd = ensure_in_root(ctx, path, KIND_FILE);
  fd_path(p, sizeof p, fd);
  if (mount(path, p, NULL, MS_BIND, NULL) < 0) DIE(ctx, "bind device %s: %s", path, strerror(errno));
  close(fd);
}

static void do_symlink(struct child_ctx *ctx, const struct record *r) {
  const char *target = field_str(r, 0), *link = field_str(r, 1), *base;
  char dir[4096];
  split_parent(ctx, link, dir, sizeof dir, &base);
  int parent = ensure_in_root(ctx, dir, KIND_DIR);
  if (unlinkat(parent, base, 0) < 0 && errno != ENOENT) DIE(ctx, "remove %s: %s", link, strerror(errno));
  if (symlinkat(target, parent, base) < 0) DIE(ctx, "symlink %s -> %s: %s", link, target, strerror(errno));
  close(parent);
}

void rootfs_prepare(struct child_ctx *ctx) {
  const struct plan *plan = ctx->plan;
  const struct record *root = plan_find(plan, OP_ROOTFS);
  const struct record *prop = plan_find(plan, OP_ROOTFS_PROPAGATION);
  const char *rootfs = field_str(root, 0);
  /* Keep our mounts from propagating to the host, then make the rootfs a mount point. */
  if (mount(NULL, "/", NULL, prop ? field_u64(prop, 0) : (MS_SLAVE | MS_REC), NULL) < 0)
    DIE(ctx, "set propagation of /: %s", strerror(errno));
  /* A shared parent would propagate the bind below and fail pivot_root. */
  const struct record *parent = plan_find(plan, OP_ROOTFS_PARENT_PRIVATE);
  if (parent && mount(NULL, field_str(parent, 0), NULL, MS_PRIVATE, NULL) < 0)
    DIE(ctx, "make the rootfs's parent mount %s private: %s", field_str(parent, 0), strerror(errno));
  if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    DIE(ctx, "bind rootfs %s: %s", rootfs, strerror(errno));
  ctx->root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ctx->root_fd < 0) DIE(ctx, "open rootfs %s: %s", rootfs, strerror(errno));
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    switch (r->op) {
    case OP_MOUNT: do_mount(ctx, r); break;
    case OP_MKNOD: do_mknod(ctx, r); break;
    case OP_DEVBIND: do_devbind(ctx, r); break;
    case OP_SYMLINK: do_symlink(ctx, r); break;
    default: break;
    }
  }
}

/* linux.rootfsPropagation for the container's own "/", now that it is "/". */
static void root_propagation(struct child_ctx *ctx) {
  const struct record *prop = plan_find(ctx->plan, OP_ROOTFS_PROPAGATION);
  unsigned long flags = prop && prop->n > 1 ? field_u64(prop, 1) : 0;
  if (flags && mount(NULL, "/", NULL, flags, NULL) < 0) DIE(ctx, "apply rootfsPropagation to /: %s", strerror(errno));
}

void rootfs_pivot(struct child_ctx *ctx) {
  const char *rootfs = field_str(plan_find(ctx->plan, OP_ROOTFS), 0);
  close(ctx->root_fd);
  ctx->root_fd = -1;
  if (plan_find(ctx->plan, OP_NO_PIVOT)) {
    /* runc's --no-pivot: move the rootfs over / and chroot (for ramfs roots). */
    if (chdir(rootfs) < 0) DIE(ctx, "chdir %s: %s", rootfs, strerror(errno));
    if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0) DIE(ctx, "move rootfs to /: %s", strerror(errno));
    if (chroot(".") < 0) DIE(ctx, "chroot: %s", strerror(errno));
    if (chdir("/") < 0) DIE(ctx, "chdir /: %s", strerror(errno));
    root_propagation(ctx);
    return;
  }
  int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  int new_root = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (old_root < 0 || new_root < 0) DIE(ctx, "open roots for pivot_root: %s", strerror(errno));
  if (fchdir(new_root) < 0) DIE(ctx, "fchdir rootfs: %s", strerror(errno));
  /* pivot_root(".", ".") stacks the old root on top of the new one; detach it. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) DIE(ctx, "pivot_root %s: %s", rootfs, strerror(errno));
  if (fchdir(old_root) < 0) DIE(ctx, "fchdir old root: %s", strerror(errno));
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) DIE(ctx, "make old root slave: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) DIE(ctx, "unmount old root: %s", strerror(errno));
  if (chdir("/") < 0) DIE(ctx, "chdir /: %s", strerror(errno));
  close(old_root);
  close(new_root);
  root_propagation(ctx);
}

static void mask_path(struct child_ctx *ctx, const char *path) {
  if (mount("/dev/null", path, NULL, MS_BIND, NULL) == 0) return;
  if (errno == ENOENT) return;
  if (errno == ENOTDIR || errno == EISDIR) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k") == 0) return;
  }
  DIE(ctx, "mask %s: %s", path, strerror(errno));
}

static void readonly_path(struct child_ctx *ctx, const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return;
    DIE(ctx, "bind %s read-only: %s", path, strerror(errno));
  }
  if (remount(path, MS_RDONLY | MS_REC) < 0) DIE(ctx, "remount %s read-only: %s", path, strerror(errno));
}

void rootfs_finalize(struct child_ctx *ctx) {
  const struct plan *plan = ctx->plan;
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    if (r->op == OP_READONLY_PATH) readonly_path(ctx, field_str(r, 0));
  }
  for (size_t i = 0; i < plan->nrecs; i++) {
    const struct record *r = &plan->recs[i];
    if (r->op == OP_MASK) mask_path(ctx, field_str(r, 0));
  }
  if (plan_find(plan, OP_ROOT_READONLY) && remount("/", MS_RDONLY) < 0)
    DIE(ctx, "remount / read-only: %s", strerror(errno));
}
