/**
 * The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf that are
 * bind-mounted into every container, built as Docker builds them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { invalidArgument } from '../common/errors.ts';
import type { HostConfig } from '../api/container-types.ts';

export interface EtcFileInputs {
  hostname: string;
  domainname?: string;
  hostConfig: HostConfig;
  /** The container's own address, when it has one on a network. */
  ipAddress?: string;
}

/** Docker's fallback when the host only lists resolvers on loopback, which a container cannot reach. */
const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

export function buildHosts({ hostname, domainname, hostConfig, ipAddress }: EtcFileInputs): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const entry of hostConfig.ExtraHosts ?? []) {
    // "name:ip" (ip may itself hold colons for IPv6) or "name=ip".
    const sep = entry.search(/[:=]/);
    const name = sep === -1 ? '' : entry.slice(0, sep);
    const ip = sep === -1 ? '' : entry.slice(sep + 1).replace(/^\[|\]$/g, '');
    if (!name || !isIP(ip)) {
      throw invalidArgument('BERTH_CONTAINER_BAD_EXTRA_HOST', `ExtraHosts: invalid entry "${entry}" (want name:ip)`);
    }
    lines.push(`${ip}\t${name}`);
  }
  const fqdn = domainname ? `${hostname}.${domainname} ${hostname}` : hostname;
  lines.push(`${ipAddress ?? '127.0.0.1'}\t${fqdn}`);
  return lines.join('\n') + '\n';
}

export function buildResolvConf(hostResolvConf: string, hostConfig: HostConfig): string {
  const hostLines = hostResolvConf.split('\n');
  let nameservers = hostLines
    .map((l) => l.match(/^\s*nameserver\s+(\S+)/)?.[1])
    .filter((ns): ns is string => !!ns && !ns.startsWith('127.') && ns !== '::1');
  let search = hostLines.map((l) => l.match(/^\s*search\s+(.+)/)?.[1]?.trim()).filter(Boolean).at(-1)?.split(/\s+/) ?? [];
  let options = hostLines.map((l) => l.match(/^\s*options\s+(.+)/)?.[1]?.trim()).filter(Boolean).at(-1)?.split(/\s+/) ?? [];
  if (hostConfig.Dns && hostConfig.Dns.length > 0) {
    for (const ns of hostConfig.Dns) {
      if (!isIP(ns)) throw invalidArgument('BERTH_CONTAINER_BAD_DNS', `Dns: "${ns}" is not an IP address`);
    }
    nameservers = [...hostConfig.Dns];
  }
  if (nameservers.length === 0) nameservers = FALLBACK_NAMESERVERS;
  if (hostConfig.DnsSearch && hostConfig.DnsSearch.length > 0) search = hostConfig.DnsSearch.filter((s) => s !== '.');
  if (hostConfig.DnsOptions && hostConfig.DnsOptions.length > 0) options = [...hostConfig.DnsOptions];
  const out = nameservers.map((ns) => `nameserver ${ns}`);
  if (search.length > 0) out.push(`search ${search.join(' ')}`);
  if (options.length > 0) out.push(`options ${options.join(' ')}`);
  return out.join('\n') + '\n';
}

/** Write the three files into the container's directory; returns their paths. */
export async function writeEtcFiles(dir: string, inputs: EtcFileInputs): Promise<{ hostname: string; hosts: string; resolvConf: string }> {
  const paths = { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') };
  await mkdir(dir, { recursive: true });
  const hostResolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const hostMode = inputs.hostConfig.NetworkMode === 'host';
  await Promise.all([
    writeFile(paths.hostname, inputs.hostname + '\n'),
    // With the host's network the container sees the host's names too.
    writeFile(paths.hosts, hostMode ? await readFile('/etc/hosts', 'utf8').catch(() => buildHosts(inputs)) : buildHosts(inputs)),
    writeFile(paths.resolvConf, hostMode && !inputs.hostConfig.Dns?.length ? hostResolv : buildResolvConf(hostResolv, inputs.hostConfig)),
  ]);
  return paths;
}
