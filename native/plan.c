#include "plan.h"
#include "sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int plan_read(int fd, struct plan *plan, const char **err) {
  unsigned char hdr[12];
  if (read_full(fd, hdr, sizeof hdr) < 0) { *err = "plan: short read of header"; return -1; }
  if (memcmp(hdr, "BPLAN001", 8) != 0) { *err = "plan: bad magic"; return -1; }
  uint32_t total = le32(hdr + 8);
  if (total > 64u << 20) { *err = "plan: too large"; return -1; }
  unsigned char *buf = malloc(total ? total : 1);
  if (!buf) { *err = "plan: out of memory"; return -1; }
  if (read_full(fd, buf, total) < 0) { *err = "plan: short read of body"; return -1; }

  size_t cap = 64, n = 0;
  struct record *recs = malloc(cap * sizeof *recs);
  size_t off = 0;
  while (off < total) {
    if (total - off < 8) goto bad;
    struct record r = { .op = le32(buf + off), .n = le32(buf + off + 4) };
    off += 8;
    if (r.op == 0 || r.op >= OP_MAX || r.n > 65536) goto bad;
    r.f = calloc(r.n ? r.n : 1, sizeof *r.f);
    for (uint32_t i = 0; i < r.n; i++) {
      if (total - off < 4) goto bad;
      uint32_t len = le32(buf + off);
      off += 4;
      if (total - off < len) goto bad;
      char *s = malloc((size_t)len + 1);
      memcpy(s, buf + off, len);
      s[len] = 0;
      r.f[i].s = s;
      r.f[i].len = len;
      off += len;
    }
    if (n == cap) { cap *= 2; recs = realloc(recs, cap * sizeof *recs); }
    recs[n++] = r;
  }
  free(buf);
  plan->recs = recs;
  plan->nrecs = n;
  return 0;
bad:
  *err = "plan: malformed record";
  return -1;
}

const struct record *plan_find(const struct plan *plan, uint32_t op) {
  for (size_t i = 0; i < plan->nrecs; i++)
    if (plan->recs[i].op == op) return &plan->recs[i];
  return NULL;
}

const char *field_str(const struct record *r, uint32_t i) { return i < r->n ? r->f[i].s : ""; }
unsigned long long field_u64(const struct record *r, uint32_t i) { return strtoull(field_str(r, i), NULL, 10); }
long long field_i64(const struct record *r, uint32_t i) { return strtoll(field_str(r, i), NULL, 10); }
