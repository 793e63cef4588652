/**
 * berth's networks as containers see them. There is no bridge networking yet:
 * a container gets a network namespace of its own with loopback only (Docker's
 * `none`; the `default` and `bridge` modes mean the same here), the host's
 * (`host`), or another running container's (`container:<name|id>`). These are
 * the rules create and start apply, and the ids and names the API reports.
 */
import { createHash } from 'node:crypto';
import { BerthError, invalidArgument } from '../common/errors.ts';
import type { ContainerCreateRequest, HostConfig } from '../api/container-types.ts';
import type { ContainerRecord } from '../container/store.ts';
import { runningContainerNamespace } from '../container/namespace-modes.ts';

/** The networks that exist: Docker's predefined ones berth can give. */
export const BUILTIN_NETWORKS = [
  { name: 'host', driver: 'host' },
  { name: 'none', driver: 'null' },
] as const;

export const NO_USER_NETWORKS = 'berth has no user-defined networks yet: use --network none or host';

/** Docker's built-in networks have stable ids per daemon; ours are derived from the name. */
export function builtinNetworkId(name: string): string {
  return createHash('sha256').update(`berth-network:${name}`).digest('hex');
}

export function endpointId(containerId: string, network: string): string {
  return createHash('sha256').update(`${containerId}/${network}`).digest('hex');
}

/** The network a container is attached to, as Docker names it; none for container:<x> (it has no endpoint of its own). */
export function networkName(rec: ContainerRecord): string | undefined {
  const mode = rec.HostConfig.NetworkMode || 'none';
  if (mode.startsWith('container:')) return undefined;
  return mode === 'default' || mode === 'bridge' ? 'none' : mode;
}

function refused(message: string): BerthError {
  return invalidArgument('BERTH_CONTAINER_NETWORK', message);
}

/**
 * Create-time checks of HostConfig.NetworkMode, with Docker's messages for
 * the options container:<x> conflicts with. An unknown network is a 400, not
 * dockerd's 404: the docker CLI takes any 404 from create for a missing image
 * and goes to pull it from a registry.
 */
export function checkNetworkMode(req: ContainerCreateRequest, hc: HostConfig, find: (ref: string) => ContainerRecord | undefined): void {
  const mode = hc.NetworkMode || 'default';
  if (mode === 'container' || mode.startsWith('container:')) {
    const ref = mode.slice('container:'.length);
    if (!ref) throw refused('Invalid network mode: invalid container format container:<name|id>');
    if (req.Hostname) throw refused('conflicting options: hostname and the network mode');
    if (hc.Links?.length) throw refused("conflicting options: container type network can't be used with links. This would result in undefined behavior");
    if (hc.Dns?.length) throw refused('conflicting options: dns and the network mode');
    if (hc.ExtraHosts?.length) throw refused('conflicting options: custom host-to-IP mapping and the network mode');
    if ((hc.PortBindings && Object.keys(hc.PortBindings).length) || hc.PublishAllPorts) {
      throw refused('conflicting options: port publishing and the container type network mode');
    }
    if (req.ExposedPorts && Object.keys(req.ExposedPorts).length) throw refused('conflicting options: port exposing and the container type network mode');
    if (req.MacAddress) throw refused('conflicting options: mac-address and the network mode');
    if (!find(ref)) throw refused(`network mode container:${ref}: No such container: ${ref}`);
    return;
  }
  if (!['default', 'none', 'host', 'bridge'].includes(mode)) throw refused(`network ${mode} not found: ${NO_USER_NETWORKS}`);
}

/**
 * Start-time half of container:<x>: the other container must be running; the
 * new one joins its network namespace and, as with Docker, shares its
 * hostname and its /etc/hostname, /etc/hosts and /etc/resolv.conf (the
 * record is updated to point at them). Returns the namespace path for the
 * OCI spec, or undefined for the other modes.
 */
export function joinContainerNetwork(rec: ContainerRecord, find: (ref: string) => ContainerRecord | undefined): string | undefined {
  const mode = rec.HostConfig.NetworkMode ?? '';
  if (!mode.startsWith('container:')) return undefined;
  const { path, other } = runningContainerNamespace('net', mode.slice('container:'.length), rec.Id, find);
  rec.Config.Hostname = other.Config.Hostname;
  rec.Config.Domainname = other.Config.Domainname ?? '';
  rec.HostnamePath = other.HostnamePath;
  rec.HostsPath = other.HostsPath;
  rec.ResolvConfPath = other.ResolvConfPath;
  return path;
}
