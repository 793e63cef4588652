/**
 * The rarer `run`/`create` flags, parsed as the docker CLI does: -p/--expose
 * (nat.ParsePortSpecs), --device, --label-file, a --security-opt
 * seccomp=FILE profile (its JSON is sent, not its name) and --cidfile. Loaded
 * only when one of them is used, so `berth run`'s usual path does not pay
 * for it (see needsMoreOptions in container-options.ts).
 */
import { UsageError } from '../args.ts';
import type { DeviceMapping } from '../../api/container-types.ts';

const fs = () => process.getBuiltinModule('node:fs');

/** nat.ParsePortRange: "80" or "8000-8010", each 0..65535. */
function portRange(text: string): [number, number] | undefined {
  const parts = text.split('-');
  if (parts.length > 2 || parts.some((p) => !/^\d{1,5}$/.test(p) || Number(p) > 65535)) return undefined;
  const start = Number(parts[0]);
  const end = Number(parts[1] ?? parts[0]);
  return end < start ? undefined : [start, end];
}

/** nat.SplitProtoPort: "80/udp" → ["udp", "80"]; no protocol is tcp. */
function splitProto(raw: string): [string, string] {
  const parts = raw.split('/');
  if (!raw || !parts[0]) return ['', ''];
  if (parts.length === 1 || !parts[1]) return ['tcp', parts[0]];
  return [parts[1], parts[0]];
}

function validIp(ip: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip.split('.').every((o) => Number(o) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(ip) && ip.includes(':');
}

export interface PortSpecs {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

/** -p [ip:][hostPort:]containerPort[/proto] (ranges allowed), as nat.ParsePortSpecs reads it. */
export function parsePortSpecs(specs: string[]): PortSpecs {
  const out: PortSpecs = { exposed: {}, bindings: {} };
  for (const raw of specs) {
    const parts = raw.split(':');
    const n = parts.length;
    let ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
    let hostPort = n >= 2 ? parts[n - 2]! : '';
    const [proto, containerPort] = splitProto(parts[n - 1]!);
    if (ip.startsWith('[')) {
      if (!ip.endsWith(']')) throw new UsageError(`invalid IP address ${ip}: address ${ip}:: missing port in address`);
      ip = ip.slice(1, -1);
    }
    if (ip && !validIp(ip)) throw new UsageError(`invalid IP address: ${ip}`);
    if (!containerPort) throw new UsageError(`no port specified: ${raw}<empty>`);
    const range = portRange(containerPort);
    if (!range) throw new UsageError(`invalid containerPort: ${containerPort}`);
    let hostRange: [number, number] = [0, 0];
    if (hostPort) {
      const h = portRange(hostPort);
      if (!h) throw new UsageError(`invalid hostPort: ${hostPort}`);
      hostRange = h;
      if (range[1] - range[0] !== h[1] - h[0] && range[1] !== range[0]) {
        throw new UsageError(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
      }
    }
    if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) throw new UsageError(`invalid proto: ${proto}`);
    for (let i = 0; i <= range[1] - range[0]; i++) {
      if (hostPort) hostPort = String(hostRange[0] + i);
      // One container port and a host range: the range is where the host port may be picked.
      if (range[0] === range[1] && hostRange[0] !== hostRange[1]) hostPort = `${hostPort}-${hostRange[1]}`;
      const port = `${range[0] + i}/${proto.toLowerCase()}`;
      out.exposed[port] = {};
      (out.bindings[port] ??= []).push({ HostIp: ip, HostPort: hostPort });
    }
  }
  return out;
}

/** --expose 80, 80/udp, 8000-8010/tcp → exposed port keys. */
export function parseExpose(specs: string[]): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const e of specs) {
    if (e.includes(':')) throw new UsageError(`invalid port format for --expose: ${e}`);
    const [proto, port] = splitProto(e);
    const range = portRange(port);
    if (!range) throw new UsageError(`invalid range format for --expose: ${e}, error: strconv.ParseUint: parsing ${JSON.stringify(port)}: invalid syntax`);
    for (let p = range[0]; p <= range[1]; p++) out[`${p}/${proto}`] = {};
  }
  return out;
}

