/**
 * Where a registry name in a reference actually lives, and whether we may talk
 * plain HTTP to it. Docker Hub is named `docker.io` in references but served
 * from registry-1.docker.io, and its credentials are filed under the legacy
 * key https://index.docker.io/v1/ in config.json.
 */
import { isIP } from 'node:net';

export const DOCKER_HUB_DOMAIN = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** `docker.io` / `index.docker.io` → registry-1.docker.io; everything else unchanged. */
export function apiHostFor(registry: string): string {
  const lower = registry.toLowerCase();
  if (lower === DOCKER_HUB_DOMAIN || lower === 'index.docker.io' || lower === 'registry-1.docker.io') return DOCKER_HUB_API_HOST;
  return registry;
}

/** The config.json `auths` key a registry's credentials are stored under. */
export function authKeyFor(registry: string): string {
  return apiHostFor(registry) === DOCKER_HUB_API_HOST ? DOCKER_HUB_AUTH_KEY : registry;
}

/** Split `host[:port]` (IPv6 in brackets) into hostname (no brackets) and port. */
export function splitHostPort(hostPort: string): { hostname: string; port?: string } {
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    const hostname = hostPort.slice(1, end);
    const rest = hostPort.slice(end + 1);
    return rest.startsWith(':') ? { hostname, port: rest.slice(1) } : { hostname };
  }
  const colon = hostPort.lastIndexOf(':');
  // A bare IPv6 address (several colons, no brackets) has no port.
  if (colon >= 0 && hostPort.indexOf(':') === colon) return { hostname: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
  return { hostname: hostPort };
}

/** localhost, 127.0.0.0/8 and ::1 — the only hosts plain HTTP is assumed safe for. */
export function isLoopbackHost(hostPort: string): boolean {
  const { hostname } = splitHostPort(hostPort);
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * A registry may be spoken to without TLS verification / over plain HTTP if it
 * is on loopback or listed insecure (by host:port, by host, or by a CIDR that
 * contains its IP — the forms docker's `insecure-registries` accepts).
 */
export function isInsecureAllowed(registry: string, insecureRegistries: readonly string[] = []): boolean {
  const host = apiHostFor(registry);
  if (isLoopbackHost(host)) return true;
  const { hostname } = splitHostPort(host);
  for (const entry of insecureRegistries) {
    const e = entry.replace(/^https?:\/\//, '').replace(/\/+$/, '').toLowerCase();
    if (e === host.toLowerCase() || e === hostname.toLowerCase()) return true;
    if (e.includes('/') && isIP(hostname) === 4 && ipv4InCidr(hostname, e)) return true;
  }
  return false;
}

function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!base || isIP(base) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (a: string) => a.split('.').reduce((acc, octet) => (acc << 8) + Number(octet), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(base) & mask);
}
