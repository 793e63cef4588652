/**
 * Docker's `User` ("name", "uid", "name:group", "uid:gid", …) and `GroupAdd`
 * resolved to numbers against the image's own /etc/passwd and /etc/group,
 * read inside the rootfs without following symlinks out of it.
 */
import { readFileSync } from 'node:fs';
import { resolveInRoot } from '../runtime/resolve-in-root.ts';
import { invalidArgument } from '../common/errors.ts';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function readInRoot(rootfs: string, path: string): string {
  const r = resolveInRoot(rootfs, path);
  if (r.escape || !r.stat?.isFile()) return '';
  try {
    return readFileSync(r.hostPath, 'utf8');
  } catch {
    return '';
  }
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').filter(Boolean) });
  }
  return out;
}

const isNumeric = (s: string) => /^\d+$/.test(s);
const MAX_ID = 2 ** 32 - 2;

function numericId(s: string, what: string, user: string): number {
  const n = Number(s);
  if (n > MAX_ID) throw invalidArgument('BERTH_CONTAINER_BAD_USER', `User "${user}": ${what} ${s} is out of range`);
  return n;
}

export function resolveUser(rootfs: string, user: string | undefined, groupAdd: readonly string[] = []): ResolvedUser {
  const spec = user?.trim() || '0';
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  const passwd = parsePasswd(readInRoot(rootfs, '/etc/passwd'));
  const groups = parseGroup(readInRoot(rootfs, '/etc/group'));

  let uid: number;
  let gid: number;
  let name: string | undefined;
  let home = '/';
  if (isNumeric(userPart)) {
    uid = numericId(userPart, 'uid', spec);
    const entry = passwd.find((p) => p.uid === uid);
    gid = entry?.gid ?? 0;
    name = entry?.name;
    home = entry?.home ?? '/';
  } else {
    const entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw invalidArgument('BERTH_CONTAINER_BAD_USER', `unable to find user ${userPart}: no matching entries in passwd file`);
    }
    ({ uid, gid, name, home } = entry);
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (isNumeric(groupPart)) gid = numericId(groupPart, 'gid', spec);
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw invalidArgument('BERTH_CONTAINER_BAD_USER', `unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  // Supplementary groups: the user's memberships (when no explicit group was
  // given, as Docker does), then --group-add.
  const extra = new Set<number>();
  if (name && groupPart === undefined) for (const g of groups) if (g.members.includes(name) && g.gid !== gid) extra.add(g.gid);
  for (const g of groupAdd) {
    if (isNumeric(g)) extra.add(numericId(g, 'gid', g));
    else {
      const e = groups.find((x) => x.name === g);
      if (!e) throw invalidArgument('BERTH_CONTAINER_BAD_GROUP', `Unable to find group ${g}: no matching entries in group file`);
      extra.add(e.gid);
    }
  }
  // The primary group leads the supplementary list, as dockerd sets it since
  // the fix for CVE-2022-36109: a group used to deny access ("negative"
  // group permissions) cannot be shed by a setgroups() in the container.
  extra.delete(gid);
  return { uid, gid, additionalGids: [gid, ...extra], home };
}
