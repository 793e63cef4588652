/**
 * spec → plan: every decision about a container's start is made here, ahead
 * of the fork, and written as an ordered list of records the C launcher
 * executes without interpretation (see plan-format.ts and native/plan.h).
 * This runs on every container start, so it only touches the filesystem
 * where it must (args[0] lookup, bind sources, symlink checks).
 */
import { existsSync, readFileSync, realpathSync, statSync, statfsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import type { LinuxDevice, LinuxNamespaceType, Mount, Process, Spec } from '../oci/runtime-spec.ts';
import { BerthError } from '../common/errors.ts';
import { allKernelCapabilities, capabilityMask, ownBoundingCapabilities } from './capabilities.ts';
import { compileSeccomp } from './seccomp/index.ts';
import { configError } from './errors.ts';
import { hostCgroupMounts, isCgroup2Only, mountOf } from './host-mounts.ts';
import { MS, PROPAGATION_OPTIONS, parseMountOptions } from './mount-options.ts';
import { MODE_DETACH, MODE_MONITOR, PLAN_OP, PlanWriter } from './plan-format.ts';
import type { PlanField } from './plan-format.ts';
import { resolveInRoot } from './resolve-in-root.ts';

export const CLONE_FLAGS: Record<LinuxNamespaceType, number> = {
  mount: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  time: 0x00000080,
};

/** /proc/PID/ns/<name> for each namespace type. */
export const PROC_NS_NAME: Record<LinuxNamespaceType, string> = {
  mount: 'mnt',
  cgroup: 'cgroup',
  uts: 'uts',
  ipc: 'ipc',
  user: 'user',
  pid: 'pid',
  network: 'net',
  time: 'time',
};

/** Join order: the user namespace first (it grants the rights to join the rest), mount last. */
const JOIN_ORDER: LinuxNamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'time', 'cgroup', 'mount'];

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The devices every container gets (runc's defaults). */
const DEFAULT_DEVICES: LinuxDevice[] = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
];

const DEV_SYMLINKS: [string, string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
  ['pts/ptmx', '/dev/ptmx'],
];

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export interface PlanOptions {
  spec: Spec;
  /** Host path of the rootfs; for exec, /proc/<init pid>/root (only for the args[0] lookup). */
  rootfs: string;
  bundle: string;
  /** The process to run (spec.process for create, the exec process for exec). */
  process: Process;
  /** exec: join the namespaces of this running init instead of creating a container. */
  joinPid?: number;
  /** The launcher exits when the process is ready (create, run -d, exec -d). */
  detach?: boolean;
  /** Detach, but keep a small monitor process that records the exit status here. */
  monitorExitFile?: string;
  execFifo?: string;
  consoleSocket?: string;
  preserveFds?: number;
  noPivot?: boolean;
  /** cgroup.procs files the launcher writes the pid into before the process runs. */
  cgroupProcs?: string[];
  /** Stop after mounts for prestart/createRuntime/createContainer hooks. */
  hookPause?: boolean;
}

export interface Plan {
  bytes: Buffer;
  /** What will be exec'd (first candidate). */
  execPath: string;
}

/**
 * How the process enters its cgroups (one cgroup.procs file per hierarchy).
 * Writing a pid to cgroup.procs makes the kernel take its global threadgroup
 * lock for writing, which waits out an RCU grace period: 7-15 ms per
 * container measured on these hosts. So the launcher's single-threaded joiner
 * moves itself into each v1 hierarchy (writing "0" to `tasks`, which skips
 * that lock) and is born in the cgroup2 directory (clone3 CLONE_INTO_CGROUP);
 * the container process inherits both. Which is which comes from the host's
 * cgroup mounts; a file under none of them keeps the plain cgroup.procs write.
 */
function addCgroupJoins(w: PlanWriter, procsFiles: string[]): void {
  let cloneInto: string | undefined;
  for (const file of procsFiles) {
    const dir = dirname(file);
    const mount = basename(file) === 'cgroup.procs'
      ? hostCgroupMounts().find((m) => dir === m.mountPoint || dir.startsWith(m.mountPoint + '/'))
      : undefined;
    if (mount?.fsType === 'cgroup2' && cloneInto === undefined) {
      cloneInto = dir;
      w.add(PLAN_OP.CGROUP_CLONE_INTO, dir);
    } else if (mount?.fsType === 'cgroup') {
      w.add(PLAN_OP.CGROUP_SELF, join(dir, 'tasks'));
    } else {
      w.add(PLAN_OP.CGROUP_PROCS, file);
    }
  }
}