/** r, w and m, each at most once. */
function validDeviceMode(mode: string): boolean {
  return mode !== '' && /^[rwm]+$/.test(mode) && new Set(mode).size === mode.length;
}

/** --device PathOnHost[:PathInContainer][:perms] (the docker CLI's validateLinuxPath, then parseLinuxDevice). */
export function parseDevice(spec: string): DeviceMapping {
  const bad = (why: string) => new UsageError(`invalid argument "${spec}" for "--device" flag: ${why}`);
  const parts = spec.split(':');
  if (parts.length > 3 || !parts[0]) throw bad(`bad format for path: ${spec}`);
  let onHost = parts[0];
  let inContainer = parts[0];
  let perms = 'rwm';
  if (parts.length === 2) {
    if (validDeviceMode(parts[1]!)) perms = parts[1]!;
    else inContainer = parts[1]!;
  } else if (parts.length === 3) {
    inContainer = parts[1]!;
    perms = parts[2]!;
    if (!validDeviceMode(perms)) throw bad(`bad mode specified: ${perms}`);
  }
  if (!inContainer.startsWith('/')) throw bad(`${inContainer} is not an absolute path`);
  const clean = (p: string) => process.getBuiltinModule('node:path').posix.normalize(p);
  if (parts.length === 1) onHost = inContainer = clean(onHost);
  else inContainer = clean(inContainer);
  return { PathOnHost: onHost, PathInContainer: inContainer, CgroupPermissions: perms };
}

/** --label-file: key=value lines; # comments, blank lines and bare keys (nothing to look them up in) skipped, as the docker CLI's. */
export function readLabelFile(path: string): Array<[string, string]> {
  let text: string;
  try {
    text = fs().readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  const out: Array<[string, string]> = [];
  for (const [i, raw] of text.replace(/^\uFEFF/, '').split('\n').entries()) {
    const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new UsageError(`no variable name on line '${line}' (${path}:${i + 1})`);
    if (/\s/.test(key)) throw new UsageError(`variable '${key}' contains whitespaces (${path}:${i + 1})`);
    if (eq >= 0) out.push([key, line.slice(eq + 1)]);
  }
  return out;
}

/** Go's json.Compact: the same JSON without insignificant white space (keys, order and numbers untouched). */
function compactJson(text: string): string {
  JSON.parse(text);
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (!/\s/.test(c)) out += c;
  }
  return out;
}

/** --security-opt seccomp=FILE: the docker CLI sends the profile itself ("unconfined" and "builtin" stay names). */
export function securityOpts(opts: string[]): string[] {
  return opts.map((opt) => {
    let sep = opt.indexOf('=');
    if (sep < 0 && opt !== 'no-new-privileges') sep = opt.indexOf(':');
    const key = sep < 0 ? opt : opt.slice(0, sep);
    const value = sep < 0 ? '' : opt.slice(sep + 1);
    if (value === '' && key !== 'no-new-privileges') throw new UsageError(`Invalid --security-opt: ${JSON.stringify(opt)}`);
    if (key !== 'seccomp' || value === 'unconfined' || value === 'builtin') return opt;
    let text: string;
    try {
      text = fs().readFileSync(value, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new UsageError(`opening seccomp profile (${value}) failed: open ${value}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
    }
    try {
      return `seccomp=${compactJson(text)}`;
    } catch (err) {
      throw new UsageError(`compacting json for seccomp profile (${value}) failed: ${(err as Error).message}`);
    }
  });
}

/**
 * --cidfile: refused when the file exists (as docker: another container may
 * own it), created before the container, the ID written once it exists,
 * removed again when nothing was written.
 */
export class CidFile {
  private fd: number;
  private written = false;
  readonly path: string;
  constructor(path: string) {
    this.path = path;
    if (fs().existsSync(path)) throw new UsageError(`container ID file found, make sure the other container isn't running or delete ${path}`);
    try {
      this.fd = fs().openSync(path, 'wx', 0o644);
    } catch (err) {
      throw new UsageError(`failed to create the container ID file: ${(err as Error).message}`);
    }
  }
  write(id: string): void {
    fs().writeSync(this.fd, id);
    this.written = true;
  }
  close(): void {
    fs().closeSync(this.fd);
    if (!this.written) fs().rmSync(this.path, { force: true });
  }
}
