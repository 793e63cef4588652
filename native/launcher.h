/* Shared state of the container-side stages (rootfs.c, process.c). */
#ifndef BERTH_LAUNCHER_H
#define BERTH_LAUNCHER_H

#include "plan.h"
#include "sync.h"

struct child_ctx {
  const struct plan *plan;
  int sync_fd;         /* our end of the socketpair with the launcher */
  int console_sock;    /* connected --console-socket, or -1 */
  int fifo_fd;         /* O_PATH fd of the exec fifo, or -1 */
  int root_fd;         /* O_PATH fd of the rootfs while mounting, or -1 */
  char *state_json;    /* container state for createContainer/startContainer hooks */
};

#define DIE(ctx, ...) sync_die((ctx)->sync_fd, __VA_ARGS__)

/* rootfs.c: mounts, devices and symlinks inside the rootfs, then pivot_root. */
void rootfs_prepare(struct child_ctx *ctx);
void rootfs_pivot(struct child_ctx *ctx);
void rootfs_finalize(struct child_ctx *ctx);

/* process.c: console, kernel settings, credentials, seccomp, exec. */
void process_console(struct child_ctx *ctx);
void process_settings(struct child_ctx *ctx);
void process_credentials(struct child_ctx *ctx);
void process_exec(struct child_ctx *ctx) __attribute__((noreturn));
/* Runs the OP_CONTAINER_HOOK records of one stage ('c' createContainer, 's' startContainer). */
void process_hooks(struct child_ctx *ctx, char stage);

#endif
