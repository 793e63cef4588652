/**
 * The network side of the Engine API: berth's two predefined networks,
 * `none` and `host`, listed and inspected in dockerd's shapes with the
 * running containers attached to each. Nothing can be created, connected
 * or disconnected yet; those requests get a clear refusal (501), never a 404
 * a client could mistake for something else.
 */
import { BerthError, invalidArgument, notFound } from '../common/errors.ts';
import type { ContainerRecord } from '../container/store.ts';
import type { NetworkEndpointResource, NetworkResource, NetworksPruneReport } from '../api/network-types.ts';
import { BUILTIN_NETWORKS, NO_USER_NETWORKS, builtinNetworkId, endpointId, networkName } from './builtin.ts';
import { badFilter, filterMatches } from '../common/filters.ts';

export interface NetworkServiceOptions {
  containers: () => Iterable<ContainerRecord>;
  /** When the networks came to be: the engine's first start (RFC 3339). */
  created: string;
}

const LIST_FILTERS = new Set(['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']);
const PRUNE_FILTERS = new Set(['until', 'label', 'label!']);


export function notImplemented(what: string): BerthError {
  return new BerthError('BERTH_NETWORK_NOT_IMPLEMENTED', `${what}: ${NO_USER_NETWORKS}`, { status: 501 });
}

export class NetworkService {
  private readonly opts: NetworkServiceOptions;

  constructor(opts: NetworkServiceOptions) {
    this.opts = opts;
  }

  private resource(net: (typeof BUILTIN_NETWORKS)[number], withContainers: boolean): NetworkResource {
    const containers: Record<string, NetworkEndpointResource> = {};
    if (withContainers) {
      for (const c of this.opts.containers()) {
        if (!c.State.Running || networkName(c) !== net.name) continue;
        containers[c.Id] = { Name: c.Name.replace(/^\//, ''), EndpointID: endpointId(c.Id, net.name), MacAddress: '', IPv4Address: '', IPv6Address: '' };
      }
    }
    return {
      Name: net.name,
      Id: builtinNetworkId(net.name),
      Created: this.opts.created,
      Scope: 'local',
      Driver: net.driver,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: null },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: {},
      Labels: {},
    };
  }

  /** GET /networks with dockerd's filters; sorted by name as the docker CLI shows them. */
  list(filters: Map<string, string[]> = new Map()): NetworkResource[] {
    for (const key of filters.keys()) if (!LIST_FILTERS.has(key)) throw badFilter(`invalid filter '${key}'`);
    const dangling = filters.get('dangling');
    if (dangling?.length) {
      if (dangling.length > 1) throw badFilter('got more than one value for filter key "dangling"');
      if (!['0', 'false', '1', 'true'].includes(dangling[0]!)) {
        throw badFilter(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`);
      }
    }
    for (const t of filters.get('type') ?? []) if (t !== 'custom' && t !== 'builtin') throw badFilter(`invalid filter: 'type'='${t}'`);
    const any = (key: string, test: (v: string) => boolean) => {
      const values = filters.get(key);
      return !values?.length || values.some(test);
    };
    return BUILTIN_NETWORKS.map((n) => this.resource(n, false)).filter(
      (n) =>
        any('driver', (v) => v === n.Driver) &&
        any('name', (v) => filterMatches(v, n.Name)) &&
        any('id', (v) => filterMatches(v, n.Id)) &&
        // The predefined networks have no labels: any label filter leaves them out.
        !filters.get('label')?.length &&
        any('scope', (v) => v === n.Scope) &&
        // Predefined networks are never dangling (dockerd's rule).
        any('dangling', (v) => v === '0' || v === 'false') &&
        any('type', (v) => v === 'builtin'),
    );
  }

  /** A network by full name, full id or unique id prefix (dockerd's order). */
  find(ref: string): (typeof BUILTIN_NETWORKS)[number] {
    const byName = BUILTIN_NETWORKS.find((n) => n.name === ref);
    if (byName) return byName;
    const byId = BUILTIN_NETWORKS.find((n) => builtinNetworkId(n.name) === ref);
    if (byId) return byId;
    const prefixed = /^[0-9a-f]+$/.test(ref) ? BUILTIN_NETWORKS.filter((n) => builtinNetworkId(n.name).startsWith(ref)) : [];
    if (prefixed.length === 1) return prefixed[0]!;
    if (prefixed.length > 1) throw invalidArgument('BERTH_NETWORK_AMBIGUOUS', `network ${ref} is ambiguous (${prefixed.length} matches found based on ID prefix)`);
    throw notFound('BERTH_NETWORK_NOT_FOUND', `network ${ref} not found`);
  }

  inspect(ref: string, scope?: string): NetworkResource {
    const net = this.find(ref);
    if (scope && scope !== 'local') throw notFound('BERTH_NETWORK_NOT_FOUND', `network ${ref} not found`);
    return this.resource(net, true);
  }

  /** DELETE /networks/{id}: the predefined networks stay (403, as dockerd answers). */
  remove(ref: string): never {
    const net = this.find(ref);
    throw new BerthError('BERTH_NETWORK_PREDEFINED', `${net.name} is a pre-defined network and cannot be removed`, { status: 403 });
  }

  /** POST /networks/prune: there are no user-defined networks, so nothing is ever unused. */
  prune(filters: Map<string, string[]> = new Map()): NetworksPruneReport {
    for (const key of filters.keys()) if (!PRUNE_FILTERS.has(key)) throw badFilter(`invalid filter '${key}'`);
    return { NetworksDeleted: [] };
  }
}
