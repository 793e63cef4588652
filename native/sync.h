/*
 * Named sync messages between the launcher (parent) and its children over a
 * socketpair, in the manner of runc's nsexec: each stage is a named byte, and
 * a failure travels back as a message saying which stage failed and why.
 * Frame: u8 type, u32 length (host order), payload.
 */
#ifndef BERTH_SYNC_H
#define BERTH_SYNC_H

#include <stddef.h>
#include <stdint.h>

enum sync_type {
  SYNC_USERMAP_PLS = 'U',  /* child: I unshared a user ns, write my maps */
  SYNC_USERMAP_ACK = 'u',  /* parent: maps written */
  SYNC_PID = 'P',          /* first child: the container process pid (payload int32) */
  SYNC_GO = 'G',           /* parent: the process is in its cgroups, go on */
  SYNC_HOOKS = 'H',        /* child: mounts done, run the runtime hooks */
  SYNC_HOOKS_DONE = 'h',   /* parent: hooks ran */
  SYNC_STATE = 'S',        /* parent: state JSON for container hooks (payload) */
  SYNC_READY = 'R',        /* child: set up, about to wait for start / exec */
  SYNC_ERROR = 'E',        /* child: payload is the error message */
};

/* Whole reads and writes (EINTR retried): 0, or -1 on error or early end of file. */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);

int sync_send(int fd, uint8_t type, const void *payload, uint32_t len);
/* Receives one frame; payload is malloc'd and NUL terminated. Returns the type, or -1 on EOF/error. */
int sync_recv(int fd, char **payload, uint32_t *len);
/* Sends SYNC_ERROR with a formatted message and exits the child. */
void sync_die(int fd, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

#endif
