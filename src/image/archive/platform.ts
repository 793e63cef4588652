import type { Platform } from '../../oci/image-spec.ts';

/** Node's process.arch → the OCI/GOARCH name. */
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  return { os: 'linux', architecture: ARCH[process.arch] ?? process.arch };
}

export function withHostDefaults(platform: Partial<Platform> | undefined): Platform {
  const host = hostPlatform();
  const out: Platform = { os: platform?.os ?? host.os, architecture: platform?.architecture ?? host.architecture };
  if (platform?.variant) out.variant = platform.variant;
  return out;
}
