import type { Platform } from '../../oci/image-spec.ts';
import { hostPlatform, normalizePlatform, parsePlatform } from '../platform.ts';

/** A `--platform` string ("linux/arm64") or a partial Platform, completed from the host's. */
export function withHostDefaults(platform: string | Partial<Platform> | undefined): Platform {
  if (typeof platform === 'string') return parsePlatform(platform);
  const host = hostPlatform();
  // The host's variant only goes with the host's architecture.
  const variant = platform?.variant ?? (platform?.architecture === undefined ? host.variant : undefined);
  return normalizePlatform({
    os: platform?.os ?? host.os,
    architecture: platform?.architecture ?? host.architecture,
    ...(variant ? { variant } : {}),
  });
}
