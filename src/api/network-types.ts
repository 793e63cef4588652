/**
 * Docker Engine API wire types for networks (GET /networks, GET
 * /networks/{id}, POST /networks/prune) — moby's api/types/network shapes at
 * API 1.45, which the docker CLI, compose and the SDKs read verbatim.
 */

/** One container attached to a network (GET /networks/{id} .Containers). */
export interface NetworkEndpointResource {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface NetworkIPAM {
  Driver: string;
  Options: Record<string, string> | null;
  Config: Array<{ Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }> | null;
}

/** GET /networks item and GET /networks/{id}. */
export interface NetworkResource {
  Name: string;
  Id: string;
  /** RFC 3339 with nanoseconds. */
  Created: string;
  Scope: 'local' | 'swarm' | 'global';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: NetworkIPAM;
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  /** The list leaves this empty (as dockerd does since API 1.28); inspect fills it. */
  Containers: Record<string, NetworkEndpointResource>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** POST /networks/prune */
export interface NetworksPruneReport {
  NetworksDeleted: string[];
}