export function computePlan(opts: PlanOptions): Plan {
  const { spec, process: proc } = opts;
  const w = new PlanWriter();
  const linux = spec.linux ?? {};
  const isExec = opts.joinPid !== undefined;
  let mode = 0;
  if (opts.monitorExitFile) mode |= MODE_MONITOR;
  else if (opts.detach) mode |= MODE_DETACH;
  w.add(PLAN_OP.MODE, mode);
  if (opts.monitorExitFile) w.add(PLAN_OP.EXIT_FILE, opts.monitorExitFile);

  // Namespaces.
  const namespaces = linux.namespaces ?? [];
  const nsTypes = new Set(namespaces.map((n) => n.type));
  const userns = nsTypes.has('user');
  let newFlags = 0;
  const joins: { type: LinuxNamespaceType; path: string }[] = [];
  for (const ns of namespaces) {
    if (isExec) {
      joins.push({ type: ns.type, path: `/proc/${opts.joinPid}/ns/${PROC_NS_NAME[ns.type]}` });
    } else if (ns.path) {
      if (!existsSync(ns.path)) throw configError(`linux.namespaces[${ns.type}].path`, `${ns.path} does not exist`);
      joins.push({ type: ns.type, path: ns.path });
    } else {
      newFlags |= CLONE_FLAGS[ns.type];
    }
  }
  if (!isExec && !nsTypes.has('mount')) throw configError('linux.namespaces', 'a mount namespace is required');
  joins.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  for (const j of joins) w.add(PLAN_OP.NS_JOIN, CLONE_FLAGS[j.type], j.path);
  if (newFlags) w.add(PLAN_OP.NS_NEW, newFlags);
  const newUserns = (newFlags & CLONE_FLAGS.user) !== 0;
  if (newUserns) {
    if (!linux.uidMappings?.length || !linux.gidMappings?.length)
      throw configError('linux.uidMappings', 'a new user namespace needs uidMappings and gidMappings');
    w.add(PLAN_OP.UID_MAP, linux.uidMappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''));
    w.add(PLAN_OP.GID_MAP, linux.gidMappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''));
    if (process.geteuid?.() !== 0) w.add(PLAN_OP.SETGROUPS_DENY);
  }
  if (!isExec && (newFlags & CLONE_FLAGS.time) && linux.timeOffsets) {
    const lines = Object.entries(linux.timeOffsets).map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`);
    w.add(PLAN_OP.TIME_OFFSETS, lines.join(''));
  }
  addCgroupJoins(w, opts.cgroupProcs ?? []);

  if (!isExec) {
    addRootfs(w, opts, userns);
    if (spec.hostname !== undefined && spec.hostname !== '') {
      if (!(newFlags & CLONE_FLAGS.uts)) throw configError('hostname', 'setting a hostname needs a new uts namespace');
      w.add(PLAN_OP.HOSTNAME, spec.hostname);
    }
    if (spec.domainname) {
      if (!(newFlags & CLONE_FLAGS.uts)) throw configError('domainname', 'setting a domainname needs a new uts namespace');
      w.add(PLAN_OP.DOMAINNAME, spec.domainname);
    }
    for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
      checkSysctl(key, nsTypes);
      w.add(PLAN_OP.SYSCTL, key.replace(/\./g, '/'), value);
    }
    // runc brings the loopback interface of a new network namespace up.
    if (newFlags & CLONE_FLAGS.network) w.add(PLAN_OP.LOOPBACK_UP);
    if (linux.personality) {
      const domain = { LINUX: 0, LINUX32: 8 }[linux.personality.domain];
      if (domain === undefined) throw configError('linux.personality.domain', `must be LINUX or LINUX32, got ${JSON.stringify(linux.personality.domain)}`);
      w.add(PLAN_OP.PERSONALITY, domain);
    }
  }
  if (opts.hookPause) w.add(PLAN_OP.HOOK_PAUSE);
  if (!isExec) {
    // Hooks that run inside the container: createContainer before pivot_root,
    // startContainer after start, right before the program (the state arrives at the hook pause).
    for (const [stage, name] of [['c', 'createContainer'], ['s', 'startContainer']] as const) {
      (spec.hooks?.[name] ?? []).forEach((h, i) => {
        const args = h.args?.length ? h.args : [h.path];
        w.add(PLAN_OP.CONTAINER_HOOK, stage, i, h.timeout ?? 0, h.path, args.length, ...args, ...(h.env ?? []));
      });
    }
  }

  addProcess(w, opts, proc, newUserns);
  const execPath = addExec(w, opts, proc);
  return { bytes: w.finish(), execPath };
}

function checkSysctl(key: string, ns: Set<LinuxNamespaceType>): void {
  if (key.includes('/') || key.includes('..')) throw configError(`linux.sysctl.${key}`, 'not a sysctl name');
  const ipc = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];
  if (ipc.includes(key) || key.startsWith('fs.mqueue.')) {
    if (!ns.has('ipc')) throw configError(`linux.sysctl.${key}`, 'needs a new ipc namespace');
    return;
  }
  if (key.startsWith('net.')) {
    if (!ns.has('network')) throw configError(`linux.sysctl.${key}`, 'needs a network namespace');
    return;
  }
  if (key === 'kernel.hostname' || key === 'kernel.domainname') {
    if (!ns.has('uts')) throw configError(`linux.sysctl.${key}`, 'needs a uts namespace');
    return;
  }
  throw configError(`linux.sysctl.${key}`, 'is not namespaced: it would change the host');
}

function addRootfs(w: PlanWriter, opts: PlanOptions, userns: boolean): void {
  const { spec, rootfs } = opts;
  const linux = spec.linux ?? {};
  w.add(PLAN_OP.ROOTFS, rootfs);
  let rootProp = MS.SLAVE | MS.REC;
  let afterPivot = 0;
  if (linux.rootfsPropagation) {
    const p = PROPAGATION_OPTIONS[linux.rootfsPropagation];
    if (p === undefined) throw configError('linux.rootfsPropagation', `unknown propagation ${JSON.stringify(linux.rootfsPropagation)}`);
    rootProp = p;
    // The container's own "/" gets the asked propagation once it is "/" (the
    // rootfs bind is private by then); private it already is.
    if (!(p & MS.PRIVATE)) afterPivot = p;
  }
  w.add(PLAN_OP.ROOTFS_PROPAGATION, rootProp, afterPivot);
  const parent = sharedRootfsParent(rootfs, rootProp, userns);
  if (parent) w.add(PLAN_OP.ROOTFS_PARENT_PRIVATE, parent);
  if (opts.noPivot) w.add(PLAN_OP.NO_PIVOT);

  // As runc (needsSetupDev): the default devices and /dev symlinks go into
  // the container's /dev unless /dev is bind-mounted from the host; with no
  // /dev mount at all, that is the rootfs's own /dev directory.
  let devIsBind = false;
  const mounts = spec.mounts ?? [];
  mounts.forEach((m, i) => {
    const dest = posix.normalize(m.destination);
    const where = `mounts[${i}].destination`;
    const r = resolveInRoot(rootfs, dest);
    if (r.escape) {
      throw new BerthError('BERTH_RUNTIME_MOUNT_ESCAPE', `config.json: ${where}: ${m.destination} escapes the rootfs through symlink ${r.escape.link} -> ${r.escape.target}`, { status: 400 });
    }
    // Symlinks in the image are followed inside the rootfs here, so the launcher
    // creates missing directories along the real path (dangling links included);
    // it re-resolves with RESOLVE_IN_ROOT, so a later swap cannot leave the rootfs.
    const resolved = r.containerPath;
    if (dest === '/dev' && (m.type === 'bind' || (parseMountOptions(m.options).flags & MS.BIND) !== 0)) devIsBind = true;
    if (m.type === 'cgroup' || m.type === 'cgroup2') {
      const cgroupns = (spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup');
      addCgroupMount(w, m, resolved, userns, cgroupns, (opts.cgroupProcs ?? []).map((f) => posix.dirname(f)));
      return;
    }
    checkProcMount(m, resolved, opts.bundle, i);
    addMount(w, m, resolved, opts.bundle, i);
  });

  if (!devIsBind) {
    const devices = [...DEFAULT_DEVICES];
    for (const d of linux.devices ?? []) {
      const at = devices.findIndex((x) => x.path === d.path);
      if (at >= 0) devices.splice(at, 1);
      devices.push(d);
    }
    for (const d of devices) addDevice(w, d, userns);
    for (const [target, link] of DEV_SYMLINKS) w.add(PLAN_OP.SYMLINK, target, link);
  }
  // A bound /dev is the source's own (the host's, often): runc creates nothing
  // in it, linux.devices included, and neither does berth (mknod replaces nodes).
  if (spec.root?.readonly) w.add(PLAN_OP.ROOT_READONLY);
  for (const p of linux.readonlyPaths ?? []) w.add(PLAN_OP.READONLY_PATH, p);
  for (const p of linux.maskedPaths ?? []) w.add(PLAN_OP.MASK, p);
}

const PROC_SUPER_MAGIC = 0x9fa0;

/** What may be mounted inside /proc: files lxcfs emulates, and ns_last_pid (runc's list). */
const PROC_MOUNT_ALLOWED = new Set([
  '/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime',
  '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev', '/proc/sys/kernel/ns_last_pid',
]);

/**
 * runc's checkProcMount (hardening after CVE-2019-16884 and CVE-2019-19921):
 * a mount must not land inside /proc (over /proc/self/attr, /proc/sys, …)
 * except on the allow-list, and /proc itself takes only a procfs. As in runc
 * 1.1, proc, sysfs, tmpfs and mqueue mounts are not checked; binds and every
 * other type are. `dest` has its symlinks resolved inside the rootfs.
 */
function checkProcMount(m: Mount, dest: string, bundle: string, i: number): void {
  if (dest !== '/proc' && !dest.startsWith('/proc/')) return;
  const type = m.type ?? '';
  const isBind = type === 'bind' || (parseMountOptions(m.options).flags & MS.BIND) !== 0;
  if (!isBind && ['proc', 'sysfs', 'tmpfs', 'mqueue'].includes(type)) return;
  const where = `mounts[${i}].destination`;
  if (dest === '/proc') {
    if (isBind && m.source) {
      const source = isAbsolute(m.source) ? m.source : resolve(bundle, m.source);
      let magic: number | undefined;
      try {
        magic = Number(statfsSync(source).type);
      } catch {
        magic = undefined;
      }
      if (magic === PROC_SUPER_MAGIC) return;
    }
    throw configError(where, `"${dest}" cannot be mounted because it is not of type proc`);
  }
  if (PROC_MOUNT_ALLOWED.has(dest)) return;
  throw configError(where, `"${dest}" cannot be mounted because it is inside /proc`);
}

/**
 * runc's rootfsParentMountPrivate: the mount the rootfs lives on (the rootfs
 * itself when it is a mount point) must not be shared when the rootfs is
 * bound onto itself, or the bind propagates to its peers (the host) and
 * pivot_root/MS_MOVE refuse a new root under a shared parent (EINVAL). Which
 * mount, and whether it will be shared once "/" has been given rootProp in
 * the container's mount namespace, is known here; the launcher then makes it
 * private. With the default rslave (or any recursive slave/private), nothing
 * is shared and mountinfo is not read.
 */
function sharedRootfsParent(rootfs: string, rootProp: number, userns: boolean): string | undefined {
  const recursive = (rootProp & MS.REC) !== 0;
  if (recursive && !(rootProp & MS.SHARED)) return undefined;
  let real: string;
  try {
    real = realpathSync(rootfs);
  } catch {
    return undefined;
  }
  const m = mountOf(real);
  if (!m) return undefined;
  // Did the propagation change of "/" reach this mount? Otherwise it keeps the
  // host's; a mount namespace owned by another user namespace copies shared
  // mounts as slaves.
  const reached = recursive || m.mountPoint === '/';
  const shared = reached ? (rootProp & MS.SHARED) !== 0 : m.shared && !userns;
  return shared ? m.mountPoint : undefined;
}

function addMount(w: PlanWriter, m: Mount, dest: string, bundle: string, i: number): void {
  const opts = parseMountOptions(m.options);
  let flags = opts.flags;
  const type = m.type ?? '';
  if (type === 'bind') flags |= MS.BIND;
  const isBind = (flags & MS.BIND) !== 0;
  let source = m.source ?? '';
  let kind = 'd';
  if (isBind) {
    if (!source) throw configError(`mounts[${i}].source`, 'a bind mount needs a source');
    source = isAbsolute(source) ? source : resolve(bundle, source);
    let st;
    try {
      st = statSync(source);
    } catch {
      throw configError(`mounts[${i}].source`, `bind source ${source} does not exist`);
    }
    if (!st.isDirectory()) kind = 'f';
    // A bind takes MS_BIND|MS_REC only; the other flags need a remount.
    const again = flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    w.add(PLAN_OP.MOUNT, source, dest, '', flags & (MS.BIND | MS.REC), '', opts.propagation, again, kind);
    return;
  }
  if (!type) throw configError(`mounts[${i}].type`, 'required for a non-bind mount');
  w.add(PLAN_OP.MOUNT, source || type, dest, type, flags, opts.data.join(','), opts.propagation, 0, kind);
}

/**
 * A `cgroup` mount: cgroup2 on a v2 host; on a v1 host a tmpfs with one
 * mount per hierarchy. In a cgroup namespace those are fresh cgroupfs mounts
 * (their root is the container's cgroup). Without one (Docker's default on
 * v1), a fresh mount would show the host's whole tree, every other
 * container's included, and a fresh cgroup2 mount outside a cgroup namespace
 * costs 6-20 ms here: so, as runc does, each hierarchy shows the container's
 * own cgroup directory, bind-mounted from the host.
 */
function addCgroupMount(w: PlanWriter, m: Mount, dest: string, userns: boolean, cgroupns: boolean, containerDirs: string[]): void {
  const opts = parseMountOptions(m.options);
  const base = opts.flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME);
  const ro = opts.flags & MS.RDONLY;
  const ownDir = (mountPoint: string) => containerDirs.find((d) => d === mountPoint || d.startsWith(mountPoint + '/'));
  if (isCgroup2Only() || m.type === 'cgroup2') {
    const own = cgroupns ? undefined : ownDir(hostCgroupMounts()[0]?.mountPoint ?? '/sys/fs/cgroup');
    if (own) w.add(PLAN_OP.MOUNT, own, dest, '', MS.BIND | MS.REC, '', 0, base | MS.BIND | ro, 'd');
    else w.add(PLAN_OP.MOUNT, 'cgroup', dest, 'cgroup2', base | ro, '', 0, 0, 'd');
    return;
  }
  if (userns && !cgroupns) {
    // cgroup v1 cannot be mounted from a user namespace: show the host's tree read-only.
    w.add(PLAN_OP.MOUNT, '/sys/fs/cgroup', dest, '', MS.BIND | MS.REC, '', 0, base | MS.RDONLY, 'd');
    return;
  }
  w.add(PLAN_OP.MOUNT, 'tmpfs', dest, 'tmpfs', base, 'mode=755', 0, 0, 'd');
  for (const h of hostCgroupMounts()) {
    const name = posix.basename(h.mountPoint);
    const at = posix.join(dest, name);
    const own = cgroupns ? undefined : ownDir(h.mountPoint);
    if (own) {
      w.add(PLAN_OP.MOUNT, own, at, '', MS.BIND | MS.REC, '', 0, base | MS.BIND | ro, 'd');
    } else if (h.fsType === 'cgroup2') {
      w.add(PLAN_OP.MOUNT, 'cgroup2', at, 'cgroup2', base | ro, '', 0, 0, 'd');
    } else {
      w.add(PLAN_OP.MOUNT, 'cgroup', at, 'cgroup', base | ro, h.controllers, 0, 0, 'd');
    }
    // Co-mounted controllers (cpu,cpuacct) get a symlink per controller, as on the host.
    if (h.fsType !== 'cgroup2' && name.includes(',')) for (const c of name.split(',')) w.add(PLAN_OP.SYMLINK, name, posix.join(dest, c));
  }
  if (ro) w.add(PLAN_OP.MOUNT, '', dest, '', MS.BIND | MS.REMOUNT | MS.RDONLY | base, '', 0, 0, 'd');
}

function addDevice(w: PlanWriter, d: LinuxDevice, userns: boolean): void {
  if (userns) {
    // No mknod in a user namespace: bind the host's node instead.
    if (existsSync(d.path)) w.add(PLAN_OP.DEVBIND, d.path);
    return;
  }
  const type = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
  const perm = (d.fileMode ?? 0o666) & 0o7777;
  w.add(PLAN_OP.MKNOD, d.path, type | perm, d.major ?? 0, d.minor ?? 0, d.uid ?? 0, d.gid ?? 0);
}

function addProcess(w: PlanWriter, opts: PlanOptions, proc: Process, newUserns: boolean): void {
  if (proc.terminal) {
    // Attached, the launcher itself holds the master and copies it to its stdio (runc run).
    if (!opts.consoleSocket && (opts.detach || opts.monitorExitFile)) {
      throw new BerthError('BERTH_RUNTIME_CONSOLE', 'process.terminal is true: a --console-socket is needed to hand over the pty', { status: 400 });
    }
    w.add(PLAN_OP.TERMINAL);
    if (proc.consoleSize) w.add(PLAN_OP.CONSOLE_SIZE, proc.consoleSize.height, proc.consoleSize.width);
  }
  if (opts.consoleSocket) w.add(PLAN_OP.CONSOLE_SOCKET, opts.consoleSocket);
  if (proc.oomScoreAdj !== undefined) w.add(PLAN_OP.OOM_SCORE_ADJ, proc.oomScoreAdj);
  if (proc.ioPriority !== undefined) w.add(PLAN_OP.IOPRIO, ioPriorityValue(proc.ioPriority));
  if (proc.scheduler !== undefined) w.add(PLAN_OP.SCHED, ...schedulerFields(proc.scheduler));
  addLsmLabels(w, proc);
  (proc.rlimits ?? []).forEach((r, i) => {
    const res = RLIMITS[r.type];
    if (res === undefined) throw configError(`process.rlimits[${i}].type`, `unknown rlimit ${JSON.stringify(r.type)}`);
    const hard = rlimitValue(r.hard);
    if (rlimitValue(r.soft) > hard) throw configError(`process.rlimits[${i}]`, `${r.type}: soft limit ${r.soft} is above the hard limit ${r.hard}`);
    // Raising a hard limit needs CAP_SYS_RESOURCE (which root lacks on some
    // hosts, these among them): say so here, naming the limit, rather than
    // fail in the launcher or run with less than was asked (as runc refuses).
    const ceiling = ownHardLimits()[res];
    if (ceiling !== undefined && hard > ceiling && !ownBoundingCapabilities().includes('CAP_SYS_RESOURCE')) {
      throw configError(`process.rlimits[${i}]`, `${r.type}: hard limit ${r.hard} is above this host's ${ceiling}, and raising it needs CAP_SYS_RESOURCE, which this engine does not hold`);
    }
    w.add(PLAN_OP.RLIMIT, res, rlimitValue(r.soft), hard, 0);
  });
  // Capabilities, limited to what this kernel knows (runc ignores the rest too).
  const kernelMask = capabilityMask(allKernelCapabilities());
  const caps = proc.capabilities ?? {};
  const mask = (field: keyof typeof caps) => capabilityMask(caps[field] ?? [], `process.capabilities.${field}`) & kernelMask;
  const effective = mask('effective');
  const permitted = mask('permitted');
  const inheritable = mask('inheritable');
  // The kernel only keeps ambient capabilities that are permitted and inheritable (runc drops the rest too).
  w.add(PLAN_OP.CAPS, mask('bounding'), effective, permitted, inheritable, mask('ambient') & permitted & inheritable);
  const u = proc.user;
  w.add(PLAN_OP.USER, u.uid, u.gid, u.umask ?? -1);
  if (!(newUserns && process.geteuid?.() !== 0)) w.add(PLAN_OP.GROUPS, ...(u.additionalGids ?? []));
  if (proc.noNewPrivileges) w.add(PLAN_OP.NO_NEW_PRIVS);
  const seccomp = opts.spec.linux?.seccomp;
  if (seccomp) {
    const compiled = compileSeccomp(seccomp);
    // Without no_new_privs the filter must go in while CAP_SYS_ADMIN is still held.
    const early = !proc.noNewPrivileges ? 1 : 0;
    w.add(PLAN_OP.SECCOMP, compiled.program, compiled.flags, early);
  }
  w.add(PLAN_OP.CWD, proc.cwd);
  // A new container's working directory is created if the image lacks it
  // (runc and Docker do); an exec into a running one must find it.
  if (opts.joinPid === undefined && proc.cwd !== '/') w.add(PLAN_OP.MKDIR_CWD, proc.cwd);
  if (opts.execFifo) w.add(PLAN_OP.EXEC_FIFO, opts.execFifo);
  if (opts.preserveFds) w.add(PLAN_OP.PRESERVE_FDS, opts.preserveFds);
}

