/**
 * The launcher plan wire format (see native/plan.h): "BPLAN001", u32 body
 * length, then records of u32 op, u32 field count, and length-prefixed fields.
 * Numbers travel as decimal text so 64-bit values stay exact. Op numbers must
 * match enum plan_op in native/plan.h.
 */
export const PLAN_OP = {
  MODE: 1,
  NS_NEW: 2,
  NS_JOIN: 3,
  UID_MAP: 4,
  GID_MAP: 5,
  SETGROUPS_DENY: 6,
  TIME_OFFSETS: 7,
  CGROUP_PROCS: 8,
  ROOTFS: 9,
  ROOTFS_PROPAGATION: 10,
  MOUNT: 11,
  MKNOD: 12,
  DEVBIND: 13,
  SYMLINK: 14,
  NO_PIVOT: 15,
  ROOT_READONLY: 16,
  MASK: 17,
  READONLY_PATH: 18,
  HOSTNAME: 19,
  DOMAINNAME: 20,
  SYSCTL: 21,
  RLIMIT: 22,
  OOM_SCORE_ADJ: 23,
  CAPS: 24,
  USER: 25,
  GROUPS: 26,
  NO_NEW_PRIVS: 27,
  SECCOMP: 28,
  CWD: 29,
  ENV: 30,
  ARGS: 31,
  EXEC_PATH: 32,
  CONSOLE_SOCKET: 33,
  CONSOLE_SIZE: 34,
  TERMINAL: 35,
  EXEC_FIFO: 36,
  PRESERVE_FDS: 37,
  PERSONALITY: 38,
  HOOK_PAUSE: 39,
  EXIT_FILE: 40,
  CONTAINER_HOOK: 41,
  CGROUP_SELF: 42,
  CGROUP_CLONE_INTO: 43,
  ROOTFS_PARENT_PRIVATE: 44,
  LOOPBACK_UP: 45,
  IOPRIO: 46,
  SCHED: 47,
  LSM_EXEC: 48,
  MKDIR_CWD: 49,
} as const;

export type PlanOp = (typeof PLAN_OP)[keyof typeof PLAN_OP];

/** OP_MODE flags. */
export const MODE_DETACH = 1;
export const MODE_MONITOR = 2;

export type PlanField = string | number | bigint | Buffer;

export class PlanWriter {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  add(op: PlanOp, ...fields: PlanField[]): this {
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(op, 0);
    head.writeUInt32LE(fields.length, 4);
    this.push(head);
    for (const f of fields) {
      const bytes = Buffer.isBuffer(f) ? f : Buffer.from(typeof f === 'string' ? f : f.toString(), 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(bytes.length, 0);
      this.push(len);
      this.push(bytes);
    }
    return this;
  }

  /** The framed plan: magic, body length, body. */
  finish(): Buffer {
    const head = Buffer.alloc(12);
    head.write('BPLAN001', 0, 'latin1');
    head.writeUInt32LE(this.size, 8);
    return Buffer.concat([head, ...this.chunks], 12 + this.size);
  }

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
  }
}

/** Decodes a framed plan back into records (tests and `--debug` dumps). */
export function decodePlan(buf: Buffer): { op: number; fields: Buffer[] }[] {
  if (buf.subarray(0, 8).toString('latin1') !== 'BPLAN001') throw new Error('not a berth plan');
  const end = 12 + buf.readUInt32LE(8);
  const out: { op: number; fields: Buffer[] }[] = [];
  let off = 12;
  while (off < end) {
    const op = buf.readUInt32LE(off);
    const n = buf.readUInt32LE(off + 4);
    off += 8;
    const fields: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const len = buf.readUInt32LE(off);
      fields.push(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    out.push({ op, fields });
  }
  return out;
}
