#include "sync.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int write_full(int fd, const void *buf, size_t len) {
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

int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int sync_send(int fd, uint8_t type, const void *payload, uint32_t len) {
  unsigned char hdr[5];
  hdr[0] = type;
  memcpy(hdr + 1, &len, 4);
  if (write_full(fd, hdr, sizeof hdr) < 0) return -1;
  if (len && write_full(fd, payload, len) < 0) return -1;
  return 0;
}

int sync_recv(int fd, char **payload, uint32_t *len) {
  unsigned char hdr[5];
  if (read_full(fd, hdr, sizeof hdr) < 0) return -1;
  uint32_t n;
  memcpy(&n, hdr + 1, 4);
  if (n > (1u << 20)) return -1;
  char *buf = malloc((size_t)n + 1);
  if (!buf) return -1;
  if (n && read_full(fd, buf, n) < 0) { free(buf); return -1; }
  buf[n] = 0;
  if (payload) *payload = buf; else free(buf);
  if (len) *len = n;
  return hdr[0];
}

void sync_die(int fd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (sync_send(fd, SYNC_ERROR, msg, (uint32_t)strlen(msg)) < 0) fprintf(stderr, "berth-launcher: %s\n", msg);
  _exit(1);
}