const IOPRIO_CLASSES: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
const IOPRIO_CLASS_SHIFT = 13;

/** process.ioPriority → the value for ioprio_set(IOPRIO_WHO_PROCESS, 0, value). */
function ioPriorityValue(io: Process['ioPriority']): number {
  if (io === null || typeof io !== 'object') throw configError('process.ioPriority', 'must be an object {class, priority}');
  const cls = IOPRIO_CLASSES[io.class];
  if (cls === undefined) throw configError('process.ioPriority.class', `must be one of ${Object.keys(IOPRIO_CLASSES).join(', ')}, got ${JSON.stringify(io.class)}`);
  const prio = io.priority ?? 0;
  if (!Number.isInteger(prio) || prio < 0 || prio > 7) throw configError('process.ioPriority.priority', `must be an integer 0–7, got ${JSON.stringify(io.priority)}`);
  return (cls << IOPRIO_CLASS_SHIFT) | prio;
}

const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
};
const SCHED_FLAGS: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

/** process.scheduler → [policy, flags, nice, priority, runtime, deadline, period] for sched_setattr (runc's checks). */
function schedulerFields(sc: Process['scheduler']): PlanField[] {
  const f = 'process.scheduler';
  if (sc === null || typeof sc !== 'object') throw configError(f, 'must be an object {policy, …}');
  const policy = SCHED_POLICIES[sc.policy];
  if (policy === undefined) throw configError(`${f}.policy`, `must be one of ${Object.keys(SCHED_POLICIES).join(', ')}, got ${JSON.stringify(sc.policy)}`);
  const nice = sc.nice ?? 0;
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw configError(`${f}.nice`, `must be an integer -20–19, got ${JSON.stringify(sc.nice)}`);
  const realtime = sc.policy === 'SCHED_FIFO' || sc.policy === 'SCHED_RR';
  const priority = sc.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0) throw configError(`${f}.priority`, `must be a non-negative integer, got ${JSON.stringify(sc.priority)}`);
  if (priority !== 0 && !realtime) throw configError(`${f}.priority`, `can only be set for SCHED_FIFO or SCHED_RR, not ${sc.policy}`);
  if (realtime && (priority < 1 || priority > 99)) throw configError(`${f}.priority`, `${sc.policy} needs a priority 1–99, got ${priority}`);
  let flags = 0;
  if (sc.flags !== undefined) {
    if (!Array.isArray(sc.flags)) throw configError(`${f}.flags`, 'must be an array of SCHED_FLAG_* names');
    sc.flags.forEach((name, i) => {
      const bit = SCHED_FLAGS[name];
      if (bit === undefined) throw configError(`${f}.flags[${i}]`, `unknown flag ${JSON.stringify(name)} (known: ${Object.keys(SCHED_FLAGS).join(', ')})`);
      flags |= bit;
    });
  }
  const times: bigint[] = [];
  for (const k of ['runtime', 'deadline', 'period'] as const) {
    const v = sc[k] ?? 0;
    if (!Number.isInteger(v) || v < 0) throw configError(`${f}.${k}`, `must be a non-negative integer (nanoseconds), got ${JSON.stringify(sc[k])}`);
    if (v !== 0 && sc.policy !== 'SCHED_DEADLINE') throw configError(`${f}.${k}`, `can only be set for SCHED_DEADLINE, not ${sc.policy}`);
    times.push(BigInt(v));
  }
  return [policy, flags, nice, priority, ...times];
}

function lsmEnabled(file: string, want: RegExp): boolean {
  try {
    return want.test(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * process.selinuxLabel / process.apparmorProfile: the label the process gets
 * at execve (attr/exec), as runc sets it. Asked for on a host without that
 * LSM, the container is refused (runc: "selinux label is specified in config,
 * but selinux is disabled or not supported") rather than run unconfined.
 */
function addLsmLabels(w: PlanWriter, proc: Process): void {
  if (proc.selinuxLabel) {
    if (!existsSync('/sys/fs/selinux/enforce')) {
      throw configError('process.selinuxLabel', 'selinux label is specified in config, but selinux is disabled or not supported');
    }
    w.add(PLAN_OP.LSM_EXEC, 'process.selinuxLabel', '/proc/thread-self/attr/exec', proc.selinuxLabel);
  }
  if (proc.apparmorProfile) {
    if (!lsmEnabled('/sys/module/apparmor/parameters/enabled', /^Y/)) {
      throw configError('process.apparmorProfile', `apparmor profile ${JSON.stringify(proc.apparmorProfile)} is specified in config, but AppArmor is disabled or not supported (/sys/module/apparmor/parameters/enabled is not "Y")`);
    }
    const attr = existsSync('/proc/thread-self/attr/apparmor/exec') ? '/proc/thread-self/attr/apparmor/exec' : '/proc/thread-self/attr/exec';
    w.add(PLAN_OP.LSM_EXEC, 'process.apparmorProfile', attr, `exec ${proc.apparmorProfile}`);
  }
}

const RLIM_INFINITY = (1n << 64n) - 1n;

let hardLimits: bigint[] | undefined;
/** This process's hard limits by resource number (/proc/self/limits lists them in that order). */
function ownHardLimits(): bigint[] {
  if (hardLimits) return hardLimits;
  const out: bigint[] = [];
  try {
    const lines = readFileSync('/proc/self/limits', 'utf8').split('\n').slice(1).filter(Boolean);
    for (const line of lines) {
      // "Max open files            20000                20000                files"
      const fields = line.slice(26).trim().split(/\s+/);
      out.push(fields[1] === 'unlimited' ? RLIM_INFINITY : BigInt(fields[1] ?? '0'));
    }
  } catch {
    /* unknown: let the launcher find out */
  }
  return (hardLimits = out);
}

function rlimitValue(v: number): bigint {
  if (typeof v !== 'number' || v < 0 || !Number.isFinite(v)) return RLIM_INFINITY;
  if (v >= 2 ** 63) return RLIM_INFINITY;
  return BigInt(Math.floor(v));
}

function addExec(w: PlanWriter, opts: PlanOptions, proc: Process): string {
  const env = [...(proc.env ?? [])];
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${homeOf(opts.rootfs, proc.user.uid)}`);
  const arg0 = proc.args![0]!;
  const candidates: string[] = [];
  if (arg0.includes('/')) {
    candidates.push(posix.isAbsolute(arg0) ? arg0 : posix.join(proc.cwd, arg0));
  } else {
    for (const dir of pathVar.split(':')) if (dir) candidates.push(posix.join(dir, arg0));
  }
  // As runc's exec.LookPath before `create` returns: the first candidate that
  // is a file with an execute bit; a PATH search skips the others.
  let found: string | undefined;
  let notExecutable: { path: string; dir: boolean } | undefined;
  for (const c of candidates) {
    const st = resolveInRoot(opts.rootfs, c).stat;
    if (!st) continue;
    if (!st.isDirectory() && (st.mode & 0o111) !== 0) {
      found = c;
      break;
    }
    notExecutable ??= { path: c, dir: st.isDirectory() };
  }
  let paths: string[];
  const where = `${opts.joinPid !== undefined ? 'exec' : 'config.json'}: process.args[0]`;
  if (found) {
    paths = [found];
  } else {
    // Not in the image: acceptable only if a mount may bring it (a bind, e.g. docker-init).
    const mountDests = (opts.spec.mounts ?? []).map((m) => posix.normalize(m.destination));
    const mayBeMounted = candidates.filter((c) => mountDests.some((d) => c === d || c.startsWith(d === '/' ? '/' : d + '/')));
    if (mayBeMounted.length === 0) {
      if (notExecutable && arg0.includes('/')) {
        const why = notExecutable.dir ? 'is a directory' : 'is not executable';
        throw new BerthError('BERTH_RUNTIME_EXEC_DENIED', `${where}: exec ${JSON.stringify(arg0)}: permission denied (${notExecutable.path} ${why})`, { status: 400 });
      }
      const skipped = notExecutable ? `; ${notExecutable.path} exists but ${notExecutable.dir ? 'is a directory' : 'is not executable'}` : '';
      throw new BerthError('BERTH_RUNTIME_EXEC_NOT_FOUND', `${where}: ${JSON.stringify(arg0)} not found in the rootfs${arg0.includes('/') ? '' : ` (PATH=${pathVar}${skipped})`}`, { status: 400 });
    }
    paths = mayBeMounted;
  }
  w.add(PLAN_OP.EXEC_PATH, ...paths);
  w.add(PLAN_OP.ARGS, ...proc.args!);
  w.add(PLAN_OP.ENV, ...env);
  return paths[0]!;
}

function homeOf(rootfs: string, uid: number): string {
  try {
    const passwd = readFileSync(resolveInRoot(rootfs, '/etc/passwd').hostPath, 'utf8');
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && Number(f[2]) === uid) return f[5] || '/';
    }
  } catch {
    /* no passwd in the image */
  }
  return '/';
}
